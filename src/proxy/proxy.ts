/**
 * The stateful proxy (RFC 3261 §16), the core's fallback request handler.
 *
 * A request goes through: validation (§16.3), Route preprocessing (§16.4),
 * caller authentication (§22.3), target determination (§16.5: the location
 * service for a domain we serve, the Request-URI otherwise), and forwarding
 * (§16.6) on one branch per target, q groups in sequence (§16.7, in
 * response-context.ts). CANCEL (§16.10), the ACK for a 2xx and stray 2xx
 * responses (RFC 6026 §7.3) come from the transaction layer's hooks; the ACK
 * and the stray 2xx are forwarded statelessly (§16.11).
 *
 * Hot path: the request is parsed once; each branch is a shallow copy of it
 * (its header list copied, the raw bytes shared), so serializing a branch
 * writes only the lines we added or changed. A branch is a class (the client
 * transaction user and Timer C target) — no closure per request except the
 * DNS continuation of a name that needs a lookup.
 *
 * Choices and departures, on purpose:
 *  - who may use us to reach another domain: a request that follows one of
 *    our Route values (a dialog we record-routed, or we are its outbound
 *    proxy), a caller of a domain we serve (authenticated when --auth is on;
 *    trusted when it is off), or anyone with --open-relay. Anything else
 *    gets 403 (no open relay by default).
 *  - caller authentication covers out-of-dialog requests (not ACK/CANCEL)
 *    whose From is in a domain we serve; the realm is the From domain, the
 *    authenticated user must be the From user. Credentials are kept in the
 *    forwarded request (§22.3 lets the proxy remove its own).
 *  - a request whose Request-URI names this server without a user part is
 *    for us as a UAS: we implement none of these methods (OPTIONS is the
 *    OptionsHandler's), so 501.
 *  - a target contact is reached by RFC 3263 on its URI (or its Path, or the
 *    flow it is bound to); a non-Outbound TCP binding is not sent on the
 *    connection it registered on (see the issue note: known gap).
 *  - a Record-Route flow token may send a request on a flow only when that
 *    flow is not the one it came in on (see record-route.ts).
 */
import { ERROR_CODES, type ErrorCode } from '../util/errors.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { SipRequest, type SipResponse } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { serialize } from '../sip/serializer.js';
import { parseNameAddr } from '../sip/header-values.js';
import { isSipUri, parseSipUri, unescapeUri, type SipUri } from '../sip/uri.js';
import type { RequestHandler, ServerTx } from '../core/sip-core.js';
import type { LocalIdentity } from '../core/local-identity.js';
import { RELIABLE, type Flow, type Target, type Transport, type TransportProtocol } from '../transport/transport.js';
import type { ClientDestination, ClientTransaction, ClientTransactionUser } from '../transaction/transaction-layer.js';
import { TimerQueues } from '../transaction/timer-queue.js';
import type { DigestAuthenticator } from '../auth/digest-auth.js';
import { parseDigestParams } from '../auth/digest-params.js';
import { aorOf } from '../registrar/binding.js';
import type { LocationService } from '../registrar/location-service.js';
import type { Resolver } from './resolver.js';
import { DEFAULT_PORT } from './resolver.js';
import {
  FlowTokens,
  SentBy,
  isOurRecordRoute,
  isOurVia,
  branchLoopHash,
  loopHash,
  namesUs,
  proxyBranch,
  recordRouteValue,
  statelessBranch,
} from './record-route.js';
import { bindingTarget, receivedTarget, TargetSet, uriTarget, type ProxyTarget } from './target-set.js';
import { ResponseContext, type Branch, type BranchOutcome, type ContextHost } from './response-context.js';

/** What the proxy needs of the core (SipCore has it all). */
export interface ProxyCore {
  transport(protocol: TransportProtocol): Transport | undefined;
  /** the open connection-oriented flow with this id */
  flow(id: string): Flow | undefined;
  /** sends bytes on a flow or towards a target (opening or reusing a connection) */
  sendRequestBytes(bytes: Buffer, dest: { flow?: Flow; target?: Target }, onError: (err: Error) => void): boolean;
}

/** What the proxy needs of the transaction layer. */
export interface ProxyTransactions {
  createClientTransaction(req: SipRequest, dest: ClientDestination, user: ClientTransactionUser): ClientTransaction;
}

/** Counters the proxy feeds; server.ts binds them to Prometheus. */
export interface ProxyMetrics {
  /** a request forwarded statefully (one per request, whatever its branches) */
  proxied(method: string): void;
  /** a response passed upstream (relayed or chosen as best) */
  relayed(status: number): void;
  /** a branch ended */
  branchEnded(outcome: BranchOutcome): void;
}

