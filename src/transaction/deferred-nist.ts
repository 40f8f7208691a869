/**
 * A non-INVITE server transaction that is created only once it has state
 * to keep (RFC 3261 §17.2.2 with §8.2.7).
 *
 * For the methods the layer is told to defer (the server: REGISTER), the TU
 * gets this stand-in instead of a NonInviteServerTransaction:
 *  - respondStateless() with a final response sends it as a stateless UAS
 *    would (§8.2.7): no transaction is created, filed or timed at all;
 *  - respond(), a provisional response, or the TU returning from onRequest
 *    without a final response creates the real transaction there and then
 *    (filed under its branch, in Trying) and hands it the response. That
 *    all happens before the next message is read, so no retransmission can
 *    arrive before the transaction that absorbs it exists;
 *  - keepNoState(): the TU answers later, if at all, with
 *    respondStateless(), and recognises the retransmissions that arrive
 *    meanwhile itself (the registrar absorbs them while its commit is
 *    pending, as Trying would, and says keepNoState() for those too). No
 *    transaction is created when onRequest returns; should the TU answer
 *    with respond() after all, that creates it.
 */
import type { SipRequest, SipResponse } from '../sip/message.js';
import { serialize } from '../sip/serializer.js';
import type { Flow } from '../transport/transport.js';
import type { NistState, NonInviteServerTransaction } from './nist.js';
import type { ServerTransaction, TransactionHost } from './transaction.js';

/** Creates and files the real transaction of a deferred request (the layer's addServer). */
export type CreateServerTransaction = () => NonInviteServerTransaction;

export class DeferredServerTransaction implements ServerTransaction {
  readonly kind = 'nist' as const;
  /** the real transaction, once created */
  private tx: NonInviteServerTransaction | undefined = undefined;
  /** a final response was sent without a transaction */
  private answered = false;
  /** the TU said keepNoState() */
  private promised = false;

  constructor(
    private readonly host: TransactionHost,
    readonly key: string,
    readonly request: SipRequest,
    readonly flow: Flow,
    private readonly create: CreateServerTransaction,
  ) {}

  get state(): NistState {
    if (this.tx !== undefined) return this.tx.state;
    return this.answered ? 'terminated' : 'trying';
  }

  get lastResponse(): SipResponse | undefined {
    return this.tx?.lastResponse;
  }

  respond(res: SipResponse): void {
    if (this.answered) {
      this.host.counters.responsesDiscarded++;
      return;
    }
    this.transaction().respond(res);
  }

  respondStateless(res: SipResponse, bytes?: Buffer): void {
    if (this.answered) {
      this.host.counters.responsesDiscarded++;
      return;
    }
    if (this.tx !== undefined || res.status < 200) {
      // a provisional response is an ordinary one (it needs the transaction to resend it)
      this.transaction().respondStateless(res, bytes);
      return;
    }
    this.answered = true;
    // §8.2.7: as a stateless UAS, nothing is kept; a retransmission is the TU's to recognise
    if (!this.flow.reliable) this.host.counters.endedStateless++;
    if (!this.host.sendResponse(res, bytes ?? serialize(res), this.flow, this)) this.reportTransportError();
  }

  keepNoState(): void {
    this.promised = true;
  }

  reportTransportError(): void {
    if (this.tx !== undefined) {
      this.tx.reportTransportError();
      return;
    }
    // §17.2.4: the TU hears of it, as from a transaction that sent this response
    this.host.counters.transportErrors++;
    this.host.logger?.debug({ tx: this.key, error: 'transport error' }, 'server transaction failed');
    this.host.user.onServerTransactionError?.(this, 'transport error');
  }

  /**
   * The layer calls this when onRequest returned: a request the TU neither
   * answered nor promised to answer statelessly gets its transaction now,
   * with the abandon timer of a transaction the TU has not answered.
   */
  settle(): void {
    if (this.tx === undefined && (this.answered || this.promised)) return;
    this.transaction().armAbandonTimer();
  }

  private transaction(): NonInviteServerTransaction {
    return (this.tx ??= this.create());
  }
}
