import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { detached } from '../../../src/util/strings.js';

describe('detached', () => {
  it('returns an equal string, for short, long, sliced and latin1 text', () => {
    const text = 'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-\u00e9\u00ff-long-branch-value;rport';
    for (const s of ['', 'short', text, text.slice(20, 70), text.slice(5) + ';received=192.0.2.9']) {
      expect(detached(s)).toBe(s);
    }
  });

  it('does not keep the string it was cut from alive', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const retained = (cut: (s: string) => string): number => {
      const keep: string[] = [];
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 8; i++) keep.push(cut((String(i) + 'y'.repeat(1 << 20)).slice(3, 60)));
      gc();
      gc();
      expect(keep.every((k) => k.length === 57)).toBe(true);
      return process.memoryUsage().heapUsed - before;
    };
    // a plain slice keeps each 1 MiB parent (8 MiB); the detached copies keep next to nothing
    expect(retained((s) => s)).toBeGreaterThan(6 << 20);
    expect(retained(detached)).toBeLessThan(3 << 20);
  });
});
