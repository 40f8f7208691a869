import '../../support/property-seed.js';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { StreamFramer, type FramerOptions } from '../../../src/sip/stream-framer.js';
import { SbError } from '../../../src/util/errors.js';

type Event = { msg: Buffer } | 'ping' | 'pong';

/** A framer recording everything it reports; messages are copied (they may be views of pushed chunks). */
function harness(opts: Partial<FramerOptions> = {}) {
  const events: Event[] = [];
  const errors: SbError[] = [];
  const framer = new StreamFramer({
    onMessage: (m) => events.push({ msg: Buffer.from(m) }),
    onKeepalive: (k) => events.push(k),
    onError: (e) => errors.push(e),
    ...opts,
  });
  const messages = () => events.flatMap((e) => (typeof e === 'string' ? [] : [e.msg]));
  const keepalives = () => events.filter((e): e is 'ping' | 'pong' => typeof e === 'string');
  return { framer, events, errors, messages, keepalives };
}

function msg(headers: string[], body: Buffer | string = '', eol = '\r\n'): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  return Buffer.concat([Buffer.from(headers.join(eol) + eol + eol, 'latin1'), b]);
}

const INVITE = msg(
  [
    'INVITE sip:bob@example.com SIP/2.0',
    'Via: SIP/2.0/TCP client.example.com:5060;branch=z9hG4bK776asdhds',
    'Max-Forwards: 70',
    'To: Bob <sip:bob@example.com>',
    'From: Alice <sip:alice@example.com>;tag=1928301774',
    'Call-ID: a84b4c76e66710@pc33.example.com',
    'CSeq: 314159 INVITE',
    'Contact: <sip:alice@pc33.example.com;transport=tcp>',
    'Content-Type: application/sdp',
    'Content-Length: 14',
  ],
  'v=0\r\no=- 1 1\r\n',
);
const OPTIONS = msg(['OPTIONS sip:example.com SIP/2.0', 'Call-ID: x@y', 'CSeq: 1 OPTIONS', 'Content-Length: 0']);
const RESPONSE = msg(['SIP/2.0 200 OK', 'CSeq: 1 OPTIONS', 'Content-Length: 4'], 'abcd');

function expectOnly(h: ReturnType<typeof harness>, messages: Buffer[], keepalives: ('ping' | 'pong')[] = []) {
  expect(h.errors).toEqual([]);
  expect(h.messages()).toEqual(messages);
  expect(h.keepalives()).toEqual(keepalives);
}

function codeOf(h: ReturnType<typeof harness>): string {
  expect(h.errors).toHaveLength(1);
  expect(h.errors[0]).toBeInstanceOf(SbError);
  return h.errors[0]!.code;
}

