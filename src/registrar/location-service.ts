/**
 * The location service (RFC 3261 §10.2, §16.5): bindings of each
 * address-of-record, and their SQLite store.
 *
 * Design (BENCHMARKING.md: 25k upserts/s one row per transaction, 160k/s
 * batched):
 *   - every binding is held in memory, `Map<aor, Binding[]>`, loaded from
 *     SQLite when the store is built. Reads never touch the database.
 *   - writes change memory at once and are queued; the queue is written in
 *     ONE transaction (group commit: the next event-loop turn after a quiet
 *     spell, at most once per commitWindowMs under load) by a BindingWriter
 *     (binding-writer.ts: inline, or a worker thread with its own
 *     connection), then each writer's `done` callback runs. The registrar
 *     sends its 200 from `done`, so a client is only told "registered" once
 *     the binding is on disk.
 *   - a failed batch reloads the affected AORs from the database (memory goes
 *     back to what is on disk) and every waiter gets the error.
 *   - at start, flow-bound bindings on connections (TCP/TLS/WS/WSS) are
 *     dropped: their connections died with the previous process. UDP
 *     bindings, flow-bound or not, survive (a UDP flow is an address pair).
 *   - expiry is read against `now` on lookup; a periodic sweep on the injected
 *     clock deletes expired bindings from memory and disk.
 */
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { Database } from '../store/database.js';
import { COLUMNS, InlineBindingWriter, type BatchRow, type BindingWriter } from './binding-writer.js';
import { compareBindings, samePath, type Binding, type BindingTransport } from './binding.js';

/** What the proxy sees of the registrar (DESIGN.md: proxy imports only this). */
export interface LocationService {
  /** Live bindings of the AOR key (see aorOf), sorted by q descending, then most recently updated. */
  lookup(aor: string, now: number): Binding[];
}

export type CommitCallback = (err: Error | null) => void;

export interface CommitInfo {
  /** rows written (upserts + deletes; a sweep counts as one) */
  changes: number;
  /** writers waiting on this commit */
  waiters: number;
  ok: boolean;
}

export interface LocationStoreOptions {
  db: Database;
  clock: Clock;
  logger?: Logger;
  /** period of the expiry sweep started by start() (default 30 s) */
  sweepIntervalMs?: number;
  /** called after each batch commit (for a counter / histogram) */
  onCommit?(info: CommitInfo): void;
  /** called with the bindings each sweep removed (metrics: unregistrations by expiry) */
  onExpired?(removed: readonly Binding[]): void;
  /**
   * Group commit: at most one commit per this many milliseconds. A change
   * made after a quiet spell is committed in the next event-loop turn; under
   * load, changes wait up to this long and share one commit. Default 0:
   * every turn's changes are committed in the next turn (the server passes
   * its --commit-window).
   */
  commitWindowMs?: number;
  /**
   * Builds the writer of the batches (default: InlineBindingWriter on `db`,
   * which commits inside flush(); the server passes a ThreadBindingWriter
   * for a database file).
   */
  writer?(db: Database): BindingWriter;
}

/** A batch this large is committed in the next turn without waiting for the window. */
const MAX_BATCH = 512;

type Change =
  /** `refresh`: the row on disk (or queued before) differs only in the columns a refresh writes */
  | { op: 'upsert'; binding: Binding; refresh: boolean }
  | { op: 'remove'; aor: string; key: string }
  | { op: 'expire'; now: number };

interface BindingRow {
  aor: string;
  binding_key: string;
  contact: string;
  contact_header: string;
  q: number | null;
  expires_at: number;
  call_id: string;
  cseq: number;
  user_agent: string | null;
  received: string | null;
  transport: string;
  flow_id: string | null;
  instance_id: string | null;
  reg_id: number | null;
  path: string | null;
  updated_at: number;
}


function toBinding(r: BindingRow): Binding {
  let path: string[] = [];
  if (r.path) {
    try {
      const p: unknown = JSON.parse(r.path);
      if (Array.isArray(p)) path = p.filter((x): x is string => typeof x === 'string');
    } catch {
      path = [];
    }
  }
  return {
    aor: r.aor,
    key: r.binding_key,
    contact: r.contact,
    contactHeader: r.contact_header,
    q: r.q,
    expiresAt: r.expires_at,
    callId: r.call_id,
    cseq: r.cseq,
    userAgent: r.user_agent,
    received: r.received ?? '',
    transport: r.transport.toUpperCase() as BindingTransport,
    flowId: r.flow_id,
    instanceId: r.instance_id,
    regId: r.reg_id,
    path,
    updatedAt: r.updated_at,
  };
}

