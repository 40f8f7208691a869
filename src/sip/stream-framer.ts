/**
 * Incremental framer for SIP over stream transports (TCP, TLS): RFC 3261
 * §18.3 framing by Content-Length, RFC 5626 §4.4.1 CRLF keepalives.
 *
 * Socket-free, in the style of the `ws` library's Receiver: feed it the chunks
 * a socket delivers, in order and of any size, and it calls back with every
 * whole message. It does not parse messages; it reads only what framing needs
 * (where the header section ends and the Content-Length value) in one pass over
 * the header bytes, resumable across chunk boundaries, so a message split into
 * N chunks costs O(message size), never O(N × size).
 *
 * Memory: pending chunks are kept in a list and copied once, into one buffer,
 * only when a message spans chunks. A message lying wholly inside one chunk is
 * emitted as a `subarray` view of that chunk: THE EMITTED BUFFER MAY SHARE
 * MEMORY WITH THE CHUNK PASSED TO push(). Callers must not modify a chunk after
 * pushing it (the framer may hold a view of it until the rest of its message
 * arrives) and should copy an emitted message they keep if the chunk's memory
 * gets reused.
 *
 * Keepalives (RFC 5626 §4.4.1), recognised only between messages:
 *  - "\r\n\r\n" is a ping (the server answers with "\r\n");
 *  - a lone "\r\n" (e.g. right after a message's body, or before a message's
 *    start line) is a pong.
 * A run of CRLFs is read greedily: each pair is a ping, an odd one left at the
 * end is a pong. Deciding whether a CRLF that ends a chunk is a pong or the
 * first half of a ping needs the next byte, so by default that pong is
 * reported only when the next byte arrives; the result is then the same
 * however the stream is split. A client waiting for the pong to its own ping
 * (which usually arrives alone, with nothing after it) should set `eagerPong`.
 * Any other byte before a start line (a CR not followed by LF, a bare LF) is an
 * error: a start line never begins with one.
 *
 * Errors are reported once through onError; the framer is then dead (push() is
 * ignored, buffers are released) and the connection should be closed. reset()
 * brings it back to its initial state.
 */
import { SbError, type ErrorCode } from '../util/errors.js';

export interface FramerOptions {
  /**
   * Largest message accepted, header section plus body, in bytes (default
   * 65536). A message announcing more, or a header section growing to this
   * size without ending, is an SB_ERR_FRAME_TOO_LARGE error, reported as soon
   * as it is known (before the body is buffered).
   */
  maxMessageSize?: number;
  /** A whole message (start line, headers, body). May be a view of a pushed chunk. */
  onMessage(message: Buffer): void;
  /** RFC 5626 §4.4.1 keepalive seen between messages. */
  onKeepalive?(kind: 'ping' | 'pong'): void;
  /** The stream cannot be framed; the framer is dead afterwards. */
  onError(error: SbError): void;
  /**
   * Report a CRLF that ends a chunk as a pong at once, instead of waiting for
   * the next byte to tell it from the first half of a split ping (default
   * false). Set it on client flows waiting for a pong; the cost is that a ping
   * split between its two CRLFs is then seen as two pongs.
   */
  eagerPong?: boolean;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const LOWER_C = 0x63;
const LOWER_L = 0x6c;

/** "content-length", lowercase */
const CL_NAME = new Uint8Array([
  0x63, 0x6f, 0x6e, 0x74, 0x65, 0x6e, 0x74, 0x2d, 0x6c, 0x65, 0x6e, 0x67, 0x74, 0x68,
]);
const CL_NAME_LEN = CL_NAME.length;

/** ASCII lowercase of every byte value (other bytes map to themselves) */
const LOWER = new Uint8Array(256);
for (let b = 0; b < 256; b++) LOWER[b] = b >= 0x41 && b <= 0x5a ? b + 0x20 : b;

/** Content-Length values are clamped here while being read: far above any sane limit, still exact. */
const CL_CLAMP = 2 ** 40;

// header scanner states
const S_START_LINE = 0; // inside the start line
const S_LINE_START = 1; // at the first byte of a line
const S_LINE_CR = 2; // a line began with CR: LF next ends the header section
const S_SKIP = 3; // inside a header line that is not Content-Length
const S_NAME = 4; // matching "content-length"
const S_NAME_END = 5; // after the name, before the colon
const S_VALUE = 6; // inside the Content-Length value

// Content-Length value states
const V_NONE = 0; // no digit yet
const V_DIGITS = 1; // reading digits
const V_AFTER = 2; // whitespace after the digits: only whitespace may follow

// keepalive states between messages
const K_NONE = 0;
const K_CR = 1; // "\r"
const K_CRLF = 2; // "\r\n": pong, or half a ping
const K_CRLF_CR = 3; // "\r\n\r"

/** Scanner results other than an index. */
const NOT_FOUND = -1;
const FAILED = -2;

export class StreamFramer {
  private readonly max: number;
  private readonly eagerPong: boolean;
  private readonly onMessage: (message: Buffer) => void;
  private readonly onKeepalive: ((kind: 'ping' | 'pong') => void) | undefined;
  private readonly onError: (error: SbError) => void;

