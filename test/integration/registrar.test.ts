/**
 * Issue 5: the built registrar (RFC 3261 §10.3) over raw sockets — UDP, TCP
 * and WebSocket (RFC 7118) — with digest authentication (RFC 3261 §22,
 * RFC 8760: a SHA-256 and an MD5 challenge), checked against what
 * `switchboard registrations --json` reads from the same database while the
 * server runs. Users are created with `switchboard user add` before the
 * server starts. Also: restarts (UDP bindings survive, WebSocket ones do
 * not), a closed WebSocket taking its binding, and an `--auth off` server
 * (200 straight away, 423, 400 for a malformed Contact).
 *
 * The digest responses are computed here with node:crypto, independently of
 * src/auth, so that a symmetric mistake there cannot hide.
 */
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServer, tempDir, type RunningServer } from '../support/server-process.js';
import { statusOf, udpPeer, type UdpPeer } from '../support/sip-client.js';
import { tcpConnect, wsConnect, type StreamPeer, type WsPeer } from '../support/peers.js';
import { addUserCli, pollRegistrations, registrations, type RegistrationJson } from '../support/sipp.js';

const DOMAIN = 'example.test';
const PASSWORDS: Record<string, string> = {
  alice: 'alice-Secret-1',
  bob: 'bob pass 2',
  carol: 'carol:3',
  erin: 'erin-4',
  frank: 'frank-5',
  grace: 'grace-6',
  heidi: 'heidi-7',
};

// ---------------------------------------------------------------------------
// SIP helpers

/** Every value of a header (full name, case-insensitive), in order. */
function headerValues(msg: string, name: string): string[] {
  const head = msg.slice(0, msg.indexOf('\r\n\r\n'));
  const out: string[] = [];
  for (const line of head.split('\r\n').slice(1)) {
    const m = /^([^:\s]+)[ \t]*:[ \t]*(.*)$/.exec(line);
    if (m && m[1]!.toLowerCase() === name.toLowerCase()) out.push(m[2]!);
  }
  return out;
}

function reasonOf(msg: string): string {
  return /^SIP\/2\.0 \d{3} (.*)\r\n/.exec(msg)?.[1] ?? '';
}

/** The parameters of a `Digest k=v, k="v"` challenge (simple grammar: our server's output). */
function digestParams(value: string): Map<string, string> {
  expect(value).toMatch(/^Digest /);
  const params = new Map<string, string>();
  const re = /([a-zA-Z-]+)=("((?:[^"\\]|\\.)*)"|[^,\s]+)/g;
  for (let m = re.exec(value); m; m = re.exec(value)) params.set(m[1]!.toLowerCase(), m[3] ?? m[2]!);
  return params;
}

type Transport = 'UDP' | 'TCP' | 'WS';

interface RegisterFields {
  transport: Transport;
  sentBy: string;
  user: string;
  callId: string;
  cseq: number;
  /** Contact header values; [] for none (a query) */
  contacts: string[];
  expires?: number;
  authorization?: string;
}

