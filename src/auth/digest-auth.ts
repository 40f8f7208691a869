/**
 * Digest authentication of SIP requests: RFC 3261 §22 with the algorithms of
 * RFC 7616 / RFC 8760 (SHA-256 preferred, MD5 for older clients, and their
 * `-sess` variants), qop=auth (auth-int accepted) and the RFC 2617 no-qop form.
 *
 * Header values are taken and returned as strings; the caller picks the
 * Authorization / Proxy-Authorization value whose realm is ours.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../util/clock.js';
import { digestHex, type DigestHashName } from '../util/digest-hash.js';
import { formatChallenge, parseDigestParams } from './digest-params.js';
import { NonceCounter, NonceManager } from './nonce.js';

/** Digest algorithm names accepted in credentials (case-insensitively). */
export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';

export interface AlgorithmInfo {
  name: DigestAlgorithm;
  hash: DigestHashName;
  sess: boolean;
}

const ALGORITHMS: Record<string, AlgorithmInfo> = {
  md5: { name: 'MD5', hash: 'MD5', sess: false },
  'md5-sess': { name: 'MD5-sess', hash: 'MD5', sess: true },
  'sha-256': { name: 'SHA-256', hash: 'SHA-256', sess: false },
  'sha-256-sess': { name: 'SHA-256-sess', hash: 'SHA-256', sess: true },
};

/** Looks up an algorithm name (case-insensitive); undefined if unsupported. */
export function parseAlgorithm(name: string): AlgorithmInfo | undefined {
  return ALGORITHMS[name.toLowerCase()];
}

export interface DigestResponseInput {
  algorithm: DigestAlgorithm | string;
  /** The stored, non-session HA1 = H(username:realm:password) for the algorithm's hash. */
  ha1: string;
  nonce: string;
  method: string;
  uri: string;
  /** `auth`, `auth-int`, or undefined for the RFC 2617 no-qop form. */
  qop?: string;
  /** 8 hex digits as sent (e.g. `00000001`); required with qop. */
  nc?: string;
  /** Required with qop and with -sess algorithms. */
  cnonce?: string;
  /** Message body, for qop=auth-int (empty when absent). */
  body?: Buffer;
}

/**
 * The request-digest (RFC 7616 §3.4.1):
 *   with qop:    KD(HA1, nonce:nc:cnonce:qop:HA2) = H(HA1:nonce:nc:cnonce:qop:HA2)
 *   without qop: H(HA1:nonce:HA2)
 * where HA2 = H(method:uri) for auth, H(method:uri:H(body)) for auth-int, and
 * HA1 = H(HA1:nonce:cnonce) for -sess algorithms.
 */
export function computeDigestResponse(i: DigestResponseInput): string {
  const alg = parseAlgorithm(i.algorithm);
  if (!alg) throw new RangeError(`unsupported digest algorithm ${i.algorithm}`);
  const H = (s: string | Buffer): string => digestHex(alg.hash, s);
  let a1 = i.ha1.toLowerCase();
  if (alg.sess) {
    if (i.cnonce === undefined) throw new RangeError('-sess algorithms need a cnonce');
    a1 = H(`${a1}:${i.nonce}:${i.cnonce}`);
  }
  let ha2: string;
  if (i.qop === 'auth-int') ha2 = H(`${i.method}:${i.uri}:${H(i.body ?? Buffer.alloc(0))}`);
  else ha2 = H(`${i.method}:${i.uri}`);
  if (i.qop === undefined) return H(`${a1}:${i.nonce}:${ha2}`);
  if (i.nc === undefined || i.cnonce === undefined) throw new RangeError('qop needs nc and cnonce');
  return H(`${a1}:${i.nonce}:${i.nc}:${i.cnonce}:${i.qop}:${ha2}`);
}

// ---------------------------------------------------------------------------
// Failure rate limiting

export interface FailureLimiterOptions {
  clock: Clock;
  /** Failures within windowMs that trigger a lockout. */
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
  /** Most sources tracked at once (default 10 000). */
  maxEntries?: number;
}

interface FailureEntry {
  count: number;
  windowStart: number;
  lockedUntil: number;
}

