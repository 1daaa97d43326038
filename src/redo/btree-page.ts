/**
 * nbtree's page format for redo: the special space (BTPageOpaqueData), the metapage, index tuples
 * with posting lists, and the page-building routines nbtxlog.c shares with nbtdedup.c and nbtpage.c.
 * `rmgr/btree.ts` applies records with these; each routine names the PostgreSQL one it mirrors.
 *
 * BTPageOpaqueData (16 bytes at pd_special):
 *   0 btpo_prev u32   4 btpo_next u32   8 btpo_level u32   12 btpo_flags u16   14 btpo_cycleid u16
 * IndexTupleData (8 bytes, then the key): 0 t_tid (bi_hi u16, bi_lo u16, ip_posid u16)   6 t_info u16
 *   (size in the low 13 bits, INDEX_ALT_TID_MASK 0x2000). A posting list tuple has INDEX_ALT_TID_MASK,
 *   BT_IS_POSTING | nhtids in ip_posid and the posting list's byte offset in the block number.
 * BTMetaPageData (at PageGetContents, byte 24): magic, version, root, level, fastroot, fastlevel,
 *   last_cleanup_num_delpages (u32 each), 4 bytes padding, last_cleanup_num_heap_tuples f64,
 *   allequalimage bool; 48 bytes, so pd_lower is 72.
 *
 * A page that does not hold what these routines read throws RedoError CORRUPT_PAGE (without an LSN:
 * the redo module adds the record's), a record that asks for the impossible CORRUPT_RECORD.
 */
import { BLCKSZ } from '../pg/constants.js';
import type { BlockNumber } from '../pg/types.js';
import type { BtreeMetadata } from '../wal/rmgr/btree.js';
import { RedoError } from './errors.js';
import { itemIdLength, itemIdOffset, maxAlign, pageAddItem, pageInit, pageMaxOffset, pageSpecial, setPageLower, setPageUpper } from './page.js';
import { setU16, setU32, u16, u32 } from './page-layout.js';

export const BTP_LEAF = 1 << 0;
export const BTP_ROOT = 1 << 1;
export const BTP_DELETED = 1 << 2;
export const BTP_META = 1 << 3;
export const BTP_HALF_DEAD = 1 << 4;
export const BTP_SPLIT_END = 1 << 5;
export const BTP_HAS_GARBAGE = 1 << 6;
export const BTP_INCOMPLETE_SPLIT = 1 << 7;
export const BTP_HAS_FULLXID = 1 << 8;

/** sizeof(BTPageOpaqueData) */
export const BT_OPAQUE_SIZE = 16;
/** P_HIKEY, P_FIRSTKEY */
export const P_HIKEY = 1;
export const P_FIRSTKEY = 2;

export const BTREE_MAGIC = 0x053162;
/** MAXALIGN(SizeOfPageHeaderData): where PageGetContents points. */
const PAGE_CONTENTS = 24;
/** sizeof(BTMetaPageData) */
const BT_META_SIZE = 48;

/** sizeof(IndexTupleData) */
export const INDEX_TUPLE_HEADER_SIZE = 8;
const T_INFO = 6;
const INDEX_SIZE_MASK = 0x1fff;
const INDEX_ALT_TID_MASK = 0x2000;
const BT_OFFSET_MASK = 0x0fff;
const BT_IS_POSTING = 0x2000;
/** sizeof(ItemPointerData) */
export const TID_SIZE = 6;

/**
 * BTMaxItemSize(page) for 8 KiB pages: MAXALIGN_DOWN((BLCKSZ - MAXALIGN(24 + 3 * 4 + 3 * 6) -
 * MAXALIGN(16)) / 3).
 */
export const BT_MAX_ITEM_SIZE = Math.floor((BLCKSZ - 56 - 16) / 3) & ~7;

function corruptPage(why: string): RedoError {
  return new RedoError('CORRUPT_PAGE', why);
}

// ---- special space -------------------------------------------------------------------------

/** BTPageGetOpaque: where the special space starts, checked to hold a BTPageOpaqueData. */
function opaqueAt(page: Uint8Array): number {
  const special = pageSpecial(page);
  if (special < PAGE_CONTENTS || special + BT_OPAQUE_SIZE > BLCKSZ)
    throw corruptPage(`its pd_special ${special} leaves no room for a BTPageOpaqueData`);
  return special;
}