/** A REGISTER as a UA sends it for user@example.test (Request-URI: the domain). */
function register(f: RegisterFields): string {
  return [
    `REGISTER sip:${DOMAIN} SIP/2.0`,
    `Via: SIP/2.0/${f.transport} ${f.sentBy};rport;branch=z9hG4bK-${randomBytes(6).toString('hex')}`,
    'Max-Forwards: 70',
    `From: <sip:${f.user}@${DOMAIN}>;tag=${createHash('md5').update(f.callId).digest('hex').slice(0, 10)}`,
    `To: <sip:${f.user}@${DOMAIN}>`,
    `Call-ID: ${f.callId}`,
    `CSeq: ${f.cseq} REGISTER`,
    ...f.contacts.map((c) => `Contact: ${c}`),
    ...(f.expires === undefined ? [] : [`Expires: ${f.expires}`]),
    ...(f.authorization === undefined ? [] : [`Authorization: ${f.authorization}`]),
    'User-Agent: switchboard-registrar-test',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** Digest credentials for a challenge (qop=auth), computed with node:crypto. */
function credentials(challenge: Map<string, string>, user: string, password: string, uri: string, nc = 1): string {
  const algorithm = challenge.get('algorithm') ?? 'MD5';
  const hashName = algorithm.toUpperCase() === 'SHA-256' ? 'sha256' : 'md5';
  const H = (s: string): string => createHash(hashName).update(s, 'utf8').digest('hex');
  const realm = challenge.get('realm')!;
  const nonce = challenge.get('nonce')!;
  const cnonce = randomBytes(8).toString('hex');
  const ncHex = nc.toString(16).padStart(8, '0');
  const response = H(`${H(`${user}:${realm}:${password}`)}:${nonce}:${ncHex}:${cnonce}:auth:${H(`REGISTER:${uri}`)}`);
  const opaque = challenge.get('opaque');
  return (
    `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", ` +
    `algorithm=${algorithm}, cnonce="${cnonce}", qop=auth, nc=${ncHex}${opaque !== undefined ? `, opaque="${opaque}"` : ''}`
  );
}

/** One client connection: sends a request, resolves with its final response (1xx skipped). */
interface Client {
  transport: Transport;
  /** Via sent-by */
  sentBy: string;
  /** the address the server sees (for `source`) */
  source: string;
  request(msg: string, timeoutMs?: number): Promise<string>;
  close(): void;
}

async function finalOf(next: () => Promise<string>): Promise<string> {
  for (;;) {
    const m = await next();
    if (!/^SIP\/2\.0 1\d\d /.test(m)) return m;
  }
}

function udpClient(peer: UdpPeer, serverPort: number): Client {
  return {
    transport: 'UDP',
    sentBy: `127.0.0.1:${peer.port}`,
    source: `127.0.0.1:${peer.port}`,
    request(msg, timeoutMs = 5000) {
      peer.send(msg, serverPort);
      return finalOf(async () => (await peer.next(timeoutMs)).toString('latin1'));
    },
    close: () => peer.close(),
  };
}

function tcpClient(peer: StreamPeer): Client {
  let consumed = 0;
  return {
    transport: 'TCP',
    sentBy: `127.0.0.1:${peer.socket.localPort}`,
    source: `127.0.0.1:${peer.socket.localPort}`,
    request(msg, timeoutMs = 5000) {
      peer.write(msg);
      return finalOf(async () => (await peer.messages(++consumed, timeoutMs))[consumed - 1]!);
    },
    close: () => peer.close(),
  };
}

function wsClient(peer: WsPeer, invalidHost: string): Client {
  const local = (peer.ws as unknown as { _socket?: { localPort?: number } })._socket?.localPort;
  return {
    transport: 'WS',
    sentBy: invalidHost,
    source: `127.0.0.1:${local}`,
    request(msg, timeoutMs = 5000) {
      peer.send(msg);
      return finalOf(async () => (await peer.next(timeoutMs)).data);
    },
    close: () => peer.close(),
  };
}

interface Registered {
  challenge: string;
  response: string;
  /** the challenge answered (for further requests with nc+1) */
  used: Map<string, string>;
  cseq: number;
}

/** REGISTER → 401 → REGISTER with credentials for the challenge of `algorithm`; resolves with both answers. */
async function authRegister(
  c: Client,
  o: { user: string; password?: string; callId: string; cseq?: number; contacts: string[]; expires?: number; algorithm?: 'SHA-256' | 'MD5' },
): Promise<Registered> {
  const cseq = o.cseq ?? 1;
  const base = { transport: c.transport, sentBy: c.sentBy, user: o.user, callId: o.callId, contacts: o.contacts, expires: o.expires };
  const challenge = await c.request(register({ ...base, cseq }));
  expect(statusOf(challenge), challenge).toBe(401);
  const offers = headerValues(challenge, 'WWW-Authenticate').map(digestParams);
  const used = offers.find((p) => (p.get('algorithm') ?? 'MD5').toUpperCase() === (o.algorithm ?? 'SHA-256'));
  expect(used, challenge).toBeDefined();
  const authorization = credentials(used!, o.user, o.password ?? PASSWORDS[o.user]!, `sip:${DOMAIN}`);
  const response = await c.request(register({ ...base, cseq: cseq + 1, authorization }));
  return { challenge, response, used: used!, cseq: cseq + 1 };
}

/** A further request on the same nonce (nc = 2, 3 …) with the next CSeq. */
async function authAgain(
  c: Client,
  prev: Registered,
  o: { user: string; callId: string; contacts: string[]; expires?: number; nc: number },
): Promise<string> {
  const authorization = credentials(prev.used, o.user, PASSWORDS[o.user]!, `sip:${DOMAIN}`, o.nc);
  prev.cseq++;
  return c.request(
    register({ transport: c.transport, sentBy: c.sentBy, user: o.user, callId: o.callId, cseq: prev.cseq, contacts: o.contacts, expires: o.expires, authorization }),
  );
}

const callId = (tag: string): string => `${tag}-${randomBytes(6).toString('hex')}@registrar.test`;
const aorOf = (user: string): string => `sip:${user}@${DOMAIN}`;

/** The single live binding of user@example.test, or a failure listing what is there. */
async function onlyBinding(db: string, user: string): Promise<RegistrationJson> {
  const list = await registrations(db, `${user}@${DOMAIN}`);
  expect(list, JSON.stringify(list)).toHaveLength(1);
  return list[0]!;
}

function expiresParam(contact: string): number {
  const m = /;expires=(\d+)/i.exec(contact);
  expect(m, contact).not.toBeNull();
  return Number(m![1]);
}

// ---------------------------------------------------------------------------

describe('REGISTER with digest authentication (--auth on)', () => {
  let server: RunningServer;
  let dir: string;
  let db: string;

  beforeAll(async () => {
    dir = tempDir('sb-registrar-');
    db = path.join(dir, 'switchboard.db');
    // one process at a time: several Node start-ups at once on a loaded machine are slower, not faster
    for (const [user, pw] of Object.entries(PASSWORDS)) await addUserCli(db, user, DOMAIN, pw);
    server = await startServer(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--ws', '127.0.0.1:0', '--domain', DOMAIN, '--db', db], { dir, timeoutMs: 20_000 });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('over UDP: 401 with a SHA-256 and an MD5 challenge, 200 with the binding, listed by `registrations --json`, removed by Expires: 0', async () => {
    const c = udpClient(await udpPeer(), server.port('UDP'));
    try {
      const id = callId('alice');
      const contact = `<sip:alice@${c.sentBy}>`;
      const r = await authRegister(c, { user: 'alice', callId: id, contacts: [contact], expires: 3600 });

      // the challenge: RFC 3261 §22.1 / RFC 8760 §2.4, SHA-256 first, both on one nonce
      expect(reasonOf(r.challenge)).toBe('Unauthorized');
      const offers = headerValues(r.challenge, 'WWW-Authenticate').map(digestParams);
      expect(offers.map((p) => p.get('algorithm'))).toEqual(['SHA-256', 'MD5']);
      for (const p of offers) {
        expect(p.get('realm')).toBe(DOMAIN);
        expect(p.get('qop')?.split(',').map((s) => s.trim())).toContain('auth');
        expect(p.get('nonce')).toBe(offers[0]!.get('nonce'));
      }
      expect(headerValues(r.challenge, 'To')[0]).toMatch(/;tag=\w+/);

      // §10.3 step 8: 200 with the current bindings and their expiry
      expect(statusOf(r.response), r.response).toBe(200);
      const contacts = headerValues(r.response, 'Contact');
      expect(contacts).toHaveLength(1);
      expect(contacts[0]).toMatch(new RegExp(`^<sip:alice@127\\.0\\.0\\.1:${c.sentBy.split(':')[1]}>;expires=\\d+$`));
      expect(expiresParam(contacts[0]!)).toBeGreaterThan(3590);
      expect(expiresParam(contacts[0]!)).toBeLessThanOrEqual(3600);
      expect(headerValues(r.response, 'CSeq')).toEqual(['2 REGISTER']);

      const b = await onlyBinding(db, 'alice');
      expect(b).toMatchObject({ aor: aorOf('alice'), contact: `sip:alice@${c.sentBy}`, transport: 'UDP', source: c.source, flowBound: false });
      expect(b.expiresIn).toBeGreaterThan(3590);
      expect(b.expiresIn).toBeLessThanOrEqual(3600);

      // unregister: the same contact with Expires: 0 (nc 2 on the same nonce, next CSeq)
      const gone = await authAgain(c, r, { user: 'alice', callId: id, contacts: [contact], expires: 0, nc: 2 });
      expect(statusOf(gone), gone).toBe(200);
      expect(headerValues(gone, 'Contact')).toEqual([]);
      expect(await registrations(db, `alice@${DOMAIN}`)).toEqual([]);
    } finally {
      c.close();
    }
  }, 45_000);

  it('over TCP, answering the MD5 challenge: 200, listed with transport TCP, removed by Expires: 0', async () => {
    const c = tcpClient(await tcpConnect(server.port('TCP')));
    try {
      const id = callId('bob');
      const contact = `<sip:bob@${c.sentBy};transport=tcp>`;
      const r = await authRegister(c, { user: 'bob', callId: id, contacts: [contact], expires: 600, algorithm: 'MD5' });
      expect(statusOf(r.response), r.response).toBe(200);
      const contacts = headerValues(r.response, 'Contact');
      expect(contacts).toHaveLength(1);
      expect(contacts[0]).toMatch(/^<sip:bob@127\.0\.0\.1:\d+;transport=tcp>;expires=\d+$/);
      expect(expiresParam(contacts[0]!)).toBeGreaterThan(590);
      expect(expiresParam(contacts[0]!)).toBeLessThanOrEqual(600);

      const b = await onlyBinding(db, 'bob');
      expect(b).toMatchObject({ aor: aorOf('bob'), contact: `sip:bob@${c.sentBy};transport=tcp`, transport: 'TCP', source: c.source });

      const gone = await authAgain(c, r, { user: 'bob', callId: id, contacts: [contact], expires: 0, nc: 2 });
      expect(statusOf(gone), gone).toBe(200);
      expect(await registrations(db, `bob@${DOMAIN}`)).toEqual([]);
    } finally {
      c.close();
    }
  }, 45_000);

  it('over WebSocket: a .invalid contact is bound to its flow, listed with transport WS, removed by Expires: 0', async () => {
    const peer = await wsConnect(`ws://127.0.0.1:${server.port('WS')}`);
    const c = wsClient(peer, 'abc.invalid');
    try {
      expect(peer.protocol).toBe('sip');
      const id = callId('carol');
      const contact = '<sip:xyz@abc.invalid;transport=ws>';
      const r = await authRegister(c, { user: 'carol', callId: id, contacts: [contact], expires: 600 });
      expect(statusOf(r.response), r.response).toBe(200);
      const contacts = headerValues(r.response, 'Contact');
      expect(contacts).toHaveLength(1);
      expect(contacts[0]).toMatch(/^<sip:xyz@abc\.invalid;transport=ws>;expires=\d+$/);

      const b = await onlyBinding(db, 'carol');
      expect(b).toMatchObject({ aor: aorOf('carol'), contact: 'sip:xyz@abc.invalid;transport=ws', transport: 'WS', source: c.source, flowBound: true });

      const gone = await authAgain(c, r, { user: 'carol', callId: id, contacts: [contact], expires: 0, nc: 2 });
      expect(statusOf(gone), gone).toBe(200);
      expect(await registrations(db, `carol@${DOMAIN}`)).toEqual([]);
    } finally {
      c.close();
    }
  }, 45_000);

  it('closing the WebSocket removes the binding registered over it (RFC 5626 §5.3, RFC 7118 §5)', async () => {
    const peer = await wsConnect(`ws://127.0.0.1:${server.port('WS')}`);
    const c = wsClient(peer, 'erin1.invalid');
    const r = await authRegister(c, { user: 'erin', callId: callId('erin'), contacts: ['<sip:erin-ws@erin1.invalid;transport=ws>'], expires: 600 });
    expect(statusOf(r.response), r.response).toBe(200);
    expect((await onlyBinding(db, 'erin')).flowBound).toBe(true);

    peer.ws.close(1000);
    await peer.closed;
    await pollRegistrations(db, (l) => l.length === 0, { aor: `erin@${DOMAIN}`, timeoutMs: 10_000, what: "erin's WS binding to go" });
  }, 45_000);

  it('answers a wrong password with 403 and stores nothing', async () => {
    const c = udpClient(await udpPeer(), server.port('UDP'));
    try {
      const r = await authRegister(c, { user: 'frank', password: 'not-franks-password', callId: callId('frank'), contacts: [`<sip:frank@${c.sentBy}>`], expires: 600 });
      expect(statusOf(r.response), r.response).toBe(403);
      expect(headerValues(r.response, 'WWW-Authenticate')).toEqual([]);
      expect(await registrations(db, `frank@${DOMAIN}`)).toEqual([]);
    } finally {
      c.close();
    }
  }, 45_000);

  it('answers a retransmitted REGISTER (same branch) with the same response instead of processing it again (RFC 3261 §17.2.2, §8.2.7)', async () => {
    const peer = await udpPeer();
    try {
      const port = server.port('UDP');
      const sentBy = `127.0.0.1:${peer.port}`;
      const id = callId('heidi');
      const base = { transport: 'UDP' as const, sentBy, user: 'heidi', callId: id, contacts: [`<sip:heidi@${sentBy}>`], expires: 600 };
      // the challenge, twice: it is sent statelessly (§8.2.7), so the copy is challenged
      // again, with the same To tag and a fresh nonce
      const first = register({ ...base, cseq: 1 });
      peer.send(first, port);
      const c1 = (await peer.next(5000)).toString('latin1');
      peer.send(first, port);
      const c2 = (await peer.next(5000)).toString('latin1');
      expect(statusOf(c1), c1).toBe(401);
      const nonceless = (m: string): string => m.replace(/nonce="[^"]*"/g, 'nonce="N"');
      expect(nonceless(c2)).toBe(nonceless(c1));
      expect(c2).not.toBe(c1);
      // the authenticated REGISTER, twice: the second gets the first's 200 again (regenerated from
      // the binding, §8.2.7: same To tag; only Date and the seconds left may move on), not
      // "CSeq out of order", nor a 401 for its reused nonce count
      const challenge = headerValues(c1, 'WWW-Authenticate').map(digestParams)[0]!;
      const second = register({ ...base, cseq: 2, authorization: credentials(challenge, 'heidi', PASSWORDS.heidi!, `sip:${DOMAIN}`) });
      peer.send(second, port);
      const r1 = (await peer.next(5000)).toString('latin1');
      peer.send(second, port);
      const r2 = (await peer.next(5000)).toString('latin1');
      expect(statusOf(r1), r1).toBe(200);
      expect(statusOf(r2), r2).toBe(200);
      const timeless = (m: string): string => m.replace(/^Date: .*\r\n/m, '').replace(/;expires=\d+/g, ';expires=N');
      expect(timeless(r2)).toBe(timeless(r1));
      expect(headerValues(r2, 'To')).toEqual(headerValues(r1, 'To'));
      expect(headerValues(r1, 'To')[0]).toMatch(/;tag=[0-9a-f]{16}$/);
      expect(await peer.silent(300)).toBe(true);
      expect(await registrations(db, `heidi@${DOMAIN}`)).toHaveLength(1);
    } finally {
      peer.close();
    }
  }, 45_000);

  it('keeps bindings of several users apart and lists each with its own transport', async () => {
    const udp = udpClient(await udpPeer(), server.port('UDP'));
    const tcp = tcpClient(await tcpConnect(server.port('TCP')));
    try {
      const a = await authRegister(udp, { user: 'grace', callId: callId('grace'), contacts: [`<sip:grace@${udp.sentBy}>`], expires: 900 });
      expect(statusOf(a.response), a.response).toBe(200);
      const b = await authRegister(tcp, { user: 'alice', callId: callId('alice2'), contacts: [`<sip:alice@${tcp.sentBy};transport=tcp>`], expires: 900, algorithm: 'MD5' });
      expect(statusOf(b.response), b.response).toBe(200);
      const all = await registrations(db);
      const mine = all.filter((x) => x.aor === aorOf('grace') || x.aor === aorOf('alice'));
      expect(mine.map((x) => [x.aor, x.transport]).sort()).toEqual([
        [aorOf('alice'), 'TCP'],
        [aorOf('grace'), 'UDP'],
      ]);
    } finally {
      udp.close();
      tcp.close();
    }
  }, 45_000);
});

describe('restarts', () => {
  let server: RunningServer | undefined;
  let dir: string;
  let db: string;
  const args = (): string[] => ['--udp', '127.0.0.1:0', '--ws', '127.0.0.1:0', '--domain', DOMAIN, '--db', db];

  /** A new database with alice and carol, for one test. */
  async function freshDatabase(): Promise<void> {
    dir = tempDir('sb-registrar-restart-');
    db = path.join(dir, 'switchboard.db');
    for (const user of ['alice', 'carol']) await addUserCli(db, user, DOMAIN, PASSWORDS[user]!);
  }

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  /** Registers alice over UDP and carol over WS on the running server; returns alice's contact URI. */
  async function registerBoth(s: RunningServer, tag: string): Promise<{ aliceContact: string; ws: WsPeer }> {
    const udp = udpClient(await udpPeer(), s.port('UDP'));
    try {
      const a = await authRegister(udp, { user: 'alice', callId: callId(`alice-${tag}`), contacts: [`<sip:alice@${udp.sentBy}>`], expires: 3600 });
      expect(statusOf(a.response), a.response).toBe(200);
      const ws = await wsConnect(`ws://127.0.0.1:${s.port('WS')}`);
      const w = await authRegister(wsClient(ws, `${tag}.invalid`), { user: 'carol', callId: callId(`carol-${tag}`), contacts: [`<sip:xyz@${tag}.invalid;transport=ws>`], expires: 3600 });
      expect(statusOf(w.response), w.response).toBe(200);
      const list = await registrations(db);
      expect(list.map((b) => [b.aor, b.transport]).sort()).toEqual([
        [aorOf('alice'), 'UDP'],
        [aorOf('carol'), 'WS'],
      ]);
      return { aliceContact: `sip:alice@${udp.sentBy}`, ws };
    } finally {
      udp.close();
    }
  }

  /** After a restart: the UDP binding is listed, and the server holds it (a REGISTER query returns it). */
  async function expectUdpBindingKept(s: RunningServer, aliceContact: string): Promise<void> {
    const list = await registrations(db);
    expect(list.map((b) => [b.aor, b.transport, b.contact])).toEqual([[aorOf('alice'), 'UDP', aliceContact]]);
    expect(list[0]!.expiresIn).toBeGreaterThan(3500);
    // RFC 3261 §10.2.3: a REGISTER without Contact is a query: the restarted server answers with what it loaded
    const c = udpClient(await udpPeer(), s.port('UDP'));
    try {
      const q = await authRegister(c, { user: 'alice', callId: callId('alice-query'), contacts: [] });
      expect(statusOf(q.response), q.response).toBe(200);
      expect(headerValues(q.response, 'Contact').map((v) => v.replace(/;expires=\d+$/, ''))).toEqual([`<${aliceContact}>`]);
    } finally {
      c.close();
    }
  }

  it('a restart (SIGTERM, start again on the same database) keeps the UDP binding and drops the WebSocket one', async () => {
    await freshDatabase();
    server = await startServer(args(), { dir, timeoutMs: 20_000 });
    const { aliceContact, ws } = await registerBoth(server, 'restart1');
    await server.stop();
    ws.close();
    server = await startServer(args(), { dir, timeoutMs: 20_000 });
    await expectUdpBindingKept(server, aliceContact);
  }, 90_000);

  it('after a crash (SIGKILL) the WebSocket binding left on disk is dropped when the server starts', async () => {
    await freshDatabase();
    server = await startServer(args(), { dir, timeoutMs: 20_000 });
    const { aliceContact, ws } = await registerBoth(server, 'crash1');
    const proc = server.proc;
    server = undefined; // stop() of a killed server would wait for an exit that has happened
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGKILL');
    await exited;
    ws.close();
    // nothing cleaned up: the WebSocket binding is still on disk (and unexpired)
    expect((await registrations(db)).map((b) => b.transport).sort()).toEqual(['UDP', 'WS']);
    server = await startServer(args(), { dir, timeoutMs: 20_000 });
    await expectUdpBindingKept(server, aliceContact);
  }, 90_000);
});

describe('--auth off', () => {
  let server: RunningServer;
  let db: string;

  beforeAll(async () => {
    const dir = tempDir('sb-registrar-open-');
    db = path.join(dir, 'switchboard.db');
    server = await startServer(['--udp', '127.0.0.1:0', '--domain', DOMAIN, '--auth', 'off', '--db', db], { dir, timeoutMs: 20_000 });
  }, 45_000);

  afterAll(async () => {
    await server?.stop();
  });

  const send = async (f: Omit<RegisterFields, 'transport' | 'sentBy'>): Promise<{ res: string; sentBy: string }> => {
    const c = udpClient(await udpPeer(), server.port('UDP'));
    try {
      const res = await c.request(register({ ...f, transport: 'UDP', sentBy: c.sentBy }));
      return { res, sentBy: c.sentBy };
    } finally {
      c.close();
    }
  };

  it('answers a REGISTER without credentials with 200 and stores the binding', async () => {
    const { res } = await send({ user: 'nobody', callId: callId('open'), cseq: 1, contacts: ['<sip:nobody@127.0.0.1:5099>'], expires: 300 });
    expect(statusOf(res), res).toBe(200);
    expect(headerValues(res, 'WWW-Authenticate')).toEqual([]);
    const contacts = headerValues(res, 'Contact');
    expect(contacts).toHaveLength(1);
    expect(contacts[0]).toMatch(/^<sip:nobody@127\.0\.0\.1:5099>;expires=\d+$/);
    expect(expiresParam(contacts[0]!)).toBeLessThanOrEqual(300);
    const b = await onlyBinding(db, 'nobody');
    expect(b).toMatchObject({ contact: 'sip:nobody@127.0.0.1:5099', transport: 'UDP' });
  }, 20_000);

  it('answers Expires: 10 with 423 Interval Too Brief and Min-Expires: 60, storing nothing', async () => {
    const { res } = await send({ user: 'brief', callId: callId('brief'), cseq: 1, contacts: ['<sip:brief@127.0.0.1:5099>'], expires: 10 });
    expect(statusOf(res), res).toBe(423);
    expect(reasonOf(res)).toBe('Interval Too Brief');
    expect(headerValues(res, 'Min-Expires')).toEqual(['60']);
    expect(await registrations(db, `brief@${DOMAIN}`)).toEqual([]);
  }, 20_000);

  it('answers a malformed Contact with 400 and stores nothing, not even the well-formed contact beside it', async () => {
    // broken header syntax (the parser's 400) and a well-formed header whose second URI is no SIP URI (the registrar's 400)
    const broken = ['<sip:mallory@127.0.0.1:5099>', '<sip:mallory@127.0.0.1:5098'];
    const badUri = ['<sip:mallory@127.0.0.1:5099>', '<sip:@>'];
    for (const contacts of [broken, badUri]) {
      const { res } = await send({ user: 'mallory', callId: callId('mallory'), cseq: 1, contacts, expires: 300 });
      expect(statusOf(res), res).toBe(400);
      expect(reasonOf(res)).toMatch(/contact/i);
      expect(await registrations(db, `mallory@${DOMAIN}`)).toEqual([]);
    }
    // and the server goes on serving
    const { res: ok } = await send({ user: 'mallory', callId: callId('mallory2'), cseq: 1, contacts: ['<sip:mallory@127.0.0.1:5099>'], expires: 300 });
    expect(statusOf(ok), ok).toBe(200);
  }, 20_000);
});
