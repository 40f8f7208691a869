import '../../support/property-seed.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatChallenge,
  formatDigestParams,
  parseDigestParams,
  quoteString,
} from '../../../src/auth/digest-params.js';

describe('parseDigestParams', () => {
  it('parses tokens and quoted strings, lowercasing names', () => {
    const p = parseDigestParams('Digest Username="bob", REALM="a.org", nc=00000001, algorithm=SHA-256');
    expect(p).toEqual(
      new Map([
        ['username', 'bob'],
        ['realm', 'a.org'],
        ['nc', '00000001'],
        ['algorithm', 'SHA-256'],
      ]),
    );
  });

  it('accepts the scheme in any case and loose whitespace (including folded lines)', () => {
    const p = parseDigestParams('  dIgEsT   realm = "x" ,\r\n\tnonce="n"  ');
    expect(p).toEqual(new Map([['realm', 'x'], ['nonce', 'n']]));
  });

  it('respects commas, equals signs and escapes inside quotes', () => {
    const p = parseDigestParams('Digest uri="sip:a@b;x=1,y=2", realm="say \\"hi\\" \\\\ bye", q=""');
    expect(p?.get('uri')).toBe('sip:a@b;x=1,y=2');
    expect(p?.get('realm')).toBe('say "hi" \\ bye');
    expect(p?.get('q')).toBe('');
  });

  it('tolerates empty list elements', () => {
    expect(parseDigestParams('Digest ,a=1,, b="2",')).toEqual(new Map([['a', '1'], ['b', '2']]));
  });

  it.each([
    ['', 'empty'],
    ['Basic dXNlcjpwYXNz', 'other scheme'],
    ['Digest', 'no params'],
    ['Digestrealm="x"', 'no space after scheme'],
    ['Digest realm="x', 'unterminated quote'],
    ['Digest realm="x\\', 'dangling escape'],
    ['Digest realm', 'no equals'],
    ['Digest realm=', 'no value'],
    ['Digest =x', 'no name'],
    ['Digest realm="x" nonce="y"', 'missing comma'],
    ['Digest realm="x"y', 'junk after quote'],
    ['Digest realm=a b', 'space in token'],
    ['Digest realm="a\u0001b"', 'control character'],
    ['Digest realm="a", REALM="b"', 'duplicate parameter'],
    ['Digest uri=sip:a@b', 'non-token unquoted value'],
  ])('rejects %j (%s)', (value) => {
    expect(parseDigestParams(value)).toBeNull();
  });
});

describe('formatting', () => {
  it('formats a challenge with quoted and token values', () => {
    expect(
      formatChallenge({ realm: 'a.org', nonce: 'abc', opaque: 'op', algorithm: 'SHA-256', qop: 'auth', stale: true }),
    ).toBe('Digest realm="a.org", nonce="abc", opaque="op", algorithm=SHA-256, qop="auth", stale=true');
    expect(formatChallenge({ realm: 'a', nonce: 'n', stale: false })).toBe('Digest realm="a", nonce="n"');
  });

  it('escapes quotes and backslashes', () => {
    expect(quoteString('a"b\\c')).toBe('"a\\"b\\\\c"');
  });

  it('refuses a non-token unquoted value', () => {
    expect(() => formatDigestParams([['algorithm', 'MD5 x', false]])).toThrow(RangeError);
  });

  it('round-trips arbitrary quoted values (property)', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
    const value = fc.string({ unit: 'grapheme', maxLength: 30 }).filter((s) => !/[\x00-\x08\x0a-\x1f\x7f]/.test(s));
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(name, value), { minLength: 1, maxLength: 6, selector: (t) => t[0] }), (entries) => {
        const header = formatDigestParams(entries.map(([n, v]) => [n, v, true] as const));
        expect(parseDigestParams(header)).toEqual(new Map(entries));
      }),
    );
  });
});

