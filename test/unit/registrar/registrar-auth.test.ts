/**
 * RFC 3261 §10.3 steps 3 and 4 with a real DigestAuthenticator: the client's
 * response is computed with computeDigestResponse, as a phone would.
 */
import { describe, expect, it } from 'vitest';
import { parseDigestParams } from '../../../src/auth/digest-params.js';
import type { SipResponse } from '../../../src/sip/message.js';
import { authorization, fakeFlow, harness, registerText } from './support.js';

const AOR = 'sip:alice@example.com';

function challenges(res: SipResponse): Array<Map<string, string>> {
  return res.headers.filter((h) => h.name === 'www-authenticate').map((h) => parseDigestParams(h.value)!);
}

/** The challenge value of the 401 for one algorithm. */
function challengeFor(res: SipResponse, algorithm: 'MD5' | 'SHA-256'): string {
  const h = res.headers.find((x) => x.name === 'www-authenticate' && parseDigestParams(x.value)!.get('algorithm') === algorithm);
  if (!h) throw new Error(`no ${algorithm} challenge`);
  return h.value;
}

describe('RFC 3261 §10.3 step 3: digest authentication of REGISTER', () => {
  it('401 SB_ERR_REG_AUTH_REQUIRED with two challenges (SHA-256 then MD5), realm = the To domain', async () => {
    const h = harness({ auth: true });
    const res = await h.send(registerText());
    expect(res.status).toBe(401);
    const ch = challenges(res);
    expect(ch.map((c) => c.get('algorithm'))).toEqual(['SHA-256', 'MD5']);
    expect(ch.map((c) => c.get('realm'))).toEqual(['example.com', 'example.com']);
    expect(ch.every((c) => c.get('qop') === 'auth' && !c.has('stale'))).toBe(true);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_AUTH_REQUIRED');
    expect(h.store.count()).toBe(0);
  });

  for (const algorithm of ['SHA-256', 'MD5'] as const) {
    it(`REGISTER → 401 → REGISTER with ${algorithm} credentials → 200`, async () => {
      const h = harness({ auth: true });
      const r401 = await h.send(registerText({ cseq: 1 }));
      const cred = authorization(challengeFor(r401, algorithm));
      const res = await h.send(registerText({ cseq: 2, extra: [`Authorization: ${cred}`] }));
      expect(res.status).toBe(200);
      expect(h.store.lookup(AOR, h.clock.now())).toHaveLength(1);
      expect(h.metrics.registrations).toBe(1);
    });
  }

  it('picks the Authorization of our realm among several', async () => {
    const h = harness({ auth: true });
    const r401 = await h.send(registerText());
    const ours = authorization(challengeFor(r401, 'SHA-256'));
    const theirs = ours.replace('realm="example.com"', 'realm="other.net"');
    const res = await h.send(registerText({ cseq: 2, extra: [`Authorization: ${theirs}`, `Authorization: ${ours}`] }));
    expect(res.status).toBe(200);
  });

  it('a stale nonce with the right password → 401 SB_ERR_REG_AUTH_STALE with stale=true', async () => {
    const h = harness({ auth: true });
    const r401 = await h.send(registerText());
    h.clock.advance(61_000); // past the 60 s nonce lifetime
    const res = await h.send(registerText({ cseq: 2, extra: [`Authorization: ${authorization(challengeFor(r401, 'SHA-256'))}`] }));
    expect(res.status).toBe(401);
    expect(challenges(res).map((c) => c.get('stale'))).toEqual(['true', 'true']);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_AUTH_STALE');
    // the fresh nonce works
    const ok = await h.send(registerText({ cseq: 3, extra: [`Authorization: ${authorization(challengeFor(res, 'SHA-256'))}`] }));
    expect(ok.status).toBe(200);
  });

  it('a wrong password → 403 SB_ERR_REG_AUTH_FAILED, logged at warn with username and source', async () => {
    const h = harness({ auth: true });
    const r401 = await h.send(registerText());
    const res = await h.send(
      registerText({ cseq: 2, extra: [`Authorization: ${authorization(challengeFor(r401, 'MD5'), { password: 'guess' })}`] }),
    );
    expect(res.status).toBe(403);
    expect(res.reason).toBe('Forbidden');
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_AUTH_FAILED');
    expect(h.store.count()).toBe(0);
    const warn = h.logs.find((l) => l.level === 40);
    expect(warn).toMatchObject({ code: 'SB_ERR_REG_AUTH_FAILED', username: 'alice', source: '192.0.2.10' });
  });

  it('an unknown user → 403 SB_ERR_REG_AUTH_FAILED', async () => {
    const h = harness({ auth: true });
    const r401 = await h.send(registerText({ to: 'sip:mallory@example.com' }));
    const cred = authorization(challengeFor(r401, 'SHA-256'), { username: 'mallory' });
    const res = await h.send(registerText({ to: 'sip:mallory@example.com', cseq: 2, extra: [`Authorization: ${cred}`] }));
    expect(res.status).toBe(403);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_AUTH_FAILED');
  });

  it('credentials that cannot be checked (forged nonce, malformed) get a fresh 401 SB_ERR_REG_AUTH_INVALID', async () => {
    const h = harness({ auth: true });
    const r401 = await h.send(registerText());
    const forged = authorization(challengeFor(r401, 'SHA-256')).replace(/nonce="[^"]+"/, `nonce="${'A'.repeat(43)}"`);
    const res = await h.send(registerText({ cseq: 2, extra: [`Authorization: ${forged}`] }));
    expect(res.status).toBe(401);
    expect(challenges(res)).toHaveLength(2);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_AUTH_INVALID');
    const res2 = await h.send(registerText({ cseq: 3, extra: ['Authorization: Digest username="alice"'] }));
    expect(res2.status).toBe(401);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_AUTH_INVALID');
  });

  it('after too many failures from one source → 403 SB_ERR_REG_AUTH_RATE_LIMITED, even with the right password', async () => {
    const h = harness({ auth: { maxFailures: 3 } });
    const r401 = await h.send(registerText());
    const ch = challengeFor(r401, 'SHA-256');
    for (let i = 0; i < 3; i++) {
      const res = await h.send(registerText({ cseq: 2 + i, extra: [`Authorization: ${authorization(ch, { password: 'guess', nc: i + 1 })}`] }));
      expect(res.status).toBe(403);
    }
    const res = await h.send(registerText({ cseq: 9, extra: [`Authorization: ${authorization(ch, { nc: 9 })}`] }));
    expect(res.status).toBe(403);
    expect(res.reason).toBe('Too Many Failed Attempts');
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_AUTH_RATE_LIMITED');
    // another source is not locked out
    const other = fakeFlow({ remoteAddress: '198.51.100.20' });
    const ok = await h.send(registerText({ cseq: 10, extra: [`Authorization: ${authorization(ch, { nc: 10 })}`] }), other);
    expect(ok.status).toBe(200);
  });
});

describe('RFC 3261 §10.3 step 4: authorization for the AOR', () => {
  it('403 SB_ERR_REG_THIRD_PARTY when the authenticated user registers someone else', async () => {
    const h = harness({ auth: true });
    const r401 = await h.send(registerText({ to: 'sip:alice@example.com' }));
    const cred = authorization(challengeFor(r401, 'SHA-256'), { username: 'bob', password: 'builder' });
    const res = await h.send(registerText({ to: 'sip:alice@example.com', cseq: 2, extra: [`Authorization: ${cred}`] }));
    expect(res.status).toBe(403);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_THIRD_PARTY');
    expect(h.store.count()).toBe(0);
  });

  it('with auth off, any To of a served domain may be registered', async () => {
    const h = harness({ auth: false });
    expect((await h.send(registerText({ to: 'sip:bob@example.com' }))).status).toBe(200);
  });
});
