import '../../support/property-seed.js';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createResponse } from '../../../src/sip/response.js';
import type { SipRequest } from '../../../src/sip/message.js';
import { newBranch, rfc2543Key, MAGIC_COOKIE, type ClientTransaction } from '../../../src/transaction/transaction-layer.js';
import { ackFor, clientUser, harness, parse, request, response } from './harness.js';

describe('server transaction matching with the magic cookie (§17.2.3)', () => {
  it('a request with the same branch, sent-by and method is a retransmission: absorbed, not passed to the TU', () => {
    const h = harness();
    const flow = h.flow();
    const req = request({ method: 'OPTIONS', branch: 'z9hG4bKabc' });
    h.layer.receiveRequest(req, flow);
    h.layer.receiveRequest(request({ method: 'OPTIONS', branch: 'z9hG4bKabc' }), flow);
    expect(h.rec.requests).toHaveLength(1);
    expect(h.layer.stats().retransmissionsAbsorbed).toBe(1);
  });

  it('branch and sent-by are compared as written (documented departure from §7.3.1: a retransmission repeats its bytes)', () => {
    const h = harness({ detectMergedRequests: false });
    const flow = h.flow();
    h.layer.receiveRequest(request({ branch: 'z9hG4bKAbC', sentBy: 'client.example.com:5060' }), flow);
    h.layer.receiveRequest(request({ branch: 'z9hG4bKaBc', sentBy: 'client.example.com:5060' }), flow);
    h.layer.receiveRequest(request({ branch: 'z9hG4bKAbC', sentBy: 'Client.Example.com:5060' }), flow);
    expect(h.rec.requests).toHaveLength(3);
  });

  it('drops (and counts) a new request when 8 live transactions already share its branch', () => {
    const h = harness({ detectMergedRequests: false });
    const flow = h.flow();
    for (let port = 1; port <= 9; port++) h.layer.receiveRequest(request({ branch: 'z9hG4bKsame', sentBy: `client.example.com:${port}` }), flow);
    expect(h.rec.requests).toHaveLength(8);
    expect(h.layer.stats().branchReuseDropped).toBe(1);
    expect(flow.sent).toHaveLength(0);
  });

  it('an INVITE, its CANCEL and a request from another sent-by share a branch and stay apart; each ends on its own', () => {
    const h = harness({ detectMergedRequests: false });
    const flow = h.flow('TCP');
    const invite = request({ method: 'INVITE', branch: 'z9hG4bKsame', transport: 'TCP' });
    const other = request({ method: 'INVITE', branch: 'z9hG4bKsame', transport: 'TCP', sentBy: 'other.example.com' });
    const cancel = request({ method: 'CANCEL', branch: 'z9hG4bKsame', transport: 'TCP' });
    h.layer.receiveRequest(invite, flow);
    h.layer.receiveRequest(other, flow);
    h.layer.receiveRequest(cancel, flow);
    expect(h.layer.size).toBe(3);
    const [inv, oth] = h.rec.requests.map((r) => r.tx);
    expect(h.rec.cancels[0]!.inviteTx).toBe(inv);
    // the middle of the chain ends first, then the head, then the tail
    oth!.respond(createResponse(other, 486, { toTag: 'o' }));
    h.layer.receiveRequest(ackFor(other, oth!.lastResponse!), flow);
    expect(h.layer.size).toBe(2);
    h.rec.cancels[0]!.tx.respond(createResponse(cancel, 200));
    expect(h.layer.size).toBe(1);
    h.layer.receiveRequest(invite, flow); // still matched
    expect(h.rec.requests).toHaveLength(2);
    inv!.respond(createResponse(invite, 487, { toTag: 'i' }));
    h.layer.receiveRequest(ackFor(invite, inv!.lastResponse!), flow);
    expect(h.layer.size).toBe(0);
  });

  it('the same branch from another sent-by is another transaction', () => {
    const h = harness();
    const flow = h.flow();
    h.layer.receiveRequest(request({ branch: 'z9hG4bKabc', sentBy: 'a.example.com', callId: 'c1' }), flow);
    h.layer.receiveRequest(request({ branch: 'z9hG4bKabc', sentBy: 'b.example.com', callId: 'c2' }), flow);
    h.layer.receiveRequest(request({ branch: 'z9hG4bKabc', sentBy: 'a.example.com:5080', callId: 'c3' }), flow);
    expect(h.rec.requests).toHaveLength(3);
    expect(h.layer.size).toBe(3);
  });

  it('the same branch with another method is another transaction (CANCEL is its own transaction)', () => {
    const h = harness();
    const flow = h.flow();
    const invite = request({ method: 'INVITE', branch: 'z9hG4bKinv' });
    h.layer.receiveRequest(invite, flow);
    h.layer.receiveRequest(request({ method: 'CANCEL', branch: 'z9hG4bKinv' }), flow);
    expect(h.rec.requests).toHaveLength(1);
    expect(h.rec.cancels).toHaveLength(1);
    expect(h.rec.cancels[0]!.tx).not.toBe(h.rec.requests[0]!.tx);
    expect(h.layer.size).toBe(2);
  });

  it('the ACK for a non-2xx final response matches the INVITE transaction and is absorbed (→ Confirmed)', () => {
    const h = harness();
    const flow = h.flow();
    const invite = request({ method: 'INVITE' });
    h.layer.receiveRequest(invite, flow);
    const tx = h.rec.requests[0]!.tx;
    tx.respond(createResponse(invite, 404, { toTag: 'srv' }));
    h.layer.receiveRequest(ackFor(invite, tx.lastResponse!), flow);
    expect(tx.state).toBe('confirmed');
    expect(h.rec.acks).toEqual([]);
    expect(h.layer.stats().strayAcks).toBe(0);
  });

  it('an ACK matching no transaction (the ACK for a 2xx, its own branch) goes to the TU and is counted', () => {
    const h = harness();
    const flow = h.flow();
    const ack = request({ method: 'ACK', toTag: 'x' });
    h.layer.receiveRequest(ack, flow);
    expect(h.rec.acks).toEqual([{ ack, flow, inviteTx: undefined }]);
    expect(h.layer.stats().strayAcks).toBe(1);
    expect(h.layer.size).toBe(0);
    expect(flow.sent).toHaveLength(0);
  });
});

