/**
 * Issue 3: SIP over WebSocket (RFC 7118) on the built server — subprotocol
 * negotiation, one SIP message per WebSocket message (text or binary), bad
 * input, and answers to `.invalid` Via hosts over the WebSocket they came on.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../support/server-process.js';
import { header, options, statusOf } from '../support/sip-client.js';
import { tlsFlags } from '../support/certs.js';
import { settlesWithin, tcpConnect, within, wsConnect, wsRefusedStatus, type WsPeer } from '../support/peers.js';

let server: RunningServer;
let wsUrl: string;
let wssUrl: string;

beforeAll(async () => {
  server = await startServer(['--ws', '127.0.0.1:0', '--wss', '127.0.0.1:0', ...tlsFlags(), '--domain', 'example.test']);
  wsUrl = `ws://127.0.0.1:${server.port('WS')}`;
  wssUrl = `wss://127.0.0.1:${server.port('WSS')}`;
}, 20_000);

afterAll(async () => {
  await server?.stop();
});

async function withWs<T>(url: string, fn: (c: WsPeer) => Promise<T>, protocols?: string[]): Promise<T> {
  const c = await wsConnect(url, protocols ? { protocols } : {});
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

const wsOptions = (proto: 'WS' | 'WSS' = 'WS', callId?: string): string =>
  options({ uri: 'sip:example.test', via: `SIP/2.0/${proto} df7jal23ls0d.invalid`, ...(callId ? { callId } : {}) });

describe('subprotocol negotiation (RFC 7118 §4.1)', { timeout: 15_000 }, () => {
  it('refuses an upgrade that offers no subprotocol with 400', async () => {
    expect(await wsRefusedStatus(wsUrl, [])).toBe(400);
  });

  it('refuses an upgrade that offers other subprotocols only with 400', async () => {
    expect(await wsRefusedStatus(wsUrl, ['chat', 'xmpp'])).toBe(400);
  });

  it('refuses it on WSS too', async () => {
    expect(await wsRefusedStatus(wssUrl, ['chat'])).toBe(400);
  });

  it('accepts an upgrade offering sip and selects sip (also among others)', async () => {
    await withWs(wsUrl, async (c) => {
      expect(c.protocol).toBe('sip');
    });
    await withWs(wsUrl, async (c) => {
      expect(c.protocol).toBe('sip');
      c.send(wsOptions());
      expect(statusOf((await c.next()).data)).toBe(200);
    }, ['chat', 'sip']);
  });

  it('answers a plain HTTP request (no upgrade) with 426', async () => {
    const status = await within(
      new Promise<number>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: server.port('WS'), path: '/' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
      }),
      3000,
      'HTTP GET',
    );
    expect(status).toBe(426);
  });
});

describe('one SIP message per WebSocket message (RFC 7118 §5.2)', { timeout: 15_000 }, () => {
  it('answers a request sent in a text frame', async () => {
    await withWs(wsUrl, async (c) => {
      c.send(wsOptions('WS', 'text@ws'), false);
      const res = await c.next();
      expect(statusOf(res.data)).toBe(200);
      expect(header(res.data, 'Call-ID')).toBe('text@ws');
      expect(res.binary).toBe(false);
    });
  });

  it('answers a request sent in a binary frame', async () => {
    await withWs(wsUrl, async (c) => {
      c.send(wsOptions('WS', 'binary@ws'), true);
      const res = await c.next();
      expect(statusOf(res.data)).toBe(200);
      expect(header(res.data, 'Call-ID')).toBe('binary@ws');
    });
  });

  it('answers requests in consecutive messages, one response per message, in order', async () => {
    await withWs(wsUrl, async (c) => {
      c.send(wsOptions('WS', 'one@ws'));
      c.send(wsOptions('WS', 'two@ws'), true);
      const a = await c.next();
      const b = await c.next();
      expect(header(a.data, 'Call-ID')).toBe('one@ws');
      expect(header(b.data, 'Call-ID')).toBe('two@ws');
      expect(await c.silent(200)).toBe(true);
    });
  });

  it('needs no Content-Length: the WebSocket message delimits the SIP message', async () => {
    await withWs(wsUrl, async (c) => {
      c.send(wsOptions().replace('Content-Length: 0\r\n', ''));
      expect(statusOf((await c.next()).data)).toBe(200);
    });
  });
});

describe('bad input on a WebSocket', { timeout: 15_000 }, () => {
  it('answers an answerable malformed request with 400 and the connection then gets 200', async () => {
    await withWs(wsUrl, async (c) => {
      c.send(wsOptions().replace('CSeq: 1 OPTIONS', 'CSeq: one OPTIONS'));
      const res = await c.next();
      expect(statusOf(res.data)).toBe(400);
      c.send(wsOptions());
      expect(statusOf((await c.next()).data)).toBe(200);
      expect(c.isClosed).toBe(false);
    });
  });

  it('drops garbage it cannot answer, and the same connection then gets 200', async () => {
    await withWs(wsUrl, async (c) => {
      c.send(Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a]), true);
      c.send('this is not SIP at all\r\n\r\n');
      expect(await c.silent(300)).toBe(true);
      c.send(wsOptions());
      expect(statusOf((await c.next()).data)).toBe(200);
      expect(c.isClosed).toBe(false);
    });
  });

  it('closes a connection whose message is larger than 64 KiB, and other connections keep working', async () => {
    await withWs(wsUrl, async (bystander) => {
      const big = await wsConnect(wsUrl);
      try {
        big.send(wsOptions().replace('Content-Length: 0\r\n\r\n', `Content-Type: text/plain\r\nContent-Length: 70000\r\n\r\n${'x'.repeat(70000)}`));
        const code = await within(big.closed, 3000, 'close of the oversized connection');
        expect(code).toBe(1009); // RFC 6455 §7.4.1: message too big
      } finally {
        big.close();
      }
      bystander.send(wsOptions());
      expect(statusOf((await bystander.next()).data)).toBe(200);
    });
  });
});

describe('WSS handshake failures', { timeout: 15_000 }, () => {
  it('closes a client that sends plain text instead of a TLS handshake; a proper WSS client is served afterwards', async () => {
    const raw = await tcpConnect(server.port('WSS'));
    try {
      raw.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\r\n');
      expect(await settlesWithin(raw.closed, 3000)).toBe(true);
      expect(raw.received()).not.toContain('HTTP/1.1 101');
    } finally {
      raw.close();
    }
    await withWs(wssUrl, async (c) => {
      c.send(wsOptions('WSS'));
      expect(statusOf((await c.next()).data)).toBe(200);
    });
  });
});

describe('WebRTC clients behind .invalid hosts (RFC 7118 §5)', { timeout: 15_000 }, () => {
  for (const [proto, url] of [['WS', () => wsUrl], ['WSS', () => wssUrl]] as const) {
    it(`answers a ${proto} Via with a .invalid host over the same WebSocket`, async () => {
      await withWs(url(), async (c) => {
        // as SIP.js sends it
        const req = options({ uri: 'sip:example.test', via: `SIP/2.0/${proto} df7jal23ls0d.invalid`, branch: `z9hG4bK${proto}invalid1` });
        c.send(req);
        const res = (await c.next()).data;
        expect(statusOf(res)).toBe(200);
        const via = header(res, 'Via')!;
        expect(via).toMatch(new RegExp(`^SIP/2\\.0/${proto} df7jal23ls0d\\.invalid;branch=z9hG4bK${proto}invalid1`));
        // §18.2.1: the sent-by host differs from the source address
        expect(via).toContain(';received=127.0.0.1');
      });
    });
  }
});
