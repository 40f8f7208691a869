/**
 * Typed header values (RFC 3261 §20, §25.1). Each parser takes one value
 * (already split from its list and unfolded) and returns a typed object, or
 * null when the value is malformed. They never throw.
 *
 * Header text is a "byte string": the message's bytes decoded as latin1, so
 * that untouched bytes round-trip exactly. Display names are turned into
 * real (UTF-8 decoded) strings when read.
 */
import { isTokenChar, isToken, TOKEN_CHARS as TOKEN } from './header-names.js';

/**
 * Header parameters (`;name[=value]`, RFC 3261 §25.1 generic-param) in the
 * order written: the Map methods callers use. A `Map<string, string | null>`
 * satisfies it, so code that builds params itself may pass a Map; the parsers
 * return a ParamList.
 */
export interface Params extends Iterable<[string, string | null]> {
  readonly size: number;
  get(name: string): string | null | undefined;
  has(name: string): boolean;
  set(name: string, value: string | null): this;
  delete(name: string): boolean;
  clear(): void;
  forEach(fn: (value: string | null, name: string, params: this) => void): void;
  keys(): IterableIterator<string>;
  values(): IterableIterator<string | null>;
  entries(): IterableIterator<[string, string | null]>;
}

/** Above this many params a ParamList looks names up through a Map index, so a hostile list costs O(n), not O(n²). */
const INDEX_THRESHOLD = 12;

/**
 * Params with Map semantics (set replaces a value in place, keeps first
 * position; delete removes; iteration in insertion order), stored as one flat
 * array [name0, value0, name1, value1, …]. A message carries a handful of
 * short param lists (Via, From, To, Contact), for which a Map (a hash table
 * each) is more than a linear scan over two to four names needs.
 */
export class ParamList implements Params {
  /** names at even indices, their values at odd ones */
  private kv: Array<string | null>;
  /** name → index of the name in kv, only while there are more than INDEX_THRESHOLD params */
  private index: Map<string, number> | null = null;

  constructor(entries?: Iterable<readonly [string, string | null]> | null) {
    this.kv = [];
    if (entries) for (const [k, v] of entries) this.set(k, v);
  }

  get size(): number {
    return this.kv.length >> 1;
  }

  /** Index of the name in kv, or -1. */
  private find(name: string): number {
    const kv = this.kv;
    if (kv.length > INDEX_THRESHOLD * 2) {
      if (this.index === null) {
        this.index = new Map();
        for (let i = 0; i < kv.length; i += 2) this.index.set(kv[i]!, i);
      }
      return this.index.get(name) ?? -1;
    }
    for (let i = 0; i < kv.length; i += 2) if (kv[i] === name) return i;
    return -1;
  }

  get(name: string): string | null | undefined {
    const i = this.find(name);
    return i === -1 ? undefined : this.kv[i + 1];
  }

  has(name: string): boolean {
    return this.find(name) !== -1;
  }

  set(name: string, value: string | null): this {
    // the first param: an array of exactly two, not an empty one grown by push
    if (this.kv.length === 0) {
      this.kv = [name, value];
      return this;
    }
    const i = this.find(name);
    if (i !== -1) this.kv[i + 1] = value;
    else {
      if (this.index !== null) this.index.set(name, this.kv.length);
      this.kv.push(name, value);
    }
    return this;
  }

  delete(name: string): boolean {
    const i = this.find(name);
    if (i === -1) return false;
    this.kv.splice(i, 2);
    this.index = null;
    return true;
  }

  clear(): void {
    this.kv = [];
    this.index = null;
  }

  forEach(fn: (value: string | null, name: string, params: this) => void): void {
    const kv = this.kv;
    for (let i = 0; i < kv.length; i += 2) fn(kv[i + 1]!, kv[i] as string, this);
  }

  keys(): IterableIterator<string> {
    const out: string[] = [];
    for (let i = 0; i < this.kv.length; i += 2) out.push(this.kv[i] as string);
    return out[Symbol.iterator]();
  }

  values(): IterableIterator<string | null> {
    const out: Array<string | null> = [];
    for (let i = 1; i < this.kv.length; i += 2) out.push(this.kv[i]!);
    return out[Symbol.iterator]();
  }

