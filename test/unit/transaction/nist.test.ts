import { describe, expect, it } from 'vitest';
import { createResponse } from '../../../src/sip/response.js';
import { serialize } from '../../../src/sip/serializer.js';
import type { SipRequest } from '../../../src/sip/message.js';
import { NIST_TABLE, type NistEvent, type NistState } from '../../../src/transaction/nist.js';
import type { ServerTransaction } from '../../../src/transaction/transaction-layer.js';
import type { FakeFlow } from '../../support/fake-flow.js';
import { cap, harness, request, STATUSES, type Harness } from './harness.js';

interface Setup {
  h: Harness;
  flow: FakeFlow;
  req: SipRequest;
  tx: ServerTransaction;
  prior: Buffer[];
}

function setup(protocol: 'UDP' | 'TCP' = 'UDP', method = 'REGISTER'): Setup {
  const h = harness();
  const flow = h.flow(protocol);
  const req = request({ method, transport: protocol });
  h.layer.receiveRequest(req, flow);
  expect(h.rec.requests).toHaveLength(1);
  return { h, flow, req, tx: h.rec.requests[0]!.tx, prior: [] };
}

function inState(state: NistState): Setup {
  const s = setup();
  if (state === 'proceeding') s.tx.respond(createResponse(s.req, 100));
  if (state === 'completed') s.tx.respond(createResponse(s.req, 200));
  s.prior = [...s.flow.sent];
  s.flow.clear();
  return s;
}

function feed(s: Setup, event: NistEvent, status?: number): void {
  switch (event) {
    case 'request':
      s.h.layer.receiveRequest(s.req, s.flow);
      break;
    case '1xx from TU':
    case '200-699 from TU':
      s.tx.respond(createResponse(s.req, status!));
      break;
    case 'timer J':
    case 'abandon timer':
      s.h.clock.advance(64 * 500);
      break;
    case 'transport error':
      s.tx.reportTransportError();
      break;
  }
}

describe('non-INVITE server transaction: RFC 3261 Figure 8, generated from NIST_TABLE', () => {
  for (const [state, row] of Object.entries(NIST_TABLE) as Array<[NistState, (typeof NIST_TABLE)[NistState]]>) {
    for (const [event, t] of Object.entries(row) as Array<[NistEvent, { to: NistState; action: string }]>) {
      const statuses: Array<number | undefined> =
        event === '1xx from TU' ? [...STATUSES['1xx']] : event === '200-699 from TU' ? [...STATUSES['200-699']] : [undefined];
      for (const status of statuses) {
        const on = status === undefined ? event : `${status} from TU`;
        it(`in ${cap(state)}, on ${on} MUST ${t.action} and ${t.to === state ? `stay in ${cap(state)}` : `transition to ${cap(t.to)}`}`, () => {
          const s = inState(state);
          feed(s, event, status);
          expect(s.tx.state).toBe(t.to);
          switch (t.action) {
            case 'send response':
              expect(s.flow.sent).toHaveLength(1);
              expect(s.flow.startLines[0]).toMatch(new RegExp(`^SIP/2.0 ${status} `));
              expect(s.tx.lastResponse?.status).toBe(status);
              break;
            case 'resend response':
              // the kept bytes, not a new serialization
              expect(s.flow.sent).toEqual([s.prior[0]]);
              expect(s.flow.sent[0]).toBe(s.prior[0]);
              expect(s.h.rec.requests).toHaveLength(1);
              break;
            case 'absorb':
              expect(s.flow.sent).toHaveLength(0);
              expect(s.h.rec.requests).toHaveLength(1);
              break;
            case 'inform TU of transport error':
              expect(s.h.rec.errors.map((e) => e.error)).toEqual(['transport error']);
              break;
            case 'inform TU of abandonment':
              expect(s.h.rec.errors.map((e) => e.error)).toEqual(['abandoned']);
              expect(s.h.layer.stats().abandoned).toBe(1);
              break;
            case 'none':
              expect(s.flow.sent).toHaveLength(0);
              expect(s.h.rec.errors).toEqual([]);
              break;
            default:
              throw new Error(`untested action ${t.action}`);
          }
          if (t.to === 'terminated') expect(s.h.layer.size).toBe(0);
        });
      }
    }
  }

  it('every state of Figure 8 has a row; Terminated has none', () => {
    expect(Object.keys(NIST_TABLE).sort()).toEqual(['completed', 'proceeding', 'terminated', 'trying']);
    expect(NIST_TABLE.terminated).toEqual({});
  });

  for (const status of [180, ...STATUSES['200-699']]) {
    it(`in Completed, MUST discard a ${status} from the TU`, () => {
      const s = inState('completed');
      s.tx.respond(createResponse(s.req, status));
      expect(s.flow.sent).toHaveLength(0);
      expect(s.tx.lastResponse?.status).toBe(200);
      expect(s.h.layer.stats().responsesDiscarded).toBe(1);
    });
  }
});

