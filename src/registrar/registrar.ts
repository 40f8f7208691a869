/**
 * The registrar: REGISTER processing of RFC 3261 §10.3, with Path (RFC 3327)
 * and Outbound (RFC 5626 §6). GRUU (RFC 5627) is not supported.
 *
 * Every failure has one SB_ERR_REG_* code; its status and reason live in the
 * error table of util/errors.ts (one place per fact), and `reject()` is the
 * only place that turns a code into a response, a counter and a log line.
 * The clock is read once per request; the 200 is sent only after the update
 * is committed to SQLite (group commit, location-service.ts).
 *
 * Choices and departures, on purpose:
 *  - realm (§22) = the To domain when we serve it, else the Request-URI domain.
 *  - credentials that cannot be checked (malformed, another realm, a forged or
 *    foreign nonce, a replayed nc) get a fresh 401 challenge; a wrong password,
 *    an unknown or a disabled user get 403; a stale nonce gets 401 stale=true.
 *  - a reg-id without +sip.instance, or without `Supported: outbound`, is
 *    ignored (RFC 5626 §6); the contact is then a per-instance or plain binding.
 *  - a Contact whose host ends in `.invalid` (WebRTC, RFC 7118 §5) is bound to
 *    the flow it arrived on — unless the REGISTER carries a Path: then an edge
 *    proxy owns the client's flow, the Path is the route, and tying the
 *    binding to our connection to that proxy would drop it whenever that
 *    shared connection is reopened.
 *  - Path is echoed in the 200 whenever the REGISTER had one (RFC 3327 §5.3
 *    lets a registrar store it even without `Supported: path`).
 *  - an Outbound registration through an edge proxy (Path with `;ob`) is not
 *    bound to one of our flows: the edge proxy keeps the flow.
 *  - a REGISTER that only adds or refreshes bindings, without Outbound, is
 *    answered as a stateless UAS would (respondStateless, §8.2.7) and keeps
 *    no transaction at all (keepNoState: the server's layer creates none,
 *    transaction/deferred-nist.ts): over UDP nothing waits 32 s in
 *    Completed for each REGISTER. The bindings it wrote carry its branch; a
 *    retransmission of it (same branch, Call-ID, CSeq and source, within
 *    Timer F) is absorbed while the commit of the first copy is pending (as
 *    Trying would), and afterwards gets the 200 again, listing the bindings
 *    as they are then, before authentication — as a transaction in
 *    Completed would have answered it, and it repeats a nonce count that
 *    would now count as a replay. Anything else (removals, `*`, Outbound,
 *    failures other than a 401 challenge) keeps the RFC 3261 §17.2.2
 *    transaction and its wait.
 *  - a 401 challenge is sent statelessly too (§8.2.7), as challenges
 *    usually are: it changes nothing, and over UDP its transaction would
 *    otherwise wait 32 s in Completed (Timer J) for every registration. A
 *    retransmitted REGISTER is challenged again (same To tag, a fresh
 *    nonce); either nonce is good for the authenticated retry.
 */
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { ERROR_CODES, type ErrorCode } from '../util/errors.js';
import { detached } from '../util/strings.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import { createResponse, statelessTag } from '../sip/response.js';
import { serialize } from '../sip/serializer.js';
import { formatNameAddr, type ContactValue } from '../sip/header-values.js';
import { isSipUri, parseUri, unescapeUri, uriEquals, type Uri } from '../sip/uri.js';
import type { RequestHandler, ServerTx } from '../core/sip-core.js';
import type { LocalIdentity } from '../core/local-identity.js';
import type { DigestAuthenticator, VerifyResult } from '../auth/digest-auth.js';
import { parseDigestParams } from '../auth/digest-params.js';
import { DEFAULT_TIMER_BASE } from '../transaction/timers.js';
import { MAGIC_COOKIE } from '../transaction/transaction.js';
import { aorOf, bindingKey, isUriKey, remainingSeconds, samePath, type Binding } from './binding.js';
import type { SqliteLocationStore } from './location-service.js';

