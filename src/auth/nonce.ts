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
import { detached } from '../util/strings.js';

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
  readonly nonce: string;
  nc: number;
  readonly expiresAt: number;
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
 *
 * Entries are also queued in insertion order (which, with one ttl for every
 * nonce, is expiry order), so eviction takes the queue's head. Iterating the
 * Map from its front instead walks over the slots of every entry deleted
 * there since the Map last rehashed: under load, with the table full and one
 * eviction per insert, that walk was 7 % of the event loop.
 */
export class NonceCounter {
  private readonly clock: Clock;
  private readonly maxEntries: number;
  private readonly entries = new Map<string, NcEntry>();
  /** entries in insertion order from queueHead on; one no longer in the map is skipped */
  private queue: NcEntry[] = [];
  private queueHead = 0;
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
    // kept for minutes: a copy, as the nonce is usually cut from the request's text (util/strings.ts)
    const key = detached(nonce);
    const entry: NcEntry = { nonce: key, nc, expiresAt };
    this.entries.set(key, entry);
    this.queue.push(entry);
    return 'ok';
  }

  /** Drops every expired entry. */
  sweep(): void {
    const now = this.clock.now();
    for (const [k, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(k);
    this.queue = this.queue.slice(this.queueHead).filter((e) => this.entries.get(e.nonce) === e);
    this.queueHead = 0;
  }

  /** The oldest entry still in the map, or undefined (queue entries no longer in it are dropped). */
  private front(): NcEntry | undefined {
    const q = this.queue;
    while (this.queueHead < q.length) {
      const e = q[this.queueHead]!;
      if (this.entries.get(e.nonce) === e) return e;
      this.queueHead++;
    }
    return undefined;
  }

  private popFront(e: NcEntry): void {
    this.entries.delete(e.nonce);
    this.queueHead++;
    // let go of the consumed part now and then (amortised O(1) per entry)
    if (this.queueHead >= 1024 && this.queueHead * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  private makeRoom(now: number): void {
    // Tracked nonces share one ttl and are inserted about in expiry order, so the
    // expired ones gather at the front: drop those (a bounded number per insert).
    for (let dropped = 0; dropped < 64; dropped++) {
      const e = this.front();
      if (e === undefined || e.expiresAt > now) break;
      this.popFront(e);
    }
    if (this.entries.size < this.maxEntries) return;
    // Still full: evict the front entry, the oldest (in a full table under load this
    // runs on every insert), and remember its horizon.
    const e = this.front();
    if (e === undefined) return;
    this.popFront(e);
    this.evictedHorizon = Math.max(this.evictedHorizon, e.expiresAt);
  }
}