describe('CANCEL (§9.2)', () => {
  it('findInviteForCancel locates the INVITE server transaction; onCancel gets both transactions', () => {
    const h = harness();
    const flow = h.flow();
    const invite = request({ method: 'INVITE', branch: 'z9hG4bKinv', cseq: 7 });
    h.layer.receiveRequest(invite, flow);
    const cancel = request({ method: 'CANCEL', branch: 'z9hG4bKinv', cseq: 7 });
    expect(h.layer.findInviteForCancel(cancel)).toBe(h.rec.requests[0]!.tx);
    h.layer.receiveRequest(cancel, flow);
    expect(h.rec.cancels[0]!.inviteTx).toBe(h.rec.requests[0]!.tx);
    expect(h.rec.cancels[0]!.tx.kind).toBe('nist');
  });

  it('a CANCEL for no live INVITE gets inviteTx undefined (the TU answers 481)', () => {
    const h = harness();
    const flow = h.flow();
    h.layer.receiveRequest(request({ method: 'CANCEL', branch: 'z9hG4bKnone' }), flow);
    expect(h.rec.cancels).toHaveLength(1);
    expect(h.rec.cancels[0]!.inviteTx).toBeUndefined();
  });

  it('a CANCEL from another sent-by does not cancel the INVITE', () => {
    const h = harness();
    const flow = h.flow();
    h.layer.receiveRequest(request({ method: 'INVITE', branch: 'z9hG4bKinv' }), flow);
    expect(h.layer.findInviteForCancel(request({ method: 'CANCEL', branch: 'z9hG4bKinv', sentBy: 'evil.example.com' }))).toBeUndefined();
  });

  it('a retransmitted CANCEL is absorbed and gets the CANCEL transaction’s last response', () => {
    const h = harness();
    const flow = h.flow();
    h.layer.receiveRequest(request({ method: 'INVITE', branch: 'z9hG4bKinv' }), flow);
    const cancel = request({ method: 'CANCEL', branch: 'z9hG4bKinv' });
    h.layer.receiveRequest(cancel, flow);
    h.rec.cancels[0]!.tx.respond(createResponse(cancel, 200));
    h.layer.receiveRequest(request({ method: 'CANCEL', branch: 'z9hG4bKinv' }), flow);
    expect(h.rec.cancels).toHaveLength(1);
    expect(flow.startLines).toEqual(['SIP/2.0 200 OK', 'SIP/2.0 200 OK']);
  });

  it('without an onCancel hook, a CANCEL goes to onRequest like any request', () => {
    const h = harness({ withCancelHook: false });
    h.layer.receiveRequest(request({ method: 'CANCEL' }), h.flow());
    expect(h.rec.requests.map((r) => r.req.method)).toEqual(['CANCEL']);
  });

  it('findInviteForCancel finds nothing once the INVITE transaction terminated', () => {
    const h = harness();
    const flow = h.flow('TCP');
    const invite = request({ method: 'INVITE', branch: 'z9hG4bKinv', transport: 'TCP' });
    h.layer.receiveRequest(invite, flow);
    const tx = h.rec.requests[0]!.tx;
    tx.respond(createResponse(invite, 486, { toTag: 'x' }));
    h.layer.receiveRequest(ackFor(invite, tx.lastResponse!), flow);
    expect(tx.state).toBe('terminated');
    expect(h.layer.findInviteForCancel(request({ method: 'CANCEL', branch: 'z9hG4bKinv', transport: 'TCP' }))).toBeUndefined();
  });
});

