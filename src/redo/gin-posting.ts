/**
 * GIN's compressed posting lists (ginpostinglist.c): how a posting tree leaf, and the posting list
 * inside an entry tuple, store sorted heap TIDs. Redo needs the codec when a leaf recompression
 * (ginRedoRecompress) merges logged items into an on-page segment, and when it converts a pre-9.4
 * uncompressed leaf.
 *
 * A segment (GinPostingList, 2-byte aligned):
 *
 *   0       6        8                         8 + nbytes   SHORTALIGN
 *   | first | nbytes | varbyte deltas ...        | 0 pad?  |
 *
 * `first` is an ItemPointerData (bi_hi u16, bi_lo u16, ip_posid u16). Every later item is the
 * difference from the one before of (blkno << 11 | offnum), in 7-bit groups, low group first, the
 * high bit set on every byte but the last (at most 7 bytes: 43 bits of value).
 *
 * The values stay below 2^53, so plain numbers carry them exactly; a corrupt segment whose sum
 * would pass that is refused rather than rounded.
 */
import type { ItemPointer } from '../wal/rmgr/index-am.js';
import type { BlockNumber } from '../pg/types.js';
import { RedoError } from './errors.js';

/** offsetof(GinPostingList, bytes) */
export const SIZE_OF_GIN_POSTING_LIST_HEADER = 8;
/** MaxHeapTuplesPerPageBits */
const OFFSET_BITS = 11;
const OFFSET_RANGE = 1 << OFFSET_BITS;
/** MaxBytesPerInteger */
const MAX_BYTES_PER_INTEGER = 7;

function corrupt(why: string): RedoError {
  return new RedoError('CORRUPT_PAGE', why);
}

function shortAlign(n: number): number {
  return (n + 1) & ~1;
}

/** itemptr_to_uint64 */
function itemToNumber(ip: ItemPointer): number {
  if (ip.offnum >= OFFSET_RANGE || ip.offnum < 0) throw corrupt(`Cannot encode item pointer (${ip.blkno},${ip.offnum}): its offset does not fit in ${OFFSET_BITS} bits`);
  return ip.blkno * OFFSET_RANGE + ip.offnum;
}

/** uint64_to_itemptr: BlockIdSet keeps the low 32 bits of the block number. */
function numberToItem(v: number): ItemPointer {
  return { blkno: (Math.floor(v / OFFSET_RANGE) % 0x1_0000_0000) as BlockNumber, offnum: v % OFFSET_RANGE };
}

/** ginCompareItemPointers */
export function ginCompareItemPointers(a: ItemPointer, b: ItemPointer): number {
  if (a.blkno !== b.blkno) return a.blkno > b.blkno ? 1 : -1;
  if (a.offnum !== b.offnum) return a.offnum > b.offnum ? 1 : -1;
  return 0;
}

/** encode_varbyte into `out` (a number array of bytes). */
function encodeVarbyte(v: number, out: number[]): void {
  while (v > 0x7f) {
    out.push(0x80 | (v % 128));
    v = Math.floor(v / 128);
  }
  out.push(v);
}

export interface CompressedPostingList {
  /** The segment, SizeOfGinPostingList bytes (the pad byte zeroed, as ginCompressPostingList does). */
  readonly segment: Uint8Array;
  /** How many of the items it holds (they are packed in order until maxSize is reached). */
  readonly nwritten: number;
}

/**
 * ginCompressPostingList: packs `items` (strictly ascending, at least one) into a segment of at
 * most `maxSize` bytes.
 */
export function ginCompressPostingList(items: readonly ItemPointer[], maxSize: number): CompressedPostingList {
  const first = items[0];
  if (first === undefined) throw corrupt('Cannot compress an empty posting list');
  const maxBytes = (maxSize & ~1) - SIZE_OF_GIN_POSTING_LIST_HEADER;
  if (maxBytes <= 0) throw corrupt(`Cannot compress a posting list into ${maxSize} bytes`);
  const bytes: number[] = [];
  let prev = itemToNumber(first);
  let n = 1;
  for (; n < items.length; n++) {
    const val = itemToNumber(items[n]!);
    if (val <= prev) throw corrupt(`Cannot compress a posting list: item ${n} (${items[n]!.blkno},${items[n]!.offnum}) does not follow the one before`);
    const enc: number[] = [];
    encodeVarbyte(val - prev, enc);
    if (enc.length > maxBytes - bytes.length) break; // output is full
    for (const b of enc) bytes.push(b);
    prev = val;
  }
  const segment = new Uint8Array(SIZE_OF_GIN_POSTING_LIST_HEADER + shortAlign(bytes.length));
  writeItemPointer(segment, 0, first);
  segment[6] = bytes.length & 0xff;
  segment[7] = bytes.length >>> 8;
  segment.set(bytes, SIZE_OF_GIN_POSTING_LIST_HEADER);
  return { segment, nwritten: n };
}

