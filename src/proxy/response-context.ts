/**
 * The response context of one proxied request (RFC 3261 §16.7): its
 * branches, the q groups still to try, the best final response so far,
 * Timer C (§16.8) on each INVITE branch, and CANCEL (§16.10).
 *
 * A branch is one client transaction (or, for a failover after a transport
 * error, a run of them, RFC 3263 §4.3). Its states:
 *
 *   resolving  → the next hop is being looked up (DNS)
 *   calling    → the client transaction is sent, no response yet
 *   proceeding → a provisional response came (a CANCEL may be sent, §9.1)
 *   completed  → it has its final response (received or synthesized)
 *
 * Choices, on purpose:
 *  - a branch cancelled before any provisional response (§9.1 forbids a
 *    CANCEL then) is ended at once with a local 487 and its client
 *    transaction terminated, rather than kept waiting for a 1xx that may
 *    never come (Kamailio's default `cancel_b_method`); a 2xx it sends later
 *    reaches the proxy as a stray response and is still relayed upstream.
 *  - a CANCEL sent (by §16.10 or Timer C) arms a 64·T1 guard (§9.1): no
 *    final response by then ends the branch.
 *  - when Timer C caused the CANCEL, the branch's 487 counts as a 408.
 *  - within a response class, a response received from downstream is
 *    preferred to one synthesized here; then the codes §16.7 step 6 names
 *    (401, 407, 415, 420, 484); then the first received. After a CANCEL
 *    from upstream a 487 is preferred to any 3xx–5xx.
 *  - 3xx responses are relayed, never recursed on (§16.5 lets a proxy
 *    choose).
 */
import type { SipRequest, SipResponse } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import type { ServerTx } from '../core/sip-core.js';
import type { Flow, Target } from '../transport/transport.js';
import type { ClientTransaction, ClientTransactionUser } from '../transaction/transaction-layer.js';
import type { TimerEntry, TimerName, TimerQueues, TimerTarget } from '../transaction/timer-queue.js';
import type { ProxyTarget, TargetSet } from './target-set.js';

export type BranchState = 'resolving' | 'calling' | 'proceeding' | 'completed';

/** How a branch ended (the `outcome` label of the branch counter). */
export type BranchOutcome =
  | '1xx'
  | '2xx'
  | '3xx'
  | '4xx'
  | '5xx'
  | '6xx'
  | 'timeout'
  | 'transport-error'
  | 'timer-c'
  | 'cancelled'
  | 'flow-gone'
  | 'unresolvable';

/** What a response context needs from the proxy. */
export interface ContextHost {
  readonly timers: TimerQueues;
  /** §16.8 Timer C, ms */
  readonly timerCMs: number;
  /** §9.1: how long a CANCELled branch may take to give its final response (64·T1), ms */
  readonly cancelGuardMs: number;
  /** Sends a branch: resolves its next hop, builds its request and creates its client transaction; a failure ends it through `ctx.fail`. */
  forward(ctx: ResponseContext, branch: Branch): void;
  /** RFC 3263 §4.3: retries a branch whose transport failed on its next resolved target; false when none is left. */
  failover(ctx: ResponseContext, branch: Branch): boolean;
  /** §9.1 / §16.10: sends a CANCEL for the branch's INVITE in its own client transaction. */
  sendCancel(branch: Branch): void;
  /** §16.7 step 9: passes a response to the server transaction (or statelessly upstream when that has ended). */
  relay(ctx: ResponseContext, res: SipResponse): void;
  /** Every branch is completed and the final response is sent: the context leaves the proxy's tables. */
  done(ctx: ResponseContext): void;
  branchEnded(outcome: BranchOutcome): void;
}

/** One branch of a response context: the client transaction user of its transactions and the target of its Timer C. */
export class Branch implements ClientTransactionUser, TimerTarget {
  state: BranchState = 'resolving';
  tx: ClientTransaction | null = null;
  /** the flow the request went out on, when known before sending (a flow-bound target) */
  flow: Flow | null = null;
  /** RFC 3263: the resolved next hops and the one in use */
  hops: Target[] | null = null;
  hop = 0;
  provisional = false;
  cancelSent = false;
  timerCFired = false;
  timer: TimerEntry | null = null;
  /** its final response, with our Via removed */
  response: SipResponse | null = null;
  /** the final response was made here (or by the transaction layer), not received */
  synthetic = false;

