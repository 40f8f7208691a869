/**
 * Which hosts are "us": the served domains, the addresses we listen on and
 * advertise (RFC 3261 §16.4 and §16.5 need this to tell our own URIs from
 * others). One place decides it.
 */
import os from 'node:os';
import { hostEquals, isSipUri, type Uri } from '../sip/uri.js';

export class LocalIdentity {
  private readonly domains: string[];
  private readonly addresses = new Set<string>();
  private readonly ports = new Set<number>();

  constructor(domains: string[]) {
    this.domains = domains.map((d) => d.toLowerCase());
  }

  /** Registers a bound or advertised address; a wildcard adds every local interface address. */
  addAddress(address: string, port: number): void {
    this.ports.add(port);
    if (address === '0.0.0.0' || address === '::') {
      for (const list of Object.values(os.networkInterfaces())) {
        for (const a of list ?? []) this.addresses.add(a.address.toLowerCase());
      }
      return;
    }
    this.addresses.add(address.toLowerCase());
  }

  get servedDomains(): readonly string[] {
    return this.domains;
  }

  isServedDomain(host: string): boolean {
    const h = host.toLowerCase();
    return this.domains.includes(h);
  }

  /** true when we listen on (or advertise) this port */
  hasPort(port: number): boolean {
    return this.ports.has(port);
  }

  /** true when host (and port, when given) names this server or a domain it serves. */
  isLocalHost(host: string, port?: number): boolean {
    const h = host.charCodeAt(0) === 0x5b ? host.slice(1, -1).toLowerCase() : host.toLowerCase();
    if (this.domains.includes(h)) return true;
    for (const a of this.addresses) {
      if (hostEquals(a.includes(':') ? `[${a}]` : a, host.charCodeAt(0) === 0x5b || !h.includes(':') ? host : `[${host}]`)) {
        return port === undefined || this.ports.has(port);
      }
    }
    return false;
  }

  isLocalUri(uri: Uri | null): boolean {
    return !!uri && isSipUri(uri) && this.isLocalHost(uri.host, uri.port);
  }
}
