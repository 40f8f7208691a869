/**
 * Helpers of the registrar integration and interop tests (issue 5):
 *
 *  - the `switchboard` admin commands through the built binary (`user add`,
 *    `registrations --json`), and users created in-process on a database
 *    file (faster than one `user add` process per user);
 *  - SIPp (Debian `sip-tester` 3.6.1): spawned with a bounded timeout, its
 *    output collected, a free local UDP port for its mandatory `-p`;
 *  - a loopback UDP relay that can rewrite what passes through it (used to
 *    hide the SHA-256 challenge from clients that read only the first
 *    WWW-Authenticate, see `md5ChallengesOnly`).
 *
 * Every wait is bounded; nothing resolves a host name.
 */
import { execFile, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RegistrationJson } from '../../src/cli/registrations-command.js';
import { openDatabase } from '../../src/store/database.js';
import { UserStore } from '../../src/store/user-store.js';
import { SystemClock } from '../../src/util/clock.js';
import { CLI } from './server-process.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** test/interop/sipp: the scenario files */
export const SIPP_DIR = path.join(ROOT, 'test/interop/sipp');

export type { RegistrationJson };

// ---------------------------------------------------------------------------
// The switchboard admin commands

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/cli/main.js <args>`; resolves with its exit code and output (never rejects on a non-zero exit). */
export function switchboard(args: string[], timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        // not started, or killed (by our timeout: err.killed)
        reject(new Error(`switchboard ${args.join(' ')}: ${err.message}${err.killed ? ` (killed after ${timeoutMs} ms)` : ''}\n${stderr}`));
        return;
      }
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

/** `switchboard user add <username> --domain <domain> --password <password> --db <db>`, which must succeed. */
export async function addUserCli(db: string, username: string, domain: string, password: string): Promise<void> {
  const r = await switchboard(['user', 'add', username, '--domain', domain, '--password', password, '--db', db]);
  if (r.code !== 0) throw new Error(`user add ${username}@${domain} exited ${r.code}: ${r.stderr}`);
}

/** Creates the users in-process on the database file (created and migrated if needed). */
export function addUsers(db: string, domain: string, users: ReadonlyArray<{ username: string; password: string }>): void {
  const d = openDatabase(db);
  try {
    const store = new UserStore(d, new SystemClock());
    d.transaction(() => {
      for (const u of users) store.add(u.username, domain, u.password);
    })();
  } finally {
    d.close();
  }
}

/** The live bindings, from `switchboard registrations --json` on the database (optionally of one AOR). */
export async function registrations(db: string, aor?: string): Promise<RegistrationJson[]> {
  const r = await switchboard(['registrations', '--json', '--db', db, ...(aor === undefined ? [] : ['--aor', aor])]);
  if (r.code !== 0) throw new Error(`registrations --json exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as RegistrationJson[];
}

/** Polls `registrations --json` until pred holds; resolves with the last list, rejects after timeoutMs. */
export async function pollRegistrations(
  db: string,
  pred: (list: RegistrationJson[]) => boolean,
  opts: { aor?: string; timeoutMs?: number; what?: string } = {},
): Promise<RegistrationJson[]> {
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  for (;;) {
    const list = await registrations(db, opts.aor);
    if (pred(list)) return list;
    if (Date.now() > deadline) {
      throw new Error(`timeout waiting for ${opts.what ?? 'the registrations'}; last: ${JSON.stringify(list)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------------------
// SIPp

/** A UDP port that was free a moment ago on host (bind to 0, read it, close): for tools that need an explicit port. */
export async function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, host, () => resolve());
    });
    return sock.address().port;
  } finally {
    await new Promise<void>((r) => sock.close(() => r()));
  }
}

export interface SippOptions {
  /** `host:port` the scenario sends to (an IP literal) */
  target: string;
  /** the scenario file (-sf) */
  scenario: string;
  /** working directory (CSV files, logs); the error log is written here as sipp-errors.log */
  cwd: string;
  /** further arguments (-inf, -m, -r, -t, -p, -i, -s …) */
  args: string[];
  /** the process is killed after this long (default 60 s) */
  timeoutMs?: number;
}

export interface SippResult {
  /** exit code (0: every call succeeded; 1: some failed; 255: fatal), null when killed */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** true when our timeout killed it */
  killed: boolean;
  /** the tail of stdout / stderr (SIPp's statistics screens and errors) */
  stdout: string;
  stderr: string;
  /** contents of the -trace_err error log, '' when none */
  errors: string;
  durationMs: number;
}

const KEEP = 64 * 1024;

/** Runs `sipp <target> -sf <scenario> -nostdin -trace_err -error_file … <args>`; resolves when it exits or is killed. */
export function runSipp(o: SippOptions): Promise<SippResult> {
  const errorFile = path.join(o.cwd, 'sipp-errors.log');
  const args = [o.target, '-sf', o.scenario, '-nostdin', '-trace_err', '-error_file', errorFile, ...o.args];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const proc = spawn('sipp', args, { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    proc.stdout.on('data', (c: Buffer) => {
      stdout = (stdout + c.toString('latin1')).slice(-KEEP);
    });
    proc.stderr.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString('latin1')).slice(-KEEP);
    });
    const timer = setTimeout(() => {
      killed = true;
      proc.kill('SIGKILL');
    }, o.timeoutMs ?? 60_000);
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run sipp: ${err.message}`));
    });
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      let errors = '';
      try {
        errors = fs.readFileSync(errorFile, 'latin1').slice(-KEEP);
      } catch {
        // no error log: nothing unexpected happened
      }
      resolve({ code, signal, killed, stdout, stderr, errors, durationMs: Date.now() - started });
    });
  });
}

