/**
 * The stateful proxy (RFC 3261 §16) end to end over the real transaction
 * layer: validation, Route preprocessing, target determination, forwarding,
 * forking, CANCEL, Timer C, authentication, failures, and that every table
 * is empty once a call's transactions have ended.
 */
import { describe, expect, it } from 'vitest';
import { SipRequest, type SipResponse } from '../../../src/sip/message.js';
import { FakeFlow } from '../../support/fake-flow.js';
import { asRequest, binding, DOMAIN, harness, parse, PROXY_IP, proxyAuthorization, request, wire, type Sent } from './harness.js';

type H = ReturnType<typeof harness>;

function reqs(sent: Sent[], method?: string): SipRequest[] {
  return sent.map((s) => s.msg).filter((m): m is SipRequest => m instanceof SipRequest && (method === undefined || m.method === method));
}

function only(sent: Sent[], method?: string): SipRequest {
  const list = reqs(sent, method);
  expect(list).toHaveLength(1);
  return list[0]!;
}

/** Ends every transaction (64·T1 and more) and checks that nothing is left behind. */
function expectClean(h: H): void {
  h.clock.advance(200_000);
  expect(h.proxy.liveCalls).toBe(0);
  expect(h.proxy.flowIndexSize).toBe(0);
  expect(h.proxy.heldTimers).toBe(0);
  expect(h.layer.size).toBe(0);
}

function header(m: SipRequest | SipResponse, name: string): string[] {
  return m.getAll(name);
}

describe('§16.3 request validation', () => {
  it('answers 483 to a request with Max-Forwards 0 and forwards nothing', () => {
    const h = harness();
    h.locations.add(binding('sip:bob@192.0.2.20'));
    h.inject(request({ maxForwards: 0 }));
    expect(h.statuses()).toEqual([483]);
    expect(h.take()).toEqual([]);
    expectClean(h);
  });

  it('decrements Max-Forwards, and adds 70 when it is absent (§16.6 step 3)', () => {
    const h = harness();
    h.locations.add(binding('sip:bob@192.0.2.20'));
    h.inject(request({ method: 'MESSAGE', maxForwards: 5 }));
    expect(only(h.take()).maxForwards()).toBe(4);
    h.inject(request({ method: 'MESSAGE', maxForwards: null }));
    expect(only(h.take()).maxForwards()).toBe(70);
  });

  it('answers 420 with Unsupported to a Proxy-Require it does not know', () => {
    const h = harness();
    h.locations.add(binding('sip:bob@192.0.2.20'));
    h.inject(request({ extra: ['Proxy-Require: foo, bar'] }));
    const [res] = h.responses();
    expect(res!.status).toBe(420);
    expect(res!.get('unsupported')).toBe('foo, bar');
    expect(h.take()).toEqual([]);
  });

  it('answers 482 to a request that comes back unchanged (a loop), and forwards a spiral', () => {
    const h = harness();
    // bob's contact is another proxy that sends the request back to us
    h.locations.add(binding('sip:bob@192.0.2.30'));
    h.locations.add(binding('sip:bob2@192.0.2.31', { aor: `sip:bob2@${DOMAIN}` }));
    h.inject(request({ method: 'MESSAGE' }));
    const fwd = only(h.take());
    const back = new FakeFlow({ remoteAddress: '192.0.2.30' });
    // unchanged: the other proxy put the original Request-URI back
    const loop = wire(text(fwd, { ruri: `sip:bob@${DOMAIN}`, via: 'SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bK-other-1' }));
    h.inject(loop, back);
    expect(h.responses(back).map((r) => r.status)).toEqual([482]);
    // a spiral: the Request-URI changed, so the hash differs
    const spiral = wire(text(fwd, { ruri: `sip:bob2@${DOMAIN}`, via: 'SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bK-other-2' }));
    h.inject(spiral, back);
    const again = only(h.take());
    expect(again.uri).toBe('sip:bob2@192.0.2.31');
    expect(header(again, 'via')).toHaveLength(4);
  });

  it('answers 404 to a tel: Request-URI it has no route for', () => {
    const h = harness();
    h.inject(request({ ruri: 'tel:+15551234' }));
    expect(h.statuses()).toEqual([404]);
  });
});

/** The request as text, with another Request-URI and a Via on top (as the next hop would send it back). */
function text(req: SipRequest, o: { ruri: string; via: string }): string {
  const lines = [`${req.method} ${o.ruri} SIP/2.0`, `Via: ${o.via}`];
  for (const h of req.headers) if (h.name !== 'content-length') lines.push(`${h.name}: ${h.value}`);
  lines.push('Content-Length: 0');
  return lines.join('\n');
}