/** ItemPointerData at `o`. */
export function readItemPointerAt(buf: Uint8Array, o: number): ItemPointer {
  if (o < 0 || o + 6 > buf.length) throw corrupt(`Cannot read an item pointer at ${o}: only ${buf.length} bytes`);
  const hi = buf[o]! | (buf[o + 1]! << 8);
  const lo = buf[o + 2]! | (buf[o + 3]! << 8);
  return { blkno: (((hi << 16) | lo) >>> 0) as BlockNumber, offnum: buf[o + 4]! | (buf[o + 5]! << 8) };
}

/** Writes ItemPointerData at `o`. */
export function writeItemPointer(buf: Uint8Array, o: number, ip: ItemPointer): void {
  if (o < 0 || o + 6 > buf.length) throw corrupt(`Cannot write an item pointer at ${o}: only ${buf.length} bytes`);
  const hi = ip.blkno >>> 16;
  const lo = ip.blkno & 0xffff;
  buf[o] = hi & 0xff;
  buf[o + 1] = hi >>> 8;
  buf[o + 2] = lo & 0xff;
  buf[o + 3] = lo >>> 8;
  buf[o + 4] = ip.offnum & 0xff;
  buf[o + 5] = (ip.offnum >>> 8) & 0xff;
}

/** SizeOfGinPostingList of the segment at `o` in `buf`; throws if its header or bytes pass `end`. */
export function sizeOfGinPostingList(buf: Uint8Array, o: number, end: number = buf.length): number {
  if (o + SIZE_OF_GIN_POSTING_LIST_HEADER > end) throw corrupt(`Cannot read a posting list segment at ${o}: its header passes the end at ${end}`);
  const nbytes = buf[o + 6]! | (buf[o + 7]! << 8);
  const size = SIZE_OF_GIN_POSTING_LIST_HEADER + shortAlign(nbytes);
  if (o + size > end) throw corrupt(`Cannot read a posting list segment at ${o}: its ${nbytes} bytes pass the end at ${end}`);
  return size;
}

/**
 * ginPostingListDecodeAllSegments: the items of the segments in `buf[o, o + len)`. A varbyte that
 * runs past its segment's bytes is refused (PostgreSQL would read on into the next).
 */
export function ginPostingListDecodeAllSegments(buf: Uint8Array, o: number, len: number): ItemPointer[] {
  const end = o + len;
  if (o < 0 || end > buf.length) throw corrupt(`Cannot decode posting list segments at ${o}..${end}: only ${buf.length} bytes`);
  const out: ItemPointer[] = [];
  while (o < end) {
    const size = sizeOfGinPostingList(buf, o, end);
    const first = readItemPointerAt(buf, o);
    out.push(first);
    let val = first.blkno * OFFSET_RANGE + first.offnum;
    const nbytes = buf[o + 6]! | (buf[o + 7]! << 8);
    let p = o + SIZE_OF_GIN_POSTING_LIST_HEADER;
    const bytesEnd = p + nbytes;
    while (p < bytesEnd) {
      // decode_varbyte: up to 7 bytes, the 7th taken whole.
      let delta = 0;
      let mult = 1;
      for (let i = 0; ; i++) {
        if (p >= bytesEnd) throw corrupt(`Cannot decode the posting list segment at ${o}: a varbyte runs past its ${nbytes} bytes`);
        const c = buf[p++]!;
        if (i === MAX_BYTES_PER_INTEGER - 1) {
          delta += c * mult;
          break;
        }
        delta += (c & 0x7f) * mult;
        if ((c & 0x80) === 0) break;
        mult *= 128;
      }
      val += delta;
      if (val > Number.MAX_SAFE_INTEGER) throw corrupt(`Cannot decode the posting list segment at ${o}: an item passes 2^53`);
      out.push(numberToItem(val));
    }
    o += size;
  }
  return out;
}

/** ginPostingListDecode: the items of the one segment at `o`. */
export function ginPostingListDecode(buf: Uint8Array, o = 0): ItemPointer[] {
  return ginPostingListDecodeAllSegments(buf, o, sizeOfGinPostingList(buf, o));
}

/** ginMergeItemPointers: the union of two ascending lists, one copy of items in both. */
export function ginMergeItemPointers(a: readonly ItemPointer[], b: readonly ItemPointer[]): ItemPointer[] {
  const lastA = a[a.length - 1];
  const lastB = b[b.length - 1];
  if (lastA === undefined || b[0] === undefined || ginCompareItemPointers(lastA, b[0]) < 0) return [...a, ...b];
  if (lastB !== undefined && a[0] !== undefined && ginCompareItemPointers(lastB, a[0]) < 0) return [...b, ...a];
  const out: ItemPointer[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const cmp = ginCompareItemPointers(a[i]!, b[j]!);
    if (cmp > 0) out.push(b[j++]!);
    else if (cmp === 0) {
      out.push(b[j++]!);
      i++;
    } else out.push(a[i++]!);
  }
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}
