#!/usr/bin/env node
/**
 * The REGISTER hot path of the built server without the sockets (STYLE.md
 * habit 8: prints figures, asserts nothing).
 *
 *   npx tsc -p tsconfig.json && node scripts/bench-register-path.mjs [users] [rounds] [--auth]
 *
 * The whole server is started as `switchboard serve` would (database file in
 * a temporary directory, the binding writer thread, --auth off, one UDP
 * socket on 127.0.0.1 that nothing is sent to), and REGISTERs shaped like
 * those of scripts/bench/register-noauth.xml are handed to the UDP
 * transport's datagram handler as the socket would hand them, one fresh
 * Buffer each. Sends are counted instead of reaching the socket. What is
 * measured is everything the server does per REGISTER except the two
 * system calls: parse, validation, transaction layer, registrar, location
 * service, the writer thread's commit, the 200 built and serialized.
 *
 * Each round registers every user once (new Call-ID, CSeq 1, a new branch:
 * the refresh a phone sends), fed in bursts of 200 with an event-loop turn
 * between them so that commits and their 200s run as they do under load.
 * The first round (bindings created) is a warm-up and is not counted.
 *
 * With --auth the server challenges (MD5, qop=auth, as the SIPp auth
 * benchmark asks) and each registration is REGISTER, 401, REGISTER with
 * credentials, 200: the figures are then per registration, and they include
 * the client's side of it (reading the 401 and three MD5 digests, about
 * 2 µs).
 *
 * Prints REGISTERs per second of the one event loop, its CPU per REGISTER
 * (/proc/self/task: the main thread alone) and the whole process's (the
 * writer thread and V8's helpers as well).
 *
 * DIST may point at another build directory (default ../dist); COMMIT_WINDOW
 * sets --commit-window (ms, default that of the server).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setImmediate as turn } from 'node:timers/promises';
import { createHash } from 'node:crypto';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, process.env.DIST ?? '../dist');
const load = (p) => import(pathToFileURL(path.join(dist, p)).href);

const args = process.argv.slice(2).filter((a) => a !== '--auth');
const auth = process.argv.includes('--auth');
const users = Number(args[0] ?? 20000);
const rounds = Number(args[1] ?? 6);
const BURST = 200;

const { Server } = await load('server.js');
const { DEFAULTS } = await load('config.js');
const { UserStore } = await load('store/user-store.js');
const { SystemClock } = await load('util/clock.js');

const dir = mkdtempSync(path.join(tmpdir(), 'sb-regpath-'));
const server = new Server({
  ...DEFAULTS,
  udp: [{ host: '127.0.0.1', port: 0 }],
  tcp: [],
  ws: [],
  db: path.join(dir, 'sb.db'),
  domains: ['example.test'],
  auth,
  digestAlgorithms: ['MD5'],
  logLevel: 'warn',
  // datagrams are handed to the transport here: no socket, so no I/O thread either
  udpIoThread: false,
  ...(process.env.COMMIT_WINDOW !== undefined ? { commitWindowMs: Number(process.env.COMMIT_WINDOW) } : {}),
});
await server.start();
const udp = server.core.transport('UDP');
let sent = 0;
let sentBytes = 0;
/** the last response sent (auth: the 401 the client reads) */
let last = null;
let ok = 0;
udp.sendTo = (data) => {
  sent++;
  sentBytes += data.length;
  last = data;
  // "SIP/2.0 200"
  if (data[8] === 0x32 && data[9] === 0x30 && data[10] === 0x30) ok++;
  return true;
};
const PASSWORD = 'bench-secret';
if (auth) {
  const store = new UserStore(server.db, new SystemClock());
  for (let i = 0; i < users; i++) store.add(`user${i}`, 'example.test', PASSWORD);
}

