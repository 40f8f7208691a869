/**
 * The worker thread of ThreadBindingWriter (binding-writer.ts): its own
 * connection to the database file, one transaction per batch, a reply per
 * batch in the order received.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from '../store/database.js';
import { prepareBatch, unflatten, type FlatBatch, type ThreadReply } from './binding-writer.js';

const port = parentPort;
if (port === null) throw new Error('binding-writer-thread runs only as a worker thread');

// Disk writes wait; SIP does not. On Linux a thread has a nice value of its
// own: lowered here, a batch arriving does not preempt the event loop that
// answers SIP (elsewhere, or without /proc, the thread keeps the default).
try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) setPriority(tid, 10);
} catch {
  // not Linux, or not permitted: run at the process's priority
}

// the main thread opened (and migrated) the file before starting this thread
const db = openDatabase((workerData as { path: string }).path);
const batch = prepareBatch(db);

port.on('message', (m: { id: number; rows: FlatBatch } | { close: true }) => {
  if ('close' in m) {
    db.close();
    port.close();
    return;
  }
  let reply: ThreadReply;
  try {
    batch(unflatten(m.rows));
    reply = { id: m.id };
  } catch (e) {
    reply = { id: m.id, error: e instanceof Error ? e.message : String(e) };
  }
  port.postMessage(reply);
});