export interface ProxyOptions {
  core: ProxyCore;
  transactions: ProxyTransactions;
  identity: LocalIdentity;
  locations: LocationService;
  /** the registrar's authenticator; null = --auth off */
  auth: DigestAuthenticator | null;
  /** whether a user exists (404 vs 480); undefined: unknown (auth off) */
  userExists?: (username: string, domain: string) => boolean;
  resolver: Resolver;
  clock: Clock;
  logger: Logger;
  metrics?: ProxyMetrics;
  /** anyone may reach other domains through us (default false) */
  openRelay?: boolean;
  /** §16.8 Timer C, ms (default 180 000: "greater than 3 minutes" in spirit; RFC 3261 asks for more) */
  timerCMs?: number;
  /** T1, ms (default 500): the 64·T1 guard after a CANCEL (§9.1) */
  t1?: number;
  /** host[:port] written in Via and Record-Route (--advertise) */
  advertise?: { host: string; port?: number };
  /** key of the flow-token MACs (default: random per process) */
  secret?: Buffer;
}

/**
 * Every failure the proxy answers itself has an SB_ERR_PROXY_* code with its
 * status and reason in util/errors.ts (one table for all codes).
 */
export type ProxyErrorCode = Extract<ErrorCode, `SB_ERR_PROXY_${string}`>;

/** §16.6 step 4: the requests that create a dialog and are record-routed (not MESSAGE, OPTIONS, REGISTER). */
const RECORD_ROUTED = new Set(['INVITE', 'SUBSCRIBE', 'REFER']);

/** The CANCEL's client transactions: their responses matter to no one (§16.10). */
const CANCEL_USER: ClientTransactionUser = { onResponse() {} };

function ignoreError(): void {}

/** A branch's copy of a request: its own header list, the same raw bytes (untouched lines serialize as slices). */
export function cloneRequest(req: SipRequest): SipRequest {
  const c = new SipRequest(req.method, req.uri);
  c.raw = req.raw;
  c.rawHead = req.rawHead;
  c.startLineStart = req.startLineStart;
  c.startLineEnd = req.startLineEnd;
  c.headers = req.headers.slice();
  c.body = req.body;
  return c;
}

/**
 * §9.1: the CANCEL for a forwarded INVITE: its Request-URI, Call-ID, To,
 * From, CSeq number and Route, and its top Via only (the same branch).
 */
export function buildCancel(invite: SipRequest): SipRequest {
  const c = new SipRequest('CANCEL', invite.uri);
  const via = invite.getAll('via')[0];
  if (via !== undefined) c.append('via', via);
  c.append('max-forwards', '70');
  for (const h of invite.headers) if (h.name === 'route') c.append('route', h.value);
  const from = invite.get('from');
  if (from !== undefined) c.append('from', from);
  const to = invite.get('to');
  if (to !== undefined) c.append('to', to);
  const callId = invite.callId();
  if (callId !== undefined) c.append('call-id', callId);
  c.append('cseq', `${invite.cseq()?.seq ?? 0} CANCEL`);
  return c;
}

function stripBrackets(h: string): string {
  return h.charCodeAt(0) === 0x5b ? h.slice(1, -1) : h;
}

/** §16.4 outcome: the Request-URI to route on, how many of our Route values came off, and a flow token's flow. */
interface Preprocessed {
  ruri: SipUri;
  popped: number;
  tokenFlow: Flow | null;
}

export class Proxy implements RequestHandler, ContextHost {
  readonly timers: TimerQueues;
  readonly timerCMs: number;
  readonly cancelGuardMs: number;
  private readonly core: ProxyCore;
  private readonly transactions: ProxyTransactions;
  private readonly identity: LocalIdentity;
  private readonly locations: LocationService;
  private readonly auth: DigestAuthenticator | null;
  private readonly userExists: ProxyOptions['userExists'];
  private readonly resolver: Resolver;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly metrics: ProxyMetrics | undefined;
  private readonly openRelay: boolean;
  private readonly tokens: FlowTokens;
  private readonly sentBy: SentBy;
  private readonly available: (p: TransportProtocol) => boolean;
  /** response contexts of requests being proxied, by their server transaction (§16.7, §16.10) */
  private readonly contexts = new Map<ServerTx, ResponseContext>();
  /** contexts by the id of a connection-oriented flow they depend on (the caller's, a branch's) */
  private readonly byFlow = new Map<string, Set<ResponseContext>>();

