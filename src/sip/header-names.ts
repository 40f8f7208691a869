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

/** The spelling we use when writing a header we created: "call-id" → "Call-ID", "max-forwards" → "Max-Forwards". */
export function canonicalHeaderName(name: string): string {
  const lower = name.toLowerCase();
  if (Object.hasOwn(CANONICAL, lower)) return CANONICAL[lower]!;
  return lower.replace(/(^|-)([a-z])/g, (_m, p: string, c: string) => p + c.toUpperCase());
}

export function isListHeader(name: string): boolean {
  return LIST_HEADERS.has(name);
}

/** RFC 3261 §25.1 token characters. */
export function isTokenChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2d || c === 0x2e || c === 0x21 || c === 0x25 || c === 0x2a ||
    c === 0x5f || c === 0x2b || c === 0x60 || c === 0x27 || c === 0x7e
  );
}

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}

/**
 * Splits a list header value on commas that are outside quoted strings and
 * angle brackets (RFC 3261 §7.3.1), trimming each element. Empty elements are dropped.
 */
export function splitList(value: string): string[] {
  if (value.indexOf(',') === -1) {
    const t = value.trim();
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
      const part = value.slice(start, i).trim();
      if (part) out.push(part);
      start = i + 1;
    }
  }
  const last = value.slice(start).trim();
  if (last) out.push(last);
  return out;
}
