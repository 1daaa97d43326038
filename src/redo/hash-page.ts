/**
 * Hash index pages (access/hash.h) as hash redo changes them: the special space every page has
 * (HashPageOpaqueData), the metapage's fields (HashMetaPageData), the bitmap pages' free bits, and
 * the routines that lay pages out from nothing (_hash_pageinit, _hash_initbuf,
 * _hash_initbitmapbuffer, _hash_init_metabuffer). Every field access is bounds-checked: a page
 * whose special space or an index into the metapage's arrays is out of place is CORRUPT_PAGE.
 *
 *   special space (16 bytes at pd_special):
 *     +0 hasho_prevblkno u32 | +4 hasho_nextblkno u32 | +8 hasho_bucket u32 | +12 hasho_flag u16 | +14 hasho_page_id u16
 *   metapage contents (at MAXALIGN(SizeOfPageHeaderData) = 24):
 *     +0 magic u32 | +4 version u32 | +8 ntuples f64 | +16 ffactor u16 | +18 bsize u16 | +20 bmsize u16
 *     +22 bmshift u16 | +24 maxbucket | +28 highmask | +32 lowmask | +36 ovflpoint | +40 firstfree
 *     +44 nmaps | +48 procid | +52 spares[98] u32 | +444 mapp[1024] u32   (sizeof 4544, MAXALIGNed)
 */
import { BLCKSZ } from '../pg/constants.js';
import { corrupt, maxAlign, setU16, setU32, u16, u32 } from './page-layout.js';
import { SIZE_OF_PAGE_HEADER, pageInit, pageSpecial, setPageLower } from './page.js';

export const LH_UNUSED_PAGE = 0;
export const LH_OVERFLOW_PAGE = 1 << 0;
export const LH_BUCKET_PAGE = 1 << 1;
export const LH_BITMAP_PAGE = 1 << 2;
export const LH_META_PAGE = 1 << 3;
export const LH_BUCKET_NEEDS_SPLIT_CLEANUP = 1 << 6;
export const LH_PAGE_HAS_DEAD_TUPLES = 1 << 7;
export const LH_PAGE_TYPE = LH_OVERFLOW_PAGE | LH_BUCKET_PAGE | LH_BITMAP_PAGE | LH_META_PAGE;

export const HASHO_PAGE_ID = 0xff80;
export const HASH_MAGIC = 0x6440640;
export const HASH_VERSION = 4;
/** InvalidBlockNumber, InvalidBucket */
export const INVALID_BLOCK = 0xffffffff;

export const SIZE_OF_HASH_OPAQUE = 16;
const HASHO_PREVBLKNO = 0;
const HASHO_NEXTBLKNO = 4;
const HASHO_BUCKET = 8;
const HASHO_FLAG = 12;
const HASHO_PAGE_ID_OFF = 14;

const HASH_SPLITPOINT_PHASE_BITS = 2;
const HASH_SPLITPOINT_PHASE_MASK = (1 << HASH_SPLITPOINT_PHASE_BITS) - 1;
const HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE = 10;
export const HASH_MAX_SPLITPOINTS = (32 - HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE) * (1 << HASH_SPLITPOINT_PHASE_BITS) + HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE;
export const HASH_MAX_BITMAPS = Math.min(BLCKSZ / 8, 1024);

/** HashPageGetMeta / HashPageGetBitmap: PageGetContents. */
export const HASH_CONTENTS = maxAlign(SIZE_OF_PAGE_HEADER);
export const HM_MAGIC = HASH_CONTENTS + 0;
export const HM_VERSION = HASH_CONTENTS + 4;
export const HM_NTUPLES = HASH_CONTENTS + 8;
export const HM_FFACTOR = HASH_CONTENTS + 16;
export const HM_BSIZE = HASH_CONTENTS + 18;
export const HM_BMSIZE = HASH_CONTENTS + 20;
export const HM_BMSHIFT = HASH_CONTENTS + 22;
export const HM_MAXBUCKET = HASH_CONTENTS + 24;
export const HM_HIGHMASK = HASH_CONTENTS + 28;
export const HM_LOWMASK = HASH_CONTENTS + 32;
export const HM_OVFLPOINT = HASH_CONTENTS + 36;
export const HM_FIRSTFREE = HASH_CONTENTS + 40;
export const HM_NMAPS = HASH_CONTENTS + 44;
export const HM_PROCID = HASH_CONTENTS + 48;
export const HM_SPARES = HASH_CONTENTS + 52;
export const HM_MAPP = HM_SPARES + 4 * HASH_MAX_SPLITPOINTS;
/** sizeof(HashMetaPageData): the arrays, padded to the double's alignment. */
export const SIZE_OF_HASH_META = maxAlign(HM_MAPP + 4 * HASH_MAX_BITMAPS - HASH_CONTENTS);

