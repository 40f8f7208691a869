/**
 * Issue 6 interop: SIP.js 0.21 in Node (over WebSocket, RFC 7118) calls a
 * SIPp UAS (UDP) through the proxy — signalling only.
 *
 * The server runs with digest authentication on, like a real deployment:
 * alice and bob are created with `switchboard user add`; SIP.js registers
 * alice (answering the MD5 challenge) and the SIPp UAS is registered as bob
 * by a raw UDP REGISTER with credentials (SIPp itself cannot answer
 * Switchboard's SHA-256-first challenge pair). SIP.js gets a fake
 * SessionDescriptionHandler (a fixed SDP offer; Node has no WebRTC).
 *
 * The call crosses transports (WS ↔ UDP), so the proxy must Record-Route so
 * that in-dialog requests find the way back: the ACK and BYE from SIP.js
 * reach the SIPp UAS, and a BYE from the SIPp UAS reaches SIP.js, whose
 * `.invalid` Contact is reachable only over its WebSocket flow.
 */
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  Inviter,
  Registerer,
  RegistererState,
  SessionState,
  UserAgent,
  type Session,
  type SessionDescriptionHandler,
  type SessionDescriptionHandlerFactory,
} from 'sip.js';
import { startServer, tempDir, type RunningServer } from '../support/server-process.js';
import { until, within } from '../support/peers.js';
import { addUserCli } from '../support/sipp.js';
import { describeAll, headerValues, registerContact, startUas, stopAll, type SippProcess } from '../support/sipp-proxy.js';

const DOMAIN = 'example.test';
const PASSWORDS = { alice: 'alice-Secret-6', bob: 'bob-Secret-6' };
const g = globalThis as { WebSocket?: unknown };
const savedWebSocket = g.WebSocket;

const OFFER = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 49170 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
  '',
].join('\r\n');

/** A SessionDescriptionHandler without media: a fixed offer/answer body, remembers what it was given. */
class FakeSdh implements SessionDescriptionHandler {
  remote: string | undefined;
  closed = false;
  close(): void {
    this.closed = true;
  }
  getDescription(): Promise<{ body: string; contentType: string }> {
    return Promise.resolve({ body: OFFER, contentType: 'application/sdp' });
  }
  hasDescription(contentType: string): boolean {
    return contentType === 'application/sdp';
  }
  rollbackDescription(): Promise<void> {
    return Promise.resolve();
  }
  setDescription(sdp: string): Promise<void> {
    this.remote = sdp;
    return Promise.resolve();
  }
  sendDtmf(): boolean {
    return false;
  }
}

let server: RunningServer;
let dir: string;
const agents: UserAgent[] = [];
const procs: SippProcess[] = [];

beforeAll(async () => {
  dir = tempDir('sb-proxy-sipjs-');
  const db = path.join(dir, 'switchboard.db');
  await addUserCli(db, 'alice', DOMAIN, PASSWORDS.alice);
  await addUserCli(db, 'bob', DOMAIN, PASSWORDS.bob);
  server = await startServer(['--udp', '127.0.0.1:0', '--ws', '127.0.0.1:0', '--domain', DOMAIN, '--db', db], { dir });
  g.WebSocket = WebSocket;
}, 30_000);

afterEach(async () => {
  for (const ua of agents.splice(0)) await within(ua.stop(), 5000, 'SIP.js UserAgent stop').catch(() => undefined);
  await stopAll(procs);
});

afterAll(async () => {
  g.WebSocket = savedWebSocket;
  await server?.stop();
});

interface Agent {
  ua: UserAgent;
  /** what SIP.js wrote to and read from its WebSocket */
  sent: string[];
  received: string[];
  sdhs: FakeSdh[];
}

