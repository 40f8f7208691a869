/**
 * Bounded fuzzing of the message layer (a few thousand cases, seeded so every
 * failure reproduces). Inputs: random bytes, random text over a SIP-ish
 * alphabet, and mutations of realistic messages (the seeds below, the RFC
 * 4475 torture messages, and every saved crasher): byte flips, truncations,
 * insertions of CR/LF/NUL/separators/huge numbers, deletions, header
 * duplication, splices.
 *
 * For each input: parseMessage never throws (datagram and stream mode); on a
 * result carrying a message, every typed accessor, validateRequest /
 * validateResponse, requestUri(), createResponse (for requests), the header
 * mutators and serialize never throw, and what serialize writes for a parsed
 * message parses again.
 *
 * A crasher is written to test/support/fixtures/fuzz/ (as Go's fuzzing does
 * with testdata/fuzz) and replayed by every later run.
 *   SB_FUZZ_SEED=<n>   another PRNG seed      SB_FUZZ_CASES=<n>  more cases
 *   SB_FUZZ_SECONDS=<n> time cap of the random run (default 15)
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../src/sip/parser.js';
import { serialize } from '../../../src/sip/serializer.js';
import { SipRequest, type AnyMessage } from '../../../src/sip/message.js';
import { createResponse } from '../../../src/sip/response.js';
import { validateRequest, validateResponse } from '../../../src/sip/validate.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const FIXTURES = join(HERE, '../../support/fixtures');
const FUZZ_DIR = join(FIXTURES, 'fuzz');
const RFC4475_DIR = join(FIXTURES, 'rfc4475');

const SEED = Number(process.env.SB_FUZZ_SEED ?? 0x5b0a4d);
const CASES = Number(process.env.SB_FUZZ_CASES ?? 6000);
/** wall-clock cap of the random run, so the suite stays bounded on a slow machine */
const SECONDS = Number(process.env.SB_FUZZ_SECONDS ?? 15);

// ------------------------------------------------------------------ PRNG (mulberry32)

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ------------------------------------------------------------------ seeds

const crlf = (lines: string[], body = '') => Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body, 'utf8');

const SDP = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=msid-semantic: WMS',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0 8',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:EsAw',
  'a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y',
  'a=fingerprint:sha-256 DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09:DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF',
  'a=setup:actpass',
  'a=mid:0',
  'a=sendrecv',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=candidate:1 1 udp 2122260223 192.0.2.10 54321 typ host generation 0',
  '',
].join('\r\n');

const SDP_ANSWER = 'v=0\r\no=bob 2890844527 2890844527 IN IP4 192.0.2.4\r\ns=-\r\nc=IN IP4 192.0.2.4\r\nt=0 0\r\nm=audio 3456 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

