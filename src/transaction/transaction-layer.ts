/**
 * The transaction layer (RFC 3261 §17): the table of live client and server
 * transactions, matching of incoming messages to them (§17.1.3, §17.2.3),
 * and the timers, on one injected clock.
 *
 * ## How the core uses it
 *
 * ```ts
 * const layer = new TransactionLayer({ clock, sendResponse, sendRequest, user });
 * layer.receiveRequest(req, flow);    // every parsed, validated request
 * layer.receiveResponse(res, flow);   // every parsed, validated response
 * const tx = layer.createClientTransaction(req, { target, reliable }, tu);
 * layer.findInviteForCancel(cancel);  // §9.2
 * layer.size; layer.stats();
 * ```
 *
 * - `user.onRequest(req, tx)` gets each new request once (never a
 *   retransmission, never an ACK); it answers with `tx.respond(res)`, now or
 *   later. CANCEL goes to `user.onCancel(cancel, tx, inviteTx)` when given.
 * - ACKs: the ACK for a non-2xx final response is absorbed by its INVITE
 *   server transaction (→ Confirmed). Every other ACK goes to
 *   `user.onAck(ack, flow, inviteTx)`: one matching an INVITE server
 *   transaction in Accepted (RFC 6026 §7.1) with `inviteTx`, and one
 *   matching nothing (the ACK for a 2xx has its own branch) without.
 * - For the non-INVITE methods in `deferredMethods` (the server: REGISTER)
 *   the TU gets a DeferredServerTransaction (deferred-nist.ts): the real
 *   transaction is created only when the TU needs one (respond(), or no
 *   answer by the time onRequest returns); a final response given with
 *   respondStateless() (§8.2.7) never creates one.
 * - Responses matching no client transaction go to `user.onStrayResponse`
 *   (RFC 6026 §7.3 leaves what to do with them to the core).
 * - A client transaction's TU hears every response through `onResponse`,
 *   including the synthesized 408 (Timer B/F) and 503 (transport error,
 *   §8.1.3.1); `tx.failure` tells which. A transport error on the first send
 *   is delivered on a 0 ms timer, so `createClientTransaction` has returned
 *   before the TU hears of it.
 * - The caller puts the top Via with a fresh branch on a request before
 *   `createClientTransaction` (use `newBranch()`); the layer adds nothing.
 *   The ACK for a 2xx is not a transaction: the TU sends it itself.
 * - Senders return false on a transport error; an error found later is
 *   reported with `tx.reportTransportError()`.
 *
 * ## Matching
 *
 * Server side (§17.2.3), a top Via branch with the `z9hG4bK` cookie: branch
 * + sent-by + method, ACK looked up as INVITE, CANCEL its own method. The
 * table is keyed by the branch string itself (no key is built: a lookup is
 * one hash of a string the parser already made) and the few transactions
 * sharing a branch (an INVITE and its CANCEL) are chained and told apart by
 * method and sent-by. Departure: branch and sent-by are compared as written,
 * case-sensitively, where §7.3.1 would ignore case; a retransmission repeats
 * the same bytes, and lowercasing would cost an allocation per request.
 * Without the cookie (RFC 2543): Request-URI, From tag, Call-ID, CSeq
 * number, top Via, method and To tag, as one string key; an ACK matches
 * when its To tag is that of the response the transaction sent.
 * Request-URI and Via are compared as text, not by the §19.1.4 rules.
 *
 * Client side (§17.1.3): the branch of the top Via, then the CSeq method.
 *
 * ## Limits
 *
 * Terminated transactions leave the table at once. The table holds at most
 * `maxTransactions` (client + server); a new request beyond that gets a
 * stateless 503 with Retry-After and is counted. Over UDP a non-INVITE server
 * transaction lives Timer J = 32 s after its final response, so the cap
 * bounds the request rate × 32 s and the memory that takes. With
 * `compactCompleted` (the server's setting) such a transaction waits out
 * Timer J as bytes in completed-cache.ts, not as an object: the TU's object
 * is done once it has sent its final response, and the layer answers
 * retransmissions; a failed resend then has no TU left to tell and is only
 * counted. Those entries count towards the cap and `size`.
 *
 * Departures: merged requests (§8.2.2.2, a UAS core rule) are answered 482
 * by the layer; a proxy on which requests legitimately spiral back with a
 * new branch should turn `detectMergedRequests` off. A non-INVITE server
 * transaction the TU never answers is dropped after 64·T1 (nist.ts).
 * INVITE transactions wait in Proceeding as long as the TU lets them, as
 * §17 says (a proxy's Timer C, §16.8, belongs to its TU; a client
 * transaction is ended with `tx.terminate()`). At most 8 live server
 * transactions may share a branch (only an INVITE and its CANCEL should);
 * further requests with that branch are dropped and counted, which keeps
 * every lookup bounded.
 */
