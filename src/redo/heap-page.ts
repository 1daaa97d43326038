/**
 * Heap tuples on a page, for the heap and heap2 redo modules (`rmgr/heap.ts`, `rmgr/heap2.ts`):
 * the HeapTupleHeaderData fields redo writes, the tuple a WAL record carries rebuilt into the
 * bytes PageAddItem stores, and the page-wide routines of pruning, vacuuming and freezing.
 *
 * HeapTupleHeaderData (htup_details.h), SizeofHeapTupleHeader = 23:
 *   0  t_xmin u32   4 t_xmax u32   8 t_cid / t_xvac u32
 *   12 t_ctid (bi_hi u16, bi_lo u16, ip_posid u16)   18 t_infomask2 u16   20 t_infomask u16
 *   22 t_hoff u8    23 t_bits[] (null bitmap), padding and data up to t_hoff and on.
 * WAL logs the tuple without its first 23 bytes (xl_heap_header keeps t_infomask2, t_infomask,
 * t_hoff); redo fills in xmin, cmin and ctid itself.
 */
import { BLCKSZ } from '../pg/constants.js';
import type { XlHeapHeader } from '../wal/rmgr/heap.js';
import type { FreezeTuple } from '../wal/rmgr/heap2.js';
import {
  LP_NORMAL,
  itemIdFlags,
  itemIdLength,
  itemIdOffset,
  itemIdSetDead,
  itemIdSetRedirect,
  itemIdSetUnused,
  pageMaxOffset,
  pageRepairFragmentation,
  pageTruncateLinePointerArray,
} from './page.js';
import { redoFail, type RedoContext } from './rmgr/rmgr.js';

// HeapTupleHeaderData field offsets.
export const T_XMIN = 0;
export const T_XMAX = 4;
/** t_cid, or t_xvac for tuples moved by pre-9.0 VACUUM FULL (HEAP_MOVED). */
export const T_CID = 8;
export const T_CTID = 12;
export const T_INFOMASK2 = 18;
export const T_INFOMASK = 20;
export const T_HOFF = 22;
/** SizeofHeapTupleHeader: offsetof(HeapTupleHeaderData, t_bits). */
export const SIZEOF_HEAP_TUPLE_HEADER = 23;
/** MaxHeapTupleSize: BLCKSZ - MAXALIGN(SizeOfPageHeaderData + sizeof(ItemIdData)). */
export const MAX_HEAP_TUPLE_SIZE = BLCKSZ - 32;

// t_infomask bits (htup_details.h)
export const HEAP_XMAX_KEYSHR_LOCK = 0x0010;
export const HEAP_COMBOCID = 0x0020;
export const HEAP_XMAX_EXCL_LOCK = 0x0040;
export const HEAP_XMAX_LOCK_ONLY = 0x0080;
export const HEAP_XMAX_SHR_LOCK = HEAP_XMAX_EXCL_LOCK | HEAP_XMAX_KEYSHR_LOCK;
export const HEAP_LOCK_MASK = HEAP_XMAX_SHR_LOCK | HEAP_XMAX_EXCL_LOCK | HEAP_XMAX_KEYSHR_LOCK;
export const HEAP_XMAX_COMMITTED = 0x0400;
export const HEAP_XMAX_INVALID = 0x0800;
export const HEAP_XMAX_IS_MULTI = 0x1000;
export const HEAP_MOVED_OFF = 0x4000;
export const HEAP_MOVED_IN = 0x8000;
export const HEAP_MOVED = HEAP_MOVED_OFF | HEAP_MOVED_IN;
export const HEAP_XMAX_BITS = HEAP_XMAX_COMMITTED | HEAP_XMAX_INVALID | HEAP_XMAX_IS_MULTI | HEAP_LOCK_MASK | HEAP_XMAX_LOCK_ONLY;

// t_infomask2 bits
export const HEAP_KEYS_UPDATED = 0x2000;
export const HEAP_HOT_UPDATED = 0x4000;
export const HEAP_ONLY_TUPLE = 0x8000;

// infobits_set of xl_heap_delete / _update / _lock (heapam_xlog.h)
const XLHL_XMAX_IS_MULTI = 0x01;
const XLHL_XMAX_LOCK_ONLY = 0x02;
const XLHL_XMAX_EXCL_LOCK = 0x04;
const XLHL_XMAX_KEYSHR_LOCK = 0x08;
const XLHL_KEYS_UPDATED = 0x10;

// xl_heap_freeze_tuple.frzflags
const XLH_FREEZE_XVAC = 0x02;
const XLH_INVALID_XVAC = 0x04;

/** FirstCommandId: the cmin/cmax redo writes (heap_mask masks the field). */
export const FIRST_COMMAND_ID = 0;
/** FrozenTransactionId */
export const FROZEN_TRANSACTION_ID = 2;
/** MovedPartitionsBlockNumber / MovedPartitionsOffsetNumber (itemptr.h). */
const MOVED_PARTITIONS_BLOCK = 0xffff_ffff;
const MOVED_PARTITIONS_OFFSET = 0xfffd;

