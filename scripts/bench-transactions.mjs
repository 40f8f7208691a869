#!/usr/bin/env node
/**
 * Transaction layer micro-benchmark (STYLE.md habit 8: prints figures, asserts nothing).
 *
 *   npx tsc -p tsconfig.json && node --expose-gc scripts/bench-transactions.mjs [count]
 *
 * Non-INVITE server transactions created from pre-parsed, pre-validated
 * requests (distinct branches, as the core hands them over), answered 200 by
 * the TU (createResponse + respond: serialize once, send) and terminated:
 *
 *  1. reliable flow (TCP): Timer J = 0, the transaction ends inside respond();
 *     real SystemClock.
 *  2. unreliable flow (UDP): Timer J = 64·T1 keeps each one 32 s; run in
 *     rounds on a ManualClock advanced past Timer J after each round, so
 *     the transactions of a round are all live at once (peak heap) and all
 *     gone after (final heap). Once with completed transactions kept as
 *     objects, once in the compact cache (the server's setting).
 *  3. baseline: createResponse + serialize alone, without the layer; the
 *     difference to (1) is the layer's own cost per transaction.
 *  4. UDP retransmission absorbed and the kept 200 resent.
 *  5. non-INVITE client transactions on a reliable flow: created (request
 *     serialized, sent), matched by a pre-parsed 200, terminated.
 *
 * DIST may point at another build directory (default ../dist).
 */
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, process.env.DIST ?? '../dist');
const load = (p) => import(pathToFileURL(path.join(dist, p)).href);

const { TransactionLayer } = await load('transaction/transaction-layer.js');
const { parseMessage } = await load('sip/parser.js');
const { validateRequest } = await load('sip/validate.js');
const { createResponse } = await load('sip/response.js');
const { serialize } = await load('sip/serializer.js');
const { SystemClock, ManualClock } = await load('util/clock.js');

const TOTAL = Number(process.argv[2] ?? 1_000_000);
/** distinct pre-parsed requests reused round after round (a round's transactions are all gone before the next) */
const POOL = Math.min(10_000, TOTAL);
/** UDP: transactions alive at once (Timer J holds each 32 s; the ManualClock is advanced past it after each round) */
const ROUND = Math.min(Number(process.env.UDP_LIVE ?? 100_000), TOTAL);
const PHASES = new Set((process.env.PHASES ?? '1,2,3,4,5').split(','));
const gc = globalThis.gc ?? (() => {});
const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;
function heap() {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function flow(protocol) {
  return {
    id: `bench-${protocol}`,
    protocol,
    reliable: protocol !== 'UDP',
    remoteAddress: '192.0.2.10',
    remotePort: 5060,
    localAddress: '192.0.2.1',
    localPort: 5060,
    closed: false,
    bytes: 0,
    sends: 0,
    send(b) {
      this.bytes += b.length;
      this.sends++;
      return true;
    },
  };
}

/** n pre-parsed, validated REGISTERs with distinct branches (the core parses and validates before the layer). */
function makeRequests(n, transport) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const text =
      `REGISTER sip:example.com SIP/2.0\r\n` +
      `Via: SIP/2.0/${transport} 192.0.2.10:5060;branch=z9hG4bK-bench-${i.toString(36)};rport\r\n` +
      `Max-Forwards: 70\r\n` +
      `From: <sip:u${i}@example.com>;tag=f${i.toString(36)}\r\n` +
      `To: <sip:u${i}@example.com>\r\n` +
      `Call-ID: bench-${i}@192.0.2.10\r\n` +
      `CSeq: 1 REGISTER\r\n` +
      `Contact: <sip:u${i}@192.0.2.10:5060>\r\n` +
      `Expires: 3600\r\n` +
      `Content-Length: 0\r\n\r\n`;
    const r = parseMessage(Buffer.from(text, 'latin1'));
    if (!r.ok) throw new Error(r.error.code);
    const err = validateRequest(r.message);
    if (err) throw err;
    out[i] = r.message;
  }
  return out;
}