describe('§16.4 Route preprocessing and §16.6 step 6', () => {
  it('removes a Route naming us and follows the next one (loose routing)', () => {
    const h = harness();
    h.inject(
      request({
        method: 'MESSAGE',
        ruri: 'sip:carol@other.example.net',
        extra: [`Route: <sip:${PROXY_IP};lr>, <sip:192.0.2.40;lr>`],
      }),
    );
    const out = h.take();
    expect(out.map((s) => s.to)).toEqual(['UDP 192.0.2.40:5060']);
    const fwd = asRequest(out[0]!.msg);
    expect(fwd.uri).toBe('sip:carol@other.example.net');
    expect(header(fwd, 'route')).toEqual(['<sip:192.0.2.40;lr>']);
  });

  it('replaces a Request-URI that is our Record-Route value (strict router upstream) by the last Route value', () => {
    const h = harness();
    h.inject(
      request({
        method: 'BYE',
        toTag: 'x',
        ruri: `sip:${PROXY_IP}:5060;transport=udp;lr`,
        extra: ['Route: <sip:192.0.2.50;lr>, <sip:carol@192.0.2.60>'],
      }),
    );
    const out = h.take();
    expect(out.map((s) => s.to)).toEqual(['UDP 192.0.2.50:5060']);
    const fwd = asRequest(out[0]!.msg);
    expect(fwd.uri).toBe('sip:carol@192.0.2.60');
    expect(header(fwd, 'route')).toEqual(['<sip:192.0.2.50;lr>']);
  });

  it('sends to a strict router next hop with the Request-URI moved to the end of the Route (§16.6 step 6)', () => {
    const h = harness();
    h.inject(request({ method: 'BYE', toTag: 'x', ruri: 'sip:carol@192.0.2.60', extra: [`Route: <sip:${PROXY_IP};lr>, <sip:192.0.2.70>`] }));
    const out = h.take();
    expect(out.map((s) => s.to)).toEqual(['UDP 192.0.2.70:5060']);
    const fwd = asRequest(out[0]!.msg);
    expect(fwd.uri).toBe('sip:192.0.2.70');
    expect(header(fwd, 'route')).toEqual(['<sip:carol@192.0.2.60>']);
  });
});

describe('§16.5 target determination', () => {
  it('answers 480 for a user without bindings (auth off: any user may exist)', () => {
    const h = harness();
    h.inject(request());
    expect(h.statuses()).toEqual([480]);
    expectClean(h);
  });

  it('with auth on, answers 404 for a user not in the users table and 480 for a known user without bindings', () => {
    const h = harness({ auth: true });
    h.inject(request({ from: 'sip:zed@other.example.net', ruri: `sip:nobody@${DOMAIN}` }));
    expect(h.statuses()).toEqual([404]);
    h.inject(request({ from: 'sip:zed@other.example.net', ruri: `sip:carol@${DOMAIN}` }));
    expect(h.statuses()).toEqual([480]);
  });

  it('answers 501 to a request addressed to this server itself, 404 to a REGISTER for our address (not a served domain)', () => {
    const h = harness();
    h.inject(request({ method: 'SUBSCRIBE', ruri: `sip:${PROXY_IP}:5060` }));
    expect(h.statuses()).toEqual([501]);
    h.inject(request({ method: 'REGISTER', ruri: `sip:${PROXY_IP}` }));
    expect(h.statuses()).toEqual([404]);
  });

  it('refuses to relay to a foreign domain for a foreign caller (403), unless --open-relay', () => {
    const h = harness();
    h.inject(request({ ruri: 'sip:carol@192.0.2.90', from: 'sip:zed@other.example.net' }));
    const [res] = h.responses();
    expect(res!.status).toBe(403);
    expect(res!.reason).toBe('Relaying Denied');
    expect(h.take()).toEqual([]);

    const open = harness({ proxy: { openRelay: true } });
    open.inject(request({ ruri: 'sip:carol@192.0.2.90', from: 'sip:zed@other.example.net' }));
    expect(open.take().map((s) => s.to)).toEqual(['UDP 192.0.2.90:5060']);
  });

  it('lets a caller of our domain reach another domain (auth off: trusted)', () => {
    const h = harness();
    h.inject(request({ method: 'MESSAGE', ruri: 'sip:carol@192.0.2.90;transport=tcp' }));
    expect(h.take().map((s) => s.to)).toEqual(['TCP 192.0.2.90:5060']);
  });

  it('resolves a foreign domain through the resolver (RFC 3263)', async () => {
    const h = harness();
    h.resolver.names.set('other.example.net', [{ protocol: 'UDP', address: '192.0.2.91', port: 5080 }]);
    h.inject(request({ method: 'MESSAGE', ruri: 'sip:carol@other.example.net' }));
    expect(h.take()).toEqual([]);
    await Promise.resolve();
    await Promise.resolve();
    expect(h.take().map((s) => s.to)).toEqual(['UDP 192.0.2.91:5080']);
  });

  it('answers an unresolvable foreign domain with 500 (a 503 best response is not passed up)', async () => {
    const h = harness();
    h.inject(request({ method: 'MESSAGE', ruri: 'sip:carol@nowhere.example.net' }));
    await Promise.resolve();
    await Promise.resolve();
    expect(h.statuses()).toEqual([500]);
    expect(h.outcomes).toEqual(['unresolvable']);
    expectClean(h);
  });

  it('turns a binding Path into Route headers and sends to the first (RFC 3327 §5.3)', () => {
    const h = harness();
    h.locations.add(binding('sip:bob@10.0.0.5:5060', { path: ['<sip:192.0.2.80;lr>', '<sip:192.0.2.81;lr>'] }));
    h.inject(request({ method: 'MESSAGE' }));
    const out = h.take();
    expect(out.map((s) => s.to)).toEqual(['UDP 192.0.2.80:5060']);
    const fwd = asRequest(out[0]!.msg);
    expect(fwd.uri).toBe('sip:bob@10.0.0.5:5060');
    expect(header(fwd, 'route')).toEqual(['<sip:192.0.2.80;lr>', '<sip:192.0.2.81;lr>']);
  });

  it('sends to a flow-bound binding on its flow; a closed flow gives 480, an Outbound one 430', () => {
    const h = harness();
    const ws = h.core.addFlow(new FakeFlow({ protocol: 'WS', id: 'ws#1', remoteAddress: '192.0.2.21', remotePort: 40000, localAddress: PROXY_IP, localPort: 8080 }));
    h.locations.add(binding('sip:abc@xyz.invalid;transport=ws', { flowId: 'ws#1', transport: 'WS' }));
    h.inject(request({ method: 'MESSAGE' }));
    expect(h.take()).toEqual([]);
    expect(ws.startLines).toEqual(['MESSAGE sip:abc@xyz.invalid;transport=ws SIP/2.0']);
    expect(ws.sentText[0]).toMatch(/^Via: SIP\/2\.0\/WS 192\.0\.2\.1:8080;branch=z9hG4bK/m);

    const gone = harness();
    gone.locations.add(binding('sip:abc@xyz.invalid;transport=ws', { flowId: 'ws#9', transport: 'WS' }));
    gone.inject(request({ method: 'MESSAGE' }));
    expect(gone.statuses()).toEqual([480]);
    const ob = harness();
    ob.locations.add(binding('sip:abc@xyz.invalid;transport=ws', { flowId: 'ws#9', transport: 'WS', regId: 1, instanceId: 'urn:uuid:1' }));
    ob.inject(request({ method: 'MESSAGE' }));
    expect(ob.statuses()).toEqual([430]);
    expect(ob.outcomes).toEqual(['flow-gone']);
    expectClean(ob);
  });
});

