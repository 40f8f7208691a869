/** The compact cache of completed non-INVITE server transactions (Timer J, RFC 3261 §17.2.2). */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CompletedNonInviteCache } from '../../../src/transaction/completed-cache.js';
import { ManualClock } from '../../../src/util/clock.js';

const J = 32_000;
const bytes = (text: string) => Buffer.from(text, 'latin1');

function cache() {
  const clock = new ManualClock();
  return { clock, c: new CompletedNonInviteCache(clock, J) };
}

describe('CompletedNonInviteCache', () => {
  it('answers a match of key, method and sent-by with the response, until Timer J', () => {
    const { clock, c } = cache();
    c.add('z9hG4bKa', 'REGISTER', 'client.example.com', 5060, 200, bytes('SIP/2.0 200 OK\r\n\r\n'));
    expect(c.size).toBe(1);
    const hit = c.find('z9hG4bKa', 'REGISTER', 'client.example.com', 5060)!;
    expect(hit.status).toBe(200);
    expect(hit.bytes.toString('latin1')).toBe('SIP/2.0 200 OK\r\n\r\n');
    clock.advance(J - 1);
    expect(c.find('z9hG4bKa', 'REGISTER', 'client.example.com', 5060)).toBeDefined();
    clock.advance(1);
    expect(c.find('z9hG4bKa', 'REGISTER', 'client.example.com', 5060)).toBeUndefined();
    expect(c.size).toBe(0);
    expect(c.slabBytes).toBe(0);
  });

  it('another method, sent-by host or port does not match (§17.2.3)', () => {
    const { c } = cache();
    c.add('z9hG4bKa', 'REGISTER', '192.0.2.1', undefined, 200, bytes('x'));
    expect(c.find('z9hG4bKa', 'OPTIONS', '192.0.2.1', undefined)).toBeUndefined();
    expect(c.find('z9hG4bKa', 'REGISTER', '192.0.2.2', undefined)).toBeUndefined();
    expect(c.find('z9hG4bKa', 'REGISTER', '192.0.2.1', 5060)).toBeUndefined();
    expect(c.find('z9hG4bKb', 'REGISTER', '192.0.2.1', undefined)).toBeUndefined();
    expect(c.find('z9hG4bKa', 'REGISTER', '192.0.2.1', undefined)).toBeDefined();
  });

  it('a key added again takes over; the older entry no longer matches and leaves without taking the newer one', () => {
    const { clock, c } = cache();
    c.add('z9hG4bKa', 'REGISTER', 'h', 1, 200, bytes('first'));
    clock.advance(1000);
    c.add('z9hG4bKa', 'REGISTER', 'h', 1, 404, bytes('second'));
    expect(c.find('z9hG4bKa', 'REGISTER', 'h', 1)!.bytes.toString()).toBe('second');
    clock.advance(J - 1000);
    // the first is due and swept; the second still matches
    expect(c.size).toBe(1);
    expect(c.find('z9hG4bKa', 'REGISTER', 'h', 1)!.status).toBe(404);
    clock.advance(1000);
    expect(c.find('z9hG4bKa', 'REGISTER', 'h', 1)).toBeUndefined();
  });

  it('forget: the entry no longer matches (a failed resend ended the transaction)', () => {
    const { c } = cache();
    c.add('z9hG4bKa', 'REGISTER', 'h', 1, 200, bytes('r'));
    c.forget('z9hG4bKa');
    expect(c.find('z9hG4bKa', 'REGISTER', 'h', 1)).toBeUndefined();
    c.forget('z9hG4bKa');
  });

  it('the bytes handed out are a copy', () => {
    const { c } = cache();
    c.add('k', 'MESSAGE', 'h', 1, 200, bytes('abc'));
    c.find('k', 'MESSAGE', 'h', 1)!.bytes.fill(0x7a);
    expect(c.find('k', 'MESSAGE', 'h', 1)!.bytes.toString()).toBe('abc');
  });

  it('grows past its first ring and across slabs, every entry intact; frees the slabs once due', () => {
    const { clock, c } = cache();
    const body = (i: number) => `SIP/2.0 200 OK\r\nX: ${i}\r\n${'p'.repeat(i % 3000)}\r\n\r\n`;
    const n = 5000; // ~7.5 MB of responses: 8 slabs, a ring of 8192
    for (let i = 0; i < n; i++) {
      c.add(`z9hG4bK${i}`, 'REGISTER', `10.0.${i % 256}.1`, 5060 + (i % 7), 200 + (i % 400), bytes(body(i)));
      if (i % 1000 === 0) clock.advance(1);
    }
    expect(c.size).toBe(n);
    expect(c.slabBytes).toBeGreaterThan(4 << 20);
    for (let i = 0; i < n; i++) {
      const hit = c.find(`z9hG4bK${i}`, 'REGISTER', `10.0.${i % 256}.1`, 5060 + (i % 7));
      expect(hit?.status).toBe(200 + (i % 400));
      expect(hit?.bytes.toString('latin1')).toBe(body(i));
    }
    // due entries leave within the sweep step (50 ms)
    clock.advance(J + 50);
    expect(c.size).toBe(0);
    expect(c.slabBytes).toBe(0);
  });

  it('released slabs are reused before new ones are allocated (fresh memory faults in every page)', () => {
    const { clock, c } = cache();
    const res = Buffer.alloc(100_000, 0x61);
    for (let i = 0; i < 40; i++) c.add(`a${i}`, 'REGISTER', 'h', 1, 200, res); // 4 slabs
    expect(c.slabBytes).toBe(4 << 20);
    clock.advance(J + 50);
    expect(c.slabBytes).toBe(0);
    expect(c.spareSlabs).toBe(4);
    for (let i = 0; i < 25; i++) c.add(`b${i}`, 'REGISTER', 'h', 1, 200, res);
    expect(c.spareSlabs).toBe(1);
    expect(c.find('b24', 'REGISTER', 'h', 1)!.bytes.equals(res)).toBe(true);
  });

  it('grows when the ring has wrapped around (the oldest entry is not in slot 0)', () => {
    const { clock, c } = cache();
    const res = (i: number) => bytes(`r${i}`);
    for (let i = 0; i < 600; i++) c.add(`a${i}`, 'REGISTER', 'h', 1, 200, res(i));
    clock.advance(1000);
    for (let i = 0; i < 400; i++) c.add(`b${i}`, 'REGISTER', 'h', 1, 200, res(i));
    clock.advance(J - 1000 + 50); // the a-entries are due and swept: the ring's front moves to slot 600
    expect(c.size).toBe(400);
    for (let i = 0; i < 1200; i++) c.add(`c${i}`, 'REGISTER', 'h', 1, 200, res(i)); // wraps, then grows
    expect(c.size).toBe(1600);
    for (let i = 0; i < 400; i++) expect(c.find(`b${i}`, 'REGISTER', 'h', 1)?.bytes.toString()).toBe(`r${i}`);
    for (let i = 0; i < 1200; i++) expect(c.find(`c${i}`, 'REGISTER', 'h', 1)?.bytes.toString()).toBe(`r${i}`);
    expect(c.find('a0', 'REGISTER', 'h', 1)).toBeUndefined();
    clock.advance(J);
    expect(c.size).toBe(0);
  });

  it('a response larger than a slab gets a slab of its own', () => {
    const { c } = cache();
    const big = Buffer.alloc(3 << 20, 0x61);
    c.add('a', 'REGISTER', 'h', 1, 200, bytes('small'));
    c.add('b', 'REGISTER', 'h', 1, 200, big);
    c.add('c', 'REGISTER', 'h', 1, 200, bytes('after'));
    expect(c.find('b', 'REGISTER', 'h', 1)!.bytes.equals(big)).toBe(true);
    expect(c.find('a', 'REGISTER', 'h', 1)!.bytes.toString()).toBe('small');
    expect(c.find('c', 'REGISTER', 'h', 1)!.bytes.toString()).toBe('after');
  });

  it('clear drops everything and stops the timer', () => {
    const { clock, c } = cache();
    c.add('a', 'REGISTER', 'h', 1, 200, bytes('r'));
    c.clear();
    expect(c.size).toBe(0);
    expect(c.find('a', 'REGISTER', 'h', 1)).toBeUndefined();
    expect(clock.pendingCount).toBe(0);
  });

  it('model: behaves like a Map of entries with due times under random adds, forgets and time steps', () => {
    type Op = { kind: 'add'; key: number; port: number; status: number; len: number } | { kind: 'forget'; key: number } | { kind: 'advance'; ms: number };
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), key: fc.integer({ min: 0, max: 40 }), port: fc.integer({ min: 0, max: 2 }), status: fc.integer({ min: 200, max: 699 }), len: fc.integer({ min: 0, max: 300_000 }) }),
      fc.record({ kind: fc.constant('forget' as const), key: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 20_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops: Op[]) => {
        const { clock, c } = cache();
        const model = new Map<number, { due: number; port: number; status: number; len: number }>();
        for (const o of ops) {
          if (o.kind === 'add') {
            c.add(`k${o.key}`, 'REGISTER', 'h', o.port, o.status, Buffer.alloc(o.len, o.key));
            model.set(o.key, { due: clock.now() + J, port: o.port, status: o.status, len: o.len });
          } else if (o.kind === 'forget') {
            c.forget(`k${o.key}`);
            model.delete(o.key);
          } else clock.advance(o.ms);
          for (let k = 0; k <= 40; k++) {
            const m = model.get(k);
            const live = m !== undefined && m.due > clock.now();
            for (let port = 0; port <= 2; port++) {
              const hit = c.find(`k${k}`, 'REGISTER', 'h', port);
              if (!live || m.port !== port) {
                if (hit !== undefined) return false;
              } else if (hit === undefined || hit.status !== m.status || hit.bytes.length !== m.len || (m.len > 0 && hit.bytes[m.len - 1] !== k)) return false;
            }
          }
        }
        clock.advance(J + 50);
        return c.size === 0 && c.slabBytes === 0;
      }),
      { numRuns: 60 },
    );
  });
});
