/**
 * SIP/SIPS URIs (RFC 3261 §19.1, grammar §25.1), tel URIs (RFC 3966) and
 * opaque absolute URIs of other schemes.
 *
 * Hot path: parsing is a single forward scan over the string using charCode
 * lookups in a static class table — no regular expressions, no per-character
 * allocation. Components are kept "as written" (escapes intact); comparison
 * (uriEquals) does the normalisation the RFCs require.
 */

/** URI parameters: names lowercased; value null for a flag parameter such as `;lr`. */
/** URI parameters, names lowercased; read-only (URIs without parameters share one empty map). */
export type UriParams = ReadonlyMap<string, string | null>;

export interface SipUri {
  scheme: 'sip' | 'sips';
  /** As written (may contain %-escapes); undefined when there is no userinfo. */
  user?: string;
  /** As written; '' for `user:@host`; undefined when there is no `:`. */
  password?: string;
  /** As written; IPv6 references keep their brackets: "[2001:db8::10]". */
  host: string;
  hostType: 'ipv4' | 'ipv6' | 'name';
  port?: number;
  params: UriParams;
  /** `?name=value&...`, names and values as written (read-only: URIs without headers share one empty map). */
  headers: ReadonlyMap<string, string>;
}

export interface TelUri {
  scheme: 'tel';
  /** As written, including a leading '+' for global numbers and visual separators. */
  number: string;
  params: UriParams;
}

/** absoluteURI of another scheme (e.g. "urn:...", "mailto:"), kept opaque. Scheme lowercased. */
export interface OtherUri {
  scheme: string;
  value: string;
}

export type Uri = SipUri | TelUri | OtherUri;

export type HostType = SipUri['hostType'];

// ---------------------------------------------------------------------------
// Character classes (ASCII only; everything >= 0x80 is outside every class).

const ALNUM = 1 << 0; // ALPHA / DIGIT
const MARK = 1 << 1; // - _ . ! ~ * ' ( )            RFC 3261 §25.1 mark
const USER_X = 1 << 2; // & = + $ , ; ? /            user-unreserved
const PASS_X = 1 << 3; // & = + $ ,                  password extras
const PARAM_X = 1 << 4; // [ ] / : & + $             param-unreserved
const HDR_X = 1 << 5; // [ ] / ? : + $               hnv-unreserved
const URIC_X = 1 << 6; // / ? : @ & = + $ , [ ]      reserved minus ';' (RFC 2396/3986)
const OPAQUE_X = 1 << 7; // ; #                      rest of an opaque absoluteURI
const HOSTCH = 1 << 8; // ALPHA / DIGIT / - / .
const HEX = 1 << 9;
const ALPHA = 1 << 10;
const SCHEME = 1 << 11; // ALPHA / DIGIT / + / - / .
const DIGIT = 1 << 12;
const VISUAL = 1 << 13; // - . ( )                   RFC 3966 visual-separator
const TEL_LOCAL = 1 << 14; // HEXDIG / * / #         RFC 3966 local-number digits
const TEL_PNAME = 1 << 15; // ALPHA / DIGIT / -      RFC 3966 pname
const RESERVED_2396 = 1 << 16; // ; / ? : @ & = + $ ,  RFC 2396 reserved

const CH = new Uint32Array(128);
function mark(chars: string, flag: number): void {
  for (let i = 0; i < chars.length; i++) CH[chars.charCodeAt(i)] |= flag;
}
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGITS = '0123456789';
mark(LOWER + UPPER, ALNUM | HOSTCH | ALPHA | SCHEME | TEL_PNAME);
mark(DIGITS, ALNUM | HOSTCH | SCHEME | DIGIT | HEX | TEL_LOCAL | TEL_PNAME);
mark('abcdefABCDEF', HEX | TEL_LOCAL);
mark("-_.!~*'()", MARK);
mark('&=+$,;?/', USER_X);
mark('&=+$,', PASS_X);
mark('[]/:&+$', PARAM_X);
mark('[]/?:+$', HDR_X);
mark('/?:@&=+$,[]', URIC_X);
mark(';#', OPAQUE_X);
mark('-.', HOSTCH);
mark('+-.', SCHEME);
mark('-.()', VISUAL);
mark('*#', TEL_LOCAL);
mark('-', TEL_PNAME);
mark(';/?:@&=+$,', RESERVED_2396);

