/**
 * What the four transaction machines share: the interfaces the transaction
 * user (core, registrar, proxy) sees, the senders it supplies, the table
 * type every machine is written as, and the host interface through which a
 * machine reaches its layer (timers, senders, counters, the table).
 */
import { randomBytes } from 'node:crypto';
import { SipResponse, type SipRequest } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { serialize } from '../sip/serializer.js';
import type { Flow, Target } from '../transport/transport.js';
import type { TimerEntry, TimerName, TimerQueues, TimerTarget } from './timer-queue.js';
import type { TimerValues } from './timers.js';
import type { IctState } from './ict.js';
import type { IstState } from './ist.js';
import type { NictState } from './nict.js';
import type { NistState } from './nist.js';

// ---------------------------------------------------------------- state tables

/** One row of a machine: on this event, go to `to` and do `action`. */
export interface Transition<S extends string, A extends string> {
  readonly to: S;
  readonly action: A;
}

/** state × event → next. A missing entry means the event is ignored in that state (absorbed, discarded or stale). */
export type TransitionTable<S extends string, E extends string, A extends string> = {
  readonly [state in S]: { readonly [event in E]?: Transition<S, A> };
};

// ---------------------------------------------------------------- user-facing interfaces

export type ServerTransactionError =
  /** §17.2.1 Timer H: no ACK for a non-2xx final response */
  | 'timeout'
  /** §17.2.4: the response could not be sent */
  | 'transport error'
  /** not RFC: the TU gave no final response to a non-INVITE request within 64·T1 */
  | 'abandoned';

export interface ServerTransaction {
  readonly kind: 'ist' | 'nist';
  /** the request that created the transaction */
  readonly request: SipRequest;
  /** the flow that request arrived on; the response sender decides where responses go (§18.2.2) */
  readonly flow: Flow;
  /** Figure 7 (RFC 6026) for an INVITE, Figure 8 otherwise */
  readonly state: IstState | NistState;
  /** the last response sent (provisional or final) */
  readonly lastResponse: SipResponse | undefined;
  /** the table key: the branch of the top Via, or for an RFC 2543 request the key built from its fields (§17.2.3) */
  readonly key: string;
  /**
   * Passes a response from the TU to the transaction. It is serialized once
   * and the bytes are kept for retransmission. Responses the machine does not
   * accept in its state (a second final response, anything after Terminated)
   * are discarded and counted (§17.2.2).
   */
  respond(res: SipResponse): void;
  /**
   * respond() for a final response the TU would give again, unchanged in
   * meaning, to a retransmission of the request: §8.2.7 lets a UAS answer a
   * retransmission by processing it anew, as a stateless UAS does. Over an
   * unreliable transport a non-INVITE transaction then terminates once the
   * response is sent, instead of holding it for Timer J in Completed; a
   * retransmission arriving later reaches the TU as a new request, and the
   * TU must recognise it (the registrar does, by its bindings). While the
   * TU has not answered, retransmissions are still absorbed. An INVITE
   * transaction treats this as respond().
   *
   * `bytes`, when given, are the response as serialize(res) wrote it: a TU
   * that answers only later (after a commit) writes it at once, while the
   * request's text it copies is still in the CPU's cache (reading it back
   * milliseconds later was most of the serializer's cost). The response
   * must not change after that.
   */
  respondStateless(res: SipResponse, bytes?: Buffer): void;
  /**
   * The TU answers this request, if at all, with respondStateless(), and
   * recognises its retransmissions itself (§8.2.7): one that absorbs a
   * retransmission of a request still being processed says so too. A
   * transaction the layer deferred (deferred-nist.ts) is then never
   * created unless the TU calls respond() after all; for every other
   * transaction this changes nothing.
   */
  keepNoState(): void;
  /** The response sender found, after returning true, that the bytes could not be sent. */
  reportTransportError(): void;
}

export type ClientFailure = 'timeout' | 'transport error';

export interface ClientTransaction {
  readonly kind: 'ict' | 'nict';
  readonly request: SipRequest;
  readonly destination: ClientDestination;
  /** Figure 5 (RFC 6026) for an INVITE, Figure 6 otherwise */
  readonly state: IctState | NictState;
  /** the table key: the branch (§17.1.3; the CSeq method tells an INVITE from its CANCEL) */
  readonly key: string;
  /** set when the transaction ended by Timer B/F ('timeout') or a transport error, before the synthesized 408/503 is passed up */
  readonly failure: ClientFailure | undefined;
  /** The request sender found, after returning true, that the bytes could not be sent (e.g. a connect failed). */
  reportTransportError(): void;
  /**
   * The TU abandons the transaction: it terminates without telling the TU
   * (§9.1: an INVITE with no final response 64·T1 after its CANCEL was sent).
   */
  terminate(): void;
}