describe('RFC 2543 matching without the magic cookie (§17.2.3)', () => {
  const old = { branch: null, sentBy: 'old.example.com' } as const;

  it('a retransmitted INVITE (same Request-URI, tags, Call-ID, CSeq, top Via) is absorbed', () => {
    const h = harness();
    const flow = h.flow();
    h.layer.receiveRequest(request({ method: 'INVITE', ...old }), flow);
    h.layer.receiveRequest(request({ method: 'INVITE', ...old }), flow);
    expect(h.rec.requests).toHaveLength(1);
  });

  it('a branch without the cookie is matched the RFC 2543 way too', () => {
    const h = harness();
    const flow = h.flow();
    h.layer.receiveRequest(request({ method: 'OPTIONS', branch: '1234' }), flow);
    h.layer.receiveRequest(request({ method: 'OPTIONS', branch: '1234' }), flow);
    expect(h.rec.requests).toHaveLength(1);
    expect(h.layer.size).toBe(1);
  });

  it('a different CSeq, From tag, Call-ID, Request-URI or top Via makes a new transaction', () => {
    const h = harness({ detectMergedRequests: false });
    const flow = h.flow();
    h.layer.receiveRequest(request({ method: 'INVITE', ...old }), flow);
    h.layer.receiveRequest(request({ method: 'INVITE', ...old, cseq: 2 }), flow);
    h.layer.receiveRequest(request({ method: 'INVITE', ...old, fromTag: 'other' }), flow);
    h.layer.receiveRequest(request({ method: 'INVITE', ...old, callId: 'other' }), flow);
    h.layer.receiveRequest(request({ method: 'INVITE', ...old, uri: 'sip:carol@example.com' }), flow);
    h.layer.receiveRequest(request({ method: 'INVITE', ...old, sentBy: 'other.example.com' }), flow);
    h.layer.receiveRequest(request({ method: 'INVITE', ...old, toTag: 'dialog' }), flow);
    expect(h.rec.requests).toHaveLength(7);
  });

  it('the ACK matches when its To tag is the one of the response sent (→ Confirmed), not otherwise', () => {
    const h = harness();
    const flow = h.flow();
    const invite = request({ method: 'INVITE', ...old });
    h.layer.receiveRequest(invite, flow);
    const tx = h.rec.requests[0]!.tx;
    tx.respond(createResponse(invite, 486, { toTag: 'srv' }));
    h.layer.receiveRequest(request({ method: 'ACK', ...old, toTag: 'wrong' }), flow);
    expect(tx.state).toBe('completed');
    expect(h.rec.acks).toHaveLength(1);
    h.layer.receiveRequest(request({ method: 'ACK', ...old, toTag: 'srv' }), flow);
    expect(tx.state).toBe('confirmed');
    expect(h.rec.acks).toHaveLength(1);
  });

  it('the ACK for a re-INVITE (To tag already in the INVITE) matches', () => {
    const h = harness();
    const flow = h.flow();
    const reinvite = request({ method: 'INVITE', ...old, toTag: 'dlg' });
    h.layer.receiveRequest(reinvite, flow);
    const tx = h.rec.requests[0]!.tx;
    tx.respond(createResponse(reinvite, 488));
    h.layer.receiveRequest(request({ method: 'ACK', ...old, toTag: 'dlg' }), flow);
    expect(tx.state).toBe('confirmed');
  });

  it('findInviteForCancel matches a cookie-less CANCEL to its INVITE', () => {
    const h = harness();
    const flow = h.flow();
    h.layer.receiveRequest(request({ method: 'INVITE', ...old }), flow);
    h.layer.receiveRequest(request({ method: 'CANCEL', ...old }), flow);
    expect(h.rec.cancels[0]!.inviteTx).toBe(h.rec.requests[0]!.tx);
    expect(h.layer.findInviteForCancel(request({ method: 'CANCEL', ...old, cseq: 9 }))).toBeUndefined();
  });

  it('rfc2543Key differs from every cookie key', () => {
    const r = request({ branch: null });
    expect(rfc2543Key(r, 'OPTIONS', '')!.startsWith(MAGIC_COOKIE)).toBe(false);
    expect(rfc2543Key(r, 'OPTIONS', '')!.charCodeAt(0)).toBe(1);
  });
});