  /** A snapshot, like iterating a copy: changing the list while iterating does not affect it. */
  entries(): IterableIterator<[string, string | null]> {
    const out: Array<[string, string | null]> = [];
    for (let i = 0; i < this.kv.length; i += 2) out.push([this.kv[i] as string, this.kv[i + 1]!]);
    return out[Symbol.iterator]();
  }

  [Symbol.iterator](): IterableIterator<[string, string | null]> {
    return this.entries();
  }

  /** `;name=value` for each param in order, as formatParams writes them, leaving out the param named `skip` */
  format(skip?: string): string {
    const kv = this.kv;
    let out = '';
    for (let i = 0; i < kv.length; i += 2) {
      if (kv[i] === skip) continue;
      const v = kv[i + 1];
      out += v === null ? ';' + kv[i] : ';' + kv[i] + '=' + v;
    }
    return out;
  }

}

const SP = 0x20;
const HT = 0x09;

function isWs(c: number): boolean {
  return c === SP || c === HT || c === 0x0d || c === 0x0a;
}

function skipWs(s: string, i: number): number {
  while (i < s.length && isWs(s.charCodeAt(i))) i++;
  return i;
}

// The hot parsers (Via, name-addr, Contact, CSeq, params) read single characters
// as bytes: b[at + i] for v[i], i < v.length, which costs about half of
// v.charCodeAt(i). A header value from a parsed message is read in the
// message's buffer (the *Bytes entry points); any other string is first copied
// to a scratch buffer (bytesOf). A character above 0x7f may read as another
// byte above 0x7f: no rule here tells those apart.

let scratch = Buffer.allocUnsafeSlow(512);

/** v's characters as bytes at [0, v.length) of a scratch buffer, valid until the next call. */
function bytesOf(v: string): Uint8Array {
  const n = v.length;
  if (n > scratch.length) scratch = Buffer.allocUnsafeSlow(Math.max(n, scratch.length * 2));
  // ASCII (the usual case) is copied natively; otherwise char by char, anything above 0xff as 0x80
  if (Buffer.byteLength(v, 'utf8') === n) scratch.write(v, 0, n, 'latin1');
  else
    for (let i = 0; i < n; i++) {
      const c = v.charCodeAt(i);
      scratch[i] = c > 0xff ? 0x80 : c;
    }
  return scratch;
}

/** skipWs over the bytes of a value: b[at + i], i < n. */
function skipWsIn(b: Uint8Array, at: number, i: number, n: number): number {
  while (i < n && isWs(b[at + i]!)) i++;
  return i;
}

/** Removes the surrounding quotes of a quoted-string and its backslash escapes (§25.1 quoted-pair). */
export function unquote(v: string): string {
  if (v.length < 2 || v.charCodeAt(0) !== 0x22 || v.charCodeAt(v.length - 1) !== 0x22) return v;
  const inner = v.slice(1, -1);
  return inner.indexOf('\\') === -1 ? inner : inner.replace(/\\(.)/gs, '$1');
}

/**
 * Index of the '"' that closes the quoted-string opened at s[q], or -1 when
 * it is not closed (§25.1: a backslash escapes the character after it).
 */
function closingQuote(s: string, q: number): number {
  const close = s.indexOf('"', q + 1);
  if (close === -1) return -1;
  const bs = s.indexOf('\\', q + 1);
  if (bs === -1 || bs > close) return close; // no quoted-pair before it: the usual case, no char loop
  const n = s.length;
  let i = q + 1;
  while (i < n && s.charCodeAt(i) !== 0x22) {
    if (s.charCodeAt(i) === 0x5c) i++;
    i++;
  }
  return i >= n ? -1 : i;
}

/** Encodes a Unicode string as a byte string (UTF-8 bytes as latin1 chars) for writing into a header. */
export function toByteString(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(s) ? s : Buffer.from(s, 'utf8').toString('latin1');
}

/** Decodes a byte string's UTF-8 content for display. */
export function fromByteString(s: string): string {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.from(s, 'latin1').toString('utf8');
  return s;
}

