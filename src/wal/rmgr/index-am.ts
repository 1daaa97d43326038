/**
 * Pieces the index access method rmgrs (hash, gin, gist, spgist, brin) share: reading arrays of
 * OffsetNumbers, walking packed IndexTuples, ItemPointers, a block's data when the record carries
 * it, and C's `%g` for the two hash records that print a double.
 *
 * Tuples are returned as views into the record, not copies: redo hands them to PageAddItem as
 * PostgreSQL's redo routines hand it the pointers into the record.
 */
import type { ByteReader } from '../../pg/bytes.js';
import type { BlockNumber } from '../../pg/types.js';
import type { WalRecord } from '../record.js';
import { malformedPayload, withBytes } from './rmgr.js';

/** sizeof(IndexTupleData): t_tid (6 bytes) and t_info (2). */
export const SIZE_OF_INDEX_TUPLE_DATA = 8;
/** INDEX_SIZE_MASK (itup.h): the size bits of t_info. */
const INDEX_SIZE_MASK = 0x1fff;
const MAXIMUM_ALIGNOF = 8;

/** ItemPointerData: a heap (or posting tree) tuple's address. */
export interface ItemPointer {
  readonly blkno: BlockNumber;
  readonly offnum: number;
}

/** OffsetNumbers, as many as `n`. */
export function readOffsets(r: ByteReader, n: number, what = 'OffsetNumber array'): number[] {
  r.need(2 * n, `${what} (${n} entries)`);
  const out: number[] = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = r.u16(what);
  return out;
}

/** OffsetNumbers filling the rest of the reader (as `unend - unused` in PostgreSQL's redo). */
export function readOffsetsToEnd(r: ByteReader, what = 'OffsetNumber array'): number[] {
  return readOffsets(r, Math.floor(r.remaining / 2), what);
}

/** BlockIdData: bi_hi and bi_lo, 16 bits each, so only 2-byte aligned. */
export function readBlockId(r: ByteReader, what = 'BlockIdData'): BlockNumber {
  const hi = r.u16(what);
  const lo = r.u16(what);
  return (((hi << 16) | lo) >>> 0) as BlockNumber;
}

/** ItemPointerData (6 bytes, 2-byte aligned). */
export function readItemPointer(r: ByteReader, what = 'ItemPointerData'): ItemPointer {
  const blkno = readBlockId(r, what);
  return { blkno, offnum: r.u16(what) };
}

/** IndexTupleSize of the tuple at the reader's position, without moving it. */
export function peekIndexTupleSize(record: WalRecord, r: ByteReader, what: string): number {
  r.need(SIZE_OF_INDEX_TUPLE_DATA, `${what} header`);
  const o = r.offset + 6;
  const size = (r.bytes[o]! | (r.bytes[o + 1]! << 8)) & INDEX_SIZE_MASK;
  if (size < SIZE_OF_INDEX_TUPLE_DATA)
    malformedPayload(record, `${what} at offset ${r.position} has size ${size}, less than an IndexTupleData`);
  return size;
}

/** One IndexTuple, IndexTupleSize bytes long. */
export function readIndexTuple(record: WalRecord, r: ByteReader, what = 'index tuple'): Uint8Array {
  return r.bytesView(peekIndexTupleSize(record, r, what), what);
}

/**
 * IndexTuples packed back to back until the reader ends, each IndexTupleSize long (or MAXALIGNed,
 * as hash's move and squeeze records store them; the view then spans the aligned length, which is
 * what redo adds to the page).
 */
export function readIndexTuplesToEnd(record: WalRecord, r: ByteReader, maxAligned = false, what = 'index tuple'): Uint8Array[] {
  const out: Uint8Array[] = [];
  while (r.remaining > 0) {
    let size = peekIndexTupleSize(record, r, what);
    if (maxAligned) size = maxAlign(size);
    out.push(r.bytesView(size, what));
  }
  return out;
}

/** `n` IndexTuples packed back to back. */
export function readIndexTuples(record: WalRecord, r: ByteReader, n: number, what = 'index tuple'): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(readIndexTuple(record, r, what));
  return out;
}

export function maxAlign(n: number): number {
  return (n + MAXIMUM_ALIGNOF - 1) & ~(MAXIMUM_ALIGNOF - 1);
}

export function shortAlign(n: number): number {
  return (n + 1) & ~1;
}

/**
 * Runs `fn` over block `id`'s data if the record carries any (XLogRecGetBlockData); undefined when
 * it does not, as when the block is restored from a full-page image and its data was left out.
 */
export function withBlockData<T>(record: WalRecord, id: number, fn: (r: ByteReader) => T): T | undefined {
  const b = record.blocks[id];
  if (b === undefined || !b.hasData) return undefined;
  return withBytes(record, b.data, `block ${id} data`, fn);
}

/** `%c` of a flag as PostgreSQL's descs print booleans. */
export function tf(b: boolean): 'T' | 'F' {
  return b ? 'T' : 'F';
}

/**
 * printf's `%g` (precision 6) as glibc prints a double: 6 significant digits rounded half to even
 * on the exact binary value, `%e` style when the exponent is below -4 or at least 6, trailing
 * zeros dropped.
 */
export function formatG(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v < 0 ? '-inf' : 'inf';
  const sign = v < 0 || Object.is(v, -0) ? '-' : '';
  if (v === 0) return sign + '0';
  const precision = 6;
  let { digits, exponent } = exactDecimal(Math.abs(v));
  if (digits.length > precision) {
    const head = digits.slice(0, precision);
    const rest = digits.slice(precision);
    const first = rest.charCodeAt(0) - 48;
    const tail = /[1-9]/.test(rest.slice(1));
    const lastDigit = head.charCodeAt(precision - 1) - 48;
    const up = first > 5 || (first === 5 && (tail || lastDigit % 2 === 1));
    let rounded = up ? (BigInt(head) + 1n).toString() : head;
    if (rounded.length > precision) {
      rounded = rounded.slice(0, precision);
      exponent++;
    }
    digits = rounded;
  }
  digits = digits.replace(/0+$/, '');
  if (digits === '') digits = '0';
  if (exponent < -4 || exponent >= precision) {
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exponent).toString().padStart(2, '0');
    return `${sign}${mantissa}e${exponent < 0 ? '-' : '+'}${e}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const intLen = exponent + 1;
  if (digits.length <= intLen) return sign + digits + '0'.repeat(intLen - digits.length);
  return `${sign}${digits.slice(0, intLen)}.${digits.slice(intLen)}`;
}

/** The exact decimal digits of a positive finite double and the power of ten of the first digit. */
function exactDecimal(v: number): { digits: string; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, v);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exp2: number;
  if (biased === 0) exp2 = -1074;
  else {
    mantissa |= 1n << 52n;
    exp2 = biased - 1075;
  }
  let digits: string;
  let pointPos: number;
  if (exp2 >= 0) {
    digits = (mantissa << BigInt(exp2)).toString();
    pointPos = digits.length;
  } else {
    const k = -exp2;
    digits = (mantissa * 5n ** BigInt(k)).toString();
    pointPos = digits.length - k;
  }
  const trimmed = digits.replace(/^0+/, '');
  pointPos -= digits.length - trimmed.length;
  return { digits: trimmed, exponent: pointPos - 1 };
}
