/**
 * Locating a next hop (RFC 3263 §4, a subset): which transport, address and
 * port a SIP URI is reached on.
 *
 *  - transport (§4.1): the `transport` parameter when present; else TLS for
 *    sips; else UDP for an IP literal or an explicit port; else the first
 *    SRV record set found among `_sip._udp`, `_sip._tcp`, `_sips._tcp`
 *    (only for transports we have a listener of); else UDP (TLS for sips).
 *  - address and port (§4.2): an IP literal needs no lookup; a name with an
 *    explicit port, or without SRV records, is looked up as A then AAAA
 *    with the transport's default port; SRV targets are ordered by priority,
 *    then by weight (highest first: deterministic, where RFC 2782 would pick
 *    at random within a priority), and each is looked up as A/AAAA.
 *
 * Departures: NAPTR is not queried (SRV and A/AAAA only, which §4.1 allows
 * for a client without NAPTR support); `maddr` is ignored. The next hop is
 * the resolved list in order; the proxy fails over to the next entry on a
 * transport error (§4.3).
 *
 * An IP literal resolves synchronously (no Promise on the hot path); names go
 * through `node:dns` (`--dns-server ip[:port]`, repeatable) with a small
 * bounded cache on the injected clock.
 */
import { promises as dnsPromises } from 'node:dns';
import type { Clock } from '../util/clock.js';
import type { SipUri } from '../sip/uri.js';
import type { Target, TransportProtocol } from '../transport/transport.js';

/** What the proxy asks: the targets to try, in order (sync for IP literals). */
export interface Resolver {
  resolve(uri: SipUri, available: (p: TransportProtocol) => boolean): Target[] | Promise<Target[]>;
}

export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

/** The DNS queries RFC 3263 needs (the shape of node:dns's promise Resolver; tests inject a fake). */
export interface DnsLookup {
  resolve4(host: string): Promise<string[]>;
  resolve6(host: string): Promise<string[]>;
  resolveSrv(name: string): Promise<SrvRecord[]>;
}

export const DEFAULT_PORT: Record<TransportProtocol, number> = { UDP: 5060, TCP: 5060, TLS: 5061, WS: 80, WSS: 443 };

const TRANSPORT_PARAM: Record<string, TransportProtocol> = { udp: 'UDP', tcp: 'TCP', tls: 'TLS', ws: 'WS', wss: 'WSS' };

/** SRV prefixes tried, in order, when the URI names no transport (§4.1). */
const SRV_ORDER: ReadonlyArray<readonly [string, TransportProtocol]> = [
  ['_sip._udp.', 'UDP'],
  ['_sip._tcp.', 'TCP'],
  ['_sips._tcp.', 'TLS'],
];

function stripBrackets(h: string): string {
  return h.charCodeAt(0) === 0x5b ? h.slice(1, -1) : h;
}

/** §4.1: the transport a URI asks for explicitly (transport param, sips), or undefined. */
export function explicitTransport(uri: SipUri): TransportProtocol | undefined {
  const t = uri.params.get('transport');
  if (t) {
    const p = TRANSPORT_PARAM[t.toLowerCase()];
    // RFC 3261 §26.2.2: sips over TCP means TLS
    if (p === 'TCP' && uri.scheme === 'sips') return 'TLS';
    if (p === 'WS' && uri.scheme === 'sips') return 'WSS';
    return p ?? (uri.scheme === 'sips' ? 'TLS' : 'UDP');
  }
  return uri.scheme === 'sips' ? 'TLS' : undefined;
}

/**
 * The targets of a URI whose host is an IP literal (no lookup), or undefined
 * when the host is a name. `localhost` counts as 127.0.0.1.
 */
export function resolveLiteral(uri: SipUri, available: (p: TransportProtocol) => boolean): Target[] | undefined {
  let address: string;
  if (uri.hostType === 'name') {
    if (uri.host.toLowerCase() !== 'localhost') return undefined;
    address = '127.0.0.1';
  } else address = stripBrackets(uri.host);
  const protocol = explicitTransport(uri) ?? (available('UDP') ? 'UDP' : 'TCP');
  if (!available(protocol)) return [];
  return [{ protocol, address, port: uri.port ?? DEFAULT_PORT[protocol] }];
}

export interface DnsResolverOptions {
  clock: Clock;
  /** `ip` or `ip:port` or `[v6]:port`; empty: the system's servers */
  servers?: readonly string[];
  /** per-query timeout, ms (default 2000), and tries (default 2) */
  timeoutMs?: number;
  tries?: number;
  /** cache lifetime of an answer, ms (default 30 s), and its size bound (default 1000 names) */
  cacheTtlMs?: number;
  maxCacheEntries?: number;
  /** replaces node:dns (tests) */
  lookup?: DnsLookup;
}

