/** The algorithms offered in challenges follow the operator's list (--digest-algorithms). */
import { describe, expect, it } from 'vitest';
import { DigestAuthenticator } from '../../../src/auth/digest-auth.js';
import { parseDigestParams } from '../../../src/auth/digest-params.js';
import { ManualClock } from '../../../src/util/clock.js';

function algorithmsOf(values: string[]): string[] {
  return values.map((v) => parseDigestParams(v)!.get('algorithm')!);
}

describe('challenge algorithms', () => {
  const base = { clock: new ManualClock(), secret: Buffer.alloc(32, 7), lookup: () => undefined };

  it('offers SHA-256 then MD5 by default (RFC 8760 §2.4: preferred first)', () => {
    const a = new DigestAuthenticator(base);
    expect(algorithmsOf(a.challenge('example.test').values)).toEqual(['SHA-256', 'MD5']);
  });

  it('offers only MD5 when configured so, for clients that read only the first challenge', () => {
    const a = new DigestAuthenticator({ ...base, algorithms: ['MD5'] });
    const c = a.challenge('example.test', { proxy: true });
    expect(c.header).toBe('Proxy-Authenticate');
    expect(algorithmsOf(c.values)).toEqual(['MD5']);
  });

  it('keeps the configured order', () => {
    const a = new DigestAuthenticator({ ...base, algorithms: ['MD5', 'SHA-256'] });
    expect(algorithmsOf(a.challenge('example.test').values)).toEqual(['MD5', 'SHA-256']);
  });
});