import type { Clock } from '../util/clock.js';
import { formatVia, type Via } from '../sip/header-values.js';
import { SipResponse, type SipRequest } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { serialize } from '../sip/serializer.js';
import type { Flow } from '../transport/transport.js';
import { InviteClientTransaction } from './ict.js';
import { InviteServerTransaction } from './ist.js';
import { NonInviteClientTransaction } from './nict.js';
import { NonInviteServerTransaction } from './nist.js';
import { DeferredServerTransaction } from './deferred-nist.js';
import { TimerQueues } from './timer-queue.js';
import { CompletedNonInviteCache, type CompletedHit } from './completed-cache.js';
import { DEFAULT_TIMER_BASE, timerValues, type TimerValues } from './timers.js';
import { detached } from '../util/strings.js';
import {
  emptyStats,
  MAGIC_COOKIE,
  type ServerTransactionBase,
  type ClientDestination,
  type ClientTransaction,
  type ClientTransactionUser,
  type RequestSender,
  type ResponseSender,
  type ServerTransaction,
  type Transaction,
  type TransactionHost,
  type TransactionLogger,
  type TransactionStats,
  type TransactionUser,
} from './transaction.js';

export { newBranch, MAGIC_COOKIE } from './transaction.js';
export type {
  ClientDestination,
  ClientFailure,
  ClientTransaction,
  ClientTransactionUser,
  RequestSender,
  ResponseSender,
  ServerTransaction,
  ServerTransactionError,
  TransactionLogger,
  TransactionStats,
  TransactionUser,
} from './transaction.js';

export interface TransactionLayerOptions {
  clock: Clock;
  /** ms, default 500 (§17.1.1.1) */
  t1?: number;
  /** ms, default 4000 */
  t2?: number;
  /** ms, default 5000 */
  t4?: number;
  /** most live transactions, client and server together (default 200,000) */
  maxTransactions?: number;
  /** Retry-After seconds on the 503 sent over the cap (default 5) */
  retryAfter?: number;
  /** answer §8.2.2.2 merged requests with 482 (default true) */
  detectMergedRequests?: boolean;
  /**
   * keep completed non-INVITE server transactions over unreliable
   * transports in the compact cache (completed-cache.ts) rather than as
   * objects (default false; the server turns it on)
   */
  compactCompleted?: boolean;
  /**
   * non-INVITE methods whose transaction is created only once it has state
   * to keep (deferred-nist.ts): a request the TU answers with
   * respondStateless() never gets one (default none; the server: REGISTER)
   */
  deferredMethods?: readonly string[];
  sendResponse: ResponseSender;
  sendRequest: RequestSender;
  user: TransactionUser;
  logger?: TransactionLogger;
}

export type ServerTx = InviteServerTransaction | NonInviteServerTransaction;
export type ClientTx = InviteClientTransaction | NonInviteClientTransaction;

export const DEFAULT_MAX_TRANSACTIONS = 200_000;

/**
 * A Map from key to transaction that never becomes empty: it holds one
 * sentinel entry under a key no transaction has (''). V8 re-allocates a
 * Map's table on a delete that leaves it (nearly) empty; a lightly loaded
 * server whose table goes 0 → 1 → 0 entries for every request would pay
 * about 1 µs per transaction for that.
 */
class Table<T extends object> {
  private readonly map = new Map<string, T | null>([['', null]]);

  get size(): number {
    return this.map.size - 1;
  }

  get(key: string): T | undefined {
    return this.map.get(key) ?? undefined;
  }