/**
 * Counts authentication failures per source. Once a source has had
 * maxFailures failures within windowMs (counted from its first failure), it is
 * locked for lockoutMs. Entries expire on the clock; the map is bounded (when
 * full, expired entries go first, then the oldest unlocked ones, then the oldest).
 */
export class FailureLimiter {
  private readonly entries = new Map<string, FailureEntry>();
  private readonly maxEntries: number;

  constructor(private readonly opts: FailureLimiterOptions) {
    if (!(opts.maxFailures >= 1)) throw new RangeError('maxFailures must be at least 1');
    this.maxEntries = Math.max(1, opts.maxEntries ?? 10_000);
  }

  get size(): number {
    return this.entries.size;
  }

  isLocked(source: string): boolean {
    const e = this.entries.get(source);
    if (!e) return false;
    const now = this.opts.clock.now();
    if (e.lockedUntil > now) return true;
    if (this.expired(e, now)) this.entries.delete(source);
    return false;
  }

  /** Records a failure; true when this failure starts a lockout. */
  fail(source: string): boolean {
    const now = this.opts.clock.now();
    let e = this.entries.get(source);
    if (e && this.expired(e, now)) {
      this.entries.delete(source);
      e = undefined;
    }
    if (!e) {
      if (this.entries.size >= this.maxEntries) this.makeRoom(now);
      e = { count: 0, windowStart: now, lockedUntil: 0 };
      this.entries.set(source, e);
    }
    if (e.lockedUntil > now) return false;
    e.count++;
    if (e.count >= this.opts.maxFailures) {
      e.lockedUntil = now + this.opts.lockoutMs;
      return true;
    }
    return false;
  }

  /** Forgets the source's failures (after a success). Does not lift a running lockout. */
  reset(source: string): void {
    const e = this.entries.get(source);
    if (e && e.lockedUntil <= this.opts.clock.now()) this.entries.delete(source);
  }

  private expired(e: FailureEntry, now: number): boolean {
    return e.lockedUntil <= now && (e.lockedUntil > 0 || now - e.windowStart >= this.opts.windowMs);
  }

  private makeRoom(now: number): void {
    let firstUnlocked: string | undefined;
    let first: string | undefined;
    let scanned = 0;
    for (const [k, e] of this.entries) {
      if (this.expired(e, now)) {
        this.entries.delete(k);
        continue;
      }
      first ??= k;
      if (firstUnlocked === undefined && e.lockedUntil <= now) firstUnlocked = k;
      if (++scanned >= 64) break;
    }
    if (this.entries.size < this.maxEntries) return;
    const victim = firstUnlocked ?? first;
    if (victim !== undefined) this.entries.delete(victim);
  }
}

// ---------------------------------------------------------------------------
// The authenticator

export interface UserCredentials {
  ha1Md5: string;
  ha1Sha256: string;
  enabled: boolean;
}

export interface DigestAuthenticatorOptions {
  clock: Clock;
  /** Server secret (≥ 16 bytes) keying nonces and opaque values; see store getOrCreateSecret. */
  secret: Buffer;
  /** Nonce lifetime (default 5 minutes). */
  nonceTtlMs?: number;
  lookup: (username: string, realm: string) => UserCredentials | undefined;
  /** Failures per source that trigger a lockout (default 10). */
  maxFailures?: number;
  /** Window in which maxFailures must happen (default 60 s). */
  failureWindowMs?: number;
  /** Lockout duration (default 5 minutes). */
  lockoutMs?: number;
  /**
   * Algorithms offered in challenges, preferred first (default SHA-256 then
   * MD5, RFC 8760 §2.4). Some clients read only the first challenge and know
   * only MD5; an operator with such phones offers ['MD5'].
   */
  algorithms?: ReadonlyArray<'SHA-256' | 'MD5'>;
  /** Bounds of the in-memory maps (defaults 100 000 nonces, 10 000 sources). */
  maxTrackedNonces?: number;
  maxTrackedSources?: number;
}

export interface ChallengeOptions {
  stale?: boolean;
  /** true for a proxy (407, Proxy-Authenticate), false for a registrar/UAS (401, WWW-Authenticate). */
  proxy?: boolean;
}

export interface Challenge {
  header: 'WWW-Authenticate' | 'Proxy-Authenticate';
  values: string[];
}

