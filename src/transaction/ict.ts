/**
 * INVITE client transaction: RFC 3261 §17.1.1, Figure 5, as updated by
 * RFC 6026 §7.2 (Figure 5 there): a 2xx moves the machine to Accepted, where
 * every further 2xx (retransmissions, other forks) is passed to the TU until
 * Timer M ends it. The transaction never ACKs a 2xx: the TU does (§13.2.2.4).
 *
 * For a 300-699 the transaction builds the ACK itself (§17.1.1.3), once, and
 * resends the same bytes for each retransmission of that response.
 *
 * Timer B only matters in Calling (§17.1.1.2): it stops with Timer A on the
 * first provisional response. A proxy's Timer C (§16.8) belongs to its TU.
 */
import { SipRequest, type SipResponse } from '../sip/message.js';
import { serialize } from '../sip/serializer.js';
import type { TimerName } from './timer-queue.js';
import {
  ClientTransactionBase,
  type ClientDestination,
  type ClientTransactionUser,
  type TransactionHost,
  type TransitionTable,
} from './transaction.js';

export type IctState = 'calling' | 'proceeding' | 'completed' | 'accepted' | 'terminated';

export type IctEvent = '1xx' | '2xx' | '300-699' | 'timer A' | 'timer B' | 'timer D' | 'timer M' | 'transport error';

export type IctAction =
  | 'pass to TU'
  | 'send ACK, pass to TU'
  | 'resend ACK'
  | 'retransmit request'
  | 'inform TU of timeout'
  | 'inform TU of transport error'
  | 'none';

/** RFC 3261 Figure 5 with RFC 6026 §7.2. */
export const ICT_TABLE: TransitionTable<IctState, IctEvent, IctAction> = {
  calling: {
    // §17.1.1.2: Timer A retransmits the INVITE and doubles
    'timer A': { to: 'calling', action: 'retransmit request' },
    // §17.1.1.2: Timer B in Calling: Terminated, and the TU is told of the timeout
    'timer B': { to: 'terminated', action: 'inform TU of timeout' },
    // §17.1.4
    'transport error': { to: 'terminated', action: 'inform TU of transport error' },
    // §17.1.1.2: a provisional response moves the machine to Proceeding
    '1xx': { to: 'proceeding', action: 'pass to TU' },
    // RFC 6026 §7.2: a 2xx is passed up and the machine enters Accepted
    '2xx': { to: 'accepted', action: 'pass to TU' },
    // §17.1.1.2: a 300-699 is ACKed, passed up, and the machine enters Completed
    '300-699': { to: 'completed', action: 'send ACK, pass to TU' },
  },
  proceeding: {
    '1xx': { to: 'proceeding', action: 'pass to TU' },
    '2xx': { to: 'accepted', action: 'pass to TU' },
    '300-699': { to: 'completed', action: 'send ACK, pass to TU' },
  },
  completed: {
    // §17.1.1.2: a retransmitted 300-699 gets the ACK again and is not passed up
    '300-699': { to: 'completed', action: 'resend ACK' },
    // §17.1.1.2: Timer D (≥ 32 s unreliable, 0 reliable) ends Completed
    'timer D': { to: 'terminated', action: 'none' },
    // §17.1.1.2: a transport error sending the ACK: Terminated
    'transport error': { to: 'terminated', action: 'inform TU of transport error' },
  },
  accepted: {
    // RFC 6026 §7.2: every 2xx (retransmission or another fork) is passed to the TU
    '2xx': { to: 'accepted', action: 'pass to TU' },
    // RFC 6026 §7.2: Timer M ends Accepted
    'timer M': { to: 'terminated', action: 'none' },
  },
  terminated: {},
};

export class InviteClientTransaction extends ClientTransactionBase {
  readonly kind = 'ict' as const;
  state: IctState = 'calling';
  /** current Timer A interval */
  private a = 0;
  /** the ACK for the first non-2xx final response, and its bytes (§17.1.1.3) */
  ack: SipRequest | undefined = undefined;
  private ackBytes: Buffer | undefined = undefined;

  constructor(
    host: TransactionHost,
    key: string,
    request: SipRequest,
    bytes: Buffer,
    destination: ClientDestination,
    user: ClientTransactionUser,
  ) {
    super(host, key, request, bytes, destination, user);
  }

