/** Issue 2 interop: sipsak (a real SIP client) gets 200 OK to OPTIONS. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../support/server-process.js';

const run = promisify(execFile);
let server: RunningServer;

beforeAll(async () => {
  server = await startServer(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--domain', 'example.test']);
});

afterAll(async () => {
  await server?.stop();
});

describe('sipsak', () => {
  it('gets 200 OK to OPTIONS over UDP (sipsak -s)', async () => {
    const port = server.port('UDP');
    const { stdout } = await run('sipsak', ['-s', `sip:127.0.0.1:${port}`, '-vv'], { timeout: 15_000 });
    expect(stdout).toMatch(/SIP\/2\.0 200 OK/);
    expect(stdout).toMatch(/Allow: .*OPTIONS/);
  });

  it('gets 200 OK to OPTIONS over TCP (sipsak -E tcp)', async () => {
    const port = server.port('TCP');
    const { stdout } = await run('sipsak', ['-s', `sip:127.0.0.1:${port}`, '-E', 'tcp', '-vv'], { timeout: 15_000 });
    expect(stdout).toMatch(/SIP\/2\.0 200 OK/);
  });
});