/** Where the page's HashPageOpaqueData starts; CORRUPT_PAGE when it does not fit. */
function opaque(p: Uint8Array): number {
  const special = pageSpecial(p);
  if (special < SIZE_OF_PAGE_HEADER || special + SIZE_OF_HASH_OPAQUE > BLCKSZ)
    throw corrupt(`Cannot use a hash page's special space: pd_special ${special} leaves no room for HashPageOpaqueData (${SIZE_OF_HASH_OPAQUE} bytes)`);
  return special;
}

export const hashoPrevBlkno = (p: Uint8Array): number => u32(p, opaque(p) + HASHO_PREVBLKNO);
export const hashoNextBlkno = (p: Uint8Array): number => u32(p, opaque(p) + HASHO_NEXTBLKNO);
export const hashoBucket = (p: Uint8Array): number => u32(p, opaque(p) + HASHO_BUCKET);
export const hashoFlag = (p: Uint8Array): number => u16(p, opaque(p) + HASHO_FLAG);
export const hashoPageId = (p: Uint8Array): number => u16(p, opaque(p) + HASHO_PAGE_ID_OFF);
export const setHashoPrevBlkno = (p: Uint8Array, v: number): void => setU32(p, opaque(p) + HASHO_PREVBLKNO, v);
export const setHashoNextBlkno = (p: Uint8Array, v: number): void => setU32(p, opaque(p) + HASHO_NEXTBLKNO, v);
export const setHashoFlag = (p: Uint8Array, v: number): void => setU16(p, opaque(p) + HASHO_FLAG, v);

export interface HashOpaque {
  readonly prevblkno: number;
  readonly nextblkno: number;
  readonly bucket: number;
  readonly flag: number;
}

/** Fills the special space; hasho_page_id is always HASHO_PAGE_ID. */
export function setHashOpaque(p: Uint8Array, o: HashOpaque): void {
  const s = opaque(p);
  setU32(p, s + HASHO_PREVBLKNO, o.prevblkno);
  setU32(p, s + HASHO_NEXTBLKNO, o.nextblkno);
  setU32(p, s + HASHO_BUCKET, o.bucket);
  setU16(p, s + HASHO_FLAG, o.flag);
  setU16(p, s + HASHO_PAGE_ID_OFF, HASHO_PAGE_ID);
}

/** _hash_pageinit */
export function hashPageInit(p: Uint8Array): void {
  pageInit(p, SIZE_OF_HASH_OPAQUE);
}

/** _hash_initbuf with initpage: a bucket or overflow page. */
export function hashInitBuf(p: Uint8Array, maxBucket: number, numBucket: number, flag: number): void {
  hashPageInit(p);
  setHashOpaque(p, { prevblkno: maxBucket, nextblkno: INVALID_BLOCK, bucket: numBucket, flag });
}

/** _hash_initbitmapbuffer with initpage: every bit of `bmsize` bytes set (all pages free). */
export function hashInitBitmapBuffer(p: Uint8Array, bmsize: number): void {
  hashPageInit(p);
  setHashOpaque(p, { prevblkno: INVALID_BLOCK, nextblkno: INVALID_BLOCK, bucket: INVALID_BLOCK, flag: LH_BITMAP_PAGE });
  if (HASH_CONTENTS + bmsize > pageSpecial(p)) throw corrupt(`Cannot initialize a hash bitmap page: bmsize ${bmsize} does not fit before the special space`);
  p.fill(0xff, HASH_CONTENTS, HASH_CONTENTS + bmsize);
  setPageLower(p, HASH_CONTENTS + bmsize);
}

/** SETBIT / CLRBIT on HashPageGetBitmap (uint32 words, little-endian: bit n is byte n/8, bit n%8). */
export function hashBitmapSet(p: Uint8Array, bit: number, on: boolean): void {
  const byte = HASH_CONTENTS + Math.floor(bit / 8);
  if (!Number.isInteger(bit) || bit < 0 || byte >= opaque(p)) throw corrupt(`Cannot change bit ${bit} of a hash bitmap page: it is past the page's bitmap`);
  if (on) p[byte] = p[byte]! | (1 << (bit % 8));
  else p[byte] = p[byte]! & ~(1 << (bit % 8));
}

/** pg_ceil_log2_32 */
function ceilLog2(n: number): number {
  return n <= 1 ? 0 : 32 - Math.clz32(n - 1);
}

/** _hash_spareindex */
export function hashSpareIndex(numBucket: number): number {
  const group = ceilLog2(numBucket);
  if (group < HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE) return group;
  let phases = HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE;
  phases += (group - HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE) << HASH_SPLITPOINT_PHASE_BITS;
  phases += ((numBucket - 1) >>> (group - (HASH_SPLITPOINT_PHASE_BITS + 1))) & HASH_SPLITPOINT_PHASE_MASK;
  return phases;
}