  constructor(opts: ProxyOptions) {
    this.core = opts.core;
    this.transactions = opts.transactions;
    this.identity = opts.identity;
    this.locations = opts.locations;
    this.auth = opts.auth;
    this.userExists = opts.userExists;
    this.resolver = opts.resolver;
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.metrics = opts.metrics;
    this.openRelay = opts.openRelay ?? false;
    this.timerCMs = opts.timerCMs ?? 180_000;
    this.cancelGuardMs = 64 * (opts.t1 ?? 500);
    this.timers = new TimerQueues(opts.clock);
    this.tokens = new FlowTokens(opts.secret);
    this.sentBy = new SentBy(opts.core, opts.advertise);
    const core = opts.core;
    this.available = (p) => core.transport(p) !== undefined;
  }

  /** Requests being proxied (the live-calls gauge; 0 once every call's transactions have ended). */
  get liveCalls(): number {
    return this.contexts.size;
  }

  /** Entries of the flow index (for leak checks). */
  get flowIndexSize(): number {
    return this.byFlow.size;
  }

  /** Timer C entries held (for leak checks). */
  get heldTimers(): number {
    return this.timers.held;
  }

  // ================================================================ requests

  onRequest(req: SipRequest, tx: ServerTx): void {
    const method = req.method;
    if (method === 'ACK') {
      this.onAck(req, tx.flow, undefined);
      return;
    }
    if (method === 'CANCEL') {
      this.onCancel(req, tx, undefined);
      return;
    }
    const uri = req.requestUri();
    // §16.3 step 2: a scheme we cannot route
    if (uri === null || !isSipUri(uri)) {
      this.reject(req, tx, uri !== null && uri.scheme === 'tel' ? 'SB_ERR_PROXY_NO_ROUTE' : 'SB_ERR_PROXY_URI_SCHEME');
      return;
    }
    // §16.3 step 3: Max-Forwards
    const mf = req.maxForwards();
    if (mf === 0) {
      this.reject(req, tx, 'SB_ERR_PROXY_TOO_MANY_HOPS');
      return;
    }
    // §16.3 step 5: we support no extension a proxy must understand
    if (req.has('proxy-require')) {
      const tags = req.tokens('proxy-require');
      this.reject(req, tx, 'SB_ERR_PROXY_BAD_EXTENSION', [['Unsupported', tags.join(', ')]]);
      return;
    }
    // §16.3 step 4: a request carrying our Via with this very hash came back unchanged: a loop (a spiral changed it)
    const hash = loopHash(req);
    if (this.isLoop(req, hash)) {
      this.reject(req, tx, 'SB_ERR_PROXY_LOOP');
      return;
    }
    // §16.4: Route preprocessing, on the copy the branches are made from
    const fwd = cloneRequest(req);
    const pre = this.preprocess(fwd, uri, tx.flow);
    if (pre === null) {
      this.reject(req, tx, 'SB_ERR_PROXY_URI_SCHEME');
      return;
    }
    const inDialog = req.toTag() !== undefined;
    const routed = fwd.has('route');
    const ours = pre.tokenFlow === null && !routed && namesUs(pre.ruri, this.identity);
    if (ours && (pre.ruri.user === undefined || pre.ruri.user === '')) {
      // a REGISTER comes here from the registrar only when its domain is not one we serve (§10.3 step 1)
      this.reject(req, tx, method === 'REGISTER' ? 'SB_ERR_PROXY_DOMAIN_NOT_SERVED' : 'SB_ERR_PROXY_NOT_IMPLEMENTED');
      return;
    }

    // §16.3 step 6, §22.3: a caller of a domain we serve proves who it is
    let trusted = false;
    const fromUri = this.localFrom(req);
    if (fromUri !== null) {
      if (this.auth === null) trusted = true;
      else if (!inDialog) {
        if (!this.authenticate(req, tx, fromUri, this.auth)) return;
        trusted = true;
      }
    }

    // §16.5: the target set
    let targets: ProxyTarget[];
    if (pre.tokenFlow !== null) targets = [uriTarget(fwd.uri, pre.tokenFlow)];
    else if (ours) {
      const found = this.lookup(req, tx, pre.ruri);
      if (found === null) return;
      targets = found;
    } else {
      // another domain, or a Route to follow: only for those allowed to use us as a relay (file note)
      if (pre.popped === 0 && !this.openRelay && !trusted) {
        this.reject(req, tx, 'SB_ERR_PROXY_RELAY_DENIED', [], { ruri: req.uri, from: req.get('from') });
        return;
      }
      targets = [uriTarget(fwd.uri)];
    }

    // §16.6 step 3: Max-Forwards, decremented or added
    fwd.set('max-forwards', mf === undefined || mf === null ? '70' : String(mf - 1));
    const ctx = new ResponseContext(this, tx, req, fwd, new TargetSet(targets), hash, !inDialog && RECORD_ROUTED.has(method));
    this.contexts.set(tx, ctx);
    if (tx.flow.reliable) this.indexFlow(ctx, tx.flow.id);
    this.metrics?.proxied(method);
    this.logger.debug({ method, callId: req.callId(), ruri: req.uri, targets: targets.length }, 'proxying');
    ctx.start();
  }

