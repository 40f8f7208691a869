/**
 * Stateless, tamper-proof digest nonces and nonce-count replay protection.
 *
 * nonce = base64url( timestamp(8 bytes, ms, big-endian)
 *                  ‖ random(8 bytes)
 *                  ‖ HMAC-SHA256(secret, timestamp ‖ random ‖ realm)[0..16) )
 *
 * Any server holding the secret can check a nonce without keeping state; the
 * realm is bound into the MAC so a nonce of one realm is refused in another.
 */
import { createHmac, createSecretKey, randomFillSync, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Clock } from '../util/clock.js';

const TS_BYTES = 8;
const RAND_BYTES = 8;
const MAC_BYTES = 16;
const NONCE_BYTES = TS_BYTES + RAND_BYTES + MAC_BYTES;
/** Length of the base64url text of a nonce (32 bytes, unpadded). */
export const NONCE_LENGTH = Math.ceil((NONCE_BYTES * 4) / 3);
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export type NonceStatus = 'valid' | 'stale' | 'invalid';

export interface NonceManagerOptions {
  secret: Buffer;
  clock: Clock;
  /** How long a nonce stays valid; older nonces are 'stale'. */
  ttlMs: number;
}

export class NonceManager {
  /** a KeyObject: createHmac with a Buffer key prepares the key again on every call (about 1 µs) */
  private readonly secret: KeyObject;
  private readonly clock: Clock;
  readonly ttlMs: number;

  constructor(opts: NonceManagerOptions) {
    if (opts.secret.length < 16) throw new RangeError('nonce secret must be at least 16 bytes');
    if (!(opts.ttlMs > 0)) throw new RangeError('nonce ttlMs must be positive');
    this.secret = createSecretKey(Buffer.from(opts.secret));
    this.clock = opts.clock;
    this.ttlMs = opts.ttlMs;
  }

  /** A fresh nonce for realm. */
  issue(realm: string): string {
    const b = Buffer.allocUnsafe(NONCE_BYTES);
    const ts = Math.max(0, Math.floor(this.clock.now()));
    b.writeUInt32BE(Math.floor(ts / 2 ** 32), 0);
    b.writeUInt32BE(ts % 2 ** 32, 4);
    takeRandom(b, TS_BYTES, RAND_BYTES);
    const head = b.subarray(0, TS_BYTES + RAND_BYTES);
    this.mac(head, realm).copy(b, TS_BYTES + RAND_BYTES);
    return b.toString('base64url');
  }

  /** 'valid', 'stale' (authentic but older than ttlMs) or 'invalid' (forged, altered, other realm, garbage). */
  check(nonce: string, realm: string): NonceStatus {
    const issued = this.issuedAt(nonce, realm);
    if (issued === undefined) return 'invalid';
    return this.clock.now() - issued > this.ttlMs ? 'stale' : 'valid';
  }

  /** The issue time of an authentic nonce of realm, or undefined if the nonce is not authentic. */
  issuedAt(nonce: string, realm: string): number | undefined {
    if (nonce.length !== NONCE_LENGTH || !BASE64URL.test(nonce)) return undefined;
    const raw = Buffer.from(nonce, 'base64url');
    // Reject non-canonical encodings (unused low bits set) so one nonce has one spelling.
    if (raw.length !== NONCE_BYTES || raw.toString('base64url') !== nonce) return undefined;
    const head = raw.subarray(0, TS_BYTES + RAND_BYTES);
    const mac = raw.subarray(TS_BYTES + RAND_BYTES);
    if (!timingSafeEqual(mac, this.mac(head, realm))) return undefined;
    const ts = raw.readBigUInt64BE(0);
    return ts > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(ts);
  }

  private mac(head: Buffer, realm: string): Buffer {
    return createHmac('sha256', this.secret).update(head).update(realm, 'utf8').digest().subarray(0, MAC_BYTES);
  }
}

// Random bytes are cut from a pool refilled 4 KiB at a time: a randomBytes()
// call per challenge costs microseconds, most of it call overhead.
const RANDOM_POOL = Buffer.alloc(4096);
let randomPos = RANDOM_POOL.length;

function takeRandom(into: Buffer, at: number, n: number): void {
  if (randomPos + n > RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL);
    randomPos = 0;
  }
  RANDOM_POOL.copy(into, at, randomPos, randomPos + n);
  randomPos += n;
}

export type NcResult = 'ok' | 'replay' | 'unknown';

export interface NonceCounterOptions {
  clock: Clock;
  /** Most nonces tracked at once (default 100 000). */
  maxEntries?: number;
}

interface NcEntry {
  nc: number;
  expiresAt: number;
}

/**
 * Remembers the highest nonce-count (`nc`) accepted per nonce. An `nc` not
 * greater than the last accepted one is a replay.
 *
 * Entries live until their nonce expires (expiresAt, on the clock). The map is
 * bounded: when full, expired entries are dropped first, then the ones closest
 * to expiry. After an unexpired entry has been evicted the counter can no
 * longer tell replays of it, so any untracked nonce expiring no later than the
 * evicted one is answered 'unknown' (callers treat that as stale and issue a
 * fresh nonce) instead of being trusted.
 */
export class NonceCounter {
  private readonly clock: Clock;
  private readonly maxEntries: number;
  private readonly entries = new Map<string, NcEntry>();
  /** Highest expiresAt of an unexpired entry evicted for room. */
  private evictedHorizon = -Infinity;

  constructor(opts: NonceCounterOptions) {
    this.clock = opts.clock;
    this.maxEntries = Math.max(1, opts.maxEntries ?? 100_000);
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Records nc for nonce (which expires at expiresAt). 'ok' if nc is greater
   * than every nc accepted before for that nonce, 'replay' otherwise, and
   * 'unknown' if the nonce's history was lost to eviction.
   */
  use(nonce: string, nc: number, expiresAt: number): NcResult {
    const now = this.clock.now();
    const e = this.entries.get(nonce);
    if (e && e.expiresAt > now) {
      if (nc <= e.nc) return 'replay';
      e.nc = nc;
      return 'ok';
    }
    if (e) this.entries.delete(nonce);
    if (expiresAt <= this.evictedHorizon) return 'unknown';
    if (this.entries.size >= this.maxEntries) this.makeRoom(now);
    this.entries.set(nonce, { nc, expiresAt });
    return 'ok';
  }

  /** Drops every expired entry. */
  sweep(): void {
    const now = this.clock.now();
    for (const [k, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(k);
  }

  private makeRoom(now: number): void {
    // Tracked nonces share one ttl and are inserted about in expiry order, so the
    // expired ones gather at the front: drop those (a bounded number per insert).
    let dropped = 0;
    for (const [k, e] of this.entries) {
      if (e.expiresAt > now || dropped === 64) break;
      this.entries.delete(k);
      dropped++;
    }
    if (this.entries.size < this.maxEntries) return;
    // Still full: evict the front entry, the oldest (in a full table under load this
    // runs on every insert, so it looks at one entry, not a scan), and remember its horizon.
    for (const [k, e] of this.entries) {
      this.entries.delete(k);
      this.evictedHorizon = Math.max(this.evictedHorizon, e.expiresAt);
      return;
    }
  }
}
