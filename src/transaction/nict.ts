/**
 * Non-INVITE client transaction: RFC 3261 §17.1.2, Figure 6.
 *
 * Timer E retransmits on unreliable transports only, doubling up to T2 in
 * Trying and at T2 in Proceeding; Timer F (64·T1) gives the TU a 408;
 * Timer K (T4 unreliable, 0 reliable) absorbs final response retransmissions.
 */
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { TimerName } from './timer-queue.js';
import {
  ClientTransactionBase,
  type ClientDestination,
  type ClientTransactionUser,
  type TransactionHost,
  type TransitionTable,
} from './transaction.js';

export type NictState = 'trying' | 'proceeding' | 'completed' | 'terminated';

export type NictEvent = '1xx' | '200-699' | 'timer E' | 'timer F' | 'timer K' | 'transport error';

export type NictAction =
  | 'pass to TU'
  | 'retransmit request'
  | 'inform TU of timeout'
  | 'inform TU of transport error'
  | 'absorb'
  | 'none';

/** RFC 3261 Figure 6. */
export const NICT_TABLE: TransitionTable<NictState, NictEvent, NictAction> = {
  trying: {
    // §17.1.2.2: Timer E retransmits, then is reset to MIN(2·E, T2)
    'timer E': { to: 'trying', action: 'retransmit request' },
    // §17.1.2.2: Timer F: Terminated, and the TU is told of the timeout
    'timer F': { to: 'terminated', action: 'inform TU of timeout' },
    // §17.1.4
    'transport error': { to: 'terminated', action: 'inform TU of transport error' },
    // §17.1.2.2: a provisional response moves the machine to Proceeding
    '1xx': { to: 'proceeding', action: 'pass to TU' },
    // §17.1.2.2: a final response moves it to Completed
    '200-699': { to: 'completed', action: 'pass to TU' },
  },
  proceeding: {
    // §17.1.2.2: in Proceeding, Timer E retransmits and is reset to T2
    'timer E': { to: 'proceeding', action: 'retransmit request' },
    'timer F': { to: 'terminated', action: 'inform TU of timeout' },
    'transport error': { to: 'terminated', action: 'inform TU of transport error' },
    '1xx': { to: 'proceeding', action: 'pass to TU' },
    '200-699': { to: 'completed', action: 'pass to TU' },
  },
  completed: {
    // §17.1.2.2: Completed buffers response retransmissions
    '1xx': { to: 'completed', action: 'absorb' },
    '200-699': { to: 'completed', action: 'absorb' },
    // §17.1.2.2: Timer K (T4 unreliable, 0 reliable) ends Completed
    'timer K': { to: 'terminated', action: 'none' },
  },
  terminated: {},
};

export class NonInviteClientTransaction extends ClientTransactionBase {
  readonly kind = 'nict' as const;
  state: NictState = 'trying';
  /** current Timer E interval */
  private e = 0;

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

  /** §17.1.2.2: the request is sent, Timer E (unreliable only) and Timer F are set. */
  start(): void {
    const v = this.timerValues;
    if (v.E !== null) {
      this.e = v.E;
      this.startRetransmitTimer('E', v.E);
    }
    // F takes the state slot; a failed first send replaces it with the 0 ms transport error
    this.startStateTimer('F', v.F);
    this.sendFirst();
  }

  receiveResponse(res: SipResponse): void {
    this.fire(res.status < 200 ? '1xx' : '200-699', res);
  }

  onTimer(name: TimerName): void {
    switch (name) {
      case 'E':
        this.retransmitTimer = null;
        this.fire('timer E', undefined);
        break;
      case 'F':
        this.fire('timer F', undefined);
        break;
      case 'K':
        this.fire('timer K', undefined);
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

  private fire(event: NictEvent, res: SipResponse | undefined): void {
    const t = NICT_TABLE[this.state][event];
    if (t === undefined) return;
    const from = this.state;
    this.state = t.to;
    switch (t.action) {
      case 'pass to TU':
        this.passResponse(res!);
        break;
      case 'retransmit request':
        this.host.counters.requestsRetransmitted++;
        if (!this.sendRequest(this.request, this.bytes)) this.sendFailed = true;
        else {
          // §17.1.2.2: MIN(2·E, T2) in Trying, T2 in Proceeding
          this.e = this.state === 'trying' ? Math.min(2 * this.e, this.timerValues.T2) : this.timerValues.T2;
          this.startRetransmitTimer('E', this.e);
        }
        break;
      case 'inform TU of timeout':
        this.passFailure('timeout');
        break;
      case 'inform TU of transport error':
        this.passFailure('transport error');
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

  private enter(state: NictState): void {
    switch (state) {
      case 'completed': {
        // §17.1.2.2: Timers E and F stop; Timer K is T4 unreliable, 0 reliable
        this.cancelTimers();
        const k = this.timerValues.K;
        if (k === 0) this.fire('timer K', undefined);
        else this.startStateTimer('K', k);
        break;
      }
      case 'terminated':
        this.cancelTimers();
        this.host.remove(this);
        this.user.onTerminated?.(this);
        break;
      case 'trying':
      case 'proceeding':
        break;
    }
  }
}