  constructor(
    readonly ctx: ResponseContext,
    readonly target: ProxyTarget,
  ) {}

  get running(): boolean {
    return this.state !== 'completed';
  }

  onResponse(res: SipResponse, tx: ClientTransaction): void {
    this.ctx.onResponse(this, res, tx);
  }

  onTimer(_name: TimerName): void {
    this.timer = null;
    this.ctx.onTimerC(this);
  }
}

export interface Candidate {
  readonly res: SipResponse;
  readonly synthetic: boolean;
}

/** §16.7 step 6: codes that tell the caller how to resubmit, preferred within their class. */
const PREFERRED = new Set([401, 407, 415, 420, 484]);

/**
 * §16.7 step 6, best response selection over the final responses of the
 * branches (2xx are never selected here: they are forwarded as they come).
 * A 6xx wins; otherwise the lowest class; see the file note for ties.
 * Undefined when there is none (the caller then answers 408).
 */
export function selectBest(candidates: readonly Candidate[], cancelled = false): Candidate | undefined {
  let best: Candidate | undefined;
  let bestRank = Infinity;
  for (const c of candidates) {
    const s = c.res.status;
    if (s >= 600) return candidates.find((x) => x.res.status >= 600);
    const rank = Math.floor(s / 100) * 10 + (cancelled && s === 487 ? -9 : 0) + (c.synthetic ? 2 : 0) + (PREFERRED.has(s) ? 0 : 1);
    if (rank < bestRank) {
      best = c;
      bestRank = rank;
    }
  }
  if (cancelled && best && best.res.status !== 487) {
    const c487 = candidates.find((c) => c.res.status === 487);
    if (c487) return c487;
  }
  return best;
}

/** §16.7 step 7: a 401/407 best response carries every challenge of every 401/407 received. */
export function aggregateChallenges(best: SipResponse, candidates: readonly Candidate[]): void {
  for (const c of candidates) {
    if (c.res === best || (c.res.status !== 401 && c.res.status !== 407)) continue;
    for (const h of c.res.headers) {
      if (h.name === 'www-authenticate' || h.name === 'proxy-authenticate') best.append(h.name, h.value);
    }
  }
}

function classOutcome(status: number): BranchOutcome {
  return status < 200 ? '1xx' : status < 300 ? '2xx' : status < 400 ? '3xx' : status < 500 ? '4xx' : status < 600 ? '5xx' : '6xx';
}

export class ResponseContext {
  readonly branches: Branch[] = [];
  readonly isInvite: boolean;
  /** a final response went upstream, and its status */
  finalSent = false;
  finalStatus = 0;
  /** CANCEL (or the caller's flow closing) asked to end the call */
  cancelled = false;
  /** a 2xx or 6xx came: no new branch may start (§16.7 steps 5 and 6) */
  stopped = false;
  /** done() was called */
  finished = false;
  /** while a group is being started: completion is checked once it is */
  private starting = false;

  constructor(
    readonly host: ContextHost,
    /** the server transaction upstream */
    readonly serverTx: ServerTx,
    /** the request as received (responses made here are built from it) */
    readonly request: SipRequest,
    /** the request after §16.4 preprocessing and §16.6 step 3: each branch copies it */
    readonly base: SipRequest,
    readonly targets: TargetSet,
    /** §16.6 step 8: the loop-detection hash, written in every branch */
    readonly loopHash: string,
    /** §16.6 step 4: whether this request is record-routed */
    readonly recordRoute: boolean,
  ) {
    this.isInvite = request.method === 'INVITE';
  }

  /** §16.6: forwards to the first q group. */
  start(): void {
    if (!this.startNextGroup()) this.check();
  }

