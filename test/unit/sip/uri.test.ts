import '../../support/property-seed.js';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  classifyHost,
  escapeUriComponent,
  formatUri,
  hostEquals,
  isSipUri,
  isTelUri,
  parseSipUri,
  parseUri,
  unescapeUri,
  uriEquals,
  type SipUri,
  type TelUri,
  type Uri,
} from '../../../src/sip/uri.js';

function sip(text: string): SipUri {
  const u = parseUri(text);
  if (u === null || !isSipUri(u)) throw new Error(`expected a SIP URI: ${text}`);
  return u;
}

function must(text: string): Uri {
  const u = parseUri(text);
  if (u === null) throw new Error(`expected a URI: ${text}`);
  return u;
}

const p = (...entries: [string, string | null][]) => new Map<string, string | null>(entries);
const h = (...entries: [string, string][]) => new Map<string, string>(entries);

describe('parseUri: SIP/SIPS URIs (RFC 3261 §19.1)', () => {
  const cases: [string, Partial<SipUri>][] = [
    ['sip:alice@atlanta.com', { scheme: 'sip', user: 'alice', host: 'atlanta.com', hostType: 'name' }],
    [
      'sip:alice:secretword@atlanta.com;transport=tcp',
      { user: 'alice', password: 'secretword', params: p(['transport', 'tcp']) },
    ],
    [
      'sips:alice@atlanta.com?subject=project%20x&priority=urgent',
      { scheme: 'sips', headers: h(['subject', 'project%20x'], ['priority', 'urgent']) },
    ],
    [
      'sip:+1-212-555-1212:1234@gateway.com;user=phone',
      { user: '+1-212-555-1212', password: '1234', params: p(['user', 'phone']) },
    ],
    ['sips:1212@gateway.com', { scheme: 'sips', user: '1212', host: 'gateway.com' }],
    ['sip:alice@192.0.2.4', { host: '192.0.2.4', hostType: 'ipv4' }],
    [
      'sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com',
      { user: undefined, host: 'atlanta.com', params: p(['method', 'REGISTER']), headers: h(['to', 'alice%40atlanta.com']) },
    ],
    ['sip:alice;day=tuesday@atlanta.com', { user: 'alice;day=tuesday', host: 'atlanta.com', params: p() }],
    ['sip:user;par=u%40example.net@example.com', { user: 'user;par=u%40example.net', host: 'example.com' }],
    ['sip:%61lice@atlanta.com;transport=TCP', { user: '%61lice', params: p(['transport', 'TCP']) }],
    [
      'SIP:Alice@AtLanTa.CoM:5061;Transport=UDP;LR',
      { scheme: 'sip', user: 'Alice', host: 'AtLanTa.CoM', port: 5061, params: p(['transport', 'UDP'], ['lr', null]) },
    ],
    ['sip:[2001:db8::10]:5070', { host: '[2001:db8::10]', hostType: 'ipv6', port: 5070 }],
    ['sip:[2001:db8::10:5070]', { host: '[2001:db8::10:5070]', hostType: 'ipv6', port: undefined }],
    ['sip:user@[::ffff:192.0.2.1]', { host: '[::ffff:192.0.2.1]', hostType: 'ipv6' }],
    ['sip:[::]', { host: '[::]', hostType: 'ipv6' }],
    ['sip:[1:2:3:4:5:6:7:8]', { host: '[1:2:3:4:5:6:7:8]', hostType: 'ipv6' }],
    [
      // RFC 4475 §3.1.1.2: unusual but legal user and password characters.
      "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
      {
        user: "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*",
        password: "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)",
        host: 'example.com',
      },
    ],
    ['sip:123:@10.43.12.14', { user: '123', password: '', host: '10.43.12.14', hostType: 'ipv4' }],
    ['sip:example.com.', { host: 'example.com.', hostType: 'name' }],
    ['sip:localhost', { host: 'localhost', hostType: 'name' }],
    ['sip:a-1.b2.c', { host: 'a-1.b2.c', hostType: 'name' }],
    ['sip:host:0', { port: 0 }],
    ['sip:host:65535', { port: 65535 }],
    ['sip:host:05060', { port: 5060 }],
    [
      'sip:user@example.com;maddr=[2001:db8::1];lr',
      { params: p(['maddr', '[2001:db8::1]'], ['lr', null]) },
    ],
    ['sip:sips%3Auser%40example.com@example.net', { user: 'sips%3Auser%40example.com', host: 'example.net' }],
    ['sip:h?a=&b=1', { headers: h(['a', ''], ['b', '1']) }],
    ['sip:user@example.com?Route=%3Csip:example.com%3E', { headers: h(['Route', '%3Csip:example.com%3E']) }],
    ['sip:example.com;x%41y=1', { params: p(['x%41y', '1']) }],
  ];

  it.each(cases)('%s', (text, expected) => {
    const u = parseUri(text);
    expect(u).not.toBeNull();
    expect(u).toMatchObject(expected as Record<string, unknown>);
    expect(parseSipUri(text)).toEqual(u);
  });

  it('returns all components with defaults filled in', () => {
    expect(parseUri('sip:example.com')).toEqual({
      scheme: 'sip',
      user: undefined,
      password: undefined,
      host: 'example.com',
      hostType: 'name',
      port: undefined,
      params: new Map(),
      headers: new Map(),
    });
  });

  it('user part of RFC 4475 sip:%61lice@atlanta.com unescapes to alice', () => {
    expect(unescapeUri(sip('sip:%61lice@atlanta.com;transport=TCP').user!)).toBe('alice');
  });
});

