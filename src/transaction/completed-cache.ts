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
  private status = new Uint16Array(MIN_CAPACITY);
  /** sent-by port, -1 when the Via has none */
  private port = new Int32Array(MIN_CAPACITY);
  /** absolute slab number, offset in it, sent-by host length, response length */
  private slabNo = new Int32Array(MIN_CAPACITY);
  private offset = new Int32Array(MIN_CAPACITY);
  private hostLen = new Int32Array(MIN_CAPACITY);
  private resLen = new Int32Array(MIN_CAPACITY);
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
    this.status[slot] = status;
    this.port[slot] = viaPort ?? -1;
    this.slabNo[slot] = no;
    this.offset[slot] = at;
    this.hostLen[slot] = hostLen;
    this.resLen[slot] = response.length;
    this.index.set(key, slot);
    if (this.timer === undefined) this.timer = this.clock.setTimer(this.ttl, this.sweepBound);
  }

  /** The response for a retransmission matching key, method and sent-by, if one is held and not yet due. */
  find(key: string, method: string, viaHost: string, viaPort: number | undefined): CompletedHit | undefined {
    const slot = this.index.get(key);
    if (slot === undefined || slot < 0 || this.due[slot]! <= this.clock.now()) return undefined;
    if (this.methods[slot] !== method || this.port[slot] !== (viaPort ?? -1)) return undefined;
    const slab = this.slabs[this.slabNo[slot]! - this.firstSlab]!;
    const at = this.offset[slot]!;
    const hostEnd = at + this.hostLen[slot]!;
    if (slab.toString('latin1', at, hostEnd) !== viaHost) return undefined;
    return { status: this.status[slot]!, bytes: Buffer.from(slab.subarray(hostEnd, hostEnd + this.resLen[slot]!)) };
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
    const keep = this.count === 0 ? this.slabs.length : this.slabNo[this.head]! - this.firstSlab;
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
    const keys = new Array<string | undefined>(cap).fill(undefined);
    const methods = new Array<string | undefined>(cap).fill(undefined);
    const due = new Float64Array(cap);
    const status = new Uint16Array(cap);
    const port = new Int32Array(cap);
    const slabNo = new Int32Array(cap);
    const offset = new Int32Array(cap);
    const hostLen = new Int32Array(cap);
    const resLen = new Int32Array(cap);
    for (let i = 0; i < this.count; i++) {
      const s = (this.head + i) & this.mask;
      keys[i] = this.keys[s];
      methods[i] = this.methods[s];
      due[i] = this.due[s]!;
      status[i] = this.status[s]!;
      port[i] = this.port[s]!;
      slabNo[i] = this.slabNo[s]!;
      offset[i] = this.offset[s]!;
      hostLen[i] = this.hostLen[s]!;
      resLen[i] = this.resLen[s]!;
    }
    // entry i came from slot (head + i) & mask
    for (const [key, s] of this.index) if (s >= 0) this.index.set(key, (s - this.head) & this.mask);
    this.keys = keys;
    this.methods = methods;
    this.due = due;
    this.status = status;
    this.port = port;
    this.slabNo = slabNo;
    this.offset = offset;
    this.hostLen = hostLen;
    this.resLen = resLen;
    this.capacity = cap;
    this.mask = cap - 1;
    this.head = 0;
  }
}
