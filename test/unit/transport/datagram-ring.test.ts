/**
 * The shared-memory queue between the UDP I/O thread and the SIP event loop
 * (src/transport/datagram-ring.ts), on one thread: records, wrap-around,
 * a full ring, bad records. Across threads it is exercised by
 * test/integration/udp-io-thread.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { DatagramRing } from '../../../src/transport/datagram-ring.js';

type Rec = { data: Buffer; address: string; port: number };

function ring(bytes: number): DatagramRing {
  return new DatagramRing(DatagramRing.allocate(bytes));
}

function drainAll(r: DatagramRing): Rec[] {
  const out: Rec[] = [];
  r.drain((data, address, port) => out.push({ data, address, port }));
  return out;
}

/** xorshift32: the same sequence on every run */
function generator(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

describe('DatagramRing', () => {
  it('drains at most max datagrams, leaving the rest in order for the next drain', () => {
    const r = ring(4096);
    for (let i = 0; i < 10; i++) expect(r.push(Buffer.from(`d${i}`), '192.0.2.1', 5060 + i)).toBe(true);
    const got: string[] = [];
    expect(r.drain((d) => got.push(d.toString()), 3)).toBe(3);
    expect(got).toEqual(['d0', 'd1', 'd2']);
    expect(r.empty).toBe(false);
    expect(r.drain((d) => got.push(d.toString()), 0)).toBe(0);
    expect(drainAll(r).map((x) => x.data.toString())).toEqual(['d3', 'd4', 'd5', 'd6', 'd7', 'd8', 'd9']);
    expect(r.empty).toBe(true);
  });

  it('hands datagrams over in order with their address and port, IPv4 and IPv6', () => {
    const r = ring(4096);
    const sent: Rec[] = [
      { data: Buffer.from('REGISTER sip:example.com SIP/2.0\r\n\r\n'), address: '192.0.2.10', port: 5060 },
      { data: Buffer.from([0, 1, 2, 255]), address: '2001:db8::1:2:3:4', port: 65535 },
      { data: Buffer.alloc(0), address: '::1', port: 1 },
    ];
    for (const s of sent) expect(r.push(s.data, s.address, s.port)).toBe(true);
    expect(r.empty).toBe(false);
    const got = drainAll(r);
    expect(got.map((g) => [g.data.toString('latin1'), g.address, g.port])).toEqual(sent.map((s) => [s.data.toString('latin1'), s.address, s.port]));
    expect(r.empty).toBe(true);
    expect(drainAll(r)).toEqual([]);
  });

  it('each drained datagram is a copy of its own, not a view of the shared memory', () => {
    const r = ring(1024);
    r.push(Buffer.from('first'), '192.0.2.1', 5060);
    const [a] = drainAll(r);
    // the space is reused by the next record
    r.push(Buffer.from('XXXXX'), '192.0.2.1', 5060);
    expect(a!.data.toString()).toBe('first');
    expect(a!.data.buffer).toBeInstanceOf(ArrayBuffer);
    expect(a!.data.buffer.byteLength).toBe(5);
  });

  it('a full ring refuses a datagram and counts it; after a drain there is room again', () => {
    const r = ring(1024);
    const d = Buffer.alloc(200, 0x41);
    let accepted = 0;
    while (r.push(d, '192.0.2.1', 5060)) accepted++;
    // 216 bytes a record: four fit, the fifth would reach the read offset
    expect(accepted).toBe(4);
    expect(r.dropped).toBe(1);
    expect(r.push(d, '192.0.2.1', 5060)).toBe(false);
    expect(r.dropped).toBe(2);
    expect(drainAll(r)).toHaveLength(4);
    expect(r.push(d, '192.0.2.1', 5060)).toBe(true);
    expect(drainAll(r).map((g) => g.data.equals(d))).toEqual([true]);
  });

  it('refuses what a record cannot describe: 65,535 bytes or more, an address over 255 characters', () => {
    const r = ring(1 << 20);
    expect(r.push(Buffer.alloc(0xffff), '192.0.2.1', 5060)).toBe(false);
    expect(r.push(Buffer.alloc(10), 'a'.repeat(256), 5060)).toBe(false);
    expect(r.dropped).toBe(2);
    expect(r.push(Buffer.alloc(0xfffe, 7), '192.0.2.1', 5060)).toBe(true);
    expect(drainAll(r)[0]!.data.length).toBe(0xfffe);
  });

  it('matches a plain queue through 20,000 pushes and drains of random sizes, across many wrap-arounds', () => {
    const r = ring(2048);
    const next = generator(0x5eed);
    const model: Rec[] = [];
    let pushed = 0;
    let refused = 0;
    let drained = 0;
    for (let step = 0; step < 20_000; step++) {
      if (next() % 3 !== 0) {
        const len = next() % 700;
        const data = Buffer.alloc(len);
        for (let i = 0; i < len; i++) data[i] = next() & 0xff;
        const address = next() % 2 ? `192.0.2.${next() % 256}` : `2001:db8::${(next() % 65536).toString(16)}`;
        const port = next() % 65536;
        if (r.push(data, address, port)) {
          model.push({ data, address, port });
          pushed++;
        } else {
          refused++;
        }
      } else {
        const got = drainAll(r);
        const want = model.splice(0, model.length);
        expect(got.length).toBe(want.length);
        for (let i = 0; i < got.length; i++) {
          expect(got[i]!.address).toBe(want[i]!.address);
          expect(got[i]!.port).toBe(want[i]!.port);
          expect(got[i]!.data.equals(want[i]!.data)).toBe(true);
        }
        drained += got.length;
      }
    }
    drained += drainAll(r).length;
    expect(drained).toBe(pushed);
    expect(r.dropped).toBe(refused);
    // the sizes were chosen so that both happen often
    expect(pushed).toBeGreaterThan(5_000);
    expect(refused).toBeGreaterThan(500);
  });

  it('a datagram whose handler throws is consumed; the rest wait for the next drain', () => {
    const r = ring(1024);
    for (const s of ['a', 'b', 'c']) r.push(Buffer.from(s), '192.0.2.1', 5060);
    const seen: string[] = [];
    expect(() =>
      r.drain((d) => {
        seen.push(d.toString());
        if (d.toString() === 'b') throw new Error('handler bug');
      }),
    ).toThrow('handler bug');
    expect(drainAll(r).map((g) => g.data.toString())).toEqual(['c']);
    expect(seen).toEqual(['a', 'b']);
  });

  it('waitAsync resolves once the producer signals, and at once when it already has', async () => {
    const r = ring(1024);
    const seen = r.signalCount;
    const wait = r.waitAsync(seen);
    expect(wait).toBeInstanceOf(Promise);
    r.push(Buffer.from('x'), '192.0.2.1', 5060);
    r.signal();
    await expect(wait).resolves.toBe('ok');
    expect(r.waitAsync(seen)).toBeUndefined();
  });
});
