/**
 * Parser unit tests (RFC 3261 §7, §18.3, §20, §25): start lines, header
 * names, list splitting, folding, every typed accessor, body framing,
 * limits and start-line faults. Faults are asserted by code and status,
 * never by message text.
 */
import { describe, expect, it } from 'vitest';
import { parseMessage, type ParseLimits, type ParseResult } from '../../../src/sip/parser.js';
import { SipRequest, SipResponse, type AnyMessage } from '../../../src/sip/message.js';
import { canonicalHeaderName, normalizeHeaderName } from '../../../src/sip/header-names.js';
import type { ErrorCode } from '../../../src/util/errors.js';

// ------------------------------------------------------------------ helpers

function bytes(lines: string[], body: Buffer | string = '', eol = '\r\n'): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  return Buffer.concat([Buffer.from(lines.join(eol) + eol + eol, 'latin1'), b]);
}

const BASE_REQUEST = [
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 OPTIONS',
];

/** An OPTIONS request with the base headers plus `extra` lines. */
function request(extra: string[] = [], body: Buffer | string = '', startLine = 'OPTIONS sip:bob@biloxi.example.com SIP/2.0'): Buffer {
  return bytes([startLine, ...BASE_REQUEST, ...extra], body);
}

function ok(buf: Buffer, limits: Partial<ParseLimits> = {}, stream = false): AnyMessage {
  const r = parseMessage(buf, limits, stream);
  if (!r.ok) throw new Error(`expected a message, got ${r.error.code}`);
  return r.message;
}

function req(buf: Buffer): SipRequest {
  const m = ok(buf);
  if (!(m instanceof SipRequest)) throw new Error('expected a request');
  return m;
}

/** A message holding only the base headers plus one extra header line. */
function withHeader(line: string): SipRequest {
  return req(request([line]));
}

function failure(r: ParseResult): { code: ErrorCode; status: number; message: AnyMessage | undefined } {
  if (r.ok) throw new Error('expected a parse failure');
  return { code: r.error.code, status: r.error.status, message: r.message };
}

// ------------------------------------------------------------------ start line

