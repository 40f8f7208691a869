import { describe, expect, it } from 'vitest';
import { NONCE_LENGTH, NonceCounter, NonceManager } from '../../../src/auth/nonce.js';
import { ManualClock } from '../../../src/util/clock.js';
import { heapRetainedBy, sliceOfMegabyte } from '../../support/heap.js';

const secret = Buffer.alloc(32, 7);

function flipChar(s: string, i: number): string {
  const c = s[i]!;
  return s.slice(0, i) + (c === 'A' ? 'B' : 'A') + s.slice(i + 1);
}

describe('NonceManager', () => {
  it('issues distinct, URL-safe nonces that check valid', () => {
    const clock = new ManualClock();
    const nm = new NonceManager({ secret, clock, ttlMs: 60_000 });
    const a = nm.issue('example.com');
    const b = nm.issue('example.com');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(a).toHaveLength(NONCE_LENGTH);
    expect(nm.check(a, 'example.com')).toBe('valid');
    expect(nm.issuedAt(a, 'example.com')).toBe(clock.now());
  });

  it('refuses a nonce with any character flipped', () => {
    const nm = new NonceManager({ secret, clock: new ManualClock(), ttlMs: 60_000 });
    const n = nm.issue('r');
    for (let i = 0; i < n.length; i++) expect(nm.check(flipChar(n, i), 'r')).toBe('invalid');
  });

  it('refuses garbage, truncation and extension', () => {
    const nm = new NonceManager({ secret, clock: new ManualClock(), ttlMs: 60_000 });
    const n = nm.issue('r');
    for (const bad of ['', 'x', n.slice(1), `${n}A`, `${n.slice(0, -1)}=`, n.replace(/./g, '!')]) {
      expect(nm.check(bad, 'r')).toBe('invalid');
    }
  });

  it('binds the realm', () => {
    const nm = new NonceManager({ secret, clock: new ManualClock(), ttlMs: 60_000 });
    const n = nm.issue('a.example.com');
    expect(nm.check(n, 'b.example.com')).toBe('invalid');
    expect(nm.check(n, 'A.example.com')).toBe('invalid');
  });

  it('is bound to the secret', () => {
    const clock = new ManualClock();
    const n = new NonceManager({ secret, clock, ttlMs: 60_000 }).issue('r');
    expect(new NonceManager({ secret: Buffer.alloc(32, 8), clock, ttlMs: 60_000 }).check(n, 'r')).toBe('invalid');
    // Another instance with the same secret (another process, a restart) accepts it.
    expect(new NonceManager({ secret: Buffer.alloc(32, 7), clock, ttlMs: 60_000 }).check(n, 'r')).toBe('valid');
  });

  it('turns stale after the ttl, never invalid', () => {
    const clock = new ManualClock();
    const nm = new NonceManager({ secret, clock, ttlMs: 60_000 });
    const n = nm.issue('r');
    clock.advance(60_000);
    expect(nm.check(n, 'r')).toBe('valid');
    clock.advance(1);
    expect(nm.check(n, 'r')).toBe('stale');
    clock.advance(10 * 60_000);
    expect(nm.check(n, 'r')).toBe('stale');
    expect(nm.check(flipChar(n, 30), 'r')).toBe('invalid');
  });
});