describe('merged requests (§8.2.2.2)', () => {
  it('a request without To tag, with the From tag, Call-ID and CSeq of a live transaction but another branch, is answered 482 by the layer', () => {
    const h = harness();
    const flow = h.flow();
    h.layer.receiveRequest(request({ method: 'INVITE', branch: 'z9hG4bKpath1' }), flow);
    h.layer.receiveRequest(request({ method: 'INVITE', branch: 'z9hG4bKpath2', sentBy: 'proxy2.example.com' }), flow);
    expect(h.rec.requests).toHaveLength(1);
    expect(flow.startLines).toEqual(['SIP/2.0 482 Loop Detected']);
    expect(h.layer.stats().merged482).toBe(1);
    // its retransmission is absorbed by its own transaction, which resends the 482
    h.layer.receiveRequest(request({ method: 'INVITE', branch: 'z9hG4bKpath2', sentBy: 'proxy2.example.com' }), flow);
    expect(flow.startLines).toEqual(['SIP/2.0 482 Loop Detected', 'SIP/2.0 482 Loop Detected']);
    expect(h.layer.stats().merged482).toBe(1);
  });

  it('a request with a To tag, another CSeq, or after the first transaction ended is not merged', () => {
    const h = harness();
    const flow = h.flow('TCP');
    h.onRequest = () => {};
    h.layer.receiveRequest(request({ method: 'MESSAGE', branch: 'z9hG4bK1', transport: 'TCP' }), flow);
    h.layer.receiveRequest(request({ method: 'MESSAGE', branch: 'z9hG4bK2', transport: 'TCP', toTag: 'in-dialog' }), flow);
    h.layer.receiveRequest(request({ method: 'MESSAGE', branch: 'z9hG4bK3', transport: 'TCP', cseq: 2 }), flow);
    expect(h.rec.requests).toHaveLength(3);
    h.rec.requests[0]!.tx.respond(createResponse(h.rec.requests[0]!.req, 200));
    h.layer.receiveRequest(request({ method: 'MESSAGE', branch: 'z9hG4bK4', transport: 'TCP' }), flow);
    expect(h.rec.requests).toHaveLength(4);
    expect(h.layer.stats().merged482).toBe(0);
  });

  it('finds the merged transaction among several live ones with the same Call-ID (REGISTER after a 401), and unfiles them as they end', () => {
    const h = harness();
    const flow = h.flow('UDP');
    h.onRequest = (req, tx) => tx.respond(createResponse(req, req.cseq()!.seq === 1 ? 401 : 200));
    h.layer.receiveRequest(request({ method: 'REGISTER', branch: 'z9hG4bKr1', cseq: 1 }), flow);
    h.clock.advance(1000);
    h.layer.receiveRequest(request({ method: 'REGISTER', branch: 'z9hG4bKr2', cseq: 2 }), flow);
    h.clock.advance(1000);
    h.layer.receiveRequest(request({ method: 'REGISTER', branch: 'z9hG4bKr3', cseq: 3 }), flow);
    expect(h.rec.requests).toHaveLength(3);
    // a copy of the first (oldest in the chain) with another branch
    h.layer.receiveRequest(request({ method: 'REGISTER', branch: 'z9hG4bKcopy1', cseq: 1 }), flow);
    expect(h.layer.stats().merged482).toBe(1);
    // the first ends (Timer J); the middle one is unfiled next, the last still detects copies
    h.clock.advance(64 * 500 - 2000);
    h.layer.receiveRequest(request({ method: 'REGISTER', branch: 'z9hG4bKcopy2', cseq: 2 }), flow);
    expect(h.layer.stats().merged482).toBe(2);
    h.clock.advance(1000);
    h.layer.receiveRequest(request({ method: 'REGISTER', branch: 'z9hG4bKcopy3', cseq: 3 }), flow);
    expect(h.layer.stats().merged482).toBe(3);
    h.layer.receiveRequest(request({ method: 'REGISTER', branch: 'z9hG4bKlate2', cseq: 2 }), flow);
    expect(h.layer.stats().merged482).toBe(3); // the second had ended: a new transaction, passed to the TU
    expect(h.rec.requests).toHaveLength(4);
    h.clock.advance(10 * 64 * 500);
    expect(h.layer.size).toBe(0);
  });

  it('a Call-ID shared by many live transactions: only the first 8 are filed, so every check stays bounded', () => {
    const h = harness();
    const flow = h.flow('UDP');
    h.onRequest = (req, tx) => tx.respond(createResponse(req, 200));
    for (let cseq = 1; cseq <= 10; cseq++) h.layer.receiveRequest(request({ branch: `z9hG4bKo${cseq}`, cseq }), flow);
    expect(h.rec.requests).toHaveLength(10);
    h.layer.receiveRequest(request({ branch: 'z9hG4bKcopy1', cseq: 1 }), flow);
    expect(h.layer.stats().merged482).toBe(1);
    h.layer.receiveRequest(request({ branch: 'z9hG4bKcopy10', cseq: 10 }), flow);
    expect(h.layer.stats().merged482).toBe(1); // not filed: passed to the TU
    expect(h.rec.requests).toHaveLength(11);
  });

  it('detectMergedRequests: false passes both to the TU (a proxy with spirals)', () => {
    const h = harness({ detectMergedRequests: false });
    const flow = h.flow();
    h.layer.receiveRequest(request({ method: 'INVITE', branch: 'z9hG4bKpath1' }), flow);
    h.layer.receiveRequest(request({ method: 'INVITE', branch: 'z9hG4bKpath2' }), flow);
    expect(h.rec.requests).toHaveLength(2);
  });
});