describe('parseMessage: requests and responses from a datagram (§7.1, §7.2)', () => {
  it('parses a request: method, Request-URI, headers in order, body', () => {
    const body = 'v=0\r\n';
    const m = req(request(['Content-Type: application/sdp', `Content-Length: ${body.length}`], body, 'INVITE sip:bob@biloxi.example.com;transport=udp SIP/2.0'));
    expect(m.isRequest).toBe(true);
    expect(m.method).toBe('INVITE');
    expect(m.uri).toBe('sip:bob@biloxi.example.com;transport=udp');
    expect(m.startLine()).toBe('INVITE sip:bob@biloxi.example.com;transport=udp SIP/2.0');
    expect(m.headers.map((h) => h.name)).toEqual(['via', 'max-forwards', 'to', 'from', 'call-id', 'cseq', 'content-type', 'content-length']);
    expect(m.body.toString('latin1')).toBe(body);
  });

  it('parses a response: status code and reason phrase', () => {
    const m = ok(bytes(['SIP/2.0 180 Ringing', ...BASE_REQUEST, 'Content-Length: 0']));
    expect(m).toBeInstanceOf(SipResponse);
    const r = m as SipResponse;
    expect(r.isRequest).toBe(false);
    expect(r.status).toBe(180);
    expect(r.reason).toBe('Ringing');
    expect(r.get('call-id')).toBe('a84b4c76e66710@pc33.atlanta.example.com');
  });

  it.each([
    ['SIP/2.0 200 OK', 200, 'OK'],
    ['SIP/2.0 486 Busy Here', 486, 'Busy Here'],
    ['SIP/2.0 699 ', 699, ''],
    ['SIP/2.0 100 Trying, really  spaced', 100, 'Trying, really  spaced'],
  ])('status line %j → %i %j', (line, status, reason) => {
    const r = ok(bytes([line, 'Call-ID: x'])) as SipResponse;
    expect(r.status).toBe(status);
    expect(r.reason).toBe(reason);
  });

  it.each(['OPTIONS', 'REGISTER', 'INVITE', 'ACK', 'BYE', 'CANCEL', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'MESSAGE', 'REFER', 'INFO', 'UPDATE', 'PRACK', 'NEWMETHOD.ext!%'])(
    'method %s',
    (method) => {
      expect(req(bytes([`${method} sip:x@example.com SIP/2.0`])).method).toBe(method);
    },
  );

  // The usual request line is read from the bytes (a fast path); anything
  // else goes to the general start-line parser. Both must agree.
  it.each<[string, string, string]>([
    ['lowercase method (not one of the interned names)', 'register sip:x@example.com SIP/2.0', 'sip:x@example.com'],
    ['method that is a prefix of a known one', 'REG sip:x@example.com SIP/2.0', 'sip:x@example.com'],
    ['method that a known one is a prefix of', 'REGISTERS sip:x@example.com SIP/2.0', 'sip:x@example.com'],
    ['extension method', 'FOO.BAR sip:x@example.com SIP/2.0', 'sip:x@example.com'],
    ['control byte in the Request-URI (not whitespace for §25.1)', 'OPTIONS sip:x\x01y@example.com SIP/2.0', 'sip:x\x01y@example.com'],
    ['byte above 0x7f in the Request-URI', 'OPTIONS sip:\xe9t\xe9@example.com SIP/2.0', 'sip:\xe9t\xe9@example.com'],
    ['DEL in the Request-URI', 'OPTIONS sip:x\x7fy@example.com SIP/2.0', 'sip:x\x7fy@example.com'],
    ['version in lower case', 'OPTIONS sip:x@example.com sip/2.0', 'sip:x@example.com'],
  ])('request line outside the fast path: %s', (_t, line, uri) => {
    const m = req(request([], '', line));
    expect(m.method).toBe(line.slice(0, line.indexOf(' ')));
    expect(m.uri).toBe(uri);
    expect(m.headers).toHaveLength(BASE_REQUEST.length);
  });

  it('a known method is returned as the shared string, and only when followed by SP', () => {
    for (const method of ['REGISTER', 'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'SUBSCRIBE', 'NOTIFY', 'MESSAGE', 'INFO', 'PRACK', 'UPDATE', 'REFER', 'PUBLISH']) {
      expect(req(request([], '', `${method} sip:x@example.com SIP/2.0`)).method).toBe(method);
    }
    expect(failure(parseMessage(request([], '', 'ACK\tsip:x@example.com SIP/2.0'))).code).toBe('SB_ERR_PARSE_START_LINE');
    expect(failure(parseMessage(request([], '', 'INVITE  sip:x@example.com SIP/2.0'))).code).toBe(failure(parseMessage(request([], '', 'FOO  sip:x@example.com SIP/2.0'))).code);
  });

  it('NBSP (byte 0xa0) in the Request-URI is refused as whitespace, as before the fast path', () => {
    const f = failure(parseMessage(request([], '', 'OPTIONS sip:x\xa0y@example.com SIP/2.0')));
    expect(f.code).toBe('SB_ERR_PARSE_URI');
  });

  it('a message built rather than parsed starts empty, each with its own header list', () => {
    const a = new SipRequest('OPTIONS', 'sip:x@example.com');
    const b = new SipResponse(200, 'OK');
    for (const m of [a, b]) {
      expect(m.raw).toBeNull();
      expect(m.rawHead).toBeNull();
      expect(m.startLineStart).toBe(-1);
      expect(m.startLineEnd).toBe(-1);
      expect(m.headers).toEqual([]);
      expect(m.body.length).toBe(0);
      expect(m.vias()).toEqual([]);
      expect(m.from()).toBeUndefined();
      expect(m.contacts()).toBeUndefined();
    }
    a.append('Call-ID', 'x');
    expect(b.headers).toEqual([]);
    expect(a.callId()).toBe('x');
  });

  it('§7.5: skips CRLFs before the start line', () => {
    const body = request();
    const buf = Buffer.concat([Buffer.from('\r\n\r\n\n\r\n'), body]);
    const m = req(buf);
    expect(m.method).toBe('OPTIONS');
    expect(m.startLineStart).toBe(7);
    expect(m.headers).toHaveLength(BASE_REQUEST.length);
  });

  it('keeps the raw buffer and the byte range of every header line', () => {
    const buf = request();
    const m = req(buf);
    expect(m.raw).toBe(buf);
    for (const [k, h] of m.headers.entries()) expect(buf.toString('latin1', h.start, h.end)).toBe(BASE_REQUEST[k] + '\r\n');
  });
});

describe('parseMessage: start-line faults', () => {
  it('§8.2.2 / RFC 4475 §3.1.2.11: a version other than SIP/2.0 → 505 with the partial message', () => {
    const f = failure(parseMessage(request([], '', 'OPTIONS sip:bob@biloxi.example.com SIP/7.0')));
    expect(f.code).toBe('SB_ERR_PARSE_VERSION');
    expect(f.status).toBe(505);
    expect(f.message).toBeInstanceOf(SipRequest);
    expect((f.message as SipRequest).method).toBe('OPTIONS');
    expect(f.message!.callId()).toBe('a84b4c76e66710@pc33.atlanta.example.com');
    expect(f.message!.headers).toHaveLength(BASE_REQUEST.length);
  });

  it.each<[string, string, ErrorCode, number, boolean]>([
    ['whitespace in the Request-URI', 'INVITE sip:bob @biloxi.example.com SIP/2.0', 'SB_ERR_PARSE_URI', 400, true],
    ['tab in the Request-URI', 'INVITE sip:bob\t@biloxi.example.com SIP/2.0', 'SB_ERR_PARSE_URI', 400, true],
    ['Request-URI in <>', 'INVITE <sip:bob@biloxi.example.com> SIP/2.0', 'SB_ERR_PARSE_URI', 400, true],
    ['no version', 'INVITE sip:bob@biloxi.example.com', 'SB_ERR_PARSE_START_LINE', 400, true],
    ['empty Request-URI', 'INVITE  SIP/2.0', 'SB_ERR_PARSE_START_LINE', 400, true],
    ['version is not SIP/x.y', 'INVITE sip:bob@biloxi.example.com HTTP/1.1', 'SB_ERR_PARSE_START_LINE', 400, true],
    ['trailing text after the version', 'INVITE sip:bob@biloxi.example.com SIP/2.0x', 'SB_ERR_PARSE_START_LINE', 400, true],
    ['method only', 'INVITE', 'SB_ERR_PARSE_START_LINE', 400, false],
    ['leading space', ' INVITE sip:bob@biloxi.example.com SIP/2.0', 'SB_ERR_PARSE_START_LINE', 400, false],
    ['method with a non-token character', 'INV@TE sip:bob@biloxi.example.com SIP/2.0', 'SB_ERR_PARSE_START_LINE', 400, false],
    ['status code of two digits', 'SIP/2.0 20 OK', 'SB_ERR_PARSE_START_LINE', 400, false],
    ['status code out of range', 'SIP/2.0 700 Odd', 'SB_ERR_PARSE_START_LINE', 400, false],
    ['response of another version', 'SIP/3.0 200 OK', 'SB_ERR_PARSE_START_LINE', 400, false],
    ['an HTTP request line', 'GET / HTTP/1.1', 'SB_ERR_PARSE_START_LINE', 400, true],
  ])('%s: %j → %s (%i), partial message: %s', (_t, line, code, status, withMessage) => {
    const f = failure(parseMessage(request([], '', line)));
    expect(f.code).toBe(code);
    expect(f.status).toBe(status);
    if (withMessage) {
      expect(f.message).toBeInstanceOf(SipRequest);
      expect(f.message!.headers).toHaveLength(BASE_REQUEST.length);
    } else expect(f.message).toBeUndefined();
  });

  it.each<[string, ErrorCode, Buffer]>([
    ['empty buffer', 'SB_ERR_PARSE_START_LINE', Buffer.alloc(0)],
    ['only CRLFs', 'SB_ERR_PARSE_START_LINE', Buffer.from('\r\n\r\n\r\n')],
    ['binary garbage with an empty line', 'SB_ERR_PARSE_START_LINE', Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a, 0x01])],
    ['text without an empty line', 'SB_ERR_PARSE_NO_HEADER_END', Buffer.from('hello world')],
    ['a request cut inside the headers', 'SB_ERR_PARSE_NO_HEADER_END', request().subarray(0, 80)],
    ['an HTTP response', 'SB_ERR_PARSE_START_LINE', bytes(['HTTP/1.1 200 OK', 'Host: example.com'])],
  ])('garbage: %s → %s without a message', (_t, code, buf) => {
    const f = failure(parseMessage(buf));
    expect(f.code).toBe(code);
    expect(f.status).toBe(400);
    expect(f.message).toBeUndefined();
  });
});

// ------------------------------------------------------------------ header names, lists, folding

