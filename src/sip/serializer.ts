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
  // slice), the others formatted. The pieces are joined once (one flat string, where `+=`
  // would build a tree of cons strings that the write then flattens); one write and one
  // body copy fill the output.
  const head = raw === null ? null : (msg.rawHead ?? raw.toString('latin1'));
  const parts: string[] = [];
  let runStart = -1;
  let runEnd = -1;
  if (head !== null && msg.startLineStart >= 0) {
    runStart = msg.startLineStart;
    runEnd = msg.startLineEnd;
  } else parts.push(msg.startLine(), '\r\n');

  const body = msg.body;
  const bodyLength = body.length;
  let wroteLength = false;
  const hs = msg.headers;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i]!;
    let formatted = false;
    if (h.name === 'content-length') {
      // keep the original line when it is right, rewrite it otherwise; only one is written
      if (wroteLength) continue;
      wroteLength = true;
      formatted = head === null || h.start < 0 || numberOf(h.value) !== bodyLength;
    } else formatted = head === null || h.start < 0;
    if (!formatted) {
      // an untouched line: extends the run when adjacent in raw
      if (runStart >= 0 && runEnd === h.start) runEnd = h.end;
      else {
        if (runStart >= 0) parts.push(head!.slice(runStart, runEnd));
        runStart = h.start;
        runEnd = h.end;
      }
      continue;
    }
    if (runStart >= 0) parts.push(head!.slice(runStart, runEnd));
    runStart = -1;
    if (h.name === 'content-length') parts.push(contentLengthLine(bodyLength));
    else parts.push(h.writtenName ?? canonicalHeaderName(h.name), ': ', h.value, '\r\n');
  }
  if (!wroteLength) {
    if (runStart >= 0) parts.push(head!.slice(runStart, runEnd));
    runStart = -1;
    parts.push(contentLengthLine(bodyLength));
  }
  if (runStart >= 0) parts.push(head!.slice(runStart, runEnd));
  parts.push('\r\n');
  const text = parts.join('');

  const out = Buffer.allocUnsafe(text.length + bodyLength);
  out.write(text, 0, 'latin1');
  if (bodyLength) out.set(body, text.length);
  return out;
}

const NO_BODY_LENGTH = 'Content-Length: 0\r\n';

function contentLengthLine(n: number): string {
  return n === 0 ? NO_BODY_LENGTH : `Content-Length: ${n}\r\n`;
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
