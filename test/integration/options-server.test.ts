/**
 * Issue 2: the built server answers OPTIONS over UDP and TCP, answers other
 * requests with 501, and malformed requests with 400 — and keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../support/server-process.js';
import { header, options, statusOf, tcpPeer, udpPeer } from '../support/sip-client.js';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--domain', 'example.test']);
});

afterAll(async () => {
  await server?.stop();
});

describe('OPTIONS over UDP', () => {
  it('answers 200 OK with Allow, Supported and Accept, Via copied and a To tag added (§8.2.6)', async () => {
    const peer = await udpPeer();
    try {
      const port = server.port('UDP');
      peer.send(options({ uri: `sip:127.0.0.1:${port}`, via: `SIP/2.0/UDP 127.0.0.1:${peer.port}`, branch: 'z9hG4bK-udp-1' }), port);
      const res = (await peer.next()).toString('latin1');
      expect(statusOf(res)).toBe(200);
      expect(header(res, 'Via')).toBe(`SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-udp-1`);
      expect(header(res, 'To')).toMatch(/^<sip:127\.0\.0\.1:\d+>;tag=[0-9a-f]+$/);
      expect(header(res, 'Allow')).toContain('OPTIONS');
      expect(header(res, 'Supported')).toBeDefined();
      expect(header(res, 'Accept')).toContain('application/sdp');
      expect(header(res, 'CSeq')).toBe('1 OPTIONS');
    } finally {
      peer.close();
    }
  });

  it('answers the served domain as well as the address', async () => {
    const peer = await udpPeer();
    try {
      const port = server.port('UDP');
      peer.send(options({ uri: 'sip:example.test', via: `SIP/2.0/UDP 127.0.0.1:${peer.port}` }), port);
      expect(statusOf(await peer.next())).toBe(200);
    } finally {
      peer.close();
    }
  });

  it('sends the response to the source port when rport is asked for (RFC 3581)', async () => {
    const peer = await udpPeer();
    try {
      const port = server.port('UDP');
      // the Via names a port nobody listens on; rport makes the answer come back to our real port
      peer.send(options({ uri: `sip:127.0.0.1:${port}`, via: 'SIP/2.0/UDP 127.0.0.2:9;rport' }), port);
      const res = (await peer.next()).toString('latin1');
      expect(statusOf(res)).toBe(200);
      expect(header(res, 'Via')).toMatch(new RegExp(`;rport=${peer.port}`));
      expect(header(res, 'Via')).toMatch(/;received=127\.0\.0\.1/);
    } finally {
      peer.close();
    }
  });

  it('answers other methods with 501 Not Implemented', async () => {
    const peer = await udpPeer();
    try {
      const port = server.port('UDP');
      const msg = options({ uri: `sip:127.0.0.1:${port}`, via: `SIP/2.0/UDP 127.0.0.1:${peer.port}` })
        .replace('OPTIONS sip', 'SUBSCRIBE sip')
        .replace('CSeq: 1 OPTIONS', 'CSeq: 1 SUBSCRIBE');
      peer.send(msg, port);
      expect(statusOf(await peer.next())).toBe(501);
    } finally {
      peer.close();
    }
  });

  it('answers a malformed request with 400 whose reason names the fault, then keeps serving', async () => {
    const peer = await udpPeer();
    try {
      const port = server.port('UDP');
      const bad = options({ uri: `sip:127.0.0.1:${port}`, via: `SIP/2.0/UDP 127.0.0.1:${peer.port}` }).replace('CSeq: 1 OPTIONS', 'CSeq: one OPTIONS');
      peer.send(bad, port);
      const res = (await peer.next()).toString('latin1');
      expect(statusOf(res)).toBe(400);
      expect(res.split('\r\n')[0]).toMatch(/^SIP\/2\.0 400 .*CSeq/);
      // garbage that cannot be answered is dropped, and the server still answers the next request
      peer.send(Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a]), port);
      peer.send('this is not SIP\r\n\r\n', port);
      expect(await peer.silent(300)).toBe(true);
      peer.send(options({ uri: `sip:127.0.0.1:${port}`, via: `SIP/2.0/UDP 127.0.0.1:${peer.port}` }), port);
      expect(statusOf(await peer.next())).toBe(200);
    } finally {
      peer.close();
    }
  });

  it('answers 505 to an unsupported SIP version', async () => {
    const peer = await udpPeer();
    try {
      const port = server.port('UDP');
      peer.send(options({ uri: `sip:127.0.0.1:${port}`, via: `SIP/2.0/UDP 127.0.0.1:${peer.port}` }).replace(' SIP/2.0\r\n', ' SIP/7.0\r\n'), port);
      expect(statusOf(await peer.next())).toBe(505);
    } finally {
      peer.close();
    }
  });
});

describe('OPTIONS over TCP', () => {
  it('answers 200 OK on the same connection', async () => {
    const port = server.port('TCP');
    const c = await tcpPeer(port);
    try {
      c.write(options({ uri: `sip:127.0.0.1:${port}`, via: `SIP/2.0/TCP 127.0.0.1:${c.socket.localPort}` }));
      const [res] = await c.messages(1);
      expect(statusOf(res!)).toBe(200);
      expect(header(res!, 'Content-Length')).toBe('0');
    } finally {
      c.close();
    }
  });

  it('answers a malformed request with 400 and keeps the connection usable', async () => {
    const port = server.port('TCP');
    const c = await tcpPeer(port);
    try {
      const via = `SIP/2.0/TCP 127.0.0.1:${c.socket.localPort}`;
      c.write(options({ uri: `sip:127.0.0.1:${port}`, via }).replace('Max-Forwards: 70', 'Max-Forwards: many'));
      c.write(options({ uri: `sip:127.0.0.1:${port}`, via }));
      const [first, second] = await c.messages(2);
      expect(statusOf(first!)).toBe(400);
      expect(statusOf(second!)).toBe(200);
    } finally {
      c.close();
    }
  });
});
