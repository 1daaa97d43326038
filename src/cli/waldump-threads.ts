/**
 * `strata waldump` on several threads. Pieces of WAL are independent but for the records that cross
 * from one into the next, so the WAL is cut into ranges of a few MiB (wal-range.ts) that worker
 * threads and the main thread read at once, each making its range's text or counts
 * (waldump-range-work.ts); the main thread takes the ranges in order and hands their output on.
 * It costs more CPU than one thread (each thread loads the modules and warms up its own JIT: some
 * 0.3-0.5 s for pg_waldump's text of 180 MiB), for less wall time when there are idle cores.
 *
 * A range read from its segment start must join the one before (`joins`: its first record is the one
 * that range decoded next, with the right prev-link, system and page timeline); then its records and
 * its end are exactly what one decoder would have given. When it does not (an overwritten contrecord,
 * a record longer than the range, a timeline switch, corrupt or recycled WAL, the end of WAL), the
 * main thread reads that range again itself, resuming exactly where the last joined range stopped,
 * as one decoder would: the output, where the WAL ends and its error are always the serial ones.
 *
 * Threads claim ranges through a shared counter, at most `RANGES_AHEAD_MAX` ahead of the last range
 * handed on, so the text waiting in memory stays bounded when the output is slow.
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { MessagePort, Worker } from 'node:worker_threads';
import type { WalStatsData } from '../wal/waldump.js';
import { joins, type RangeEnd, type RangeReadOptions } from './wal-range.js';
import { CHUNK_BYTES, recycleChunk, workRange, type RangeOutput, type RangeWorkSpec } from './waldump-range-work.js';

/**
 * node:worker_threads, loaded when a dump first runs on threads: imported with this module, it was
 * ~3 ms of every start of `strata waldump`, which reads on one thread unless told otherwise.
 */
