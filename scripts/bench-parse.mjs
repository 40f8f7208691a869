// Micro-benchmark of the SIP message layer (src/sip: parser, typed header
// values, serializer, createResponse). Single thread, no assertions.
//
// Build first, then run:
//   npx tsc -p tsconfig.json && node scripts/bench-parse.mjs
//   ROUNDS=9 ITERATIONS=100000 node scripts/bench-parse.mjs
//
// Each case runs a warm-up, then ROUNDS timed rounds of ITERATIONS messages
// (process.hrtime.bigint()); it prints the median round as µs/message and
// messages/s, with the fastest and slowest round. Issue 2 targets: REGISTER
// parse + typed reads < 2 µs, full pass-through < 4 µs.
import { parseMessage } from '../dist/sip/parser.js';
import { serialize } from '../dist/sip/serializer.js';
import { createResponse } from '../dist/sip/response.js';

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const ITERATIONS = Number(process.env.ITERATIONS ?? 50_000);
const WARMUP = Number(process.env.WARMUP ?? 100_000);
/** distinct messages cycled through, so no case measures one buffer over and over */
const POOL = 256;

const crlf = (lines, body = '') => Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body, 'utf8');

function register(i) {
  return crlf([
    'REGISTER sip:registrar.example.com SIP/2.0',
    `Via: SIP/2.0/UDP 192.0.2.${i % 250}:5060;branch=z9hG4bK${(i * 7919).toString(36)}nashds7;rport`,
    'Max-Forwards: 70',
    'To: "Bob" <sip:bob@example.com>',
    `From: "Bob" <sip:bob@example.com>;tag=${(i * 104729).toString(36)}`,
    `Call-ID: ${(i * 15485863).toString(36)}843817637684230@998sdasdh09`,
    `CSeq: ${1826 + i} REGISTER`,
    `Contact: <sip:bob@192.0.2.${i % 250}:5060;transport=udp>;expires=3600;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1`,
    'Supported: path, outbound, gruu',
    'User-Agent: Switchboard-Bench/1.0',
    'Expires: 3600',
    'Content-Length: 0',
  ]);
}

/** A WebRTC offer of ~2 KB (Chrome-like: BUNDLE, ICE, DTLS, Opus, candidates). */
const SDP = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=extmap-allow-mixed',
  'a=msid-semantic: WMS 6a2b3c4d-5e6f-4a1b-8c9d-0e1f2a3b4c5d',
  'm=audio 54400 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126',
  'c=IN IP4 203.0.113.77',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=candidate:3348148302 1 udp 2113937151 192.0.2.10 54400 typ host generation 0 network-cost 999',
  'a=candidate:1861045190 1 udp 1677729535 203.0.113.77 54400 typ srflx raddr 192.0.2.10 rport 54400 generation 0 network-cost 999',
  'a=candidate:2999745851 1 tcp 1518280447 192.0.2.10 9 typ host tcptype active generation 0 network-cost 999',
  'a=ice-ufrag:EsAw',
  'a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09:DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF',
  'a=setup:actpass',
  'a=mid:0',
  'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
  'a=sendrecv',
  'a=msid:6a2b3c4d-5e6f-4a1b-8c9d-0e1f2a3b4c5d 7b3c4d5e-6f7a-4b2c-9d0e-1f2a3b4c5d6e',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=rtcp-fb:111 transport-cc',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:63 red/48000/2',
  'a=fmtp:63 111/111',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:13 CN/8000',
  'a=rtpmap:110 telephone-event/48000',
  'a=rtpmap:126 telephone-event/8000',
  'a=ssrc:1001211496 cname:Dt7iUZ0wTbq0nM3p',
  'a=ssrc:1001211496 msid:6a2b3c4d-5e6f-4a1b-8c9d-0e1f2a3b4c5d 7b3c4d5e-6f7a-4b2c-9d0e-1f2a3b4c5d6e',
  'a=ssrc:1001211496 mslabel:6a2b3c4d-5e6f-4a1b-8c9d-0e1f2a3b4c5d',
  'a=ssrc:1001211496 label:7b3c4d5e-6f7a-4b2c-9d0e-1f2a3b4c5d6e',
  'a=rtcp-rsize',
  'a=max-message-size:262144',
  'a=ptime:20',
  'a=maxptime:120',
  'a=end-of-candidates',
  '',
].join('\r\n');