  /** chunks (or chunk tails) holding the partial message, in order */
  private parts: Buffer[] = [];
  /** total bytes in parts */
  private pending = 0;
  /** once the header section of the partial message is complete: its total length; else 0 */
  private need = 0;
  private ka = K_NONE;

  // header scanner state, saved when the header section spans chunks
  private st = S_START_LINE;
  private nameIdx = 0;
  private val = 0;
  private vs = V_NONE;
  /** the last header line read was Content-Length: its value may still continue on a folded line */
  private clOpen = false;
  /** Content-Length of the current message, -1 while none seen */
  private cl = -1;

  private dead = false;
  private busy = false;
  /** bumped by reset(): processing that started before stops */
  private epoch = 0;
  /** chunks pushed from inside a callback, processed after the current one */
  private queue: Buffer[] | null = null;

  constructor(opts: FramerOptions) {
    const max = opts.maxMessageSize ?? 65536;
    if (!Number.isSafeInteger(max) || max < 1 || max > 2 ** 31) {
      throw new RangeError(`maxMessageSize must be an integer in 1..2^31, got ${max}`);
    }
    this.max = max;
    this.eagerPong = opts.eagerPong === true;
    this.onMessage = opts.onMessage;
    this.onKeepalive = opts.onKeepalive;
    this.onError = opts.onError;
  }

  /** Bytes held waiting for the rest of a message. */
  get bufferedBytes(): number {
    return this.pending;
  }

  /** True when no partial message is pending (a held keepalive CRLF does not count). */
  get idle(): boolean {
    return this.pending === 0;
  }

  /** Drops any partial message and error state: the framer is as new. */
  reset(): void {
    this.epoch++;
    this.release();
    this.dead = false;
    this.queue = null;
  }

  /**
   * Feeds the next bytes of the stream. Callbacks run synchronously, in
   * stream order. A push() from inside a callback is queued and processed
   * after the current chunk; a reset() from inside a callback discards the
   * rest of the current chunk. If a callback throws, the exception propagates
   * and the framer is dead (its position in the stream is lost).
   */
  push(chunk: Buffer): void {
    if (this.dead || chunk.length === 0) return;
    if (this.busy) {
      (this.queue ??= []).push(chunk);
      return;
    }
    this.busy = true;
    let ok = false;
    try {
      this.consume(chunk);
      while (!this.dead && this.queue !== null && this.queue.length > 0) {
        this.consume(this.queue.shift()!);
      }
      ok = true;
    } finally {
      this.busy = false;
      this.queue = null;
      if (!ok) {
        this.dead = true;
        this.release();
      }
    }
  }

  private release(): void {
    this.parts = [];
    this.pending = 0;
    this.need = 0;
    this.ka = K_NONE;
    this.startScan();
  }

  private startScan(): void {
    this.st = S_START_LINE;
    this.nameIdx = 0;
    this.val = 0;
    this.vs = V_NONE;
    this.clOpen = false;
    this.cl = -1;
  }

  private fail(code: ErrorCode, detail: string): typeof FAILED {
    this.dead = true;
    this.release();
    this.onError(new SbError(code, detail));
    return FAILED;
  }

