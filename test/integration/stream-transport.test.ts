/**
 * Issue 3: StreamTransport (TCP, TLS) in-process on a ManualClock with real
 * loopback sockets — partial-message and idle timeouts driven by the clock,
 * flows and their close callback, connection reuse (RFC 3261 §18.1.1), the
 * caps on connections and buffered bytes with their log lines, TLS.
 * Opens sockets, so it runs in the private network namespace like the
 * other integration tests.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { assertPrivateNetwork } from '../support/server-process.js';
import { testCert } from '../support/certs.js';
import { options } from '../support/sip-client.js';
import { delay, settlesWithin, tcpConnect, tlsConnect, until, within, wrapSocket, type StreamPeer } from '../support/peers.js';
import { StreamTransport, type StreamConnection, type StreamLimits } from '../../src/transport/stream.js';
import type { Flow } from '../../src/transport/transport.js';
import { ManualClock } from '../../src/util/clock.js';
import { createLogger } from '../../src/util/logger.js';

assertPrivateNetwork();

interface Harness {
  t: StreamTransport;
  clock: ManualClock;
  port: number;
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

async function start(opts: { protocol?: 'TCP' | 'TLS'; limits?: Partial<StreamLimits> } = {}): Promise<Harness> {
  const clock = new ManualClock();
  const logs: string[] = [];
  const messages: Harness['messages'] = [];
  const closedFlows: Flow[] = [];
  const refused: string[] = [];
  const keepalives = { n: 0 };
  const protocol = opts.protocol ?? 'TCP';
  const cert = protocol === 'TLS' ? testCert() : undefined;
  const t = new StreamTransport({
    protocol,
    host: '127.0.0.1',
    port: 0,
    clock,
    logger: createLogger('debug', { write: (s: string) => void logs.push(s) }),
    sink: {
      onMessage: (data, flow) => void messages.push({ text: data.toString('latin1'), flow }),
      onFlowClosed: (flow) => void closedFlows.push(flow),
    },
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(cert ? { tls: { cert: cert.cert, key: cert.key } } : {}),
    onRefused: (r) => void refused.push(r),
    onKeepalive: () => void keepalives.n++,
  });
  await t.listen();
  open.push(t);
  return { t, clock, port: t.address().port, messages, closedFlows, refused, keepalives, logs };
}

async function client(h: Harness): Promise<StreamPeer> {
  const c = h.t.protocol === 'TLS' ? await tlsConnect(h.port) : await tcpConnect(h.port);
  open.push(c);
  return c;
}

function req(c: StreamPeer, callId?: string): string {
  return options({ uri: 'sip:127.0.0.1', via: `SIP/2.0/TCP 127.0.0.1:${c.socket.localPort}`, ...(callId ? { callId } : {}) });
}

/** sends a whole request and returns the flow it was delivered on */
async function flowOf(h: Harness, c: StreamPeer, callId = `c-${Math.random()}`): Promise<StreamConnection> {
  c.write(req(c, callId));
  await until(() => h.messages.some((m) => m.text.includes(`Call-ID: ${callId}\r\n`)), 3000, 'the request to arrive');
  return h.messages.find((m) => m.text.includes(`Call-ID: ${callId}\r\n`))!.flow as StreamConnection;
}

describe('partial-message timeout (ManualClock)', { timeout: 15_000 }, () => {
  it('closes a connection stuck on a partial message once the timeout passes, and only that one', async () => {
    const h = await start({ limits: { partialMessageTimeoutMs: 1500 } });
    const stuck = await client(h);
    const fine = await client(h);
    const stuckFlow = await flowOf(h, stuck);
    const fineFlow = await flowOf(h, fine);
    stuck.write('OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-partial\r\n');
    await until(() => stuckFlow.partialSince !== 0, 3000, 'the partial message to be seen');

    h.clock.advance(1000); // one sweep, 1000 ms < 1500 ms
    expect(await settlesWithin(stuck.closed, 150)).toBe(false);

    h.clock.advance(1000); // 2000 ms > 1500 ms
    expect(await settlesWithin(stuck.closed, 3000)).toBe(true);
    expect(h.refused).toContain('partial-timeout');
    expect(h.logs.some((l) => l.includes('partial message timed out'))).toBe(true);
    await until(() => h.closedFlows.length === 1, 3000, 'onFlowClosed');
    expect(h.closedFlows[0]!.id).toBe(stuckFlow.id);

    expect(fine.isClosed).toBe(false);
    expect(fineFlow.closed).toBe(false);
    await flowOf(h, fine);
  });

  it('does not close a connection whose partial message completes in time', async () => {
    const h = await start({ limits: { partialMessageTimeoutMs: 1500 } });
    const c = await client(h);
    const flow = await flowOf(h, c);
    const whole = req(c, 'completes-in-time');
    c.write(whole.slice(0, 40));
    await until(() => flow.partialSince !== 0, 3000, 'the partial message to be seen');
    h.clock.advance(1000);
    c.write(whole.slice(40));
    await until(() => h.messages.some((m) => m.text.includes('completes-in-time')), 3000, 'the completed request');
    expect(flow.partialSince).toBe(0);
    h.clock.advance(2000);
    expect(await settlesWithin(c.closed, 150)).toBe(false);
    expect(h.refused).toEqual([]);
  });
});