describe('§16.6 forwarding', () => {
  it('adds our Via (outgoing transport, a branch with the loop hash, rport) and one Record-Route for an INVITE on one transport', () => {
    const h = harness();
    h.locations.add(binding('sip:bob@192.0.2.20:5060'));
    h.inject(request());
    const fwd = only(h.take());
    const vias = header(fwd, 'via');
    expect(vias).toHaveLength(2);
    expect(vias[0]).toMatch(/^SIP\/2\.0\/UDP 192\.0\.2\.1:5060;branch=z9hG4bK[0-9a-f]{16}\.sb[0-9a-f]{16};rport$/);
    expect(header(fwd, 'record-route')).toEqual([`<sip:${PROXY_IP}:5060;transport=udp;lr>`]);
    expect(fwd.uri).toBe('sip:bob@192.0.2.20:5060');
  });

  it('does not record-route MESSAGE, OPTIONS or in-dialog requests', () => {
    const h = harness();
    h.locations.add(binding('sip:bob@192.0.2.20:5060'));
    for (const method of ['MESSAGE', 'OPTIONS']) {
      h.inject(request({ method }));
      expect(header(only(h.take()), 'record-route')).toEqual([]);
    }
    h.inject(request({ method: 'INVITE', toTag: 'x', ruri: 'sip:bob@192.0.2.20:5060', extra: [`Route: <sip:${PROXY_IP};lr>`] }));
    expect(header(only(h.take()), 'record-route')).toEqual([]);
  });

  it('relays provisional responses at once (not 100) and the 200, then is clean', () => {
    const h = harness();
    h.locations.add(binding('sip:bob@192.0.2.20:5060'));
    h.inject(request());
    const fwd = only(h.take());
    h.answer(fwd, 100);
    h.answer(fwd, 180);
    h.answer(fwd, 183);
    expect(h.statuses()).toEqual([180, 183]);
    h.answer(fwd, 200);
    const [ok] = h.responses();
    expect(ok!.status).toBe(200);
    // our Via is gone; the caller's is on top
    expect(header(ok!, 'via')).toEqual([header(fwd, 'via')[1]]);
    expect(h.proxied).toEqual(['INVITE']);
    expect(h.outcomes).toEqual(['2xx']);
    expectClean(h);
  });
});

