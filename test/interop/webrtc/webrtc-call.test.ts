/**
 * Issue 6 interop: a real WebRTC call through the proxy. Two SIP.js 0.21
 * phones (index.html + phone.js, one per tab) run in headless Chromium
 * (Debian `chromium`, driven by playwright-core), register over WebSocket
 * with digest authentication (users made with `switchboard user add`),
 * and alice calls bob; bob answers. Media flows browser to browser over
 * loopback: both RTCPeerConnections reach `connected` and bob's getStats()
 * counts inbound RTP packets. Then one side hangs up and the other's
 * session ends — once alice (the caller's BYE reaches bob), once bob (his
 * BYE must reach alice over her WebSocket flow: her Contact is `.invalid`).
 *
 * The page, phone.js and SIP.js's ES modules (node_modules/sip.js/lib) are
 * served by the test on 127.0.0.1; the browser and the server both run in
 * the test's loopback-only network namespace (support/browser.ts says why
 * Chromium needs --allow-loopback-in-peer-connection there).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, tempDir, type RunningServer } from '../../support/server-process.js';
import { addUserCli } from '../../support/sipp.js';
import { launchChromium, serveStatic, type StaticServer, type TestBrowser } from '../../support/browser.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../../..');
const DOMAIN = 'example.test';
const USERS = { alice: 'alice-WebRTC-6', bob: 'bob-WebRTC-6' } as const;

interface CallInfo {
  session: string | null;
  states: string[];
  pc: string | null;
  ice: string | null;
  packetsReceived: number;
  packetsSent: number;
  candidates: string[];
}

interface Phone {
  start(o: { wsUrl: string; user: string; password: string; domain: string }): Promise<string>;
  call(target: string): Promise<void>;
  hasIncoming(): boolean;
  answer(): Promise<void>;
  hangup(): Promise<void>;
  info(): Promise<CallInfo>;
  wire(): string[];
  stop(): Promise<void>;
}
type PhoneWindow = { phone: Phone };

let server: RunningServer;
let web: StaticServer;
let browser: TestBrowser;
let alice: Page;
let bob: Page;

const info = (page: Page): Promise<CallInfo> => page.evaluate(() => (window as unknown as PhoneWindow).phone.info());

/** Polls both phones until pred holds for both; rejects after timeoutMs with both states and the wire logs. */
async function bothUntil(pred: (i: CallInfo, who: 'alice' | 'bob') => boolean, timeoutMs: number, what: string): Promise<[CallInfo, CallInfo]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [a, b] = await Promise.all([info(alice), info(bob)]);
    if (pred(a, 'alice') && pred(b, 'bob')) return [a, b];
    if (Date.now() > deadline) throw new Error(`timeout after ${timeoutMs} ms waiting for ${what}\nalice: ${JSON.stringify(a)}\nbob: ${JSON.stringify(b)}\n${await report()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function report(): Promise<string> {
  const wire = async (p: Page): Promise<string> => (await p.evaluate(() => (window as unknown as PhoneWindow).phone.wire()).catch(() => [] as string[])).join('\n----\n');
  return `--- alice wire ---\n${await wire(alice)}\n--- bob wire ---\n${await wire(bob)}\n--- browser console ---\n${browser.consoleLines.slice(-40).join('\n')}\n--- server log (tail) ---\n${server.logs.slice(-30).join('\n')}`;
}

async function openPhone(label: 'alice' | 'bob'): Promise<Page> {
  const page = await browser.newPage(label);
  await page.goto(`${web.url}/index.html`, { timeout: 10_000 });
  await page.waitForFunction(() => (window as unknown as Partial<PhoneWindow>).phone !== undefined, undefined, { timeout: 10_000 });
  const contact = await page.evaluate(
    (o) => (window as unknown as PhoneWindow).phone.start(o),
    { wsUrl: `ws://127.0.0.1:${server.port('WS')}`, user: label, password: USERS[label], domain: DOMAIN },
  );
  expect(contact).toMatch(/\.invalid;transport=ws$/);
  return page;
}

