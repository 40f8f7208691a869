import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../../src/store/database.js';
import { USER_RECHECK_MS, UserExistsError, UserStore } from '../../../src/store/user-store.js';
import { ManualClock } from '../../../src/util/clock.js';
import { ha1 } from '../../../src/util/digest-hash.js';

let db: Database;
let clock: ManualClock;
let users: UserStore;
beforeEach(() => {
  db = openDatabase(':memory:');
  clock = new ManualClock(1_000);
  users = new UserStore(db, clock);
});
afterEach(() => db.close());

describe('UserStore', () => {
  it('adds and gets a user with both HA1 values (realm = domain)', () => {
    users.add('alice', 'example.com', 's3cret');
    const u = users.get('alice', 'example.com');
    expect(u).toEqual({
      id: expect.any(Number),
      username: 'alice',
      domain: 'example.com',
      ha1Md5: ha1('MD5', 'alice', 'example.com', 's3cret'),
      ha1Sha256: ha1('SHA-256', 'alice', 'example.com', 's3cret'),
      enabled: true,
      createdAt: 1_000,
      updatedAt: 1_000,
    });
    expect(u!.ha1Md5).toMatch(/^[0-9a-f]{32}$/);
    expect(u!.ha1Sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a duplicate user', () => {
    users.add('alice', 'example.com', 'a');
    expect(() => users.add('alice', 'example.com', 'b')).toThrow(UserExistsError);
    // The original password survives.
    expect(users.get('alice', 'example.com')!.ha1Md5).toBe(ha1('MD5', 'alice', 'example.com', 'a'));
    // Same name in another domain is another user.
    users.add('alice', 'other.org', 'b');
    expect(users.list()).toHaveLength(2);
  });

  it('treats domains case-insensitively and usernames case-sensitively', () => {
    users.add('alice', 'Example.COM', 'pw');
    expect(users.get('alice', 'example.com')?.domain).toBe('example.com');
    expect(users.get('alice', 'EXAMPLE.com')).toBeDefined();
    expect(users.get('Alice', 'example.com')).toBeUndefined();
    expect(users.get('alice', 'example.com')!.ha1Md5).toBe(ha1('MD5', 'alice', 'example.com', 'pw'));
  });

  it('changes the password and bumps updated_at', () => {
    users.add('bob', 'example.com', 'old');
    clock.advance(500);
    expect(users.setPassword('bob', 'example.com', 'new')).toBe(true);
    const u = users.get('bob', 'example.com')!;
    expect(u.ha1Md5).toBe(ha1('MD5', 'bob', 'example.com', 'new'));
    expect(u.ha1Sha256).toBe(ha1('SHA-256', 'bob', 'example.com', 'new'));
    expect(u.createdAt).toBe(1_000);
    expect(u.updatedAt).toBe(1_500);
    expect(users.setPassword('nobody', 'example.com', 'x')).toBe(false);
  });

  it('enables, disables and removes', () => {
    users.add('carol', 'example.com', 'pw');
    expect(users.setEnabled('carol', 'example.com', false)).toBe(true);
    expect(users.get('carol', 'example.com')!.enabled).toBe(false);
    expect(users.setEnabled('carol', 'example.com', true)).toBe(true);
    expect(users.get('carol', 'example.com')!.enabled).toBe(true);
    expect(users.setEnabled('nobody', 'example.com', true)).toBe(false);
    expect(users.remove('carol', 'example.com')).toBe(true);
    expect(users.get('carol', 'example.com')).toBeUndefined();
    expect(users.remove('carol', 'example.com')).toBe(false);
  });

  it('lists all users or one domain, sorted', () => {
    users.add('zed', 'b.org', 'p');
    users.add('amy', 'b.org', 'p');
    users.add('bob', 'a.org', 'p');
    expect(users.list().map((u) => `${u.username}@${u.domain}`)).toEqual(['bob@a.org', 'amy@b.org', 'zed@b.org']);
    expect(users.list('B.org').map((u) => u.username)).toEqual(['amy', 'zed']);
    expect(users.list('none.org')).toEqual([]);
  });

  it('never stores the password: HA1 neither equals nor contains it, nor does any column', () => {
    const password = 'correct-horse-battery-staple';
    users.add('dave', 'example.com', password);
    const u = users.get('dave', 'example.com')!;
    expect(u.ha1Md5).not.toBe(password);
    expect(u.ha1Sha256).not.toBe(password);
    expect(u.ha1Md5).not.toContain(password);
    expect(u.ha1Sha256).not.toContain(password);
    const row = db.prepare('SELECT * FROM users').get() as Record<string, unknown>;
    for (const v of Object.values(row)) expect(String(v)).not.toContain(password);
  });

  it('rejects empty names and passwords', () => {
    expect(() => users.add('', 'example.com', 'pw')).toThrow(RangeError);
    expect(() => users.add('x', '', 'pw')).toThrow(RangeError);
    expect(() => users.add('x', 'example.com', '')).toThrow(RangeError);
    expect(users.list()).toEqual([]);
  });
});

describe('UserStore.lookup (cached, for authentication)', () => {
  it('answers like get(), and a second lookup does not query the users table', () => {
    users.add('alice', 'example.com', 'pw');
    expect(users.lookup('alice', 'EXAMPLE.com')).toEqual(users.get('alice', 'example.com'));
    expect(users.lookup('bob', 'example.com')).toBeUndefined();
    // the cached record is returned until the change counter moves: a row changed behind the
    // counter's back (no trigger runs for a dropped trigger) stays unseen
    db.exec('DROP TRIGGER users_changed_update');
    db.prepare("UPDATE users SET enabled = 0 WHERE username = 'alice'").run();
    expect(users.lookup('alice', 'example.com')?.enabled).toBe(true);
    expect(users.get('alice', 'example.com')?.enabled).toBe(false);
  });

  it('preload() caches every user in one query: the first lookup of each reads no row', () => {
    users.add('alice', 'example.com', 'pw');
    users.add('bob', 'example.org', 'pw');
    expect(users.preload()).toBe(2);
    // rows changed behind the counter's back after the preload stay unseen: the answers come from the cache
    db.exec('DROP TRIGGER users_changed_update');
    db.prepare('UPDATE users SET enabled = 0').run();
    expect(users.lookup('alice', 'example.com')?.enabled).toBe(true);
    expect(users.lookup('bob', 'EXAMPLE.org')?.enabled).toBe(true);
    expect(users.get('bob', 'example.org')?.enabled).toBe(false);
    // a user added through the store afterwards is seen at once
    users.add('carol', 'example.com', 'pw');
    expect(users.lookup('carol', 'example.com')?.username).toBe('carol');
  });

  it('sees a change made through another connection within USER_RECHECK_MS, and one made through itself at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-users-'));
    const file = join(dir, 'db.sqlite');
    const d1 = openDatabase(file);
    const d2 = openDatabase(file);
    try {
      const server = new UserStore(d1, clock);
      const cli = new UserStore(d2, clock);
      const later = () => clock.advance(USER_RECHECK_MS);
      expect(server.lookup('carol', 'example.com')).toBeUndefined();
      cli.add('carol', 'example.com', 'one');
      // the change counter was read less than USER_RECHECK_MS ago: the cached answer stands
      expect(server.lookup('carol', 'example.com')).toBeUndefined();
      later();
      expect(server.lookup('carol', 'example.com')?.ha1Md5).toBe(ha1('MD5', 'carol', 'example.com', 'one'));
      cli.setPassword('carol', 'example.com', 'two');
      later();
      expect(server.lookup('carol', 'example.com')?.ha1Md5).toBe(ha1('MD5', 'carol', 'example.com', 'two'));
      cli.setEnabled('carol', 'example.com', false);
      later();
      expect(server.lookup('carol', 'example.com')?.enabled).toBe(false);
      cli.remove('carol', 'example.com');
      later();
      expect(server.lookup('carol', 'example.com')).toBeUndefined();
      // through the store itself: no wait
      server.add('dave', 'example.com', 'pw');
      expect(server.lookup('dave', 'example.com')?.username).toBe('dave');
      server.setEnabled('dave', 'example.com', false);
      expect(server.lookup('dave', 'example.com')?.enabled).toBe(false);
    } finally {
      d1.close();
      d2.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