describe('header names (§7.3.1, §7.3.3)', () => {
  it.each([
    ['v', 'via'],
    ['f', 'from'],
    ['t', 'to'],
    ['i', 'call-id'],
    ['m', 'contact'],
    ['l', 'content-length'],
    ['k', 'supported'],
    ['c', 'content-type'],
    ['s', 'subject'],
    ['V', 'via'],
    ['VIA', 'via'],
    ['cAlL-iD', 'call-id'],
    ['WWW-AUTHENTICATE', 'www-authenticate'],
    ['content-LENGTH', 'content-length'],
    ['CSEQ', 'cseq'],
    ['X-Custom', 'x-custom'],
  ])('%s is stored as %s', (written, long) => {
    expect(normalizeHeaderName(written)).toBe(long);
  });

  it('parses compact forms and mixed case, and finds them by any spelling', () => {
    const m = req(
      bytes([
        'INVITE sip:bob@biloxi.example.com SIP/2.0',
        'v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKcompact',
        'MAX-FORWARDS: 70',
        't: <sip:bob@biloxi.example.com>',
        'f: <sip:alice@atlanta.example.com>;tag=88',
        'i: compact@host',
        'cseq: 1 INVITE',
        'm: <sip:alice@192.0.2.4>',
        'k: path, outbound',
        's: lunch',
        'c: application/sdp',
        'l: 4',
      ], 'v=0\n'),
    );
    expect(m.headers.map((h) => h.name)).toEqual([
      'via', 'max-forwards', 'to', 'from', 'call-id', 'cseq', 'contact', 'supported', 'subject', 'content-type', 'content-length',
    ]);
    expect(m.get('Via')).toBe('SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKcompact');
    expect(m.get('v')).toBe(m.get('VIA'));
    expect(m.get('Call-ID')).toBe('compact@host');
    expect(m.callId()).toBe('compact@host');
    expect(m.topVia()?.branch).toBe('z9hG4bKcompact');
    expect(m.fromTag()).toBe('88');
    expect(m.tokens('supported')).toEqual(['path', 'outbound']);
    expect(m.get('subject')).toBe('lunch');
    expect(m.contentType()).toBe('application/sdp');
    expect(m.contentLength()).toBe(4);
    expect(m.body.toString()).toBe('v=0\n');
    expect(m.has('m')).toBe(true);
    expect(m.has('x-absent')).toBe(false);
  });

  it.each([
    ['Via', 'via'], ['VIA', 'via'], ['From', 'from'], ['TO', 'to'], ['call-ID', 'call-id'], ['Cseq', 'cseq'], ['Max-forwards', 'max-forwards'],
    ['content-TYPE', 'content-type'], ['Record-Route', 'record-route'], ['www-Authenticate', 'www-authenticate'], ['Viaa', 'viaa'], ['Vi', 'vi'],
    ['X-Via', 'x-via'], ['Content-Lengths', 'content-lengths'],
  ])('a parsed header line named %s is stored as %s', (written, long) => {
    expect(withHeader(`${written}: v`).headers.at(-1)!.name).toBe(long);
  });

  it.each([
    ['Allow-Events: talk', 'allow-events', 'talk'],
    ['Allow: INVITE', 'allow', 'INVITE'],
    ['Tox: 1', 'tox', '1'],
    ['To-X: 1', 'to-x', '1'],
    ['Via-: 1', 'via-', '1'],
    ['Contact-X: <sip:a@b>', 'contact-x', '<sip:a@b>'],
    ['Call-IDs: x', 'call-ids', 'x'],
    ['Content-Type: a/b', 'content-type', 'a/b'],
    ['Content-Length:0', 'content-length', '0'],
    ['TO:<sip:x@y>', 'to', '<sip:x@y>'],
    ['Via :SIP/2.0/UDP h', 'via', 'SIP/2.0/UDP h'],
    ['Via\t: SIP/2.0/UDP h', 'via', 'SIP/2.0/UDP h'],
    ['From:: x', 'from', ': x'],
  ])('a common name right before the colon or not: %s', (line, name, value) => {
    const m = withHeader(line);
    const h = m.headers.at(-1)!;
    expect([h.name, h.value]).toEqual([name, value]);
    expect(m.raw!.toString('latin1', h.valueStart!, h.valueStart! + h.value.length)).toBe(value);
  });

  it('a line holding a common name but no colon is rejected', () => {
    for (const line of ['Via SIP/2.0/UDP h', 'To', 'Contact <sip:a@b>', 'CSeq 1 OPTIONS']) {
      const f = failure(parseMessage(request([line])));
      expect(f.code).toBe('SB_ERR_PARSE_HEADER');
      expect(f.message!.headers).toHaveLength(BASE_REQUEST.length);
    }
  });

  it('§7.3.1: allows whitespace between the name and the colon, and trims the value', () => {
    const m = withHeader('Subject \t:   hello there  \t');
    expect(m.get('subject')).toBe('hello there');
  });

  it('accepts an empty header value', () => {
    expect(withHeader('Subject:').get('subject')).toBe('');
  });

  it.each([
    ['no colon', 'Subject hello'],
    ['a space inside the name', 'Sub ject: hello'],
    ['an empty name', ': hello'],
    ['a non-token name', 'Sub[ject]: hello'],
    ['a CR where a common name has its dash', 'Call\rID: x'],
    ['a NUL inside a common name', 'Vi\0a: x'],
    ['a common name with one letter changed to a non-letter', 'C@ntact: <sip:a@b>'],
  ])('rejects a header line with %s, keeping the headers before it', (_t, line) => {
    const f = failure(parseMessage(request([line])));
    expect(f.code).toBe('SB_ERR_PARSE_HEADER');
    expect(f.status).toBe(400);
    expect(f.message!.headers).toHaveLength(BASE_REQUEST.length);
  });

  it('regression: header names that are Object.prototype members are plain strings', () => {
    const m = withHeader('Constructor: 1');
    m.append('constructor', 'c').append('__proto__', 'p').append('toString', 't');
    expect(m.headers.slice(-4).map((h) => h.name)).toEqual(['constructor', 'constructor', '__proto__', 'tostring']);
    expect(m.headers.slice(-3).map((h) => h.writtenName)).toEqual(['Constructor', '__proto__', 'Tostring']);
    expect(m.getAll('constructor')).toEqual(['1', 'c']);
    expect(m.get('constructor')).toBe('1');
    expect(m.get('__proto__')).toBe('p');
    expect(canonicalHeaderName('constructor')).toBe('Constructor');
    expect(normalizeHeaderName('hasOwnProperty')).toBe('hasownproperty');
  });
});

describe('header values are byte strings', () => {
  /** UTF-8 text as the latin1 byte string a header holds. */
  const b = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

  it('keeps UTF-8 text byte for byte', () => {
    const m = req(request([`Subject: ${b('Grüße, 日本')}`]));
    expect(m.get('subject')).toBe(b('Grüße, 日本'));
  });

  it.each(['à', 'Р', 'ПРИВЕТ МИР', 'voilà'])('regression: a value ending in a UTF-8 character whose last byte is 0xA0 (%s) keeps that byte', (text) => {
    const buf = Buffer.concat([Buffer.from('OPTIONS sip:x@example.com SIP/2.0\r\nSubject: '), Buffer.from(text, 'utf8'), Buffer.from('  \r\nSupported: a, '), Buffer.from(text, 'utf8'), Buffer.from('\r\n\r\n')]);
    const m = req(buf);
    expect(m.get('subject')).toBe(b(text));
    expect(Buffer.from(m.get('subject')!, 'latin1').toString('utf8')).toBe(text);
    expect(m.getAll('supported')).toEqual(['a', b(text)]);
  });
});

