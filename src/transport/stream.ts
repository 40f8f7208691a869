/**
 * TCP and TLS transports (RFC 3261 §18.3): messages framed from the byte
 * stream by Content-Length, responses back on the connection the request came
 * on, connection reuse towards a target (§18.1.1), RFC 5626 §4.4.1 CRLF
 * keepalives, and limits on connections, buffered bytes, idle time and
 * partial messages.
 *
 * Writes within one event-loop tick are coalesced with cork/uncork
 * (BENCHMARKING.md: one write() per message costs 5× a batched write).
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { StreamFramer } from '../sip/stream-framer.js';
import type { Flow, Target, Transport, TransportSink } from './transport.js';
import { hostPort } from './transport.js';

export interface StreamLimits {
  /** most open connections on this listener (inbound + outbound) */
  maxConnections: number;
  /** largest message accepted on a connection */
  maxMessageSize: number;
  /** bytes queued for sending on one connection before sends are refused */
  maxSendBuffer: number;
  /** a connection with no traffic for this long is closed */
  idleTimeoutMs: number;
  /** a partial message not completed within this time closes its connection */
  partialMessageTimeoutMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxConnections: 10_000,
  maxMessageSize: 65536,
  maxSendBuffer: 1 << 20,
  idleTimeoutMs: 600_000,
  partialMessageTimeoutMs: 30_000,
};

export interface StreamOptions {
  protocol: 'TCP' | 'TLS';
  host: string;
  port: number;
  sink: TransportSink;
  logger: Logger;
  clock: Clock;
  limits?: Partial<StreamLimits>;
  /** TLS server credentials (PEM) */
  tls?: { cert: Buffer | string; key: Buffer | string; rejectUnauthorized?: boolean };
  onKeepalive?(): void;
  onConnectionsChanged?(open: number): void;
  onRefused?(reason: string): void;
}

let connectionSeq = 0;

export class StreamConnection implements Flow {
  readonly id: string;
  readonly reliable = true;
  closed = false;
  lastActivity: number;
  partialSince = 0;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  private corked = false;
  readonly framer: StreamFramer;

  constructor(
    readonly protocol: 'TCP' | 'TLS',
    readonly socket: net.Socket,
    private readonly owner: StreamTransport,
    now: number,
  ) {
    this.id = `${protocol.toLowerCase()}#${++connectionSeq}`;
    this.remoteAddress = normalizeAddress(socket.remoteAddress ?? '');
    this.remotePort = socket.remotePort ?? 0;
    this.localAddress = normalizeAddress(socket.localAddress ?? '');
    this.localPort = socket.localPort ?? 0;
    this.lastActivity = now;
    this.framer = new StreamFramer({
      maxMessageSize: owner.limits.maxMessageSize,
      onMessage: (m) => owner.deliver(m, this),
      onKeepalive: (kind) => {
        owner.keepalive();
        // RFC 5626 §4.4.1: a double-CRLF ping gets a single CRLF pong
        if (kind === 'ping') this.send(PONG);
      },
      onError: (err) => {
        owner.logger.warn({ flow: this.id, remote: hostPort(this.remoteAddress, this.remotePort), code: err.code }, 'closing connection: unframeable input');
        owner.refused('bad-framing');
        this.close();
      },
    });
  }

  send(data: Buffer): boolean {
    if (this.closed || this.socket.destroyed) return false;
    if (this.socket.writableLength + data.length > this.owner.limits.maxSendBuffer) {
      this.owner.logger.warn({ flow: this.id, buffered: this.socket.writableLength }, 'send buffer limit reached; message refused');
      this.owner.refused('send-buffer');
      return false;
    }
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(data);
    this.lastActivity = this.owner.clock.now();
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.socket.end();
    this.socket.destroySoon?.();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }
}

const PONG = Buffer.from('\r\n', 'latin1');