export function getU16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

export function getU32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

export function putU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}

export function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

/** A tuple's header fields, read and written through a view of its bytes (on the page or not). */
export function infomask(t: Uint8Array): number {
  return getU16(t, T_INFOMASK);
}
export function setInfomask(t: Uint8Array, v: number): void {
  putU16(t, T_INFOMASK, v);
}
export function infomask2(t: Uint8Array): number {
  return getU16(t, T_INFOMASK2);
}
export function setInfomask2(t: Uint8Array, v: number): void {
  putU16(t, T_INFOMASK2, v);
}
export function tupleHoff(t: Uint8Array): number {
  return t[T_HOFF]!;
}
export function setXmin(t: Uint8Array, xid: number): void {
  putU32(t, T_XMIN, xid);
}
export function setXmax(t: Uint8Array, xid: number): void {
  putU32(t, T_XMAX, xid);
}

/** ItemPointerSet(&tup->t_ctid, block, offset) */
export function setCtid(t: Uint8Array, block: number, offset: number): void {
  putU16(t, T_CTID, block >>> 16);
  putU16(t, T_CTID + 2, block & 0xffff);
  putU16(t, T_CTID + 4, offset);
}

/** HeapTupleHeaderSetCmin: t_cid, and the cid is not a combo CID. */
export function setCmin(t: Uint8Array, cid: number): void {
  putU32(t, T_CID, cid);
  setInfomask(t, infomask(t) & ~HEAP_COMBOCID);
}

/** HeapTupleHeaderSetCmax(tup, cid, false): redo never logs combo CIDs. */
export function setCmax(t: Uint8Array, cid: number): void {
  setCmin(t, cid);
}

/** HeapTupleHeaderSetMovedPartitions: t_ctid says the row moved to another partition. */
export function setMovedPartitions(t: Uint8Array): void {
  setCtid(t, MOVED_PARTITIONS_BLOCK, MOVED_PARTITIONS_OFFSET);
}

/** HEAP_XMAX_IS_LOCKED_ONLY: xmax, if valid, only locks the row. */
export function xmaxIsLockedOnly(mask: number): boolean {
  return (mask & HEAP_XMAX_LOCK_ONLY) !== 0 || (mask & (HEAP_XMAX_IS_MULTI | HEAP_LOCK_MASK)) === HEAP_XMAX_EXCL_LOCK;
}

/**
 * The xmax bits redo clears on a tuple it deletes, updates or locks before applying the record's
 * infobits: `htup->t_infomask &= ~(HEAP_XMAX_BITS | HEAP_MOVED); t_infomask2 &= ~HEAP_KEYS_UPDATED`,
 * then fix_infomask_from_infobits.
 */
export function resetXmaxBits(t: Uint8Array, infobits: number): void {
  const [mask, mask2] = fixInfomaskFromInfobits(infobits, infomask(t) & ~(HEAP_XMAX_BITS | HEAP_MOVED), infomask2(t) & ~HEAP_KEYS_UPDATED);
  setInfomask(t, mask);
  setInfomask2(t, mask2);
}

/** fix_infomask_from_infobits (heapam.c): the reverse of compute_infobits. */
export function fixInfomaskFromInfobits(infobits: number, mask: number, mask2: number): [infomask: number, infomask2: number] {
  mask &= ~(HEAP_XMAX_IS_MULTI | HEAP_XMAX_LOCK_ONLY | HEAP_XMAX_KEYSHR_LOCK | HEAP_XMAX_EXCL_LOCK);
  mask2 &= ~HEAP_KEYS_UPDATED;
  if ((infobits & XLHL_XMAX_IS_MULTI) !== 0) mask |= HEAP_XMAX_IS_MULTI;
  if ((infobits & XLHL_XMAX_LOCK_ONLY) !== 0) mask |= HEAP_XMAX_LOCK_ONLY;
  if ((infobits & XLHL_XMAX_EXCL_LOCK) !== 0) mask |= HEAP_XMAX_EXCL_LOCK;
  // HEAP_XMAX_SHR_LOCK is not considered here, as in PostgreSQL.
  if ((infobits & XLHL_XMAX_KEYSHR_LOCK) !== 0) mask |= HEAP_XMAX_KEYSHR_LOCK;
  if ((infobits & XLHL_KEYS_UPDATED) !== 0) mask2 |= HEAP_KEYS_UPDATED;
  return [mask, mask2];
}

/** heap_execute_freeze_tuple (heapam.c): applies one freeze plan to the tuple's header. */
export function heapExecuteFreezeTuple(t: Uint8Array, frz: FreezeTuple): void {
  setXmax(t, frz.xmax);
  if ((frz.frzflags & XLH_FREEZE_XVAC) !== 0) putU32(t, T_CID, FROZEN_TRANSACTION_ID);
  if ((frz.frzflags & XLH_INVALID_XVAC) !== 0) putU32(t, T_CID, 0);
  setInfomask(t, frz.infomask);
  setInfomask2(t, frz.infomask2);
}