describe('list headers (§7.3.1): getAll splits on commas outside quotes and <>', () => {
  it('splits one line into its values', () => {
    const m = withHeader('Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>,<sip:p3.example.com;lr>');
    expect(m.getAll('route')).toEqual(['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>', '<sip:p3.example.com;lr>']);
    expect(m.get('route')).toBe('<sip:p1.example.com;lr>, <sip:p2.example.com;lr>,<sip:p3.example.com;lr>');
    expect(m.countLines('route')).toBe(1);
  });

  it('keeps commas inside quoted strings and angle brackets', () => {
    const m = withHeader('Contact: "Smith, John" <sip:john@example.com;x=a,b>;q=0.5, <sip:j2@example.com>');
    expect(m.getAll('contact')).toEqual(['"Smith, John" <sip:john@example.com;x=a,b>;q=0.5', '<sip:j2@example.com>']);
  });

  it('keeps an escaped quote inside a quoted string', () => {
    const m = withHeader('Contact: "a \\", b" <sip:a@example.com>, <sip:b@example.com>');
    expect(m.getAll('contact')).toEqual(['"a \\", b" <sip:a@example.com>', '<sip:b@example.com>']);
  });

  it('joins several lines of the same header in order', () => {
    const m = req(
      bytes([
        'OPTIONS sip:x@example.com SIP/2.0',
        'Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com;branch=z9hG4bK2',
        'Max-Forwards: 70',
        'v: SIP/2.0/TLS c.example.com;branch=z9hG4bK3',
        'Subject: first, with comma',
        'Subject: second',
      ]),
    );
    expect(m.countLines('via')).toBe(2);
    expect(m.getAll('via')).toEqual([
      'SIP/2.0/UDP a.example.com;branch=z9hG4bK1',
      'SIP/2.0/TCP b.example.com;branch=z9hG4bK2',
      'SIP/2.0/TLS c.example.com;branch=z9hG4bK3',
    ]);
    expect(m.vias()!.map((v) => v.branch)).toEqual(['z9hG4bK1', 'z9hG4bK2', 'z9hG4bK3']);
    // Subject is not a list header: values are whole lines
    expect(m.getAll('subject')).toEqual(['first, with comma', 'second']);
    expect(m.get('subject')).toBe('first, with comma');
  });

  it('drops empty elements', () => {
    expect(withHeader('Supported: , timer,, 100rel ,').getAll('supported')).toEqual(['timer', '100rel']);
  });
});

describe('folded lines (§7.3.1)', () => {
  it('unfolds continuation lines starting with SP or HT into one SP', () => {
    const m = req(
      bytes([
        'OPTIONS sip:x@example.com SIP/2.0',
        'Subject: I know you\'re there,',
        '      pick up the phone',
        '\tand talk to me!',
        'Via: SIP/2.0/UDP',
        ' host.example.com;branch=z9hG4bKfold',
        'Call-ID: f@x',
      ]),
    );
    expect(m.get('subject')).toBe("I know you're there, pick up the phone and talk to me!");
    expect(m.topVia()?.host).toBe('host.example.com');
    expect(m.callId()).toBe('f@x');
    expect(m.headers).toHaveLength(3);
    // the byte range of a folded header covers all its lines
    const s = m.headers[0]!;
    expect(m.raw!.toString('latin1', s.start, s.end)).toBe("Subject: I know you're there,\r\n      pick up the phone\r\n\tand talk to me!\r\n");
  });
});

describe('bare LF line endings', () => {
  it('regression: a message whose lines end in LF alone parses', () => {
    const m = req(bytes(['OPTIONS sip:x@example.com SIP/2.0', 'Via: SIP/2.0/UDP h.example.com;branch=z9hG4bKlf', 'Call-ID: lf@x', 'Content-Length: 3'], 'abc', '\n'));
    expect(m.headers.map((h) => [h.name, h.value])).toEqual([
      ['via', 'SIP/2.0/UDP h.example.com;branch=z9hG4bKlf'],
      ['call-id', 'lf@x'],
      ['content-length', '3'],
    ]);
    expect(m.body.toString()).toBe('abc');
  });

  it('regression: a start line followed by LF LF parses with no headers', () => {
    const m = req(Buffer.from('OPTIONS sip:x@example.com SIP/2.0\n\n'));
    expect(m.headers).toEqual([]);
  });

  it('regression: a header line ending in a bare LF followed by an empty CRLF line ends the header section (as the framer frames it)', () => {
    const m = req(Buffer.from('OPTIONS sip:x@example.com SIP/2.0\r\nCall-ID: a@b\r\nExpires: 60\n\r\nbody'));
    expect(m.headers.map((h) => h.value)).toEqual(['a@b', '60']);
    expect(m.body.toString()).toBe('body');
  });

  it('the first empty line ends the header section, whichever form it takes', () => {
    // LF LF before CRLF CRLF: the rest, CRLF CRLF included, is body
    const a = req(Buffer.from('OPTIONS sip:x@example.com SIP/2.0\nCall-ID: a\n\nX: in body\r\n\r\n'));
    expect(a.headers).toHaveLength(1);
    expect(a.body.toString()).toBe('X: in body\r\n\r\n');
    // CRLF CRLF before LF LF: an SDP body with bare LFs stays body
    const b = req(Buffer.from('OPTIONS sip:x@example.com SIP/2.0\r\nCall-ID: a\r\n\r\nv=0\n\nb\n'));
    expect(b.headers).toHaveLength(1);
    expect(b.body.toString()).toBe('v=0\n\nb\n');
  });

  it('regression: CRLF header lines closed by a bare LF parse', () => {
    const m = req(Buffer.from('OPTIONS sip:x@example.com SIP/2.0\r\nCall-ID: a@b\r\n\nbody'));
    expect(m.headers.map((h) => h.value)).toEqual(['a@b']);
    expect(m.body.toString()).toBe('body');
  });
});

// ------------------------------------------------------------------ typed accessors