/** SIP.js UserAgent for alice over ws://127.0.0.1:<port>, started and registered. */
async function registeredAlice(): Promise<Agent> {
  const sdhs: FakeSdh[] = [];
  const factory: SessionDescriptionHandlerFactory = (_session: Session) => {
    const sdh = new FakeSdh();
    sdhs.push(sdh);
    return sdh;
  };
  const ua = new UserAgent({
    uri: UserAgent.makeURI(`sip:alice@${DOMAIN}`)!,
    transportOptions: { server: `ws://127.0.0.1:${server.port('WS')}`, connectionTimeout: 5 },
    authorizationUsername: 'alice',
    authorizationPassword: PASSWORDS.alice,
    sessionDescriptionHandlerFactory: factory,
    logBuiltinEnabled: false,
    logLevel: 'error',
    userAgentString: 'Switchboard interop (SIP.js caller)',
  });
  agents.push(ua);
  const sent: string[] = [];
  const received: string[] = [];
  const transport = ua.transport as unknown as { send(message: string): Promise<void>; onMessage?: (m: string) => void };
  const send = transport.send.bind(transport);
  transport.send = (message: string) => {
    sent.push(message);
    return send(message);
  };
  await within(ua.start(), 8000, 'SIP.js UserAgent start');
  const ws = (ua.transport as unknown as { ws?: WebSocket }).ws;
  ws?.on('message', (data: WebSocket.RawData) => received.push(data.toString()));
  const registerer = new Registerer(ua, { expires: 600 });
  await within(registerer.register(), 5000, 'register() sent');
  await until(() => registerer.state === RegistererState.Registered, 8000, 'alice registered');
  return { ua, sent, received, sdhs };
}

/** A SIPp UAS on UDP registered (with digest credentials) as bob@example.test. */
async function registeredBob(name: string, scenario: string, args: string[] = []): Promise<SippProcess> {
  const p = await startUas({ name, scenario, cwd: dir, transport: 'udp', args });
  procs.push(p);
  const reg = await registerContact({
    serverPort: server.port('UDP'),
    transport: 'udp',
    user: 'bob',
    domain: DOMAIN,
    contact: `sip:bob@127.0.0.1:${p.port}`,
    password: PASSWORDS.bob,
  });
  expect(reg.status, reg.responses.join('\n----\n')).toBe(200);
  return p;
}

/** alice calls bob and waits until the session is established. */
async function call(alice: Agent): Promise<Inviter> {
  const inviter = new Inviter(alice.ua, UserAgent.makeURI(`sip:bob@${DOMAIN}`)!);
  const states: string[] = [];
  inviter.stateChange.addListener((s) => states.push(s));
  await within(inviter.invite(), 5000, 'invite() sent');
  await until(() => inviter.state === SessionState.Established || inviter.state === SessionState.Terminated, 10_000, `the call to be answered (states: ${states.join(' → ')})`);
  expect(inviter.state, `states: ${states.join(' → ')}\n--- SIP.js received ---\n${alice.received.join('\n----\n')}`).toBe(SessionState.Established);
  return inviter;
}

function failureReport(alice: Agent, results: Array<[string, Awaited<SippProcess['done']>]>): string {
  return `${describeAll(results)}\n--- SIP.js sent ---\n${alice.sent.join('\n----\n')}\n--- SIP.js received ---\n${alice.received.join('\n----\n')}\n--- server log (tail) ---\n${server.logs.slice(-30).join('\n')}`;
}

