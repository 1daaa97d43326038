/**
 * PostgreSQL's page layout (bufpage.h, itemid.h) over plain 8 KiB byte arrays: the header's
 * fields and flags, PageInit, and the line-pointer array. `page.ts` re-exports its public names next to
 * the bufpage.c routines that move items; import from there.
 *
 * PageHeaderData (24 bytes):
 *   0  pd_lsn (xlogid u32, xrecoff u32)   8 pd_checksum u16   10 pd_flags u16
 *   12 pd_lower u16   14 pd_upper u16   16 pd_special u16   18 pd_pagesize_version u16
 *   20 pd_prune_xid u32, then the ItemIdData array (u32 each: lp_off:15, lp_flags:2, lp_len:15,
 *   least significant bits first, as gcc lays out the bit fields on x86-64).
 *
 * A line pointer's position is checked against the page (offsets 1..MAX_OFFSET_NUMBER_MAX) on
 * every access, so a bad offset becomes RedoError('CORRUPT_PAGE'), never a write off the page.
 */
import { BLCKSZ } from '../pg/constants.js';
import { RedoError } from './errors.js';

export const PD_LSN = 0;
export const PD_CHECKSUM = 8;
export const PD_FLAGS = 10;
export const PD_LOWER = 12;
export const PD_UPPER = 14;
export const PD_SPECIAL = 16;
export const PD_PAGESIZE_VERSION = 18;
export const PD_PRUNE_XID = 20;

/** SizeOfPageHeaderData: where the line-pointer array starts. */
export const SIZE_OF_PAGE_HEADER = 24;
/** sizeof(ItemIdData) */
export const SIZE_OF_ITEM_ID = 4;
/** PG_PAGE_LAYOUT_VERSION */
export const PG_PAGE_LAYOUT_VERSION = 4;
/** MAXIMUM_ALIGNOF on x86-64. */
export const MAXIMUM_ALIGNOF = 8;
/** MaxHeapTuplesPerPage: (BLCKSZ - 24) / (MAXALIGN(23) + 4). */
export const MAX_HEAP_TUPLES_PER_PAGE = 291;
/** MaxIndexTuplesPerPage (itup.h): (BLCKSZ - 24) / (MAXALIGN(sizeof(IndexTupleData) + 1) + 4). */
export const MAX_INDEX_TUPLES_PER_PAGE = 408;
/** The most line pointers a page can hold at all: what bounds every offset number here. */
export const MAX_OFFSET_NUMBER_MAX = (BLCKSZ - SIZE_OF_PAGE_HEADER) / SIZE_OF_ITEM_ID;

// pd_flags
/** PD_HAS_FREE_LINES: a hint that some line pointer is LP_UNUSED. */
export const PD_HAS_FREE_LINES = 0x0001;
/** PD_PAGE_FULL: a hint that an UPDATE found no room on the page. */
export const PD_PAGE_FULL = 0x0002;
/** PD_ALL_VISIBLE: every tuple on the page is visible to everyone. */
export const PD_ALL_VISIBLE = 0x0004;

// lp_flags
export const LP_UNUSED = 0;
export const LP_NORMAL = 1;
export const LP_REDIRECT = 2;
export const LP_DEAD = 3;

/** MAXALIGN */
export function maxAlign(n: number): number {
  return (n + (MAXIMUM_ALIGNOF - 1)) & ~(MAXIMUM_ALIGNOF - 1);
}

// Little-endian field access within the page, and the page's error. Exported for page.ts and the
// access methods' page modules (btree-page.ts, rmgr/seq.ts); page.ts does not re-export them.

export function corrupt(message: string): RedoError {
  return new RedoError('CORRUPT_PAGE', message);
}

export function u16(p: Uint8Array, o: number): number {
  return p[o]! | (p[o + 1]! << 8);
}

export function setU16(p: Uint8Array, o: number, v: number): void {
  p[o] = v & 0xff;
  p[o + 1] = (v >>> 8) & 0xff;
}

export function u32(p: Uint8Array, o: number): number {
  return (p[o]! | (p[o + 1]! << 8) | (p[o + 2]! << 16) | (p[o + 3]! << 24)) >>> 0;
}