describe('Via (§20.42, RFC 3581)', () => {
  it.each<[string, Record<string, unknown>]>([
    ['SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds', { protocol: 'SIP/2.0', transport: 'UDP', host: 'pc33.atlanta.example.com', port: undefined, branch: 'z9hG4bK776asdhds' }],
    ['SIP/2.0/TCP 192.0.2.1:5070;branch=z9hG4bKa', { transport: 'TCP', host: '192.0.2.1', port: 5070 }],
    ['sip/2.0/tls client.example.com:5061;branch=z9hG4bKb', { protocol: 'SIP/2.0', transport: 'TLS', port: 5061 }],
    ['SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKc;rport', { transport: 'WSS', host: 'df7jal23ls0d.invalid', rport: null }],
    ['SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKd', { host: '[2001:db8::9:1]', port: 5060 }],
    ['SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKe;received=[2001:db8::9:255]', { host: '[2001:db8::9:1]', port: undefined, received: '[2001:db8::9:255]' }],
    ['SIP/2.0/UDP 10.0.0.1:5060;rport=5062;received=192.0.2.99;branch=z9hG4bKf', { rport: 5062, received: '192.0.2.99', branch: 'z9hG4bKf' }],
    ['SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKg;maddr=224.2.0.1;ttl=16', { maddr: '224.2.0.1', ttl: 16 }],
    ['SIP / 2.0 / UDP first.example.com: 4000;ttl=16 ;maddr=224.2.0.1 ;branch=z9hG4bKa7c6a8dlze.1', { host: 'first.example.com', port: 4000, ttl: 16, branch: 'z9hG4bKa7c6a8dlze.1' }],
    ['SIP/2.0/UDP h.example.com', { branch: undefined, rport: undefined, received: undefined, maddr: undefined, ttl: undefined }],
  ])('%s', (value, expected) => {
    const v = withHeader('X-Ignored: 1').set('via', value).topVia();
    expect(v).toBeTruthy();
    expect(v).toMatchObject(Object.fromEntries(Object.entries(expected).filter(([, x]) => x !== undefined)));
    for (const [k, want] of Object.entries(expected)) if (want === undefined) expect(v).not.toHaveProperty(k);
  });

  it('keeps every parameter, names lowercased', () => {
    const v = withHeader('Max-Forwards: 1').set('via', 'SIP/2.0/UDP h;Branch=z9hG4bKx;X-Flag;x-val=Abc').topVia()!;
    expect([...v.params]).toEqual([
      ['branch', 'z9hG4bKx'],
      ['x-flag', null],
      ['x-val', 'Abc'],
    ]);
  });

  it.each([
    'SIP/2.0 h.example.com;branch=z9hG4bK1',
    'HTTP/1.1/TCP h.example.com',
    'SIP/2.0/UDP',
    'SIP/2.0/UDP h.example.com:99999',
    'SIP/2.0/UDP h_bad.example.com',
    'SIP/2.0/UDP [2001:db8::1',
    'SIP/2.0/UDP h.example.com;rport=abc',
    'SIP/2.0/UDP h.example.com;ttl=300',
    'SIP/2.0/UDP h.example.com;ttl',
    'SIP/2.0/UDP h.example.com;branch="unterminated',
    'SIP/2.0/UDP h.example.com trailing',
  ])('malformed: %s → null', (value) => {
    const m = withHeader('X: 1').set('via', value);
    expect(m.vias()).toBeNull();
    expect(m.topVia()).toBeNull();
  });

  it('vias() is null when any Via is malformed, [] when there is none', () => {
    expect(withHeader('Via: garbage').vias()).toBeNull();
    expect(req(bytes(['OPTIONS sip:x@example.com SIP/2.0', 'Call-ID: x'])).vias()).toEqual([]);
    expect(req(bytes(['OPTIONS sip:x@example.com SIP/2.0', 'Call-ID: x'])).topVia()).toBeUndefined();
  });
});

describe('From / To (§20.20, §20.39, §20.10)', () => {
  it.each<[string, { displayName?: string; uri: string; angle: boolean; tag?: string }]>([
    ['"Alice Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl', { displayName: 'Alice Liddell', uri: 'sip:alice@atlanta.example.com', angle: true, tag: '9fxced76sl' }],
    ['"The \\"Boss\\" \\\\ Chief" <sip:boss@example.com>', { displayName: 'The "Boss" \\ Chief', uri: 'sip:boss@example.com', angle: true }],
    ['Alice Smith <sip:alice@example.com>;tag=1', { displayName: 'Alice Smith', uri: 'sip:alice@example.com', angle: true, tag: '1' }],
    ['Bob<sip:bob@example.com>', { displayName: 'Bob', uri: 'sip:bob@example.com', angle: true }],
    ['<sip:carol@example.com;transport=tcp>;tag=x', { uri: 'sip:carol@example.com;transport=tcp', angle: true, tag: 'x' }],
    ['sip:dave@example.com;tag=abc', { uri: 'sip:dave@example.com', angle: false, tag: 'abc' }],
    ['sip:+12125551212@phone.example.com;user=phone', { uri: 'sip:+12125551212@phone.example.com', angle: false }],
    ['"" <sip:empty@example.com>', { displayName: '', uri: 'sip:empty@example.com', angle: true }],
    ['"J\u00c3\u00bcrgen" <sip:j@example.com>', { displayName: 'Jürgen', uri: 'sip:j@example.com', angle: true }],
    ['  "spaced"   <sip:s@example.com>  ;  tag = t1 ', { displayName: 'spaced', uri: 'sip:s@example.com', angle: true, tag: 't1' }],
    ['<tel:+1-201-555-0123>', { uri: 'tel:+1-201-555-0123', angle: true }],
  ])('%s', (value, want) => {
    const m = withHeader('X: 1').set('from', value).set('to', value);
    for (const na of [m.from(), m.to()]) {
      expect(na).toBeTruthy();
      expect(na!.uri).toBe(want.uri);
      expect(na!.angle).toBe(want.angle);
      expect(na!.displayName).toBe(want.displayName);
      expect(na!.params.get('tag') ?? undefined).toBe(want.tag);
    }
    expect(m.fromTag()).toBe(want.tag);
    expect(m.toTag()).toBe(want.tag);
  });

  it('in an addr-spec without <>, parameters after ; are header parameters, not URI parameters', () => {
    const na = withHeader('X: 1').set('to', 'sip:bob@example.com;transport=udp;tag=zz').to()!;
    expect(na.uri).toBe('sip:bob@example.com');
    expect([...na.params]).toEqual([
      ['transport', 'udp'],
      ['tag', 'zz'],
    ]);
  });

  it('reads the tag from the base message', () => {
    const m = req(request());
    expect(m.fromTag()).toBe('1928301774');
    expect(m.toTag()).toBeUndefined();
    expect(m.to()!.displayName).toBe('Bob');
  });

  it.each([
    '"unterminated <sip:a@example.com>',
    '"quoted" sip:a@example.com',
    '<sip:a@example.com',
    'not a uri',
    'Bad@Name <sip:a@example.com>',
    '<sip:a@example.com> trailing',
    'sip:a@example.com?subject=x',
    '<>',
  ])('malformed: %s → null', (value) => {
    const m = withHeader('X: 1').set('from', value).set('to', value);
    expect(m.from()).toBeNull();
    expect(m.to()).toBeNull();
    expect(m.fromTag()).toBeUndefined();
  });

  it('absent → undefined', () => {
    const m = req(bytes(['OPTIONS sip:x@example.com SIP/2.0', 'Call-ID: x']));
    expect(m.from()).toBeUndefined();
    expect(m.to()).toBeUndefined();
  });
});

