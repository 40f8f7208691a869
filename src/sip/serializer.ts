/**
 * Writes a message to bytes. Runs of headers that are untouched since
 * parsing are copied as slices of the original buffer, so adding a Via or
 * removing a Route re-writes only those lines (DESIGN.md: write cheaply).
 * Content-Length is always written to match the body (§20.14, needed on
 * stream transports).
 */
import { canonicalHeaderName } from './header-names.js';
import type { AnyMessage } from './message.js';

const CRLF = Buffer.from('\r\n', 'latin1');

/**
 * What to write, in order: latin1 text (a string) or a byte range of raw (two
 * numbers); the output is allocated once and filled, with no intermediate
 * Buffers. At most one of the open run of raw lines and the pending text is
 * non-empty at a time.
 */
class Segments {
  readonly segs: Array<string | number> = [];
  total = 0;
  /** text not yet in segs */
  text = '';
  /** the open run of adjacent raw bytes not yet in segs (-1: none) */
  runStart = -1;
  runEnd = -1;

  addRaw(start: number, end: number): void {
    if (this.runStart >= 0 && this.runEnd === start) {
      this.runEnd = end;
      return;
    }
    this.flush();
    this.runStart = start;
    this.runEnd = end;
  }

  addText(t: string): void {
    if (this.runStart >= 0) this.flush();
    this.text += t;
  }

  flush(): void {
    if (this.runStart >= 0) {
      this.segs.push(this.runStart, this.runEnd);
      this.total += this.runEnd - this.runStart;
      this.runStart = -1;
    } else if (this.text) {
      this.segs.push(this.text);
      this.total += this.text.length;
      this.text = '';
    }
  }
}

export function serialize(msg: AnyMessage): Buffer {
  const raw = msg.raw;
  const w = new Segments();
  if (raw && msg.startLineStart >= 0) w.addRaw(msg.startLineStart, msg.startLineEnd);
  else w.addText(msg.startLine() + '\r\n');

  const body = msg.body;
  const bodyLength = body.length;
  let wroteLength = false;
  const hs = msg.headers;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i]!;
    if (h.name === 'content-length') {
      // keep the original line when it is right, rewrite it otherwise; only one is written
      if (wroteLength) continue;
      wroteLength = true;
      if (raw && h.start >= 0 && Number(h.value) === bodyLength) w.addRaw(h.start, h.end);
      else w.addText(`Content-Length: ${bodyLength}\r\n`);
    } else if (raw && h.start >= 0) w.addRaw(h.start, h.end);
    else w.addText(`${h.writtenName ?? canonicalHeaderName(h.name)}: ${h.value}\r\n`);
  }
  if (!wroteLength) w.addText(`Content-Length: ${bodyLength}\r\n`);

  // When the last line written is raw and is followed in raw by the empty CRLF line (and
  // the body, unchanged), those bytes go in the same copy.
  let bodyInRun = false;
  const runEnd = w.runEnd;
  if (w.runStart >= 0 && raw && runEnd + 2 <= raw.length && raw[runEnd] === 0x0d && raw[runEnd + 1] === 0x0a) {
    w.runEnd += 2;
    bodyInRun = bodyLength > 0 && body.buffer === raw.buffer && body.byteOffset === raw.byteOffset + runEnd + 2;
    if (bodyInRun) w.runEnd += bodyLength;
  } else w.addText('\r\n');
  w.flush();

  const out = Buffer.allocUnsafe(w.total + (bodyInRun ? 0 : bodyLength));
  const segs = w.segs;
  let off = 0;
  for (let k = 0; k < segs.length; k++) {
    const seg = segs[k]!;
    if (typeof seg === 'string') off += out.write(seg, off, 'latin1');
    else {
      const end = segs[++k] as number;
      raw!.copy(out, off, seg, end);
      off += end - seg;
    }
  }
  if (bodyLength && !bodyInRun) body.copy(out, off);
  return out;
}

export { CRLF };
