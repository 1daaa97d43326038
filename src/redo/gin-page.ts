/**
 * GIN page layout (ginblock.h) and the page routines GIN redo needs (ginutil.c, gindatapage.c,
 * ginxlog.c's ginRedoRecompress), over 8 KiB byte arrays.
 *
 * Every GIN page ends in a GinPageOpaqueData (8 bytes at pd_special):
 *
 *   +0 rightlink u32 | +4 maxoff u16 | +6 flags u16
 *
 * Entry tree and pending-list pages hold index tuples behind ordinary line pointers. Posting tree
 * ("data") pages have no line pointers: after the header comes the right bound (ItemPointerData,
 * MAXALIGNed to 8 bytes), then at byte 32 either PostingItems (internal pages: BlockIdData child +
 * ItemPointerData key, 10 bytes each, maxoff of them) or the compressed posting-list segments of
 * a leaf (see gin-posting.ts); pd_lower marks the end of that data. The metapage holds
 * GinMetaPageData right after the header, pd_lower just past it.
 *
 * Routines that follow a pointer from the page check it first and throw RedoError('CORRUPT_PAGE').
 */
import { BLCKSZ } from '../pg/constants.js';
import type { GinSegmentAction } from '../wal/rmgr/gin.js';
import type { ItemPointer } from '../wal/rmgr/index-am.js';
import { RedoError } from './errors.js';
import { ginCompressPostingList, ginMergeItemPointers, ginPostingListDecode, readItemPointerAt, sizeOfGinPostingList } from './gin-posting.js';
import { PD_LOWER, SIZE_OF_PAGE_HEADER, pageInit, pageSpecial } from './page.js';
import { setU16, setU32, u16, u32 } from './page-layout.js';

export const GIN_DATA = 1 << 0;
export const GIN_LEAF = 1 << 1;
export const GIN_DELETED = 1 << 2;
export const GIN_META = 1 << 3;
export const GIN_LIST = 1 << 4;
export const GIN_LIST_FULLROW = 1 << 5;
export const GIN_INCOMPLETE_SPLIT = 1 << 6;
export const GIN_COMPRESSED = 1 << 7;

/** sizeof(GinPageOpaqueData) */
export const GIN_OPAQUE_SIZE = 8;
/** InvalidBlockNumber */
export const INVALID_BLOCK = 0xffffffff;
/** GinDataPageGetData: PageGetContents + MAXALIGN(sizeof(ItemPointerData)). */
export const GIN_DATA_OFFSET = SIZE_OF_PAGE_HEADER + 8;
/** GinDataPageMaxDataSize */
export const GIN_DATA_PAGE_MAX_DATA_SIZE = BLCKSZ - GIN_DATA_OFFSET - GIN_OPAQUE_SIZE;
/** sizeof(PostingItem) */
export const POSTING_ITEM_SIZE = 10;
/** sizeof(GinMetaPageData) */
export const SIZE_OF_GIN_META_PAGE_DATA = 56;

function corruptPage(why: string): RedoError {
  return new RedoError('CORRUPT_PAGE', why);
}

// ---- GinPageOpaqueData ------------------------------------------------------------------------

/** GinPageGetOpaque: pd_special, checked to hold a GinPageOpaqueData. */
function opaqueAt(page: Uint8Array): number {
  const special = pageSpecial(page);
  if (special < SIZE_OF_PAGE_HEADER || special + GIN_OPAQUE_SIZE > BLCKSZ)
    throw corruptPage(`Cannot read a GIN page's opaque data: its pd_special ${special} leaves no room for a GinPageOpaqueData`);
  return special;
}

export function ginRightlink(page: Uint8Array): number {
  return u32(page, opaqueAt(page));
}

export function setGinRightlink(page: Uint8Array, blkno: number): void {
  setU32(page, opaqueAt(page), blkno);
}

export function ginMaxoff(page: Uint8Array): number {
  return u16(page, opaqueAt(page) + 4);
}

export function setGinMaxoff(page: Uint8Array, n: number): void {
  setU16(page, opaqueAt(page) + 4, n);
}

export function ginFlags(page: Uint8Array): number {
  return u16(page, opaqueAt(page) + 6);
}

export function setGinFlags(page: Uint8Array, flags: number): void {
  setU16(page, opaqueAt(page) + 6, flags);
}

/** GinInitPage: an empty page with `flags`, no right sibling. */
export function ginInitPage(page: Uint8Array, flags: number): void {
  pageInit(page, GIN_OPAQUE_SIZE);
  setGinFlags(page, flags);
  setGinRightlink(page, INVALID_BLOCK);
}

/**
 * GinInitMetabuffer followed by the memcpy of the logged GinMetaPageData (`raw`, exactly
 * sizeof(GinMetaPageData)), as UPDATE_META_PAGE and DELETE_LISTPAGE redo do.
 */
