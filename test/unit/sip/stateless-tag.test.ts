import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../src/sip/parser.js';
import { SipRequest } from '../../../src/sip/message.js';
import { createResponse, statelessTag } from '../../../src/sip/response.js';

function req(o: { branch?: string; callId?: string; fromTag?: string; cseq?: string } = {}): SipRequest {
  const text = [
    'REGISTER sip:example.com SIP/2.0',
    `Via: SIP/2.0/UDP 192.0.2.10:5060;branch=${o.branch ?? 'z9hG4bK-a'}`,
    'Max-Forwards: 70',
    `From: <sip:alice@example.com>;tag=${o.fromTag ?? 'f1'}`,
    'To: <sip:alice@example.com>',
    `Call-ID: ${o.callId ?? 'c1'}`,
    `CSeq: ${o.cseq ?? '1 REGISTER'}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const r = parseMessage(Buffer.from(text, 'latin1'));
  if (!r.ok || !(r.message instanceof SipRequest)) throw new Error('test request does not parse');
  return r.message;
}

describe('statelessTag (§8.2.7: the same tag for the same request)', () => {
  it('is the same for two copies of one request, and 16 hex digits', () => {
    expect(statelessTag(req())).toBe(statelessTag(req()));
    expect(statelessTag(req())).toMatch(/^[0-9a-f]{16}$/);
    expect(createResponse(req(), 200, { toTag: statelessTag(req()) }).toTag()).toBe(statelessTag(req()));
  });

  it('ends with the 32-bit FNV-1a hash of branch, Call-ID, From tag and CSeq as 8 hex digits (high bit set or not)', () => {
    const fnv = (h: number, s: string): number => {
      for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
      return Math.imul(h ^ 0xff, 0x01000193);
    };
    const seen = new Set<boolean>();
    for (let i = 0; i < 64; i++) {
      const o = { branch: `z9hG4bK-${i}`, callId: `call-${i}`, fromTag: `t${i}`, cseq: `${i + 1} REGISTER` };
      let h = 0x811c9dc5;
      for (const part of [o.branch, o.callId, o.fromTag, o.cseq]) h = fnv(h, part);
      expect(statelessTag(req(o)).slice(8)).toBe((h >>> 0).toString(16).padStart(8, '0'));
      seen.add(h >>> 0 >= 0x80000000);
    }
    // both halves of the range came up
    expect(seen.size).toBe(2);
  });

  it('differs when the branch, Call-ID, From tag or CSeq differs', () => {
    const base = statelessTag(req());
    for (const o of [{ branch: 'z9hG4bK-b' }, { callId: 'c2' }, { fromTag: 'f2' }, { cseq: '2 REGISTER' }]) {
      expect(statelessTag(req(o)), JSON.stringify(o)).not.toBe(base);
    }
  });

  it('starts with the same random prefix in this process, whatever the request', () => {
    const tags = [statelessTag(req()), statelessTag(req({ branch: 'z9hG4bK-x', callId: 'other' }))];
    expect(tags[0]!.slice(0, 8)).toBe(tags[1]!.slice(0, 8));
    expect(tags[0]).not.toBe(tags[1]);
  });
});
