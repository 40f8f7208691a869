/**
 * Opens the SQLite database and brings its schema up to date.
 *
 * Migrations are the files `NNN_name.sql` of the migrations directory, applied
 * in numeric order, each in its own (IMMEDIATE) transaction together with its
 * row in `schema_migrations`. A database already migrated further than this
 * code knows is refused rather than silently used.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import type { Clock } from '../util/clock.js';
import { SbError } from '../util/errors.js';

export type Database = BetterSqlite3.Database;

export interface OpenDatabaseOptions {
  /** Directory holding the `NNN_name.sql` files; defaults to the package's `migrations/`. */
  migrationsDir?: string;
  /** Clock for `schema_migrations.applied_at`; defaults to wall-clock time. */
  clock?: Clock;
}

export interface Migration {
  version: number;
  name: string;
  file: string;
}

const MIGRATION_FILE = /^(\d+)_([A-Za-z0-9_.-]+)\.sql$/;

/** The package's migrations directory: src/store/ and dist/store/ are both two levels under the root. */
export function defaultMigrationsDir(): string {
  return fileURLToPath(new URL('../../migrations/', import.meta.url));
}

/** Lists the migrations of dir sorted by version; other files are ignored, duplicate versions refused. */
export function listMigrations(dir: string): Migration[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new SbError('SB_ERR_STORE_MIGRATION', `cannot read migrations directory ${dir}: ${(err as Error).message}`);
  }
  const out: Migration[] = [];
  const seen = new Map<number, string>();
  for (const file of names) {
    const m = MIGRATION_FILE.exec(file);
    if (!m) continue;
    const version = Number(m[1]);
    const prior = seen.get(version);
    if (prior !== undefined) {
      throw new SbError('SB_ERR_STORE_MIGRATION', `duplicate migration version ${version}: ${prior} and ${file}`);
    }
    seen.set(version, file);
    out.push({ version, name: m[2]!, file: join(dir, file) });
  }
  out.sort((a, b) => a.version - b.version);
  return out;
}

/**
 * Opens (creating if needed) the database at path and applies pending
 * migrations. `':memory:'` gives a private in-memory database.
 */
export function openDatabase(path: string, opts: OpenDatabaseOptions = {}): Database {
  const migrations = listMigrations(opts.migrationsDir ?? defaultMigrationsDir());
  const inMemory = path === ':memory:' || path === '';
  if (!inMemory) mkdirSync(dirname(resolve(path)), { recursive: true });

  const db = new BetterSqlite3(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    migrate(db, migrations, opts.clock);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

function migrate(db: Database, migrations: Migration[], clock: Clock | undefined): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at INTEGER)',
  );
  const codeMax = migrations.length ? migrations[migrations.length - 1]!.version : 0;
  const maxStmt = db.prepare<[], { v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
  const hasStmt = db.prepare<[number], { version: number }>('SELECT version FROM schema_migrations WHERE version = ?');
  const recordStmt = db.prepare<[number, string, number]>(
    'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
  );

  const checkNotTooNew = (): void => {
    const dbMax = maxStmt.get()?.v ?? 0;
    if (dbMax > codeMax) {
      throw new SbError(
        'SB_ERR_STORE_SCHEMA_TOO_NEW',
        `database schema version ${dbMax} is newer than this server's highest migration ${codeMax}`,
      );
    }
  };
  checkNotTooNew();

  for (const mig of migrations) {
    if (hasStmt.get(mig.version)) continue;
    const sql = readFileSync(mig.file, 'utf8');
    const apply = db.transaction(() => {
      // Another process may have migrated meanwhile: re-check under the write lock.
      checkNotTooNew();
      if (hasStmt.get(mig.version)) return;
      db.exec(sql);
      recordStmt.run(mig.version, mig.name, clock ? clock.now() : Date.now());
    });
    try {
      apply.immediate();
    } catch (err) {
      if (err instanceof SbError) throw err;
      const e = new SbError(
        'SB_ERR_STORE_MIGRATION',
        `migration ${mig.version}_${mig.name} failed: ${(err as Error).message}`,
      );
      e.cause = err;
      throw e;
    }
  }
}

/** The highest applied migration version of db (0 when none). */
export function schemaVersion(db: Database): number {
  const row = db.prepare<[], { v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations').get();
  return row?.v ?? 0;
}