describe('Record-Route across transports (RFC 5658) and flow tokens', () => {
  function wsHarness() {
    const h = harness();
    const alice = h.core.addFlow(new FakeFlow({ protocol: 'WS', id: 'ws#1', remoteAddress: '192.0.2.11', remotePort: 41000, localAddress: PROXY_IP, localPort: 8080 }));
    return { h, alice };
  }

  it('WS caller → UDP callee: two Record-Routes, the inbound one with the caller flow token; BYE from the callee goes on the WS flow', () => {
    const { h, alice } = wsHarness();
    h.locations.add(binding('sip:bob@192.0.2.20:5060'));
    h.inject(request({ via: 'SIP/2.0/WS abc.invalid;branch=z9hG4bK-ws-1' }), alice);
    const fwd = only(h.take());
    const rr = header(fwd, 'record-route');
    expect(rr).toHaveLength(2);
    expect(rr[0]).toBe(`<sip:${PROXY_IP}:5060;transport=udp;lr>`);
    expect(rr[1]).toMatch(/^<sip:sb~ws%231\.[A-Za-z0-9_-]{11}@192\.0\.2\.1:8080;transport=ws;lr>$/);
    expect(header(fwd, 'via')[0]).toMatch(/^SIP\/2\.0\/UDP 192\.0\.2\.1:5060;/);

    // the callee's in-dialog BYE: Route = the Record-Route in order, Request-URI = the caller's Contact
    const bye = [
      'BYE sip:alice@abc.invalid;transport=ws SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK-bye-1',
      'Max-Forwards: 70',
      `Route: ${rr[0]}, ${rr[1]}`,
      `From: <sip:bob@${DOMAIN}>;tag=callee`,
      `To: <sip:alice@${DOMAIN}>;tag=caller`,
      'Call-ID: c-ws-1',
      'CSeq: 1 BYE',
      'Content-Length: 0',
    ].join('\n');
    const bob = new FakeFlow({ remoteAddress: '192.0.2.20' });
    h.inject(bye, bob);
    expect(h.take()).toEqual([]);
    const onWs = alice.sentText.filter((t) => t.startsWith('BYE '));
    expect(onWs).toHaveLength(1);
    expect(onWs[0]).not.toMatch(/^Route:/m);
    expect(onWs[0]).toMatch(/^Via: SIP\/2\.0\/WS 192\.0\.2\.1:8080;/m);
  });

  it('an in-dialog request from the WS caller ignores its own flow token and goes to the Request-URI', () => {
    const { h, alice } = wsHarness();
    h.locations.add(binding('sip:bob@192.0.2.20:5060'));
    h.inject(request({ via: 'SIP/2.0/WS abc.invalid;branch=z9hG4bK-ws-2' }), alice);
    const rr = header(only(h.take()), 'record-route');
    h.inject(
      request({ method: 'BYE', toTag: 'callee', ruri: 'sip:bob@192.0.2.20:5060', via: 'SIP/2.0/WS abc.invalid;branch=z9hG4bK-ws-3', extra: [`Route: ${rr[1]}, ${rr[0]}`] }),
      alice,
    );
    const out = h.take();
    expect(out.map((s) => s.to)).toEqual(['UDP 192.0.2.20:5060']);
    expect(header(asRequest(out[0]!.msg), 'route')).toEqual([]);
  });

  it('UDP caller → WS callee: the outbound Record-Route carries the callee flow token; the caller BYE reaches the WS flow', () => {
    const h = harness();
    const bob = h.core.addFlow(new FakeFlow({ protocol: 'WS', id: 'ws#7', remoteAddress: '192.0.2.21', remotePort: 42000, localAddress: PROXY_IP, localPort: 8080 }));
    h.locations.add(binding('sip:b0b@xyz.invalid;transport=ws', { flowId: 'ws#7', transport: 'WS' }));
    h.inject(request());
    const inv = parse(bob.sent[0]!) as SipRequest;
    const rr = header(inv, 'record-route');
    expect(rr).toHaveLength(2);
    expect(rr[0]).toMatch(/^<sip:sb~ws%237\.[A-Za-z0-9_-]{11}@192\.0\.2\.1:8080;transport=ws;lr>$/);
    expect(rr[1]).toBe(`<sip:${PROXY_IP}:5060;transport=udp;lr>`);
    bob.clear();
    // the caller's route set is the Record-Route reversed
    h.inject(request({ method: 'BYE', toTag: 'callee', ruri: 'sip:b0b@xyz.invalid;transport=ws', extra: [`Route: ${rr[1]}, ${rr[0]}`] }));
    expect(h.take()).toEqual([]);
    expect(bob.startLines).toEqual(['BYE sip:b0b@xyz.invalid;transport=ws SIP/2.0']);
  });

  it('WS → WS on one transport: one Record-Route carrying both flow tokens; BYEs go both ways', () => {
    const { h, alice } = wsHarness();
    const bob = h.core.addFlow(new FakeFlow({ protocol: 'WS', id: 'ws#2', remoteAddress: '192.0.2.22', remotePort: 43000, localAddress: PROXY_IP, localPort: 8080 }));
    h.locations.add(binding('sip:b0b@xyz.invalid;transport=ws', { flowId: 'ws#2', transport: 'WS' }));
    h.inject(request({ via: 'SIP/2.0/WS abc.invalid;branch=z9hG4bK-ws-4' }), alice);
    const inv = parse(bob.sent[0]!) as SipRequest;
    const rr = header(inv, 'record-route');
    expect(rr).toHaveLength(1);
    expect(rr[0]).toMatch(/^<sip:sb~ws%231\.[A-Za-z0-9_-]{11}~ws%232\.[A-Za-z0-9_-]{11}@192\.0\.2\.1:8080;transport=ws;lr>$/);
    bob.clear();
    alice.clear();
    h.inject(request({ method: 'BYE', toTag: 'callee', ruri: 'sip:b0b@xyz.invalid;transport=ws', via: 'SIP/2.0/WS abc.invalid;branch=z9hG4bK-ws-5', extra: [`Route: ${rr[0]}`] }), alice);
    expect(bob.startLines).toEqual(['BYE sip:b0b@xyz.invalid;transport=ws SIP/2.0']);
    h.inject(
      request({ method: 'BYE', cseq: 2, toTag: 'caller', ruri: 'sip:alice@abc.invalid;transport=ws', via: 'SIP/2.0/WS xyz.invalid;branch=z9hG4bK-ws-6', extra: [`Route: ${rr[0]}`] }),
      bob,
    );
    expect(alice.startLines.filter((l) => l.startsWith('BYE'))).toEqual(['BYE sip:alice@abc.invalid;transport=ws SIP/2.0']);
  });

  it('ignores a forged flow token', () => {
    const { h, alice } = wsHarness();
    h.inject(
      request({ method: 'BYE', toTag: 'x', ruri: 'sip:carol@192.0.2.60', extra: [`Route: <sip:sb~ws%231.AAAAAAAAAAA@${PROXY_IP}:5060;transport=udp;lr>`] }),
    );
    expect(alice.sent).toEqual([]);
    expect(h.take().map((s) => s.to)).toEqual(['UDP 192.0.2.60:5060']);
  });
});

