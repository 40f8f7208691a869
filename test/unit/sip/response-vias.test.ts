/** createResponse (§8.2.6.2) copies the Via lines, and the response takes over the request's parsed Via values. */
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../src/sip/parser.js';
import { createResponse } from '../../../src/sip/response.js';
import type { SipRequest } from '../../../src/sip/message.js';
import { serialize } from '../../../src/sip/serializer.js';
import { formatVia, parseVia } from '../../../src/sip/header-values.js';

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

describe('replaceTopVia (the core stamping received and rport, §18.2.1, RFC 3581)', () => {
  it('rewrites the top Via line and keeps the parsed values: nothing is parsed again', () => {
    const req = request();
    const vias = req.vias()!;
    const top = vias[0]!;
    top.params.set('received', '198.51.100.7');
    top.received = '198.51.100.7';
    req.replaceTopVia(top, formatVia(top));
    expect(req.vias()).toBe(vias);
    expect(req.getAll('via')[0]).toContain('received=198.51.100.7');
    expect(req.getAll('via')).toHaveLength(2);
    // the kept values are those a fresh parse of the new text gives
    const again = parseMessage(serialize(req));
    if (!again.ok) throw new Error('stamped request does not parse');
    expect(again.message.vias()).toEqual(vias);
  });

  it('parses again when the value given is not the parsed top Via', () => {
    const req = request();
    const vias = req.vias()!;
    const other = parseVia('SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-other')!;
    req.replaceTopVia(other, formatVia(other));
    expect(req.vias()).not.toBe(vias);
    expect(req.vias()?.map((v) => v.host)).toEqual(['192.0.2.1', 'edge.example.test']);
  });

  it('on a line holding two Via values, only the first changes', () => {
    const r = parseMessage(
      Buffer.from(
        'OPTIONS sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bK-a;rport, SIP/2.0/UDP 192.0.2.6;branch=z9hG4bK-b\r\nFrom: <sip:a@example.test>;tag=1\r\nTo: <sip:b@example.test>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n',
        'latin1',
      ),
    );
    if (!r.ok) throw new Error('fixture does not parse');
    const req = r.message;
    const vias = req.vias()!;
    vias[0]!.rport = 5099;
    vias[0]!.params.set('rport', '5099');
    req.replaceTopVia(vias[0]!, formatVia(vias[0]!));
    expect(req.vias()).toBe(vias);
    expect(req.getAll('via')).toEqual(['SIP/2.0/UDP 192.0.2.5;branch=z9hG4bK-a;rport=5099', 'SIP/2.0/UDP 192.0.2.6;branch=z9hG4bK-b']);
  });
});
