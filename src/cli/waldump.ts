/**
 * `strata waldump`: pg_waldump's arguments for the common cases and pg_waldump's output, so a user
 * can diff the two. Reads segment files from a directory (or a data directory's pg_wal), feeds them
 * to the stream decoder and prints each record, or the `--stats` table.
 */
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { SIZE_OF_XLOG_LONG_PHD, XLP_LONG_HEADER } from '../pg/constants.js';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { formatLsn, lsn, parseLsn, parseWalFileName, segmentNumber, segmentOffset, segmentStart, walFileName, type Lsn } from '../pg/lsn.js';
import { RMGR_NAMES } from '../pg/rmgr-ids.js';
import { FORK_NAMES } from '../pg/types.js';
import type { WalRecord } from '../wal/record.js';
import { TextBuffer } from '../wal/text-buffer.js';
import { WalStats, writeRecord } from '../wal/waldump.js';
import { UsageError } from './errors.js';
import { folderSegmentSize, segmentSizeOf, targetDirectory } from './wal-files.js';
import { readRangeAhead } from './wal-range.js';
import { recordMatches, type RecordFilter } from './waldump-range-work.js';
import { dumpThreaded, type ThreadedDump, type ThreadedDumpEnd } from './waldump-threads.js';

export { UsageError };

export interface WaldumpOptions {
  path?: string;
  start?: string;
  end?: string;
  limit?: string;
  bkpDetails?: boolean;
  rmgr?: string;
  timeline?: string;
  stats?: boolean;
  statsPerRecord?: boolean;
  xid?: string;
  fullpage?: boolean;
  relation?: string;
  block?: string;
  fork?: string;
  quiet?: boolean;
  /**
   * Threads to read with, the main one included (default: $STRATA_WALDUMP_THREADS, else 1); 1
   * reads serially. With --limit reading is always serial.
   */
  threads?: string;
}

/**
 * The threads `strata waldump` reads WAL with when not told (see WaldumpOptions.threads): one.
 * More cost more CPU in all (each thread loads the code and warms up its JIT, some 0.4 s on 180 MiB
 * of WAL), so they only pay on cores that would otherwise idle: on a shared two-core machine two
 * threads were slower than one. `all` asks for one per core.
 */
function defaultThreads(): number {
  const env = process.env['STRATA_WALDUMP_THREADS'];
  if (env === 'all') return availableParallelism();
  return env !== undefined && /^\d+$/.test(env) ? Math.max(1, Number(env)) : 1;
}

/**
 * How much WAL a range of a threaded dump covers: small enough that the text of the ranges read
 * ahead, waiting in memory, stays in a few buffers that are reused (fresh memory for it cost a third
 * of the work), large enough that a range's setup does not count.
 */
const RANGE_BYTES = 2 << 20;

/**
 * The ranges a threaded dump reads (waldump-threads.ts): from `start`, in pieces of RANGE_BYTES (at
 * most a segment) up to the segment `end` falls in or, without `end`, the last one present after it;
 * the last range reads on to wherever reading ends.
 */
function walRanges(dir: string, timeline: number, segmentSize: number, start: Lsn, end: Lsn | undefined): [number, number][] {
  const first = segmentNumber(start, segmentSize);
  let last = first;
  if (end !== undefined) last = end > start ? segmentNumber(lsn(end - 1n), segmentSize) : first;
  else while (existsSync(join(dir, walFileName(timeline, last + 1n, segmentSize)))) last++;
  const step = Math.min(RANGE_BYTES, segmentSize);
  const stop = Number(segmentStart(last + 1n, segmentSize));
  const ranges: [number, number][] = [];
  for (let at = Number(start); at < stop; ) {
    const next = Math.min(stop, Math.floor(at / step) * step + step);
    ranges.push([at, next]);
    at = next;
  }
  ranges[ranges.length - 1]![1] = Number.MAX_SAFE_INTEGER;
  return ranges;
}

