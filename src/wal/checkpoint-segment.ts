/**
 * The WAL a base backup carries (seed 002, "base backup"): one segment, or two when the record
 * crosses into the next, holding a single XLOG_CHECKPOINT_SHUTDOWN record at a chosen LSN. Stock
 * PostgreSQL reads pg_control's checkpoint location, finds this record there, sees that its redo
 * pointer is the record itself and the state is DB_SHUTDOWNED, and starts with no recovery, writing
 * its own WAL right after the record. (Neon writes no record: its patched compute takes the
 * checkpoint from pg_control. strata's computes are stock, so the record must be real.)
 *
 * The writing side of decoder.ts. It mirrors pg_resetwal.c's WriteEmptyXLOG, which writes the same
 * record at the first position of a segment, generalised to any position:
 *
 * ```
 *  segment start                                 page of the record          (next page, if the record crosses)
 *  +--------------------+-----------+   ...   +------------------+--------+  +----------------+--------------+
 *  | long header        | zeros     |         | short header     | record |  | short header   | rest of the  |
 *  | (40 bytes, sysid,  |           |         | (24 bytes)       | at LSN |  | CONTRECORD,    | record       |
 *  | seg size, blcksz)  |           |         |                  |        |  | rem_len = rest |              |
 *  +--------------------+-----------+         +------------------+--------+  +----------------+--------------+
 *   every page from the segment start up to the record's page has a header; the rest is zeros
 * ```
 *
 * Page headers (XLogPageHeaderData): xlp_magic u16, xlp_info u16, xlp_tli u32, xlp_pageaddr u64,
 * xlp_rem_len u32, 4 bytes padding; the first page of a segment has the long header, which adds
 * xlp_sysid u64, xlp_seg_size u32, xlp_xlog_blcksz u32.
 *
 * The bytes before the record are not WAL strata has (they are the primary's, or nothing): every
 * page from the segment start to the record's page says XLP_FIRST_IS_CONTRECORD, with xlp_rem_len
 * counting the data bytes up to the record, as if one record ending right before it ran through
 * them. PostgreSQL reads the checkpoint by random access and never looks there; but readers that
 * find the first record of a page or segment by skipping continuation data (xlogreader.c's
 * XLogFindNextRecord, used by pg_waldump; strata's own decoder) then land exactly on the record, so
 * the compute's WAL can be read, and followed, from its segment's start.
 */
import { crc32c } from '../pg/crc32c.js';
import { CHECKPOINT_BYTES } from '../pg/control.js';
import {
  SIZE_OF_XLOG_LONG_PHD,
  SIZE_OF_XLOG_RECORD,
  SIZE_OF_XLOG_SHORT_PHD,
  XLOG_BLCKSZ,
  XLOG_PAGE_MAGIC,
  XLOG_RECORD_CRC_OFFSET,
  XLP_FIRST_IS_CONTRECORD,
  XLP_LONG_HEADER,
  XLR_BLOCK_ID_DATA_SHORT,
} from '../pg/constants.js';
import { formatLsn, walFileName, type Lsn } from '../pg/lsn.js';
import { RM_XLOG_ID } from '../pg/rmgr-ids.js';
import { XLOG_CHECKPOINT_SHUTDOWN } from './rmgr/xlog.js';
/** SizeOfXLogRecord + SizeOfXLogRecordDataHeaderShort + sizeof(CheckPoint). */
export const CHECKPOINT_RECORD_BYTES = SIZE_OF_XLOG_RECORD + 2 + CHECKPOINT_BYTES;

const SEGMENT_BYTES_MIN = 1 << 20;
const SEGMENT_BYTES_MAX = 1 << 30;

export interface WalSegmentFile {
  readonly segNo: bigint;
  /** XLogFileName: the file's name in pg_wal. */
  readonly name: string;
  readonly bytes: Buffer;
}

function checkSegmentSize(segmentSize: number): void {
  if (!Number.isInteger(segmentSize) || segmentSize < SEGMENT_BYTES_MIN || segmentSize > SEGMENT_BYTES_MAX || (segmentSize & (segmentSize - 1)) !== 0)
    throw new RangeError(`Cannot lay out WAL in segments of ${segmentSize} bytes: a segment size is a power of two from 1 MiB to 1 GiB`);
}

/** The size of the page header at `pageLsn`: long at a segment start (XLogPageHeaderSize). */
function pageHeaderSize(pageLsn: bigint, segmentSize: number): number {
  return pageLsn % BigInt(segmentSize) === 0n ? SIZE_OF_XLOG_LONG_PHD : SIZE_OF_XLOG_SHORT_PHD;
}

/**
 * The first position at or after `lsn` where a record can start: MAXALIGNed and past the page
 * header (the positions XLogBytePosToRecPtr gives; a record never starts at a page boundary).
 */
export function recordStartAtOrAfter(lsn: Lsn, segmentSize: number): Lsn {
  checkSegmentSize(segmentSize);
  let p = (lsn + 7n) & ~7n;
  const pageLsn = p & ~BigInt(XLOG_BLCKSZ - 1);
  const header = pageHeaderSize(pageLsn, segmentSize);
  if (p - pageLsn < BigInt(header)) p = pageLsn + BigInt(header);
  return p as Lsn;
}

/**
 * A record with main data only, as XLogRecordAssemble builds it (xloginsert.c): the 24-byte header
 * (xl_tot_len u32, xl_xid u32, xl_prev u64, xl_info u8, xl_rmid u8, 2 bytes padding, xl_crc u32),
 * XLR_BLOCK_ID_DATA_SHORT and the data length as one byte, then the data. xl_crc is CRC-32C of the
 * bytes after the header, then of the header up to xl_crc (XLogRecordAssemble's COMP_CRC32C order).
 */