  /** §16.3 step 4: one of our Vias carries this request's hash. */
  private isLoop(req: SipRequest, hash: string): boolean {
    const vias = req.vias();
    if (!vias) return false;
    for (const v of vias) if (branchLoopHash(v.branch) === hash && this.identity.isLocalHost(v.host, v.port)) return true;
    return false;
  }

  /**
   * §16.4: a Request-URI that is our Record-Route value (a strict router
   * upstream) is replaced by the last Route value; then the Route values
   * naming us come off the top (two when we record-routed on two
   * interfaces). Their flow tokens name the flow on the far side.
   * Null when the Request-URI to route on is not a SIP URI.
   */
  private preprocess(fwd: SipRequest, uri: SipUri, inbound: Flow): Preprocessed | null {
    let ruri = uri;
    let ids: string[] = [];
    if (isOurRecordRoute(uri, this.identity) && fwd.has('route')) {
      const routes = fwd.getAll('route');
      const last = parseNameAddr(routes.pop()!);
      const next = last ? parseSipUri(last.uri) : null;
      if (!last || !next) return null;
      ids = this.tokens.decode(uri.user);
      fwd.remove('route');
      for (const r of routes) fwd.append('route', r);
      fwd.uri = last.uri;
      ruri = next;
    }
    let popped = 0;
    const routes = fwd.routes() ?? [];
    while (popped < routes.length) {
      const u = parseSipUri(routes[popped]!.uri);
      if (u === null || !namesUs(u, this.identity)) break;
      const t = this.tokens.decode(u.user);
      if (t.length) ids = ids.length ? ids.concat(t) : t;
      popped++;
    }
    for (let i = 0; i < popped; i++) fwd.shift('route');
    let tokenFlow: Flow | null = null;
    for (const id of ids) {
      if (id === inbound.id) continue;
      const f = this.core.flow(id);
      if (f !== undefined && !f.closed) {
        tokenFlow = f;
        break;
      }
    }
    return { ruri, popped, tokenFlow };
  }

  /** The From URI when it is in a domain we serve (the caller is one of our users), else null. */
  private localFrom(req: SipRequest): SipUri | null {
    const from = req.from();
    if (!from) return null;
    const u = parseSipUri(from.uri);
    return u !== null && this.identity.isServedDomain(u.host) ? u : null;
  }

  /** §22.3: verifies Proxy-Authorization for the From domain; answers 407/403 and returns false when it does not. */
  private authenticate(req: SipRequest, tx: ServerTx, from: SipUri, auth: DigestAuthenticator): boolean {
    const realm = from.host.toLowerCase();
    const source = tx.flow.remoteAddress;
    const r = auth.verify({ method: req.method, authorization: proxyCredentials(req, realm), realm, source, body: req.body });
    if (r.ok) {
      // the authenticated user calls as itself only
      if (r.username === unescapeUri(from.user ?? '')) return true;
      this.reject(req, tx, 'SB_ERR_PROXY_FROM_MISMATCH', [], { username: r.username, from: req.get('from') }, 'info');
      return false;
    }
    switch (r.reason) {
      case 'rate-limited':
        this.reject(req, tx, 'SB_ERR_PROXY_AUTH_RATE_LIMITED', [], { source }, 'warn');
        return false;
      case 'unknown-user':
      case 'disabled':
        this.reject(req, tx, 'SB_ERR_PROXY_AUTH_FAILED', [], { username: r.username, source, reason: r.reason }, 'warn');
        return false;
      case 'bad-response':
        if (r.detail === undefined) {
          this.reject(req, tx, 'SB_ERR_PROXY_AUTH_FAILED', [], { username: r.username, source, reason: r.reason }, 'warn');
          return false;
        }
        break;
      default:
        break;
    }
    // missing, stale, malformed, another realm, a forged nonce, a replay: a fresh challenge (§22.3)
    const ch = auth.challenge(realm, { proxy: true, stale: r.reason === 'stale' });
    this.reject(
      req,
      tx,
      'SB_ERR_PROXY_AUTH_REQUIRED',
      ch.values.map((v): [string, string] => [ch.header, v]),
      { reason: r.reason },
      'debug',
    );
    return false;
  }