function invite(i) {
  return crlf(
    [
      'INVITE sip:bob@biloxi.example.com SIP/2.0',
      `Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK${(i * 7919).toString(36)}asudf;rport`,
      'Max-Forwards: 70',
      'Route: <sip:edge.example.com;transport=ws;lr>',
      'To: <sip:bob@biloxi.example.com>',
      `From: "Alice" <sip:alice@atlanta.example.com>;tag=${(i * 104729).toString(36)}`,
      `Call-ID: ${(i * 15485863).toString(36)}a84b4c76e66710`,
      `CSeq: ${i + 1} INVITE`,
      'Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws;ob>',
      'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, REFER, NOTIFY',
      'Supported: ice, replaces, outbound, timer',
      'User-Agent: SIP.js/0.21.2',
      'Content-Type: application/sdp',
      `Content-Length: ${Buffer.byteLength(SDP)}`,
    ],
    SDP,
  );
}

const REGISTERS = Array.from({ length: POOL }, (_, i) => register(i));
const INVITES = Array.from({ length: POOL }, (_, i) => invite(i));

let sink = 0;

function parseOrDie(buf) {
  const r = parseMessage(buf);
  if (!r.ok) throw new Error(`bench message does not parse: ${r.error.code}`);
  return r.message;
}

/** The typed reads a proxy or registrar does on every request. */
function readHeaders(m) {
  const vias = m.vias();
  const from = m.from();
  const to = m.to();
  const callId = m.callId();
  const cseq = m.cseq();
  const contacts = m.contacts();
  sink += vias.length + from.uri.length + to.uri.length + callId.length + cseq.seq + (contacts && !contacts.star ? contacts.contacts.length : 0);
}

function parseAndRead(pool) {
  let k = 0;
  return () => {
    const m = parseOrDie(pool[k++ & (POOL - 1)]);
    readHeaders(m);
  };
}

function passThrough(pool) {
  let k = 0;
  return () => {
    const m = parseOrDie(pool[k++ & (POOL - 1)]);
    readHeaders(m);
    m.prepend('via', 'SIP/2.0/UDP proxy.example.com:5060;branch=z9hG4bKproxy77a1');
    sink += serialize(m).length;
  };
}

function respond(pool, toTag) {
  const requests = pool.map(parseOrDie);
  let k = 0;
  return () => {
    const res = createResponse(requests[k++ & (POOL - 1)], 200, toTag ? { toTag } : {});
    sink += serialize(res).length;
  };
}

const CASES = [
  ['(a) REGISTER: parse + Via/From/To/Call-ID/CSeq/Contact', parseAndRead(REGISTERS), REGISTERS[0].length, 2],
  ['(b) INVITE + 2 KB SDP: parse + same reads', parseAndRead(INVITES), INVITES[0].length],
  ['(c) REGISTER pass-through: parse, read, prepend Via, serialize', passThrough(REGISTERS), REGISTERS[0].length, 4],
  ['(c) INVITE pass-through: parse, read, prepend Via, serialize', passThrough(INVITES), INVITES[0].length, 4],
  ['(d) 200 to REGISTER: createResponse (random To tag) + serialize', respond(REGISTERS), REGISTERS[0].length],
  ['(d) 200 to REGISTER: createResponse (given To tag) + serialize', respond(REGISTERS, '8a2f5c91'), REGISTERS[0].length],
  ['(d) 200 to INVITE: createResponse (random To tag) + serialize', respond(INVITES), INVITES[0].length],
];

/** Wall-clock µs per call, and CPU µs per call (the latter is steadier on a shared machine). */
function time(fn, n) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1000 / n;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / n };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

console.log(`node ${process.version}, ${ROUNDS} rounds × ${ITERATIONS} messages after ${WARMUP} warm-up; median round shown`);
console.log('µs/msg and msg/s: wall clock (process.hrtime.bigint); cpu µs: process CPU time, steadier when the machine is shared');
console.log('');
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
console.log(`${pad('case', 66)}${lpad('bytes', 6)}${lpad('µs/msg', 9)}${lpad('msg/s', 11)}${lpad('min–max µs', 15)}${lpad('cpu µs', 8)}  target`);
for (const [name, fn, bytes, target] of CASES) {
  time(fn, WARMUP);
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(time(fn, ITERATIONS));
  const wall = rounds.map((x) => x.wall);
  const med = median(wall);
  const cpu = median(rounds.map((x) => x.cpu));
  const verdict = target === undefined ? '' : `< ${target} µs ${med < target ? 'met' : 'MISSED'}`;
  console.log(
    `${pad(name, 66)}${lpad(bytes, 6)}${lpad(med.toFixed(2), 9)}${lpad(Math.round(1e6 / med).toLocaleString('en-US'), 11)}` +
      `${lpad(`${Math.min(...wall).toFixed(2)}–${Math.max(...wall).toFixed(2)}`, 15)}${lpad(cpu.toFixed(2), 8)}  ${verdict}`,
  );
}
if (sink === 0) console.log('(sink)');