type Flow = ServerTx['flow'];

/** The SB_ERR_REG_* codes (their status and reason are in ERROR_CODES). */
export type RegistrarErrorCode = Extract<ErrorCode, `SB_ERR_REG_${string}`>;

export type UnregistrationCause = 'request' | 'expired' | 'flow-closed';

/** Counters the registrar feeds; server.ts binds them to Prometheus. */
export interface RegistrarMetrics {
  /** bindings created or refreshed by a successful REGISTER */
  registered(count: number): void;
  /** bindings removed, by cause */
  unregistered(count: number, cause: UnregistrationCause): void;
  /** a REGISTER answered with an error */
  failed(code: RegistrarErrorCode, status: number): void;
  /** a retransmission of a REGISTER answered statelessly, recognised by its bindings: answered again (§8.2.7), or absorbed before the first copy's commit */
  answeredAgain?(): void;
}

export interface RegistrarOptions {
  store: SqliteLocationStore;
  identity: LocalIdentity;
  /** null = --auth off: any To of a served domain may be registered */
  auth: DigestAuthenticator | null;
  clock: Clock;
  logger: Logger;
  metrics?: RegistrarMetrics;
  /** seconds (defaults: 3600, 60, 7200) */
  defaultExpires?: number;
  minExpires?: number;
  maxExpires?: number;
  /** most bindings per AOR (default 10) */
  maxContacts?: number;
  /** most bindings in the whole location service (default 1 000 000) */
  maxBindings?: number;
  /** RFC 5626 Flow-Timer seconds sent to clients on our direct flows (default 120) */
  flowTimer?: number;
  /**
   * ms after a REGISTER's 200 during which a retransmission of it is
   * recognised and answered again: Timer F, 64·T1 (default 32 000), the
   * longest a client retransmits
   */
  retransmissionWindowMs?: number;
  /**
   * RFC 3261 §10.3 step 1: a REGISTER for a domain we do not serve goes here
   * instead of a 404 (the proxy may forward it).
   */
  onForeignDomain?(req: SipRequest, tx: ServerTx): void;
}

const NONE: readonly Binding[] = [];

/** Option tags we support (RFC 3261 §10.3 step 2). `gruu` is not one of them. */
const SUPPORTED = new Set(['path', 'outbound']);
const SUPPORTED_HEADER = 'path, outbound';

/** Extra headers of a rejection (Min-Expires, Unsupported, WWW-Authenticate…). */
type Headers = Array<[string, string]>;

/** A request that failed a step: its code and what the response must carry. */
interface Failure {
  code: RegistrarErrorCode;
  headers?: Headers;
  log?: Record<string, unknown>;
}

export class Registrar implements RequestHandler {
  private readonly store: SqliteLocationStore;
  private readonly identity: LocalIdentity;
  private readonly auth: DigestAuthenticator | null;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly metrics: RegistrarMetrics | undefined;
  private readonly defaultExpires: number;
  private readonly minExpires: number;
  private readonly maxExpires: number;
  private readonly maxContacts: number;
  private readonly maxBindings: number;
  private readonly flowTimer: number;
  private readonly retransmissionWindowMs: number;
  private readonly onForeignDomain: RegistrarOptions['onForeignDomain'];

  constructor(opts: RegistrarOptions) {
    this.store = opts.store;
    this.identity = opts.identity;
    this.auth = opts.auth;
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.metrics = opts.metrics;
    this.defaultExpires = opts.defaultExpires ?? 3600;
    this.minExpires = opts.minExpires ?? 60;
    this.maxExpires = opts.maxExpires ?? 7200;
    this.maxContacts = opts.maxContacts ?? 10;
    this.maxBindings = opts.maxBindings ?? 1_000_000;
    this.flowTimer = opts.flowTimer ?? 120;
    this.retransmissionWindowMs = opts.retransmissionWindowMs ?? 64 * DEFAULT_TIMER_BASE.t1;
    this.onForeignDomain = opts.onForeignDomain;
    if (!(this.minExpires >= 1 && this.minExpires <= this.defaultExpires && this.defaultExpires <= this.maxExpires)) {
      throw new RangeError('registrar expiry limits must satisfy 1 <= minExpires <= defaultExpires <= maxExpires');
    }
    if (!(this.maxContacts >= 1)) throw new RangeError('maxContacts must be at least 1');
  }

