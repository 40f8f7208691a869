/**
 * Parses one SIP message from a buffer (RFC 3261 §7, §18.3, §25).
 *
 * The parser makes one pass over the header section, recording each header's
 * name, unfolded value and byte range; typed values are parsed later, on
 * demand (message.ts). It never throws on network input: every fault becomes
 * an SbError value. When the fault is found after the start line and headers
 * were read, the partly parsed message comes with the error so the caller can
 * still answer a request with 400 (§8.2, §21.4.1).
 */
import { SbError } from '../util/errors.js';
import { commonHeaderName, commonHeaderNameAt, normalizeHeaderName, isToken, isTokenChar } from './header-names.js';
import { SipRequest, SipResponse, type AnyMessage, type HeaderField } from './message.js';
import { parseUint } from './header-values.js';

export interface ParseLimits {
  /** largest message accepted, in bytes (default 64 KiB) */
  maxMessageSize: number;
  /** most header lines accepted (default 256) */
  maxHeaders: number;
  /** longest header line, folded lines counted whole (default 8 KiB) */
  maxLineLength: number;
}

export const DEFAULT_LIMITS: ParseLimits = {
  maxMessageSize: 65536,
  maxHeaders: 256,
  maxLineLength: 8192,
};

export type ParseResult =
  | { ok: true; message: AnyMessage }
  | { ok: false; error: SbError; message?: AnyMessage };

function fail(code: ConstructorParameters<typeof SbError>[0], detail?: string, message?: AnyMessage): ParseResult {
  return message ? { ok: false, error: new SbError(code, detail), message } : { ok: false, error: new SbError(code, detail) };
}

const CR = 0x0d;
const LF = 0x0a;
/** bytes converted to a string to look for the end of the header section in (see parseMessage) */
const HEAD_WINDOW = 1024;
/** body bytes the header string may carry rather than being converted again */
const HEAD_SLACK = 256;

/**
 * Parses a complete message. With `stream` true (bytes framed from TCP/TLS),
 * Content-Length is mandatory (§18.3); for a datagram its absence means the
 * body runs to the end of the datagram, and bytes past Content-Length are
 * discarded (§18.3).
 */