const SEEDS: Buffer[] = [
  crlf([
    'REGISTER sip:registrar.example.com SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds7;rport',
    'Max-Forwards: 70',
    'To: Bob <sip:bob@example.com>',
    'From: Bob <sip:bob@example.com>;tag=456248',
    'Call-ID: 843817637684230@998sdasdh09',
    'CSeq: 1826 REGISTER',
    'Contact: <sip:bob@192.0.2.10:5060>;expires=7200;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1',
    'Supported: path, outbound, gruu',
    'Expires: 7200',
    'Content-Length: 0',
  ]),
  crlf([
    'REGISTER sips:ss2.biloxi.example.com SIP/2.0',
    'Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashd92',
    'Max-Forwards: 70',
    'From: Bob <sips:bob@biloxi.example.com>;tag=ja743ks76zlflH',
    'To: Bob <sips:bob@biloxi.example.com>',
    'Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com',
    'CSeq: 2 REGISTER',
    'Contact: <sips:bob@client.biloxi.example.com>;q=0.7, "Bob mobile" <sip:bob@[2001:db8::10]:5070>;q=0.3;expires=60',
    'Authorization: Digest username="bob", realm="atlanta.example.com", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", opaque="", uri="sips:ss2.biloxi.example.com", response="dfe56131d1958046689d83306477ecc", algorithm=MD5, qop=auth, nc=00000001, cnonce="0a4f113b"',
    'Content-Length: 0',
  ]),
  crlf(
    [
      'INVITE sip:bob@biloxi.example.com SIP/2.0',
      'Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKasudf;rport',
      'Max-Forwards: 70',
      'Route: <sip:proxy.example.com;transport=ws;lr>, <sip:p2.example.com;lr>',
      'To: "Bob \\"B\\"" <sip:bob@biloxi.example.com>',
      'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774',
      'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
      'CSeq: 314159 INVITE',
      'Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws;ob>',
      'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE',
      'Supported: ice, replaces, outbound',
      'Content-Type: application/sdp',
      `Content-Length: ${Buffer.byteLength(SDP)}`,
    ],
    SDP,
  ),
  crlf([
    'OPTIONS sip:carol@chicago.example.com SIP/2.0',
    'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877',
    'Max-Forwards: 70',
    'To: <sip:carol@chicago.example.com>',
    'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
    'Call-ID: a84b4c76e66710',
    'CSeq: 63104 OPTIONS',
    'Contact: <sip:alice@pc33.atlanta.example.com>',
    'Accept: application/sdp',
    'Content-Length: 0',
  ]),
  crlf(
    [
      'SIP/2.0 200 OK',
      'Via: SIP/2.0/UDP server10.biloxi.example.com;branch=z9hG4bK4b43c2ff8.1;received=192.0.2.3',
      'Via: SIP/2.0/UDP bigbox3.site3.atlanta.example.com;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.2',
      'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.1;rport=5062',
      'Record-Route: <sip:server10.biloxi.example.com;lr>, <sip:bigbox3.site3.atlanta.example.com;lr>',
      'To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf',
      'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
      'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
      'CSeq: 314159 INVITE',
      'Contact: <sip:bob@192.0.2.4>',
      'Content-Type: application/sdp',
      `Content-Length: ${Buffer.byteLength(SDP_ANSWER)}`,
    ],
    SDP_ANSWER,
  ),
  crlf([
    'SIP/2.0 401 Unauthorized',
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds7;received=203.0.113.5;rport=40000',
    'From: Bob <sip:bob@example.com>;tag=456248',
    'To: Bob <sip:bob@example.com>;tag=2493k59kd',
    'Call-ID: 843817637684230@998sdasdh09',
    'CSeq: 1826 REGISTER',
    'WWW-Authenticate: Digest realm="example.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41", algorithm=SHA-256',
    'Content-Length: 0',
  ]),
  crlf([
    'SIP/2.0 407 Proxy Authentication Required',
    'Via: SIP/2.0/TCP [2001:db8::9:1]:5060;branch=z9hG4bK1',
    'From: <sip:a@example.com>;tag=x',
    'To: <sip:b@example.com>;tag=y',
    'Call-ID: c1@[2001:db8::9:1]',
    'CSeq: 2 INVITE',
    'Proxy-Authenticate: Digest realm="proxy.example.com", nonce="abc", stale=FALSE',
    'Content-Length: 0',
  ]),
  crlf(['SIP/2.0 100 Trying', 'v: SIP/2.0/UDP h.example.com;branch=z9hG4bKt', 'f: <sip:a@example.com>;tag=1', 't: <sip:b@example.com>', 'i: t@h', 'CSeq: 1 INVITE', 'Timestamp: 54', 'l: 0']),
  crlf([
    'BYE sip:alice@pc33.atlanta.example.com SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKnashds10',
    'Max-Forwards: 70',
    'Route: <sip:bigbox3.site3.atlanta.example.com;lr>',
    'From: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf',
    'To: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
    'Call-ID: a84b4c76e66710',
    'CSeq: 231 BYE',
    'Content-Length: 0',
  ]),
  crlf([
    'SUBSCRIBE sip:presentity@example.com SIP/2.0',
    'Via: SIP/2.0/TCP watcher.example.com:5060;branch=z9hG4bKsub',
    'Max-Forwards: 70',
    'From: <sip:watcher@example.com>;tag=xfg9',
    'To: <sip:presentity@example.com>',
    'Call-ID: 2010@watcher.example.com',
    'CSeq: 17766 SUBSCRIBE',
    'Event: presence',
    'Accept: application/pidf+xml',
    'Contact: <sip:watcher@watcher.example.com>',
    'Expires: 600',
    'Content-Length: 0',
  ]),
  crlf(
    [
      'MESSAGE sip:user2@domain.com SIP/2.0',
      'Via: SIP/2.0/TCP user1pc.domain.com;branch=z9hG4bK776sgdkse',
      'Max-Forwards: 70',
      'From: "Zoë 日本" <sip:user1@domain.com>;tag=49583',
      'To: sip:user2@domain.com',
      'Call-ID: asd88asd77a@1.2.3.4',
      'CSeq: 1 MESSAGE',
      'Content-Type: text/plain;charset=UTF-8',
      'Content-Length: 18',
    ],
    'Watson, come here.',
  ),
  crlf([
    'CANCEL sip:bob@biloxi.example.com SIP/2.0',
    'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
    'Max-Forwards: 70',
    'To: Bob <sip:bob@biloxi.example.com>',
    'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
    'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
    'CSeq: 314159 CANCEL',
    'Content-Length: 0',
  ]),
  crlf([
    'REGISTER sip:example.com SIP/2.0',
    'Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKstar',
    'Max-Forwards: 70',
    'From: <sip:u@example.com>;tag=s',
    'To: <sip:u@example.com>',
    'Call-ID: star@10.0.0.1',
    'CSeq: 9 REGISTER',
    'Contact: *',
    'Expires: 0',
    'Path: <sip:edge.example.com;lr;ob>',
    'Require: path',
    'Content-Length: 0',
  ]),
];