/** What a rebuilt tuple's header says besides the logged xl_heap_header. */
export interface TupleIdentity {
  /** XLogRecGetXid(record) */
  readonly xmin: number;
  readonly xmax: number;
  /** t_ctid: the tuple's own TID (or, for an update, the new version's, which is itself). */
  readonly block: number;
  readonly offset: number;
}

const TUPLE_SCRATCH = new Uint8Array(BLCKSZ);

/**
 * The tuple heap_xlog_insert, heap_xlog_multi_insert and heap_xlog_update rebuild before
 * PageAddItem: the fixed header (every byte of it written: the logged t_infomask2, t_infomask and
 * t_hoff; xmin, cmin = FirstCommandId, which clears HEAP_COMBOCID, xmax and t_ctid), then the logged
 * bytes (`parts`, in order). Undefined when it would exceed MaxHeapTupleSize. The tuple is a view
 * of a scratch buffer, valid until the next call: copy it into the page before building another.
 */
export function buildHeapTuple(header: XlHeapHeader, parts: readonly Uint8Array[], id: TupleIdentity): Uint8Array | undefined {
  let len = SIZEOF_HEAP_TUPLE_HEADER;
  for (const p of parts) len += p.length;
  if (len > MAX_HEAP_TUPLE_SIZE) return undefined;
  // Built in a scratch buffer, not a new array per tuple: every caller copies the tuple into its
  // page at once (PageAddItem), and an allocation per inserted tuple was a visible share of replay.
  const t = TUPLE_SCRATCH.subarray(0, len);
  let o = SIZEOF_HEAP_TUPLE_HEADER;
  for (const p of parts) {
    t.set(p, o);
    o += p.length;
  }
  setInfomask2(t, header.infomask2);
  setInfomask(t, header.infomask);
  t[T_HOFF] = header.hoff;
  setXmin(t, id.xmin);
  setCmin(t, FIRST_COMMAND_ID);
  setXmax(t, id.xmax);
  setCtid(t, id.block, id.offset);
  return t;
}

/** Throws CORRUPT_PAGE unless `offnum` names one of the page's line pointers. */
export function checkOffset(page: Uint8Array, offnum: number, ctx: RedoContext, what: string): void {
  const max = pageMaxOffset(page);
  if (offnum < 1 || offnum > max) throw redoFail(ctx, 'CORRUPT_PAGE', what, `offset ${offnum} is not a line pointer of the page, which has ${max}`);
}

/**
 * The tuple at `offnum` as a view into the page, as heap_xlog_delete and friends find it: the
 * line pointer must exist and be LP_NORMAL ("invalid lp" in PostgreSQL), and its storage must hold
 * at least a tuple header inside the page.
 */
export function normalTuple(page: Uint8Array, offnum: number, ctx: RedoContext, what: string): Uint8Array {
  checkOffset(page, offnum, ctx, what);
  if (itemIdFlags(page, offnum) !== LP_NORMAL) throw redoFail(ctx, 'CORRUPT_PAGE', what, `line pointer ${offnum} is not LP_NORMAL (invalid lp)`);
  const off = itemIdOffset(page, offnum);
  const len = itemIdLength(page, offnum);
  if (len < SIZEOF_HEAP_TUPLE_HEADER || off < 24 || off + len > BLCKSZ)
    throw redoFail(ctx, 'CORRUPT_PAGE', what, `line pointer ${offnum} points at ${len} bytes at ${off}, not a heap tuple inside the page`);
  return page.subarray(off, off + len);
}

/**
 * heap_page_prune_execute (pruneheap.c): the line pointers a PRUNE record names become redirects,
 * dead or unused, then PageRepairFragmentation compacts the tuples that remain.
 */
export function heapPagePruneExecute(
  page: Uint8Array,
  redirected: readonly (readonly [from: number, to: number])[],
  nowDead: readonly number[],
  nowUnused: readonly number[],
  ctx: RedoContext,
): void {
  const what = 'Heap2 PRUNE';
  for (const [from, to] of redirected) {
    checkOffset(page, from, ctx, what);
    checkOffset(page, to, ctx, what);
    itemIdSetRedirect(page, from, to);
  }
  for (const off of nowDead) {
    checkOffset(page, off, ctx, what);
    itemIdSetDead(page, off);
  }
  for (const off of nowUnused) {
    checkOffset(page, off, ctx, what);
    itemIdSetUnused(page, off);
  }
  pageRepairFragmentation(page);
}

/** heap_xlog_vacuum's page change: LP_DEAD items become LP_UNUSED, then the array is truncated. */
export function heapVacuumExecute(page: Uint8Array, nowUnused: readonly number[], ctx: RedoContext): void {
  for (const off of nowUnused) {
    checkOffset(page, off, ctx, 'Heap2 VACUUM');
    itemIdSetUnused(page, off);
  }
  pageTruncateLinePointerArray(page);
}