export interface ClientDestination {
  /** send on this flow (a connection we have, or the UDP socket pair) */
  flow?: Flow;
  /** or to this target (the request sender resolves or opens the flow) */
  target?: Target;
  /** reliable transport: no retransmissions and zero wait timers (§17.1.1.2, §17.1.2.2) */
  reliable: boolean;
}

export interface ClientTransactionUser {
  /**
   * Every response for the TU: provisional and final responses received,
   * 2xx retransmissions in Accepted (RFC 6026 §7.2), and the synthesized
   * 408 (Timer B/F, §17.1.1.2, §17.1.2.2) or 503 (transport error, §8.1.3.1,
   * §16.9) when the transaction fails before a final response; `tx.failure`
   * tells those apart. A failure after a final response was passed up is
   * not reported again.
   */
  onResponse(res: SipResponse, tx: ClientTransaction): void;
  /** the transaction reached Terminated and left the table */
  onTerminated?(tx: ClientTransaction): void;
}

export interface TransactionUser {
  /**
   * A new request (never a retransmission, never an ACK). CANCEL comes here
   * too unless `onCancel` is given. The TU answers with `tx.respond()`, now
   * or later.
   */
  onRequest(req: SipRequest, tx: ServerTransaction): void;
  /**
   * A new CANCEL, in its own non-INVITE server transaction, with the INVITE
   * server transaction it refers to (§9.2), or undefined when none matched
   * (a UAS answers 481; a proxy forwards it statelessly, §16.10).
   */
  onCancel?(cancel: SipRequest, tx: ServerTransaction, inviteTx: ServerTransaction | undefined): void;
  /**
   * An ACK the layer does not absorb: for a 2xx (it matched an INVITE server
   * transaction in Accepted, RFC 6026 §7.1, `inviteTx` set), or one matching
   * no transaction (the ACK for a 2xx normally has its own branch, §17.1.1.3).
   * Without this hook such ACKs are dropped and counted.
   */
  onAck?(ack: SipRequest, flow: Flow, inviteTx: ServerTransaction | undefined): void;
  /** A response matching no client transaction (§17.1.3). Without this hook it is dropped and counted. */
  onStrayResponse?(res: SipResponse, flow: Flow): void;
  /** A server transaction failed: Timer H, a transport error, or the TU never answered. */
  onServerTransactionError?(tx: ServerTransaction, error: ServerTransactionError): void;
}

/**
 * Sends a response (§18.2.2: the core chooses the destination from the
 * response's Via and the flow the request came in on). `tx` is undefined for
 * a response the layer sends statelessly (503 over the transaction cap).
 * Returns false on a transport error.
 */
export type ResponseSender = (res: SipResponse, bytes: Buffer, flow: Flow, tx: ServerTransaction | undefined) => boolean;

/** Sends a request (or a retransmission, or the ACK for a non-2xx) to a destination. false = transport error. */
export type RequestSender = (req: SipRequest, bytes: Buffer, dest: ClientDestination, tx: ClientTransaction) => boolean;

/** pino-compatible subset */
export interface TransactionLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface TransactionStats {
  /** server transactions created */
  serverCreated: number;
  /** client transactions created */
  clientCreated: number;
  /** request retransmissions matched to a server transaction and absorbed */
  retransmissionsAbsorbed: number;
  /** responses resent by server transactions (request retransmission or Timer G) */
  responsesRetransmitted: number;
  /** requests resent by client transactions (Timer A/E) */
  requestsRetransmitted: number;
  /** Timer B, F or H fired */
  timeouts: number;
  /** transport errors reported to a transaction */
  transportErrors: number;
  /** §8.2.2.2 merged requests answered 482 */
  merged482: number;
  /** new requests answered 503 because the table was full */
  rejectedOverCap: number;
  /** responses matching no client transaction */
  strayResponses: number;
  /** ACKs matching no server transaction (including ACKs for 2xx with their own branch) */
  strayAcks: number;
  /** responses from the TU a machine discarded in its state */
  responsesDiscarded: number;
  /** non-INVITE server transactions the TU never answered, dropped after 64·T1 */
  abandoned: number;
  /** non-INVITE server transactions over UDP that ended on their final response, without Timer J (respondStateless) */
  endedStateless: number;
  /** new requests dropped because too many live transactions already had their branch */
  branchReuseDropped: number;
}