  has(key: string): boolean {
    return this.map.get(key) != null;
  }

  set(key: string, value: T): void {
    this.map.set(key, value);
  }

  /** Deletes the entry only if it still holds `value`. */
  deleteIf(key: string, value: T): void {
    if (this.map.get(key) === value) this.map.delete(key);
  }

  *values(): IterableIterator<T> {
    for (const v of this.map.values()) if (v !== null) yield v;
  }

  clear(): void {
    this.map.clear();
    this.map.set('', null);
  }
}

export class TransactionLayer {
  /** server transactions with a cookie branch, by branch (chained through chainNext) */
  private readonly servers = new Table<ServerTx>();
  /** server transactions of RFC 2543 requests, by rfc2543Key() */
  private readonly servers2543 = new Table<ServerTx>();
  /** client transactions, by branch (chained through chainNext) */
  private readonly clients = new Table<ClientTx>();
  private liveServers = 0;
  private liveClients = 0;
  /**
   * §8.2.2.2: live server transactions created by requests without a To tag,
   * by Call-ID (chained through `mergeNext`); From tag and CSeq are compared
   * only when a Call-ID is already there, so the common miss costs one lookup.
   */
  private readonly merges = new Table<ServerTx>();
  private readonly timers: TimerQueues;
  /** completed non-INVITE server transactions waiting out Timer J, when compactCompleted */
  private readonly completed: CompletedNonInviteCache | undefined;
  private readonly counters: TransactionStats = emptyStats();
  private readonly host: TransactionHost;
  private readonly user: TransactionUser;
  private readonly sendResponseFn: ResponseSender;
  private readonly logger: TransactionLogger | undefined;
  private readonly maxTransactions: number;
  private readonly retryAfter: number;
  private readonly detectMerged: boolean;
  private readonly deferred: ReadonlySet<string>;
  /** true while requests are being refused over the cap (one warning per episode) */
  private overCap = false;
  readonly reliableValues: TimerValues;
  readonly unreliableValues: TimerValues;

  constructor(opts: TransactionLayerOptions) {
    const base = {
      t1: opts.t1 ?? DEFAULT_TIMER_BASE.t1,
      t2: opts.t2 ?? DEFAULT_TIMER_BASE.t2,
      t4: opts.t4 ?? DEFAULT_TIMER_BASE.t4,
    };
    this.reliableValues = timerValues(base, true);
    this.unreliableValues = timerValues(base, false);
    this.timers = new TimerQueues(opts.clock);
    this.user = opts.user;
    this.sendResponseFn = opts.sendResponse;
    this.logger = opts.logger;
    this.maxTransactions = opts.maxTransactions ?? DEFAULT_MAX_TRANSACTIONS;
    this.retryAfter = opts.retryAfter ?? 5;
    this.detectMerged = opts.detectMergedRequests ?? true;
    this.deferred = new Set((opts.deferredMethods ?? []).filter((m) => m !== 'INVITE' && m !== 'ACK' && m !== 'CANCEL'));
    this.completed = opts.compactCompleted ? new CompletedNonInviteCache(opts.clock, this.unreliableValues.J) : undefined;
    const reliable = this.reliableValues;
    const unreliable = this.unreliableValues;
    this.host = {
      timers: this.timers,
      sendResponse: opts.sendResponse,
      sendRequest: opts.sendRequest,
      user: opts.user,
      counters: this.counters,
      logger: opts.logger,
      values: (r) => (r ? reliable : unreliable),
      remove: (tx) => this.remove(tx),
      retire: (tx, bytes, status) => this.retire(tx as ServerTx, bytes, status),
    };
  }

  /** Live transactions, client and server (those waiting in the compact cache included). */
  get size(): number {
    return this.liveServers + this.liveClients + (this.completed?.size ?? 0);
  }

  /** Counters since start, plus the live figures. */
  stats(): TransactionStats & { live: number; liveServer: number; liveClient: number; timers: number } {
    return {
      ...this.counters,
      live: this.size,
      liveServer: this.liveServers + (this.completed?.size ?? 0),
      liveClient: this.liveClients,
      timers: this.timers.live,
    };
  }

