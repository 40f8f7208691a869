/**
 * Issue 3: WsTransport (RFC 7118) in-process on a ManualClock with real
 * loopback sockets — ping/pong keeps live flows and terminates dead ones,
 * flows and their close callback, connect() to a WebSocket client's flow,
 * subprotocol and connection-cap refusals. Opens sockets: runs in the private
 * network namespace.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { assertPrivateNetwork } from '../support/server-process.js';
import { testCert } from '../support/certs.js';
import { options } from '../support/sip-client.js';
import { delay, settlesWithin, until, within, wsConnect, wsRefusedStatus, type WsConnectOptions, type WsPeer } from '../support/peers.js';
import { WsTransport, type WsOptions } from '../../src/transport/ws.js';
import type { Flow } from '../../src/transport/transport.js';
import { ManualClock } from '../../src/util/clock.js';
import { createLogger } from '../../src/util/logger.js';

assertPrivateNetwork();

interface Harness {
  t: WsTransport;
  clock: ManualClock;
  url: string;
  messages: Array<{ text: string; flow: Flow }>;
  closedFlows: Flow[];
  refused: string[];
  keepalives: { n: number };
  logs: string[];
}

const open: Array<{ close(): unknown }> = [];

afterEach(async () => {
  const items = open.splice(0);
  for (const o of items.reverse()) await o.close();
});

async function start(opts: Partial<Pick<WsOptions, 'protocol' | 'maxConnections' | 'pingIntervalMs'>> = {}): Promise<Harness> {
  const clock = new ManualClock();
  const logs: string[] = [];
  const messages: Harness['messages'] = [];
  const closedFlows: Flow[] = [];
  const refused: string[] = [];
  const keepalives = { n: 0 };
  const protocol = opts.protocol ?? 'WS';
  const cert = protocol === 'WSS' ? testCert() : undefined;
  const t = new WsTransport({
    protocol,
    host: '127.0.0.1',
    port: 0,
    clock,
    logger: createLogger('debug', { write: (s: string) => void logs.push(s) }),
    sink: {
      onMessage: (data, flow) => void messages.push({ text: data.toString('utf8'), flow }),
      onFlowClosed: (flow) => void closedFlows.push(flow),
    },
    ...(opts.maxConnections !== undefined ? { maxConnections: opts.maxConnections } : {}),
    ...(opts.pingIntervalMs !== undefined ? { pingIntervalMs: opts.pingIntervalMs } : {}),
    ...(cert ? { tls: { cert: cert.cert, key: cert.key } } : {}),
    onRefused: (r) => void refused.push(r),
    onKeepalive: () => void keepalives.n++,
  });
  await t.listen();
  open.push(t);
  const scheme = protocol === 'WSS' ? 'wss' : 'ws';
  return { t, clock, url: `${scheme}://127.0.0.1:${t.address().port}`, messages, closedFlows, refused, keepalives, logs };
}

async function client(h: Harness, opts: WsConnectOptions = {}): Promise<WsPeer> {
  const c = await wsConnect(h.url, opts);
  open.push(c);
  return c;
}

/** sends a request and returns the flow it was delivered on */
async function flowOf(h: Harness, c: WsPeer, callId = `w-${Math.random()}`): Promise<Flow> {
  c.send(options({ uri: 'sip:127.0.0.1', via: 'SIP/2.0/WS df7jal23ls0d.invalid', callId }));
  await until(() => h.messages.some((m) => m.text.includes(`Call-ID: ${callId}\r\n`)), 3000, 'the request to arrive');
  return h.messages.find((m) => m.text.includes(`Call-ID: ${callId}\r\n`))!.flow;
}

function pings(c: WsPeer): { n: number } {
  const count = { n: 0 };
  c.ws.on('ping', () => count.n++);
  return count;
}

describe('ping/pong (RFC 7118 flows kept alive, dead ones detected)', { timeout: 15_000 }, () => {
  it('terminates a peer that misses a pong on the next ping round; a peer that answers survives', async () => {
    const h = await start();
    const live = await client(h);
    const dead = await client(h, { autoPong: false });
    const liveFlow = await flowOf(h, live);
    const deadFlow = await flowOf(h, dead);
    const livePings = pings(live);
    const deadPings = pings(dead);

    h.t.pingAll();
    await until(() => livePings.n === 1 && deadPings.n === 1, 3000, 'both peers pinged');
    await until(() => h.keepalives.n === 1, 3000, "the live peer's pong");
    await delay(100); // the dead peer never answers
    expect(h.keepalives.n).toBe(1);

    h.t.pingAll();
    expect(await settlesWithin(dead.closed, 3000)).toBe(true);
    await until(() => h.closedFlows.length === 1, 3000, 'onFlowClosed');
    expect(h.closedFlows[0]!.id).toBe(deadFlow.id);
    expect(h.logs.some((l) => l.includes('missed a pong'))).toBe(true);

    await until(() => livePings.n === 2 && h.keepalives.n === 2, 3000, 'the second pong of the live peer');
    expect(live.isClosed).toBe(false);
    h.t.pingAll();
    await until(() => livePings.n === 3 && h.keepalives.n === 3, 3000, 'the third pong');
    expect(live.isClosed).toBe(false);
    expect(liveFlow.closed).toBe(false);
    expect(await flowOf(h, live)).toBe(liveFlow);
  });

  it('counts any message from the peer as a sign of life', async () => {
    const h = await start();
    const quiet = await client(h, { autoPong: false });
    await flowOf(h, quiet);
    h.t.pingAll();
    await flowOf(h, quiet); // talks instead of ponging
    h.t.pingAll();
    expect(await settlesWithin(quiet.closed, 200)).toBe(false);
  });

  it('pings on the clock every pingIntervalMs', async () => {
    const h = await start({ pingIntervalMs: 10_000 });
    const c = await client(h);
    const p = pings(c);
    h.clock.advance(9_999);
    await delay(100);
    expect(p.n).toBe(0);
    h.clock.advance(1);
    await until(() => p.n === 1, 3000, 'the first ping');
    h.clock.advance(10_000);
    await until(() => p.n === 2, 3000, 'the second ping');
  });
});