  onRequest(req: SipRequest, tx: ServerTx): void {
    const now = this.clock.now();
    const failure = this.register(req, tx, now);
    if (failure) this.reject(req, tx, failure);
  }

  /** RFC 5626 §5.3: a flow that closed takes the bindings bound to it. */
  onFlowClosed(flow: Flow): void {
    const removed = this.store.removeFlow(flow.id);
    if (removed.length === 0) return;
    this.metrics?.unregistered(removed.length, 'flow-closed');
    this.logger.info(
      { flow: flow.id, transport: flow.protocol, removed: removed.length, aors: [...new Set(removed.map((b) => b.aor))] },
      'flow closed; its bindings removed',
    );
  }

  /** Runs the §10.3 steps; answers (now or after the commit) and returns undefined, or returns the failure. */
  private register(req: SipRequest, tx: ServerTx, now: number): Failure | undefined {
    if (req.method !== 'REGISTER') return { code: 'SB_ERR_REG_METHOD', headers: [['Allow', 'REGISTER']] };

    // RFC 3261 §10.3 step 1: the Request-URI must name a domain whose bindings we hold.
    const ruri = req.requestUri();
    if (!ruri || !isSipUri(ruri) || !this.identity.isServedDomain(ruri.host)) {
      if (this.onForeignDomain) {
        this.onForeignDomain(req, tx);
        return undefined;
      }
      return { code: 'SB_ERR_REG_NOT_OUR_DOMAIN', log: { ruri: req.uri } };
    }

    // RFC 3261 §10.3 step 2: every extension in Require must be one we support (§8.2.2).
    const require = req.tokens('require');
    const unsupported = require.length ? require.filter((t) => !SUPPORTED.has(t.toLowerCase())) : require;
    if (unsupported.length) {
      return { code: 'SB_ERR_REG_BAD_EXTENSION', headers: [['Unsupported', unsupported.join(', ')]] };
    }

    const to = req.to();
    const toUri = to ? parseUri(to.uri) : null;
    const toSip = toUri && isSipUri(toUri) ? toUri : null;
    const toServed = toSip !== null && this.identity.isServedDomain(toSip.host);
    const aor = toSip !== null && toServed ? (aorOf(toSip) ?? undefined) : undefined;
    const existing = aor !== undefined ? this.store.get(aor) : NONE;
    // §8.2.7: a retransmission of a REGISTER whose 200 ended its transaction
    const branch = req.topVia()?.branch;
    if (aor !== undefined && branch !== undefined && this.answerRetransmission(req, tx, aor, existing, branch, now)) return undefined;

    // RFC 3261 §10.3 step 3: authenticate the UAC (§22), realm = the To domain.
    let username: string | null = null;
    let realm = '';
    if (this.auth) {
      realm = (toServed ? toSip.host : ruri.host).toLowerCase();
      const r = this.authenticate(req, tx, realm, this.auth);
      if (!r.ok) return r.failure;
      username = r.username;
    }

    // RFC 3261 §10.3 step 4: the authenticated user may modify only its own AOR
    // (third-party registration is not permitted). With auth off, any To is accepted.
    if (username !== null) {
      const own = toSip !== null && unescapeUri(toSip.user ?? '') === username && toSip.host.toLowerCase() === realm;
      if (!own) return { code: 'SB_ERR_REG_THIRD_PARTY', log: { username, to: to?.uri } };
    }

    // RFC 3261 §10.3 step 5: the AOR is the To URI, a sip/sips URI of a served domain.
    if (!to || !toUri) return { code: 'SB_ERR_REG_BAD_TO' };
    if (!toSip || aor === undefined) return { code: 'SB_ERR_REG_UNKNOWN_AOR', log: { to: to.uri } };

    // Steps 6 and 7 read Contact, Expires and Path: malformed ones are a 400 naming the header.
    const contacts = req.contacts();
    if (contacts === null) {
      const star = req.getAll('contact').includes('*');
      return { code: star ? 'SB_ERR_REG_BAD_WILDCARD' : 'SB_ERR_REG_BAD_CONTACT' };
    }
    const expiresHeader = req.expires();
    if (expiresHeader === null) return { code: 'SB_ERR_REG_BAD_EXPIRES' };
    const paths = req.paths();
    if (paths === null) return { code: 'SB_ERR_REG_BAD_PATH' };
    const callId = req.callId() ?? '';
    const cseq = req.cseq()?.seq ?? 0;

    // A REGISTER without Contact is a query (§10.2.3): the current bindings.
    // Asked again, it is answered again: nothing waits for a retransmission (§8.2.7).
    if (contacts === undefined) {
      tx.respondStateless(this.ok(req, aor, now, [], true));
      return undefined;
    }

    // usually nothing has expired (the sweep removes expired bindings): no copies then
    const anyExpired = existing.some((b) => b.expiresAt <= now);
    const live = anyExpired ? existing.filter((b) => b.expiresAt > now) : existing;
    const expired = anyExpired ? existing.filter((b) => b.expiresAt <= now) : NONE;

    // RFC 3261 §10.3 step 6: '*' only alone (the parser saw to that) and only
    // with Expires: 0; it removes every binding, subject to the step 7 CSeq rule.
    if (contacts.star) {
      if (expiresHeader !== 0) return { code: 'SB_ERR_REG_BAD_WILDCARD', log: { expires: expiresHeader } };
      for (const b of live) {
        if (b.callId === callId && cseq <= b.cseq) return cseqFailure(b, cseq);
      }
      // a copy: live may be the store's own list, which the removal changes as it goes
      this.commit(req, tx, aor, now, { upserts: [], removed: [...live], expired, outbound: false, direct: false, path: [], stateless: false });
      return undefined;
    }

    // RFC 5626 §6: are we the first hop (one Via), or is the first hop an
    // edge proxy that supports Outbound (first Path URI has ;ob)?
    const vias = req.vias();
    const direct = vias !== null && vias.length === 1;
    const firstPath = paths.length ? parseUri(paths[0]!.uri) : null;
    const pathOb = firstPath !== null && isSipUri(firstPath) && firstPath.params.has('ob');
    const outboundSupported = req.tokens('supported').some((t) => t.toLowerCase() === 'outbound');
    const pathValues = req.getAll('path');
    // The bindings this request writes carry its branch, by which a retransmission is
    // recognised when its 200 ended the transaction: not for Outbound, whose 200
    // carries more than the bindings, nor for an RFC 2543 branch (not unique).
    // (a copy: a piece of the request's text would keep all of it alive)
    const retransmissionKey =
      branch !== undefined && branch.startsWith(MAGIC_COOKIE) && !(outboundSupported && contacts.contacts.some((c) => c.instance !== undefined && c.regId !== undefined))
        ? detached(branch)
        : undefined;

    // RFC 3261 §10.3 step 7: each contact, atomically — any failure stores nothing.
    // in contact order, a key once (a later contact for the same key replaces the earlier one);
    // an array: there is usually one, and a Map per REGISTER was 5 % of what one allocates
    const upserts: Binding[] = [];
    // made when the first removal comes (a refresh has none)
    let removed: Map<string, Binding> | undefined;
    let outbound = false;
    for (const c of contacts.contacts) {
      const uri = parseUri(c.uri);
      if (!uri) return { code: 'SB_ERR_REG_BAD_CONTACT', log: { contact: c.uri } };

      // §10.3 step 7: expires param, else the Expires header, else our default.
      let expires = c.expires ?? expiresHeader ?? this.defaultExpires;
      if (expires > 0 && expires < this.minExpires) {
        return { code: 'SB_ERR_REG_INTERVAL_TOO_BRIEF', headers: [['Min-Expires', String(this.minExpires)]], log: { expires } };
      }
      if (expires > this.maxExpires) expires = this.maxExpires;

      // RFC 5626 §6: +sip.instance with reg-id and Supported: outbound → a
      // flow-bound binding keyed by (aor, instance, reg-id) — or 439 when
      // the first hop cannot keep the flow.
      const instance = c.instance ?? null;
      let regId: number | null = null;
      let flowId: string | null = null;
      if (instance !== null && c.regId !== undefined && outboundSupported) {
        if (!direct && !pathOb) return { code: 'SB_ERR_REG_FIRST_HOP_LACKS_OUTBOUND', log: { vias: vias?.length } };
        outbound = true;
        regId = c.regId;
        if (direct) flowId = tx.flow.id;
      }
      // RFC 7118 §5: a WebRTC client's .invalid contact is only reachable on its flow.
      if (flowId === null && isSipUri(uri) && isInvalidHost(uri.host) && pathValues.length === 0) flowId = tx.flow.id;

      const key = bindingKey(c.uri, instance, regId);
      // §10.3 step 7: the binding this contact updates (URIs compare by §19.1.4).
      const old = isUriKey(key) ? live.find((b) => isUriKey(b.key) && sameContact(b, c.uri, uri)) : live.find((b) => b.key === key);
      // §10.3 step 7: same Call-ID needs a higher CSeq; a different Call-ID replaces.
      if (old && old.callId === callId && cseq <= old.cseq) return cseqFailure(old, cseq);

      dropKey(upserts, key);
      if (old && old.key !== key) (removed ??= new Map()).set(old.key, old);
      if (expires === 0) {
        if (old) (removed ??= new Map()).set(old.key, old);
        continue;
      }
      if (old && old.key === key) removed?.delete(key);
      // A refresh repeats the strings of the binding it replaces: those are kept, so the
      // new binding holds no piece of this request's text (which would keep all of it alive).
      const same = old !== undefined && old.key === key ? old : undefined;
      const contactHeader = contactHeaderOf(c);
      const userAgent = req.get('user-agent') ?? null;
      const received = hostPort(tx.flow.remoteAddress, tx.flow.remotePort);
      upserts.push({
        aor: kept(same?.aor, aor),
        key: kept(same?.key, key),
        contact: kept(same?.contact, c.uri),
        contactHeader: kept(same?.contactHeader, contactHeader),
        q: c.q ?? null,
        expiresAt: now + expires * 1000,
        callId: kept(same?.callId, callId),
        cseq,
        userAgent: kept(same?.userAgent, userAgent),
        received: kept(same?.received, received),
        transport: tx.flow.protocol,
        flowId,
        instanceId: kept(same?.instanceId, instance),
        regId,
        path: same !== undefined && samePath(same.path, pathValues) ? same.path : pathValues,
        updatedAt: now,
        branch: retransmissionKey,
      });
    }

    // Local policy: at most maxContacts bindings per AOR, maxBindings in all.
    // bindings after the update: the live ones not removed or replaced, plus the upserts
    let after = upserts.length;
    for (const b of live) if (!removed?.has(b.key) && indexOfKey(upserts, b.key) === -1) after++;
    if (after > this.maxContacts) {
      return { code: 'SB_ERR_REG_TOO_MANY_CONTACTS', log: { bindings: after, max: this.maxContacts } };
    }
    const growth = after - live.length;
    if (growth > 0 && this.store.count() - expired.length + growth > this.maxBindings) {
      return { code: 'SB_ERR_REG_LOCATION_FULL', log: { bindings: this.store.count(), max: this.maxBindings } };
    }

    this.commit(req, tx, aor, now, {
      upserts,
      removed: removed === undefined ? NONE : [...removed.values()],
      expired,
      outbound,
      direct,
      path: pathValues,
      // §8.2.7: only adds and refreshes are answered again from the bindings
      stateless: retransmissionKey !== undefined && (removed === undefined || removed.size === 0) && upserts.length > 0,
    });
    return undefined;
  }