/** A readable summary of a SIPp run for assertion messages. */
export function describeSipp(r: SippResult): string {
  return `sipp exited ${r.code}${r.signal ? ` (${r.signal})` : ''}${r.killed ? ' after our timeout' : ''} in ${r.durationMs} ms\n` +
    `--- errors ---\n${r.errors.slice(-4000)}\n--- stdout ---\n${r.stdout.slice(-4000)}\n--- stderr ---\n${r.stderr.slice(-2000)}`;
}

// ---------------------------------------------------------------------------
// A loopback UDP relay

export interface UdpRelay {
  /** the port clients send to (on 127.0.0.1) */
  port: number;
  /** datagrams relayed client → server and server → client, and datagrams the rewrite changed */
  readonly stats: { up: number; down: number; rewritten: number };
  close(): Promise<void>;
}

/**
 * A NAT-like UDP relay on 127.0.0.1: each client source address gets its own
 * upstream socket, so the server sees one source per client and its answers
 * (sent back to the source, RFC 3581) find their way to the right client.
 * `down` may rewrite what the server sends (return the datagram unchanged
 * to pass it through).
 */
export async function udpRelay(serverPort: number, down: (datagram: Buffer) => Buffer = (d) => d): Promise<UdpRelay> {
  const front = dgram.createSocket('udp4');
  const upstream = new Map<string, dgram.Socket>();
  const stats = { up: 0, down: 0, rewritten: 0 };
  const pending: Array<Promise<void>> = [];
  front.on('error', () => undefined);
  front.on('message', (msg, rinfo) => {
    const key = `${rinfo.address}:${rinfo.port}`;
    let up = upstream.get(key);
    if (!up) {
      const sock = dgram.createSocket('udp4');
      up = sock;
      upstream.set(key, sock);
      sock.on('error', () => undefined);
      sock.on('message', (reply) => {
        const out = down(reply);
        if (out !== reply) stats.rewritten++;
        stats.down++;
        front.send(out, rinfo.port, rinfo.address);
      });
      pending.push(new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r())));
      sock.send(msg, serverPort, '127.0.0.1');
    } else {
      up.send(msg, serverPort, '127.0.0.1');
    }
    stats.up++;
  });
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.bind(0, '127.0.0.1', () => resolve());
  });
  return {
    port: front.address().port,
    stats,
    async close() {
      await Promise.all(pending);
      const socks = [front, ...upstream.values()];
      await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}

/**
 * Removes, from 401/407 responses, every WWW-Authenticate / Proxy-Authenticate
 * header whose algorithm is not MD5 (no algorithm means MD5): the server seen
 * through it offers MD5 only. Other datagrams are returned unchanged (the same
 * Buffer).
 *
 * Why: Switchboard challenges with SHA-256 first and MD5 second (RFC 8760
 * §2.4). SIPp 3.6.1 (`createAuthHeader: authentication must use MD5 or
 * AKAv1-MD5`, fatal) and sipsak 0.9.8.1 as packaged by Debian (`unsupported
 * authentication algorithm`) read only the first challenge and cannot do
 * SHA-256, so they cannot register against the pair.
 */
export function md5ChallengesOnly(datagram: Buffer): Buffer {
  const text = datagram.toString('latin1');
  if (!/^SIP\/2\.0 40[17] /.test(text)) return datagram;
  const end = text.indexOf('\r\n\r\n');
  if (end === -1) return datagram;
  const lines = text.slice(0, end).split('\r\n');
  const kept = lines.filter((line) => {
    const m = /^(?:www-authenticate|proxy-authenticate)[ \t]*:(.*)$/i.exec(line);
    if (!m) return true;
    const alg = /(?:^|[\s,])algorithm[ \t]*=[ \t]*"?([^",\s]+)/i.exec(m[1]!);
    return alg === null || alg[1]!.toUpperCase() === 'MD5';
  });
  if (kept.length === lines.length) return datagram;
  return Buffer.from(kept.join('\r\n') + text.slice(end), 'latin1');
}
