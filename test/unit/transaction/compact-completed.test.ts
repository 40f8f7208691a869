/**
 * The transaction layer with compactCompleted (what the server runs): a
 * non-INVITE server transaction over UDP waits out Timer J in the compact
 * cache (completed-cache.ts). On the wire nothing may differ from the
 * object path; a differential property test drives both with the same
 * random requests, retransmissions, answers and time steps.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createResponse } from '../../../src/sip/response.js';
import type { SipRequest } from '../../../src/sip/message.js';
import type { ServerTransaction } from '../../../src/transaction/transaction-layer.js';
import { harness, request, type Harness } from './harness.js';

const J = 64 * 500;

function compact(): Harness {
  return harness({ compactCompleted: true, detectMergedRequests: false });
}

describe('completed non-INVITE server transactions in the compact cache (§17.2.2)', () => {
  it('a retransmission within Timer J gets the same bytes without reaching the TU; after it, the request is new', () => {
    const h = compact();
    const flow = h.flow('UDP');
    const req = request({ method: 'REGISTER', branch: 'z9hG4bKc-1' });
    h.layer.receiveRequest(req, flow);
    const tx = h.rec.requests[0]!.tx;
    tx.respond(createResponse(req, 200, { headers: [['Contact', '<sip:a@192.0.2.1>;expires=60']] }));
    expect(h.layer.size).toBe(1);
    expect(h.layer.stats().liveServer).toBe(1);
    // the object let go of its request and timers: the layer answers for it now
    expect(() => tx.request).toThrow(/let go/);
    expect(h.layer.stats().timers).toBe(0);
    h.clock.advance(J - 1);
    h.layer.receiveRequest(request({ method: 'REGISTER', branch: 'z9hG4bKc-1' }), flow);
    expect(flow.sent).toHaveLength(2);
    expect(flow.sent[1]!.equals(flow.sent[0]!)).toBe(true);
    expect(h.rec.requests).toHaveLength(1);
    expect(h.layer.stats()).toMatchObject({ retransmissionsAbsorbed: 1, responsesRetransmitted: 1 });
    h.clock.advance(1);
    expect(h.layer.size).toBe(0);
    h.layer.receiveRequest(request({ method: 'REGISTER', branch: 'z9hG4bKc-1' }), flow);
    expect(h.rec.requests).toHaveLength(2);
  });

  it('the resend is routed by the retransmission: its status and its top Via reach the sender', () => {
    const routed: Array<{ status: number; via: string | undefined; port: number | undefined }> = [];
    const h = harness({
      compactCompleted: true,
      detectMergedRequests: false,
      sendResponse: (res, bytes, flow) => {
        routed.push({ status: res.status, via: res.topVia()?.host, port: res.topVia()?.port });
        return flow.send(bytes);
      },
    });
    const flow = h.flow('UDP');
    const req = request({ method: 'OPTIONS', branch: 'z9hG4bKc-2', sentBy: '198.51.100.7:5070' });
    h.layer.receiveRequest(req, flow);
    h.rec.requests[0]!.tx.respond(createResponse(req, 486));
    h.layer.receiveRequest(request({ method: 'OPTIONS', branch: 'z9hG4bKc-2', sentBy: '198.51.100.7:5070' }), flow);
    expect(routed).toEqual([
      { status: 486, via: '198.51.100.7', port: 5070 },
      { status: 486, via: '198.51.100.7', port: 5070 },
    ]);
  });

  it('a failed resend ends the transaction (§17.2.4): counted, and the next copy is a new request', () => {
    const h = compact();
    const flow = h.flow('UDP');
    const req = request({ method: 'REGISTER', branch: 'z9hG4bKc-3' });
    h.layer.receiveRequest(req, flow);
    h.rec.requests[0]!.tx.respond(createResponse(req, 200));
    flow.failSends = true;
    h.layer.receiveRequest(request({ method: 'REGISTER', branch: 'z9hG4bKc-3' }), flow);
    expect(h.layer.stats().transportErrors).toBe(1);
    flow.failSends = false;
    h.layer.receiveRequest(request({ method: 'REGISTER', branch: 'z9hG4bKc-3' }), flow);
    expect(h.rec.requests).toHaveLength(2);
  });

  it('the cap counts transactions waiting in the cache: over it, a stateless 503', () => {
    const h = harness({ compactCompleted: true, detectMergedRequests: false, maxTransactions: 2 });
    const flow = h.flow('UDP');
    h.onRequest = (req, tx) => tx.respond(createResponse(req, 200));
    h.layer.receiveRequest(request({ method: 'REGISTER' }), flow);
    h.layer.receiveRequest(request({ method: 'REGISTER' }), flow);
    h.layer.receiveRequest(request({ method: 'REGISTER' }), flow);
    expect(h.rec.requests).toHaveLength(2);
    expect(flow.startLines.at(-1)).toBe('SIP/2.0 503 Service Unavailable');
    expect(h.layer.stats().rejectedOverCap).toBe(1);
  });

  it('not taken into the cache: reliable transports, INVITE, RFC 2543 requests, and transactions the merge check files', () => {
    const tcp = compact();
    const tflow = tcp.flow('TCP');
    const r1 = request({ method: 'REGISTER', transport: 'TCP' });
    tcp.layer.receiveRequest(r1, tflow);
    tcp.rec.requests[0]!.tx.respond(createResponse(r1, 200));
    expect(tcp.layer.size).toBe(0);

    const h = compact();
    const flow = h.flow('UDP');
    const inv = request({ method: 'INVITE' });
    h.layer.receiveRequest(inv, flow);
    h.rec.requests[0]!.tx.respond(createResponse(inv, 486));
    expect(h.rec.requests[0]!.tx.state).toBe('completed');
    const old = request({ method: 'OPTIONS', branch: '1234' });
    h.layer.receiveRequest(old, flow);
    const oldTx = h.rec.requests[1]!.tx;
    oldTx.respond(createResponse(old, 200));
    h.layer.receiveRequest(request({ method: 'OPTIONS', branch: '1234' }), flow);
    expect(h.layer.stats().retransmissionsAbsorbed).toBe(1);
    // objects reach Terminated by their own Timer J; a retired one would have stayed as it was
    h.clock.advance(J);
    expect(oldTx.state).toBe('terminated');
    expect(h.rec.requests[0]!.tx.state).toBe('terminated');

    // with §8.2.2.2 on, a request without a To tag is filed for the merge check: kept as an object
    const m = harness({ compactCompleted: true });
    const mflow = m.flow('UDP');
    const first = request({ method: 'OPTIONS', branch: 'z9hG4bKfirst' });
    m.layer.receiveRequest(first, mflow);
    m.rec.requests[0]!.tx.respond(createResponse(first, 200));
    m.layer.receiveRequest(request({ method: 'OPTIONS', branch: 'z9hG4bKsecond' }), mflow);
    expect(m.layer.stats().merged482).toBe(1);
  });

  it('close() empties the cache', () => {
    const h = compact();
    const flow = h.flow('UDP');
    const req = request({ method: 'REGISTER' });
    h.layer.receiveRequest(req, flow);
    h.rec.requests[0]!.tx.respond(createResponse(req, 200));
    h.layer.close();
    expect(h.layer.size).toBe(0);
    expect(h.clock.pendingCount).toBe(0);
  });
});

describe('differential: compact cache and transaction objects put the same bytes on the wire', () => {
  type Op =
    | { kind: 'request'; branch: number; method: number; port: number }
    | { kind: 'answer'; pick: number; status: number }
    | { kind: 'advance'; ms: number }
    | { kind: 'fail'; on: boolean };
  const METHODS = ['REGISTER', 'OPTIONS', 'MESSAGE'];
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('request' as const), branch: fc.integer({ min: 0, max: 12 }), method: fc.integer({ min: 0, max: 2 }), port: fc.integer({ min: 0, max: 1 }) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('answer' as const), pick: fc.nat(), status: fc.constantFrom(100, 180, 200, 202, 404, 486, 503) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(1, 500, 4000, 16_000, 31_999, 32_000) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('fail' as const), on: fc.boolean() }) },
  );

  function run(compactOn: boolean, ops: Op[]) {
    const h = harness({ compactCompleted: compactOn, detectMergedRequests: false });
    const flow = h.flow('UDP');
    const pending: Array<{ req: SipRequest; tx: ServerTransaction }> = [];
    h.onRequest = (req, tx) => void pending.push({ req, tx });
    for (const o of ops) {
      if (o.kind === 'request') {
        const r = request({ method: METHODS[o.method]!, branch: `z9hG4bKd${o.branch}`, sentBy: `192.0.2.1:${5060 + o.port}`, callId: `c${o.branch}` });
        h.layer.receiveRequest(r, flow);
      } else if (o.kind === 'answer') {
        if (pending.length === 0) continue;
        const i = o.pick % pending.length;
        const p = pending[i]!;
        // the same To tag in both runs, so the bytes can be compared
        p.tx.respond(createResponse(p.req, o.status, { toTag: `t${i}` }));
        if (o.status >= 200) pending.splice(i, 1);
      } else if (o.kind === 'advance') h.clock.advance(o.ms);
      else flow.failSends = o.on;
    }
    h.clock.advance(2 * J);
    const s = h.layer.stats();
    return {
      wire: flow.sent.map((b) => b.toString('latin1')),
      requests: h.rec.requests.length,
      absorbed: s.retransmissionsAbsorbed,
      retransmitted: s.responsesRetransmitted,
      transportErrors: s.transportErrors,
      after: h.layer.size,
    };
  }

  it('a failed resend, then time passing', () => {
    const ops: Op[] = [
      { kind: 'request', branch: 3, method: 0, port: 1 },
      { kind: 'answer', pick: 0, status: 200 },
      { kind: 'fail', on: true },
      { kind: 'request', branch: 3, method: 0, port: 1 },
    ];
    expect(run(true, ops)).toEqual(run(false, ops));
  });

  it('two transactions sharing a branch (methods differ) stay apart: one in the cache, one an object', () => {
    const ops: Op[] = [
      { kind: 'request', branch: 1, method: 0, port: 0 },
      { kind: 'answer', pick: 0, status: 200 },
      { kind: 'request', branch: 1, method: 1, port: 0 },
      { kind: 'answer', pick: 0, status: 404 },
      { kind: 'request', branch: 1, method: 0, port: 0 },
      { kind: 'request', branch: 1, method: 1, port: 0 },
      { kind: 'advance', ms: 31_999 },
      { kind: 'request', branch: 1, method: 1, port: 0 },
      { kind: 'request', branch: 1, method: 0, port: 0 },
    ];
    const b = run(true, ops);
    expect(b).toEqual(run(false, ops));
    expect(b.requests).toBe(2);
    expect(b.absorbed).toBe(4);
  });

  it('random requests, copies, answers, send failures and time steps', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const a = run(false, ops);
        const b = run(true, ops);
        expect(b).toEqual(a);
        // nothing is left once every transaction is answered or abandoned and Timer J has run
        expect(b.after).toBe(0);
      }),
      { numRuns: Number(process.env.DIFF_RUNS ?? 300) },
    );
  });
});