describe('parseUri: tel URIs (RFC 3966)', () => {
  const cases: [string, TelUri][] = [
    ['tel:+1-212-555-0101', { scheme: 'tel', number: '+1-212-555-0101', params: p() }],
    ['TEL:+12125550101', { scheme: 'tel', number: '+12125550101', params: p() }],
    ['tel:7042;phone-context=example.com', { scheme: 'tel', number: '7042', params: p(['phone-context', 'example.com']) }],
    [
      'tel:863-1234;phone-context=+1-914-555',
      { scheme: 'tel', number: '863-1234', params: p(['phone-context', '+1-914-555']) },
    ],
    ['tel:+358-555-1234567;postd=pp22', { scheme: 'tel', number: '+358-555-1234567', params: p(['postd', 'pp22']) }],
    [
      'tel:+1-201-555-0123;ext=1234;isub=abc@x;Foo',
      { scheme: 'tel', number: '+1-201-555-0123', params: p(['ext', '1234'], ['isub', 'abc@x'], ['foo', null]) },
    ],
    ['tel:+1(212)555.0101', { scheme: 'tel', number: '+1(212)555.0101', params: p() }],
    ['tel:*67#;phone-context=example.com', { scheme: 'tel', number: '*67#', params: p(['phone-context', 'example.com']) }],
  ];
  it.each(cases)('%s', (text, expected) => {
    const u = parseUri(text);
    expect(u).toEqual(expected);
    expect(isTelUri(u!)).toBe(true);
    expect(parseSipUri(text)).toBeNull();
  });
});

describe('parseUri: other schemes are kept opaque', () => {
  const cases: [string, string, string][] = [
    ['urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6', 'urn', 'uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6'],
    ['mailto:watson@bell-telephone.com', 'mailto', 'watson@bell-telephone.com'],
    ['HTTP://www.example.com/alice/photo.jpg', 'http', '//www.example.com/alice/photo.jpg'],
    ['im:alice@example.com', 'im', 'alice@example.com'],
    ['h323:user@example.com', 'h323', 'user@example.com'],
    ['x-foo.bar+baz:a%20b;c=d', 'x-foo.bar+baz', 'a%20b;c=d'],
  ];
  it.each(cases)('%s', (text, scheme, value) => {
    const u = parseUri(text);
    expect(u).toEqual({ scheme, value });
    expect(isSipUri(u!)).toBe(false);
    expect(isTelUri(u!)).toBe(false);
    expect(parseSipUri(text)).toBeNull();
  });
});