export interface VerifyInput {
  method: string;
  /** The Authorization / Proxy-Authorization header value; undefined or empty → 'missing'. */
  authorization: string | undefined;
  realm: string;
  /** Source address (IP) the request came from, for failure rate limiting. */
  source: string;
  /** Message body, for qop=auth-int. */
  body?: Buffer;
}

export type VerifyFailureReason =
  | 'missing'
  | 'malformed'
  | 'stale'
  | 'unknown-user'
  | 'disabled'
  | 'bad-response'
  | 'replay'
  | 'rate-limited'
  | 'wrong-realm';

export type VerifyResult =
  | { ok: true; username: string; algorithm: DigestAlgorithm }
  | { ok: false; reason: VerifyFailureReason; username?: string; /** Diagnostic detail for logs. */ detail?: string };

const NC_RE = /^[0-9a-fA-F]{8}$/;
const HEX_RE = /^[0-9a-fA-F]+$/;

/**
 * Issues challenges and verifies credentials.
 *
 * Order of checks in verify(): rate limit → presence → syntax → realm → nonce
 * authenticity and opaque → user → response → enabled → nonce age → nonce count.
 * The response is checked before staleness so that stale=true is only ever
 * reported to a client that knows the password (RFC 2617 §3.2.1).
 *
 * Failures counted towards the per-source lockout: malformed, unknown-user,
 * bad-response caused by a wrong response. Not counted: missing (the normal
 * first request), stale, replay (no password is being tried), disabled (right
 * password), wrong-realm (credentials meant for another hop), and forged or
 * foreign nonces/opaque (the response is never evaluated, and counting them
 * would let spoofed datagrams lock out a victim address cheaply).
 */
export class DigestAuthenticator {
  private readonly clock: Clock;
  private readonly nonces: NonceManager;
  private readonly counter: NonceCounter;
  private readonly limiter: FailureLimiter;
  private readonly lookup: DigestAuthenticatorOptions['lookup'];
  private readonly opaqueKey: Buffer;
  private readonly opaques = new Map<string, string>();
  private readonly nonceTtlMs: number;
  private readonly algorithms: ReadonlyArray<'SHA-256' | 'MD5'>;

  constructor(opts: DigestAuthenticatorOptions) {
    this.clock = opts.clock;
    this.lookup = opts.lookup;
    this.nonceTtlMs = opts.nonceTtlMs ?? 300_000;
    this.algorithms = opts.algorithms && opts.algorithms.length ? opts.algorithms : ['SHA-256', 'MD5'];
    // Separate keys for nonce MACs and opaque values, derived from the one secret.
    const nonceKey = createHmac('sha256', opts.secret).update('switchboard digest nonce').digest();
    this.opaqueKey = createHmac('sha256', opts.secret).update('switchboard digest opaque').digest();
    this.nonces = new NonceManager({ secret: nonceKey, clock: opts.clock, ttlMs: this.nonceTtlMs });
    this.counter = new NonceCounter({ clock: opts.clock, maxEntries: opts.maxTrackedNonces });
    this.limiter = new FailureLimiter({
      clock: opts.clock,
      maxFailures: opts.maxFailures ?? 10,
      windowMs: opts.failureWindowMs ?? 60_000,
      lockoutMs: opts.lockoutMs ?? 300_000,
      maxEntries: opts.maxTrackedSources,
    });
  }

  /** The opaque value sent in challenges for realm (constant per realm and secret, so computed once per realm). */
  opaque(realm: string): string {
    let v = this.opaques.get(realm);
    if (v === undefined) {
      v = createHmac('sha256', this.opaqueKey).update(realm, 'utf8').digest().subarray(0, 12).toString('base64url');
      // realms come from requests: bound the memo
      if (this.opaques.size >= 1024) this.opaques.clear();
      this.opaques.set(realm, v);
    }
    return v;
  }

  /** One challenge per offered algorithm, sharing one fresh nonce, preferred first (RFC 8760 §2.4). */
  challenge(realm: string, opts: ChallengeOptions = {}): Challenge {
    const nonce = this.nonces.issue(realm);
    const opaque = this.opaque(realm);
    const stale = opts.stale === true;
    const values = this.algorithms.map((algorithm) =>
      formatChallenge({ realm, nonce, opaque, algorithm, qop: 'auth', stale }),
    );
    return { header: opts.proxy ? 'Proxy-Authenticate' : 'WWW-Authenticate', values };
  }

