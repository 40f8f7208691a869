/** The one table of error codes: every code is well formed and maps to a real SIP status. */
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, SbError, type ErrorCode } from '../../../src/util/errors.js';
import { REASON_PHRASES } from '../../../src/sip/status.js';

describe('error code table', () => {
  const codes = Object.keys(ERROR_CODES) as ErrorCode[];

  it('names every code SB_ERR_<AREA>_<WHAT>', () => {
    for (const c of codes) expect(c).toMatch(/^SB_ERR_[A-Z0-9]+_[A-Z0-9_]+$/);
  });

  it('maps every code to a final SIP status with a reason (400–699)', () => {
    for (const c of codes) {
      const { status, reason } = ERROR_CODES[c];
      expect(status, c).toBeGreaterThanOrEqual(400);
      expect(status, c).toBeLessThan(700);
      expect(reason.length, c).toBeGreaterThan(0);
      expect(REASON_PHRASES[status], `${c}: ${status} is not a status we know`).toBeDefined();
    }
  });

  it('gives an SbError its code, status and a reason naming the detail', () => {
    const e = new SbError('SB_ERR_VALIDATE_MISSING_HEADER', 'call-id');
    expect(e.code).toBe('SB_ERR_VALIDATE_MISSING_HEADER');
    expect(e.status).toBe(400);
    expect(e.reason).toContain('call-id');
  });
});
