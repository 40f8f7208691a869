import { describe, expect, it } from 'vitest';
import { buildAck, ICT_TABLE, type IctEvent, type IctState } from '../../../src/transaction/ict.js';
import type { ClientTransaction } from '../../../src/transaction/transaction-layer.js';
import type { FakeFlow } from '../../support/fake-flow.js';
import { cap, clientUser, harness, parse, request, response, STATUSES, type Harness, type RecordingClientUser } from './harness.js';
import type { SipRequest } from '../../../src/sip/message.js';

interface Setup {
  h: Harness;
  flow: FakeFlow;
  user: RecordingClientUser;
  tx: ClientTransaction;
  req: SipRequest;
  /** what the flow carried before inState() cleared it */
  prior: Buffer[];
}

function setup(protocol: 'UDP' | 'TCP' = 'UDP', layerOpts: Parameters<typeof harness>[0] = {}): Setup {
  const h = harness(layerOpts);
  const flow = h.flow(protocol);
  const user = clientUser();
  const req = request({ method: 'INVITE', transport: protocol, headers: ['Route: <sip:p1.example.com;lr>', 'Route: <sip:p2.example.com;lr>'] });
  const tx = h.layer.createClientTransaction(req, { flow, reliable: flow.reliable }, user);
  return { h, flow, user, tx, req, prior: [] };
}

/** Puts a fresh UDP transaction in a state of Figure 5 (RFC 6026). */
function inState(state: IctState): Setup {
  const s = setup();
  if (state === 'proceeding') s.h.layer.receiveResponse(response(s.req, 180), s.flow);
  if (state === 'completed') s.h.layer.receiveResponse(response(s.req, 486), s.flow);
  if (state === 'accepted') s.h.layer.receiveResponse(response(s.req, 200), s.flow);
  s.user.responses.length = 0;
  s.user.statuses.length = 0;
  s.prior = [...s.flow.sent];
  s.flow.clear();
  return s;
}

function feed(s: Setup, event: IctEvent, status?: number): void {
  switch (event) {
    case '1xx':
    case '2xx':
    case '300-699':
      s.h.layer.receiveResponse(response(s.req, status!), s.flow);
      break;
    case 'timer A':
      s.h.clock.advance(500);
      break;
    case 'timer B':
    case 'timer M':
      s.h.clock.advance(64 * 500);
      break;
    case 'timer D':
      s.h.clock.advance(32_000);
      break;
    case 'transport error':
      s.tx.reportTransportError();
      break;
  }
}

describe('INVITE client transaction: RFC 3261 Figure 5 with RFC 6026 §7.2, generated from ICT_TABLE', () => {
  for (const [state, row] of Object.entries(ICT_TABLE) as Array<[IctState, (typeof ICT_TABLE)[IctState]]>) {
    for (const [event, t] of Object.entries(row) as Array<[IctEvent, { to: IctState; action: string }]>) {
      const statuses: Array<number | undefined> =
        event === '1xx' || event === '2xx' || event === '300-699' ? [...STATUSES[event]] : [undefined];
      for (const status of statuses) {
        it(`in ${cap(state)}, on ${status ?? event} MUST ${t.action} and ${t.to === state ? `stay in ${cap(state)}` : `transition to ${cap(t.to)}`}`, () => {
          const s = inState(state);
          feed(s, event, status);
          expect(s.tx.state).toBe(t.to);
          switch (t.action) {
            case 'pass to TU':
              expect(s.user.statuses).toEqual([status]);
              expect(s.flow.sent).toHaveLength(0); // never an ACK for a 2xx, never one for a 1xx
              break;
            case 'send ACK, pass to TU':
              expect(s.user.statuses).toEqual([status]);
              expect(s.flow.startLines).toEqual(['ACK sip:bob@example.com SIP/2.0']);
              break;
            case 'resend ACK':
              expect(s.user.statuses).toEqual([]);
              expect(s.flow.startLines).toEqual(['ACK sip:bob@example.com SIP/2.0']);
              expect(s.flow.sent[0]).toBe(s.prior[1]); // the ACK built once, its bytes sent again
              break;
            case 'retransmit request':
              expect(s.flow.sentText).toEqual([s.req.raw!.toString('latin1')]);
              break;
            case 'inform TU of timeout':
              expect(s.user.statuses.at(-1)).toBe(408);
              expect(s.tx.failure).toBe('timeout');
              break;
            case 'inform TU of transport error':
              // in Completed the TU already has its final response: no 503 follows it
              expect(s.user.statuses).toEqual(state === 'completed' ? [] : [503]);
              break;
            case 'none':
              expect(s.user.statuses).toEqual([]);
              expect(s.flow.sent).toHaveLength(0);
              break;
            default:
              throw new Error(`untested action ${t.action}`);
          }
          if (t.to === 'terminated') {
            expect(s.h.layer.size).toBe(0);
            expect(s.user.terminated).toEqual([s.tx]);
          }
        });
      }
    }
  }

  it('every state of Figure 5 and RFC 6026 Accepted has a row; Terminated has none', () => {
    expect(Object.keys(ICT_TABLE).sort()).toEqual(['accepted', 'calling', 'completed', 'proceeding', 'terminated']);
    expect(ICT_TABLE.terminated).toEqual({});
  });

  for (const status of [180, ...STATUSES['300-699']]) {
    it(`in Accepted, ignores a ${status} (only 2xx are passed up, RFC 6026 §7.2)`, () => {
      const s = inState('accepted');
      s.h.layer.receiveResponse(response(s.req, status), s.flow);
      expect(s.tx.state).toBe('accepted');
      expect(s.user.statuses).toEqual([]);
      expect(s.flow.sent).toHaveLength(0);
    });
  }

  for (const status of [180, 200]) {
    it(`in Completed, ignores a ${status}`, () => {
      const s = inState('completed');
      s.h.layer.receiveResponse(response(s.req, status), s.flow);
      expect(s.tx.state).toBe('completed');
      expect(s.user.statuses).toEqual([]);
    });
  }
});