/** The parser as first written (a regex per character, values built a character at a time): the reference the scanning one must agree with. */
function referenceParse(value: string): Map<string, string> | null {
  const WS = new Set([' ', '\t', '\r', '\n']);
  const tokenChar = (c: string): boolean => /^[A-Za-z0-9\-.!%*_+`'~#$&^|]$/.test(c);
  const s = value;
  let i = 0;
  const n = s.length;
  const skipWs = (): void => {
    while (i < n && WS.has(s[i]!)) i++;
  };
  skipWs();
  const schemeStart = i;
  while (i < n && tokenChar(s[i]!)) i++;
  if (s.slice(schemeStart, i).toLowerCase() !== 'digest') return null;
  if (i >= n || !WS.has(s[i]!)) return null;
  const params = new Map<string, string>();
  for (;;) {
    skipWs();
    if (i < n && s[i] === ',') {
      i++;
      continue;
    }
    if (i >= n) break;
    const nameStart = i;
    while (i < n && tokenChar(s[i]!)) i++;
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
      while (i < n && tokenChar(s[i]!)) i++;
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

describe('parseDigestParams agrees with the reference parser', () => {
  it('on 20,000 generated values, well formed and broken', () => {
    // xorshift32: a fixed sequence, every residue reachable
    let seed = 0x2545f491;
    const next = (k: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % k;
    };
    const pick = <T>(xs: readonly T[]): T => xs[next(xs.length)]!;
    const ws = ['', '', ' ', '\t', '\r\n ', '  '];
    const names = ['username', 'realm', 'nonce', 'uri', 'response', 'qop', 'nc', 'cnonce', 'algorithm', 'opaque', 'Realm', 'x-y.z'];
    const tokens = ['auth', 'MD5', 'SHA-256', '00000001', 'abc#$&^|~', 'a/b', '', '@'];
    const quotedChars = ['a', 'Z', '0', ' ', ':', '@', '\\"', '\\\\', '\\n', '\t', 'é', '😀', '\u0001', '\u007f', '\\\r', ','];
    const value = (): string => {
      if (next(3) === 0) return pick(tokens);
      let q = '"';
      for (let k = next(8); k > 0; k--) q += pick(quotedChars);
      return next(20) === 0 ? q : `${q}"`;
    };
    let parsed = 0;
    for (let t = 0; t < 20_000; t++) {
      let v = pick(['Digest ', 'digest ', 'DIGEST\t', ' Digest  ', 'Basic ', 'Digest', 'Digestx ']);
      const count = 1 + next(5);
      for (let k = 0; k < count; k++) {
        if (k > 0) v += pick([',', ', ', ' ,', ',,', ', ,', ' ']);
        v += `${pick(names)}${pick(ws)}${next(30) === 0 ? '' : '='}${pick(ws)}${value()}`;
      }
      v += pick(['', '', ' ', ',', '\t']);
      // now and then a stray character anywhere
      if (next(10) === 0) {
        const at = next(v.length + 1);
        v = v.slice(0, at) + pick(['"', '=', ',', '\\', '\u0000', ';']) + v.slice(at);
      }
      const got = parseDigestParams(v);
      const want = referenceParse(v);
      if (want !== null) parsed++;
      expect(got === null ? null : [...got], JSON.stringify(v)).toEqual(want === null ? null : [...want]);
    }
    // both outcomes were exercised
    expect(parsed).toBeGreaterThan(1_000);
    expect(parsed).toBeLessThan(18_000);
  });

  it('on well-formed credentials with escapes in every quoted value', () => {
    const v = 'Digest username="al\\"ice", realm="ex\\\\ample.com", nonce="n\\o", uri="sip:example.com", response="r", qop=auth, nc=00000001, cnonce="c"';
    expect([...parseDigestParams(v)!]).toEqual([...referenceParse(v)!]);
    expect(parseDigestParams(v)!.get('username')).toBe('al"ice');
    expect(parseDigestParams(v)!.get('realm')).toBe('ex\\ample.com');
    expect(parseDigestParams(v)!.get('nonce')).toBe('no');
  });
});
