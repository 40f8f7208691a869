/**
 * The header name table: compact forms (RFC 3261 §7.3.3 and later RFCs), the
 * canonical spelling used when we write a header, and which headers are
 * comma-separated lists (§7.3.1) that may be split into values.
 */

/** Compact form → long name (lowercase). */
const COMPACT: Record<string, string> = {
  i: 'call-id',
  m: 'contact',
  e: 'content-encoding',
  l: 'content-length',
  c: 'content-type',
  f: 'from',
  s: 'subject',
  k: 'supported',
  t: 'to',
  v: 'via',
  r: 'refer-to',
  b: 'referred-by',
  o: 'event',
  u: 'allow-events',
  x: 'session-expires',
  a: 'accept-contact',
  j: 'reject-contact',
  d: 'request-disposition',
  y: 'identity',
  n: 'identity-info',
};

/** Lowercase name → spelling we write. Unknown names are written as the caller gave them. */
const CANONICAL: Record<string, string> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version',
  'rack': 'RAck',
  'rseq': 'RSeq',
  'sip-etag': 'SIP-ETag',
  'sip-if-match': 'SIP-If-Match',
};

/** RFC 3261 §7.3.1: headers whose grammar is a comma-separated list. */
const LIST_HEADERS = new Set([
  'via',
  'contact',
  'route',
  'record-route',
  'path',
  'service-route',
  'supported',
  'require',
  'proxy-require',
  'unsupported',
  'allow',
  'accept',
  'accept-encoding',
  'accept-language',
  'allow-events',
  'content-encoding',
  'content-language',
  'in-reply-to',
  'alert-info',
  'call-info',
  'error-info',
  'warning',
  'reply-to',
]);

const nameCache = new Map<string, string>();

/** Normalises a header name as it arrived ("v", "VIA", "Via") to its lowercase long form. */
export function normalizeHeaderName(raw: string): string {
  let n = nameCache.get(raw);
  if (n !== undefined) return n;
  const lower = raw.toLowerCase();
  // own properties only: 'constructor' or '__proto__' must not resolve to Object.prototype members
  n = Object.hasOwn(COMPACT, lower) ? COMPACT[lower]! : lower;
  if (nameCache.size < 1024) nameCache.set(raw, n);
  return n;
}

/**
 * Long names of the headers on nearly every message, for the parser's fast
 * path, indexed by length and first letter: COMMON[length * 32 + (letter & 0x1f)].
 */
const COMMON: Array<string[] | undefined> = [];
/** The same names by first letter only: COMMON_BY_LETTER[letter & 0x1f]. */
const COMMON_BY_LETTER: Array<string[] | undefined> = [];
for (const n of [
  'via', 'from', 'to', 'call-id', 'cseq', 'contact', 'max-forwards', 'content-length', 'content-type', 'route', 'record-route',
  'path', 'expires', 'min-expires', 'supported', 'require', 'proxy-require', 'allow', 'allow-events', 'event', 'accept',
  'user-agent', 'server', 'authorization', 'proxy-authorization', 'www-authenticate', 'proxy-authenticate', 'session-expires',
  'subscription-state', 'timestamp', 'date', 'subject', 'p-asserted-identity', 'privacy', 'reason',
]) {
  (COMMON[n.length * 32 + (n.charCodeAt(0) & 0x1f)] ??= []).push(n);
  (COMMON_BY_LETTER[n.charCodeAt(0) & 0x1f] ??= []).push(n);
}

/**
 * The lowercase long name when the line at b[start] begins with one of the
 * common header names (any letter case) followed at once by ':', else
 * undefined. The colon is then at start + name.length: the parser needs no
 * search for it on nearly every line (a name followed by whitespace before
 * the colon, §7.3.1, is left to the general path).
 */