describe('Contact (§20.10, RFC 5626, RFC 5627)', () => {
  it('`*` alone', () => {
    expect(withHeader('Contact: *').contacts()).toEqual({ star: true });
    expect(withHeader('m:    *  ').contacts()).toEqual({ star: true });
  });

  it('`*` with another contact is malformed (§10.2.2)', () => {
    expect(withHeader('Contact: *, <sip:a@example.com>').contacts()).toBeNull();
    expect(req(request(['Contact: *', 'Contact: <sip:a@example.com>'])).contacts()).toBeNull();
  });

  it('reads q, expires, +sip.instance, reg-id and other parameters of several contacts', () => {
    const m = req(
      request([
        'Contact: "Mr. Watson" <sip:watson@worcester.example.com;transport=tcp>;q=0.7;expires=3600;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>";reg-id=1;X-Custom=V, <sip:watson@192.0.2.9>;q=1.0',
        'm: sip:w3@example.com;q=0;expires=0;+sip.ice',
      ]),
    );
    const cl = m.contacts();
    expect(cl).toBeTruthy();
    if (!cl || cl.star) throw new Error('expected contacts');
    expect(cl.contacts).toHaveLength(3);
    const [a, b, c] = cl.contacts as [NonNullable<(typeof cl.contacts)[0]>, NonNullable<(typeof cl.contacts)[0]>, NonNullable<(typeof cl.contacts)[0]>];
    expect(a).toMatchObject({ displayName: 'Mr. Watson', uri: 'sip:watson@worcester.example.com;transport=tcp', angle: true, q: 0.7, expires: 3600, instance: 'urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF', regId: 1 });
    expect(a.params.get('x-custom')).toBe('V');
    expect(b).toMatchObject({ uri: 'sip:watson@192.0.2.9', q: 1 });
    expect(b.expires).toBeUndefined();
    expect(b.instance).toBeUndefined();
    expect(b.regId).toBeUndefined();
    expect(c).toMatchObject({ uri: 'sip:w3@example.com', angle: false, q: 0, expires: 0 });
    expect(c.params.has('+sip.ice')).toBe(true);
    expect(c.params.get('+sip.ice')).toBeNull();
  });

  it.each(['0', '0.5', '0.123', '1', '1.0', '1.000', '0.'])('q=%s is accepted', (q) => {
    const cl = withHeader(`Contact: <sip:a@example.com>;q=${q}`).contacts();
    expect(cl && !cl.star && cl.contacts[0]!.q).toBe(Number(q));
  });

  it.each(['q=1.5', 'q=2', 'q=0.1234', 'q=-1', 'q', 'expires=abc', 'expires', 'expires=12345678901', 'reg-id=x', 'reg-id'])(
    'malformed parameter %s → null',
    (param) => {
      expect(withHeader(`Contact: <sip:a@example.com>;${param}`).contacts()).toBeNull();
    },
  );

  it('a malformed element makes the whole list null; absent → undefined', () => {
    expect(withHeader('Contact: <sip:a@example.com>, garbage').contacts()).toBeNull();
    expect(req(request()).contacts()).toBeUndefined();
  });
});

describe('CSeq, Call-ID, Max-Forwards (§20.16, §20.8, §20.22)', () => {
  it.each<[string, { seq: number; method: string } | null]>([
    ['314159 INVITE', { seq: 314159, method: 'INVITE' }],
    ['  0009   REGISTER  ', { seq: 9, method: 'REGISTER' }],
    ['4294967295 BYE', { seq: 4294967295, method: 'BYE' }],
    ['4294967296 BYE', null],
    ['12345678901 BYE', null],
    ['INVITE 1', null],
    ['1', null],
    ['-1 INVITE', null],
    ['1 INV@TE', null],
    ['1 INVITE extra', null],
  ])('CSeq %j', (value, want) => {
    expect(withHeader('X: 1').set('cseq', value).cseq()).toEqual(want);
  });

  it('Call-ID is the raw value; absent → undefined', () => {
    expect(req(request()).callId()).toBe('a84b4c76e66710@pc33.atlanta.example.com');
    expect(req(bytes(['OPTIONS sip:x@example.com SIP/2.0', 'i:   abc@def  '])).callId()).toBe('abc@def');
    expect(req(bytes(['OPTIONS sip:x@example.com SIP/2.0', 'Via: SIP/2.0/UDP h'])).callId()).toBeUndefined();
  });

  it.each<[string, number | null]>([
    ['70', 70],
    ['0', 0],
    ['255', 255],
    ['0070', 70],
    ['256', null],
    ['-1', null],
    ['seventy', null],
    ['', null],
    ['1 2', null],
  ])('Max-Forwards %j → %j', (value, want) => {
    expect(withHeader('X: 1').set('max-forwards', value).maxForwards()).toBe(want);
  });
});

describe('Route, Record-Route, Path (§20.34, §20.30, RFC 3327)', () => {
  it.each(['route', 'record-route', 'path'] as const)('%s: list over lines and commas, in order', (name) => {
    const m = req(request([`${name}: <sip:p1.example.com;lr>, "Proxy 2" <sip:p2.example.com;lr;transport=tcp>`, `${name}: <sip:[2001:db8::1]:5070;lr>;x=y`]));
    const get = { route: () => m.routes(), 'record-route': () => m.recordRoutes(), path: () => m.paths() }[name];
    const list = get();
    expect(list!.map((r) => r.uri)).toEqual(['sip:p1.example.com;lr', 'sip:p2.example.com;lr;transport=tcp', 'sip:[2001:db8::1]:5070;lr']);
    expect(list![1]!.displayName).toBe('Proxy 2');
    expect(list![2]!.params.get('x')).toBe('y');
  });

  it('absent → []; malformed → null', () => {
    const m = req(request());
    expect(m.routes()).toEqual([]);
    expect(m.recordRoutes()).toEqual([]);
    expect(m.paths()).toEqual([]);
    const bad = req(request(['Route: <sip:p1.example.com;lr>, <sip:unterminated', 'Record-Route: junk', 'Path: "x" y']));
    expect(bad.routes()).toBeNull();
    expect(bad.recordRoutes()).toBeNull();
    expect(bad.paths()).toBeNull();
  });
});

describe('Content-Length, Content-Type, Expires, Min-Expires', () => {
  it('numbers', () => {
    const m = req(request(['Content-Length: 0', 'Expires: 3600', 'Min-Expires: 60']));
    expect(m.contentLength()).toBe(0);
    expect(m.expires()).toBe(3600);
    expect(m.minExpires()).toBe(60);
  });

  it.each([['abc'], ['-1'], ['1.5'], ['12345678901'], ['']])('malformed number %j → null', (v) => {
    const m = withHeader(`Expires: ${v}`).set('min-expires', v);
    expect(m.expires()).toBeNull();
    expect(m.minExpires()).toBeNull();
  });

  it('absent → undefined', () => {
    const m = req(request());
    expect(m.contentLength()).toBeUndefined();
    expect(m.contentType()).toBeUndefined();
    expect(m.expires()).toBeUndefined();
    expect(m.minExpires()).toBeUndefined();
  });

  it('Content-Type is the raw value', () => {
    expect(withHeader('c: multipart/mixed;boundary=unique-boundary-1').contentType()).toBe('multipart/mixed;boundary=unique-boundary-1');
  });
});

