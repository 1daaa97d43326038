/**
 * BRIN index pages (access/brin_page.h) as BRIN redo changes them: the special space (the page
 * type in the last half-word, the flags before it), the metapage (BrinMetaPageData) and the
 * revmap pages' array of ItemPointerData, one per range. Every access is bounds-checked: a page
 * whose special space or a revmap index is out of place is CORRUPT_PAGE.
 *
 *   special space (MAXALIGN(2) = 8 bytes at pd_special): +4 flags u16 | +6 page type u16
 *   metapage contents (at 24): +0 brinMagic u32 | +4 brinVersion u32 | +8 pagesPerRange u32 | +12 lastRevmapPage u32
 *   revmap contents (at 24): rm_tids[1360], 6 bytes each: bi_hi u16 | bi_lo u16 | ip_posid u16
 */
import { BLCKSZ } from '../pg/constants.js';
import { corrupt, maxAlign, setU16, setU32, u16 } from './page-layout.js';
import { SIZE_OF_PAGE_HEADER, pageInit, pageSpecial, setPageLower } from './page.js';

export const BRIN_PAGETYPE_META = 0xf091;
export const BRIN_PAGETYPE_REVMAP = 0xf092;
export const BRIN_PAGETYPE_REGULAR = 0xf093;
export const BRIN_EVACUATE_PAGE = 1 << 0;
export const BRIN_META_MAGIC = 0xa8109cfa;

/** sizeof(BrinSpecialSpace): MAXALIGN(1) bytes of uint16. */
export const SIZE_OF_BRIN_SPECIAL = maxAlign(1);
const BRIN_FLAGS = SIZE_OF_BRIN_SPECIAL - 4;
const BRIN_TYPE = SIZE_OF_BRIN_SPECIAL - 2;

/** PageGetContents */
export const BRIN_CONTENTS = maxAlign(SIZE_OF_PAGE_HEADER);
export const BRIN_META_LAST_REVMAP_PAGE = BRIN_CONTENTS + 12;
const SIZE_OF_BRIN_META = 16;

const SIZE_OF_ITEM_POINTER = 6;
/** REVMAP_PAGE_MAXITEMS */
export const REVMAP_PAGE_MAXITEMS = Math.floor((BLCKSZ - BRIN_CONTENTS - SIZE_OF_BRIN_SPECIAL) / SIZE_OF_ITEM_POINTER);

function special(p: Uint8Array): number {
  const s = pageSpecial(p);
  if (s < SIZE_OF_PAGE_HEADER || s + SIZE_OF_BRIN_SPECIAL > BLCKSZ)
    throw corrupt(`Cannot use a BRIN page's special space: pd_special ${s} leaves no room for BrinSpecialSpace (${SIZE_OF_BRIN_SPECIAL} bytes)`);
  return s;
}

/** BrinPageType */
export const brinPageType = (p: Uint8Array): number => u16(p, special(p) + BRIN_TYPE);
/** BrinPageFlags */
export const brinPageFlags = (p: Uint8Array): number => u16(p, special(p) + BRIN_FLAGS);
export const setBrinPageFlags = (p: Uint8Array, v: number): void => setU16(p, special(p) + BRIN_FLAGS, v);

/** brin_page_init */
export function brinPageInit(p: Uint8Array, type: number): void {
  pageInit(p, SIZE_OF_BRIN_SPECIAL);
  setU16(p, special(p) + BRIN_TYPE, type);
}

/** brin_metapage_init */
export function brinMetapageInit(p: Uint8Array, pagesPerRange: number, version: number): void {
  brinPageInit(p, BRIN_PAGETYPE_META);
  setU32(p, BRIN_CONTENTS, BRIN_META_MAGIC);
  setU32(p, BRIN_CONTENTS + 4, version);
  setU32(p, BRIN_CONTENTS + 8, pagesPerRange);
  setU32(p, BRIN_META_LAST_REVMAP_PAGE, 0);
  setPageLower(p, BRIN_CONTENTS + SIZE_OF_BRIN_META);
}

/** brin_xlog_revmap_extend's metapage change: lastRevmapPage, and pd_lower just past the metadata. */
export function brinMetaSetLastRevmapPage(p: Uint8Array, blkno: number): void {
  setU32(p, BRIN_META_LAST_REVMAP_PAGE, blkno);
  setPageLower(p, BRIN_CONTENTS + SIZE_OF_BRIN_META);
}

/**
 * brinSetHeapBlockItemptr: the revmap entry of the range holding `heapBlk` points at (blkno,
 * offnum); ItemPointerSetInvalid when blkno is InvalidBlockNumber.
 */
export function brinSetHeapBlockItemptr(p: Uint8Array, pagesPerRange: number, heapBlk: number, blkno: number, offnum: number): void {
  if (!Number.isInteger(pagesPerRange) || pagesPerRange <= 0) throw corrupt(`Cannot set a revmap entry: pagesPerRange is ${pagesPerRange}`);
  const index = Math.floor(heapBlk / pagesPerRange) % REVMAP_PAGE_MAXITEMS;
  const pos = BRIN_CONTENTS + index * SIZE_OF_ITEM_POINTER;
  if (pos + SIZE_OF_ITEM_POINTER > special(p)) throw corrupt(`Cannot set revmap entry ${index}: it is past the page's special space at ${pageSpecial(p)}`);
  setU16(p, pos, blkno >>> 16);
  setU16(p, pos + 2, blkno & 0xffff);
  setU16(p, pos + 4, offnum);
}
