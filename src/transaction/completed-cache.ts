/**
 * Completed non-INVITE server transactions over unreliable transports, kept
 * compactly while Timer J runs (RFC 3261 §17.2.2).
 *
 * In Completed such a transaction does one thing for 64·T1 (32 s): it
 * answers a retransmission of its request with its final response. A
 * registrar answering 18,000 REGISTERs a second holds over half a million of
 * them. Kept as objects (the transaction, its timer entry, a Buffer, strings)
 * each is copied twice by the young-generation GC and marked again by every
 * old-generation GC. Here an entry is its key string in a Map; its numbers
 * live in typed arrays and its bytes (sent-by host, response) in 1 MiB slabs
 * outside the JS heap.
 *
 * Every entry waits the same time, so entries are due in the order they
 * were added: they sit in a ring, oldest first. An entry matches only
 * before it is due; due entries are dropped from the front by one clock
 * timer, at most every SWEEP_MS. A key added again takes the key over and
 * the older entry no longer matches (the layer adds a key only when it
 * holds no live entry for it, so that two transactions sharing a branch
 * stay apart).
 */
import type { Clock, TimerHandle } from '../util/clock.js';

/** slab size; every entry (host + response) is at most the largest message, 64 KiB by default */
const SLAB = 1 << 20;
/** the sweep timer fires at most this often */
const SWEEP_MS = 50;
const MIN_CAPACITY = 1024;
/** released slabs kept for reuse: in a steady state one is released as one is needed */
const MAX_SPARE = 16;
/**
 * Integer fields of an entry, at slot * FIELDS + field in `ints`: final
 * status, sent-by port (-1 when the Via has none), absolute slab number,
 * offset in that slab, sent-by host length, response length.
 */
const STATUS = 0;
const PORT = 1;
const SLAB_NO = 2;
const OFFSET = 3;
const HOST_LEN = 4;
const RES_LEN = 5;
const FIELDS = 6;

/** What a retransmission is answered with. */
export interface CompletedHit {
  status: number;
  /** the response bytes as first sent (a copy: the slab is reused once its entries are gone) */
  bytes: Buffer;
}

export class CompletedNonInviteCache {
  /** key → ring slot; the sentinel keeps the Map from being re-allocated whenever it empties */
  private readonly index = new Map<string, number>([['', -1]]);
  private capacity = MIN_CAPACITY;
  private mask = MIN_CAPACITY - 1;
  /** ring slot of the oldest entry, and the number of entries */
  private head = 0;
  private count = 0;
  private keys: Array<string | undefined> = new Array<string | undefined>(MIN_CAPACITY).fill(undefined);
  private methods: Array<string | undefined> = new Array<string | undefined>(MIN_CAPACITY).fill(undefined);
  private due = new Float64Array(MIN_CAPACITY);
  /** the integer fields of each entry, FIELDS per slot (STATUS, PORT…) */
  private ints = new Int32Array(MIN_CAPACITY * FIELDS);
  /** slabs in use, oldest first; slabs[0] has the absolute number firstSlab */
  private slabs: Buffer[] = [];
  private firstSlab = 0;
  private writePos = SLAB;
  /**
   * released slabs, reused before any new one is allocated: a fresh 1 MiB
   * allocation is new memory from the kernel, and its first write faults
   * every page in (that alone was 3 µs per entry in a profile)
   */
  private spare: Buffer[] = [];
  private timer: TimerHandle | undefined = undefined;
  private readonly sweepBound = (): void => this.sweep();

  constructor(
    private readonly clock: Clock,
    /** how long an entry matches (Timer J) */
    private readonly ttl: number,
  ) {}

  /** Entries that may still match (those due but not yet swept included). */
  get size(): number {
    return this.index.size - 1;
  }

  /** Released slabs waiting to be reused. */
  get spareSlabs(): number {
    return this.spare.length;
  }

  /** Whether an entry for key still matches retransmissions (of some method and sent-by). */
  holds(key: string): boolean {
    const slot = this.index.get(key);
    return slot !== undefined && slot >= 0 && this.due[slot]! > this.clock.now();
  }

  /** Bytes of slab memory held. */
  get slabBytes(): number {
    return this.slabs.reduce((n, s) => n + s.length, 0);
  }

  /** Keeps a completed transaction: its key (the branch), method and sent-by (§17.2.3), and the final response. */
  add(key: string, method: string, viaHost: string, viaPort: number | undefined, status: number, response: Buffer): void {
    if (this.count === this.capacity) this.grow();
    const slot = (this.head + this.count) & this.mask;
    this.count++;
    const hostLen = Buffer.byteLength(viaHost, 'latin1');
    const [slab, no, at] = this.reserve(hostLen + response.length);
    slab.write(viaHost, at, hostLen, 'latin1');
    slab.set(response, at + hostLen);
    this.keys[slot] = key;
    this.methods[slot] = method;
    this.due[slot] = this.clock.now() + this.ttl;
    const f = slot * FIELDS;
    const ints = this.ints;
    ints[f + STATUS] = status;
    ints[f + PORT] = viaPort ?? -1;
    ints[f + SLAB_NO] = no;
    ints[f + OFFSET] = at;
    ints[f + HOST_LEN] = hostLen;
    ints[f + RES_LEN] = response.length;
    this.index.set(key, slot);
    if (this.timer === undefined) this.timer = this.clock.setTimer(this.ttl, this.sweepBound);
  }