/**
 * true when `after` differs from `before` (the same aor and key) only in
 * what a re-registration changes: expiry, Call-ID, CSeq, update time.
 */
function onlyRefreshed(before: Binding, after: Binding): boolean {
  return (
    before.contact === after.contact &&
    before.contactHeader === after.contactHeader &&
    before.q === after.q &&
    before.userAgent === after.userAgent &&
    before.received === after.received &&
    before.transport === after.transport &&
    before.flowId === after.flowId &&
    before.instanceId === after.instanceId &&
    before.regId === after.regId &&
    samePath(before.path, after.path)
  );
}

function toRow(b: Binding, refresh: boolean): BatchRow {
  if (refresh) return { op: 'refresh', params: [b.expiresAt, b.callId, b.cseq, b.updatedAt, b.aor, b.key] };
  return { op: 'upsert', params: [
    b.aor, b.key, b.contact, b.contactHeader, b.q, b.expiresAt, b.callId, b.cseq,
    b.userAgent, b.received, b.transport, b.flowId, b.instanceId, b.regId,
    b.path.length ? JSON.stringify(b.path) : null, b.updatedAt,
  ] };
}

export class SqliteLocationStore implements LocationService {
  private readonly byAor = new Map<string, Binding[]>();
  private readonly byFlow = new Map<string, Set<Binding>>();
  private total = 0;

  private pending: Change[] = [];
  private waiters: CommitCallback[] = [];
  /** the pending flush: a next-turn immediate, or a timeout until the commit window ends */
  private scheduled: NodeJS.Immediate | null = null;
  private delayed: NodeJS.Timeout | null = null;
  /** performance.now() of the last commit */
  private lastCommitAt = -Infinity;
  private readonly commitWindowMs: number;
  private sweepTimer: TimerHandle | undefined;
  private running = false;
  /** batches written so far (one transaction each) */
  commits = 0;

  private readonly db: Database;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  private readonly sweepIntervalMs: number;
  private readonly onCommit: LocationStoreOptions['onCommit'];
  private readonly onExpired: LocationStoreOptions['onExpired'];
  private readonly writer: BindingWriter;
  private readonly selectAorStmt;

  constructor(opts: LocationStoreOptions) {
    this.db = opts.db;
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.sweepIntervalMs = opts.sweepIntervalMs ?? 30_000;
    this.onCommit = opts.onCommit;
    this.onExpired = opts.onExpired;
    this.commitWindowMs = opts.commitWindowMs ?? 0;
    const db = opts.db;
    this.selectAorStmt = db.prepare<[string], BindingRow>(`SELECT ${COLUMNS} FROM bindings WHERE aor = ?`);
    this.writer = opts.writer?.(db) ?? new InlineBindingWriter(db);
    this.load();
  }

  /** Loads every binding, after deleting expired ones and those bound to connections of a previous run. */
  private load(): void {
    const now = this.clock.now();
    const dropped = this.db
      .prepare<[number]>(
        "DELETE FROM bindings WHERE expires_at <= ? OR (flow_id IS NOT NULL AND upper(transport) <> 'UDP')",
      )
      .run(now).changes;
    const rows = this.db.prepare<[], BindingRow>(`SELECT ${COLUMNS} FROM bindings ORDER BY id`).all();
    for (const r of rows) this.put(toBinding(r));
    this.logger?.info({ bindings: this.total, dropped }, 'location service loaded');
  }

  // ------------------------------------------------------------------ reads

  lookup(aor: string, now: number): Binding[] {
    const list = this.byAor.get(aor);
    if (!list) return [];
    const out: Binding[] = [];
    for (const b of list) if (b.expiresAt > now) out.push(b);
    return out.length > 1 ? out.sort(compareBindings) : out;
  }