  /** Timer entries held, live or cancelled-but-not-yet-swept (for leak checks). */
  get heldTimers(): number {
    return this.timers.held;
  }

  // ---------------------------------------------------------------- requests (§17.2.3)

  receiveRequest(req: SipRequest, flow: Flow): void {
    const via = req.topVia();
    if (!via) {
      // the core validates first; a request without a usable Via cannot be matched or answered
      this.logger?.debug({ method: req.method }, 'request without a top Via dropped by the transaction layer');
      return;
    }
    const method = req.method;
    const isAck = method === 'ACK';
    const branch = via.branch;
    const cookie = branch !== undefined && branch.startsWith(MAGIC_COOKIE);
    let key: string | undefined;
    let tx: ServerTx | undefined;
    if (cookie) {
      // §17.2.3: branch + sent-by + method, ACK matching its INVITE
      key = branch;
      tx = this.findServer(branch, via, isAck ? 'INVITE' : method);
    } else if (isAck) {
      tx = this.match2543Ack(req);
    } else {
      key = rfc2543Key(req, method, req.toTag() ?? '');
      if (key !== undefined) tx = this.servers2543.get(key);
    }

    if (tx !== undefined) {
      // a retransmission (§17.2.1, §17.2.2) or an ACK for an INVITE transaction
      if (!isAck) this.counters.retransmissionsAbsorbed++;
      tx.receiveRequest(req);
      return;
    }
    if (cookie && this.completed !== undefined && !isAck) {
      const hit = this.completed.find(branch, method, via.host, via.port);
      if (hit !== undefined) {
        this.resendCompleted(req, flow, branch, hit);
        return;
      }
    }
    if (isAck) {
      this.counters.strayAcks++;
      this.user.onAck?.(req, flow, undefined);
      return;
    }
    if (key === undefined) {
      this.logger?.debug({ method }, 'request without CSeq dropped by the transaction layer');
      return;
    }

    if (this.size >= this.maxTransactions) {
      this.rejectOverCap(req, flow);
      return;
    }
    this.overCap = false;
    if (cookie && this.chainFull(key)) {
      // only an INVITE and its CANCEL legitimately share a branch: this is a broken or hostile client
      this.counters.branchReuseDropped++;
      this.logger?.debug({ method, branch: key }, 'request dropped: too many live transactions with its branch');
      return;
    }

    // §8.2.2.2: no To tag, and From tag, Call-ID and CSeq of a live transaction it did not match
    let mergeCallId: string | undefined;
    if (this.detectMerged && method !== 'CANCEL' && req.toTag() === undefined) {
      mergeCallId = req.callId();
      if (mergeCallId !== undefined) {
        const head = this.merges.get(mergeCallId);
        if (head !== undefined) {
          const seen = mergeCheck(req, head);
          if (seen < 0) {
            this.answerMerged(req, flow, key, via, cookie);
            return;
          }
          // a Call-ID shared by many live transactions is not filed further (bounded walks)
          if (seen >= MAX_CHAIN) mergeCallId = undefined;
        }
      }
    }

    if (cookie && mergeCallId === undefined && this.deferred.has(method)) {
      // created only when it has state to keep (deferred-nist.ts)
      const branch = key;
      const d = new DeferredServerTransaction(this.host, key, req, flow, () => this.addServer(req, flow, detached(branch), via, true) as NonInviteServerTransaction);
      try {
        this.user.onRequest(req, d);
      } finally {
        d.settle();
      }
      return;
    }

    const created = this.addServer(req, flow, detached(key), via, cookie);
    if (mergeCallId !== undefined) {
      // mergeCheck filed only requests with a From tag and a CSeq
      created.mergeFromTag = req.fromTag() ?? '';
      created.mergeSeq = req.cseq()?.seq ?? 0;
      created.mergeCSeqMethod = req.cseq()?.method ?? '';
      mergeCallId = detached(mergeCallId);
      created.mergeCallId = mergeCallId;
      created.mergeNext = this.merges.get(mergeCallId);
      this.merges.set(mergeCallId, created);
    }
    try {
      if (method === 'CANCEL' && this.user.onCancel !== undefined) {
        this.user.onCancel(req, created, this.findInviteForCancel(req));
      } else {
        this.user.onRequest(req, created);
      }
    } finally {
      if (created.kind === 'ist') created.armTryingTimer();
      else created.armAbandonTimer();
    }
  }

