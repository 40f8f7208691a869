/**
 * The receive path (DESIGN.md: transport → sip → core → transaction → app).
 *
 * Every message from every transport enters here once: it is parsed, its
 * Via is stamped with received/rport (RFC 3261 §18.2.1, RFC 3581), it is
 * validated, and it is handed to exactly one place: the request handler
 * registered for its method, the fallback handler, or the response path.
 * Faults become a 400-class answer when the request can be answered, or are
 * dropped and counted; nothing from the network can throw out of here.
 */
import type { Logger } from '../util/logger.js';
import type { HotCount, Metrics } from '../util/metrics.js';
import type { Clock } from '../util/clock.js';
import { SbError } from '../util/errors.js';
import { parseMessage, type ParseLimits } from '../sip/parser.js';
import { SipRequest, SipResponse, type AnyMessage } from '../sip/message.js';
import { validateRequest, validateResponse } from '../sip/validate.js';
import { createResponse, type ResponseOptions } from '../sip/response.js';
import { serialize } from '../sip/serializer.js';
import { formatVia } from '../sip/header-values.js';
import type { Flow, Target, TransportSink, TransportProtocol, Transport } from '../transport/transport.js';

/** The side of a server transaction a request handler answers through. */
export interface ServerTx {
  readonly request: SipRequest;
  readonly flow: Flow;
  respond(res: SipResponse): void;
  /** A final response the handler would give again to a retransmission, `bytes` its serialization when written early (see ServerTransaction.respondStateless). */
  respondStateless(res: SipResponse, bytes?: Buffer): void;
  /**
   * The handler answers, if at all, with respondStateless() and recognises
   * retransmissions itself: no transaction need be kept for the request
   * (ServerTransaction.keepNoState).
   */
  keepNoState?(): void;
}

export interface RequestHandler {
  onRequest(req: SipRequest, tx: ServerTx): void;
}

/** Where requests and responses go once they are parsed and valid (the transaction layer, or the stateless path). */
export interface MessageDispatcher {
  receiveRequest(req: SipRequest, flow: Flow): void;
  receiveResponse(res: SipResponse, flow: Flow): void;
}

export interface CoreOptions {
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  limits?: Partial<ParseLimits>;
}

export class SipCore implements TransportSink {
  private readonly handlers = new Map<string, RequestHandler>();
  private fallbackHandler: RequestHandler | null = null;
  private dispatcher: MessageDispatcher;
  private readonly transports = new Map<TransportProtocol, Transport>();
  /** every transport, several per protocol possible (transports keeps the first of each) */
  private readonly allTransports: Transport[] = [];
  private readonly flowClosedListeners: Array<(flow: Flow) => void> = [];
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  private readonly limits: Partial<ParseLimits>;
  private readonly received;
  private readonly responseCounters = new Map<number, { inc(): void }>();
  private readonly sent;

  constructor(opts: CoreOptions) {
    this.logger = opts.logger;
    this.metrics = opts.metrics;
    this.clock = opts.clock;
    this.limits = opts.limits ?? {};
    this.dispatcher = new StatelessDispatcher(this);
    const protos: TransportProtocol[] = ['UDP', 'TCP', 'TLS', 'WS', 'WSS'];
    this.received = Object.fromEntries(
      protos.map((p) => [p, { request: opts.metrics.hot(opts.metrics.messagesReceived, p, 'request'), response: opts.metrics.hot(opts.metrics.messagesReceived, p, 'response') }]),
    ) as Record<TransportProtocol, { request: HotCount; response: HotCount }>;
    this.sent = Object.fromEntries(protos.map((p) => [p, opts.metrics.hot(opts.metrics.messagesSent, p)])) as Record<TransportProtocol, HotCount>;
  }

  /** Handler for one method (sipgo OnRegister; STYLE.md). */
  route(method: string, handler: RequestHandler): void {
    this.handlers.set(method, handler);
  }

  /** Handler for every method without its own route. */
  fallback(handler: RequestHandler): void {
    this.fallbackHandler = handler;
  }

  /** Replaces the stateless dispatcher by the transaction layer. */
  useDispatcher(d: MessageDispatcher): void {
    this.dispatcher = d;
  }

  addTransport(t: Transport): void {
    if (!this.transports.has(t.protocol)) this.transports.set(t.protocol, t);
    this.allTransports.push(t);
  }

  /** The open connection-oriented flow with this id, on any transport (RFC 5626: sending on a known flow). */
  flow(id: string): Flow | undefined {
    for (const t of this.allTransports) {
      const f = t.flow(id);
      if (f !== undefined) return f;
    }
    return undefined;
  }

  transport(protocol: TransportProtocol): Transport | undefined {
    return this.transports.get(protocol);
  }