export function btpoPrev(page: Uint8Array): BlockNumber {
  return u32(page, opaqueAt(page)) as BlockNumber;
}

export function setBtpoPrev(page: Uint8Array, blkno: number): void {
  setU32(page, opaqueAt(page), blkno);
}

export function btpoNext(page: Uint8Array): BlockNumber {
  return u32(page, opaqueAt(page) + 4) as BlockNumber;
}

export function setBtpoNext(page: Uint8Array, blkno: number): void {
  setU32(page, opaqueAt(page) + 4, blkno);
}

export function btpoLevel(page: Uint8Array): number {
  return u32(page, opaqueAt(page) + 8);
}

export function setBtpoLevel(page: Uint8Array, level: number): void {
  setU32(page, opaqueAt(page) + 8, level);
}

export function btpoFlags(page: Uint8Array): number {
  return u16(page, opaqueAt(page) + 12);
}

export function setBtpoFlags(page: Uint8Array, flags: number): void {
  setU16(page, opaqueAt(page) + 12, flags);
}

export function btpoCycleId(page: Uint8Array): number {
  return u16(page, opaqueAt(page) + 14);
}

export function setBtpoCycleId(page: Uint8Array, cycleId: number): void {
  setU16(page, opaqueAt(page) + 14, cycleId);
}

/** All of BTPageOpaqueData at once, as redo routines fill it in after _bt_pageinit. */
export function setBtOpaque(page: Uint8Array, o: { prev: number; next: number; level: number; flags: number }): void {
  setBtpoPrev(page, o.prev);
  setBtpoNext(page, o.next);
  setBtpoLevel(page, o.level);
  setBtpoFlags(page, o.flags);
  setBtpoCycleId(page, 0);
}

/** P_RIGHTMOST */
export function isRightmost(page: Uint8Array): boolean {
  return btpoNext(page) === 0;
}

/** P_FIRSTDATAKEY: the high key takes offset 1 on every page but the rightmost. */
export function firstDataKey(page: Uint8Array): number {
  return isRightmost(page) ? P_HIKEY : P_FIRSTKEY;
}

/** _bt_pageinit: an empty page with a zeroed BTPageOpaqueData. */
export function btPageInit(page: Uint8Array): void {
  pageInit(page, BT_OPAQUE_SIZE);
}

/** PageGetTempPageCopySpecial: an empty page with the same special space (bytes and size). */
export function tempPageCopySpecial(page: Uint8Array): Uint8Array {
  const special = pageSpecial(page);
  if (special < PAGE_CONTENTS || special > BLCKSZ) throw corruptPage(`its pd_special is ${special}`);
  const temp = new Uint8Array(BLCKSZ);
  pageInit(temp, BLCKSZ - special);
  if (pageSpecial(temp) !== special) throw corruptPage(`its special space of ${BLCKSZ - special} bytes is not MAXALIGNed`);
  temp.set(page.subarray(special), special);
  return temp;
}

/** BTPageSetDeleted: the page becomes a deleted page whose contents are its safexid. */
export function btPageSetDeleted(page: Uint8Array, safeXid: bigint): void {
  const flags = btpoFlags(page);
  setBtpoFlags(page, (flags & ~BTP_HALF_DEAD) | BTP_DELETED | BTP_HAS_FULLXID);
  setPageLower(page, PAGE_CONTENTS + 8);
  setPageUpper(page, pageSpecial(page));
  setU32(page, PAGE_CONTENTS, Number(safeXid & 0xffff_ffffn));
  setU32(page, PAGE_CONTENTS + 4, Number((safeXid >> 32n) & 0xffff_ffffn));
}

/**
 * The half-dead leaf's dummy high key (btree_xlog_mark_page_halfdead, btree_xlog_unlink_page): an
 * IndexTupleData with no key whose t_tid is BTreeTupleSetTopParent(topParent), zero attributes.
 */
export function topParentHighKey(topParent: number): Uint8Array {
  const t = new Uint8Array(INDEX_TUPLE_HEADER_SIZE);
  setTidBlock(t, topParent);
  setU16(t, 4, 0);
  setU16(t, T_INFO, INDEX_TUPLE_HEADER_SIZE | INDEX_ALT_TID_MASK);
  return t;
}

