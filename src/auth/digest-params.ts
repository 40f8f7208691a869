/**
 * Parsing and formatting of `Digest` challenges and credentials
 * (RFC 3261 §25.1 `challenge` / `credentials`, RFC 7616 §3.3–3.4).
 *
 *   Digest name=value, name="quoted \" value", ...
 *
 * Parameter names are case-insensitive and returned lowercased; values are
 * returned unquoted (with `\` escapes resolved) or as the token given.
 */

// RFC 3261 token: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"
// (RFC 7230 tchar adds "#" "$" "&" "^" "|"; accept those too). A table by char code.
const TOKEN = new Uint8Array(128);
for (const ch of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~#$&^|") TOKEN[ch.charCodeAt(0)] = 1;

function isTokenCode(c: number): boolean {
  return c < 128 && TOKEN[c] === 1;
}

function isTokenChar(c: string): boolean {
  return c.length === 1 && isTokenCode(c.charCodeAt(0));
}

/** space, tab, CR, LF */
function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/**
 * Parses a header value `Digest p1=v1, p2="v2", ...` into a map of lowercased
 * names to values. Returns null when the scheme is not Digest, when there are
 * no parameters, when a parameter appears twice, or on any syntax error
 * (unterminated quote, missing `=`, stray characters, control characters).
 * It scans char codes: a quoted value without escapes is one slice of the
 * input (an authenticated REGISTER carries eight or so).
 */
export function parseDigestParams(value: string): Map<string, string> | null {
  const s = value;
  const n = s.length;
  let i = 0;
  while (i < n && isWs(s.charCodeAt(i))) i++;
  const schemeStart = i;
  while (i < n && isTokenCode(s.charCodeAt(i))) i++;
  if (i - schemeStart !== 6 || s.slice(schemeStart, i).toLowerCase() !== 'digest') return null;
  if (i >= n || !isWs(s.charCodeAt(i))) return null;

  const params = new Map<string, string>();
  for (;;) {
    while (i < n && isWs(s.charCodeAt(i))) i++;
    // Empty list elements (", ,") are allowed by the #rule.
    if (i < n && s.charCodeAt(i) === 0x2c) {
      i++;
      continue;
    }
    if (i >= n) break;

    const nameStart = i;
    while (i < n && isTokenCode(s.charCodeAt(i))) i++;
    if (i === nameStart) return null;
    const name = s.slice(nameStart, i).toLowerCase();
    while (i < n && isWs(s.charCodeAt(i))) i++;
    if (s.charCodeAt(i) !== 0x3d) return null;
    i++;
    while (i < n && isWs(s.charCodeAt(i))) i++;

    let val: string;
    if (s.charCodeAt(i) === 0x22) {
      i++;
      const start = i;
      let escaped = false;
      let closed = false;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c === 0x22) {
          closed = true;
          break;
        }
        if (c === 0x5c) {
          if (i + 1 >= n) return null;
          const e = s.charCodeAt(i + 1);
          if (e === 0x0d || e === 0x0a) return null;
          escaped = true;
          i++;
          continue;
        }
        if ((c < 0x20 && c !== 0x09) || c === 0x7f) return null;
      }
      if (!closed) return null;
      val = escaped ? unescapeQuoted(s, start, i) : s.slice(start, i);
      i++;
    } else {
      const valStart = i;
      while (i < n && isTokenCode(s.charCodeAt(i))) i++;
      if (i === valStart) return null;
      val = s.slice(valStart, i);
    }

    if (params.has(name)) return null;
    params.set(name, val);

    while (i < n && isWs(s.charCodeAt(i))) i++;
    if (i >= n) break;
    if (s.charCodeAt(i) !== 0x2c) return null;
    i++;
  }
  return params.size > 0 ? params : null;
}

/** The text of s[start, end) with each `\x` read as x (the scan checked the escapes). */
function unescapeQuoted(s: string, start: number, end: number): string {
  let out = '';
  let from = start;
  for (let i = start; i < end; i++) {
    if (s.charCodeAt(i) !== 0x5c) continue;
    out += s.slice(from, i) + s[i + 1]!;
    i++;
    from = i + 1;
  }
  return out + s.slice(from, end);
}

/** Returns value as a quoted-string, escaping `"` and `\`. */
export function quoteString(value: string): string {
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** One parameter to format: name, value, and whether to quote the value. */
export type DigestParam = readonly [name: string, value: string, quoted: boolean];

/** Formats `Digest name=value, name="value", ...`. Unquoted values must be tokens. */
export function formatDigestParams(params: readonly DigestParam[]): string {
  const parts = params.map(([name, value, quoted]) => {
    if (!quoted && (value.length === 0 || ![...value].every(isTokenChar))) {
      throw new RangeError(`digest parameter ${name} value is not a token: ${JSON.stringify(value)}`);
    }
    return `${name}=${quoted ? quoteString(value) : value}`;
  });
  return `Digest ${parts.join(', ')}`;
}

export interface ChallengeFields {
  realm: string;
  nonce: string;
  opaque?: string;
  /** `MD5`, `SHA-256`, ... (sent as a token). */
  algorithm?: string;
  /** e.g. `auth` (sent quoted, as RFC 3261 and RFC 7616 require). */
  qop?: string;
  stale?: boolean;
  domain?: string;
}

/** Formats a `WWW-Authenticate` / `Proxy-Authenticate` Digest challenge value. */
export function formatChallenge(c: ChallengeFields): string {
  const params: DigestParam[] = [['realm', c.realm, true]];
  if (c.domain !== undefined) params.push(['domain', c.domain, true]);
  params.push(['nonce', c.nonce, true]);
  if (c.opaque !== undefined) params.push(['opaque', c.opaque, true]);
  if (c.algorithm !== undefined) params.push(['algorithm', c.algorithm, false]);
  if (c.qop !== undefined) params.push(['qop', c.qop, true]);
  if (c.stale) params.push(['stale', 'true', false]);
  return formatDigestParams(params);
}
