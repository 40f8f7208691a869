import { describe, expect, it } from 'vitest';
import { createResponse } from '../../../src/sip/response.js';
import type { SipRequest } from '../../../src/sip/message.js';
import { IST_TABLE, type IstEvent, type IstState } from '../../../src/transaction/ist.js';
import type { ServerTransaction } from '../../../src/transaction/transaction-layer.js';
import type { FakeFlow } from '../../support/fake-flow.js';
import { ackFor, cap, harness, request, response, STATUSES, type Harness } from './harness.js';

interface Setup {
  h: Harness;
  flow: FakeFlow;
  invite: SipRequest;
  tx: ServerTransaction;
  prior: Buffer[];
}

function setup(protocol: 'UDP' | 'TCP' = 'UDP'): Setup {
  const h = harness();
  const flow = h.flow(protocol);
  const invite = request({ method: 'INVITE', transport: protocol });
  h.layer.receiveRequest(invite, flow);
  expect(h.rec.requests).toHaveLength(1);
  return { h, flow, invite, tx: h.rec.requests[0]!.tx, prior: [] };
}

/** The ACK the UAC sends for the final response this transaction sent (same branch). */
function ack(s: Setup): SipRequest {
  return ackFor(s.invite, response(s.invite, 400, s.tx.lastResponse?.toTag() ?? 'none'));
}

function inState(state: IstState): Setup {
  const s = setup();
  if (state === 'completed' || state === 'confirmed') s.tx.respond(createResponse(s.invite, 486, { toTag: 't1' }));
  if (state === 'confirmed') s.h.layer.receiveRequest(ack(s), s.flow);
  if (state === 'accepted') s.tx.respond(createResponse(s.invite, 200, { toTag: 't1' }));
  s.prior = [...s.flow.sent];
  s.flow.clear();
  return s;
}

function feed(s: Setup, event: IstEvent, status?: number): void {
  switch (event) {
    case 'INVITE':
      s.h.layer.receiveRequest(s.invite, s.flow);
      break;
    case 'ACK':
      s.h.layer.receiveRequest(ack(s), s.flow);
      break;
    case '1xx from TU':
    case '2xx from TU':
    case '300-699 from TU':
      s.tx.respond(createResponse(s.invite, status!, { toTag: 't1' }));
      break;
    case 'Trying timer':
      s.h.clock.advance(200);
      break;
    case 'timer G':
      s.h.clock.advance(500);
      break;
    case 'timer H':
    case 'timer L':
      s.h.clock.advance(64 * 500);
      break;
    case 'timer I':
      s.h.clock.advance(5000);
      break;
    case 'transport error':
      s.tx.reportTransportError();
      break;
  }
}

function statusesFor(event: IstEvent): Array<number | undefined> {
  if (event === '1xx from TU') return [180, 183];
  if (event === '2xx from TU') return [...STATUSES['2xx']];
  if (event === '300-699 from TU') return [...STATUSES['300-699']];
  return [undefined];
}

describe('INVITE server transaction: RFC 3261 Figure 7 with RFC 6026 §7.1, generated from IST_TABLE', () => {
  for (const [state, row] of Object.entries(IST_TABLE) as Array<[IstState, (typeof IST_TABLE)[IstState]]>) {
    for (const [event, t] of Object.entries(row) as Array<[IstEvent, { to: IstState; action: string }]>) {
      for (const status of statusesFor(event)) {
        const on = status === undefined ? event : `${status} from TU`;
        it(`in ${cap(state)}, on ${on} MUST ${t.action} and ${t.to === state ? `stay in ${cap(state)}` : `transition to ${cap(t.to)}`}`, () => {
          const s = inState(state);
          feed(s, event, status);
          expect(s.tx.state).toBe(t.to);
          switch (t.action) {
            case 'send response':
              expect(s.flow.startLines).toHaveLength(1);
              expect(s.flow.startLines[0]).toMatch(new RegExp(`^SIP/2.0 ${status} `));
              break;
            case 'resend response':
              if (s.prior.length === 0) expect(s.flow.sent).toHaveLength(0);
              else expect(s.flow.sent).toEqual([s.prior.at(-1)]);
              expect(s.h.rec.requests).toHaveLength(1);
              break;
            case 'send 100 Trying':
              expect(s.flow.startLines).toEqual(['SIP/2.0 100 Trying']);
              break;
            case 'retransmit response':
              expect(s.flow.sent).toHaveLength(1);
              expect(s.flow.sent[0]).toBe(s.prior.at(-1));
              break;
            case 'pass ACK to TU':
              expect(s.h.rec.acks).toHaveLength(1);
              expect(s.h.rec.acks[0]!.inviteTx).toBe(s.tx);
              expect(s.flow.sent).toHaveLength(0);
              break;
            case 'inform TU of timeout':
              expect(s.h.rec.errors.map((e) => e.error)).toEqual(['timeout']);
              break;
            case 'inform TU of transport error':
              expect(s.h.rec.errors.map((e) => e.error)).toEqual(['transport error']);
              break;
            case 'absorb':
            case 'none':
              expect(s.flow.sent).toHaveLength(0);
              expect(s.h.rec.requests).toHaveLength(1);
              expect(s.h.rec.acks).toHaveLength(0);
              break;
            default:
              throw new Error(`untested action ${t.action}`);
          }
          if (t.to === 'terminated') expect(s.h.layer.size).toBe(0);
          else expect(s.h.layer.size).toBe(1);
        });
      }
    }
  }

  it('every state of Figure 7 and RFC 6026 Accepted has a row; Terminated has none', () => {
    expect(Object.keys(IST_TABLE).sort()).toEqual(['accepted', 'completed', 'confirmed', 'proceeding', 'terminated']);
    expect(IST_TABLE.terminated).toEqual({});
  });

  for (const state of ['completed', 'confirmed'] as const) {
    for (const status of [180, 200, 486]) {
      it(`in ${cap(state)}, MUST discard a ${status} from the TU`, () => {
        const s = inState(state);
        s.tx.respond(createResponse(s.invite, status, { toTag: 't1' }));
        expect(s.flow.sent).toHaveLength(0);
        expect(s.h.layer.stats().responsesDiscarded).toBe(1);
      });
    }
  }

  for (const status of [180, 486]) {
    it(`in Accepted, MUST discard a ${status} from the TU (only 2xx pass, RFC 6026 §8.7)`, () => {
      const s = inState('accepted');
      s.tx.respond(createResponse(s.invite, status, { toTag: 't1' }));
      expect(s.flow.sent).toHaveLength(0);
      expect(s.tx.state).toBe('accepted');
    });
  }
});

