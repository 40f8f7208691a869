import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  formatRegistrationsTable,
  normalizeAorFilter,
  registerRegistrationsCommand,
  secondsLeft,
  type BindingRow,
} from '../../../src/cli/registrations-command.js';
import type { CliIo } from '../../../src/cli/user-commands.js';
import { openDatabase, type Database } from '../../../src/store/database.js';
import { ManualClock } from '../../../src/util/clock.js';

const NOW = 1_700_000_000_000;
let dir: string;
let dbPath: string;
let clock: ManualClock;

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    stdin: Readable.from([]),
  };
  const program = new Command()
    .name('switchboard')
    .exitOverride()
    .configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (err += s) });
  registerRegistrationsCommand(program, { io, clock });
  try {
    await program.parseAsync(args, { from: 'user' });
    return { code: 0, out, err };
  } catch (e) {
    if (e instanceof CommanderError) return { code: e.exitCode, out, err };
    return { code: 1, out, err: err + `switchboard: ${(e as Error).message}\n` };
  }
}

interface Binding {
  aor: string;
  contact: string;
  expiresAt: number;
  transport?: string;
  received?: string | null;
  q?: number | null;
  userAgent?: string | null;
  flowId?: string | null;
  instanceId?: string | null;
  regId?: number | null;
  updatedAt?: number;
}

function insert(db: Database, b: Binding): void {
  db.prepare(
    `INSERT INTO bindings (aor, binding_key, contact, contact_header, q, expires_at, call_id, cseq, user_agent,
                           received, transport, flow_id, instance_id, reg_id, path, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, 'call-1', 1, ?, ?, ?, ?, ?, ?, NULL, ?)`,
  ).run(
    b.aor,
    `uri ${b.contact}`,
    b.contact,
    `<${b.contact}>`,
    b.q ?? null,
    b.expiresAt,
    b.userAgent ?? null,
    b.received ?? null,
    b.transport ?? 'UDP',
    b.flowId ?? null,
    b.instanceId ?? null,
    b.regId ?? null,
    b.updatedAt ?? NOW,
  );
}