describe('non-INVITE server transaction: timers and transports (§17.2.2)', () => {
  it('Timer J keeps Completed 64·T1 over UDP, answering retransmissions with the final response', () => {
    const s = setup('UDP');
    s.tx.respond(createResponse(s.req, 200));
    s.h.clock.advance(31_999);
    s.h.layer.receiveRequest(s.req, s.flow);
    expect(s.flow.sent).toHaveLength(2);
    expect(s.tx.state).toBe('completed');
    expect(s.h.layer.stats().retransmissionsAbsorbed).toBe(1);
    expect(s.h.layer.stats().responsesRetransmitted).toBe(1);
    s.h.clock.advance(1);
    expect(s.tx.state).toBe('terminated');
    expect(s.h.layer.size).toBe(0);
  });

  it('Timer J is zero over TCP: the final response terminates the transaction at once', () => {
    const s = setup('TCP');
    s.tx.respond(createResponse(s.req, 200));
    expect(s.flow.startLines).toEqual(['SIP/2.0 200 OK']);
    expect(s.tx.state).toBe('terminated');
    expect(s.h.layer.size).toBe(0);
    expect(s.h.layer.stats().timers).toBe(0);
    // the same request again is a new transaction (the TCP client does not retransmit)
    s.h.layer.receiveRequest(s.req, s.flow);
    expect(s.h.rec.requests).toHaveLength(2);
  });

  it('a server transaction never retransmits a response by itself (no timer for it in Figure 8)', () => {
    const s = setup('UDP');
    s.tx.respond(createResponse(s.req, 100));
    s.tx.respond(createResponse(s.req, 404));
    s.h.clock.advance(64 * 500);
    expect(s.flow.startLines).toEqual(['SIP/2.0 100 Trying', 'SIP/2.0 404 Not Found']);
  });

  it('the TU may answer synchronously inside onRequest (then no abandon timer is armed)', () => {
    const h = harness();
    h.onRequest = (req, tx) => tx.respond(createResponse(req, 200));
    const flow = h.flow('TCP');
    h.layer.receiveRequest(request(), flow);
    expect(flow.startLines).toEqual(['SIP/2.0 200 OK']);
    expect(h.layer.size).toBe(0);
    expect(h.layer.heldTimers).toBe(0);
  });

  it('a TU that never answers: the transaction is abandoned after 64·T1 and the TU told', () => {
    const s = setup('UDP');
    s.h.clock.advance(64 * 500 - 1);
    expect(s.tx.state).toBe('trying');
    s.h.clock.advance(1);
    expect(s.tx.state).toBe('terminated');
    expect(s.h.rec.errors).toEqual([{ tx: s.tx, error: 'abandoned' }]);
    expect(s.h.layer.size).toBe(0);
  });

  it('a failed send of the final response: the TU is told, the transaction terminates', () => {
    const s = setup('UDP');
    s.flow.failSends = true;
    s.tx.respond(createResponse(s.req, 200));
    expect(s.h.rec.errors).toEqual([{ tx: s.tx, error: 'transport error' }]);
    expect(s.tx.state).toBe('terminated');
    expect(s.h.layer.size).toBe(0);
    expect(s.h.layer.stats().transportErrors).toBe(1);
  });

  it('a failed send of the final response over TCP (Timer J = 0) still reaches the TU', () => {
    const s = setup('TCP');
    s.flow.failSends = true;
    s.tx.respond(createResponse(s.req, 200));
    expect(s.h.rec.errors.map((e) => e.error)).toEqual(['transport error']);
    expect(s.h.layer.size).toBe(0);
  });

  it('a failed resend in Completed: the TU is told, the transaction terminates', () => {
    const s = setup('UDP');
    s.tx.respond(createResponse(s.req, 200));
    s.flow.failSends = true;
    s.h.layer.receiveRequest(s.req, s.flow);
    expect(s.h.rec.errors.map((e) => e.error)).toEqual(['transport error']);
    expect(s.tx.state).toBe('terminated');
  });
});

