/**
 * Issue 5 interop: SIP.js 0.21 in Node registers over WebSocket (RFC 7118)
 * with digest authentication, the way a WebRTC phone does: a `.invalid`
 * contact, bound to its WebSocket. `switchboard registrations --json` on the
 * same database lists the binding with transport WS while it lasts, and not
 * after SIP.js unregisters. A wrong password gets 403.
 *
 * SIP.js answers only MD5 challenges, and of several WWW-Authenticate headers
 * its parser keeps the last one: Switchboard's pair (SHA-256, then MD5,
 * RFC 8760 §2.4) therefore works with it — the test checks it answered MD5.
 * Node 20 has no global WebSocket: the `ws` package's is installed for SIP.js.
 */
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Registerer, RegistererState, UserAgent, type Core } from 'sip.js';
import { startServer, tempDir, type RunningServer } from '../support/server-process.js';
import { until, within } from '../support/peers.js';
import { addUserCli, pollRegistrations, registrations } from '../support/sipp.js';

const DOMAIN = 'example.test';
const PASSWORD = 'sip.js-Secret-42';
const g = globalThis as { WebSocket?: unknown };
const savedWebSocket = g.WebSocket;

let server: RunningServer;
let db: string;
const agents: UserAgent[] = [];

beforeAll(async () => {
  const dir = tempDir('sb-sipjs-reg-');
  db = path.join(dir, 'switchboard.db');
  await addUserCli(db, 'alice', DOMAIN, PASSWORD);
  await addUserCli(db, 'bob', DOMAIN, PASSWORD);
  server = await startServer(['--ws', '127.0.0.1:0', '--domain', DOMAIN, '--db', db], { dir, timeoutMs: 20_000 });
  g.WebSocket = WebSocket;
}, 60_000);

afterEach(async () => {
  for (const ua of agents.splice(0)) await within(ua.stop(), 5000, 'SIP.js UserAgent stop').catch(() => undefined);
});

afterAll(async () => {
  g.WebSocket = savedWebSocket;
  await server?.stop();
});

/** A started SIP.js UserAgent for user@example.test over ws://127.0.0.1:<port>; `sent` records what it writes. */
async function startAgent(user: string, password: string): Promise<{ ua: UserAgent; sent: string[] }> {
  const ua = new UserAgent({
    uri: UserAgent.makeURI(`sip:${user}@${DOMAIN}`)!,
    transportOptions: { server: `ws://127.0.0.1:${server.port('WS')}`, connectionTimeout: 5 },
    authorizationUsername: user,
    authorizationPassword: password,
    logBuiltinEnabled: false,
    logLevel: 'error',
    userAgentString: 'Switchboard interop (SIP.js registerer)',
  });
  agents.push(ua);
  const sent: string[] = [];
  const transport = ua.transport as unknown as { send(message: string): Promise<void> };
  const send = transport.send.bind(transport);
  transport.send = (message: string) => {
    sent.push(message);
    return send(message);
  };
  await within(ua.start(), 8000, 'SIP.js UserAgent start');
  return { ua, sent };
}

describe('SIP.js Registerer over WebSocket', () => {
  it('registers with digest authentication; the .invalid contact is listed with transport WS; unregister removes it', async () => {
    const { ua, sent } = await startAgent('alice', PASSWORD);
    const registerer = new Registerer(ua, { expires: 600 });
    await within(registerer.register(), 5000, 'register() sent');
    await until(() => registerer.state === RegistererState.Registered, 8000, 'registerer.state === Registered');

    // it was challenged and answered the MD5 challenge (see the file note)
    const registers = sent.filter((m) => m.startsWith('REGISTER '));
    expect(registers.length).toBeGreaterThanOrEqual(2);
    expect(registers[0]).not.toMatch(/\r\nAuthorization:/i);
    expect(registers[1]).toMatch(/\r\nAuthorization: Digest [^\r\n]*algorithm=MD5/i);

    const contactUri = ua.contact.uri.toString();
    expect(contactUri).toMatch(/^sip:[^@]+@[a-z0-9]+\.invalid;transport=ws$/);
    const list = await registrations(db, `alice@${DOMAIN}`);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ aor: `sip:alice@${DOMAIN}`, contact: contactUri, transport: 'WS', flowBound: true });
    expect(list[0]!.expiresIn).toBeGreaterThan(590);
    expect(list[0]!.expiresIn).toBeLessThanOrEqual(600);
    expect(list[0]!.userAgent).toBe('Switchboard interop (SIP.js registerer)');

    await within(registerer.unregister(), 5000, 'unregister() sent');
    await until(() => registerer.state === RegistererState.Unregistered, 8000, 'registerer.state === Unregistered');
    // the 200 to the un-REGISTER comes after the commit: the binding is already gone
    expect(await registrations(db, `alice@${DOMAIN}`)).toEqual([]);
  }, 30_000);

  it('loses the binding when the UserAgent stops and its WebSocket closes', async () => {
    const { ua } = await startAgent('alice', PASSWORD);
    const registerer = new Registerer(ua, { expires: 600 });
    await within(registerer.register(), 5000, 'register() sent');
    await until(() => registerer.state === RegistererState.Registered, 8000, 'registerer.state === Registered');
    expect(await registrations(db, `alice@${DOMAIN}`)).toHaveLength(1);
    // drop the connection without unregistering, as a closed browser tab does
    (ua.transport as unknown as { ws?: WebSocket }).ws!.close(1000);
    await pollRegistrations(db, (l) => l.length === 0, { aor: `alice@${DOMAIN}`, timeoutMs: 10_000, what: 'the WS binding to go' });
  }, 30_000);

  it('is refused with 403 for a wrong password, and nothing is stored', async () => {
    const { ua } = await startAgent('bob', 'not-the-password');
    const registerer = new Registerer(ua, { expires: 600 });
    const rejected = new Promise<Core.IncomingResponseMessage>((resolve) => {
      void registerer.register({ requestDelegate: { onReject: (r) => resolve(r.message) } });
    });
    const res = await within(rejected, 8000, 'the REGISTER to be rejected');
    expect(res.statusCode).toBe(403);
    expect(registerer.state).not.toBe(RegistererState.Registered);
    expect(await registrations(db, `bob@${DOMAIN}`)).toEqual([]);
  }, 30_000);
});
