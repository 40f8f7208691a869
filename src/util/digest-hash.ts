/**
 * The hash functions of HTTP/SIP digest authentication (RFC 7616, RFC 8760).
 * Shared by the user store (which keeps HA1 values, never passwords) and the
 * authenticator. Strings are hashed as UTF-8.
 */
import * as crypto from 'node:crypto';

/** The hash functions Switchboard supports for digest authentication. */
export type DigestHashName = 'MD5' | 'SHA-256';

const NODE_NAME: Record<DigestHashName, string> = { MD5: 'md5', 'SHA-256': 'sha256' };

type OneShot = (algorithm: string, data: string | Buffer, encoding: 'hex') => string;
/**
 * crypto.hash (Node 20.12+, 21.7+) hashes in one call, without a Hash
 * object: about a third of createHash's cost for these short inputs, and an
 * authenticated REGISTER takes two or three of them.
 */
const oneShot = (crypto as unknown as { hash?: OneShot }).hash;

/** H(data): lowercase hex digest of data (a string is hashed as UTF-8). */
export function digestHex(hash: DigestHashName, data: string | Buffer): string {
  if (oneShot !== undefined) return oneShot(NODE_NAME[hash], data, 'hex');
  return crypto.createHash(NODE_NAME[hash]).update(data).digest('hex');
}

/** HA1 = H(username ":" realm ":" password), the non-session A1 of RFC 7616 §3.4.2. */
export function ha1(hash: DigestHashName, username: string, realm: string, password: string): string {
  return digestHex(hash, `${username}:${realm}:${password}`);
}
