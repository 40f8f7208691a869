/**
 * Issue 5 interop: sipsak 0.9.8.1 (usrloc mode, `-U -C <contact>`) registers
 * a contact for an account with a password, and unregisters it.
 *
 * Three sipsak constraints shape this test:
 *  - it resolves the -s domain even with an outbound proxy (-p), so the
 *    domain is the IP literal 127.0.0.1 (server `--domain 127.0.0.1`, the
 *    user added in domain 127.0.0.1, realm 127.0.0.1); -H 127.0.0.1 keeps it
 *    from looking up its own host name;
 *  - in usrloc mode it derives the digest username as "alice@" from the
 *    URI: -u gives the account name;
 *  - it truncates a 5-digit port written in a URI, so the URI has no port
 *    and -r gives the (ephemeral) one;
 *  - the Debian build does MD5 only and reads only the first WWW-Authenticate,
 *    so the SHA-256 + MD5 pair (RFC 8760 §2.4) makes it stop with
 *    "unsupported authentication algorithm". With auth on it talks through a
 *    loopback relay that drops the SHA-256 challenge (support/sipp.ts
 *    md5ChallengesOnly); an `--auth off` server it reaches directly.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, tempDir, type RunningServer } from '../support/server-process.js';
import { addUserCli, md5ChallengesOnly, registrations, udpRelay, type UdpRelay } from '../support/sipp.js';

const DOMAIN = '127.0.0.1';
const PASSWORD = 'sipsak-Secret-7';

interface SipsakResult {
  code: number | null;
  output: string;
}

function sipsak(args: string[], timeoutMs = 15_000): Promise<SipsakResult> {
  return new Promise((resolve, reject) => {
    execFile('sipsak', args, { timeout: timeoutMs, encoding: 'latin1' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`sipsak ${args.join(' ')}: ${err.message}\n${stdout}${stderr}`));
        return;
      }
      resolve({ code: err ? (err.code as number) : 0, output: `${stdout}${stderr}` });
    });
  });
}

/** sipsak usrloc mode: registers `contact` for user@127.0.0.1 at 127.0.0.1:port with Expires: expires. */
const usrloc = (o: { user: string; password: string; contact: string; port: number; expires: number }): Promise<SipsakResult> =>
  sipsak(['-U', '-C', o.contact, '-s', `sip:${o.user}@${DOMAIN}`, '-r', String(o.port), '-H', DOMAIN, '-u', o.user, '-a', o.password, '-x', String(o.expires), '-vvv']);

describe('sipsak with digest authentication (--auth on)', () => {
  let server: RunningServer;
  let relay: UdpRelay;
  let db: string;

  beforeAll(async () => {
    const dir = tempDir('sb-sipsak-reg-');
    db = path.join(dir, 'switchboard.db');
    await addUserCli(db, 'alice', DOMAIN, PASSWORD);
    await addUserCli(db, 'bob', DOMAIN, PASSWORD);
    server = await startServer(['--udp', '127.0.0.1:0', '--domain', DOMAIN, '--db', db], { dir, timeoutMs: 20_000 });
    relay = await udpRelay(server.port('UDP'), md5ChallengesOnly);
  }, 60_000);

  afterAll(async () => {
    await relay?.close();
    await server?.stop();
  });

  it('registers a contact with -a <password> (401 → MD5 credentials → 200) and unregisters it with -x 0', async () => {
    const contact = 'sip:alice@127.0.0.1:5099';
    const r = await usrloc({ user: 'alice', password: PASSWORD, contact, port: relay.port, expires: 3600 });
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/SIP\/2\.0 401 Unauthorized/);
    expect(r.output).toMatch(/Authorization: Digest [^\r\n]*response=/);
    expect(r.output).toMatch(/SIP\/2\.0 200 OK/);
    expect(r.output).toMatch(/All usrloc tests completed successful/);
    expect(relay.stats.rewritten).toBeGreaterThanOrEqual(1);

    const list = await registrations(db, `alice@${DOMAIN}`);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ aor: 'sip:alice@127.0.0.1', contact, transport: 'UDP', flowBound: false });
    expect(list[0]!.userAgent).toMatch(/^sipsak/);
    expect(list[0]!.expiresIn).toBeGreaterThan(3590);
    expect(list[0]!.expiresIn).toBeLessThanOrEqual(3600);

    const u = await usrloc({ user: 'alice', password: PASSWORD, contact, port: relay.port, expires: 0 });
    expect(u.code, u.output).toBe(0);
    expect(await registrations(db, `alice@${DOMAIN}`)).toEqual([]);
  }, 30_000);

  it('is refused with 403 for a wrong password, and nothing is stored', async () => {
    const r = await usrloc({ user: 'bob', password: 'wrong', contact: 'sip:bob@127.0.0.1:5099', port: relay.port, expires: 3600 });
    expect(r.code, r.output).not.toBe(0);
    expect(r.output).toMatch(/SIP\/2\.0 403 /);
    expect(await registrations(db, `bob@${DOMAIN}`)).toEqual([]);
  }, 30_000);
});

describe('sipsak against an --auth off server', () => {
  let server: RunningServer;
  let db: string;

  beforeAll(async () => {
    const dir = tempDir('sb-sipsak-open-');
    db = path.join(dir, 'switchboard.db');
    server = await startServer(['--udp', '127.0.0.1:0', '--domain', DOMAIN, '--auth', 'off', '--db', db], { dir, timeoutMs: 20_000 });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('registers straight away (directly, no relay) and the binding is listed', async () => {
    const contact = 'sip:carol@127.0.0.1:5098';
    const r = await usrloc({ user: 'carol', password: 'unused', contact, port: server.port('UDP'), expires: 600 });
    expect(r.code, r.output).toBe(0);
    expect(r.output).not.toMatch(/401 Unauthorized/);
    const list = await registrations(db, `carol@${DOMAIN}`);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ contact, transport: 'UDP' });
    expect(list[0]!.expiresIn).toBeLessThanOrEqual(600);
  }, 30_000);
});

describe('sipsak against a server offering MD5 only (--digest-algorithms md5)', () => {
  let server: RunningServer;
  let db: string;

  beforeAll(async () => {
    const dir = tempDir('sb-sipsak-md5-');
    db = path.join(dir, 'switchboard.db');
    await addUserCli(db, 'dave', DOMAIN, PASSWORD);
    server = await startServer(['--udp', '127.0.0.1:0', '--domain', DOMAIN, '--digest-algorithms', 'md5', '--db', db], { dir, timeoutMs: 20_000 });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('registers directly, with no relay rewriting the challenge', async () => {
    const contact = 'sip:dave@127.0.0.1:5097';
    const r = await usrloc({ user: 'dave', password: PASSWORD, contact, port: server.port('UDP'), expires: 3600 });
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/SIP\/2\.0 401 Unauthorized/);
    expect(r.output).toMatch(/SIP\/2\.0 200 OK/);
    const list = await registrations(db, `dave@${DOMAIN}`);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ contact, transport: 'UDP' });
  }, 30_000);
});