describe('§16.7 forking', () => {
  function two(h: H, q1: number | null = null, q2: number | null = null): void {
    h.locations.add(binding('sip:bob@192.0.2.20:5060', { q: q1, updatedAt: 2 }));
    h.locations.add(binding('sip:bob@192.0.2.21:5060', { q: q2, updatedAt: 1, received: '192.0.2.21:5060' }));
  }

  it('calls bindings of the same q in parallel; the first 2xx wins, the other branch gets a CANCEL', () => {
    const h = harness();
    two(h);
    h.inject(request());
    const invites = reqs(h.take(), 'INVITE');
    expect(invites.map((r) => r.uri).sort()).toEqual(['sip:bob@192.0.2.20:5060', 'sip:bob@192.0.2.21:5060']);
    expect(invites[0]!.topVia()!.branch).not.toBe(invites[1]!.topVia()!.branch);
    const [a, b] = invites;
    h.answer(a!, 180, 'ta');
    h.answer(b!, 180, 'tb');
    expect(h.statuses()).toEqual([180, 180]);
    h.answer(b!, 200, 'tb');
    expect(h.statuses()).toEqual([200]);
    const cancel = only(h.take(), 'CANCEL');
    // §9.1: the CANCEL matches the INVITE it cancels
    expect(cancel.uri).toBe(a!.uri);
    expect(cancel.topVia()!.branch).toBe(a!.topVia()!.branch);
    expect(header(cancel, 'via')).toHaveLength(1);
    expect(cancel.cseq()).toEqual({ seq: 1, method: 'CANCEL' });
    expect(cancel.callId()).toBe(a!.callId());
    h.answer(cancel, 200, 'ta');
    h.answer(a!, 487, 'ta');
    // the 487 of the cancelled branch is not passed up
    expect(h.statuses()).toEqual([]);
    expect(h.outcomes.sort()).toEqual(['2xx', '4xx']);
    expectClean(h);
  });

  it('forwards every 2xx upstream (a second fork answering too)', () => {
    const h = harness();
    two(h);
    h.inject(request());
    const [a, b] = reqs(h.take(), 'INVITE');
    h.answer(a!, 180, 'ta');
    h.answer(b!, 200, 'tb');
    h.answer(a!, 200, 'ta');
    expect(h.statuses()).toEqual([180, 200, 200]);
    expectClean(h);
  });

  it('tries a lower q group only after the higher one failed', () => {
    const h = harness();
    two(h, 1, 0.5);
    h.inject(request());
    const first = only(h.take(), 'INVITE');
    expect(first.uri).toBe('sip:bob@192.0.2.20:5060');
    h.answer(first, 486, 'ta');
    const second = only(h.take(), 'INVITE');
    expect(second.uri).toBe('sip:bob@192.0.2.21:5060');
    h.answer(second, 200, 'tb');
    expect(h.statuses()).toEqual([200]);
    expectClean(h);
  });

  it('a 6xx ends the search: pending branches are cancelled, lower groups never tried, the 6xx goes up', () => {
    const h = harness();
    two(h);
    h.locations.add(binding('sip:bob@192.0.2.22:5060', { q: 0.1, received: '192.0.2.22:5060' }));
    h.inject(request());
    const [a, b] = reqs(h.take(), 'INVITE');
    h.answer(b!, 180, 'tb');
    h.statuses();
    h.answer(a!, 603, 'ta');
    const cancel = only(h.take(), 'CANCEL');
    expect(cancel.uri).toBe(b!.uri);
    h.answer(b!, 487, 'tb');
    expect(h.statuses()).toEqual([603]);
    // only the hop-by-hop ACK of the 487: the q=0.1 binding is never called
    expect(h.take().map((s) => (s.msg as SipRequest).method)).toEqual(['ACK']);
    expectClean(h);
  });

  it('aggregates the challenges of every 401/407 into the best response (§16.7 step 7)', () => {
    const h = harness();
    two(h);
    h.inject(request());
    const [a, b] = reqs(h.take(), 'INVITE');
    h.answer(a!, 401, 'ta', [['WWW-Authenticate', 'Digest realm="a", nonce="1"']]);
    h.answer(b!, 407, 'tb', [['Proxy-Authenticate', 'Digest realm="b", nonce="2"']]);
    const [res] = h.responses();
    expect(res!.status).toBe(401);
    expect(res!.get('www-authenticate')).toBe('Digest realm="a", nonce="1"');
    expect(res!.get('proxy-authenticate')).toBe('Digest realm="b", nonce="2"');
  });

  it('sends a 500 upstream instead of a 503 best response', () => {
    const h = harness();
    h.locations.add(binding('sip:bob@192.0.2.20:5060'));
    h.inject(request({ method: 'MESSAGE' }));
    h.answer(only(h.take()), 503);
    expect(h.statuses()).toEqual([500]);
  });

  it('non-INVITE forking: the first 2xx is the answer, later ones are dropped', () => {
    const h = harness();
    two(h);
    h.inject(request({ method: 'MESSAGE' }));
    const [a, b] = reqs(h.take(), 'MESSAGE');
    h.answer(a!, 200, 'ta');
    h.answer(b!, 202, 'tb');
    expect(h.statuses()).toEqual([200]);
    expect(h.take()).toEqual([]);
    expectClean(h);
  });
});

