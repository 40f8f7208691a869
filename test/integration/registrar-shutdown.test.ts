/**
 * Issue 5: stopping the server while a WebSocket client holds a binding.
 *
 * Server.stop() closes the transports, then stops the location service and
 * closes the database. A WebSocket's `close` event (which tells the
 * registrar the flow is gone, RFC 5626 §5.3) can arrive after that; it must
 * not reach the stopped location service, which would try to write to the
 * closed database ("location service commit failed … The database connection
 * is not open"). The binding stays on disk and is dropped by the next start
 * (registrar.test.ts, "restarts").
 *
 * In-process (src/server.ts) so the log lines can be read after stop().
 */
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Server } from '../../src/server.js';
import { DEFAULTS, type Config } from '../../src/config.js';
import { createLogger } from '../../src/util/logger.js';
import { assertPrivateNetwork, tempDir } from '../support/server-process.js';
import { delay, within, wsConnect, type WsPeer } from '../support/peers.js';

interface LogLine {
  level: number;
  msg: string;
  err?: { message?: string };
}

let peer: WsPeer | undefined;

afterEach(() => {
  peer?.close();
  peer = undefined;
});

describe('Server.stop() with a WebSocket binding', () => {
  it('logs no error when the WebSocket closes after the location service stopped', async () => {
    assertPrivateNetwork();
    const lines: LogLine[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
        cb();
      },
    });
    const config: Config = {
      ...DEFAULTS,
      udp: [],
      tcp: [],
      ws: [{ host: '127.0.0.1', port: 0 }],
      db: path.join(tempDir('sb-registrar-shutdown-'), 'switchboard.db'),
      domains: ['example.test'],
      auth: false,
      logLevel: 'info',
    };
    const server = new Server(config, { logger: createLogger('info', sink) });
    const [ws] = await server.start();
    try {
      peer = await wsConnect(`ws://127.0.0.1:${ws!.port}`);
      peer.send(
        [
          'REGISTER sip:example.test SIP/2.0',
          'Via: SIP/2.0/WS shutdown.invalid;branch=z9hG4bK-shutdown-1',
          'Max-Forwards: 70',
          'From: <sip:ws@example.test>;tag=s1',
          'To: <sip:ws@example.test>',
          'Call-ID: shutdown-1@registrar.test',
          'CSeq: 1 REGISTER',
          'Contact: <sip:ws@shutdown.invalid;transport=ws>',
          'Expires: 300',
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
      );
      expect((await peer.next(5000)).data).toMatch(/^SIP\/2\.0 200 /);
    } finally {
      await server.stop();
    }
    // the WebSocket's close event and anything it schedules
    await within(peer.closed, 5000, 'the client to see the WebSocket close');
    await delay(300);
    const errors = lines.filter((l) => l.level >= 50).map((l) => `${l.msg}: ${l.err?.message ?? ''}`);
    expect(errors).toEqual([]);
    expect(lines.some((l) => l.msg === 'switchboard stopped')).toBe(true);
  }, 20_000);
});