  /** Every binding of the AOR held in memory, expired or not, in no order. */
  get(aor: string): readonly Binding[] {
    return this.byAor.get(aor) ?? [];
  }

  /** Bindings held in memory (expired ones count until the next sweep). */
  count(): number {
    return this.total;
  }

  /** Every binding in memory, by AOR then lookup order (for the CLI and admin API). */
  all(): Binding[] {
    const out: Binding[] = [];
    for (const aor of [...this.byAor.keys()].sort()) out.push(...[...this.byAor.get(aor)!].sort(compareBindings));
    return out;
  }

  /** Changes queued for the next commit. */
  get pendingChanges(): number {
    return this.pending.length;
  }

  // ------------------------------------------------------------------ writes

  /**
   * Applies one AOR's update atomically in memory (removals first, then
   * upserts, which replace bindings with the same key) and queues it for
   * the next batch commit; `done` runs after that commit.
   */
  apply(aor: string, upserts: readonly Binding[], removals: readonly Binding[], done?: CommitCallback): void {
    const changes: Change[] = [];
    for (const r of removals) {
      if (r.aor !== aor) throw new Error(`binding of ${r.aor} removed through ${aor}`);
      if (this.drop(r.aor, r.key)) changes.push({ op: 'remove', aor: r.aor, key: r.key });
    }
    for (const u of upserts) {
      if (u.aor !== aor) throw new Error(`binding of ${u.aor} stored through ${aor}`);
      const before = this.put(u);
      changes.push({ op: 'upsert', binding: u, refresh: before !== undefined && onlyRefreshed(before, u) });
    }
    this.commit(changes, done);
  }

  /** Removes every binding bound to the flow (RFC 5626 §5.3: a failed flow takes its bindings). */
  removeFlow(flowId: string): Binding[] {
    const set = this.byFlow.get(flowId);
    if (!set) return [];
    const removed = [...set];
    const changes: Change[] = [];
    for (const b of removed) {
      if (this.drop(b.aor, b.key)) changes.push({ op: 'remove', aor: b.aor, key: b.key });
    }
    this.commit(changes);
    return removed;
  }

  /** Deletes bindings expired at now, from memory at once and from disk in the next commit. */
  sweep(now: number): Binding[] {
    const removed: Binding[] = [];
    for (const [aor, list] of this.byAor) {
      let expired = false;
      for (const b of list) {
        if (b.expiresAt <= now) {
          expired = true;
          break;
        }
      }
      if (!expired) continue;
      const keep: Binding[] = [];
      for (const b of list) {
        if (b.expiresAt > now) keep.push(b);
        else {
          removed.push(b);
          this.unindexFlow(b);
        }
      }
      this.total -= list.length - keep.length;
      if (keep.length) this.byAor.set(aor, keep);
      else this.byAor.delete(aor);
    }
    // the same condition on disk; queued behind earlier writes, so disk follows memory
    if (removed.length) this.commit([{ op: 'expire', now }]);
    return removed;
  }

  /** Starts the periodic sweep on the clock. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.armSweep();
  }

  /** Stops the sweep and hands whatever is queued to the writer, now (close() also waits for the disk). */
  stop(): void {
    this.running = false;
    this.clock.clearTimer(this.sweepTimer);
    this.sweepTimer = undefined;
    this.flush();
  }

  /**
   * Hands every queued change to the writer as one transaction; the waiting
   * callbacks run once it committed (inline: before flush returns).
   */
  flush(): void {
    this.unschedule();
    if (this.pending.length === 0 && this.waiters.length === 0) return;
    this.lastCommitAt = performance.now();
    const changes = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    if (changes.length === 0) {
      this.committed(changes, waiters, null);
      return;
    }
    const rows: BatchRow[] = [];
    for (const c of changes) rows.push(c.op === 'upsert' ? toRow(c.binding, c.refresh) : c);
    this.writer.write(rows, (err) => this.committed(changes, waiters, err));
  }

  /** Stops the sweep, writes whatever is queued and waits for every batch to be on disk. */
  async close(): Promise<void> {
    this.stop();
    await this.writer.close();
  }


