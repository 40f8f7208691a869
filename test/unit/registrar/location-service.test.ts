import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defaultMigrationsDir, listMigrations, openDatabase, schemaVersion, type Database } from '../../../src/store/database.js';
import { ManualClock } from '../../../src/util/clock.js';
import { SqliteLocationStore } from '../../../src/registrar/location-service.js';
import { InlineBindingWriter } from '../../../src/registrar/binding-writer.js';
import type { Binding } from '../../../src/registrar/binding.js';
import { turn } from './support.js';

const T0 = 1_700_000_000_000;
const AOR = 'sip:alice@example.com';

function binding(over: Partial<Binding> = {}): Binding {
  const contact = over.contact ?? 'sip:alice@192.0.2.10:5060';
  return {
    aor: AOR,
    key: `uri ${contact}`,
    contact,
    contactHeader: `<${contact}>`,
    q: null,
    expiresAt: T0 + 3_600_000,
    callId: 'reg-1',
    cseq: 1,
    userAgent: 'test/1.0',
    received: '192.0.2.10:5060',
    transport: 'UDP',
    flowId: null,
    instanceId: null,
    regId: null,
    path: [],
    updatedAt: T0,
    ...over,
  };
}

let db: Database;
let clock: ManualClock;
let store: SqliteLocationStore;
beforeEach(() => {
  db = openDatabase(':memory:');
  clock = new ManualClock(T0);
  store = new SqliteLocationStore({ db, clock, sweepIntervalMs: 10_000 });
});
afterEach(() => {
  store.stop();
  db.close();
});

function rowCount(d: Database = db): number {
  return (d.prepare('SELECT COUNT(*) AS n FROM bindings').get() as { n: number }).n;
}