describe('INVITE client transaction: timers (§17.1.1.2, RFC 6026 §7.2)', () => {
  it('MUST retransmit over UDP with Timer A doubling (0.5, 1, 2, 4, 8, 16 s) until Timer B (64·T1) gives the TU a 408', () => {
    const s = setup('UDP');
    s.h.clock.advance(64 * 500 - 1);
    expect(s.flow.sentAt).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(s.user.statuses).toEqual([]);
    s.h.clock.advance(1);
    expect(s.user.statuses).toEqual([408]);
    expect(s.tx.state).toBe('terminated');
    expect(s.h.layer.size).toBe(0);
  });

  it('MUST NOT retransmit over TCP; Timer B still fires at 64·T1', () => {
    const s = setup('TCP');
    s.h.clock.advance(64 * 500);
    expect(s.flow.sent).toHaveLength(1);
    expect(s.user.statuses).toEqual([408]);
  });

  it('SHOULD NOT retransmit in Proceeding, and Timer B no longer applies there', () => {
    const s = setup('UDP');
    s.h.clock.advance(100);
    s.h.layer.receiveResponse(response(s.req, 180), s.flow);
    s.h.clock.advance(10 * 64 * 500);
    expect(s.flow.sent).toHaveLength(1);
    expect(s.tx.state).toBe('proceeding');
    expect(s.user.statuses).toEqual([180]);
  });

  it('Timer D keeps Completed 32 s over UDP (absorbing and re-ACKing retransmissions), 0 over TCP', () => {
    const udp = setup('UDP');
    udp.h.layer.receiveResponse(response(udp.req, 404), udp.flow);
    udp.h.clock.advance(31_999);
    expect(udp.tx.state).toBe('completed');
    udp.h.clock.advance(1);
    expect(udp.tx.state).toBe('terminated');
    expect(udp.h.layer.size).toBe(0);

    const tcp = setup('TCP');
    tcp.h.layer.receiveResponse(response(tcp.req, 404), tcp.flow);
    expect(tcp.user.statuses).toEqual([404]);
    expect(tcp.flow.startLines).toEqual(['INVITE sip:bob@example.com SIP/2.0', 'ACK sip:bob@example.com SIP/2.0']);
    expect(tcp.tx.state).toBe('terminated');
    expect(tcp.h.layer.size).toBe(0);
  });

  it('Timer D is at least 64·T1 when T1 is raised', () => {
    const s = setup('UDP', { t1: 1000, t2: 4000 });
    s.h.layer.receiveResponse(response(s.req, 404), s.flow);
    s.h.clock.advance(63_999);
    expect(s.tx.state).toBe('completed');
    s.h.clock.advance(1);
    expect(s.tx.state).toBe('terminated');
  });

  it('Accepted passes every 2xx to the TU (retransmissions and other forks) and never ACKs one; Timer M ends it', () => {
    const s = setup('UDP');
    s.h.layer.receiveResponse(response(s.req, 200, 'fork-a'), s.flow);
    s.h.clock.advance(1000);
    s.h.layer.receiveResponse(response(s.req, 200, 'fork-a'), s.flow);
    s.h.layer.receiveResponse(response(s.req, 200, 'fork-b'), s.flow);
    expect(s.user.responses.map((r) => r.toTag())).toEqual(['fork-a', 'fork-a', 'fork-b']);
    expect(s.flow.startLines).toEqual(['INVITE sip:bob@example.com SIP/2.0']);
    s.h.clock.advance(64 * 500 - 1000 - 1);
    expect(s.tx.state).toBe('accepted');
    s.h.clock.advance(1);
    expect(s.tx.state).toBe('terminated');
    expect(s.h.layer.size).toBe(0);
    // after Timer M a 2xx is stray: the core handles it
    s.h.layer.receiveResponse(response(s.req, 200, 'fork-a'), s.flow);
    expect(s.h.rec.strays).toHaveLength(1);
  });
});

