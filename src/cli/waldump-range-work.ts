/**
 * What `strata waldump` makes of one range of WAL (wal-range.ts), in whichever thread reads it: the
 * text of its records (in buffers of its own, to be handed to the thread that writes them in
 * order), or its `--stats` counts, or only the count of records read. Shared by the main thread and
 * the worker threads (waldump-threads.ts), so a range comes out the same wherever it was read.
 */
import type { WalRecord } from '../wal/record.js';
import { TextBuffer } from '../wal/text-buffer.js';
import { WalStats, writeRecord, type WalStatsData } from '../wal/waldump.js';
import { readRange, type RangeEnd, type RangeReadOptions } from './wal-range.js';

/** pg_waldump's record filters (-r, -x, -R, -B, -F, -w), as plain data a thread can be sent. */
export interface RecordFilter {
  readonly rmid?: number;
  readonly xid?: number;
  /** spcNode, dbNode, relNode. */
  readonly rel?: readonly [number, number, number];
  readonly block?: number;
  readonly fork?: number;
  readonly fullPageOnly: boolean;
}

/** Whether pg_waldump shows a record under the filters. */
export function recordMatches(f: RecordFilter, r: WalRecord): boolean {
  if (f.rmid !== undefined && r.rmid !== f.rmid) return false;
  if (f.xid !== undefined && r.xid !== f.xid) return false;
  if (f.rel !== undefined || f.fork !== undefined) {
    const rel = f.rel;
    const hit = r.blocks.some(
      (b) =>
        b !== undefined &&
        (f.fork === undefined || b.fork === f.fork) &&
        (rel === undefined || (b.rel.spcNode === rel[0] && b.rel.dbNode === rel[1] && b.rel.relNode === rel[2])) &&
        (f.block === undefined || b.blkno === f.block),
    );
    if (!hit) return false;
  }
  if (f.fullPageOnly && !r.blocks.some((b) => b !== undefined && b.hasImage)) return false;
  return true;
}

export interface RangeWorkSpec {
  /** text: pg_waldump's lines; stats: --stats counts; quiet: records are read, nothing is made. */
  readonly mode: 'text' | 'stats' | 'quiet';
  readonly detailed: boolean;
  readonly filter: RecordFilter;
}

export interface RangeOutput {
  readonly end: RangeEnd;
  /**
   * The text of the range's records, in order: views of a worker's slots of shared memory (see
   * waldump-threads.ts), or buffers of their own (the main thread's, and lines longer than a slot).
   */
  readonly chunks: Uint8Array[];
  readonly stats: WalStatsData | undefined;
}

/** Output buffers: a range's text fills a dozen or so; fewer bytes wait unwritten in a part-filled one. */
export const CHUNK_BYTES = 256 << 10;
/** Output buffers kept for reuse in this thread, at most. */
const SPARE_CHUNKS_MAX = 256;

/**
 * The main thread's output buffers, written out and given back (recycleChunk): fresh memory for
 * each range's text cost a third more than making the text (page faults, and freeing it again).
 */
const spareChunks: Buffer[] = [];

/** A buffer of CHUNK_BYTES, or `n` if larger: a spare one when there is one. */
export function takeChunk(n: number): Buffer {
  if (n <= CHUNK_BYTES) {
    const spare = spareChunks.pop();
    if (spare !== undefined) return spare;
  }
  return Buffer.allocUnsafeSlow(Math.max(n, CHUNK_BYTES));
}

/** Gives back a chunk made by takeChunk once its bytes are written out, for another range's text. */
export function recycleChunk(chunk: Uint8Array): void {
  if (chunk.buffer.byteLength === CHUNK_BYTES && chunk.byteOffset === 0 && spareChunks.length < SPARE_CHUNKS_MAX)
    spareChunks.push(Buffer.from(chunk.buffer, 0, CHUNK_BYTES));
}

/** Reads one range and makes what `spec` asks of its records; `take` gives the buffers for its text. */
export function workRange(read: RangeReadOptions, spec: RangeWorkSpec, take: (n: number) => Buffer = takeChunk): RangeOutput {
  const chunks: Uint8Array[] = [];
  const text = new TextBuffer((bytes) => chunks.push(bytes), CHUNK_BYTES, take);
  const stats = spec.mode === 'stats' ? new WalStats() : undefined;
  const filter = spec.filter;
  const detailed = spec.detailed;
  const mode = spec.mode;
  const end = readRange(read, (r) => {
    if (mode === 'quiet' || !recordMatches(filter, r)) return;
    if (stats !== undefined) stats.add(r);
    else writeRecord(text, r, detailed);
  });
  text.flush();
  return { end, chunks, stats: stats?.data() };
}