function layerWith(clock, opts = {}) {
  return new TransactionLayer({
    clock,
    maxTransactions: 10_000_000,
    // as the server runs it (§8.2.2.2 merge detection is a UAS rule a proxy turns off)
    detectMergedRequests: false,
    sendResponse: (_res, bytes, f) => f.send(bytes),
    sendRequest: (_req, bytes, dest) => dest.flow.send(bytes),
    user: {
      onRequest(req, tx) {
        tx.respond(createResponse(req, 200, { toTag: 'srv1' }));
      },
    },
    ...opts,
  });
}

/** Wall and CPU time of a phase: on a shared machine the CPU figure is the one to read. */
function clockStart() {
  return { wall: performance.now(), cpu: process.cpuUsage() };
}
function clockStop(c) {
  const u = process.cpuUsage(c.cpu);
  return { wallMs: performance.now() - c.wall, cpuMs: (u.user + u.system) / 1000 };
}
function report(label, n, t, extra = '') {
  const rate = (ms) => String(Math.round(n / (ms / 1000))).padStart(9);
  console.log(
    `${label.padEnd(56)} ${rate(t.cpuMs)} /s CPU (${((t.cpuMs * 1000) / n).toFixed(3)} µs)  ${rate(t.wallMs)} /s wall${extra}`,
  );
}

console.log(
  `node ${process.version}, ${TOTAL.toLocaleString('en')} transactions per run; TCP from a pool of ${POOL.toLocaleString('en')} requests, ` +
    `UDP in rounds of ${ROUND.toLocaleString('en')} live${globalThis.gc ? '' : ' (run with --expose-gc for exact heap figures)'}`,
);

// ---------------------------------------------------------------- 1. reliable, SystemClock
if (PHASES.has('1')) {
  const reqs = makeRequests(POOL, 'TCP');
  const f = flow('TCP');
  const layer = layerWith(new SystemClock());
  // warm-up
  for (let k = 0; k < 10; k++) for (let i = 0; i < POOL; i++) layer.receiveRequest(reqs[i], f);
  const before = heap();
  const c = clockStart();
  for (let done = 0; done < TOTAL; done += POOL) {
    for (let i = 0; i < POOL; i++) layer.receiveRequest(reqs[i], f);
  }
  const t = clockStop(c);
  const after = heap();
  report('1. NIST over TCP (J = 0): receive + 200 + terminate', TOTAL, t);
  // (reqs is read after the heap probes so that it stays alive in both)
  console.log(`   live after: ${layer.size}, heap before ${mib(before)}, after ${mib(after)} (Δ ${mib(after - before)}), ${reqs.length} requests held, responses sent ${f.sends}`);
}

// ---------------------------------------------------------------- 3. baseline
if (PHASES.has('3')) {
  const reqs = makeRequests(POOL, 'TCP');
  const f = flow('TCP');
  for (let k = 0; k < 10; k++) for (let i = 0; i < POOL; i++) f.send(serialize(createResponse(reqs[i], 200, { toTag: 'srv1' })));
  const c = clockStart();
  for (let done = 0; done < TOTAL; done += POOL) {
    for (let i = 0; i < POOL; i++) f.send(serialize(createResponse(reqs[i], 200, { toTag: 'srv1' })));
  }
  const t = clockStop(c);
  report('3. baseline: createResponse + serialize + send, no layer', TOTAL, t);
}

