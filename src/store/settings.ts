/**
 * Server-wide settings kept in the `settings` table, such as the secret that
 * keys nonce HMACs (so nonces stay valid across restarts and across processes
 * sharing the database).
 */
import { randomBytes } from 'node:crypto';
import type { Database } from './database.js';

const SECRET_BYTES = 32;
const HEX_SECRET = /^[0-9a-f]{64}$/;

export function getSetting(db: Database, key: string): string | undefined {
  const row = db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?').get(key);
  return row?.value;
}

export function setSetting(db: Database, key: string, value: string): void {
  db.prepare<[string, string]>(
    'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  ).run(key, value);
}

/**
 * Returns the 32-byte secret stored under key, creating it from the system
 * CSPRNG the first time. Creation is race-free: the first writer wins and
 * everyone reads back the stored value.
 */
export function getOrCreateSecret(db: Database, key: string): Buffer {
  db.prepare<[string, string]>('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING').run(
    key,
    randomBytes(SECRET_BYTES).toString('hex'),
  );
  const value = getSetting(db, key);
  if (value === undefined || !HEX_SECRET.test(value)) {
    throw new Error(`setting ${key} does not hold a ${SECRET_BYTES}-byte hex secret`);
  }
  return Buffer.from(value, 'hex');
}
