/**
 * Transaction timer values: RFC 3261 Table 4 (§17, §A) and RFC 6026 §8.11
 * (Timers L and M), all derived from T1, T2 and T4 in this one place.
 *
 * On a reliable transport the retransmission timers (A, E, G) are not used
 * (`null`) and the wait timers D, I, J, K are 0: the transaction moves on at
 * once (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2). Timers B, F, H, L, M do not
 * depend on the transport.
 *
 * Departure: Table 4 gives Timer D as "> 32 s for UDP"; we use
 * max(32 s, 64·T1) so that a raised T1 still outlasts the server's Timer H
 * retransmissions of the final response.
 */

export interface TimerBase {
  /** RTT estimate, ms (default 500) */
  t1: number;
  /** the longest retransmit interval for non-INVITE requests and INVITE responses, ms (default 4 s) */
  t2: number;
  /** the longest time a message remains in the network, ms (default 5 s) */
  t4: number;
}

export const DEFAULT_TIMER_BASE: Readonly<TimerBase> = Object.freeze({ t1: 500, t2: 4000, t4: 5000 });

/** §17.2.1: the INVITE server transaction sends 100 Trying when the TU has not answered within 200 ms. */
export const TRYING_DELAY = 200;

export interface TimerValues {
  readonly reliable: boolean;
  /** Timer A: first INVITE retransmit interval, doubles each time (unreliable only) */
  readonly A: number | null;
  /** Timer B: INVITE transaction timeout, 64·T1 */
  readonly B: number;
  /** Timer D: wait for response retransmits in Completed: ≥ 32 s unreliable, 0 reliable */
  readonly D: number;
  /** Timer E: first non-INVITE retransmit interval, doubles up to T2 (unreliable only) */
  readonly E: number | null;
  /** Timer F: non-INVITE transaction timeout, 64·T1 */
  readonly F: number;
  /** Timer G: first INVITE final response retransmit interval, doubles up to T2 (unreliable only) */
  readonly G: number | null;
  /** Timer H: wait time for ACK receipt, 64·T1 */
  readonly H: number;
  /** Timer I: wait time for ACK retransmits: T4 unreliable, 0 reliable */
  readonly I: number;
  /** Timer J: wait time for non-INVITE request retransmits: 64·T1 unreliable, 0 reliable */
  readonly J: number;
  /** Timer K: wait time for non-INVITE response retransmits: T4 unreliable, 0 reliable */
  readonly K: number;
  /** RFC 6026 Timer L: wait time for accepted INVITE request retransmits, 64·T1 */
  readonly L: number;
  /** RFC 6026 Timer M: wait time for retransmissions of 2xx to INVITE (or 2xx from other forks), 64·T1 */
  readonly M: number;
  /** cap of the E and G back-off (T2) */
  readonly T2: number;
  /** §17.2.1: 100 Trying delay */
  readonly trying: number;
}

/** RFC 3261 Table 4 + RFC 6026 §8.11. Pure: the same inputs give the same values. */
export function timerValues(base: TimerBase, reliable: boolean): TimerValues {
  const { t1, t2, t4 } = base;
  if (!(t1 > 0) || !(t2 >= t1) || !(t4 > 0)) throw new RangeError(`bad timer base: T1=${t1} T2=${t2} T4=${t4}`);
  const sixtyFourT1 = 64 * t1;
  return Object.freeze({
    reliable,
    A: reliable ? null : t1,
    B: sixtyFourT1,
    D: reliable ? 0 : Math.max(32_000, sixtyFourT1),
    E: reliable ? null : t1,
    F: sixtyFourT1,
    G: reliable ? null : t1,
    H: sixtyFourT1,
    I: reliable ? 0 : t4,
    J: reliable ? 0 : sixtyFourT1,
    K: reliable ? 0 : t4,
    L: sixtyFourT1,
    M: sixtyFourT1,
    T2: t2,
    trying: TRYING_DELAY,
  });
}