  /** True while source is locked out after too many failures. */
  isRateLimited(source: string): boolean {
    return this.limiter.isLocked(source);
  }

  verify(input: VerifyInput): VerifyResult {
    const { source } = input;
    if (this.limiter.isLocked(source)) return { ok: false, reason: 'rate-limited' };
    if (input.authorization === undefined || input.authorization.trim() === '') {
      return { ok: false, reason: 'missing' };
    }

    const p = parseDigestParams(input.authorization);
    const malformed = (detail: string, username?: string): VerifyResult => {
      this.limiter.fail(source);
      return username === undefined
        ? { ok: false, reason: 'malformed', detail }
        : { ok: false, reason: 'malformed', username, detail };
    };
    if (!p) return malformed('unparsable Digest credentials');

    const username = p.get('username');
    if (username === undefined) return malformed('no username');
    const fail = (reason: VerifyFailureReason, detail?: string): VerifyResult =>
      detail === undefined ? { ok: false, reason, username } : { ok: false, reason, username, detail };

    const realm = p.get('realm');
    const nonce = p.get('nonce');
    const uri = p.get('uri');
    const response = p.get('response');
    if (realm === undefined || nonce === undefined || uri === undefined || response === undefined) {
      return malformed('missing realm, nonce, uri or response', username);
    }
    if (p.get('userhash')?.toLowerCase() === 'true') return malformed('userhash not supported', username);
    const alg = parseAlgorithm(p.get('algorithm') ?? 'MD5');
    if (!alg) return malformed(`unsupported algorithm ${p.get('algorithm')}`, username);

    const qop = p.get('qop');
    const ncText = p.get('nc');
    const cnonce = p.get('cnonce');
    let nc = 0;
    if (qop !== undefined) {
      if (qop !== 'auth' && qop !== 'auth-int') return malformed(`unsupported qop ${qop}`, username);
      if (ncText === undefined || !NC_RE.test(ncText) || cnonce === undefined) {
        return malformed('qop without valid nc and cnonce', username);
      }
      nc = parseInt(ncText, 16);
      if (nc === 0) return malformed('nc must be positive', username);
    } else if (alg.sess) {
      return malformed('-sess algorithm without qop', username);
    }
    const expectedLen = alg.hash === 'MD5' ? 32 : 64;
    if (response.length !== expectedLen || !HEX_RE.test(response)) {
      return malformed('response is not a digest of the algorithm', username);
    }

    if (realm !== input.realm) return fail('wrong-realm');

    const issuedAt = this.nonces.issuedAt(nonce, input.realm);
    if (issuedAt === undefined) return fail('bad-response', 'invalid nonce');
    const opaque = p.get('opaque');
    if (opaque !== undefined && opaque !== this.opaque(input.realm)) return fail('bad-response', 'opaque mismatch');

    const user = this.lookup(username, input.realm);
    if (!user) {
      this.limiter.fail(source);
      return fail('unknown-user');
    }

    const expected = computeDigestResponse({
      algorithm: alg.name,
      ha1: alg.hash === 'MD5' ? user.ha1Md5 : user.ha1Sha256,
      nonce,
      method: input.method,
      uri,
      qop,
      nc: ncText,
      cnonce,
      body: input.body,
    });
    if (!timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(response.toLowerCase(), 'latin1'))) {
      this.limiter.fail(source);
      return fail('bad-response');
    }

    if (!user.enabled) return fail('disabled');
    if (this.clock.now() - issuedAt > this.nonceTtlMs) return fail('stale');

    // No-qop credentials carry no nc: such a nonce is good for one request.
    const used = this.counter.use(nonce, qop === undefined ? 1 : nc, issuedAt + this.nonceTtlMs);
    if (used === 'unknown') return fail('stale', 'nonce history evicted');
    if (used === 'replay') return qop === undefined ? fail('stale', 'no-qop nonce reused') : fail('replay');

    this.limiter.reset(source);
    return { ok: true, username, algorithm: alg.name };
  }
}
