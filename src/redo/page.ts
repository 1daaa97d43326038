/**
 * PostgreSQL's page layout (bufpage.h) and the page routines redo needs (bufpage.c), over plain
 * 8 KiB byte arrays: adding, deleting and overwriting items, repairing fragmentation, truncating
 * the line-pointer array, free space. The header and line-pointer accessors live in
 * `page-layout.ts` (with the byte diagram) and are re-exported here: redo modules import the
 * whole API from this module. Each routine names the PostgreSQL function it mirrors and produces
 * the same bytes (checked against bufpage.c itself, compiled, on random operation sequences).
 *
 * Redo runs on pages it did not write, so every routine that follows a pointer found on the page
 * checks it first: where PostgreSQL raises ERROR or PANIC ("corrupted page pointers", "invalid
 * index offnum") strata throws RedoError('CORRUPT_PAGE'), and where PostgreSQL would only Assert,
 * strata still refuses to touch bytes outside the page. Where PostgreSQL's function returns a
 * failure (PageAddItemExtended, PageIndexTupleOverwrite) this one returns it too, for the caller
 * to report as PostgreSQL's caller does.
 */
import { BLCKSZ } from '../pg/constants.js';
import {
  LP_NORMAL, LP_UNUSED, MAX_HEAP_TUPLES_PER_PAGE, PD_LOWER, PD_SPECIAL, PD_UPPER, SIZE_OF_ITEM_ID, SIZE_OF_PAGE_HEADER,
  checkPointers, corrupt, itemIdFlags, itemIdLength, itemIdPos, itemIdSetUnused, itemIdWord, maxAlign,
  pageClearHasFreeLinePointers, pageHasFreeLinePointers, pageIsEmpty, pageMaxOffset, pageSetHasFreeLinePointers,
  setItemId, setU16, setU32, u16, u32,
} from './page-layout.js';

// The layout half of the API (bufpage.h, itemid.h); the helpers page-layout.ts shares with this
// module only are not re-exported.
export {
  PD_LSN, PD_CHECKSUM, PD_FLAGS, PD_LOWER, PD_UPPER, PD_SPECIAL, PD_PAGESIZE_VERSION, PD_PRUNE_XID,
  SIZE_OF_PAGE_HEADER, SIZE_OF_ITEM_ID, PG_PAGE_LAYOUT_VERSION, MAXIMUM_ALIGNOF,
  MAX_HEAP_TUPLES_PER_PAGE, MAX_INDEX_TUPLES_PER_PAGE, MAX_OFFSET_NUMBER_MAX, PD_HAS_FREE_LINES,
  PD_PAGE_FULL, PD_ALL_VISIBLE, LP_UNUSED, LP_NORMAL, LP_REDIRECT, LP_DEAD, maxAlign, newPage,
  pageLsn, setPageLsn, pageIsNew, pageChecksum, setPageChecksum, pageFlags, setPageFlags,
  pageLower, setPageLower, pageUpper, setPageUpper, pageSpecial, setPageSpecial, pageSpecialSize,
  pagePageSizeVersion, pagePruneXid, setPagePruneXid, pageHasFreeLinePointers,
  pageSetHasFreeLinePointers, pageClearHasFreeLinePointers, pageIsFull, pageSetFull, pageClearFull,
  pageIsAllVisible, pageSetAllVisible, pageClearAllVisible, pageSetPrunable, pageClearPrunable,
  pageInit, pageMaxOffset, pageIsEmpty, itemIdOffset, itemIdFlags, itemIdLength, itemIdRedirect,
  itemIdIsUsed, itemIdIsNormal, itemIdIsRedirected, itemIdIsDead, itemIdHasStorage, setItemId,
  itemIdSetUnused, itemIdSetNormal, itemIdSetDead, itemIdMarkDead, itemIdSetRedirect, pageItem,
} from './page-layout.js';

// ---------------------------------------------------------------------------------------------
// Adding items

/**
 * PageAddItemExtended: puts `item` on the page at `offnum` (0, InvalidOffsetNumber: the first
 * free line pointer, or a new one). With `overwrite` the line pointer at `offnum` must be unused
 * and is reused; without it, line pointers from `offnum` on move up one. `isHeap` refuses offsets
 * past MaxHeapTuplesPerPage. Returns the offset used, or 0 where PostgreSQL returns
 * InvalidOffsetNumber (no room, or an offset it refuses); the caller decides that is an error.
 */
