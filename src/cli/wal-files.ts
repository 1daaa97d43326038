/**
 * WAL segment files in a folder, read the way pg_waldump reads them: the folder found as
 * identify_target_directory finds it, the segment size taken from a long page header, and the
 * records from the first one at or after a start LSN (XLogFindNextRecord) up to an end LSN, the end
 * of valid WAL or a missing segment. Shared by the commands that read WAL from disk.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readU32 } from '../pg/bytes.js';
import { formatLsn, pageStart, parseWalFileName, segmentNumber, segmentOffset, segmentStart, walFileName, type Lsn } from '../pg/lsn.js';
import { WalDecoder } from '../wal/decoder.js';
import { WalDecodeError } from '../wal/errors.js';
import type { WalRecord } from '../wal/record.js';
import { UsageError } from './errors.js';

/** How much of a segment one read takes. */
const READ_BYTES_MAX = 4 << 20;
/**
 * The same when the read buffers are reused: two buffers this size stay in the CPU's L2 cache, so
 * the decoder reads what was just read there rather than from memory.
 */
const REUSED_READ_BYTES = 256 << 10;

function searchDirectory(dir: string, fname: string | undefined): boolean {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return false;
  if (fname !== undefined) return existsSync(join(dir, fname));
  return true;
}

/** identify_target_directory: `dir` or `dir/pg_wal` (or ., pg_wal, $PGDATA/pg_wal) holding `fname`. */
export function targetDirectory(dir: string | undefined, fname: string | undefined): string {
  const candidates = dir !== undefined ? [dir, join(dir, 'pg_wal')] : ['.', 'pg_wal', ...(process.env['PGDATA'] ? [join(process.env['PGDATA'], 'pg_wal')] : [])];
  for (const c of candidates) if (searchDirectory(c, fname)) return c;
  throw new UsageError(fname !== undefined ? `could not locate WAL file "${fname}"` : 'could not find any WAL file');
}

/** The segment size from a segment file's long page header (xlp_seg_size), as pg_waldump does. */
export function segmentSizeOf(file: string): number {
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

/** The segment size of the WAL in a folder, from its first segment file. */
export function folderSegmentSize(dir: string): number {
  for (const name of readdirSync(dir).sort()) if (parseWalFileName(name) !== null) return segmentSizeOf(join(dir, name));
  throw new UsageError(`could not find any WAL file in "${dir}"`);
}

export interface WalReadOptions {
  readonly dir: string;
  readonly start: Lsn;
  /** Records that end after it are not read. */
  readonly end?: Lsn | undefined;
  readonly timeline: number;
  readonly segmentSize: number;
  /**
   * The caller is done with each record when `onRecord` returns (it keeps no record, view or
   * description): reading then reuses its buffers instead of taking fresh memory for each read, whose
   * page faults cost more than the reads themselves.
   */
  readonly recordsDieInCallback?: boolean;
}

/**
 * Feeds `onRecord` every record from the first at or after `start`; it returns false to stop.
 * Returns undefined when `end` was reached or the caller stopped, else what ended reading, in
 * pg_waldump's words ("error in WAL record at ...: ...", "could not find file ...").
 */
export function readWal(o: WalReadOptions, onRecord: (r: WalRecord) => boolean): string | undefined {
  const readFrom = pageStart(o.start);
  const reuse = o.recordsDieInCallback === true;
  const decoder = new WalDecoder({ startLsn: readFrom, segmentSize: o.segmentSize, timeline: o.timeline, reuseMemory: reuse });
  // Two buffers in turn: once the next chunk is pushed the decoder holds nothing of the one before
  // (what it still needs of a record it copies), so that one can take the read after.
  const spare = reuse ? [Buffer.allocUnsafe(REUSED_READ_BYTES), Buffer.allocUnsafe(REUSED_READ_BYTES)] : [];
  const readBytesMax = reuse ? REUSED_READ_BYTES : READ_BYTES_MAX;
  let reads = 0;
  // Numbers, not the records' bigint LSNs: this runs once per record.
  let lastRead = -1;
  const startNumber = Number(o.start);
  let segno = segmentNumber(readFrom, o.segmentSize);
  let offset = segmentOffset(readFrom, o.segmentSize);
  for (;;) {
    const name = walFileName(o.timeline, segno, o.segmentSize);
    const file = join(o.dir, name);
    if (!existsSync(file)) return `could not find file "${name}": No such file or directory`;
    const fd = openSync(file, 'r');
    try {
      const segBase = segmentStart(segno, o.segmentSize);
      const segEnd = o.end !== undefined ? Math.min(o.segmentSize, Number(o.end - segBase)) : o.segmentSize;
      for (let pos = offset; pos < segEnd; ) {
        const want = Math.min(segEnd - pos, readBytesMax);
        const chunk = reuse ? spare[reads++ % 2]! : Buffer.allocUnsafe(want);
        const n = readSync(fd, chunk, 0, want, pos);
        if (n <= 0) return `could not read from file ${name}, offset ${pos}: read ${n} of ${want}`;
        pos += n;
        decoder.push(n === chunk.length ? chunk : chunk.subarray(0, n));
        try {
          for (;;) {
            const r = decoder.next();
            if (r === undefined) break;
            lastRead = r.lsnNumber;
            if (r.lsnNumber < startNumber) continue;
            if (!onRecord(r)) return undefined;
          }
        } catch (e) {
          if (!(e instanceof WalDecodeError)) throw e;
          return `error in WAL record at ${formatLsn(lastRead < 0 ? o.start : BigInt(lastRead))}: ${e.message}`;
        }
      }
      if (o.end !== undefined && segBase + BigInt(segEnd) >= o.end) return undefined;
    } finally {
      closeSync(fd);
    }
    segno++;
    offset = 0;
  }
}