/**
 * Parses `;name[=value]` parameters starting at s[i] (which must be ';' or the end).
 * Names are lowercased; values kept as written (quoted strings keep their quotes).
 * Returns null on a malformed parameter.
 */
export function parseParams(s: string, i: number, stopAtComma = false): { params: ParamList; end: number } | null {
  const params = scanParams(s, bytesOf(s), 0, i, stopAtComma);
  return params === null ? null : { params, end: scanEnd };
}

/**
 * Names of the params on nearly every Via, From, To and Contact: scanParams
 * returns these strings for them instead of a new slice each, and lookups by
 * the same (interned) names compare equal at once. Each is found by its
 * length and its last eight bytes, packed exactly into two int32 (as
 * scanParams packs the bytes it reads); only bytes before those are compared.
 */
interface CommonParam {
  name: string;
  /** the last four bytes, the four before them */
  lo: number;
  hi: number;
}
const COMMON_PARAMS: Array<CommonParam[] | undefined> = [];
for (const name of ['branch', 'rport', 'received', 'maddr', 'ttl', 'tag', 'expires', 'q', 'reg-id', '+sip.instance', 'transport', 'lr', 'ob', 'user', 'method']) {
  let lo = 0;
  let hi = 0;
  for (let k = 0; k < name.length; k++) {
    hi = (hi << 8) | (lo >>> 24);
    lo = (lo << 8) | name.charCodeAt(k);
  }
  (COMMON_PARAMS[name.length] ??= []).push({ name, lo, hi });
}

/** The COMMON_PARAMS name spelled by the lowercase bytes b[at, at + len), whose last eight are packed in lo and hi; else undefined. */
function commonParamName(b: Uint8Array, at: number, len: number, lo: number, hi: number): string | undefined {
  const candidates = COMMON_PARAMS[len];
  if (candidates === undefined) return undefined;
  next: for (let j = 0; j < candidates.length; j++) {
    const p = candidates[j]!;
    if (p.lo !== lo || p.hi !== hi) continue;
    for (let k = 0; k < len - 8; k++) if (b[at + k] !== p.name.charCodeAt(k)) continue next;
    return p.name;
  }
  return undefined;
}

/**
 * The characters of a param, one table read per byte (all 256 byte values):
 * NAME_CHAR for a token character (§25.1), with UPPER_CHAR set for A–Z;
 * VALUE_ONLY for ':', which scanParams also takes in a token value. 0 otherwise.
 */
const NAME_CHAR = 1;
const UPPER_CHAR = 3;
const VALUE_ONLY = 4;
const PARAM_CHAR = new Uint8Array(256);
for (let c = 0; c < 128; c++) if (TOKEN[c] === 1) PARAM_CHAR[c] = c >= 0x41 && c <= 0x5a ? UPPER_CHAR : NAME_CHAR;
PARAM_CHAR[0x3a] = VALUE_ONLY;

/** Where the last scanParams() stopped (avoids allocating a result object on the hot path). */
let scanEnd = 0;

/** parseParams without the result wrapper, over the bytes b[at + i] of s: the end index is left in scanEnd. */
function scanParams(s: string, b: Uint8Array, at: number, i: number, stopAtComma: boolean): ParamList | null {
  const params = new ParamList();
  const n = s.length;
  if (i < n && isWs(b[at + i]!)) i = skipWsIn(b, at, i, n);
  while (i < n) {
    let c = b[at + i]!;
    if (c === 0x2c && stopAtComma) break;
    if (c !== 0x3b) return null; // ';'
    i++;
    if (i < n && isWs(b[at + i]!)) i = skipWsIn(b, at, i, n);
    const nameStart = i;
    let upper = false;
    // the name's last eight bytes, packed for commonParamName
    let lo = 0;
    let hi = 0;
    while (i < n) {
      const c = b[at + i]!;
      const k = PARAM_CHAR[c]!;
      if ((k & NAME_CHAR) === 0) break;
      if (k === UPPER_CHAR) upper = true;
      hi = (hi << 8) | (lo >>> 24);
      lo = (lo << 8) | c;
      i++;
    }
    if (i === nameStart) return null;
    let name = upper ? undefined : commonParamName(b, at + nameStart, i - nameStart, lo, hi);
    if (name === undefined) {
      const raw = s.slice(nameStart, i);
      name = upper ? raw.toLowerCase() : raw;
    }
    if (i < n && isWs(b[at + i]!)) i = skipWsIn(b, at, i, n);
    let value: string | null = null;
    if (i < n && b[at + i] === 0x3d) {
      i++;
      if (i < n && isWs(b[at + i]!)) i = skipWsIn(b, at, i, n);
      c = i < n ? b[at + i]! : 0;
      if (c === 0x22) {
        const close = closingQuote(s, i);
        if (close === -1) return null;
        value = s.slice(i, close + 1);
        i = close + 1;
      } else if (c === 0x5b) {
        const close = s.indexOf(']', i);
        if (close === -1) return null;
        value = s.slice(i, close + 1);
        i = close + 1;
      } else {
        const vs = i;
        // ':' appears in some param values in the wild (e.g. ;received=::1 without brackets)
        while (i < n && PARAM_CHAR[b[at + i]!]! !== 0) i++;
        if (i === vs) return null;
        value = s.slice(vs, i);
      }
      if (i < n && isWs(b[at + i]!)) i = skipWsIn(b, at, i, n);
    }
    params.set(name, value);
  }
  scanEnd = i;
  return params;
}

