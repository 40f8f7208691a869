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

export function serialize(msg: AnyMessage): Buffer {
  const raw = msg.raw;
  // what to write, in order: latin1 text (a string) or a byte range of raw (two numbers);
  // the output is allocated once and filled, with no intermediate Buffers
  const segs: Array<string | number> = [];
  let total = 0;
  const pushRaw = (start: number, end: number): void => {
    segs.push(start, end);
    total += end - start;
  };
  let text = '';
  const flushText = (): void => {
    if (text) {
      segs.push(text);
      total += text.length;
      text = '';
    }
  };

  if (raw && msg.startLineStart >= 0) pushRaw(msg.startLineStart, msg.startLineEnd);
  else text += msg.startLine() + '\r\n';

  const bodyLength = msg.body.length;
  let wroteLength = false;
  const hs = msg.headers;
  let runStart = -1;
  let runEnd = -1;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i]!;
    if (h.name === 'content-length') {
      // keep the original line when it is right, rewrite it otherwise
      if (wroteLength) continue;
      wroteLength = true;
      if (raw && h.start >= 0 && Number(h.value) === bodyLength) {
        if (runStart >= 0 && runEnd === h.start) runEnd = h.end;
        else {
          if (runStart >= 0) {
            flushText();
            pushRaw(runStart, runEnd);
          }
          flushText();
          runStart = h.start;
          runEnd = h.end;
        }
        continue;
      }
      if (runStart >= 0) {
        flushText();
        pushRaw(runStart, runEnd);
        runStart = -1;
      }
      text += `Content-Length: ${bodyLength}\r\n`;
      continue;
    }
    if (raw && h.start >= 0) {
      if (runStart >= 0 && runEnd === h.start) runEnd = h.end;
      else {
        if (runStart >= 0) pushRaw(runStart, runEnd);
        else flushText();
        runStart = h.start;
        runEnd = h.end;
      }
    } else {
      if (runStart >= 0) {
        flushText();
        pushRaw(runStart, runEnd);
        runStart = -1;
      }
      text += `${h.writtenName ?? canonicalHeaderName(h.name)}: ${h.value}\r\n`;
    }
  }
  if (runStart >= 0) {
    flushText();
    pushRaw(runStart, runEnd);
  }
  if (!wroteLength) text += `Content-Length: ${bodyLength}\r\n`;
  text += '\r\n';
  flushText();
  const out = Buffer.allocUnsafe(total + bodyLength);
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
  if (bodyLength) msg.body.copy(out, off);
  return out;
}

export { CRLF };
