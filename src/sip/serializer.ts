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
  // The start line and headers are written as one latin1 string: untouched lines as slices
  // of the text they were parsed from (byte for byte what arrived; adjacent ones in one
  // slice), the others formatted. One write and one body copy fill the output.
  const head = raw === null ? null : (msg.rawHead ?? raw.toString('latin1'));
  let text = '';
  let runStart = -1;
  let runEnd = -1;
  if (head !== null && msg.startLineStart >= 0) {
    runStart = msg.startLineStart;
    runEnd = msg.startLineEnd;
  } else text = msg.startLine() + '\r\n';

  const body = msg.body;
  const bodyLength = body.length;
  let wroteLength = false;
  const hs = msg.headers;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i]!;
    let line: string | undefined;
    if (h.name === 'content-length') {
      // keep the original line when it is right, rewrite it otherwise; only one is written
      if (wroteLength) continue;
      wroteLength = true;
      if (head === null || h.start < 0 || numberOf(h.value) !== bodyLength) line = `Content-Length: ${bodyLength}\r\n`;
    } else if (head === null || h.start < 0) line = `${h.writtenName ?? canonicalHeaderName(h.name)}: ${h.value}\r\n`;
    if (line === undefined) {
      // an untouched line: extends the run when adjacent in raw
      if (runStart >= 0 && runEnd === h.start) runEnd = h.end;
      else {
        if (runStart >= 0) text += head!.slice(runStart, runEnd);
        runStart = h.start;
        runEnd = h.end;
      }
    } else {
      if (runStart >= 0) text += head!.slice(runStart, runEnd);
      runStart = -1;
      text += line;
    }
  }
  if (!wroteLength) {
    if (runStart >= 0) text += head!.slice(runStart, runEnd);
    runStart = -1;
    text += `Content-Length: ${bodyLength}\r\n`;
  }
  if (runStart >= 0) text += head!.slice(runStart, runEnd);
  text += '\r\n';

  const out = Buffer.allocUnsafe(text.length + bodyLength);
  out.write(text, 0, 'latin1');
  if (bodyLength) out.set(body, text.length);
  return out;
}

/** Number(v), without the runtime conversion call for the usual value of up to 15 digits (exact then). */
function numberOf(v: string): number {
  const n = v.length;
  if (n === 0 || n > 15) return Number(v);
  let x = 0;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return Number(v);
    x = x * 10 + (c - 0x30);
  }
  return x;
}

export { CRLF };