describe('authentication headers (§20.7, §20.27, §20.28, §20.44): auth()', () => {
  it.each(['authorization', 'proxy-authorization', 'www-authenticate', 'proxy-authenticate'] as const)('%s', (name) => {
    const m = req(
      request([
        `${canonicalHeaderName(name)}: Digest username="alice", realm="atlanta.example.com", nonce="84a4cc6f3082121f32b42a2187831a9e",` +
          ' uri="sip:bob@biloxi.example.com", response="7587245234b3434cc3412213e5f113a5432", algorithm=MD5, qop=auth, nc=00000001, cnonce="0a4f113b",' +
          ' opaque="a,b \\"c\\""',
        `${canonicalHeaderName(name)}: Digest realm="second.example.com", nonce=abc`,
      ]),
    );
    const a = m.auth(name);
    expect(a).toHaveLength(2);
    expect(a![0]!.scheme).toBe('Digest');
    expect(Object.fromEntries(a![0]!.params)).toEqual({
      username: 'alice',
      realm: 'atlanta.example.com',
      nonce: '84a4cc6f3082121f32b42a2187831a9e',
      uri: 'sip:bob@biloxi.example.com',
      response: '7587245234b3434cc3412213e5f113a5432',
      algorithm: 'MD5',
      qop: 'auth',
      nc: '00000001',
      cnonce: '0a4f113b',
      opaque: 'a,b "c"',
    });
    expect(Object.fromEntries(a![1]!.params)).toEqual({ realm: 'second.example.com', nonce: 'abc' });
  });

  it('parameter names are lowercased, whitespace around = and , is allowed', () => {
    const a = withHeader('Authorization: Digest  Username = "bob" ,REALM=x').auth('authorization');
    expect(Object.fromEntries(a![0]!.params)).toEqual({ username: 'bob', realm: 'x' });
  });

  it.each(['Digest realm="unterminated', 'Digest realm', 'Digest realm=', 'Digest a=b c=d', '"Digest"'])('malformed: %s → null', (v) => {
    expect(withHeader(`WWW-Authenticate: ${v}`).auth('www-authenticate')).toBeNull();
  });

  it('absent → []', () => {
    expect(req(request()).auth('authorization')).toEqual([]);
  });
});

describe('Supported, Require, Allow: tokens()', () => {
  it('splits and trims across lines', () => {
    const m = req(request(['Supported: path, outbound', 'k: gruu', 'Require: 100rel', 'Allow: INVITE, ACK,CANCEL ,  OPTIONS', 'Allow: BYE', 'Proxy-Require: foo', 'Unsupported: bar, baz']));
    expect(m.tokens('supported')).toEqual(['path', 'outbound', 'gruu']);
    expect(m.tokens('require')).toEqual(['100rel']);
    expect(m.tokens('allow')).toEqual(['INVITE', 'ACK', 'CANCEL', 'OPTIONS', 'BYE']);
    expect(m.tokens('proxy-require')).toEqual(['foo']);
    expect(m.tokens('unsupported')).toEqual(['bar', 'baz']);
  });

  it('absent → []', () => {
    expect(req(request()).tokens('require')).toEqual([]);
  });
});

describe('typed values are cached until the header changes', () => {
  it('set / append / prepend / remove / shift invalidate the cache', () => {
    const m = req(request());
    expect(m.topVia()!.branch).toBe('z9hG4bK776asdhds');
    m.prepend('via', 'SIP/2.0/TCP proxy.example.com;branch=z9hG4bKnew');
    expect(m.vias()!.map((v) => v.branch)).toEqual(['z9hG4bKnew', 'z9hG4bK776asdhds']);
    expect(m.shift('via')).toBe('SIP/2.0/TCP proxy.example.com;branch=z9hG4bKnew');
    expect(m.vias()!.map((v) => v.branch)).toEqual(['z9hG4bK776asdhds']);
    expect(m.maxForwards()).toBe(70);
    m.set('max-forwards', '69');
    expect(m.maxForwards()).toBe(69);
    m.append('contact', '<sip:a@example.com>');
    expect(m.contacts()).toMatchObject({ star: false });
    m.remove('contact');
    expect(m.contacts()).toBeUndefined();
  });

  it('Request-URI: parsed on demand, null when malformed, re-parsed after a change', () => {
    const m = req(request([], '', 'OPTIONS sip:bob@biloxi.example.com:5070;transport=tcp SIP/2.0'));
    expect(m.requestUri()).toMatchObject({ scheme: 'sip', user: 'bob', host: 'biloxi.example.com', port: 5070 });
    m.uri = 'sips:carol@chicago.example.com';
    expect(m.requestUri()).toMatchObject({ scheme: 'sips', user: 'carol' });
    m.uri = 'sip:';
    expect(m.requestUri()).toBeNull();
  });
});

// ------------------------------------------------------------------ body (§18.3, §20.14)

