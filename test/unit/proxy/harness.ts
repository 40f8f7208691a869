/**
 * Test harness for the proxy: the real TransactionLayer on a ManualClock, a
 * fake core (transports, flows, an outbox of every message sent towards a
 * target), an in-memory location service, a resolver answering IP literals
 * at once and names from a table, and fake flows recording what is sent on
 * them. Messages are written as they travel on the wire.
 */
import { parseMessage } from '../../../src/sip/parser.js';
import { SipRequest, SipResponse, type AnyMessage } from '../../../src/sip/message.js';
import { createResponse } from '../../../src/sip/response.js';
import { serialize } from '../../../src/sip/serializer.js';
import { ManualClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';
import { stampVia } from '../../../src/core/sip-core.js';
import { LocalIdentity } from '../../../src/core/local-identity.js';
import type { Flow, Target, Transport, TransportProtocol } from '../../../src/transport/transport.js';
import { TransactionLayer } from '../../../src/transaction/transaction-layer.js';
import { DigestAuthenticator, computeDigestResponse } from '../../../src/auth/digest-auth.js';
import { formatDigestParams, parseDigestParams } from '../../../src/auth/digest-params.js';
import { ha1 } from '../../../src/util/digest-hash.js';
import type { Binding } from '../../../src/registrar/binding.js';
import type { LocationService } from '../../../src/registrar/location-service.js';
import { resolveLiteral, type Resolver } from '../../../src/proxy/resolver.js';
import type { SipUri } from '../../../src/sip/uri.js';
import { Proxy, type ProxyOptions, type ProxyCore } from '../../../src/proxy/proxy.js';
import type { BranchOutcome } from '../../../src/proxy/response-context.js';
import { FakeFlow } from '../../support/fake-flow.js';

export const PROXY_IP = '192.0.2.1';
export const DOMAIN = 'example.com';
export const PASSWORD = 'secret';

/** Parses a message written one header per line (LF becomes CRLF; the blank line is added). */
export function wire<T extends AnyMessage = SipRequest>(text: string): T {
  const lines = text.replace(/^\n+/, '').replace(/\n+$/, '').split('\n').map((l) => l.trimStart());
  const r = parseMessage(Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'));
  if (!r.ok) throw new Error(`test message does not parse: ${r.error.code} ${r.error.message}`);
  return r.message as T;
}

export function parse(bytes: Buffer): AnyMessage {
  const r = parseMessage(bytes);
  if (!r.ok) throw new Error(`sent message does not parse: ${r.error.code}`);
  return r.message;
}

let seq = 0;

export interface InviteOpts {
  method?: string;
  ruri?: string;
  from?: string;
  to?: string;
  toTag?: string;
  callId?: string;
  cseq?: number;
  via?: string;
  maxForwards?: number | null;
  extra?: string[];
}

/** A request as a caller at 192.0.2.10 sends it. */
export function request(o: InviteOpts = {}): string {
  const method = o.method ?? 'INVITE';
  return [
    `${method} ${o.ruri ?? `sip:bob@${DOMAIN}`} SIP/2.0`,
    `Via: ${o.via ?? `SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-caller-${++seq};rport`}`,
    ...(o.maxForwards === null ? [] : [`Max-Forwards: ${o.maxForwards ?? 70}`]),
    `From: <${o.from ?? `sip:alice@${DOMAIN}`}>;tag=caller`,
    `To: <${o.to ?? `sip:bob@${DOMAIN}`}>${o.toTag ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId ?? `call-${seq}@192.0.2.10`}`,
    `CSeq: ${o.cseq ?? 1} ${method}`,
    `Contact: <sip:alice@192.0.2.10:5060>`,
    ...(o.extra ?? []),
    'Content-Length: 0',
  ].join('\n');
}

export function binding(contact: string, o: Partial<Binding> = {}): Binding {
  return {
    aor: `sip:bob@${DOMAIN}`,
    key: `uri ${contact}`,
    contact,
    contactHeader: `<${contact}>`,
    q: null,
    expiresAt: Number.MAX_SAFE_INTEGER,
    callId: 'reg',
    cseq: 1,
    userAgent: null,
    received: '192.0.2.20:5060',
    transport: 'UDP',
    flowId: null,
    instanceId: null,
    regId: null,
    path: [],
    updatedAt: 0,
    ...o,
  };
}

export class FakeLocations implements LocationService {
  readonly byAor = new Map<string, Binding[]>();
  add(b: Binding): void {
    const list = this.byAor.get(b.aor) ?? [];
    list.push(b);
    this.byAor.set(b.aor, list);
  }
  lookup(aor: string, now: number): Binding[] {
    return (this.byAor.get(aor) ?? []).filter((b) => b.expiresAt > now).sort((a, b) => (b.q ?? 1) - (a.q ?? 1));
  }
}

/** IP literals at once; names from a table, answered on the next microtask (or never, when absent). */
export class FakeResolver implements Resolver {
  readonly names = new Map<string, Target[]>();
  resolve(uri: SipUri, available: (p: TransportProtocol) => boolean): Target[] | Promise<Target[]> {
    const lit = resolveLiteral(uri, available);
    if (lit) return lit;
    return Promise.resolve(this.names.get(uri.host.toLowerCase()) ?? []);
  }
}

export interface Sent {
  /** "UDP 192.0.2.20:5060" for a target, or the flow id */
  to: string;
  msg: AnyMessage;
}

class FakeTransport implements Transport {
  constructor(
    readonly protocol: TransportProtocol,
    private readonly core: FakeCore,
    private readonly port: number,
  ) {}
  listen(): Promise<void> {
    return Promise.resolve();
  }
  address(): { address: string; port: number } {
    return { address: PROXY_IP, port: this.port };
  }
  connect(): Promise<Flow> {
    return Promise.reject(new Error('not in unit tests'));
  }
  flow(id: string): Flow | undefined {
    const f = this.core.flows.get(id);
    return f && f.protocol === this.protocol ? f : undefined;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

export class FakeCore implements ProxyCore {
  readonly transports = new Map<TransportProtocol, Transport>();
  readonly flows = new Map<string, FakeFlow>();
  /** messages sent towards targets (not on a flow) */
  readonly outbox: Sent[] = [];
  /** target "address:port" that refuse (a send error) */
  readonly refused = new Set<string>();

  constructor(protocols: TransportProtocol[] = ['UDP', 'TCP', 'WS']) {
    for (const p of protocols) this.transports.set(p, new FakeTransport(p, this, p === 'WS' ? 8080 : 5060));
  }
  transport(p: TransportProtocol): Transport | undefined {
    return this.transports.get(p);
  }
  flow(id: string): Flow | undefined {
    return this.flows.get(id);
  }
  addFlow(f: FakeFlow): FakeFlow {
    this.flows.set(f.id, f);
    return f;
  }
  sendRequestBytes(bytes: Buffer, dest: { flow?: Flow; target?: Target }): boolean {
    if (dest.flow) return dest.flow.send(bytes);
    const t = dest.target!;
    if (this.refused.has(`${t.address}:${t.port}`)) return false;
    this.outbox.push({ to: `${t.protocol} ${t.address}:${t.port}`, msg: parse(bytes) });
    return true;
  }
}

export interface HarnessOpts {
  auth?: boolean;
  users?: string[];
  proxy?: Partial<ProxyOptions>;
  protocols?: TransportProtocol[];
  t1?: number;
}

export function harness(o: HarnessOpts = {}) {
  const clock = new ManualClock();
  const identity = new LocalIdentity([DOMAIN]);
  identity.addAddress(PROXY_IP, 5060);
  identity.addAddress(PROXY_IP, 8080);
  const core = new FakeCore(o.protocols);
  const locations = new FakeLocations();
  const resolver = new FakeResolver();
  const users = new Set(o.users ?? ['alice', 'bob', 'carol']);
  const auth = o.auth
    ? new DigestAuthenticator({
        clock,
        secret: Buffer.alloc(32, 7),
        lookup: (username, realm) =>
          users.has(username) && realm === DOMAIN
            ? { ha1Md5: ha1('MD5', username, realm, PASSWORD), ha1Sha256: ha1('SHA-256', username, realm, PASSWORD), enabled: true }
            : undefined,
      })
    : null;
  const outcomes: BranchOutcome[] = [];
  const relayed: number[] = [];
  const proxied: string[] = [];
  let proxy!: Proxy;
  const layer = new TransactionLayer({
    clock,
    t1: o.t1 ?? 500,
    sendResponse: (_res, bytes, flow) => flow.send(bytes),
    sendRequest: (_req, bytes, dest) => core.sendRequestBytes(bytes, dest),
    user: {
      onRequest: (req, tx) => proxy.onRequest(req, tx),
      onCancel: (c, tx, inv) => proxy.onCancel(c, tx, inv),
      onAck: (ack, flow, inv) => proxy.onAck(ack, flow, inv),
      onStrayResponse: (res, flow) => proxy.onStrayResponse(res, flow),
    },
    detectMergedRequests: false,
  });
  proxy = new Proxy({
    core,
    transactions: layer,
    identity,
    locations,
    auth,
    ...(auth ? { userExists: (u: string, d: string) => users.has(u) && d === DOMAIN } : {}),
    resolver,
    clock,
    logger: silentLogger(),
    metrics: {
      proxied: (m) => proxied.push(m),
      relayed: (s) => relayed.push(s),
      branchEnded: (x) => outcomes.push(x),
    },
    t1: o.t1 ?? 500,
    ...o.proxy,
  });
  const caller = new FakeFlow({ protocol: 'UDP', remoteAddress: '192.0.2.10', remotePort: 5060, localAddress: PROXY_IP, localPort: 5060, now: () => clock.now() });

  /** Delivers a message as the core would: Via stamped, then the transaction layer. */
  function inject(text: string | AnyMessage, flow: Flow = caller): AnyMessage {
    const msg = typeof text === 'string' ? wire<AnyMessage>(text) : parse(serialize(text));
    if (msg instanceof SipRequest) {
      stampVia(msg, flow);
      layer.receiveRequest(msg, flow);
    } else layer.receiveResponse(msg, flow);
    return msg;
  }

  /** Takes the messages sent towards targets so far. */
  function take(): Sent[] {
    return core.outbox.splice(0);
  }

  /** The responses sent on a flow so far (parsed), and forgets them. */
  function responses(flow: FakeFlow = caller): SipResponse[] {
    const out = flow.sent.map((b) => parse(b) as SipResponse);
    flow.clear();
    return out;
  }

  /** A response from downstream to a request the proxy sent (its To tag given), delivered on a UDP flow from the callee. */
  function answer(req: SipRequest, status: number, toTag = 'callee', headers: Array<[string, string]> = [], from?: Flow): SipResponse {
    const res = createResponse(req, status, { toTag, headers });
    const f = from ?? new FakeFlow({ protocol: 'UDP', remoteAddress: '192.0.2.20', remotePort: 5060, localAddress: PROXY_IP, localPort: 5060 });
    return inject(res, f) as SipResponse;
  }

  function statuses(flow: FakeFlow = caller): number[] {
    return responses(flow).map((r) => r.status);
  }

  return { clock, identity, core, locations, resolver, auth, layer, proxy, caller, outcomes, relayed, proxied, inject, take, responses, statuses, answer };
}

/** The Proxy-Authorization a client computes for a 407's challenge. */
export function proxyAuthorization(challenge: string, o: { username?: string; password?: string; method?: string; uri?: string; nc?: number } = {}): string {
  const ch = parseDigestParams(challenge)!;
  const username = o.username ?? 'alice';
  const realm = ch.get('realm')!;
  const algorithm = ch.get('algorithm') ?? 'MD5';
  const nonce = ch.get('nonce')!;
  const uri = o.uri ?? `sip:bob@${DOMAIN}`;
  const nc = (o.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = 'c0ffee';
  const hash = algorithm.startsWith('SHA-256') ? 'SHA-256' : 'MD5';
  const response = computeDigestResponse({
    algorithm,
    ha1: ha1(hash, username, realm, o.password ?? PASSWORD),
    nonce,
    method: o.method ?? 'INVITE',
    uri,
    qop: 'auth',
    nc,
    cnonce,
  });
  return formatDigestParams([
    ['username', username, true],
    ['realm', realm, true],
    ['nonce', nonce, true],
    ['uri', uri, true],
    ['response', response, true],
    ['algorithm', algorithm, false],
    ['qop', 'auth', false],
    ['nc', nc, false],
    ['cnonce', cnonce, true],
    ['opaque', ch.get('opaque')!, true],
  ]);
}

export function asRequest(m: AnyMessage): SipRequest {
  if (!(m instanceof SipRequest)) throw new Error('not a request');
  return m;
}

export function nextSeq(): number {
  return ++seq;
}