describe('non-INVITE server transaction: a final response the TU gives again (respondStateless, §8.2.7)', () => {
  it('over UDP ends the transaction on sending it, without Timer J: a retransmission is a new request for the TU', () => {
    const s = setup('UDP');
    s.tx.respondStateless(createResponse(s.req, 200));
    expect(s.flow.startLines).toEqual(['SIP/2.0 200 OK']);
    expect(s.tx.state).toBe('terminated');
    expect(s.h.layer.size).toBe(0);
    expect(s.h.layer.stats().timers).toBe(0);
    expect(s.h.layer.stats().endedStateless).toBe(1);
    s.h.layer.receiveRequest(s.req, s.flow);
    expect(s.h.rec.requests).toHaveLength(2);
    expect(s.h.layer.stats().retransmissionsAbsorbed).toBe(0);
  });

  it('sends the bytes the TU serialized early, as given', () => {
    const s = setup('UDP');
    const bytes = serialize(createResponse(s.req, 200));
    s.tx.respondStateless(createResponse(s.req, 200), bytes);
    expect(s.flow.sent).toHaveLength(1);
    expect(s.flow.sent[0]).toBe(bytes);
  });

  it('until the TU answers, retransmissions are absorbed as before', () => {
    const s = setup('UDP');
    s.h.layer.receiveRequest(s.req, s.flow);
    expect(s.h.rec.requests).toHaveLength(1);
    s.tx.respond(createResponse(s.req, 100));
    s.h.layer.receiveRequest(s.req, s.flow);
    expect(s.flow.startLines).toEqual(['SIP/2.0 100 Trying', 'SIP/2.0 100 Trying']);
    s.tx.respondStateless(createResponse(s.req, 200));
    expect(s.tx.state).toBe('terminated');
    expect(s.h.rec.requests).toHaveLength(1);
  });

  it('a provisional response given this way is an ordinary one: the final respond() still waits out Timer J', () => {
    const s = setup('UDP');
    s.tx.respondStateless(createResponse(s.req, 100));
    expect(s.tx.state).toBe('proceeding');
    s.tx.respond(createResponse(s.req, 200));
    expect(s.tx.state).toBe('completed');
    s.h.layer.receiveRequest(s.req, s.flow);
    expect(s.flow.startLines).toEqual(['SIP/2.0 100 Trying', 'SIP/2.0 200 OK', 'SIP/2.0 200 OK']);
    expect(s.h.layer.stats().endedStateless).toBe(0);
  });

  it('after a final response it changes nothing: the second final response is discarded and Completed keeps the first', () => {
    const s = setup('UDP');
    s.tx.respond(createResponse(s.req, 200));
    s.tx.respondStateless(createResponse(s.req, 500));
    expect(s.tx.state).toBe('completed');
    expect(s.h.layer.stats().responsesDiscarded).toBe(1);
    s.h.layer.receiveRequest(s.req, s.flow);
    expect(s.flow.startLines).toEqual(['SIP/2.0 200 OK', 'SIP/2.0 200 OK']);
  });

  it('over TCP it is respond() (Timer J is zero anyway) and is not counted', () => {
    const s = setup('TCP');
    s.tx.respondStateless(createResponse(s.req, 200));
    expect(s.tx.state).toBe('terminated');
    expect(s.h.layer.stats().endedStateless).toBe(0);
  });

  it('a failed send of it still reaches the TU as a transport error', () => {
    const s = setup('UDP');
    s.flow.failSends = true;
    s.tx.respondStateless(createResponse(s.req, 200));
    expect(s.h.rec.errors.map((e) => e.error)).toEqual(['transport error']);
    expect(s.h.layer.size).toBe(0);
  });
});

