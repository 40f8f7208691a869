/**
 * Test harness for the registrar: a ManualClock, an in-memory (or file)
 * database, a fake ServerTx recording responses, fake flows, captured pino
 * lines and recording metrics. Requests are written as they travel on the wire.
 */
import { parseMessage } from '../../../src/sip/parser.js';
import { SipRequest, type SipResponse } from '../../../src/sip/message.js';
import type { ServerTx } from '../../../src/core/sip-core.js';
import { LocalIdentity } from '../../../src/core/local-identity.js';
import type { Flow, TransportProtocol } from '../../../src/transport/transport.js';
import { RELIABLE } from '../../../src/transport/transport.js';
import { openDatabase, type Database } from '../../../src/store/database.js';
import { UserStore } from '../../../src/store/user-store.js';
import { ManualClock } from '../../../src/util/clock.js';
import { createLogger } from '../../../src/util/logger.js';
import { DigestAuthenticator, computeDigestResponse, type DigestAuthenticatorOptions } from '../../../src/auth/digest-auth.js';
import { formatDigestParams, parseDigestParams } from '../../../src/auth/digest-params.js';
import { ha1 } from '../../../src/util/digest-hash.js';
import { SqliteLocationStore, type LocationStoreOptions } from '../../../src/registrar/location-service.js';
import {
  Registrar,
  type RegistrarErrorCode,
  type RegistrarMetrics,
  type RegistrarOptions,
  type UnregistrationCause,
} from '../../../src/registrar/registrar.js';