export function parseMessage(buf: Buffer, limits: Partial<ParseLimits> = {}, stream = false): ParseResult {
  const maxSize = limits.maxMessageSize ?? DEFAULT_LIMITS.maxMessageSize;
  const maxHeaders = limits.maxHeaders ?? DEFAULT_LIMITS.maxHeaders;
  const maxLine = limits.maxLineLength ?? DEFAULT_LIMITS.maxLineLength;
  if (buf.length > maxSize) return fail('SB_ERR_PARSE_TOO_LARGE', `${buf.length} bytes`);

  // §7.5: CRLFs before the start line are ignored
  let pos = 0;
  while (pos < buf.length && (buf[pos] === CR || buf[pos] === LF)) pos++;
  if (pos === buf.length) return fail('SB_ERR_PARSE_START_LINE', 'empty message');

  // the header section ends at the first empty line, CRLF or bare LF, after a line ended by
  // LF: "\n\r\n" (this covers CRLF CRLF and a bare-LF line followed by CRLF) or "\n\n" —
  // exactly where the stream framer ends it. "\n\r\n" is searched for here; a "\n\n"
  // before it is found by the header loop below, which looks at the byte after every LF.
  // A datagram without a body ends with CRLF CRLF: then the search is left out, as the
  // section ends there or earlier, and the loop, which also looks for "\n\r\n" after every
  // LF, finds the end where the search would (no NO_HEADER_END fault is possible then).
  let bodyStart: number;
  // length of the header section including the last header's line terminator
  let headLen: number;
  // the header section as a byte string: offsets in it equal offsets in buf
  let head: string;
  // Most header sections end within the first HEAD_WINDOW bytes: search a string of those
  // (String indexOf costs far less than a Buffer.indexOf call), and keep it as the header
  // string unless it holds much of the body (header values are slices of it and keep it alive).
  const window = Math.min(buf.length, HEAD_WINDOW);
  head = buf.toString('latin1', 0, window);
  const last = buf.length - 1;
  let crlf = window === buf.length && buf[last] === LF && buf[last - 1] === CR && buf[last - 2] === LF && buf[last - 3] === CR ? last - 2 : head.indexOf('\n\r\n', pos);
  if (crlf === -1 && window < buf.length) crlf = buf.indexOf('\n\r\n', pos, 'latin1');
  if (crlf !== -1) {
    bodyStart = crlf + 3;
    headLen = crlf + 1;
    if (head.length < headLen || head.length - headLen > HEAD_SLACK) head = buf.toString('latin1', 0, headLen);
  } else {
    const lf = buf.indexOf('\n\n', pos, 'latin1');
    if (lf === -1) return fail('SB_ERR_PARSE_NO_HEADER_END');
    bodyStart = lf + 2;
    headLen = lf + 1; // the second LF is the empty line
    head = buf.toString('latin1', 0, headLen);
  }

  // ---- start line
  let lineEnd = head.indexOf('\n', pos);
  if (lineEnd === -1 || lineEnd >= headLen) lineEnd = headLen;
  const startLineStop = lineEnd > pos && head.charCodeAt(lineEnd - 1) === CR ? lineEnd - 1 : lineEnd;
  const startLineEnd = Math.min(lineEnd + 1, headLen);
  // an empty line right after the start line ends the (empty) header section
  if (startLineEnd < headLen && buf[startLineEnd] === LF) {
    headLen = startLineEnd;
    bodyStart = startLineEnd + 1;
  } else if (startLineEnd < headLen && buf[startLineEnd] === CR && buf[startLineEnd + 1] === LF) {
    headLen = startLineEnd;
    bodyStart = startLineEnd + 2;
  }
  let msg: AnyMessage | null = plainRequestLine(buf, head, pos, startLineStop);
  let sl: StartLine | null = null;
  if (msg === null) {
    sl = parseStartLine(head.slice(pos, startLineStop));
    if (sl.kind === 'garbage') return fail('SB_ERR_PARSE_START_LINE', sl.detail);
    msg = sl.kind === 'request' ? new SipRequest(sl.method, sl.uri) : new SipResponse(sl.status, sl.reason);
  }
  msg.raw = buf;
  msg.rawHead = head;
  msg.startLineStart = pos;
  msg.startLineEnd = startLineEnd;

  // ---- headers: found with indexOf on the string, single characters read from
  // the bytes (the same offsets), which is cheaper than charCodeAt
  const headers: HeaderField[] = [];
  let clLines = 0;
  // index of the first Content-Length line in headers
  let clAt = -1;
  let i = startLineEnd;
  let n = headLen;
  while (i < n) {
    // one header: a line plus any continuation lines starting with SP/HT (§7.3.1 folding)
    const start = i;
    let e = head.indexOf('\n', i);
    if (e === -1 || e >= n) e = n - 1;
    let folded = false;
    let next = e + 1 < n ? buf[e + 1]! : -1;
    while (next === 0x20 || next === 0x09) {
      folded = true;
      const lf = head.indexOf('\n', e + 1);
      e = lf === -1 || lf >= n ? n - 1 : lf;
      next = e + 1 < n ? buf[e + 1]! : -1;
    }
    // "\n\n" or "\n\r\n": an empty line ends the header section after this header
    if (next === LF) {
      n = headLen = e + 1;
      bodyStart = e + 2;
    } else if (next === CR && buf[e + 2] === LF) {
      n = headLen = e + 1;
      bodyStart = e + 3;
    }
    const end = e + 1;
    if (end - start > maxLine) return fail('SB_ERR_PARSE_LINE_TOO_LONG', `${end - start} bytes`, headers.length ? withHeaders(msg, headers) : undefined);
    if (headers.length >= maxHeaders) return fail('SB_ERR_PARSE_TOO_MANY_HEADERS', `more than ${maxHeaders}`, withHeaders(msg, headers));
    // nearly always a common name right before the colon: no search for the colon then
    let name = commonHeaderNameAt(buf, start);
    let colon: number;
    if (name !== undefined) colon = start + name.length;
    else {
      colon = head.indexOf(':', start);
      if (colon === -1 || colon >= end) return fail('SB_ERR_PARSE_HEADER', `no colon in line ${headers.length + 2}`, withHeaders(msg, headers));
      // §7.3.1: the name may be followed by whitespace before the colon
      let ne = colon;
      while (ne > start && (buf[ne - 1] === 0x20 || buf[ne - 1] === 0x09)) ne--;
      name = commonHeaderName(buf, start, ne);
      if (name === undefined) {
        const rawName = head.slice(start, ne);
        if (!isToken(rawName)) return fail('SB_ERR_PARSE_HEADER', `bad header name in line ${headers.length + 2}`, withHeaders(msg, headers));
        name = normalizeHeaderName(rawName);
      }
    }
    if (name === 'content-length' && clLines++ === 0) clAt = headers.length;
    // the value without the LWS around it, sliced once
    let vs = colon + 1;
    let ve = end;
    while (vs < ve && isLws(buf[vs]!)) vs++;
    // the line ends with its LF at e, nearly always after a CR: both stepped over at once
    if (ve > vs) {
      ve = e;
      if (ve > vs && buf[ve - 1] === CR) ve--;
    }
    while (ve > vs && isLws(buf[ve - 1]!)) ve--;
    let value = head.slice(vs, ve);
    if (folded) value = value.replace(/\r?\n[ \t]+/g, ' ');
    headers.push({ name, value, start, end, valueStart: folded ? -1 : vs });
    i = end;
  }
  // rare: an end found by the loop before the final CRLF CRLF leaves much of the body in
  // head; keep the header string short, as the search above does (values are slices of it)
  if (head.length - headLen > HEAD_SLACK) {
    head = msg.rawHead = buf.toString('latin1', 0, headLen);
    for (let k = 0; k < headers.length; k++) {
      const h = headers[k]!;
      const at = h.valueStart!;
      if (at >= 0) headers[k] = { name: h.name, value: head.slice(at, at + h.value.length), start: h.start, end: h.end, valueStart: at };
    }
  }
  msg.headers = headers;

  if (sl !== null && sl.kind === 'request' && sl.error) return fail(sl.error, sl.detail, msg);

  // ---- body (§18.3, §20.14)
  const available = buf.length - bodyStart;
  if (clLines === 0) {
    if (stream) return fail('SB_ERR_PARSE_CONTENT_LENGTH', 'missing on a stream transport', msg);
    msg.body = available > 0 ? buf.subarray(bodyStart) : msg.body;
  } else {
    // what msg.contentLength() returns, without its search for the line
    const cl = parseUint(headers[clAt]!.value);
    if (cl === null) return fail('SB_ERR_PARSE_CONTENT_LENGTH', 'not a number', msg);
    if (clLines > 1) {
      const values = new Set(headers.filter((h) => h.name === 'content-length').map((h) => h.value));
      if (values.size > 1) return fail('SB_ERR_PARSE_CONTENT_LENGTH', 'conflicting values', msg);
    }
    if (cl > available) return fail('SB_ERR_PARSE_BODY_TRUNCATED', `${available} of ${cl} bytes`, msg);
    if (cl > 0) msg.body = buf.subarray(bodyStart, bodyStart + cl);
  }
  return { ok: true, message: msg };
}