describe('non-INVITE server transaction: what Completed keeps for Timer J (§17.2.2)', () => {
  it('over UDP lets go of the request and keeps the status line and top Via of the response, and the resend is unchanged', () => {
    const routed: Array<{ status: number; via: string | undefined; headers: number }> = [];
    const h = harness({
      sendResponse: (res, bytes, flow) => {
        routed.push({ status: res.status, via: res.get('via'), headers: res.headers.length });
        return flow.send(bytes);
      },
    });
    const flow = h.flow('UDP');
    const req = request({ method: 'REGISTER', transport: 'UDP', branch: 'z9hG4bKsame-branch-77' });
    h.layer.receiveRequest(req, flow);
    const tx = h.rec.requests[0]!.tx;
    expect(tx.request).toBe(req);
    const res = createResponse(req, 200, { headers: [['Contact', '<sip:a@192.0.2.1>;expires=60'], ['Expires', '60']] });
    tx.respond(res);
    expect(tx.state).toBe('completed');
    expect(() => tx.request).toThrow(/let go/);
    expect(tx.lastResponse?.status).toBe(200);
    expect(tx.lastResponse?.reason).toBe('OK');
    expect(tx.lastResponse?.headers.map((x) => x.name)).toEqual(['via']);
    // a retransmission still matches (key, method, sent-by) and gets the same bytes, routed by the same Via
    h.layer.receiveRequest(request({ method: 'REGISTER', transport: 'UDP', branch: 'z9hG4bKsame-branch-77' }), flow);
    expect(h.layer.stats().retransmissionsAbsorbed).toBe(1);
    expect(flow.sent).toHaveLength(2);
    expect(flow.sent[1]!.equals(flow.sent[0]!)).toBe(true);
    expect(routed[1]!.via).toBe(routed[0]!.via);
    expect(routed[1]!.status).toBe(200);
    expect(routed[0]!.headers).toBeGreaterThan(1);
    expect(routed[1]!.headers).toBe(1);
    h.clock.advance(64 * 500);
    expect(h.layer.size).toBe(0);
  });

  it('in Trying/Proceeding keeps its request and response', () => {
    const s = setup('UDP');
    s.tx.respond(createResponse(s.req, 100));
    expect(s.tx.request).toBe(s.req);
    expect(s.tx.lastResponse?.headers.length).toBeGreaterThan(1);
  });

  for (const [how, protocol] of [
    ['over TCP (Timer J = 0)', 'TCP'],
    ['over UDP ended by respondStateless', 'UDP'],
  ] as const) {
    it(`${how}, a terminated transaction lets go of its request and response, keeping the status line for lastResponse`, () => {
      const t = setup(protocol);
      t.tx.respondStateless(createResponse(t.req, 200));
      expect(t.tx.state).toBe('terminated');
      expect(() => t.tx.request).toThrow(/let go/);
      expect(t.tx.lastResponse?.status).toBe(200);
      expect(t.tx.lastResponse?.headers.map((x) => x.name)).toEqual(['via']);
    });
  }

  it('a merged request (§8.2.2.2) is still recognised while the first waits in Completed without its request', () => {
    const h = harness();
    const flow = h.flow('UDP');
    const first = request({ method: 'OPTIONS', transport: 'UDP', branch: 'z9hG4bKfirst' });
    h.layer.receiveRequest(first, flow);
    h.rec.requests[0]!.tx.respond(createResponse(first, 200));
    // same From tag, Call-ID and CSeq, another branch: arrived by another path
    h.layer.receiveRequest(request({ method: 'OPTIONS', transport: 'UDP', branch: 'z9hG4bKsecond' }), flow);
    expect(h.layer.stats().merged482).toBe(1);
    expect(flow.sent.at(-1)!.toString('latin1')).toMatch(/^SIP\/2\.0 482 /);
  });
});