  /** §16.5: the bindings of a user of ours; answers 404/480 and returns null when there are none. */
  private lookup(req: SipRequest, tx: ServerTx, ruri: SipUri): ProxyTarget[] | null {
    const aor = aorOf(ruri);
    const bindings = aor === null ? [] : this.locations.lookup(aor, this.clock.now());
    if (bindings.length === 0) {
      const known = this.userExists === undefined || this.userExists(unescapeUri(ruri.user ?? ''), ruri.host.toLowerCase());
      this.reject(req, tx, known ? 'SB_ERR_PROXY_NOT_REGISTERED' : 'SB_ERR_PROXY_UNKNOWN_USER', [], { aor });
      return null;
    }
    const out: ProxyTarget[] = [];
    for (const b of bindings) out.push(bindingTarget(b));
    return out;
  }

  /** Answers a request with one of our codes, counts and logs it. */
  private reject(
    req: SipRequest,
    tx: ServerTx,
    code: ProxyErrorCode,
    headers: Array<[string, string]> = [],
    log?: Record<string, unknown>,
    level: 'debug' | 'info' | 'warn' = 'debug',
  ): void {
    const { status, reason } = ERROR_CODES[code];
    tx.respond(createResponse(req, status, { reason, headers }));
    this.metrics?.relayed(status);
    this.logger[level]({ code, status, method: req.method, callId: req.callId(), source: tx.flow.remoteAddress, ...log }, 'request refused by the proxy');
  }

  // ================================================================ branches (ContextHost)

  /** §16.6 steps 1–10 for one branch (see ContextHost.forward). */
  forward(ctx: ResponseContext, b: Branch): void {
    const t = b.target;
    const req = this.prepare(ctx, b);
    if (req === null) {
      ctx.fail(b, 503, 'unresolvable', 'Unresolvable Destination');
      return;
    }
    // a flow from a Route's flow token
    if (t.flow !== null) {
      if (t.flow.closed) ctx.fail(b, 480, 'flow-gone');
      else this.send(ctx, b, req.req, { flow: t.flow, reliable: t.flow.reliable }, t.flow.protocol, t.flow, t.flow.remoteAddress);
      return;
    }
    // RFC 5626 §5.3, RFC 7118 §5: a flow-bound binding is reached on its flow only
    if (t.flowId !== null) {
      if (t.transport === 'UDP') {
        const target = t.received === null ? undefined : receivedTarget(t.received, 'UDP');
        if (target !== undefined && this.available('UDP')) {
          this.send(ctx, b, req.req, { target, reliable: false }, 'UDP', undefined, target.address);
          return;
        }
      } else {
        const flow = this.core.flow(t.flowId);
        if (flow !== undefined && !flow.closed) {
          this.send(ctx, b, req.req, { flow, reliable: flow.reliable }, flow.protocol, flow, flow.remoteAddress);
          return;
        }
      }
      ctx.fail(b, t.outbound ? 430 : 480, 'flow-gone', t.outbound ? 'Flow Failed' : undefined);
      return;
    }
    // §16.6 step 7, RFC 3263: the next hop's transport, address and port
    const hops = this.resolver.resolve(req.hop, this.available);
    if (Array.isArray(hops)) this.useHops(ctx, b, req.req, hops);
    else {
      hops.then(
        (h) => this.useHops(ctx, b, req.req, h),
        () => this.useHops(ctx, b, req.req, []),
      );
    }
  }

  /**
   * The branch's request before its Via and Record-Route: the target's
   * Request-URI (§16.6 step 2), its Path as Route values (RFC 3327 §5.3),
   * a strict next hop handled (§16.6 step 6); and the URI of the next hop.
   */
  private prepare(ctx: ResponseContext, b: Branch): { req: SipRequest; hop: SipUri } | null {
    const req = cloneRequest(ctx.base);
    const t = b.target;
    if (req.uri !== t.uri) req.uri = t.uri;
    for (let i = t.path.length - 1; i >= 0; i--) req.prepend('route', t.path[i]!);
    const first = req.has('route') ? req.getAll('route')[0] : undefined;
    if (first !== undefined) {
      const na = parseNameAddr(first);
      const hop = na ? parseSipUri(na.uri) : null;
      if (!na || !hop) return null;
      if (!hop.params.has('lr')) {
        // §16.6 step 6: a strict router: the Request-URI goes last in the Route, the Route's first value becomes the Request-URI
        req.append('route', `<${req.uri}>`);
        req.shift('route');
        req.uri = na.uri;
      }
      return { req, hop };
    }
    const hop = parseSipUri(req.uri);
    return hop === null ? null : { req, hop };
  }

