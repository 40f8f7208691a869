/**
 * Issue 3, without sockets: where the core sends a response (RFC 3261
 * §18.2.2 with RFC 3581), how it stamps the top Via (§18.2.1), and what it
 * does with bad input per transport (400 when answerable; otherwise a
 * stream connection is closed, a datagram or WebSocket message dropped).
 */
import { describe, expect, it } from 'vitest';
import { SipCore } from '../../../src/core/sip-core.js';
import { createResponse } from '../../../src/sip/response.js';
import type { SipRequest } from '../../../src/sip/message.js';
import { hostPort, type Flow, type Target, type Transport, type TransportProtocol } from '../../../src/transport/transport.js';
import { RELIABLE } from '../../../src/transport/transport.js';
import { ManualClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';
import { Metrics } from '../../../src/util/metrics.js';

interface Sent {
  via: string;
  to: string;
  text: string;
}

/** A flow that records what is sent, and to where (for UDP, through to()). */
class RecordingFlow implements Flow {
  readonly reliable: boolean;
  readonly localAddress = '192.0.2.1';
  readonly localPort = 5060;
  closed = false;
  closeCalls = 0;
  constructor(
    readonly protocol: TransportProtocol,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly log: Sent[] = [],
    readonly id = `rec-${protocol}-${remoteAddress}-${remotePort}`,
  ) {
    this.reliable = RELIABLE[protocol];
  }
  send(data: Buffer): boolean {
    if (this.closed) return false;
    this.log.push({ via: this.id, to: hostPort(this.remoteAddress, this.remotePort), text: data.toString('latin1') });
    return true;
  }
  close(): void {
    this.closeCalls++;
  }
  to?: (address: string, port: number) => Flow;
}

function udpFlow(remoteAddress: string, remotePort: number, log: Sent[] = []): RecordingFlow {
  const f = new RecordingFlow('UDP', remoteAddress, remotePort, log);
  f.to = (address: string, port: number) => udpFlow(address, port, log);
  return f;
}

function makeCore(): SipCore {
  const core = new SipCore({ logger: silentLogger(), metrics: new Metrics(), clock: new ManualClock() });
  core.route('OPTIONS', { onRequest: (req, tx) => tx.respond(createResponse(req, 200)) });
  return core;
}

function request(via: string, opts: { drop?: string[]; method?: string; extra?: string[] } = {}): Buffer {
  const method = opts.method ?? 'OPTIONS';
  const lines = [
    `${method} sip:192.0.2.1 SIP/2.0`,
    `Via: ${via}`,
    'Max-Forwards: 70',
    'From: <sip:a@example.test>;tag=1',
    'To: <sip:192.0.2.1>',
    'Call-ID: route-test',
    `CSeq: 1 ${method}`,
    ...(opts.extra ?? []),
    'Content-Length: 0',
  ].filter((l) => !(opts.drop ?? []).some((d) => l.toLowerCase().startsWith(`${d.toLowerCase()}:`)));
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

function topVia(text: string): string {
  return /\r\nVia: ([^\r\n]*)/.exec(text)![1]!;
}

describe('UDP responses (RFC 3261 §18.2.2, RFC 3581)', () => {
  it('go to the Via host and port when the Via host is the source and no rport is asked; no received added', () => {
    const log: Sent[] = [];
    makeCore().inject(request('SIP/2.0/UDP 198.51.100.7:5070;branch=z9hG4bK1'), udpFlow('198.51.100.7', 40000, log));
    expect(log.map((s) => s.to)).toEqual(['198.51.100.7:5070']);
    expect(topVia(log[0]!.text)).toBe('SIP/2.0/UDP 198.51.100.7:5070;branch=z9hG4bK1');
  });

  it('get received when the Via host differs, and go to received at the Via port (5060 when absent)', () => {
    const log: Sent[] = [];
    const core = makeCore();
    core.inject(request('SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bK2'), udpFlow('198.51.100.7', 40000, log));
    core.inject(request('SIP/2.0/UDP phone.example.test;branch=z9hG4bK3'), udpFlow('198.51.100.7', 40000, log));
    expect(log.map((s) => s.to)).toEqual(['198.51.100.7:5070', '198.51.100.7:5060']);
    expect(topVia(log[0]!.text)).toBe('SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bK2;received=198.51.100.7');
    expect(topVia(log[1]!.text)).toBe('SIP/2.0/UDP phone.example.test;branch=z9hG4bK3;received=198.51.100.7');
  });

  it('with rport: go to the source address and port, with rport and received filled in', () => {
    const log: Sent[] = [];
    makeCore().inject(request('SIP/2.0/UDP 10.0.0.5:5070;rport;branch=z9hG4bK4'), udpFlow('198.51.100.7', 40000, log));
    expect(log.map((s) => s.to)).toEqual(['198.51.100.7:40000']);
    const via = topVia(log[0]!.text);
    expect(via).toContain(';received=198.51.100.7');
    expect(via).toContain(';rport=40000');
  });

  it('with rport and the source as Via host: received is still added (RFC 3581 §4)', () => {
    const log: Sent[] = [];
    makeCore().inject(request('SIP/2.0/UDP 198.51.100.7:5070;rport;branch=z9hG4bK5'), udpFlow('198.51.100.7', 40000, log));
    expect(log.map((s) => s.to)).toEqual(['198.51.100.7:40000']);
    expect(topVia(log[0]!.text)).toMatch(/;rport=40000/);
    expect(topVia(log[0]!.text)).toMatch(/;received=198\.51\.100\.7/);
  });

  it('with maddr: go to maddr at the Via port', () => {
    const log: Sent[] = [];
    makeCore().inject(request('SIP/2.0/UDP 198.51.100.7:5070;maddr=233.252.0.1;branch=z9hG4bK6'), udpFlow('198.51.100.7', 40000, log));
    expect(log.map((s) => s.to)).toEqual(['233.252.0.1:5070']);
  });

  it('compare an IPv6 Via host without its brackets: no received when it is the source', () => {
    const log: Sent[] = [];
    makeCore().inject(request('SIP/2.0/UDP [2001:db8::7]:5070;branch=z9hG4bK7'), udpFlow('2001:db8::7', 40000, log));
    expect(log.map((s) => s.to)).toEqual(['[2001:db8::7]:5070']);
    expect(topVia(log[0]!.text)).not.toContain('received');
  });
});

describe('responses on connection-oriented flows', () => {
  for (const proto of ['TCP', 'TLS', 'WS', 'WSS'] as const) {
    it(`${proto}: go back on the connection the request came on, whatever the Via says`, () => {
      const log: Sent[] = [];
      const flow = new RecordingFlow(proto, '198.51.100.7', 40000, log, `conn-${proto}`);
      makeCore().inject(request(`SIP/2.0/${proto} df7jal23ls0d.invalid;branch=z9hG4bK8`), flow);
      expect(log.map((s) => s.via)).toEqual([`conn-${proto}`]);
      expect(log[0]!.text.startsWith('SIP/2.0 200 ')).toBe(true);
      expect(topVia(log[0]!.text)).toBe(`SIP/2.0/${proto} df7jal23ls0d.invalid;branch=z9hG4bK8;received=198.51.100.7`);
    });
  }

  it('TCP: when the connection has closed, a new one is opened to received at the rport (§18.2.2)', async () => {
    const core = makeCore();
    const targets: Target[] = [];
    const log: Sent[] = [];
    const fresh = new RecordingFlow('TCP', '198.51.100.7', 40000, log, 'fresh');
    const tcp: Transport = {
      protocol: 'TCP',
      listen: () => Promise.resolve(),
      address: () => ({ address: '192.0.2.1', port: 5060 }),
      connect: (t) => {
        targets.push(t);
        return Promise.resolve(fresh);
      },
      flow: () => undefined,
      close: () => Promise.resolve(),
    };
    core.addTransport(tcp);
    let captured: SipRequest | undefined;
    core.route('OPTIONS', { onRequest: (req) => void (captured = req) });
    const gone = new RecordingFlow('TCP', '198.51.100.7', 40000, log, 'gone');
    core.inject(request('SIP/2.0/TCP 10.0.0.5:5070;rport;branch=z9hG4bK9'), gone);
    gone.closed = true;
    expect(core.sendResponse(createResponse(captured!, 200), gone)).toBe(true);
    await Promise.resolve();
    await Promise.resolve();
    expect(targets).toEqual([{ protocol: 'TCP', address: '198.51.100.7', port: 40000 }]);
    expect(log.map((s) => s.via)).toEqual(['fresh']);
  });
});

describe('bad input (issue 3: 400 when answerable, otherwise close a stream connection only)', () => {
  const answerable = (proto: TransportProtocol): Buffer =>
    request(`SIP/2.0/${proto} 198.51.100.7:5070;branch=z9hG4bKbad`, { extra: ['this line has no colon'] });
  const unanswerable = Buffer.from('OPTIONS sip:192.0.2.1 SIP/2.0\r\nthis line has no colon\r\nContent-Length: 0\r\n\r\n', 'latin1');

  for (const proto of ['UDP', 'TCP', 'TLS', 'WS', 'WSS'] as const) {
    it(`${proto}: an answerable malformed request gets 400 and the flow stays open`, () => {
      const log: Sent[] = [];
      const flow = proto === 'UDP' ? udpFlow('198.51.100.7', 5070, log) : new RecordingFlow(proto, '198.51.100.7', 5070, log);
      makeCore().inject(answerable(proto), flow);
      expect(log).toHaveLength(1);
      expect(log[0]!.text).toMatch(/^SIP\/2\.0 400 /);
      expect(flow.closeCalls).toBe(0);
    });
  }

  for (const proto of ['TCP', 'TLS'] as const) {
    it(`${proto}: unparseable input that cannot be answered closes that connection`, () => {
      const log: Sent[] = [];
      const flow = new RecordingFlow(proto, '198.51.100.7', 5070, log);
      const other = new RecordingFlow(proto, '198.51.100.8', 5070, log);
      const core = makeCore();
      core.inject(unanswerable, flow);
      expect(log).toEqual([]);
      expect(flow.closeCalls).toBe(1);
      core.inject(request(`SIP/2.0/${proto} 198.51.100.8:5070;branch=z9hG4bKok`), other);
      expect(other.closeCalls).toBe(0);
      expect(log.map((s) => s.text.slice(0, 14))).toEqual(['SIP/2.0 200 OK']);
    });
  }

  for (const proto of ['UDP', 'WS', 'WSS'] as const) {
    it(`${proto}: unparseable input that cannot be answered is dropped; the flow is not closed`, () => {
      const log: Sent[] = [];
      const flow = proto === 'UDP' ? udpFlow('198.51.100.7', 5070, log) : new RecordingFlow(proto, '198.51.100.7', 5070, log);
      makeCore().inject(unanswerable, flow);
      expect(log).toEqual([]);
      expect(flow.closeCalls).toBe(0);
    });
  }

  it('TCP: a well-framed, parseable request failing validation without the headers to answer it is dropped, not closed', () => {
    const log: Sent[] = [];
    const flow = new RecordingFlow('TCP', '198.51.100.7', 5070, log);
    makeCore().inject(request('SIP/2.0/TCP 198.51.100.7:5070;branch=z9hG4bKnocallid', { drop: ['Call-ID'] }), flow);
    expect(log).toEqual([]);
    expect(flow.closeCalls).toBe(0);
  });
});
