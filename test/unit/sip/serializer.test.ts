/**
 * Serializer tests: untouched bytes are copied exactly, a change rewrites
 * only the lines it touches, Content-Length always matches the body
 * (§20.14), and messages built from scratch serialize and reparse.
 */
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../src/sip/parser.js';
import { serialize } from '../../../src/sip/serializer.js';
import { SipRequest, SipResponse, type AnyMessage } from '../../../src/sip/message.js';
import { createResponse } from '../../../src/sip/response.js';

function parse(buf: Buffer): AnyMessage {
  const r = parseMessage(buf);
  if (!r.ok) throw new Error(`expected a message, got ${r.error.code}`);
  return r.message;
}

function parseReq(buf: Buffer): SipRequest {
  const m = parse(buf);
  if (!(m instanceof SipRequest)) throw new Error('expected a request');
  return m;
}

function bytes(lines: string[], body = ''): Buffer {
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body, 'latin1');
}

const SDP = 'v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.101\r\ns=-\r\nc=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

const INVITE = bytes(
  [
    'INVITE sip:bob@biloxi.example.com SIP/2.0',
    'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport',
    'Max-Forwards: 70',
    'Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>',
    'Route: <sip:p3.example.com;lr>',
    'To: Bob <sip:bob@biloxi.example.com>',
    'From: "Alice \\"A\\"" <sip:alice@atlanta.example.com>;tag=1928301774',
    'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
    'CSeq: 314159 INVITE',
    'Contact: <sip:alice@pc33.atlanta.example.com>',
    'Content-Type: application/sdp',
    `Content-Length: ${SDP.length}`,
  ],
  SDP,
);

/** Odd but valid spellings a byte-exact copy must keep. */
const ODD = bytes(
  [
    'REGISTER sip:registrar.example.com SIP/2.0',
    'v:  SIP / 2.0 / UDP   host.example.com:5060 ;branch=z9hG4bKodd',
    'mAX-fORWARDS :0070',
    'Subject: folded',
    '\tover two lines',
    't: sip:user@example.com',
    'f: <sip:user@example.com>;tag=x',
    'i: odd@host',
    'CSeq:   0009   REGISTER',
    'm: *',
    'Expires: 0',
    'X-Unknown-Header: "keep" ; this=exactly ,as, written  ',
    'l: 000',
  ],
);

/** The bytes of `out` without its first occurrence of `line` (with CRLF). */
function without(out: Buffer, line: string): Buffer {
  const needle = Buffer.from(line + '\r\n', 'latin1');
  const at = out.indexOf(needle);
  expect(at).toBeGreaterThanOrEqual(0);
  return Buffer.concat([out.subarray(0, at), out.subarray(at + needle.length)]);
}