describe('INVITE server transaction: respondStateless', () => {
  it('is respond(): a 486 still waits in Completed for the ACK and a retransmitted INVITE is absorbed', () => {
    const s = setup('UDP');
    s.tx.respondStateless(createResponse(s.invite, 486, { toTag: 't1' }));
    expect(s.tx.state).toBe('completed');
    s.h.layer.receiveRequest(s.invite, s.flow);
    expect(s.h.rec.requests).toHaveLength(1);
    expect(s.flow.startLines).toEqual(['SIP/2.0 486 Busy Here', 'SIP/2.0 486 Busy Here']);
    expect(s.h.layer.stats().endedStateless).toBe(0);
  });
});

describe('INVITE server transaction: 100 Trying (§17.2.1)', () => {
  it('MUST send 100 Trying 200 ms after the INVITE when the TU has not responded', () => {
    const s = setup('UDP');
    s.h.clock.advance(199);
    expect(s.flow.sent).toHaveLength(0);
    s.h.clock.advance(1);
    expect(s.flow.startLines).toEqual(['SIP/2.0 100 Trying']);
    const trying = s.flow.sentText[0]!;
    expect(trying).not.toMatch(/^To:.*tag=/m); // §8.2.6.2: no To tag on a 100
    // a retransmitted INVITE now gets the 100 again
    s.h.layer.receiveRequest(s.invite, s.flow);
    expect(s.flow.startLines).toEqual(['SIP/2.0 100 Trying', 'SIP/2.0 100 Trying']);
  });

  it('MUST NOT send 100 Trying when the TU sent a provisional response within onRequest', () => {
    const h = harness();
    h.onRequest = (req, tx) => tx.respond(createResponse(req, 180, { toTag: 'x' }));
    const flow = h.flow('UDP');
    h.layer.receiveRequest(request({ method: 'INVITE' }), flow);
    h.clock.advance(1000);
    expect(flow.startLines).toEqual(['SIP/2.0 180 Ringing']);
  });

  it('MUST NOT send 100 Trying when the TU answers before 200 ms', () => {
    const s = setup('UDP');
    s.h.clock.advance(150);
    s.tx.respond(createResponse(s.invite, 486, { toTag: 'x' }));
    s.h.clock.advance(100);
    expect(s.flow.startLines).toEqual(['SIP/2.0 486 Busy Here']);
  });

  it('a retransmitted INVITE before any response is absorbed silently', () => {
    const s = setup('UDP');
    s.h.clock.advance(100);
    s.h.layer.receiveRequest(s.invite, s.flow);
    expect(s.flow.sent).toHaveLength(0);
    expect(s.h.rec.requests).toHaveLength(1);
    expect(s.h.layer.stats().retransmissionsAbsorbed).toBe(1);
  });
});