  private startNextGroup(): boolean {
    const group = this.targets.nextGroup();
    if (group === undefined) return false;
    this.starting = true;
    try {
      for (const t of group) {
        if (this.stopped) break;
        const b = new Branch(this, t);
        this.branches.push(b);
        // §16.8: Timer C on each INVITE branch, from when it starts
        if (this.isInvite) b.timer = this.host.timers.schedule(b, 'C', this.host.timerCMs);
        this.host.forward(this, b);
      }
    } finally {
      this.starting = false;
    }
    this.check();
    return true;
  }

  // ------------------------------------------------------------ responses (§16.7)

  onResponse(b: Branch, res: SipResponse, tx: ClientTransaction): void {
    // a response of an earlier attempt of this branch (before a failover)
    if (tx !== b.tx) return;
    const status = res.status;
    if (status < 200) {
      if (!b.running) return;
      b.provisional = true;
      if (b.state === 'calling') b.state = 'proceeding';
      // §9.1: a CANCEL waits for a provisional response
      if (this.cancelled && !b.cancelSent) {
        this.cancelBranch(b);
        return;
      }
      if (status === 100) return; // §16.7 step 5: 100 Trying is not forwarded
      // §16.7 step 2: Timer C restarts on a provisional response
      if (this.isInvite && !b.cancelSent) {
        this.host.timers.cancel(b.timer);
        b.timer = this.host.timers.schedule(b, 'C', this.host.timerCMs);
      }
      // §16.7 step 5: provisional responses go upstream at once
      if (!this.finalSent) {
        res.shift('via');
        this.host.relay(this, res);
      }
      return;
    }
    // §16.7 step 3: our Via comes off
    res.shift('via');
    if (status < 300) {
      this.on2xx(b, res);
      return;
    }
    if (!b.running) return;
    // RFC 3263 §4.3: a transport error moves on to the next resolved target
    if (tx.failure === 'transport error' && this.host.failover(this, b)) return;
    let final = res;
    let synthetic = tx.failure !== undefined;
    let outcome: BranchOutcome = tx.failure === 'timeout' ? 'timeout' : tx.failure === 'transport error' ? 'transport-error' : classOutcome(status);
    if (b.timerCFired && status === 487) {
      // §16.8: the branch was cancelled because Timer C fired: for the caller it timed out
      final = createResponse(this.request, 408);
      synthetic = true;
      outcome = 'timer-c';
    }
    this.complete(b, final, synthetic, outcome);
    if (status >= 600) {
      // §16.7 step 6: a 6xx ends the search; pending INVITE branches are cancelled
      this.stopped = true;
      this.cancelOthers(b);
    }
    this.check();
  }

  /** §16.7 steps 4 and 5: every 2xx is forwarded upstream at once; the first ends the search and cancels the other branches. */
  private on2xx(b: Branch, res: SipResponse): void {
    if (this.isInvite || !this.finalSent) {
      // RFC 6026 §7.2: later 2xx (retransmissions, other forks) are forwarded too
      this.host.relay(this, res);
      if (!this.finalSent) {
        this.finalSent = true;
        this.finalStatus = res.status;
      }
    }
    if (b.running) this.complete(b, res, false, '2xx');
    if (!this.stopped) {
      this.stopped = true;
      this.cancelOthers(b);
    }
    this.check();
  }

  /** A branch ended without a downstream response (no flow, no route, no transport): a local response stands for it. */
  fail(b: Branch, status: number, outcome: BranchOutcome, reason?: string): void {
    if (!b.running) return;
    if (b.tx) b.tx.terminate();
    this.complete(b, createResponse(this.request, status, reason ? { reason } : {}), true, outcome);
    this.check();
  }

  private complete(b: Branch, res: SipResponse, synthetic: boolean, outcome: BranchOutcome): void {
    b.state = 'completed';
    b.response = res;
    b.synthetic = synthetic;
    b.timer = this.host.timers.cancel(b.timer);
    this.host.branchEnded(outcome);
  }

  // ------------------------------------------------------------ CANCEL, Timer C, lost flows