  onFlowClosed(flow: Flow): void {
    for (const l of this.flowClosedListeners) l(flow);
  }

  addFlowClosedListener(l: (flow: Flow) => void): void {
    this.flowClosedListeners.push(l);
  }

  /** Test entry: feeds bytes as if a transport received them (fastify inject). */
  inject(data: Buffer, flow: Flow): void {
    this.onMessage(data, flow);
  }

  onMessage(data: Buffer, flow: Flow): void {
    let r;
    try {
      r = parseMessage(data, this.limits, flow.protocol === 'TCP' || flow.protocol === 'TLS');
    } catch (err) {
      // an internal fault in the parser must never take the server down
      this.logger.error({ err, flow: flow.id }, 'parser threw; message dropped');
      this.metrics.parseErrors.labels('SB_ERR_INTERNAL', 'dropped').inc();
      return;
    }
    if (!r.ok) {
      const answered = this.rejectUnparseable(r.error, r.message, flow, data);
      // on a byte stream, bytes we can neither parse nor answer mean the framing is no longer to be
      // trusted: close that connection only (a WebSocket message or a datagram delimits itself: dropping it is enough)
      if (!answered && (flow.protocol === 'TCP' || flow.protocol === 'TLS') && flow.close) {
        this.logger.info({ flow: flow.id, code: r.error.code }, 'closing connection after unanswerable input');
        flow.close();
      }
      return;
    }
    const msg = r.message;
    if (msg instanceof SipRequest) {
      this.received[flow.protocol].request.inc();
      this.receiveRequest(msg, flow);
    } else {
      this.received[flow.protocol].response.inc();
      const err = validateResponse(msg);
      if (err) {
        this.countDrop(err, flow, 'response');
        return;
      }
      this.dispatcher.receiveResponse(msg, flow);
    }
  }

  private receiveRequest(req: SipRequest, flow: Flow): void {
    const err = validateRequest(req);
    if (err) {
      this.rejectUnparseable(err, req, flow);
      return;
    }
    stampVia(req, flow);
    this.dispatcher.receiveRequest(req, flow);
  }

  /** Hands a new request to its handler (called by the dispatcher). */
  dispatchRequest(req: SipRequest, tx: ServerTx): void {
    const h = this.handlers.get(req.method) ?? this.fallbackHandler;
    if (!h) {
      if (req.method !== 'ACK') tx.respond(createResponse(req, 501));
      return;
    }
    try {
      h.onRequest(req, tx);
    } catch (err) {
      // RFC 3261 §21.5.1: an internal failure is a 500, never a crash
      this.logger.error({ err, method: req.method, callId: req.callId() }, 'request handler failed');
      if (req.method !== 'ACK') tx.respond(createResponse(req, 500));
    }
  }

  /** A 400-class answer for a request that can be answered; anything else is dropped and counted. */
  private rejectUnparseable(err: SbError, msg: AnyMessage | undefined, flow: Flow, data?: Buffer): boolean {
    const answerable =
      msg instanceof SipRequest &&
      msg.method !== 'ACK' &&
      msg.has('via') &&
      msg.has('from') &&
      msg.has('to') &&
      msg.has('call-id') &&
      msg.has('cseq');
    if (!answerable) {
      this.countDrop(err, flow, msg ? (msg.isRequest ? 'request' : 'response') : 'unknown', data);
      return false;
    }
    this.metrics.parseErrors.labels(err.code, 'answered').inc();
    this.logger.info({ code: err.code, reason: err.message, remote: `${flow.remoteAddress}:${flow.remotePort}`, transport: flow.protocol }, 'bad request answered');
    const res = createResponse(msg, err.status, { reason: err.reason });
    // the Via may be what is broken: answer to the source of the request
    this.sendBytes(serialize(res), flow);
    this.countResponse(err.status);
    return true;
  }

  private countDrop(err: SbError, flow: Flow, kind: string, data?: Buffer): void {
    this.metrics.parseErrors.labels(err.code, 'dropped').inc();
    this.logger.info(
      { code: err.code, reason: err.message, kind, remote: `${flow.remoteAddress}:${flow.remotePort}`, transport: flow.protocol, bytes: data?.length },
      'unparseable message dropped',
    );
  }

  /** Counts a response we send; label children are kept per status so the hot path does no label lookup. */
  private countResponse(status: number): void {
    let c = this.responseCounters.get(status);
    if (c === undefined) {
      c = this.metrics.hot(this.metrics.responsesSent, String(status));
      this.responseCounters.set(status, c);
    }
    c.inc();
  }