export function pageAddItem(p: Uint8Array, item: Uint8Array, offnum: number, overwrite: boolean, isHeap: boolean): number {
  checkPointers(p, 'add an item', false);
  const size = item.length;
  const limit = pageMaxOffset(p) + 1;
  let needShuffle = false;
  if (!Number.isInteger(offnum) || offnum < 0) return 0;
  if (offnum !== 0) {
    if (overwrite) {
      if (offnum < limit) {
        if (itemIdFlags(p, offnum) !== LP_UNUSED || itemIdLength(p, offnum) !== 0) return 0; // "will not overwrite a used ItemId"
      }
    } else if (offnum < limit) {
      needShuffle = true;
    }
  } else if (pageHasFreeLinePointers(p)) {
    // Look for an unused line pointer with no storage; if the hint was wrong, clear it.
    offnum = 1;
    while (offnum < limit && (itemIdFlags(p, offnum) !== LP_UNUSED || itemIdLength(p, offnum) !== 0)) offnum++;
    if (offnum >= limit) pageClearHasFreeLinePointers(p);
  } else {
    offnum = limit;
  }
  if (offnum > limit) return 0; // "specified item offset is too large"
  if (isHeap && offnum > MAX_HEAP_TUPLES_PER_PAGE) return 0;
  const lowerNow = u16(p, PD_LOWER);
  const lower = offnum === limit || needShuffle ? lowerNow + SIZE_OF_ITEM_ID : lowerNow;
  const upper = u16(p, PD_UPPER) - maxAlign(size);
  if (lower > upper) return 0;
  const pos = itemIdPos(offnum);
  if (needShuffle) p.copyWithin(pos + SIZE_OF_ITEM_ID, pos, lowerNow);
  setItemId(p, offnum, upper, LP_NORMAL, size);
  p.set(item, upper);
  setU16(p, PD_LOWER, lower);
  setU16(p, PD_UPPER, upper);
  return offnum;
}

// ---------------------------------------------------------------------------------------------
// Compacting

/**
 * The items that keep their storage through a compaction (PostgreSQL's itemIdCompactData array),
 * as parallel typed arrays reused by every call: compaction runs for every pruned page on replay,
 * and an object per item was a large part of its cost. Not reentrant; nothing here is.
 */
const COMPACT_ITEMS_MAX = BLCKSZ / SIZE_OF_ITEM_ID;
const compact = {
  n: 0,
  /** The line pointer that will point at the item, 1-based. */
  offnum: new Uint16Array(COMPACT_ITEMS_MAX),
  itemoff: new Uint16Array(COMPACT_ITEMS_MAX),
  alignedlen: new Uint16Array(COMPACT_ITEMS_MAX),
};

function compactAdd(offnum: number, itemoff: number, alignedlen: number): void {
  const i = compact.n++;
  compact.offnum[i] = offnum;
  compact.itemoff[i] = itemoff;
  compact.alignedlen[i] = alignedlen;
}

const COMPACT_SCRATCH = new Uint8Array(BLCKSZ);

/**
 * compactify_tuples: packs the listed items (`compact`) against pd_special in list order (the first
 * ends at pd_special), updates their lp_off, and sets pd_upper; the bytes below the new pd_upper are
 * left as they were. Like PostgreSQL it has two paths: when the items already descend in offset
 * (the common case) they move up in place, never over an item not yet moved; otherwise they are
 * copied from a scratch copy of the item space. Either way one copy moves each run of items that
 * lie back to back.
 */
function compactifyTuples(p: Uint8Array): void {
  const { n, offnum, itemoff, alignedlen } = compact;
  let presorted = true;
  for (let i = 1; i < n && presorted; i++) if (itemoff[i]! >= itemoff[i - 1]!) presorted = false;
  const special = u16(p, PD_SPECIAL);
  // Out of order, items are read from a copy of the item space (PostgreSQL's scratch page).
  const source = presorted ? p : COMPACT_SCRATCH;
  if (!presorted) COMPACT_SCRATCH.set(p.subarray(u16(p, PD_UPPER), special), u16(p, PD_UPPER));
  // Items that lie back to back in the source move by the same distance: one copy per run of them.
  let upper = special;
  let runSrc = -1;
  let runEnd = -1;
  let runDelta = 0;
  for (let i = 0; i < n; i++) {
    const off = itemoff[i]!;
    const len = alignedlen[i]!;
    upper -= len;
    const delta = upper - off;
    if (runSrc >= 0 && off + len === runSrc && delta === runDelta) {
      runSrc = off;
    } else {
      if (runSrc >= 0) moveRun(p, source, runSrc, runEnd, runDelta);
      runSrc = off;
      runEnd = off + len;
      runDelta = delta;
    }
    setLpOff(p, offnum[i]!, upper);
  }
  if (runSrc >= 0) moveRun(p, source, runSrc, runEnd, runDelta);
  setU16(p, PD_UPPER, upper);
}

