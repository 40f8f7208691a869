/**
 * Non-INVITE server transaction: RFC 3261 §17.2.2, Figure 8.
 *
 * Departure: §17.2.2 puts no bound on the Trying and Proceeding states; a TU
 * that never answers would keep the transaction forever. After the request
 * was handed to the TU without a final response, an abandon timer of 64·T1
 * (the client has given up by its Timer F) terminates it and tells the TU.
 *
 * A TU that can answer a retransmission itself (§8.2.7) ends the transaction
 * with respondStateless(): over UDP it terminates on sending the final
 * response instead of waiting out Timer J in Completed.
 */
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { TimerName } from './timer-queue.js';
import { ServerTransactionBase, type TransitionTable } from './transaction.js';

export type NistState = 'trying' | 'proceeding' | 'completed' | 'terminated';

export type NistEvent =
  | 'request'
  | '1xx from TU'
  | '200-699 from TU'
  | 'timer J'
  | 'transport error'
  | 'abandon timer';

export type NistAction =
  | 'absorb'
  | 'send response'
  | 'resend response'
  | 'inform TU of transport error'
  | 'inform TU of abandonment'
  | 'none';

/** RFC 3261 Figure 8. */
export const NIST_TABLE: TransitionTable<NistState, NistEvent, NistAction> = {
  trying: {
    // §17.2.2: once in Trying, any further request retransmissions are discarded
    request: { to: 'trying', action: 'absorb' },
    // §17.2.2: a provisional response from the TU moves the machine to Proceeding
    '1xx from TU': { to: 'proceeding', action: 'send response' },
    // §17.2.2: a final response from the TU moves it to Completed
    '200-699 from TU': { to: 'completed', action: 'send response' },
    'abandon timer': { to: 'terminated', action: 'inform TU of abandonment' },
  },
  proceeding: {
    // §17.2.2: a retransmission in Proceeding gets the most recent provisional response
    request: { to: 'proceeding', action: 'resend response' },
    '1xx from TU': { to: 'proceeding', action: 'send response' },
    '200-699 from TU': { to: 'completed', action: 'send response' },
    // §17.2.4: a transport error moves the machine to Terminated and informs the TU
    'transport error': { to: 'terminated', action: 'inform TU of transport error' },
    'abandon timer': { to: 'terminated', action: 'inform TU of abandonment' },
  },
  completed: {
    // §17.2.2: a retransmission in Completed gets the final response again;
    // other responses from the TU are discarded (no entry)
    request: { to: 'completed', action: 'resend response' },
    'transport error': { to: 'terminated', action: 'inform TU of transport error' },
    // §17.2.2: Timer J (64·T1 unreliable, 0 reliable) ends Completed
    'timer J': { to: 'terminated', action: 'none' },
  },
  terminated: {},
};

export class NonInviteServerTransaction extends ServerTransactionBase {
  readonly kind = 'nist' as const;
  state: NistState = 'trying';

  /** the TU's final response may be regenerated (respondStateless): no wait in Completed */
  private stateless = false;

  respond(res: SipResponse): void {
    this.respondWith(res, undefined);
  }

  /** `bytes`: the response already serialized (respondStateless), else serialized when sent */
  private respondWith(res: SipResponse, bytes: Buffer | undefined): void {
    this.fire(res.status < 200 ? '1xx from TU' : '200-699 from TU', res, bytes);
  }

  override respondStateless(res: SipResponse, bytes?: Buffer): void {
    // only a final response accepted in this state ends the transaction early
    if (res.status >= 200 && (this.state === 'trying' || this.state === 'proceeding')) this.stateless = true;
    this.respondWith(res, bytes);
  }

  receiveRequest(_req: SipRequest): void {
    this.fire('request', undefined);
  }

  onTimer(name: TimerName): void {
    if (name === 'J') this.fire('timer J', undefined);
    else if (name === 'Abandon') this.fire('abandon timer', undefined);
  }

  protected transportError(): void {
    this.fire('transport error', undefined);
  }

  /** Arms the abandon timer; the layer calls it when the TU returned from onRequest without a final response. */
  armAbandonTimer(): void {
    if (this.state === 'trying' || this.state === 'proceeding') this.startStateTimer('Abandon', this.timerValues.F);
  }

  private fire(event: NistEvent, res: SipResponse | undefined, bytes?: Buffer): void {
    const t = NIST_TABLE[this.state][event];
    if (t === undefined) {
      if (res !== undefined) this.host.counters.responsesDiscarded++;
      return;
    }
    const from = this.state;
    this.state = t.to;
    switch (t.action) {
      case 'send response':
        if (!this.sendResponse(res!, bytes)) this.sendFailed = true;
        break;
      case 'resend response':
        if (!this.resendResponse()) this.sendFailed = true;
        break;
      case 'inform TU of transport error':
        this.informTu('transport error');
        break;
      case 'inform TU of abandonment':
        this.host.counters.abandoned++;
        this.informTu('abandoned');
        break;
      case 'absorb':
      case 'none':
        break;
    }
    if (this.sendFailed) {
      this.sendFailed = false;
      this.fire('transport error', undefined);
    }
    if (this.state === t.to && t.to !== from) this.enter(t.to);
  }

  private enter(state: NistState): void {
    if (state === 'completed') {
      // §17.2.2: Timer J, 64·T1 on unreliable transports, zero on reliable ones
      const j = this.timerValues.J;
      if (j === 0) this.fire('timer J', undefined);
      else if (this.stateless) {
        // §8.2.7: the TU answers a retransmission itself, as a stateless UAS would
        this.host.counters.endedStateless++;
        this.fire('timer J', undefined);
      } else if (this.retire()) {
        // the layer answers retransmissions from here on (completed-cache.ts); this object is done
      } else {
        this.shedForWait();
        this.startStateTimer('J', j);
      }
    } else if (state === 'terminated') {
      this.cancelTimers();
      this.host.remove(this);
      this.releaseMessages();
    }
  }
}