export function setU32(p: Uint8Array, o: number, v: number): void {
  p[o] = v & 0xff;
  p[o + 1] = (v >>> 8) & 0xff;
  p[o + 2] = (v >>> 16) & 0xff;
  p[o + 3] = (v >>> 24) & 0xff;
}

// ---------------------------------------------------------------------------------------------
// Header

/** A zeroed page: what a relation extension, or WILL_INIT, starts from. */
export function newPage(): Uint8Array {
  return new Uint8Array(BLCKSZ);
}

/** PageGetLSN, as an exact number. */
export function pageLsn(p: Uint8Array): number {
  return u32(p, PD_LSN) * 0x1_0000_0000 + u32(p, PD_LSN + 4);
}

/** PageSetLSN */
export function setPageLsn(p: Uint8Array, lsn: number): void {
  setU32(p, PD_LSN, Math.floor(lsn / 0x1_0000_0000));
  setU32(p, PD_LSN + 4, lsn % 0x1_0000_0000);
}

/** PageIsNew: pd_upper is zero on a page nobody has initialised. */
export function pageIsNew(p: Uint8Array): boolean {
  return u16(p, PD_UPPER) === 0;
}

export function pageChecksum(p: Uint8Array): number {
  return u16(p, PD_CHECKSUM);
}

export function setPageChecksum(p: Uint8Array, v: number): void {
  setU16(p, PD_CHECKSUM, v);
}

export function pageFlags(p: Uint8Array): number {
  return u16(p, PD_FLAGS);
}

export function setPageFlags(p: Uint8Array, v: number): void {
  setU16(p, PD_FLAGS, v);
}

export function pageLower(p: Uint8Array): number {
  return u16(p, PD_LOWER);
}

export function setPageLower(p: Uint8Array, v: number): void {
  setU16(p, PD_LOWER, v);
}

export function pageUpper(p: Uint8Array): number {
  return u16(p, PD_UPPER);
}

export function setPageUpper(p: Uint8Array, v: number): void {
  setU16(p, PD_UPPER, v);
}

/** pd_special: where the special space starts (PageGetSpecialPointer's offset). */
export function pageSpecial(p: Uint8Array): number {
  return u16(p, PD_SPECIAL);
}

export function setPageSpecial(p: Uint8Array, v: number): void {
  setU16(p, PD_SPECIAL, v);
}

/** PageGetSpecialSize */
export function pageSpecialSize(p: Uint8Array): number {
  return BLCKSZ - u16(p, PD_SPECIAL);
}

/** PageGetPageSize's field, with the layout version in its low byte. */
export function pagePageSizeVersion(p: Uint8Array): number {
  return u16(p, PD_PAGESIZE_VERSION);
}

export function pagePruneXid(p: Uint8Array): number {
  return u32(p, PD_PRUNE_XID);
}

export function setPagePruneXid(p: Uint8Array, xid: number): void {
  setU32(p, PD_PRUNE_XID, xid);
}

/** PageHasFreeLinePointers */
export function pageHasFreeLinePointers(p: Uint8Array): boolean {
  return (pageFlags(p) & PD_HAS_FREE_LINES) !== 0;
}

/** PageSetHasFreeLinePointers */
export function pageSetHasFreeLinePointers(p: Uint8Array): void {
  setPageFlags(p, pageFlags(p) | PD_HAS_FREE_LINES);
}

/** PageClearHasFreeLinePointers */
export function pageClearHasFreeLinePointers(p: Uint8Array): void {
  setPageFlags(p, pageFlags(p) & ~PD_HAS_FREE_LINES);
}

/** PageIsFull */
export function pageIsFull(p: Uint8Array): boolean {
  return (pageFlags(p) & PD_PAGE_FULL) !== 0;
}

/** PageSetFull */
export function pageSetFull(p: Uint8Array): void {
  setPageFlags(p, pageFlags(p) | PD_PAGE_FULL);
}

/** PageClearFull */
export function pageClearFull(p: Uint8Array): void {
  setPageFlags(p, pageFlags(p) & ~PD_PAGE_FULL);
}

/** PageIsAllVisible */
export function pageIsAllVisible(p: Uint8Array): boolean {
  return (pageFlags(p) & PD_ALL_VISIBLE) !== 0;
}

