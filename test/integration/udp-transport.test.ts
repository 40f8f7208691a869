/**
 * Issue 3: UdpTransport on its own.
 * - A send the kernel refuses is counted and logged (one shared send
 *   callback, no closure per datagram); 255.255.255.255 without
 *   SO_BROADCAST fails with EACCES before anything leaves the socket.
 * - A peer has one flow object, shared by its datagrams and the responses
 *   routed back to it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { UdpTransport } from '../../src/transport/udp.js';
import { assertPrivateNetwork } from '../support/server-process.js';
import { until } from '../support/peers.js';

let transport: UdpTransport | undefined;
afterEach(async () => {
  await transport?.close();
  transport = undefined;
});

describe('UDP send errors', () => {
  it('are counted and logged with the destination, and the transport keeps working', async () => {
    assertPrivateNetwork();
    const warnings: string[] = [];
    let errors = 0;
    const logger = {
      warn: (o: { err?: string }, msg: string) => warnings.push(`${msg}: ${o.err}`),
      error: () => {},
      info: () => {},
      debug: () => {},
    };
    transport = new UdpTransport({
      host: '127.0.0.1',
      port: 0,
      sink: { onMessage: () => {} },
      logger: logger as never,
      onSendError: () => errors++,
    });
    await transport.listen();
    expect(transport.sendTo(Buffer.from('OPTIONS'), '255.255.255.255', 5060)).toBe(true);
    await until(() => errors === 1, 2000);
    expect(warnings).toEqual([expect.stringMatching(/^udp send failed: send EACCES 255\.255\.255\.255:5060/)]);
    // the next send to a reachable address goes through without an error
    expect(transport.sendTo(Buffer.from('OPTIONS'), '127.0.0.1', 9)).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(errors).toBe(1);
  });
});

describe('UDP flows', () => {
  it('one flow object per peer: every datagram from it, and a response routed back to it, share it', async () => {
    assertPrivateNetwork();
    const flows: unknown[] = [];
    const logger = { warn: () => {}, error: () => {}, info: () => {}, debug: () => {} };
    transport = new UdpTransport({ host: '127.0.0.1', port: 0, sink: { onMessage: (_d, f) => flows.push(f) }, logger: logger as never });
    await transport.listen();
    const port = transport.address().port;
    const dgram = await import('node:dgram');
    const peers = [dgram.createSocket('udp4'), dgram.createSocket('udp4')];
    try {
      for (const p of peers) await new Promise<void>((r) => p.bind(0, '127.0.0.1', () => r()));
      for (const p of [peers[0]!, peers[0]!, peers[1]!]) p.send('OPTIONS sip:x SIP/2.0\r\n\r\n', port, '127.0.0.1');
      await until(() => flows.length === 3, 2000);
      const [a, b, c] = flows as Array<import('../../src/transport/transport.js').Flow>;
      expect(a).toBe(b);
      expect(c).not.toBe(a);
      expect(c!.remotePort).toBe(peers[1]!.address().port);
      expect(a!.to!(a!.remoteAddress, a!.remotePort)).toBe(a);
      const other = a!.to!('127.0.0.1', 9);
      expect(other).not.toBe(a);
      expect(other.remotePort).toBe(9);
    } finally {
      for (const p of peers) p.close();
    }
  });
});
