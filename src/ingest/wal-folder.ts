/**
 * WAL from a folder of segment files (a pg_wal, an archive, strata's own WAL log): the records from
 * the first one at or after a start LSN (XLogFindNextRecord) up to an end LSN, the end of valid WAL
 * or a missing segment, read the way pg_waldump and archive recovery read them. A generator, so that
 * a caller can await between records (ingest) or stop early; `readWal` is the callback form.
 */
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { pageStart, segmentNumber, segmentOffset, segmentStart, walFileName, type Lsn } from '../pg/lsn.js';
import { WalDecoder } from '../wal/decoder.js';
import { walEndText } from '../wal/errors.js';
import type { WalRecord } from '../wal/record.js';

/** How much of a segment one read takes. */
const READ_BYTES_MAX = 4 << 20;
/** With `recordsDieInCallback`: two buffers of this size are read into in turn. */
const REUSED_READ_BYTES = 256 << 10;

export interface WalReadOptions {
  readonly dir: string;
  readonly start: Lsn;
  /** Records that end after it are not read. */
  readonly end?: Lsn | undefined;
  readonly timeline: number;
  readonly segmentSize: number;
  /**
   * The caller is done with each record before it asks for the next (it keeps no record, view or
   * description): reading then reuses its buffers and record objects instead of taking fresh
   * memory for each, whose page faults and garbage cost more than the reads themselves.
   */
  readonly recordsDieInCallback?: boolean;
}

/**
 * Yields every record from the first at or after `start`. Returns undefined when `end` was reached,
 * else what ended reading, in pg_waldump's words ("error in WAL record at ...: ...", "could not find
 * file ..."): the end of valid WAL is not an error here, the caller decides what it means.
 */
export function* walRecords(o: WalReadOptions): Generator<WalRecord, string | undefined> {
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
        const chunk = reuse ? (spare[reads++ % 2] as Buffer) : Buffer.allocUnsafe(want);
        const n = readSync(fd, chunk, 0, want, pos);
        if (n <= 0) return `could not read from file ${name}, offset ${pos}: read ${n} of ${want}`;
        pos += n;
        decoder.push(n === chunk.length ? chunk : chunk.subarray(0, n));
        for (;;) {
          const r = decoder.nextOrEnd();
          if (r === undefined) {
            const end = decoder.endError;
            if (end !== undefined) return walEndText(end, lastRead, o.start);
            break;
          }
          lastRead = r.lsnNumber;
          if (r.lsnNumber < startNumber) continue;
          yield r;
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

/** Feeds `onRecord` every record from the first at or after `start`; it returns false to stop. See walRecords. */
export function readWal(o: WalReadOptions, onRecord: (r: WalRecord) => boolean): string | undefined {
  const it = walRecords(o);
  for (;;) {
    const next = it.next();
    if (next.done === true) return next.value;
    if (!onRecord(next.value)) {
      it.return(undefined);
      return undefined;
    }
  }
}
