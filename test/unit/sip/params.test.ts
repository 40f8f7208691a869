/**
 * Header parameters (RFC 3261 §25.1 generic-param): the ParamList the
 * parsers return behaves as the Map<string, string | null> it replaced —
 * parsing (names lowercased, values as written, last duplicate wins in the
 * first one's place) and every Map method callers use, checked against a
 * real Map by a model-based property test.
 */
import '../../support/property-seed.js';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatParams, parseNameAddr, parseParams, parseVia, ParamList, type Params } from '../../../src/sip/header-values.js';

const entries = (p: Params): Array<[string, string | null]> => [...p];

describe('parseParams', () => {
  it('lowercases names, keeps values as written, null for a valueless param', () => {
    const r = parseParams(';Branch=z9hG4bKAbC;LR;X-Q="Quoted;Value, with \\" and ;";maddr=[2001:DB8::1]', 0)!;
    expect(r).not.toBeNull();
    expect(r.params).toBeInstanceOf(ParamList);
    expect(entries(r.params)).toEqual([
      ['branch', 'z9hG4bKAbC'],
      ['lr', null],
      ['x-q', '"Quoted;Value, with \\" and ;"'],
      ['maddr', '[2001:DB8::1]'],
    ]);
    expect(r.params.get('Branch')).toBeUndefined(); // lookups are exact, as on a Map
  });

  it('a repeated name keeps its first place and takes the last value (Map.set)', () => {
    const r = parseParams(';a=1;b=2;A=3;c;b', 0)!;
    expect(entries(r.params)).toEqual([
      ['a', '3'],
      ['b', null],
      ['c', null],
    ]);
    expect(r.params.size).toBe(3);
  });

  it('common names (returned as shared strings) and names that nearly match them parse alike', () => {
    const r = parseParams(';TAG=a;tag=b;Branch=x;brancx=y;branc;q;Q=1;+SIP.Instance="<u>";+sip.instancf;lr;LR=2;rport;rportt', 0)!;
    expect(entries(r.params)).toEqual([
      ['tag', 'b'],
      ['branch', 'x'],
      ['brancx', 'y'],
      ['branc', null],
      ['q', '1'],
      ['+sip.instance', '"<u>"'],
      ['+sip.instancf', null],
      ['lr', '2'],
      ['rport', null],
      ['rportt', null],
    ]);
  });

  it('names ending in the same eight bytes as a common name but differing before them are their own', () => {
    const r = parseParams(';-sip.instance=1;+sip-instance=2;+sip.instance=3;xransport=4;transport=5;tranSport=6;a-branch=7;xreceived=8;received=9', 0)!;
    expect(entries(r.params)).toEqual([
      ['-sip.instance', '1'],
      ['+sip-instance', '2'],
      ['+sip.instance', '3'],
      ['xransport', '4'],
      ['transport', '6'],
      ['a-branch', '7'],
      ['xreceived', '8'],
      ['received', '9'],
    ]);
    expect(r.params.get('branch')).toBeUndefined();
  });

  it('character classes: a token name (no colon, nothing above 0x7f); a token value may hold colons', () => {
    expect(entries(parseParams(';received=::1;X-Ab.C~=v:w:x', 0)!.params)).toEqual([
      ['received', '::1'],
      ['x-ab.c~', 'v:w:x'],
    ]);
    for (const bad of [';a:b=1', ';:=1', ';n\xe9=1', ';n=\xe9', ';n=a\x7fb', ';n=a/b', ';n@=1']) expect(parseParams(bad, 0)).toBeNull();
  });

  it('stops at a comma only when asked to, and reports where it stopped', () => {
    expect(parseParams(';a=1, next', 0, true)).toMatchObject({ end: 4 });
    expect(parseParams(';a=1, next', 0, false)).toBeNull();
    expect(parseParams('', 0)!.params.size).toBe(0);
  });

  it.each([';', ';=1', ';a=', ';a="open', ';a=[::1', 'a=1', ';a=1 b'])('malformed %j → null', (s) => {
    expect(parseParams(s, 0)).toBeNull();
  });

  it('a long list, looked up through its index, behaves the same', () => {
    const names = Array.from({ length: 40 }, (_, i) => `p${i}`);
    const r = parseParams(names.map((n, i) => `;${n}=${i}`).join('') + ';P7=again;p39', 0)!;
    expect(r.params.size).toBe(40);
    expect(r.params.get('p7')).toBe('again');
    expect(r.params.get('p39')).toBeNull();
    expect(r.params.get('p40')).toBeUndefined();
    expect(entries(r.params)[7]).toEqual(['p7', 'again']);
    expect(r.params.delete('p0')).toBe(true);
    expect(r.params.get('p1')).toBe('1');
    expect(r.params.get('p0')).toBeUndefined();
    r.params.set('p0', 'back');
    expect(entries(r.params).at(-1)).toEqual(['p0', 'back']);
  });

  it('typed values carry them: Via, name-addr', () => {
    const via = parseVia('SIP/2.0/UDP h.example.com;branch=z9hG4bK1;rport;received=192.0.2.1')!;
    expect(entries(via.params)).toEqual([
      ['branch', 'z9hG4bK1'],
      ['rport', null],
      ['received', '192.0.2.1'],
    ]);
    const na = parseNameAddr('<sip:a@example.com;lr>;tag=x;Expires=60')!;
    expect(entries(na.params)).toEqual([
      ['tag', 'x'],
      ['expires', '60'],
    ]);
  });
});