  /** §16.10: cancels every pending branch; the request is then answered 487 (from the branches, or made here). */
  cancel(): void {
    if (!this.isInvite || this.cancelled) return;
    this.cancelled = true;
    this.stopped = true;
    this.cancelOthers(undefined);
    this.check();
  }

  private cancelOthers(except: Branch | undefined): void {
    if (!this.isInvite) return;
    for (const b of this.branches) if (b !== except && b.running) this.cancelBranch(b);
  }

  /** §9.1: CANCEL a branch with a provisional response; end one without (see the file note). */
  private cancelBranch(b: Branch): void {
    if (b.state === 'proceeding') {
      if (b.cancelSent) return;
      b.cancelSent = true;
      this.host.sendCancel(b);
      this.host.timers.cancel(b.timer);
      b.timer = this.host.timers.schedule(b, 'C', this.host.cancelGuardMs);
      return;
    }
    if (b.tx) b.tx.terminate();
    this.complete(b, createResponse(this.request, 487), true, 'cancelled');
  }

  /** §16.8: Timer C fired (or the 64·T1 guard after a CANCEL). */
  onTimerC(b: Branch): void {
    if (!b.running) return;
    if (b.cancelSent) {
      // §9.1: no final response 64·T1 after the CANCEL: the branch is over
      if (b.tx) b.tx.terminate();
      this.complete(b, createResponse(this.request, this.cancelled && !b.timerCFired ? 487 : 408), true, 'timer-c');
      this.check();
      return;
    }
    b.timerCFired = true;
    if (b.provisional) {
      // §16.8: with a provisional response, the proxy MUST CANCEL the branch
      this.cancelBranch(b);
      return;
    }
    // §16.8: without one, the branch behaves as if it received a 408
    if (b.tx) b.tx.terminate();
    this.complete(b, createResponse(this.request, 408), true, 'timer-c');
    this.check();
  }

  /** A connection closed: the caller's (the call is cancelled) or a branch's (that branch is lost: 430/480). */
  onFlowClosed(flow: Flow): void {
    if (this.serverTx.flow.id === flow.id) this.cancel();
    for (const b of this.branches) {
      if (b.running && b.flow !== null && b.flow.id === flow.id) {
        if (b.tx) b.tx.terminate();
        this.complete(b, createResponse(this.request, b.target.outbound ? 430 : 480), true, 'flow-gone');
      }
    }
    this.check();
  }

  // ------------------------------------------------------------ completion

  /** The ids of the connection-oriented flows this context depends on (the caller's and the branches'). */
  flowIds(): string[] {
    const ids: string[] = [];
    if (this.serverTx.flow.reliable) ids.push(this.serverTx.flow.id);
    for (const b of this.branches) if (b.flow !== null && b.flow.reliable && !ids.includes(b.flow.id)) ids.push(b.flow.id);
    return ids;
  }

  /** §16.7 steps 5 and 6: when no branch is running, try the next group or send the best response; then the context is done. */
  private check(): void {
    if (this.starting || this.finished) return;
    for (const b of this.branches) if (b.running) return;
    if (!this.finalSent) {
      if (!this.stopped && this.targets.hasNext) {
        this.startNextGroup();
        return;
      }
      this.sendBest();
    }
    this.finished = true;
    this.host.done(this);
  }

  private sendBest(): void {
    const candidates: Candidate[] = [];
    for (const b of this.branches) if (b.response !== null) candidates.push({ res: b.response, synthetic: b.synthetic });
    const best = selectBest(candidates, this.cancelled);
    let res: SipResponse;
    if (best === undefined) res = createResponse(this.request, this.cancelled ? 487 : 408);
    else if (best.res.status === 503) {
      // §16.7 step 6: a 503 is not forwarded upstream as is: it would say *we* are overloaded
      res = createResponse(this.request, 500);
    } else {
      res = best.res;
      if (res.status === 401 || res.status === 407) aggregateChallenges(res, candidates);
    }
    this.finalSent = true;
    this.finalStatus = res.status;
    this.host.relay(this, res);
  }
}