/** PageSetAllVisible */
export function pageSetAllVisible(p: Uint8Array): void {
  setPageFlags(p, pageFlags(p) | PD_ALL_VISIBLE);
}

/** PageClearAllVisible */
export function pageClearAllVisible(p: Uint8Array): void {
  setPageFlags(p, pageFlags(p) & ~PD_ALL_VISIBLE);
}

/** TransactionIdPrecedes (transam.c): modulo-2^32 comparison, plain for the special xids. */
function xidPrecedes(a: number, b: number): boolean {
  if (a < 3 || b < 3) return a < b;
  return ((a - b) | 0) < 0;
}

/**
 * PageSetPrunable (bufpage.h): remember the oldest xid that may leave something to prune. Like
 * PostgreSQL it only moves pd_prune_xid backwards (or sets it when invalid).
 */
export function pageSetPrunable(p: Uint8Array, xid: number): void {
  const old = pagePruneXid(p);
  if (old === 0 || xidPrecedes(xid, old)) setPagePruneXid(p, xid);
}

/** PageClearPrunable */
export function pageClearPrunable(p: Uint8Array): void {
  setPagePruneXid(p, 0);
}

/**
 * PageInit: zero the whole page, then lay out an empty one with `specialSize` (MAXALIGNed) bytes
 * of special space at its end.
 */
export function pageInit(p: Uint8Array, specialSize: number): void {
  const special = maxAlign(specialSize);
  if (p.length !== BLCKSZ) throw new RedoError('BAD_INPUT', `Cannot initialise a page of ${p.length} bytes: a page is ${BLCKSZ}`);
  if (special < 0 || BLCKSZ <= special + SIZE_OF_PAGE_HEADER)
    throw new RedoError('CORRUPT_RECORD', `Cannot initialise a page with ${specialSize} bytes of special space: it must be below ${BLCKSZ - SIZE_OF_PAGE_HEADER}`);
  p.fill(0);
  setU16(p, PD_LOWER, SIZE_OF_PAGE_HEADER);
  setU16(p, PD_UPPER, BLCKSZ - special);
  setU16(p, PD_SPECIAL, BLCKSZ - special);
  setU16(p, PD_PAGESIZE_VERSION, BLCKSZ | PG_PAGE_LAYOUT_VERSION);
}

/** PageGetMaxOffsetNumber: how many line pointers the page has (0 on a new page). */
export function pageMaxOffset(p: Uint8Array): number {
  const lower = u16(p, PD_LOWER);
  return lower <= SIZE_OF_PAGE_HEADER ? 0 : Math.floor((lower - SIZE_OF_PAGE_HEADER) / SIZE_OF_ITEM_ID);
}

/** PageIsEmpty: no line pointers at all. */
export function pageIsEmpty(p: Uint8Array): boolean {
  return u16(p, PD_LOWER) <= SIZE_OF_PAGE_HEADER;
}

/**
 * The header's pointers as bufpage.c's sanity checks want them (lower after the header, lower <=
 * upper <= special <= BLCKSZ, special MAXALIGNed when `specialAligned`); throws CORRUPT_PAGE
 * "corrupted page pointers" otherwise, as PostgreSQL does.
 */
export function checkPointers(p: Uint8Array, what: string, specialAligned: boolean): void {
  const lower = u16(p, PD_LOWER);
  const upper = u16(p, PD_UPPER);
  const special = u16(p, PD_SPECIAL);
  if (lower < SIZE_OF_PAGE_HEADER || lower > upper || upper > special || special > BLCKSZ || (specialAligned && special !== maxAlign(special)))
    throw corrupt(`Cannot ${what}: corrupted page pointers: lower = ${lower}, upper = ${upper}, special = ${special}`);
}

// ---------------------------------------------------------------------------------------------
// Line pointers

/** Where line pointer `offnum` (1-based) sits; throws if it cannot be on any page. */
export function itemIdPos(offnum: number): number {
  if (!Number.isInteger(offnum) || offnum < 1 || offnum > MAX_OFFSET_NUMBER_MAX)
    throw corrupt(`Cannot read line pointer ${offnum}: offsets run from 1 to ${MAX_OFFSET_NUMBER_MAX}`);
  return SIZE_OF_PAGE_HEADER + (offnum - 1) * SIZE_OF_ITEM_ID;
}