/** Moves source[from, to) to `from + delta` on the page: a memmove in place, or a copy from scratch. */
function moveRun(p: Uint8Array, source: Uint8Array, from: number, to: number, delta: number): void {
  if (source === p) {
    if (delta !== 0) p.copyWithin(from + delta, from, to);
  } else {
    p.set(source.subarray(from, to), from + delta);
  }
}

/** Sets lp_off of a line pointer, keeping its flags and length. */
function setLpOff(p: Uint8Array, offnum: number, off: number): void {
  const pos = itemIdPos(offnum);
  setU32(p, pos, ((u32(p, pos) & ~0x7fff) | off) >>> 0);
}

/**
 * PageRepairFragmentation: packs the items that have storage (normal and dead items with length)
 * toward the end in line-pointer order, marks unused line pointers unused with no length,
 * truncates trailing unused line pointers, and sets or clears PD_HAS_FREE_LINES. Heap pages only.
 */
export function pageRepairFragmentation(p: Uint8Array): void {
  checkPointers(p, 'repair page fragmentation', true);
  const lower = u16(p, PD_LOWER);
  const upper = u16(p, PD_UPPER);
  const special = u16(p, PD_SPECIAL);
  const nline = pageMaxOffset(p);
  compact.n = 0;
  let totallen = 0;
  let nunused = 0;
  let finalUsed = 0;
  for (let i = 1; i <= nline; i++) {
    const w = itemIdWord(p, i);
    const flags = (w >>> 15) & 0x3;
    const len = w >>> 17;
    if (flags !== LP_UNUSED) {
      if (len !== 0) {
        const itemoff = w & 0x7fff;
        const alignedlen = maxAlign(len);
        if (itemoff < upper || itemoff >= special || itemoff + alignedlen > BLCKSZ)
          throw corrupt(`Cannot repair page fragmentation: corrupted line pointer ${i}: offset ${itemoff}, length ${len}`);
        compactAdd(i, itemoff, alignedlen);
        totallen += alignedlen;
      }
      finalUsed = i;
    } else {
      itemIdSetUnused(p, i);
      nunused++;
    }
  }
  if (compact.n === 0) {
    setU16(p, PD_UPPER, special);
  } else {
    if (totallen > special - lower)
      throw corrupt(`Cannot repair page fragmentation: corrupted item lengths: total ${totallen}, available space ${special - lower}`);
    compactifyTuples(p);
  }
  if (finalUsed !== nline) {
    const unusedEnd = nline - finalUsed;
    nunused -= unusedEnd;
    setU16(p, PD_LOWER, lower - SIZE_OF_ITEM_ID * unusedEnd);
  }
  if (nunused > 0) pageSetHasFreeLinePointers(p);
  else pageClearHasFreeLinePointers(p);
}

/**
 * PageTruncateLinePointerArray: drops the unused line pointers at the end of the array (always
 * keeping the first one) and sets PD_HAS_FREE_LINES if any unused one remains. Heap pages only.
 */
export function pageTruncateLinePointerArray(p: Uint8Array): void {
  let countDone = false;
  let setHint = false;
  let unusedEnd = 0;
  for (let i = pageMaxOffset(p); i >= 1; i--) {
    const unused = itemIdFlags(p, i) === LP_UNUSED;
    if (!countDone && i > 1) {
      if (unused) unusedEnd++;
      else countDone = true;
    } else if (unused) {
      setHint = true;
      break;
    }
  }
  if (unusedEnd > 0) setU16(p, PD_LOWER, u16(p, PD_LOWER) - SIZE_OF_ITEM_ID * unusedEnd);
  if (setHint) pageSetHasFreeLinePointers(p);
  else pageClearHasFreeLinePointers(p);
}