  /** Applies the update, then (after the store commit) sends the 200 of §10.3 step 8. */
  private commit(
    req: SipRequest,
    tx: ServerTx,
    aor: string,
    now: number,
    u: {
      upserts: readonly Binding[];
      removed: readonly Binding[];
      expired: readonly Binding[];
      outbound: boolean;
      direct: boolean;
      path: readonly string[];
      /** the 200 may end the transaction: a retransmission is recognised by the upserts' branch */
      stateless: boolean;
    },
  ): void {
    // bindings this request adds (the others refresh a live one), counted before the store changes
    let added = 0;
    for (const b of u.upserts) if (!isLive(this.store.get(aor), b.key, now)) added++;
    // an expired binding that a contact registers again is replaced, not counted as removed
    const expired = u.expired.length ? u.expired.filter((b) => !u.upserts.some((x) => x.key === b.key)) : u.expired;
    let res: SipResponse | undefined;
    let bytes: Buffer | undefined;
    if (u.stateless) {
      // §8.2.7: no transaction waits for the commit; a retransmission meanwhile is absorbed here
      tx.keepNoState?.();
      for (const b of u.upserts) b.pending = true;
    }
    this.store.apply(aor, u.upserts, expired.length ? [...expired, ...u.removed] : u.removed, (err) => {
      if (u.stateless) for (const b of u.upserts) b.pending = false;
      if (err || !res) {
        this.reject(req, tx, { code: 'SB_ERR_REG_STORE_FAILED', log: { err: err?.message, aor } });
        return;
      }
      if (u.stateless) tx.respondStateless(res, bytes);
      else tx.respond(res);
      const refreshed = u.upserts.length - added;
      if (u.upserts.length) this.metrics?.registered(u.upserts.length);
      if (u.removed.length) this.metrics?.unregistered(u.removed.length, 'request');
      if (expired.length) this.metrics?.unregistered(expired.length, 'expired');
      const level = added || u.removed.length ? 'info' : 'debug';
      // a refresh is the common case: its log fields are built only when debug is on
      if (!this.logger.isLevelEnabled(level)) return;
      const fields = {
        aor,
        added,
        refreshed,
        removed: u.removed.length,
        contacts: u.upserts.map((b) => b.contact),
        source: hostPort(tx.flow.remoteAddress, tx.flow.remotePort),
        transport: tx.flow.protocol,
        outbound: u.outbound || undefined,
      };
      this.logger[level](fields, level === 'info' ? 'registration updated' : 'registration refreshed');
    });
    // RFC 5626 §6: the 200 of an Outbound registration requires outbound; on
    // our own flows it tells the client how often to send keepalives.
    const headers: Headers = [];
    if (u.outbound) {
      headers.push(['Require', 'outbound']);
      if (u.direct) headers.push(['Flow-Timer', String(this.flowTimer)]);
    }
    pushPath(headers, u.path);
    // RFC 3261 §10.3 step 8: the 200 lists every current binding. It is built
    // now (this request's result) and sent from the commit callback above,
    // which the store never runs synchronously.
    res = this.ok(req, aor, now, headers, u.stateless);
    // written now, while the request's text it copies is in the CPU cache (ServerTransaction.respondStateless)
    bytes = u.stateless ? serialize(res) : undefined;
    // the commit takes up to a commit window: what was parsed of the request (Contact, To, From,
    // CSeq…) need not be kept alive through it (the 200 keeps the Vias it routes by)
    req.releaseParsed();
  }

