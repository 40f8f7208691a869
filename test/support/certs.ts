/**
 * A self-signed certificate and key for 127.0.0.1 (IP SANs 127.0.0.1 and
 * ::1) made with the openssl CLI, for the TLS and WSS listeners in tests.
 * Clients connect with rejectUnauthorized: false (or trust `cert` as a CA).
 *
 * Made once and cached: in the process, and on disk in one directory per
 * user that parallel test workers share (valid one day, remade after 12 h).
 * A worker publishes its pair by renaming its whole directory into place, so
 * a reader never sees a certificate with another worker's key.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCert {
  dir: string;
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

const MAX_AGE_MS = 12 * 3600 * 1000;
let cached: TestCert | undefined;

function load(dir: string): TestCert | undefined {
  const certPath = path.join(dir, 'cert.pem');
  const keyPath = path.join(dir, 'key.pem');
  try {
    if (Date.now() - fs.statSync(certPath).mtimeMs > MAX_AGE_MS) return undefined;
    return { dir, certPath, keyPath, cert: fs.readFileSync(certPath, 'utf8'), key: fs.readFileSync(keyPath, 'utf8') };
  } catch {
    return undefined;
  }
}

function generate(dir: string): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,IP:::1',
      '-keyout',
      path.join(dir, 'key.pem'),
      '-out',
      path.join(dir, 'cert.pem'),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 },
  );
}

export function testCert(): TestCert {
  if (cached) return cached;
  const shared = path.join(os.tmpdir(), `switchboard-test-cert-${process.getuid?.() ?? 'user'}`);
  const existing = load(shared);
  if (existing) return (cached = existing);
  const mine = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-cert-'));
  generate(mine);
  // replace a stale pair; if another worker published a fresh one meanwhile, use that one
  if (fs.existsSync(shared) && !load(shared)) fs.rmSync(shared, { recursive: true, force: true });
  try {
    fs.renameSync(mine, shared);
  } catch {
    fs.rmSync(mine, { recursive: true, force: true });
  }
  const pair = load(shared);
  if (!pair) throw new Error(`could not make a test certificate in ${shared}`);
  return (cached = pair);
}

/** The flags that give a server this certificate. */
export function tlsFlags(): string[] {
  const c = testCert();
  return ['--tls-cert', c.certPath, '--tls-key', c.keyPath];
}
