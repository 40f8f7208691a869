/**
 * Issue 6: calls through the stateful proxy (RFC 3261 §16), driven by SIPp
 * (Debian sip-tester 3.6.1) on both ends.
 *
 * Each test registers one or more SIPp UAS instances for an AOR of its own
 * (a REGISTER from a raw socket with `Contact: <sip:USER@127.0.0.1:PORT>`,
 * server run with --auth off: SIPp cannot answer the SHA-256 challenge),
 * then a SIPp UAC sends to the proxy's address (an IP literal) with the
 * Request-URI sip:USER@example.test; the proxy looks the AOR up and
 * forwards. Scenarios: test/interop/sipp/proxy-*.xml. Besides the SIPp exit
 * codes, the tests read SIPp's message logs (-trace_msg) to check what the
 * proxy did to the messages (Via, Record-Route, Route, Max-Forwards, the
 * retargeted Request-URI).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServer, tempDir, type RunningServer } from '../support/server-process.js';
import { udpPeer, type UdpPeer } from '../support/sip-client.js';
import { within } from '../support/peers.js';
import {
  describeAll,
  freePort,
  headerValues,
  registerContact,
  startSipp,
  startUas,
  stopAll,
  type SippMessage,
  type SippProcess,
  type SippTransport,
} from '../support/sipp-proxy.js';

const DOMAIN = 'example.test';

let dir: string;
const procs: SippProcess[] = [];
const sinks: UdpPeer[] = [];

afterEach(async () => {
  await stopAll(procs);
  for (const s of sinks.splice(0)) s.close();
});

/** Starts a SIPp UAS with the scenario and registers it as user@example.test on server (Contact with its transport). */
async function uas(server: RunningServer, name: string, scenario: string, transport: SippTransport, user: string, args: string[] = []): Promise<SippProcess> {
  const p = await startUas({ name, scenario, cwd: dir, transport, args });
  procs.push(p);
  const contact = `sip:${user}@127.0.0.1:${p.port}${transport === 'tcp' ? ';transport=tcp' : ''}`;
  const reg = await registerContact({ serverPort: server.port(transport), transport, user, domain: DOMAIN, contact });
  expect(reg.status, reg.response).toBe(200);
  return p;
}

/** Starts a SIPp UAC sending to the server's listener of the transport, calling sip:user@example.test. */
async function uac(server: RunningServer, name: string, scenario: string, transport: SippTransport, user: string, args: string[] = []): Promise<SippProcess> {
  const port = await freePort(transport);
  const p = startSipp({
    name,
    scenario,
    cwd: dir,
    target: `127.0.0.1:${server.port(transport)}`,
    port,
    transport,
    args: ['-s', user, '-key', 'domain', DOMAIN, ...args],
  });
  procs.push(p);
  return p;
}

/**
 * Waits for the UAC, then for the others (they end shortly after it); every
 * one must exit 0. A failed UAC stops the others at once rather than
 * waiting for their timeouts.
 */
async function expectAllPass(caller: SippProcess, others: SippProcess[], server: RunningServer): Promise<void> {
  const first = await caller.done;
  if (first.code !== 0) await stopAll([...others]);
  const rest = await Promise.all(
    others.map((p) => within(p.done, 8000, `${p.name} to end`).catch(async () => p.stop())),
  );
  const all: Array<[string, typeof first]> = [[caller.name, first], ...others.map((p, i): [string, typeof first] => [p.name, rest[i]!])];
  const failed = all.filter(([, r]) => r.code !== 0);
  expect(failed.map(([n]) => n), `${describeAll(all)}\n===== server log (tail) =====\n${server.logs.slice(-40).join('\n')}`).toEqual([]);
}

/** at least one (a retransmission on a loaded machine is legitimate, so not exactly one) */
function expectSome(list: SippMessage[]): void {
  expect(list.length).toBeGreaterThanOrEqual(1);
}

const received = (p: SippProcess, what: string | number): SippMessage[] =>
  p.messages().filter((m) => m.direction === 'received' && (typeof what === 'number' ? m.status === what : m.method === what));

function requestUri(m: SippMessage): string {
  return /^[A-Z]+ (\S+) SIP\/2\.0/.exec(m.text)![1]!;
}