// ---- metapage ------------------------------------------------------------------------------

/** _bt_restore_meta's page: a fresh metapage from xl_btree_metadata. */
export function restoreMetaPage(page: Uint8Array, meta: BtreeMetadata): void {
  btPageInit(page);
  const m = PAGE_CONTENTS;
  setU32(page, m, BTREE_MAGIC);
  setU32(page, m + 4, meta.version);
  setU32(page, m + 8, meta.root);
  setU32(page, m + 12, meta.level);
  setU32(page, m + 16, meta.fastroot);
  setU32(page, m + 20, meta.fastlevel);
  setU32(page, m + 24, meta.lastCleanupNumDelpages);
  new DataView(page.buffer, page.byteOffset + m + 32, 8).setFloat64(0, -1.0, true);
  page[m + 40] = meta.allequalimage ? 1 : 0;
  setBtpoFlags(page, BTP_META);
  setPageLower(page, m + BT_META_SIZE);
}

// ---- items and index tuples ----------------------------------------------------------------

/** PageGetItem(PageGetItemId(page, off)) for an offset that must hold an item inside the page. */
export function itemAt(page: Uint8Array, off: number): Uint8Array {
  const maxOff = pageMaxOffset(page);
  if (off < 1 || off > maxOff) throw corruptPage(`it has no item at offset ${off} (max offset ${maxOff})`);
  const start = itemIdOffset(page, off);
  const len = itemIdLength(page, off);
  if (start < PAGE_CONTENTS || start + len > BLCKSZ) throw corruptPage(`its item ${off} (offset ${start}, length ${len}) lies outside the page`);
  return page.subarray(start, start + len);
}

/** IndexTupleSize, checked against the bytes that hold the tuple. */
export function indexTupleSize(t: Uint8Array): number {
  if (t.length < INDEX_TUPLE_HEADER_SIZE) throw corruptPage(`an index tuple of ${t.length} bytes is shorter than its header`);
  const size = u16(t, T_INFO) & INDEX_SIZE_MASK;
  if (size < INDEX_TUPLE_HEADER_SIZE || size > t.length)
    throw corruptPage(`an index tuple says it is ${size} bytes, in ${t.length} bytes`);
  return size;
}

function setIndexTupleSize(t: Uint8Array, size: number): void {
  setU16(t, T_INFO, (u16(t, T_INFO) & ~INDEX_SIZE_MASK) | size);
}

function tidBlock(t: Uint8Array): number {
  return ((u16(t, 0) << 16) | u16(t, 2)) >>> 0;
}

/** ItemPointerSetBlockNumber on t_tid, as BTreeTupleSetDownLink and BTreeTupleSetTopParent use it. */
export function setTidBlock(t: Uint8Array, blkno: number): void {
  setU16(t, 0, blkno >>> 16);
  setU16(t, 2, blkno & 0xffff);
}

/** BTreeTupleGetDownLink */
export function downLink(t: Uint8Array): number {
  if (t.length < INDEX_TUPLE_HEADER_SIZE) throw corruptPage(`a pivot tuple of ${t.length} bytes is shorter than its header`);
  return tidBlock(t);
}

/** BTreeTupleIsPosting */
export function isPosting(t: Uint8Array): boolean {
  return (u16(t, T_INFO) & INDEX_ALT_TID_MASK) !== 0 && (u16(t, 4) & BT_IS_POSTING) !== 0;
}

/** A posting list tuple's BTreeTupleGetPostingOffset and BTreeTupleGetNPosting, checked to fit in it. */
export function postingList(t: Uint8Array): { offset: number; n: number } {
  const size = indexTupleSize(t);
  if (!isPosting(t)) throw corruptPage('an index tuple expected to be a posting list is not one');
  const offset = tidBlock(t);
  const n = u16(t, 4) & BT_OFFSET_MASK;
  if (offset < INDEX_TUPLE_HEADER_SIZE || offset + n * TID_SIZE > size)
    throw corruptPage(`a posting list of ${n} TIDs at byte ${offset} does not fit its ${size}-byte tuple`);
  return { offset, n };
}