  /**
   * §17.2.2: a retransmission of a request whose transaction waits in
   * Completed in the compact cache gets the final response again. It is
   * routed (§18.2.2) by its own top Via, the same Via as the original's,
   * stamped for where this copy came from.
   */
  private resendCompleted(req: SipRequest, flow: Flow, branch: string, hit: CompletedHit): void {
    this.counters.retransmissionsAbsorbed++;
    this.counters.responsesRetransmitted++;
    const routing = new SipResponse(hit.status, '');
    routing.shareViasOf(req);
    if (!this.sendResponseFn(routing, hit.bytes, flow, undefined)) {
      // §17.2.4: a transport error ends the transaction (its TU heard of it already: it has none left)
      this.counters.transportErrors++;
      this.completed!.forget(branch);
    }
  }

  /**
   * Takes a non-INVITE server transaction entering Completed over an
   * unreliable transport into the compact cache. Not taken: RFC 2543 keys,
   * transactions filed for the §8.2.2.2 merge check (that index needs them
   * as objects), and a second one with the branch of an entry held.
   */
  private retire(tx: ServerTx, bytes: Buffer, status: number): boolean {
    const c = this.completed;
    if (c === undefined || tx.kind !== 'nist' || tx.key.charCodeAt(0) === RFC2543_MARK || tx.mergeCallId !== undefined) return false;
    // another transaction with this branch waits there already (one entry per key): stay an object
    if (c.holds(tx.key)) return false;
    if (!unchain(this.servers, tx.key, tx)) return false;
    this.liveServers--;
    c.add(tx.key, tx.method, tx.viaHost, tx.viaPort, status, bytes);
    return true;
  }

  /**
   * §9.2: the INVITE server transaction a CANCEL refers to: the §17.2.3
   * matching with the CANCEL's method taken as INVITE. Undefined when none
   * is live.
   */
  findInviteForCancel(cancel: SipRequest): ServerTransaction | undefined {
    const via = cancel.topVia();
    if (!via) return undefined;
    const branch = via.branch;
    if (branch !== undefined && branch.startsWith(MAGIC_COOKIE)) return this.findServer(branch, via, 'INVITE');
    const key = rfc2543Key(cancel, 'INVITE', cancel.toTag() ?? '');
    const tx = key === undefined ? undefined : this.servers2543.get(key);
    return tx !== undefined && tx.kind === 'ist' ? tx : undefined;
  }

  /** §17.2.3 with the cookie: the transaction with this branch whose method and sent-by match. */
  private findServer(branch: string, via: Via, method: string): ServerTx | undefined {
    for (let t = this.servers.get(branch); t !== undefined; t = t.chainNext as ServerTx | undefined) {
      if (t.method === method && t.viaPort === via.port && t.viaHost === via.host) return t;
    }
    return undefined;
  }

  /** True when MAX_CHAIN live server transactions already share this branch. */
  private chainFull(branch: string): boolean {
    let n = 0;
    for (let t = this.servers.get(branch); t !== undefined; t = t.chainNext as ServerTx | undefined) if (++n >= MAX_CHAIN) return true;
    return false;
  }

  /** Creates a server transaction and files it in its table. */
  private addServer(req: SipRequest, flow: Flow, key: string, via: Via, cookie: boolean): ServerTx {
    const tx: ServerTx =
      req.method === 'INVITE'
        ? new InviteServerTransaction(this.host, key, req, flow)
        : new NonInviteServerTransaction(this.host, key, req, flow);
    tx.viaHost = detached(via.host);
    tx.viaPort = via.port;
    if (cookie) {
      tx.chainNext = this.servers.get(key);
      this.servers.set(key, tx);
    } else {
      this.servers2543.set(key, tx);
    }
    this.liveServers++;
    this.counters.serverCreated++;
    return tx;
  }