/** Parses a request written one header per line (LF line ends become CRLF; the blank line is added). */
export function wire(text: string): SipRequest {
  const lines = text.replace(/^\n+/, '').replace(/\n+$/, '').split('\n').map((l) => l.trimStart());
  const r = parseMessage(Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'));
  if (!r.ok) throw new Error(`test request does not parse: ${r.error.code} ${r.error.message}`);
  if (!(r.message instanceof SipRequest)) throw new Error('not a request');
  return r.message;
}

export interface RegisterOpts {
  ruri?: string;
  to?: string;
  callId?: string;
  cseq?: number;
  /** Contact header lines (each one line); [] for a query */
  contacts?: string[];
  expires?: number | string;
  /** Via header values, topmost first (default: one UDP Via from the client) */
  vias?: string[];
  /** any other header lines, e.g. 'Supported: outbound' */
  extra?: string[];
}

/** A REGISTER as a client sends it. */
export function registerText(o: RegisterOpts = {}): string {
  const vias = o.vias ?? ['SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-' + Math.random().toString(36).slice(2)];
  const contacts = o.contacts ?? ['<sip:alice@192.0.2.10:5060>'];
  return [
    `REGISTER ${o.ruri ?? 'sip:example.com'} SIP/2.0`,
    ...vias.map((v) => `Via: ${v}`),
    'Max-Forwards: 70',
    `From: <${o.to ?? 'sip:alice@example.com'}>;tag=f1`,
    `To: <${o.to ?? 'sip:alice@example.com'}>`,
    `Call-ID: ${o.callId ?? 'reg-1@192.0.2.10'}`,
    `CSeq: ${o.cseq ?? 1} REGISTER`,
    ...contacts.map((c) => `Contact: ${c}`),
    ...(o.expires !== undefined ? [`Expires: ${o.expires}`] : []),
    ...(o.extra ?? []),
    'Content-Length: 0',
  ].join('\n');
}

let flowSeq = 0;

export function fakeFlow(o: { protocol?: TransportProtocol; remoteAddress?: string; remotePort?: number; id?: string } = {}): Flow {
  const protocol = o.protocol ?? 'UDP';
  const remoteAddress = o.remoteAddress ?? '192.0.2.10';
  const remotePort = o.remotePort ?? 5060;
  return {
    id: o.id ?? (protocol === 'UDP' ? `udp:${remoteAddress}:${remotePort}` : `${protocol.toLowerCase()}-${++flowSeq}`),
    protocol,
    reliable: RELIABLE[protocol],
    remoteAddress,
    remotePort,
    localAddress: '192.0.2.1',
    localPort: 5060,
    closed: false,
    send: () => true,
  };
}

export class RecordingTx implements ServerTx {
  readonly responses: SipResponse[] = [];
  constructor(
    readonly request: SipRequest,
    readonly flow: Flow,
  ) {}
  /** for each response, whether it was sent with respondStateless */
  readonly stateless: boolean[] = [];
  respond(res: SipResponse): void {
    this.responses.push(res);
    this.stateless.push(false);
  }
  /** for each response, the bytes the registrar serialized it to ahead of sending, if it did */
  readonly early: Array<Buffer | undefined> = [];
  respondStateless(res: SipResponse, bytes?: Buffer): void {
    this.responses.push(res);
    this.stateless.push(true);
    this.early.push(bytes);
  }
  /** times the registrar said it keeps no transaction state for this request */
  keptNoState = 0;
  keepNoState(): void {
    this.keptNoState++;
  }
  get last(): SipResponse | undefined {
    return this.responses[this.responses.length - 1];
  }
}

export class RecordingMetrics implements RegistrarMetrics {
  registrations = 0;
  readonly unregistrations: Record<UnregistrationCause, number> = { request: 0, expired: 0, 'flow-closed': 0 };
  readonly failures: RegistrarErrorCode[] = [];
  registered(n: number): void {
    this.registrations += n;
  }
  unregistered(n: number, cause: UnregistrationCause): void {
    this.unregistrations[cause] += n;
  }
  failed(code: RegistrarErrorCode): void {
    this.failures.push(code);
  }
  answered = 0;
  answeredAgain(): void {
    this.answered++;
  }
  get lastFailure(): RegistrarErrorCode | undefined {
    return this.failures[this.failures.length - 1];
  }
}

/** One event-loop turn: the store's batch commit (setImmediate) runs before this resolves. */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface HarnessOpts {
  db?: Database;
  clock?: ManualClock;
  auth?: boolean | Partial<DigestAuthenticatorOptions>;
  registrar?: Partial<RegistrarOptions>;
  store?: Partial<LocationStoreOptions>;
}

export const DOMAIN = 'example.com';
export const PASSWORD = 'wonderland';

export function harness(o: HarnessOpts = {}) {
  const clock = o.clock ?? new ManualClock();
  const db = o.db ?? openDatabase(':memory:');
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger('debug', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const store = new SqliteLocationStore({ db, clock, logger, ...o.store });
  const identity = new LocalIdentity([DOMAIN, 'example.org']);
  const users = new UserStore(db, clock);
  users.add('alice', DOMAIN, PASSWORD);
  users.add('bob', DOMAIN, 'builder');
  let auth: DigestAuthenticator | null = null;
  if (o.auth) {
    auth = new DigestAuthenticator({
      clock,
      secret: Buffer.alloc(32, 7),
      nonceTtlMs: 60_000,
      lookup: (u, realm) => users.get(u, realm),
      maxFailures: 3,
      failureWindowMs: 60_000,
      lockoutMs: 300_000,
      ...(typeof o.auth === 'object' ? o.auth : {}),
    });
  }
  const metrics = new RecordingMetrics();
  const registrar = new Registrar({ store, identity, auth, clock, logger, metrics, ...o.registrar });
  const udp = fakeFlow();

  /** Hands the request to the registrar; returns the tx without waiting for the commit. */
  function deliver(text: string, flow: Flow = udp): RecordingTx {
    const req = wire(text);
    const tx = new RecordingTx(req, flow);
    registrar.onRequest(req, tx);
    return tx;
  }

  /** Hands the request over and waits one turn (the commit); returns the one response. */
  async function send(text: string, flow: Flow = udp): Promise<SipResponse> {
    const tx = deliver(text, flow);
    await turn();
    if (tx.responses.length !== 1) throw new Error(`expected one response, got ${tx.responses.length}`);
    return tx.responses[0]!;
  }

  function rows(): Array<Record<string, unknown>> {
    return db.prepare('SELECT * FROM bindings ORDER BY id').all() as Array<Record<string, unknown>>;
  }

  return { clock, db, store, identity, users, auth, metrics, registrar, logs, udp, deliver, send, rows };
}

/** The Authorization value a client computes for a challenge. */
export function authorization(
  challenge: string,
  o: { username?: string; password?: string; uri?: string; nc?: number; cnonce?: string; realm?: string } = {},
): string {
  const ch = parseDigestParams(challenge)!;
  const username = o.username ?? 'alice';
  const realm = o.realm ?? ch.get('realm')!;
  const algorithm = ch.get('algorithm') ?? 'MD5';
  const nonce = ch.get('nonce')!;
  const uri = o.uri ?? 'sip:example.com';
  const nc = (o.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = o.cnonce ?? 'c0ffee';
  const hash = algorithm.startsWith('SHA-256') ? 'SHA-256' : 'MD5';
  const response = computeDigestResponse({
    algorithm,
    ha1: ha1(hash, username, realm, o.password ?? PASSWORD),
    nonce,
    method: 'REGISTER',
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

/** Contact header values of a response, each parsed. */
export function contactsOf(res: SipResponse) {
  const c = res.contacts();
  if (!c || c.star) return [];
  return c.contacts;
}
