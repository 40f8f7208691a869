// Benchmark of the stream framer (src/sip/stream-framer.ts).
// Build first (npx tsc -p tsconfig.json), then: node scripts/bench-framer.mjs
// FRAMER_MODULE=/path/to/stream-framer.js overrides the module measured.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const modulePath = process.env.FRAMER_MODULE
  ? pathToFileURL(resolve(process.env.FRAMER_MODULE)).href
  : new URL('../dist/sip/stream-framer.js', import.meta.url).href;
const { StreamFramer: Framer } = await import(modulePath);

function sipMessage(i) {
  const body = 'v=0\r\no=alice 2890844526 2890844526 IN IP4 pc33.example.com\r\ns=-\r\nc=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';
  const head = [
    'INVITE sip:bob@biloxi.example.com SIP/2.0',
    `Via: SIP/2.0/TCP pc33.example.com:5060;branch=z9hG4bK776asdhds${i}`,
    'Max-Forwards: 70',
    'To: Bob <sip:bob@biloxi.example.com>',
    `From: Alice <sip:alice@atlanta.example.com>;tag=1928301774${i}`,
    `Call-ID: a84b4c76e66710${i}@pc33.example.com`,
    'CSeq: 314159 INVITE',
    'Contact: <sip:alice@pc33.example.com;transport=tcp>',
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(body)}`,
  ].join('\r\n');
  return Buffer.from(`${head}\r\n\r\n${body}`);
}

const MESSAGES = 1000;
const msgs = Array.from({ length: MESSAGES }, (_, i) => sipMessage(i));
const stream = Buffer.concat(msgs);
const avg = Math.round(stream.length / MESSAGES);

function chunksOf(perChunk) {
  const out = [];
  for (let i = 0; i < MESSAGES; i += perChunk) out.push(Buffer.concat(msgs.slice(i, i + perChunk)));
  return out;
}
const bytes = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));

const cases = [
  { name: '1 message per chunk', chunks: chunksOf(1), rounds: 2000 },
  { name: '10 messages per chunk', chunks: chunksOf(10), rounds: 2000 },
  { name: '1-byte chunks', chunks: bytes, rounds: 10 },
];

let sink = 0;
const framer = new Framer({
  onMessage: (m) => {
    sink += m.length;
  },
  onError: (e) => {
    throw e;
  },
});

function run(chunks, rounds) {
  for (let r = 0; r < rounds; r++) for (let i = 0; i < chunks.length; i++) framer.push(chunks[i]);
}

console.log(`node ${process.version}, ${avg}-byte INVITE with SDP body`);
for (const c of cases) {
  run(c.chunks, Math.max(1, c.rounds >> 3)); // warm-up
  let best = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    const t0 = process.hrtime.bigint();
    run(c.chunks, c.rounds);
    const ns = Number(process.hrtime.bigint() - t0);
    best = Math.min(best, ns / (c.rounds * MESSAGES));
  }
  const perSec = 1e9 / best;
  console.log(
    `${c.name.padEnd(24)} ${Math.round(perSec).toLocaleString('en-US').padStart(12)} msg/s ${best.toFixed(0).padStart(8)} ns/msg`,
  );
}
if (!framer.idle || sink === 0) throw new Error('framer did not consume the stream');
