import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultMigrationsDir, listMigrations, openDatabase, schemaVersion } from '../../../src/store/database.js';
import { ManualClock } from '../../../src/util/clock.js';
import { SbError } from '../../../src/util/errors.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sb-db-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function tables(db: BetterSqlite3.Database): string[] {
  return db
    .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .all()
    .map((r) => r.name);
}

function versions(db: BetterSqlite3.Database): Array<{ version: number; name: string; applied_at: number }> {
  return db
    .prepare<[], { version: number; name: string; applied_at: number }>(
      'SELECT version, name, applied_at FROM schema_migrations ORDER BY version',
    )
    .all();
}

describe('openDatabase', () => {
  it('finds the package migrations by default', () => {
    const migs = listMigrations(defaultMigrationsDir());
    expect(migs.map((m) => m.version)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(migs.map((m) => m.name)).toEqual(['users', 'bindings', 'secrets', 'binding_keys', 'drop_bindings_aor_index', 'user_changes', 'drop_bindings_expires_at_index']);
  });

  it('applies every migration in order on a fresh file database, creating the parent directory', () => {
    const path = join(dir, 'nested', 'deeper', 'sb.sqlite');
    const clock = new ManualClock(1234);
    const db = openDatabase(path, { clock });
    try {
      expect(existsSync(path)).toBe(true);
      expect(versions(db)).toEqual([
        { version: 1, name: 'users', applied_at: 1234 },
        { version: 2, name: 'bindings', applied_at: 1234 },
        { version: 3, name: 'secrets', applied_at: 1234 },
        { version: 4, name: 'binding_keys', applied_at: 1234 },
        { version: 5, name: 'drop_bindings_aor_index', applied_at: 1234 },
        { version: 6, name: 'user_changes', applied_at: 1234 },
        { version: 7, name: 'drop_bindings_expires_at_index', applied_at: 1234 },
      ]);
      expect(tables(db)).toEqual(expect.arrayContaining(['users', 'bindings', 'settings', 'schema_migrations']));
      const idx = db
        .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'bindings'")
        .all()
        .map((r) => r.name);
      expect(idx).toContain('bindings_flow_id');
      // 005: the aor lookups use the UNIQUE (aor, binding_key) index; the separate one is gone
      expect(idx).not.toContain('bindings_aor');
      // 007: nothing looks bindings up by expiry alone (the sweep and the CLI read every row)
      expect(idx).not.toContain('bindings_expires_at');
      const plan = db.prepare<[], { detail: string }>("EXPLAIN QUERY PLAN SELECT * FROM bindings WHERE aor = 'sip:a@b'").all();
      expect(plan.map((r) => r.detail).join(' ')).toMatch(/USING INDEX sqlite_autoindex_bindings/);
      expect(schemaVersion(db)).toBe(7);
    } finally {
      db.close();
    }
  });

  it('sets WAL, synchronous NORMAL, busy_timeout and foreign keys', () => {
    const db = openDatabase(join(dir, 'sb.sqlite'));
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
      expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    } finally {
      db.close();
    }
  });

  it('re-opening is a no-op and keeps data', () => {
    const path = join(dir, 'sb.sqlite');
    const db1 = openDatabase(path, { clock: new ManualClock(1) });
    db1.prepare("INSERT INTO settings (key, value) VALUES ('k', 'v')").run();
    const before = versions(db1);
    db1.close();
    const db2 = openDatabase(path, { clock: new ManualClock(999_999) });
    try {
      expect(versions(db2)).toEqual(before);
      expect(db2.prepare("SELECT value FROM settings WHERE key = 'k'").pluck().get()).toBe('v');
    } finally {
      db2.close();
    }
  });

  it('applies only the migrations not yet recorded, in numeric order', () => {
    const migDir = join(dir, 'migs');
    mkdirSync(migDir);
    writeFileSync(join(migDir, '001_a.sql'), 'CREATE TABLE a (x INTEGER);');
    writeFileSync(join(migDir, 'README.md'), 'not a migration');
    const path = join(dir, 'sb.sqlite');
    openDatabase(path, { migrationsDir: migDir }).close();
    // "10_c" sorts before "2_b" as text; numeric order must win. 2 depends on 1, 10 on 2.
    writeFileSync(join(migDir, '10_c.sql'), 'INSERT INTO b (y) SELECT x FROM a;');
    writeFileSync(join(migDir, '2_b.sql'), 'CREATE TABLE b (y INTEGER); INSERT INTO a (x) VALUES (7);');
    const db = openDatabase(path, { migrationsDir: migDir });
    try {
      expect(versions(db).map((v) => v.version)).toEqual([1, 2, 10]);
      expect(db.prepare('SELECT y FROM b').pluck().all()).toEqual([7]);
      expect(db.prepare('SELECT COUNT(*) FROM a').pluck().get()).toBe(1);
    } finally {
      db.close();
    }
  });

  it('rolls back a failing migration and records nothing for it', () => {
    const migDir = join(dir, 'migs');
    mkdirSync(migDir);
    writeFileSync(join(migDir, '001_a.sql'), 'CREATE TABLE a (x INTEGER);');
    writeFileSync(join(migDir, '002_bad.sql'), 'CREATE TABLE half (x INTEGER); THIS IS NOT SQL;');
    const path = join(dir, 'sb.sqlite');
    expect(() => openDatabase(path, { migrationsDir: migDir })).toThrowError(
      expect.objectContaining({ code: 'SB_ERR_STORE_MIGRATION' }),
    );
    const raw = new BetterSqlite3(path);
    try {
      expect(versions(raw).map((v) => v.version)).toEqual([1]);
      expect(tables(raw)).not.toContain('half');
    } finally {
      raw.close();
    }
  });

  it('refuses duplicate migration versions', () => {
    const migDir = join(dir, 'migs');
    mkdirSync(migDir);
    writeFileSync(join(migDir, '001_a.sql'), 'SELECT 1;');
    writeFileSync(join(migDir, '1_b.sql'), 'SELECT 1;');
    expect(() => openDatabase(':memory:', { migrationsDir: migDir })).toThrowError(
      expect.objectContaining({ code: 'SB_ERR_STORE_MIGRATION' }),
    );
  });

  it('refuses a database whose schema is newer than the code, naming both versions', () => {
    const path = join(dir, 'sb.sqlite');
    const db = openDatabase(path);
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)").run();
    db.close();
    let err: unknown;
    try {
      openDatabase(path).close();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SbError);
    expect((err as SbError).code).toBe('SB_ERR_STORE_SCHEMA_TOO_NEW');
    expect((err as SbError).message).toMatch(/\b999\b/);
    expect((err as SbError).message).toMatch(/\b7\b/);
  });

  it('works in memory', () => {
    const db = openDatabase(':memory:');
    try {
      expect(db.memory).toBe(true);
      expect(schemaVersion(db)).toBe(7);
      expect(tables(db)).toEqual(expect.arrayContaining(['users', 'bindings', 'settings']));
    } finally {
      db.close();
    }
  });

  it('enforces the schema constraints', () => {
    const db = openDatabase(':memory:');
    try {
      const ins = db.prepare(
        `INSERT INTO bindings (aor, binding_key, contact, contact_header, expires_at, call_id, cseq, transport, updated_at)
         VALUES ('sip:a@x', 'uri sip:a@1.2.3.4', 'sip:a@1.2.3.4', '<sip:a@1.2.3.4>', 1, 'c', 1, 'udp', 1)`,
      );
      ins.run();
      expect(() => ins.run()).toThrow(/UNIQUE/);
      expect(() =>
        db.prepare("INSERT INTO users (username, domain, ha1_md5, created_at, updated_at) VALUES ('a','b','c',1,1)").run(),
      ).toThrow(/NOT NULL/);
    } finally {
      db.close();
    }
  });
});
