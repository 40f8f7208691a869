/**
 * What the proxy writes about itself and recognises again: the sent-by of
 * its Via and Record-Route, its Record-Route URIs with flow tokens, its
 * branch parameter with the loop-detection hash (RFC 3261 §16.6 steps 4
 * and 8, §16.3 step 4, §16.4, RFC 5658 double Record-Route).
 *
 * Flow tokens: a Record-Route the proxy inserts on the side of a
 * connection-oriented flow (WS, WSS, TCP, TLS) carries that flow's id in
 * its user part, `sip:sb~<id>.<mac>[~<id>.<mac>]@host:port;transport=x;lr`,
 * so that in-dialog requests from the far side can be sent on that flow
 * (a WebRTC client's Contact is `…@xyz.invalid`, reachable only through the
 * connection it opened; RFC 5626 §5.2 does the same with its flow tokens).
 * The id is escaped (`#` → `%23`) and followed by an HMAC of it under a
 * per-process key, so a token cannot be forged to reach another client's
 * flow, and tokens die with the process, as the flows do.
 *
 * The branch is `newBranch()` + `.sb` + a hash of the fields §16.6 step 8
 * names (Request-URI, To tag, From tag, Call-ID, CSeq number, Proxy-Require,
 * Proxy-Authorization) and the Route values, as received. Departure: the top
 * Via is left out of the hash (§16.6 step 8 lists it), because a request
 * that comes back to us has necessarily another top Via, so with it no loop
 * would ever be found.
 */
import os from 'node:os';
import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { SipRequest } from '../sip/message.js';
import { escapeUriComponent, unescapeUri, type SipUri } from '../sip/uri.js';
import type { Via } from '../sip/header-values.js';
import type { LocalIdentity } from '../core/local-identity.js';
import type { Flow, Transport, TransportProtocol } from '../transport/transport.js';
import { MAGIC_COOKIE, newBranch } from '../transaction/transaction-layer.js';
import { DEFAULT_PORT } from './resolver.js';

// ---------------------------------------------------------------- hashing

