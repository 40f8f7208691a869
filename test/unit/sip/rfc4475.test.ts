/**
 * RFC 4475 torture tests: every valid message of §3.1.1 parses and passes
 * validation with the values the RFC calls out; every invalid message of
 * §3.1.2 (plus insuf §3.3.1 and multi01 §3.3.8) is rejected by the parser or
 * by validation with the status the RFC implies. Assertions are on error
 * codes and statuses, never on message text.
 */
import { describe, expect, it } from 'vitest';
import { TORTURE_CASES, loadFixture, type TortureCase } from '../../support/fixtures/rfc4475/index.js';
import { parseMessage, type ParseResult } from '../../../src/sip/parser.js';
import { validateRequest, validateResponse } from '../../../src/sip/validate.js';
import { SipRequest, SipResponse, type AnyMessage } from '../../../src/sip/message.js';
import { isSipUri, parseUri, unescapeUri, uriEquals, type SipUri } from '../../../src/sip/uri.js';
import type { ErrorCode, SbError } from '../../../src/util/errors.js';

/**
 * Cases our code is known to get wrong. Each runs with `it.fails`, so the
 * suite stays green while the bug exists and turns red once it is fixed
 * (then delete the entry).
 */
const EXPECTED_FAILURES: Record<string, string> = {};

/** Error codes that are a correct diagnosis of each invalid message. */
const ACCEPTED_CODES: Record<string, readonly ErrorCode[]> = {
  badinv01: ['SB_ERR_VALIDATE_VIA', 'SB_ERR_VALIDATE_HEADER', 'SB_ERR_PARSE_HEADER_VALUE'],
  clerr: ['SB_ERR_PARSE_BODY_TRUNCATED'],
  ncl: ['SB_ERR_PARSE_CONTENT_LENGTH'],
  scalar02: ['SB_ERR_VALIDATE_CSEQ'],
  quotbal: ['SB_ERR_VALIDATE_FROM_TO', 'SB_ERR_PARSE_HEADER_VALUE'],
  ltgtruri: ['SB_ERR_PARSE_URI', 'SB_ERR_PARSE_START_LINE'],
  lwsruri: ['SB_ERR_PARSE_URI', 'SB_ERR_PARSE_START_LINE'],
  lwsstart: ['SB_ERR_PARSE_URI', 'SB_ERR_PARSE_START_LINE'],
  trws: ['SB_ERR_PARSE_START_LINE', 'SB_ERR_PARSE_VERSION'],
  escruri: ['SB_ERR_PARSE_URI'],
  baddate: ['SB_ERR_VALIDATE_HEADER', 'SB_ERR_PARSE_HEADER_VALUE'],
  regbadct: ['SB_ERR_VALIDATE_HEADER', 'SB_ERR_PARSE_HEADER_VALUE'],
  badaspec: ['SB_ERR_VALIDATE_FROM_TO', 'SB_ERR_PARSE_HEADER_VALUE'],
  baddn: ['SB_ERR_VALIDATE_FROM_TO', 'SB_ERR_PARSE_HEADER_VALUE'],
  badvers: ['SB_ERR_PARSE_VERSION'],
  mismatch01: ['SB_ERR_VALIDATE_CSEQ_METHOD'],
  mismatch02: ['SB_ERR_VALIDATE_CSEQ_METHOD'],
  insuf: ['SB_ERR_VALIDATE_MISSING_HEADER'],
  multi01: ['SB_ERR_VALIDATE_HEADER'],
  // 'drop' cases (scalarlg, bigcode): any rejection leads to the drop
};

/** Statuses the RFC also allows besides TortureCase.status. */
const ALTERNATE_STATUS: Record<string, readonly number[]> = {
  mismatch02: [400], // §3.1.2.18: 501 preferred, 400 acceptable
};

function parse(name: string): ParseResult {
  return parseMessage(loadFixture(name));
}

function parsed(name: string): AnyMessage {
  const r = parse(name);
  if (!r.ok) throw new Error(`${name}: parse failed with ${r.error.code}`);
  return r.message;
}