/** xlp_sysid of the long page header that starts the segment `at` lies in, if it can be read. */
function segmentSystemId(dir: string, timeline: number, segmentSize: number, at: Lsn): bigint | undefined {
  try {
    const fd = openSync(join(dir, walFileName(timeline, segmentNumber(at, segmentSize), segmentSize)), 'r');
    try {
      const b = Buffer.alloc(SIZE_OF_XLOG_LONG_PHD);
      if (readSync(fd, b, 0, b.length, 0) < b.length || (b.readUInt16LE(2) & XLP_LONG_HEADER) === 0) return undefined;
      return b.readBigUInt64LE(24); // xlp_sysid, after the short header and its padding
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

function walLocation(text: string): Lsn {
  try {
    return parseLsn(text);
  } catch {
    throw new UsageError(`invalid WAL location: "${text}"`);
  }
}

function parseUnsigned(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`invalid ${what}: "${text}"`);
  return Number(text);
}

/**
 * Runs waldump; returns the exit code. `out` receives stdout as bytes (valid only during the call: it
 * must copy what it keeps), `err` stderr lines.
 */
export async function runWaldump(
  files: string[],
  o: WaldumpOptions,
  out: (bytes: Uint8Array) => void,
  err: (s: string) => void,
  /** Told how a read on several threads went (for tests and benchmarks); not called for a serial one. */
  onThreaded?: (e: ThreadedDumpEnd & { readonly threads: number; readonly ranges: number }) => void,
): Promise<number> {
  let dir = o.path;
  let timeline = o.timeline !== undefined ? parseUnsigned(o.timeline, 'timeline specification') : 1;
  let start = o.start !== undefined ? walLocation(o.start) : undefined;
  let end = o.end !== undefined ? walLocation(o.end) : undefined;
  const limit = o.limit !== undefined ? Number.parseInt(o.limit, 10) : -1;
  if (o.limit !== undefined && Number.isNaN(limit)) throw new UsageError(`invalid value "${o.limit}" for option -n/--limit`);
  let rmgrFilter: Set<number> | undefined;
  if (o.rmgr !== undefined) {
    const id = RMGR_NAMES.findIndex((n) => n.toLowerCase() === o.rmgr!.toLowerCase());
    if (id < 0) throw new UsageError(`resource manager "${o.rmgr}" does not exist`);
    rmgrFilter = new Set([id]);
  }
  const xidFilter = o.xid !== undefined ? parseUnsigned(o.xid, 'transaction ID specification') : undefined;
  let relFilter: [number, number, number] | undefined;
  if (o.relation !== undefined) {
    const m = /^(\d+)\/(\d+)\/(\d+)$/.exec(o.relation);
    if (m === null || m[1] === '0' || m[3] === '0') throw new UsageError(`invalid relation specification: "${o.relation}"`);
    relFilter = [Number(m[1]), Number(m[2]), Number(m[3])];
  }
  const blockFilter = o.block !== undefined ? parseUnsigned(o.block, 'block number') : undefined;
  if (blockFilter !== undefined && relFilter === undefined) throw new UsageError('option -B/--block requires option -R/--relation to be specified');
  let forkFilter: number | undefined;
  if (o.fork !== undefined) {
    forkFilter = FORK_NAMES.indexOf(o.fork);
    if (forkFilter < 0) throw new UsageError(`invalid fork name: "${o.fork}"`);
  }
  if (files.length > 2) throw new UsageError(`too many command-line arguments (first is "${files[2]}")`);

  let segmentSize: number;
  if (files.length > 0) {
    const first = files[0]!;
    const fname = basename(first);
    if (dir === undefined && first.includes('/')) dir = dirname(first);
    dir = targetDirectory(dir, fname);
    segmentSize = segmentSizeOf(join(dir, fname));
    const parsed = parseWalFileName(fname, segmentSize);
    if (parsed === null) throw new UsageError(`could not parse WAL file name "${fname}"`);
    timeline = parsed.timeline;
    let segno = parsed.segNo;
    if (start === undefined) start = segmentStart(segno, segmentSize);
    else if (segmentNumber(start, segmentSize) !== segno) throw new UsageError(`start WAL location ${formatLsn(start)} is not inside file "${fname}"`);
    if (files.length === 1 && end === undefined) end = segmentStart(segno + 1n, segmentSize);
    if (files.length === 2) {
      const endName = basename(files[1]!);
      const endParsed = parseWalFileName(endName, segmentSize);
      if (endParsed === null || !existsSync(join(dir, endName))) throw new UsageError(`could not open file "${endName}"`);
      if (endParsed.segNo < segno) throw new UsageError(`ENDSEG ${files[1]} is before STARTSEG ${files[0]}`);
      if (end === undefined) end = segmentStart(endParsed.segNo + 1n, segmentSize);
      segno = endParsed.segNo;
    }
    if (segmentNumber(end!, segmentSize) !== segno && end !== segmentStart(segno + 1n, segmentSize))
      throw new UsageError(`end WAL location ${formatLsn(end!)} is not inside file "${files[files.length - 1]}"`);
  } else {
    dir = targetDirectory(dir, undefined);
    segmentSize = folderSegmentSize(dir);
  }
  if (start === undefined) throw new UsageError('no start WAL location given');

  const threads =
    o.threads === 'all' ? availableParallelism() : o.threads !== undefined ? Math.max(1, parseUnsigned(o.threads, 'number of threads')) : defaultThreads();
  const filter: RecordFilter = {
    ...(rmgrFilter !== undefined ? { rmid: [...rmgrFilter][0]! } : {}),
    ...(xidFilter !== undefined ? { xid: xidFilter } : {}),
    ...(relFilter !== undefined ? { rel: relFilter } : {}),
    ...(blockFilter !== undefined ? { block: blockFilter } : {}),
    ...(forkFilter !== undefined ? { fork: forkFilter } : {}),
    fullPageOnly: o.fullpage === true,
  };
  if (threads > 1 && limit <= 0) {
    const ranges = walRanges(dir, timeline, segmentSize, start, end);
    if (ranges.length > 1) {
      const base = { dir, timeline, segmentSize, end: end === undefined ? undefined : Number(end), systemId: segmentSystemId(dir, timeline, segmentSize, start) };
      return dumpOnThreads(o, base, ranges, threads, filter, start, out, err, onThreaded);
    }
  }

  const output = new TextBuffer(out);
  const stats = o.stats === true ? new WalStats() : undefined;
  const quiet = o.quiet === true;
  // Read once: the options object's shape varies with the arguments given, and a property load
  // per record from it missed V8's inline cache each time.
  const detailed = o.bkpDetails === true;
  let shown = 0;

  const matches = (r: WalRecord): boolean => recordMatches(filter, r);

  let first = true;
  // A callback per record (the generator behind readWal cost a resume per record, some 7% of
  // waldump's time), the files read ahead on the thread pool.
  const { ended } = await readRangeAhead({ dir, timeline, segmentSize, start: Number(start), stopAt: Number.MAX_SAFE_INTEGER, end: end === undefined ? undefined : Number(end) }, (r) => {
    if (first) {
      first = false;
      const skipped = firstRecordSkip(start, r.lsn, segmentSize);
      if (skipped !== undefined) output.text(skipped);
    }
    if (!matches(r)) return true;
    if (!quiet) {
      if (stats !== undefined) stats.add(r);
      else writeRecord(output, r, detailed);
    }
    shown++;
    return !(limit > 0 && shown >= limit);
  });
  if (stats !== undefined && !quiet) output.text(stats.format(o.statsPerRecord === true));
  output.flush();
  if (ended !== undefined && ended !== '') {
    err(`strata waldump: error: ${ended}`);
    return 1;
  }
  return 0;
}


/** pg_waldump's line when the first record is not at the start asked for (inside a segment). */
function firstRecordSkip(start: Lsn, first: Lsn, segmentSize: number): string | undefined {
  if (first === start || segmentOffset(start, segmentSize) === 0) return undefined;
  const skipped = Number(first - start);
  return `first record is after ${formatLsn(start)}, at ${formatLsn(first)}, skipping over ${skipped} byte${skipped === 1 ? '' : 's'}\n`;
}

/** runWaldump's reading on several threads (waldump-threads.ts): same output, same end, same exit code. */
function dumpOnThreads(
  o: WaldumpOptions,
  base: ThreadedDump['base'],
  ranges: [number, number][],
  threads: number,
  filter: RecordFilter,
  start: Lsn,
  out: (bytes: Uint8Array) => void,
  err: (s: string) => void,
  onThreaded: ((e: ThreadedDumpEnd & { readonly threads: number; readonly ranges: number }) => void) | undefined,
): number {
  const quiet = o.quiet === true;
  const stats = o.stats === true ? new WalStats() : undefined;
  const mode = quiet ? 'quiet' : stats !== undefined ? 'stats' : 'text';
  const result = dumpThreaded(
    { base, ranges, threads, spec: { mode, detailed: o.bkpDetails === true, filter } },
    out,
    (d) => stats?.merge(d),
    (first) => {
      const skipped = firstRecordSkip(start, lsn(BigInt(first)), base.segmentSize);
      if (skipped !== undefined) out(Buffer.from(skipped, 'utf8'));
    },
  );
  onThreaded?.({ ...result, threads, ranges: ranges.length });
  if (stats !== undefined && !quiet) out(Buffer.from(stats.format(o.statsPerRecord === true), 'utf8'));
  if (result.ended !== '') {
    err(`strata waldump: error: ${result.ended}`);
    return 1;
  }
  return 0;
}