describe('INVITE server transaction: timers G, H, I, L (§17.2.1, RFC 6026 §7.1)', () => {
  it('over UDP, Timer G retransmits the final response at 0.5, 1.5, 3.5, 7.5, 11.5 s… (doubling to T2) until Timer H (64·T1)', () => {
    const s = setup('UDP');
    s.tx.respond(createResponse(s.invite, 486, { toTag: 'x' }));
    s.h.clock.advance(64 * 500 - 1);
    expect(s.flow.sentAt).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(s.h.rec.errors).toEqual([]);
    s.h.clock.advance(1);
    expect(s.tx.state).toBe('terminated');
    expect(s.h.rec.errors).toEqual([{ tx: s.tx, error: 'timeout' }]);
    expect(s.h.layer.stats().timeouts).toBe(1);
    expect(s.h.layer.size).toBe(0);
  });

  it('over TCP there is no Timer G, and Timer H still fires at 64·T1', () => {
    const s = setup('TCP');
    s.tx.respond(createResponse(s.invite, 486, { toTag: 'x' }));
    s.h.clock.advance(64 * 500 - 1);
    expect(s.flow.sent).toHaveLength(1);
    s.h.clock.advance(1);
    expect(s.tx.state).toBe('terminated');
    expect(s.h.rec.errors.map((e) => e.error)).toEqual(['timeout']);
  });

  it('the ACK stops Timer G; Timer I (T4) keeps Confirmed over UDP, then Terminated', () => {
    const s = setup('UDP');
    s.tx.respond(createResponse(s.invite, 486, { toTag: 'x' }));
    s.h.clock.advance(600);
    s.h.layer.receiveRequest(ack(s), s.flow);
    expect(s.tx.state).toBe('confirmed');
    expect(s.h.rec.acks).toEqual([]); // absorbed, not passed to the TU
    s.h.clock.advance(4999);
    expect(s.tx.state).toBe('confirmed');
    expect(s.flow.sent).toHaveLength(2); // the response and one Timer G retransmission, none after the ACK
    s.h.clock.advance(1);
    expect(s.tx.state).toBe('terminated');
    expect(s.h.layer.size).toBe(0);
  });

  it('Timer I is zero over TCP: the ACK terminates the transaction', () => {
    const s = setup('TCP');
    s.tx.respond(createResponse(s.invite, 486, { toTag: 'x' }));
    s.h.layer.receiveRequest(ack(s), s.flow);
    expect(s.tx.state).toBe('terminated');
    expect(s.h.layer.size).toBe(0);
    expect(s.h.layer.stats().timers).toBe(0);
  });

  it('in Accepted the transaction never retransmits the 2xx itself; the TU does, and Timer L (64·T1) ends it', () => {
    const s = setup('UDP');
    const ok = createResponse(s.invite, 200, { toTag: 'x' });
    s.tx.respond(ok);
    s.h.clock.advance(500);
    expect(s.flow.sent).toHaveLength(1);
    s.tx.respond(ok); // the TU's retransmission (§13.3.1.4)
    expect(s.flow.startLines).toEqual(['SIP/2.0 200 OK', 'SIP/2.0 200 OK']);
    s.h.layer.receiveRequest(s.invite, s.flow); // absorbed, not answered, not passed up
    expect(s.flow.sent).toHaveLength(2);
    expect(s.h.rec.requests).toHaveLength(1);
    s.h.clock.advance(64 * 500 - 500 - 1);
    expect(s.tx.state).toBe('accepted');
    s.h.clock.advance(1);
    expect(s.tx.state).toBe('terminated');
    expect(s.h.layer.size).toBe(0);
  });

  it('in Accepted an ACK with the INVITE branch goes to the TU; an ACK for the 2xx with its own branch goes to the TU as unmatched', () => {
    const s = inState('accepted');
    s.h.layer.receiveRequest(ack(s), s.flow);
    const own = ackFor(s.invite, response(s.invite, 200, 't1'), 'z9hG4bKnewbranch');
    s.h.layer.receiveRequest(own, s.flow);
    expect(s.h.rec.acks.map((a) => a.inviteTx)).toEqual([s.tx, undefined]);
    expect(s.tx.state).toBe('accepted');
  });

  it('a transport error in Proceeding terminates the transaction and tells the TU', () => {
    const s = setup('UDP');
    s.flow.failSends = true;
    s.tx.respond(createResponse(s.invite, 180, { toTag: 'x' }));
    expect(s.tx.state).toBe('terminated');
    expect(s.h.rec.errors.map((e) => e.error)).toEqual(['transport error']);
  });

  it('a transport error sending the 2xx tells the TU and leaves Accepted as it is (RFC 6026 §8.8)', () => {
    const s = setup('UDP');
    s.flow.failSends = true;
    s.tx.respond(createResponse(s.invite, 200, { toTag: 'x' }));
    expect(s.tx.state).toBe('accepted');
    expect(s.h.rec.errors.map((e) => e.error)).toEqual(['transport error']);
    s.h.clock.advance(64 * 500);
    expect(s.tx.state).toBe('terminated'); // Timer L was still armed
  });

  it('a transport error on a Timer G retransmission terminates the transaction', () => {
    const s = setup('UDP');
    s.tx.respond(createResponse(s.invite, 486, { toTag: 'x' }));
    s.flow.failSends = true;
    s.h.clock.advance(500);
    expect(s.tx.state).toBe('terminated');
    expect(s.h.rec.errors.map((e) => e.error)).toEqual(['transport error']);
    expect(s.h.layer.size).toBe(0);
  });
});