/** 64-bit FNV-1a (two 32-bit lanes) as 16 hex digits: cheap, allocation-free, not cryptographic. */
export function hash64(s: string): string {
  let a = 0x811c9dc5;
  let b = 0xcbf29ce4;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (a >>> 13);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/** §16.6 step 8 / §16.3 step 4: the loop-detection hash of a request as received (see the file note). */
export function loopHash(req: SipRequest): string {
  let s = req.uri + '\n' + (req.toTag() ?? '') + '\n' + (req.fromTag() ?? '') + '\n' + (req.callId() ?? '') + '\n' + (req.cseq()?.seq ?? '');
  for (const h of req.headers) {
    if (h.name === 'route' || h.name === 'proxy-require' || h.name === 'proxy-authorization') s += '\n' + h.name + ':' + h.value;
  }
  return hash64(s);
}

const LOOP_MARK = '.sb';
/** cookie + 16 hex digits (newBranch) + mark + 16 hex digits */
const OUR_BRANCH_LENGTH = MAGIC_COOKIE.length + 16 + LOOP_MARK.length + 16;

/** §16.6 step 8: a unique branch that also carries the loop-detection hash. */
export function proxyBranch(hash: string): string {
  return newBranch() + LOOP_MARK + hash;
}

/** The loop hash carried by a branch we wrote, or undefined when the branch is not of our making. */
export function branchLoopHash(branch: string | undefined): string | undefined {
  if (branch === undefined || branch.length !== OUR_BRANCH_LENGTH || !branch.startsWith(MAGIC_COOKIE)) return undefined;
  if (branch.substr(MAGIC_COOKIE.length + 16, LOOP_MARK.length) !== LOOP_MARK) return undefined;
  return branch.slice(OUR_BRANCH_LENGTH - 16);
}

/** §16.11: a stateless forward (the ACK for a 2xx) gets a branch derived from the request, the same for every retransmission. */
export function statelessBranch(req: SipRequest): string {
  const via = req.topVia();
  return MAGIC_COOKIE + 'sa' + hash64((via?.branch ?? '') + '\n' + (via?.host ?? '') + '\n' + loopHash(req));
}

/** True when the Via is one this proxy wrote (its sent-by names us and its branch is ours). */
export function isOurVia(via: Via, identity: LocalIdentity): boolean {
  return branchLoopHash(via.branch) !== undefined && identity.isLocalHost(via.host, via.port);
}

// ---------------------------------------------------------------- our URIs

/** True when a SIP URI names this server: a served domain or one of our addresses, at one of our ports if it has one. */
export function namesUs(uri: SipUri, identity: LocalIdentity): boolean {
  if (!identity.isLocalHost(uri.host)) return false;
  return uri.port === undefined || identity.hasPort(uri.port);
}

const TOKEN_USER = 'sb';

/** Flow tokens in Record-Route user parts (see the file note). */
export class FlowTokens {
  /** a KeyObject, prepared once (a Buffer key is prepared again by every createHmac) */
  private readonly key: KeyObject;

  constructor(secret: Buffer = randomBytes(32)) {
    this.key = createSecretKey(createHmac('sha256', secret).update('switchboard flow token').digest());
  }

  private mac(flowId: string): string {
    return createHmac('sha256', this.key).update(flowId, 'latin1').digest('base64url').slice(0, 11);
  }

  /** The token of a flow: its escaped id and MAC. */
  encode(flowId: string): string {
    return escapeUriComponent(flowId, 'user') + '.' + this.mac(flowId);
  }

  /** The user part carrying these tokens (`sb~t1~t2`), or undefined for none. */
  userPart(tokens: readonly string[]): string | undefined {
    if (tokens.length === 0) return undefined;
    let u = TOKEN_USER;
    for (const t of tokens) u += '~' + t;
    return u;
  }

  /** The flow ids a URI user part carries, each verified; [] when none or forged. */
  decode(user: string | undefined): string[] {
    if (user === undefined || !user.startsWith(TOKEN_USER + '~')) return [];
    const out: string[] = [];
    for (const part of user.slice(TOKEN_USER.length + 1).split('~')) {
      const dot = part.lastIndexOf('.');
      if (dot <= 0) continue;
      const id = unescapeUri(part.slice(0, dot));
      if (part.slice(dot + 1) === this.mac(id)) out.push(id);
    }
    return out;
  }

  /** True when the user part is one of ours (a Record-Route value we wrote). */
  static isTokenUser(user: string | undefined): boolean {
    return user !== undefined && user.startsWith(TOKEN_USER + '~');
  }
}

/** §16.4: a Request-URI that is a Record-Route value we inserted (a strict router upstream put it there). */
export function isOurRecordRoute(uri: SipUri, identity: LocalIdentity): boolean {
  return namesUs(uri, identity) && (uri.params.has('lr') || FlowTokens.isTokenUser(uri.user));
}

/** §16.6 step 4 (RFC 5658): one Record-Route value naming us on one interface. */
export function recordRouteValue(sentBy: string, protocol: TransportProtocol, user: string | undefined): string {
  return `<sip:${user === undefined ? '' : user + '@'}${sentBy};transport=${protocol.toLowerCase()};lr>`;
}

// ---------------------------------------------------------------- sent-by

function isWildcard(a: string): boolean {
  return a === '' || a === '0.0.0.0' || a === '::' || a === '::0';
}

function hostText(a: string): string {
  return a.includes(':') && a.charCodeAt(0) !== 0x5b ? `[${a}]` : a;
}

/**
 * The host:port this proxy writes in its Via and Record-Route for a message
 * on one transport: `--advertise` when given; else the bound address of the
 * transport (or the local end of the flow the message leaves on); for a
 * wildcard bind, the local address of the flow on the other side, or of the
 * interface facing the destination.
 */
export class SentBy {
  private v4: string | undefined;
  private v6: string | undefined;

  constructor(
    private readonly transports: { transport(p: TransportProtocol): Transport | undefined },
    private readonly advertise?: { host: string; port?: number },
  ) {}

  of(protocol: TransportProtocol, flow: Flow | undefined, other: Flow | undefined, dest: string | undefined): string {
    let host = '';
    let port = DEFAULT_PORT[protocol];
    if (flow !== undefined && flow.protocol === protocol) {
      host = flow.localAddress;
      port = flow.localPort;
    } else {
      const bound = this.transports.transport(protocol)?.address();
      if (bound) {
        host = bound.address;
        port = bound.port;
      }
    }
    if (this.advertise) return hostText(this.advertise.host) + ':' + (this.advertise.port ?? port);
    if (isWildcard(host)) {
      const v6 = dest !== undefined ? dest.includes(':') : false;
      const o = other?.localAddress;
      if (o !== undefined && !isWildcard(o) && o.includes(':') === v6) host = o;
      else host = this.interfaceFor(dest, v6);
    }
    return hostText(host) + ':' + port;
  }

  /** A local address facing dest: loopback for a loopback destination, else the first external interface of its family. */
  private interfaceFor(dest: string | undefined, v6: boolean): string {
    if (dest !== undefined && (dest.startsWith('127.') || dest === '::1')) return v6 ? '::1' : '127.0.0.1';
    if (this.v4 === undefined) {
      this.v4 = '127.0.0.1';
      this.v6 = '::1';
      let f4 = false;
      let f6 = false;
      for (const list of Object.values(os.networkInterfaces())) {
        for (const a of list ?? []) {
          if (a.internal) continue;
          if (a.family === 'IPv4' && !f4) {
            this.v4 = a.address;
            f4 = true;
          } else if (a.family === 'IPv6' && !f6 && !a.address.startsWith('fe80')) {
            this.v6 = a.address;
            f6 = true;
          }
        }
      }
    }
    return v6 ? this.v6! : this.v4;
  }
}