describe('parseUri: malformed input → null', () => {
  const bad: [string, string][] = [
    ['', 'empty'],
    ['sip', 'no colon'],
    [':alice@example.com', 'empty scheme'],
    ['1sip:alice@example.com', 'scheme starts with a digit'],
    ['si p:alice@example.com', 'space in scheme'],
    ['<sip:alice@example.com>', 'name-addr brackets'],
    ['sip:', 'missing host'],
    ['sip:alice@', 'missing host after userinfo'],
    ['sip:alice:pw@', 'missing host after password'],
    ['sip:@example.com', 'empty user'],
    ['sip::pw@example.com', 'empty user before password'],
    ['sip:alice:p:w@example.com', "':' in password"],
    ['sip:alice@atlanta.com@gateway.com', 'two @'],
    ['sip:alice smith@example.com', 'space in user'],
    ['sip:alice@exa mple.com', 'space in host'],
    [' sip:alice@example.com', 'leading space'],
    ['sip:alice@example.com ', 'trailing space'],
    ['sip:alice@example.com\r\n', 'trailing CRLF'],
    ['sip:alice@example.com\t', 'trailing tab'],
    ['sip:alice@exam\u0000ple.com', 'NUL in host'],
    ['sip:al\u007fice@example.com', 'DEL in user'],
    ['sip:alicé@example.com', 'raw non-ASCII in user'],
    ['sip:alice@example.com;transport=t\u0001cp', 'control char in param'],
    ['sip:alice@example.com?subject=a b', 'space in header'],
    ['sip:alice@example.com:', 'empty port'],
    ['sip:alice@example.com:65536', 'port out of range'],
    ['sip:alice@example.com:99999999999999999999', 'huge port'],
    ['sip:alice@example.com:5o60', 'non-numeric port'],
    ['sip:alice@example.com:-1', 'negative port'],
    ['sip:alice@example.com:5060:5060', 'two ports'],
    ['sip:[2001:db8::10', 'unclosed IPv6 bracket'],
    ['sip:alice@[2001:db8::10', 'unclosed IPv6 bracket after user'],
    ['sip:2001:db8::10]', 'unopened IPv6 bracket'],
    ['sip:[2001:db8::10]]', 'extra closing bracket'],
    ['sip:alice@2001:db8::10', 'IPv6 without brackets'],
    ['sip:[]', 'empty IPv6 reference'],
    ['sip:[2001:db8:::10]', 'triple colon'],
    ['sip:[2001::db8::10]', 'two ::'],
    ['sip:[1:2:3:4:5:6:7:8:9]', 'nine groups'],
    ['sip:[1:2:3:4:5:6:7]', 'seven groups without ::'],
    ['sip:[1:2:3:4:5:6:7::8]', ':: standing for no group'],
    ['sip:[12345::1]', 'five hex digits'],
    ['sip:[::1.2.3]', 'short embedded IPv4'],
    ['sip:[::1.2.3.256]', 'bad embedded IPv4'],
    ['sip:[::1.2.3.4:1]', 'embedded IPv4 not last'],
    ['sip:[1:]', 'dangling colon'],
    ['sip:[:1]', 'single leading colon'],
    ['sip:[g::1]', 'non-hex group'],
    ['sip:[::1]x', 'junk after IPv6 reference'],
    ['sip:alice@exa%6Dple.com', 'escape in host'],
    ['sip:alice@ex%zzample.com', 'bad escape in host'],
    ['sip:al%6ice@example.com', 'bad escape in user'],
    ['sip:alice%2@example.com', 'truncated escape in user'],
    ['sip:alice:pw%@example.com', 'truncated escape in password'],
    ['sip:example.com;x=%G0', 'bad escape in param'],
    ['sip:example.com?x=%', 'truncated escape in header'],
    ['sip:-bad.com', 'label starts with -'],
    ['sip:bad-.com', 'label ends with -'],
    ['sip:a..b.com', 'empty label'],
    ['sip:.example.com', 'leading dot'],
    ['sip:example.com..', 'two trailing dots'],
    ['sip:under_score.com', 'underscore in hostname'],
    ['sip:256.1.1.1', 'IPv4 octet > 255'],
    ['sip:1.2.3', 'three-part dotted number'],
    ['sip:1.2.3.4.5', 'five-part dotted number'],
    ['sip:example.123', 'numeric toplabel'],
    ['sip:1234', 'numeric host'],
    ['sip:example.com;', 'empty param'],
    ['sip:example.com;=x', 'empty param name'],
    ['sip:example.com;lr=', 'empty param value'],
    ['sip:example.com;a=1;a=2', 'duplicate param'],
    ['sip:example.com;transport=tcp;Transport=udp', 'duplicate param, other case'],
    ['sip:example.com;lr>', "'>' after param"],
    ['sip:example.com;a"b', "'\"' in param"],
    ['sip:example.com?', 'empty headers'],
    ['sip:example.com?foo', 'header without ='],
    ['sip:example.com?=x', 'empty header name'],
    ['sip:example.com?a=1&', 'dangling &'],
    ['sip:example.com?a=1&A=2', 'duplicate header'],
    ['sip:example.com?a=1?b=2', "'=' inside a header value"],
    ['sip:example.com#frag', 'fragment'],
    ['tel:', 'empty tel'],
    ['tel:+', 'no digits'],
    ['tel:+-()', 'only separators'],
    ['tel:5551234', 'local number without phone-context'],
    ['tel:+1 212', 'space in number'],
    ['tel:+1-212;ext=', 'empty ext'],
    ['tel:+1-212;ext', 'ext without value'],
    ['tel:+1-212;ext=12a', 'non-digit ext'],
    ['tel:123;phone-context=', 'empty phone-context'],
    ['tel:123;phone-context=-bad', 'bad phone-context domain'],
    ['tel:123;phone-context=+', 'phone-context without digits'],
    ['tel:+1;a=1;a=2', 'duplicate tel param'],
    ['tel:+1;p_x=1', 'underscore in tel pname'],
    ['tel:+1;', 'empty tel param'],
    ['tel:+1x', 'letter in global number'],
    ['urn:', 'empty opaque part'],
    ['mailto:a b@c', 'space in opaque URI'],
    ['urn:<x>', "'<' in opaque URI"],
    ['urn:a%2', 'bad escape in opaque URI'],
  ];
  it.each(bad)('%j (%s)', (text) => {
    expect(parseUri(text)).toBeNull();
    expect(parseSipUri(text)).toBeNull();
  });

  it('never throws on non-string input', () => {
    expect(parseUri(undefined as unknown as string)).toBeNull();
    expect(parseSipUri(42 as unknown as string)).toBeNull();
  });

  it('parseSipUri rejects other schemes', () => {
    expect(parseSipUri('tel:+12125550101')).toBeNull();
    expect(parseSipUri('urn:uuid:1')).toBeNull();
    expect(parseSipUri('sipx:alice@example.com')).toBeNull();
    expect(parseSipUri('sips:bob@biloxi.com')).toMatchObject({ scheme: 'sips', user: 'bob' });
    expect(parseSipUri('SIPS:bob@biloxi.com')).toMatchObject({ scheme: 'sips', user: 'bob' });
  });
});

