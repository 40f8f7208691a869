/**
 * INVITE server transaction: RFC 3261 §17.2.1, Figure 7, as updated by
 * RFC 6026 §7.1 (Figure 7 there): a 2xx from the TU moves the machine to
 * Accepted, where INVITE retransmissions are absorbed, 2xx retransmissions
 * from the TU pass through, ACKs go to the TU, and Timer L ends it.
 *
 * The 100 Trying of §17.2.1 is sent when the TU has sent no response 200 ms
 * after the request was handed to it.
 *
 * A transport error in Accepted informs the TU and leaves the state as it is
 * (RFC 6026 §8.8).
 */
import type { SipRequest, SipResponse } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import type { TimerName } from './timer-queue.js';
import { ServerTransactionBase, type TransitionTable } from './transaction.js';

export type IstState = 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

export type IstEvent =
  | 'INVITE'
  | 'ACK'
  | '1xx from TU'
  | '2xx from TU'
  | '300-699 from TU'
  | 'Trying timer'
  | 'timer G'
  | 'timer H'
  | 'timer I'
  | 'timer L'
  | 'transport error';

export type IstAction =
  | 'send response'
  | 'resend response'
  | 'send 100 Trying'
  | 'retransmit response'
  | 'pass ACK to TU'
  | 'inform TU of timeout'
  | 'inform TU of transport error'
  | 'absorb'
  | 'none';

/** RFC 3261 Figure 7 with RFC 6026 §7.1. */
export const IST_TABLE: TransitionTable<IstState, IstEvent, IstAction> = {
  proceeding: {
    // §17.2.1: a retransmission in Proceeding gets the most recent provisional response
    INVITE: { to: 'proceeding', action: 'resend response' },
    // §17.2.1: provisional responses from the TU are sent, the state does not change
    '1xx from TU': { to: 'proceeding', action: 'send response' },
    // RFC 6026 §8.5: a 2xx from the TU is sent once and the machine enters Accepted
    '2xx from TU': { to: 'accepted', action: 'send response' },
    // §17.2.1: a 300-699 from the TU is sent and the machine enters Completed
    '300-699 from TU': { to: 'completed', action: 'send response' },
    // §17.2.1: 100 Trying unless the TU answers within 200 ms
    'Trying timer': { to: 'proceeding', action: 'send 100 Trying' },
    // §17.2.4
    'transport error': { to: 'terminated', action: 'inform TU of transport error' },
  },
  completed: {
    // §17.2.1: a retransmission in Completed gets the final response again
    INVITE: { to: 'completed', action: 'resend response' },
    // §17.2.1: an ACK in Completed moves the machine to Confirmed
    ACK: { to: 'confirmed', action: 'none' },
    // §17.2.1: Timer G retransmits the final response, doubling up to T2
    'timer G': { to: 'completed', action: 'retransmit response' },
    // §17.2.1: Timer H: no ACK came; Terminated, and the TU is told
    'timer H': { to: 'terminated', action: 'inform TU of timeout' },
    'transport error': { to: 'terminated', action: 'inform TU of transport error' },
  },
  confirmed: {
    // §17.2.1: Confirmed absorbs further ACKs (and INVITE retransmissions)
    ACK: { to: 'confirmed', action: 'absorb' },
    INVITE: { to: 'confirmed', action: 'absorb' },
    // §17.2.1: Timer I (T4 unreliable, 0 reliable) ends Confirmed
    'timer I': { to: 'terminated', action: 'none' },
  },
  accepted: {
    // RFC 6026 §7.1: INVITE retransmissions are absorbed, not passed to the TU
    INVITE: { to: 'accepted', action: 'absorb' },
    // RFC 6026 §7.1: an ACK (for the 2xx) goes to the TU
    ACK: { to: 'accepted', action: 'pass ACK to TU' },
    // RFC 6026 §8.7: 2xx retransmissions from the TU are sent
    '2xx from TU': { to: 'accepted', action: 'send response' },
    // RFC 6026 §8.8: a transport error informs the TU; the state does not change
    'transport error': { to: 'accepted', action: 'inform TU of transport error' },
    // RFC 6026 §7.1: Timer L ends Accepted
    'timer L': { to: 'terminated', action: 'none' },
  },
  terminated: {},
};

