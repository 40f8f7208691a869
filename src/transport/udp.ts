/**
 * UDP transport (node:dgram), RFC 3261 §18: one message per datagram.
 * Keepalives (RFC 5626 §4.4.1: a CRLF datagram, or a STUN binding request
 * per RFC 5389) are absorbed here and never reach the core.
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import type { Logger } from '../util/logger.js';
import type { Flow, Target, Transport, TransportSink } from './transport.js';
import { hostPort } from './transport.js';

export interface UdpOptions {
  host: string;
  port: number;
  sink: TransportSink;
  logger: Logger;
  /** SO_RCVBUF / SO_SNDBUF in bytes (BENCHMARKING.md: bursts overflow small buffers first) */
  recvBufferSize?: number;
  sendBufferSize?: number;
  onKeepalive?(): void;
  onSendError?(): void;
}

class UdpFlow implements Flow {
  readonly protocol = 'UDP' as const;
  readonly reliable = false;
  readonly closed = false;
  constructor(
    private readonly transport: UdpTransport,
    readonly remoteAddress: string,
    readonly remotePort: number,
  ) {}
  get localAddress(): string {
    return this.transport.address().address;
  }
  get localPort(): number {
    return this.transport.address().port;
  }
  get id(): string {
    return `udp:${hostPort(this.localAddress, this.localPort)}>${hostPort(this.remoteAddress, this.remotePort)}`;
  }
  send(data: Buffer): boolean {
    return this.transport.sendTo(data, this.remoteAddress, this.remotePort);
  }
  to(address: string, port: number): Flow {
    // the usual answer (RFC 3581 rport) goes back where the request came from
    if (address === this.remoteAddress && port === this.remotePort) return this;
    return this.transport.flowTo(address, port);
  }
}

/** Most peers whose flow object is kept for reuse (the table starts over when full). */
const FLOW_CACHE_MAX = 4096;

/** RFC 5389 §6: a STUN message starts with two zero bits and carries the magic cookie at byte 4. */
function isStun(b: Buffer): boolean {
  return b.length >= 20 && (b[0]! & 0xc0) === 0 && b.readUInt32BE(4) === 0x2112a442;
}

function isCrlfOnly(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0x0d && b[i] !== 0x0a) return false;
  return true;
}

export class UdpTransport implements Transport {
  readonly protocol = 'UDP' as const;
  private socket: dgram.Socket | null = null;
  private bound: { address: string; port: number } = { address: '', port: 0 };
  private readonly flows = new Map<string, UdpFlow>();

  constructor(private readonly opts: UdpOptions) {}

  /** The error of a failed send names its destination ("send EACCES 192.0.2.1:5060"). */
  private readonly afterSend = (err: Error | null): void => {
    if (err) {
      this.opts.onSendError?.();
      this.opts.logger.warn({ err: err.message }, 'udp send failed');
    }
  };

  listen(): Promise<void> {
    const type = isIP(this.opts.host) === 6 ? 'udp6' : 'udp4';
    const socket = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
    this.socket = socket;
    socket.on('message', (data, rinfo) => this.onDatagram(data, rinfo));
    socket.on('error', (err) => this.opts.logger.error({ err, transport: 'UDP' }, 'udp socket error'));
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.opts.port, this.opts.host, () => {
        socket.off('error', reject);
        const a = socket.address();
        this.bound = { address: a.address, port: a.port };
        try {
          if (this.opts.recvBufferSize) socket.setRecvBufferSize(this.opts.recvBufferSize);
          if (this.opts.sendBufferSize) socket.setSendBufferSize(this.opts.sendBufferSize);
        } catch (err) {
          this.opts.logger.warn({ err }, 'could not set UDP socket buffer size');
        }
        resolve();
      });
    });
  }

  private onDatagram(data: Buffer, rinfo: dgram.RemoteInfo): void {
    if (data.length <= 4 && isCrlfOnly(data)) {
      this.opts.onKeepalive?.();
      return;
    }
    if (isStun(data)) {
      this.opts.onKeepalive?.();
      return;
    }
    this.opts.sink.onMessage(data, this.flowTo(rinfo.address, rinfo.port));
  }

  address(): { address: string; port: number } {
    return this.bound;
  }

  sendTo(data: Buffer, address: string, port: number): boolean {
    const s = this.socket;
    if (!s) return false;
    try {
      // one callback for every send (no closure per datagram): without one, Node drops send errors silently
      s.send(data, port, address, this.afterSend);
      return true;
    } catch (err) {
      this.opts.onSendError?.();
      this.opts.logger.warn({ err: (err as Error).message, to: hostPort(address, port) }, 'udp send failed');
      return false;
    }
  }

  connect(target: Target): Promise<Flow> {
    return Promise.resolve(this.flowTo(target.address, target.port));
  }

  /**
   * The flow to a peer. A UDP flow is a value (this socket, that address and
   * port), so one object per peer serves every datagram from it and every
   * transaction that keeps it for 32 s, instead of one per datagram.
   */
  flowTo(address: string, port: number): Flow {
    const key = `${address} ${port}`;
    let f = this.flows.get(key);
    if (f === undefined) {
      if (this.flows.size >= FLOW_CACHE_MAX) this.flows.clear();
      f = new UdpFlow(this, address, port);
      this.flows.set(key, f);
    }
    return f;
  }

  flow(): Flow | undefined {
    return undefined;
  }

  close(): Promise<void> {
    const s = this.socket;
    this.socket = null;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => s.close(() => resolve()));
  }
}