/** `;name=value…` in order, leaving out the param named `skip` */
export function formatParams(params: Params, skip?: string): string {
  if (params instanceof ParamList) return params.format(skip);
  let out = '';
  for (const [k, v] of params) if (k !== skip) out += v === null ? `;${k}` : `;${k}=${v}`;
  return out;
}

// ---------------------------------------------------------------- host:port

export interface HostPort {
  host: string; // IPv6 keeps its brackets
  port?: number;
}

/**
 * RFC 3261 §25.1 host: an IPv6 reference `[hex:...]`, or dot-separated labels
 * of letters, digits and inner hyphens with an optional trailing dot (which
 * covers IPv4 addresses too). A char loop: this runs for every Via.
 */
export function isValidHost(h: string): boolean {
  const n = h.length;
  if (n === 0) return false;
  if (h.charCodeAt(0) === 0x5b) {
    if (n < 4 || h.charCodeAt(n - 1) !== 0x5d) return false;
    for (let i = 1; i < n - 1; i++) {
      const c = h.charCodeAt(i);
      if (!((c >= 0x30 && c <= 0x3a) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) || c === 0x2e)) return false;
    }
    return true;
  }
  let labelLen = 0;
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const c = h.charCodeAt(i);
    if (c === 0x2e) {
      if (labelLen === 0 || prev === 0x2d) return false;
      labelLen = 0;
    } else if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) labelLen++;
    else if (c === 0x2d) {
      if (labelLen === 0) return false;
      labelLen++;
    } else return false;
    prev = c;
  }
  return prev !== 0x2d;
}