const USER_OK = ALNUM | MARK | USER_X;
const PASS_OK = ALNUM | MARK | PASS_X;
const PARAM_OK = ALNUM | MARK | PARAM_X;
const HDR_OK = ALNUM | MARK | HDR_X;
const URIC_NO_SEMI = ALNUM | MARK | URIC_X;
const OPAQUE_OK = ALNUM | MARK | URIC_X | OPAQUE_X;
const UNRESERVED = ALNUM | MARK;

const C_PCT = 37; // %
const C_PLUS = 43; // +
const C_DOT = 46; // .
const C_COLON = 58; // :
const C_SEMI = 59; // ;
const C_EQ = 61; // =
const C_QMARK = 63; // ?
const C_AT = 64; // @
const C_LBRACKET = 91; // [
const C_RBRACKET = 93; // ]
const C_AMP = 38; // &

const HEX_UPPER = '0123456789ABCDEF';

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/** Byte value of the escape "%XX" at s[p], or -1 if s[p..p+2] is not a well-formed escape. */
function escapeAt(s: string, p: number): number {
  if (p + 2 >= s.length || s.charCodeAt(p) !== C_PCT) return -1;
  const h = hexVal(s.charCodeAt(p + 1));
  const l = hexVal(s.charCodeAt(p + 2));
  return h < 0 || l < 0 ? -1 : (h << 4) | l;
}

/**
 * Advance over characters in `mask` and well-formed %XX escapes, from i up to
 * end. Returns the index of the first other character (or end), or -1 when a
 * malformed escape is met.
 */
function scan(s: string, i: number, end: number, mask: number): number {
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c < 128 && (CH[c]! & mask) !== 0) {
      i++;
    } else if (c === C_PCT) {
      if (i + 2 < end && hexVal(s.charCodeAt(i + 1)) >= 0 && hexVal(s.charCodeAt(i + 2)) >= 0) i += 3;
      else return -1;
    } else {
      break;
    }
  }
  return i;
}

/** Like scan() but escapes are not allowed (they simply stop the scan). */
function scanPlain(s: string, i: number, end: number, mask: number): number {
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c >= 128 || (CH[c]! & mask) === 0) break;
    i++;
  }
  return i;
}

function codeAt(s: string, i: number): number {
  return i < s.length ? s.charCodeAt(i) : -1;
}

function asciiEqualsIgnoreCase(a: string, b: string): boolean {
  if (a === b) return true;
  const n = a.length;
  if (n !== b.length) return false;
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const lx = x | 0x20;
    if (lx !== (y | 0x20) || lx < 97 || lx > 122) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Hosts

/** RFC 3261 §25.1 IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT (each <= 255). Returns the address or -1. */
function parseIPv4(s: string, start: number, end: number): number {
  let addr = 0;
  let parts = 0;
  let i = start;
  for (;;) {
    let v = 0;
    const ds = i;
    while (i < end && i - ds < 3) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
      i++;
    }
    if (i === ds || v > 255) return -1;
    addr = addr * 256 + v;
    parts++;
    if (parts === 4) return i === end ? addr : -1;
    if (i >= end || s.charCodeAt(i) !== C_DOT) return -1;
    i++;
  }
}

/**
 * RFC 3261 §25.1 IPv6address (hexpart [ ":" IPv4address ]) between start and
 * end (no brackets), written into out as eight 16-bit groups.
 */
function parseIPv6Into(s: string, start: number, end: number, out: Uint16Array): boolean {
  if (start >= end) return false;
  let n = 0; // groups written to out so far
  let gap = -1; // index in out where "::" sits
  let i = start;
  if (s.charCodeAt(i) === C_COLON) {
    if (i + 1 >= end || s.charCodeAt(i + 1) !== C_COLON) return false;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    let v = 0;
    let j = i;
    while (j < end && j - i < 4) {
      const h = hexVal(s.charCodeAt(j));
      if (h < 0) break;
      v = (v << 4) | h;
      j++;
    }
    if (j === i) return false;
    if (j < end && s.charCodeAt(j) === C_DOT) {
      // Trailing embedded IPv4 address: takes the last two groups.
      const v4 = parseIPv4(s, i, end);
      if (v4 < 0 || n > 6) return false;
      out[n++] = Math.floor(v4 / 65536);
      out[n++] = v4 % 65536;
      i = end;
      break;
    }
    if (n >= 8) return false;
    out[n++] = v;
    i = j;
    if (i === end) break;
    if (s.charCodeAt(i) !== C_COLON) return false; // also rejects a 5th hex digit
    i++;
    if (i < end && s.charCodeAt(i) === C_COLON) {
      if (gap >= 0) return false; // at most one "::"
      gap = n;
      i++;
    } else if (i === end) {
      return false; // dangling single ':'
    }
  }
  if (gap < 0) return n === 8;
  if (n > 7) return false; // "::" stands for at least one zero group
  // Shift the groups after the gap to the end and zero-fill the gap.
  const tail = n - gap;
  for (let k = 0; k < tail; k++) out[7 - k] = out[n - 1 - k]!;
  for (let k = gap; k < 8 - tail; k++) out[k] = 0;
  return true;
}

