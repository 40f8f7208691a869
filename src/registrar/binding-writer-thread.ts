/**
 * The worker thread of ThreadBindingWriter (binding-writer.ts): its own
 * connection to the database file, one transaction per batch, a reply per
 * batch in the order received.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from '../store/database.js';
import { prepareBatch, unflatten, type FlatBatch, type ThreadReply } from './binding-writer.js';

const port = parentPort;
if (port === null) throw new Error('binding-writer-thread runs only as a worker thread');

// Runs at the process's priority, never lower: every 200 waits for one of
// this thread's commits. A niced writer starved whenever both cores were
// busy; the requests waiting for their commits then piled up in the heap
// and the load collapsed.

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