/** SP, HT, CR, LF: what is trimmed around a header value (never String.prototype.trim, see trimLws). */
function isLws(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === CR || c === LF;
}

function withHeaders(msg: AnyMessage, headers: HeaderField[]): AnyMessage {
  msg.headers = headers;
  return msg;
}

/** Methods whose names the request-line fast path returns as these (interned) strings rather than a new slice. */
const METHODS = ['REGISTER', 'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'SUBSCRIBE', 'NOTIFY', 'MESSAGE', 'INFO', 'PRACK', 'UPDATE', 'REFER', 'PUBLISH'];
const SP_SIP20 = [0x20, 0x53, 0x49, 0x50, 0x2f, 0x32, 0x2e, 0x30]; // " SIP/2.0"

/**
 * The usual request line, read from the bytes buf[start, end) (head holds the
 * same text): `token SP uri SP "SIP/2.0"` with a URI of printable ASCII other
 * than `<>"` (§7.1, §25.1). Returns the request, or null for anything else —
 * a response, another version, odd bytes in the URI — which parseStartLine
 * then decides on (this path accepts only lines it accepts, with the same result).
 */
function plainRequestLine(buf: Buffer, head: string, start: number, end: number): SipRequest | null {
  // one of METHODS followed by SP needs no token check
  let method = knownMethod(buf, start);
  let sp1: number;
  if (method !== undefined) sp1 = start + method.length;
  else {
    sp1 = start;
    while (sp1 < end && isTokenChar(buf[sp1]!)) sp1++;
  }
  if (sp1 === start || sp1 >= end || buf[sp1] !== 0x20) return null;
  const sp2 = end - 8;
  if (sp2 <= sp1 + 1) return null;
  for (let k = 0; k < 8; k++) if (buf[sp2 + k] !== SP_SIP20[k]) return null;
  for (let k = sp1 + 1; k < sp2; k++) {
    const c = buf[k]!;
    if (c <= 0x20 || c >= 0x7f || c === 0x3c || c === 0x3e || c === 0x22) return null;
  }
  method ??= head.slice(start, sp1);
  return new SipRequest(method, head.slice(sp1 + 1, sp2));
}

/** The METHODS string spelled at buf[start] and followed by SP, else undefined. */
function knownMethod(buf: Buffer, start: number): string | undefined {
  next: for (let j = 0; j < METHODS.length; j++) {
    const m = METHODS[j]!;
    const len = m.length;
    if (buf[start + len] !== 0x20) continue;
    for (let k = 0; k < len; k++) if (buf[start + k] !== m.charCodeAt(k)) continue next;
    return m;
  }
  return undefined;
}

type StartLine =
  | { kind: 'request'; method: string; uri: string; error?: 'SB_ERR_PARSE_START_LINE' | 'SB_ERR_PARSE_VERSION' | 'SB_ERR_PARSE_URI'; detail?: string }
  | { kind: 'response'; status: number; reason: string }
  | { kind: 'garbage'; detail: string };

/**
 * §7.1 Request-Line = Method SP Request-URI SP SIP-Version (single spaces);
 * §7.2 Status-Line = SIP-Version SP Status-Code SP Reason-Phrase.
 */
function parseStartLine(line: string): StartLine {
  if (line.length >= 8 && line.charCodeAt(0) === 0x53 && /^SIP\//i.test(line)) {
    // §7.2: Status-Code is exactly three digits, followed by SP and the reason (which may be empty)
    const m = /^SIP\/2\.0 ([1-6][0-9]{2})(?: ([^\r\n]*))?$/i.exec(line);
    if (!m) return { kind: 'garbage', detail: 'bad status line' };
    return { kind: 'response', status: Number(m[1]), reason: m[2] ?? '' };
  }
  const sp1 = line.indexOf(' ');
  if (sp1 <= 0) return { kind: 'garbage', detail: 'no method' };
  const method = line.slice(0, sp1);
  if (!isToken(method)) return { kind: 'garbage', detail: 'bad method' };
  // the last space: where " SIP/2.0" ends the line (nearly always) without lastIndexOf, a runtime call
  const sp2 = line.length > 8 && line.charCodeAt(line.length - 8) === 0x20 && line.endsWith('SIP/2.0') ? line.length - 8 : line.lastIndexOf(' ');
  const uri = sp2 > sp1 ? line.slice(sp1 + 1, sp2) : line.slice(sp1 + 1);
  const version = sp2 > sp1 ? line.slice(sp2 + 1) : '';
  if (sp2 <= sp1 || uri.length === 0) return { kind: 'request', method, uri, error: 'SB_ERR_PARSE_START_LINE', detail: 'missing Request-URI or version' };
  if (version !== 'SIP/2.0') {
    if (!/^SIP\/[0-9]+\.[0-9]+$/i.test(version)) return { kind: 'request', method, uri, error: 'SB_ERR_PARSE_START_LINE', detail: 'bad SIP-Version' };
    // §8.2.2 / RFC 4475 §3.1.2.11: only SIP/2.0 is served; others get 505
    if (version.toUpperCase() !== 'SIP/2.0') return { kind: 'request', method, uri, error: 'SB_ERR_PARSE_VERSION', detail: version };
  }
  // §25.1: a Request-URI holds no whitespace and is not enclosed in <>
  if (/[\s<>"]/.test(uri)) return { kind: 'request', method, uri, error: 'SB_ERR_PARSE_URI', detail: 'whitespace or brackets in Request-URI' };
  return { kind: 'request', method, uri };
}
