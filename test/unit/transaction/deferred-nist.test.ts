/**
 * Deferred non-INVITE server transactions (deferred-nist.ts): for the
 * methods the layer defers, the transaction is created only when it has
 * state to keep; a final response given with respondStateless (§8.2.7)
 * never creates one.
 */
import { describe, expect, it } from 'vitest';
import { createResponse } from '../../../src/sip/response.js';
import { serialize } from '../../../src/sip/serializer.js';
import type { TransportProtocol } from '../../../src/transport/transport.js';
import { harness, request, type Harness } from './harness.js';

function setup(protocol: TransportProtocol = 'UDP', opts: Parameters<typeof harness>[0] = {}) {
  // the server's layer: no §8.2.2.2 merge index (a request filed there is not deferred, see the last tests)
  const h: Harness = harness({ deferredMethods: ['REGISTER'], detectMergedRequests: false, ...opts });
  const flow = h.flow(protocol);
  const req = request({ method: 'REGISTER', transport: protocol });
  return { h, flow, req };
}

describe('deferred non-INVITE server transaction', () => {
  it('a final response given with respondStateless during onRequest is sent and no transaction is ever made', () => {
    const { h, flow, req } = setup();
    h.onRequest = (r, tx) => tx.respondStateless(createResponse(r, 200));
    h.layer.receiveRequest(req, flow);
    expect(flow.startLines).toEqual(['SIP/2.0 200 OK']);
    const tx = h.rec.requests[0]!.tx;
    expect(tx.state).toBe('terminated');
    expect(h.layer.size).toBe(0);
    expect(h.layer.stats()).toMatchObject({ serverCreated: 0, endedStateless: 1, timers: 0 });
    // a retransmission is a new request for the TU, which recognises it (§8.2.7)
    h.layer.receiveRequest(req, flow);
    expect(h.rec.requests).toHaveLength(2);
    expect(flow.startLines).toEqual(['SIP/2.0 200 OK', 'SIP/2.0 200 OK']);
  });

  it('respond() makes the transaction at that moment: it waits in Completed and resends to a retransmission', () => {
    const { h, flow, req } = setup();
    h.onRequest = (r, tx) => tx.respond(createResponse(r, 401));
    h.layer.receiveRequest(req, flow);
    expect(h.layer.stats().serverCreated).toBe(1);
    h.layer.receiveRequest(req, flow);
    expect(h.rec.requests).toHaveLength(1);
    expect(flow.startLines).toEqual(['SIP/2.0 401 Unauthorized', 'SIP/2.0 401 Unauthorized']);
    expect(h.layer.stats().retransmissionsAbsorbed).toBe(1);
  });

  it('a request the TU leaves unanswered gets its transaction when onRequest returns: retransmissions are absorbed, the later answer goes through it', () => {
    const { h, flow, req } = setup();
    h.layer.receiveRequest(req, flow);
    expect(h.layer.size).toBe(1);
    const tx = h.rec.requests[0]!.tx;
    expect(tx.state).toBe('trying');
    h.layer.receiveRequest(req, flow);
    expect(h.rec.requests).toHaveLength(1);
    expect(flow.sent).toHaveLength(0);
    tx.respond(createResponse(req, 200));
    expect(tx.state).toBe('completed');
    expect(tx.lastResponse?.status).toBe(200);
    h.layer.receiveRequest(req, flow);
    expect(flow.startLines).toEqual(['SIP/2.0 200 OK', 'SIP/2.0 200 OK']);
  });

  it('an unanswered one is abandoned after 64·T1 like any other', () => {
    const { h, flow, req } = setup();
    h.layer.receiveRequest(req, flow);
    h.clock.advance(64 * 500);
    expect(h.rec.errors.map((e) => e.error)).toEqual(['abandoned']);
    expect(h.layer.size).toBe(0);
  });

  it('keepNoState(): nothing is made when onRequest returns; retransmissions reach the TU; the later respondStateless is sent', () => {
    const { h, flow, req } = setup();
    h.onRequest = (_r, tx) => tx.keepNoState();
    h.layer.receiveRequest(req, flow);
    const tx = h.rec.requests[0]!.tx;
    expect(h.layer.size).toBe(0);
    expect(h.layer.stats().timers).toBe(0);
    expect(tx.state).toBe('trying');
    h.layer.receiveRequest(req, flow);
    expect(h.rec.requests).toHaveLength(2);
    tx.respondStateless(createResponse(req, 200));
    expect(flow.startLines).toEqual(['SIP/2.0 200 OK']);
    expect(h.layer.stats()).toMatchObject({ serverCreated: 0, endedStateless: 1 });
  });

  it('keepNoState() and then respond() after all: the transaction is made then, and absorbs what follows', () => {
    const { h, flow, req } = setup();
    h.onRequest = (_r, tx) => tx.keepNoState();
    h.layer.receiveRequest(req, flow);
    const tx = h.rec.requests[0]!.tx;
    tx.respond(createResponse(req, 500));
    expect(h.layer.stats().serverCreated).toBe(1);
    expect(tx.state).toBe('completed');
    h.layer.receiveRequest(req, flow);
    expect(h.rec.requests).toHaveLength(1);
    expect(flow.startLines).toEqual(['SIP/2.0 500 Server Internal Error', 'SIP/2.0 500 Server Internal Error']);
  });

  it('a provisional response given with respondStateless is an ordinary one: it makes the transaction', () => {
    const { h, flow, req } = setup();
    h.onRequest = (r, tx) => tx.respondStateless(createResponse(r, 100));
    h.layer.receiveRequest(req, flow);
    const tx = h.rec.requests[0]!.tx;
    expect(tx.state).toBe('proceeding');
    h.layer.receiveRequest(req, flow);
    expect(flow.startLines).toEqual(['SIP/2.0 100 Trying', 'SIP/2.0 100 Trying']);
  });

  it('after a stateless final response, further responses are discarded and counted', () => {
    const { h, flow, req } = setup();
    h.onRequest = (r, tx) => tx.respondStateless(createResponse(r, 200));
    h.layer.receiveRequest(req, flow);
    const tx = h.rec.requests[0]!.tx;
    tx.respond(createResponse(req, 500));
    tx.respondStateless(createResponse(req, 500));
    expect(flow.startLines).toEqual(['SIP/2.0 200 OK']);
    expect(h.layer.stats().responsesDiscarded).toBe(2);
    expect(h.layer.size).toBe(0);
  });

  it('sends the bytes the TU serialized early, as given', () => {
    const { h, flow, req } = setup();
    h.onRequest = (_r, tx) => tx.keepNoState();
    h.layer.receiveRequest(req, flow);
    const res = createResponse(req, 200);
    const bytes = serialize(res);
    h.rec.requests[0]!.tx.respondStateless(res, bytes);
    expect(flow.sent).toHaveLength(1);
    expect(flow.sent[0]).toBe(bytes);
  });

  it('a final respondStateless after a provisional one ends the transaction it made, on sending', () => {
    const { h, flow, req } = setup();
    h.onRequest = (r, tx) => tx.respondStateless(createResponse(r, 100));
    h.layer.receiveRequest(req, flow);
    const tx = h.rec.requests[0]!.tx;
    const bytes = serialize(createResponse(req, 200));
    tx.respondStateless(createResponse(req, 200), bytes);
    expect(tx.state).toBe('terminated');
    expect(flow.sent[1]).toBe(bytes);
    expect(h.layer.stats()).toMatchObject({ serverCreated: 1, endedStateless: 1 });
  });

  it('a failed stateless send reaches the TU as a transport error', () => {
    const { h, flow, req } = setup();
    flow.failSends = true;
    h.onRequest = (r, tx) => tx.respondStateless(createResponse(r, 200));
    h.layer.receiveRequest(req, flow);
    expect(h.rec.errors.map((e) => e.error)).toEqual(['transport error']);
    expect(h.rec.errors[0]!.tx).toBe(h.rec.requests[0]!.tx);
    expect(h.layer.stats().transportErrors).toBe(1);
  });

  it('over TCP the stateless answer is not counted as a Timer J saved', () => {
    const { h, flow, req } = setup('TCP');
    h.onRequest = (r, tx) => tx.respondStateless(createResponse(r, 200));
    h.layer.receiveRequest(req, flow);
    expect(flow.startLines).toEqual(['SIP/2.0 200 OK']);
    expect(h.layer.stats()).toMatchObject({ serverCreated: 0, endedStateless: 0 });
  });

  it('only the methods named are deferred: an OPTIONS gets its transaction at once', () => {
    const { h, flow } = setup();
    let sizeDuring = -1;
    h.onRequest = () => (sizeDuring = h.layer.size);
    h.layer.receiveRequest(request({ method: 'OPTIONS' }), flow);
    expect(sizeDuring).toBe(1);
  });

  it('INVITE, ACK and CANCEL are never deferred', () => {
    const h = harness({ deferredMethods: ['INVITE', 'CANCEL', 'ACK'], detectMergedRequests: false });
    const flow = h.flow();
    let sizeDuring = -1;
    h.onRequest = () => (sizeDuring = h.layer.size);
    h.layer.receiveRequest(request({ method: 'INVITE' }), flow);
    expect(sizeDuring).toBe(1);
  });

  it('a request the §8.2.2.2 merge check must file is not deferred', () => {
    const { h, flow, req } = setup('UDP', { detectMergedRequests: true });
    let sizeDuring = -1;
    h.onRequest = () => (sizeDuring = h.layer.size);
    h.layer.receiveRequest(req, flow);
    expect(sizeDuring).toBe(1);
  });

  it('an RFC 2543 request (no cookie branch) is not deferred', () => {
    const { h, flow } = setup();
    let sizeDuring = -1;
    h.onRequest = () => (sizeDuring = h.layer.size);
    h.layer.receiveRequest(request({ method: 'REGISTER', branch: '2543-x' }), flow);
    expect(sizeDuring).toBe(1);
  });
});