function request(name: string): SipRequest {
  const m = parsed(name);
  expect(m).toBeInstanceOf(SipRequest);
  return m as SipRequest;
}

function response(name: string): SipResponse {
  const m = parsed(name);
  expect(m).toBeInstanceOf(SipResponse);
  return m as SipResponse;
}

function sipUri(text: string | undefined): SipUri {
  expect(text).toBeDefined();
  const u = parseUri(text!);
  expect(u).not.toBeNull();
  expect(isSipUri(u!)).toBe(true);
  return u as SipUri;
}

function ruri(req: SipRequest): SipUri {
  const u = req.requestUri();
  expect(u).not.toBeNull();
  expect(isSipUri(u!)).toBe(true);
  return u as SipUri;
}

/** A byte-string header value (latin1 chars = bytes) read as UTF-8. */
function utf8(byteString: string): string {
  return Buffer.from(byteString, 'latin1').toString('utf8');
}

/** Looks up a URI parameter by its unescaped name; returns [found, value]. */
function paramByUnescapedName(u: SipUri, name: string): [boolean, string | null | undefined] {
  for (const [k, v] of u.params) if (unescapeUri(k).toLowerCase() === name) return [true, v];
  return [false, undefined];
}

const SDP_BODY = 'application/sdp';

// ------------------------------------------------------------------ value checks for the valid messages