describe('§16.10 CANCEL', () => {
  it('answers 200 hop by hop, cancels every branch with its own CANCEL, then answers the INVITE 487', () => {
    const h = harness();
    h.locations.add(binding('sip:bob@192.0.2.20:5060'));
    h.locations.add(binding('sip:bob@192.0.2.21:5060', { received: '192.0.2.21:5060' }));
    const inv = h.inject(request({ callId: 'cancel-1' })) as SipRequest;
    const [a, b] = reqs(h.take(), 'INVITE');
    h.answer(a!, 180, 'ta');
    h.answer(b!, 180, 'tb');
    h.statuses();
    h.inject(
      [
        `CANCEL ${inv.uri} SIP/2.0`,
        `Via: ${header(inv, 'via')[0]!.replace(/;rport=\d+;received=[^;]+/, ';rport')}`,
        'Max-Forwards: 70',
        `From: ${inv.get('from')}`,
        `To: ${inv.get('to')}`,
        'Call-ID: cancel-1',
        'CSeq: 1 CANCEL',
        'Content-Length: 0',
      ].join('\n'),
    );
    expect(h.statuses()).toEqual([200]);
    const cancels = reqs(h.take(), 'CANCEL');
    expect(cancels.map((c) => c.topVia()!.branch).sort()).toEqual([a!.topVia()!.branch, b!.topVia()!.branch].sort());
    h.answer(a!, 487, 'ta');
    expect(h.statuses()).toEqual([]);
    h.answer(b!, 487, 'tb');
    const [res] = h.responses();
    expect(res!.status).toBe(487);
    expect(res!.cseq()!.method).toBe('INVITE');
    expectClean(h);
  });

  it('ends a branch without a provisional response at once (no CANCEL before a 1xx, §9.1) and answers 487', () => {
    const h = harness();
    h.locations.add(binding('sip:bob@192.0.2.20:5060'));
    const inv = h.inject(request({ callId: 'cancel-2' })) as SipRequest;
    const fwd = only(h.take(), 'INVITE');
    h.inject(cancelFor(inv));
    expect(h.statuses()).toEqual([200, 487]);
    expect(h.take()).toEqual([]);
    expect(h.outcomes).toEqual(['cancelled']);
    // the callee answers 200 anyway: a stray 2xx, relayed statelessly to the caller's Via
    h.answer(fwd, 200, 'late');
    const out = h.take();
    expect(out.map((s) => s.to)).toEqual(['UDP 192.0.2.10:5060']);
    expect((out[0]!.msg as SipResponse).status).toBe(200);
    expect(header(out[0]!.msg as SipResponse, 'via')).toHaveLength(1);
    expectClean(h);
  });

  it('answers 481 to a CANCEL matching no transaction', () => {
    const h = harness();
    h.inject(cancelFor(wire(request({ callId: 'none' }))));
    expect(h.statuses()).toEqual([481]);
  });
});

function cancelFor(inv: SipRequest): string {
  return [
    `CANCEL ${inv.uri} SIP/2.0`,
    `Via: ${header(inv, 'via')[0]!.replace(/;rport=\d+;received=[^;]+/, ';rport')}`,
    'Max-Forwards: 70',
    `From: ${inv.get('from')}`,
    `To: ${inv.get('to')}`,
    `Call-ID: ${inv.callId()}`,
    `CSeq: ${inv.cseq()!.seq} CANCEL`,
    'Content-Length: 0',
  ].join('\n');
}

describe('§16.8 Timer C', () => {
  it('with a provisional response: CANCELs the branch when it fires, and the caller gets 408', () => {
    const h = harness();
    h.locations.add(binding('sip:bob@192.0.2.20:5060'));
    h.inject(request());
    const fwd = only(h.take());
    h.answer(fwd, 180);
    h.statuses();
    h.clock.advance(179_000);
    expect(h.take()).toEqual([]);
    h.clock.advance(1_000);
    const cancel = only(h.take(), 'CANCEL');
    expect(cancel.topVia()!.branch).toBe(fwd.topVia()!.branch);
    h.answer(fwd, 487);
    expect(h.statuses()).toEqual([408]);
    expect(h.outcomes).toEqual(['timer-c']);
    expectClean(h);
  });

  it('is restarted by each provisional response', () => {
    const h = harness();
    h.locations.add(binding('sip:bob@192.0.2.20:5060'));
    h.inject(request());
    const fwd = only(h.take());
    h.answer(fwd, 180);
    h.clock.advance(170_000);
    h.answer(fwd, 183);
    h.clock.advance(170_000);
    expect(reqs(h.take(), 'CANCEL')).toEqual([]);
    h.clock.advance(10_000);
    expect(reqs(h.take(), 'CANCEL')).toHaveLength(1);
  });

  it('without a provisional response: the branch is ended as a 408 (no CANCEL)', () => {
    const h = harness({ proxy: { timerCMs: 10_000 } });
    h.locations.add(binding('sip:bob@192.0.2.20:5060'));
    h.inject(request());
    h.take();
    h.clock.advance(10_000);
    expect(reqs(h.take(), 'CANCEL')).toEqual([]);
    expect(h.statuses()).toEqual([100, 408]);
    expectClean(h);
  });

  it('a CANCELled branch that never answers is ended 64·T1 later', () => {
    const h = harness();
    h.locations.add(binding('sip:bob@192.0.2.20:5060'));
    const inv = h.inject(request()) as SipRequest;
    const fwd = only(h.take());
    h.answer(fwd, 180);
    h.inject(cancelFor(inv));
    expect(h.statuses()).toEqual([180, 200]);
    h.clock.advance(32_000);
    expect(h.statuses()).toEqual([487]);
    expectClean(h);
  });
});

