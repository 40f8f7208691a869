/**
 * WebSocket and secure WebSocket transports, RFC 7118. The HTTP upgrade must
 * negotiate the `sip` subprotocol (§4.1), each WebSocket message carries one
 * SIP message (text or binary, §5.2), and a WebSocket connection is a flow: a
 * WebRTC client's `.invalid` Contact is reachable only through it. Ping/pong
 * keeps flows alive and detects dead ones.
 */
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket } from 'ws';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { Flow, Target, Transport, TransportSink } from './transport.js';
import { hostPort } from './transport.js';

export interface WsOptions {
  protocol: 'WS' | 'WSS';
  host: string;
  port: number;
  sink: TransportSink;
  logger: Logger;
  clock: Clock;
  tls?: { cert: Buffer | string; key: Buffer | string };
  maxConnections?: number;
  maxMessageSize?: number;
  /** interval between WebSocket pings; a peer that missed the previous pong is closed */
  pingIntervalMs?: number;
  onKeepalive?(): void;
  onConnectionsChanged?(open: number): void;
  onRefused?(reason: string): void;
}

let wsSeq = 0;

class WsFlow implements Flow {
  readonly id: string;
  readonly reliable = true;
  closed = false;
  alive = true;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;

  constructor(
    readonly protocol: 'WS' | 'WSS',
    readonly ws: WebSocket,
    socket: { remoteAddress?: string; remotePort?: number; localAddress?: string; localPort?: number },
  ) {
    this.id = `${protocol.toLowerCase()}#${++wsSeq}`;
    this.remoteAddress = normalize(socket.remoteAddress ?? '');
    this.remotePort = socket.remotePort ?? 0;
    this.localAddress = normalize(socket.localAddress ?? '');
    this.localPort = socket.localPort ?? 0;
  }

  send(data: Buffer): boolean {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return false;
    // RFC 7118 §5.2: SIP messages are sent as text frames when they are valid UTF-8; we send text (SIP.js and JsSIP expect it)
    this.ws.send(data, { binary: false });
    return true;
  }
}

function normalize(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

export class WsTransport implements Transport {
  readonly protocol: 'WS' | 'WSS';
  private httpServer: http.Server | https.Server | null = null;
  private wss: WebSocketServer | null = null;
  private bound = { address: '', port: 0 };
  private readonly flows = new Map<string, WsFlow>();
  private pingTimer: TimerHandle | undefined;
  private closing = false;

  constructor(private readonly opts: WsOptions) {
    this.protocol = opts.protocol;
  }

  get size(): number {
    return this.flows.size;
  }

  listen(): Promise<void> {
    const o = this.opts;
    const server =
      o.protocol === 'WSS'
        ? https.createServer({ cert: o.tls?.cert, key: o.tls?.key })
        : http.createServer();
    server.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      res.end('SIP over WebSocket (RFC 7118): upgrade with subprotocol "sip"\n');
    });
    server.on('tlsClientError', (err: Error) => {
      o.logger.info({ err: err.message }, 'WSS TLS handshake failed');
      o.onRefused?.('tls-handshake');
    });
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: o.maxMessageSize ?? 65536,
      // RFC 7118 §4.1: the server selects "sip"; handshakes without it are refused below
      handleProtocols: (protocols) => (protocols.has('sip') ? 'sip' : false),
    });
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const offered = String(req.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map((p) => p.trim().toLowerCase());
      if (!offered.includes('sip')) {
        o.logger.info({ remote: req.socket.remoteAddress }, 'WebSocket upgrade without the sip subprotocol refused');
        o.onRefused?.('no-sip-subprotocol');
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      if (this.flows.size >= (o.maxConnections ?? 10_000)) {
        o.logger.warn({ max: o.maxConnections }, 'WebSocket connection limit reached; upgrade refused');
        o.onRefused?.('max-connections');
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req));
    });
    this.httpServer = server;
    this.wss = wss;
    this.schedulePing();
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: o.port, host: o.host, ipv6Only: o.host.includes(':') }, () => {
        server.off('error', reject);
        server.on('error', (err) => o.logger.error({ err }, 'WebSocket listener error'));
        const a = server.address() as { address: string; port: number };
        this.bound = { address: a.address, port: a.port };
        resolve();
      });
    });
  }

  private accept(ws: WebSocket, req: http.IncomingMessage): void {
    const flow = new WsFlow(this.protocol, ws, req.socket);
    this.flows.set(flow.id, flow);
    this.opts.onConnectionsChanged?.(this.flows.size);
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      flow.alive = true;
      // RFC 5626 §4.4.1 CRLF keepalives are also seen over WebSocket from some clients
      if (buf.length <= 4 && /^[\r\n]+$/.test(buf.toString('latin1'))) {
        this.opts.onKeepalive?.();
        if (buf.length === 4) flow.send(Buffer.from('\r\n'));
        return;
      }
      this.opts.sink.onMessage(buf, flow);
    });
    ws.on('pong', () => {
      flow.alive = true;
      this.opts.onKeepalive?.();
    });
    ws.on('error', (err) => {
      this.opts.logger.info({ flow: flow.id, err: err.message }, 'WebSocket error; closing');
      this.opts.onRefused?.('ws-error');
    });
    ws.on('close', () => {
      if (flow.closed) return;
      flow.closed = true;
      this.flows.delete(flow.id);
      this.opts.onConnectionsChanged?.(this.flows.size);
      this.opts.sink.onFlowClosed?.(flow);
    });
  }

  private schedulePing(): void {
    const interval = this.opts.pingIntervalMs ?? 30_000;
    this.pingTimer = this.opts.clock.setTimer(interval, () => {
      this.pingAll();
      if (!this.closing) this.schedulePing();
    });
  }

  /** Pings every flow; one that did not answer the previous ping is terminated. */
  pingAll(): void {
    for (const flow of this.flows.values()) {
      if (!flow.alive) {
        this.opts.logger.info({ flow: flow.id }, 'WebSocket peer missed a pong; terminating');
        flow.ws.terminate();
        continue;
      }
      flow.alive = false;
      try {
        flow.ws.ping();
      } catch {
        flow.ws.terminate();
      }
    }
  }

  address(): { address: string; port: number } {
    return this.bound;
  }

  flow(id: string): Flow | undefined {
    return this.flows.get(id);
  }

  connect(target: Target): Promise<Flow> {
    // A WebSocket client listens on nothing: it is reached only over the flow it opened (RFC 7118 §5).
    for (const f of this.flows.values()) {
      if (f.remoteAddress === target.address && f.remotePort === target.port && !f.closed) return Promise.resolve(f);
    }
    return Promise.reject(new Error(`no open WebSocket flow to ${hostPort(target.address, target.port)}`));
  }

  async close(): Promise<void> {
    this.closing = true;
    this.opts.clock.clearTimer(this.pingTimer);
    for (const f of this.flows.values()) f.ws.terminate();
    this.wss?.close();
    const s = this.httpServer;
    this.httpServer = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
