/**
 * `strata waldump`: pg_waldump's arguments for the common cases and pg_waldump's output, so a user
 * can diff the two. Reads segment files from a directory (or a data directory's pg_wal), feeds them
 * to the stream decoder and prints each record, or the `--stats` table.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { formatLsn, parseLsn, parseWalFileName, segmentNumber, segmentOffset, segmentStart, type Lsn } from '../pg/lsn.js';
import { RMGR_NAMES } from '../pg/rmgr-ids.js';
import { FORK_NAMES } from '../pg/types.js';
import type { WalRecord } from '../wal/record.js';
import { TextBuffer } from '../wal/text-buffer.js';
import { WalStats, writeRecord } from '../wal/waldump.js';
import { UsageError } from './errors.js';
import { folderSegmentSize, readWal, segmentSizeOf, targetDirectory } from './wal-files.js';

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
export function runWaldump(files: string[], o: WaldumpOptions, out: (bytes: Uint8Array) => void, err: (s: string) => void): number {
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

  const output = new TextBuffer(out);
  const stats = o.stats === true ? new WalStats() : undefined;
  const quiet = o.quiet === true;
  let shown = 0;

  const matches = (r: WalRecord): boolean => {
    if (rmgrFilter !== undefined && !rmgrFilter.has(r.rmid)) return false;
    if (xidFilter !== undefined && r.xid !== xidFilter) return false;
    if (relFilter !== undefined || forkFilter !== undefined) {
      const hit = r.blocks.some(
        (b) =>
          b !== undefined &&
          (forkFilter === undefined || b.fork === forkFilter) &&
          (relFilter === undefined || (b.rel.spcNode === relFilter[0] && b.rel.dbNode === relFilter[1] && b.rel.relNode === relFilter[2])) &&
          (blockFilter === undefined || b.blkno === blockFilter),
      );
      if (!hit) return false;
    }
    if (o.fullpage === true && !r.blocks.some((b) => b !== undefined && b.hasImage)) return false;
    return true;
  };

  let first = true;
  const failure = readWal({ dir, start, end, timeline, segmentSize, recordsDieInCallback: true }, (r) => {
    if (first) {
      first = false;
      if (r.lsn !== start && segmentOffset(start, segmentSize) !== 0) {
        const skipped = Number(r.lsn - start);
        output.text(`first record is after ${formatLsn(start)}, at ${formatLsn(r.lsn)}, skipping over ${skipped} byte${skipped === 1 ? '' : 's'}\n`);
      }
    }
    if (!matches(r)) return true;
    if (!quiet) {
      if (stats !== undefined) stats.add(r);
      else writeRecord(output, r, o.bkpDetails === true);
    }
    shown++;
    return !(limit > 0 && shown >= limit);
  });
  if (stats !== undefined && !quiet) output.text(stats.format(o.statsPerRecord === true));
  output.flush();
  if (failure !== undefined) {
    err(`strata waldump: error: ${failure}`);
    return 1;
  }
  return 0;
}