function readDir(dir: string): Buffer[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.dat'))
    .sort()
    .map((f) => readFileSync(join(dir, f)));
}

const TORTURE = readDir(RFC4475_DIR);
const CRASHERS = readDir(FUZZ_DIR);
const CORPUS = [...SEEDS, ...TORTURE, ...CRASHERS];

// ------------------------------------------------------------------ inputs

const INSERTS = [
  '\r', '\n', '\r\n', '\r\n\r\n', '\r\n ', '\0', ':', ';', ',', '<', '>', '"', '\\', '[', ']', '@', '%', '%0', '=', '*', ' ', '\t', '/',
  '99999999999999999999', '4294967296', '4294967295', '65536', '-1', '1e400', '0x1f', 'NaN', '00000000000000000000000000000001',
  ';rport', ';rport=', ';tag', ';tag=', ';branch', ';q=', ';expires=9999999999', ';received=[::1', ';maddr', ';ttl=999', ';+sip.instance="<"',
  'SIP/2.0', 'SIP/2.0/UDP ', 'sip:', 'sips:', 'tel:', '<sip:', '"\\', 'Digest ', 'Content-Length: ', 'l: 99\r\n', 'Contact: *\r\n',
  'constructor', '__proto__', 'toString', 'Via', 'v: ', 'Route: <', '\u00e9', '\u00a0', '\xff', '\x80',
];

const ALPHABET = 'SIP/2.0 \r\n:;,<>"\\@=[]%*sip:abc123.-_!~+vtfimlk\t\0';

function pick<T>(rand: () => number, a: readonly T[]): T {
  return a[Math.floor(rand() * a.length)]!;
}

function int(rand: () => number, n: number): number {
  return Math.floor(rand() * n);
}

function randomBytes(rand: () => number): Buffer {
  const n = int(rand, 600);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = int(rand, 256);
  // half the time make it look like it has a header section
  if (rand() < 0.5 && n > 4) b.write('\r\n\r\n', int(rand, n - 4), 'latin1');
  return b;
}

