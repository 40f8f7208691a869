import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/store/database.js';
import { getOrCreateSecret, getSetting, setSetting } from '../../../src/store/settings.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sb-settings-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('settings', () => {
  it('creates a 32-byte secret once and returns it unchanged across reopen', () => {
    const path = join(dir, 'sb.sqlite');
    const db1 = openDatabase(path);
    const s1 = getOrCreateSecret(db1, 'nonce_secret');
    expect(s1).toBeInstanceOf(Buffer);
    expect(s1.length).toBe(32);
    expect(getOrCreateSecret(db1, 'nonce_secret').equals(s1)).toBe(true);
    expect(getSetting(db1, 'nonce_secret')).toBe(s1.toString('hex'));
    db1.close();
    const db2 = openDatabase(path);
    try {
      expect(getOrCreateSecret(db2, 'nonce_secret').equals(s1)).toBe(true);
    } finally {
      db2.close();
    }
  });

  it('keeps distinct secrets per key and random per database', () => {
    const a = openDatabase(':memory:');
    const b = openDatabase(':memory:');
    try {
      const x = getOrCreateSecret(a, 'x');
      expect(getOrCreateSecret(a, 'y').equals(x)).toBe(false);
      expect(getOrCreateSecret(b, 'x').equals(x)).toBe(false);
    } finally {
      a.close();
      b.close();
    }
  });

  it('refuses a corrupt stored secret', () => {
    const db = openDatabase(':memory:');
    try {
      setSetting(db, 'k', 'not hex');
      expect(() => getOrCreateSecret(db, 'k')).toThrow();
      setSetting(db, 'k', 'ab'.repeat(32));
      expect(getOrCreateSecret(db, 'k').toString('hex')).toBe('ab'.repeat(32));
    } finally {
      db.close();
    }
  });
});
