/** RFC 3261 §16.5–§16.7: the target set, grouped by q value, highest first. */
import { describe, expect, it } from 'vitest';
import { bindingTarget, receivedTarget, TargetSet, uriTarget } from '../../../src/proxy/target-set.js';
import { binding } from './harness.js';

describe('TargetSet', () => {
  it('groups targets of equal q (tried in parallel), highest q first, keeping the given order within a group', () => {
    const set = new TargetSet([
      bindingTarget(binding('sip:a@192.0.2.1', { q: 0.5 })),
      bindingTarget(binding('sip:b@192.0.2.2', { q: 1 })),
      bindingTarget(binding('sip:c@192.0.2.3', { q: null })),
      bindingTarget(binding('sip:d@192.0.2.4', { q: 0.5 })),
      bindingTarget(binding('sip:e@192.0.2.5', { q: 0 })),
    ]);
    expect(set.groups.map((g) => g.map((t) => t.uri))).toEqual([
      ['sip:b@192.0.2.2', 'sip:c@192.0.2.3'],
      ['sip:a@192.0.2.1', 'sip:d@192.0.2.4'],
      ['sip:e@192.0.2.5'],
    ]);
    expect(set.size).toBe(5);
  });

  it('hands out the groups one by one (the next only after the previous failed)', () => {
    const set = new TargetSet([uriTarget('sip:a@192.0.2.1'), bindingTarget(binding('sip:b@192.0.2.2', { q: 0.2 }))]);
    expect(set.hasNext).toBe(true);
    expect(set.nextGroup()!.map((t) => t.uri)).toEqual(['sip:a@192.0.2.1']);
    expect(set.nextGroup()!.map((t) => t.uri)).toEqual(['sip:b@192.0.2.2']);
    expect(set.hasNext).toBe(false);
    expect(set.nextGroup()).toBeUndefined();
  });

  it('adds a target once (§16.5)', () => {
    const set = new TargetSet([uriTarget('sip:a@192.0.2.1'), uriTarget('sip:a@192.0.2.1')]);
    expect(set.size).toBe(1);
  });

  it('keeps what the proxy needs of a binding: Path, flow, Outbound', () => {
    const t = bindingTarget(binding('sip:x@y.invalid', { flowId: 'ws#1', transport: 'WS', regId: 1, path: ['<sip:edge;lr>'] }));
    expect(t).toMatchObject({ uri: 'sip:x@y.invalid', flowId: 'ws#1', transport: 'WS', outbound: true, path: ['<sip:edge;lr>'], q: 1 });
  });

  it('reads a binding source as a target', () => {
    expect(receivedTarget('192.0.2.7:5070', 'UDP')).toEqual({ protocol: 'UDP', address: '192.0.2.7', port: 5070 });
    expect(receivedTarget('[2001:db8::1]:5060', 'UDP')).toEqual({ protocol: 'UDP', address: '2001:db8::1', port: 5060 });
    expect(receivedTarget('nonsense', 'UDP')).toBeUndefined();
  });
});