/** _hash_get_totalbuckets */
export function hashGetTotalBuckets(phase: number): number {
  if (phase < HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE) return 2 ** phase;
  const group = HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE + ((phase - HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE) >>> HASH_SPLITPOINT_PHASE_BITS);
  const within = ((phase - HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE) & HASH_SPLITPOINT_PHASE_MASK) + 1;
  const before = 2 ** (group - 1);
  return before + Math.floor(before / (1 << HASH_SPLITPOINT_PHASE_BITS)) * within;
}

/** pg_nextpower2_32 */
function nextPower2(n: number): number {
  return n <= 1 ? 1 : 2 ** ceilLog2(n);
}

/** _hash_init_metabuffer with initpage. */
export function hashInitMetaBuffer(p: Uint8Array, numTuples: number, procId: number, ffactor: number): void {
  const dnumbuckets = numTuples / ffactor;
  let numBuckets: number;
  if (dnumbuckets <= 2.0) numBuckets = 2;
  else if (dnumbuckets >= 0x40000000) numBuckets = 0x40000000;
  else numBuckets = hashGetTotalBuckets(hashSpareIndex(Math.trunc(dnumbuckets)));
  // A NaN fill factor ratio (ffactor 0 and no tuples) falls through every comparison as in C, where
  // the cast of NaN is undefined: refuse it.
  if (!Number.isFinite(numBuckets) || numBuckets < 2) throw corrupt(`Cannot initialize a hash metapage: ${numTuples} tuples at fill factor ${ffactor} give no bucket count`);
  const spareIndex = hashSpareIndex(numBuckets);
  hashPageInit(p);
  setHashOpaque(p, { prevblkno: INVALID_BLOCK, nextblkno: INVALID_BLOCK, bucket: INVALID_BLOCK, flag: LH_META_PAGE });
  setU32(p, HM_MAGIC, HASH_MAGIC);
  setU32(p, HM_VERSION, HASH_VERSION);
  setHashMetaNtuples(p, 0);
  setU16(p, HM_FFACTOR, ffactor);
  const bsize = BLCKSZ - (maxAlign(SIZE_OF_PAGE_HEADER) + maxAlign(SIZE_OF_HASH_OPAQUE));
  setU16(p, HM_BSIZE, bsize);
  const lshift = 31 - Math.clz32(bsize);
  setU16(p, HM_BMSIZE, 1 << lshift);
  setU16(p, HM_BMSHIFT, lshift + 3);
  setU32(p, HM_PROCID, procId);
  setU32(p, HM_MAXBUCKET, numBuckets - 1);
  const highmask = nextPower2(numBuckets + 1) - 1;
  setU32(p, HM_HIGHMASK, highmask);
  setU32(p, HM_LOWMASK, highmask >>> 1);
  setU32(p, HM_SPARES + 4 * spareIndex, 1);
  setU32(p, HM_OVFLPOINT, spareIndex);
  setU32(p, HM_FIRSTFREE, 0);
  setPageLower(p, HASH_CONTENTS + SIZE_OF_HASH_META);
}

export function hashMetaNtuples(p: Uint8Array): number {
  return new DataView(p.buffer, p.byteOffset, p.byteLength).getFloat64(HM_NTUPLES, true);
}

export function setHashMetaNtuples(p: Uint8Array, v: number): void {
  new DataView(p.buffer, p.byteOffset, p.byteLength).setFloat64(HM_NTUPLES, v, true);
}

/** hashm_spares[i], bounds-checked. */
function spareAt(i: number): number {
  if (!Number.isInteger(i) || i < 0 || i >= HASH_MAX_SPLITPOINTS) throw corrupt(`Cannot use hashm_spares[${i}]: the array has ${HASH_MAX_SPLITPOINTS} entries`);
  return HM_SPARES + 4 * i;
}

export function setHashMetaSpare(p: Uint8Array, i: number, v: number): void {
  setU32(p, spareAt(i), v);
}

export function hashMetaSpare(p: Uint8Array, i: number): number {
  return u32(p, spareAt(i));
}

/** hashm_mapp[hashm_nmaps++] = blkno */
export function hashMetaAddMap(p: Uint8Array, blkno: number): void {
  const nmaps = u32(p, HM_NMAPS);
  if (nmaps >= HASH_MAX_BITMAPS) throw corrupt(`Cannot add a bitmap page to a hash metapage: hashm_nmaps is ${nmaps}, the array has ${HASH_MAX_BITMAPS} entries`);
  setU32(p, HM_MAPP + 4 * nmaps, blkno);
  setU32(p, HM_NMAPS, nmaps + 1);
}