/** The heap TIDs of a tuple: its posting list, or its one t_tid (as _bt_dedup_save_htid reads them). */
export function heapTids(t: Uint8Array): Uint8Array {
  indexTupleSize(t);
  if (isPosting(t)) {
    const { offset, n } = postingList(t);
    return t.subarray(offset, offset + n * TID_SIZE);
  }
  return t.subarray(0, TID_SIZE);
}

/**
 * _bt_form_posting: a copy of `base`'s key (without any posting list it has) with `htids` (packed
 * ItemPointerData, ascending) as its posting list, or as its t_tid when there is one.
 */
export function formPosting(base: Uint8Array, htids: Uint8Array): Uint8Array {
  const nhtids = htids.length / TID_SIZE;
  if (nhtids < 1 || !Number.isInteger(nhtids) || nhtids > BT_OFFSET_MASK) throw corruptPage(`a posting list cannot hold ${nhtids} TIDs`);
  const keySize = isPosting(base) ? postingList(base).offset : indexTupleSize(base);
  const newSize = nhtids > 1 ? maxAlign(keySize + nhtids * TID_SIZE) : keySize;
  if (newSize > INDEX_SIZE_MASK) throw corruptPage(`a posting list tuple would be ${newSize} bytes`);
  const t = new Uint8Array(newSize);
  t.set(base.subarray(0, keySize));
  setIndexTupleSize(t, newSize);
  if (nhtids > 1) {
    setPosting(t, nhtids, keySize);
    t.set(htids, keySize);
  } else {
    setU16(t, T_INFO, u16(t, T_INFO) & ~INDEX_ALT_TID_MASK);
    t.set(htids.subarray(0, TID_SIZE), 0);
  }
  return t;
}

/** BTreeTupleSetPosting */
function setPosting(t: Uint8Array, nhtids: number, postingOffset: number): void {
  setU16(t, T_INFO, u16(t, T_INFO) | INDEX_ALT_TID_MASK);
  setU16(t, 4, nhtids | BT_IS_POSTING);
  setTidBlock(t, postingOffset);
}

/**
 * _bt_update_posting: `orig` without the TIDs at the posting list positions `deleteTids`
 * (ascending), as btree_xlog_updates rebuilds a posting list VACUUM or index deletion shrank.
 */
export function updatePosting(orig: Uint8Array, deleteTids: readonly number[]): Uint8Array {
  const { offset: keySize, n } = postingList(orig);
  const nhtids = n - deleteTids.length;
  if (nhtids < 1) throw new RedoError('CORRUPT_RECORD', `it deletes ${deleteTids.length} TIDs from a posting list of ${n}`);
  const newSize = nhtids > 1 ? maxAlign(keySize + nhtids * TID_SIZE) : keySize;
  const t = new Uint8Array(newSize);
  t.set(orig.subarray(0, keySize));
  setIndexTupleSize(t, newSize);
  let htidsAt: number;
  if (nhtids > 1) {
    setPosting(t, nhtids, keySize);
    htidsAt = keySize;
  } else {
    setU16(t, T_INFO, u16(t, T_INFO) & ~INDEX_ALT_TID_MASK);
    htidsAt = 0;
  }
  let ui = 0;
  let d = 0;
  for (let i = 0; i < n; i++) {
    if (d < deleteTids.length && deleteTids[d] === i) {
      d++;
      continue;
    }
    if (ui === nhtids) break;
    const from = keySize + i * TID_SIZE;
    t.set(orig.subarray(from, from + TID_SIZE), htidsAt + ui * TID_SIZE);
    ui++;
  }
  if (ui !== nhtids || d !== deleteTids.length)
    throw new RedoError('CORRUPT_RECORD', `its TID positions [${deleteTids.join(',')}] are not ascending positions in a posting list of ${n}`);
  return t;
}

/**
 * _bt_swap_posting: the posting list split of an insert. `newItem` (a private copy, changed in place)
 * takes `oposting`'s last heap TID; the returned copy of `oposting`, the same size, has newItem's
 * original TID at `postingOff` and the later TIDs moved one place right.
 */