  /**
   * The 200 OK: current bindings with their remaining time (§10.3 step 8),
   * Supported, Date. One that may be regenerated (§8.2.7) gets the To tag
   * that the same request always gets.
   */
  private ok(req: SipRequest, aor: string, now: number, extra: Headers, stateless: boolean): SipResponse {
    const headers: Headers = [];
    for (const b of this.store.lookup(aor, now)) headers.push(['Contact', `${b.contactHeader};expires=${remainingSeconds(b, now)}`]);
    for (const h of extra) headers.push(h);
    headers.push(['Supported', SUPPORTED_HEADER]);
    // §10.3 step 8 / §20.17: a Date header helps clients without a clock.
    headers.push(['Date', httpDate(now)]);
    return createResponse(req, 200, stateless ? { headers, toTag: statelessTag(req) } : { headers });
  }

  /**
   * §8.2.7: answers a retransmission of a REGISTER whose 200 ended its
   * transaction (see the file note): a live binding it wrote carries its
   * branch, with its Call-ID and CSeq, from the same source, less than
   * Timer F ago. Nothing changes; the 200 lists the bindings as they are.
   */
  private answerRetransmission(req: SipRequest, tx: ServerTx, aor: string, bindings: readonly Binding[], branch: string, now: number): boolean {
    for (const b of bindings) {
      if (b.branch !== branch) continue;
      if (b.expiresAt <= now || now - b.updatedAt > this.retransmissionWindowMs) return false;
      if (b.callId !== req.callId() || b.cseq !== req.cseq()?.seq || b.received !== hostPort(tx.flow.remoteAddress, tx.flow.remotePort)) return false;
      this.metrics?.answeredAgain?.();
      // §17.2.2 Trying: before the first copy's 200 (its commit is pending) a retransmission is absorbed
      if (b.pending === true) {
        tx.keepNoState?.();
        return true;
      }
      const headers: Headers = [];
      pushPath(headers, req.getAll('path'));
      tx.respondStateless(this.ok(req, aor, now, headers, true));
      return true;
    }
    return false;
  }