describe('uriEquals: RFC 3261 §19.1.4', () => {
  // The RFC's own examples.
  const rfcEqual: [string, string][] = [
    ['sip:%61lice@atlanta.com;transport=TCP', 'sip:alice@AtLanTa.CoM;Transport=tcp'],
    ['sip:carol@chicago.com', 'sip:carol@chicago.com;newparam=5'],
    ['sip:carol@chicago.com', 'sip:carol@chicago.com;security=on'],
    ['sip:carol@chicago.com;newparam=5', 'sip:carol@chicago.com;security=on'],
    [
      'sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com',
      'sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com',
    ],
    [
      'sip:alice@atlanta.com?subject=project%20x&priority=urgent',
      'sip:alice@atlanta.com?priority=urgent&subject=project%20x',
    ],
    // equality is not transitive:
    ['sip:carol@chicago.com', 'sip:carol@chicago.com;security=off'],
  ];
  const rfcNotEqual: [string, string, string][] = [
    ['SIP:ALICE@AtLanTa.CoM;Transport=udp', 'sip:alice@AtLanTa.CoM;Transport=UDP', 'different usernames'],
    ['sip:bob@biloxi.com', 'sip:bob@biloxi.com:5060', 'can resolve to different ports'],
    ['sip:bob@biloxi.com', 'sip:bob@biloxi.com;transport=udp', 'can resolve to different transports'],
    ['sip:bob@biloxi.com', 'sip:bob@biloxi.com:6000;transport=tcp', 'different port and transport'],
    ['sip:carol@chicago.com', 'sip:carol@chicago.com?Subject=next%20meeting', 'different header component'],
    ['sip:bob@phone21.boxesbybob.com', 'sip:bob@192.0.2.4', 'name vs the address it resolves to'],
    ['sip:carol@chicago.com;security=on', 'sip:carol@chicago.com;security=off', 'equality is not transitive'],
  ];

  const moreEqual: [string, string][] = [
    ['sip:alice@[2001:db8::10]', 'sip:alice@[2001:DB8:0:0:0:0:0:10]'],
    ['sip:alice@[::ffff:192.0.2.1]:5060', 'sip:alice@[::FFFF:C000:201]:5060'],
    ['SIPS:alice@example.com;lr', 'sips:alice@example.com'],
    ['sip:example.com;user=phone', 'sip:example.com;USER=PHONE'],
    ['sip:alice:pw@example.com', 'sip:alice:%70w@example.com'],
    ['sip:a%3bb@example.com', 'sip:a%3Bb@example.com'],
    ['sip:example.com;maddr=239.255.255.1', 'sip:example.com;MADDR=239.255.255.1'],
    ['sip:example.com;maddr=Example.NET', 'sip:example.com;maddr=example.net'],
    ['sip:example.com;maddr=[2001:db8::1]', 'sip:example.com;maddr=[2001:DB8:0::1]'],
    ['sip:example.com;ttl=16;method=INVITE', 'sip:example.com;method=INVITE;ttl=16'],
    ['sip:example.com;x=%41', 'sip:example.com;x=a'],
    ['sip:example.com;x%41=1', 'sip:example.com;xa=1'],
    ['sip:example.com?Subject=x', 'sip:example.com?subject=x'],
    ['sip:example.com?subject=project%20x', 'sip:example.com?subject=project%20%78'],
    ['sip:example.com', 'sip:EXAMPLE.COM'],
    ['sip:10.0.0.1', 'sip:010.000.000.001'],
    ['tel:+1-212-555-0101', 'tel:+12125550101'],
    ['tel:+1(212)555.0101', 'TEL:+1-212-555-0101'],
    ['tel:7042;phone-context=Example.COM', 'tel:7042;phone-context=example.com'],
    ['tel:863-1234;phone-context=+1-914-555', 'tel:8631234;phone-context=+1914555'],
    ['tel:+1-201-555-0123;ext=1234;isub=x', 'tel:+1-201-555-0123;isub=x;ext=12-34'],
    ['tel:ABC;phone-context=example.com', 'tel:abc;phone-context=example.com'],
    ['tel:+1;foo=BAR', 'tel:+1;foo=bar'],
    ['urn:uuid:abc', 'URN:uuid:abc'],
  ];

  const moreNotEqual: [string, string][] = [
    ['sip:alice@example.com', 'sips:alice@example.com'],
    ['sip:alice@example.com', 'sip:example.com'],
    ['sip:alice@example.com', 'sip:alice:@example.com'],
    ['sip:alice:pw1@example.com', 'sip:alice:pw2@example.com'],
    ['sip:alice@example.com', 'sip:Alice@example.com'],
    ['sip:a;b@example.com', 'sip:a%3Bb@example.com'], // escaping a reserved character is significant
    ['sip:example.com;ttl=1', 'sip:example.com'],
    ['sip:example.com', 'sip:example.com;user=ip'],
    ['sip:example.com', 'sip:example.com;method=INVITE'],
    ['sip:example.com;maddr=1.2.3.4', 'sip:example.com'],
    ['sip:example.com;method=INVITE', 'sip:example.com;method=invite'],
    ['sip:example.com;user=phone', 'sip:example.com;user=ip'],
    ['sip:example.com;transport=tcp', 'sip:example.com;transport=tls'],
    ['sip:example.com;lr', 'sip:example.com;lr=on'],
    ['sip:example.com?a=1', 'sip:example.com?a=1&b=2'],
    ['sip:example.com?a=X', 'sip:example.com?a=x'],
    ['sip:example.com:5060', 'sip:example.com:5061'],
    ['sip:[::1]', 'sip:[::2]'],
    ['sip:1.2.3.4', 'sip:[::ffff:1.2.3.4]'],
    ['sip:example.com', 'sip:example.com.'],
    ['tel:+1-212-555-0101', 'tel:2125550101;phone-context=+1'],
    ['tel:+1', 'tel:+1;ext=1'],
    ['tel:+12', 'tel:+13'],
    ['tel:+1;foo', 'tel:+1;foo=1'],
    ['tel:12;phone-context=a.com', 'tel:12;phone-context=b.com'],
    ['tel:+12125550101', 'sip:+12125550101@example.com;user=phone'],
    ['urn:uuid:abc', 'sip:abc'],
    ['urn:a', 'urn:A'],
    ['urn:a', 'urx:a'],
  ];

  it.each(rfcEqual)('RFC equal: %s == %s', (a, b) => {
    expect(uriEquals(must(a), must(b))).toBe(true);
    expect(uriEquals(must(b), must(a))).toBe(true);
  });
  it.each(rfcNotEqual)('RFC not equal: %s != %s (%s)', (a, b) => {
    expect(uriEquals(must(a), must(b))).toBe(false);
    expect(uriEquals(must(b), must(a))).toBe(false);
  });
  it.each(moreEqual)('equal: %s == %s', (a, b) => {
    expect(uriEquals(must(a), must(b))).toBe(true);
    expect(uriEquals(must(b), must(a))).toBe(true);
  });
  it.each(moreNotEqual)('not equal: %s != %s', (a, b) => {
    expect(uriEquals(must(a), must(b))).toBe(false);
    expect(uriEquals(must(b), must(a))).toBe(false);
  });
});