/** RFC 3261 §25.1 hostname = *( domainlabel "." ) toplabel [ "." ]; labels alphanum/'-', not starting or ending with '-'; toplabel starts with ALPHA. */
function isHostname(s: string, start: number, end: number): boolean {
  if (end > start && s.charCodeAt(end - 1) === C_DOT) end--;
  if (start >= end) return false;
  let labelStart = start;
  for (let i = start; i <= end; i++) {
    const c = i < end ? s.charCodeAt(i) : C_DOT;
    if (c === C_DOT) {
      if (i === labelStart) return false; // empty label
      const first = s.charCodeAt(labelStart);
      if ((CH[first]! & ALNUM) === 0 || (CH[s.charCodeAt(i - 1)]! & ALNUM) === 0) return false;
      if (i === end && (CH[first]! & ALPHA) === 0) return false; // toplabel
      labelStart = i + 1;
    } else if (c >= 128 || (CH[c]! & HOSTCH) === 0) {
      return false;
    }
  }
  return true;
}

/**
 * Classify a host as written: "[...]" (or a bare IPv6 address, as in a Via
 * `received` parameter) → 'ipv6', dotted quad → 'ipv4', RFC 3261 hostname →
 * 'name'; null when it is none of them.
 */
export function classifyHost(host: string): HostType | null {
  const n = host.length;
  if (n === 0) return null;
  if (host.charCodeAt(0) === C_LBRACKET) {
    return host.charCodeAt(n - 1) === C_RBRACKET && parseIPv6Into(host, 1, n - 1, V6A) ? 'ipv6' : null;
  }
  if (parseIPv4(host, 0, n) >= 0) return 'ipv4';
  if (isHostname(host, 0, n)) return 'name';
  return parseIPv6Into(host, 0, n, V6A) ? 'ipv6' : null;
}

const V6A = new Uint16Array(8);
const V6B = new Uint16Array(8);

function parseIPv6Host(h: string, out: Uint16Array): boolean {
  const n = h.length;
  if (n > 1 && h.charCodeAt(0) === C_LBRACKET) {
    return h.charCodeAt(n - 1) === C_RBRACKET && parseIPv6Into(h, 1, n - 1, out);
  }
  return parseIPv6Into(h, 0, n, out);
}

/**
 * Host comparison: case-insensitive for names (RFC 3261 §19.1.4: components
 * other than userinfo compare case-insensitively); IP addresses compare by
 * value, so "[2001:DB8::0:10]" equals "[2001:db8::10]" (brackets optional).
 * No DNS: a name never equals an address (§19.1.4).
 */
export function hostEquals(a: string, b: string): boolean {
  if (asciiEqualsIgnoreCase(a, b)) return true;
  const a6 = a.indexOf(':') >= 0;
  const b6 = b.indexOf(':') >= 0;
  if (a6 || b6) {
    if (!a6 || !b6 || !parseIPv6Host(a, V6A) || !parseIPv6Host(b, V6B)) return false;
    for (let k = 0; k < 8; k++) if (V6A[k] !== V6B[k]) return false;
    return true;
  }
  const a4 = parseIPv4(a, 0, a.length);
  return a4 >= 0 && a4 === parseIPv4(b, 0, b.length);
}

// ---------------------------------------------------------------------------
// Escaping

/**
 * %XX decoding, UTF-8. Malformed escapes ("%4", "%zz") and escapes that do
 * not form valid UTF-8 sequences are left as written.
 */
