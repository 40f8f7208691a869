/**
 * Starts the built server (dist/) as a child process on ephemeral loopback
 * ports and reads the bound addresses from its start log line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist/cli/main.js');

export interface Listener {
  protocol: string;
  host: string;
  port: number;
}

export interface RunningServer {
  proc: ChildProcess;
  listeners: Listener[];
  port(protocol: string, host?: string): number;
  logs: string[];
  dir: string;
  db: string;
  stop(): Promise<void>;
}

/**
 * A SIP server sends where messages tell it: as root, integration tests must run
 * inside the loopback-only namespace of scripts/in-netns.sh (npm test does).
 */
export function assertPrivateNetwork(): void {
  if (process.getuid?.() === 0 && process.env.SB_IN_NETNS !== '1') {
    throw new Error('run integration and interop tests through scripts/in-netns.sh (npm test): they need a loopback-only network namespace');
  }
}

export function tempDir(prefix = 'sb-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Runs `switchboard serve` with the given flags (plus a temp --db unless given). */
export async function startServer(args: string[], opts: { dir?: string; timeoutMs?: number } = {}): Promise<RunningServer> {
  assertPrivateNetwork();
  const dir = opts.dir ?? tempDir();
  const db = path.join(dir, 'switchboard.db');
  const fullArgs = [CLI, 'serve', ...(args.includes('--db') ? [] : ['--db', db]), ...args];
  const proc = spawn(process.execPath, fullArgs, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  const logs: string[] = [];
  let buffered = '';
  const started = new Promise<Listener[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${logs.join('\n')}`)), opts.timeoutMs ?? 10_000);
    proc.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        logs.push(line);
        try {
          const j = JSON.parse(line) as { msg?: string; listen?: string[] };
          if (j.msg === 'switchboard started' && j.listen) {
            clearTimeout(timer);
            resolve(
              j.listen.map((l) => {
                const m = /^(\w+):(\[.*\]|[^:]+):(\d+)$/.exec(l)!;
                return { protocol: m[1]!.toUpperCase(), host: m[2]!.replace(/^\[|\]$/g, ''), port: Number(m[3]) };
              }),
            );
          }
        } catch {
          // not JSON: keep it in logs
        }
      }
    });
    proc.stderr!.on('data', (chunk: Buffer) => logs.push(chunk.toString('utf8')));
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${logs.join('\n')}`));
    });
  });
  const listeners = await started;
  return {
    proc,
    listeners,
    logs,
    dir,
    db,
    port(protocol: string, host?: string): number {
      const l = listeners.find((x) => x.protocol === protocol.toUpperCase() && (host === undefined || x.host === host));
      if (!l) throw new Error(`no ${protocol} listener`);
      return l.port;
    },
    stop(): Promise<void> {
      if (proc.exitCode !== null) return Promise.resolve();
      return new Promise((resolve) => {
        const kill = setTimeout(() => proc.kill('SIGKILL'), 5000);
        proc.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        proc.kill('SIGTERM');
      });
    },
  };
}