describe('hostEquals / classifyHost', () => {
  const equal: [string, string][] = [
    ['example.com', 'EXAMPLE.com'],
    ['[2001:db8::10]', '[2001:DB8:0::10]'],
    ['[2001:db8::10]', '2001:db8::10'],
    ['[::ffff:192.0.2.1]', '[::ffff:c000:201]'],
    ['[1:0:0:0:0:0:0:0]', '[1::]'],
    ['192.0.2.1', '192.0.2.1'],
  ];
  const notEqual: [string, string][] = [
    ['192.0.2.1', '192.0.2.2'],
    ['example.com', 'example.com.'],
    ['example.com', 'example.org'],
    ['[::1]', '[::2]'],
    ['example.com', '[::1]'],
    ['[::1]', '[bogus]'],
  ];
  it.each(equal)('%s == %s', (a, b) => {
    expect(hostEquals(a, b)).toBe(true);
    expect(hostEquals(b, a)).toBe(true);
  });
  it.each(notEqual)('%s != %s', (a, b) => {
    expect(hostEquals(a, b)).toBe(false);
    expect(hostEquals(b, a)).toBe(false);
  });
  it('classifies hosts', () => {
    expect(classifyHost('example.com')).toBe('name');
    expect(classifyHost('192.0.2.1')).toBe('ipv4');
    expect(classifyHost('[2001:db8::1]')).toBe('ipv6');
    expect(classifyHost('2001:db8::1')).toBe('ipv6');
    expect(classifyHost('[2001:db8::1')).toBeNull();
    expect(classifyHost('1.2.3.999')).toBeNull();
    expect(classifyHost('')).toBeNull();
    expect(classifyHost('a b')).toBeNull();
  });
});

