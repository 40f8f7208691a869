/**
 * Issue 3: UDP and TCP listeners on IPv6 (::1) answer OPTIONS, with IPv6
 * Via hosts in brackets, and RFC 3581 rport/received with an IPv6 source.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../support/server-process.js';
import { header, options, statusOf, udpPeer } from '../support/sip-client.js';
import { tcpConnect } from '../support/peers.js';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer(['--udp', '[::1]:0', '--tcp', '[::1]:0', '--domain', 'example.test']);
}, 20_000);

afterAll(async () => {
  await server?.stop();
});

describe('IPv6 listeners', { timeout: 15_000 }, () => {
  it('bind on ::1', () => {
    expect(server.listeners.map((l) => `${l.protocol} ${l.host}`).sort()).toEqual(['TCP ::1', 'UDP ::1']);
  });

  it('answer OPTIONS over UDP on ::1, to the Via port, with the Via copied', async () => {
    const peer = await udpPeer('::1');
    try {
      const port = server.port('UDP');
      peer.send(options({ uri: `sip:[::1]:${port}`, via: `SIP/2.0/UDP [::1]:${peer.port}`, branch: 'z9hG4bK-v6-udp' }), port, '::1');
      const res = (await peer.next()).toString('latin1');
      expect(statusOf(res)).toBe(200);
      expect(header(res, 'Via')).toBe(`SIP/2.0/UDP [::1]:${peer.port};branch=z9hG4bK-v6-udp`);
    } finally {
      peer.close();
    }
  });

  it('fill in rport and received with the IPv6 source (RFC 3581)', async () => {
    const peer = await udpPeer('::1');
    try {
      const port = server.port('UDP');
      peer.send(options({ uri: 'sip:example.test', via: 'SIP/2.0/UDP [2001:db8::1]:9;rport' }), port, '::1');
      const res = (await peer.next()).toString('latin1');
      expect(statusOf(res)).toBe(200);
      const via = header(res, 'Via')!;
      expect(via).toContain(`;rport=${peer.port}`);
      expect(via).toMatch(/;received=(\[::1\]|::1)(;|$)/);
    } finally {
      peer.close();
    }
  });

  it('answer OPTIONS over TCP on ::1 on the same connection', async () => {
    const port = server.port('TCP');
    const c = await tcpConnect(port, '::1');
    try {
      c.write(options({ uri: `sip:[::1]:${port}`, via: `SIP/2.0/TCP [::1]:${c.socket.localPort}` }));
      const [res] = await c.messages(1);
      expect(statusOf(res!)).toBe(200);
      expect(header(res!, 'Via')).toMatch(/^SIP\/2\.0\/TCP \[::1\]:\d+;branch=/);
    } finally {
      c.close();
    }
  });
});
