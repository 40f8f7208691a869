import { describe, expect, it } from 'vitest';
import { detached } from '../../../src/util/strings.js';

describe('detached', () => {
  it('returns an equal string, for short, long, sliced and latin1 text', () => {
    const text = 'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-\u00e9\u00ff-long-branch-value;rport';
    for (const s of ['', 'short', text, text.slice(20, 70), text.slice(5) + ';received=192.0.2.9']) {
      expect(detached(s)).toBe(s);
    }
  });
});
