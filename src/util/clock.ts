/**
 * The injected clock. Every timer and expiry in Switchboard runs on a Clock so
 * tests can drive time with ManualClock.advance() instead of sleeping.
 */
export type TimerHandle = { readonly id: number };

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimer(ms: number, fn: () => void): TimerHandle;
  clearTimer(handle: TimerHandle | undefined): void;
}

/** Wall-clock time and Node's timers. Timers are unref'd: they never keep the process alive alone. */
export class SystemClock implements Clock {
  private readonly live = new Map<number, NodeJS.Timeout>();
  private seq = 0;

  now(): number {
    return Date.now();
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const id = ++this.seq;
    const t = setTimeout(() => {
      this.live.delete(id);
      fn();
    }, ms);
    t.unref();
    this.live.set(id, t);
    return { id };
  }

  clearTimer(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const t = this.live.get(handle.id);
    if (t) {
      clearTimeout(t);
      this.live.delete(handle.id);
    }
  }
}

interface PendingTimer {
  id: number;
  due: number;
  fn: () => void;
}

/** A clock for tests: time moves only when advance() is called; due timers fire in order. */
export class ManualClock implements Clock {
  private time: number;
  private seq = 0;
  private pending: PendingTimer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const id = ++this.seq;
    this.pending.push({ id, due: this.time + Math.max(0, ms), fn });
    return { id };
  }

  clearTimer(handle: TimerHandle | undefined): void {
    if (!handle) return;
    this.pending = this.pending.filter((t) => t.id !== handle.id);
  }

  /** Number of timers not yet fired. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Moves time forward by ms, firing every timer that falls due, in due order (ties in creation order). */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      let next: PendingTimer | undefined;
      for (const t of this.pending) {
        if (t.due <= target && (!next || t.due < next.due || (t.due === next.due && t.id < next.id))) next = t;
      }
      if (!next) break;
      this.pending = this.pending.filter((t) => t !== next);
      this.time = Math.max(this.time, next.due);
      next.fn();
    }
    this.time = target;
  }
}