describe('serialize: untouched messages', () => {
  it.each([
    ['INVITE with SDP', INVITE],
    ['odd spellings, compact forms, folding, leading zeros', ODD],
    ['a response', bytes(['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'Call-ID: c', 'CSeq: 1 OPTIONS', 'Content-Length: 0'])],
    ['a response with an empty reason', bytes(['SIP/2.0 699 ', 'Call-ID: c', 'Content-Length: 0'])],
    ['binary body', Buffer.concat([bytes(['MESSAGE sip:a@example.com SIP/2.0', 'Content-Length: 6']), Buffer.from([0, 0xff, 0x0d, 0x0a, 0x0d, 0x0a])])],
  ])('%s: same bytes out as in', (_t, buf) => {
    expect(serialize(parse(buf)).equals(buf)).toBe(true);
  });

  it('drops CRLFs before the start line and datagram bytes past Content-Length (§7.5, §18.3)', () => {
    const buf = Buffer.concat([Buffer.from('\r\n\r\n'), INVITE, Buffer.from('trailing junk')]);
    expect(serialize(parse(buf)).equals(INVITE)).toBe(true);
  });

  it('writes Content-Length when the datagram had none', () => {
    const out = serialize(parse(bytes(['OPTIONS sip:a@example.com SIP/2.0', 'Call-ID: c'], 'abc')));
    expect(out.toString('latin1')).toBe('OPTIONS sip:a@example.com SIP/2.0\r\nCall-ID: c\r\nContent-Length: 3\r\n\r\nabc');
  });

  it('keeps typed reads from changing the bytes', () => {
    const m = parseReq(INVITE);
    m.vias();
    m.from();
    m.to();
    m.cseq();
    m.contacts();
    m.routes();
    m.requestUri();
    expect(serialize(m).equals(INVITE)).toBe(true);
  });
});

describe('serialize: changes rewrite only the lines they touch', () => {
  it('prepend a Via: only the new line is new', () => {
    const m = parseReq(INVITE);
    const via = 'SIP/2.0/TCP proxy.example.com:5060;branch=z9hG4bKproxy1';
    m.prepend('via', via);
    const out = serialize(m);
    expect(without(out, `Via: ${via}`).equals(INVITE)).toBe(true);
    // and it sits directly above the old top Via
    expect(out.toString('latin1')).toContain(`Via: ${via}\r\nVia: SIP/2.0/UDP pc33`);
    expect(parse(out).vias()!.map((v) => v.branch)).toEqual(['z9hG4bKproxy1', 'z9hG4bK776asdhds']);
  });

  it('prepend a Via on a message using compact forms: every other byte identical', () => {
    const m = parse(ODD);
    m.prepend('v', 'SIP/2.0/UDP p.example.com;branch=z9hG4bKp');
    expect(without(serialize(m), 'Via: SIP/2.0/UDP p.example.com;branch=z9hG4bKp').equals(ODD)).toBe(true);
  });

  it('prepend a header that does not exist puts it on top', () => {
    const m = parseReq(INVITE);
    m.prepend('record-route', '<sip:proxy.example.com;lr>');
    const out = serialize(m);
    expect(without(out, 'Record-Route: <sip:proxy.example.com;lr>').equals(INVITE)).toBe(true);
    expect(out.toString('latin1')).toMatch(/^INVITE [^\r]*\r\nRecord-Route: /);
  });

  it('shift(route) on a line holding two Routes rewrites only that line', () => {
    const m = parseReq(INVITE);
    expect(m.shift('route')).toBe('<sip:p1.example.com;lr>');
    const out = serialize(m).toString('latin1');
    const expected = INVITE.toString('latin1').replace('Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n', 'Route: <sip:p2.example.com;lr>\r\n');
    expect(out).toBe(expected);
    expect(parse(Buffer.from(out, 'latin1')).routes()!.map((r) => r.uri)).toEqual(['sip:p2.example.com;lr', 'sip:p3.example.com;lr']);
  });

  it('shift(route) on a line holding one Route removes the line', () => {
    const m = parseReq(INVITE);
    m.shift('route');
    m.shift('route');
    expect(m.shift('route')).toBe('<sip:p3.example.com;lr>');
    expect(m.shift('route')).toBeUndefined();
    const expected = INVITE.toString('latin1').replace(/Route: [^\r]*\r\n/g, '');
    expect(serialize(m).toString('latin1')).toBe(expected);
  });

  it('shift(via) removes the top Via (a response going upstream, §18.2.1)', () => {
    const res = parse(bytes(['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP p.example.com;branch=z9hG4bKp', 'Via: SIP/2.0/UDP ua.example.com;branch=z9hG4bKu', 'Call-ID: c', 'Content-Length: 0']));
    res.shift('via');
    expect(serialize(res).toString('latin1')).toBe('SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP ua.example.com;branch=z9hG4bKu\r\nCall-ID: c\r\nContent-Length: 0\r\n\r\n');
  });

  it('set replaces a header in place', () => {
    const m = parseReq(INVITE);
    m.set('max-forwards', '69');
    expect(serialize(m).toString('latin1')).toBe(INVITE.toString('latin1').replace('Max-Forwards: 70\r\n', 'Max-Forwards: 69\r\n'));
  });

  it('set replaces every line of a header by one line at the first one', () => {
    const m = parseReq(INVITE);
    m.set('route', '<sip:only.example.com;lr>');
    const expected = INVITE.toString('latin1')
      .replace('Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n', 'Route: <sip:only.example.com;lr>\r\n')
      .replace('Route: <sip:p3.example.com;lr>\r\n', '');
    expect(serialize(m).toString('latin1')).toBe(expected);
  });

  it('set of an absent header appends it; remove drops every line', () => {
    const m = parseReq(INVITE);
    m.set('Subject', 'hi').remove('contact');
    const expected = INVITE.toString('latin1')
      .replace('Contact: <sip:alice@pc33.atlanta.example.com>\r\n', '')
      .replace(`Content-Length: ${SDP.length}\r\n`, `Content-Length: ${SDP.length}\r\nSubject: hi\r\n`);
    expect(serialize(m).toString('latin1')).toBe(expected);
  });

  it('a changed Request-URI rewrites only the start line', () => {
    const m = parseReq(INVITE);
    m.uri = 'sip:bob@192.0.2.4:5062';
    expect(serialize(m).toString('latin1')).toBe(INVITE.toString('latin1').replace('INVITE sip:bob@biloxi.example.com SIP/2.0', 'INVITE sip:bob@192.0.2.4:5062 SIP/2.0'));
  });

  it('created headers are written with their canonical names', () => {
    const m = parseReq(bytes(['OPTIONS sip:a@example.com SIP/2.0', 'Content-Length: 0']));
    m.append('call-id', 'x').append('cseq', '1 OPTIONS').append('www-authenticate', 'Digest realm="r"').append('max-forwards', '70').append('v', 'SIP/2.0/UDP h');
    expect(serialize(m).toString('latin1')).toBe(
      'OPTIONS sip:a@example.com SIP/2.0\r\nContent-Length: 0\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nWWW-Authenticate: Digest realm="r"\r\nMax-Forwards: 70\r\nVia: SIP/2.0/UDP h\r\n\r\n',
    );
  });
});

describe('serialize: Content-Length (§20.14)', () => {
  it('is corrected in place when the body changes', () => {
    const m = parseReq(INVITE);
    m.body = Buffer.from('v=0\r\n');
    const expected = INVITE.toString('latin1').replace(`Content-Length: ${SDP.length}\r\n\r\n${SDP}`, 'Content-Length: 5\r\n\r\nv=0\r\n');
    expect(serialize(m).toString('latin1')).toBe(expected);
  });

  it('a compact l: line is rewritten in long form when wrong', () => {
    const m = parse(ODD);
    m.body = Buffer.from('xy');
    expect(serialize(m).toString('latin1')).toBe(ODD.toString('latin1').replace('l: 000\r\n\r\n', 'Content-Length: 2\r\n\r\nxy'));
  });

  it('is added when missing', () => {
    const m = parseReq(bytes(['MESSAGE sip:a@example.com SIP/2.0', 'Call-ID: c', 'Content-Type: text/plain'], ''));
    m.body = Buffer.from('hello');
    expect(serialize(m).toString('latin1')).toBe('MESSAGE sip:a@example.com SIP/2.0\r\nCall-ID: c\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello');
  });

  it('only one Content-Length is written when the message had two', () => {
    const m = parse(bytes(['MESSAGE sip:a@example.com SIP/2.0', 'Content-Length: 2', 'l: 2'], 'ab'));
    expect(serialize(m).toString('latin1')).toBe('MESSAGE sip:a@example.com SIP/2.0\r\nContent-Length: 2\r\n\r\nab');
  });

  it('regression: a correct Content-Length after a header inserted between it and the line before is kept', () => {
    // a new header sits between two lines that are adjacent in raw; the
    // serializer used to extend a run it had already flushed and lost Content-Length
    const m = parse(bytes(['MESSAGE sip:a@example.com SIP/2.0', 'Call-ID: c', 'Content-Length: 2'], 'ab'));
    m.headers.splice(1, 0, { name: 'subject', value: 'new', start: -1, end: -1, writtenName: 'Subject' });
    const out = serialize(m);
    expect(out.toString('latin1')).toBe('MESSAGE sip:a@example.com SIP/2.0\r\nCall-ID: c\r\nSubject: new\r\nContent-Length: 2\r\n\r\nab');
    expect(parse(out).body.toString()).toBe('ab');
  });
});

describe('serialize: output always parses again', () => {
  it('regression (fuzz crash-98f835b7d74c00c6): the last header written ends in a bare LF', () => {
    // the duplicate Content-Length is dropped, so "Expires: 7200\n" is followed by the empty CRLF line
    const input = Buffer.from('OPTIONS sip:a@example.com SIP/2.0\r\nCall-ID: c\r\nContent-Length: 0\r\nExpires: 7200\nContent-Length: 0\r\n\r\n', 'latin1');
    const out = serialize(parse(input));
    expect(out.toString('latin1')).toBe('OPTIONS sip:a@example.com SIP/2.0\r\nCall-ID: c\r\nContent-Length: 0\r\nExpires: 7200\n\r\n');
    const back = parse(out);
    expect(back.headers.map((h) => [h.name, h.value])).toEqual([
      ['call-id', 'c'],
      ['content-length', '0'],
      ['expires', '7200'],
    ]);
    expect(serialize(back).equals(out)).toBe(true);
  });

  it('regression (fuzz crash-3f30bd6eaba01049): a line with a stray CR ending in a bare LF before the body', () => {
    const input = Buffer.from('MESSAGE sip:a@example.com SIP/2.0\r\nl: 3\r\nContent-Type: text/plain\r<\nl: 3\r\n\r\nabc', 'latin1');
    const out = serialize(parse(input));
    const back = parse(out);
    expect(back.body.toString()).toBe('abc');
  });
});

describe('serialize: messages built from scratch', () => {
  it('a request built with new SipRequest + append serializes and reparses', () => {
    const req = new SipRequest('REGISTER', 'sip:registrar.example.com');
    req
      .append('via', 'SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnew;rport')
      .append('max-forwards', '70')
      .append('to', '<sip:alice@example.com>')
      .append('from', '"Alice" <sip:alice@example.com>;tag=a1')
      .append('call-id', 'scratch@192.0.2.10')
      .append('cseq', '1 REGISTER')
      .append('contact', '<sip:alice@192.0.2.10:5060>;expires=3600')
      .append('X-Custom', 'value');
    req.body = Buffer.from([1, 2, 3]);
    const out = serialize(req);
    expect(out.toString('latin1')).toBe(
      'REGISTER sip:registrar.example.com SIP/2.0\r\n' +
        'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnew;rport\r\n' +
        'Max-Forwards: 70\r\n' +
        'To: <sip:alice@example.com>\r\n' +
        'From: "Alice" <sip:alice@example.com>;tag=a1\r\n' +
        'Call-ID: scratch@192.0.2.10\r\n' +
        'CSeq: 1 REGISTER\r\n' +
        'Contact: <sip:alice@192.0.2.10:5060>;expires=3600\r\n' +
        'X-Custom: value\r\n' +
        'Content-Length: 3\r\n\r\n\x01\x02\x03',
    );
    const back = parseReq(out);
    expect(back.method).toBe('REGISTER');
    expect(back.uri).toBe('sip:registrar.example.com');
    expect(back.headers.map((h) => [h.name, h.value])).toEqual([...req.headers.map((h) => [h.name, h.value]), ['content-length', '3']]);
    expect(back.topVia()).toMatchObject({ host: '192.0.2.10', port: 5060, branch: 'z9hG4bKnew', rport: null });
    expect(back.contacts()).toMatchObject({ star: false, contacts: [{ uri: 'sip:alice@192.0.2.10:5060', expires: 3600 }] });
    expect(back.body.equals(req.body)).toBe(true);
    // and a second pass is byte-identical
    expect(serialize(back).equals(out)).toBe(true);
  });

  it('a response built with new SipResponse serializes and reparses', () => {
    const res = new SipResponse(404, 'Not Found');
    res.append('call-id', 'c').append('cseq', '2 INVITE');
    const out = serialize(res);
    expect(out.toString('latin1')).toBe('SIP/2.0 404 Not Found\r\nCall-ID: c\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n');
    const back = parse(out) as SipResponse;
    expect(back.status).toBe(404);
    expect(back.reason).toBe('Not Found');
  });

  it('createResponse adds a random To tag when none is given: 12 hex digits, distinct across tag-pool refills', () => {
    const req = parseReq(INVITE);
    const tags = new Set<string>();
    for (let k = 0; k < 2000; k++) {
      const tag = parse(serialize(createResponse(req, 200))).toTag();
      expect(tag).toMatch(/^[0-9a-f]{12}$/);
      tags.add(tag!);
    }
    expect(tags.size).toBe(2000);
    // 100 Trying gets no tag (§8.2.6.2); a To that has one keeps it
    expect(createResponse(req, 100).toTag()).toBeUndefined();
    const tagged = parseReq(Buffer.from(INVITE.toString('latin1').replace('To: Bob <sip:bob@biloxi.example.com>', 'To: Bob <sip:bob@biloxi.example.com>;tag=kept'), 'latin1'));
    expect(createResponse(tagged, 486).toTag()).toBe('kept');
  });

  it('createResponse + serialize copies Via/From/To/Call-ID/CSeq (§8.2.6.2)', () => {
    const req = parseReq(INVITE);
    const res = createResponse(req, 200, { toTag: 'srv1', headers: [['Contact', '<sip:bob@192.0.2.4>']], body: Buffer.from('v=0\r\n'), contentType: 'application/sdp' });
    const out = serialize(res);
    expect(out.toString('latin1')).toBe(
      'SIP/2.0 200 OK\r\n' +
        'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n' +
        'From: "Alice \\"A\\"" <sip:alice@atlanta.example.com>;tag=1928301774\r\n' +
        'Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n' +
        'CSeq: 314159 INVITE\r\n' +
        'To: Bob <sip:bob@biloxi.example.com>;tag=srv1\r\n' +
        'Contact: <sip:bob@192.0.2.4>\r\n' +
        'Content-Type: application/sdp\r\n' +
        'Content-Length: 5\r\n\r\nv=0\r\n',
    );
    const back = parse(out);
    expect(back.toTag()).toBe('srv1');
    expect(back.from()!.displayName).toBe('Alice "A"');
  });
});
