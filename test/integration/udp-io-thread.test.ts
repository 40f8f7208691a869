/**
 * UdpTransport with its socket in the UDP I/O thread (`--udp-io-thread on`,
 * the server's default). The thread runs the compiled script, so this test
 * loads the built modules from dist/ (npm test builds first).
 */
import dgram from 'node:dgram';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { Flow } from '../../src/transport/transport.js';
import { until } from '../support/peers.js';
import { assertPrivateNetwork } from '../support/server-process.js';

const dist = (p: string) => import(/* @vite-ignore */ new URL(`../../dist/${p}`, import.meta.url).href);
const { UdpTransport } = (await dist('transport/udp.js')) as typeof import('../../src/transport/udp.js');
const { DatagramRing } = (await dist('transport/datagram-ring.js')) as typeof import('../../src/transport/datagram-ring.js');
const { ManualClock } = (await dist('util/clock.js')) as typeof import('../../src/util/clock.js');
type Transport = import('../../src/transport/udp.js').UdpTransport;
type Options = import('../../src/transport/udp.js').UdpOptions;

const quiet = { warn: () => {}, error: () => {}, info: () => {}, debug: () => {} };

let transport: Transport | undefined;
const sockets: dgram.Socket[] = [];
afterEach(async () => {
  await transport?.close();
  transport = undefined;
  for (const s of sockets.splice(0)) s.close();
});

async function threaded(opts: Partial<Options> & Pick<Options, 'sink'>): Promise<Transport> {
  assertPrivateNetwork();
  transport = new UdpTransport({ host: '127.0.0.1', port: 0, logger: quiet as never, ioThread: true, ...opts });
  await transport.listen();
  expect(transport.threaded).toBe(true);
  return transport;
}

async function peer(host = '127.0.0.1'): Promise<dgram.Socket> {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  sockets.push(s);
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  return s;
}

