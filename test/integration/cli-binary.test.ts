/**
 * The admin commands through the real binary (dist/cli/main.js): exit codes,
 * stderr without stack traces, a real stdin pipe. Needs `npx tsc -p
 * tsconfig.json` (npm test builds first). No network.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import { ha1 } from '../../src/util/digest-hash.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'dist/cli/main.js');

let dir: string;
let db: string;

function sb(args: string[], input?: string): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { input: input ?? '', encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist/cli/registrations-command.js'))) {
    throw new Error(`${CLI} has no admin commands: build first (npx tsc -p tsconfig.json)`);
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-cli-bin-'));
  db = path.join(dir, 'switchboard.db');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('switchboard binary', () => {
  it('adds a user with --password-stdin from a pipe and refuses a duplicate', () => {
    let r = sb(['user', 'add', 'alice', '--domain', 'example.com', '--password-stdin', '--db', db], 'piped pw\n');
    expect(r).toEqual({ code: 0, out: 'added alice@example.com\n', err: '' });

    r = sb(['user', 'add', 'alice', '--domain', 'example.com', '--password', 'x', '--db', db]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe('switchboard: user alice@example.com already exists\n'); // one line, no stack

    r = sb(['user', 'passwd', 'alice', '--domain', 'example.com', '--password', 'new pw', '--db', db]);
    expect(r.code).toBe(0);
    const d = openDatabase(db);
    try {
      const row = d.prepare('SELECT ha1_md5, ha1_sha256 FROM users WHERE username = ?').get('alice') as {
        ha1_md5: string;
        ha1_sha256: string;
      };
      expect(row.ha1_md5).toBe(ha1('MD5', 'alice', 'example.com', 'new pw'));
      expect(row.ha1_sha256).toBe(ha1('SHA-256', 'alice', 'example.com', 'new pw'));
    } finally {
      d.close();
    }
  });

  it('refuses to prompt when stdin is not a terminal', () => {
    const r = sb(['user', 'add', 'bob', '--domain', 'example.com', '--db', db], 'whatever\n');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^switchboard: no password given[^\n]*\n$/);
  });

  it('lists registrations as JSON', () => {
    const d = openDatabase(db);
    try {
      const insert = d.prepare(
        `INSERT INTO bindings (aor, binding_key, contact, contact_header, expires_at, call_id, cseq, transport,
                               received, updated_at)
         VALUES (?, ?, ?, ?, ?, 'c', 1, 'UDP', '192.0.2.1:5060', ?)`,
      );
      const add = (contact: string, expiresAt: number): unknown =>
        insert.run('sip:alice@example.com', `uri ${contact}`, contact, `<${contact}>`, expiresAt, Date.now());
      add('sip:alice@192.0.2.1', Date.now() + 120_000);
      add('sip:alice@192.0.2.2', Date.now() - 1000); // expired
    } finally {
      d.close();
    }
    const r = sb(['registrations', '--json', '--aor', 'alice@example.com', '--db', db]);
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.out) as { contact: string; source: string; expiresIn: number }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ contact: 'sip:alice@192.0.2.1', source: '192.0.2.1:5060' });
    expect(rows[0]!.expiresIn).toBeGreaterThan(100);
    expect(rows[0]!.expiresIn).toBeLessThanOrEqual(120);
  });

  it('reports a missing database with exit 1', () => {
    const r = sb(['registrations', '--db', path.join(dir, 'missing.db')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^switchboard: no database at [^\n]*\n$/);
  });
});