  private useHops(ctx: ResponseContext, b: Branch, req: SipRequest, hops: Target[]): void {
    if (!b.running) return; // cancelled or timed out while resolving
    if (hops.length === 0) {
      ctx.fail(b, 503, 'unresolvable', 'Unresolvable Destination');
      return;
    }
    b.hops = hops;
    b.hop = 0;
    const target = hops[0]!;
    this.send(ctx, b, req, { target, reliable: RELIABLE[target.protocol] }, target.protocol, undefined, target.address);
  }

  /** RFC 3263 §4.3: the next resolved target after a transport error. */
  failover(ctx: ResponseContext, b: Branch): boolean {
    if (b.hops === null || b.hop + 1 >= b.hops.length) return false;
    const prepared = this.prepare(ctx, b);
    if (prepared === null) return false;
    b.hop++;
    const target = b.hops[b.hop]!;
    this.logger.debug({ callId: ctx.request.callId(), target }, 'transport error: trying the next target');
    this.send(ctx, b, prepared.req, { target, reliable: RELIABLE[target.protocol] }, target.protocol, undefined, target.address);
    return true;
  }

  /** §16.6 steps 4 and 8: Record-Route and our Via, then the client transaction (§16.6 step 10). */
  private send(
    ctx: ResponseContext,
    b: Branch,
    req: SipRequest,
    dest: ClientDestination,
    protocol: TransportProtocol,
    outFlow: Flow | undefined,
    destAddress: string,
  ): void {
    const inbound = ctx.serverTx.flow;
    if (ctx.recordRoute) this.recordRoute(req, inbound, protocol, outFlow, destAddress);
    // §16.6 step 8 (RFC 3581): the outgoing transport, a branch with the loop hash, rport
    req.prepend('via', `SIP/2.0/${protocol} ${this.sentBy.of(protocol, outFlow, inbound, destAddress)};branch=${proxyBranch(ctx.loopHash)};rport`);
    b.state = 'calling';
    if (outFlow !== undefined) {
      b.flow = outFlow;
      if (outFlow.reliable) this.indexFlow(ctx, outFlow.id);
    }
    try {
      b.tx = this.transactions.createClientTransaction(req, dest, b);
    } catch (err) {
      this.logger.error({ err, callId: req.callId() }, 'could not create a client transaction');
      ctx.fail(b, 500, 'transport-error');
    }
  }

  /**
   * §16.6 step 4 with RFC 5658: one Record-Route when the request leaves as
   * it came (same transport and address), else two, the inbound interface's
   * first and the outbound one's above it. A connection-oriented side gets
   * its flow token; one value carries both when the sides share it.
   */
  private recordRoute(req: SipRequest, inbound: Flow, protocol: TransportProtocol, outFlow: Flow | undefined, destAddress: string): void {
    const inSentBy = this.sentBy.of(inbound.protocol, inbound, outFlow, inbound.remoteAddress);
    const outSentBy = this.sentBy.of(protocol, outFlow, inbound, destAddress);
    const inToken = inbound.reliable ? this.tokens.encode(inbound.id) : undefined;
    const outToken = outFlow !== undefined && outFlow.reliable && outFlow.id !== inbound.id ? this.tokens.encode(outFlow.id) : undefined;
    if (inbound.protocol === protocol && inSentBy === outSentBy) {
      const list: string[] = [];
      if (inToken !== undefined) list.push(inToken);
      if (outToken !== undefined) list.push(outToken);
      req.prepend('record-route', recordRouteValue(outSentBy, protocol, this.tokens.userPart(list)));
      return;
    }
    req.prepend('record-route', recordRouteValue(inSentBy, inbound.protocol, this.tokens.userPart(inToken === undefined ? [] : [inToken])));
    req.prepend('record-route', recordRouteValue(outSentBy, protocol, this.tokens.userPart(outToken === undefined ? [] : [outToken])));
  }

  /** §9.1, §16.10: the CANCEL of a branch, its own non-INVITE client transaction to the INVITE's destination. */
  sendCancel(b: Branch): void {
    const tx = b.tx;
    if (tx === null) return;
    try {
      this.transactions.createClientTransaction(buildCancel(tx.request), tx.destination, CANCEL_USER);
    } catch (err) {
      this.logger.warn({ err, callId: tx.request.callId() }, 'could not send a CANCEL');
    }
  }

