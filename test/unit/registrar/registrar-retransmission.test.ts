/**
 * A REGISTER's 200 ends its transaction at once (respondStateless, RFC 3261
 * §8.2.7), and the registrar recognises a retransmission of it by the
 * bindings it wrote: same branch, Call-ID, CSeq and source, within Timer F.
 */
import { describe, expect, it } from 'vitest';
import { parseDigestParams } from '../../../src/auth/digest-params.js';
import type { SipResponse } from '../../../src/sip/message.js';
import { serialize } from '../../../src/sip/serializer.js';
import { authorization, fakeFlow, harness, registerText, turn } from './support.js';

const AOR = 'sip:alice@example.com';
const VIA = 'SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-first';

/** Delivers the text and waits for the commit; the one response and whether it ended the transaction. */
async function exchange(h: ReturnType<typeof harness>, text: string, flow = h.udp): Promise<{ res: SipResponse; stateless: boolean }> {
  const tx = h.deliver(text, flow);
  await turn();
  expect(tx.responses).toHaveLength(1);
  return { res: tx.responses[0]!, stateless: tx.stateless[0]! };
}

describe('Registrar: the 200 of an add or refresh ends its transaction (§8.2.7)', () => {
  it('answers with respondStateless and marks the binding with the branch', async () => {
    const h = harness();
    const { res, stateless } = await exchange(h, registerText({ vias: [VIA] }));
    expect(res.status).toBe(200);
    expect(stateless).toBe(true);
    expect(h.store.get(AOR).map((b) => b.branch)).toEqual(['z9hG4bK-first']);
  });

  it('a retransmission (same branch, Call-ID, CSeq, source) gets the 200 again, listing the bindings as they are now, and changes nothing', async () => {
    const h = harness();
    const text = registerText({ vias: [VIA], cseq: 7, expires: 600 });
    const { res: first } = await exchange(h, text);
    const before = h.store.get(AOR)[0]!;
    const rows = h.rows();
    h.clock.advance(5_000);
    const again = await exchange(h, text);
    expect(again.res.status).toBe(200);
    expect(again.stateless).toBe(true);
    expect(again.res.getAll('contact')).toEqual(['<sip:alice@192.0.2.10:5060>;expires=595']);
    // §8.2.7: the same To tag for the same request
    expect(again.res.toTag()).toBe(first.toTag());
    expect(h.store.get(AOR)[0]).toBe(before);
    expect(h.rows()).toEqual(rows);
    expect(h.metrics.answered).toBe(1);
    expect(h.metrics.registrations).toBe(1);
    expect(h.metrics.failures).toEqual([]);
  });

  it('echoes the Path of the request again (RFC 3327 §5.3)', async () => {
    const h = harness();
    const text = registerText({ vias: [VIA], extra: ['Path: <sip:edge.example.com;lr>'] });
    await exchange(h, text);
    const again = await exchange(h, text);
    expect(again.res.getAll('path')).toEqual(['<sip:edge.example.com;lr>']);
  });

  it('is not a retransmission with another branch: the same Call-ID and CSeq are out of order (§10.3 step 7)', async () => {
    const h = harness();
    await exchange(h, registerText({ vias: [VIA], cseq: 7 }));
    const other = await exchange(h, registerText({ vias: ['SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-second'], cseq: 7 }));
    expect(other.res.status).toBe(400);
    expect(other.stateless).toBe(false);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_CSEQ_OUT_OF_ORDER');
    expect(h.metrics.answered).toBe(0);
  });

  it('is not a retransmission with another CSeq or Call-ID under the same branch, nor from another source', async () => {
    const h = harness();
    await exchange(h, registerText({ vias: [VIA], cseq: 7 }));
    expect((await exchange(h, registerText({ vias: [VIA], cseq: 6 }))).res.status).toBe(400);
    expect((await exchange(h, registerText({ vias: [VIA], cseq: 7 }), fakeFlow({ remotePort: 5999 }))).res.status).toBe(400);
    const otherCall = await exchange(h, registerText({ vias: [VIA], cseq: 7, callId: 'other-call' }));
    // a different Call-ID replaces the binding (§10.3 step 7): processed, not answered again
    expect(otherCall.res.status).toBe(200);
    expect(h.store.get(AOR)[0]!.callId).toBe('other-call');
    expect(h.metrics.answered).toBe(0);
  });

  it('says it keeps no transaction state for the REGISTER it will answer statelessly', async () => {
    const h = harness();
    const tx = h.deliver(registerText({ vias: [VIA] }));
    expect(tx.keptNoState).toBe(1);
    await turn();
    expect(tx.stateless).toEqual([true]);
  });

  it('hands over the 200 serialized before the commit wait, byte for byte what the response serializes to', async () => {
    const h = harness();
    const tx = h.deliver(registerText({ vias: [VIA] }));
    await turn();
    expect(tx.early[0]).toBeInstanceOf(Buffer);
    expect(tx.early[0]!.equals(serialize(tx.responses[0]!))).toBe(true);
  });

  it('a retransmission before the first copy\'s commit is absorbed (§17.2.2 Trying): no answer, nothing written; the 200 follows the commit', async () => {
    const h = harness();
    const text = registerText({ vias: [VIA], cseq: 7 });
    const first = h.deliver(text);
    const copy = h.deliver(text);
    // neither is answered before the binding is on disk
    expect(first.responses).toHaveLength(0);
    expect(copy.responses).toHaveLength(0);
    expect(copy.keptNoState).toBe(1);
    await turn();
    expect(first.responses.map((r) => r.status)).toEqual([200]);
    expect(copy.responses).toHaveLength(0);
    expect(h.rows()).toHaveLength(1);
    expect(h.metrics.registrations).toBe(1);
    expect(h.metrics.failures).toEqual([]);
    expect(h.metrics.answered).toBe(1);
    // after the commit a retransmission is answered again from the bindings
    const later = await exchange(h, text);
    expect(later.res.status).toBe(200);
    expect(later.res.toTag()).toBe(first.responses[0]!.toTag());
  });

  it('a REGISTER that keeps the wait (a removal) does not say keepNoState: its transaction absorbs the copies', async () => {
    const h = harness();
    await exchange(h, registerText({ cseq: 1 }));
    const removal = h.deliver(registerText({ cseq: 2, expires: 0 }));
    expect(removal.keptNoState).toBe(0);
  });

  it('is not recognised after Timer F (64·T1): the request is processed, and refused as out of order', async () => {
    const h = harness();
    const text = registerText({ vias: [VIA], cseq: 7 });
    await exchange(h, text);
    h.clock.advance(32_000);
    expect((await exchange(h, text)).res.status).toBe(200);
    h.clock.advance(1);
    expect((await exchange(h, text)).res.status).toBe(400);
    expect(h.metrics.answered).toBe(1);
  });

  it('the window follows the configured T1 (retransmissionWindowMs)', async () => {
    const h = harness({ registrar: { retransmissionWindowMs: 1_000 } });
    const text = registerText({ vias: [VIA] });
    await exchange(h, text);
    h.clock.advance(1_001);
    expect((await exchange(h, text)).res.status).toBe(400);
  });

  it('a query (no Contact) is answered statelessly: asked again, it is answered again', async () => {
    const h = harness();
    const { res, stateless } = await exchange(h, registerText({ contacts: [] }));
    expect(res.status).toBe(200);
    expect(stateless).toBe(true);
  });

  it('keeps the §17.2.2 wait for removals, "*", Outbound and refusals', async () => {
    const h = harness();
    await exchange(h, registerText({ cseq: 1, contacts: ['<sip:alice@192.0.2.10:5060>', '<sip:desk@192.0.2.11>'] }));
    const removal = await exchange(h, registerText({ cseq: 2, contacts: ['<sip:desk@192.0.2.11>;expires=0'] }));
    expect([removal.res.status, removal.stateless]).toEqual([200, false]);
    const mixed = await exchange(h, registerText({ cseq: 3, contacts: ['<sip:alice@192.0.2.10:5060>;expires=0', '<sip:desk@192.0.2.11>'] }));
    expect([mixed.res.status, mixed.stateless]).toEqual([200, false]);
    const star = await exchange(h, registerText({ cseq: 4, contacts: ['*'], expires: 0 }));
    expect([star.res.status, star.stateless]).toEqual([200, false]);
    const brief = await exchange(h, registerText({ cseq: 5, expires: 1 }));
    expect([brief.res.status, brief.stateless]).toEqual([423, false]);
    const outbound = await exchange(
      h,
      registerText({
        cseq: 6,
        contacts: ['<sip:alice@192.0.2.10:5060;ob>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-000000000001>";reg-id=1'],
        extra: ['Supported: outbound'],
      }),
    );
    expect([outbound.res.status, outbound.stateless]).toEqual([200, false]);
    expect(outbound.res.get('require')).toBe('outbound');
    expect(h.store.get(AOR).map((b) => b.branch)).toEqual([undefined]);
  });

  it('an RFC 2543 branch (no magic cookie) is not unique: the wait is kept', async () => {
    const h = harness();
    const { stateless } = await exchange(h, registerText({ vias: ['SIP/2.0/UDP 192.0.2.10:5060;branch=old-style-1'] }));
    expect(stateless).toBe(false);
  });
});

