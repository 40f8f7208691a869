/**
 * UDP transport (node:dgram), RFC 3261 §18: one message per datagram.
 * Keepalives (RFC 5626 §4.4.1: a CRLF datagram, or a STUN binding request
 * per RFC 5389) are absorbed here and never reach the core.
 *
 * With `ioThread`, the socket lives in a worker thread of its own
 * (udp-io-thread.ts) and datagrams cross in shared-memory rings
 * (datagram-ring.ts): the receive and send system calls, and Node's work
 * around each datagram, no longer run on the event loop that handles SIP.
 * This loop drains the inbound ring whenever the thread signals it, and
 * what it sends in one turn is handed over with one signal. Without the
 * thread (or when its compiled script is missing, as under the test runner
 * on the TypeScript sources) the socket is this thread's own.
 */
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SystemClock, type Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { DatagramRing } from './datagram-ring.js';
import type { UdpIoEvent, UdpIoThreadData } from './udp-io-thread.js';
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
  /** run the socket in a UDP I/O thread (ignored when its compiled script is missing) */
  ioThread?: boolean;
  /** bytes of each of the two rings between the threads (default 4 MiB) */
  ioRingSize?: number;
  /** paces the log line about a full queue to the I/O thread (default: the system clock) */
  clock?: Clock;
  /** datagrams received but dropped because the inbound ring was full (the SIP loop fell behind) */
  onQueueDrop?(count: number): void;
}

const THREAD_SCRIPT = new URL('./udp-io-thread.js', import.meta.url);
/**
 * Datagrams handled per turn of the event loop at most. A backlog taken in
 * one go keeps every request of it alive until its commit: past a few
 * thousand, each scavenge copied megabytes of them and took 30-40 ms, the
 * backlog grew, SIPp retransmitted, and the load never came back down.
 */
const DRAIN_BATCH = 256;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const DEFAULT_RING = 4 << 20;

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

interface IoThread {
  readonly worker: Worker;
  readonly inbound: DatagramRing;
  readonly outbound: DatagramRing;
  /** close() was called, or the thread ended */
  closed: boolean;
  /** inbound drops already reported */
  dropped: number;
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
  private thread: IoThread | null = null;
  private readonly clock: Clock;
  /** a signal to the I/O thread is queued for the end of this turn */
  private flushQueued = false;
  /** sends refused by a full queue since the last log line about it */
  private refusedSinceLog = 0;
  private refusedLoggedAt = -Infinity;

  constructor(private readonly opts: UdpOptions) {
    this.clock = opts.clock ?? new SystemClock();
  }

  /** The error of a failed send names its destination ("send EACCES 192.0.2.1:5060"). */
  private readonly afterSend = (err: Error | null): void => {
    if (err) this.sendFailed(err.message);
  };

  /** A send the socket refused, here or in the I/O thread: counted and logged. */
  private sendFailed(err: string, to?: string): void {
    this.opts.onSendError?.();
    this.opts.logger.warn(to === undefined ? { err } : { err, to }, 'udp send failed');
  }

  /** Whether the UDP I/O thread can run (its compiled script exists). */
  static ioThreadAvailable(): boolean {
    return existsSync(fileURLToPath(THREAD_SCRIPT));
  }

  /** Whether the socket runs in the UDP I/O thread. */
  get threaded(): boolean {
    return this.thread !== null;
  }