describe('StreamFramer: whole and split messages', () => {
  it('emits a message fed whole, as a view of the chunk', () => {
    const h = harness();
    let seen: Buffer | undefined;
    const f = new StreamFramer({ onMessage: (m) => (seen = m), onError: (e) => h.errors.push(e) });
    const chunk = Buffer.from(INVITE);
    f.push(chunk);
    expect(h.errors).toEqual([]);
    expect(seen).toEqual(INVITE);
    expect(seen!.buffer).toBe(chunk.buffer); // no copy
    expect(f.idle).toBe(true);
    expect(f.bufferedBytes).toBe(0);
  });

  it('emits the same message split in two at every byte offset', () => {
    for (let k = 0; k <= INVITE.length; k++) {
      const h = harness();
      h.framer.push(INVITE.subarray(0, k));
      if (k < INVITE.length) {
        expect(h.messages()).toEqual([]);
        expect(h.framer.bufferedBytes).toBe(k);
        expect(h.framer.idle).toBe(k === 0);
      }
      h.framer.push(INVITE.subarray(k));
      expectOnly(h, [INVITE]);
      expect(h.framer.idle).toBe(true);
    }
  });

  it('emits a stream of messages and keepalives split in two at every byte offset', () => {
    const stream = Buffer.concat([OPTIONS, Buffer.from('\r\n\r\n'), INVITE, Buffer.from('\r\n'), RESPONSE, INVITE]);
    for (let k = 0; k <= stream.length; k++) {
      const h = harness();
      h.framer.push(stream.subarray(0, k));
      h.framer.push(stream.subarray(k));
      expect(h.errors).toEqual([]);
      expect(h.events).toEqual([{ msg: OPTIONS }, 'ping', { msg: INVITE }, 'pong', { msg: RESPONSE }, { msg: INVITE }]);
    }
  });

  it('emits a message fed one byte at a time, and only after its last byte', () => {
    const h = harness();
    for (let i = 0; i < INVITE.length; i++) {
      expect(h.messages()).toEqual([]);
      h.framer.push(INVITE.subarray(i, i + 1));
    }
    expectOnly(h, [INVITE]);
    expect(h.framer.bufferedBytes).toBe(0);
  });

  it('emits many messages from one chunk, in order, each a view of the chunk', () => {
    const list = [INVITE, OPTIONS, RESPONSE, INVITE, OPTIONS, RESPONSE, RESPONSE, INVITE];
    const chunk = Buffer.concat(list);
    const views: Buffer[] = [];
    const errors: SbError[] = [];
    const f = new StreamFramer({ onMessage: (m) => views.push(m), onError: (e) => errors.push(e) });
    f.push(chunk);
    expect(errors).toEqual([]);
    expect(views).toEqual(list);
    let off = 0;
    for (const v of views) {
      expect(v.buffer).toBe(chunk.buffer);
      expect(v.byteOffset).toBe(chunk.byteOffset + off);
      off += v.length;
    }
  });

  it('handles a message that ends mid-chunk with the next one starting there', () => {
    const stream = Buffer.concat([INVITE, OPTIONS, RESPONSE]);
    const h = harness();
    h.framer.push(stream.subarray(0, INVITE.length - 5));
    h.framer.push(stream.subarray(INVITE.length - 5, INVITE.length + 10));
    expectOnly(h, [INVITE]);
    expect(h.framer.bufferedBytes).toBe(10);
    h.framer.push(stream.subarray(INVITE.length + 10));
    expectOnly(h, [INVITE, OPTIONS, RESPONSE]);
  });

  it('ends the header section at the first empty line: a body may hold CRLFCRLF and headers', () => {
    const body = '\r\n\r\nINVITE sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n\n\n';
    const m = msg(['MESSAGE sip:bob@example.com SIP/2.0', `Content-Length: ${body.length}`], body);
    const h = harness();
    h.framer.push(Buffer.concat([m, OPTIONS]));
    expectOnly(h, [m, OPTIONS]);
  });

  it('accepts header lines ending in bare LF, including a body holding CRLFCRLF', () => {
    const body = 'x\r\n\r\ny';
    const m = msg(['MESSAGE sip:bob@example.com SIP/2.0', 'Call-ID: lf', `Content-Length: ${body.length}`], body, '\n');
    const h = harness();
    h.framer.push(Buffer.concat([m, OPTIONS, m]));
    expectOnly(h, [m, OPTIONS, m]);
  });

  it('reads a Content-Length of 0 with the message ending at the header section', () => {
    const h = harness();
    h.framer.push(OPTIONS);
    expectOnly(h, [OPTIONS]);
  });
});

