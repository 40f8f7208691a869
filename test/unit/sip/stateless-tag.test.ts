/** statelessTag (§8.2.7): the same To tag for every retransmission of a request, another for any other request. */
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../src/sip/parser.js';
import { statelessTag } from '../../../src/sip/response.js';
import type { SipRequest } from '../../../src/sip/message.js';

function request(o: { branch?: string; callId?: string; fromTag?: string; cseq?: number } = {}): SipRequest {
  const r = parseMessage(
    Buffer.from(
      [
        'REGISTER sip:example.test SIP/2.0',
        `Via: SIP/2.0/UDP 127.0.0.1:5062;branch=${o.branch ?? 'z9hG4bK-t-1'};rport`,
        `From: <sip:alice@example.test>;tag=${o.fromTag ?? 'a1'}`,
        'To: <sip:alice@example.test>',
        `Call-ID: ${o.callId ?? 't-1'}`,
        `CSeq: ${o.cseq ?? 7} REGISTER`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      'latin1',
    ),
  );
  if (!r.ok || !r.message.isRequest) throw new Error('fixture does not parse');
  return r.message as SipRequest;
}

describe('statelessTag (RFC 3261 §8.2.7, §19.3)', () => {
  it('is the same for two copies of one request, 16 hex digits', () => {
    const t = statelessTag(request());
    expect(t).toMatch(/^[0-9a-f]{16}$/);
    expect(statelessTag(request())).toBe(t);
  });

  it('differs when the branch, Call-ID, From tag or CSeq differ', () => {
    const t = statelessTag(request());
    const others = [request({ branch: 'z9hG4bK-t-2' }), request({ callId: 't-2' }), request({ fromTag: 'a2' }), request({ cseq: 8 })].map(statelessTag);
    for (const o of others) expect(o).not.toBe(t);
    expect(new Set(others).size).toBe(others.length);
  });

  it('spreads: 10,000 requests get 10,000 tags', () => {
    const tags = new Set<string>();
    for (let i = 0; i < 10_000; i++) tags.add(statelessTag(request({ branch: `z9hG4bK-${i}`, callId: `c${i}` })));
    expect(tags.size).toBe(10_000);
  });
});