/** Parses `host[:port]` (RFC 3261 §25.1 hostport). */
export function parseHostPort(s: string): HostPort | null {
  let host: string;
  let portText: string | undefined;
  if (s.charCodeAt(0) === 0x5b) {
    const close = s.indexOf(']');
    if (close === -1) return null;
    host = s.slice(0, close + 1);
    const rest = s.slice(close + 1);
    if (rest) {
      if (rest.charCodeAt(0) !== 0x3a) return null;
      portText = rest.slice(1);
    }
  } else {
    const colon = s.indexOf(':');
    if (colon === -1) host = s;
    else {
      host = s.slice(0, colon);
      portText = s.slice(colon + 1);
    }
  }
  if (!isValidHost(host)) return null;
  if (portText === undefined) return { host };
  if (!/^[0-9]{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port > 65535) return null;
  return { host, port };
}

// ---------------------------------------------------------------- Via (§20.42)

export interface Via {
  protocol: string; // "SIP/2.0"
  transport: string; // upper case: UDP, TCP, TLS, SCTP, WS, WSS
  host: string;
  port?: number;
  params: Params;
  branch?: string;
  received?: string;
  /** null when rport is present without a value (the client asks for it, RFC 3581). */
  rport?: number | null;
  maddr?: string;
  ttl?: number;
}

/** Parses one Via value: `SIP / 2.0 / UDP host[:port] *(;param)`, LWS allowed around '/'. */
export function parseVia(v: string): Via | null {
  return parseViaBytes(v, bytesOf(v), 0);
}

/** parseVia for a value whose bytes are b[at, at + v.length). */
export function parseViaBytes(v: string, b: Uint8Array, at: number): Via | null {
  const n = v.length;
  let i: number;
  let protocol: string;
  let transport: string;
  if (startsWithSip20(b, at, n)) {
    // fast path: the spelling every stack sends
    i = 8;
    while (i < n && isTokenChar(b[at + i]!)) i++;
    if (i === 8 || i >= n || !isWs(b[at + i]!)) return parseViaGeneral(v, b, at);
    protocol = 'SIP/2.0';
    transport = v.slice(8, i);
    if (hasLower(transport)) transport = transport.toUpperCase();
  } else return parseViaGeneral(v, b, at);
  return parseViaSentBy(v, b, at, skipWsIn(b, at, i, n), protocol, transport);
}

const SIP20 = [0x53, 0x49, 0x50, 0x2f, 0x32, 0x2e, 0x30, 0x2f]; // "SIP/2.0/"

/** True when the value b[at, at + n) starts with "SIP/2.0/" (byte compares cost less than startsWith here). */
function startsWithSip20(b: Uint8Array, at: number, n: number): boolean {
  if (n < 8) return false;
  for (let k = 0; k < 8; k++) if (b[at + k] !== SIP20[k]) return false;
  return true;
}

function hasLower(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x61 && c <= 0x7a) return true;
  }
  return false;
}

/** `SIP / 2.0 / UDP` with LWS around the slashes (RFC 4475 wsinv). */
function parseViaGeneral(v: string, b: Uint8Array, at: number): Via | null {
  let i = skipWs(v, 0);
  const parts: string[] = [];
  for (let k = 0; k < 3; k++) {
    const start = i;
    while (i < v.length && isTokenChar(v.charCodeAt(i))) i++;
    if (i === start) return null;
    parts.push(v.slice(start, i));
    i = skipWs(v, i);
    if (k < 2) {
      if (v.charCodeAt(i) !== 0x2f) return null;
      i = skipWs(v, i + 1);
    }
  }
  if (parts[0]!.toUpperCase() !== 'SIP') return null;
  return parseViaSentBy(v, b, at, i, `SIP/${parts[1]!}`, parts[2]!.toUpperCase());
}

/** sent-by (LWS allowed around its ':') and the via-params. */
function parseViaSentBy(v: string, b: Uint8Array, at: number, i: number, protocol: string, transport: string): Via | null {
  const n = v.length;
  const hostStart = i;
  let host: string;
  if (i < n && b[at + i] === 0x5b) {
    const close = v.indexOf(']', i);
    if (close === -1) return null;
    i = close + 1;
    host = v.slice(hostStart, i);
    if (!isValidHost(host)) return null;
  } else {
    // the host runs to ':', ';' or LWS; checked as isValidHost does in the same pass
    let labelLen = 0;
    let prev = 0;
    for (; i < n; i++) {
      const c = b[at + i]!;
      if (c === 0x3a || c === 0x3b || isWs(c)) break;
      if (c === 0x2e) {
        if (labelLen === 0 || prev === 0x2d) return null;
        labelLen = 0;
      } else if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) labelLen++;
      else if (c === 0x2d) {
        if (labelLen === 0) return null;
        labelLen++;
      } else return null;
      prev = c;
    }
    if (i === hostStart || prev === 0x2d) return null;
    host = v.slice(hostStart, i);
  }
  let port: number | undefined;
  let j = i < n && isWs(b[at + i]!) ? skipWsIn(b, at, i, n) : i;
  if (j < n && b[at + j] === 0x3a) {
    const p = scanDigitsIn(b, at, skipWsIn(b, at, j + 1, n), n, 5);
    if (p < 0 || p > 65535) return null;
    port = p;
    i = digitsEnd;
  }
  const params = scanParams(v, b, at, i, false);
  if (params === null) return null;
  if (scanEnd < n) return null;
  const via: Via = { protocol, transport, host, params };
  if (port !== undefined) via.port = port;
  const branch = params.get('branch');
  if (branch) via.branch = branch;
  const received = params.get('received');
  if (received) via.received = received;
  const r = params.get('rport');
  if (r !== undefined) {
    if (r === null) via.rport = null;
    else {
      const rp = parseUint(r, 65535);
      if (rp === null) return null;
      via.rport = rp;
    }
  }
  const maddr = params.get('maddr');
  if (maddr) via.maddr = maddr;
  const ttl = params.get('ttl');
  if (ttl !== undefined) {
    const t = ttl === null ? null : parseUint(ttl, 255);
    if (t === null) return null;
    via.ttl = t;
  }
  return via;
}