describe('StreamFramer: Content-Length forms', () => {
  const body = 'hello, world';
  it.each([
    ['compact l:', 'l:12'],
    ['compact L with spaces', 'L  :  12'],
    ['spaces around the colon', 'content-length :  12'],
    ['upper case, tab, trailing space', 'CONTENT-LENGTH\t:\t12 '],
    ['leading zeros', 'Content-Length: 0012'],
    ['value on a folded line', 'Content-Length:\r\n   12'],
    ['value then folded whitespace', 'Content-Length: 12\r\n  '],
  ])('%s', (_name, header) => {
    const m = msg(['MESSAGE sip:a@b SIP/2.0', 'Call-ID: 1', header, 'CSeq: 1 MESSAGE'], body);
    const h = harness();
    h.framer.push(Buffer.concat([m, OPTIONS]));
    expectOnly(h, [m, OPTIONS]);
  });

  it('reads Content-Length after a folded header, not from the folded line', () => {
    const m = msg(
      ['MESSAGE sip:a@b SIP/2.0', 'Subject: a long', ' l: 99', '\tcontent-length: 77', 'Content-Length: 12'],
      body,
    );
    const h = harness();
    h.framer.push(Buffer.concat([m, OPTIONS]));
    expectOnly(h, [m, OPTIONS]);
  });

  it('ignores headers whose names only start like Content-Length, and the start line', () => {
    const m = msg(
      ['l: 3 SIP/2.0', 'Content-Lengthy: 99', 'Lr: 5', 'c: text/plain', 'Content: 7', 'Content-Length: 12'],
      body,
    );
    const h = harness();
    h.framer.push(Buffer.concat([m, OPTIONS]));
    expectOnly(h, [m, OPTIONS]);
  });

  it('accepts a repeated Content-Length with the same value', () => {
    const m = msg(['MESSAGE sip:a@b SIP/2.0', 'Content-Length: 12', 'l: 012'], body);
    const h = harness();
    h.framer.push(m);
    expectOnly(h, [m]);
  });

  it.each([
    ['non-numeric', 'Content-Length: twelve'],
    ['negative', 'Content-Length: -12'],
    ['signed', 'Content-Length: +12'],
    ['fraction', 'Content-Length: 1.5'],
    ['two numbers', 'Content-Length: 1 2'],
    ['two numbers across a fold', 'Content-Length: 1\r\n 2'],
    ['empty', 'Content-Length:'],
    ['conflicting duplicates', 'Content-Length: 12\r\nl: 13'],
  ])('rejects a %s Content-Length', (_name, header) => {
    const h = harness();
    h.framer.push(msg(['MESSAGE sip:a@b SIP/2.0', header], body));
    expect(codeOf(h)).toBe('SB_ERR_FRAME_BAD_HEADERS');
    expect(h.messages()).toEqual([]);
  });

  it('rejects a message without Content-Length, after emitting the ones before it', () => {
    const h = harness();
    const bad = msg(['OPTIONS sip:a@b SIP/2.0', 'Call-ID: 1', 'Content-Lengthy: 0']);
    h.framer.push(Buffer.concat([OPTIONS, bad, OPTIONS]));
    expect(h.messages()).toEqual([OPTIONS]);
    expect(codeOf(h)).toBe('SB_ERR_FRAME_NO_CONTENT_LENGTH');
  });
});

