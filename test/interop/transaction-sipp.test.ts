/**
 * Issue 4 interop over real UDP with SIPp: a retransmitted request gets the
 * same response back from its server transaction, and a final response that
 * SIPp drops is retransmitted by the server (Timer G).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, tempDir, type RunningServer } from '../support/server-process.js';
import { SIPP_DIR, describeSipp, freeUdpPort, runSipp } from '../support/sipp.js';

let server: RunningServer;
let dir: string;

beforeAll(async () => {
  dir = tempDir('sb-tx-sipp-');
  server = await startServer(['--udp', '127.0.0.1:0', '--domain', 'example.test', '--auth', 'off', '--db', path.join(dir, 'sb.db')], { dir });
}, 60_000);

afterAll(async () => {
  await server?.stop();
});


describe('transactions over UDP against SIPp', () => {
  it('absorbs a retransmitted OPTIONS and sends the same 200 again', async () => {
    const cwd = tempDir('sb-tx-retrans-');
    const msgFile = path.join(cwd, 'messages.log');
    const r = await runSipp({
      target: `127.0.0.1:${server.port('UDP')}`,
      scenario: path.join(SIPP_DIR, 'transaction-retransmit.xml'),
      cwd,
      args: ['-m', '1', '-t', 'u1', '-i', '127.0.0.1', '-p', String(await freeUdpPort()), '-s', 'example.test', '-trace_msg', '-message_file', msgFile, '-timeout', '20s', '-timeout_error'],
      timeoutMs: 30_000,
    });
    expect(r.code, describeSipp(r)).toBe(0);
    const log = fs.readFileSync(msgFile, 'latin1');
    const tags = [...log.matchAll(/^SIP\/2\.0 200 [^\n]*\n(?:[^\n]+\n)*?To:[^\n]*;tag=([^;>\s]+)/gm)].map((m) => m[1]);
    expect(tags.length).toBeGreaterThanOrEqual(2);
    // one transaction, one response: every retransmission got the very same To tag back
    expect(new Set(tags).size).toBe(1);
  }, 40_000);

  it('retransmits a final response to INVITE that SIPp ignored (Timer G), and stops at the ACK', async () => {
    const cwd = tempDir('sb-tx-lost-');
    const msgFile = path.join(cwd, 'messages.log');
    const r = await runSipp({
      target: `127.0.0.1:${server.port('UDP')}`,
      scenario: path.join(SIPP_DIR, 'transaction-lost-response.xml'),
      cwd,
      args: ['-m', '1', '-t', 'u1', '-i', '127.0.0.1', '-p', String(await freeUdpPort()), '-s', 'example.test', '-trace_msg', '-message_file', msgFile, '-timeout', '20s', '-timeout_error'],
      timeoutMs: 30_000,
    });
    expect(r.code, describeSipp(r)).toBe(0);
    const log = fs.readFileSync(msgFile, 'latin1');
    const copies = [...log.matchAll(/^SIP\/2\.0 480 /gm)].length;
    // the original at once, then Timer G at 500 ms and 1.5 s before the ACK at 1.2 s…1.5 s: 2 or 3 copies, and none after the ACK
    expect(copies, log).toBeGreaterThanOrEqual(2);
    expect(copies, log).toBeLessThanOrEqual(3);
  }, 40_000);
});