export function formatVia(via: Via): string {
  const hp = via.port !== undefined ? `${via.host}:${via.port}` : via.host;
  return `${via.protocol}/${via.transport} ${hp}${formatParams(via.params)}`;
}

// ---------------------------------------------------------------- name-addr (§20.10, §20.20, §20.39)

export interface NameAddr {
  /** Display name, decoded (UTF-8, quotes removed); undefined when absent. */
  displayName?: string;
  /** The URI text as written, without angle brackets. */
  uri: string;
  params: Params;
  /** true when the URI was written inside <>. */
  angle: boolean;
}

/**
 * Parses a name-addr or addr-spec with header parameters. Without angle
 * brackets, everything after the first ';' is a header parameter (§20.10).
 */
export function parseNameAddr(v: string): NameAddr | null {
  return parseNameAddrBytes(v, bytesOf(v), 0);
}

/** parseNameAddr for a value whose bytes are b[at, at + v.length). */
export function parseNameAddrBytes(v: string, b: Uint8Array, at: number): NameAddr | null {
  const n = v.length;
  let i = skipWsIn(b, at, 0, n);
  let displayName: string | undefined;
  if (i < n && b[at + i] === 0x22) {
    // the usual quoted display name holds no backslash: one slice, decoded only when it has bytes above 0x7f
    let close = i + 1;
    let high = false;
    for (; close < n; close++) {
      const c = b[at + close]!;
      if (c === 0x22 || c === 0x5c) break;
      if (c > 0x7f) high = true;
    }
    if (close < n && b[at + close] === 0x22) {
      const dn = v.slice(i + 1, close);
      displayName = high ? fromByteString(dn) : dn;
    } else {
      close = closingQuote(v, i);
      if (close === -1) return null;
      displayName = fromByteString(unquote(v.slice(i, close + 1)));
    }
    i = skipWsIn(b, at, close + 1, n);
    if (i >= n || b[at + i] !== 0x3c) return null;
  }
  // after a display name (or none) the '<' is usually right here: no search
  const lt = i < n && b[at + i] === 0x3c ? i : v.indexOf('<', i);
  let uri: string;
  let rest: number;
  let angle: boolean;
  if (lt !== -1) {
    if (displayName === undefined && lt > i) {
      const dn = v.slice(i, lt).trim();
      if (dn) {
        // §25.1: an unquoted display name is *(token LWS)
        for (const word of dn.split(/[ \t\r\n]+/)) if (!isToken(word)) return null;
        displayName = fromByteString(dn);
      }
    }
    // the URI runs to the first '>' and holds no whitespace, controls, quotes or '<' (§25.1),
    // and has a scheme: checked in the one pass that finds the '>'
    let gt = lt + 1;
    let colon = -1;
    let plain = true;
    for (; gt < n; gt++) {
      const c = b[at + gt]!;
      if (c === 0x3e) break;
      if (c <= 0x20 || c === 0x3c || c === 0x22 || c === 0x7f) plain = false;
      else if (c === 0x3a && colon === -1) colon = gt;
    }
    if (gt === n || !plain || colon <= lt + 1) return null;
    uri = v.slice(lt + 1, gt);
    rest = gt + 1;
    angle = true;
  } else {
    if (displayName !== undefined) return null;
    const semi = v.indexOf(';', i);
    const end = semi === -1 ? n : semi;
    uri = v.slice(i, end).trim();
    rest = end;
    angle = false;
    // §20.10: an addr-spec written without <> cannot contain ',', '?' or ';'
    if (uri.indexOf('?') !== -1 || uri.indexOf(',') !== -1) return null;
    if (!uri || !isPlainUriText(uri) || uri.indexOf(':') <= 0) return null;
  }
  const params = scanParams(v, b, at, rest, false);
  if (params === null || scanEnd < n) return null;
  const out: NameAddr = { uri, params, angle };
  if (displayName !== undefined) out.displayName = displayName;
  return out;
}