describe('unescapeUri', () => {
  const cases: [string, string][] = [
    ['plain', 'plain'],
    ['%61lice', 'alice'],
    ['a%20b', 'a b'],
    ['%3a%3A', '::'],
    ['%C3%A9', 'é'],
    ['%E2%82%AC', '€'],
    ['%F0%9F%98%80', '😀'],
    ['100%', '100%'],
    ['%zz', '%zz'],
    ['%4', '%4'],
    ['%%41', '%A'],
    ['%C3', '%C3'],
    ['%C3%28', '%C3('],
    ['%C0%80', '%C0%80'],
    ['%ED%A0%80', '%ED%A0%80'],
    ['%FF', '%FF'],
    ['%F4%90%80%80', '%F4%90%80%80'],
    ['x%E2%82y', 'x%E2%82y'],
  ];
  it.each(cases)('%j → %j', (input, output) => {
    expect(unescapeUri(input)).toBe(output);
  });
});

describe('formatUri / escapeUriComponent', () => {
  it('formats canonically', () => {
    expect(formatUri(must('SIP:Alice@AtLanTa.CoM:5061;Transport=UDP;LR?Subject=x'))).toBe(
      'sip:Alice@AtLanTa.CoM:5061;transport=UDP;lr?Subject=x',
    );
    expect(formatUri(must('TEL:+1-212-555-0101;EXT=12'))).toBe('tel:+1-212-555-0101;ext=12');
    expect(formatUri(must('URN:uuid:1'))).toBe('urn:uuid:1');
    expect(formatUri(must('sip:123:@10.43.12.14'))).toBe('sip:123:@10.43.12.14');
  });

  it('escapes raw programmatic components and brackets a bare IPv6 host', () => {
    const u: SipUri = {
      scheme: 'sip',
      user: 'alice smith@home',
      password: 'p:w',
      host: '2001:db8::1',
      hostType: 'ipv6',
      port: 5060,
      params: p(['x', 'a;b'], ['lr', null]),
      headers: h(['subject', 'a&b c']),
    };
    const text = formatUri(u);
    expect(text).toBe('sip:alice%20smith%40home:p%3Aw@[2001:db8::1]:5060;x=a%3Bb;lr?subject=a%26b%20c');
    expect(parseUri(text)).toMatchObject({ user: 'alice%20smith%40home', host: '[2001:db8::1]' });
  });

  const esc: [string, Parameters<typeof escapeUriComponent>[1], string][] = [
    ['alice smith', 'user', 'alice%20smith'],
    ['a@b', 'user', 'a%40b'],
    ['a;b?c', 'user', 'a;b?c'],
    ['é', 'user', '%C3%A9'],
    ['😀', 'user', '%F0%9F%98%80'],
    ['%41', 'user', '%41'],
    ['100%', 'user', '100%25'],
    ['p:w', 'password', 'p%3Aw'],
    ['a;b', 'param', 'a%3Bb'],
    ['[::1]', 'param', '[::1]'],
    ['a&b', 'header', 'a%26b'],
    ['\ud800', 'user', '%EF%BF%BD'],
  ];
  it.each(esc)('escapeUriComponent(%j, %s) → %j', (input, component, output) => {
    expect(escapeUriComponent(input, component)).toBe(output);
  });

  it('escapeUriComponent is idempotent and unescapeUri inverts it on well-formed text', () => {
    const components = ['user', 'password', 'param', 'header'] as const;
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.constantFrom(...components), (s, c) => {
        const once = escapeUriComponent(s, c);
        expect(escapeUriComponent(once, c)).toBe(once);
        if (!/%[0-9A-Fa-f]{2}/.test(s)) expect(unescapeUri(once)).toBe(s);
      }),
    );
  });
});

// ---------------------------------------------------------------------------
// Property tests

const chars = (s: string) => fc.constantFrom(...s.split(''));
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const MARK = "-_.!~*'()";
const escapeArb = fc
  .tuple(fc.integer({ min: 0, max: 255 }), fc.boolean())
  .map(([b, upper]) => {
    const hex = b.toString(16).padStart(2, '0');
    return '%' + (upper ? hex.toUpperCase() : hex);
  });
const textOf = (set: string, min: number, max: number) =>
  fc
    .array(fc.oneof({ weight: 8, arbitrary: chars(set) }, { weight: 1, arbitrary: escapeArb }), {
      minLength: min,
      maxLength: max,
    })
    .map((a) => a.join(''));

const userArb = textOf(ALNUM + MARK + '&=+$,;?/', 1, 12);
const passwordArb = textOf(ALNUM + MARK + '&=+$,', 0, 8);
const paramArb = (min: number) => textOf(ALNUM + MARK + '[]/:&+$', min, 8);
const headerArb = (min: number) => textOf(ALNUM + MARK + '[]/?:+$', min, 8);

const alnumArb = chars(ALNUM);
const labelArb = fc
  .tuple(alnumArb, fc.array(chars(ALNUM + '-'), { maxLength: 5 }), alnumArb, fc.boolean())
  .map(([a, mid, z, single]) => (single ? a : a + mid.join('') + z));