  /** §16.7 step 9: upstream through the server transaction; statelessly once it cannot take the response. */
  relay(ctx: ResponseContext, res: SipResponse): void {
    this.metrics?.relayed(res.status);
    const tx = ctx.serverTx as ServerTx & { readonly state?: string };
    // a 2xx after a non-2xx final (a fork answering after our 487), or after the transaction ended (RFC 6026 §7.1)
    if (tx.state === 'terminated' || (res.status >= 200 && res.status < 300 && ctx.finalSent && ctx.finalStatus >= 300)) {
      this.forwardUpstream(res);
      return;
    }
    tx.respond(res);
  }

  done(ctx: ResponseContext): void {
    this.contexts.delete(ctx.serverTx);
    for (const id of ctx.flowIds()) {
      const set = this.byFlow.get(id);
      if (set === undefined) continue;
      set.delete(ctx);
      if (set.size === 0) this.byFlow.delete(id);
    }
  }

  branchEnded(outcome: BranchOutcome): void {
    this.metrics?.branchEnded(outcome);
  }

  private indexFlow(ctx: ResponseContext, id: string): void {
    let set = this.byFlow.get(id);
    if (set === undefined) {
      set = new Set();
      this.byFlow.set(id, set);
    }
    set.add(ctx);
  }

  // ================================================================ hooks of the transaction layer

  /**
   * §16.10: a CANCEL is answered 200 hop by hop when its INVITE's
   * transaction is found, and every pending branch of that INVITE is
   * cancelled; the INVITE then gets its 487. A CANCEL matching no
   * transaction gets 481 (we never forward an INVITE statelessly, so there
   * is nothing downstream it could refer to).
   */
  onCancel(cancel: SipRequest, tx: ServerTx, inviteTx: ServerTx | undefined): void {
    if (inviteTx === undefined) {
      this.reject(cancel, tx, 'SB_ERR_PROXY_NO_TRANSACTION');
      return;
    }
    tx.respond(createResponse(cancel, 200));
    const ctx = this.contexts.get(inviteTx);
    if (ctx !== undefined) {
      this.logger.debug({ callId: cancel.callId() }, 'CANCEL: cancelling the branches');
      ctx.cancel();
      return;
    }
    // an INVITE of ours not (or no longer) proxied and still unanswered
    const last = (inviteTx as ServerTx & { readonly lastResponse?: SipResponse }).lastResponse;
    if (last === undefined || last.status < 200) inviteTx.respond(createResponse(inviteTx.request, 487));
  }

  /**
   * The ACK for a 2xx (and any ACK matching no transaction): forwarded
   * statelessly along its Route (§16.11, §13.2.2.4), with a branch derived
   * from it. An ACK we cannot place is dropped (it has no response).
   */
  onAck(ack: SipRequest, flow: Flow, _inviteTx?: unknown): void {
    const uri = ack.requestUri();
    const mf = ack.maxForwards();
    if (uri === null || !isSipUri(uri) || mf === 0) return;
    const fwd = cloneRequest(ack);
    const pre = this.preprocess(fwd, uri, flow);
    if (pre === null) return;
    let routed = fwd.has('route');
    let pinned: Flow | null = pre.tokenFlow;
    let pinnedTarget: Target | null = null;
    if (pinned === null && !routed && namesUs(pre.ruri, this.identity)) {
      // an ACK sent to our user's address (a UA that ignores Record-Route): its first binding, statelessly (no forking)
      const aor = pre.ruri.user ? aorOf(pre.ruri) : null;
      const b = aor === null ? undefined : this.locations.lookup(aor, this.clock.now())[0];
      if (b === undefined) {
        this.logger.debug({ callId: ack.callId(), ruri: ack.uri }, 'ACK addressed to us dropped');
        return;
      }
      fwd.uri = b.contact;
      for (let i = b.path.length - 1; i >= 0; i--) fwd.prepend('route', b.path[i]!);
      routed = b.path.length > 0;
      if (b.flowId !== null) {
        if (b.transport === 'UDP') pinnedTarget = receivedTarget(b.received, 'UDP') ?? null;
        else pinned = this.core.flow(b.flowId) ?? null;
        if (pinned === null && pinnedTarget === null) return;
      }
    } else if (pre.popped === 0 && !this.openRelay && this.localFrom(ack) === null) {
      this.logger.debug({ callId: ack.callId(), ruri: ack.uri }, 'ACK relay refused');
      return;
    }
    fwd.set('max-forwards', mf === undefined || mf === null ? '70' : String(mf - 1));
    const branch = statelessBranch(ack);
    if (pinned !== null) {
      this.sendStateless(fwd, branch, pinned.protocol, { flow: pinned }, pinned, flow);
      return;
    }
    if (pinnedTarget !== null) {
      this.sendStateless(fwd, branch, 'UDP', { target: pinnedTarget }, undefined, flow);
      return;
    }
    // §16.6 step 6 for the next hop, as for a branch
    let hopText = fwd.uri;
    let hop: SipUri | null;
    const first = routed ? fwd.getAll('route')[0] : undefined;
    if (first !== undefined) {
      const na = parseNameAddr(first);
      hop = na ? parseSipUri(na.uri) : null;
      if (!na || hop === null) return;
      hopText = na.uri;
      if (!hop.params.has('lr')) {
        fwd.append('route', `<${fwd.uri}>`);
        fwd.shift('route');
        fwd.uri = na.uri;
      }
    } else hop = parseSipUri(hopText);
    if (hop === null) return;
    const hops = this.resolver.resolve(hop, this.available);
    const go = (h: Target[]): void => {
      const target = h[0];
      if (target === undefined) {
        this.logger.debug({ callId: ack.callId(), hop: hopText }, 'ACK: next hop unresolvable; dropped');
        return;
      }
      this.sendStateless(fwd, branch, target.protocol, { target }, undefined, flow);
    };
    if (Array.isArray(hops)) go(hops);
    else hops.then(go, () => go([]));
  }