describe('Registrar: a retransmission of an authenticated REGISTER (§8.2.7 with §22)', () => {
  it('is answered again although its nonce count was used; the same credentials on a new request are a replay', async () => {
    const h = harness({ auth: true });
    const r401 = await exchange(h, registerText({ cseq: 1 }));
    expect(r401.stateless).toBe(true);
    const challenge = r401.res.headers.find((x) => x.name === 'www-authenticate' && parseDigestParams(x.value)!.get('algorithm') === 'MD5')!.value;
    const text = registerText({ vias: [VIA], cseq: 2, extra: [`Authorization: ${authorization(challenge)}`] });
    const first = await exchange(h, text);
    expect([first.res.status, first.stateless]).toEqual([200, true]);
    const again = await exchange(h, text);
    expect([again.res.status, again.stateless]).toEqual([200, true]);
    expect(h.metrics.answered).toBe(1);
    const replay = await exchange(h, text.replace('z9hG4bK-first', 'z9hG4bK-replayed').replace('CSeq: 2', 'CSeq: 3'));
    expect(replay.res.status).toBe(401);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_AUTH_INVALID');
  });
});

describe('Registrar: a 401 challenge is sent statelessly (§8.2.7)', () => {
  const md5 = (res: SipResponse): string =>
    res.headers.find((x) => x.name === 'www-authenticate' && parseDigestParams(x.value)!.get('algorithm') === 'MD5')!.value;

  it('a retransmitted REGISTER is challenged again with the same To tag and a fresh nonce; either nonce authenticates', async () => {
    const h = harness({ auth: true });
    const text = registerText({ vias: [VIA], cseq: 1 });
    const a = await exchange(h, text);
    const b = await exchange(h, text);
    expect([a.res.status, a.stateless, b.res.status, b.stateless]).toEqual([401, true, 401, true]);
    expect(a.res.toTag()).toMatch(/./);
    expect(b.res.toTag()).toBe(a.res.toTag());
    const nonce = (res: SipResponse): string => parseDigestParams(md5(res))!.get('nonce')!;
    expect(nonce(b.res)).not.toBe(nonce(a.res));
    for (const [i, r] of [a, b].entries()) {
      const retry = registerText({ vias: [`SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-retry${i}`], cseq: 2 + i, extra: [`Authorization: ${authorization(md5(r.res))}`] });
      expect((await exchange(h, retry)).res.status).toBe(200);
    }
  });

  it('a 403 (wrong password) keeps its transaction', async () => {
    const h = harness({ auth: true });
    const r401 = await exchange(h, registerText({ cseq: 1 }));
    const text = registerText({ vias: [VIA], cseq: 2, extra: [`Authorization: ${authorization(md5(r401.res), { password: 'wrong' })}`] });
    const r403 = await exchange(h, text);
    expect([r403.res.status, r403.stateless]).toEqual([403, false]);
  });
});
