import { describe, expect, it } from 'vitest';
import { NICT_TABLE, type NictEvent, type NictState } from '../../../src/transaction/nict.js';
import type { ClientTransaction } from '../../../src/transaction/transaction-layer.js';
import type { FakeFlow } from '../../support/fake-flow.js';
import { cap, clientUser, harness, request, response, STATUSES, type Harness, type RecordingClientUser } from './harness.js';

interface Setup {
  h: Harness;
  flow: FakeFlow;
  user: RecordingClientUser;
  tx: ClientTransaction;
  req: ReturnType<typeof request>;
}

function setup(protocol: 'UDP' | 'TCP' = 'UDP', layerOpts: Parameters<typeof harness>[0] = {}): Setup {
  const h = harness(layerOpts);
  const flow = h.flow(protocol);
  const user = clientUser();
  const req = request({ method: 'OPTIONS', transport: protocol });
  const tx = h.layer.createClientTransaction(req, { flow, reliable: flow.reliable }, user);
  return { h, flow, user, tx, req };
}

/** Puts a fresh UDP transaction in a state of Figure 6. */
function inState(state: NictState): Setup {
  const s = setup();
  if (state === 'proceeding') s.h.layer.receiveResponse(response(s.req, 100), s.flow);
  if (state === 'completed') s.h.layer.receiveResponse(response(s.req, 200), s.flow);
  s.user.responses.length = 0;
  s.user.statuses.length = 0;
  s.flow.clear();
  return s;
}

/** Feeds an event of Figure 6; returns the response fed, if any. */
function feed(s: Setup, event: NictEvent, status?: number): void {
  switch (event) {
    case '1xx':
    case '200-699':
      s.h.layer.receiveResponse(response(s.req, status!), s.flow);
      break;
    case 'timer E':
      s.h.clock.advance(500); // T1: the first E interval, armed at the start
      break;
    case 'timer F':
    case 'timer K':
      s.h.clock.advance(event === 'timer F' ? 64 * 500 : 5000);
      break;
    case 'transport error':
      s.tx.reportTransportError();
      break;
  }
}

