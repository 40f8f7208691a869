#!/usr/bin/env node
// Benchmark harness only: runs `switchboard serve` (dist/cli/main.js, same
// arguments) with the MD5 digest challenge listed BEFORE the SHA-256 one.
//
// Why: Switchboard's 401 carries two WWW-Authenticate challenges sharing one
// nonce, SHA-256 first (RFC 8760 §2.4: most preferred first). SIPp 3.6.1
// reads only the first one and aborts the call with "createAuthHeader:
// authentication must use MD5 or AKAv1-MD5". Reordering the two values is
// the smallest change that lets SIPp answer with MD5 (as it does against
// Kamailio); the work done per request is the same (two challenges built,
// MD5 verified). Nothing in src/ is changed.
//
// usage: node serve-md5-first.mjs <dist dir> serve [serve flags...]
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = resolve(process.argv[2]);
process.argv.splice(2, 1); // main.js sees: node <this> serve ...
const { DigestAuthenticator } = await import(pathToFileURL(join(dist, 'auth/digest-auth.js')).href);
const original = DigestAuthenticator.prototype.challenge;
DigestAuthenticator.prototype.challenge = function challengeMd5First(realm, opts) {
  const ch = original.call(this, realm, opts);
  const md5 = ch.values.filter((v) => /algorithm=MD5(?![-\w])/i.test(v));
  return { ...ch, values: [...md5, ...ch.values.filter((v) => !md5.includes(v))] };
};
await import(pathToFileURL(join(dist, 'cli/main.js')).href);
