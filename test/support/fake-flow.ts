/**
 * An in-memory Flow for unit tests: it records every buffer sent on it and
 * can be told to fail sends (a closed connection, a full buffer).
 */
import { RELIABLE, type Flow, type TransportProtocol } from '../../src/transport/transport.js';

export interface FakeFlowOptions {
  protocol?: TransportProtocol;
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
  id?: string;
  /** stamps each sent buffer with this time (e.g. a ManualClock's now) */
  now?: () => number;
}

let seq = 0;

export class FakeFlow implements Flow {
  readonly id: string;
  readonly protocol: TransportProtocol;
  readonly reliable: boolean;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  closed = false;
  /** when true, send() returns false and records nothing */
  failSends = false;
  /** every buffer accepted by send(), in order */
  readonly sent: Buffer[] = [];
  /** when each buffer was sent (by `now`, 0 without it) */
  readonly sentAt: number[] = [];
  private readonly now: (() => number) | undefined;

  constructor(opts: FakeFlowOptions = {}) {
    this.protocol = opts.protocol ?? 'UDP';
    this.reliable = RELIABLE[this.protocol];
    this.remoteAddress = opts.remoteAddress ?? '192.0.2.10';
    this.remotePort = opts.remotePort ?? 5060;
    this.localAddress = opts.localAddress ?? '192.0.2.1';
    this.localPort = opts.localPort ?? 5060;
    this.id = opts.id ?? `fake-${this.protocol.toLowerCase()}-${++seq}`;
    this.now = opts.now;
  }

  send(data: Buffer): boolean {
    if (this.failSends || this.closed) return false;
    this.sent.push(data);
    this.sentAt.push(this.now ? this.now() : 0);
    return true;
  }

  /** The sent messages as latin1 text. */
  get sentText(): string[] {
    return this.sent.map((b) => b.toString('latin1'));
  }

  /** The first line of each sent message ("SIP/2.0 200 OK", "ACK sip:… SIP/2.0"). */
  get startLines(): string[] {
    return this.sentText.map((t) => t.slice(0, t.indexOf('\r\n')));
  }

  /** Forgets what was sent so far. */
  clear(): void {
    this.sent.length = 0;
    this.sentAt.length = 0;
  }
}

export function udpFlow(opts: Omit<FakeFlowOptions, 'protocol'> = {}): FakeFlow {
  return new FakeFlow({ ...opts, protocol: 'UDP' });
}

export function tcpFlow(opts: Omit<FakeFlowOptions, 'protocol'> = {}): FakeFlow {
  return new FakeFlow({ ...opts, protocol: 'TCP' });
}
