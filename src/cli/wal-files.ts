/**
 * WAL segment files in a folder, read the way pg_waldump reads them: the folder found as
 * identify_target_directory finds it, the segment size taken from a long page header, and the
 * records from the first one at or after a start LSN (XLogFindNextRecord) up to an end LSN, the end
 * of valid WAL or a missing segment. Shared by the commands that read WAL from disk.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readU32 } from '../pg/bytes.js';
import { parseWalFileName } from '../pg/lsn.js';
import { UsageError } from './errors.js';

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

export { readWal, walRecords, type WalReadOptions } from '../ingest/wal-folder.js';
