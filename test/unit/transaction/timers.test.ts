import { describe, expect, it } from 'vitest';
import { DEFAULT_TIMER_BASE, timerValues, TRYING_DELAY } from '../../../src/transaction/timers.js';

describe('timerValues: RFC 3261 Table 4 and RFC 6026 Timers L, M', () => {
  it('unreliable transport with the default T1 = 500 ms, T2 = 4 s, T4 = 5 s', () => {
    expect(timerValues(DEFAULT_TIMER_BASE, false)).toEqual({
      reliable: false,
      A: 500, // initially T1
      B: 32_000, // 64·T1
      D: 32_000, // > 32 s for UDP
      E: 500, // initially T1
      F: 32_000, // 64·T1
      G: 500, // initially T1
      H: 32_000, // 64·T1
      I: 5_000, // T4 for UDP
      J: 32_000, // 64·T1 for UDP
      K: 5_000, // T4 for UDP
      L: 32_000, // RFC 6026: 64·T1
      M: 32_000, // RFC 6026: 64·T1
      T2: 4_000,
      trying: 200,
    });
  });

  it('reliable transport: no retransmission timers, and D, I, J, K are 0', () => {
    const v = timerValues(DEFAULT_TIMER_BASE, true);
    expect([v.A, v.E, v.G]).toEqual([null, null, null]);
    expect([v.D, v.I, v.J, v.K]).toEqual([0, 0, 0, 0]);
    expect([v.B, v.F, v.H, v.L, v.M]).toEqual([32_000, 32_000, 32_000, 32_000, 32_000]);
  });

  it('derives from a configured T1, T2, T4', () => {
    const v = timerValues({ t1: 100, t2: 1000, t4: 2000 }, false);
    expect([v.A, v.B, v.E, v.F, v.G, v.H, v.I, v.J, v.K, v.L, v.M, v.T2]).toEqual([100, 6400, 100, 6400, 100, 6400, 2000, 6400, 2000, 6400, 6400, 1000]);
    // Timer D never drops under 32 s on an unreliable transport
    expect(v.D).toBe(32_000);
    expect(timerValues({ t1: 1000, t2: 4000, t4: 5000 }, false).D).toBe(64_000);
  });

  it('the 100 Trying delay is the 200 ms of §17.2.1', () => {
    expect(TRYING_DELAY).toBe(200);
  });

  it('rejects a base that makes no sense', () => {
    expect(() => timerValues({ t1: 0, t2: 4000, t4: 5000 }, false)).toThrow(RangeError);
    expect(() => timerValues({ t1: 500, t2: 100, t4: 5000 }, false)).toThrow(RangeError);
    expect(() => timerValues({ t1: 500, t2: 4000, t4: Number.NaN }, false)).toThrow(RangeError);
  });

  it('is pure: the values are frozen and equal across calls', () => {
    const a = timerValues(DEFAULT_TIMER_BASE, false);
    expect(a).toEqual(timerValues(DEFAULT_TIMER_BASE, false));
    expect(Object.isFrozen(a)).toBe(true);
  });
});