export function emptyStats(): TransactionStats {
  return {
    serverCreated: 0,
    clientCreated: 0,
    retransmissionsAbsorbed: 0,
    responsesRetransmitted: 0,
    requestsRetransmitted: 0,
    timeouts: 0,
    transportErrors: 0,
    merged482: 0,
    rejectedOverCap: 0,
    strayResponses: 0,
    strayAcks: 0,
    responsesDiscarded: 0,
    abandoned: 0,
    endedStateless: 0,
    branchReuseDropped: 0,
  };
}

/** What a machine needs from its layer. */
export interface TransactionHost {
  readonly timers: TimerQueues;
  readonly sendResponse: ResponseSender;
  readonly sendRequest: RequestSender;
  readonly user: TransactionUser;
  readonly counters: TransactionStats;
  readonly logger: TransactionLogger | undefined;
  /** timer values for a reliable (true) or unreliable (false) transport */
  values(reliable: boolean): TimerValues;
  /** removes a terminated transaction from the table */
  remove(tx: Transaction): void;
  /**
   * Takes over a non-INVITE server transaction entering Completed over an
   * unreliable transport (completed-cache.ts): true when the layer now
   * answers its retransmissions until Timer J, and the object is done.
   */
  retire(tx: ServerTransactionBase, response: Buffer, status: number): boolean;
}

// ---------------------------------------------------------------- bases

/**
 * A transaction: a key, at most two running timers (RFC 3261 never needs
 * more at once: a retransmission timer and a state timer) and the host.
 */
export abstract class Transaction implements TimerTarget {
  abstract readonly kind: 'ict' | 'nict' | 'ist' | 'nist';
  abstract state: string;
  /** the A/E/G retransmission timer, or the 100 Trying timer */
  protected retransmitTimer: TimerEntry | null = null;
  /** B/D/F/H/I/J/K/L/M, the abandon guard, or the deferred transport error */
  protected stateTimer: TimerEntry | null = null;
  /** true while a sender runs: a transport error reported meanwhile is folded into its result */
  protected sending = false;
  protected reportedDuringSend = false;
  /** set by an action whose send failed; the machine then feeds itself a 'transport error' event */
  protected sendFailed = false;

  /** Table 4 values for this transaction's transport */
  protected readonly timerValues: TimerValues;

  constructor(
    protected readonly host: TransactionHost,
    readonly key: string,
    readonly reliable: boolean,
  ) {
    this.timerValues = host.values(reliable);
  }

  abstract onTimer(name: TimerName): void;

  protected startRetransmitTimer(name: TimerName, ms: number): void {
    this.host.timers.cancel(this.retransmitTimer);
    this.retransmitTimer = this.host.timers.schedule(this, name, ms);
  }

  protected startStateTimer(name: TimerName, ms: number): void {
    this.host.timers.cancel(this.stateTimer);
    this.stateTimer = this.host.timers.schedule(this, name, ms);
  }

  protected cancelTimers(): void {
    this.retransmitTimer = this.host.timers.cancel(this.retransmitTimer);
    this.stateTimer = this.host.timers.cancel(this.stateTimer);
  }

  /** Shutdown: stops the timers and marks the transaction terminated, telling no one. */
  dispose(): void {
    this.cancelTimers();
    this.state = 'terminated';
  }

  /** Feeds the machine its 'transport error' event. */
  protected abstract transportError(): void;

  /** The sender found, after returning true, that the bytes could not be sent (§17.1.4, §17.2.4). */
  reportTransportError(): void {
    if (this.sending) this.reportedDuringSend = true;
    else {
      this.host.counters.transportErrors++;
      this.transportError();
    }
  }

  /** Closes a send: false when the sender said so or reported the error while it ran. */
  protected sent(ok: boolean): boolean {
    this.sending = false;
    if (this.reportedDuringSend) {
      this.reportedDuringSend = false;
      ok = false;
    }
    if (!ok) this.host.counters.transportErrors++;
    return ok;
  }
}

