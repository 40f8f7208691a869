/**
 * Parsing and formatting of `Digest` challenges and credentials
 * (RFC 3261 §25.1 `challenge` / `credentials`, RFC 7616 §3.3–3.4).
 *
 *   Digest name=value, name="quoted \" value", ...
 *
 * Parameter names are case-insensitive and returned lowercased; values are
 * returned unquoted (with `\` escapes resolved) or as the token given.
 */

const WS = new Set([' ', '\t', '\r', '\n']);
// RFC 3261 token: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"
// (RFC 7230 tchar adds "#" "$" "&" "^" "|"; accept those too).
const TOKEN_CHAR = /^[A-Za-z0-9\-.!%*_+`'~#$&^|]$/;

function isTokenChar(c: string): boolean {
  return TOKEN_CHAR.test(c);
}

/**
 * Parses a header value `Digest p1=v1, p2="v2", ...` into a map of lowercased
 * names to values. Returns null when the scheme is not Digest, when there are
 * no parameters, when a parameter appears twice, or on any syntax error
 * (unterminated quote, missing `=`, stray characters, control characters).
 */
export function parseDigestParams(value: string): Map<string, string> | null {
  const s = value;
  let i = 0;
  const n = s.length;
  const skipWs = (): void => {
    while (i < n && WS.has(s[i]!)) i++;
  };

  skipWs();
  const schemeStart = i;
  while (i < n && isTokenChar(s[i]!)) i++;
  if (s.slice(schemeStart, i).toLowerCase() !== 'digest') return null;
  if (i >= n || !WS.has(s[i]!)) return null;

  const params = new Map<string, string>();
  for (;;) {
    skipWs();
    // Empty list elements (", ,") are allowed by the #rule.
    if (i < n && s[i] === ',') {
      i++;
      continue;
    }
    if (i >= n) break;

    const nameStart = i;
    while (i < n && isTokenChar(s[i]!)) i++;
    if (i === nameStart) return null;
    const name = s.slice(nameStart, i).toLowerCase();
    skipWs();
    if (s[i] !== '=') return null;
    i++;
    skipWs();

    let val: string;
    if (s[i] === '"') {
      i++;
      let out = '';
      let closed = false;
      while (i < n) {
        const c = s[i]!;
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        if (c === '\\') {
          if (i + 1 >= n) return null;
          const e = s[i + 1]!;
          if (e === '\r' || e === '\n') return null;
          out += e;
          i += 2;
          continue;
        }
        const code = c.charCodeAt(0);
        if ((code < 0x20 && c !== '\t') || code === 0x7f) return null;
        out += c;
        i++;
      }
      if (!closed) return null;
      val = out;
    } else {
      const valStart = i;
      while (i < n && isTokenChar(s[i]!)) i++;
      if (i === valStart) return null;
      val = s.slice(valStart, i);
    }

    if (params.has(name)) return null;
    params.set(name, val);

    skipWs();
    if (i >= n) break;
    if (s[i] !== ',') return null;
    i++;
  }
  return params.size > 0 ? params : null;
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