describe('StreamFramer: keepalives', () => {
  it('reports pings and pongs between messages and keeps them out of messages', () => {
    const h = harness();
    h.framer.push(Buffer.from('\r\n\r\n\r\n\r\n'));
    h.framer.push(Buffer.concat([INVITE, Buffer.from('\r\n'), OPTIONS, Buffer.from('\r\n\r\n\r\n'), RESPONSE]));
    expect(h.errors).toEqual([]);
    expect(h.events).toEqual(['ping', 'ping', { msg: INVITE }, 'pong', { msg: OPTIONS }, 'ping', 'pong', { msg: RESPONSE }]);
  });

  it('reports a ping split across chunks once', () => {
    const h = harness();
    h.framer.push(Buffer.from('\r\n'));
    h.framer.push(Buffer.from('\r'));
    expect(h.keepalives()).toEqual([]);
    h.framer.push(Buffer.from('\n'));
    expectOnly(h, [], ['ping']);
    expect(h.framer.idle).toBe(true);
  });

  it('reports a CRLF ending a chunk as a pong once the next byte shows it is not half a ping', () => {
    const h = harness();
    h.framer.push(Buffer.concat([OPTIONS, Buffer.from('\r\n')]));
    expectOnly(h, [OPTIONS], []);
    expect(h.framer.idle).toBe(true);
    expect(h.framer.bufferedBytes).toBe(0);
    h.framer.push(OPTIONS);
    expect(h.events).toEqual([{ msg: OPTIONS }, 'pong', { msg: OPTIONS }]);
  });

  it('with eagerPong, reports a CRLF ending a chunk as a pong at once', () => {
    const h = harness({ eagerPong: true });
    h.framer.push(Buffer.concat([OPTIONS, Buffer.from('\r\n')]));
    expectOnly(h, [OPTIONS], ['pong']);
    h.framer.push(Buffer.from('\r\n\r\n'));
    expectOnly(h, [OPTIONS], ['pong', 'ping']);
  });

  it('works without an onKeepalive callback', () => {
    const errors: SbError[] = [];
    const out: Buffer[] = [];
    const f = new StreamFramer({ onMessage: (m) => out.push(m), onError: (e) => errors.push(e) });
    f.push(Buffer.concat([Buffer.from('\r\n\r\n\r\n'), OPTIONS, Buffer.from('\r\n')]));
    f.push(OPTIONS);
    expect(errors).toEqual([]);
    expect(out).toEqual([OPTIONS, OPTIONS]);
  });

  it.each([
    ['a bare CR', '\rOPTIONS'],
    ['a bare LF', '\nOPTIONS'],
    ['CRLF then a bare CR', '\r\n\rOPTIONS'],
  ])('rejects %s before a start line', (_name, text) => {
    const h = harness();
    h.framer.push(Buffer.concat([OPTIONS, Buffer.from(text)]));
    expect(h.messages()).toEqual([OPTIONS]);
    expect(codeOf(h)).toBe('SB_ERR_FRAME_BAD_HEADERS');
  });
});

describe('StreamFramer: size limit', () => {
  it('rejects an oversized announced body as soon as Content-Length is read, before the header section ends', () => {
    const h = harness({ maxMessageSize: 1000 });
    h.framer.push(Buffer.from('MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 990\r\n'));
    expect(codeOf(h)).toBe('SB_ERR_FRAME_TOO_LARGE');
    expect(h.framer.bufferedBytes).toBe(0);
  });

  it('rejects an oversized total at the end of the header section, before the body arrives', () => {
    const head = 'MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 960\r\n\r\n';
    const ok = harness({ maxMessageSize: head.length + 960 });
    ok.framer.push(Buffer.from(head));
    expect(ok.errors).toEqual([]);
    ok.framer.push(Buffer.alloc(960, 0x41));
    expectOnly(ok, [Buffer.concat([Buffer.from(head), Buffer.alloc(960, 0x41)])]);

    const h = harness({ maxMessageSize: head.length + 959 });
    h.framer.push(Buffer.from(head));
    expect(codeOf(h)).toBe('SB_ERR_FRAME_TOO_LARGE');
  });

  it('rejects a header section that reaches the limit without ending, byte-exactly', () => {
    const max = 1024;
    const junk = Buffer.from('OPTIONS sip:a@b SIP/2.0\r\n' + 'X-Pad: 0123456789abcdef\r\n'.repeat(100));
    const h = harness({ maxMessageSize: max });
    h.framer.push(junk.subarray(0, max - 1));
    expect(h.errors).toEqual([]);
    expect(h.framer.bufferedBytes).toBe(max - 1);
    h.framer.push(junk.subarray(max - 1, max));
    expect(codeOf(h)).toBe('SB_ERR_FRAME_TOO_LARGE');
    expect(h.framer.bufferedBytes).toBe(0);
  });

  it('rejects never-ending headers in one huge chunk', () => {
    const h = harness();
    h.framer.push(Buffer.concat([OPTIONS, Buffer.from('OPTIONS sip:a@b SIP/2.0\r\n' + 'X: y\r\n'.repeat(200_000))]));
    expect(h.messages()).toEqual([OPTIONS]);
    expect(codeOf(h)).toBe('SB_ERR_FRAME_TOO_LARGE');
  });

  it('accepts a message of exactly maxMessageSize', () => {
    const body = Buffer.alloc(100, 0xff);
    const m = msg(['MESSAGE sip:a@b SIP/2.0', 'Content-Length: 100'], body);
    const h = harness({ maxMessageSize: m.length });
    h.framer.push(m);
    h.framer.push(m.subarray(0, 7));
    h.framer.push(m.subarray(7));
    expectOnly(h, [m, m]);
  });

  it('validates maxMessageSize', () => {
    const cb = { onMessage() {}, onError() {} };
    expect(() => new StreamFramer({ ...cb, maxMessageSize: 0 })).toThrow(RangeError);
    expect(() => new StreamFramer({ ...cb, maxMessageSize: 1.5 })).toThrow(RangeError);
    expect(() => new StreamFramer({ ...cb, maxMessageSize: Infinity })).toThrow(RangeError);
  });
});

