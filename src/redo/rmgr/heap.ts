/**
 * Heap redo (RM_HEAP_ID), heapam.c's heap_redo restricted to one page: the row changes of
 * INSERT, DELETE, UPDATE, HOT_UPDATE, CONFIRM, LOCK and INPLACE on the page of block `blockId`.
 * The visibility-map bits these records clear are not done here: the decoder reports them as
 * 'vm.clear' effects and the dispatcher applies those to the VM page; PD_ALL_VISIBLE on the heap
 * page is cleared here, where PostgreSQL's redo clears it.
 *
 * An UPDATE touches two pages when the new version goes elsewhere: block 0 (new page) and block 1
 * (old page) arrive as separate calls; without block 1 both versions are on block 0's page.
 */
import { RM_HEAP_ID } from '../../pg/rmgr-ids.js';
import {
  XLH_DELETE_ALL_VISIBLE_CLEARED,
  XLH_DELETE_IS_PARTITION_MOVE,
  XLH_DELETE_IS_SUPER,
  XLH_INSERT_ALL_VISIBLE_CLEARED,
  XLH_UPDATE_NEW_ALL_VISIBLE_CLEARED,
  XLH_UPDATE_OLD_ALL_VISIBLE_CLEARED,
  heapRmgr,
  type HeapConfirm,
  type HeapDelete,
  type HeapInplace,
  type HeapInsert,
  type HeapLock,
  type HeapUpdate,
} from '../../wal/rmgr/heap.js';
import {
  FIRST_COMMAND_ID,
  HEAP_HOT_UPDATED,
  SIZEOF_HEAP_TUPLE_HEADER,
  buildHeapTuple,
  infomask,
  infomask2,
  normalTuple,
  resetXmaxBits,
  setCmax,
  setCtid,
  setInfomask2,
  setMovedPartitions,
  setXmax,
  setXmin,
  tupleHoff,
  xmaxIsLockedOnly,
} from '../heap-page.js';
import { pageAddItem, pageClearAllVisible, pageInit, pageMaxOffset, pageSetPrunable, setPageLsn } from '../page.js';
import { describeForRedo, redoFail, type RedoContext, type RedoRmgr } from './rmgr.js';

/**
 * XLogInitBufferForRedo's contract for the INIT_PAGE variants: the block must be WILL_INIT (the
 * dispatcher has zeroed it), then PageInit(page, BLCKSZ, 0).
 */
export function initHeapPage(page: Uint8Array, ctx: RedoContext, what: string): void {
  if (!ctx.block.willInit)
    throw redoFail(ctx, 'CORRUPT_RECORD', what, 'block to be initialized in redo routine must be marked with WILL_INIT flag in the WAL record');
  pageInit(page, 0);
}

/** PageAddItem(page, tuple, offnum, true, true) or "failed to add tuple". */
export function addHeapTuple(page: Uint8Array, tuple: Uint8Array, offnum: number, ctx: RedoContext, what: string): void {
  if (offnum < 1) throw redoFail(ctx, 'CORRUPT_RECORD', what, `the tuple's offset is ${offnum}, not an OffsetNumber`);
  const max = pageMaxOffset(page);
  if (offnum > max + 1) throw redoFail(ctx, 'CORRUPT_PAGE', what, `invalid max offset number: the tuple goes to ${offnum}, the page has ${max} line pointers`);
  if (pageAddItem(page, tuple, offnum, true, true) === 0) throw redoFail(ctx, 'CORRUPT_PAGE', what, `failed to add tuple of ${tuple.length} bytes at offset ${offnum}`);
}

/** heap_xlog_insert */
function insert(page: Uint8Array, d: HeapInsert, ctx: RedoContext): void {
  const what = 'Heap INSERT';
  if (d.initPage) initHeapPage(page, ctx, what);
  if (d.tuple === undefined) throw redoFail(ctx, 'CORRUPT_RECORD', what, 'block 0 has no tuple data to insert');
  const tuple = buildHeapTuple(d.tuple.header, [d.tuple.data], { xmin: ctx.record.xid, xmax: 0, block: ctx.block.blkno, offset: d.offnum });
  if (tuple === undefined) throw redoFail(ctx, 'CORRUPT_RECORD', what, `the tuple of ${d.tuple.data.length} logged bytes exceeds MaxHeapTupleSize`);
  addHeapTuple(page, tuple, d.offnum, ctx, what);
  setPageLsn(page, ctx.lsn);
  if ((d.flags & XLH_INSERT_ALL_VISIBLE_CLEARED) !== 0) pageClearAllVisible(page);
}