describe('NonceCounter', () => {
  it('keeps a copy of each nonce, not the request text it was cut from (regression: 650 B per tracked nonce)', () => {
    const clock = new ManualClock();
    const c = new NonceCounter({ clock });
    const retained = heapRetainedBy(() => {
      for (let i = 0; i < 8; i++) expect(c.use(sliceOfMegabyte(i), 1, clock.now() + 60_000)).toBe('ok');
      return c;
    });
    expect(c.size).toBe(8);
    // the 1 MiB texts the nonces were cut from would be 8 MiB
    expect(retained).toBeLessThan(3 << 20);
    expect(c.use(sliceOfMegabyte(3), 1, clock.now() + 60_000)).toBe('replay');
  });

  it('accepts increasing nc and refuses replays', () => {
    const clock = new ManualClock();
    const c = new NonceCounter({ clock });
    const exp = clock.now() + 60_000;
    expect(c.use('n1', 1, exp)).toBe('ok');
    expect(c.use('n1', 1, exp)).toBe('replay');
    expect(c.use('n1', 2, exp)).toBe('ok');
    expect(c.use('n1', 5, exp)).toBe('ok');
    expect(c.use('n1', 3, exp)).toBe('replay');
    expect(c.use('n1', 5, exp)).toBe('replay');
    expect(c.use('n2', 1, exp)).toBe('ok');
  });

  it('forgets entries once their nonce expired', () => {
    const clock = new ManualClock();
    const c = new NonceCounter({ clock });
    c.use('n1', 1, clock.now() + 1_000);
    clock.advance(1_001);
    c.sweep();
    expect(c.size).toBe(0);
  });

  it('stays bounded, dropping expired entries first', () => {
    const clock = new ManualClock();
    const c = new NonceCounter({ clock, maxEntries: 3 });
    c.use('old1', 1, clock.now() + 100);
    c.use('old2', 1, clock.now() + 100);
    c.use('live', 1, clock.now() + 10_000);
    clock.advance(200);
    expect(c.use('new', 1, clock.now() + 10_000)).toBe('ok');
    expect(c.size).toBe(2);
    expect(c.use('live', 1, clock.now() + 10_000)).toBe('replay');
  });

  it('after evicting a live entry, does not trust untracked older nonces', () => {
    const clock = new ManualClock();
    const c = new NonceCounter({ clock, maxEntries: 2 });
    const t = clock.now();
    c.use('a', 1, t + 1_000);
    c.use('b', 1, t + 2_000);
    expect(c.use('c', 1, t + 3_000)).toBe('ok'); // evicts 'a'
    expect(c.size).toBe(2);
    // 'a' could be replayed now that its nc is forgotten: refuse it as unknown.
    expect(c.use('a', 1, t + 1_000)).toBe('unknown');
    // A newer nonce is still fine.
    expect(c.use('d', 1, t + 4_000)).toBe('ok');
  });

  it('when full, evicts the front (oldest inserted) entry without a scan; out-of-order expiries stay safe', () => {
    const clock = new ManualClock();
    const c = new NonceCounter({ clock, maxEntries: 2 });
    const t = clock.now();
    c.use('a', 1, t + 5_000);
    c.use('b', 1, t + 1_000);
    expect(c.use('c', 1, t + 6_000)).toBe('ok'); // evicts 'a', the front, though 'b' expires sooner
    expect(c.use('b', 1, t + 1_000)).toBe('replay'); // still tracked
    expect(c.use('a', 1, t + 5_000)).toBe('unknown');
    // any untracked nonce expiring before the evicted one is no longer trusted either
    expect(c.use('x', 1, t + 4_000)).toBe('unknown');
  });

  it('a nonce used again after it expired is queued anew: eviction skips its old place', () => {
    const clock = new ManualClock();
    const c = new NonceCounter({ clock, maxEntries: 2 });
    const t = clock.now();
    c.use('a', 1, t + 1_000);
    clock.advance(1_000);
    expect(c.use('a', 1, t + 10_000)).toBe('ok'); // expired entry dropped, tracked again (now the newest)
    c.use('b', 1, t + 11_000);
    expect(c.use('c', 1, t + 12_000)).toBe('ok'); // evicts 'a' (its new place is the front now)
    expect(c.use('b', 1, t + 11_000)).toBe('replay');
    expect(c.use('a', 2, t + 10_000)).toBe('unknown');
  });

  it('under sustained load with a full table, evicts in insertion order and stays at its bound', () => {
    const clock = new ManualClock();
    const max = 100;
    const c = new NonceCounter({ clock, maxEntries: max });
    const t0 = clock.now();
    const expiry = (i: number): number => t0 + i + 1 + 300_000;
    for (let i = 0; i < 20_000; i++) {
      clock.advance(1);
      expect(c.use(`n${i}`, 1, clock.now() + 300_000)).toBe('ok');
      expect(c.size).toBeLessThanOrEqual(max);
    }
    // the last max nonces are tracked, the one before them is not
    expect(c.use('n19999', 1, expiry(19_999))).toBe('replay');
    expect(c.use(`n${20_000 - max}`, 1, expiry(20_000 - max))).toBe('replay');
    expect(c.use(`n${20_000 - max - 1}`, 2, expiry(20_000 - max - 1))).toBe('unknown');
  });
});
