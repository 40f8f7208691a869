/**
 * Request validation after parsing (RFC 3261 §8.2.1–§8.2.2, §16.3, §20):
 * the mandatory headers are present and well formed, so the layers above
 * may rely on them. Returns the fault as a value, never throws.
 */
import { SbError } from '../util/errors.js';
import type { SipMessage, SipRequest, SipResponse } from './message.js';

const SIP_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/;

/** The headers every request must carry (§8.1.1). */
const MANDATORY = ['via', 'from', 'to', 'call-id', 'cseq'] as const;

function commonChecks(msg: SipMessage): SbError | null {
  for (const name of MANDATORY) {
    if (!msg.has(name)) return new SbError('SB_ERR_VALIDATE_MISSING_HEADER', name);
  }
  // §20: single-valued headers appearing twice make the message invalid
  for (const name of ['from', 'to', 'call-id', 'cseq', 'max-forwards', 'content-type', 'expires'] as const) {
    if (msg.countLines(name) > 1) return new SbError('SB_ERR_VALIDATE_HEADER', `more than one ${name}`);
  }
  const vias = msg.vias();
  if (vias === null || vias.length === 0) return new SbError('SB_ERR_VALIDATE_VIA');
  if (!msg.from()) return new SbError('SB_ERR_VALIDATE_FROM_TO', 'From');
  if (!msg.to()) return new SbError('SB_ERR_VALIDATE_FROM_TO', 'To');
  const callId = msg.callId()!;
  // §25.1: Call-ID = word [ "@" word ] — no whitespace
  if (callId.length === 0 || /[\s]/.test(callId)) return new SbError('SB_ERR_VALIDATE_CALL_ID');
  const cseq = msg.cseq();
  if (!cseq) return new SbError('SB_ERR_VALIDATE_CSEQ');
  if (msg.has('max-forwards') && msg.maxForwards() == null) return new SbError('SB_ERR_VALIDATE_MAX_FORWARDS');
  if (msg.has('expires') && msg.expires() == null) return new SbError('SB_ERR_VALIDATE_HEADER', 'Expires');
  if (msg.has('contact') && msg.contacts() === null) return new SbError('SB_ERR_VALIDATE_HEADER', 'Contact');
  const date = msg.get('date');
  // §20.17 / §25.1: SIP-date is an RFC 1123 date and always in GMT
  if (date !== undefined && !SIP_DATE.test(date)) return new SbError('SB_ERR_VALIDATE_HEADER', 'Date');
  if (msg.has('route') && msg.routes() === null) return new SbError('SB_ERR_VALIDATE_HEADER', 'Route');
  if (msg.has('record-route') && msg.recordRoutes() === null) return new SbError('SB_ERR_VALIDATE_HEADER', 'Record-Route');
  return null;
}

export function validateRequest(req: SipRequest): SbError | null {
  const uri = req.requestUri();
  if (uri === null) return new SbError('SB_ERR_PARSE_URI');
  const common = commonChecks(req);
  if (common) return common;
  // §8.1.1.5: the CSeq method matches the request method
  if (req.cseq()!.method !== req.method) return new SbError('SB_ERR_VALIDATE_CSEQ_METHOD');
  // §19.1.1: headers are not allowed in a Request-URI
  if ('headers' in uri && uri.headers.size > 0) return new SbError('SB_ERR_PARSE_URI', 'headers in Request-URI');
  // §8.2.2.1: a scheme we do not serve gets 416
  if (uri.scheme !== 'sip' && uri.scheme !== 'sips' && uri.scheme !== 'tel') return new SbError('SB_ERR_VALIDATE_URI_SCHEME', uri.scheme);
  return null;
}

export function validateResponse(res: SipResponse): SbError | null {
  return commonChecks(res);
}
