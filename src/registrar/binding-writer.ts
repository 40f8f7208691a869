/**
 * Writing binding changes to SQLite, in batches (one transaction each).
 *
 * The location service keeps every binding in memory and sends each batch
 * of changes to a BindingWriter:
 *   - InlineBindingWriter runs the batch on the caller's connection, at once;
 *   - ThreadBindingWriter runs it on a connection of its own in a worker
 *     thread (binding-writer-thread.ts), so the event loop that answers SIP
 *     never waits for SQLite: page writes, WAL appends and the fsync of a
 *     checkpoint all happen beside it. Batches are written in the order they
 *     were sent, and each one's callback runs when its transaction has
 *     committed (or failed).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Database } from '../store/database.js';
import type { Logger } from '../util/logger.js';

/** One row of an upsert, in the order of COLUMNS. */
export type UpsertParams = [
  string, string, string, string, number | null, number, string, number,
  string | null, string, string, string | null, string | null, number | null, string | null, number,
];

export const COLUMNS =
  'aor, binding_key, contact, contact_header, q, expires_at, call_id, cseq, user_agent, received, transport, flow_id, instance_id, reg_id, path, updated_at';

/**
 * A binding whose identity and route did not change since the row on disk
 * (a re-registration): only these columns are written, in this order.
 */
export type RefreshParams = [expiresAt: number, callId: string, cseq: number, updatedAt: number, aor: string, key: string];

/** A change as written: plain data, so that it can cross to a worker thread. */
export type BatchRow =
  | { op: 'upsert'; params: UpsertParams }
  | { op: 'refresh'; params: RefreshParams }
  | { op: 'remove'; aor: string; key: string }
  | { op: 'expire'; now: number };

export type BatchDone = (err: Error | null) => void;

export interface BindingWriter {
  /** Writes the rows in one transaction; `done` runs after it committed or failed. */
  write(rows: BatchRow[], done: BatchDone): void;
  /** Writes what was sent, then lets go of the connection. */
  close(): Promise<void>;
}

/** The batch as one SQLite transaction on `db` (the statements live here only). */
export function prepareBatch(db: Database): (rows: BatchRow[]) => void {
  const upsert = db.prepare<UpsertParams>(
    `INSERT INTO bindings (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (aor, binding_key) DO UPDATE SET
       contact = excluded.contact, contact_header = excluded.contact_header, q = excluded.q,
       expires_at = excluded.expires_at, call_id = excluded.call_id, cseq = excluded.cseq,
       user_agent = excluded.user_agent, received = excluded.received, transport = excluded.transport,
       flow_id = excluded.flow_id, instance_id = excluded.instance_id, reg_id = excluded.reg_id,
       path = excluded.path, updated_at = excluded.updated_at`,
  );
  // narrower than the upsert: SQLite then leaves the (aor, binding_key) and flow_id indexes alone
  const refresh = db.prepare<RefreshParams>(
    'UPDATE bindings SET expires_at = ?, call_id = ?, cseq = ?, updated_at = ? WHERE aor = ? AND binding_key = ?',
  );
  const remove = db.prepare<[string, string]>('DELETE FROM bindings WHERE aor = ? AND binding_key = ?');
  const expire = db.prepare<[number]>('DELETE FROM bindings WHERE expires_at <= ?');
  return db.transaction((rows: BatchRow[]) => {
    for (const r of rows) {
      if (r.op === 'upsert') upsert.run(...r.params);
      else if (r.op === 'refresh') {
        // the location service sends a refresh only for a row it wrote before; a row missing here
        // means memory and disk disagree: failing the batch reloads memory from disk
        if (refresh.run(...r.params).changes !== 1) throw new Error(`refresh of a binding not on disk: ${r.params[4]}`);
      } else if (r.op === 'remove') remove.run(r.aor, r.key);
      else expire.run(r.now);
    }
  });
}

/**
 * A batch flattened into one array of primitives for the trip to the
 * thread: structured cloning one flat array costs a fraction of cloning an
 * object and an array per row. Each row is its op letter followed by its
 * values ('u' + the 16 upsert params, 'f' + the 6 refresh params,
 * 'r' + aor and key, 'e' + now).
 */
export type FlatBatch = Array<string | number | null>;