  /** RFC 2543 ACK (§17.2.3): matches the INVITE by Request-URI, From tag, Call-ID, CSeq number, top Via, and the To tag of the response sent. */
  private match2543Ack(ack: SipRequest): ServerTx | undefined {
    const ackTag = ack.toTag();
    // an initial INVITE had no To tag; a re-INVITE had the tag its ACK carries
    for (const inviteTag of ackTag === undefined ? [''] : ['', ackTag]) {
      const key = rfc2543Key(ack, 'INVITE', inviteTag);
      if (key === undefined) return undefined;
      const tx = this.servers2543.get(key);
      if (tx !== undefined && tx.kind === 'ist' && tx.lastResponse?.toTag() === ackTag) return tx;
    }
    return undefined;
  }

  /** §8.2.2.2: a server transaction of its own for the merged request, answered 482 without the TU. */
  private answerMerged(req: SipRequest, flow: Flow, key: string, via: Via, cookie: boolean): void {
    this.counters.merged482++;
    this.logger?.debug({ method: req.method, callId: req.callId() }, 'merged request answered 482');
    this.addServer(req, flow, key, via, cookie).respond(createResponse(req, 482));
  }

  /** Over the cap: a stateless 503 with Retry-After (STYLE.md habit 9: a limit, a code, a counter, a log line). */
  private rejectOverCap(req: SipRequest, flow: Flow): void {
    this.counters.rejectedOverCap++;
    if (!this.overCap) {
      this.overCap = true;
      this.logger?.warn({ live: this.size, max: this.maxTransactions }, 'transaction table full: answering 503');
    }
    const res = createResponse(req, 503, { headers: [['Retry-After', String(this.retryAfter)]] });
    this.sendResponseFn(res, serialize(res), flow, undefined);
  }

  // ---------------------------------------------------------------- responses (§17.1.3)

  receiveResponse(res: SipResponse, flow: Flow): void {
    const via = res.topVia();
    const cseq = res.cseq();
    if (via && via.branch !== undefined && cseq) {
      // §17.1.3: the branch of the top Via, and the CSeq method (an INVITE and its CANCEL share the branch)
      const method = cseq.method;
      for (let t = this.clients.get(via.branch); t !== undefined; t = t.chainNext as ClientTx | undefined) {
        if (t.request.method === method) {
          t.receiveResponse(res);
          return;
        }
      }
    }
    this.counters.strayResponses++;
    this.user.onStrayResponse?.(res, flow);
  }

  // ---------------------------------------------------------------- client side (§17.1)

  /**
   * Creates a client transaction and sends the request. The request must
   * already carry its top Via with a `z9hG4bK` branch unique to it (a CANCEL
   * carries the branch of the request it cancels, §9.1). Throws on an ACK
   * (not a transaction) or a branch already in use.
   */
  createClientTransaction(req: SipRequest, dest: ClientDestination, user: ClientTransactionUser): ClientTransaction {
    const method = req.method;
    if (method === 'ACK') throw new TypeError('an ACK is not sent in a client transaction (§17.1.1.3)');
    const branch = req.topVia()?.branch;
    if (branch === undefined || !branch.startsWith(MAGIC_COOKIE)) {
      throw new TypeError('a client transaction needs a top Via with a z9hG4bK branch (§8.1.1.7)');
    }
    const head = this.clients.get(branch);
    for (let t = head; t !== undefined; t = t.chainNext as ClientTx | undefined) {
      if (t.request.method === method) throw new TypeError(`branch ${branch} already in use for ${method}`);
    }
    const bytes = serialize(req);
    const tx: ClientTx =
      method === 'INVITE'
        ? new InviteClientTransaction(this.host, branch, req, bytes, dest, user)
        : new NonInviteClientTransaction(this.host, branch, req, bytes, dest, user);
    tx.chainNext = head;
    this.clients.set(branch, tx);
    this.liveClients++;
    this.counters.clientCreated++;
    tx.start();
    return tx;
  }

  // ---------------------------------------------------------------- table

  private remove(tx: Transaction): void {
    if (tx.kind === 'ist' || tx.kind === 'nist') {
      const s = tx as ServerTx;
      if (s.key.charCodeAt(0) === RFC2543_MARK) {
        if (this.servers2543.get(s.key) !== s) return;
        this.servers2543.deleteIf(s.key, s);
      } else if (!unchain(this.servers, s.key, s)) return;
      this.liveServers--;
      if (s.mergeCallId !== undefined) this.unfileMerge(s, s.mergeCallId);
    } else {
      if (!unchain(this.clients, tx.key, tx as ClientTx)) return;
      this.liveClients--;
    }
  }

