/**
 * Stream and WebSocket peers for the transport tests (issue 3): a wrapper
 * around any connected socket (TCP or TLS) and a SIP-over-WebSocket client
 * (RFC 7118) on the `ws` package. Every wait is bounded.
 */
import net from 'node:net';
import tls from 'node:tls';
import WebSocket from 'ws';
import { splitStream } from './sip-client.js';

/** Resolves with the promise's value, or rejects after ms. */
export function within<T>(p: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e as Error);
      },
    );
  });
}

/** true if the promise settles within ms. */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  try {
    await within(p, ms);
    return true;
  } catch (e) {
    return !(e instanceof Error && e.message.startsWith('timeout after'));
  }
}

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until cond() is true; rejects after timeoutMs. */
export async function until(cond: () => boolean, timeoutMs: number, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timeout after ${timeoutMs} ms waiting for ${what}`);
    await delay(10);
  }
}

export interface StreamPeer {
  socket: net.Socket;
  write(data: string | Buffer): void;
  /** resolves once `count` whole SIP messages have arrived (framed by Content-Length) */
  messages(count: number, timeoutMs?: number): Promise<string[]>;
  /** everything received so far, latin1 */
  received(): string;
  readonly isClosed: boolean;
  closed: Promise<void>;
  close(): void;
}

export function wrapSocket(socket: net.Socket): StreamPeer {
  let data = '';
  let isClosed = false;
  socket.on('data', (c: Buffer) => {
    data += c.toString('latin1');
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) =>
    socket.once('close', () => {
      isClosed = true;
      r();
    }),
  );
  return {
    socket,
    closed,
    get isClosed() {
      return isClosed;
    },
    write(d) {
      socket.write(typeof d === 'string' ? Buffer.from(d, 'latin1') : d);
    },
    received: () => data,
    async messages(count, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { messages } = splitStream(data);
        if (messages.length >= count) return messages.slice(0, count);
        if (Date.now() > deadline) throw new Error(`timeout: got ${messages.length} of ${count} messages: ${JSON.stringify(data.slice(0, 2000))}`);
        await delay(10);
      }
    },
    close() {
      socket.destroy();
    },
  };
}

export async function tcpConnect(port: number, host = '127.0.0.1', timeoutMs = 3000): Promise<StreamPeer> {
  const socket = net.connect({ port, host });
  socket.setNoDelay(true);
  await within(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }),
    timeoutMs,
    `TCP connect to ${host}:${port}`,
  ).catch((e: unknown) => {
    socket.destroy();
    throw e;
  });
  return wrapSocket(socket);
}

export async function tlsConnect(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<StreamPeer> {
  const socket = tls.connect({ port, host, rejectUnauthorized: false });
  await within(
    new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    }),
    timeoutMs,
    `TLS connect to ${host}:${port}`,
  ).catch((e: unknown) => {
    socket.destroy();
    throw e;
  });
  return wrapSocket(socket);
}

export interface WsFrame {
  data: string;
  binary: boolean;
}

export interface WsPeer {
  ws: WebSocket;
  /** the subprotocol the server selected */
  protocol: string;
  send(data: string | Buffer, binary?: boolean): void;
  next(timeoutMs?: number): Promise<WsFrame>;
  silent(ms: number): Promise<boolean>;
  readonly isClosed: boolean;
  closed: Promise<number>;
  close(): void;
}

export interface WsConnectOptions {
  protocols?: string[];
  timeoutMs?: number;
  /** ws ≥ 8.17: false makes this client ignore pings (a dead peer) */
  autoPong?: boolean;
}

/** Opens a WebSocket (wss: accepts the self-signed certificate). Rejects on a refused upgrade with the HTTP status in the message. */
export async function wsConnect(url: string, opts: WsConnectOptions = {}): Promise<WsPeer> {
  const ws = new WebSocket(url, opts.protocols ?? ['sip'], { rejectUnauthorized: false, autoPong: opts.autoPong ?? true });
  const queue: WsFrame[] = [];
  const waiters: Array<(f: WsFrame) => void> = [];
  let isClosed = false;
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const f = { data: data.toString('utf8'), binary: isBinary };
    const w = waiters.shift();
    if (w) w(f);
    else queue.push(f);
  });
  const closed = new Promise<number>((r) =>
    ws.once('close', (code: number) => {
      isClosed = true;
      r(code);
    }),
  );
  await within(
    new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    }),
    opts.timeoutMs ?? 5000,
    `WebSocket connect to ${url}`,
  ).catch((e: unknown) => {
    ws.on('error', () => undefined);
    ws.terminate();
    throw e;
  });
  ws.on('error', () => undefined);
  const next = (timeoutMs = 3000): Promise<WsFrame> => {
    const q = queue.shift();
    if (q) return Promise.resolve(q);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        const i = waiters.indexOf(done);
        if (i >= 0) waiters.splice(i, 1);
        reject(new Error('timeout waiting for a WebSocket message'));
      }, timeoutMs);
      const done = (f: WsFrame): void => {
        clearTimeout(t);
        resolve(f);
      };
      waiters.push(done);
    });
  };
  return {
    ws,
    protocol: ws.protocol,
    get isClosed() {
      return isClosed;
    },
    closed,
    send(data, binary = false) {
      ws.send(typeof data === 'string' ? Buffer.from(data, 'utf8') : data, { binary });
    },
    next,
    async silent(ms) {
      try {
        await next(ms);
        return false;
      } catch {
        return true;
      }
    },
    close() {
      ws.terminate();
    },
  };
}

/** Attempts an upgrade that should be refused; resolves with the HTTP status the server answered. */
export async function wsRefusedStatus(url: string, protocols: string[], timeoutMs = 5000): Promise<number> {
  try {
    const peer = await wsConnect(url, { protocols, timeoutMs });
    peer.close();
    throw new Error(`upgrade to ${url} with [${protocols.join(', ')}] was accepted (protocol ${JSON.stringify(peer.protocol)})`);
  } catch (e) {
    const m = /Unexpected server response: (\d{3})/.exec((e as Error).message);
    if (!m) throw e;
    return Number(m[1]);
  }
}