describe('ParamList', () => {
  it('has the Map methods: get, has, set, delete, clear, size, iteration, forEach', () => {
    const p = new ParamList([
      ['branch', 'z9hG4bK1'],
      ['rport', null],
    ]);
    expect(p.size).toBe(2);
    expect(p.get('rport')).toBeNull();
    expect(p.get('nope')).toBeUndefined();
    expect(p.has('rport')).toBe(true);
    expect(p.has('nope')).toBe(false);
    expect(p.set('rport', '5060')).toBe(p); // chainable, replaced in place
    p.set('received', '192.0.2.1');
    expect([...p.keys()]).toEqual(['branch', 'rport', 'received']);
    expect([...p.values()]).toEqual(['z9hG4bK1', '5060', '192.0.2.1']);
    expect([...p.entries()]).toEqual([...p]);
    const seen: Array<[string, string | null]> = [];
    p.forEach((v, k, self) => {
      expect(self).toBe(p);
      seen.push([k, v]);
    });
    expect(seen).toEqual([...p]);
    expect(p.delete('branch')).toBe(true);
    expect(p.delete('branch')).toBe(false);
    expect([...p.keys()]).toEqual(['rport', 'received']);
    p.clear();
    expect(p.size).toBe(0);
    expect([...p]).toEqual([]);
  });

  it('the first param set into an empty list, new or emptied by delete or clear, is kept like any other', () => {
    const p = new ParamList();
    p.set('a', '1').set('a', '2').set('b', null);
    expect([...p]).toEqual([['a', '2'], ['b', null]]);
    p.delete('a');
    p.delete('b');
    p.set('c', '3').set('d', '4');
    expect([...p]).toEqual([['c', '3'], ['d', '4']]);
    p.clear();
    p.set('e', null);
    expect([...p]).toEqual([['e', null]]);
    expect(p.size).toBe(1);
    expect(p.has('c')).toBe(false);
  });

  it('copies to and from a Map, and formats like one', () => {
    const p = new ParamList([
      ['tag', 'a1'],
      ['lr', null],
    ]);
    const m = new Map(p);
    expect([...m]).toEqual([...p]);
    expect(formatParams(p)).toBe(';tag=a1;lr');
    expect(formatParams(m)).toBe(';tag=a1;lr');
    expect(formatParams(new ParamList())).toBe('');
  });

  it('iterates a snapshot: changes made while iterating do not affect the loop', () => {
    const p = new ParamList([
      ['a', '1'],
      ['b', '2'],
    ]);
    const seen: string[] = [];
    for (const [k] of p) {
      seen.push(k);
      p.delete('b');
      p.set('c', '3');
    }
    expect(seen).toEqual(['a', 'b']);
    expect([...p.keys()]).toEqual(['a', 'c']);
  });

  it('behaves as a Map under any sequence of set, delete, clear (model-based)', () => {
    const name = fc.constantFrom('a', 'b', 'c', 'tag', 'branch', 'x-1', 'x-2', 'x-3', 'x-4', 'x-5', 'x-6', 'x-7', 'x-8', 'x-9', 'x-10', 'x-11', 'x-12', 'x-13', 'x-14');
    const op = fc.oneof(
      { weight: 6, arbitrary: fc.tuple(fc.constant('set' as const), name, fc.option(fc.string({ maxLength: 4 }), { nil: null })) },
      { weight: 2, arbitrary: fc.tuple(fc.constant('delete' as const), name, fc.constant(null)) },
      { weight: 1, arbitrary: fc.tuple(fc.constant('has' as const), name, fc.constant(null)) },
      { weight: 1, arbitrary: fc.tuple(fc.constant('clear' as const), name, fc.constant(null)) },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const p = new ParamList();
        const m = new Map<string, string | null>();
        for (const [kind, k, v] of ops) {
          if (kind === 'set') {
            p.set(k, v);
            m.set(k, v);
          } else if (kind === 'delete') expect(p.delete(k)).toBe(m.delete(k));
          else if (kind === 'has') expect(p.has(k)).toBe(m.has(k));
          else {
            p.clear();
            m.clear();
          }
          expect(p.size).toBe(m.size);
          expect(p.get(k)).toBe(m.get(k));
        }
        expect([...p]).toEqual([...m]);
        expect(formatParams(p)).toBe(formatParams(m));
      }),
    );
  });
});
