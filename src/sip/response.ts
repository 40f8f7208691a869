/**
 * Building a response to a request, RFC 3261 §8.2.6.
 */
import { randomFillSync } from 'node:crypto';
import { SipResponse, type SipRequest } from './message.js';
import { reasonPhrase } from './status.js';

// Tags are cut from a pool of CSPRNG bytes refilled 4 KiB at a time: one
// randomBytes(6) call costs microseconds, most of it call overhead.
const TAG_POOL = Buffer.alloc(4096);
let tagPos = TAG_POOL.length;

/** A fresh tag (§19.3: at least 32 bits of randomness): 48 random bits, hex. */
export function newTag(): string {
  if (tagPos + 6 > TAG_POOL.length) {
    randomFillSync(TAG_POOL);
    tagPos = 0;
  }
  const tag = TAG_POOL.toString('hex', tagPos, tagPos + 6);
  tagPos += 6;
  return tag;
}

/** this process's part of every stateless tag: 32 random bits (§19.3) */
const STATELESS_TAG_PREFIX = newTag().slice(0, 8);

/**
 * §8.2.7: a stateless UAS gives the same To tag to every response it
 * regenerates for the same request. The tag is this process's random prefix
 * and a 32-bit FNV-1a hash of what tells the request apart: the top Via
 * branch, Call-ID, From tag and CSeq.
 */
export function statelessTag(req: SipRequest): string {
  let h = fnv1a(0x811c9dc5, req.topVia()?.branch ?? '');
  h = fnv1a(h, req.callId() ?? '');
  h = fnv1a(h, req.fromTag() ?? '');
  h = fnv1a(h, req.get('cseq') ?? '');
  return STATELESS_TAG_PREFIX + HEX[(h >>> 24) & 0xff]! + HEX[(h >>> 16) & 0xff]! + HEX[(h >>> 8) & 0xff]! + HEX[h & 0xff]!;
}

/** two hex digits per byte value: a uint32 above 2^30 is a heap number, whose toString(16) takes V8's slow double path */
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** FNV-1a over the string's code units, then a separator byte */
function fnv1a(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return Math.imul(h ^ 0xff, 0x01000193);
}

export interface ResponseOptions {
  reason?: string;
  /** To tag to add when the request's To has none (§8.2.6.2). Ignored for 100. */
  toTag?: string;
  headers?: Array<[string, string]>;
  body?: Buffer;
  contentType?: string;
}

/**
 * §8.2.6.2: From, Call-ID, CSeq and every Via are copied in order; To is
 * copied and gets a tag unless it has one or the response is 100 Trying.
 * §8.2.6.1: a 100 copies the Timestamp header.
 */
export function createResponse(req: SipRequest, status: number, opts: ResponseOptions = {}): SipResponse {
  const res = new SipResponse(status, opts.reason ?? reasonPhrase(status));
  for (const h of req.headers) {
    if (h.name === 'via' || h.name === 'from' || h.name === 'call-id' || h.name === 'cseq') res.append(h.name, h.value);
  }
  // the same Via lines: the request's parsed values serve the response too
  res.shareViasOf(req);
  const to = req.get('to');
  if (to !== undefined) {
    const needsTag = status !== 100 && req.toTag() === undefined && req.to() != null;
    res.append('to', needsTag ? `${to};tag=${opts.toTag ?? newTag()}` : to);
  }
  if (status === 100) {
    const ts = req.get('timestamp');
    if (ts !== undefined) res.append('timestamp', ts);
  }
  if (opts.headers) for (const [k, v] of opts.headers) res.append(k, v);
  if (opts.body && opts.body.length) {
    res.body = opts.body;
    if (opts.contentType) res.append('content-type', opts.contentType);
  }
  return res;
}