export function unescapeUri(s: string): string {
  let p = s.indexOf('%');
  if (p < 0) return s;
  let out = '';
  let last = 0;
  while (p >= 0) {
    const b0 = escapeAt(s, p);
    if (b0 < 0) {
      p = s.indexOf('%', p + 1);
      continue;
    }
    out += s.slice(last, p);
    if (b0 < 0x80) {
      out += String.fromCharCode(b0);
      last = p + 3;
    } else {
      let need: number;
      let cp: number;
      let min: number;
      if (b0 >= 0xc2 && b0 <= 0xdf) {
        need = 1;
        cp = b0 & 0x1f;
        min = 0x80;
      } else if (b0 >= 0xe0 && b0 <= 0xef) {
        need = 2;
        cp = b0 & 0x0f;
        min = 0x800;
      } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        need = 3;
        cp = b0 & 0x07;
        min = 0x10000;
      } else {
        need = 0;
        cp = 0;
        min = 0;
      }
      let ok = need > 0;
      let q = p + 3;
      for (let k = 0; ok && k < need; k++) {
        const b = escapeAt(s, q);
        if (b < 0x80 || b > 0xbf) ok = false;
        else {
          cp = (cp << 6) | (b & 0x3f);
          q += 3;
        }
      }
      if (ok && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) ok = false;
      if (ok) {
        out += String.fromCodePoint(cp);
        last = q;
      } else {
        out += s.slice(p, p + 3);
        last = p + 3;
      }
    }
    p = s.indexOf('%', last);
  }
  return out + s.slice(last);
}

function pctByte(b: number): string {
  return '%' + HEX_UPPER[b >> 4]! + HEX_UPPER[b & 15]!;
}

function pctUtf8(cp: number): string {
  if (cp < 0x80) return pctByte(cp);
  if (cp < 0x800) return pctByte(0xc0 | (cp >> 6)) + pctByte(0x80 | (cp & 0x3f));
  if (cp < 0x10000) {
    return pctByte(0xe0 | (cp >> 12)) + pctByte(0x80 | ((cp >> 6) & 0x3f)) + pctByte(0x80 | (cp & 0x3f));
  }
  return (
    pctByte(0xf0 | (cp >> 18)) +
    pctByte(0x80 | ((cp >> 12) & 0x3f)) +
    pctByte(0x80 | ((cp >> 6) & 0x3f)) +
    pctByte(0x80 | (cp & 0x3f))
  );
}

/** Escape every character not allowed by mask; well-formed escapes already present are kept. Identity on valid text. */
function escapeWith(s: string, mask: number): string {
  const n = s.length;
  let i = scan(s, 0, n, mask);
  if (i === n) return s;
  if (i < 0) i = 0;
  let out = s.slice(0, i);
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c < 128 && (CH[c]! & mask) !== 0) {
      out += s[i];
      i++;
    } else if (c === C_PCT && escapeAt(s, i) >= 0) {
      out += s.slice(i, i + 3);
      i += 3;
    } else {
      let cp = s.codePointAt(i)!;
      i += cp > 0xffff ? 2 : 1;
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; // lone surrogate
      out += pctUtf8(cp);
    }
  }
  return out;
}

export type UriComponent = 'user' | 'password' | 'param' | 'header';

const COMPONENT_MASK: Record<UriComponent, number> = {
  user: USER_OK,
  password: PASS_OK,
  param: PARAM_OK,
  header: HDR_OK,
};

/**
 * Escape raw text for use as a SIP URI component (RFC 3261 §25.1 character
 * sets). Existing well-formed %XX escapes are kept, so the function is
 * idempotent and the identity on text that is already valid.
 */
export function escapeUriComponent(s: string, component: UriComponent): string {
  return escapeWith(s, COMPONENT_MASK[component]);
}

/**
 * Canonical form for comparison. RFC 3261 §19.1.4: characters other than
 * those in the RFC 2396 "reserved" set are equivalent to their %XX encoding —
 * so escapes of unreserved characters are decoded; every other escape stays
 * escaped (hex uppercased), which keeps e.g. "%3B" distinct from ";" and
 * "%25" distinct from "%".
 */
function normEscapes(s: string): string {
  let p = s.indexOf('%');
  if (p < 0) return s;
  let out = '';
  let last = 0;
  while (p >= 0) {
    const b = escapeAt(s, p);
    if (b < 0) {
      p = s.indexOf('%', p + 1);
      continue;
    }
    out += s.slice(last, p);
    out += b < 128 && (CH[b]! & UNRESERVED) !== 0 ? String.fromCharCode(b) : pctByte(b);
    last = p + 3;
    p = s.indexOf('%', last);
  }
  return out + s.slice(last);
}

// ---------------------------------------------------------------------------
// Parsing

/**
 * Parse a URI: sip/sips (RFC 3261 §19.1), tel (RFC 3966), or any other
 * absoluteURI kept opaque. Returns null when malformed; never throws.
 * No surrounding whitespace is accepted.
 */
