/** createResponse (§8.2.6.2) copies the Via lines, and the response takes over the request's parsed Via values. */
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../src/sip/parser.js';
import { createResponse } from '../../../src/sip/response.js';
import type { SipRequest } from '../../../src/sip/message.js';

function request(): SipRequest {
  const r = parseMessage(
    Buffer.from(
      [
        'REGISTER sip:example.test SIP/2.0',
        'Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-v-1;rport=5062;received=192.0.2.9',
        'Via: SIP/2.0/TCP edge.example.test;branch=z9hG4bK-v-0',
        'From: <sip:alice@example.test>;tag=a1',
        'To: <sip:alice@example.test>',
        'Call-ID: v-1',
        'CSeq: 7 REGISTER',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      'latin1',
    ),
  );
  if (!r.ok || !r.message.isRequest) throw new Error('fixture does not parse');
  return r.message;
}

describe('a response built from a request', () => {
  it('shares the parsed Via values the request already has', () => {
    const req = request();
    const vias = req.vias();
    const res = createResponse(req, 200);
    expect(res.vias()).toBe(vias);
    expect(res.topVia()?.rport).toBe(5062);
    expect(res.topVia()?.received).toBe('192.0.2.9');
  });

  it('parses its own Via lines when the request had not parsed them, to the same values', () => {
    const req = request();
    const res = createResponse(req, 200);
    expect(res.vias()).toEqual(request().vias());
  });

  it('parses again once its Via lines change', () => {
    const req = request();
    req.vias();
    const res = createResponse(req, 200);
    res.shift('via');
    expect(res.vias()?.map((v) => v.host)).toEqual(['edge.example.test']);
    expect(req.vias()?.map((v) => v.host)).toEqual(['127.0.0.1', 'edge.example.test']);
  });

  it('a Via added through the extra headers is not hidden by the shared values', () => {
    const req = request();
    req.vias();
    const res = createResponse(req, 200, { headers: [['Via', 'SIP/2.0/UDP extra.example.test;branch=z9hG4bK-x']] });
    expect(res.vias()?.map((v) => v.host)).toEqual(['127.0.0.1', 'edge.example.test', 'extra.example.test']);
  });
});