describe('caller authentication (§22.3)', () => {
  it('challenges a caller of our domain with 407, then forwards the request with valid credentials', () => {
    const h = harness({ auth: true });
    h.locations.add(binding('sip:bob@192.0.2.20:5060'));
    h.inject(request({ callId: 'auth-1' }));
    const [ch] = h.responses();
    expect(ch!.status).toBe(407);
    const challenges = header(ch!, 'proxy-authenticate');
    expect(challenges).toHaveLength(2);
    expect(h.take()).toEqual([]);
    h.inject(request({ callId: 'auth-1', cseq: 2, extra: [`Proxy-Authorization: ${proxyAuthorization(challenges[1]!)}`] }));
    expect(only(h.take()).method).toBe('INVITE');
  });

  it('answers 403 when the authenticated user is not the From user, or the password is wrong', () => {
    const h = harness({ auth: true });
    h.locations.add(binding('sip:bob@192.0.2.20:5060'));
    h.inject(request({ callId: 'auth-2' }));
    const ch = header(h.responses()[0]!, 'proxy-authenticate')[1]!;
    h.inject(request({ callId: 'auth-2', cseq: 2, extra: [`Proxy-Authorization: ${proxyAuthorization(ch, { username: 'carol' })}`] }));
    const [mismatch] = h.responses();
    expect(mismatch!.status).toBe(403);
    h.inject(request({ callId: 'auth-2', cseq: 3, extra: [`Proxy-Authorization: ${proxyAuthorization(ch, { password: 'wrong', nc: 2 })}`] }));
    expect(h.statuses()).toEqual([403]);
    expect(h.take()).toEqual([]);
  });

  it('does not challenge a caller of another domain, nor in-dialog requests, nor ACK', () => {
    const h = harness({ auth: true });
    h.locations.add(binding('sip:bob@192.0.2.20:5060'));
    h.inject(request({ method: 'MESSAGE', from: 'sip:zed@other.example.net' }));
    expect(only(h.take()).method).toBe('MESSAGE');
    h.inject(request({ method: 'BYE', toTag: 'x', ruri: 'sip:bob@192.0.2.20:5060', extra: [`Route: <sip:${PROXY_IP};lr>`] }));
    expect(only(h.take()).method).toBe('BYE');
  });

  it('without credentials an authenticated user may not relay to another domain: 407 first, then forwarded', () => {
    const h = harness({ auth: true });
    h.inject(request({ method: 'MESSAGE', ruri: 'sip:carol@192.0.2.90', callId: 'auth-3' }));
    const ch = header(h.responses()[0]!, 'proxy-authenticate')[0]!;
    h.inject(request({ method: 'MESSAGE', ruri: 'sip:carol@192.0.2.90', callId: 'auth-3', cseq: 2, extra: [`Proxy-Authorization: ${proxyAuthorization(ch, { method: 'MESSAGE', uri: 'sip:carol@192.0.2.90' })}`] }));
    expect(h.take().map((s) => s.to)).toEqual(['UDP 192.0.2.90:5060']);
  });
});