describe('proxy calls (SIPp, --auth off)', () => {
  let server: RunningServer;

  beforeAll(async () => {
    dir = tempDir('sb-proxy-calls-');
    server = await startServer(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--domain', DOMAIN, '--auth', 'off'], { dir });
  }, 20_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('UDP: INVITE/100/180/200/ACK/BYE/200 to a registered UAS, Record-Routed through the proxy', async () => {
    // the callee rings after 300 ms: the proxy's 100 Trying (RFC 3261 §17.2.1, 200 ms) comes first
    const callee = await uas(server, 'udp-uas', 'proxy-uas-answer.xml', 'udp', 'bob', ['-d', '300']);
    const caller = await uac(server, 'udp-uac', 'proxy-uac-call.xml', 'udp', 'bob');
    await expectAllPass(caller, [callee], server);

    const proxy = `127.0.0.1:${server.port('UDP')}`;
    // caller side: 100 from the proxy, 180 and 200 relayed with only the caller's Via left
    expectSome(received(caller, 100));
    expectSome(received(caller, 180));
    const ok = received(caller, 200).find((m) => /\r\nCSeq:\s*1 INVITE/i.test(m.text))!;
    expect(headerValues(ok.text, 'Via')).toHaveLength(1);
    const rr = headerValues(ok.text, 'Record-Route');
    expect(rr.length).toBeGreaterThanOrEqual(1);
    expect(rr.some((r) => r.includes(proxy) && /;lr\b/.test(r)), rr.join(' | ')).toBe(true);

    // callee side: retargeted to the registered contact, the proxy's Via on top, Max-Forwards decremented
    const [invite] = received(callee, 'INVITE');
    expect(requestUri(invite!)).toBe(`sip:bob@127.0.0.1:${callee.port}`);
    const vias = headerValues(invite!.text, 'Via');
    expect(vias).toHaveLength(2);
    expect(vias[0]).toMatch(new RegExp(`^SIP/2\\.0/UDP ${proxy.replace(/\./g, '\\.')};`, 'i'));
    expect(vias[0]).toMatch(/;branch=z9hG4bK/);
    expect(headerValues(invite!.text, 'Max-Forwards')).toEqual(['69']);
    expect(headerValues(invite!.text, 'Record-Route').some((r) => r.includes(proxy))).toBe(true);
    // the in-dialog requests reached the callee's Contact with the proxy's own Route entries removed
    for (const method of ['ACK', 'BYE']) {
      const [m] = received(callee, method);
      expect(m, `${method} at the callee`).toBeDefined();
      expect(requestUri(m!)).toMatch(new RegExp(`^sip:bob@127\\.0\\.0\\.1:${callee.port};transport=UDP$`, 'i'));
      expect(headerValues(m!.text, 'Route'), `${method} Route`).toEqual([]);
    }
  }, 30_000);

  it('TCP: the same call over TCP on both sides (-t t1)', async () => {
    const callee = await uas(server, 'tcp-uas', 'proxy-uas-answer.xml', 'tcp', 'bob-tcp');
    const caller = await uac(server, 'tcp-uac', 'proxy-uac-call.xml', 'tcp', 'bob-tcp');
    await expectAllPass(caller, [callee], server);
    expectSome(received(caller, 180));
    const [invite] = received(callee, 'INVITE');
    expect(headerValues(invite!.text, 'Via')[0]).toMatch(/^SIP\/2\.0\/TCP 127\.0\.0\.1:/i);
    expectSome(received(callee, 'ACK'));
    expectSome(received(callee, 'BYE'));
  }, 30_000);

  it('UDP caller to a TCP callee: the call crosses transports (Record-Route on both sides)', async () => {
    const callee = await uas(server, 'x-uas', 'proxy-uas-answer.xml', 'tcp', 'bob-x');
    const caller = await uac(server, 'x-uac', 'proxy-uac-call.xml', 'udp', 'bob-x');
    await expectAllPass(caller, [callee], server);
    const [invite] = received(callee, 'INVITE');
    expect(headerValues(invite!.text, 'Via')[0]).toMatch(/^SIP\/2\.0\/TCP /i);
    expect(headerValues(invite!.text, 'Via')[1]).toMatch(/^SIP\/2\.0\/UDP /i);
    // RFC 5658 double Record-Route: the proxy's TCP address (towards the callee) above its UDP one
    const rr = headerValues(invite!.text, 'Record-Route');
    expect(rr, rr.join(' | ')).toHaveLength(2);
    expect(rr[0]).toContain(`127.0.0.1:${server.port('TCP')};`);
    expect(rr[0]).toMatch(/;transport=tcp\b/i);
    expect(rr[1]).toContain(`127.0.0.1:${server.port('UDP')};`);
    // the caller's ACK and BYE (over UDP) reached the TCP callee
    expectSome(received(callee, 'ACK'));
    expectSome(received(callee, 'BYE'));
  }, 30_000);

  it('forks to two contacts of one AOR: one answers, the other is CANCELled (200 + 487)', async () => {
    const answers = await uas(server, 'fork-answer', 'proxy-uas-answer.xml', 'udp', 'bob-fork');
    const rings = await uas(server, 'fork-ring', 'proxy-uas-ring-cancel.xml', 'udp', 'bob-fork');
    const caller = await uac(server, 'fork-uac', 'proxy-uac-call.xml', 'udp', 'bob-fork');
    await expectAllPass(caller, [answers, rings], server);
    expectSome(received(answers, 'INVITE'));
    expectSome(received(rings, 'INVITE'));
    expectSome(received(rings, 'CANCEL'));
    expectSome(received(rings, 'ACK')); // the proxy's ACK of the 487
    // the caller saw one answer and none of the losing branch's 487
    expect(received(caller, 200).filter((m) => /\r\nCSeq:\s*1 INVITE/i.test(m.text)).length).toBeGreaterThanOrEqual(1);
    expect(received(caller, 487)).toEqual([]);
    expectSome(received(answers, 'BYE'));
  }, 30_000);

  it('CANCEL after 180: 200 for the CANCEL, 487 for the INVITE, the callee CANCELled too', async () => {
    const callee = await uas(server, 'cancel-uas', 'proxy-uas-ring-cancel.xml', 'udp', 'bob-cancel');
    const caller = await uac(server, 'cancel-uac', 'proxy-uac-cancel.xml', 'udp', 'bob-cancel');
    await expectAllPass(caller, [callee], server);
    const [r487] = received(caller, 487);
    expect(headerValues(r487!.text, 'Via')).toHaveLength(1);
    expectSome(received(callee, 'CANCEL'));
  }, 30_000);

  it('CANCEL of a forked call: both ringing branches are CANCELled, the caller gets one 487', async () => {
    const one = await uas(server, 'fork-cancel-1', 'proxy-uas-ring-cancel.xml', 'udp', 'bob-fork-cancel');
    const two = await uas(server, 'fork-cancel-2', 'proxy-uas-ring-cancel.xml', 'udp', 'bob-fork-cancel');
    const caller = await uac(server, 'fork-cancel-uac', 'proxy-uac-cancel.xml', 'udp', 'bob-fork-cancel');
    await expectAllPass(caller, [one, two], server);
    expectSome(received(one, 'CANCEL'));
    expectSome(received(two, 'CANCEL'));
    // one final response for the INVITE (retransmissions of it aside): the scenario fails on any other
    expect(new Set(received(caller, 487).map((m) => headerValues(m.text, 'To')[0])).size).toBe(1);
  }, 30_000);

  it("relays the callee's 486 Busy Here", async () => {
    const callee = await uas(server, 'busy-uas', 'proxy-uas-busy.xml', 'udp', 'bob-busy');
    const caller = await uac(server, 'busy-uac', 'proxy-uac-busy.xml', 'udp', 'bob-busy');
    await expectAllPass(caller, [callee], server);
    expect(received(caller, 486)).not.toHaveLength(0);
    expectSome(received(callee, 'ACK'));
  }, 30_000);

  it('delivers a MESSAGE to the registered contact; its 200 comes back', async () => {
    const callee = await uas(server, 'msg-uas', 'proxy-uas-message.xml', 'udp', 'bob-msg');
    const caller = await uac(server, 'msg-uac', 'proxy-uac-message.xml', 'udp', 'bob-msg');
    await expectAllPass(caller, [callee], server);
    const [message] = received(callee, 'MESSAGE');
    expect(requestUri(message!)).toBe(`sip:bob-msg@127.0.0.1:${callee.port}`);
  }, 30_000);

  it('answers an INVITE for an AOR with no binding with 404 or 480', async () => {
    const peer = await udpPeer();
    sinks.push(peer);
    const callId = `nobody-${process.pid}@127.0.0.1`;
    peer.send(
      [
        `INVITE sip:nobody@${DOMAIN} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};rport;branch=z9hG4bK-nobody-${process.pid}`,
        'Max-Forwards: 70',
        `From: <sip:alice@${DOMAIN}>;tag=n1`,
        `To: <sip:nobody@${DOMAIN}>`,
        `Call-ID: ${callId}`,
        'CSeq: 1 INVITE',
        `Contact: <sip:alice@127.0.0.1:${peer.port}>`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      server.port('UDP'),
    );
    let status = 0;
    const deadline = Date.now() + 5000;
    while (status < 200 && Date.now() < deadline) {
      const m = (await peer.next(Math.max(1, deadline - Date.now()))).toString('latin1');
      status = Number(/^SIP\/2\.0 (\d{3})/.exec(m)?.[1] ?? 0);
    }
    expect([404, 480]).toContain(status);
  }, 10_000);
});

describe('proxy call timeout (--t1 100: Timer B = 6.4 s)', () => {
  let server: RunningServer;

  beforeAll(async () => {
    dir ??= tempDir('sb-proxy-calls-');
    server = await startServer(['--udp', '127.0.0.1:0', '--domain', DOMAIN, '--auth', 'off', '--t1', '100'], { dir: tempDir('sb-proxy-t1-') });
  }, 20_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('answers 408 when the registered callee never answers', async () => {
    // a callee that takes the INVITE (and its retransmissions) and says nothing
    const silent = await udpPeer();
    sinks.push(silent);
    const reg = await registerContact({ serverPort: server.port('UDP'), transport: 'udp', user: 'bob-silent', domain: DOMAIN, contact: `sip:bob-silent@127.0.0.1:${silent.port}` });
    expect(reg.status, reg.response).toBe(200);
    const started = Date.now();
    const caller = await uac(server, 'timeout-uac', 'proxy-uac-timeout.xml', 'udp', 'bob-silent');
    await expectAllPass(caller, [], server);
    const elapsed = Date.now() - started;
    const first = (await silent.next(100)).toString('latin1');
    expect(first).toMatch(new RegExp(`^INVITE sip:bob-silent@127\\.0\\.0\\.1:${silent.port} SIP/2\\.0`));
    // Timer B of the proxy's client transaction, not an early give-up
    expect(elapsed).toBeGreaterThan(5000);
    expect(elapsed).toBeLessThan(15_000);
  }, 25_000);
});