export function parseUri(text: string): Uri | null {
  if (typeof text !== 'string') return null;
  const len = text.length;
  // RFC 3986 §3.1 / RFC 2396 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), case-insensitive.
  if (len === 0) return null;
  const c0 = text.charCodeAt(0);
  if (c0 >= 128 || (CH[c0]! & ALPHA) === 0) return null; // also: empty scheme
  const colon = scanPlain(text, 1, len, SCHEME);
  if (colon >= len || text.charCodeAt(colon) !== C_COLON) return null;
  if (colon === 3) {
    const a = c0 | 0x20;
    const b = text.charCodeAt(1) | 0x20;
    const c = text.charCodeAt(2) | 0x20;
    if (a === 115 && b === 105 && c === 112) return parseSipBody(text, 4, 'sip'); // "sip"
    if (a === 116 && b === 101 && c === 108) return parseTelBody(text, 4); // "tel"
  } else if (colon === 4) {
    const a = c0 | 0x20;
    if (
      a === 115 &&
      (text.charCodeAt(1) | 0x20) === 105 &&
      (text.charCodeAt(2) | 0x20) === 112 &&
      (text.charCodeAt(3) | 0x20) === 115
    ) {
      return parseSipBody(text, 5, 'sips');
    }
  }
  // RFC 3261 §25.1 absoluteURI (RFC 2396): non-empty hier-part / opaque-part.
  // Kept opaque; only the character set and escapes are checked.
  const vs = colon + 1;
  if (vs >= len || scan(text, vs, len, OPAQUE_OK) !== len) return null;
  return { scheme: text.slice(0, colon).toLowerCase(), value: text.slice(vs) };
}

/** Parse a sip: or sips: URI; null for anything else or when malformed. */
export function parseSipUri(text: string): SipUri | null {
  if (typeof text !== 'string') return null;
  const len = text.length;
  if (len < 5) return null;
  const a = text.charCodeAt(0) | 0x20;
  const b = text.charCodeAt(1) | 0x20;
  const c = text.charCodeAt(2) | 0x20;
  if (a !== 115 || b !== 105 || c !== 112) return null;
  const d = text.charCodeAt(3);
  if (d === C_COLON) return parseSipBody(text, 4, 'sip');
  if ((d | 0x20) === 115 && text.charCodeAt(4) === C_COLON) return parseSipBody(text, 5, 'sips');
  return null;
}

/** The headers of every URI that has none (most of them): one map, read-only by its type. */
const NO_HEADERS: ReadonlyMap<string, string> = new Map();
/** Likewise the parameters of every SIP URI that has none. */
const NO_PARAMS: UriParams = new Map();

