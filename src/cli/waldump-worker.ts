/**
 * A worker thread of `strata waldump` (waldump-threads.ts): claims ranges of WAL, reads each
 * (waldump-range-work.ts) into its slots of shared memory and posts its output (views of them) to the
 * main thread; stops when no range is left or the main thread needs no more.
 */
import { workerData } from 'node:worker_threads';
import { workRange } from './waldump-range-work.js';
import { CELL_DONE, CELL_POSTED, CLAIM_NONE_LEFT, CLAIM_WAIT, RANGES_AHEAD_MAX, claimRange, slotTaker, type WorkerMessage, type WorkerSetup } from './waldump-threads.js';

/** How long a worker waiting for the main thread to catch up sleeps at most before it looks again. */
const WAIT_SLICE_MS = 200;

const setup = workerData as WorkerSetup;
const cells = new Int32Array(setup.shared);
const count = setup.ranges.length;
/** The range being read, for the slot taker (see slotTaker). */
let current = -1;
const take = slotTaker(setup, setup.worker, () => current);

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
  const [start, stopAt] = setup.ranges[index]!;
  try {
    current = index;
    const output = workRange({ ...setup.base, start, stopAt }, setup.spec, take);
    // Views of the shared slots are posted as views; only chunks of memory of their own move.
    post({ index, output }, output.chunks.filter((c) => !(c.buffer instanceof SharedArrayBuffer)).map((c) => c.buffer as ArrayBuffer));
  } catch (e) {
    post({ index, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }, []);
    break;
  }
}
setup.port.close();