function seed(bindings: Binding[]): void {
  const db = openDatabase(dbPath);
  try {
    for (const b of bindings) insert(db, b);
  } finally {
    db.close();
  }
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-cli-reg-'));
  dbPath = path.join(dir, 'switchboard.db');
  clock = new ManualClock(NOW);
  seed([
    {
      aor: 'sip:alice@example.com',
      contact: 'sip:alice@192.0.2.10:5060',
      expiresAt: NOW + 3600_000,
      received: '192.0.2.10:5060',
      q: 0.5,
      userAgent: 'Linphone/5.2',
    },
    {
      aor: 'sip:alice@example.com',
      contact: 'sip:alice@abc.invalid;transport=ws',
      expiresAt: NOW + 299_500,
      transport: 'WSS',
      received: '198.51.100.7:51234',
      userAgent: 'SIP.js/0.21.2',
      flowId: 'flow-7',
      instanceId: 'urn:uuid:00000000-0000-0000-0000-000000000001',
      regId: 1,
    },
    { aor: 'sip:bob@example.com', contact: 'sip:bob@192.0.2.20', expiresAt: NOW + 60_000, transport: 'TCP' },
    // expired and expiring exactly now: hidden
    { aor: 'sip:bob@example.com', contact: 'sip:bob@192.0.2.21', expiresAt: NOW - 1 },
    { aor: 'sip:carol@example.com', contact: 'sip:carol@192.0.2.30', expiresAt: NOW },
  ]);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('switchboard registrations', () => {
  it('--json lists live bindings with the time left', async () => {
    const r = await run(['registrations', '--json', '--db', dbPath]);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toEqual([
      {
        aor: 'sip:alice@example.com',
        contact: 'sip:alice@abc.invalid;transport=ws',
        transport: 'WSS',
        source: '198.51.100.7:51234',
        q: null,
        expiresIn: 300,
        userAgent: 'SIP.js/0.21.2',
        flowBound: true,
        instanceId: 'urn:uuid:00000000-0000-0000-0000-000000000001',
        regId: 1,
      },
      {
        aor: 'sip:alice@example.com',
        contact: 'sip:alice@192.0.2.10:5060',
        transport: 'UDP',
        source: '192.0.2.10:5060',
        q: 0.5,
        expiresIn: 3600,
        userAgent: 'Linphone/5.2',
        flowBound: false,
        instanceId: null,
        regId: null,
      },
      {
        aor: 'sip:bob@example.com',
        contact: 'sip:bob@192.0.2.20',
        transport: 'TCP',
        source: null,
        q: null,
        expiresIn: 60,
        userAgent: null,
        flowBound: false,
        instanceId: null,
        regId: null,
      },
    ]);
  });

  it('time left follows the clock and expired rows disappear', async () => {
    clock.advance(61_000);
    const rows = JSON.parse((await run(['registrations', '--json', '--db', dbPath])).out);
    expect(rows.map((x: { expiresIn: number }) => x.expiresIn)).toEqual([239, 3539]);
    clock.advance(3600_000);
    expect((await run(['registrations', '--json', '--db', dbPath])).out).toBe('[]\n');
    expect((await run(['registrations', '--db', dbPath])).out).toBe('No live registrations.\n');
  });

  it('filters by --aor (scheme optional, canonical AOR form)', async () => {
    for (const aor of ['sip:bob@example.com', 'bob@example.com', 'bob@EXAMPLE.com', 'SIP:bob@example.com']) {
      const rows = JSON.parse((await run(['registrations', '--aor', aor, '--json', '--db', dbPath])).out);
      expect(rows.map((x: { contact: string }) => x.contact)).toEqual(['sip:bob@192.0.2.20']);
    }
    const alice = JSON.parse((await run(['registrations', '--aor', 'sip:alice@example.com', '--json', '--db', dbPath])).out);
    expect(alice).toHaveLength(2);
    // the user part is case-sensitive; an expired-only AOR shows nothing
    expect((await run(['registrations', '--aor', 'Bob@example.com', '--json', '--db', dbPath])).out).toBe('[]\n');
    expect((await run(['registrations', '--aor', 'carol@example.com', '--json', '--db', dbPath])).out).toBe('[]\n');
  });

  it('prints an aligned table for humans', async () => {
    const r = await run(['registrations', '--db', dbPath]);
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^AOR\s+CONTACT\s+TRANSPORT\s+SOURCE\s+Q\s+EXPIRES\s+FLOW\s+USER-AGENT$/);
    // every column starts at the same offset on every line
    for (const header of ['CONTACT', 'TRANSPORT', 'SOURCE', 'EXPIRES', 'FLOW', 'USER-AGENT']) {
      const col = lines[0]!.indexOf(header);
      for (const line of lines.slice(1)) expect(line[col - 1]).toBe(' ');
      for (const line of lines.slice(1)) expect(line[col]).not.toBe(' ');
    }
    expect(lines[1]).toMatch(/^sip:alice@example\.com\s+sip:alice@abc\.invalid;transport=ws\s+WSS\s+198\.51\.100\.7:51234\s+-\s+300s\s+yes\s+SIP\.js\/0\.21\.2$/);
    expect(lines[2]).toMatch(/^sip:alice@example\.com\s+sip:alice@192\.0\.2\.10:5060\s+UDP\s+192\.0\.2\.10:5060\s+0\.5\s+3600s\s+no\s+Linphone\/5\.2$/);
    expect(lines[3]).toMatch(/^sip:bob@example\.com\s+sip:bob@192\.0\.2\.20\s+TCP\s+-\s+-\s+60s\s+no\s+-$/);
  });

  it('orders each AOR like a lookup: q descending (none = 1.0), then most recently updated', async () => {
    seed([
      { aor: 'sip:dave@example.com', contact: 'sip:dave@192.0.2.1', expiresAt: NOW + 60_000, q: 0.1, updatedAt: NOW },
      { aor: 'sip:dave@example.com', contact: 'sip:dave@192.0.2.2', expiresAt: NOW + 60_000, q: 1, updatedAt: NOW - 10 },
      { aor: 'sip:dave@example.com', contact: 'sip:dave@192.0.2.3', expiresAt: NOW + 60_000, updatedAt: NOW - 5 },
      { aor: 'sip:dave@example.com', contact: 'sip:dave@192.0.2.4', expiresAt: NOW + 60_000, q: 0.7, updatedAt: NOW },
    ]);
    const rows = JSON.parse((await run(['registrations', '--aor', 'dave@example.com', '--json', '--db', dbPath])).out);
    expect(rows.map((x: { contact: string }) => x.contact)).toEqual([
      'sip:dave@192.0.2.3',
      'sip:dave@192.0.2.2',
      'sip:dave@192.0.2.4',
      'sip:dave@192.0.2.1',
    ]);
  });

  it('refuses an --aor that is not a SIP URI', async () => {
    const r = await run(['registrations', '--aor', 'tel:+15551234', '--db', dbPath]);
    expect(r).toEqual({ code: 1, out: '', err: 'switchboard: not a SIP address-of-record: tel:+15551234\n' });
  });

  it('fails with exit 1 when the database does not exist, without creating it', async () => {
    const missing = path.join(dir, 'nope', 'x.db');
    const r = await run(['registrations', '--db', missing]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^switchboard: no database at .*x\.db/);
    expect(fs.existsSync(missing)).toBe(false);
  });

  it('does not keep the database open', async () => {
    await run(['registrations', '--json', '--db', dbPath]);
    // With WAL, a clean close of the last connection checkpoints and removes the -wal file.
    expect(fs.existsSync(`${dbPath}-wal`)).toBe(false);
  });
});

describe('registrations helpers', () => {
  const row = (over: Partial<BindingRow>): BindingRow => ({
    aor: 'sip:a@x',
    contact: 'sip:a@1.2.3.4',
    transport: 'UDP',
    received: null,
    q: null,
    expires_at: NOW + 1000,
    user_agent: null,
    flow_id: null,
    instance_id: null,
    reg_id: null,
    ...over,
  });

  it('rounds the time left up', () => {
    expect(secondsLeft(NOW + 1, NOW)).toBe(1);
    expect(secondsLeft(NOW + 1000, NOW)).toBe(1);
    expect(secondsLeft(NOW + 1001, NOW)).toBe(2);
    expect(secondsLeft(NOW - 5000, NOW)).toBe(0);
  });

  it('escapes control characters from the network in the table', () => {
    const out = formatRegistrationsTable([row({ user_agent: 'evil\u001b]0;pwned\u0007' })], NOW);
    expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    expect(out).toContain('evil\\x1b]0;pwned\\x07');
  });

  it('normalizes AOR filters', () => {
    expect(normalizeAorFilter('alice@Example.COM')).toBe('sip:alice@example.com');
    expect(normalizeAorFilter(' SIPS:Alice@Example.com ')).toBe('sip:Alice@example.com'); // sips folds into sip
    expect(normalizeAorFilter('alice@example.com:5061;transport=tls')).toBe('sip:alice@example.com');
    expect(normalizeAorFilter('al%69ce@example.com')).toBe('sip:alice@example.com');
    expect(() => normalizeAorFilter('tel:+15551234')).toThrow(/not a SIP address-of-record/);
    expect(normalizeAorFilter('sip:alice@example.com')).toBe('sip:alice@example.com');
  });
});