/** alice calls bob, bob answers; resolves when both peer connections are connected and bob receives RTP. */
async function establishCall(): Promise<void> {
  await alice.evaluate((target) => (window as unknown as PhoneWindow).phone.call(target), `sip:bob@${DOMAIN}`);
  // bob's INVITE, or alice's call failing (then at once, with the reason on the wire)
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (await bob.evaluate(() => (window as unknown as PhoneWindow).phone.hasIncoming())) break;
    const a = await info(alice);
    if (a.session === 'Terminated' || Date.now() > deadline) {
      throw new Error(`bob got no INVITE (alice: ${JSON.stringify(a)})\n${await report()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await bob.evaluate(() => (window as unknown as PhoneWindow).phone.answer());
  await bothUntil((i) => i.session === 'Established' && i.pc === 'connected', 15_000, 'both sessions Established and both peer connections connected');
  // media: RTP from alice's fake microphone arrives at bob (and the other way)
  const [a, b] = await bothUntil((i) => i.packetsReceived > 0, 10_000, 'inbound RTP on both sides');
  expect(b.packetsReceived).toBeGreaterThan(0);
  expect(a.packetsReceived).toBeGreaterThan(0);
  expect(b.candidates.some((c) => c.includes('127.0.0.1'))).toBe(true);
}

beforeAll(async () => {
  const dir = tempDir('sb-webrtc-');
  const db = path.join(dir, 'switchboard.db');
  // the users and the server, the page server and the browser start side by side
  const results = await Promise.allSettled([
    (async () => {
      await addUserCli(db, 'alice', DOMAIN, USERS.alice);
      await addUserCli(db, 'bob', DOMAIN, USERS.bob);
      return startServer(['--ws', '127.0.0.1:0', '--domain', DOMAIN, '--db', db], { dir });
    })(),
    serveStatic({
      '/index.html': path.join(HERE, 'index.html'),
      '/phone.js': path.join(HERE, 'phone.js'),
      '/sipjs/': path.join(ROOT, 'node_modules/sip.js/lib'),
    }),
    launchChromium(),
  ]);
  if (results[0].status === 'fulfilled') server = results[0].value;
  if (results[1].status === 'fulfilled') web = results[1].value;
  if (results[2].status === 'fulfilled') browser = results[2].value;
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  // one after the other: the second tab takes SIP.js's modules from the HTTP cache
  alice = await openPhone('alice');
  bob = await openPhone('bob');
}, 60_000);

afterAll(async () => {
  for (const p of [alice, bob]) await p?.evaluate(() => (window as unknown as PhoneWindow).phone.stop()).catch(() => undefined);
  await browser?.close();
  await web?.close();
  await server?.stop();
}, 30_000);

describe('WebRTC call between two SIP.js phones in Chromium, through the proxy (WS, digest auth)', () => {
  it('connects media; the caller hangs up and the callee’s session ends', async () => {
    await establishCall();
    await alice.evaluate(() => (window as unknown as PhoneWindow).phone.hangup());
    const [a, b] = await bothUntil((i) => i.session === 'Terminated', 8000, 'both sessions Terminated after alice’s BYE');
    for (const i of [a, b]) expect(i.states).toEqual(['Establishing', 'Established', 'Terminated']);
    // bob got the BYE and answered it
    const bobWire = await bob.evaluate(() => (window as unknown as PhoneWindow).phone.wire());
    expect(bobWire.some((m) => m.startsWith('<<< BYE '))).toBe(true);
  }, 45_000);

  it('connects media; the callee hangs up and its BYE reaches the caller over her WebSocket', async () => {
    await establishCall();
    await bob.evaluate(() => (window as unknown as PhoneWindow).phone.hangup());
    const [a, b] = await bothUntil((i) => i.session === 'Terminated', 8000, 'both sessions Terminated after bob’s BYE');
    for (const i of [a, b]) expect(i.states).toEqual(['Establishing', 'Established', 'Terminated']);
    const aliceWire = await alice.evaluate(() => (window as unknown as PhoneWindow).phone.wire());
    const bye = aliceWire.find((m) => m.startsWith('<<< BYE '));
    expect(bye, await report()).toMatch(/^<<< BYE sip:[^@\s]+@[a-z0-9]+\.invalid;transport=ws(;\S*)? SIP\/2\.0/i);
    expect(aliceWire.some((m) => m.startsWith('>>> SIP/2.0 200') && /\r\nCSeq:\s*\d+ BYE/i.test(m))).toBe(true);
  }, 45_000);
});