/** heap_xlog_delete */
function del(page: Uint8Array, d: HeapDelete, ctx: RedoContext): void {
  const t = normalTuple(page, d.offnum, ctx, 'Heap DELETE');
  resetXmaxBits(t, d.infobitsSet);
  setInfomask2(t, infomask2(t) & ~HEAP_HOT_UPDATED);
  if ((d.flags & XLH_DELETE_IS_SUPER) === 0) setXmax(t, d.xmax);
  else setXmin(t, 0);
  setCmax(t, FIRST_COMMAND_ID);
  pageSetPrunable(page, ctx.record.xid);
  if ((d.flags & XLH_DELETE_ALL_VISIBLE_CLEARED) !== 0) pageClearAllVisible(page);
  if ((d.flags & XLH_DELETE_IS_PARTITION_MOVE) !== 0) setMovedPartitions(t);
  else setCtid(t, ctx.block.blkno, d.offnum);
  setPageLsn(page, ctx.lsn);
}

/** The new page's block number: block 0's. */
function newBlock(ctx: RedoContext): number {
  const b = ctx.record.blocks[0];
  if (b === undefined) throw redoFail(ctx, 'CORRUPT_RECORD', 'Heap UPDATE', 'the record has no block reference 0 for the new tuple');
  return b.blkno;
}

/** heap_xlog_update's old-tuple half: xmax, infomask and the forward link to the new version. */
function updateOld(page: Uint8Array, d: HeapUpdate, ctx: RedoContext, what: string): Uint8Array {
  const t = normalTuple(page, d.oldOffnum, ctx, what);
  resetXmaxBits(t, d.oldInfobitsSet);
  const hot = d.kind === 'heap.hotUpdate';
  setInfomask2(t, hot ? infomask2(t) | HEAP_HOT_UPDATED : infomask2(t) & ~HEAP_HOT_UPDATED);
  setXmax(t, d.oldXmax);
  setCmax(t, FIRST_COMMAND_ID);
  setCtid(t, newBlock(ctx), d.newOffnum);
  pageSetPrunable(page, ctx.record.xid);
  if ((d.flags & XLH_UPDATE_OLD_ALL_VISIBLE_CLEARED) !== 0) pageClearAllVisible(page);
  setPageLsn(page, ctx.lsn);
  return t;
}

/**
 * heap_xlog_update's new-tuple half. `old` is the old version when it is on this page (then the
 * record may borrow a prefix and a suffix of its data).
 */
function updateNew(page: Uint8Array, d: HeapUpdate, old: Uint8Array | undefined, ctx: RedoContext, what: string): void {
  const nt = d.newTuple;
  if (nt === undefined) throw redoFail(ctx, 'CORRUPT_RECORD', what, 'block 0 has no new tuple data');
  const max = pageMaxOffset(page);
  if (d.newOffnum > max + 1) throw redoFail(ctx, 'CORRUPT_PAGE', what, `invalid max offset number: the new tuple goes to ${d.newOffnum}, the page has ${max} line pointers`);
  const parts: Uint8Array[] = [];
  if (nt.prefixLen > 0 || nt.suffixLen > 0) {
    if (old === undefined) throw redoFail(ctx, 'CORRUPT_RECORD', what, 'the new tuple borrows a prefix or suffix from an old tuple on another page');
    const oldHoff = tupleHoff(old);
    if (oldHoff + nt.prefixLen > old.length || nt.suffixLen > old.length - oldHoff)
      throw redoFail(ctx, 'CORRUPT_RECORD', what, `prefix ${nt.prefixLen} and suffix ${nt.suffixLen} do not fit the old tuple's ${old.length - oldHoff} data bytes`);
    if (nt.prefixLen > 0) {
      // bitmap [+ padding] [+ oid] from WAL, the prefix from the old tuple, the rest from WAL
      const headLen = nt.header.hoff - SIZEOF_HEAP_TUPLE_HEADER;
      if (headLen < 0 || headLen > nt.data.length)
        throw redoFail(ctx, 'CORRUPT_RECORD', what, `t_hoff ${nt.header.hoff} does not fit the ${nt.data.length} logged tuple bytes`);
      parts.push(nt.data.subarray(0, headLen), old.subarray(oldHoff, oldHoff + nt.prefixLen), nt.data.subarray(headLen));
    } else {
      parts.push(nt.data);
    }
    if (nt.suffixLen > 0) parts.push(old.subarray(old.length - nt.suffixLen));
  } else {
    parts.push(nt.data);
  }
  const tuple = buildHeapTuple(nt.header, parts, { xmin: ctx.record.xid, xmax: d.newXmax, block: ctx.block.blkno, offset: d.newOffnum });
  if (tuple === undefined) throw redoFail(ctx, 'CORRUPT_RECORD', what, 'the new tuple exceeds MaxHeapTupleSize');
  addHeapTuple(page, tuple, d.newOffnum, ctx, what);
  if ((d.flags & XLH_UPDATE_NEW_ALL_VISIBLE_CLEARED) !== 0) pageClearAllVisible(page);
  setPageLsn(page, ctx.lsn);
}