export function ginRestoreMetaPage(page: Uint8Array, raw: Uint8Array): void {
  if (raw.length !== SIZE_OF_GIN_META_PAGE_DATA) throw new RedoError('CORRUPT_RECORD', `Cannot restore a GIN metapage from ${raw.length} bytes: GinMetaPageData is ${SIZE_OF_GIN_META_PAGE_DATA}`);
  ginInitPage(page, GIN_META);
  // GinInitMetabuffer's defaults (ginVersion GIN_CURRENT_VERSION, the rest empty) are all
  // overwritten by the memcpy.
  page.set(raw, SIZE_OF_PAGE_HEADER);
  setU16(page, PD_LOWER, SIZE_OF_PAGE_HEADER + SIZE_OF_GIN_META_PAGE_DATA);
}

// ---- data (posting tree) pages -----------------------------------------------------------------

/** GinDataPageSetDataSize */
export function ginDataPageSetDataSize(page: Uint8Array, size: number): void {
  if (size < 0 || size > GIN_DATA_PAGE_MAX_DATA_SIZE) throw corruptPage(`Cannot set a GIN data page's data size to ${size}: at most ${GIN_DATA_PAGE_MAX_DATA_SIZE} fit`);
  setU16(page, PD_LOWER, GIN_DATA_OFFSET + size);
}

/** GinDataLeafPageGetPostingListSize, checked to end before the special space. */
export function ginDataLeafPageGetPostingListSize(page: Uint8Array): number {
  const size = u16(page, PD_LOWER) - GIN_DATA_OFFSET;
  if (size < 0 || GIN_DATA_OFFSET + size > opaqueAt(page)) throw corruptPage(`Cannot read a GIN data leaf's posting list: pd_lower ${u16(page, PD_LOWER)} is outside ${GIN_DATA_OFFSET}..${opaqueAt(page)}`);
  return size;
}

/** GinDataPageGetPostingItem's position, checked to lie before the special space. */
function postingItemPos(page: Uint8Array, i: number): number {
  const pos = GIN_DATA_OFFSET + (i - 1) * POSTING_ITEM_SIZE;
  if (!Number.isInteger(i) || i < 1 || pos + POSTING_ITEM_SIZE > opaqueAt(page)) throw corruptPage(`Cannot reach posting item ${i}: it would pass the special space`);
  return pos;
}

/** PostingItemSetBlockNumber on item `i` (BlockIdData: bi_hi, then bi_lo). */
export function postingItemSetBlockNumber(page: Uint8Array, i: number, blkno: number): void {
  const pos = postingItemPos(page, i);
  setU16(page, pos, blkno >>> 16);
  setU16(page, pos + 2, blkno & 0xffff);
}

/** A PostingItem's 10 bytes. */
export function postingItemBytes(childBlkno: number, key: ItemPointer): Uint8Array {
  const b = new Uint8Array(POSTING_ITEM_SIZE);
  setU16(b, 0, childBlkno >>> 16);
  setU16(b, 2, childBlkno & 0xffff);
  setU16(b, 4, key.blkno >>> 16);
  setU16(b, 6, key.blkno & 0xffff);
  setU16(b, 8, key.offnum);
  return b;
}

/** GinDataPageAddPostingItem: `item` at `offset` (0: after the last), later ones move up. */
export function ginDataPageAddPostingItem(page: Uint8Array, item: Uint8Array, offset: number): void {
  const maxoff = ginMaxoff(page);
  const at = offset === 0 ? maxoff + 1 : offset;
  if (at > maxoff + 1) throw corruptPage(`Cannot add posting item at ${offset}: the page has ${maxoff}`);
  const pos = postingItemPos(page, at);
  postingItemPos(page, maxoff + 1); // the last one's new place must fit too
  if (at !== maxoff + 1) page.copyWithin(pos + POSTING_ITEM_SIZE, pos, pos + (maxoff - at + 1) * POSTING_ITEM_SIZE);
  page.set(item, pos);
  setGinMaxoff(page, maxoff + 1);
  ginDataPageSetDataSize(page, (maxoff + 1) * POSTING_ITEM_SIZE);
}

/** GinPageDeletePostingItem */
export function ginPageDeletePostingItem(page: Uint8Array, offset: number): void {
  const maxoff = ginMaxoff(page);
  if (offset < 1 || offset > maxoff) throw corruptPage(`Cannot delete posting item ${offset}: the page has ${maxoff}`);
  const pos = postingItemPos(page, offset);
  const end = postingItemPos(page, maxoff) + POSTING_ITEM_SIZE;
  if (offset !== maxoff) page.copyWithin(pos, pos + POSTING_ITEM_SIZE, end);
  setGinMaxoff(page, maxoff - 1);
  ginDataPageSetDataSize(page, (maxoff - 1) * POSTING_ITEM_SIZE);
}