describe('SIP.js (WS) calls a SIPp UAS (UDP) through the proxy, auth on', () => {
  it('is answered; SIP.js hangs up and its BYE reaches the UAS through the Record-Route', async () => {
    const bob = await registeredBob('bob-answer', 'proxy-uas-answer.xml');
    const alice = await registeredAlice();
    const inviter = await call(alice);
    // the answer reached the fake media layer
    expect(alice.sdhs[0]?.remote).toMatch(/^v=0\r\no=bob /);
    // caller authentication (RFC 3261 §22.3): the INVITE was challenged with 407 and sent again with MD5 credentials
    const invites = alice.sent.filter((m) => m.startsWith('INVITE '));
    expect(invites.length).toBeGreaterThanOrEqual(2);
    expect(invites[0]).not.toMatch(/\r\nProxy-Authorization:/i);
    expect(alice.received.some((m) => m.startsWith('SIP/2.0 407 '))).toBe(true);
    expect(invites[invites.length - 1]).toMatch(/\r\nProxy-Authorization: Digest [^\r\n]*username="alice"/i);

    // the 200 carried the proxy's Record-Route; SIP.js's ACK and BYE follow it as Route
    const ok = alice.received.find((m) => m.startsWith('SIP/2.0 200') && /\r\nCSeq:\s*\d+ INVITE/i.test(m))!;
    expect(headerValues(ok, 'Record-Route').length).toBeGreaterThanOrEqual(1);

    const byeAccepted = new Promise<number>((resolve) => {
      void inviter.bye({ requestDelegate: { onAccept: (r) => resolve(r.message.statusCode ?? 0), onReject: (r) => resolve(r.message.statusCode ?? 0) } });
    });
    expect(await within(byeAccepted, 5000, 'the BYE to be answered')).toBe(200);
    await until(() => inviter.state === SessionState.Terminated, 5000, 'session Terminated');

    const r = await within(bob.done, 8000, 'the SIPp UAS to end');
    expect(r.code, failureReport(alice, [['bob-answer', r]])).toBe(0);
    const atBob = bob.messages().filter((m) => m.direction === 'received');
    expect([...new Set(atBob.map((m) => m.method).filter(Boolean))]).toEqual(['INVITE', 'ACK', 'BYE']);
    // the INVITE crossed from WS to UDP: the proxy's UDP Via on top of SIP.js's WS Via
    const vias = headerValues(atBob[0]!.text, 'Via');
    expect(vias[0]).toMatch(/^SIP\/2\.0\/UDP 127\.0\.0\.1:/i);
    expect(vias[vias.length - 1]).toMatch(/^SIP\/2\.0\/WSS? [a-z0-9]+\.invalid;/i);
  }, 30_000);

  it('rings; SIP.js cancels: the CANCEL (for the re-sent, authenticated INVITE) reaches the UAS, SIP.js gets 487', async () => {
    const bob = await registeredBob('bob-ring', 'proxy-uas-ring-cancel.xml');
    const alice = await registeredAlice();
    const inviter = new Inviter(alice.ua, UserAgent.makeURI(`sip:bob@${DOMAIN}`)!);
    let ringing = false;
    await within(inviter.invite({ requestDelegate: { onProgress: (r) => (ringing ||= r.message.statusCode === 180) } }), 5000, 'invite() sent');
    await until(() => ringing, 8000, 'the 180 from bob');
    await within(inviter.cancel(), 5000, 'cancel() sent');
    await until(() => inviter.state === SessionState.Terminated, 5000, 'session Terminated after CANCEL');

    const r = await within(bob.done, 8000, 'the SIPp UAS to end');
    expect(r.code, failureReport(alice, [['bob-ring', r]])).toBe(0);
    await until(() => alice.received.some((m) => m.startsWith('SIP/2.0 487 ')), 3000, 'the 487 at SIP.js');
    const cancel = alice.sent.find((m) => m.startsWith('CANCEL '))!;
    const invites = alice.sent.filter((m) => m.startsWith('INVITE '));
    // RFC 3261 §9.1: the CANCEL's Via branch is that of the INVITE it cancels (the last one sent)
    const branch = (m: string): string | undefined => /\r\nVia:[^\r\n]*;branch=([^;\s\r\n]+)/i.exec(m)?.[1];
    expect(branch(cancel)).toBe(branch(invites[invites.length - 1]!));
    expect(alice.received.some((m) => m.startsWith('SIP/2.0 200') && /\r\nCSeq:\s*\d+ CANCEL/i.test(m))).toBe(true);
  }, 30_000);

  it('is answered; the UAS hangs up and its BYE reaches SIP.js over its WebSocket: the session ends', async () => {
    const bob = await registeredBob('bob-bye', 'proxy-uas-bye.xml', ['-d', '300']);
    const alice = await registeredAlice();
    const inviter = await call(alice);
    await until(() => inviter.state === SessionState.Terminated, 8000, 'session Terminated by the callee’s BYE');

    const r = await within(bob.done, 8000, 'the SIPp UAS to end');
    expect(r.code, failureReport(alice, [['bob-bye', r]])).toBe(0);
    // SIP.js got the BYE, addressed to its .invalid Contact, and answered it
    const bye = alice.received.find((m) => m.startsWith('BYE '));
    expect(bye, alice.received.join('\n----\n')).toBeDefined();
    expect(bye).toMatch(/^BYE sip:[^@\s]+@[a-z0-9]+\.invalid;transport=ws(;\S*)? SIP\/2\.0/i);
    expect(alice.sent.some((m) => m.startsWith('SIP/2.0 200') && /\r\nCSeq:\s*\d+ BYE/i.test(m))).toBe(true);
    expect(alice.sdhs[0]?.closed).toBe(true);
  }, 30_000);
});