let workerThreadsModule: typeof import('node:worker_threads') | undefined;
function workerThreads(): typeof import('node:worker_threads') {
  return (workerThreadsModule ??= createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads'));
}

/**
 * The workers' script: the build's CommonJS bundle of waldump-worker.js when there is one at least
 * as new as it (scripts/bundle.js: one file to load, and code that runs faster; STRATA_BUNDLE=0
 * says not to), else the module itself.
 */
function workerScript(): URL {
  const module = new URL('./waldump-worker.js', import.meta.url);
  if (process.env['STRATA_BUNDLE'] === '0') return module;
  const bundle = new URL('./waldump-worker.bundle.cjs', import.meta.url);
  try {
    return statSync(bundle).mtimeMs >= statSync(module).mtimeMs ? bundle : module;
  } catch {
    return module;
  }
}

/** How many ranges past the one being handed on may be claimed (their output waits in memory). */
export const RANGES_AHEAD_MAX = 8;
/** How long the main thread sleeps at most between looks for a finished range (it is woken sooner). */
const WAIT_SLICE_MS = 200;

// The cells of the shared Int32Array.
/** The next range to claim. */
export const CELL_NEXT = 0;
/** How many ranges the main thread has handed on. */
export const CELL_DONE = 1;
/** Bumped by a worker after it posts a range. */
export const CELL_POSTED = 2;
/** Set when the main thread needs no more ranges. */
export const CELL_STOP = 3;
/** Bumped by the main thread when it frees slots or hands a range on (see slotTaker). */
export const CELL_FREED = 4;
export const SHARED_CELLS = 5;

/** What a worker thread is started with. */
export interface WorkerSetup {
  readonly shared: SharedArrayBuffer;
  /** The workers' text slots, and each slot's state. */
  readonly text: SharedArrayBuffer;
  readonly slotStates: SharedArrayBuffer;
  /** This worker's number: its slots are the SLOTS_PER_WORKER from worker * SLOTS_PER_WORKER. */
  readonly worker: number;
  readonly port: MessagePort;
  readonly base: Omit<RangeReadOptions, 'start' | 'stopAt' | 'resume'>;
  readonly ranges: readonly (readonly [start: number, stopAt: number])[];
  readonly spec: RangeWorkSpec;
}

/**
 * Workers write their text into slots of one SharedArrayBuffer, SLOTS_PER_WORKER each, and post
 * views of them; the main thread marks a slot free once its bytes are written out. Nothing is
 * allocated or transferred per range: buffers transferred back and forth cost as much again as
 * making the text (new backing stores, their page faults and their freeing).
 */
export const SLOT_BYTES = CHUNK_BYTES;
export const SLOTS_PER_WORKER = 96;
const SLOT_FREE = 0;
const SLOT_USED = 1;

/**
 * A worker's slots as TextBuffer takes buffers: a free slot, waiting for the main thread to free one
 * when all are used, except for the range the main thread waits for (it would wait for itself),
 * which takes memory of its own instead, as does a line longer than a slot.
 */
export function slotTaker(setup: WorkerSetup, worker: number, rangeIndex: () => number): (n: number) => Buffer {
  const cells = new Int32Array(setup.shared);
  const states = new Int32Array(setup.slotStates);
  const first = worker * SLOTS_PER_WORKER;
  // Made when first needed: only text has slots (the shared memory is empty for --stats).
  const views: Buffer[] = [];
  let hint = 0;
  return (n) => {
    if (n > SLOT_BYTES) return Buffer.allocUnsafeSlow(n);
    for (;;) {
      const freed = Atomics.load(cells, CELL_FREED);
      for (let k = 0; k < SLOTS_PER_WORKER; k++) {
        const i = (hint + k) % SLOTS_PER_WORKER;
        if (Atomics.load(states, first + i) === SLOT_FREE) {
          Atomics.store(states, first + i, SLOT_USED);
          hint = i + 1;
          return (views[i] ??= Buffer.from(setup.text, (first + i) * SLOT_BYTES, SLOT_BYTES));
        }
      }
      if (rangeIndex() === Atomics.load(cells, CELL_DONE)) return Buffer.allocUnsafeSlow(SLOT_BYTES);
      Atomics.wait(cells, CELL_FREED, freed, WAIT_SLICE_MS);
    }
  };
}

/**
 * Marks the slots of a worker's chunks free: the chunks that are views of shared memory (the others,
 * memory of their own, are left to the collector).
 */
function freeSlots(states: Int32Array, chunks: readonly Uint8Array[]): void {
  for (const c of chunks) if (c.buffer instanceof SharedArrayBuffer) Atomics.store(states, Math.floor(c.byteOffset / SLOT_BYTES), SLOT_FREE);
}

/** What a worker posts for each range: its output, or the error that stopped the thread. */
export type WorkerMessage = { readonly index: number; readonly output: RangeOutput } | { readonly index: number; readonly error: string };

export const CLAIM_NONE_LEFT = -1;
export const CLAIM_WAIT = -2;

/** Claims the next range if there is one within `limit` (exclusive); CLAIM_NONE_LEFT or CLAIM_WAIT. */
export function claimRange(cells: Int32Array, count: number, limit: number): number {
  for (;;) {
    const next = Atomics.load(cells, CELL_NEXT);
    if (next >= count || Atomics.load(cells, CELL_STOP) !== 0) return CLAIM_NONE_LEFT;
    if (next >= limit) return CLAIM_WAIT;
    if (Atomics.compareExchange(cells, CELL_NEXT, next, next + 1) === next) return next;
  }
}

export interface ThreadedDump {
  readonly base: Omit<RangeReadOptions, 'start' | 'stopAt' | 'resume'>;
  /** The user's start LSN, then each segment start up to the last segment that exists. */
  readonly ranges: readonly (readonly [start: number, stopAt: number])[];
  readonly spec: RangeWorkSpec;
  /** Threads in all, the main one included (>= 2). */
  readonly threads: number;
}

export interface ThreadedDumpEnd {
  /** How reading ended: '' at the end LSN, or pg_waldump's error text. */
  readonly ended: string;
  /** The first record read (for pg_waldump's "first record is after" line), -1 if none. */
  readonly firstLsn: number;
  /** Records read, all of them (filters apply to what is shown). */
  readonly records: number;
  /** Ranges read again on the main thread because they did not join the one before. */
  readonly rangesReread: number;
}

/**
 * Reads every range, on `threads` threads; hands each range's text to `out` and its counts to
 * `stats`, in WAL order, calling `beforeFirst` with the first record's LSN before any of its text.
 */
export function dumpThreaded(
  job: ThreadedDump,
  out: (bytes: Uint8Array) => void,
  stats: (d: WalStatsData) => void,
  beforeFirst: (firstLsn: number) => void,
): ThreadedDumpEnd {
  if (job.threads < 2 || job.ranges.length < 1) throw new Error('a threaded dump takes two threads or more and a range');
  const { MessageChannel, Worker: WorkerThread, receiveMessageOnPort } = workerThreads();
  const shared = new SharedArrayBuffer(SHARED_CELLS * 4);
  const cells = new Int32Array(shared);
  const ports: MessagePort[] = [];
  const workers: Worker[] = [];
  const count = job.ranges.length;
  // More threads than ranges after the first (which the main thread takes at once) would idle.
  const workerCount = Math.min(job.threads - 1, count - 1);
  const text = new SharedArrayBuffer(job.spec.mode === 'text' ? workerCount * SLOTS_PER_WORKER * SLOT_BYTES : 0);
  const slotStates = new SharedArrayBuffer(workerCount * SLOTS_PER_WORKER * 4);
  const states = new Int32Array(slotStates);
  for (let i = 0; i < workerCount; i++) {
    const { port1, port2 } = new MessageChannel();
    const setup: WorkerSetup = { shared, text, slotStates, worker: i, port: port2, base: job.base, ranges: job.ranges, spec: job.spec };
    const w = new WorkerThread(workerScript(), { workerData: setup, transferList: [port2] });
    w.unref();
    workers.push(w);
    ports.push(port1);
  }
  /** Finished ranges, with the worker that read each (-1: this thread). */
  const done = new Map<number, { output: RangeOutput; worker: number }>();
  const readAt = (index: number): RangeReadOptions => ({ ...job.base, start: job.ranges[index]![0], stopAt: job.ranges[index]![1] });
  const collect = (): void => {
    ports.forEach((p, worker) => {
      for (let m = receiveMessageOnPort(p); m !== undefined; m = receiveMessageOnPort(p)) {
        const msg = m.message as WorkerMessage;
        if ('error' in msg) throw new Error(`Cannot read WAL range ${msg.index} in a worker thread: ${msg.error}`);
        done.set(msg.index, { output: msg.output, worker });
      }
    });
  };
  /** Gives a range's text buffers back to the thread that filled them, once written out or not wanted. */
  const giveBack = (r: RangeOutput, worker: number): void => {
    if (worker < 0) {
      for (const c of r.chunks) recycleChunk(c);
    } else if (r.chunks.length > 0) {
      freeSlots(states, r.chunks);
      Atomics.add(cells, CELL_FREED, 1);
      Atomics.notify(cells, CELL_FREED);
    }
  };

  let prev: RangeEnd | undefined;
  let firstLsn = -1;
  let records = 0;
  let rangesReread = 0;
  let ended: string | undefined;
  try {
    for (let i = 0; i < count && ended === undefined; i++) {
      let got = done.get(i);
      while (got === undefined) {
        const posted = Atomics.load(cells, CELL_POSTED);
        collect();
        got = done.get(i);
        if (got !== undefined) break;
        // Rather than wait, read a range here: the next one nobody has claimed.
        const mine = claimRange(cells, count, i + RANGES_AHEAD_MAX);
        if (mine >= 0) {
          done.set(mine, { output: workRange(readAt(mine), job.spec), worker: -1 });
          continue;
        }
        Atomics.wait(cells, CELL_POSTED, posted, WAIT_SLICE_MS);
      }
      done.delete(i);
      let r = got.output;
      let reader = got.worker;
      if (prev !== undefined && !joins(prev, r.end)) {
        // Read it again from where the last range stopped, as one decoder reading on would.
        rangesReread++;
        giveBack(r, reader);
        reader = -1;
        r = workRange({ ...readAt(i), start: prev.nextLsn, resume: { prevLsn: prev.lastLsn, pageTli: prev.pageTli, systemId: prev.systemId } }, job.spec);
        if (r.end.records === 0 && r.end.ended === undefined) {
          // No record starts in this range (one record covers it): the last one is still prev's.
          r = { ...r, end: { ...r.end, lastLsn: prev.lastLsn, firstLsn: -1 } };
        }
      }
      if (r.end.records > 0 && firstLsn < 0) {
        firstLsn = r.end.firstLsn;
        beforeFirst(firstLsn);
      }
      records += r.end.records;
      for (const c of r.chunks) out(c);
      giveBack(r, reader);
      if (r.stats !== undefined) stats(r.stats);
      prev = r.end;
      ended = r.end.ended;
      Atomics.store(cells, CELL_DONE, i + 1);
      Atomics.notify(cells, CELL_DONE);
      Atomics.add(cells, CELL_FREED, 1);
      Atomics.notify(cells, CELL_FREED);
    }
  } finally {
    Atomics.store(cells, CELL_STOP, 1);
    Atomics.notify(cells, CELL_DONE);
    Atomics.add(cells, CELL_FREED, 1);
    Atomics.notify(cells, CELL_FREED);
    for (const w of workers) void w.terminate();
    for (const p of ports) p.close();
  }
  // The last range always ends reading (it reads on into segments that are not there).
  if (ended === undefined) throw new Error('the last range of WAL ended without an end');
  return { ended, firstLsn, records, rangesReread };
}