export function swapPosting(newItem: Uint8Array, oposting: Uint8Array, postingOff: number): Uint8Array {
  const { offset, n } = postingList(oposting);
  if (!(postingOff > 0 && postingOff < n)) throw corruptPage(`posting list tuple with ${n} items cannot be split at offset ${postingOff}`);
  if (newItem.length < INDEX_TUPLE_HEADER_SIZE) throw new RedoError('CORRUPT_RECORD', `its new item is ${newItem.length} bytes`);
  const nposting = Uint8Array.from(oposting.subarray(0, indexTupleSize(oposting)));
  const replacePos = offset + postingOff * TID_SIZE;
  nposting.copyWithin(replacePos + TID_SIZE, replacePos, offset + (n - 1) * TID_SIZE);
  nposting.set(newItem.subarray(0, TID_SIZE), replacePos);
  const maxTid = offset + (n - 1) * TID_SIZE;
  newItem.set(oposting.subarray(maxTid, maxTid + TID_SIZE), 0);
  return nposting;
}

// ---- page building -------------------------------------------------------------------------

/** PageAddItem(page, item, size, offnum, false, false), or a CORRUPT_PAGE error that says what failed. */
export function addItemOrFail(page: Uint8Array, item: Uint8Array, offnum: number, what: string): void {
  if (pageAddItem(page, item, offnum, false, false) === 0)
    throw corruptPage(`${what}: PageAddItem of ${item.length} bytes at offset ${offnum} failed`);
}

/**
 * _bt_restore_page: the items of a page rebuilt from its tuple space, `items` in offset order (the
 * decoder has already walked the record's highest-offset-first layout), added at offsets 1..n.
 */
export function restorePage(page: Uint8Array, items: readonly Uint8Array[]): void {
  items.forEach((item, i) => addItemOrFail(page, item, i + 1, '_bt_restore_page: cannot add item to page'));
}

/** BTDedupInterval as a page's deduplication produced it. */
export interface DedupIntervalLike {
  readonly baseOff: number;
  readonly nitems: number;
}

/**
 * BTDedupStateData, as btree_xlog_dedup uses it: the pending posting list (base tuple, heap TIDs)
 * and the intervals of posting lists written so far. maxpostingsize is BTMaxItemSize, the larger
 * limit redo uses.
 */
export class DedupState {
  readonly maxPostingSize = BT_MAX_ITEM_SIZE;
  base: Uint8Array | undefined;
  baseOff = 0;
  baseTupSize = 0;
  htids: Uint8Array[] = [];
  nhtids = 0;
  nitems = 0;
  nintervals = 0;

  /** _bt_dedup_start_pending */
  startPending(base: Uint8Array, baseOff: number): void {
    const tids = heapTids(base);
    this.htids = [tids];
    this.nhtids = tids.length / TID_SIZE;
    this.baseTupSize = isPosting(base) ? postingList(base).offset : indexTupleSize(base);
    this.nitems = 1;
    this.base = base;
    this.baseOff = baseOff;
  }

  /** _bt_dedup_save_htid: whether itup's TIDs joined the pending posting list. */
  saveHtid(itup: Uint8Array): boolean {
    const tids = heapTids(itup);
    const n = tids.length / TID_SIZE;
    if (maxAlign(this.baseTupSize + (this.nhtids + n) * TID_SIZE) > this.maxPostingSize) return false;
    this.nitems++;
    this.htids.push(tids);
    this.nhtids += n;
    return true;
  }

  /** _bt_dedup_finish_pending: the pending tuple (or a new posting list) appended to `newPage`. */
  finishPending(newPage: Uint8Array): void {
    const base = this.base;
    if (base === undefined || this.nitems === 0) throw corruptPage('deduplication has no pending tuple to finish');
    const tupOff = pageMaxOffset(newPage) + 1;
    if (this.nitems === 1) {
      addItemOrFail(newPage, base.subarray(0, indexTupleSize(base)), tupOff, 'deduplication failed to add tuple to page');
    } else {
      const all = new Uint8Array(this.nhtids * TID_SIZE);
      let o = 0;
      for (const t of this.htids) {
        all.set(t, o);
        o += t.length;
      }
      addItemOrFail(newPage, formPosting(base, all), tupOff, 'deduplication failed to add tuple to page');
      this.nintervals++;
    }
    this.htids = [];
    this.nhtids = 0;
    this.nitems = 0;
  }
}
