/**
 * A queue of datagrams in shared memory between two threads: one thread
 * pushes, the other drains (single producer, single consumer). The UDP I/O
 * thread (udp-io-thread.ts) pushes what its socket receives into one ring
 * and drains the other to send; the event loop that handles SIP does the
 * opposite (udp.ts). Nothing is cloned or posted per datagram: a record is
 * copied in, and the other side is woken once for whatever has piled up.
 *
 * Layout: a SharedArrayBuffer of records and four control words.
 *  - record: u16 data length, u16 port, u8 address length, u8 unused, the
 *    address (latin1 text), the data; each record starts on a 4-byte
 *    boundary. A record that would reach the end of the buffer is written
 *    at offset 0 instead, after a WRAP mark where it would have started.
 *  - control: the write offset (stored by the producer after the record is
 *    complete: Atomics publishes the bytes with it), the read offset (stored
 *    by the consumer after a drain: the space is free again), a signal
 *    counter (bumped by the producer; the consumer waits on it while the
 *    ring is empty) and a count of datagrams dropped because the ring was
 *    full.
 * write == read means empty; the producer never lets write catch up with
 * read, so a full ring keeps at least one free word.
 */
const WRITE = 0;
const READ = 1;
const SIGNAL = 2;
const DROPPED = 3;
const CONTROL_WORDS = 4;
const HEADER = 6;
/** larger than any UDP payload (65,507 bytes over IPv4, 65,527 over IPv6) */
const WRAP = 0xffff;

export interface SharedRing {
  readonly data: SharedArrayBuffer;
  readonly control: SharedArrayBuffer;
}

/** Called for each datagram drained; data is the caller's own copy. */
export type DatagramHandler = (data: Buffer, address: string, port: number) => void;

function align4(n: number): number {
  return (n + 3) & ~3;
}

export class DatagramRing {
  /** Shared memory for a ring of `bytes` bytes (a multiple of 4, at least 1 KiB). */
  static allocate(bytes: number): SharedRing {
    if (!(Number.isInteger(bytes) && bytes >= 1024 && bytes % 4 === 0)) throw new RangeError('ring size must be a multiple of 4, at least 1024');
    return { data: new SharedArrayBuffer(bytes), control: new SharedArrayBuffer(CONTROL_WORDS * 4) };
  }

  private readonly bytes: Buffer;
  private readonly control: Int32Array;
  private readonly size: number;

  constructor(shared: SharedRing) {
    this.bytes = Buffer.from(shared.data);
    this.control = new Int32Array(shared.control);
    this.size = shared.data.byteLength;
  }

  // --- producer side

  /** Queues one datagram; false (and counted as dropped) when the ring has no room for it. */
  push(data: Uint8Array, address: string, port: number): boolean {
    const len = data.length;
    const need = align4(HEADER + address.length + len);
    const read = Atomics.load(this.control, READ);
    let at = Atomics.load(this.control, WRITE);
    if (len >= WRAP || address.length > 255) return this.drop();
    if (at >= read) {
      // the free space is [at, size) and then [0, read): the record must end
      // before the end of the buffer, or start again at 0 and end before read
      if (at + need >= this.size) {
        if (need >= read) return this.drop();
        this.bytes.writeUInt16LE(WRAP, at);
        at = 0;
      }
    } else if (at + need >= read) {
      return this.drop();
    }
    const b = this.bytes;
    b.writeUInt16LE(len, at);
    b.writeUInt16LE(port, at + 2);
    b[at + 4] = address.length;
    b.write(address, at + HEADER, 'latin1');
    b.set(data, at + HEADER + address.length);
    Atomics.store(this.control, WRITE, at + need);
    return true;
  }

  /** Wakes the consumer if it waits (once for any number of pushes). */
  signal(): void {
    Atomics.add(this.control, SIGNAL, 1);
    Atomics.notify(this.control, SIGNAL);
  }

  private drop(): false {
    Atomics.add(this.control, DROPPED, 1);
    return false;
  }

  // --- consumer side

  /**
   * Hands the queued datagrams to fn, in order, at most `max` of them, then
   * frees their space; returns how many.
   */
  drain(fn: DatagramHandler, max = Infinity): number {
    const b = this.bytes;
    const write = Atomics.load(this.control, WRITE);
    let at = Atomics.load(this.control, READ);
    let n = 0;
    try {
      while (at !== write && n < max) {
        const len = b.readUInt16LE(at);
        if (len === WRAP) {
          at = 0;
          continue;
        }
        const port = b.readUInt16LE(at + 2);
        const alen = b[at + 4]!;
        const address = b.toString('latin1', at + HEADER, at + HEADER + alen);
        const start = at + HEADER + alen;
        // a copy of its own, as a socket hands each datagram over: the parser keeps slices of it
        const data = Buffer.allocUnsafeSlow(len);
        b.copy(data, 0, start, start + len);
        at += align4(HEADER + alen + len);
        n++;
        fn(data, address, port);
      }
    } finally {
      // what fn threw on is consumed too: one bad datagram must not come back forever
      Atomics.store(this.control, READ, at);
    }
    return n;
  }

  /** Whether nothing is queued. */
  get empty(): boolean {
    return Atomics.load(this.control, READ) === Atomics.load(this.control, WRITE);
  }

  /** The current signal count: read it before draining, then wait on it (waitAsync) once empty. */
  get signalCount(): number {
    return Atomics.load(this.control, SIGNAL);
  }

  /**
   * Resolves after the producer signals past `seen` (or at once if it
   * already has). The event loop of this thread keeps running meanwhile.
   */
  waitAsync(seen: number): Promise<unknown> | undefined {
    const r = Atomics.waitAsync(this.control, SIGNAL, seen);
    return r.async ? r.value : undefined;
  }

  /** Datagrams dropped so far because the ring was full. */
  get dropped(): number {
    return Atomics.load(this.control, DROPPED);
  }
}
