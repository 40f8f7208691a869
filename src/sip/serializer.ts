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
  const parts: Buffer[] = [];
  let total = 0;
  const push = (b: Buffer): void => {
    parts.push(b);
    total += b.length;
  };
  let text = '';
  const flushText = (): void => {
    if (text) {
      push(Buffer.from(text, 'latin1'));
      text = '';
    }
  };

  if (raw && msg.startLineStart >= 0) push(raw.subarray(msg.startLineStart, msg.startLineEnd));
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
            push(raw.subarray(runStart, runEnd));
          }
          flushText();
          runStart = h.start;
          runEnd = h.end;
        }
        continue;
      }
      if (runStart >= 0) {
        flushText();
        push(raw!.subarray(runStart, runEnd));
        runStart = -1;
      }
      text += `Content-Length: ${bodyLength}\r\n`;
      continue;
    }
    if (raw && h.start >= 0) {
      if (runStart >= 0 && runEnd === h.start) runEnd = h.end;
      else {
        if (runStart >= 0) push(raw.subarray(runStart, runEnd));
        else flushText();
        runStart = h.start;
        runEnd = h.end;
      }
    } else {
      if (runStart >= 0) {
        flushText();
        push(raw!.subarray(runStart, runEnd));
        runStart = -1;
      }
      text += `${h.writtenName ?? canonicalHeaderName(h.name)}: ${h.value}\r\n`;
    }
  }
  if (runStart >= 0) {
    flushText();
    push(raw!.subarray(runStart, runEnd));
  }
  if (!wroteLength) text += `Content-Length: ${bodyLength}\r\n`;
  text += '\r\n';
  flushText();
  if (bodyLength) push(msg.body);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
}

export { CRLF };