describe('UDP I/O thread', () => {
  it('2,000 datagrams in and their answers out, in order, with the peer address and port', async () => {
    const t = await threaded({ sink: { onMessage: (data, flow) => flow.send(Buffer.concat([Buffer.from('re:'), data])) } });
    const p = await peer();
    const got: string[] = [];
    p.on('message', (m, rinfo) => {
      expect(rinfo.port).toBe(t.address().port);
      got.push(m.toString());
    });
    const sent: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const m = `OPTIONS sip:${i}@example.com SIP/2.0\r\n\r\n`;
      sent.push(`re:${m}`);
      p.send(m, t.address().port, '127.0.0.1');
      // bounded bursts: the peer's own receive buffer is the default one
      if (i % 100 === 99) await until(() => got.length === i + 1, 5000, `answer ${i}`);
    }
    await until(() => got.length === 2000, 5000, 'all answers');
    expect(got).toEqual(sent);
  });

  it('over IPv6 (::1)', async () => {
    assertPrivateNetwork();
    const flows: Flow[] = [];
    transport = new UdpTransport({ host: '::1', port: 0, logger: quiet as never, ioThread: true, sink: { onMessage: (d, f) => (flows.push(f), f.send(d)) } });
    await transport.listen();
    expect(transport.address().address).toBe('::1');
    const p = await peer('::1');
    const echoed = new Promise<string>((r) => p.once('message', (m) => r(m.toString())));
    p.send('ping-v6', transport.address().port, '::1');
    expect(await echoed).toBe('ping-v6');
    expect(flows[0]!.remoteAddress).toBe('::1');
    expect(flows[0]!.remotePort).toBe(p.address().port);
  });

  it('a keepalive (CRLF) is counted and never reaches the core', async () => {
    const messages: string[] = [];
    let keepalives = 0;
    const t = await threaded({ sink: { onMessage: (d) => messages.push(d.toString()) }, onKeepalive: () => keepalives++ });
    const p = await peer();
    p.send('\r\n\r\n', t.address().port, '127.0.0.1');
    p.send('OPTIONS sip:x SIP/2.0\r\n\r\n', t.address().port, '127.0.0.1');
    await until(() => messages.length === 1, 2000);
    expect(keepalives).toBe(1);
  });

  it('a send the kernel refuses is counted and logged with its destination', async () => {
    const warnings: string[] = [];
    let errors = 0;
    const logger = { ...quiet, warn: (o: { err?: string }, msg: string) => warnings.push(`${msg}: ${o.err}`) };
    const t = await threaded({ sink: { onMessage: () => {} }, logger: logger as never, onSendError: () => errors++ });
    expect(t.sendTo(Buffer.from('OPTIONS'), '255.255.255.255', 5060)).toBe(true);
    await until(() => errors === 1, 2000);
    expect(warnings).toEqual([expect.stringMatching(/^udp send failed: send EACCES 255\.255\.255\.255:5060/)]);
  });

  it('a port in use: listen() fails with EADDRINUSE and no thread is left behind', async () => {
    const taken = await peer();
    const errors: string[] = [];
    const logger = { ...quiet, error: (_o: unknown, msg: string) => errors.push(msg) };
    const t = new UdpTransport({ host: '127.0.0.1', port: taken.address().port, logger: logger as never, ioThread: true, sink: { onMessage: () => {} } });
    await expect(t.listen()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(t.sendTo(Buffer.from('x'), '127.0.0.1', 9)).toBe(false);
    const worker = (t as unknown as { thread: { worker: Worker } }).thread.worker;
    // resolves once the thread has ended (at once if it already has)
    await worker.terminate();
    await new Promise((r) => setTimeout(r, 20));
    // the rejection says it all: no error line for the thread's exit
    expect(errors).toEqual([]);
  });

  it('a backlog is handled a batch per event-loop turn: timers and commits run within it', async () => {
    let handled = 0;
    let immediateAt = -1;
    const t = await threaded({
      recvBufferSize: 4 << 20,
      sink: {
        onMessage: () => {
          // the second datagram holds this loop while the rest queue up, then asks for the next turn
          if (handled++ === 1) {
            const end = Date.now() + 300;
            while (Date.now() < end);
            setImmediate(() => (immediateAt = handled));
          }
        },
      },
    });
    const p = await peer();
    p.send(Buffer.alloc(100, 0x41), t.address().port, '127.0.0.1');
    await until(() => handled === 1, 2000, 'the first datagram');
    for (let i = 0; i < 2000; i++) p.send(Buffer.alloc(100, 0x41), t.address().port, '127.0.0.1');
    await until(() => handled === 2001, 5000, 'every datagram handled');
    // taken in one drain, the backlog would have run before the immediate (immediateAt 2001)
    expect(immediateAt).toBeGreaterThan(0);
    expect(immediateAt).toBeLessThan(1000);
  });

  it('datagrams the SIP loop has no room for are dropped and counted, and the transport goes on', async () => {
    let drops = 0;
    let handled = 0;
    const t = await threaded({
      ioRingSize: 1024,
      onQueueDrop: (n) => (drops += n),
      sink: {
        onMessage: () => {
          // the first datagram keeps this loop busy while the rest arrive
          if (handled++ === 0) {
            const end = Date.now() + 200;
            while (Date.now() < end);
          }
        },
      },
    });
    const p = await peer();
    for (let i = 0; i < 50; i++) p.send(Buffer.alloc(200, 0x41), t.address().port, '127.0.0.1');
    await until(() => handled + drops === 50, 5000, 'every datagram handled or dropped');
    expect(drops).toBeGreaterThan(0);
    expect(handled).toBeLessThan(50);
    p.send('after', t.address().port, '127.0.0.1');
    await until(() => handled + drops === 51, 2000, 'the next datagram');
  });

  it('an I/O thread that dies is logged, its listener reads as unbound (port 0, as /healthz checks) and sends fail', async () => {
    const errors: string[] = [];
    const logger = { ...quiet, error: (_o: unknown, msg: string) => errors.push(msg) };
    const t = await threaded({ sink: { onMessage: () => {} }, logger: logger as never });
    expect(t.address().port).toBeGreaterThan(0);
    // failure injected from outside: the thread is private to the transport
    await (t as unknown as { thread: { worker: Worker } }).thread.worker.terminate();
    await until(() => errors.length === 1, 2000, 'the error line');
    expect(errors).toEqual(['udp I/O thread exited; this UDP socket is gone']);
    expect(t.address().port).toBe(0);
    expect(t.sendTo(Buffer.from('x'), '127.0.0.1', 9)).toBe(false);
  });

  it('a full queue to the I/O thread refuses sends, counts each, and logs at most one line a second', async () => {
    const warnings: Array<{ refused: number }> = [];
    const logger = { ...quiet, warn: (o: { refused: number }) => warnings.push(o) };
    const clock = new ManualClock();
    let errors = 0;
    const t = await threaded({ sink: { onMessage: () => {} }, logger: logger as never, clock, ioRingSize: 1024, onSendError: () => errors++ });
    const p = await peer();
    // the thread is signalled once this turn ends: within it, the 1 KiB queue takes four of these
    const results = Array.from({ length: 50 }, () => t.sendTo(Buffer.alloc(200, 0x42), '127.0.0.1', p.address().port));
    expect(results.filter((r) => r)).toHaveLength(4);
    expect(errors).toBe(46);
    expect(warnings.map((w) => w.refused)).toEqual([1]);
    clock.advance(1000);
    for (let i = 0; i < 10; i++) t.sendTo(Buffer.alloc(200, 0x42), '127.0.0.1', p.address().port);
    // the 45 refused after the first line are counted in the next one
    expect(warnings.map((w) => w.refused)).toEqual([1, 46]);
  });

  it('close() sends what was queued, ends the thread and frees the port', async () => {
    const t = await threaded({ sink: { onMessage: () => {} } });
    const port = t.address().port;
    const p = await peer();
    const got: string[] = [];
    p.on('message', (m) => got.push(m.toString()));
    for (let i = 0; i < 20; i++) t.sendTo(Buffer.from(`last-${i}`), '127.0.0.1', p.address().port);
    await t.close();
    transport = undefined;
    expect(t.sendTo(Buffer.from('late'), '127.0.0.1', p.address().port)).toBe(false);
    await until(() => got.length === 20, 2000, 'the queued datagrams');
    expect(got[19]).toBe('last-19');
    const again = await new Promise<dgram.Socket>((resolve, reject) => {
      const s = dgram.createSocket('udp4');
      s.once('error', reject);
      s.bind(port, '127.0.0.1', () => resolve(s));
    });
    sockets.push(again);
  });
});

