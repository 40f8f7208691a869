/**
 * The server configuration and its embedded defaults (one place). The CLI
 * turns flags into a Config; tests build one directly.
 */
import os from 'node:os';
import type { LogLevel } from './util/logger.js';

export interface Listen {
  host: string;
  port: number;
}

export interface Config {
  udp: Listen[];
  tcp: Listen[];
  tls: Listen[];
  ws: Listen[];
  wss: Listen[];
  tlsCert?: string;
  tlsKey?: string;
  /** host[:port] written in Via and Record-Route instead of the bound address (NAT, containers) */
  advertise?: { host: string; port?: number };
  /** HTTP admin endpoint (/metrics, /healthz); off when absent */
  admin?: Listen;
  db: string;
  domains: string[];
  logLevel: LogLevel;
  /** RFC 3261 Table 4 timers, ms */
  t1: number;
  t2: number;
  t4: number;
  maxMessageSize: number;
  maxConnections: number;
  idleTimeoutMs: number;
  udpRecvBufferSize: number;
  /** UDP sockets in an I/O thread of their own (transport/udp-io-thread.ts) */
  udpIoThread: boolean;
  /**
   * most live transactions (client and server); over it new requests get 503.
   * A completed non-INVITE transaction over UDP lives Timer J (32 s), so this
   * bounds the sustained rate of those to about maxTransactions / 32 per
   * second (a REGISTER refresh ends its transaction on its 200, §8.2.7).
   */
  maxTransactions: number;
  /** registrar: at most one database commit per this many ms (group commit); 0 = every event-loop turn */
  commitWindowMs: number;
  /** digest authentication of REGISTER (and, with the proxy, of calls); false only for test labs */
  auth: boolean;
  /** REGISTER expiry bounds, seconds (RFC 3261 §10.2.1.1, §10.3 step 7) */
  defaultExpires: number;
  minExpires: number;
  maxExpires: number;
  /** most bindings per address-of-record */
  maxContacts: number;
  /** lifetime of a digest nonce, seconds */
  nonceTtl: number;
  /** digest algorithms offered in challenges, preferred first */
  digestAlgorithms: Array<'SHA-256' | 'MD5'>;
  /** proxy: anyone may reach other domains through us (default: only our own users) */
  openRelay?: boolean;
  /** proxy: RFC 3261 §16.8 Timer C, seconds (default 180) */
  timerC?: number;
  /** proxy: DNS servers for RFC 3263 lookups, `ip[:port]` (default: the system's) */
  dnsServers?: string[];
}

export const DEFAULTS: Config = {
  udp: [{ host: '0.0.0.0', port: 5060 }],
  tcp: [{ host: '0.0.0.0', port: 5060 }],
  tls: [],
  ws: [{ host: '0.0.0.0', port: 8080 }],
  wss: [],
  db: './data/switchboard.db',
  domains: [],
  logLevel: 'info',
  t1: 500,
  t2: 4000,
  t4: 5000,
  maxMessageSize: 65536,
  maxConnections: 10_000,
  idleTimeoutMs: 600_000,
  udpRecvBufferSize: 8 * 1024 * 1024,
  udpIoThread: true,
  commitWindowMs: 3,
  // a completed UDP REGISTER waits out Timer J (32 s) in the compact cache, about 110 B of heap and
  // its response outside it: 1,000,000 ≈ 500 MB, room for 31,000 REGISTER/s over UDP
  maxTransactions: 1_000_000,
  auth: true,
  defaultExpires: 3600,
  minExpires: 60,
  maxExpires: 7200,
  maxContacts: 10,
  nonceTtl: 300,
  digestAlgorithms: ['SHA-256', 'MD5'],
  openRelay: false,
  timerC: 185, // RFC 3261 §16.6 step 11: Timer C MUST be greater than 3 minutes
  dnsServers: [],
};

/** The default served domain: this machine's host name. */
export function defaultDomains(): string[] {
  return [os.hostname().toLowerCase()];
}

/** Parses `host:port`, `[v6]:port`, `host` or `:port` (missing parts from the fallback). */
export function parseListen(text: string, fallbackPort: number): Listen {
  const t = text.trim();
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  if (v6) return { host: v6[1]!, port: v6[2] ? checkPort(v6[2]) : fallbackPort };
  const colon = t.lastIndexOf(':');
  if (colon === -1) {
    if (/^\d+$/.test(t)) return { host: '0.0.0.0', port: checkPort(t) };
    return { host: t, port: fallbackPort };
  }
  if (t.indexOf(':') !== colon) return { host: t, port: fallbackPort }; // bare IPv6 without port
  const host = t.slice(0, colon) || '0.0.0.0';
  return { host, port: checkPort(t.slice(colon + 1)) };
}

function checkPort(p: string): number {
  const n = Number(p);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`invalid port: ${p}`);
  return n;
}
