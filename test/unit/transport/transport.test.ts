/** Issue 3: the shared transport vocabulary (one interface, one table per fact). */
import { describe, expect, it } from 'vitest';
import { RELIABLE, SECURE, hostPort } from '../../../src/transport/transport.js';

describe('transport tables', () => {
  it('UDP is the only unreliable transport (RFC 3261 §18: retransmissions only there)', () => {
    expect(RELIABLE).toEqual({ UDP: false, TCP: true, TLS: true, WS: true, WSS: true });
  });

  it('TLS and WSS are the secure transports (a sips: target needs one)', () => {
    expect(SECURE).toEqual({ UDP: false, TCP: false, TLS: true, WS: false, WSS: true });
  });
});

describe('hostPort', () => {
  it('writes IPv4 and names as host:port and IPv6 in brackets', () => {
    expect(hostPort('127.0.0.1', 5060)).toBe('127.0.0.1:5060');
    expect(hostPort('::1', 5060)).toBe('[::1]:5060');
    expect(hostPort('2001:db8::1', 0)).toBe('[2001:db8::1]:0');
  });
});
