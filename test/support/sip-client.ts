/** Minimal raw-socket SIP peers for integration tests (UDP, TCP). Every wait is bounded. */
import dgram from 'node:dgram';
import net from 'node:net';

export interface UdpPeer {
  port: number;
  send(msg: string | Buffer, port: number, host?: string): void;
  /** next datagram, or rejects after timeoutMs */
  next(timeoutMs?: number): Promise<Buffer>;
  /** true if nothing arrives within ms */
  silent(ms: number): Promise<boolean>;
  close(): void;
}

export async function udpPeer(host = '127.0.0.1'): Promise<UdpPeer> {
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const queue: Buffer[] = [];
  const waiters: Array<(b: Buffer) => void> = [];
  sock.on('message', (m) => {
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  });
  await new Promise<void>((r) => sock.bind(0, host, () => r()));
  const peer: UdpPeer = {
    port: sock.address().port,
    send(msg, port, to = host) {
      sock.send(typeof msg === 'string' ? Buffer.from(msg, 'latin1') : msg, port, to);
    },
    next(timeoutMs = 3000) {
      const q = queue.shift();
      if (q) return Promise.resolve(q);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          const i = waiters.indexOf(done);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error('timeout waiting for a datagram'));
        }, timeoutMs);
        const done = (b: Buffer): void => {
          clearTimeout(t);
          resolve(b);
        };
        waiters.push(done);
      });
    },
    async silent(ms) {
      try {
        await peer.next(ms);
        return false;
      } catch {
        return true;
      }
    },
    close() {
      sock.close();
    },
  };
  return peer;
}

export interface TcpPeer {
  socket: net.Socket;
  write(data: string | Buffer): void;
  /** resolves when the bytes received so far contain `count` complete SIP messages (by Content-Length), returns them */
  messages(count: number, timeoutMs?: number): Promise<string[]>;
  received(): string;
  closed: Promise<void>;
  close(): void;
}

export function splitStream(text: string): { messages: string[]; rest: string } {
  const messages: string[] = [];
  let rest = text;
  for (;;) {
    rest = rest.replace(/^(\r\n)+/, '');
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) break;
    const m = /\r\n(?:content-length|l)[ \t]*:[ \t]*(\d+)/i.exec(rest.slice(0, end + 2));
    const len = m ? Number(m[1]) : 0;
    if (rest.length < end + 4 + len) break;
    messages.push(rest.slice(0, end + 4 + len));
    rest = rest.slice(end + 4 + len);
  }
  return { messages, rest };
}

export async function tcpPeer(port: number, host = '127.0.0.1'): Promise<TcpPeer> {
  const socket = net.connect({ port, host });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let data = '';
  socket.on('data', (c: Buffer) => {
    data += c.toString('latin1');
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  return {
    socket,
    closed,
    write(d) {
      socket.write(typeof d === 'string' ? Buffer.from(d, 'latin1') : d);
    },
    received: () => data,
    async messages(count, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { messages } = splitStream(data);
        if (messages.length >= count) return messages.slice(0, count);
        if (Date.now() > deadline) throw new Error(`timeout: got ${messages.length} of ${count} messages: ${JSON.stringify(data)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close() {
      socket.destroy();
    },
  };
}

let seq = 0;
/** An OPTIONS request as a string with CRLFs. */
export function options(opts: { uri: string; via: string; callId?: string; branch?: string; extra?: string[] }): string {
  seq++;
  const branch = opts.branch ?? `z9hG4bK-test-${process.pid}-${seq}`;
  return [
    `OPTIONS ${opts.uri} SIP/2.0`,
    `Via: ${opts.via};branch=${branch}`,
    'Max-Forwards: 70',
    `From: <sip:tester@example.test>;tag=t${seq}`,
    `To: <${opts.uri}>`,
    `Call-ID: ${opts.callId ?? `call-${process.pid}-${seq}`}`,
    'CSeq: 1 OPTIONS',
    ...(opts.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

export function statusOf(msg: string | Buffer): number {
  const s = typeof msg === 'string' ? msg : msg.toString('latin1');
  const m = /^SIP\/2\.0 (\d{3})/.exec(s);
  return m ? Number(m[1]) : 0;
}

export function header(msg: string | Buffer, name: string): string | undefined {
  const s = typeof msg === 'string' ? msg : msg.toString('latin1');
  const m = new RegExp(`\\r\\n${name}[ \\t]*:[ \\t]*([^\\r\\n]*)`, 'i').exec(s);
  return m?.[1];
}
