/**
 * Issue 3: a UDP send the kernel refuses is counted and logged (one shared
 * send callback, no closure per datagram). 255.255.255.255 without
 * SO_BROADCAST fails with EACCES before anything leaves the socket.
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