describe('SqliteLocationStore', () => {
  it('applies to memory at once and to SQLite at the next turn, then calls done', async () => {
    const done = vi.fn();
    store.apply(AOR, [binding()], [], done);
    expect(store.lookup(AOR, T0)).toHaveLength(1);
    expect(rowCount()).toBe(0);
    expect(done).not.toHaveBeenCalled();
    await turn();
    expect(rowCount()).toBe(1);
    expect(done).toHaveBeenCalledWith(null);
  });

  it('round-trips every field through SQLite', async () => {
    const file = mkdtempSync(join(tmpdir(), 'sb-loc-'));
    try {
      const path = join(file, 'db.sqlite');
      const d1 = openDatabase(path);
      const s1 = new SqliteLocationStore({ db: d1, clock });
      const b = binding({
        key: 'ob urn:uuid:1 1',
        contactHeader: '"Alice" <sip:alice@192.0.2.10:5060>;q=0.7;+sip.instance="<urn:uuid:1>";reg-id=1',
        q: 0.7,
        flowId: 'udp:192.0.2.10:5060',
        instanceId: 'urn:uuid:1',
        regId: 1,
        path: ['<sip:edge.example.com;lr;ob>', '<sip:p2.example.com;lr>'],
      });
      s1.apply(AOR, [b], []);
      s1.stop();
      d1.close();
      const d2 = openDatabase(path);
      const s2 = new SqliteLocationStore({ db: d2, clock });
      expect(s2.lookup(AOR, T0)).toEqual([b]);
      d2.close();
    } finally {
      rmSync(file, { recursive: true, force: true });
    }
  });

  it('writes many updates of one turn in ONE transaction, and answers every writer only after it', async () => {
    const flush = vi.spyOn(store, 'flush');
    const order: string[] = [];
    for (let i = 0; i < 50; i++) {
      const aor = `sip:user${i}@example.com`;
      store.apply(aor, [binding({ aor, contact: `sip:user${i}@192.0.2.10` , key: `uri sip:user${i}@192.0.2.10` })], [], (err) => {
        order.push(`done ${i} rows=${rowCount()} err=${err}`);
      });
    }
    expect(order).toEqual([]);
    expect(rowCount()).toBe(0);
    await turn();
    expect(flush).toHaveBeenCalledTimes(1);
    expect(store.commits).toBe(1);
    expect(order).toHaveLength(50);
    // every callback saw all 50 rows on disk: the single commit came first
    expect(new Set(order.map((o) => o.replace(/^done \d+ /, '')))).toEqual(new Set(['rows=50 err=null']));
  });

  describe('group commit (commitWindowMs)', () => {
    const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const aorN = (i: number) => `sip:user${i}@example.com`;
    const bindingN = (i: number) => binding({ aor: aorN(i), contact: `sip:user${i}@192.0.2.10`, key: `uri sip:user${i}@192.0.2.10` });

    it('commits the first change after a quiet spell in the next turn', async () => {
      const s = new SqliteLocationStore({ db, clock, commitWindowMs: 200 });
      const done = vi.fn();
      s.apply(aorN(0), [bindingN(0)], [], done);
      await turn();
      expect(done).toHaveBeenCalledWith(null);
      expect(s.commits).toBe(1);
      s.stop();
    });

    it('holds changes made within the window and writes them in one commit when it ends, answering no one before', async () => {
      const s = new SqliteLocationStore({ db, clock, commitWindowMs: 150 });
      s.apply(aorN(0), [bindingN(0)], []);
      await turn();
      expect(s.commits).toBe(1);
      const done: number[] = [];
      // changes in several later turns, all inside the window that the first commit opened
      for (let i = 1; i <= 5; i++) {
        s.apply(aorN(i), [bindingN(i)], [], (err) => done.push(err === null ? rowCount() : -1));
        await turn();
      }
      expect(s.commits).toBe(1);
      expect(done).toEqual([]);
      expect(rowCount()).toBe(1);
      expect(s.pendingChanges).toBe(5);
      await wait(300);
      expect(s.commits).toBe(2);
      // every waiter ran after the one commit that holds all five rows
      expect(done).toEqual([6, 6, 6, 6, 6]);
      s.stop();
    });

    it('does not wait for the window once a batch is large', async () => {
      const s = new SqliteLocationStore({ db, clock, commitWindowMs: 60_000 });
      s.apply(aorN(0), [bindingN(0)], []);
      await turn();
      for (let i = 1; i <= 600; i++) s.apply(aorN(i), [bindingN(i)], []);
      await turn();
      expect(s.commits).toBe(2);
      expect(rowCount()).toBe(601);
      s.stop();
    });

    it('stop() writes what waits for the window at once', async () => {
      const s = new SqliteLocationStore({ db, clock, commitWindowMs: 60_000 });
      s.apply(aorN(0), [bindingN(0)], []);
      await turn();
      const done = vi.fn();
      s.apply(aorN(1), [bindingN(1)], [], done);
      await turn();
      expect(done).not.toHaveBeenCalled();
      s.stop();
      expect(done).toHaveBeenCalledWith(null);
      expect(rowCount()).toBe(2);
    });
  });

  it('replaces a binding with the same key and removes by key', async () => {
    store.apply(AOR, [binding({ cseq: 1 })], []);
    store.apply(AOR, [binding({ cseq: 2, expiresAt: T0 + 60_000 })], []);
    await turn();
    expect(store.count()).toBe(1);
    expect(store.lookup(AOR, T0)[0]!.cseq).toBe(2);
    expect(db.prepare('SELECT cseq, expires_at FROM bindings').get()).toEqual({ cseq: 2, expires_at: T0 + 60_000 });
    store.apply(AOR, [], [store.lookup(AOR, T0)[0]!]);
    await turn();
    expect(store.count()).toBe(0);
    expect(rowCount()).toBe(0);
  });

  describe('a re-registration writes only what it changed', () => {
    /** a store whose writer reports the op of every row it writes */
    function spied(): { s: SqliteLocationStore; ops: string[] } {
      const ops: string[] = [];
      const s = new SqliteLocationStore({
        db,
        clock,
        writer: (d) => {
          const inline = new InlineBindingWriter(d);
          return {
            write: (rows, done) => {
              for (const r of rows) ops.push(r.op);
              inline.write(rows, done);
            },
            close: () => inline.close(),
          };
        },
      });
      return { s, ops };
    }
    /** every binding as a fresh store loads it from the database */
    const onDisk = (): Binding[] => new SqliteLocationStore({ db, clock }).lookup(AOR, T0);

    it('expiry, Call-ID, CSeq and update time alone are a refresh; any other change is a full upsert', async () => {
      const { s, ops } = spied();
      s.apply(AOR, [binding()], []);
      s.apply(AOR, [binding({ callId: 'reg-2', cseq: 7, expiresAt: T0 + 120_000, updatedAt: T0 + 5 })], []);
      await turn();
      expect(ops).toEqual(['upsert', 'refresh']);
      expect(onDisk()).toEqual(s.lookup(AOR, T0));
      expect(onDisk()[0]).toMatchObject({ callId: 'reg-2', cseq: 7, expiresAt: T0 + 120_000, updatedAt: T0 + 5 });

      const changed: Partial<Binding>[] = [
        { received: '192.0.2.99:5060' },
        { contactHeader: '<sip:alice@192.0.2.10:5060>;q=0.5', q: 0.5 },
        { userAgent: 'other/2.0' },
        { transport: 'TCP' },
        { path: ['<sip:edge@192.0.2.1;lr>'] },
        { path: ['<sip:edge2@192.0.2.1;lr>'] },
        { instanceId: 'urn:uuid:9' },
      ];
      for (const [i, over] of changed.entries()) {
        ops.length = 0;
        s.apply(AOR, [binding({ ...changed.slice(0, i + 1).reduce((a, o) => ({ ...a, ...o }), {}), cseq: 10 + i })], []);
        await turn();
        expect(ops, JSON.stringify(over)).toEqual(['upsert']);
        expect(onDisk()).toEqual(s.lookup(AOR, T0));
      }
      s.stop();
    });

    it('a binding dropped and added again in one update is written in full', async () => {
      const { s, ops } = spied();
      s.apply(AOR, [binding()], []);
      await turn();
      const [old] = s.lookup(AOR, T0);
      s.apply(AOR, [binding({ cseq: 2 })], [old!]);
      await turn();
      expect(ops).toEqual(['upsert', 'remove', 'upsert']);
      expect(onDisk()).toEqual(s.lookup(AOR, T0));
      s.stop();
    });

    it('a refresh of a row missing on disk fails its batch, and memory goes back to the disk', async () => {
      const { s } = spied();
      s.apply(AOR, [binding()], []);
      await turn();
      db.prepare('DELETE FROM bindings').run();
      const done = vi.fn();
      s.apply(AOR, [binding({ cseq: 2 })], [], done);
      await turn();
      expect(done).toHaveBeenCalledWith(expect.objectContaining({ message: expect.stringMatching(/not on disk/) }));
      expect(s.lookup(AOR, T0)).toEqual([]);
      // the next registration is a full upsert again, and lands
      s.apply(AOR, [binding({ cseq: 3 })], []);
      await turn();
      expect(onDisk()).toEqual(s.lookup(AOR, T0));
      expect(rowCount()).toBe(1);
      s.stop();
    });
  });

  it('looks up live bindings only, by q descending then most recent', () => {
    store.apply(
      AOR,
      [
        binding({ contact: 'sip:a@h', key: 'uri sip:a@h', q: 0.1, updatedAt: T0 }),
        binding({ contact: 'sip:b@h', key: 'uri sip:b@h', q: 0.9, updatedAt: T0 - 5 }),
        binding({ contact: 'sip:c@h', key: 'uri sip:c@h', q: 0.9, updatedAt: T0 }),
        binding({ contact: 'sip:d@h', key: 'uri sip:d@h', q: 1, expiresAt: T0 }),
      ],
      [],
    );
    expect(store.lookup(AOR, T0).map((b) => b.contact)).toEqual(['sip:c@h', 'sip:b@h', 'sip:a@h']);
    expect(store.lookup('sip:nobody@example.com', T0)).toEqual([]);
    expect(store.count()).toBe(4);
    expect(store.all().map((b) => b.contact)).toEqual(['sip:d@h', 'sip:c@h', 'sip:b@h', 'sip:a@h']);
  });

  it('sweep deletes expired bindings from memory and from SQLite', async () => {
    store.apply(AOR, [binding({ contact: 'sip:a@h', key: 'uri sip:a@h', expiresAt: T0 + 60_000 })], []);
    store.apply(AOR, [binding({ contact: 'sip:b@h', key: 'uri sip:b@h', expiresAt: T0 + 120_000 })], []);
    await turn();
    expect(store.sweep(T0 + 60_000).map((b) => b.contact)).toEqual(['sip:a@h']);
    expect(store.count()).toBe(1);
    await turn();
    expect(db.prepare('SELECT contact FROM bindings').all()).toEqual([{ contact: 'sip:b@h' }]);
  });

  it('runs the sweep periodically on the injected clock between start() and stop()', async () => {
    const onExpired = vi.fn();
    store = new SqliteLocationStore({ db, clock, sweepIntervalMs: 10_000, onExpired });
    store.apply(AOR, [binding({ expiresAt: T0 + 15_000 })], []);
    await turn();
    store.start();
    clock.advance(10_000);
    expect(store.count()).toBe(1);
    clock.advance(10_000);
    expect(store.count()).toBe(0);
    expect(onExpired).toHaveBeenCalledTimes(1);
    await turn();
    expect(rowCount()).toBe(0);
    store.stop();
    expect(clock.pendingCount).toBe(0);
  });

  it('removeFlow removes exactly the bindings bound to that flow, from memory and SQLite', async () => {
    store.apply(AOR, [binding({ contact: 'sip:a@h', key: 'uri sip:a@h', flowId: 'tcp-1', transport: 'TCP' })], []);
    store.apply(AOR, [binding({ contact: 'sip:b@h', key: 'uri sip:b@h', flowId: 'tcp-2', transport: 'TCP' })], []);
    store.apply('sip:bob@example.com', [binding({ aor: 'sip:bob@example.com', flowId: 'tcp-1', transport: 'TCP' })], []);
    await turn();
    const removed = store.removeFlow('tcp-1');
    expect(removed.map((b) => b.aor).sort()).toEqual([AOR, 'sip:bob@example.com']);
    expect(store.lookup(AOR, T0).map((b) => b.contact)).toEqual(['sip:b@h']);
    expect(store.removeFlow('tcp-1')).toEqual([]);
    await turn();
    expect(db.prepare('SELECT flow_id FROM bindings').all()).toEqual([{ flow_id: 'tcp-2' }]);
  });

  it('a replaced flow-bound binding leaves the old flow index', () => {
    store.apply(AOR, [binding({ key: 'ob urn:uuid:1 1', flowId: 'tcp-1', transport: 'TCP' })], []);
    store.apply(AOR, [binding({ key: 'ob urn:uuid:1 1', flowId: 'tcp-2', transport: 'TCP' })], []);
    expect(store.removeFlow('tcp-1')).toEqual([]);
    expect(store.removeFlow('tcp-2')).toHaveLength(1);
  });

  it('on restart keeps UDP bindings (flow-bound or not) and drops connection-bound and expired ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-loc-'));
    try {
      const path = join(dir, 'db.sqlite');
      const d1 = openDatabase(path);
      const s1 = new SqliteLocationStore({ db: d1, clock });
      s1.apply(
        AOR,
        [
          binding({ contact: 'sip:udp@192.0.2.10', key: 'uri sip:udp@192.0.2.10' }),
          binding({ contact: 'sip:udp-ob@192.0.2.10', key: 'ob urn:uuid:u 1', flowId: 'udp:192.0.2.10:5060', instanceId: 'urn:uuid:u', regId: 1 }),
          binding({ contact: 'sip:tcp@192.0.2.10', key: 'ob urn:uuid:t 1', transport: 'TCP', flowId: 'tcp-1', instanceId: 'urn:uuid:t', regId: 1 }),
          binding({ contact: 'sip:x@abc.invalid;transport=ws', key: 'uri sip:x@abc.invalid;transport=ws', transport: 'WSS', flowId: 'wss-3' }),
          binding({ contact: 'sip:tcp-plain@192.0.2.10', key: 'uri sip:tcp-plain@192.0.2.10', transport: 'TCP' }),
          binding({ contact: 'sip:old@192.0.2.10', key: 'uri sip:old@192.0.2.10', expiresAt: T0 + 1_000 }),
        ],
        [],
      );
      await turn();
      d1.close();

      clock.advance(2_000);
      const d2 = openDatabase(path);
      const s2 = new SqliteLocationStore({ db: d2, clock });
      expect(s2.lookup(AOR, clock.now()).map((b) => b.contact).sort()).toEqual([
        'sip:tcp-plain@192.0.2.10',
        'sip:udp-ob@192.0.2.10',
        'sip:udp@192.0.2.10',
      ]);
      expect(rowCount(d2)).toBe(3);
      d2.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stop() writes the queued changes at once', () => {
    store.apply(AOR, [binding()], []);
    store.stop();
    expect(rowCount()).toBe(1);
  });

  it('a failed commit reports the error to every waiter and puts memory back to what is on disk', async () => {
    store.apply(AOR, [binding({ contact: 'sip:kept@h', key: 'uri sip:kept@h' })], []);
    await turn();
    db.exec("CREATE TRIGGER no_more BEFORE INSERT ON bindings BEGIN SELECT RAISE(ABORT, 'disk full'); END");
    const done = vi.fn();
    store.apply(AOR, [binding({ contact: 'sip:new@h', key: 'uri sip:new@h' })], [], done);
    expect(store.count()).toBe(2);
    await turn();
    expect(done).toHaveBeenCalledWith(expect.objectContaining({ message: expect.stringMatching(/disk full/) }));
    expect(store.lookup(AOR, T0).map((b) => b.contact)).toEqual(['sip:kept@h']);
    expect(store.count()).toBe(1);
  });

  it('migration 004 keeps v3 bindings, giving each its binding key and an echoable Contact', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-mig-'));
    try {
      const v3 = join(dir, 'v3');
      mkdirSync(v3);
      for (const m of listMigrations(defaultMigrationsDir()).filter((x) => x.version <= 3)) copyFileSync(m.file, join(v3, `${String(m.version).padStart(3, '0')}_${m.name}.sql`));
      const path = join(dir, 'db.sqlite');
      const old = openDatabase(path, { migrationsDir: v3 });
      expect(schemaVersion(old)).toBe(3);
      const ins = old.prepare(
        `INSERT INTO bindings (aor, contact, expires_at, call_id, cseq, transport, flow_id, instance_id, reg_id, updated_at)
         VALUES (?, ?, ?, 'c', 1, 'UDP', ?, ?, ?, 1)`,
      );
      ins.run(AOR, 'sip:plain@h', T0 + 60_000, null, null, null);
      ins.run(AOR, 'sip:inst@h', T0 + 60_000, null, 'urn:uuid:1', null);
      ins.run(AOR, 'sip:ob@h', T0 + 60_000, 'udp:h:5060', 'urn:uuid:2', 3);
      old.close();

      const d = openDatabase(path);
      expect(schemaVersion(d)).toBe(7);
      const s = new SqliteLocationStore({ db: d, clock });
      expect(s.lookup(AOR, T0).map((b) => [b.key, b.contactHeader]).sort()).toEqual([
        ['inst urn:uuid:1', '<sip:inst@h>'],
        ['ob urn:uuid:2 3', '<sip:ob@h>'],
        ['uri sip:plain@h', '<sip:plain@h>'],
      ]);
      d.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('binding batches crossing to the writer thread', () => {
  it('flatten and unflatten give back every row, in order', async () => {
    const { flatten, unflatten } = await import('../../../src/registrar/binding-writer.js');
    const params = ['sip:a@example.com', 'uri sip:a@h', 'sip:a@h', '<sip:a@h>', 0.5, 2, 'c', 3, null, '192.0.2.1:5060', 'UDP', 'f1', 'urn:x', 1, '["<sip:p>"]', 4] as const;
    const rows = [
      { op: 'upsert' as const, params: [...params] as never },
      { op: 'remove' as const, aor: 'sip:a@example.com', key: 'uri sip:b@h' },
      { op: 'expire' as const, now: 123 },
      { op: 'refresh' as const, params: [5, 'c2', 4, 6, 'sip:a@example.com', 'uri sip:a@h'] as never },
      { op: 'upsert' as const, params: params.map((v) => (typeof v === 'string' ? `${v}2` : v)) as never },
    ];
    const flat = flatten(rows);
    expect(flat.every((v) => v === null || typeof v !== 'object')).toBe(true);
    expect(unflatten(flat)).toEqual(rows);
    expect(() => unflatten(['x'])).toThrow(/bad batch op/);
  });

  it('a batch is a packed array, which structured cloning copies densely (a holey one goes element by element through property lookups)', async () => {
    const { flatten } = await import('../../../src/registrar/binding-writer.js');
    const { serialize } = await import('node:v8');
    const rows = Array.from({ length: 50 }, (_, i) => ({ op: 'remove' as const, aor: `sip:u${i}@example.com`, key: `uri sip:u${i}@h` }));
    // V8's serializer (postMessage's too) tags a dense array 'A' and a sparse one 'a', after its 2-byte header
    expect(String.fromCharCode(serialize(flatten(rows))[2]!)).toBe('A');
  });
});