  /** §17.1.1.2: the INVITE is sent, Timer A (unreliable only) and Timer B are set. */
  start(): void {
    const v = this.timerValues;
    if (v.A !== null) {
      this.a = v.A;
      this.startRetransmitTimer('A', v.A);
    }
    this.startStateTimer('B', v.B);
    this.sendFirst();
  }

  receiveResponse(res: SipResponse): void {
    const s = res.status;
    this.fire(s < 200 ? '1xx' : s < 300 ? '2xx' : '300-699', res);
  }

  onTimer(name: TimerName): void {
    switch (name) {
      case 'A':
        this.retransmitTimer = null;
        this.fire('timer A', undefined);
        break;
      case 'B':
        this.fire('timer B', undefined);
        break;
      case 'D':
        this.fire('timer D', undefined);
        break;
      case 'M':
        this.fire('timer M', undefined);
        break;
      case 'TransportError':
        this.fire('transport error', undefined);
        break;
      default:
        break;
    }
  }

  protected transportError(): void {
    this.fire('transport error', undefined);
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.enter('terminated');
  }

  private fire(event: IctEvent, res: SipResponse | undefined): void {
    const t = ICT_TABLE[this.state][event];
    if (t === undefined) return;
    const from = this.state;
    this.state = t.to;
    switch (t.action) {
      case 'pass to TU':
        this.passResponse(res!);
        break;
      case 'send ACK, pass to TU':
        this.ack = buildAck(this.request, res!);
        this.ackBytes = serialize(this.ack);
        if (!this.sendRequest(this.ack, this.ackBytes)) this.sendFailed = true;
        this.passResponse(res!);
        break;
      case 'resend ACK':
        if (!this.sendRequest(this.ack!, this.ackBytes!)) this.sendFailed = true;
        break;
      case 'retransmit request':
        this.host.counters.requestsRetransmitted++;
        if (!this.sendRequest(this.request, this.bytes)) this.sendFailed = true;
        else {
          // §17.1.1.2: Timer A is reset to 2·A
          this.a *= 2;
          this.startRetransmitTimer('A', this.a);
        }
        break;
      case 'inform TU of timeout':
        this.passFailure('timeout');
        break;
      case 'inform TU of transport error':
        this.passFailure('transport error');
        break;
      case 'none':
        break;
    }
    if (this.sendFailed) {
      this.sendFailed = false;
      this.fire('transport error', undefined);
    }
    if (this.state === t.to && t.to !== from) this.enter(t.to);
  }

  private enter(state: IctState): void {
    const v = this.timerValues;
    switch (state) {
      case 'proceeding':
        // §17.1.1.2: no retransmissions in Proceeding; Timer B only applies in Calling
        this.cancelTimers();
        break;
      case 'completed':
        // §17.1.1.2: Timer D, ≥ 32 s unreliable, 0 reliable
        this.cancelTimers();
        if (v.D === 0) this.fire('timer D', undefined);
        else this.startStateTimer('D', v.D);
        break;
      case 'accepted':
        // RFC 6026 §7.2: Timer M, 64·T1
        this.cancelTimers();
        this.startStateTimer('M', v.M);
        break;
      case 'terminated':
        this.cancelTimers();
        this.host.remove(this);
        this.user.onTerminated?.(this);
        break;
      case 'calling':
        break;
    }
  }
}

/**
 * §17.1.1.3: the ACK for a non-2xx final response: Request-URI, Call-ID,
 * From and the CSeq number of the original request, method ACK; To from the
 * response; only the top Via of the original; its Route headers.
 * Max-Forwards is copied too (§8.1.1 makes it mandatory), 70 if absent.
 */
export function buildAck(invite: SipRequest, res: SipResponse): SipRequest {
  const ack = new SipRequest('ACK', invite.uri);
  const topVia = invite.getAll('via')[0];
  if (topVia !== undefined) ack.append('via', topVia);
  ack.append('max-forwards', invite.get('max-forwards') ?? '70');
  for (const h of invite.headers) if (h.name === 'route') ack.append('route', h.value);
  const from = invite.get('from');
  if (from !== undefined) ack.append('from', from);
  const to = res.get('to');
  if (to !== undefined) ack.append('to', to);
  const callId = invite.callId();
  if (callId !== undefined) ack.append('call-id', callId);
  ack.append('cseq', `${invite.cseq()?.seq ?? 0} ACK`);
  return ack;
}