  /** RFC 3261 §22: verifies the credentials; on failure, what to answer. */
  private authenticate(
    req: SipRequest,
    tx: ServerTx,
    realm: string,
    auth: DigestAuthenticator,
  ): { ok: true; username: string } | { ok: false; failure: Failure } {
    const source = tx.flow.remoteAddress;
    const r = auth.verify({ method: req.method, authorization: credentialsFor(req, realm), realm, source, body: req.body });
    if (r.ok) return { ok: true, username: r.username };
    const code = authFailureCode(r);
    const headers: Headers = [];
    if (ERROR_CODES[code].status === 401) {
      const ch = auth.challenge(realm, { stale: code === 'SB_ERR_REG_AUTH_STALE' });
      for (const v of ch.values) headers.push([ch.header, v]);
    }
    const log = { username: r.username, source, realm, reason: r.reason, detail: r.detail };
    if (code !== 'SB_ERR_REG_AUTH_REQUIRED' && code !== 'SB_ERR_REG_AUTH_STALE') {
      this.logger.warn({ code, ...log, callId: req.callId() }, 'REGISTER authentication failed');
    }
    return { ok: false, failure: { code, headers, log } };
  }

  /** Answers with the code's status and reason (ERROR_CODES), counts and logs it. */
  private reject(req: SipRequest, tx: ServerTx, f: Failure): void {
    const { status, reason } = ERROR_CODES[f.code];
    // §8.2.7 / §22.1: a challenge is sent as a stateless UAS sends it (same To tag for the
    // same request); a retransmission of the REGISTER is challenged again, with a nonce as valid
    const stateless = status === 401;
    const res = createResponse(req, status, { reason, headers: f.headers ?? [], toTag: stateless ? statelessTag(req) : undefined });
    if (stateless) tx.respondStateless(res);
    else tx.respond(res);
    this.metrics?.failed(f.code, status);
    // a challenge is the normal first answer; auth failures were logged at warn already
    const level = status === 401 || f.code.startsWith('SB_ERR_REG_AUTH_') ? 'debug' : status >= 500 ? 'error' : 'info';
    // every challenge comes here: its log fields are built only when the level is on
    if (!this.logger.isLevelEnabled(level)) return;
    const fields = {
      code: f.code,
      status,
      to: req.get('to'),
      callId: req.callId(),
      source: hostPort(tx.flow.remoteAddress, tx.flow.remotePort),
      ...f.log,
    };
    this.logger[level](fields, status >= 500 ? 'REGISTER failed' : 'REGISTER rejected');
  }
}