  private sendStateless(fwd: SipRequest, branch: string, protocol: TransportProtocol, dest: { flow?: Flow; target?: Target }, outFlow: Flow | undefined, inbound: Flow): void {
    const destAddress = dest.flow?.remoteAddress ?? dest.target!.address;
    fwd.prepend('via', `SIP/2.0/${protocol} ${this.sentBy.of(protocol, outFlow, inbound, destAddress)};branch=${branch};rport`);
    if (!this.core.sendRequestBytes(serialize(fwd), dest, ignoreError)) {
      this.logger.debug({ callId: fwd.callId(), method: fwd.method }, 'stateless forward failed');
    }
  }

  /**
   * RFC 6026 §7.3 / §16.7 step 4: a 2xx to an INVITE matching no client
   * transaction (a fork answering after the first 2xx, or after its branch
   * was ended) is forwarded statelessly along its next Via; other stray
   * responses are dropped.
   */
  onStrayResponse(res: SipResponse, flow: Flow): void {
    const cseq = res.cseq();
    const via = res.topVia();
    if (!cseq || cseq.method !== 'INVITE' || res.status < 200 || res.status >= 300 || !via || !isOurVia(via, this.identity)) {
      this.logger.debug({ status: res.status, flow: flow.id, callId: res.callId() }, 'stray response dropped');
      return;
    }
    res.shift('via');
    this.metrics?.relayed(res.status);
    this.forwardUpstream(res);
  }

  /** §18.2.2 (RFC 3581) without a server transaction: the response goes where its top Via says. */
  private forwardUpstream(res: SipResponse): void {
    const via = res.topVia();
    if (!via) return;
    const protocol = via.transport as TransportProtocol;
    if (!(protocol in RELIABLE) || !this.available(protocol)) return;
    let address: string;
    let port: number;
    if (RELIABLE[protocol]) {
      address = via.received ?? via.host;
      port = typeof via.rport === 'number' ? via.rport : (via.port ?? DEFAULT_PORT[protocol]);
    } else if (via.maddr !== undefined) {
      address = via.maddr;
      port = via.port ?? 5060;
    } else if (typeof via.rport === 'number') {
      address = via.received ?? via.host;
      port = via.rport;
    } else {
      address = via.received ?? via.host;
      port = via.port ?? 5060;
    }
    this.core.sendRequestBytes(serialize(res), { target: { protocol, address: stripBrackets(address), port } }, ignoreError);
  }

  /** A connection closed: calls from it are cancelled, branches on it are lost (§16.10 in spirit; RFC 5626 §5.3). */
  onFlowClosed(flow: Flow): void {
    const set = this.byFlow.get(flow.id);
    if (set === undefined) return;
    this.byFlow.delete(flow.id);
    for (const ctx of [...set]) ctx.onFlowClosed(flow);
  }
}

/** §22.3: the Proxy-Authorization value for our realm (a request may carry several, one per proxy). */
function proxyCredentials(req: SipRequest, realm: string): string | undefined {
  for (const h of req.headers) {
    if (h.name === 'proxy-authorization' && parseDigestParams(h.value)?.get('realm') === realm) return h.value;
  }
  return undefined;
}