function randomText(rand: () => number): Buffer {
  const parts: string[] = [pick(rand, ['INVITE ', 'REGISTER ', 'SIP/2.0 ', 'OPTIONS ', ''])];
  const n = int(rand, 80);
  for (let i = 0; i < n; i++) parts.push(rand() < 0.2 ? pick(rand, INSERTS) : ALPHABET[int(rand, ALPHABET.length)]!);
  parts.push('\r\n\r\n');
  return Buffer.from(parts.join(''), 'latin1');
}

/** Offsets just past each LF in the header section. */
function lineStarts(b: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i < b.length; i++) if (b[i] === 0x0a) out.push(i + 1);
  return out;
}

function mutateOnce(rand: () => number, b: Buffer): Buffer {
  const n = b.length;
  const at = int(rand, n + 1);
  switch (int(rand, 9)) {
    case 0: {
      // flip bytes
      const c = Buffer.from(b);
      const k = 1 + int(rand, 4);
      for (let i = 0; i < k && n > 0; i++) {
        const p = int(rand, n);
        c[p] = rand() < 0.5 ? c[p]! ^ (1 << int(rand, 8)) : int(rand, 256);
      }
      return c;
    }
    case 1:
      // truncate
      return b.subarray(0, at);
    case 2:
    case 3: {
      // insert a special token
      const ins = Buffer.from(pick(rand, INSERTS), 'latin1');
      return Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
    }
    case 4: {
      // delete a range
      const len = 1 + int(rand, 16);
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(n, at + len))]);
    }
    case 5: {
      // duplicate a header line somewhere else
      const starts = lineStarts(b);
      if (starts.length < 2) return b;
      const s = pick(rand, starts);
      const e = b.indexOf(0x0a, s);
      if (e === -1) return b;
      const line = b.subarray(s, e + 1);
      const to = pick(rand, starts);
      const times = rand() < 0.1 ? 300 : 1;
      return Buffer.concat([b.subarray(0, to), ...Array.from({ length: times }, () => line), b.subarray(to)]);
    }
    case 6: {
      // replace a line's value with a token
      const starts = lineStarts(b);
      if (starts.length === 0) return b;
      const s = pick(rand, starts);
      const colon = b.indexOf(0x3a, s);
      const e = b.indexOf(0x0d, s);
      if (colon === -1 || e === -1 || colon > e) return b;
      return Buffer.concat([b.subarray(0, colon + 1), Buffer.from(' ' + pick(rand, INSERTS), 'latin1'), b.subarray(e)]);
    }
    case 7: {
      // splice with another corpus message
      const other = pick(rand, CORPUS);
      return Buffer.concat([b.subarray(0, at), other.subarray(int(rand, other.length + 1))]);
    }
    default: {
      // repeat a chunk (long lines, many separators)
      const len = 1 + int(rand, 8);
      const chunk = b.subarray(at, Math.min(n, at + len));
      const times = 1 + int(rand, 2000);
      return Buffer.concat([b.subarray(0, at), ...Array.from({ length: times }, () => chunk), b.subarray(at)]);
    }
  }
}

function mutate(rand: () => number, b: Buffer): Buffer {
  let out = b;
  const k = 1 + int(rand, 4);
  for (let i = 0; i < k; i++) out = mutateOnce(rand, out);
  return out;
}

// ------------------------------------------------------------------ the checks

const NAMES = ['via', 'from', 'to', 'call-id', 'cseq', 'contact', 'route', 'record-route', 'path', 'content-length', 'content-type', 'expires', 'max-forwards', 'constructor', '__proto__'];