function normalizeAddress(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

export class StreamTransport implements Transport {
  readonly protocol: 'TCP' | 'TLS';
  readonly limits: StreamLimits;
  readonly logger: Logger;
  readonly clock: Clock;
  private server: net.Server | null = null;
  private bound = { address: '', port: 0 };
  private readonly byId = new Map<string, StreamConnection>();
  private readonly byRemote = new Map<string, StreamConnection>();
  private readonly connecting = new Map<string, Promise<Flow>>();
  private sweepTimer: TimerHandle | undefined;
  private closing = false;

  constructor(private readonly opts: StreamOptions) {
    this.protocol = opts.protocol;
    this.limits = { ...DEFAULT_STREAM_LIMITS, ...opts.limits };
    this.logger = opts.logger;
    this.clock = opts.clock;
  }

  get size(): number {
    return this.byId.size;
  }

  listen(): Promise<void> {
    const onConnection = (socket: net.Socket): void => {
      this.accept(socket);
    };
    let server: net.Server;
    if (this.protocol === 'TLS') {
      if (!this.opts.tls) throw new Error('TLS transport needs a certificate and key');
      const tserver = tls.createServer({ cert: this.opts.tls.cert, key: this.opts.tls.key }, onConnection);
      tserver.on('tlsClientError', (err, socket) => {
        this.logger.info({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed');
        this.refused('tls-handshake');
        socket.destroy();
      });
      server = tserver;
    } else {
      server = net.createServer(onConnection);
    }
    server.maxConnections = this.limits.maxConnections;
    server.on('drop', () => {
      this.logger.warn({ transport: this.protocol, max: this.limits.maxConnections }, 'connection limit reached; connection dropped');
      this.refused('max-connections');
    });
    server.on('error', (err) => this.logger.error({ err, transport: this.protocol }, 'listener error'));
    this.server = server;
    this.scheduleSweep();
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: this.opts.port, host: this.opts.host, ipv6Only: this.opts.host.includes(':') }, () => {
        server.off('error', reject);
        const a = server.address() as net.AddressInfo;
        this.bound = { address: a.address, port: a.port };
        resolve();
      });
    });
  }

  private accept(socket: net.Socket): StreamConnection | undefined {
    if (this.byId.size >= this.limits.maxConnections) {
      this.logger.warn({ transport: this.protocol, max: this.limits.maxConnections }, 'connection limit reached; connection dropped');
      this.refused('max-connections');
      socket.destroy();
      return undefined;
    }
    socket.setNoDelay(true);
    const conn = new StreamConnection(this.protocol, socket, this, this.clock.now());
    this.byId.set(conn.id, conn);
    this.byRemote.set(hostPort(conn.remoteAddress, conn.remotePort), conn);
    this.opts.onConnectionsChanged?.(this.byId.size);
    socket.on('data', (chunk: Buffer) => {
      conn.lastActivity = this.clock.now();
      conn.framer.push(chunk);
      if (conn.framer.idle) conn.partialSince = 0;
      else if (conn.partialSince === 0) conn.partialSince = conn.lastActivity;
    });
    socket.on('error', (err) => this.logger.debug({ flow: conn.id, err: err.message }, 'connection error'));
    socket.on('close', () => this.forget(conn));
    return conn;
  }

  private forget(conn: StreamConnection): void {
    if (conn.closed) return;
    conn.closed = true;
    this.byId.delete(conn.id);
    const key = hostPort(conn.remoteAddress, conn.remotePort);
    if (this.byRemote.get(key) === conn) this.byRemote.delete(key);
    this.opts.onConnectionsChanged?.(this.byId.size);
    this.opts.sink.onFlowClosed?.(conn);
  }

  deliver(data: Buffer, conn: StreamConnection): void {
    this.opts.sink.onMessage(data, conn);
  }

  keepalive(): void {
    this.opts.onKeepalive?.();
  }

  refused(reason: string): void {
    this.opts.onRefused?.(reason);
  }

  /** Closes idle connections and those stuck on a partial message (coarse sweep, every second). */
  private scheduleSweep(): void {
    this.sweepTimer = this.clock.setTimer(1000, () => {
      this.sweep();
      if (!this.closing) this.scheduleSweep();
    });
  }

  sweep(): void {
    const now = this.clock.now();
    for (const conn of this.byId.values()) {
      if (conn.partialSince && now - conn.partialSince > this.limits.partialMessageTimeoutMs) {
        this.logger.info({ flow: conn.id }, 'closing connection: partial message timed out');
        this.refused('partial-timeout');
        conn.close();
      } else if (now - conn.lastActivity > this.limits.idleTimeoutMs) {
        this.logger.debug({ flow: conn.id }, 'closing idle connection');
        conn.close();
      }
    }
  }

  address(): { address: string; port: number } {
    return this.bound;
  }

  flow(id: string): Flow | undefined {
    return this.byId.get(id);
  }

  connect(target: Target): Promise<Flow> {
    const key = hostPort(target.address, target.port);
    const open = this.byRemote.get(key);
    if (open && !open.closed) return Promise.resolve(open);
    const pending = this.connecting.get(key);
    if (pending) return pending;
    if (this.byId.size >= this.limits.maxConnections) return Promise.reject(new Error('connection limit reached'));
    const p = new Promise<Flow>((resolve, reject) => {
      const socket =
        this.protocol === 'TLS'
          ? tls.connect({ host: target.address, port: target.port, rejectUnauthorized: this.opts.tls?.rejectUnauthorized ?? false })
          : net.connect({ host: target.address, port: target.port });
      const ready = this.protocol === 'TLS' ? 'secureConnect' : 'connect';
      const onError = (err: Error): void => {
        this.connecting.delete(key);
        reject(err);
      };
      socket.once('error', onError);
      socket.once(ready, () => {
        socket.off('error', onError);
        this.connecting.delete(key);
        const conn = this.accept(socket);
        if (conn) resolve(conn);
        else reject(new Error('connection limit reached'));
      });
    });
    this.connecting.set(key, p);
    return p;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.clock.clearTimer(this.sweepTimer);
    for (const conn of this.byId.values()) conn.socket.destroy();
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
