/**
 * Subscriber accounts. Passwords are never stored: only the digest HA1 values
 * H(username:realm:password) for MD5 and SHA-256, with realm = the domain.
 *
 * Domains are case-insensitive (RFC 3261 §19.1.4) and are stored lowercased,
 * so the realm used in challenges must be the lowercased domain. Usernames are
 * case-sensitive and kept as given.
 */
import type { Clock } from '../util/clock.js';
import { ha1 } from '../util/digest-hash.js';
import type { Database } from './database.js';

export interface UserRecord {
  id: number;
  username: string;
  domain: string;
  ha1Md5: string;
  ha1Sha256: string;
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
}

/** Thrown by UserStore.add when the user already exists in the domain. */
export class UserExistsError extends Error {
  constructor(
    readonly username: string,
    readonly domain: string,
  ) {
    super(`user ${username}@${domain} already exists`);
    this.name = 'UserExistsError';
  }
}

interface UserRow {
  id: number;
  username: string;
  domain: string;
  ha1_md5: string;
  ha1_sha256: string;
  enabled: number;
  created_at: number;
  updated_at: number;
}

const COLUMNS = 'id, username, domain, ha1_md5, ha1_sha256, enabled, created_at, updated_at';

function toRecord(r: UserRow): UserRecord {
  return {
    id: r.id,
    username: r.username,
    domain: r.domain,
    ha1Md5: r.ha1_md5,
    ha1Sha256: r.ha1_sha256,
    enabled: r.enabled !== 0,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Lowercases a domain for storage and lookup. */
export function normalizeDomain(domain: string): string {
  return domain.toLowerCase();
}

function checkName(what: string, value: string): void {
  if (typeof value !== 'string' || value.length === 0) throw new RangeError(`${what} must be a non-empty string`);
}

/** The lookup cache's key of a user (the domain already normalized). */
function cacheKey(username: string, domain: string): string {
  return `${username}\0${domain}`;
}

/** Most user records the cache holds (it starts over when full). */
const CACHE_MAX = 100_000;
/**
 * How often (ms, on the clock) lookup() reads the change counter. Any read on
 * this connection after another connection committed (the binding writer
 * does, every few ms) makes SQLite drop its page cache: tens of µs, too
 * much per REGISTER, so a change is seen within this time instead.
 */
export const USER_RECHECK_MS = 1000;

export class UserStore {
  private readonly insertStmt;
  private readonly versionStmt;
  /** lookup() answers by `username NUL domain`, null for no such user; valid while cachedVersion is current */
  private readonly cache = new Map<string, UserRecord | null>();
  private cachedVersion = -1;
  private checkedAt = -Infinity;
  private readonly setHa1Stmt;
  private readonly deleteStmt;
  private readonly setEnabledStmt;
  private readonly getStmt;
  private readonly listAllStmt;
  private readonly listDomainStmt;
  private readonly countStmt;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {
    this.insertStmt = db.prepare<[string, string, string, string, number, number]>(
      `INSERT INTO users (username, domain, ha1_md5, ha1_sha256, enabled, created_at, updated_at)
       VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (username, domain) DO NOTHING`,
    );
    this.setHa1Stmt = db.prepare<[string, string, number, string, string]>(
      'UPDATE users SET ha1_md5 = ?, ha1_sha256 = ?, updated_at = ? WHERE username = ? AND domain = ?',
    );
    this.deleteStmt = db.prepare<[string, string]>('DELETE FROM users WHERE username = ? AND domain = ?');
    this.setEnabledStmt = db.prepare<[number, number, string, string]>(
      'UPDATE users SET enabled = ?, updated_at = ? WHERE username = ? AND domain = ?',
    );
    this.getStmt = db.prepare<[string, string], UserRow>(
      `SELECT ${COLUMNS} FROM users WHERE username = ? AND domain = ?`,
    );
    // migration 006: bumped by triggers on every change to users, whichever process made it
    this.versionStmt = db.prepare<[], number>('SELECT version FROM user_changes WHERE id = 1').pluck();
    this.listAllStmt = db.prepare<[], UserRow>(`SELECT ${COLUMNS} FROM users ORDER BY domain, username`);
    this.countStmt = db.prepare<[], number>('SELECT count(*) FROM users').pluck();
    this.listDomainStmt = db.prepare<[string], UserRow>(
      `SELECT ${COLUMNS} FROM users WHERE domain = ? ORDER BY username`,
    );
  }

  /** Adds an enabled user; throws UserExistsError if username@domain exists. */
  add(username: string, domain: string, password: string): void {
    this.cache.clear();
    checkName('username', username);
    checkName('domain', domain);
    checkName('password', password);
    const d = normalizeDomain(domain);
    const now = this.clock.now();
    const res = this.insertStmt.run(username, d, ha1('MD5', username, d, password), ha1('SHA-256', username, d, password), now, now);
    if (res.changes === 0) throw new UserExistsError(username, d);
  }

  /** Replaces the user's HA1 values; false when the user does not exist. */
  setPassword(username: string, domain: string, password: string): boolean {
    this.cache.clear();
    checkName('password', password);
    const d = normalizeDomain(domain);
    const res = this.setHa1Stmt.run(
      ha1('MD5', username, d, password),
      ha1('SHA-256', username, d, password),
      this.clock.now(),
      username,
      d,
    );
    return res.changes > 0;
  }

  /** Deletes the user; false when it did not exist. */
  remove(username: string, domain: string): boolean {
    this.cache.clear();
    return this.deleteStmt.run(username, normalizeDomain(domain)).changes > 0;
  }

  /** Enables or disables the user; false when it does not exist. */
  setEnabled(username: string, domain: string, enabled: boolean): boolean {
    this.cache.clear();
    return this.setEnabledStmt.run(enabled ? 1 : 0, this.clock.now(), username, normalizeDomain(domain)).changes > 0;
  }

  get(username: string, domain: string): UserRecord | undefined {
    const row = this.getStmt.get(username, normalizeDomain(domain));
    return row ? toRecord(row) : undefined;
  }

  /**
   * get() through a cache, for the authentication of every request. The
   * change counter is read at most every USER_RECHECK_MS, so a change made
   * anywhere (the CLI in another process included) is seen within that
   * time; a change made through this store is seen at once.
   */
  lookup(username: string, domain: string): UserRecord | undefined {
    const now = this.clock.now();
    if (now - this.checkedAt >= USER_RECHECK_MS || now < this.checkedAt) {
      this.checkedAt = now;
      const version = this.versionStmt.get() ?? 0;
      if (version !== this.cachedVersion) {
        this.cache.clear();
        this.cachedVersion = version;
      }
    }
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    const key = cacheKey(username, normalizeDomain(domain));
    let r = this.cache.get(key);
    if (r === undefined) {
      r = this.get(username, domain) ?? null;
      this.cache.set(key, r);
    }
    return r ?? undefined;
  }

  /**
   * Fills the lookup cache with every user in one query, when they fit in it
   * (the server does this at start). A lookup that misses reads SQLite on
   * the event loop, and after the binding writer's commits that read finds
   * SQLite's page cache dropped: about 18 µs each, which the first round of
   * registrations after a start would otherwise pay once per user. Returns
   * how many were loaded (0 when they do not fit). After a change the cache
   * fills again one lookup at a time.
   */
  preload(): number {
    return this.db.transaction(() => {
      // one snapshot: the counter and the rows it stands for
      const version = this.versionStmt.get() ?? 0;
      if (this.countStmt.get()! > CACHE_MAX) return 0;
      this.cache.clear();
      let n = 0;
      for (const row of this.listAllStmt.iterate()) {
        const r = toRecord(row);
        this.cache.set(cacheKey(r.username, r.domain), r);
        n++;
      }
      this.cachedVersion = version;
      this.checkedAt = this.clock.now();
      return n;
    })();
  }

  /** Every user, or those of one domain, sorted by domain then username. */
  list(domain?: string): UserRecord[] {
    const rows = domain === undefined ? this.listAllStmt.all() : this.listDomainStmt.all(normalizeDomain(domain));
    return rows.map(toRecord);
  }
}