describe('failures become branch results', () => {
  it('a transport error gives the branch a 503 (500 upstream), never a crash', () => {
    const h = harness();
    h.core.refused.add('192.0.2.20:5060');
    h.locations.add(binding('sip:bob@192.0.2.20:5060'));
    h.inject(request({ method: 'MESSAGE' }));
    h.clock.advance(0);
    expect(h.statuses()).toEqual([500]);
    expect(h.outcomes).toEqual(['transport-error']);
    expectClean(h);
  });

  it('fails over to the next resolved target after a transport error (RFC 3263 §4.3)', async () => {
    const h = harness();
    h.core.refused.add('192.0.2.95:5060');
    h.resolver.names.set('other.example.net', [
      { protocol: 'UDP', address: '192.0.2.95', port: 5060 },
      { protocol: 'UDP', address: '192.0.2.96', port: 5060 },
    ]);
    h.inject(request({ method: 'MESSAGE', ruri: 'sip:carol@other.example.net' }));
    await Promise.resolve();
    await Promise.resolve();
    h.clock.advance(0);
    const out = h.take();
    expect(out.map((s) => s.to)).toEqual(['UDP 192.0.2.96:5060']);
    h.answer(asRequest(out[0]!.msg), 200);
    expect(h.statuses()).toEqual([200]);
  });

  it('Timer B: a callee that never answers gives 408', () => {
    const h = harness();
    h.locations.add(binding('sip:bob@192.0.2.20:5060'));
    h.inject(request());
    h.clock.advance(32_000);
    expect(h.statuses()).toEqual([100, 408]);
    expect(h.outcomes).toEqual(['timeout']);
    expectClean(h);
  });

  it('the caller flow closing cancels the call; every table is emptied', () => {
    const h = harness();
    const alice = h.core.addFlow(new FakeFlow({ protocol: 'WS', id: 'ws#3', remoteAddress: '192.0.2.11', remotePort: 41000, localAddress: PROXY_IP, localPort: 8080 }));
    h.locations.add(binding('sip:bob@192.0.2.20:5060'));
    h.locations.add(binding('sip:bob@192.0.2.21:5060', { received: '192.0.2.21:5060' }));
    h.inject(request({ via: 'SIP/2.0/WS abc.invalid;branch=z9hG4bK-ws-9' }), alice);
    const [a, b] = reqs(h.take(), 'INVITE');
    h.answer(a!, 180, 'ta');
    alice.closed = true;
    h.proxy.onFlowClosed(alice);
    const cancel = only(h.take(), 'CANCEL');
    expect(cancel.topVia()!.branch).toBe(a!.topVia()!.branch);
    h.answer(a!, 487, 'ta');
    expect(b).toBeDefined();
    expectClean(h);
  });

  it('a callee flow closing ends its branch with 480', () => {
    const h = harness();
    const bob = h.core.addFlow(new FakeFlow({ protocol: 'WS', id: 'ws#4', remoteAddress: '192.0.2.21', remotePort: 42000, localAddress: PROXY_IP, localPort: 8080 }));
    h.locations.add(binding('sip:b0b@xyz.invalid;transport=ws', { flowId: 'ws#4', transport: 'WS' }));
    h.inject(request());
    h.clock.advance(300);
    bob.closed = true;
    h.proxy.onFlowClosed(bob);
    expect(h.statuses()).toEqual([100, 480]);
    expectClean(h);
  });
});

describe('ACK for a 2xx (§16.11) and in-dialog requests', () => {
  it('forwards the ACK statelessly along its Route, with the same branch for a retransmission', () => {
    const h = harness();
    const ack = request({ method: 'ACK', toTag: 'callee', ruri: 'sip:bob@192.0.2.20:5060', via: 'SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-ack-1', extra: [`Route: <sip:${PROXY_IP}:5060;transport=udp;lr>`] });
    h.inject(ack);
    h.inject(ack);
    const out = h.take();
    expect(out.map((s) => s.to)).toEqual(['UDP 192.0.2.20:5060', 'UDP 192.0.2.20:5060']);
    const [a1, a2] = out.map((s) => asRequest(s.msg));
    expect(a1!.method).toBe('ACK');
    expect(header(a1!, 'route')).toEqual([]);
    expect(a1!.maxForwards()).toBe(69);
    expect(a1!.topVia()!.branch).toBe(a2!.topVia()!.branch);
    expect(a1!.topVia()!.host).toBe(PROXY_IP);
    expect(h.layer.size).toBe(0);
  });

  it('sends an ACK addressed to our user (no Route) to the first binding, statelessly', () => {
    const h = harness();
    h.locations.add(binding('sip:bob@192.0.2.20:5070'));
    h.inject(request({ method: 'ACK', toTag: 'callee', via: 'SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-ack-2' }));
    const out = h.take();
    expect(out.map((s) => s.to)).toEqual(['UDP 192.0.2.20:5070']);
    expect(asRequest(out[0]!.msg).uri).toBe('sip:bob@192.0.2.20:5070');
    expect(h.layer.size).toBe(0);
  });

  it('drops an ACK that would make us an open relay', () => {
    const h = harness();
    h.inject(request({ method: 'ACK', toTag: 'x', ruri: 'sip:carol@192.0.2.60', from: 'sip:zed@other.example.net' }));
    expect(h.take()).toEqual([]);
  });

  it('forwards an in-dialog BYE statefully along its Route and relays its 200', () => {
    const h = harness();
    h.inject(request({ method: 'BYE', toTag: 'callee', ruri: 'sip:bob@192.0.2.20:5060', extra: [`Route: <sip:${PROXY_IP}:5060;transport=udp;lr>`] }));
    const bye = only(h.take());
    h.answer(bye, 200);
    expect(h.statuses()).toEqual([200]);
    expectClean(h);
  });
});

describe('foreign REGISTER (the registrar hands it over)', () => {
  it('forwards a REGISTER for another domain without Record-Route when allowed, 403 otherwise', () => {
    const h = harness();
    const reg = (from: string) =>
      [
        'REGISTER sip:192.0.2.99 SIP/2.0',
        'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-reg-' + from.length,
        'Max-Forwards: 70',
        `From: <${from}>;tag=r`,
        `To: <${from}>`,
        'Call-ID: reg-x',
        'CSeq: 1 REGISTER',
        'Contact: <sip:u@192.0.2.10>',
        'Content-Length: 0',
      ].join('\n');
    h.inject(reg('sip:zed@other.example.net'));
    expect(h.statuses()).toEqual([403]);
    h.inject(reg(`sip:alice@${DOMAIN}`));
    const fwd = only(h.take());
    expect(fwd.method).toBe('REGISTER');
    expect(header(fwd, 'record-route')).toEqual([]);
  });
});