// ---- leaf recompression ------------------------------------------------------------------------

/** The pre-9.4 uncompressed leaf (maxoff ItemPointerData at GinDataPageGetData) rewritten compressed. */
function compressOldLeaf(page: Uint8Array): void {
  const n = ginMaxoff(page);
  let size = 0;
  if (n > 0) {
    if (GIN_DATA_OFFSET + 6 * n > opaqueAt(page)) throw corruptPage(`Cannot convert an uncompressed GIN leaf: its ${n} items pass the special space`);
    const items: ItemPointer[] = [];
    for (let i = 0; i < n; i++) items.push(readItemPointerAt(page, GIN_DATA_OFFSET + 6 * i));
    const { segment, nwritten } = ginCompressPostingList(items, BLCKSZ);
    if (nwritten !== n || GIN_DATA_OFFSET + segment.length > opaqueAt(page)) throw corruptPage(`Cannot convert an uncompressed GIN leaf: its ${n} items do not fit compressed`);
    page.set(segment, GIN_DATA_OFFSET);
    size = segment.length;
  }
  ginDataPageSetDataSize(page, size);
  setGinFlags(page, ginFlags(page) | GIN_COMPRESSED);
  setGinMaxoff(page, 0);
}

/**
 * ginRedoRecompress: the leaf's segments rewritten by the logged actions. PostgreSQL edits the
 * page in place, copying the unprocessed tail aside once the first action touches an existing
 * segment; the result is the unchanged leading segments, the actions' output, then (if the tail
 * was copied) the remaining old segments, written from GinDataLeafPageGetPostingList on. Bytes
 * past the new end keep what they held, as they do in PostgreSQL.
 */
export function ginRedoRecompress(page: Uint8Array, actions: readonly GinSegmentAction[]): void {
  if ((ginFlags(page) & GIN_COMPRESSED) === 0) compressOldLeaf(page);
  const limit = opaqueAt(page);
  const base = GIN_DATA_OFFSET;
  const segmentEnd = base + ginDataLeafPageGetPostingListSize(page);
  // A copy of the old segments: reads come from it, writes go to the page.
  const old = page.slice(base, segmentEnd);
  const oldEnd = old.length;
  let oldPos = 0;
  let segno = 0;
  let tailCopied = false;
  const out: Uint8Array[] = [];
  for (const a of actions) {
    while (segno < a.segno) {
      if (oldPos >= oldEnd) throw corruptPage(`Cannot recompress a GIN leaf: action on segment ${a.segno} but the page has only ${segno}`);
      const size = sizeOfGinPostingList(old, oldPos, oldEnd);
      out.push(old.subarray(oldPos, oldPos + size));
      oldPos += size;
      segno++;
    }
    let type = a.type;
    let newseg: Uint8Array | undefined;
    if (a.type === 'insert' || a.type === 'replace') newseg = a.segment;
    if (a.type === 'addItems') {
      if (oldPos >= oldEnd) throw corruptPage(`Cannot recompress a GIN leaf: items added to segment ${a.segno}, past the last`);
      const olditems = ginPostingListDecode(old.subarray(0, oldEnd), oldPos);
      const merged = ginMergeItemPointers(a.items, olditems);
      const { segment, nwritten } = ginCompressPostingList(merged, BLCKSZ);
      if (nwritten !== merged.length) throw corruptPage(`Cannot recompress a GIN leaf: segment ${a.segno} with the added items does not fit a page`);
      newseg = segment;
      type = 'replace';
    }
    const segsize = oldPos !== oldEnd ? sizeOfGinPostingList(old, oldPos, oldEnd) : 0;
    if (oldPos !== oldEnd) tailCopied = true;
    switch (type) {
      case 'delete':
        oldPos += segsize;
        segno++;
        break;
      case 'insert':
        out.push(newseg!);
        break;
      case 'replace':
        out.push(newseg!);
        oldPos += segsize;
        segno++;
        break;
      default:
        throw new RedoError('CORRUPT_RECORD', `Cannot recompress a GIN leaf: unexpected GIN leaf action: ${a.type === 'unknown' ? a.action : a.type}`);
    }
  }
  if (tailCopied && oldPos !== oldEnd) out.push(old.subarray(oldPos, oldEnd));
  let total = 0;
  for (const chunk of out) total += chunk.length;
  if (base + total > limit) throw corruptPage(`Cannot recompress a GIN leaf: its ${total} bytes of segments pass the special space`);
  let w = base;
  for (const chunk of out) {
    page.set(chunk, w);
    w += chunk.length;
  }
  ginDataPageSetDataSize(page, total);
}