/** Touches everything a layer above may touch on a parsed message. Throws on the first failure. */
function exercise(m: AnyMessage, parsedOk: boolean): void {
  for (const h of m.headers) {
    m.get(h.name);
    m.getAll(h.name);
    m.countLines(h.name);
  }
  for (const n of NAMES) m.getAll(n);
  m.vias();
  m.topVia();
  m.from();
  m.to();
  m.fromTag();
  m.toTag();
  m.callId();
  m.cseq();
  m.maxForwards();
  m.contentLength();
  m.contentType();
  m.expires();
  m.minExpires();
  m.contacts();
  m.routes();
  m.recordRoutes();
  m.paths();
  for (const t of ['supported', 'require', 'proxy-require', 'unsupported', 'allow'] as const) m.tokens(t);
  for (const a of ['authorization', 'proxy-authorization', 'www-authenticate', 'proxy-authenticate'] as const) m.auth(a);
  const out = serialize(m);
  if (parsedOk) {
    // what we write for a message we accepted must be accepted again (the limits
    // allow for the Content-Length line serialize adds when the message had none)
    const again = parseMessage(out, { maxHeaders: m.headers.length + 1, maxMessageSize: out.length });
    if (!again.ok) throw new Error(`serialized message does not reparse: ${again.error.code}`);
  }
  if (m instanceof SipRequest) {
    validateRequest(m);
    m.requestUri();
    for (const status of [100, 180, 200, 400, 401, 505]) serialize(createResponse(m, status, { toTag: 'fz' }));
  } else validateResponse(m);
  // the mutators a proxy uses, then serialize again
  m.prepend('via', 'SIP/2.0/UDP proxy.example.com;branch=z9hG4bKfuzz');
  m.shift('route');
  m.shift('via');
  m.shift('via');
  m.set('max-forwards', '69');
  m.remove('record-route');
  m.append('record-route', '<sip:proxy.example.com;lr>');
  m.vias();
  m.routes();
  serialize(m);
}

interface Crash {
  input: Buffer;
  error: unknown;
}

function check(input: Buffer): Crash | null {
  try {
    for (const stream of [false, true]) {
      const r = parseMessage(input, {}, stream);
      if (r.ok) exercise(r.message, true);
      else if (r.message) exercise(r.message, false);
      else expect(r.error.code).toMatch(/^SB_ERR_/);
    }
    return null;
  } catch (error) {
    return { input, error };
  }
}

function save(crashes: Crash[]): string[] {
  mkdirSync(FUZZ_DIR, { recursive: true });
  return crashes.map((c) => {
    const name = `crash-${createHash('sha1').update(c.input).digest('hex').slice(0, 16)}.dat`;
    writeFileSync(join(FUZZ_DIR, name), c.input);
    return name;
  });
}

function report(crashes: Crash[]): void {
  if (crashes.length === 0) return;
  const saved = save(crashes);
  const first = crashes[0]!;
  throw new Error(
    `${crashes.length} crasher(s), saved to test/support/fixtures/fuzz/: ${saved.join(', ')}\n` +
      `first: ${first.error instanceof Error ? first.error.stack : String(first.error)}\n` +
      `input (latin1): ${JSON.stringify(first.input.toString('latin1').slice(0, 2000))}`,
  );
}

// ------------------------------------------------------------------ the runs

describe('fuzz: the message layer never throws', () => {
  it('on the seed corpus, the RFC 4475 messages and every saved crasher', () => {
    expect(SEEDS.length).toBeGreaterThanOrEqual(12);
    // the seeds are valid messages: make sure the mutations start from something real
    for (const [k, s] of SEEDS.entries()) expect([k, parseMessage(s).ok]).toEqual([k, true]);
    report(CORPUS.map(check).filter((c): c is Crash => c !== null));
  });

  it(`on ${CASES} random and mutated inputs (seed ${SEED})`, { timeout: (SECONDS + 5) * 1000 }, () => {
    const rand = prng(SEED);
    const crashes: Crash[] = [];
    const deadline = Date.now() + SECONDS * 1000;
    for (let k = 0; k < CASES && Date.now() < deadline; k++) {
      const r = rand();
      const input = r < 0.1 ? randomBytes(rand) : r < 0.2 ? randomText(rand) : mutate(rand, pick(rand, CORPUS));
      const c = check(input);
      if (c) crashes.push(c);
      if (crashes.length >= 20) break;
    }
    report(crashes);
  });
});