describe('the transaction cap', () => {
  it('a new request over maxTransactions gets a stateless 503 with Retry-After, counted, not passed to the TU', () => {
    const warnings: object[] = [];
    const logger = { debug() {}, info() {}, warn: (o: object) => warnings.push(o) };
    const h = harness({ maxTransactions: 2, retryAfter: 7, logger });
    const flow = h.flow();
    h.layer.receiveRequest(request({ callId: 'c1' }), flow);
    h.layer.receiveRequest(request({ callId: 'c2' }), flow);
    h.layer.receiveRequest(request({ callId: 'c3' }), flow);
    h.layer.receiveRequest(request({ callId: 'c4' }), flow);
    expect(h.rec.requests).toHaveLength(2);
    expect(flow.startLines).toEqual(['SIP/2.0 503 Service Unavailable', 'SIP/2.0 503 Service Unavailable']);
    const res = parse(flow.sentText[0]!);
    expect(res.get('retry-after')).toBe('7');
    expect(res.callId()).toBe('c3');
    expect(h.layer.stats().rejectedOverCap).toBe(2);
    expect(h.layer.size).toBe(2);
    expect(warnings).toHaveLength(1); // one line per episode, not per request
  });

  it('retransmissions of live transactions and ACKs still match over the cap; room frees when one terminates', () => {
    const h = harness({ maxTransactions: 1 });
    const flow = h.flow('TCP');
    const first = request({ callId: 'c1', transport: 'TCP' });
    h.layer.receiveRequest(first, flow);
    h.layer.receiveRequest(first, flow);
    expect(h.layer.stats().rejectedOverCap).toBe(0);
    h.layer.receiveRequest(request({ method: 'ACK', transport: 'TCP' }), flow);
    expect(flow.sent).toHaveLength(0); // an ACK is never answered
    h.rec.requests[0]!.tx.respond(createResponse(first, 200));
    h.layer.receiveRequest(request({ callId: 'c2', transport: 'TCP' }), flow);
    expect(h.rec.requests).toHaveLength(2);
  });

  it('client transactions count toward the cap', () => {
    const h = harness({ maxTransactions: 1 });
    const flow = h.flow();
    h.layer.createClientTransaction(request(), { flow, reliable: false }, clientUser());
    h.layer.receiveRequest(request(), flow);
    expect(h.rec.requests).toHaveLength(0);
    expect(h.layer.stats().rejectedOverCap).toBe(1);
  });
});

