/** `switchboard serve` flags reach the Config the server is built from (parsed, not run). */
import { describe, expect, it } from 'vitest';
import { buildConfig, buildProgram } from '../../../src/cli/program.js';
import { DEFAULTS } from '../../../src/config.js';

function configFor(args: string[]) {
  const serve = buildProgram().commands.find((c) => c.name() === 'serve')!;
  serve.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  serve.parseOptions(args);
  return buildConfig(serve.opts() as Parameters<typeof buildConfig>[0]);
}

describe('serve flags', () => {
  it('--max-transactions and --commit-window have their defaults', () => {
    const c = configFor(['--domain', 'example.test']);
    expect(c.maxTransactions).toBe(DEFAULTS.maxTransactions);
    expect(c.commitWindowMs).toBe(DEFAULTS.commitWindowMs);
  });

  it('--max-transactions and --commit-window set them (0 commits every turn)', () => {
    const c = configFor(['--domain', 'example.test', '--max-transactions', '1000', '--commit-window', '0']);
    expect(c.maxTransactions).toBe(1000);
    expect(c.commitWindowMs).toBe(0);
  });

  it('--udp-io-thread is on by default; off runs the UDP sockets on the event loop', () => {
    expect(configFor(['--domain', 'example.test']).udpIoThread).toBe(true);
    expect(DEFAULTS.udpIoThread).toBe(true);
    expect(configFor(['--domain', 'example.test', '--udp-io-thread', 'off']).udpIoThread).toBe(false);
    expect(configFor(['--domain', 'example.test', '--udp-io-thread', 'on']).udpIoThread).toBe(true);
  });

  it('refuses a bad value', () => {
    expect(() => configFor(['--udp-io-thread', 'maybe'])).toThrow(/Allowed choices/);
    expect(() => configFor(['--max-transactions', '0'])).toThrow(/positive integer/);
    expect(() => configFor(['--commit-window=-1'])).toThrow(/non-negative integer/);
  });
});