describe('body', () => {
  it('is exactly Content-Length bytes, binary safe', () => {
    const body = Buffer.from([0x00, 0x0d, 0x0a, 0x0d, 0x0a, 0xff, 0x80, 0x41]);
    const m = req(request([`Content-Length: ${body.length}`, 'Content-Type: application/octet-stream'], body));
    expect(m.body.equals(body)).toBe(true);
  });

  it('§18.3: bytes of a datagram past Content-Length are discarded', () => {
    const m = req(request(['Content-Length: 4'], 'v=0\r\nEXTRA BYTES'));
    expect(m.body.toString('latin1')).toBe('v=0\r');
  });

  it('Content-Length: 0 with trailing datagram bytes → empty body', () => {
    expect(req(request(['Content-Length: 0'], 'junk')).body.length).toBe(0);
  });

  it('§18.3: without Content-Length a datagram body runs to the end of the datagram', () => {
    expect(req(request([], 'whole rest\r\n')).body.toString()).toBe('whole rest\r\n');
    expect(req(request()).body.length).toBe(0);
  });

  it('Content-Length larger than the datagram → SB_ERR_PARSE_BODY_TRUNCATED with the partial message', () => {
    const f = failure(parseMessage(request(['Content-Length: 100'], 'short')));
    expect(f.code).toBe('SB_ERR_PARSE_BODY_TRUNCATED');
    expect(f.status).toBe(400);
    expect(f.message).toBeInstanceOf(SipRequest);
    expect(f.message!.cseq()).toEqual({ seq: 314159, method: 'OPTIONS' });
  });

  it.each(['abc', '-1', '1.0', '99999999999'])('a malformed Content-Length %j → SB_ERR_PARSE_CONTENT_LENGTH with the message', (v) => {
    const f = failure(parseMessage(request([`Content-Length: ${v}`])));
    expect(f.code).toBe('SB_ERR_PARSE_CONTENT_LENGTH');
    expect(f.status).toBe(400);
    expect(f.message).toBeDefined();
  });

  it('two Content-Length lines: equal values are accepted, different ones rejected', () => {
    expect(req(request(['Content-Length: 2', 'l: 2'], 'ab')).body.toString()).toBe('ab');
    expect(failure(parseMessage(request(['Content-Length: 2', 'l: 3'], 'abc'))).code).toBe('SB_ERR_PARSE_CONTENT_LENGTH');
  });

  it('the body length is the first Content-Length line, wherever it is, as contentLength() reads it', () => {
    const m = req(request(['Subject: x', 'l:  3 ', 'Expires: 5', 'Content-Length: 3'], 'abcdef'));
    expect(m.body.toString()).toBe('abc');
    expect(m.contentLength()).toBe(3);
    expect(failure(parseMessage(request(['Content-Length: 3x'], 'abc'))).code).toBe('SB_ERR_PARSE_CONTENT_LENGTH');
    expect(failure(parseMessage(request(['Content-Length: 5'], 'abc'))).code).toBe('SB_ERR_PARSE_BODY_TRUNCATED');
  });

  // A datagram ending in CRLF CRLF lets the parser leave out the search for the end
  // of the header section; a body that itself ends in an empty line must not fool it.
  it.each([
    ['a short body', 'v=0\r\n\r\n'],
    ['a body longer than the header slack', 'x'.repeat(300) + '\r\n\r\n'],
    ['a body that is only an empty line', '\r\n'],
    ['a body holding another header-like section', 'Via: fake\r\nCall-ID: fake\r\n\r\n'],
  ])('a datagram whose body ends in an empty line: %s', (_t, body) => {
    const buf = request([], body);
    const m = req(buf);
    expect(m.headers.map((h) => h.name)).toEqual(['via', 'max-forwards', 'to', 'from', 'call-id', 'cseq']);
    expect(m.body.toString('latin1')).toBe(body);
    expect(m.callId()).toBe('a84b4c76e66710@pc33.atlanta.example.com');
    expect(m.topVia()!.branch).toBe('z9hG4bK776asdhds');
    for (const [k, h] of m.headers.entries()) {
      expect(buf.toString('latin1', h.start, h.end)).toBe(BASE_REQUEST[k] + '\r\n');
      expect(buf.toString('latin1', h.valueStart!, h.valueStart! + h.value.length)).toBe(h.value);
    }
    // the header string keeps at most a little of the body
    expect(m.rawHead!.length - m.headers.at(-1)!.end).toBeLessThanOrEqual(256 + 2);
  });

  it('a datagram ending in CRLF CRLF right after the start line has no headers', () => {
    const m = req(Buffer.from('OPTIONS sip:x@example.com SIP/2.0\r\n\r\n'));
    expect(m.headers).toEqual([]);
    expect(m.body.length).toBe(0);
    const m2 = req(Buffer.from('OPTIONS sip:x@example.com SIP/2.0\r\n\r\nCall-ID: not a header\r\n\r\n'));
    expect(m2.headers).toEqual([]);
    expect(m2.body.toString()).toBe('Call-ID: not a header\r\n\r\n');
  });

  it('stream mode: Content-Length is mandatory (§18.3)', () => {
    const f = failure(parseMessage(request([], ''), {}, true));
    expect(f.code).toBe('SB_ERR_PARSE_CONTENT_LENGTH');
    expect(f.status).toBe(400);
    expect(f.message).toBeDefined();
    const m = ok(request(['Content-Length: 3'], 'abc'), {}, true);
    expect(m.body.toString()).toBe('abc');
  });
});

// ------------------------------------------------------------------ limits

describe('limits', () => {
  it('message size: over the limit → SB_ERR_PARSE_TOO_LARGE (513), no message', () => {
    const buf = request(['Content-Length: 10'], '0123456789');
    expect(ok(buf, { maxMessageSize: buf.length }).body.length).toBe(10);
    const f = failure(parseMessage(buf, { maxMessageSize: buf.length - 1 }));
    expect(f.code).toBe('SB_ERR_PARSE_TOO_LARGE');
    expect(f.status).toBe(513);
    expect(f.message).toBeUndefined();
  });

  it('message size: the default limit is 64 KiB', () => {
    const big = 'x'.repeat(65536);
    expect(failure(parseMessage(request([`Content-Length: ${big.length}`], big))).code).toBe('SB_ERR_PARSE_TOO_LARGE');
  });

  it('header count: over the limit → SB_ERR_PARSE_TOO_MANY_HEADERS with the headers read so far', () => {
    const n = BASE_REQUEST.length;
    expect(ok(request(), { maxHeaders: n }).headers).toHaveLength(n);
    const f = failure(parseMessage(request(['Subject: one more']), { maxHeaders: n }));
    expect(f.code).toBe('SB_ERR_PARSE_TOO_MANY_HEADERS');
    expect(f.status).toBe(400);
    expect(f.message!.headers).toHaveLength(n);
  });

  it('header count: the default limit is 256', () => {
    const many = Array.from({ length: 256 - BASE_REQUEST.length }, (_, k) => `X-H${k}: ${k}`);
    expect(ok(request(many)).headers).toHaveLength(256);
    expect(failure(parseMessage(request([...many, 'X-Last: 1']))).code).toBe('SB_ERR_PARSE_TOO_MANY_HEADERS');
  });

  it('line length: a header line over the limit → SB_ERR_PARSE_LINE_TOO_LONG', () => {
    const line = `Subject: ${'y'.repeat(100)}`; // 109 bytes + CRLF
    expect(ok(request([line]), { maxLineLength: line.length + 2 }).get('subject')).toHaveLength(100);
    const f = failure(parseMessage(request([line]), { maxLineLength: line.length + 1 }));
    expect(f.code).toBe('SB_ERR_PARSE_LINE_TOO_LONG');
    expect(f.status).toBe(400);
  });

  it('line length: a folded header counts as one line', () => {
    const folded = ['Subject: ' + 'a'.repeat(40), ' ' + 'b'.repeat(40), ' ' + 'c'.repeat(40)];
    expect(failure(parseMessage(request(folded), { maxLineLength: 100 })).code).toBe('SB_ERR_PARSE_LINE_TOO_LONG');
    expect(ok(request(folded), { maxLineLength: 200 }).get('subject')).toBe(`${'a'.repeat(40)} ${'b'.repeat(40)} ${'c'.repeat(40)}`);
  });

  it('line length: the default limit is 8 KiB', () => {
    const long = `Subject: ${'z'.repeat(8192)}`;
    expect(failure(parseMessage(request([long]))).code).toBe('SB_ERR_PARSE_LINE_TOO_LONG');
  });
});
