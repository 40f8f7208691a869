/**
 * Issue 3 interop: SIP.js 0.21 (the WebRTC SIP stack) in Node talks to the
 * built server over WebSocket (RFC 7118): it negotiates the `sip`
 * subprotocol, sends from a `.invalid` Via host, and gets its answers back
 * over the same WebSocket. Node 20 has no global WebSocket: the `ws`
 * package's one is installed as globalThis.WebSocket for SIP.js.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserAgent, type Core } from 'sip.js';
import { startServer, type RunningServer } from '../support/server-process.js';
import { within } from '../support/peers.js';

let server: RunningServer;
let ua: UserAgent | undefined;
const sent: string[] = [];
const g = globalThis as { WebSocket?: unknown };
const savedWebSocket = g.WebSocket;

beforeAll(async () => {
  server = await startServer(['--ws', '127.0.0.1:0', '--domain', 'example.test']);
  g.WebSocket = WebSocket;
  ua = new UserAgent({
    uri: UserAgent.makeURI('sip:alice@example.test')!,
    transportOptions: { server: `ws://127.0.0.1:${server.port('WS')}`, connectionTimeout: 5 },
    logBuiltinEnabled: false,
    logLevel: 'error',
    userAgentString: 'Switchboard interop (SIP.js)',
  });
  // record what SIP.js puts on the wire
  const transport = ua.transport as unknown as { send(message: string): Promise<void> };
  const send = transport.send.bind(transport);
  transport.send = (message: string) => {
    sent.push(message);
    return send(message);
  };
  await within(ua.start(), 8000, 'SIP.js UserAgent start');
}, 20_000);

afterAll(async () => {
  try {
    if (ua) await within(ua.stop(), 5000, 'SIP.js UserAgent stop').catch(() => undefined);
  } finally {
    g.WebSocket = savedWebSocket;
    await server?.stop();
  }
});

type Outcome = { kind: 'accept' | 'reject' | 'redirect'; response: Core.IncomingResponseMessage };

/** Sends a request through SIP.js's user agent core and waits for its final response. */
function request(method: string, target: string, timeoutMs = 5000): Promise<Outcome> {
  const core = ua!.userAgentCore;
  const uri = UserAgent.makeURI(target)!;
  const msg = core.makeOutgoingRequestMessage(method, uri, ua!.configuration.uri, uri, {});
  return within(
    new Promise<Outcome>((resolve) => {
      core.request(msg, {
        onAccept: (r) => resolve({ kind: 'accept', response: r.message }),
        onReject: (r) => resolve({ kind: 'reject', response: r.message }),
        onRedirect: (r) => resolve({ kind: 'redirect', response: r.message }),
      });
    }),
    timeoutMs,
    `${method} ${target} through SIP.js`,
  );
}

describe('SIP.js over WebSocket', { timeout: 15_000 }, () => {
  it('connects with the sip subprotocol', () => {
    expect(ua!.isConnected()).toBe(true);
    const ws = (ua!.transport as unknown as { ws?: WebSocket }).ws;
    expect(ws?.protocol).toBe('sip');
  });

  it('gets 200 OK to OPTIONS for the served domain, over the WebSocket, from a .invalid Via', async () => {
    const out = await request('OPTIONS', 'sip:example.test');
    expect(out.kind).toBe('accept');
    expect(out.response.statusCode).toBe(200);
    expect(out.response.getHeader('allow')).toContain('OPTIONS');
    // what SIP.js sent: a WS Via with a .invalid host, as RFC 7118 §5 describes
    const options = sent.find((m) => m.startsWith('OPTIONS sip:example.test SIP/2.0'));
    expect(options).toMatch(/\r\nVia: SIP\/2\.0\/WS [a-z0-9]+\.invalid;branch=z9hG4bK/);
    expect(out.response.getHeader('via')).toMatch(/^SIP\/2\.0\/WS [a-z0-9]+\.invalid;branch=z9hG4bK\w+;received=127\.0\.0\.1/);
  });

  it('gets 200 OK to OPTIONS for the server address', async () => {
    const out = await request('OPTIONS', `sip:127.0.0.1:${server.port('WS')}`);
    expect(out.response.statusCode).toBe(200);
  });

  it('gets a final non-2xx answer to a method the server does not implement yet', async () => {
    const out = await request('PUBLISH', 'sip:alice@example.test');
    expect(out.kind).toBe('reject');
    expect(out.response.statusCode).toBeGreaterThanOrEqual(400);
  });
});
