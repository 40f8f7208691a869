/**
 * Issue 5 interop: SIPp (Debian sip-tester 3.6.1) registers 50 users with
 * digest authentication — REGISTER → 401 → REGISTER with credentials → 200 —
 * at 50 calls per second over UDP (scenario sipp/register-auth.xml, users
 * from a CSV written here), and `switchboard registrations --json` then
 * lists 50 bindings.
 *
 * SIPp 3.6.1 cannot answer the challenge pair Switchboard sends (SHA-256
 * first, MD5 second, RFC 8760 §2.4): it reads the first one and stops with
 * "createAuthHeader: authentication must use MD5 or AKAv1-MD5". So SIPp talks
 * to the server through a loopback relay that drops the SHA-256 challenge
 * (support/sipp.ts md5ChallengesOnly), i.e. it sees a server offering MD5.
 * SIPp 3.6.1 also does not expand [field0] inside [authentication …], so
 * the CSV carries the whole keyword as field2.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, tempDir, type RunningServer } from '../support/server-process.js';
import {
  SIPP_DIR,
  addUsers,
  describeSipp,
  freeUdpPort,
  md5ChallengesOnly,
  registrations,
  runSipp,
  udpRelay,
  type UdpRelay,
} from '../support/sipp.js';

const DOMAIN = 'example.test';
const USERS = Array.from({ length: 50 }, (_, i) => ({
  username: `sipp${String(i + 1).padStart(3, '0')}`,
  password: `pw-${i + 1}-${Math.random().toString(36).slice(2, 10)}`,
}));

let server: RunningServer;
let relay: UdpRelay;
let dir: string;
let db: string;
let csv: string;

beforeAll(async () => {
  dir = tempDir('sb-sipp-');
  db = path.join(dir, 'switchboard.db');
  addUsers(db, DOMAIN, USERS);
  // SEQUENTIAL: call n uses line n. field0 user, field1 password, field2 the [authentication] keyword SIPp expands
  csv = path.join(dir, 'users.csv');
  fs.writeFileSync(
    csv,
    ['SEQUENTIAL', ...USERS.map((u) => `${u.username};${u.password};[authentication username=${u.username} password=${u.password}]`)].join('\n') + '\n',
  );
  server = await startServer(['--udp', '127.0.0.1:0', '--domain', DOMAIN, '--db', db], { dir, timeoutMs: 20_000 });
  relay = await udpRelay(server.port('UDP'), md5ChallengesOnly);
}, 60_000);

afterAll(async () => {
  await relay?.close();
  await server?.stop();
});

describe('SIPp', () => {
  it('registers 50 users from a CSV with digest authentication at 50 calls/s; registrations --json lists the 50 bindings', async () => {
    const port = await freeUdpPort();
    const r = await runSipp({
      target: `127.0.0.1:${relay.port}`,
      scenario: path.join(SIPP_DIR, 'register-auth.xml'),
      cwd: dir,
      args: [
        '-inf', csv,
        '-s', DOMAIN,
        '-i', '127.0.0.1',
        '-p', String(port),
        '-t', 'u1',
        '-m', String(USERS.length),
        '-r', '50',
        '-rp', '1000',
        '-buff_size', '4194304',
        '-timeout', '30s',
        '-timeout_error',
      ],
      timeoutMs: 45_000,
    });
    expect(r.code, describeSipp(r)).toBe(0);
    expect(r.stdout).toMatch(/Successful call\s*\|\s*\d+\s*\|\s*50\b/);
    // every call was challenged (and the SHA-256 challenge hidden from SIPp)
    expect(relay.stats.rewritten).toBeGreaterThanOrEqual(USERS.length);

    const list = await registrations(db);
    expect(list).toHaveLength(USERS.length);
    expect(list.map((b) => b.aor).sort()).toEqual(USERS.map((u) => `sip:${u.username}@${DOMAIN}`).sort());
    for (const b of list) {
      const user = /^sip:([^@]+)@/.exec(b.aor)![1];
      expect(b).toMatchObject({ contact: `sip:${user}@127.0.0.1:${port}`, transport: 'UDP', flowBound: false });
      expect(b.source).toMatch(/^127\.0\.0\.1:\d+$/); // the relay's side
      expect(b.userAgent).toBe('SIPp register-auth');
      expect(b.expiresIn).toBeGreaterThan(3500);
      expect(b.expiresIn).toBeLessThanOrEqual(3600);
    }
  }, 60_000);
});