function indexOfKey(bindings: readonly Binding[], key: string): number {
  for (let i = 0; i < bindings.length; i++) if (bindings[i]!.key === key) return i;
  return -1;
}

function dropKey(bindings: Binding[], key: string): void {
  const i = indexOfKey(bindings, key);
  if (i !== -1) bindings.splice(i, 1);
}

/** Whether the AOR holds a live binding with this key. */
function isLive(bindings: readonly Binding[], key: string, now: number): boolean {
  for (const b of bindings) if (b.key === key && b.expiresAt > now) return true;
  return false;
}

function cseqFailure(b: Binding, cseq: number): Failure {
  return { code: 'SB_ERR_REG_CSEQ_OUT_OF_ORDER', log: { contact: b.contact, stored: b.cseq, cseq } };
}

/** Maps a verification failure to its code (see the file note). */
function authFailureCode(r: Extract<VerifyResult, { ok: false }>): RegistrarErrorCode {
  switch (r.reason) {
    case 'missing':
      return 'SB_ERR_REG_AUTH_REQUIRED';
    case 'stale':
      return 'SB_ERR_REG_AUTH_STALE';
    case 'rate-limited':
      return 'SB_ERR_REG_AUTH_RATE_LIMITED';
    case 'malformed':
    case 'wrong-realm':
    case 'replay':
      return 'SB_ERR_REG_AUTH_INVALID';
    case 'bad-response':
      // with a detail the response was never checked (forged/foreign nonce or opaque)
      return r.detail !== undefined ? 'SB_ERR_REG_AUTH_INVALID' : 'SB_ERR_REG_AUTH_FAILED';
    case 'unknown-user':
    case 'disabled':
      return 'SB_ERR_REG_AUTH_FAILED';
  }
}

