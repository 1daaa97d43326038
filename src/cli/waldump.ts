/**
 * `strata waldump`: pg_waldump's arguments for the common cases and pg_waldump's output, so a user
 * can diff the two. Reads segment files from a directory (or a data directory's pg_wal), feeds them
 * to the stream decoder and prints each record, or the `--stats` table.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { formatLsn, pageStart, parseLsn, parseWalFileName, segmentNumber, segmentOffset, segmentStart, walFileName, type Lsn } from '../pg/lsn.js';
import { readU32 } from '../pg/bytes.js';
import { RMGR_NAMES } from '../pg/rmgr-ids.js';
import { FORK_NAMES } from '../pg/types.js';
import { WalDecoder } from '../wal/decoder.js';
import { WalDecodeError } from '../wal/errors.js';
import type { WalRecord } from '../wal/record.js';
import { TextBuffer } from '../wal/text-buffer.js';
import { WalStats, writeRecord } from '../wal/waldump.js';

export class UsageError extends Error {
  readonly code = 'USAGE';
}

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

function searchDirectory(dir: string, fname: string | undefined): boolean {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return false;
  if (fname !== undefined) return existsSync(join(dir, fname));
  return true;
}

/** identify_target_directory */
function targetDirectory(dir: string | undefined, fname: string | undefined): string {
  const candidates = dir !== undefined ? [dir, join(dir, 'pg_wal')] : ['.', 'pg_wal', ...(process.env['PGDATA'] ? [join(process.env['PGDATA'], 'pg_wal')] : [])];
  for (const c of candidates) if (searchDirectory(c, fname)) return c;
  throw new UsageError(fname !== undefined ? `could not locate WAL file "${fname}"` : 'could not find any WAL file');
}

/** The segment size from a segment file's long page header (xlp_seg_size), as pg_waldump does. */
function segmentSizeOf(file: string): number {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(40);
    const n = readSync(fd, b, 0, 40, 0);
    if (n < 40) throw new UsageError(`could not read file "${file}": read ${n} of 40 bytes`);
    const size = readU32(b, 32);
    if (size < 1 << 20 || size > 1 << 30 || (size & (size - 1)) !== 0)
      throw new UsageError(`invalid WAL segment size in WAL file "${basename(file)}" (${size} bytes)`);
    return size;
  } finally {
    closeSync(fd);
  }
}

function anySegment(dir: string): string | undefined {
  // The first segment-named file in the directory tells the segment size.
  for (const name of readdirSync(dir).sort()) if (parseWalFileName(name) !== null) return join(dir, name);
  return undefined;
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
 * Runs waldump; returns the exit code. `out` receives stdout as bytes, `err` stderr lines.
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
    const any = anySegment(dir);
    if (any === undefined) throw new UsageError('could not find any WAL file');
    segmentSize = segmentSizeOf(any);
  }
  if (start === undefined) throw new UsageError('no start WAL location given');

  const output = new TextBuffer(out);
  const stats = o.stats === true ? new WalStats() : undefined;
  const quiet = o.quiet === true;
  let shown = 0;
  let lastRead: Lsn | undefined;
  let failure: string | undefined;

  const readFrom = pageStart(start);
  const decoder = new WalDecoder({ startLsn: readFrom, segmentSize, timeline });
  let firstSeen = false;
  const accept = (r: WalRecord): boolean => {
    if (!firstSeen) {
      if (r.lsn < start!) return false;
      firstSeen = true;
      if (r.lsn !== start && segmentOffset(start!, segmentSize) !== 0) {
        const skipped = Number(r.lsn - start!);
        output.text(`first record is after ${formatLsn(start!)}, at ${formatLsn(r.lsn)}, skipping over ${skipped} byte${skipped === 1 ? '' : 's'}\n`);
      }
    }
    return true;
  };
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

  let segno = segmentNumber(readFrom, segmentSize);
  let offset = segmentOffset(readFrom, segmentSize);
  let done = false;
  outer: while (!done) {
    const name = walFileName(timeline, segno, segmentSize);
    const file = join(dir, name);
    if (!existsSync(file)) {
      failure = `could not find file "${name}": No such file or directory`;
      break;
    }
    const fd = openSync(file, 'r');
    try {
      let pos = offset;
      const segEnd = end !== undefined ? Math.min(segmentSize, Number(end - segmentStart(segno, segmentSize))) : segmentSize;
      while (pos < segEnd) {
        const want = Math.min(segEnd - pos, 4 << 20);
        const chunk = Buffer.allocUnsafe(want);
        const n = readSync(fd, chunk, 0, want, pos);
        if (n <= 0) {
          failure = `could not read from file ${name}, offset ${pos}: read ${n} of ${want}`;
          break outer;
        }
        pos += n;
        decoder.push(n === want ? chunk : chunk.subarray(0, n));
        try {
          for (;;) {
            const r = decoder.next();
            if (r === undefined) break;
            lastRead = r.lsn;
            if (!accept(r) || !matches(r)) continue;
            if (!quiet) {
              if (stats !== undefined) stats.add(r);
              else writeRecord(output, r, o.bkpDetails === true);
            }
            shown++;
            if (limit > 0 && shown >= limit) break outer;
          }
        } catch (e) {
          if (!(e instanceof WalDecodeError)) throw e;
          failure = `error in WAL record at ${formatLsn(lastRead ?? start)}: ${e.message}`;
          break outer;
        }
      }
      if (end !== undefined && segmentStart(segno, segmentSize) + BigInt(segEnd) >= end) done = true;
    } finally {
      closeSync(fd);
    }
    segno++;
    offset = 0;
  }
  if (stats !== undefined && !quiet) output.text(stats.format(o.statsPerRecord === true));
  output.flush();
  if (failure !== undefined) {
    err(`strata waldump: error: ${failure}`);
    return 1;
  }
  return 0;
}