function parseSipBody(text: string, start: number, scheme: 'sip' | 'sips'): SipUri | null {
  const len = text.length;
  let user: string | undefined;
  let password: string | undefined;
  let i = start;

  // RFC 3261 §25.1: userinfo = ( user / telephone-subscriber ) [ ":" password ] "@".
  // No component of a SIP URI may contain an unescaped '@' other than this
  // terminator, so the first '@' ends the userinfo; the user may contain
  // ';', '?', '/', '=' etc. (user-unreserved), but not ':' which starts the password.
  const at = text.indexOf('@', start);
  if (at >= 0) {
    const ue = scan(text, start, at, USER_OK);
    if (ue <= start) return null; // user = 1*(...), or a bad escape
    user = text.slice(start, ue);
    if (ue < at) {
      if (text.charCodeAt(ue) !== C_COLON) return null;
      if (scan(text, ue + 1, at, PASS_OK) !== at) return null; // password = *( ... ), no ':'
      password = text.slice(ue + 1, at);
    }
    i = at + 1;
  }

  // hostport: host = hostname / IPv4address / IPv6reference; escapes are not allowed here.
  if (i >= len) return null; // missing host
  let host: string;
  let hostType: HostType;
  if (text.charCodeAt(i) === C_LBRACKET) {
    const close = text.indexOf(']', i + 1);
    if (close < 0 || !parseIPv6Into(text, i + 1, close, V6A)) return null;
    host = text.slice(i, close + 1);
    hostType = 'ipv6';
    i = close + 1;
  } else {
    const he = scanPlain(text, i, len, HOSTCH);
    if (he === i) return null;
    if (parseIPv4(text, i, he) >= 0) hostType = 'ipv4';
    else if (isHostname(text, i, he)) hostType = 'name';
    else return null;
    host = text.slice(i, he);
    i = he;
  }

  let c = codeAt(text, i);
  let port: number | undefined;
  if (c === C_COLON) {
    // port = 1*DIGIT, 0-65535
    const ps = ++i;
    let v = 0;
    while (i < len) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
      if (v > 65535) return null;
      i++;
    }
    if (i === ps) return null;
    port = v;
    c = codeAt(text, i);
  }

  // uri-parameters = *( ";" uri-parameter ); pname = 1*paramchar; pvalue = 1*paramchar.
  let params: UriParams = NO_PARAMS;
  let ps: Map<string, string | null> | undefined;
  while (c === C_SEMI) {
    const ns = i + 1;
    const ne = scan(text, ns, len, PARAM_OK);
    if (ne <= ns) return null;
    const name = text.slice(ns, ne).toLowerCase();
    let value: string | null = null;
    i = ne;
    c = codeAt(text, i);
    if (c === C_EQ) {
      const ve = scan(text, i + 1, len, PARAM_OK);
      if (ve <= i + 1) return null;
      value = text.slice(i + 1, ve);
      i = ve;
      c = codeAt(text, i);
    }
    if (ps === undefined) params = ps = new Map();
    else if (ps.has(name)) return null; // ambiguous for comparison; cannot be represented
    ps.set(name, value);
  }

  // headers = "?" header *( "&" header ); header = hname "=" hvalue; hvalue may be empty.
  let headers: ReadonlyMap<string, string> = NO_HEADERS;
  if (c === C_QMARK) {
    const hs = new Map<string, string>();
    headers = hs;
    do {
      const ns = i + 1;
      const ne = scan(text, ns, len, HDR_OK);
      if (ne <= ns || codeAt(text, ne) !== C_EQ) return null;
      const ve = scan(text, ne + 1, len, HDR_OK);
      if (ve < 0) return null;
      const name = text.slice(ns, ne);
      if (hs.size > 0) {
        for (const k of hs.keys()) if (asciiEqualsIgnoreCase(k, name)) return null;
      }
      hs.set(name, text.slice(ne + 1, ve));
      i = ve;
      c = codeAt(text, i);
    } while (c === C_AMP);
  }

  if (i !== len) return null; // stray character: space, control, '@', ']', '>', ...
  return { scheme, user, password, host, hostType, port, params, headers };
}

/** RFC 3966 global-number-digits = "+" *phonedigit DIGIT *phonedigit. */
function isGlobalNumberDigits(s: string, start: number, end: number): boolean {
  if (start >= end || s.charCodeAt(start) !== C_PLUS) return false;
  let digits = 0;
  for (let i = start + 1; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128) return false;
    const f = CH[c]!;
    if ((f & DIGIT) !== 0) digits++;
    else if ((f & VISUAL) === 0) return false;
  }
  return digits > 0;
}

function parseTelBody(text: string, start: number): TelUri | null {
  const len = text.length;
  let i = start;
  // RFC 3966 §3: telephone-subscriber = global-number / local-number
  let global: boolean;
  if (codeAt(text, i) === C_PLUS) {
    global = true;
    i++;
    let digits = 0;
    while (i < len) {
      const c = text.charCodeAt(i);
      if (c >= 128) break;
      const f = CH[c]!;
      if ((f & DIGIT) !== 0) digits++;
      else if ((f & VISUAL) === 0) break;
      i++;
    }
    if (digits === 0) return null;
  } else {
    global = false;
    // local-number-digits = *phonedigit-hex (HEXDIG / "*" / "#") *phonedigit-hex
    let digits = 0;
    while (i < len) {
      const c = text.charCodeAt(i);
      if (c >= 128) break;
      const f = CH[c]!;
      if ((f & TEL_LOCAL) !== 0) digits++;
      else if ((f & VISUAL) === 0) break;
      i++;
    }
    if (digits === 0) return null;
  }
  const number = text.slice(start, i);

  const params = new Map<string, string | null>();
  let c = codeAt(text, i);
  while (c === C_SEMI) {
    // parameter = ";" pname [ "=" pvalue ]; pname = 1*( alphanum / "-" )
    const ns = i + 1;
    const ne = scanPlain(text, ns, len, TEL_PNAME);
    if (ne === ns) return null;
    const name = text.slice(ns, ne).toLowerCase();
    i = ne;
    c = codeAt(text, i);
    let value: string | null = null;
    if (c === C_EQ) {
      const vs = i + 1;
      let ve: number;
      if (name === 'phone-context') {
        // context = ";phone-context=" descriptor; descriptor = domainname / global-number-digits
        ve = scanPlain(text, vs, len, HOSTCH | VISUAL | SCHEME);
        if (!(isGlobalNumberDigits(text, vs, ve) || isHostname(text, vs, ve))) return null;
      } else if (name === 'ext') {
        // extension = ";ext=" 1*phonedigit
        ve = scanPlain(text, vs, len, DIGIT | VISUAL);
      } else if (name === 'isub') {
        // isdn-subaddress = ";isub=" 1*uric (stops at the next ';')
        ve = scan(text, vs, len, URIC_NO_SEMI);
      } else {
        ve = scan(text, vs, len, PARAM_OK); // pvalue = 1*paramchar
      }
      if (ve <= vs) return null;
      value = text.slice(vs, ve);
      i = ve;
      c = codeAt(text, i);
    } else if (name === 'phone-context' || name === 'ext' || name === 'isub') {
      return null; // these require a value
    }
    if (params.has(name)) return null;
    params.set(name, value);
  }
  if (i !== len) return null;
  // RFC 3966 §5.1.5: a local number must carry a phone-context.
  if (!global && !params.has('phone-context')) return null;
  return { scheme: 'tel', number, params };
}

