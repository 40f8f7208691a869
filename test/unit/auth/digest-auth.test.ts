import { describe, expect, it } from 'vitest';
import {
  DigestAuthenticator,
  FailureLimiter,
  computeDigestResponse,
  type DigestAuthenticatorOptions,
  type UserCredentials,
} from '../../../src/auth/digest-auth.js';
import { formatDigestParams, parseDigestParams, type DigestParam } from '../../../src/auth/digest-params.js';
import { ManualClock } from '../../../src/util/clock.js';
import { ha1 } from '../../../src/util/digest-hash.js';

const REALM = 'example.com';
const URI = 'sip:example.com';
const SOURCE = '192.0.2.10';

function setup(over: Partial<DigestAuthenticatorOptions> = {}) {
  const clock = new ManualClock();
  const users = new Map<string, UserCredentials>();
  const addUser = (name: string, password: string, enabled = true): void => {
    users.set(name, {
      ha1Md5: ha1('MD5', name, REALM, password),
      ha1Sha256: ha1('SHA-256', name, REALM, password),
      enabled,
    });
  };
  addUser('alice', 'wonderland');
  const auth = new DigestAuthenticator({
    clock,
    secret: Buffer.alloc(32, 1),
    nonceTtlMs: 60_000,
    lookup: (u, r) => (r === REALM ? users.get(u) : undefined),
    maxFailures: 3,
    failureWindowMs: 10_000,
    lockoutMs: 30_000,
    ...over,
  });
  return { clock, auth, addUser };
}

interface CredOpts {
  username?: string;
  password?: string;
  realm?: string;
  algorithm?: 'MD5' | 'SHA-256' | 'MD5-sess' | 'SHA-256-sess';
  omitAlgorithm?: boolean;
  qop?: 'auth' | 'auth-int' | null;
  nc?: number;
  cnonce?: string;
  method?: string;
  uri?: string;
  opaque?: string | null;
  body?: Buffer;
}