function quoteDisplayName(name: string): string {
  return `"${toByteString(name).replace(/(["\\])/g, '\\$1')}"`;
}

/** A name-addr with angle brackets, leaving out the param named `skipParam` (the registrar drops a Contact's expires). */
export function formatNameAddr(na: NameAddr, skipParam?: string): string {
  const dn = na.displayName !== undefined && na.displayName !== '' ? `${quoteDisplayName(na.displayName)} ` : '';
  return `${dn}<${na.uri}>${formatParams(na.params, skipParam)}`;
}

// ---------------------------------------------------------------- Contact (§20.10, RFC 5626, RFC 5627)

export interface ContactValue extends NameAddr {
  q?: number;
  expires?: number;
  /** +sip.instance without its quotes and angle brackets, e.g. "urn:uuid:…" */
  instance?: string;
  regId?: number;
}

export type ContactList = { star: true } | { star: false; contacts: ContactValue[] };

export function parseContact(v: string): ContactValue | null {
  return parseContactBytes(v, bytesOf(v), 0);
}

/** parseContact for a value whose bytes are b[at, at + v.length). */
export function parseContactBytes(v: string, b: Uint8Array, at: number): ContactValue | null {
  const na = parseNameAddrBytes(v, b, at);
  if (!na) return null;
  const c: ContactValue = na;
  const q = na.params.get('q');
  if (q !== undefined) {
    if (q === null || !isQValue(q)) return null;
    c.q = Number(q);
  }
  const e = na.params.get('expires');
  if (e !== undefined) {
    const x = e === null ? -1 : wholeUint(e);
    if (x < 0) return null;
    c.expires = x;
  }
  const inst = na.params.get('+sip.instance');
  if (inst) c.instance = instanceId(inst);
  const reg = na.params.get('reg-id');
  if (reg !== undefined) {
    const x = reg === null ? -1 : wholeUint(reg);
    if (x < 0) return null;
    c.regId = x;
  }
  return c;
}

/** §20.10 / §25.1: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
function isQValue(q: string): boolean {
  const n = q.length;
  if (n === 0 || n > 5) return false;
  const first = q.charCodeAt(0);
  if (first !== 0x30 && first !== 0x31) return false;
  if (n === 1) return true;
  if (q.charCodeAt(1) !== 0x2e) return false;
  for (let i = 2; i < n; i++) {
    const c = q.charCodeAt(i);
    if (first === 0x31 ? c !== 0x30 : c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** The value of a string of 1 to 10 digits and nothing else (expires, reg-id), else -1. */
function wholeUint(s: string): number {
  const x = scanDigits(s, 0, 10);
  return x >= 0 && digitsEnd === s.length ? x : -1;
}

/** RFC 5626 §4.1 +sip.instance: the value without its quotes, then without its angle brackets. */
function instanceId(v: string): string {
  const n = v.length;
  // the usual "<urn:uuid:…>" without backslashes: one slice
  if (n >= 4 && v.charCodeAt(0) === 0x22 && v.charCodeAt(1) === 0x3c && v.charCodeAt(n - 2) === 0x3e && v.charCodeAt(n - 1) === 0x22 && v.indexOf('\\') === -1) {
    return v.slice(2, n - 2);
  }
  let s = unquote(v);
  if (s.startsWith('<') && s.endsWith('>')) s = s.slice(1, -1);
  return s;
}

// ---------------------------------------------------------------- CSeq (§20.16)

export interface CSeq {
  seq: number;
  method: string;
}

export function parseCSeq(v: string): CSeq | null {
  return parseCSeqBytes(v, bytesOf(v), 0);
}