describe('INVITE client transaction: the ACK for a non-2xx final response (§17.1.1.3)', () => {
  it('MUST build the ACK from the request (Request-URI, Call-ID, From, CSeq number, top Via, Route) and the response (To)', () => {
    const h = harness();
    const flow = h.flow('UDP');
    const user = clientUser();
    const invite = request({
      method: 'INVITE',
      uri: 'sip:bob@192.0.2.99:5070;transport=udp',
      cseq: 4711,
      lowerVias: ['SIP/2.0/UDP upstream.example.com;branch=z9hG4bKup'],
      headers: ['Route: <sip:p1.example.com;lr>', 'Route: <sip:p2.example.com;lr>', 'Contact: <sip:alice@client.example.com>', 'Content-Type: application/sdp'],
    });
    h.layer.createClientTransaction(invite, { flow, reliable: false }, user);
    h.layer.receiveResponse(response(invite, 486, 'callee-tag'), flow);
    const ack = parse(flow.sentText[1]!) as SipRequest;
    expect(ack.method).toBe('ACK');
    expect(ack.uri).toBe('sip:bob@192.0.2.99:5070;transport=udp');
    expect(ack.callId()).toBe(invite.callId());
    expect(ack.get('from')).toBe(invite.get('from'));
    expect(ack.cseq()).toEqual({ seq: 4711, method: 'ACK' });
    expect(ack.getAll('via')).toEqual([invite.getAll('via')[0]]);
    expect(ack.toTag()).toBe('callee-tag');
    expect(ack.getAll('route')).toEqual(['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']);
    expect(ack.get('max-forwards')).toBe('70');
    expect(ack.has('contact')).toBe(false);
    expect(ack.body.length).toBe(0);
  });

  it('resends the same ACK bytes for each retransmission of the final response, without passing it up again', () => {
    const s = setup('UDP');
    s.h.layer.receiveResponse(response(s.req, 503), s.flow);
    s.h.layer.receiveResponse(response(s.req, 503), s.flow);
    s.h.layer.receiveResponse(response(s.req, 503), s.flow);
    expect(s.user.statuses).toEqual([503]);
    expect(s.flow.sent).toHaveLength(4);
    expect(s.flow.sent[2]).toBe(s.flow.sent[1]);
    expect(s.flow.sent[3]).toBe(s.flow.sent[1]);
  });

  it('buildAck writes Max-Forwards 70 when the request had none', () => {
    const invite = parse(
      'INVITE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: c\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n',
    ) as SipRequest;
    const ack = buildAck(invite, response(invite, 404));
    expect(ack.get('max-forwards')).toBe('70');
    expect(ack.has('route')).toBe(false);
  });
});

describe('INVITE client transaction: transport errors (§17.1.4)', () => {
  it('a failed first send: the TU gets a 503 (after createClientTransaction returned)', () => {
    const h = harness();
    const flow = h.flow('TCP');
    flow.failSends = true;
    const user = clientUser();
    const tx = h.layer.createClientTransaction(request({ method: 'INVITE', transport: 'TCP' }), { flow, reliable: true }, user);
    expect(user.statuses).toEqual([]);
    h.clock.advance(0);
    expect(user.statuses).toEqual([503]);
    expect(tx.failure).toBe('transport error');
    expect(h.layer.size).toBe(0);
  });

  it('a failed Timer A retransmission: 503 to the TU, Terminated', () => {
    const s = setup('UDP');
    s.flow.failSends = true;
    s.h.clock.advance(500);
    expect(s.user.statuses).toEqual([503]);
    expect(s.tx.state).toBe('terminated');
  });

  it('a failed ACK: Terminated, and the TU (which has its final response) gets no 503', () => {
    const s = setup('UDP');
    s.flow.failSends = true;
    s.h.layer.receiveResponse(response(s.req, 404), s.flow);
    expect(s.user.statuses).toEqual([404]);
    expect(s.tx.state).toBe('terminated');
    expect(s.h.layer.size).toBe(0);
  });
});
