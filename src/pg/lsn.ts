/**
 * Log sequence numbers: byte positions in PostgreSQL's write-ahead log.
 *
 * An `Lsn` is a branded bigint so that it cannot be mixed up with block numbers, lengths or
 * transaction ids. Its text form is PostgreSQL's `X/X` (upper 32 bits / lower 32 bits, hex), as
 * `LSN_FORMAT_ARGS` prints it. The arithmetic that WAL readers need (segment numbers, offsets in a
 * segment or a page, MAXALIGN) lives here with the type.
 */

export type Lsn = bigint & { readonly __brand: 'Lsn' };

export const INVALID_LSN = 0n as Lsn;
export const MAX_LSN = 0xffff_ffff_ffff_ffffn as Lsn;

/** The default and only segment size strata tests with; PostgreSQL allows powers of two 1 MiB - 1 GiB. */
export const DEFAULT_WAL_SEGMENT_SIZE = 16 * 1024 * 1024;
/** XLOG_BLCKSZ: the WAL page size. */
export const WAL_PAGE_SIZE = 8192;

export class LsnParseError extends Error {
  readonly code = 'LSN_PARSE';
}

export function lsn(value: bigint | number): Lsn {
  const v = BigInt(value);
  if (v < 0n || v > MAX_LSN) throw new RangeError(`Cannot make an LSN of ${v}: it must be in [0, 2^64)`);
  return v as Lsn;
}

/** Parses `X/X` as PostgreSQL's `pg_lsn_in` does (1-8 hex digits on each side). */
export function parseLsn(text: string): Lsn {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (m === null) throw new LsnParseError(`Cannot parse WAL location: expected X/X in hex, received "${text}"`);
  return ((BigInt('0x' + m[1]!) << 32n) | BigInt('0x' + m[2]!)) as Lsn;
}

/** Formats as `%X/%X`, PostgreSQL's LSN text form. */
export function formatLsn(value: Lsn | bigint): string {
  const hi = Number(value >> 32n);
  const lo = Number(value & 0xffff_ffffn);
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}

/** Formats as `%X/%08X`, the form pg_waldump uses for record positions. */
export function formatLsnPadded(value: Lsn | bigint): string {
  // Number arithmetic is exact below 2^53 and much cheaper than BigInt shifts on this hot path.
  const n = Number(value);
  const exact = n <= Number.MAX_SAFE_INTEGER;
  const hi = exact ? Math.floor(n / 0x1_0000_0000) : Number(value >> 32n);
  const lo = exact ? n % 0x1_0000_0000 : Number(value & 0xffff_ffffn);
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase().padStart(8, '0')}`;
}

export function lsnAdd(a: Lsn, bytes: number | bigint): Lsn {
  return (a + BigInt(bytes)) as Lsn;
}

/** XLByteToSeg */
export function segmentNumber(value: Lsn, segmentSize: number = DEFAULT_WAL_SEGMENT_SIZE): bigint {
  return value / BigInt(segmentSize);
}

/** XLogSegmentOffset */
export function segmentOffset(value: Lsn, segmentSize: number = DEFAULT_WAL_SEGMENT_SIZE): number {
  return Number(value % BigInt(segmentSize));
}

/** XLogSegNoOffsetToRecPtr */
export function segmentStart(segNo: bigint, segmentSize: number = DEFAULT_WAL_SEGMENT_SIZE): Lsn {
  return (segNo * BigInt(segmentSize)) as Lsn;
}

/** The offset of an LSN inside its WAL page. */
export function pageOffset(value: Lsn): number {
  return Number(value & BigInt(WAL_PAGE_SIZE - 1));
}

export function pageStart(value: Lsn): Lsn {
  return (value & ~BigInt(WAL_PAGE_SIZE - 1)) as Lsn;
}

/** MAXALIGN on x86-64: round up to 8. */
export function maxAlign(value: Lsn): Lsn {
  return ((value + 7n) & ~7n) as Lsn;
}

export function maxAlignNumber(n: number): number {
  return (n + 7) & ~7;
}

export function isValidLsn(value: Lsn): boolean {
  return value !== INVALID_LSN;
}

/** XLogFileName: `TTTTTTTTXXXXXXXXYYYYYYYY` for a timeline and segment number. */
export function walFileName(timeline: number, segNo: bigint, segmentSize: number = DEFAULT_WAL_SEGMENT_SIZE): string {
  const perId = 0x1_0000_0000n / BigInt(segmentSize);
  const hex8 = (n: bigint | number) => n.toString(16).toUpperCase().padStart(8, '0');
  return hex8(timeline) + hex8(segNo / perId) + hex8(segNo % perId);
}

/** XLogFromFileName: the timeline and segment number a WAL file name stands for, or null. */
export function parseWalFileName(
  name: string,
  segmentSize: number = DEFAULT_WAL_SEGMENT_SIZE,
): { timeline: number; segNo: bigint } | null {
  const m = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial)?$/.exec(name);
  if (m === null) return null;
  const perId = 0x1_0000_0000n / BigInt(segmentSize);
  return {
    timeline: parseInt(m[1]!, 16),
    segNo: BigInt('0x' + m[2]!) * perId + BigInt('0x' + m[3]!),
  };
}