  listen(): Promise<void> {
    if (this.opts.ioThread && UdpTransport.ioThreadAvailable()) return this.listenThreaded();
    const type = isIP(this.opts.host) === 6 ? 'udp6' : 'udp4';
    const socket = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
    this.socket = socket;
    socket.on('message', (data, rinfo) => this.onDatagram(data, rinfo.address, rinfo.port));
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

  private listenThreaded(): Promise<void> {
    const size = this.opts.ioRingSize ?? DEFAULT_RING;
    const shared = { inbound: DatagramRing.allocate(size), outbound: DatagramRing.allocate(size) };
    const data: UdpIoThreadData = {
      host: this.opts.host,
      port: this.opts.port,
      recvBufferSize: this.opts.recvBufferSize,
      sendBufferSize: this.opts.sendBufferSize,
      ...shared,
    };
    const worker = new Worker(THREAD_SCRIPT, { workerData: data, name: 'udp-io' });
    const thread: IoThread = { worker, inbound: new DatagramRing(shared.inbound), outbound: new DatagramRing(shared.outbound), closed: false, dropped: 0 };
    this.thread = thread;
    const log = this.opts.logger;
    return new Promise((resolve, reject) => {
      let listening = false;
      worker.on('message', (e: UdpIoEvent) => {
        switch (e.type) {
          case 'listening':
            listening = true;
            this.bound = { address: e.address, port: e.port };
            void this.pump(thread);
            resolve();
            break;
          case 'bind-error':
            // an ending listen() already says why: the thread's exit is expected
            thread.closed = true;
            reject(Object.assign(new Error(e.message), { code: e.code }));
            void worker.terminate();
            break;
          case 'send-error':
            this.sendFailed(e.message);
            break;
          case 'socket-error':
            log.error({ err: e.message, transport: 'UDP' }, 'udp socket error');
            break;
          case 'buffer-warning':
            log.warn({ err: e.message }, 'could not set UDP socket buffer size');
            break;
        }
      });
      worker.on('error', (err) => {
        log.error({ err, transport: 'UDP' }, 'udp I/O thread failed');
        if (!listening) reject(err);
      });
      worker.on('exit', (code) => {
        const expected = thread.closed;
        thread.closed = true;
        // wakes the pump so that it ends
        thread.inbound.signal();
        if (!expected) {
          log.error({ code, transport: 'UDP' }, 'udp I/O thread exited; this UDP socket is gone');
          // no longer bound: /healthz reports the listener down
          this.bound = { address: this.bound.address, port: 0 };
        }
        if (!listening) reject(new Error(`udp I/O thread exited with code ${code}`));
      });
    });
  }

  /** Drains the inbound ring each time the I/O thread signals, until the thread ends. */
  private async pump(t: IoThread): Promise<void> {
    const handle = (data: Buffer, address: string, port: number): void => this.onDatagram(data, address, port);
    while (!t.closed) {
      const seen = t.inbound.signalCount;
      try {
        t.inbound.drain(handle, DRAIN_BATCH);
      } catch (err) {
        // the sink answers bad input itself; this is a bug, and the next datagrams still go through
        this.opts.logger.error({ err, transport: 'UDP' }, 'udp datagram handling failed');
      }
      const dropped = t.inbound.dropped;
      if (dropped !== t.dropped) {
        this.opts.onQueueDrop?.(dropped - t.dropped);
        t.dropped = dropped;
      }
      // more came meanwhile: take it after a turn of the event loop (timers, commits and
      // the writer's replies must not wait behind a steady stream of datagrams)
      const wait = t.inbound.empty ? t.inbound.waitAsync(seen) : nextTurn();
      if (wait) await wait;
    }
  }

  /** One datagram from the socket (or the I/O thread). */
  onDatagram(data: Buffer, address: string, port: number): void {
    if (data.length <= 4 && isCrlfOnly(data)) {
      this.opts.onKeepalive?.();
      return;
    }
    if (isStun(data)) {
      this.opts.onKeepalive?.();
      return;
    }
    this.opts.sink.onMessage(data, this.flowTo(address, port));
  }

  address(): { address: string; port: number } {
    return this.bound;
  }

  sendTo(data: Buffer, address: string, port: number): boolean {
    const t = this.thread;
    if (t !== null) {
      if (t.closed) return false;
      if (!t.outbound.push(data, address, port)) {
        this.opts.onSendError?.();
        this.queueFull(address, port);
        return false;
      }
      // one signal for everything this turn sends
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(this.flush);
      }
      return true;
    }
    const s = this.socket;
    if (!s) return false;
    try {
      // one callback for every send (no closure per datagram): without one, Node drops send errors silently
      s.send(data, port, address, this.afterSend);
      return true;
    } catch (err) {
      this.sendFailed((err as Error).message, hostPort(address, port));
      return false;
    }
  }

  /** Logs a full queue to the I/O thread at most once a second (an overload must not also flood the log). */
  private queueFull(address: string, port: number): void {
    this.refusedSinceLog++;
    const now = this.clock.now();
    if (now - this.refusedLoggedAt < 1000) return;
    this.opts.logger.warn({ to: hostPort(address, port), refused: this.refusedSinceLog }, 'udp send failed: the queue to the I/O thread is full');
    this.refusedSinceLog = 0;
    this.refusedLoggedAt = now;
  }

  private readonly flush = (): void => {
    this.flushQueued = false;
    this.thread?.outbound.signal();
  };

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
    const t = this.thread;
    if (t !== null) {
      if (t.closed) return Promise.resolve();
      return new Promise((resolve) => {
        t.worker.once('exit', () => resolve());
        // the thread sends what is queued, closes the socket and ends
        t.closed = true;
        t.worker.postMessage({ type: 'close' });
      });
    }
    const s = this.socket;
    this.socket = null;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => s.close(() => resolve()));
  }
}