  private committed(changes: Change[], waiters: CommitCallback[], err: Error | null): void {
    if (err) {
      this.logger?.error({ err, changes: changes.length }, 'location service commit failed; affected AORs reloaded');
      this.reload(changes);
    } else if (changes.length) {
      this.commits++;
    }
    this.onCommit?.({ changes: changes.length, waiters: waiters.length, ok: err === null });
    for (const w of waiters) {
      try {
        w(err);
      } catch (e) {
        this.logger?.error({ err: e }, 'location service commit callback failed');
      }
    }
  }

  // ------------------------------------------------------------------ internals

  /**
   * Queues changes for a group commit. Each commit costs about as much as
   * tens of rows, so under load they are paced to one per commit window;
   * the window runs on real time because it paces disk I/O, not protocol
   * timers (those run on the injected clock). Callers are answered only
   * after the commit that holds their changes.
   */
  private commit(changes: Change[], done?: CommitCallback): void {
    for (const c of changes) this.pending.push(c);
    if (done) this.waiters.push(done);
    if (this.pending.length === 0 && this.waiters.length === 0) return;
    if (this.scheduled) return;
    const wait = this.lastCommitAt + this.commitWindowMs - performance.now();
    if (wait <= 0 || this.pending.length >= MAX_BATCH) {
      if (this.delayed) {
        clearTimeout(this.delayed);
        this.delayed = null;
      }
      this.scheduled = setImmediate(this.flushNow);
    } else if (!this.delayed) {
      this.delayed = setTimeout(this.flushNow, Math.ceil(wait));
    }
  }

  private readonly flushNow = (): void => {
    this.scheduled = null;
    this.delayed = null;
    this.flush();
  };

  private unschedule(): void {
    if (this.scheduled) {
      clearImmediate(this.scheduled);
      this.scheduled = null;
    }
    if (this.delayed) {
      clearTimeout(this.delayed);
      this.delayed = null;
    }
  }

  private armSweep(): void {
    this.sweepTimer = this.clock.setTimer(this.sweepIntervalMs, () => {
      if (!this.running) return;
      const removed = this.sweep(this.clock.now());
      if (removed.length) {
        this.logger?.debug({ removed: removed.length }, 'expired bindings swept');
        this.onExpired?.(removed);
      }
      this.armSweep();
    });
  }

  /** Puts a binding in memory, replacing the one with the same (aor, key), which it returns. */
  private put(b: Binding): Binding | undefined {
    let list = this.byAor.get(b.aor);
    if (!list) {
      list = [];
      this.byAor.set(b.aor, list);
    }
    const i = list.findIndex((x) => x.key === b.key);
    let before: Binding | undefined;
    if (i === -1) {
      list.push(b);
      this.total++;
    } else {
      before = list[i]!;
      this.unindexFlow(before);
      list[i] = b;
    }
    if (b.flowId !== null) {
      let set = this.byFlow.get(b.flowId);
      if (!set) {
        set = new Set();
        this.byFlow.set(b.flowId, set);
      }
      set.add(b);
    }
    return before;
  }

  private drop(aor: string, key: string): boolean {
    const list = this.byAor.get(aor);
    if (!list) return false;
    const i = list.findIndex((x) => x.key === key);
    if (i === -1) return false;
    this.unindexFlow(list[i]!);
    list.splice(i, 1);
    this.total--;
    if (list.length === 0) this.byAor.delete(aor);
    return true;
  }

  private unindexFlow(b: Binding): void {
    if (b.flowId === null) return;
    const set = this.byFlow.get(b.flowId);
    if (!set) return;
    set.delete(b);
    if (set.size === 0) this.byFlow.delete(b.flowId);
  }

  /** After a failed commit: memory of the touched AORs goes back to what is on disk. */
  private reload(changes: Change[]): void {
    const aors = new Set<string>();
    let all = false;
    for (const c of changes) {
      if (c.op === 'upsert') aors.add(c.binding.aor);
      else if (c.op === 'remove') aors.add(c.aor);
      else all = true;
    }
    if (all) for (const aor of this.byAor.keys()) aors.add(aor);
    for (const aor of aors) {
      for (const b of [...this.get(aor)]) this.drop(aor, b.key);
      try {
        for (const r of this.selectAorStmt.all(aor)) this.put(toBinding(r));
      } catch (e) {
        this.logger?.error({ err: e, aor }, 'location service reload failed');
      }
    }
  }
}
