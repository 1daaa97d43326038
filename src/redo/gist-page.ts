/**
 * GiST's page format for redo (gist.h, gist_private.h): the special space, the deleted-page
 * contents, and the page-building routines gistxlog.c shares with gistutil.c. `rmgr/gist.ts`
 * applies records with these; each routine names the PostgreSQL one it mirrors.
 *
 * GISTPageOpaqueData (16 bytes at pd_special):
 *   0 nsn (PageXLogRecPtr: xlogid u32, xrecoff u32)   8 rightlink u32   12 flags u16
 *   14 gist_page_id u16 (GIST_PAGE_ID 0xFF81)
 * GISTDeletedPageContents (at PageGetContents, byte 24): deleteXid, a FullTransactionId (u64);
 *   a deleted page has pd_lower 32.
 *
 * A page that does not hold what these routines read throws RedoError CORRUPT_PAGE (without an
 * LSN: the redo module adds the record's).
 */
import { BLCKSZ } from '../pg/constants.js';
import { RedoError } from './errors.js';
import { pageAddItem, pageInit, pageIsEmpty, pageMaxOffset, pageSpecial, setPageLower } from './page.js';
import { setU16, setU32, u16, u32 } from './page-layout.js';

export const F_LEAF = 1 << 0;
export const F_DELETED = 1 << 1;
export const F_TUPLES_DELETED = 1 << 2;
export const F_FOLLOW_RIGHT = 1 << 3;
export const F_HAS_GARBAGE = 1 << 4;

export const GIST_PAGE_ID = 0xff81;
/** sizeof(GISTPageOpaqueData) */
export const GIST_OPAQUE_SIZE = 16;
/** GIST_ROOT_BLKNO */
export const GIST_ROOT_BLKNO = 0;
/** InvalidBlockNumber */
export const INVALID_BLOCK_NUMBER = 0xffff_ffff;
/** MAXALIGN(SizeOfPageHeaderData): where PageGetContents points. */
const PAGE_CONTENTS = 24;
/** sizeof(IndexTupleData) */
const INDEX_TUPLE_HEADER_SIZE = 8;
const INDEX_SIZE_MASK = 0x1fff;

function corruptPage(why: string): RedoError {
  return new RedoError('CORRUPT_PAGE', why);
}

/** GistPageGetOpaque: where the special space starts, checked to hold a GISTPageOpaqueData. */
function opaqueAt(page: Uint8Array): number {
  const special = pageSpecial(page);
  if (special < PAGE_CONTENTS || special + GIST_OPAQUE_SIZE > BLCKSZ)
    throw corruptPage(`its pd_special ${special} leaves no room for a GISTPageOpaqueData`);
  return special;
}

export function gistFlags(page: Uint8Array): number {
  return u16(page, opaqueAt(page) + 12);
}

export function setGistFlags(page: Uint8Array, flags: number): void {
  setU16(page, opaqueAt(page) + 12, flags);
}

export function gistRightlink(page: Uint8Array): number {
  return u32(page, opaqueAt(page) + 8);
}

export function setGistRightlink(page: Uint8Array, blkno: number): void {
  setU32(page, opaqueAt(page) + 8, blkno);
}

/** GistPageGetNSN */
export function gistNsn(page: Uint8Array): bigint {
  const o = opaqueAt(page);
  return (BigInt(u32(page, o)) << 32n) | BigInt(u32(page, o + 4));
}

/** GistPageSetNSN: PageXLogRecPtrSet, the high half first. */
export function setGistNsn(page: Uint8Array, nsn: bigint | number): void {
  const o = opaqueAt(page);
  const v = BigInt.asUintN(64, BigInt(nsn));
  setU32(page, o, Number(v >> 32n));
  setU32(page, o + 4, Number(v & 0xffff_ffffn));
}

export function gistPageIsLeaf(page: Uint8Array): boolean {
  return (gistFlags(page) & F_LEAF) !== 0;
}

/** GISTInitBuffer / gistinitpage: an empty page with the opaque data filled in. */
export function gistInitPage(page: Uint8Array, flags: number): void {
  pageInit(page, GIST_OPAQUE_SIZE);
  const o = opaqueAt(page);
  setU32(page, o + 8, INVALID_BLOCK_NUMBER);
  setU16(page, o + 12, flags);
  setU16(page, o + 14, GIST_PAGE_ID);
}

/** GistPageSetDeleted: an empty page marked deleted, its deleteXid after the header. */
export function gistPageSetDeleted(page: Uint8Array, deleteXid: bigint): void {
  // PostgreSQL only Asserts the page is empty; a page with items would lose their line pointers.
  if (!pageIsEmpty(page)) throw corruptPage(`a page to mark deleted must be empty, but it has ${pageMaxOffset(page)} items`);
  setGistFlags(page, gistFlags(page) | F_DELETED);
  if (opaqueAt(page) < PAGE_CONTENTS + 8) throw corruptPage('its special space leaves no room for GISTDeletedPageContents');
  setPageLower(page, PAGE_CONTENTS + 8);
  const v = BigInt.asUintN(64, deleteXid);
  setU32(page, PAGE_CONTENTS, Number(v & 0xffff_ffffn));
  setU32(page, PAGE_CONTENTS + 4, Number(v >> 32n));
}

/** IndexTupleSize, checked against the bytes that hold the tuple. */
export function gistTupleSize(t: Uint8Array): number {
  if (t.length < INDEX_TUPLE_HEADER_SIZE) throw new RedoError('CORRUPT_RECORD', `an index tuple of ${t.length} bytes is shorter than its header`);
  const size = u16(t, 6) & INDEX_SIZE_MASK;
  if (size < INDEX_TUPLE_HEADER_SIZE || size > t.length) throw new RedoError('CORRUPT_RECORD', `an index tuple says it is ${size} bytes, but ${t.length} are there`);
  return size;
}

/** gistfillbuffer: `tuples` added in order from `off` (0: after the last item). */
export function gistFillBuffer(page: Uint8Array, tuples: readonly Uint8Array[], off: number): void {
  let o = off !== 0 ? off : pageIsEmpty(page) ? 1 : pageMaxOffset(page) + 1;
  for (const t of tuples) {
    const sz = gistTupleSize(t);
    if (pageAddItem(page, t.subarray(0, sz), o, false, false) === 0)
      throw corruptPage(`failed to add item to GiST index page, size ${sz} bytes`);
    o++;
  }
}