describe('client transaction matching (§17.1.3) and stray responses', () => {
  it('a response matches by top Via branch and CSeq method: the 200 for a CANCEL does not reach the INVITE', () => {
    const h = harness();
    const flow = h.flow();
    const branch = newBranch();
    const invite = request({ method: 'INVITE', branch });
    const cancel = request({ method: 'CANCEL', branch });
    const inviteUser = clientUser();
    const cancelUser = clientUser();
    h.layer.createClientTransaction(invite, { flow, reliable: false }, inviteUser);
    h.layer.receiveResponse(response(invite, 180), flow);
    h.layer.createClientTransaction(cancel, { flow, reliable: false }, cancelUser);
    h.layer.receiveResponse(response(cancel, 200), flow);
    h.layer.receiveResponse(response(invite, 487), flow);
    expect(inviteUser.statuses).toEqual([180, 487]);
    expect(cancelUser.statuses).toEqual([200]);
  });

  it('a response matching no client transaction goes to onStrayResponse and is counted', () => {
    const h = harness();
    const flow = h.flow();
    const res = response(request(), 200);
    h.layer.receiveResponse(res, flow);
    expect(h.rec.strays).toEqual([res]);
    expect(h.layer.stats().strayResponses).toBe(1);
  });

  it('createClientTransaction refuses an ACK, a request without a cookie branch, and a branch in use', () => {
    const h = harness();
    const flow = h.flow();
    expect(() => h.layer.createClientTransaction(request({ method: 'ACK' }), { flow, reliable: false }, clientUser())).toThrow(/ACK/);
    expect(() => h.layer.createClientTransaction(request({ branch: 'abc' }), { flow, reliable: false }, clientUser())).toThrow(/z9hG4bK/);
    const r = request({ branch: 'z9hG4bKdup' });
    h.layer.createClientTransaction(r, { flow, reliable: false }, clientUser());
    expect(() => h.layer.createClientTransaction(request({ branch: 'z9hG4bKdup' }), { flow, reliable: false }, clientUser())).toThrow(/in use/);
    expect(h.layer.size).toBe(1);
  });

  it('an INVITE and its CANCEL share the branch; each client transaction ends on its own', () => {
    const h = harness();
    const flow = h.flow('TCP');
    const branch = newBranch();
    const invite = request({ method: 'INVITE', branch, transport: 'TCP' });
    const cancel = request({ method: 'CANCEL', branch, transport: 'TCP' });
    const iu = clientUser();
    h.layer.createClientTransaction(invite, { flow, reliable: true }, iu);
    h.layer.createClientTransaction(cancel, { flow, reliable: true }, clientUser());
    h.layer.receiveResponse(response(cancel, 200), flow); // the CANCEL (chain head) ends
    expect(h.layer.size).toBe(1);
    h.layer.receiveResponse(response(invite, 487), flow);
    expect(iu.statuses).toEqual([487]);
    expect(h.layer.size).toBe(0);
  });

  it('newBranch starts with the magic cookie and does not repeat', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) seen.add(newBranch());
    expect(seen.size).toBe(20_000);
    for (const b of [...seen].slice(0, 10)) expect(b).toMatch(/^z9hG4bK[0-9a-f]{16}$/);
  });
});