export abstract class ServerTransactionBase extends Transaction implements ServerTransaction {
  abstract override readonly kind: 'ist' | 'nist';
  abstract override state: IstState | NistState;
  /** the request's method, which §17.2.3 matching compares */
  readonly method: string;
  private req: SipRequest | undefined;
  private last: SipResponse | undefined = undefined;
  /** after shedForWait(): what the response stub is rebuilt from, when asked for */
  private shedStatus = 0;
  private shedReason = '';
  private shedVia: string | undefined = undefined;
  /** the last response as sent, kept for retransmission */
  protected lastBytes: Buffer | undefined = undefined;
  /** the next server transaction filed under the same table key (INVITE and CANCEL share a branch) */
  chainNext: ServerTransactionBase | undefined = undefined;
  /** sent-by of the top Via of the request (§17.2.3), compared as written */
  viaHost = '';
  viaPort: number | undefined = undefined;
  /** §8.2.2.2 merge index: the Call-ID this transaction is filed under, when it is */
  mergeCallId: string | undefined = undefined;
  /** the next transaction filed under the same Call-ID */
  mergeNext: ServerTransactionBase | undefined = undefined;
  /** the From tag and CSeq the merge check compares (kept apart: the request may be let go) */
  mergeFromTag = '';
  mergeSeq = 0;
  mergeCSeqMethod = '';

  constructor(
    host: TransactionHost,
    key: string,
    request: SipRequest,
    readonly flow: Flow,
  ) {
    super(host, key, flow.reliable);
    this.req = request;
    this.method = request.method;
  }

  /**
   * The last response sent. After shedForWait() a stub with its status
   * line and top Via, built when asked for (a resend, a test): the waiting
   * transaction holds only those fields.
   */
  get lastResponse(): SipResponse | undefined {
    if (this.last !== undefined || this.shedStatus === 0) return this.last;
    return routingStub(this.shedStatus, this.shedReason, this.shedVia);
  }

  get request(): SipRequest {
    if (this.req === undefined) throw new Error(`server transaction ${this.key}: its request was let go when it completed`);
    return this.req;
  }

  /**
   * §17.2.2: over an unreliable transport a completed non-INVITE transaction
   * waits Timer J (64·T1, 32 s) only to answer retransmissions with its
   * final response. That needs the key, method and sent-by (matching), the
   * response bytes, and the response's status and top Via (§18.2.2 routing
   * of the resend). The request and the rest of the response are let go, so
   * that a registrar answering thousands of REGISTERs a second does not hold
   * 32 s of parsed messages; `request` throws from then on (nothing reads it
   * after the final response) and `lastResponse` keeps status, reason and
   * top Via only.
   */
  /** Hands the wait in Completed over to the layer (host.retire); true when it took it. */
  protected retire(): boolean {
    const bytes = this.lastBytes;
    const status = this.last?.status;
    if (bytes === undefined || status === undefined || !this.host.retire(this, bytes, status)) return false;
    this.cancelTimers();
    this.req = undefined;
    this.last = undefined;
    this.lastBytes = undefined;
    return true;
  }

  /**
   * A terminated transaction lets go of its request and response (keeping
   * the stub fields of shedForWait). Something that outlives it for a while
   * — a commit callback promoted to the old generation, say — would otherwise
   * keep both messages alive through every scavenge until the next full GC:
   * measured at 14,000 REGISTER/s, 3 MB promoted per scavenge instead of 0.4.
   */
  protected releaseMessages(): void {
    this.shedForWait();
    this.lastBytes = undefined;
  }

  protected shedForWait(): void {
    this.req = undefined;
    const res = this.last;
    if (res === undefined) return;
    this.last = undefined;
    this.shedStatus = res.status;
    this.shedReason = res.reason;
    for (const h of res.headers) {
      if (h.name === 'via') {
        this.shedVia = h.value;
        break;
      }
    }
  }

  abstract respond(res: SipResponse): void;

  respondStateless(res: SipResponse, _bytes?: Buffer): void {
    this.respond(res);
  }

  /** A created transaction absorbs retransmissions until its final response: nothing to do. */
  keepNoState(): void {}
  /** A request that matched this transaction: a retransmission, or an ACK for an INVITE transaction. */
  abstract receiveRequest(req: SipRequest): void;

