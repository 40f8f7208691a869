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