  sendBytes(bytes: Buffer, flow: Flow): boolean {
    const ok = flow.send(bytes);
    if (ok) this.sent[flow.protocol].inc();
    else this.metrics.sendErrors.labels(flow.protocol).inc();
    return ok;
  }

  /**
   * RFC 3261 §18.2.2 (with RFC 3581): where a response goes.
   * Reliable: back on the connection while it is open. Unreliable: to maddr
   * if present, else to the source address and, when rport was asked for, the
   * source port; otherwise to the received address at the Via's port.
   */
  sendResponse(res: SipResponse, flow: Flow, bytes: Buffer = serialize(res)): boolean {
    this.countResponse(res.status);
    if (flow.reliable) {
      if (!flow.closed) return this.sendBytes(bytes, flow);
      const via = res.topVia();
      const t = this.transports.get(flow.protocol);
      if (!via || !t) return false;
      // §18.2.2: the connection is gone; open a new one to received at the sent-by port
      const address = via.received ?? stripBrackets(via.host);
      const port = via.rport ?? via.port ?? (flow.protocol === 'TLS' ? 5061 : 5060);
      t.connect({ protocol: flow.protocol, address, port }).then(
        (f) => this.sendBytes(bytes, f),
        (err: Error) => {
          this.metrics.sendErrors.labels(flow.protocol).inc();
          this.logger.info({ err: err.message, to: `${address}:${port}` }, 'could not reopen a connection for a response');
        },
      );
      return true;
    }
    const via = res.topVia();
    if (!via || !flow.to) return this.sendBytes(bytes, flow);
    if (via.maddr) return this.sendBytes(bytes, flow.to(stripBrackets(via.maddr), via.port ?? 5060));
    if (typeof via.rport === 'number') return this.sendBytes(bytes, flow.to(via.received ?? flow.remoteAddress, via.rport));
    const address = via.received ?? stripBrackets(via.host);
    return this.sendBytes(bytes, flow.to(address, via.port ?? 5060));
  }

  /**
   * Sends request bytes on a flow, or towards a target over the transport of
   * its protocol (reusing an open connection, §18.1.1). A failure found
   * after returning (a connection refused) is reported through onError.
   */
  sendRequestBytes(bytes: Buffer, dest: { flow?: Flow; target?: Target }, onError: (err: Error) => void): boolean {
    if (dest.flow) {
      if (dest.flow.closed) return false;
      return this.sendBytes(bytes, dest.flow);
    }
    const target = dest.target;
    if (!target) return false;
    const t = this.transports.get(target.protocol);
    if (!t) return false;
    t.connect(target).then(
      (flow) => {
        if (!this.sendBytes(bytes, flow)) onError(new Error('send failed'));
      },
      (err: Error) => {
        this.metrics.sendErrors.labels(target.protocol).inc();
        onError(err);
      },
    );
    return true;
  }

  /** Builds and sends a response statelessly (§8.2.6 + §18.2.2). */
  reply(req: SipRequest, flow: Flow, status: number, opts?: ResponseOptions): SipResponse {
    const res = createResponse(req, status, opts);
    this.sendResponse(res, flow);
    return res;
  }
}

function stripBrackets(h: string): string {
  return h.charCodeAt(0) === 0x5b ? h.slice(1, -1) : h;
}

/**
 * RFC 3261 §18.2.1: add `received` when the sent-by host differs from the
 * source address; RFC 3581 §4: fill in `rport` (and always `received`) when
 * the client asked for it.
 */
export function stampVia(req: SipRequest, flow: Flow): void {
  const via = req.topVia();
  if (!via) return;
  const src = flow.remoteAddress;
  const wantsRport = via.rport === null;
  const hostDiffers = stripBrackets(via.host).toLowerCase() !== src.toLowerCase();
  if (!wantsRport && !hostDiffers) return;
  if (hostDiffers || wantsRport) {
    via.params.set('received', src);
    via.received = src;
  }
  if (wantsRport) {
    via.params.set('rport', String(flow.remotePort));
    via.rport = flow.remotePort;
  }
  req.replaceTopVia(via, formatVia(via));
}

/** Until the transaction layer is wired in: requests are handed over with a transaction-less responder. */
class StatelessDispatcher implements MessageDispatcher {
  constructor(private readonly core: SipCore) {}

  receiveRequest(req: SipRequest, flow: Flow): void {
    const core = this.core;
    // without transactions every response is stateless
    const respond = (res: SipResponse, bytes?: Buffer): void => void core.sendResponse(res, flow, bytes);
    this.core.dispatchRequest(req, { request: req, flow, respond, respondStateless: respond });
  }

  receiveResponse(res: SipResponse, flow: Flow): void {
    this.core.logger.debug({ status: res.status, flow: flow.id }, 'stray response dropped');
  }
}