/** Checks item `offnum` of an index page as PageIndexTupleDelete and friends do: [offset, size]. */
function checkIndexItem(p: Uint8Array, offnum: number, what: string): [number, number] {
  const nline = pageMaxOffset(p);
  if (!Number.isInteger(offnum) || offnum <= 0 || offnum > nline) throw corrupt(`Cannot ${what}: invalid index offnum: ${offnum} (the page has ${nline})`);
  const w = itemIdWord(p, offnum);
  const offset = w & 0x7fff;
  const size = w >>> 17;
  if (offset < u16(p, PD_UPPER) || offset + size > u16(p, PD_SPECIAL) || offset !== maxAlign(offset))
    throw corrupt(`Cannot ${what}: corrupted line pointer ${offnum}: offset = ${offset}, size = ${size}`);
  return [offset, size];
}

/**
 * Adds `delta` to lp_off of every line pointer at or below `offset` (their tuples moved up).
 * PageIndexTupleDelete moves them all (it asserts they all have storage); the others skip line
 * pointers without storage, whose lp_off is not a place on the page.
 */
function shiftItemsBelow(p: Uint8Array, nline: number, offset: number, delta: number, storageOnly: boolean): void {
  for (let i = 1; i <= nline; i++) {
    const pos = itemIdPos(i);
    const w = u32(p, pos);
    if ((!storageOnly || w >>> 17 !== 0) && (w & 0x7fff) <= offset) setU32(p, pos, ((w & ~0x7fff) | (((w & 0x7fff) + delta) & 0x7fff)) >>> 0);
  }
}

/**
 * PageIndexTupleDelete: removes item `offnum` and its line pointer from an index page, closing
 * both gaps (later line pointers move down one; tuple data below it moves up).
 */
export function pageIndexTupleDelete(p: Uint8Array, offnum: number): void {
  const what = `delete index item ${offnum}`;
  checkPointers(p, what, true);
  const [offset, rawSize] = checkIndexItem(p, offnum, what);
  const size = maxAlign(rawSize);
  const lower = u16(p, PD_LOWER);
  const upper = u16(p, PD_UPPER);
  const pos = itemIdPos(offnum);
  p.copyWithin(pos, pos + SIZE_OF_ITEM_ID, lower);
  if (offset > upper) p.copyWithin(upper + size, upper, offset);
  setU16(p, PD_UPPER, upper + size);
  setU16(p, PD_LOWER, lower - SIZE_OF_ITEM_ID);
  if (!pageIsEmpty(p)) shiftItemsBelow(p, pageMaxOffset(p), offset, size, false);
}

/**
 * PageIndexMultiDelete: removes the items `offnums` (ascending) from an index page at once,
 * renumbering the rest and compacting their data in line-pointer order. Two or fewer go through
 * PageIndexTupleDelete, last first, as PostgreSQL does.
 */
export function pageIndexMultiDelete(p: Uint8Array, offnums: readonly number[]): void {
  if (offnums.length <= 2) {
    for (let n = offnums.length - 1; n >= 0; n--) pageIndexTupleDelete(p, offnums[n]!);
    return;
  }
  const what = `delete ${offnums.length} index items`;
  checkPointers(p, what, true);
  const upper = u16(p, PD_UPPER);
  const special = u16(p, PD_SPECIAL);
  const lower = u16(p, PD_LOWER);
  const nline = pageMaxOffset(p);
  compact.n = 0;
  const kept: number[] = [];
  let totallen = 0;
  let next = 0;
  for (let offnum = 1; offnum <= nline; offnum++) {
    const w = itemIdWord(p, offnum);
    const size = w >>> 17;
    const offset = w & 0x7fff;
    if (offset < upper || offset + size > special || offset !== maxAlign(offset))
      throw corrupt(`Cannot ${what}: corrupted line pointer ${offnum}: offset = ${offset}, size = ${size}`);
    if (next < offnums.length && offnum === offnums[next]) {
      next++;
    } else {
      const alignedlen = maxAlign(size);
      kept.push(w);
      compactAdd(kept.length, offset, alignedlen);
      totallen += alignedlen;
    }
  }
  if (next !== offnums.length) throw corrupt(`Cannot ${what}: incorrect index offsets supplied: ${offnums.join(',')} on a page of ${nline}`);
  if (totallen > special - lower)
    throw corrupt(`Cannot ${what}: corrupted item lengths: total ${totallen}, available space ${special - lower}`);
  for (let i = 0; i < kept.length; i++) setU32(p, itemIdPos(i + 1), kept[i]!);
  setU16(p, PD_LOWER, SIZE_OF_PAGE_HEADER + kept.length * SIZE_OF_ITEM_ID);
  if (compact.n > 0) compactifyTuples(p);
  else setU16(p, PD_UPPER, special);
}