export function encodeMainDataRecord(rmid: number, info: number, xid: number, prev: Lsn, data: Uint8Array): Buffer {
  if (data.length > 255) throw new RangeError(`Cannot encode ${data.length} bytes of main data with a short data header: at most 255`);
  const total = SIZE_OF_XLOG_RECORD + 2 + data.length;
  const b = Buffer.alloc(total);
  b.writeUInt32LE(total, 0);
  b.writeUInt32LE(xid >>> 0, 4);
  b.writeBigUInt64LE(prev, 8);
  b[16] = info;
  b[17] = rmid;
  b[SIZE_OF_XLOG_RECORD] = XLR_BLOCK_ID_DATA_SHORT;
  b[SIZE_OF_XLOG_RECORD + 1] = data.length;
  b.set(data, SIZE_OF_XLOG_RECORD + 2);
  const crc = crc32c(b.subarray(0, XLOG_RECORD_CRC_OFFSET), crc32c(b.subarray(SIZE_OF_XLOG_RECORD)));
  b.writeUInt32LE(crc, XLOG_RECORD_CRC_OFFSET);
  return b;
}

/** The XLOG_CHECKPOINT_SHUTDOWN record CreateCheckPoint inserts, for a CheckPoint struct's bytes; xl_prev as pg_resetwal leaves it (0). */
export function encodeShutdownCheckpointRecord(checkpoint: Uint8Array, prev: Lsn = 0n as Lsn): Buffer {
  if (checkpoint.length !== CHECKPOINT_BYTES) throw new RangeError(`Cannot encode a checkpoint record from ${checkpoint.length} bytes: a CheckPoint is ${CHECKPOINT_BYTES}`);
  return encodeMainDataRecord(RM_XLOG_ID, XLOG_CHECKPOINT_SHUTDOWN, 0, prev, checkpoint);
}

export interface RecordSegmentsOptions {
  /** pg_control's system identifier: long page headers must carry it. */
  readonly systemId: bigint;
  readonly segmentSize: number;
  readonly timeline: number;
  /** Where the record starts: a position recordStartAtOrAfter gives. */
  readonly at: Lsn;
  readonly record: Uint8Array;
}

/** The segment files that hold `record` at `at`, laid out as the module header shows. */
export function recordSegments(o: RecordSegmentsOptions): WalSegmentFile[] {
  checkSegmentSize(o.segmentSize);
  if (recordStartAtOrAfter(o.at, o.segmentSize) !== o.at) throw new RangeError(`Cannot put a record at ${formatLsn(o.at)}: a record starts MAXALIGNed and past a page header`);
  const segSize = BigInt(o.segmentSize);
  const page = BigInt(XLOG_BLCKSZ);
  const segments = new Map<bigint, Buffer>();
  const pageBytes = (pageLsn: bigint): Buffer => {
    const segNo = pageLsn / segSize;
    let seg = segments.get(segNo);
    if (seg === undefined) {
      seg = Buffer.alloc(o.segmentSize);
      segments.set(segNo, seg);
    }
    const off = Number(pageLsn % segSize);
    return seg.subarray(off, off + XLOG_BLCKSZ);
  };
  const writeHeader = (pageLsn: bigint, remLen: number): number => {
    const b = pageBytes(pageLsn);
    const header = pageHeaderSize(pageLsn, o.segmentSize);
    const long = header === SIZE_OF_XLOG_LONG_PHD;
    b.writeUInt16LE(XLOG_PAGE_MAGIC, 0);
    b.writeUInt16LE((long ? XLP_LONG_HEADER : 0) | (remLen > 0 ? XLP_FIRST_IS_CONTRECORD : 0), 2);
    b.writeUInt32LE(o.timeline >>> 0, 4);
    b.writeBigUInt64LE(pageLsn, 8);
    b.writeUInt32LE(remLen, 16);
    if (long) {
      b.writeBigUInt64LE(o.systemId, 24);
      b.writeUInt32LE(o.segmentSize, 32);
      b.writeUInt32LE(XLOG_BLCKSZ, 36);
    }
    return header;
  };

  // The pages before the record: headers whose continuation data runs up to it (see the module header).
  const recordPage = o.at & ~(page - 1n);
  const segmentStart = o.at - (o.at % segSize);
  let remLen = Number(o.at - recordPage) - pageHeaderSize(recordPage, o.segmentSize);
  writeHeader(recordPage, remLen);
  for (let p = recordPage - page; p >= segmentStart; p -= page) {
    remLen += XLOG_BLCKSZ - pageHeaderSize(p, o.segmentSize);
    writeHeader(p, remLen);
  }

  // The record, across page (and segment) boundaries as CopyXLogRecordToWAL lays it.
  let pos: bigint = o.at;
  let done = 0;
  while (done < o.record.length) {
    const pageLsn = pos & ~(page - 1n);
    const room = Number(pageLsn + page - pos);
    const n = Math.min(room, o.record.length - done);
    pageBytes(pageLsn).set(o.record.subarray(done, done + n), Number(pos - pageLsn));
    done += n;
    if (done < o.record.length) {
      const next = pageLsn + page;
      pos = next + BigInt(writeHeader(next, o.record.length - done));
    }
  }
  return [...segments.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([segNo, bytes]) => ({ segNo, name: walFileName(o.timeline, segNo, o.segmentSize), bytes }));
}