// one template per user; the 10-digit fields are rewritten per REGISTER
const PAD = '0000000000';
function template(i) {
  const port = 5071;
  return Buffer.from(
    [
      'REGISTER sip:example.test SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-${PAD};rport`,
      'Max-Forwards: 70',
      `From: <sip:user${i}@example.test>;tag=${PAD}`,
      `To: <sip:user${i}@example.test>`,
      `Call-ID: ${PAD}@127.0.0.1`,
      'CSeq: 1 REGISTER',
      `Contact: <sip:user${i}@127.0.0.1:${port};transport=UDP>`,
      'Expires: 3600',
      'User-Agent: sipp-bench',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    'latin1',
  );
}
const templates = [];
for (let i = 0; i < users; i++) {
  const t = template(i);
  const s = t.toString('latin1');
  const at = [];
  for (let k = s.indexOf(PAD); k !== -1; k = s.indexOf(PAD, k + PAD.length)) at.push(k);
  templates.push({ t, at });
}

let serial = 0;
function datagram(i) {
  const { t, at } = templates[i];
  // a buffer of its own, as the socket hands each datagram
  const b = Buffer.allocUnsafeSlow(t.length);
  t.copy(b);
  const digits = String(++serial).padStart(10, '0');
  for (const k of at) b.latin1Write(digits, k);
  return b;
}

const md5 = (s) => createHash('md5').update(s).digest('hex');

/** The REGISTER answering a 401 (RFC 3261 §22.4, RFC 7616 §3.4): same Call-ID and From tag, CSeq 2, a new branch. */
function withCredentials(i, first, challenge) {
  const text = challenge.toString('latin1');
  const nonce = /nonce="([^"]+)"/.exec(text)[1];
  const realm = /realm="([^"]+)"/.exec(text)[1];
  const user = `user${i}`;
  const uri = 'sip:example.test';
  const cnonce = (serial + 1).toString(16);
  const response = md5(`${md5(`${user}:${realm}:${PASSWORD}`)}:${nonce}:00000001:${cnonce}:auth:${md5(`REGISTER:${uri}`)}`);
  const head = first
    .toString('latin1')
    .replace(/branch=z9hG4bK-\d+/, `branch=z9hG4bK-a${String(++serial).padStart(9, '0')}`)
    .replace('CSeq: 1 REGISTER', 'CSeq: 2 REGISTER')
    .replace(
      'Content-Length: 0',
      `Authorization: Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="${cnonce}"\r\nContent-Length: 0`,
    );
  const b = Buffer.allocUnsafeSlow(head.length);
  b.latin1Write(head, 0);
  return b;
}

const deliver = (b) => udp.onDatagram(b, '127.0.0.1', 5071);

/** utime + stime of one thread, in clock ticks (10 ms). */
function threadTicks(tid) {
  const f = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

async function round() {
  // a registration is answered by a 200 (and, with --auth, a 401 before it)
  const target = sent + users * (auth ? 2 : 1);
  for (let i = 0; i < users; i += BURST) {
    const end = Math.min(users, i + BURST);
    for (let k = i; k < end; k++) {
      const d = datagram(k);
      deliver(d);
      // the 401 is sent before deliver returns
      if (auth) deliver(withCredentials(k, d, last));
    }
    await turn();
  }
  // the last commits and their 200s
  for (let spins = 0; sent < target && spins < 100_000; spins++) await turn();
  if (sent < target) throw new Error(`only ${sent} of ${target} responses sent`);
}

await round(); // bindings created; JIT warm
const t0 = performance.now();
const main0 = threadTicks(process.pid);
const cpu0 = process.cpuUsage();
for (let r = 1; r < rounds; r++) await round();
const wall = performance.now() - t0;
const mainTicks = threadTicks(process.pid) - main0;
const cpu = process.cpuUsage(cpu0);
const n = users * (rounds - 1);

const stats = server.transactions.stats();
// every registration must have ended in a 200: anything else measured the wrong path
if (ok !== users * rounds) throw new Error(`${ok} 200 OK for ${users * rounds} registrations`);
const op = auth ? 'registration' : 'REGISTER';
console.log(`REGISTER hot path without sockets${auth ? ', digest auth' : ''}: ${users} users, ${rounds - 1} measured rounds, ${n} ${op}s (+${users} warm-up)`);
console.log(`  rate of the event loop   ${Math.round(n / (wall / 1000))} ${op}s/s (${(wall / 1000).toFixed(2)} s)`);
console.log(`  main thread CPU          ${((mainTicks * 10_000) / n).toFixed(1)} us/${op}`);
console.log(`  process CPU              ${(((cpu.user + cpu.system) / n)).toFixed(1)} us/${op} (writer thread and V8 helpers included)`);
console.log(`  responses                ${sent}, ${ok} of them 200 (${Math.round(sentBytes / sent)} B each), transactions created ${stats.serverCreated}, ended statelessly ${stats.endedStateless}`);
console.log(`  bindings                 ${server.locations.count()}, commits ${server.locations.commits}`);

await server.stop();
rmSync(dir, { recursive: true, force: true });