/** parseCSeq for a value whose bytes are b[at, at + v.length). */
export function parseCSeqBytes(v: string, b: Uint8Array, at: number): CSeq | null {
  const n = v.length;
  const seq = scanDigitsIn(b, at, skipWsIn(b, at, 0, n), n, 10);
  // §8.1.1.5: the sequence number MUST be expressible as a 32-bit unsigned integer
  if (seq < 0 || seq > 0xffffffff) return null;
  let i = digitsEnd;
  const ws = i;
  i = skipWsIn(b, at, i, n);
  if (i === ws) return null;
  const ms = i;
  while (i < n && isTokenChar(b[at + i]!)) i++;
  if (i === ms) return null;
  const method = v.slice(ms, i);
  if (skipWsIn(b, at, i, n) !== n) return null;
  return { seq, method };
}

/** Parses a non-negative decimal integer header (Max-Forwards, Expires, Content-Length…). */
/** Where the last scanDigits() stopped. */
let digitsEnd = 0;

/**
 * Reads the decimal digits at s[i] (at most maxDigits of them): their value,
 * or -1 when there is none or too many. The end index is left in digitsEnd.
 */
function scanDigits(s: string, i: number, maxDigits: number): number {
  const start = i;
  let n = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    n = n * 10 + (c - 0x30);
    i++;
  }
  digitsEnd = i;
  return i === start || i - start > maxDigits ? -1 : n;
}

/** scanDigits over the bytes of a value: b[at + i], i < end. */
function scanDigitsIn(b: Uint8Array, at: number, i: number, end: number, maxDigits: number): number {
  const start = i;
  let n = 0;
  while (i < end) {
    const c = b[at + i]!;
    if (c < 0x30 || c > 0x39) break;
    n = n * 10 + (c - 0x30);
    i++;
  }
  digitsEnd = i;
  return i === start || i - start > maxDigits ? -1 : n;
}

export function parseUint(v: string, max = 0xffffffff): number | null {
  const n = scanDigits(v, skipWs(v, 0), 10);
  if (n < 0 || skipWs(v, digitsEnd) !== v.length) return null;
  return n > max ? null : n;
}

/** A URI inside a name-addr holds no whitespace, angle brackets or quotes (§25.1). */
function isPlainUriText(u: string): boolean {
  for (let i = 0; i < u.length; i++) {
    const c = u.charCodeAt(i);
    if (c <= 0x20 || c === 0x3c || c === 0x3e || c === 0x22 || c === 0x7f) return false;
  }
  return true;
}

// ---------------------------------------------------------------- auth headers (§20.7, §20.27, §20.28, §20.44)

export interface AuthValue {
  scheme: string;
  params: Map<string, string>; // lowercased names, unquoted values
}

/**
 * Parses `Digest name=value, name="quoted, value"` (commas separate params,
 * and are kept inside quoted strings). Returns null when malformed.
 */
export function parseAuth(v: string): AuthValue | null {
  let i = skipWs(v, 0);
  const s0 = i;
  while (i < v.length && isTokenChar(v.charCodeAt(i))) i++;
  if (i === s0) return null;
  const scheme = v.slice(s0, i);
  const params = new Map<string, string>();
  const n = v.length;
  for (;;) {
    i = skipWs(v, i);
    if (i >= n) break;
    const ns = i;
    while (i < n && isTokenChar(v.charCodeAt(i))) i++;
    if (i === ns) return null;
    const name = v.slice(ns, i).toLowerCase();
    i = skipWs(v, i);
    if (v.charCodeAt(i) !== 0x3d) return null;
    i = skipWs(v, i + 1);
    let value: string;
    if (v.charCodeAt(i) === 0x22) {
      const q = i;
      i++;
      while (i < n && v.charCodeAt(i) !== 0x22) {
        if (v.charCodeAt(i) === 0x5c) i++;
        i++;
      }
      if (i >= n) return null;
      i++;
      value = unquote(v.slice(q, i));
    } else {
      const vs = i;
      while (i < n && isTokenChar(v.charCodeAt(i))) i++;
      if (i === vs) return null;
      value = v.slice(vs, i);
    }
    params.set(name, value);
    i = skipWs(v, i);
    if (i >= n) break;
    if (v.charCodeAt(i) !== 0x2c) return null;
    i++;
  }
  return { scheme, params };
}
