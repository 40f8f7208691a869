import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/util/clock.js';
import { TimerQueues, type TimerName, type TimerTarget } from '../../../src/transaction/timer-queue.js';

function recorder(clock: ManualClock, log: string[], label: string): TimerTarget {
  return { onTimer: (name: TimerName) => log.push(`${clock.now() - 1_700_000_000_000}:${label}:${name}`) };
}

describe('TimerQueues: one FIFO per duration on the injected clock', () => {
  it('fires each timer once, when due, in due order across durations', () => {
    const clock = new ManualClock();
    const q = new TimerQueues(clock);
    const log: string[] = [];
    q.schedule(recorder(clock, log, 'x'), 'J', 300);
    q.schedule(recorder(clock, log, 'y'), 'E', 100);
    clock.advance(50);
    q.schedule(recorder(clock, log, 'z'), 'E', 100);
    q.schedule(recorder(clock, log, 'w'), 'K', 0);
    clock.advance(0);
    expect(log).toEqual(['50:w:K']);
    clock.advance(1000);
    expect(log).toEqual(['50:w:K', '100:y:E', '150:z:E', '300:x:J']);
    expect(q.live).toBe(0);
    expect(q.held).toBe(0);
    expect(clock.pendingCount).toBe(0);
  });

  it('holds one clock timer per duration, not one per transaction timer', () => {
    const clock = new ManualClock();
    const q = new TimerQueues(clock);
    const t = { onTimer() {} };
    for (let i = 0; i < 1000; i++) q.schedule(t, 'J', 32_000);
    for (let i = 0; i < 1000; i++) q.schedule(t, 'K', 5_000);
    expect(clock.pendingCount).toBe(2);
    expect(q.live).toBe(2000);
  });

  it('a cancelled timer never fires; cancelling the last live one drops its queue and clock timer', () => {
    const clock = new ManualClock();
    const q = new TimerQueues(clock);
    const log: string[] = [];
    const a = q.schedule(recorder(clock, log, 'a'), 'F', 1000);
    const b = q.schedule(recorder(clock, log, 'b'), 'F', 1000);
    expect(q.cancel(a)).toBeNull();
    expect(q.held).toBe(2);
    q.cancel(b);
    expect(q.held).toBe(0);
    expect(clock.pendingCount).toBe(0);
    q.cancel(b); // twice is harmless
    q.cancel(null);
    clock.advance(2000);
    expect(log).toEqual([]);
    expect(q.live).toBe(0);
  });

  it('sweeps dead entries once they outnumber the live ones', () => {
    const clock = new ManualClock();
    const q = new TimerQueues(clock);
    const t = { onTimer() {} };
    q.schedule(t, 'J', 32_000); // one live entry keeps the queue
    const many = Array.from({ length: 10_000 }, () => q.schedule(t, 'J', 32_000));
    for (const e of many) q.cancel(e);
    expect(q.live).toBe(1);
    expect(q.held).toBeLessThan(5000);
  });

  it('an entry a handler adds to the same queue fires at its own time, and earlier ones are not delayed', () => {
    const clock = new ManualClock();
    const q = new TimerQueues(clock);
    const log: string[] = [];
    let fired = 0;
    const again: TimerTarget = {
      onTimer: (name) => {
        log.push(`${clock.now() - 1_700_000_000_000}:again:${name}`);
        if (++fired < 3) q.schedule(again, name, 100);
      },
    };
    q.schedule(again, 'E', 100);
    clock.advance(30);
    q.schedule(recorder(clock, log, 'late'), 'E', 100);
    clock.advance(1000);
    expect(log).toEqual(['100:again:E', '130:late:E', '200:again:E', '300:again:E']);
  });

  it('a handler that throws does not stop the queue', () => {
    const clock = new ManualClock();
    const q = new TimerQueues(clock);
    const log: string[] = [];
    q.schedule({ onTimer: () => { throw new Error('boom'); } }, 'H', 100);
    q.schedule(recorder(clock, log, 'next'), 'H', 100);
    expect(() => clock.advance(100)).toThrow('boom');
    clock.advance(0);
    expect(log).toEqual(['100:next:H']);
  });
});
