/**
 * Issue 2 interop: sipsak (a real SIP client) gets 200 OK to OPTIONS.
 * sipsak 0.9.8 truncates a 5-digit port written in the URI (sip:h:45070 is
 * sent as sip:h:4507), so the URI names the host only and -r gives the
 * ephemeral port.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../support/server-process.js';

const run = promisify(execFile);
let server: RunningServer;

async function sipsak(args: string[]): Promise<string> {
  try {
    const { stdout } = await run('sipsak', args, { timeout: 15_000 });
    return stdout;
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    throw new Error(`sipsak ${args.join(' ')} exited ${err.code}:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

beforeAll(async () => {
  server = await startServer(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--domain', 'example.test']);
});

afterAll(async () => {
  await server?.stop();
});

describe('sipsak', () => {
  it('gets 200 OK to OPTIONS over UDP (sipsak -s)', async () => {
    const out = await sipsak(['-s', 'sip:127.0.0.1', '-r', String(server.port('UDP')), '-vv']);
    expect(out).toMatch(/SIP\/2\.0 200 OK/);
    expect(out).toMatch(/Allow: .*OPTIONS/);
  });

  it('gets 200 OK to OPTIONS over TCP (sipsak -E tcp)', async () => {
    const out = await sipsak(['-s', 'sip:127.0.0.1', '-r', String(server.port('TCP')), '-E', 'tcp', '-vv']);
    expect(out).toMatch(/SIP\/2\.0 200 OK/);
  });

});
