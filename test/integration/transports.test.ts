/**
 * Issue 3: every transport of the built server — UDP, TCP, TLS, WS, WSS —
 * answers OPTIONS; RFC 5626 keepalives; RFC 3261 §18.2.2 / RFC 3581 UDP
 * response routing; stream framing over TCP; bad input closes only the
 * offending connection; idle timeout and the connection cap.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../support/server-process.js';
import { header, options, splitStream, statusOf, udpPeer, type UdpPeer } from '../support/sip-client.js';
import { tlsFlags } from '../support/certs.js';
import { delay, settlesWithin, tcpConnect, tlsConnect, until, within, wrapSocket, wsConnect, type StreamPeer } from '../support/peers.js';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer([
    '--udp', '127.0.0.1:0',
    '--tcp', '127.0.0.1:0',
    '--tls', '127.0.0.1:0',
    '--ws', '127.0.0.1:0',
    '--wss', '127.0.0.1:0',
    ...tlsFlags(),
    '--domain', 'example.test',
    '--advertise', '192.0.2.10:5070',
  ]);
}, 20_000);

afterAll(async () => {
  await server?.stop();
});

function tcpOptions(c: StreamPeer, proto = 'TCP', extra: { callId?: string; uri?: string } = {}): string {
  return options({ uri: extra.uri ?? 'sip:example.test', via: `SIP/2.0/${proto} 127.0.0.1:${c.socket.localPort}`, ...(extra.callId ? { callId: extra.callId } : {}) });
}

/** Log lines (JSON) the server wrote, parsed. */
function logEntries(): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const l of server.logs) {
    try {
      out.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      // stderr text
    }
  }
  return out;
}

async function withUdp<T>(fn: (p: UdpPeer) => Promise<T>): Promise<T> {
  const p = await udpPeer();
  try {
    return await fn(p);
  } finally {
    p.close();
  }
}

describe('OPTIONS is answered 200 on each of the five transports', { timeout: 15_000 }, () => {
  it('UDP', async () => {
    await withUdp(async (p) => {
      p.send(options({ uri: 'sip:example.test', via: `SIP/2.0/UDP 127.0.0.1:${p.port}` }), server.port('UDP'));
      expect(statusOf(await p.next())).toBe(200);
    });
  });

  it('TCP, on the same connection', async () => {
    const c = await tcpConnect(server.port('TCP'));
    try {
      c.write(tcpOptions(c));
      const [res] = await c.messages(1);
      expect(statusOf(res!)).toBe(200);
    } finally {
      c.close();
    }
  });

  it('TLS, on the same connection', async () => {
    const c = await tlsConnect(server.port('TLS'));
    try {
      c.write(tcpOptions(c, 'TLS'));
      const [res] = await c.messages(1);
      expect(statusOf(res!)).toBe(200);
      expect(header(res!, 'Via')).toMatch(/^SIP\/2\.0\/TLS 127\.0\.0\.1:\d+;branch=/);
    } finally {
      c.close();
    }
  });

  for (const proto of ['WS', 'WSS'] as const) {
    it(`${proto}, with the sip subprotocol`, async () => {
      const scheme = proto === 'WS' ? 'ws' : 'wss';
      const c = await wsConnect(`${scheme}://127.0.0.1:${server.port(proto)}`);
      try {
        expect(c.protocol).toBe('sip');
        c.send(options({ uri: 'sip:example.test', via: `SIP/2.0/${proto} df7jal23ls0d.invalid` }));
        const res = await c.next();
        expect(statusOf(res.data)).toBe(200);
      } finally {
        c.close();
      }
    });
  }

  it('answers OPTIONS for the --advertise address as for its own (and not for another address)', async () => {
    await withUdp(async (p) => {
      p.send(options({ uri: 'sip:192.0.2.10:5070', via: `SIP/2.0/UDP 127.0.0.1:${p.port}` }), server.port('UDP'));
      expect(statusOf(await p.next())).toBe(200);
      p.send(options({ uri: 'sip:192.0.2.11:5070', via: `SIP/2.0/UDP 127.0.0.1:${p.port}` }), server.port('UDP'));
      expect(statusOf(await p.next())).not.toBe(200);
    });
  });
});