const topLabelArb = fc
  .tuple(chars('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'), labelArb, fc.boolean())
  .map(([a, rest, single]) => (single ? a : a + rest));
const hostnameArb = fc
  .tuple(fc.array(labelArb, { maxLength: 3 }), topLabelArb, fc.boolean())
  .map(([labels, top, dot]) => [...labels, top].join('.') + (dot ? '.' : ''));

const hostArb: fc.Arbitrary<{ host: string; hostType: SipUri['hostType'] }> = fc.oneof(
  hostnameArb.map((host) => ({ host, hostType: 'name' as const })),
  fc.ipV4().map((host) => ({ host, hostType: 'ipv4' as const })),
  fc.ipV6().map((host) => ({ host: `[${host}]`, hostType: 'ipv6' as const })),
);

const paramNameArb = fc.oneof(
  fc.constantFrom('transport', 'user', 'ttl', 'method', 'maddr', 'lr'),
  paramArb(1).map((s) => s.toLowerCase()),
);

const sipUriArb: fc.Arbitrary<SipUri> = fc
  .record({
    scheme: fc.constantFrom('sip' as const, 'sips' as const),
    userinfo: fc.option(fc.tuple(userArb, fc.option(passwordArb, { nil: undefined })), { nil: undefined }),
    host: hostArb,
    port: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
    params: fc.uniqueArray(fc.tuple(paramNameArb, fc.option(paramArb(1), { nil: null })), {
      maxLength: 4,
      selector: ([k]) => k,
    }),
    headers: fc.uniqueArray(fc.tuple(headerArb(1), headerArb(0)), {
      maxLength: 3,
      // names equal once unescaped ("t" and "%74") are the same header: the parser refuses the pair
      selector: ([k]) => unescapeUri(k).toLowerCase(),
    }),
  })
  .map((r) => ({
    scheme: r.scheme,
    user: r.userinfo?.[0],
    password: r.userinfo?.[1],
    host: r.host.host,
    hostType: r.host.hostType,
    port: r.port,
    params: new Map(r.params),
    headers: new Map(r.headers),
  }));

const telUriArb: fc.Arbitrary<TelUri> = fc
  .record({
    global: fc.boolean(),
    digits: fc.array(chars('0123456789'), { minLength: 1, maxLength: 10 }),
    local: fc.array(chars('0123456789abcdefABCDEF*#'), { minLength: 1, maxLength: 8 }),
    seps: fc.array(chars('-.()'), { maxLength: 3 }),
    context: fc.oneof(hostnameArb, fc.array(chars('0123456789'), { minLength: 1, maxLength: 5 }).map((d) => '+' + d.join(''))),
    params: fc.uniqueArray(
      fc.tuple(
        fc.array(chars(ALNUM + '-'), { minLength: 1, maxLength: 6 }).map((a) => a.join('').toLowerCase()),
        fc.option(paramArb(1), { nil: null }),
      ),
      { maxLength: 3, selector: ([k]) => k },
    ),
  })
  .map((r) => {
    const body = (r.global ? r.digits : r.local).join('');
    const number = (r.global ? '+' : '') + r.seps.join('') + body + r.seps.join('');
    const params = new Map<string, string | null>();
    if (!r.global) params.set('phone-context', r.context);
    for (const [k, v] of r.params) {
      if (k === 'phone-context' || k === 'ext' || k === 'isub') continue;
      params.set(k, v);
    }
    return { scheme: 'tel' as const, number, params };
  });

function flipCase(s: string, mask: boolean[]): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    out += mask[i % mask.length] ? (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) : c;
  }
  return out;
}

/** Escape some unreserved characters (whose escaping is not significant, §19.1.4). */
function escapeSomeUnreserved(s: string, mask: boolean[]): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '%') {
      out += s.slice(i, i + 3);
      i += 2;
      continue;
    }
    const unreserved = (ALNUM + MARK).includes(c);
    out += unreserved && mask[i % mask.length] ? '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0') : c;
  }
  return out;
}