describe('non-INVITE client transaction: RFC 3261 Figure 6, generated from NICT_TABLE', () => {
  for (const [state, row] of Object.entries(NICT_TABLE) as Array<[NictState, (typeof NICT_TABLE)[NictState]]>) {
    for (const [event, t] of Object.entries(row) as Array<[NictEvent, { to: NictState; action: string }]>) {
      const statuses: Array<number | undefined> = event === '1xx' ? [...STATUSES['1xx']] : event === '200-699' ? [...STATUSES['200-699']] : [undefined];
      for (const status of statuses) {
        it(`in ${cap(state)}, on ${status ?? event} MUST ${t.action} and ${t.to === state ? `stay in ${cap(state)}` : `transition to ${cap(t.to)}`}`, () => {
          const s = inState(state);
          feed(s, event, status);
          expect(s.tx.state).toBe(t.to);
          switch (t.action) {
            case 'pass to TU':
              expect(s.user.statuses).toEqual([status]);
              break;
            case 'retransmit request':
              expect(s.flow.sent).toHaveLength(1);
              expect(s.flow.sentText[0]).toBe(s.req.raw!.toString('latin1'));
              expect(s.user.statuses).toEqual([]);
              break;
            case 'inform TU of timeout':
              expect(s.user.statuses.at(-1)).toBe(408);
              break;
            case 'inform TU of transport error':
              expect(s.user.statuses).toEqual([503]);
              expect(s.tx.failure).toBe('transport error');
              break;
            case 'absorb':
            case 'none':
              expect(s.user.statuses).toEqual([]);
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

  it('every state of Figure 6 has a row, and Terminated has none', () => {
    expect(Object.keys(NICT_TABLE).sort()).toEqual(['completed', 'proceeding', 'terminated', 'trying']);
    expect(NICT_TABLE.terminated).toEqual({});
  });

  it('ignores a transport error reported in Completed (nothing is sent there)', () => {
    const s = inState('completed');
    s.tx.reportTransportError();
    expect(s.tx.state).toBe('completed');
    expect(s.user.statuses).toEqual([]);
  });
});

describe('non-INVITE client transaction: timers (§17.1.2.2)', () => {
  it('MUST retransmit over UDP at 500 ms, 1 s, 2 s, 4 s, then every T2 = 4 s, until Timer F (64·T1) gives the TU a 408', () => {
    const s = setup('UDP');
    s.h.clock.advance(64 * 500 - 1);
    expect(s.flow.sentAt).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(s.user.statuses).toEqual([]);
    s.h.clock.advance(1);
    expect(s.user.statuses).toEqual([408]);
    expect(s.tx.failure).toBe('timeout');
    expect(s.tx.state).toBe('terminated');
    expect(s.h.layer.size).toBe(0);
    expect(s.h.layer.stats().timeouts).toBe(1);
    expect(s.h.layer.stats().requestsRetransmitted).toBe(10);
  });

  it('MUST reset Timer E to T2 when it fires in Proceeding', () => {
    const s = setup('UDP');
    s.h.layer.receiveResponse(response(s.req, 100), s.flow);
    s.h.clock.advance(12_500);
    // E was armed at T1 in Trying; in Proceeding each firing re-arms it at T2
    expect(s.flow.sentAt).toEqual([0, 500, 4500, 8500, 12500]);
  });

  it('follows a configured T1 and T2 (T1 = 100 ms, T2 = 400 ms)', () => {
    const s = setup('UDP', { t1: 100, t2: 400 });
    s.h.clock.advance(1700);
    expect(s.flow.sentAt).toEqual([0, 100, 300, 700, 1100, 1500]);
    s.h.clock.advance(64 * 100 - 1700);
    expect(s.user.statuses).toEqual([408]);
  });

  it('MUST NOT retransmit over TCP, and Timer F still gives a 408 at 64·T1', () => {
    const s = setup('TCP');
    s.h.clock.advance(64 * 500 - 1);
    expect(s.flow.sent).toHaveLength(1);
    expect(s.user.statuses).toEqual([]);
    s.h.clock.advance(1);
    expect(s.user.statuses).toEqual([408]);
    expect(s.h.layer.size).toBe(0);
  });

  it('Timer K keeps Completed T4 = 5 s over UDP, absorbing final response retransmissions', () => {
    const s = setup('UDP');
    s.h.layer.receiveResponse(response(s.req, 200), s.flow);
    s.h.clock.advance(4999);
    s.h.layer.receiveResponse(response(s.req, 200), s.flow);
    expect(s.user.statuses).toEqual([200]);
    expect(s.tx.state).toBe('completed');
    expect(s.flow.sent).toHaveLength(1); // no retransmission in Completed
    s.h.clock.advance(1);
    expect(s.tx.state).toBe('terminated');
    expect(s.h.layer.size).toBe(0);
    // a late retransmission now matches nothing
    s.h.layer.receiveResponse(response(s.req, 200), s.flow);
    expect(s.h.rec.strays).toHaveLength(1);
  });

  it('Timer K is zero over TCP: the final response terminates the transaction at once', () => {
    const s = setup('TCP');
    s.h.layer.receiveResponse(response(s.req, 404), s.flow);
    expect(s.user.statuses).toEqual([404]);
    expect(s.tx.state).toBe('terminated');
    expect(s.h.layer.size).toBe(0);
    expect(s.h.layer.stats().timers).toBe(0);
  });
});

describe('non-INVITE client transaction: transport errors (§17.1.4, §8.1.3.1)', () => {
  it('a failed first send gives the TU a 503 on the next turn, after createClientTransaction returned', () => {
    const h = harness();
    const flow = h.flow('TCP');
    flow.failSends = true;
    const user = clientUser();
    const req = request({ transport: 'TCP' });
    const tx = h.layer.createClientTransaction(req, { flow, reliable: true }, user);
    expect(user.statuses).toEqual([]);
    h.clock.advance(0);
    expect(user.statuses).toEqual([503]);
    expect(user.responses[0]!.callId()).toBe(req.callId());
    expect(tx.failure).toBe('transport error');
    expect(tx.state).toBe('terminated');
    expect(h.layer.size).toBe(0);
    expect(h.layer.stats().transportErrors).toBe(1);
  });

  it('a failed retransmission terminates the transaction with a 503 to the TU', () => {
    const s = setup('UDP');
    s.flow.failSends = true;
    s.h.clock.advance(500);
    expect(s.user.statuses).toEqual([503]);
    expect(s.tx.state).toBe('terminated');
    s.h.clock.advance(64 * 500);
    expect(s.user.statuses).toEqual([503]); // Timer F was cancelled
  });

  it('an error the sender reports later (reportTransportError) gives a 503', () => {
    const s = setup('UDP');
    s.tx.reportTransportError();
    expect(s.user.statuses).toEqual([503]);
    expect(s.tx.state).toBe('terminated');
  });

  it('an error reported by the sender while it runs counts as a failed send', () => {
    const h = harness({
      sendRequest: (_req, _bytes, _dest, tx) => {
        tx.reportTransportError();
        return true;
      },
    });
    const user = clientUser();
    const tx = h.layer.createClientTransaction(request(), { flow: h.flow(), reliable: false }, user);
    expect(user.statuses).toEqual([]);
    h.clock.advance(0);
    expect(user.statuses).toEqual([503]);
    expect(tx.state).toBe('terminated');
  });

  it('the TU may abandon the transaction (terminate): it leaves the table and the TU hears nothing more', () => {
    const s = setup('UDP');
    s.tx.terminate();
    expect(s.h.layer.size).toBe(0);
    s.h.clock.advance(64 * 500);
    expect(s.flow.sent).toHaveLength(1);
    expect(s.user.statuses).toEqual([]);
  });
});
