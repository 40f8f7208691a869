import { describe, expect, it } from 'vitest';
import { aorOf, bindingKey, compareBindings, isUriKey, remainingSeconds, type Binding } from '../../../src/registrar/binding.js';
import { parseUri } from '../../../src/sip/uri.js';

function binding(over: Partial<Binding>): Binding {
  return {
    aor: 'sip:alice@example.com',
    key: 'uri sip:alice@192.0.2.10',
    contact: 'sip:alice@192.0.2.10',
    contactHeader: '<sip:alice@192.0.2.10>',
    q: null,
    expiresAt: 10_000,
    callId: 'c',
    cseq: 1,
    userAgent: null,
    received: '192.0.2.10:5060',
    transport: 'UDP',
    flowId: null,
    instanceId: null,
    regId: null,
    path: [],
    updatedAt: 0,
    ...over,
  };
}

describe('aorOf: the canonical address-of-record key', () => {
  it('lowercases the domain and keeps the user case-sensitive (RFC 3261 §19.1.4)', () => {
    expect(aorOf('sip:Alice@EXAMPLE.com')).toBe('sip:Alice@example.com');
  });

  it('unescapes the user and drops port, parameters, headers and password', () => {
    expect(aorOf('sip:al%69ce:secret@example.com:5070;transport=tcp?subject=x')).toBe('sip:alice@example.com');
  });

  it('folds sips into sip, so one AOR has one key', () => {
    expect(aorOf('sips:alice@example.com')).toBe('sip:alice@example.com');
  });

  it('accepts a parsed URI and a URI without user', () => {
    expect(aorOf(parseUri('sip:example.com')!)).toBe('sip:example.com');
    expect(aorOf('sip:alice@example.com.')).toBe('sip:alice@example.com');
  });

  it('is null for a URI that is not sip/sips or does not parse', () => {
    expect(aorOf('tel:+15551234')).toBeNull();
    expect(aorOf('mailto:alice@example.com')).toBeNull();
    expect(aorOf('sip:')).toBeNull();
  });
});

describe('bindingKey (RFC 5626 §6 binding identity)', () => {
  it('is instance + reg-id for an Outbound binding, instance alone without reg-id, else the URI', () => {
    expect(bindingKey('sip:a@h', 'urn:uuid:1', 2)).toBe('ob urn:uuid:1 2');
    expect(bindingKey('sip:a@h', 'urn:uuid:1', null)).toBe('inst urn:uuid:1');
    expect(bindingKey('sip:a@h', null, null)).toBe('uri sip:a@h');
    expect(isUriKey('uri sip:a@h')).toBe(true);
    expect(isUriKey('inst urn:uuid:1')).toBe(false);
  });
});

describe('lookup order', () => {
  it('sorts by q descending (no q = 1.0), then most recently updated first', () => {
    const a = binding({ key: 'a', q: 0.5, updatedAt: 3 });
    const b = binding({ key: 'b', q: null, updatedAt: 1 });
    const c = binding({ key: 'c', q: 1, updatedAt: 2 });
    const d = binding({ key: 'd', q: 0.9, updatedAt: 5 });
    expect([a, b, c, d].sort(compareBindings).map((x) => x.key)).toEqual(['c', 'b', 'd', 'a']);
  });

  it('rounds the remaining time up, never below 0', () => {
    expect(remainingSeconds(binding({ expiresAt: 3_600_000 }), 0)).toBe(3600);
    expect(remainingSeconds(binding({ expiresAt: 1_500 }), 1_000)).toBe(1);
    expect(remainingSeconds(binding({ expiresAt: 1_000 }), 2_000)).toBe(0);
  });
});