/** heap_xlog_update, for the page of block 0 (new, and old too without block 1) or block 1 (old). */
function update(page: Uint8Array, d: HeapUpdate, ctx: RedoContext): void {
  const what = d.kind === 'heap.hotUpdate' ? 'Heap HOT_UPDATE' : 'Heap UPDATE';
  const separateOld = ctx.record.blocks[1] !== undefined;
  if (ctx.blockId === 1) {
    updateOld(page, d, ctx, what);
    return;
  }
  if (ctx.blockId !== 0) throw redoFail(ctx, 'BAD_INPUT', what, 'an update references blocks 0 and 1 only');
  if (!separateOld) {
    // Both versions on this page; XLOG_HEAP_INIT_PAGE does not apply (heap_xlog_update).
    const old = updateOld(page, d, ctx, what);
    updateNew(page, d, old, ctx, what);
    return;
  }
  if (d.initPage) initHeapPage(page, ctx, what);
  updateNew(page, d, undefined, ctx, what);
}

/** heap_xlog_confirm: the speculative insertion's t_ctid points at the tuple itself. */
function confirm(page: Uint8Array, d: HeapConfirm, ctx: RedoContext): void {
  const t = normalTuple(page, d.offnum, ctx, 'Heap HEAP_CONFIRM');
  setCtid(t, ctx.block.blkno, d.offnum);
  setPageLsn(page, ctx.lsn);
}

/** heap_xlog_lock */
function lock(page: Uint8Array, d: HeapLock, ctx: RedoContext): void {
  const t = normalTuple(page, d.offnum, ctx, 'Heap LOCK');
  resetXmaxBits(t, d.infobitsSet);
  // Clear the update flags only if the new infomask says there is no update.
  if (xmaxIsLockedOnly(infomask(t))) {
    setInfomask2(t, infomask2(t) & ~HEAP_HOT_UPDATED);
    setCtid(t, ctx.block.blkno, d.offnum);
  }
  setXmax(t, d.lockingXid);
  setCmax(t, FIRST_COMMAND_ID);
  setPageLsn(page, ctx.lsn);
}

/** heap_xlog_inplace: the tuple's data after t_hoff is overwritten with bytes of the same length. */
function inplace(page: Uint8Array, d: HeapInplace, ctx: RedoContext): void {
  const what = 'Heap INPLACE';
  if (d.data === undefined) throw redoFail(ctx, 'CORRUPT_RECORD', what, 'block 0 has no tuple data');
  const t = normalTuple(page, d.offnum, ctx, what);
  const hoff = tupleHoff(t);
  const oldLen = t.length - hoff;
  if (oldLen !== d.data.length) throw redoFail(ctx, 'CORRUPT_PAGE', what, `wrong tuple length: the page's tuple has ${oldLen} data bytes, the record ${d.data.length}`);
  t.set(d.data, hoff);
  setPageLsn(page, ctx.lsn);
}

export const heapRedo: RedoRmgr = {
  id: RM_HEAP_ID,
  name: 'Heap',
  redo(page, ctx) {
    const d = describeForRedo(heapRmgr, ctx);
    switch (d.kind) {
      case 'heap.insert':
        return insert(page, d, ctx);
      case 'heap.delete':
        return del(page, d, ctx);
      case 'heap.update':
      case 'heap.hotUpdate':
        return update(page, d, ctx);
      case 'heap.confirm':
        return confirm(page, d, ctx);
      case 'heap.lock':
        return lock(page, d, ctx);
      case 'heap.inplace':
        return inplace(page, d, ctx);
      case 'heap.truncate':
        // Logical decoding only; the storage change is an smgr record. It has no block to reach here.
        return;
    }
  },
};
