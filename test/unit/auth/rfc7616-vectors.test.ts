/**
 * RFC 7616 §3.9.1 example (with the errata's password "Circle of Life"):
 * GET /dir/index.html, realm "http-auth@example.org", qop=auth, nc=00000001.
 */
import { describe, expect, it } from 'vitest';
import { computeDigestResponse } from '../../../src/auth/digest-auth.js';
import { parseDigestParams } from '../../../src/auth/digest-params.js';
import { ha1 } from '../../../src/util/digest-hash.js';

const USER = 'Mufasa';
const PASSWORD = 'Circle of Life';
const REALM = 'http-auth@example.org';
const URI = '/dir/index.html';
const NONCE = '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v';
const CNONCE = 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ';
const OPAQUE = 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS';
const MD5_RESPONSE = '8ca523f5e9506fed4657c9700eebdbec';
const SHA256_RESPONSE = '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1';

describe('RFC 7616 §3.9.1 example', () => {
  it('MD5 response', () => {
    const response = computeDigestResponse({
      algorithm: 'MD5',
      ha1: ha1('MD5', USER, REALM, PASSWORD),
      nonce: NONCE,
      method: 'GET',
      uri: URI,
      qop: 'auth',
      nc: '00000001',
      cnonce: CNONCE,
    });
    expect(response).toBe(MD5_RESPONSE);
  });

  it('SHA-256 response', () => {
    const response = computeDigestResponse({
      algorithm: 'SHA-256',
      ha1: ha1('SHA-256', USER, REALM, PASSWORD),
      nonce: NONCE,
      method: 'GET',
      uri: URI,
      qop: 'auth',
      nc: '00000001',
      cnonce: CNONCE,
    });
    expect(response).toBe(SHA256_RESPONSE);
  });

  it('parses the example Authorization header and recomputes its response', () => {
    const header = `Digest username="Mufasa",
       realm="http-auth@example.org",
       uri="/dir/index.html",
       algorithm=SHA-256,
       nonce="${NONCE}",
       nc=00000001,
       cnonce="${CNONCE}",
       qop=auth,
       response="${SHA256_RESPONSE}",
       opaque="${OPAQUE}"`;
    const p = parseDigestParams(header)!;
    expect(p).not.toBeNull();
    expect(p.get('opaque')).toBe(OPAQUE);
    const response = computeDigestResponse({
      algorithm: p.get('algorithm')!,
      ha1: ha1('SHA-256', p.get('username')!, p.get('realm')!, PASSWORD),
      nonce: p.get('nonce')!,
      method: 'GET',
      uri: p.get('uri')!,
      qop: p.get('qop'),
      nc: p.get('nc'),
      cnonce: p.get('cnonce'),
    });
    expect(response).toBe(p.get('response'));
  });

  it('a different password does not reproduce the vectors', () => {
    const response = computeDigestResponse({
      algorithm: 'MD5',
      ha1: ha1('MD5', USER, REALM, 'Circle Of Life'),
      nonce: NONCE,
      method: 'GET',
      uri: URI,
      qop: 'auth',
      nc: '00000001',
      cnonce: CNONCE,
    });
    expect(response).not.toBe(MD5_RESPONSE);
  });

  it('RFC 2617 §3.5 example (MD5, qop=auth)', () => {
    // username "Mufasa", realm "testrealm@host.com", password "Circle Of Life".
    const response = computeDigestResponse({
      algorithm: 'MD5',
      ha1: ha1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life'),
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      method: 'GET',
      uri: '/dir/index.html',
      qop: 'auth',
      nc: '00000001',
      cnonce: '0a4f113b',
    });
    expect(response).toBe('6629fae49393a05397450978507c4ef1');
  });
});