describe('keepalives (RFC 5626 §4.4.1)', { timeout: 15_000 }, () => {
  for (const proto of ['TCP', 'TLS'] as const) {
    it(`a double CRLF on ${proto} gets exactly one CRLF back, and the connection still works`, async () => {
      const c = proto === 'TCP' ? await tcpConnect(server.port('TCP')) : await tlsConnect(server.port('TLS'));
      try {
        c.write('\r\n\r\n');
        await until(() => c.received().length > 0, 3000, 'the pong');
        await delay(200);
        expect(c.received()).toBe('\r\n');
        c.write(tcpOptions(c, proto));
        const [res] = await c.messages(1);
        expect(statusOf(res!)).toBe(200);
        expect(c.received().startsWith('\r\nSIP/2.0 200 ')).toBe(true);
      } finally {
        c.close();
      }
    });
  }

  it('a CRLF or a STUN binding request on UDP is absorbed: no answer, never seen as a message, and the next OPTIONS is answered', async () => {
    await withUdp(async (p) => {
      const port = server.port('UDP');
      const stun = Buffer.alloc(20);
      stun.writeUInt16BE(0x0001, 0); // Binding request
      stun.writeUInt16BE(0, 2); // no attributes
      stun.writeUInt32BE(0x2112a442, 4); // magic cookie
      Buffer.from('0123456789ab').copy(stun, 8); // transaction id
      p.send('\r\n', port);
      p.send('\r\n\r\n', port);
      p.send(stun, port);
      expect(await p.silent(300)).toBe(true);
      p.send(options({ uri: 'sip:example.test', via: `SIP/2.0/UDP 127.0.0.1:${p.port}` }), port);
      expect(statusOf(await p.next())).toBe(200);
      // a datagram that is no keepalive and no SIP is logged as dropped: once it shows in the log,
      // everything sent before it has been logged too — and the keepalives must not be there
      p.send('SENTINEL not sip\r\n\r\n', port);
      const mine = (): Array<Record<string, unknown>> =>
        logEntries().filter((e) => e.msg === 'unparseable message dropped' && e.remote === `127.0.0.1:${p.port}`);
      await until(() => mine().length > 0, 3000, 'the sentinel log line');
      expect(mine().map((e) => e.bytes)).toEqual(['SENTINEL not sip\r\n\r\n'.length]);
    });
  });
});

describe('UDP responses (RFC 3261 §18.2.2, RFC 3581)', { timeout: 15_000 }, () => {
  it('rport: the response goes to the source port, with received and rport filled in', async () => {
    await withUdp(async (p) => {
      // the Via names another host and a port nobody listens on
      p.send(options({ uri: 'sip:example.test', via: 'SIP/2.0/UDP 127.0.0.2:9;rport', branch: 'z9hG4bK-rport-1' }), server.port('UDP'));
      const res = (await p.next()).toString('latin1');
      expect(statusOf(res)).toBe(200);
      const via = header(res, 'Via')!;
      expect(via).toContain(';received=127.0.0.1');
      expect(via).toContain(`;rport=${p.port}`);
      expect(via).toMatch(/^SIP\/2\.0\/UDP 127\.0\.0\.2:9;/);
    });
  });

  it('without rport: received is added when the Via host differs from the source, and the response goes to received at the Via port', async () => {
    await withUdp(async (sender) => {
      await withUdp(async (listener) => {
        sender.send(options({ uri: 'sip:example.test', via: `SIP/2.0/UDP 127.0.0.2:${listener.port}` }), server.port('UDP'));
        const res = (await listener.next()).toString('latin1');
        expect(statusOf(res)).toBe(200);
        const via = header(res, 'Via')!;
        expect(via).toContain(';received=127.0.0.1');
        expect(via).not.toContain('rport');
        expect(await sender.silent(200)).toBe(true);
      });
    });
  });

  it('without rport and with the source as Via host: no received, response to the Via port', async () => {
    await withUdp(async (sender) => {
      await withUdp(async (listener) => {
        sender.send(options({ uri: 'sip:example.test', via: `SIP/2.0/UDP 127.0.0.1:${listener.port}` }), server.port('UDP'));
        const res = (await listener.next()).toString('latin1');
        expect(statusOf(res)).toBe(200);
        expect(header(res, 'Via')).not.toContain('received');
        expect(await sender.silent(200)).toBe(true);
      });
    });
  });
});

