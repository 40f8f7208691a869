/**
 * The UDP I/O thread of UdpTransport (udp.ts, `--udp-io-thread on`): it owns
 * the socket. What the socket receives is pushed into the inbound ring and
 * the event loop that handles SIP is woken; what that loop queues in the
 * outbound ring is sent from here. The system calls and Node's per-datagram
 * work (about half of what a REGISTER cost the SIP event loop) run on this
 * thread instead.
 *
 * Messages with the main thread (rare, never per datagram):
 *   to it:   { type: 'listening', address, port } | { type: 'bind-error', message, code }
 *            | { type: 'send-error', message } | { type: 'socket-error', message }
 *            | { type: 'buffer-warning', message }
 *   from it: { type: 'close' }
 */
import dgram from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { DatagramRing, type SharedRing } from './datagram-ring.js';

export interface UdpIoThreadData {
  host: string;
  port: number;
  recvBufferSize?: number;
  sendBufferSize?: number;
  inbound: SharedRing;
  outbound: SharedRing;
}

export type UdpIoEvent =
  | { type: 'listening'; address: string; port: number }
  | { type: 'bind-error'; message: string; code?: string }
  | { type: 'send-error'; message: string }
  | { type: 'socket-error'; message: string }
  | { type: 'buffer-warning'; message: string };

const port = parentPort;
if (port === null) throw new Error('udp-io-thread runs only as a worker thread');
const d = workerData as UdpIoThreadData;
const post = (e: UdpIoEvent): void => port.postMessage(e);

const inbound = new DatagramRing(d.inbound);
const outbound = new DatagramRing(d.outbound);
const type = isIP(d.host) === 6 ? 'udp6' : 'udp4';
const socket = dgram.createSocket({
  type,
  ipv6Only: type === 'udp6',
  // an address literal (what the transport layer sends to) needs no resolver round trip
  lookup: (host, family, cb) => {
    const f = isIP(host);
    if (f !== 0) cb(null, host, f);
    else dnsLookup(host, family, cb);
  },
});

// one wake-up of the SIP loop per turn of this loop, for all the datagrams libuv read in it
let signalQueued = false;
const signalInbound = (): void => {
  signalQueued = false;
  inbound.signal();
};
socket.on('message', (data, rinfo) => {
  // a full ring drops the datagram and counts it (as a full socket buffer would)
  if (inbound.push(data, rinfo.address, rinfo.port) && !signalQueued) {
    signalQueued = true;
    setImmediate(signalInbound);
  }
});
let bound = false;
socket.on('error', (err: NodeJS.ErrnoException) => {
  // before the bind completes, an error is the bind's own (EADDRINUSE…)
  post(bound ? { type: 'socket-error', message: err.message } : { type: 'bind-error', message: err.message, code: err.code });
});

// one callback for every send (none per datagram): without one, Node drops send errors silently
const afterSend = (err: Error | null): void => {
  if (err) post({ type: 'send-error', message: err.message });
};

let closing = false;

function send(data: Buffer, address: string, toPort: number): void {
  try {
    socket.send(data, toPort, address, afterSend);
  } catch (err) {
    post({ type: 'send-error', message: `${(err as Error).message} ${address}:${toPort}` });
  }
}

async function pumpOutbound(): Promise<void> {
  while (!closing) {
    const seen = outbound.signalCount;
    outbound.drain(send);
    // more came meanwhile: take it after a turn of this loop, so that receiving goes on too
    const wait = outbound.empty ? outbound.waitAsync(seen) : new Promise((resolve) => setImmediate(resolve));
    if (wait) await wait;
  }
}

socket.bind(d.port, d.host, () => {
  bound = true;
  try {
    if (d.recvBufferSize) socket.setRecvBufferSize(d.recvBufferSize);
    if (d.sendBufferSize) socket.setSendBufferSize(d.sendBufferSize);
  } catch (err) {
    post({ type: 'buffer-warning', message: (err as Error).message });
  }
  const a = socket.address();
  post({ type: 'listening', address: a.address, port: a.port });
  void pumpOutbound();
});

port.on('message', (m: { type: 'close' }) => {
  if (m.type !== 'close') return;
  closing = true;
  // what was queued before close goes out first
  outbound.drain(send);
  // wakes the pump so that it sees `closing`
  outbound.signal();
  socket.close(() => port.close());
});
