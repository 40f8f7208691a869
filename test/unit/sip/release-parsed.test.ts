/** releaseParsed(): parsed header values are dropped and parsed again, equal, when asked for. */
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../src/sip/parser.js';

const REGISTER = Buffer.from(
  [
    'REGISTER sip:example.test SIP/2.0',
    'Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-rel-1;rport',
    'From: <sip:alice@example.test>;tag=a1',
    'To: <sip:alice@example.test>',
    'Call-ID: rel-1',
    'CSeq: 7 REGISTER',
    'Contact: <sip:alice@127.0.0.1:5062>;expires=60',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n'),
  'latin1',
);

describe('SipMessage.releaseParsed', () => {
  it('drops the cached typed values, which parse again to equal values', () => {
    const r = parseMessage(REGISTER);
    if (!r.ok) throw r.error;
    const m = r.message;
    const via = m.topVia();
    const contacts = m.contacts();
    expect(m.topVia()).toBe(via); // cached
    m.releaseParsed();
    const again = m.topVia();
    expect(again).not.toBe(via); // parsed anew
    expect(again).toEqual(via);
    expect(m.contacts()).toEqual(contacts);
    expect(m.cseq()).toEqual({ seq: 7, method: 'REGISTER' });
  });
});