describe('StreamFramer: lifecycle', () => {
  it('is dead after an error: later pushes are ignored, until reset()', () => {
    const h = harness();
    h.framer.push(Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nContent-Length: x\r\n\r\n'));
    expect(codeOf(h)).toBe('SB_ERR_FRAME_BAD_HEADERS');
    h.framer.push(OPTIONS);
    h.framer.push(Buffer.from('garbage\r\n\r\n'));
    expect(h.messages()).toEqual([]);
    expect(h.errors).toHaveLength(1);
    h.framer.reset();
    h.framer.push(OPTIONS);
    expect(h.messages()).toEqual([OPTIONS]);
  });

  it('reset() drops a partial message and a held CRLF', () => {
    const h = harness();
    h.framer.push(INVITE.subarray(0, 50));
    expect(h.framer.idle).toBe(false);
    h.framer.reset();
    expect(h.framer.idle).toBe(true);
    expect(h.framer.bufferedBytes).toBe(0);
    h.framer.push(Buffer.from('\r\n'));
    h.framer.reset();
    h.framer.push(Buffer.concat([Buffer.from('\r\n'), OPTIONS]));
    expectOnly(h, [OPTIONS], ['pong']);
  });

  it('queues a push() made from a callback after the current chunk', () => {
    const seen: Buffer[] = [];
    const f: StreamFramer = new StreamFramer({
      onMessage: (m) => {
        seen.push(Buffer.from(m));
        if (seen.length === 1) f.push(RESPONSE);
      },
      onError: (e) => {
        throw e;
      },
    });
    f.push(Buffer.concat([INVITE, OPTIONS]));
    expect(seen).toEqual([INVITE, OPTIONS, RESPONSE]);
  });

  it('a reset() from a callback discards the rest of the chunk', () => {
    const seen: Buffer[] = [];
    const f: StreamFramer = new StreamFramer({
      onMessage: (m) => {
        seen.push(Buffer.from(m));
        f.reset();
      },
      onError: (e) => {
        throw e;
      },
    });
    f.push(Buffer.concat([INVITE, OPTIONS.subarray(0, 20)]));
    expect(seen).toEqual([INVITE]);
    expect(f.idle).toBe(true);
    f.push(RESPONSE);
    expect(seen).toEqual([INVITE, RESPONSE]);
  });

  it('propagates an exception from onMessage and is dead afterwards', () => {
    let calls = 0;
    const f = new StreamFramer({
      onMessage: () => {
        calls++;
        throw new Error('boom');
      },
      onError: () => {},
    });
    expect(() => f.push(Buffer.concat([OPTIONS, OPTIONS]))).toThrow('boom');
    f.push(OPTIONS);
    expect(calls).toBe(1);
  });

  it('ignores empty chunks', () => {
    const h = harness();
    h.framer.push(Buffer.alloc(0));
    h.framer.push(OPTIONS.subarray(0, 10));
    h.framer.push(Buffer.alloc(0));
    h.framer.push(OPTIONS.subarray(10));
    expectOnly(h, [OPTIONS]);
  });
});

// ---- property: random valid streams, randomly split

const crlfOrLf = fc.constantFrom('\r\n', '\n');
const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,30}$/);
const otherHeader = fc.record({
  name: fc.constantFrom('Via', 'From', 'To', 'Call-ID', 'CSeq', 'Contact', 'c', 'Content-Lengthy', 'Lr', 'L-x', 'Subject'),
  value: headerValue,
  fold: fc.option(headerValue, { nil: undefined }),
});
const clHeader = fc.record({
  name: fc.constantFrom('Content-Length', 'content-length', 'CONTENT-LENGTH', 'Content-length', 'l', 'L'),
  before: fc.constantFrom('', ' ', '\t', '  '),
  after: fc.constantFrom('', ' ', '\t', '   '),
  trail: fc.constantFrom('', ' ', '\t'),
  zeros: fc.constantFrom('', '0', '00'),
  foldValue: fc.boolean(),
  twice: fc.boolean(),
});
const bodyBytes = fc
  .array(
    fc.oneof(
      fc.uint8Array({ maxLength: 60 }),
      fc.constantFrom(...['\r\n\r\n', '\n\n', '\r\n', '\r\nContent-Length: 5\r\n\r\n', 'l: 1\n\n'].map((s) => Buffer.from(s))),
    ),
    { maxLength: 6 },
  )
  .map((parts) => Buffer.concat(parts.map((p) => Buffer.from(p))));