export function flatten(rows: BatchRow[]): FlatBatch {
  // grown by push, not sized with new Array(n): structured cloning takes its fast path only for a
  // packed array, and a pre-sized one is holey (cloned element by element through property lookups)
  const out: FlatBatch = [];
  for (const r of rows) {
    if (r.op === 'upsert') {
      out.push('u');
      for (const v of r.params) out.push(v);
    } else if (r.op === 'refresh') {
      out.push('f');
      for (const v of r.params) out.push(v);
    } else if (r.op === 'remove') out.push('r', r.aor, r.key);
    else out.push('e', r.now);
  }
  return out;
}

export function unflatten(flat: FlatBatch): BatchRow[] {
  const rows: BatchRow[] = [];
  let i = 0;
  while (i < flat.length) {
    const op = flat[i++];
    if (op === 'u') {
      rows.push({ op: 'upsert', params: flat.slice(i, i + 16) as UpsertParams });
      i += 16;
    } else if (op === 'f') {
      rows.push({ op: 'refresh', params: flat.slice(i, i + 6) as RefreshParams });
      i += 6;
    } else if (op === 'r') {
      rows.push({ op: 'remove', aor: flat[i] as string, key: flat[i + 1] as string });
      i += 2;
    } else if (op === 'e') {
      rows.push({ op: 'expire', now: flat[i] as number });
      i += 1;
    } else throw new Error(`bad batch op ${String(op)}`);
  }
  return rows;
}

/** Runs each batch at once on the given connection; `done` is called before write() returns. */
export class InlineBindingWriter implements BindingWriter {
  private readonly batch: (rows: BatchRow[]) => void;

  constructor(db: Database) {
    this.batch = prepareBatch(db);
  }

  write(rows: BatchRow[], done: BatchDone): void {
    let err: Error | null = null;
    try {
      this.batch(rows);
    } catch (e) {
      err = e instanceof Error ? e : new Error(String(e));
    }
    done(err);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The thread's compiled script, beside this module's. */
const THREAD_SCRIPT = new URL('./binding-writer-thread.js', import.meta.url);

/** Message from the thread: batch `id` committed, or failed with `error`. */
export interface ThreadReply {
  id: number;
  error?: string;
}

/**
 * Runs batches in a worker thread with its own connection to the database
 * file (WAL lets it write while this thread reads). Should the thread die,
 * the batches it held fail, and later ones run inline on `fallback`.
 */
export class ThreadBindingWriter implements BindingWriter {
  /** false when this module runs from its TypeScript source (in-process tests), where there is no compiled thread script */
  static available(): boolean {
    return existsSync(fileURLToPath(THREAD_SCRIPT));
  }

  private readonly worker: Worker;
  private readonly waiting = new Map<number, BatchDone>();
  private nextId = 1;
  private dead = false;
  private fallback: InlineBindingWriter | null = null;
  private readonly exited: Promise<void>;

  constructor(
    path: string,
    private readonly db: Database,
    private readonly logger?: Logger,
  ) {
    this.worker = new Worker(THREAD_SCRIPT, { workerData: { path } });
    this.worker.on('message', (m: ThreadReply) => {
      const done = this.waiting.get(m.id);
      if (done === undefined) return;
      this.waiting.delete(m.id);
      done(m.error === undefined ? null : new Error(m.error));
    });
    this.worker.on('error', (err) => this.logger?.error({ err }, 'binding writer thread failed'));
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        this.dead = true;
        if (this.waiting.size) {
          this.logger?.error({ code, batches: this.waiting.size }, 'binding writer thread exited with batches unwritten');
          const err = new Error('binding writer thread exited');
          for (const done of this.waiting.values()) done(err);
          this.waiting.clear();
        }
        resolve();
      });
    });
  }

  write(rows: BatchRow[], done: BatchDone): void {
    if (this.dead) {
      this.fallback ??= new InlineBindingWriter(this.db);
      this.fallback.write(rows, done);
      return;
    }
    const id = this.nextId++;
    this.waiting.set(id, done);
    this.worker.postMessage({ id, rows: flatten(rows) });
  }

  /** The thread writes every batch sent before this, closes its connection and exits. */
  close(): Promise<void> {
    if (!this.dead) this.worker.postMessage({ close: true });
    return this.exited;
  }
}