  /**
   * Sends a response from the TU, keeping it for retransmission; false on a
   * transport error. `bytes`: the response as serialize(res) already wrote
   * it (respondStateless), else it is serialized here.
   */
  protected sendResponse(res: SipResponse, bytes: Buffer = serialize(res)): boolean {
    this.last = res;
    this.lastBytes = bytes;
    // a final response: from now on the request only matches retransmissions (by key),
    // so its parsed header values need not live for Timer J / H
    if (res.status >= 200) this.req?.releaseParsed();
    this.sending = true;
    let ok = false;
    try {
      ok = this.host.sendResponse(res, bytes, this.flow, this);
    } finally {
      ok = this.sent(ok);
    }
    return ok;
  }

  /** Sends the kept last response again; false on a transport error. */
  protected resendResponse(): boolean {
    const res = this.lastResponse;
    if (res === undefined || this.lastBytes === undefined) return true;
    this.host.counters.responsesRetransmitted++;
    this.sending = true;
    let ok = false;
    try {
      ok = this.host.sendResponse(res, this.lastBytes, this.flow, this);
    } finally {
      ok = this.sent(ok);
    }
    return ok;
  }

  protected informTu(error: ServerTransactionError): void {
    this.host.logger?.debug({ tx: this.key, error }, 'server transaction failed');
    this.host.user.onServerTransactionError?.(this, error);
  }
}

export abstract class ClientTransactionBase extends Transaction implements ClientTransaction {
  abstract override readonly kind: 'ict' | 'nict';
  abstract override state: IctState | NictState;
  failure: ClientFailure | undefined = undefined;
  /** the next client transaction with the same branch (a CANCEL shares its INVITE's) */
  chainNext: ClientTransactionBase | undefined = undefined;
  /** a final response was passed to the TU: later failures are not reported as 408/503 */
  protected finalPassed = false;

  constructor(
    host: TransactionHost,
    key: string,
    readonly request: SipRequest,
    /** the request as sent, kept for retransmission */
    protected readonly bytes: Buffer,
    readonly destination: ClientDestination,
    protected readonly user: ClientTransactionUser,
  ) {
    super(host, key, destination.reliable);
  }

  abstract terminate(): void;

  /** Sends bytes (the request, a retransmission, or an ACK) to the destination; false on a transport error. */
  protected sendRequest(req: SipRequest, bytes: Buffer): boolean {
    this.sending = true;
    let ok = false;
    try {
      ok = this.host.sendRequest(req, bytes, this.destination, this);
    } finally {
      ok = this.sent(ok);
    }
    return ok;
  }

  /**
   * First transmission (§17.1.1.2, §17.1.2.2). A transport error here is
   * delivered on a 0 ms timer, so the TU holds the transaction before it
   * hears of its failure.
   */
  protected sendFirst(): void {
    if (!this.sendRequest(this.request, this.bytes)) this.startStateTimer('TransportError', 0);
  }

  protected passResponse(res: SipResponse): void {
    if (res.status >= 200) this.finalPassed = true;
    this.user.onResponse(res, this);
  }

  /** §17.1.1.2 / §17.1.2.2 (Timer B/F → 408), §8.1.3.1 / §16.9 (transport error → 503). */
  protected passFailure(failure: ClientFailure): void {
    if (failure === 'timeout') this.host.counters.timeouts++;
    this.host.logger?.debug({ tx: this.key, failure }, 'client transaction failed');
    if (this.finalPassed) return;
    this.failure = failure;
    this.passResponse(createResponse(this.request, failure === 'timeout' ? 408 : 503));
  }
}

/** A response reduced to what routing a resend reads (§18.2.2): the status line and the top Via. */
function routingStub(status: number, reason: string, via: string | undefined): SipResponse {
  const stub = new SipResponse(status, reason);
  if (via !== undefined) stub.append('via', via);
  return stub;
}


// ---------------------------------------------------------------- branches

/** RFC 3261 §8.1.1.7 magic cookie */
export const MAGIC_COOKIE = 'z9hG4bK';

const POOL_SIZE = 4096;
let pool = randomBytes(POOL_SIZE);
let poolOffset = 0;

/**
 * A fresh branch: the magic cookie and 64 random bits (§8.1.1.7: unique
 * across space and time). Random bytes are drawn from a pool, so this costs
 * a slice and a hex encoding.
 */
export function newBranch(): string {
  if (poolOffset + 8 > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  const s = pool.toString('hex', poolOffset, poolOffset + 8);
  poolOffset += 8;
  return MAGIC_COOKIE + s;
}
