/**
 * Transaction timers on the injected clock, without a closure or a clock
 * timer per transaction timer.
 *
 * Every transaction timer has one of a handful of durations (T1·2^n, T2, T4,
 * 64·T1, 32 s, 200 ms, 0), so timers are kept in one FIFO queue per
 * duration: entries of one queue fall due in the order they were added, and
 * each queue holds at most one clock timer, armed for its head. Scheduling
 * is an array push; cancelling marks the entry dead (it is dropped when it
 * reaches the head, when dead entries outnumber live ones, or at once with
 * its clock timer when no live entry is left in the queue).
 *
 * Every handler checks the transaction's state again before acting
 * (Kamailio `timer.h`); a cancelled entry never calls its target.
 */
import type { Clock, TimerHandle } from '../util/clock.js';

/** Timer names as in RFC 3261 Table 4 and RFC 6026, plus our own. */
export type TimerName =
  | 'A' | 'B' | 'D' | 'E' | 'F' | 'G' | 'H' | 'I' | 'J' | 'K' | 'L' | 'M'
  /** §17.2.1: 200 ms before the INVITE server transaction sends 100 Trying */
  | 'Trying'
  /** not an RFC timer: a non-INVITE server transaction the TU never answers is dropped after 64·T1 */
  | 'Abandon'
  /** not an RFC timer: a transport error on the first send is delivered on the next turn (0 ms) */
  | 'TransportError'
  /** §16.8: a proxy's Timer C on an INVITE client transaction (the proxy's TU owns it; also its CANCEL guard) */
  | 'C';

export interface TimerTarget {
  onTimer(name: TimerName): void;
}

export class TimerEntry {
  constructor(
    public readonly due: number,
    /** null once fired or cancelled */
    public target: TimerTarget | null,
    public readonly name: TimerName,
    public readonly queue: FifoQueue,
  ) {}
}

/** Dead entries are swept out when there are more than this many and they outnumber the live ones. */
const SWEEP_MIN = 4096;

class FifoQueue {
  private entries: Array<TimerEntry | undefined> = [];
  private head = 0;
  private dead = 0;
  private live = 0;
  /** true while fire() runs: entries added meanwhile are armed for when fire() ends */
  private firing = false;
  private armed: TimerHandle | undefined;
  private readonly fireBound: () => void;

  constructor(
    private readonly owner: TimerQueues,
    private readonly clock: Clock,
    readonly ms: number,
  ) {
    this.fireBound = () => this.fire();
  }

  get length(): number {
    return this.entries.length - this.head;
  }

  push(target: TimerTarget, name: TimerName): TimerEntry {
    const e = new TimerEntry(this.clock.now() + this.ms, target, name, this);
    this.entries.push(e);
    this.live++;
    if (this.armed === undefined && !this.firing) this.arm(this.ms);
    return e;
  }

  cancelled(): void {
    this.live--;
    if (this.live === 0) {
      // nothing left to fire: drop the dead entries and the clock timer now
      this.reset();
      this.clock.clearTimer(this.armed);
      this.armed = undefined;
      return;
    }
    this.dead++;
    const len = this.entries.length - this.head;
    if (this.dead > SWEEP_MIN && this.dead * 2 > len) this.sweep();
  }

  private reset(): void {
    this.entries = [];
    this.head = 0;
    this.dead = 0;
  }

  private sweep(): void {
    const live: TimerEntry[] = [];
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i];
      if (e !== undefined && e.target !== null) live.push(e);
    }
    this.entries = live;
    this.head = 0;
    this.dead = 0;
  }

  private arm(ms: number): void {
    this.armed = this.clock.setTimer(ms < 0 ? 0 : ms, this.fireBound);
  }

  private fire(): void {
    this.armed = undefined;
    this.firing = true;
    const now = this.clock.now();
    try {
      // this.entries is read on every turn: a handler may cancel or add entries of this queue
      while (this.head < this.entries.length) {
        const e = this.entries[this.head]!;
        if (e.due > now) break;
        this.entries[this.head++] = undefined;
        const target = e.target;
        if (target === null) {
          this.dead--;
          continue;
        }
        e.target = null;
        this.live--;
        this.owner.live--;
        target.onTimer(e.name);
      }
    } finally {
      this.firing = false;
      if (this.live === 0) {
        this.reset();
      } else {
        if (this.head > 1024 && this.head * 2 > this.entries.length) {
          this.entries = this.entries.slice(this.head);
          this.head = 0;
        }
        if (this.armed === undefined) this.arm(this.entries[this.head]!.due - this.clock.now());
      }
    }
  }
}

export class TimerQueues {
  private readonly queues = new Map<number, FifoQueue>();
  /** timers scheduled and neither fired nor cancelled */
  live = 0;

  constructor(private readonly clock: Clock) {}

  schedule(target: TimerTarget, name: TimerName, ms: number): TimerEntry {
    let q = this.queues.get(ms);
    if (q === undefined) {
      q = new FifoQueue(this, this.clock, ms);
      this.queues.set(ms, q);
    }
    this.live++;
    return q.push(target, name);
  }

  /** Cancels a timer (a no-op for null or one already fired). Always returns null, for `slot = timers.cancel(slot)`. */
  cancel(entry: TimerEntry | null): null {
    if (entry !== null && entry.target !== null) {
      entry.target = null;
      this.live--;
      entry.queue.cancelled();
    }
    return null;
  }

  /** Entries held in the queues, live or dead (for leak checks). */
  get held(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }
}

export type { FifoQueue };
