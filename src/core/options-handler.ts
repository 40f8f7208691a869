/**
 * OPTIONS addressed to this server (RFC 3261 §11.2): 200 OK listing what we
 * allow, support and accept. OPTIONS for someone else goes to the next handler.
 */
import { createResponse } from '../sip/response.js';
import type { SipRequest } from '../sip/message.js';
import type { RequestHandler, ServerTx } from './sip-core.js';
import type { LocalIdentity } from './local-identity.js';
import { isSipUri } from '../sip/uri.js';

export interface Capabilities {
  allow: readonly string[];
  supported: readonly string[];
  accept: readonly string[];
}

export class OptionsHandler implements RequestHandler {
  constructor(
    private readonly identity: LocalIdentity,
    private readonly capabilities: () => Capabilities,
    private readonly next: RequestHandler,
  ) {}

  onRequest(req: SipRequest, tx: ServerTx): void {
    const uri = req.requestUri();
    // §11: an OPTIONS whose Request-URI names this server (no user part, or one of our hosts without a user) is ours
    const toUs = !!uri && isSipUri(uri) && this.identity.isLocalHost(uri.host, uri.port) && (uri.user === undefined || uri.user === '');
    const routeToUs = !req.has('route');
    if (!(toUs && routeToUs)) {
      this.next.onRequest(req, tx);
      return;
    }
    const c = this.capabilities();
    tx.respond(
      createResponse(req, 200, {
        headers: [
          ['Allow', c.allow.join(', ')],
          ['Supported', c.supported.join(', ')],
          ['Accept', c.accept.join(', ')],
        ],
      }),
    );
  }
}

/** Answers every request with 501 until a handler for its method exists (§8.2.1: 405 is for methods we know but refuse here). */
export class NotImplementedHandler implements RequestHandler {
  onRequest(req: SipRequest, tx: ServerTx): void {
    if (req.method === 'ACK') return;
    tx.respond(createResponse(req, 501));
  }
}