const VALID_CHECKS: Record<string, () => void> = {
  wsinv() {
    const req = request('wsinv');
    expect(req.method).toBe('INVITE');
    const u = ruri(req);
    expect(u.user).toBe('vivekg');
    expect(u.host).toBe('chair-dnrc.example.com');
    expect(u.params.has('unknownparam')).toBe(true);
    expect(u.params.get('unknownparam')).toBeNull();

    // "TO :" folded onto the next line, LWS around ';' and '='
    const to = req.to()!;
    expect(to.uri).toBe('sip:vivekg@chair-dnrc.example.com');
    expect(to.displayName).toBeUndefined();
    expect(to.params.get('tag')).toBe('1918181833n');
    // quoted-pairs: "J Rosenberg \\\"" is  J Rosenberg \"  ; the tag sits on folded lines
    const from = req.from()!;
    expect(from.displayName).toBe('J Rosenberg \\"');
    expect(from.uri).toBe('sip:jdrosen@example.com');
    expect(from.params.get('tag')).toBe('98asjd8');

    // leading zeros, CSeq method on a continuation line
    expect(req.maxForwards()).toBe(68);
    expect(req.cseq()).toEqual({ seq: 9, method: 'INVITE' });
    expect(req.callId()).toBe('wsinv.ndaksdj@192.0.2.1');

    // "Via  : SIP  /   2.0 /UDP" folded, then "v:" with two comma-separated values
    const vias = req.vias()!;
    expect(vias.map((v) => [v.protocol, v.transport, v.host, v.branch])).toEqual([
      ['SIP/2.0', 'UDP', '192.0.2.2', '390skdjuw'],
      ['SIP/2.0', 'TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
      ['SIP/2.0', 'UDP', '192.168.255.111', 'z9hG4bK30239'],
    ]);

    // empty Subject in compact form "s :"
    expect(req.get('Subject')).toBe('');
    // unknown headers: folded value unfolded, odd value kept verbatim
    expect(req.get('NewFangledHeader')).toBe('newfangled value continued newfangled value');
    expect(req.get('UnknownHeaderWithUnusualValue')).toBe(';;,,;;,;');

    const routes = req.routes()!;
    expect(routes).toHaveLength(1);
    const ru = sipUri(routes[0]!.uri);
    expect(ru.host).toBe('services.example.com');
    expect(ru.params.get('lr')).toBeNull();
    expect(ru.params.get('unknownwith')).toBe('value');
    expect(ru.params.get('unknown-no-value')).toBeNull();

    // "m:" compact Contact with quoted display name and spaced parameters
    const contacts = req.contacts()!;
    expect(contacts.star).toBe(false);
    if (contacts.star) return;
    expect(contacts.contacts).toHaveLength(1);
    const c = contacts.contacts[0]!;
    expect(c.displayName).toBe('Quoted string ""');
    expect(c.uri).toBe('sip:jdrosen@example.com');
    expect(c.params.get('newparam')).toBe('newvalue');
    expect(c.params.has('secondparam')).toBe(true);
    expect(c.params.get('secondparam')).toBeNull();
    expect(c.q).toBe(0.33);

    expect(req.contentType()).toBe(SDP_BODY);
    expect(req.contentLength()).toBe(150);
    expect(req.body.length).toBe(150);
  },

  intmeth() {
    const req = request('intmeth');
    const method = "!interesting-Method0123456789_*+`.%indeed'~";
    expect(req.method).toBe(method);
    const u = ruri(req);
    expect(u.user).toBe("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    expect(u.password).toBe("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    expect(u.host).toBe('example.com');
    expect(u.params.size).toBe(0);

    expect(req.vias()!.map((v) => [v.transport, v.host, v.branch])).toEqual([
      ['TCP', 'host1.example.com', "z9hG4bK-.!%66*_+`'~"],
    ]);

    // quoted-pairs of BEL, NUL and DEL
    const to = req.to()!;
    expect(to.displayName).toBe('BEL:\x07 NUL:\x00 DEL:\x7f');
    expect(sipUri(to.uri).user).toBe("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");

    // display name made of several tokens; parameter with token-character name and UTF-8 value
    const from = req.from()!;
    expect(from.displayName).toBe("token1~` token2'+_ token3*%!.-");
    expect(from.uri).toBe('sip:mundane@example.com');
    const fromParam = from.params.get("fromparam''~+*_!.-%");
    expect(fromParam).toBeDefined();
    expect(utf8(fromParam!)).toBe('"работающий"');
    expect(from.params.get('tag')).toBe("_token~1'+`*%!-.");

    // % is not an escape in Call-ID; no grouping semantics for ()<>[]{}
    expect(req.callId()).toBe('intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
    expect(req.cseq()).toEqual({ seq: 139122385, method });
    expect(req.maxForwards()).toBe(255);
    const ext = req.get("extensionHeader-!.%*+_`'~");
    expect(ext).toBeDefined();
    expect(utf8(ext!)).toBe('\ufeff大停電');
    expect(req.contentLength()).toBe(0);
  },

  esc01() {
    const req = request('esc01');
    const u = ruri(req);
    expect(u.user).toBe('sips%3Auser%40example.com');
    expect(unescapeUri(u.user!)).toBe('sips:user@example.com');
    expect(u.host).toBe('example.net');

    expect(unescapeUri(sipUri(req.to()!.uri).user!)).toBe('user');
    const from = req.from()!;
    expect(unescapeUri(sipUri(from.uri).user!)).toBe('I have spaces');
    expect(from.params.get('tag')).toBe('938');

    // compact i: and C:
    expect(req.callId()).toBe('esc01.239409asdfakjkn23onasd0-3234');
    expect(req.contentType()).toBe(SDP_BODY);

    const contacts = req.contacts()!;
    if (contacts.star) throw new Error('unexpected *');
    expect(contacts.contacts).toHaveLength(1);
    const cu = sipUri(contacts.contacts[0]!.uri);
    expect(unescapeUri(cu.user!)).toBe('caller');
    expect(cu.host).toBe('host5.example.net');
    const [hasLr, lr] = paramByUnescapedName(cu, 'lr');
    expect(hasLr).toBe(true);
    expect(lr).toBeNull();
    const [hasName, name] = paramByUnescapedName(cu, 'name');
    expect(hasName).toBe(true);
    // unescaping is done once: value%41, never valueA
    expect(unescapeUri(name!)).toBe('value%41');
    expect(uriEquals(cu, parseUri('sip:caller@host5.example.net;lr;name=value%2541')!)).toBe(true);
    expect(uriEquals(cu, parseUri('sip:caller@host5.example.net;lr;name=valueA')!)).toBe(false);

    expect(req.contentLength()).toBe(150);
    expect(req.body.length).toBe(150);
  },

  escnull() {
    const req = request('escnull');
    expect(req.method).toBe('REGISTER');
    // %00 must not shorten the AOR
    const toUser = unescapeUri(sipUri(req.to()!.uri).user!);
    expect(toUser).toBe('null-\u0000-null');
    expect(toUser).toHaveLength(11);
    expect(unescapeUri(sipUri(req.from()!.uri).user!)).toBe('null-\u0000-null');
    // two distinct contacts
    const contacts = req.contacts()!;
    if (contacts.star) throw new Error('unexpected *');
    expect(contacts.contacts).toHaveLength(2);
    const [a, b] = contacts.contacts.map((c) => sipUri(c.uri));
    expect(unescapeUri(a!.user!)).toBe('\u0000');
    expect(unescapeUri(b!.user!)).toBe('\u0000\u0000');
    expect(uriEquals(a!, b!)).toBe(false);
    expect(req.contentLength()).toBe(0);
  },

  esc02() {
    const req = request('esc02');
    // % is not an escape in a method: an unknown method, not REGISTER
    expect(req.method).toBe('RE%47IST%45R');
    expect(req.method).not.toBe('REGISTER');
    expect(req.cseq()).toEqual({ seq: 29344, method: 'RE%47IST%45R' });
    expect(req.to()!.displayName).toBe('%Z%45');
    expect(req.from()!.displayName).toBe('%Z%45');
    expect(req.vias()![0]!.branch).toBe('z9hG4bK209%fzsnel234');
    // C%6Fntact is an unknown header: two Contacts, not three
    const contacts = req.contacts()!;
    if (contacts.star) throw new Error('unexpected *');
    expect(contacts.contacts.map((c) => c.uri)).toEqual(['sip:alias1@host1.example.com', 'sip:alias3@host3.example.com']);
    expect(req.get('C%6Fntact')).toBe('<sip:alias2@host2.example.com>');
  },

  lwsdisp() {
    const req = request('lwsdisp');
    expect(req.method).toBe('OPTIONS');
    const from = req.from()!;
    expect(from.displayName).toBe('caller');
    expect(from.uri).toBe('sip:caller@example.com');
    expect(from.params.get('tag')).toBe('323');
  },

  longreq() {
    const req = request('longreq');
    const to = req.to()!;
    expect(to.displayName).toBe(`I have a user name of ${'extreme'.repeat(10)} proportion`);
    const tu = sipUri(to.uri);
    expect(tu.user).toBe('user');
    expect(tu.port).toBe(6000);
    expect(tu.params.get('unknownparam1')).toBe(`very${'long'.repeat(20)}value`);
    expect(tu.params.get(`longparam${'name'.repeat(25)}`)).toBe('shortvalue');
    const valueless = `very${'long'.repeat(25)}ParameterNameWithNoValue`.toLowerCase();
    expect(tu.params.has(valueless)).toBe(true);
    expect(tu.params.get(valueless)).toBeNull();

    // compact F:
    const from = req.from()!;
    expect(sipUri(from.uri).user).toBe('amazinglylongcallername'.repeat(5));
    expect(from.params.get('tag')).toBe(`12${'982'.repeat(50)}424`);
    expect(from.params.get(`unknownheaderparam${'name'.repeat(20)}`)).toBe(`unknowheaderparam${'value'.repeat(15)}`);
    const fromValueless = `unknownValueless${'paramname'.repeat(10)}`.toLowerCase();
    expect(from.params.has(fromValueless)).toBe(true);
    expect(from.params.get(fromValueless)).toBeNull();

    expect(req.callId()).toBe(`longreq.one${'really'.repeat(20)}longcallid`);
    expect(req.cseq()).toEqual({ seq: 3882340, method: 'INVITE' });
    const long = 'long'.repeat(20);
    expect(req.get(`Unknown-${'Long'.repeat(20)}-Name`)).toBe(
      `unknown-${long}-value; unknown-${long}-parameter-name = unknown-${long}-parameter-value`,
    );

    // 43 header lines: To, F, Call-ID, CSeq, the unknown one, 34 Vias, Max-Forwards, Contact, Content-Type, l
    expect(req.headers).toHaveLength(43);
    // 34 Via values under every spelling (Via, v, V, ViA, "V :", "Via  :", ...)
    const vias = req.vias()!;
    expect(vias).toHaveLength(34);
    for (let i = 0; i < 33; i++) {
      expect(vias[i]!.transport).toBe('TCP');
      expect(vias[i]!.host).toBe(`sip${33 - i}.example.com`);
    }
    const last = vias[33]!;
    expect(last.host).toBe('host.example.com');
    expect(last.received).toBe('192.0.2.5');
    expect(last.branch).toBe(`very${'long'.repeat(50)}branchvalue`);

    const contacts = req.contacts()!;
    if (contacts.star) throw new Error('unexpected *');
    expect(sipUri(contacts.contacts[0]!.uri).user).toBe('amazinglylongcallername'.repeat(5));
    expect(req.maxForwards()).toBe(70);
    expect(req.contentLength()).toBe(150);
    expect(req.body.length).toBe(150);
  },

  dblreq() {
    const buf = loadFixture('dblreq');
    const req = request('dblreq');
    expect(req.method).toBe('REGISTER');
    expect(req.callId()).toBe('dblreq.0ha0isndaksdj99sdfafnl3lk233412');
    expect(req.headers).toHaveLength(8);
    // the datagram carries more octets, but Content-Length 0 ends the message
    expect(buf.includes('INVITE sip:joe@example.com SIP/2.0')).toBe(true);
    expect(req.contentLength()).toBe(0);
    expect(req.body.length).toBe(0);
    expect(req.has('content-type')).toBe(false);
  },

  semiuri() {
    const req = request('semiuri');
    const u = ruri(req);
    expect(u.user).toBe('user;par=u%40example.net');
    expect(unescapeUri(u.user!)).toBe('user;par=u@example.net');
    expect(u.host).toBe('example.com');
    expect(u.params.size).toBe(0);
    // folded Accept list
    expect(req.getAll('Accept')).toEqual([
      'application/sdp',
      'application/pkcs7-mime',
      'multipart/mixed',
      'multipart/signed',
      'message/sip',
      'message/sipfrag',
    ]);
  },

  transports() {
    const req = request('transports');
    expect(req.vias()!.map((v) => [v.transport, v.host, v.branch])).toEqual([
      ['UDP', 't1.example.com', 'z9hG4bKkdjuw'],
      ['SCTP', 't2.example.com', 'z9hG4bKklasjdhf'],
      ['TLS', 't3.example.com', 'z9hG4bK2980unddj'],
      ['UNKNOWN', 't4.example.com', 'z9hG4bKasd0f3en'],
      ['TCP', 't5.example.com', 'z9hG4bK0a9idfnee'],
    ]);
    expect(req.callId()).toBe('transports.kijh4akdnaqjkwendsasfdj');
  },

  mpart01() {
    const req = request('mpart01');
    expect(req.method).toBe('MESSAGE');
    const via = req.topVia()!;
    expect(via.port).toBe(5070);
    expect(via.rport).toBeNull();
    expect(req.contentType()).toBe('multipart/mixed;boundary=7a9cbec02ceef655');
    expect(req.contentLength()).toBe(553);
    const body = req.body;
    expect(body.length).toBe(553);
    // the binary part (a 342-byte DER blob with NUL, CR and LF octets) is framed by length, not by lines
    expect(body.includes(0x00)).toBe(true);
    const der = body.subarray(187, 187 + 342);
    expect([...der.subarray(0, 4)]).toEqual([0x30, 0x82, 0x01, 0x52]);
    expect(body.subarray(187 + 342).toString('latin1')).toBe('\r\n--7a9cbec02ceef655--\r\n');
  },

  unreason() {
    const res = response('unreason');
    expect(res.status).toBe(200);
    expect(utf8(res.reason)).toBe('= 2**3 * 5**2 но сто девяносто девять - простое');
    expect(res.contentLength()).toBe(154);
    expect(res.body.length).toBe(154);
  },

  noreason() {
    const res = response('noreason');
    expect(res.status).toBe(100);
    expect(res.reason).toBe('');
    expect(res.cseq()).toEqual({ seq: 35, method: 'INVITE' });
  },
};

// ------------------------------------------------------------------ rejection of the invalid messages

interface Rejection {
  stage: 'parse' | 'validate';
  error: SbError;
  message?: AnyMessage;
}

/** Runs the message through the parser and validation; returns where it was rejected, or null. */
function rejection(name: string): Rejection | null {
  const r = parse(name);
  if (!r.ok) return r.message ? { stage: 'parse', error: r.error, message: r.message } : { stage: 'parse', error: r.error };
  const m = r.message;
  const err = m instanceof SipRequest ? validateRequest(m) : validateResponse(m);
  return err ? { stage: 'validate', error: err, message: m } : null;
}

function checkInvalid(c: TortureCase): void {
  const rej = rejection(c.name);
  expect(rej, `${c.name} must be rejected`).not.toBeNull();
  const { error, message } = rej!;
  if (c.status === 'drop') {
    // a response nobody can answer: rejecting it means dropping it; it must never pass as a request
    if (message) expect(message).toBeInstanceOf(SipResponse);
    return;
  }
  expect(c.kind).toBe('request');
  const statuses = [c.status!, ...(ALTERNATE_STATUS[c.name] ?? [])];
  expect(statuses).toContain(error.status);
  const codes = ACCEPTED_CODES[c.name];
  if (codes) expect(codes).toContain(error.code);
  // answering needs the parsed request (Via, From, To, Call-ID, CSeq) to build the response
  expect(message).toBeInstanceOf(SipRequest);
}

// ------------------------------------------------------------------ suites

describe('RFC 4475 fixtures', () => {
  it('cover every message of §3.1.1 and §3.1.2, plus insuf and multi01', () => {
    const names = TORTURE_CASES.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    expect(TORTURE_CASES.filter((c) => c.section.startsWith('3.1.1.'))).toHaveLength(13);
    expect(TORTURE_CASES.filter((c) => c.section.startsWith('3.1.2.'))).toHaveLength(19);
    for (const c of TORTURE_CASES) expect(VALID_CHECKS[c.name] !== undefined).toBe(c.valid);
  });

  it.each(TORTURE_CASES.map((c) => [c.name, c] as const))('%s: header lines end with CRLF', (_n, c) => {
    const buf = loadFixture(c.name);
    const end = buf.indexOf('\r\n\r\n');
    expect(end).toBeGreaterThan(0);
    const head = buf.subarray(0, end + 2).toString('latin1');
    expect(head.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
  });
});

describe('RFC 4475 §3.1.1 valid messages', () => {
  for (const c of TORTURE_CASES.filter((t) => t.valid)) {
    const title = `${c.section} ${c.name} parses and validates`;
    const body = () => {
      const r = parse(c.name);
      expect(r.ok, r.ok ? '' : `${c.name}: ${r.error.code}`).toBe(true);
      if (!r.ok) return;
      const m = r.message;
      expect(m.isRequest).toBe(c.kind === 'request');
      const err = m instanceof SipRequest ? validateRequest(m) : validateResponse(m);
      expect(err?.code ?? null).toBeNull();
      VALID_CHECKS[c.name]!();
    };
    if (EXPECTED_FAILURES[c.name]) it.fails(`${title} [known bug: see EXPECTED_FAILURES]`, body);
    else it(title, body);
  }
});

describe('RFC 4475 invalid messages are rejected with the implied status', () => {
  for (const c of TORTURE_CASES.filter((t) => !t.valid)) {
    const title = `${c.section} ${c.name} → ${c.status === 'drop' ? 'dropped' : c.status}`;
    const body = () => checkInvalid(c);
    if (EXPECTED_FAILURES[c.name]) it.fails(`${title} [known bug: see EXPECTED_FAILURES]`, body);
    else it(title, body);
  }
});