describe('TCP stream framing (RFC 3261 §18.3)', { timeout: 15_000 }, () => {
  it('answers once a request split over 1-byte writes', async () => {
    const c = await tcpConnect(server.port('TCP'));
    try {
      const bytes = Buffer.from(tcpOptions(c), 'latin1');
      for (let i = 0; i < bytes.length; i++) {
        c.socket.write(bytes.subarray(i, i + 1));
        if (i % 4 === 0) await delay(1);
      }
      const [res] = await c.messages(1, 5000);
      expect(statusOf(res!)).toBe(200);
      await delay(200);
      expect(splitStream(c.received()).messages).toHaveLength(1);
    } finally {
      c.close();
    }
  });

  it('answers two requests in one write, in order', async () => {
    const c = await tcpConnect(server.port('TCP'));
    try {
      c.write(tcpOptions(c, 'TCP', { callId: 'first@tcp' }) + tcpOptions(c, 'TCP', { callId: 'second@tcp' }));
      const [a, b] = await c.messages(2);
      expect(statusOf(a!)).toBe(200);
      expect(statusOf(b!)).toBe(200);
      expect(header(a!, 'Call-ID')).toBe('first@tcp');
      expect(header(b!, 'Call-ID')).toBe('second@tcp');
    } finally {
      c.close();
    }
  });

  it('frames by Content-Length: a request with a body followed by another in the same write', async () => {
    const c = await tcpConnect(server.port('TCP'));
    try {
      // the body looks like a request: a framer that ignored Content-Length would answer three times
      const body = `OPTIONS sip:example.test SIP/2.0\r\nContent-Length: 0\r\n\r\n`;
      const withBody = tcpOptions(c, 'TCP', { callId: 'body@tcp' }).replace('Content-Length: 0\r\n\r\n', `Content-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      c.write(withBody + tcpOptions(c, 'TCP', { callId: 'after@tcp' }));
      const [a, b] = await c.messages(2);
      expect(header(a!, 'Call-ID')).toBe('body@tcp');
      expect(header(b!, 'Call-ID')).toBe('after@tcp');
      expect(statusOf(b!)).toBe(200);
      await delay(200);
      expect(splitStream(c.received()).messages).toHaveLength(2);
    } finally {
      c.close();
    }
  });
});

describe('bad input on a connection affects that connection only', { timeout: 15_000 }, () => {
  async function pair(): Promise<[StreamPeer, StreamPeer]> {
    const port = server.port('TCP');
    return [await tcpConnect(port), await tcpConnect(port)];
  }

  /** the bystander, opened before the bad input, still gets answered */
  async function bystanderWorks(b: StreamPeer): Promise<void> {
    expect(b.isClosed).toBe(false);
    const before = splitStream(b.received()).messages.length;
    b.write(tcpOptions(b));
    const res = (await b.messages(before + 1))[before];
    expect(statusOf(res!)).toBe(200);
  }

  it('a header line without a colon after the headers a 400 needs: 400 on that connection, which stays usable', async () => {
    const [bad, good] = await pair();
    try {
      bad.write(tcpOptions(bad).replace('Content-Length: 0\r\n', 'this line has no colon\r\nContent-Length: 0\r\n'));
      const [res] = await bad.messages(1);
      expect(statusOf(res!)).toBe(400);
      await bystanderWorks(good);
      await bystanderWorks(bad);
    } finally {
      bad.close();
      good.close();
    }
  });

  it('a header line without a colon before the headers a 400 needs: that connection is closed, another keeps working', async () => {
    const [bad, good] = await pair();
    try {
      bad.write(tcpOptions(bad).replace('Max-Forwards: 70\r\n', 'this line has no colon\r\nMax-Forwards: 70\r\n'));
      expect(await settlesWithin(bad.closed, 3000)).toBe(true);
      expect(bad.received()).toBe('');
      await bystanderWorks(good);
    } finally {
      bad.close();
      good.close();
    }
  });

  it('binary garbage: that connection is closed (no 200), another keeps working', async () => {
    const [bad, good] = await pair();
    try {
      bad.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x0a, 0x0d, 0x0a, 0x0d, 0x0a, 0xff, 0x00]));
      bad.write('\n\n\r\r\n');
      expect(await settlesWithin(bad.closed, 3000)).toBe(true);
      expect(bad.received()).not.toContain('SIP/2.0 200');
      await bystanderWorks(good);
    } finally {
      bad.close();
      good.close();
    }
  });

  it('a message without Content-Length: that connection is closed, another keeps working', async () => {
    const [bad, good] = await pair();
    try {
      bad.write(tcpOptions(bad).replace('Content-Length: 0\r\n', ''));
      expect(await settlesWithin(bad.closed, 3000)).toBe(true);
      expect(bad.received()).not.toContain('SIP/2.0 200');
      await bystanderWorks(good);
    } finally {
      bad.close();
      good.close();
    }
  });

  it('a message announcing more than 64 KiB is refused and its connection closed', async () => {
    const [bad, good] = await pair();
    try {
      bad.write(tcpOptions(bad).replace('Content-Length: 0\r\n', 'Content-Type: text/plain\r\nContent-Length: 70000\r\n'));
      bad.write(Buffer.alloc(1000, 0x41));
      expect(await settlesWithin(bad.closed, 3000)).toBe(true);
      expect(bad.received()).not.toContain('SIP/2.0 200');
      await bystanderWorks(good);
    } finally {
      bad.close();
      good.close();
    }
  });

  it('a header section growing past 64 KiB without ending is refused and its connection closed', async () => {
    const [bad, good] = await pair();
    try {
      bad.write('OPTIONS sip:example.test SIP/2.0\r\n');
      const line = Buffer.from(`X-Pad: ${'p'.repeat(1000)}\r\n`, 'latin1');
      for (let i = 0; i < 70 && !bad.isClosed; i++) bad.socket.write(line);
      expect(await settlesWithin(bad.closed, 3000)).toBe(true);
      await bystanderWorks(good);
    } finally {
      bad.close();
      good.close();
    }
  });

  it('a TLS client sending plain text instead of a handshake is closed; a proper TLS client is answered afterwards', async () => {
    const raw = await tcpConnect(server.port('TLS'));
    try {
      raw.write(tcpOptions(raw, 'TLS'));
      expect(await settlesWithin(raw.closed, 3000)).toBe(true);
      expect(raw.received()).not.toContain('SIP/2.0');
    } finally {
      raw.close();
    }
    const c = await tlsConnect(server.port('TLS'));
    try {
      c.write(tcpOptions(c, 'TLS'));
      expect(statusOf((await c.messages(1))[0]!)).toBe(200);
    } finally {
      c.close();
    }
  });

  it('a TLS client that closes mid-handshake does not disturb the listener', async () => {
    const raw = net.connect({ port: server.port('TLS'), host: '127.0.0.1' });
    const half = wrapSocket(raw);
    await within(new Promise<void>((r) => raw.once('connect', () => r())), 3000, 'connect');
    // the first bytes of a ClientHello record, then a hard close
    half.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]));
    half.close();
    const c = await tlsConnect(server.port('TLS'));
    try {
      c.write(tcpOptions(c, 'TLS'));
      expect(statusOf((await c.messages(1))[0]!)).toBe(200);
    } finally {
      c.close();
    }
  });
});

describe('idle timeout (--idle-timeout 1)', { timeout: 15_000 }, () => {
  let idle: RunningServer;
  beforeAll(async () => {
    idle = await startServer(['--tcp', '127.0.0.1:0', '--tls', '127.0.0.1:0', ...tlsFlags(), '--domain', 'example.test', '--idle-timeout', '1']);
  }, 20_000);
  afterAll(async () => {
    await idle?.stop();
  });

  for (const proto of ['TCP', 'TLS'] as const) {
    it(`closes an idle ${proto} connection within 2.5 s while one with traffic stays open`, async () => {
      const open = (): Promise<StreamPeer> => (proto === 'TCP' ? tcpConnect(idle.port('TCP')) : tlsConnect(idle.port('TLS')));
      const t0 = Date.now();
      const quiet = await open();
      const busy = await open();
      let stop = false;
      const pinger = (async () => {
        while (!stop && !busy.isClosed) {
          busy.write('\r\n\r\n');
          await delay(250);
        }
      })();
      try {
        expect(await settlesWithin(quiet.closed, 2500)).toBe(true);
        expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
        expect(busy.isClosed).toBe(false);
        busy.write(tcpOptions(busy, proto));
        await until(() => splitStream(busy.received()).messages.length === 1, 3000, 'the 200');
        expect(statusOf(splitStream(busy.received()).messages[0]!)).toBe(200);
      } finally {
        stop = true;
        await pinger;
        quiet.close();
        busy.close();
      }
    });
  }
});

describe('connection cap (--max-connections 3)', { timeout: 15_000 }, () => {
  let capped: RunningServer;
  beforeAll(async () => {
    capped = await startServer(['--tcp', '127.0.0.1:0', '--ws', '127.0.0.1:0', '--domain', 'example.test', '--max-connections', '3']);
  }, 20_000);
  afterAll(async () => {
    await capped?.stop();
  });

  it('refuses the 4th concurrent TCP connection, logs it, keeps the 3 working, and accepts again once one closes', async () => {
    const port = capped.port('TCP');
    const three = [await tcpConnect(port), await tcpConnect(port), await tcpConnect(port)];
    const extra: StreamPeer[] = [];
    try {
      for (const c of three) {
        c.write(tcpOptions(c));
        expect(statusOf((await c.messages(1))[0]!)).toBe(200);
      }
      const fourth = await tcpConnect(port);
      extra.push(fourth);
      fourth.write(tcpOptions(fourth));
      expect(await settlesWithin(fourth.closed, 3000)).toBe(true);
      expect(fourth.received()).toBe('');
      await until(() => capped.logs.some((l) => l.includes('connection limit reached')), 3000, 'the connection-limit log line');
      for (const c of three) {
        expect(c.isClosed).toBe(false);
        c.write(tcpOptions(c));
        expect(statusOf((await c.messages(2))[1]!)).toBe(200);
      }
      // one closes: a new connection is served again (the count goes down)
      three[0]!.close();
      const deadline = Date.now() + 3000;
      let served = false;
      while (!served && Date.now() < deadline) {
        const c = await tcpConnect(port);
        extra.push(c);
        c.write(tcpOptions(c));
        served = await c.messages(1, 500).then(
          () => true,
          () => false,
        );
        if (!served) await delay(50);
      }
      expect(served).toBe(true);
    } finally {
      for (const c of [...three, ...extra]) c.close();
    }
  });

  it('refuses the 4th concurrent WebSocket with 503 while the 3 keep working', async () => {
    const url = `ws://127.0.0.1:${capped.port('WS')}`;
    const three = [await wsConnect(url), await wsConnect(url), await wsConnect(url)];
    try {
      await expect(wsConnect(url)).rejects.toThrow(/Unexpected server response: 503/);
      for (const c of three) {
        c.send(options({ uri: 'sip:example.test', via: 'SIP/2.0/WS cap.invalid' }));
        expect(statusOf((await c.next()).data)).toBe(200);
      }
    } finally {
      for (const c of three) c.close();
    }
  });
});