interface CacheEntry {
  expires: number;
  value: Promise<unknown>;
}

/** RFC 3263 resolution through node:dns with a bounded answer cache. */
export class DnsResolver implements Resolver {
  private readonly dns: DnsLookup;
  private readonly clock: Clock;
  private readonly ttl: number;
  private readonly maxEntries: number;
  private readonly cache = new Map<string, CacheEntry>();

  constructor(opts: DnsResolverOptions) {
    this.clock = opts.clock;
    this.ttl = opts.cacheTtlMs ?? 30_000;
    this.maxEntries = Math.max(1, opts.maxCacheEntries ?? 1000);
    if (opts.lookup) this.dns = opts.lookup;
    else {
      const r = new dnsPromises.Resolver({ timeout: opts.timeoutMs ?? 2000, tries: opts.tries ?? 2 });
      if (opts.servers && opts.servers.length) r.setServers([...opts.servers]);
      this.dns = r;
    }
  }

  /** Answers held in the cache (for leak checks). */
  get cacheSize(): number {
    return this.cache.size;
  }

  resolve(uri: SipUri, available: (p: TransportProtocol) => boolean): Target[] | Promise<Target[]> {
    return resolveLiteral(uri, available) ?? this.resolveName(uri, available);
  }

  private async resolveName(uri: SipUri, available: (p: TransportProtocol) => boolean): Promise<Target[]> {
    const host = uri.host.endsWith('.') ? uri.host.slice(0, -1) : uri.host;
    const explicit = explicitTransport(uri);
    // §4.2: an explicit port means no SRV lookup
    if (uri.port !== undefined) {
      const protocol = explicit ?? (available('UDP') ? 'UDP' : 'TCP');
      if (!available(protocol)) return [];
      return this.addresses(host, protocol, uri.port);
    }
    // §4.1: SRV for the transport asked for, or for each one we support, in order
    const prefixes = explicit
      ? SRV_ORDER.filter(([, p]) => p === explicit)
      : SRV_ORDER.filter(([, p]) => available(p) && (uri.scheme !== 'sips' || p === 'TLS'));
    for (const [prefix, protocol] of prefixes) {
      const records = await this.query('srv', prefix + host, () => this.dns.resolveSrv(prefix + host));
      if (records.length === 0) continue;
      const ordered = [...records].sort((a, b) => a.priority - b.priority || b.weight - a.weight);
      const out: Target[] = [];
      for (const r of ordered) {
        // RFC 2782: a target of "." means the service is decidedly not available
        if (r.name === '' || r.name === '.') continue;
        for (const t of await this.addresses(r.name, protocol, r.port)) out.push(t);
      }
      if (out.length) return out;
    }
    // §4.2: no SRV records: A/AAAA at the default port of the transport
    const protocol = explicit ?? (uri.scheme === 'sips' ? 'TLS' : available('UDP') ? 'UDP' : 'TCP');
    if (!available(protocol)) return [];
    return this.addresses(host, protocol, DEFAULT_PORT[protocol]);
  }

  private async addresses(host: string, protocol: TransportProtocol, port: number): Promise<Target[]> {
    const h = host.endsWith('.') ? host.slice(0, -1) : host;
    if (/^[0-9.]+$/.test(h) || h.includes(':')) return [{ protocol, address: stripBrackets(h), port }];
    if (h.toLowerCase() === 'localhost') return [{ protocol, address: '127.0.0.1', port }];
    const [v4, v6] = await Promise.all([
      this.query('a', h, () => this.dns.resolve4(h)),
      this.query('aaaa', h, () => this.dns.resolve6(h)),
    ]);
    const out: Target[] = [];
    for (const address of v4) out.push({ protocol, address, port });
    for (const address of v6) out.push({ protocol, address, port });
    return out;
  }

  /** One query through the cache; a failure (NXDOMAIN, no data, timeout) is an empty answer. */
  private query<T>(type: string, name: string, run: () => Promise<T[]>): Promise<T[]> {
    const key = `${type} ${name.toLowerCase()}`;
    const now = this.clock.now();
    const hit = this.cache.get(key);
    if (hit && hit.expires > now) return hit.value as Promise<T[]>;
    if (hit) this.cache.delete(key);
    const value = run().catch(() => [] as T[]);
    if (this.cache.size >= this.maxEntries) {
      // Map order is insertion order: the oldest entry goes first
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(key, { expires: now + this.ttl, value });
    return value;
  }
}