  /** The response for a retransmission matching key, method and sent-by, if one is held and not yet due. */
  find(key: string, method: string, viaHost: string, viaPort: number | undefined): CompletedHit | undefined {
    const slot = this.index.get(key);
    if (slot === undefined || slot < 0 || this.due[slot]! <= this.clock.now()) return undefined;
    const f = slot * FIELDS;
    const ints = this.ints;
    if (this.methods[slot] !== method || ints[f + PORT] !== (viaPort ?? -1)) return undefined;
    const slab = this.slabs[ints[f + SLAB_NO]! - this.firstSlab]!;
    const at = ints[f + OFFSET]!;
    const hostEnd = at + ints[f + HOST_LEN]!;
    if (slab.toString('latin1', at, hostEnd) !== viaHost) return undefined;
    return { status: ints[f + STATUS]!, bytes: Buffer.from(slab.subarray(hostEnd, hostEnd + ints[f + RES_LEN]!)) };
  }

  /** Forgets the entry for key (a resend failed: §17.2.4 ends the transaction). */
  forget(key: string): void {
    const slot = this.index.get(key);
    if (slot === undefined || slot < 0) return;
    this.index.delete(key);
    // the ring entry stays until it reaches the front; it no longer matches
    this.keys[slot] = undefined;
  }

  /** Drops everything (shutdown). */
  clear(): void {
    this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.index.clear();
    this.index.set('', -1);
    this.keys.fill(undefined);
    this.methods.fill(undefined);
    this.head = 0;
    this.count = 0;
    this.slabs = [];
    this.spare = [];
    this.writePos = SLAB;
  }

  /** Drops due entries from the front, and the slabs only they used; arms the timer for the next one. */
  private sweep(): void {
    this.timer = undefined;
    const now = this.clock.now();
    while (this.count > 0 && this.due[this.head]! <= now) this.dropHead();
    // slabs older than the oldest entry's hold nothing live (all of them when none is left)
    const keep = this.count === 0 ? this.slabs.length : this.ints[this.head * FIELDS + SLAB_NO]! - this.firstSlab;
    if (keep > 0) this.releaseSlabs(keep);
    if (this.count > 0) this.timer = this.clock.setTimer(Math.max(this.due[this.head]! - now, SWEEP_MS), this.sweepBound);
  }

  /** Lets go of the n oldest slabs, keeping up to MAX_SPARE full-size ones for reuse. */
  private releaseSlabs(n: number): void {
    for (let i = 0; i < n; i++) {
      const slab = this.slabs[i]!;
      if (slab.length === SLAB && this.spare.length < MAX_SPARE) this.spare.push(slab);
    }
    this.slabs.splice(0, n);
    this.firstSlab += n;
    if (this.slabs.length === 0) this.writePos = SLAB;
  }

  private dropHead(): void {
    const slot = this.head;
    const key = this.keys[slot];
    if (key !== undefined && this.index.get(key) === slot) this.index.delete(key);
    this.keys[slot] = undefined;
    this.methods[slot] = undefined;
    this.head = (slot + 1) & this.mask;
    this.count--;
  }

  /** Room for n bytes: the slab, its absolute number, and the offset. */
  private reserve(n: number): [Buffer, number, number] {
    if (this.writePos + n > SLAB) {
      let slab: Buffer;
      if (n > SLAB) slab = Buffer.allocUnsafeSlow(n);
      else slab = this.spare.pop() ?? Buffer.allocUnsafeSlow(SLAB);
      this.slabs.push(slab);
      this.writePos = 0;
    }
    const at = this.writePos;
    this.writePos += n;
    return [this.slabs[this.slabs.length - 1]!, this.firstSlab + this.slabs.length - 1, at];
  }

  /** Doubles the ring, keeping entries in order from slot 0, and re-points the index. */
  private grow(): void {
    const cap = this.capacity * 2;
    // the ring is full: entries run from head to the end, then from 0 to head
    const h = this.head;
    this.keys = [...this.keys.slice(h), ...this.keys.slice(0, h), ...new Array<string | undefined>(cap - this.count).fill(undefined)];
    this.methods = [...this.methods.slice(h), ...this.methods.slice(0, h), ...new Array<string | undefined>(cap - this.count).fill(undefined)];
    const due = new Float64Array(cap);
    due.set(this.due.subarray(h));
    due.set(this.due.subarray(0, h), this.count - h);
    const ints = new Int32Array(cap * FIELDS);
    ints.set(this.ints.subarray(h * FIELDS));
    ints.set(this.ints.subarray(0, h * FIELDS), (this.count - h) * FIELDS);
    // entry i came from slot (head + i) & mask
    for (const [key, s] of this.index) if (s >= 0) this.index.set(key, (s - h) & this.mask);
    this.due = due;
    this.ints = ints;
    this.capacity = cap;
    this.mask = cap - 1;
    this.head = 0;
  }
}
