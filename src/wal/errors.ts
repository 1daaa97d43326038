/**
 * The decoder's one error type. Whatever stops decoding, bad input or the end of valid WAL, is a
 * `WalDecodeError` with a `code` that says which, the LSN where it was found and, for page-level
 * problems, the offset in the segment. Messages follow xlogreader.c's wording so that they can be
 * compared with pg_waldump's.
 */
import { formatLsn, type Lsn } from '../pg/lsn.js';

export type WalErrorCode =
  /** xlp_magic is wrong: a zeroed or foreign page. */
  | 'INVALID_MAGIC'
  | 'INVALID_INFO_BITS'
  | 'UNEXPECTED_PAGEADDR'
  | 'OUT_OF_SEQUENCE_TIMELINE'
  | 'SYSTEM_ID_MISMATCH'
  | 'SEGMENT_SIZE_MISMATCH'
  | 'BLOCK_SIZE_MISMATCH'
  | 'INVALID_RECORD_OFFSET'
  | 'CONTRECORD_REQUESTED'
  | 'MISSING_CONTRECORD'
  | 'INVALID_CONTRECORD_LENGTH'
  /** xl_tot_len < SizeOfXLogRecord: typically the zeroed tail of the last page written. */
  | 'INVALID_RECORD_LENGTH'
  | 'RECORD_TOO_LONG'
  | 'INVALID_RMGR'
  | 'BAD_PREV_LINK'
  | 'BAD_CRC'
  /** the record's block headers and data do not add up (DecodeXLogRecord). */
  | 'MALFORMED_RECORD'
  /** the record decoded, but its rmgr payload is not what the record type says. */
  | 'MALFORMED_PAYLOAD'
  | 'UNKNOWN_RECORD_TYPE'
  /** a compressed full-page image does not decompress to a page. */
  | 'BAD_IMAGE'
  /** the input stopped in the middle of a record. */
  | 'INCOMPLETE';

export class WalDecodeError extends Error {
  constructor(
    readonly code: WalErrorCode,
    message: string,
    /** The record (or page) position the error is about. */
    readonly lsn: Lsn,
    /** For page-level errors: the offset inside the segment. */
    readonly segmentOffset?: number,
  ) {
    super(message);
    this.name = 'WalDecodeError';
  }
}

export function lsnText(lsn: Lsn | bigint | number): string {
  return formatLsn(BigInt(lsn));
}

/**
 * pg_waldump's line where reading ends at `e`: "error in WAL record at LSN: why", LSN being the
 * record read last (`lastRead`), or where reading began (`start`) when none was.
 */
export function walEndText(e: WalDecodeError, lastRead: number, start: number | bigint): string {
  return `error in WAL record at ${formatLsn(BigInt(lastRead < 0 ? start : lastRead))}: ${e.message}`;
}