describe('idle timeout (ManualClock)', { timeout: 15_000 }, () => {
  it('closes a connection with no traffic for idleTimeoutMs, telling the sink with the flow the messages carried', async () => {
    const h = await start({ limits: { idleTimeoutMs: 5000 } });
    const c = await client(h);
    const flow = await flowOf(h, c);
    h.clock.advance(4000);
    expect(await settlesWithin(c.closed, 150)).toBe(false);
    h.clock.advance(2000);
    expect(await settlesWithin(c.closed, 3000)).toBe(true);
    await until(() => h.closedFlows.length === 1, 3000, 'onFlowClosed');
    expect(h.closedFlows[0]).toBe(flow);
    expect(flow.closed).toBe(true);
  });

  it('counts a CRLF keepalive as traffic', async () => {
    const h = await start({ limits: { idleTimeoutMs: 5000 } });
    const c = await client(h);
    await flowOf(h, c);
    h.clock.advance(4000);
    c.write('\r\n\r\n');
    await until(() => h.keepalives.n === 1, 3000, 'the keepalive');
    h.clock.advance(4000);
    expect(await settlesWithin(c.closed, 150)).toBe(false);
  });
});

describe('flows', { timeout: 15_000 }, () => {
  it('gives each connection its own flow id, answers on it, and reports its close once with the same flow', async () => {
    const h = await start();
    const a = await client(h);
    const b = await client(h);
    const fa = await flowOf(h, a);
    const fa2 = await flowOf(h, a);
    const fb = await flowOf(h, b);
    expect(fa2.id).toBe(fa.id);
    expect(fb.id).not.toBe(fa.id);
    expect(fa.protocol).toBe('TCP');
    expect(fa.reliable).toBe(true);
    expect(fa.remotePort).toBe(a.socket.localPort);
    expect(h.t.flow(fa.id)).toBe(fa);
    expect(h.t.size).toBe(2);

    expect(fa.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'))).toBe(true);
    await until(() => a.received().length > 0, 3000, 'the response');
    expect(a.received()).toBe('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n');
    expect(b.received()).toBe('');

    a.close();
    await until(() => h.closedFlows.length === 1, 3000, 'onFlowClosed');
    expect(h.closedFlows[0]!.id).toBe(fa.id);
    expect(fa.closed).toBe(true);
    expect(h.t.flow(fa.id)).toBeUndefined();
    expect(h.t.size).toBe(1);
    expect(fa.send(Buffer.from('x'))).toBe(false);
    await delay(50);
    expect(h.closedFlows).toHaveLength(1);
  });

  it('answers a double-CRLF ping with one CRLF and counts it as a keepalive (RFC 5626 §4.4.1)', async () => {
    const h = await start();
    const c = await client(h);
    c.write('\r\n\r\n');
    await until(() => c.received().length > 0, 3000, 'the pong');
    await delay(50);
    expect(c.received()).toBe('\r\n');
    expect(h.keepalives.n).toBe(1);
    expect(h.messages).toEqual([]);
  });
});

describe('connection reuse (RFC 3261 §18.1.1)', { timeout: 15_000 }, () => {
  it('connect() to the address of an inbound connection returns that connection', async () => {
    const h = await start();
    const c = await client(h);
    const f = await flowOf(h, c);
    const again = await within(h.t.connect({ protocol: 'TCP', address: '127.0.0.1', port: c.socket.localPort! }), 3000, 'connect');
    expect(again).toBe(f);
  });

  it('opens one outbound connection for concurrent connect() calls, reuses it, and opens a new one once it closed', async () => {
    const h = await start();
    const accepted: net.Socket[] = [];
    const target = net.createServer((s) => {
      accepted.push(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()));
    open.push({ close: () => new Promise<void>((r) => target.close(() => r())) });
    open.push({ close: () => accepted.forEach((s) => s.destroy()) });
    const port = (target.address() as net.AddressInfo).port;
    const dest = { protocol: 'TCP' as const, address: '127.0.0.1', port };

    const [f1, f2] = await within(Promise.all([h.t.connect(dest), h.t.connect(dest)]), 3000, 'connect');
    expect(f2).toBe(f1);
    const f3 = await h.t.connect(dest);
    expect(f3).toBe(f1);
    await until(() => accepted.length >= 1, 3000, 'the accept');
    await delay(50);
    expect(accepted).toHaveLength(1);

    let got = '';
    accepted[0]!.on('data', (d: Buffer) => (got += d.toString('latin1')));
    expect(f1.send(Buffer.from('OPTIONS sip:x SIP/2.0\r\n\r\n'))).toBe(true);
    await until(() => got.length > 0, 3000, 'the bytes at the target');
    expect(got).toBe('OPTIONS sip:x SIP/2.0\r\n\r\n');

    accepted[0]!.destroy();
    await until(() => h.closedFlows.includes(f1), 3000, 'onFlowClosed for the outbound flow');
    const f4 = await within(h.t.connect(dest), 3000, 'reconnect');
    expect(f4).not.toBe(f1);
    expect(f4.id).not.toBe(f1.id);
    await until(() => accepted.length === 2, 3000, 'the second accept');
  });

  it('rejects connect() to a port nobody listens on', async () => {
    const h = await start();
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const deadPort = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    await expect(within(h.t.connect({ protocol: 'TCP', address: '127.0.0.1', port: deadPort }), 3000, 'connect')).rejects.toThrow(/ECONNREFUSED/);
    expect(h.t.size).toBe(0);
  });
});

describe('limits', { timeout: 15_000 }, () => {
  it('drops connections beyond maxConnections, with a log line, and keeps the others', async () => {
    const h = await start({ limits: { maxConnections: 2 } });
    const a = await client(h);
    const b = await client(h);
    await flowOf(h, a);
    await flowOf(h, b);
    const c = await client(h);
    expect(await settlesWithin(c.closed, 3000)).toBe(true);
    expect(h.refused).toContain('max-connections');
    expect(h.logs.some((l) => l.includes('connection limit reached'))).toBe(true);
    expect(h.t.size).toBe(2);
    await flowOf(h, a);
    await flowOf(h, b);
  });

  it('refuses a send beyond maxSendBuffer, with a log line, and keeps the connection', async () => {
    const h = await start({ limits: { maxSendBuffer: 1000 } });
    const c = await client(h);
    const f = await flowOf(h, c);
    expect(f.send(Buffer.alloc(2000, 0x41))).toBe(false);
    expect(h.refused).toContain('send-buffer');
    expect(h.logs.some((l) => l.includes('send buffer limit reached'))).toBe(true);
    expect(f.send(Buffer.from('ok'))).toBe(true);
    await until(() => c.received() === 'ok', 3000, 'the small send');
    expect(f.closed).toBe(false);
  });

  it('closes a connection whose message exceeds maxMessageSize, with a log line', async () => {
    const h = await start({ limits: { maxMessageSize: 1000 } });
    const c = await client(h);
    const f = await flowOf(h, c);
    c.write(req(c).replace('Content-Length: 0', 'Content-Length: 2000'));
    expect(await settlesWithin(c.closed, 3000)).toBe(true);
    expect(h.refused).toContain('bad-framing');
    expect(h.logs.some((l) => l.includes('unframeable input'))).toBe(true);
    await until(() => h.closedFlows.includes(f), 3000, 'onFlowClosed');
  });
});

describe('TLS', { timeout: 15_000 }, () => {
  it('delivers messages with protocol TLS and answers on the connection', async () => {
    const h = await start({ protocol: 'TLS' });
    const c = await client(h);
    const f = await flowOf(h, c);
    expect(f.protocol).toBe('TLS');
    f.send(Buffer.from('\r\n'));
    await until(() => c.received() === '\r\n', 3000, 'bytes over TLS');
  });

  it('closes a client with a bad handshake (counted), and the listener keeps accepting', async () => {
    const h = await start({ protocol: 'TLS' });
    const raw = wrapSocket(net.connect({ port: h.port, host: '127.0.0.1' }));
    open.push(raw);
    raw.write('OPTIONS sip:127.0.0.1 SIP/2.0\r\n\r\n');
    expect(await settlesWithin(raw.closed, 3000)).toBe(true);
    await until(() => h.refused.includes('tls-handshake'), 3000, 'the refusal count');
    expect(h.messages).toEqual([]);
    const c = await client(h);
    await flowOf(h, c);
  });

  it('connect() opens a TLS connection to another TLS listener and the message arrives there as TLS', async () => {
    const a = await start({ protocol: 'TLS' });
    const b = await start({ protocol: 'TLS' });
    const f = await within(a.t.connect({ protocol: 'TLS', address: '127.0.0.1', port: b.port }), 5000, 'TLS connect');
    expect(f.protocol).toBe('TLS');
    const msg = options({ uri: 'sip:127.0.0.1', via: `SIP/2.0/TLS 127.0.0.1:${a.port}`, callId: 'tls-out' });
    expect(f.send(Buffer.from(msg))).toBe(true);
    await until(() => b.messages.length === 1, 3000, 'the message at the other listener');
    expect(b.messages[0]!.text).toBe(msg);
    expect(b.messages[0]!.flow.protocol).toBe('TLS');
    // the answer comes back on the same connection, as a message to a's sink
    b.messages[0]!.flow.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'));
    await until(() => a.messages.length === 1, 3000, 'the answer');
    expect(a.messages[0]!.flow).toBe(f);
  });
});

describe('close()', { timeout: 15_000 }, () => {
  it('closes every connection and the listener', async () => {
    const h = await start();
    const c = await client(h);
    await flowOf(h, c);
    await within(h.t.close(), 3000, 'close');
    expect(await settlesWithin(c.closed, 3000)).toBe(true);
    await expect(tcpConnect(h.port)).rejects.toThrow(/ECONNREFUSED/);
  });
});
