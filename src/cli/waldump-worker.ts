/**
 * A worker thread of `strata waldump` (waldump-threads.ts): claims ranges of WAL, reads each
 * (waldump-range-work.ts) and posts its output to the main thread, its text buffers transferred, not
 * copied; stops when no range is left or the main thread needs no more.
 */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { recycleChunk, workRange } from './waldump-range-work.js';
import { CELL_DONE, CELL_POSTED, CLAIM_NONE_LEFT, CLAIM_WAIT, RANGES_AHEAD_MAX, claimRange, type RecycleMessage, type WorkerMessage, type WorkerSetup } from './waldump-threads.js';

/** How long a worker waiting for the main thread to catch up sleeps at most before it looks again. */
const WAIT_SLICE_MS = 200;

const setup = workerData as WorkerSetup;
const cells = new Int32Array(setup.shared);
const count = setup.ranges.length;

function post(message: WorkerMessage, transfer: ArrayBuffer[]): void {
  setup.port.postMessage(message, transfer);
  Atomics.add(cells, CELL_POSTED, 1);
  Atomics.notify(cells, CELL_POSTED);
}

for (;;) {
  const done = Atomics.load(cells, CELL_DONE);
  const index = claimRange(cells, count, done + RANGES_AHEAD_MAX);
  if (index === CLAIM_NONE_LEFT) break;
  if (index === CLAIM_WAIT) {
    Atomics.wait(cells, CELL_DONE, done, WAIT_SLICE_MS);
    continue;
  }
  // The buffers of ranges the main thread has written out, to write this range's text into.
  for (let m = receiveMessageOnPort(setup.port); m !== undefined; m = receiveMessageOnPort(setup.port))
    for (const b of (m.message as RecycleMessage).recycle) recycleChunk(b);
  const [start, stopAt] = setup.ranges[index]!;
  try {
    const output = workRange({ ...setup.base, start, stopAt }, setup.spec);
    post({ index, output }, output.chunks.map((c) => c.buffer as ArrayBuffer));
  } catch (e) {
    post({ index, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }, []);
    break;
  }
}
setup.port.close();