/** Builds an Authorization header value as a client would, from a challenge value. */
function credentials(challenge: string, o: CredOpts = {}): string {
  const ch = parseDigestParams(challenge)!;
  const username = o.username ?? 'alice';
  const realm = o.realm ?? ch.get('realm')!;
  const algorithm = o.algorithm ?? (ch.get('algorithm') as CredOpts['algorithm']) ?? 'MD5';
  const hash = algorithm.startsWith('SHA-256') ? 'SHA-256' : 'MD5';
  const nonce = ch.get('nonce')!;
  const qop = o.qop === null ? undefined : (o.qop ?? 'auth');
  const nc = (o.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = o.cnonce ?? 'c0ffee';
  const uri = o.uri ?? URI;
  const response = computeDigestResponse({
    algorithm,
    ha1: ha1(hash, username, realm, o.password ?? 'wonderland'),
    nonce,
    method: o.method ?? 'REGISTER',
    uri,
    qop,
    nc: qop ? nc : undefined,
    cnonce: qop ? cnonce : undefined,
    body: o.body,
  });
  const params: DigestParam[] = [
    ['username', username, true],
    ['realm', realm, true],
    ['nonce', nonce, true],
    ['uri', uri, true],
    ['response', response, true],
  ];
  if (!o.omitAlgorithm) params.push(['algorithm', algorithm, false]);
  if (qop) params.push(['qop', qop, false], ['nc', nc, false], ['cnonce', cnonce, true]);
  const opaque = o.opaque === null ? undefined : (o.opaque ?? ch.get('opaque'));
  if (opaque !== undefined) params.push(['opaque', opaque, true]);
  return formatDigestParams(params);
}

describe('DigestAuthenticator.challenge', () => {
  it('offers SHA-256 then MD5 with qop=auth, sharing one nonce and opaque', () => {
    const { auth } = setup();
    const c = auth.challenge(REALM);
    expect(c.header).toBe('WWW-Authenticate');
    expect(c.values).toHaveLength(2);
    const [sha, md5] = c.values.map((v) => parseDigestParams(v)!);
    expect(sha!.get('algorithm')).toBe('SHA-256');
    expect(md5!.get('algorithm')).toBe('MD5');
    for (const p of [sha!, md5!]) {
      expect(p.get('realm')).toBe(REALM);
      expect(p.get('qop')).toBe('auth');
      expect(p.get('opaque')).toBeTruthy();
      expect(p.has('stale')).toBe(false);
    }
    expect(sha!.get('nonce')).toBe(md5!.get('nonce'));
    expect(c.values[0]).toMatch(/^Digest realm="example\.com", nonce="[^"]+", opaque="[^"]+", algorithm=SHA-256, qop="auth"$/);
  });

  it('uses Proxy-Authenticate for a proxy and marks stale', () => {
    const { auth } = setup();
    const c = auth.challenge(REALM, { proxy: true, stale: true });
    expect(c.header).toBe('Proxy-Authenticate');
    for (const v of c.values) expect(parseDigestParams(v)!.get('stale')).toBe('true');
  });

  it('issues a fresh nonce per challenge', () => {
    const { auth } = setup();
    const n1 = parseDigestParams(auth.challenge(REALM).values[0]!)!.get('nonce');
    const n2 = parseDigestParams(auth.challenge(REALM).values[0]!)!.get('nonce');
    expect(n1).not.toBe(n2);
  });
});

describe('DigestAuthenticator.verify', () => {
  const verify = (auth: DigestAuthenticator, authorization: string | undefined, extra: { source?: string; method?: string; body?: Buffer } = {}) =>
    auth.verify({ method: extra.method ?? 'REGISTER', authorization, realm: REALM, source: extra.source ?? SOURCE, body: extra.body });

  it.each([0, 1])('accepts correct credentials for challenge %i (SHA-256, MD5)', (idx) => {
    const { auth } = setup();
    const ch = auth.challenge(REALM).values[idx]!;
    const res = verify(auth, credentials(ch));
    expect(res).toEqual({ ok: true, username: 'alice', algorithm: idx === 0 ? 'SHA-256' : 'MD5' });
  });

  it.each(['MD5-sess', 'SHA-256-sess'] as const)('accepts %s', (algorithm) => {
    const { auth } = setup();
    const ch = auth.challenge(REALM).values[0]!;
    expect(verify(auth, credentials(ch, { algorithm }))).toMatchObject({ ok: true, algorithm });
  });

  it('defaults to MD5 when algorithm is absent', () => {
    const { auth } = setup();
    const ch = auth.challenge(REALM).values[1]!;
    expect(verify(auth, credentials(ch, { omitAlgorithm: true }))).toMatchObject({ ok: true, algorithm: 'MD5' });
    const ch2 = auth.challenge(REALM).values[0]!;
    // A SHA-256 response without algorithm= is checked as MD5 and fails (wrong length).
    expect(verify(auth, credentials(ch2, { omitAlgorithm: true, algorithm: 'SHA-256' }))).toMatchObject({ ok: false });
  });

  it('accepts the RFC 2617 no-qop form, once per nonce', () => {
    const { auth } = setup();
    const ch = auth.challenge(REALM).values[1]!;
    const h = credentials(ch, { qop: null });
    expect(verify(auth, h)).toMatchObject({ ok: true, username: 'alice' });
    expect(verify(auth, h)).toMatchObject({ ok: false, reason: 'stale' });
  });

  it('accepts qop=auth-int over the body and refuses a changed body', () => {
    const { auth } = setup();
    const ch = auth.challenge(REALM).values[0]!;
    const body = Buffer.from('v=0\r\n');
    expect(verify(auth, credentials(ch, { qop: 'auth-int', body }), { body })).toMatchObject({ ok: true });
    const ch2 = auth.challenge(REALM).values[0]!;
    expect(verify(auth, credentials(ch2, { qop: 'auth-int', body }), { body: Buffer.from('v=1\r\n') })).toMatchObject({
      ok: false,
      reason: 'bad-response',
    });
  });

  it('missing and malformed', () => {
    const { auth } = setup({ maxFailures: 100 });
    expect(verify(auth, undefined)).toEqual({ ok: false, reason: 'missing' });
    expect(verify(auth, '  ')).toEqual({ ok: false, reason: 'missing' });
    expect(verify(auth, 'Basic YWxpY2U6eA==')).toMatchObject({ reason: 'malformed' });
    expect(verify(auth, 'Digest realm="example.com"')).toMatchObject({ reason: 'malformed' });
    const ch = auth.challenge(REALM).values[0]!;
    const good = credentials(ch);
    expect(verify(auth, good.replace(/, uri="[^"]*"/, ''))).toMatchObject({ reason: 'malformed', username: 'alice' });
    expect(verify(auth, good.replace('algorithm=SHA-256', 'algorithm=SHA-1'))).toMatchObject({ reason: 'malformed' });
    expect(verify(auth, good.replace('nc=00000001', 'nc=1'))).toMatchObject({ reason: 'malformed' });
    expect(verify(auth, good.replace('nc=00000001', 'nc=00000000'))).toMatchObject({ reason: 'malformed' });
    expect(verify(auth, good.replace(/, cnonce="[^"]*"/, ''))).toMatchObject({ reason: 'malformed' });
    expect(verify(auth, good.replace('qop=auth', 'qop=bogus'))).toMatchObject({ reason: 'malformed' });
    expect(verify(auth, good.replace(/response="[0-9a-f]+"/, 'response="abc"'))).toMatchObject({ reason: 'malformed' });
    expect(verify(auth, `${good}, userhash=true`)).toMatchObject({ reason: 'malformed' });
    // And the untouched header still works.
    expect(verify(auth, good)).toMatchObject({ ok: true });
  });

  it('wrong realm', () => {
    const { auth } = setup();
    const ch = auth.challenge(REALM).values[0]!;
    expect(verify(auth, credentials(ch, { realm: 'other.org' }))).toMatchObject({ ok: false, reason: 'wrong-realm' });
  });

  it('unknown user, wrong password, disabled user', () => {
    const { auth, addUser } = setup({ maxFailures: 100 });
    const ch = () => auth.challenge(REALM).values[0]!;
    expect(verify(auth, credentials(ch(), { username: 'mallory' }))).toEqual({
      ok: false,
      reason: 'unknown-user',
      username: 'mallory',
    });
    expect(verify(auth, credentials(ch(), { password: 'guess' }))).toEqual({
      ok: false,
      reason: 'bad-response',
      username: 'alice',
    });
    addUser('bob', 'pw', false);
    expect(verify(auth, credentials(ch(), { username: 'bob', password: 'pw' }))).toMatchObject({ reason: 'disabled' });
    // A disabled user with the wrong password is a plain bad response (no account-state leak).
    expect(verify(auth, credentials(ch(), { username: 'bob', password: 'x' }))).toMatchObject({ reason: 'bad-response' });
  });

  it('binds method and uri into the response', () => {
    const { auth } = setup();
    const ch = auth.challenge(REALM).values[0]!;
    expect(verify(auth, credentials(ch, { method: 'INVITE' }))).toMatchObject({ reason: 'bad-response' });
    expect(verify(auth, credentials(ch, { method: 'INVITE' }), { method: 'INVITE' })).toMatchObject({ ok: true });
  });

  it('refuses a tampered nonce, a nonce of another realm or server, and a wrong opaque', () => {
    const { auth } = setup({ maxFailures: 100 });
    const ch = auth.challenge(REALM).values[0]!;
    const nonce = parseDigestParams(ch)!.get('nonce')!;
    const tampered = ch.replace(nonce, nonce.slice(0, 5) + (nonce[5] === 'x' ? 'y' : 'x') + nonce.slice(6));
    expect(verify(auth, credentials(tampered))).toMatchObject({ ok: false, reason: 'bad-response', detail: 'invalid nonce' });

    const otherRealmCh = auth.challenge('other.org').values[0]!;
    expect(verify(auth, credentials(otherRealmCh, { realm: REALM }))).toMatchObject({ reason: 'bad-response' });

    const other = new DigestAuthenticator({ clock: new ManualClock(), secret: Buffer.alloc(32, 2), lookup: () => undefined });
    expect(verify(auth, credentials(other.challenge(REALM).values[0]!))).toMatchObject({ reason: 'bad-response' });

    expect(verify(auth, credentials(auth.challenge(REALM).values[0]!, { opaque: 'nope' }))).toMatchObject({
      reason: 'bad-response',
    });
    // Omitting opaque is tolerated.
    expect(verify(auth, credentials(auth.challenge(REALM).values[0]!, { opaque: null }))).toMatchObject({ ok: true });
  });

  it('reports stale for an expired nonce with a correct response, bad-response with a wrong one', () => {
    const { auth, clock } = setup();
    const ch = auth.challenge(REALM).values[0]!;
    clock.advance(60_001);
    expect(verify(auth, credentials(ch))).toMatchObject({ ok: false, reason: 'stale', username: 'alice' });
    expect(verify(auth, credentials(ch, { password: 'nope' }))).toMatchObject({ ok: false, reason: 'bad-response' });
    // The fresh challenge works.
    expect(verify(auth, credentials(auth.challenge(REALM, { stale: true }).values[0]!))).toMatchObject({ ok: true });
  });

  it('refuses a replayed nc and accepts the next one', () => {
    const { auth } = setup();
    const ch = auth.challenge(REALM).values[0]!;
    const first = credentials(ch, { nc: 1 });
    expect(verify(auth, first)).toMatchObject({ ok: true });
    expect(verify(auth, first)).toMatchObject({ ok: false, reason: 'replay', username: 'alice' });
    expect(verify(auth, credentials(ch, { nc: 2 }))).toMatchObject({ ok: true });
    expect(verify(auth, credentials(ch, { nc: 2, cnonce: 'other' }))).toMatchObject({ reason: 'replay' });
    expect(verify(auth, credentials(ch, { nc: 1 }))).toMatchObject({ reason: 'replay' });
    expect(verify(auth, credentials(ch, { nc: 10 }))).toMatchObject({ ok: true });
  });

  it('locks a source out after maxFailures failures and lifts the lockout after lockoutMs', () => {
    const { auth, clock } = setup(); // maxFailures 3, window 10 s, lockout 30 s
    const bad = () => credentials(auth.challenge(REALM).values[0]!, { password: 'guess' });
    const good = () => credentials(auth.challenge(REALM).values[0]!);
    expect(verify(auth, bad())).toMatchObject({ reason: 'bad-response' });
    expect(verify(auth, bad())).toMatchObject({ reason: 'bad-response' });
    expect(verify(auth, bad())).toMatchObject({ reason: 'bad-response' });
    // Now every attempt, even a correct one or none at all, is refused.
    expect(verify(auth, good())).toEqual({ ok: false, reason: 'rate-limited' });
    expect(verify(auth, undefined)).toEqual({ ok: false, reason: 'rate-limited' });
    expect(auth.isRateLimited(SOURCE)).toBe(true);
    // Other sources are unaffected.
    expect(verify(auth, good(), { source: '198.51.100.1' })).toMatchObject({ ok: true });
    clock.advance(29_999);
    expect(verify(auth, good())).toMatchObject({ reason: 'rate-limited' });
    clock.advance(1);
    expect(verify(auth, good())).toMatchObject({ ok: true });
    expect(auth.isRateLimited(SOURCE)).toBe(false);
  });

  it('forgets failures outside the window', () => {
    const { auth, clock } = setup();
    const bad = () => credentials(auth.challenge(REALM).values[0]!, { password: 'guess' });
    verify(auth, bad());
    verify(auth, bad());
    clock.advance(10_000);
    verify(auth, bad());
    verify(auth, bad());
    expect(verify(auth, credentials(auth.challenge(REALM).values[0]!))).toMatchObject({ ok: true });
  });

  it('counts unknown users and malformed credentials, but not stale, missing or replayed ones', () => {
    const { auth, clock } = setup();
    const ch = auth.challenge(REALM).values[0]!;
    const first = credentials(ch);
    expect(verify(auth, first)).toMatchObject({ ok: true });
    for (let i = 0; i < 5; i++) {
      expect(verify(auth, first)).toMatchObject({ reason: 'replay' });
      expect(verify(auth, undefined)).toMatchObject({ reason: 'missing' });
    }
    const old = auth.challenge(REALM).values[0]!;
    clock.advance(60_001);
    for (let i = 0; i < 5; i++) expect(verify(auth, credentials(old, { nc: i + 1 }))).toMatchObject({ reason: 'stale' });
    expect(auth.isRateLimited(SOURCE)).toBe(false);

    verify(auth, credentials(auth.challenge(REALM).values[0]!, { username: 'nobody' }));
    verify(auth, 'Digest garbage');
    expect(auth.isRateLimited(SOURCE)).toBe(false);
    verify(auth, credentials(auth.challenge(REALM).values[0]!, { username: 'nobody2' }));
    expect(auth.isRateLimited(SOURCE)).toBe(true);
  });

  it('a success clears earlier failures', () => {
    const { auth } = setup();
    const bad = () => credentials(auth.challenge(REALM).values[0]!, { password: 'guess' });
    verify(auth, bad());
    verify(auth, bad());
    expect(verify(auth, credentials(auth.challenge(REALM).values[0]!))).toMatchObject({ ok: true });
    verify(auth, bad());
    verify(auth, bad());
    expect(auth.isRateLimited(SOURCE)).toBe(false);
  });
});

describe('FailureLimiter', () => {
  it('is bounded and drops expired sources first', () => {
    const clock = new ManualClock();
    const l = new FailureLimiter({ clock, maxFailures: 2, windowMs: 1_000, lockoutMs: 5_000, maxEntries: 3 });
    l.fail('a');
    l.fail('a'); // locked
    l.fail('b');
    l.fail('c');
    expect(l.size).toBe(3);
    l.fail('d'); // full: evicts the oldest unlocked ('b'), keeps the locked 'a'
    expect(l.size).toBe(3);
    expect(l.isLocked('a')).toBe(true);
    clock.advance(1_000);
    l.fail('e'); // 'c' and 'd' windows expired: dropped
    expect(l.size).toBe(2);
    expect(l.isLocked('a')).toBe(true);
    clock.advance(4_000);
    expect(l.isLocked('a')).toBe(false);
  });
});