const message = fc
  .record({
    start: fc.constantFrom('INVITE sip:bob@example.com SIP/2.0', 'SIP/2.0 180 Ringing', 'OPTIONS sip:x SIP/2.0', 'l: 9 SIP/2.0'),
    headers: fc.array(otherHeader, { maxLength: 6 }),
    cl: clHeader,
    clAt: fc.nat(),
    eol: crlfOrLf,
    body: bodyBytes,
  })
  .map(({ start, headers, cl, clAt, eol, body }) => {
    const lines = headers.map((h) => `${h.name}: ${h.value}` + (h.fold === undefined ? '' : `${eol} ${h.fold}`));
    const value = `${cl.zeros}${body.length}`;
    const clLine = `${cl.name}${cl.before}:${cl.foldValue ? `${eol}\t` : cl.after}${value}${cl.trail}`;
    const at = clAt % (lines.length + 1);
    lines.splice(at, 0, clLine);
    if (cl.twice) lines.push(`Content-Length: ${body.length}`);
    return msg([start, ...lines], body, eol);
  });
/** keepalives before a message: any number of pings, then at most one pong (more would be ambiguous) */
const segment = fc.record({ pings: fc.nat(3), pong: fc.boolean(), message });

describe('StreamFramer: property', () => {
  it('frames random valid streams split at random points byte for byte, counting keepalives exactly', () => {
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 8 }),
        fc.nat(2),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.boolean(),
        (segments, trailingPings, cuts, byteByByte) => {
          const pieces: Buffer[] = [];
          const expected: Event[] = [];
          for (const s of segments) {
            for (let i = 0; i < s.pings; i++) {
              pieces.push(Buffer.from('\r\n\r\n'));
              expected.push('ping');
            }
            if (s.pong) {
              pieces.push(Buffer.from('\r\n'));
              expected.push('pong');
            }
            pieces.push(s.message);
            expected.push({ msg: s.message });
          }
          for (let i = 0; i < trailingPings; i++) {
            pieces.push(Buffer.from('\r\n\r\n'));
            expected.push('ping');
          }
          const stream = Buffer.concat(pieces);
          const points = byteByByte
            ? Array.from({ length: stream.length + 1 }, (_, i) => i)
            : [0, ...cuts.map((c) => c % (stream.length + 1)), stream.length].sort((a, b) => a - b);

          const h = harness();
          for (let i = 1; i < points.length; i++) {
            // fresh copies: a view into `stream` would hide a framer reading outside its chunk
            h.framer.push(Buffer.from(stream.subarray(points[i - 1], points[i])));
          }
          expect(h.errors).toEqual([]);
          expect(h.events).toEqual(expected);
          expect(h.framer.idle).toBe(true);
          expect(h.framer.bufferedBytes).toBe(0);
        },
      ),
      { numRuns: 400 },
    );
  });
});
