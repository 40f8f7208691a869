/**
 * Issue 5: the location service's SQLite writes run in a worker thread
 * (ThreadBindingWriter). The thread runs the compiled script, so this test
 * loads the built modules from dist/ (npm test builds first).
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../support/server-process.js';

type Writer = import('../../src/registrar/binding-writer.js').ThreadBindingWriter;
type Row = import('../../src/registrar/binding-writer.js').BatchRow;
type Db = import('../../src/store/database.js').Database;

const dist = (p: string) => import(/* @vite-ignore */ new URL(`../../dist/${p}`, import.meta.url).href);
const { ThreadBindingWriter } = (await dist('registrar/binding-writer.js')) as typeof import('../../src/registrar/binding-writer.js');
const { openDatabase } = (await dist('store/database.js')) as typeof import('../../src/store/database.js');

function upsert(i: number, cseq = 1): Row {
  const contact = `sip:user${i}@192.0.2.1:5060`;
  return {
    op: 'upsert',
    params: [`sip:user${i}@example.test`, `uri ${contact}`, contact, `<${contact}>`, null, 2e12, 'call-1', cseq, null, '192.0.2.1:5060', 'UDP', null, null, null, null, 1e12],
  };
}

function rows(db: Db): Array<{ aor: string; cseq: number }> {
  return db.prepare('SELECT aor, cseq FROM bindings ORDER BY aor').all() as Array<{ aor: string; cseq: number }>;
}

let dir: string;
let db: Db;
let writer: Writer | undefined;
beforeEach(() => {
  dir = tempDir('sb-writer-');
  db = openDatabase(join(dir, 'sb.db'));
});
afterEach(async () => {
  await writer?.close();
  writer = undefined;
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ThreadBindingWriter', () => {
  it('is available in the build', () => {
    expect(ThreadBindingWriter.available()).toBe(true);
  });

  it('runs at the priority of the thread that answers SIP (the 200s wait for its commits)', async () => {
    if (process.platform !== 'linux') return;
    /** nice value of each thread of this process (field 19 of /proc/self/task/TID/stat) */
    const niceOf = () =>
      readdirSync('/proc/self/task').map((tid) => Number(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]));
    const before = niceOf().length;
    const w = new ThreadBindingWriter(db.name, db);
    writer = w;
    await new Promise<void>((resolve, reject) => w.write([upsert(1)], (err) => (err ? reject(err) : resolve())));
    const nice = niceOf();
    // the writer thread (and V8's own threads for it) exist now
    expect(nice.length).toBeGreaterThan(before);
    expect(new Set(nice)).toEqual(new Set([nice[0]]));
  });

  it('commits each batch in its own transaction, in order, answering each after its commit', async () => {
    const w = new ThreadBindingWriter(db.name, db);
    writer = w;
    const seen: string[] = [];
    const done = (tag: string) =>
      new Promise<void>((resolve) =>
        w.write(tag === 'a' ? [upsert(1), upsert(2)] : tag === 'b' ? [upsert(1, 2), { op: 'remove', aor: 'sip:user2@example.test', key: 'uri sip:user2@192.0.2.1:5060' }] : [upsert(3)], (err) => {
          // what this thread's own connection sees when the callback runs: the batch is on disk
          seen.push(`${tag} ${err} ${JSON.stringify(rows(db))}`);
          resolve();
        }),
      );
    await Promise.all([done('a'), done('b'), done('c')]);
    // callbacks in the order of the batches; each sees its batch on disk (later ones may be there too)
    expect(seen.map((x) => x.slice(0, 6))).toEqual(['a null', 'b null', 'c null']);
    expect(seen[0]).toContain('"aor":"sip:user1@example.test"');
    expect(seen[1]).toContain('{"aor":"sip:user1@example.test","cseq":2}');
    expect(seen[1]).not.toContain('user2');
    expect(seen[2]).toBe('c null [{"aor":"sip:user1@example.test","cseq":2},{"aor":"sip:user3@example.test","cseq":1}]');
  });

  it('reports a failed batch to its callback, writes none of it, and goes on with the next', async () => {
    const w = new ThreadBindingWriter(db.name, db);
    writer = w;
    const bad = upsert(9);
    if (bad.op === 'upsert') bad.params[6] = null as unknown as string; // call_id is NOT NULL
    const errs: Array<string | null> = [];
    await new Promise<void>((resolve) => w.write([upsert(8), bad], (err) => (errs.push(err?.message ?? null), resolve())));
    await new Promise<void>((resolve) => w.write([upsert(7)], (err) => (errs.push(err?.message ?? null), resolve())));
    expect(errs[0]).toMatch(/NOT NULL/);
    expect(errs[1]).toBeNull();
    expect(rows(db).map((r) => r.aor)).toEqual(['sip:user7@example.test']);
  });

  it('close() waits until every batch sent before it is on disk', async () => {
    const w = new ThreadBindingWriter(db.name, db);
    const calls: number[] = [];
    for (let i = 0; i < 50; i++) w.write([upsert(i)], () => calls.push(i));
    await w.close();
    expect(calls).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(rows(db)).toHaveLength(50);
  });

  it('after the thread has gone, writes run inline on the given connection', async () => {
    const w = new ThreadBindingWriter(db.name, db);
    await w.close();
    let result: string | null | undefined;
    w.write([upsert(5)], (err) => (result = err?.message ?? null));
    expect(result).toBeNull();
    expect(rows(db).map((r) => r.aor)).toEqual(['sip:user5@example.test']);
  });
});