/** The Authorization value for our realm (a REGISTER may carry several, §22.4), else the first. */
function credentialsFor(req: SipRequest, realm: string): string | undefined {
  const all = req.getAll('authorization');
  // one set of credentials (the usual case) is verify()'s to parse, not parsed twice here
  if (all.length < 2) return all[0];
  for (const v of all) if (parseDigestParams(v)?.get('realm') === realm) return v;
  return all[0];
}

/** RFC 3327 §5.3: the REGISTER's Path is echoed in its 200, in order. */
function pushPath(headers: Headers, path: readonly string[]): void {
  for (const p of path) headers.push(['Path', p]);
}

/** The Contact value echoed in 200s: the name-addr with every param but expires. */
function contactHeaderOf(c: ContactValue): string {
  return formatNameAddr(c, 'expires');
}

/** `next`, as the equal string the replaced binding holds, else as a copy off the request text. */
function kept<T extends string | null>(prev: T | undefined, next: T): T {
  if (prev === next) return prev;
  return next === null ? next : (detached(next) as T);
}


function sameContact(b: Binding, text: string, uri: Uri): boolean {
  if (b.contact === text) return true;
  const u = parseUri(b.contact);
  return u !== null && uriEquals(u, uri);
}

function isInvalidHost(host: string): boolean {
  return host.toLowerCase().endsWith('.invalid');
}

let dateSecond = NaN;
let dateText = '';

/** §20.17 Date (RFC 1123 form) of a time in ms; formatted once per second, not per response. */
function httpDate(now: number): string {
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