// ---------------------------------------------------------------------------
// Formatting

/**
 * Canonical text: scheme lowercased, parameter names lowercased (as stored),
 * everything else as stored. Characters that are not allowed in a component
 * are %-escaped (the identity for anything parseUri produced), so
 * parseUri(formatUri(u)) deep-equals u for every parsed u.
 */
export function formatUri(uri: Uri): string {
  if (isSipUri(uri)) {
    let s = uri.scheme + ':';
    if (uri.user !== undefined) {
      s += escapeWith(uri.user, USER_OK);
      if (uri.password !== undefined) s += ':' + escapeWith(uri.password, PASS_OK);
      s += '@';
    }
    const h = uri.host;
    s += uri.hostType === 'ipv6' && h.charCodeAt(0) !== C_LBRACKET ? '[' + h + ']' : h;
    if (uri.port !== undefined) s += ':' + uri.port;
    s += formatParams(uri.params, false);
    let first = true;
    for (const [k, v] of uri.headers) {
      s += (first ? '?' : '&') + escapeWith(k, HDR_OK) + '=' + escapeWith(v, HDR_OK);
      first = false;
    }
    return s;
  }
  if (isTelUri(uri)) return 'tel:' + uri.number + formatParams(uri.params, true);
  const other = uri as OtherUri;
  return other.scheme + ':' + other.value;
}

function formatParams(params: UriParams, tel: boolean): string {
  let s = '';
  for (const [k, v] of params) {
    s += ';' + escapeWith(k, PARAM_OK);
    // RFC 3966 isdn-subaddress = ";isub=" 1*uric — a wider set than pvalue.
    if (v !== null) s += '=' + escapeWith(v, tel && k === 'isub' ? URIC_NO_SEMI : PARAM_OK);
  }
  return s;
}

// ---------------------------------------------------------------------------
// Comparison

export function isSipUri(u: Uri): u is SipUri {
  return (u.scheme === 'sip' || u.scheme === 'sips') && 'host' in u;
}

export function isTelUri(u: Uri): u is TelUri {
  return u.scheme === 'tel' && 'number' in u;
}

/**
 * URI equivalence: RFC 3261 §19.1.4 for sip/sips, RFC 3966 §4 for tel;
 * other schemes compare by case-insensitive scheme and exact value.
 * Different kinds never compare equal.
 */
export function uriEquals(a: Uri, b: Uri): boolean {
  if (a === b) return true;
  const aSip = isSipUri(a);
  if (aSip !== isSipUri(b)) return false;
  if (aSip) return sipEquals(a, b as SipUri);
  const aTel = isTelUri(a);
  if (aTel !== isTelUri(b)) return false;
  if (aTel) return telEquals(a, b as TelUri);
  const oa = a as OtherUri;
  const ob = b as OtherUri;
  return asciiEqualsIgnoreCase(oa.scheme, ob.scheme) && oa.value === ob.value;
}

function optionalEqualsCaseSensitive(x: string | undefined, y: string | undefined): boolean {
  if (x === y) return true;
  if (x === undefined || y === undefined) return false;
  return normEscapes(x) === normEscapes(y);
}

/** Parameter names lowercased with escapes normalised; returns the map itself in the usual no-escape case. */
function normParamNames(m: UriParams): UriParams {
  let needs = false;
  for (const k of m.keys()) {
    if (k.indexOf('%') >= 0) {
      needs = true;
      break;
    }
  }
  if (!needs) return m;
  const out = new Map<string, string | null>();
  for (const [k, v] of m) out.set(normEscapes(k).toLowerCase(), v);
  return out;
}