export class InviteServerTransaction extends ServerTransactionBase {
  readonly kind = 'ist' as const;
  state: IstState = 'proceeding';
  /** current Timer G interval */
  private g = 0;

  respond(res: SipResponse): void {
    const s = res.status;
    this.fire(s < 200 ? '1xx from TU' : s < 300 ? '2xx from TU' : '300-699 from TU', res, undefined);
  }

  receiveRequest(req: SipRequest): void {
    this.fire(req.method === 'ACK' ? 'ACK' : 'INVITE', undefined, req);
  }

  onTimer(name: TimerName): void {
    switch (name) {
      case 'Trying':
        this.retransmitTimer = null;
        this.fire('Trying timer', undefined, undefined);
        break;
      case 'G':
        this.retransmitTimer = null;
        this.fire('timer G', undefined, undefined);
        break;
      case 'H':
        this.fire('timer H', undefined, undefined);
        break;
      case 'I':
        this.fire('timer I', undefined, undefined);
        break;
      case 'L':
        this.fire('timer L', undefined, undefined);
        break;
      default:
        break;
    }
  }

  protected transportError(): void {
    this.fire('transport error', undefined, undefined);
  }

  /** Arms the 200 ms 100 Trying timer; the layer calls it when the TU returned from onRequest without responding. */
  armTryingTimer(): void {
    if (this.state === 'proceeding' && this.lastResponse === undefined) this.startRetransmitTimer('Trying', this.timerValues.trying);
  }

  private fire(event: IstEvent, res: SipResponse | undefined, req: SipRequest | undefined): void {
    const t = IST_TABLE[this.state][event];
    if (t === undefined) {
      if (res !== undefined) this.host.counters.responsesDiscarded++;
      return;
    }
    const from = this.state;
    this.state = t.to;
    switch (t.action) {
      case 'send response':
        // a response from the TU makes the 100 Trying unnecessary
        this.retransmitTimer = this.host.timers.cancel(this.retransmitTimer);
        if (!this.sendResponse(res!)) this.sendFailed = true;
        break;
      case 'resend response':
        if (!this.resendResponse()) this.sendFailed = true;
        break;
      case 'send 100 Trying':
        if (this.lastResponse === undefined && !this.sendResponse(createResponse(this.request, 100))) this.sendFailed = true;
        break;
      case 'retransmit response':
        if (!this.resendResponse()) this.sendFailed = true;
        else {
          // §17.2.1: Timer G is reset to MIN(2·G, T2)
          this.g = Math.min(2 * this.g, this.timerValues.T2);
          this.startRetransmitTimer('G', this.g);
        }
        break;
      case 'pass ACK to TU':
        if (this.host.user.onAck) this.host.user.onAck(req!, this.flow, this);
        else this.host.counters.strayAcks++;
        break;
      case 'inform TU of timeout':
        this.host.counters.timeouts++;
        this.informTu('timeout');
        break;
      case 'inform TU of transport error':
        this.informTu('transport error');
        break;
      case 'absorb':
      case 'none':
        break;
    }
    if (this.sendFailed) {
      this.sendFailed = false;
      this.fire('transport error', undefined, undefined);
    }
    if (this.state === t.to && t.to !== from) this.enter(t.to);
  }

  private enter(state: IstState): void {
    const v = this.timerValues;
    switch (state) {
      case 'completed':
        // §17.2.1: Timer G (unreliable only) and Timer H (64·T1, all transports)
        if (v.G !== null) {
          this.g = v.G;
          this.startRetransmitTimer('G', v.G);
        }
        this.startStateTimer('H', v.H);
        break;
      case 'confirmed':
        // §17.2.1: Timer G stops; Timer I is T4 unreliable, 0 reliable
        this.retransmitTimer = this.host.timers.cancel(this.retransmitTimer);
        this.stateTimer = this.host.timers.cancel(this.stateTimer);
        if (v.I === 0) this.fire('timer I', undefined, undefined);
        else this.startStateTimer('I', v.I);
        break;
      case 'accepted':
        // RFC 6026 §7.1: Timer L, 64·T1
        this.startStateTimer('L', v.L);
        break;
      case 'terminated':
        this.cancelTimers();
        this.host.remove(this);
        break;
      case 'proceeding':
        break;
    }
  }
}