  /** Takes a terminated transaction out of its Call-ID chain in the merge index. */
  private unfileMerge(tx: ServerTx, callId: string): void {
    const head = this.merges.get(callId);
    if (head === tx) {
      if (tx.mergeNext === undefined) this.merges.deleteIf(callId, tx);
      else this.merges.set(callId, tx.mergeNext as ServerTx);
    } else {
      for (let t = head; t !== undefined; t = t.mergeNext as ServerTx | undefined) {
        if (t.mergeNext === tx) {
          t.mergeNext = tx.mergeNext;
          break;
        }
      }
    }
    tx.mergeNext = undefined;
  }

  /** Shutdown: every transaction stops where it is, without telling anyone; the table is emptied. */
  close(): void {
    const all: Transaction[] = [...this.servers2543.values()];
    for (const head of this.servers.values()) for (let t: ServerTx | undefined = head; t; t = t.chainNext as ServerTx | undefined) all.push(t);
    for (const head of this.clients.values()) for (let t: ClientTx | undefined = head; t; t = t.chainNext as ClientTx | undefined) all.push(t);
    for (const tx of all) tx.dispose();
    this.servers.clear();
    this.servers2543.clear();
    this.clients.clear();
    this.merges.clear();
    this.completed?.clear();
    this.liveServers = 0;
    this.liveClients = 0;
  }
}

// ---------------------------------------------------------------- keys

/**
 * Most transactions walked in one chain: same-branch server transactions
 * (legitimately an INVITE and its CANCEL) and same-Call-ID entries of the
 * merge index. Keeps every lookup bounded whatever a client sends.
 */
const MAX_CHAIN = 8;

/**
 * §8.2.2.2: does `req` (no To tag, same Call-ID as the chain) have the From
 * tag and CSeq of one of the chained live transactions? It did not match
 * any of them by §17.2.3, or it would not be here. Returns -1 when merged,
 * otherwise how many chained transactions were looked at (at most MAX_CHAIN).
 */
function mergeCheck(req: SipRequest, head: ServerTransactionBase): number {
  const fromTag = req.fromTag();
  const cseq = req.cseq();
  if (fromTag === undefined || !cseq) return MAX_CHAIN; // cannot be compared: do not file it either
  let n = 0;
  for (let t: ServerTransactionBase | undefined = head; t !== undefined && n < MAX_CHAIN; t = t.mergeNext) {
    n++;
    if (t.mergeSeq === cseq.seq && t.mergeCSeqMethod === cseq.method && t.mergeFromTag === fromTag) return -1;
  }
  return n;
}

/**
 * Takes `tx` out of the chain filed under `key`. Returns false when it was
 * not there (already removed).
 */
function unchain<T extends { chainNext: unknown }>(table: Table<T>, key: string, tx: T): boolean {
  const head = table.get(key);
  if (head === tx) {
    const next = tx.chainNext as T | undefined;
    if (next === undefined) table.deleteIf(key, tx);
    else table.set(key, next);
    tx.chainNext = undefined;
    return true;
  }
  for (let t = head; t !== undefined; t = t.chainNext as T | undefined) {
    if (t.chainNext === tx) {
      t.chainNext = tx.chainNext;
      tx.chainNext = undefined;
      return true;
    }
  }
  return false;
}

/** First character of every RFC 2543 key: no branch starts with it. */
const RFC2543_MARK = 1;

/** §17.2.3 without the cookie (RFC 2543). Undefined when the request has no Via or CSeq. */
export function rfc2543Key(req: SipRequest, method: string, toTag: string): string | undefined {
  const via = req.topVia();
  const cseq = req.cseq();
  if (!via || !cseq) return undefined;
  return '\u0001' + req.uri + '\n' + (req.fromTag() ?? '') + '\n' + (req.callId() ?? '') + '\n' + cseq.seq + '\n' + formatVia(via) + '\n' + method + '\n' + toTag;
}
