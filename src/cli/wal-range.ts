/**
 * One range of a folder of WAL segments read on its own: the unit `strata waldump` spreads over
 * threads (waldump-threads.ts). A range is read as pg_waldump reads WAL (segment files, the first
 * record at or after a start, up to an end LSN, the end of valid WAL or a missing file) and stops at
 * the first record that starts at or after its end, which it decodes and checks but does not hand
 * out: that record's LSN is where the next range must begin for the two to join (see `joins`).
 *
 * A range is read either from a page start, finding its first record as XLogFindNextRecord does
 * (what a thread does, not knowing the record before), or resumed exactly where another range
 * stopped (its last record, page timeline and system identifier given), which decodes as one
 * decoder reading on would: the fallback when ranges do not join.
 */
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { readU32 } from '../pg/bytes.js';
import { XLOG_BLCKSZ } from '../pg/constants.js';
import { formatLsn, lsn, walFileName } from '../pg/lsn.js';
import { WalDecoder, WalDecoderScratch } from '../wal/decoder.js';
import { WalDecodeError } from '../wal/errors.js';
import type { WalRecord } from '../wal/record.js';

/** Two buffers of this size are read into in turn (records die in the callback). */
const READ_BYTES = 256 << 10;
/**
 * This thread's read buffers and decoder memory: a thread reads one range at a time, and records
 * die in the callback.
 */
const readBuffers = [Buffer.allocUnsafe(READ_BYTES), Buffer.allocUnsafe(READ_BYTES)];
const scratch = new WalDecoderScratch();

export interface RangeReadOptions {
  readonly dir: string;
  readonly timeline: number;
  readonly segmentSize: number;
  /** Where to start: a segment start or the user's start LSN, or with `resume` a record's start. */
  readonly start: number;
  /** Where the range ends: the first record at or after it is decoded and checked, not handed out. */
  readonly stopAt: number;
  /** Records that end after it are not read (pg_waldump's -e). */
  readonly end: number | undefined;
  /**
   * The system identifier the WAL is expected to carry (from the first segment's long page header):
   * a range that starts inside a segment meets no long header before its first record, and without
   * it could not join the range before (`joins` compares them).
   */
  readonly systemId?: bigint | undefined;
  /** `start` is the next record after a range that stopped there (RangeEnd.nextLsn): go on from it. */
  readonly resume?: { readonly prevLsn: number; readonly pageTli: number; readonly systemId: bigint | undefined };
}

/** How a range ended, and what another range must match to join it. LSNs are -1 where there is none. */
export interface RangeEnd {
  /** Records handed out. */
  readonly records: number;
  readonly firstLsn: number;
  /** xl_prev of the first record. */
  readonly firstPrev: number;
  readonly lastLsn: number;
  /** The first record at or after stopAt, decoded and checked (its CRC, its prev-link). */
  readonly nextLsn: number;
  /**
   * undefined: the range stopped at nextLsn and reading goes on with the next range. Otherwise
   * reading ended in this range: '' at the end LSN, or what ended it, in pg_waldump's words.
   */
  readonly ended: string | undefined;
  readonly systemId: bigint | undefined;
  /** The timeline of the first page header (a segment start's) and of the last one read. */
  readonly firstPageTli: number;
  readonly pageTli: number;
}

/**
 * Whether range `b`, read from its page start, carries on exactly where `a` stopped: its first
 * record is the one `a` decoded next, with `a`'s last record as its prev-link, from the same system,
 * with no page timeline going back between them. Then each of `b`'s records and its end are what one
 * decoder reading on from `a` would give: from its first record on, `b`'s decoder is in the state
 * that one would be in (position, previous record, system identifier, page timeline order).
 */
export function joins(a: RangeEnd, b: RangeEnd): boolean {
  return (
    a.ended === undefined &&
    a.nextLsn >= 0 &&
    b.records > 0 &&
    b.firstLsn === a.nextLsn &&
    b.firstPrev === a.lastLsn &&
    a.systemId !== undefined &&
    b.systemId === a.systemId &&
    a.pageTli <= b.firstPageTli
  );
}

/**
 * Reads one range; `onRecord` gets each record, which dies when it returns, and returns false to
 * stop reading there (the range then ends as at the end LSN).
 */
export function readRange(o: RangeReadOptions, onRecord: (r: WalRecord) => boolean | void): RangeEnd {
  const resume = o.resume;
  const systemId = resume !== undefined ? resume.systemId : o.systemId;
  const PAGE = XLOG_BLCKSZ;
  assert(resume === undefined || o.start % PAGE !== 0, 'a record never starts at a page boundary');
  const readFrom = resume !== undefined ? o.start : o.start - (o.start % PAGE);
  const decoder = new WalDecoder({
    startLsn: lsn(BigInt(readFrom)),
    segmentSize: o.segmentSize,
    timeline: o.timeline,
    reuseMemory: true,
    scratch,
    ...(resume !== undefined ? { prevLsn: lsn(BigInt(resume.prevLsn)), pageTli: resume.pageTli } : {}),
    ...(systemId !== undefined ? { systemId } : {}),
  });
  const buffers = readBuffers;
  let reads = 0;
  let records = 0;
  let firstLsn = -1;
  let firstPrev = -1;
  let lastLsn = -1;
  let firstPageTli = -1;
  let lastRead = resume !== undefined ? resume.prevLsn : -1;
  const finish = (ended: string | undefined, nextLsn = -1): RangeEnd => ({
    records,
    firstLsn,
    firstPrev,
    lastLsn,
    nextLsn,
    ended,
    systemId: decoder.systemIdentifier,
    firstPageTli,
    pageTli: decoder.pageTimeline,
  });
  let segno = Math.floor(readFrom / o.segmentSize);
  let offset = readFrom % o.segmentSize;
  for (;;) {
    const name = walFileName(o.timeline, BigInt(segno), o.segmentSize);
    const file = join(o.dir, name);
    if (!existsSync(file)) return finish(`could not find file "${name}": No such file or directory`);
    const fd = openSync(file, 'r');
    try {
      const segBase = segno * o.segmentSize;
      const segEnd = o.end !== undefined ? Math.min(o.segmentSize, o.end - segBase) : o.segmentSize;
      for (let pos = offset; pos < segEnd; ) {
        const want = Math.min(segEnd - pos, READ_BYTES);
        const chunk = buffers[reads++ % 2]!;
        const n = readSync(fd, chunk, 0, want, pos);
        if (n <= 0) return finish(`could not read from file ${name}, offset ${pos}: read ${n} of ${want}`);
        if (firstPageTli < 0 && resume === undefined && n >= 8) firstPageTli = readU32(chunk, 4);
        pos += n;
        decoder.push(n === chunk.length ? chunk : chunk.subarray(0, n));
        for (;;) {
          let r: WalRecord | undefined;
          try {
            r = decoder.next();
          } catch (e) {
            if (!(e instanceof WalDecodeError)) throw e;
            return finish(`error in WAL record at ${formatLsn(BigInt(lastRead < 0 ? o.start : lastRead))}: ${e.message}`);
          }
          if (r === undefined) break;
          const at = r.lsnNumber;
          lastRead = at;
          if (at < o.start) continue;
          if (at >= o.stopAt) return finish(undefined, at);
          if (records === 0) {
            firstLsn = at;
            firstPrev = r.prevNumber;
          }
          records++;
          lastLsn = at;
          if (onRecord(r) === false) return finish('');
        }
      }
      if (o.end !== undefined && segBase + segEnd >= o.end) return finish('');
    } finally {
      closeSync(fd);
    }
    segno++;
    offset = 0;
  }
}