describe('DatagramRing across threads', () => {
  it('300,000 records of random sizes from a producer thread arrive whole and in order through a 64 KiB ring', async () => {
    const shared = DatagramRing.allocate(64 * 1024);
    const ring = new DatagramRing(shared);
    const N = 300_000;
    // the producer pushes as fast as the ring takes them (a refused push is tried again)
    const producer = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       import(workerData.ring).then(({ DatagramRing }) => {
         const r = new DatagramRing(workerData.shared);
         let x = 12345, i = 0;
         const rnd = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
         const step = () => {
           for (let k = 0; k < 500 && i < workerData.n; k++) {
             const d = Buffer.alloc(4 + (rnd() % 900), i & 0xff);
             d.writeUInt32LE(i, 0);
             if (!r.push(d, '10.0.' + (i % 256) + '.1', i % 65536)) break;
             i++;
           }
           r.signal();
           if (i < workerData.n) setImmediate(step); else parentPort.postMessage('done');
         };
         step();
       });`,
      { eval: true, workerData: { shared, n: N, ring: new URL('../../dist/transport/datagram-ring.js', import.meta.url).href } },
    );
    let next = 0;
    let bad = 0;
    const deadline = Date.now() + 20_000;
    try {
      while (next < N && Date.now() < deadline) {
        const seen = ring.signalCount;
        ring.drain((d, address, port) => {
          const i = d.readUInt32LE(0);
          const fill = d.length > 4 ? d[d.length - 1] === (i & 0xff) : true;
          if (i !== next || address !== `10.0.${i % 256}.1` || port !== i % 65536 || !fill) bad++;
          next = i + 1;
        });
        const wait = ring.empty ? ring.waitAsync(seen) : undefined;
        if (wait) await Promise.race([wait, new Promise((r) => setTimeout(r, 50))]);
      }
    } finally {
      await producer.terminate();
    }
    expect([next, bad]).toEqual([N, 0]);
    // the ring was full at times, so wrap-around and refusal raced with draining
    expect(ring.dropped).toBeGreaterThan(0);
  });
});