export function commonHeaderNameAt(b: Uint8Array, start: number): string | undefined {
  const first = b[start]! | 0x20;
  if (first < 0x61 || first > 0x7a) return undefined;
  const candidates = COMMON_BY_LETTER[first & 0x1f];
  if (candidates === undefined) return undefined;
  for (let j = 0; j < candidates.length; j++) {
    const c = candidates[j]!;
    if (b[start + c.length] === 0x3a && spells(b, start, c)) return c;
  }
  return undefined;
}

/**
 * The lowercase long name when the bytes b[start, end) are one of the common
 * header names written in any letter case, else undefined (then the caller
 * slices the name and uses isToken + normalizeHeaderName). Saves a slice and
 * a hash per header; reads bytes, which is cheaper than charCodeAt.
 */
export function commonHeaderName(b: Uint8Array, start: number, end: number): string | undefined {
  const first = b[start]! | 0x20;
  if (first < 0x61 || first > 0x7a) return undefined; // every common name starts with a letter
  const candidates = COMMON[(end - start) * 32 + (first & 0x1f)];
  if (candidates === undefined) return undefined;
  for (let j = 0; j < candidates.length; j++) {
    const c = candidates[j]!;
    if (spells(b, start, c)) return c;
  }
  return undefined;
}

/** Whether b[start + 1, start + name.length) spells name after its first letter: letters in either case, every other character exactly. */
function spells(b: Uint8Array, start: number, name: string): boolean {
  for (let k = 1; k < name.length; k++) {
    const got = b[start + k]!;
    const want = name.charCodeAt(k);
    if (got !== want && ((got | 0x20) !== want || want < 0x61 || want > 0x7a)) return false;
  }
  return true;
}

const canonicalCache = new Map<string, string>();

/** The spelling we use when writing a header we created: "call-id" → "Call-ID", "max-forwards" → "Max-Forwards". */
export function canonicalHeaderName(name: string): string {
  let c = canonicalCache.get(name);
  if (c !== undefined) return c;
  const lower = name.toLowerCase();
  if (Object.hasOwn(CANONICAL, lower)) c = CANONICAL[lower]!;
  else c = lower.replace(/(^|-)([a-z])/g, (_m, p: string, ch: string) => p + ch.toUpperCase());
  if (canonicalCache.size < 1024) canonicalCache.set(name, c);
  return c;
}

export function isListHeader(name: string): boolean {
  return LIST_HEADERS.has(name);
}

/** RFC 3261 §25.1 token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"), as a lookup table. */
export const TOKEN_CHARS = new Uint8Array(128);
for (const ch of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~") TOKEN_CHARS[ch.charCodeAt(0)] = 1;

/** RFC 3261 §25.1 token characters. */
export function isTokenChar(c: number): boolean {
  return c < 128 && TOKEN_CHARS[c] === 1;
}

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}

/**
 * Trims LWS (SP, HT, CR, LF) from both ends. Header text is a byte string, so
 * String.prototype.trim must not be used: it also strips U+00A0, which here is
 * byte 0xA0, the last byte of UTF-8 characters such as 'à' (C3 A0) or 'Р' (D0 A0).
 */
export function trimLws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isLwsChar(s.charCodeAt(a))) a++;
  while (b > a && isLwsChar(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

function isLwsChar(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/**
 * Splits a list header value on commas that are outside quoted strings and
 * angle brackets (RFC 3261 §7.3.1), trimming each element. Empty elements are dropped.
 */
export function splitList(value: string): string[] {
  if (value.indexOf(',') === -1) {
    const t = trimLws(value);
    return t ? [t] : [];
  }
  const out: string[] = [];
  let start = 0;
  let inQuote = false;
  let inAngle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (inQuote) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inQuote = false;
    } else if (c === 0x22) inQuote = true;
    else if (c === 0x3c) inAngle = true;
    else if (c === 0x3e) inAngle = false;
    else if (c === 0x2c && !inAngle) {
      const part = trimLws(value.slice(start, i));
      if (part) out.push(part);
      start = i + 1;
    }
  }
  const last = trimLws(value.slice(start));
  if (last) out.push(last);
  return out;
}
