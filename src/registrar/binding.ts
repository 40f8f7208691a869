/**
 * A binding (RFC 3261 §10): one Contact registered for an address-of-record,
 * with what the registrar needs to order updates (Call-ID, CSeq, §10.3 step 7)
 * and what the proxy needs to reach the contact: the Path to it (RFC 3327) or
 * the flow it registered on (RFC 5626).
 *
 * Binding identity within an AOR is its `key` (RFC 5626 §6 changes what makes
 * two registrations "the same binding"):
 *   - `ob <instance> <reg-id>`  an Outbound registration (+sip.instance and reg-id, outbound applied)
 *   - `inst <instance>`         +sip.instance without an applied reg-id: one binding per instance
 *   - `uri <contact>`           a plain contact (RFC 3261 §10.3 step 7, URI comparison)
 */
import type { ServerTx } from '../core/sip-core.js';
import { isSipUri, parseUri, unescapeUri, type Uri } from '../sip/uri.js';

/** The transport a binding registered over ('UDP', 'TCP', 'TLS', 'WS', 'WSS'). */
export type BindingTransport = ServerTx['flow']['protocol'];

export interface Binding {
  /** canonical AOR key, see aorOf() */
  readonly aor: string;
  /** identity of the binding within its AOR (see the file note) */
  readonly key: string;
  /** the Contact URI as written, without angle brackets */
  readonly contact: string;
  /** the Contact value to echo in a 200 (name-addr with q, +sip.instance, reg-id…; no expires param) */
  readonly contactHeader: string;
  /** the q value as registered; null when the contact gave none */
  readonly q: number | null;
  /** ms since the epoch; the binding is live while now < expiresAt */
  readonly expiresAt: number;
  readonly callId: string;
  readonly cseq: number;
  readonly userAgent: string | null;
  /** source of the REGISTER, "ip:port" (IPv6 in brackets) */
  readonly received: string;
  readonly transport: BindingTransport;
  /** RFC 5626: the flow this binding is bound to (set only for flow-bound bindings) */
  readonly flowId: string | null;
  /** +sip.instance without quotes and angle brackets, e.g. "urn:uuid:…" */
  readonly instanceId: string | null;
  /** RFC 5626 reg-id, only when Outbound processing applied */
  readonly regId: number | null;
  /** RFC 3327 Path header values of the REGISTER, in order (as written) */
  readonly path: readonly string[];
  readonly updatedAt: number;
  /**
   * in memory only: the top Via branch of the REGISTER that wrote this
   * binding when its 200 ended the transaction (registrar.ts), by which a
   * retransmission of that REGISTER is recognised
   */
  readonly branch?: string | undefined;
  /**
   * in memory only: true from the update that wrote this binding with its
   * branch until that update's commit, while its 200 is not sent yet: a
   * retransmission meanwhile is absorbed (registrar.ts)
   */
  pending?: boolean;
}

/** The binding key of RFC 5626 §6 (see the file note). */
export function bindingKey(contact: string, instanceId: string | null, regId: number | null): string {
  if (instanceId !== null && regId !== null) return `ob ${instanceId} ${regId}`;
  if (instanceId !== null) return `inst ${instanceId}`;
  return `uri ${contact}`;
}

/** true for a key made from the Contact URI (compared by RFC 3261 §19.1.4 rules, not by text). */
export function isUriKey(key: string): boolean {
  return key.startsWith('uri ');
}

/**
 * The canonical address-of-record key of a SIP or SIPS URI: `sip:user@domain`
 * with the user unescaped, the domain lowercased, no port, parameters or
 * headers, and sips folded into sip (one AOR whichever scheme registered it).
 * null when the URI is not a sip/sips URI.
 */
export function aorOf(uri: Uri | string): string | null {
  const u = typeof uri === 'string' ? parseUri(uri) : uri;
  if (!u || !isSipUri(u)) return null;
  let host = u.host.toLowerCase();
  if (host.length > 1 && host.endsWith('.')) host = host.slice(0, -1); // "example.com." is example.com
  return u.user !== undefined && u.user !== '' ? `sip:${unescapeUri(u.user)}@${host}` : `sip:${host}`;
}

/** Seconds left before the binding expires, rounded up (what a 200's `expires` param carries). */
export function remainingSeconds(b: Binding, now: number): number {
  return Math.max(0, Math.ceil((b.expiresAt - now) / 1000));
}

/**
 * Lookup order: q descending (a contact without q counts as 1.0, as most
 * proxies treat it; RFC 3261 §16.6 leaves it open), then most recently updated.
 */
export function compareBindings(a: Binding, b: Binding): number {
  const qa = a.q ?? 1;
  const qb = b.q ?? 1;
  if (qa !== qb) return qb - qa;
  return b.updatedAt - a.updatedAt;
}

/** true when two Path header lists (RFC 3327) are the same values in the same order. */
export function samePath(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