describe('flows', { timeout: 15_000 }, () => {
  it('gives each WebSocket its own flow, answers on it with a text frame, and reports its close with the same flow', async () => {
    const h = await start();
    const a = await client(h);
    const b = await client(h);
    const fa = await flowOf(h, a);
    const fb = await flowOf(h, b);
    expect(fa.id).not.toBe(fb.id);
    expect(await flowOf(h, a)).toBe(fa);
    expect(fa.protocol).toBe('WS');
    expect(fa.reliable).toBe(true);
    expect(fa.remotePort).toBe((a.ws as unknown as { _socket: { localPort: number } })._socket.localPort);
    expect(h.t.flow(fa.id)).toBe(fa);
    expect(h.t.size).toBe(2);

    expect(fa.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'))).toBe(true);
    const frame = await a.next();
    expect(frame).toEqual({ data: 'SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n', binary: false });
    expect(await b.silent(100)).toBe(true);

    a.ws.close(1000);
    await until(() => h.closedFlows.length === 1, 3000, 'onFlowClosed');
    expect(h.closedFlows[0]!.id).toBe(fa.id);
    expect(fa.closed).toBe(true);
    expect(h.t.flow(fa.id)).toBeUndefined();
    expect(h.t.size).toBe(1);
    expect(fa.send(Buffer.from('x'))).toBe(false);

    b.close(); // an abrupt end is reported too
    await until(() => h.closedFlows.length === 2, 3000, 'onFlowClosed after terminate');
    expect(h.closedFlows[1]!.id).toBe(fb.id);
  });

  it('connect() returns the open flow of a WebSocket client by its address and port, and rejects for others', async () => {
    const h = await start();
    const c = await client(h);
    const f = await flowOf(h, c);
    expect(await h.t.connect({ protocol: 'WS', address: f.remoteAddress, port: f.remotePort })).toBe(f);
    await expect(h.t.connect({ protocol: 'WS', address: '127.0.0.1', port: 9 })).rejects.toThrow(/no open WebSocket flow/);
  });

  it('answers a double-CRLF keepalive with a CRLF and does not deliver it as a message', async () => {
    const h = await start();
    const c = await client(h);
    c.send('\r\n\r\n');
    expect((await c.next()).data).toBe('\r\n');
    expect(h.keepalives.n).toBe(1);
    expect(h.messages).toEqual([]);
  });
});

describe('refusals', { timeout: 15_000 }, () => {
  it('refuses an upgrade without the sip subprotocol with 400, counted and logged', async () => {
    const h = await start();
    expect(await wsRefusedStatus(h.url, ['chat'])).toBe(400);
    expect(h.refused).toEqual(['no-sip-subprotocol']);
    expect(h.logs.some((l) => l.includes('without the sip subprotocol'))).toBe(true);
    expect(h.t.size).toBe(0);
  });

  it('refuses an upgrade beyond maxConnections with 503, counted and logged', async () => {
    const h = await start({ maxConnections: 1 });
    const first = await client(h);
    expect(await wsRefusedStatus(h.url, ['sip'])).toBe(503);
    expect(h.refused).toEqual(['max-connections']);
    expect(h.logs.some((l) => l.includes('connection limit reached'))).toBe(true);
    await flowOf(h, first);
    first.close();
    await until(() => h.t.size === 0, 3000, 'the first flow to go');
    const second = await client(h);
    await flowOf(h, second);
  });

  it('WSS: delivers over TLS with protocol WSS', async () => {
    const h = await start({ protocol: 'WSS' });
    const c = await client(h);
    const f = await flowOf(h, c);
    expect(f.protocol).toBe('WSS');
    f.send(Buffer.from('SIP/2.0 200 OK\r\n\r\n'));
    expect((await c.next()).data).toBe('SIP/2.0 200 OK\r\n\r\n');
  });
});

describe('close()', { timeout: 15_000 }, () => {
  it('closes every WebSocket and the listener', async () => {
    const h = await start();
    const c = await client(h);
    await flowOf(h, c);
    await within(h.t.close(), 3000, 'close');
    expect(await settlesWithin(c.closed, 3000)).toBe(true);
    await expect(wsConnect(h.url, { timeoutMs: 2000 })).rejects.toThrow(/ECONNREFUSED/);
  });
});
