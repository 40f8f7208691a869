/** RFC 3261 §16.7 steps 6 and 7: choosing the best final response, as a table. */
import { describe, expect, it } from 'vitest';
import { aggregateChallenges, selectBest, type Candidate } from '../../../src/proxy/response-context.js';
import { createResponse } from '../../../src/sip/response.js';
import { wire } from './harness.js';
import { request } from './harness.js';
import type { SipRequest } from '../../../src/sip/message.js';

const req = wire<SipRequest>(request());

function c(status: number, synthetic = false, headers: Array<[string, string]> = []): Candidate {
  return { res: createResponse(req, status, { headers }), synthetic };
}

const pick = (cs: Candidate[], cancelled = false): number | undefined => selectBest(cs, cancelled)?.res.status;

describe('selectBest', () => {
  const table: Array<[string, Candidate[], number | undefined, boolean?]> = [
    ['a 6xx wins over anything', [c(486), c(302), c(603), c(500)], 603],
    ['the first 6xx wins', [c(600), c(603)], 600],
    ['the lowest class wins (3xx over 4xx over 5xx)', [c(500), c(404), c(302)], 302],
    ['4xx over 5xx', [c(503), c(486)], 486],
    ['within a class, the first received', [c(486), c(404)], 486],
    ['within a class, a response telling how to resubmit (401, 407, 415, 420, 484)', [c(486), c(407)], 407],
    ['a received response over one made here', [c(408, true), c(480)], 480],
    ['after a CANCEL, a 487 over other 4xx/5xx', [c(486), c(487, true)], 487, true],
    ['after a CANCEL, a 6xx still wins', [c(487), c(603)], 603, true],
    ['nothing: undefined (the caller answers 408)', [], undefined],
  ];
  for (const [name, cs, want, cancelled] of table) {
    it(name, () => expect(pick(cs, cancelled ?? false)).toBe(want));
  }

  it('aggregates every WWW-Authenticate and Proxy-Authenticate of the 401/407 responses into the best one', () => {
    const a = c(401, false, [['WWW-Authenticate', 'Digest realm="a"']]);
    const b = c(407, false, [['Proxy-Authenticate', 'Digest realm="b"'], ['Proxy-Authenticate', 'Digest realm="b2"']]);
    const other = c(486, false, [['WWW-Authenticate', 'Digest realm="ignored"']]);
    const all = [a, b, other];
    const best = selectBest(all)!;
    expect(best).toBe(a);
    aggregateChallenges(best.res, all);
    expect(best.res.getAll('www-authenticate')).toEqual(['Digest realm="a"']);
    expect(best.res.getAll('proxy-authenticate')).toEqual(['Digest realm="b"', 'Digest realm="b2"']);
  });
});