export function itemIdWord(p: Uint8Array, offnum: number): number {
  return u32(p, itemIdPos(offnum));
}

/** ItemIdGetOffset */
export function itemIdOffset(p: Uint8Array, offnum: number): number {
  return itemIdWord(p, offnum) & 0x7fff;
}

/** ItemIdGetFlags */
export function itemIdFlags(p: Uint8Array, offnum: number): number {
  return (itemIdWord(p, offnum) >>> 15) & 0x3;
}

/** ItemIdGetLength */
export function itemIdLength(p: Uint8Array, offnum: number): number {
  return itemIdWord(p, offnum) >>> 17;
}

/** ItemIdGetRedirect: a redirect's target is kept in lp_off. */
export function itemIdRedirect(p: Uint8Array, offnum: number): number {
  return itemIdOffset(p, offnum);
}

/** ItemIdIsUsed: anything but LP_UNUSED. */
export function itemIdIsUsed(p: Uint8Array, offnum: number): boolean {
  return itemIdFlags(p, offnum) !== LP_UNUSED;
}

/** ItemIdIsNormal */
export function itemIdIsNormal(p: Uint8Array, offnum: number): boolean {
  return itemIdFlags(p, offnum) === LP_NORMAL;
}

/** ItemIdIsRedirected */
export function itemIdIsRedirected(p: Uint8Array, offnum: number): boolean {
  return itemIdFlags(p, offnum) === LP_REDIRECT;
}

/** ItemIdIsDead */
export function itemIdIsDead(p: Uint8Array, offnum: number): boolean {
  return itemIdFlags(p, offnum) === LP_DEAD;
}

/** ItemIdHasStorage: lp_len is nonzero. */
export function itemIdHasStorage(p: Uint8Array, offnum: number): boolean {
  return itemIdLength(p, offnum) !== 0;
}

/** Writes line pointer `offnum` whole (the ItemIdSet* macros all come down to this). */
export function setItemId(p: Uint8Array, offnum: number, off: number, flags: number, len: number): void {
  setU32(p, itemIdPos(offnum), ((off & 0x7fff) | ((flags & 0x3) << 15) | ((len & 0x7fff) << 17)) >>> 0);
}

/** ItemIdSetUnused */
export function itemIdSetUnused(p: Uint8Array, offnum: number): void {
  setItemId(p, offnum, 0, LP_UNUSED, 0);
}

/** ItemIdSetNormal */
export function itemIdSetNormal(p: Uint8Array, offnum: number, off: number, len: number): void {
  setItemId(p, offnum, off, LP_NORMAL, len);
}

/** ItemIdSetDead: no storage left. */
export function itemIdSetDead(p: Uint8Array, offnum: number): void {
  setItemId(p, offnum, 0, LP_DEAD, 0);
}

/** ItemIdMarkDead: LP_DEAD but the storage kept (index items killed in place). */
export function itemIdMarkDead(p: Uint8Array, offnum: number): void {
  const w = itemIdWord(p, offnum);
  setItemId(p, offnum, w & 0x7fff, LP_DEAD, w >>> 17);
}

/** ItemIdSetRedirect: lp_off holds the target offset number, no storage. */
export function itemIdSetRedirect(p: Uint8Array, offnum: number, target: number): void {
  setItemId(p, offnum, target, LP_REDIRECT, 0);
}

/**
 * PageGetItem: a view of item `offnum`'s lp_len bytes. Throws CORRUPT_PAGE if they would run
 * past the page (PostgreSQL would read whatever lies there).
 */
export function pageItem(p: Uint8Array, offnum: number): Uint8Array {
  const w = itemIdWord(p, offnum);
  const off = w & 0x7fff;
  const len = w >>> 17;
  if (off + len > BLCKSZ || (len > 0 && off < SIZE_OF_PAGE_HEADER))
    throw corrupt(`Cannot read item ${offnum}: its line pointer says offset ${off}, length ${len}, outside the page`);
  return p.subarray(off, off + len);
}