describe('the table does not grow without bound', () => {
  it('is empty, with no timer left, after every kind of transaction over UDP has terminated', () => {
    const h = harness();
    const flow = h.flow('UDP');
    h.onRequest = (req, tx) => {
      if (req.method === 'INVITE' && req.callId() === 'ok') tx.respond(createResponse(req, 200, { toTag: 't' }));
      else if (req.method === 'INVITE') tx.respond(createResponse(req, 486, { toTag: 't' }));
      else tx.respond(createResponse(req, 200));
    };
    for (let i = 0; i < 50; i++) {
      h.layer.receiveRequest(request({ method: 'REGISTER', callId: `r${i}` }), flow);
      h.layer.receiveRequest(request({ method: 'INVITE', callId: i % 2 ? 'ok' : `busy${i}`, fromTag: `f${i}` }), flow);
      const c1 = request({ method: 'OPTIONS', callId: `o${i}` });
      h.layer.createClientTransaction(c1, { flow, reliable: false }, clientUser());
      h.layer.receiveResponse(response(c1, 200), flow);
      const c2 = request({ method: 'INVITE', callId: `i${i}` });
      h.layer.createClientTransaction(c2, { flow, reliable: false }, clientUser());
      h.layer.receiveResponse(response(c2, i % 2 ? 200 : 404), flow);
    }
    // an unanswered client INVITE and an unanswered server MESSAGE time out
    h.layer.createClientTransaction(request({ method: 'INVITE', callId: 'lost' }), { flow, reliable: false }, clientUser());
    h.onRequest = () => {};
    h.layer.receiveRequest(request({ method: 'MESSAGE', callId: 'never' }), flow);
    expect(h.layer.size).toBeGreaterThan(150);
    h.clock.advance(64 * 500 + 1);
    expect(h.layer.size).toBe(0);
    expect(h.layer.stats().timers).toBe(0);
    expect(h.layer.heldTimers).toBe(0);
    expect(h.clock.pendingCount).toBe(0);
  });

  it('property: whatever arrives and whatever the TU does, after 64·T1 of quiet the table and timers are empty', () => {
    type Op =
      | { k: 'req'; method: 'INVITE' | 'OPTIONS' | 'CANCEL' | 'ACK'; n: number; tcp: boolean }
      | { k: 'respond'; i: number; status: number }
      | { k: 'client'; method: 'INVITE' | 'OPTIONS'; tcp: boolean; fail: boolean }
      | { k: 'resp'; i: number; status: number }
      | { k: 'advance'; ms: number }
      | { k: 'error'; i: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ k: fc.constant('req' as const), method: fc.constantFrom('INVITE' as const, 'OPTIONS' as const, 'CANCEL' as const, 'ACK' as const), n: fc.integer({ min: 0, max: 5 }), tcp: fc.boolean() }),
      fc.record({ k: fc.constant('respond' as const), i: fc.nat(20), status: fc.constantFrom(100, 180, 200, 486) }),
      fc.record({ k: fc.constant('client' as const), method: fc.constantFrom('INVITE' as const, 'OPTIONS' as const), tcp: fc.boolean(), fail: fc.boolean() }),
      fc.record({ k: fc.constant('resp' as const), i: fc.nat(20), status: fc.constantFrom(100, 180, 200, 404) }),
      fc.record({ k: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
      fc.record({ k: fc.constant('error' as const), i: fc.nat(20) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const h = harness();
        const udp = h.flow('UDP');
        const tcp = h.flow('TCP');
        const clients: SipRequest[] = [];
        const clientTxs: ClientTransaction[] = [];
        for (const o of ops) {
          switch (o.k) {
            case 'req':
              h.layer.receiveRequest(
                request({ method: o.method, branch: `z9hG4bKp${o.n}`, callId: `c${o.n}`, transport: o.tcp ? 'TCP' : 'UDP', ...(o.method === 'ACK' ? { toTag: 't' } : {}) }),
                o.tcp ? tcp : udp,
              );
              break;
            case 'respond': {
              const r = h.rec.requests[o.i % Math.max(1, h.rec.requests.length)];
              if (r) r.tx.respond(createResponse(r.req, o.status, { toTag: 't' }));
              break;
            }
            case 'client': {
              const flow = o.tcp ? tcp : udp;
              flow.failSends = o.fail;
              const r = request({ method: o.method, transport: o.tcp ? 'TCP' : 'UDP' });
              clientTxs.push(h.layer.createClientTransaction(r, { flow, reliable: o.tcp }, clientUser()));
              flow.failSends = false;
              clients.push(r);
              break;
            }
            case 'resp': {
              const r = clients[o.i % Math.max(1, clients.length)];
              if (r) h.layer.receiveResponse(response(r, o.status), udp);
              break;
            }
            case 'error': {
              const t = clientTxs[o.i % Math.max(1, clientTxs.length)];
              if (t) t.reportTransportError();
              break;
            }
            case 'advance':
              h.clock.advance(o.ms);
              break;
          }
        }
        // what never gets a final answer: server INVITEs the TU left in Proceeding, client INVITEs in Proceeding
        for (const r of h.rec.requests) if (r.tx.state === 'proceeding') r.tx.respond(createResponse(r.req, 500, { toTag: 't' }));
        for (const c of h.rec.cancels) if (c.tx.state === 'trying' || c.tx.state === 'proceeding') c.tx.respond(createResponse(c.cancel, 200));
        for (const t of clientTxs) if (t.state === 'proceeding') t.terminate();
        h.clock.advance(64 * 500 + 1);
        expect(h.layer.size).toBe(0);
        expect(h.layer.stats().timers).toBe(0);
        expect(h.clock.pendingCount).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('close() empties the table and stops every timer', () => {
    const h = harness();
    const flow = h.flow();
    h.layer.receiveRequest(request({ method: 'INVITE' }), flow);
    h.layer.createClientTransaction(request(), { flow, reliable: false }, clientUser());
    h.layer.close();
    expect(h.layer.size).toBe(0);
    expect(h.layer.stats().timers).toBe(0);
    h.clock.advance(64 * 500);
    expect(flow.sent).toHaveLength(1); // the client request, no retransmission, no 100 Trying
  });
});
