/**
 * The target set (RFC 3261 §16.5) and the order it is tried in (§16.6,
 * §16.7): targets of the highest q value are tried in parallel; when every
 * branch of that group has failed (no 2xx, no 6xx), the next lower q group
 * is tried, and so on.
 *
 * A contact without a q value counts as q = 1.0 (as compareBindings does;
 * §16.6 leaves it open).
 */
import type { Binding } from '../registrar/binding.js';
import type { Flow, Target, TransportProtocol } from '../transport/transport.js';

/** One place a request may be forwarded to. */
export interface ProxyTarget {
  /** the Request-URI of the branch (§16.6 step 2) */
  readonly uri: string;
  readonly q: number;
  /** RFC 3327 §5.3: the binding's Path, turned into Route headers above any others */
  readonly path: readonly string[];
  /** RFC 5626 / RFC 7118: the flow the binding is bound to (a connection id; for UDP the address pair) */
  readonly flowId: string | null;
  /** the transport the binding registered over, and its source ("ip:port"), for a UDP flow-bound binding */
  readonly transport: TransportProtocol | null;
  readonly received: string | null;
  /** an RFC 5626 Outbound binding: a lost flow answers 430 Flow Failed, not 480 */
  readonly outbound: boolean;
  /** send on this flow (a flow token of our Route), whatever the URI says */
  readonly flow: Flow | null;
}

/** A target for a Request-URI (a foreign domain, an in-dialog request), optionally pinned to a flow. */
export function uriTarget(uri: string, flow: Flow | null = null): ProxyTarget {
  return { uri, q: 1, path: [], flowId: null, transport: null, received: null, outbound: false, flow };
}

/** §16.5: the target of a binding of the location service. */
export function bindingTarget(b: Binding): ProxyTarget {
  return {
    uri: b.contact,
    q: b.q ?? 1,
    path: b.path,
    flowId: b.flowId,
    transport: b.transport,
    received: b.received,
    outbound: b.regId !== null,
    flow: null,
  };
}

/**
 * Targets grouped by q value, highest first (§16.6: "in the order of q"),
 * each group in the order given (the location service orders equal q by the
 * most recent registration first). Duplicates (the same URI twice, §16.5:
 * a target is added to the set once) are dropped.
 */
export class TargetSet {
  readonly groups: ProxyTarget[][];
  private next = 0;

  constructor(targets: readonly ProxyTarget[]) {
    const seen = new Set<string>();
    const sorted = targets
      .filter((t) => {
        const key = t.uri + '\n' + (t.flowId ?? '');
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      })
      .map((t, i) => ({ t, i }))
      .sort((a, b) => b.t.q - a.t.q || a.i - b.i);
    const groups: ProxyTarget[][] = [];
    let q = NaN;
    for (const { t } of sorted) {
      if (t.q !== q) {
        groups.push([]);
        q = t.q;
      }
      groups[groups.length - 1]!.push(t);
    }
    this.groups = groups;
  }

  /** Targets in the set. */
  get size(): number {
    let n = 0;
    for (const g of this.groups) n += g.length;
    return n;
  }

  /** True while a group is left to try. */
  get hasNext(): boolean {
    return this.next < this.groups.length;
  }

  /** The next q group to try (§16.7: the next one only after the previous failed), or undefined. */
  nextGroup(): readonly ProxyTarget[] | undefined {
    return this.groups[this.next++];
  }
}

/** "ip:port" / "[v6]:port" (Binding.received) as a target of the given protocol. */
export function receivedTarget(received: string, protocol: TransportProtocol): Target | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(received) ?? /^([^:]+):(\d+)$/.exec(received);
  if (!m) return undefined;
  return { protocol, address: m[1]!, port: Number(m[2]) };
}
