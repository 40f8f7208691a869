import { describe, expect, it } from 'vitest';
import { detached } from '../../../src/util/strings.js';
import { heapRetainedBy, sliceOfMegabyte } from '../../support/heap.js';

describe('detached', () => {
  it('returns an equal string, for short, long, sliced and latin1 text', () => {
    const text = 'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-\u00e9\u00ff-long-branch-value;rport';
    for (const s of ['', 'short', text, text.slice(20, 70), text.slice(5) + ';received=192.0.2.9']) {
      expect(detached(s)).toBe(s);
    }
  });

  it('does not keep the string it was cut from alive', () => {
    const retained = (cut: (s: string) => string): number =>
      heapRetainedBy(() => {
        const keep = Array.from({ length: 8 }, (_, i) => cut(sliceOfMegabyte(i)));
        expect(keep.every((k) => k.length === 57)).toBe(true);
        return keep;
      });
    // a plain slice keeps each 1 MiB parent (8 MiB); the detached copies keep next to nothing
    expect(retained((s) => s)).toBeGreaterThan(6 << 20);
    expect(retained(detached)).toBeLessThan(3 << 20);
  });
});
