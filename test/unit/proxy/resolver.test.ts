/** RFC 3263 §4 (subset): transport, address and port of a next hop. */
import { describe, expect, it } from 'vitest';
import { DnsResolver, resolveLiteral, type DnsLookup, type SrvRecord } from '../../../src/proxy/resolver.js';
import { parseSipUri } from '../../../src/sip/uri.js';
import { ManualClock } from '../../../src/util/clock.js';
import type { TransportProtocol } from '../../../src/transport/transport.js';

const all = (): boolean => true;
const noTls = (p: TransportProtocol): boolean => p !== 'TLS';

class FakeDns implements DnsLookup {
  readonly a = new Map<string, string[]>();
  readonly aaaa = new Map<string, string[]>();
  readonly srv = new Map<string, SrvRecord[]>();
  readonly queries: string[] = [];
  resolve4(h: string): Promise<string[]> {
    this.queries.push(`A ${h}`);
    const v = this.a.get(h);
    return v ? Promise.resolve(v) : Promise.reject(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }));
  }
  resolve6(h: string): Promise<string[]> {
    this.queries.push(`AAAA ${h}`);
    return Promise.resolve(this.aaaa.get(h) ?? []);
  }
  resolveSrv(n: string): Promise<SrvRecord[]> {
    this.queries.push(`SRV ${n}`);
    const v = this.srv.get(n);
    return v ? Promise.resolve(v) : Promise.reject(Object.assign(new Error('ENODATA'), { code: 'ENODATA' }));
  }
}

function uri(s: string) {
  return parseSipUri(s)!;
}

describe('IP literals need no lookup', () => {
  it('UDP by default, the transport param or sips otherwise; the default port of the transport', () => {
    expect(resolveLiteral(uri('sip:bob@192.0.2.1'), all)).toEqual([{ protocol: 'UDP', address: '192.0.2.1', port: 5060 }]);
    expect(resolveLiteral(uri('sip:bob@192.0.2.1:5070;transport=tcp'), all)).toEqual([{ protocol: 'TCP', address: '192.0.2.1', port: 5070 }]);
    expect(resolveLiteral(uri('sips:bob@192.0.2.1'), all)).toEqual([{ protocol: 'TLS', address: '192.0.2.1', port: 5061 }]);
    expect(resolveLiteral(uri('sip:bob@[2001:db8::1]:5080'), all)).toEqual([{ protocol: 'UDP', address: '2001:db8::1', port: 5080 }]);
    expect(resolveLiteral(uri('sip:a@192.0.2.1;transport=ws'), all)).toEqual([{ protocol: 'WS', address: '192.0.2.1', port: 80 }]);
    expect(resolveLiteral(uri('sip:bob@example.com'), all)).toBeUndefined();
  });

  it('returns nothing for a transport we have no listener of', () => {
    expect(resolveLiteral(uri('sips:bob@192.0.2.1'), noTls)).toEqual([]);
  });
});

describe('DnsResolver', () => {
  function make(dns: FakeDns) {
    return new DnsResolver({ clock: new ManualClock(), lookup: dns });
  }

  it('with an explicit port: A then AAAA, no SRV (§4.2)', async () => {
    const dns = new FakeDns();
    dns.a.set('sip.example.net', ['192.0.2.5']);
    dns.aaaa.set('sip.example.net', ['2001:db8::5']);
    expect(await make(dns).resolve(uri('sip:bob@sip.example.net:5070'), all)).toEqual([
      { protocol: 'UDP', address: '192.0.2.5', port: 5070 },
      { protocol: 'UDP', address: '2001:db8::5', port: 5070 },
    ]);
    expect(dns.queries.some((q) => q.startsWith('SRV'))).toBe(false);
  });

  it('SRV records by priority, then weight, each looked up (§4.1, RFC 2782)', async () => {
    const dns = new FakeDns();
    dns.srv.set('_sip._udp.example.net', [
      { name: 'b.example.net', port: 5062, priority: 20, weight: 0 },
      { name: 'a.example.net', port: 5061, priority: 10, weight: 5 },
      { name: 'c.example.net', port: 5063, priority: 10, weight: 50 },
    ]);
    dns.a.set('a.example.net', ['192.0.2.1']);
    dns.a.set('b.example.net', ['192.0.2.2']);
    dns.a.set('c.example.net', ['192.0.2.3']);
    expect(await make(dns).resolve(uri('sip:bob@example.net'), all)).toEqual([
      { protocol: 'UDP', address: '192.0.2.3', port: 5063 },
      { protocol: 'UDP', address: '192.0.2.1', port: 5061 },
      { protocol: 'UDP', address: '192.0.2.2', port: 5062 },
    ]);
  });

  it('falls through to _sip._tcp when there is no UDP SRV; honours transport=tcp; sips asks _sips._tcp', async () => {
    const dns = new FakeDns();
    dns.srv.set('_sip._tcp.example.net', [{ name: 't.example.net', port: 5060, priority: 1, weight: 1 }]);
    dns.srv.set('_sips._tcp.example.net', [{ name: 's.example.net', port: 5061, priority: 1, weight: 1 }]);
    dns.a.set('t.example.net', ['192.0.2.7']);
    dns.a.set('s.example.net', ['192.0.2.8']);
    const r = make(dns);
    expect(await r.resolve(uri('sip:bob@example.net'), all)).toEqual([{ protocol: 'TCP', address: '192.0.2.7', port: 5060 }]);
    expect(await r.resolve(uri('sip:bob@example.net;transport=tcp'), all)).toEqual([{ protocol: 'TCP', address: '192.0.2.7', port: 5060 }]);
    expect(await r.resolve(uri('sips:bob@example.net'), all)).toEqual([{ protocol: 'TLS', address: '192.0.2.8', port: 5061 }]);
  });

  it('without SRV records: A/AAAA at the default port; nothing at all: an empty list', async () => {
    const dns = new FakeDns();
    dns.a.set('plain.example.net', ['192.0.2.9']);
    const r = make(dns);
    expect(await r.resolve(uri('sip:bob@plain.example.net'), all)).toEqual([{ protocol: 'UDP', address: '192.0.2.9', port: 5060 }]);
    expect(await r.resolve(uri('sip:bob@nowhere.example.net'), all)).toEqual([]);
  });

  it('caches answers for a while, within a bound', async () => {
    const dns = new FakeDns();
    dns.a.set('c.example.net', ['192.0.2.10']);
    const clock = new ManualClock();
    const r = new DnsResolver({ clock, lookup: dns, cacheTtlMs: 1000, maxCacheEntries: 2 });
    await r.resolve(uri('sip:x@c.example.net:5060'), all);
    await r.resolve(uri('sip:x@c.example.net:5060'), all);
    expect(dns.queries.filter((q) => q === 'A c.example.net')).toHaveLength(1);
    clock.advance(1001);
    await r.resolve(uri('sip:x@c.example.net:5060'), all);
    expect(dns.queries.filter((q) => q === 'A c.example.net')).toHaveLength(2);
    expect(r.cacheSize).toBeLessThanOrEqual(2);
  });
});