/**
 * PageIndexTupleDeleteNoCompact: removes item `offnum`'s data but keeps the line-pointer array's
 * numbering (the line pointer becomes unused, or is dropped when it is the last). BRIN's routine.
 */
export function pageIndexTupleDeleteNoCompact(p: Uint8Array, offnum: number): void {
  const what = `delete index item ${offnum} without compacting`;
  checkPointers(p, what, true);
  const [offset, rawSize] = checkIndexItem(p, offnum, what);
  const size = maxAlign(rawSize);
  let nline = pageMaxOffset(p);
  if (offnum < nline) {
    itemIdSetUnused(p, offnum);
  } else {
    setU16(p, PD_LOWER, u16(p, PD_LOWER) - SIZE_OF_ITEM_ID);
    nline--;
  }
  const upper = u16(p, PD_UPPER);
  if (offset > upper) p.copyWithin(upper + size, upper, offset);
  setU16(p, PD_UPPER, upper + size);
  if (!pageIsEmpty(p)) shiftItemsBelow(p, nline, offset, size, true);
}

/**
 * PageIndexTupleOverwrite: replaces item `offnum`'s data with `item`, keeping its line pointer's
 * flags, moving the tuple data below it when the MAXALIGNed size changes. Returns false, as
 * PostgreSQL does, when the new item does not fit.
 */
export function pageIndexTupleOverwrite(p: Uint8Array, offnum: number, item: Uint8Array): boolean {
  const what = `overwrite index item ${offnum}`;
  checkPointers(p, what, true);
  const [offset, rawOld] = checkIndexItem(p, offnum, what);
  const oldSize = maxAlign(rawOld);
  const newSize = item.length;
  const upper = u16(p, PD_UPPER);
  if (maxAlign(newSize) > oldSize + (upper - u16(p, PD_LOWER))) return false;
  const diff = oldSize - maxAlign(newSize);
  if (diff !== 0) {
    p.copyWithin(upper + diff, upper, offset);
    setU16(p, PD_UPPER, upper + diff);
    shiftItemsBelow(p, pageMaxOffset(p), offset, diff, true);
  }
  const pos = itemIdPos(offnum);
  const flags = (u32(p, pos) >>> 15) & 0x3;
  setItemId(p, offnum, offset + diff, flags, newSize);
  p.set(item, offset + diff);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Free space

/** PageGetFreeSpace: the room between pd_lower and pd_upper less one line pointer, or 0. */
export function pageGetFreeSpace(p: Uint8Array): number {
  const space = u16(p, PD_UPPER) - u16(p, PD_LOWER);
  return space < SIZE_OF_ITEM_ID ? 0 : space - SIZE_OF_ITEM_ID;
}

/** PageGetExactFreeSpace: pd_upper - pd_lower, or 0. */
export function pageGetExactFreeSpace(p: Uint8Array): number {
  const space = u16(p, PD_UPPER) - u16(p, PD_LOWER);
  return space < 0 ? 0 : space;
}

/**
 * PageGetHeapFreeSpace: PageGetFreeSpace, but 0 when the page already has MaxHeapTuplesPerPage
 * line pointers and none of them is unused (no new tuple could get an offset).
 */
export function pageGetHeapFreeSpace(p: Uint8Array): number {
  let space = pageGetFreeSpace(p);
  if (space > 0) {
    const nline = pageMaxOffset(p);
    if (nline >= MAX_HEAP_TUPLES_PER_PAGE) {
      if (pageHasFreeLinePointers(p)) {
        let offnum = 1;
        while (offnum <= nline && itemIdFlags(p, offnum) !== LP_UNUSED) offnum++;
        if (offnum > nline) space = 0;
      } else {
        space = 0;
      }
    }
  }
  return space;
}