// ---------------------------------------------------------------- 2. unreliable, ManualClock past Timer J
// as objects (compactCompleted off), and in the compact cache the server uses
for (const compact of PHASES.has('2') || PHASES.has('4') ? [false, true] : []) {
  const mode = compact ? 'compact cache' : 'objects';
  const reqs = makeRequests(ROUND, 'UDP');
  const f = flow('UDP');
  const clock = new ManualClock();
  const layer = layerWith(clock, { compactCompleted: compact });
  for (let i = 0; i < ROUND; i++) layer.receiveRequest(reqs[i], f);
  clock.advance(64 * 500 + 1);
  const before = heap();
  const buffersBefore = process.memoryUsage().arrayBuffers;
  let peak = 0;
  let peakBuffers = 0;
  let fireCpu = 0;
  let total = { wallMs: 0, cpuMs: 0 };
  for (let done = 0; done < TOTAL; done += ROUND) {
    const c = clockStart();
    for (let i = 0; i < ROUND; i++) layer.receiveRequest(reqs[i], f);
    const t1 = clockStop(c);
    if (done === 0) {
      // outside the timed parts
      peak = heap();
      peakBuffers = process.memoryUsage().arrayBuffers;
    }
    const c2 = clockStart();
    clock.advance(64 * 500 + 1); // Timer J fires for the whole round
    const t2 = clockStop(c2);
    fireCpu += t2.cpuMs;
    total = { wallMs: total.wallMs + t1.wallMs + t2.wallMs, cpuMs: total.cpuMs + t1.cpuMs + t2.cpuMs };
  }
  const after = heap();
  report(`2. NIST over UDP (J = 32 s), ${mode}: receive + 200 + Timer J`, TOTAL, total, `  (Timer J: ${((fireCpu * 1000) / TOTAL).toFixed(3)} µs CPU)`);
  console.log(
    `   ${ROUND.toLocaleString('en')} live at once: heap ${mib(peak)} (≈ ${Math.round((peak - before) / ROUND)} B per live transaction beyond the requests, ` +
      `≈ ${Math.round((peakBuffers - buffersBefore) / ROUND)} B outside the heap); ` +
      `after Timer J: live ${layer.size}, timers ${layer.stats().timers}, heap before ${mib(before)}, after ${mib(after)} (Δ ${mib(after - before)})`,
  );

  // ---------------------------------------------------------------- 4. retransmission absorbed
  for (let i = 0; i < ROUND; i++) layer.receiveRequest(reqs[i], f);
  const absorbed0 = layer.stats().retransmissionsAbsorbed;
  const c = clockStart();
  for (let done = 0; done < TOTAL; done += ROUND) {
    for (let i = 0; i < ROUND; i++) layer.receiveRequest(reqs[i], f);
  }
  const t = clockStop(c);
  report(`4. UDP retransmission matched, absorbed, 200 resent (${mode})`, TOTAL, t, `  (absorbed ${layer.stats().retransmissionsAbsorbed - absorbed0})`);
  clock.advance(64 * 500 + 1);
  console.log(`   ${reqs.length} requests held`);
}

// ---------------------------------------------------------------- 5. client transactions, reliable
if (PHASES.has('5')) {
  const reqs = makeRequests(POOL, 'TCP');
  const responses = reqs.map((r) => {
    const p = parseMessage(serialize(createResponse(r, 200, { toTag: 'srv1' })));
    p.message.topVia();
    p.message.cseq();
    return p.message;
  });
  const f = flow('TCP');
  const layer = layerWith(new SystemClock());
  const dest = { flow: f, reliable: true };
  let got = 0;
  const tu = { onResponse() { got++; } };
  for (let k = 0; k < 10; k++) {
    for (let i = 0; i < POOL; i++) {
      layer.createClientTransaction(reqs[i], dest, tu);
      layer.receiveResponse(responses[i], f);
    }
  }
  const before = heap();
  const c = clockStart();
  for (let done = 0; done < TOTAL; done += POOL) {
    for (let i = 0; i < POOL; i++) {
      layer.createClientTransaction(reqs[i], dest, tu);
      layer.receiveResponse(responses[i], f);
    }
  }
  const t = clockStop(c);
  const after = heap();
  report('5. NICT over TCP: create + send + 200 matched + terminate', TOTAL, t);
  console.log(`   live after: ${layer.size}, responses to TU ${got}, heap before ${mib(before)}, after ${mib(after)} (Δ ${mib(after - before)}), ${reqs.length + responses.length} messages held`);
}
