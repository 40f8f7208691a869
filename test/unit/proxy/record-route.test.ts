/** Our Via branch (loop hash), Record-Route values, flow tokens and sent-by. */
import { describe, expect, it } from 'vitest';
import {
  branchLoopHash,
  FlowTokens,
  isOurRecordRoute,
  loopHash,
  namesUs,
  proxyBranch,
  recordRouteValue,
  SentBy,
  statelessBranch,
} from '../../../src/proxy/record-route.js';
import { LocalIdentity } from '../../../src/core/local-identity.js';
import { parseSipUri } from '../../../src/sip/uri.js';
import type { SipRequest } from '../../../src/sip/message.js';
import type { Transport, TransportProtocol } from '../../../src/transport/transport.js';
import { FakeFlow } from '../../support/fake-flow.js';
import { request, wire } from './harness.js';

describe('loop-detection branch (§16.6 step 8, §16.3 step 4)', () => {
  it('is unique per branch and carries the hash', () => {
    const a = proxyBranch('0123456789abcdef');
    const b = proxyBranch('0123456789abcdef');
    expect(a).not.toBe(b);
    expect(a.startsWith('z9hG4bK')).toBe(true);
    expect(branchLoopHash(a)).toBe('0123456789abcdef');
    expect(branchLoopHash('z9hG4bK-someone-else')).toBeUndefined();
    expect(branchLoopHash(undefined)).toBeUndefined();
  });

  it('hashes the routing fields: same request → same hash; another Request-URI, tag or Route → another', () => {
    const base = wire<SipRequest>(request({ callId: 'h1', via: 'SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1' }));
    const sameButVia = wire<SipRequest>(request({ callId: 'h1', via: 'SIP/2.0/UDP 192.0.2.99;branch=z9hG4bK-2', maxForwards: 12 }));
    expect(loopHash(sameButVia)).toBe(loopHash(base));
    expect(loopHash(wire<SipRequest>(request({ callId: 'h1', ruri: 'sip:carol@example.com' })))).not.toBe(loopHash(base));
    expect(loopHash(wire<SipRequest>(request({ callId: 'h1', toTag: 't' })))).not.toBe(loopHash(base));
    expect(loopHash(wire<SipRequest>(request({ callId: 'h1', extra: ['Route: <sip:192.0.2.5;lr>'] })))).not.toBe(loopHash(base));
    expect(loopHash(wire<SipRequest>(request({ callId: 'h1', extra: ['Proxy-Require: x'] })))).not.toBe(loopHash(base));
  });

  it('gives a stateless forward the same branch every time (§16.11)', () => {
    const ack = request({ method: 'ACK', toTag: 't', via: 'SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-ack' });
    expect(statelessBranch(wire(ack))).toBe(statelessBranch(wire(ack)));
    expect(statelessBranch(wire(ack))).toMatch(/^z9hG4bKsa[0-9a-f]{16}$/);
  });
});

describe('flow tokens', () => {
  it('round-trips an escaped flow id with its MAC', () => {
    const t = new FlowTokens(Buffer.alloc(32, 1));
    const user = t.userPart([t.encode('ws#12'), t.encode('tcp#3')])!;
    expect(user).toMatch(/^sb~ws%2312\.[A-Za-z0-9_-]{11}~tcp%233\.[A-Za-z0-9_-]{11}$/);
    expect(t.decode(user)).toEqual(['ws#12', 'tcp#3']);
    // the URI round-trips through the parser
    const uri = parseSipUri(`sip:${user}@192.0.2.1:8080;transport=ws;lr`)!;
    expect(t.decode(uri.user)).toEqual(['ws#12', 'tcp#3']);
  });

  it('refuses a forged token, and one made under another key (another process)', () => {
    const t = new FlowTokens(Buffer.alloc(32, 1));
    const other = new FlowTokens(Buffer.alloc(32, 2));
    expect(t.decode('sb~ws%2312.AAAAAAAAAAA')).toEqual([]);
    expect(t.decode(other.userPart([other.encode('ws#12')]))).toEqual([]);
    expect(t.decode('alice')).toEqual([]);
    expect(t.userPart([])).toBeUndefined();
  });
});

describe('our URIs', () => {
  const id = new LocalIdentity(['example.com']);
  id.addAddress('192.0.2.1', 5060);

  it('names us: a served domain, or one of our addresses at one of our ports', () => {
    expect(namesUs(parseSipUri('sip:example.com')!, id)).toBe(true);
    expect(namesUs(parseSipUri('sip:192.0.2.1;lr')!, id)).toBe(true);
    expect(namesUs(parseSipUri('sip:192.0.2.1:5060;lr')!, id)).toBe(true);
    expect(namesUs(parseSipUri('sip:bob@192.0.2.1:5090')!, id)).toBe(false);
    expect(namesUs(parseSipUri('sip:192.0.2.2')!, id)).toBe(false);
  });

  it('recognises a Record-Route value of ours (lr or a flow token) in a Request-URI (§16.4)', () => {
    expect(isOurRecordRoute(parseSipUri('sip:192.0.2.1:5060;transport=udp;lr')!, id)).toBe(true);
    expect(isOurRecordRoute(parseSipUri('sip:sb~x.y@192.0.2.1:5060')!, id)).toBe(true);
    expect(isOurRecordRoute(parseSipUri('sip:bob@example.com')!, id)).toBe(false);
  });

  it('writes Record-Route values with transport and lr (RFC 5658)', () => {
    expect(recordRouteValue('192.0.2.1:5060', 'UDP', undefined)).toBe('<sip:192.0.2.1:5060;transport=udp;lr>');
    expect(recordRouteValue('[2001:db8::1]:8443', 'WSS', 'sb~t')).toBe('<sip:sb~t@[2001:db8::1]:8443;transport=wss;lr>');
  });
});

describe('SentBy', () => {
  function transports(address: string): { transport(p: TransportProtocol): Transport | undefined } {
    return {
      transport: (p) =>
        ({
          protocol: p,
          address: () => ({ address, port: p === 'WS' ? 8080 : 5060 }),
        }) as unknown as Transport,
    };
  }

  it('writes the bound address of the transport the message leaves on', () => {
    expect(new SentBy(transports('192.0.2.1')).of('UDP', undefined, undefined, '192.0.2.20')).toBe('192.0.2.1:5060');
    expect(new SentBy(transports('2001:db8::1')).of('WS', undefined, undefined, undefined)).toBe('[2001:db8::1]:8080');
  });

  it('prefers --advertise', () => {
    expect(new SentBy(transports('192.0.2.1'), { host: 'sip.example.com' }).of('UDP', undefined, undefined, undefined)).toBe('sip.example.com:5060');
    expect(new SentBy(transports('192.0.2.1'), { host: '203.0.113.5', port: 5080 }).of('WS', undefined, undefined, undefined)).toBe('203.0.113.5:5080');
  });

  it('for a wildcard bind, uses the local address of a flow (leaving by it, or on the other side)', () => {
    const s = new SentBy(transports('0.0.0.0'));
    const ws = new FakeFlow({ protocol: 'WS', localAddress: '198.51.100.7', localPort: 8080 });
    expect(s.of('WS', ws, undefined, undefined)).toBe('198.51.100.7:8080');
    expect(s.of('UDP', undefined, ws, '198.51.100.20')).toBe('198.51.100.7:5060');
    expect(s.of('UDP', undefined, undefined, '127.0.0.1')).toBe('127.0.0.1:5060');
  });
});