// RFC 3261 §19.1.4: these parameters, appearing in only one URI, make the URIs
// differ even if the value is the default ("transport" by the same rule as the
// port, user, ttl and method; "maddr" explicitly).
function isMustMatchParam(name: string): boolean {
  return name === 'transport' || name === 'user' || name === 'ttl' || name === 'method' || name === 'maddr';
}

function sipParamValueEquals(name: string, v: string | null, w: string | null): boolean {
  if (v === w) return true;
  if (v === null || w === null) return false;
  if (name === 'maddr') return hostEquals(unescapeUri(v), unescapeUri(w));
  const nv = normEscapes(v);
  const nw = normEscapes(w);
  // RFC 3261 §7.1: method names are case-sensitive; §19.1.4: everything else
  // outside userinfo compares case-insensitively.
  if (name === 'method') return nv === nw;
  return asciiEqualsIgnoreCase(nv, nw);
}

function sipEquals(a: SipUri, b: SipUri): boolean {
  // RFC 3261 §19.1.4: a SIP and a SIPS URI are never equivalent.
  if (a.scheme !== b.scheme) return false;
  // §19.1.4: user, password, host and port must match; an omitted port never
  // equals an explicit one, even 5060.
  if (a.port !== b.port) return false;
  if (!hostEquals(a.host, b.host)) return false;
  // §19.1.4: userinfo comparison is case-sensitive, after unescaping the
  // characters whose escaping is not significant.
  if (!optionalEqualsCaseSensitive(a.user, b.user)) return false;
  if (!optionalEqualsCaseSensitive(a.password, b.password)) return false;

  // §19.1.4 uri-parameters: those in both must match; user/ttl/method/maddr
  // (and transport) in only one never match; any other in only one is ignored.
  const pa = normParamNames(a.params);
  const pb = normParamNames(b.params);
  for (const [k, v] of pa) {
    if (!pb.has(k)) {
      if (isMustMatchParam(k)) return false;
      continue;
    }
    if (!sipParamValueEquals(k, v, pb.get(k)!)) return false;
  }
  for (const k of pb.keys()) {
    if (!pa.has(k) && isMustMatchParam(k)) return false;
  }

  // §19.1.4: header components are never ignored: each must be present in both
  // and match. Names compare case-insensitively; values compare after
  // unescaping, case-sensitively (the per-header rules of §20 are not applied).
  if (a.headers.size !== b.headers.size) return false;
  for (const [k, v] of a.headers) {
    let w = b.headers.get(k);
    if (w === undefined) {
      const nk = normEscapes(k);
      for (const [k2, v2] of b.headers) {
        if (asciiEqualsIgnoreCase(nk, normEscapes(k2))) {
          w = v2;
          break;
        }
      }
      if (w === undefined) return false;
    }
    if (v !== w && normEscapes(v) !== normEscapes(w)) return false;
  }
  return true;
}

/** RFC 3966 §4: visual separators are ignored; hex digits compare case-insensitively. */
function telDigits(s: string): string {
  let out = '';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 128 && (CH[c]! & VISUAL) !== 0) {
      out += s.slice(last, i);
      last = i + 1;
    }
  }
  return (last === 0 ? s : out + s.slice(last)).toLowerCase();
}

function telEquals(a: TelUri, b: TelUri): boolean {
  // RFC 3966 §4: both global or both local; numbers equal ignoring visual
  // separators; the same set of parameters (order irrelevant), values compared
  // case-insensitively after unescaping.
  if ((a.number.charCodeAt(0) === C_PLUS) !== (b.number.charCodeAt(0) === C_PLUS)) return false;
  if (telDigits(a.number) !== telDigits(b.number)) return false;
  if (a.params.size !== b.params.size) return false;
  for (const [k, v] of a.params) {
    if (!b.params.has(k)) return false;
    const w = b.params.get(k)!;
    if (v === w) continue;
    if (v === null || w === null) return false;
    if (k === 'phone-context' && v.charCodeAt(0) === C_PLUS) {
      if (w.charCodeAt(0) !== C_PLUS || telDigits(v) !== telDigits(w)) return false;
    } else if (k === 'ext') {
      if (telDigits(v) !== telDigits(w)) return false;
    } else if (!asciiEqualsIgnoreCase(normEscapes(v), normEscapes(w))) {
      return false;
    }
  }
  return true;
}