  private consume(chunk: Buffer): void {
    const len = chunk.length;
    let pos = 0;
    if (this.pending > 0) {
      // continue the partial message
      if (this.need === 0) {
        const end = this.scan(chunk, 0, len, this.pending);
        if (end === FAILED) return;
        if (end === NOT_FOUND) {
          this.parts.push(chunk);
          this.pending += len;
          return;
        }
        const total = this.total(this.pending + end);
        if (total === FAILED) return;
        this.need = total;
      }
      const missing = this.need - this.pending;
      if (len < missing) {
        this.parts.push(chunk);
        this.pending += len;
        return;
      }
      const msg = Buffer.allocUnsafe(this.need);
      const parts = this.parts;
      let off = 0;
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i]!;
        p.copy(msg, off);
        off += p.length;
      }
      chunk.copy(msg, off, 0, missing);
      this.parts = [];
      this.pending = 0;
      this.need = 0;
      const epoch = this.epoch;
      this.onMessage(msg);
      if (this.epoch !== epoch) return;
      pos = missing;
    }
    this.run(chunk, pos);
  }

  /** Frames messages from chunk[pos..], at a message boundary. */
  private run(buf: Buffer, pos: number): void {
    const len = buf.length;
    const epoch = this.epoch;
    while (pos < len) {
      // ---- keepalive CRLFs before a start line
      let ka = this.ka;
      let b = buf[pos]!;
      if (ka !== K_NONE || b === CR || b === LF) {
        for (;;) {
          if (ka === K_NONE) {
            if (b === CR) ka = K_CR;
            else if (b === LF) {
              this.fail('SB_ERR_FRAME_BAD_HEADERS', 'bare LF before a start line');
              return;
            } else break;
          } else if (ka === K_CR) {
            if (b !== LF) {
              this.fail('SB_ERR_FRAME_BAD_HEADERS', 'bare CR before a start line');
              return;
            }
            ka = K_CRLF;
          } else if (ka === K_CRLF) {
            if (b === CR) ka = K_CRLF_CR;
            else {
              // a lone CRLF followed by a start line (or garbage, judged next round)
              this.ka = K_NONE;
              this.onKeepalive?.('pong');
              if (this.epoch !== epoch) return;
              ka = K_NONE;
              continue;
            }
          } else {
            if (b !== LF) {
              this.fail('SB_ERR_FRAME_BAD_HEADERS', 'bare CR before a start line');
              return;
            }
            this.ka = K_NONE;
            this.onKeepalive?.('ping');
            if (this.epoch !== epoch) return;
            ka = K_NONE;
          }
          if (++pos === len) {
            if (ka === K_CRLF && this.eagerPong) {
              this.ka = K_NONE;
              this.onKeepalive?.('pong');
            } else this.ka = ka;
            return;
          }
          b = buf[pos]!;
        }
        this.ka = K_NONE;
      }

      // ---- a message starts at pos
      this.startScan();
      const end = this.scan(buf, pos, len, 0);
      if (end === FAILED) return;
      if (end === NOT_FOUND) {
        this.hold(buf, pos);
        return;
      }
      const total = this.total(end - pos);
      if (total === FAILED) return;
      const msgEnd = pos + total;
      if (msgEnd > len) {
        this.need = total;
        this.hold(buf, pos);
        return;
      }
      this.onMessage(buf.subarray(pos, msgEnd));
      if (this.epoch !== epoch) return;
      pos = msgEnd;
    }
  }

  private hold(buf: Buffer, pos: number): void {
    this.parts.push(pos === 0 ? buf : buf.subarray(pos));
    this.pending = buf.length - pos;
  }

  /** Total message length from the header section's length and the Content-Length read. */
  private total(headerLength: number): number {
    const cl = this.cl;
    if (cl < 0) {
      return this.fail('SB_ERR_FRAME_NO_CONTENT_LENGTH', 'Content-Length is mandatory on stream transports');
    }
    const total = headerLength + cl;
    if (total > this.max) {
      return this.fail('SB_ERR_FRAME_TOO_LARGE', `message of ${total} bytes exceeds ${this.max}`);
    }
    return total;
  }

  /**
   * Scans header bytes buf[start..end) of the current message, of which
   * `base` bytes came before `start`. Returns the index just past the empty
   * line ending the header section, NOT_FOUND (state saved for the next
   * chunk), or FAILED (error reported).
   */
  private scan(buf: Buffer, start: number, end: number, base: number): number {
    // never scan past the size limit: a header section reaching it is too large
    const room = this.max - base;
    const limit = end - start > room ? start + room : end;
    let i = start;
    let st = this.st;
    let idx = this.nameIdx;
    let val = this.val;
    let vs = this.vs;
    let clOpen = this.clOpen;

    while (i < limit) {
      switch (st) {
        case S_START_LINE:
        case S_SKIP: {
          const j = buf.indexOf(LF, i);
          if (j === -1 || j >= limit) {
            i = limit;
            continue;
          }
          i = j + 1;
          st = S_LINE_START;
          continue;
        }
        case S_LINE_START: {
          const b = buf[i]!;
          if (clOpen) {
            if (b === SP || b === HT) {
              // folded continuation of the Content-Length value: whitespace
              if (vs === V_DIGITS) vs = V_AFTER;
              st = S_VALUE;
              i++;
              continue;
            }
            if (vs === V_NONE) return this.fail('SB_ERR_FRAME_BAD_HEADERS', 'empty Content-Length');
            if (this.cl >= 0 && this.cl !== val) {
              return this.fail('SB_ERR_FRAME_BAD_HEADERS', `conflicting Content-Length values ${this.cl} and ${val}`);
            }
            this.cl = val;
            clOpen = false;
            val = 0;
            vs = V_NONE;
          }
          if (b === CR) {
            st = S_LINE_CR;
            i++;
            continue;
          }
          if (b === LF) {
            this.st = S_START_LINE;
            return i + 1;
          }
          const l = LOWER[b]!;
          if (l === LOWER_C) {
            st = S_NAME;
            idx = 1;
          } else if (l === LOWER_L) {
            st = S_NAME_END; // compact form "l"
          } else {
            st = S_SKIP; // another header, or a folded line of one
          }
          i++;
          continue;
        }
        case S_LINE_CR:
          if (buf[i] === LF) {
            this.st = S_START_LINE;
            return i + 1;
          }
          st = S_SKIP; // a stray CR: not the end; the line is skipped
          continue;
        case S_NAME:
          if (LOWER[buf[i]!] === CL_NAME[idx]) {
            i++;
            if (++idx === CL_NAME_LEN) st = S_NAME_END;
            continue;
          }
          st = S_SKIP; // not Content-Length; this byte may be the LF, so re-read it
          continue;
        case S_NAME_END: {
          const b = buf[i]!;
          if (b === COLON) {
            st = S_VALUE;
            clOpen = true;
            val = 0;
            vs = V_NONE;
            i++;
          } else if (b === SP || b === HT) {
            i++;
          } else {
            st = S_SKIP;
          }
          continue;
        }
        default: {
          // S_VALUE
          const b = buf[i]!;
          if (b >= DIGIT_0 && b <= DIGIT_9) {
            if (vs === V_AFTER) return this.fail('SB_ERR_FRAME_BAD_HEADERS', 'Content-Length is not a number');
            vs = V_DIGITS;
            val = val * 10 + (b - DIGIT_0);
            if (val > CL_CLAMP) val = CL_CLAMP;
          } else if (b === SP || b === HT || b === CR) {
            if (vs === V_DIGITS) vs = V_AFTER;
          } else if (b === LF) {
            if (vs !== V_NONE) {
              // folding can only add whitespace: the value is final (or the header bad)
              vs = V_AFTER;
              if (base + (i + 1 - start) + val > this.max) {
                return this.fail('SB_ERR_FRAME_TOO_LARGE', `Content-Length ${val} exceeds ${this.max}`);
              }
            }
            st = S_LINE_START;
          } else {
            return this.fail('SB_ERR_FRAME_BAD_HEADERS', 'Content-Length is not a number');
          }
          i++;
          continue;
        }
      }
    }

    if (base + (i - start) >= this.max) {
      return this.fail('SB_ERR_FRAME_TOO_LARGE', `header section reaches ${this.max} bytes without ending`);
    }
    this.st = st;
    this.nameIdx = idx;
    this.val = val;
    this.vs = vs;
    this.clOpen = clOpen;
    return NOT_FOUND;
  }
}
