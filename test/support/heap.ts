/**
 * What a piece of code keeps alive on the V8 heap, measured between two full
 * garbage collections (--expose-gc is switched on for the test process).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

/** Bytes of heap still in use after keep() ran, with what it returned still referenced. */
export function heapRetainedBy(keep: () => unknown): number {
  if (gc === undefined) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept = keep();
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  // referenced until after the measurement
  if (kept === before) throw new Error('unreachable');
  return after - before;
}

/** A 57-character string, different for each i, cut from a 1 MiB string of its own (as a value is cut from a message). */
export function sliceOfMegabyte(i: number): string {
  return (String(i).padStart(8, '0') + 'y'.repeat(1 << 20)).slice(0, 57);
}