describe('property: round trip', () => {
  it('parseUri(formatUri(u)) deep-equals u for generated SIP URIs', () => {
    fc.assert(
      fc.property(sipUriArb, (u) => {
        const text = formatUri(u);
        expect(parseUri(text)).toEqual(u);
        expect(parseSipUri(text)).toEqual(u);
        expect(formatUri(parseUri(text)!)).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  it('parseUri(formatUri(u)) deep-equals u for generated tel URIs', () => {
    fc.assert(
      fc.property(telUriArb, (u) => {
        const text = formatUri(u);
        expect(parseUri(text)).toEqual(u);
        expect(formatUri(parseUri(text)!)).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('parseUri never throws and any accepted text round-trips', () => {
    const alphabet = chars('sip:tel+@;=?&%[]:.-_0123456789abcdefABCDEF \t<>"#/');
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.array(alphabet, { maxLength: 30 }).map((a) => 'sip:' + a.join('')),
          fc.array(alphabet, { maxLength: 30 }).map((a) => 'tel:' + a.join('')),
        ),
        (s) => {
          const u = parseUri(s);
          if (u !== null) {
            const again = parseUri(formatUri(u));
            expect(again).toEqual(u);
            expect(uriEquals(u, again!)).toBe(true);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('property: equality', () => {
  it('is reflexive', () => {
    fc.assert(
      fc.property(fc.oneof(sipUriArb, telUriArb), (u) => {
        expect(uriEquals(u, u)).toBe(true);
        expect(uriEquals(u, parseUri(formatUri(u))!)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('is symmetric on arbitrary pairs', () => {
    fc.assert(
      fc.property(fc.oneof(sipUriArb, telUriArb), fc.oneof(sipUriArb, telUriArb), (a, b) => {
        expect(uriEquals(a, b)).toBe(uriEquals(b, a));
      }),
      { numRuns: 1000 },
    );
  });

  it('holds (both ways) under case changes, escaping of unreserved characters, reordering and unknown params', () => {
    fc.assert(
      fc.property(sipUriArb, fc.array(fc.boolean(), { minLength: 1, maxLength: 7 }), (a, mask) => {
        const params = new Map<string, string | null>();
        for (const [k, v] of [...a.params].reverse()) {
          params.set(k, v === null ? null : k === 'method' ? escapeSomeUnreserved(v, mask) : flipCase(escapeSomeUnreserved(v, mask), mask));
        }
        if (!params.has('x-unknown-extra')) params.set('x-unknown-extra', 'yes');
        const headers = new Map<string, string>();
        for (const [k, v] of [...a.headers].reverse()) headers.set(flipCase(k, mask), escapeSomeUnreserved(v, mask));
        const variant: SipUri = {
          ...a,
          user: a.user === undefined ? undefined : escapeSomeUnreserved(a.user, mask),
          password: a.password === undefined ? undefined : escapeSomeUnreserved(a.password, mask),
          host: flipCase(a.host, mask),
          params,
          headers,
        };
        const b = parseUri(formatUri(variant))!;
        expect(b).not.toBeNull();
        expect(uriEquals(a, b)).toBe(true);
        expect(uriEquals(b, a)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('fails (both ways) when the port, scheme or a must-match parameter differs', () => {
    fc.assert(
      fc.property(sipUriArb, fc.constantFrom('port', 'scheme', 'ttl'), (a, what) => {
        const b: SipUri = { ...a, params: new Map(a.params) };
        if (what === 'port') b.port = a.port === undefined ? 5060 : undefined;
        else if (what === 'scheme') b.scheme = a.scheme === 'sip' ? 'sips' : 'sip';
        else if (a.params.has('ttl')) b.params.delete('ttl');
        else b.params.set('ttl', '1');
        expect(uriEquals(a, b)).toBe(false);
        expect(uriEquals(b, a)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('tel: visual separators are ignored', () => {
    fc.assert(
      fc.property(telUriArb, fc.array(chars('-.()'), { minLength: 1, maxLength: 3 }), (a, seps) => {
        const plus = a.number.startsWith('+');
        const body = plus ? a.number.slice(1) : a.number;
        const b: TelUri = { ...a, number: (plus ? '+' : '') + seps.join('') + body.split('').join(seps[0]) };
        expect(parseUri(formatUri(b))).toEqual(b);
        expect(uriEquals(a, b)).toBe(true);
        expect(uriEquals(b, a)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseUri: URIs without headers or parameters share empty, read-only maps', () => {
  it('one parameters map for every SIP URI without parameters', () => {
    const a = parseUri('sip:alice@example.com') as SipUri;
    const b = parseUri('sip:example.net:5070') as SipUri;
    const c = parseUri('sip:carol@example.com;transport=udp;lr') as SipUri;
    expect(a.params.size).toBe(0);
    expect(a.params).toBe(b.params);
    expect([...c.params]).toEqual([['transport', 'udp'], ['lr', null]]);
    expect(a.params.size).toBe(0);
    expect(parseUri('sip:x@example.com;lr;LR')).toBeNull(); // a repeated name is still refused
  });

  it('one map for all of them, a map of its own for a URI with headers', () => {
    const a = parseUri('sip:alice@example.com') as SipUri;
    const b = parseUri('sips:bob@example.com;transport=tcp') as SipUri;
    const c = parseUri('sip:carol@example.com?subject=hi') as SipUri;
    expect(a.headers.size).toBe(0);
    expect(a.headers).toBe(b.headers);
    expect(c.headers).not.toBe(a.headers);
    expect([...c.headers]).toEqual([['subject', 'hi']]);
    expect(a.headers.size).toBe(0);
  });
});
