/**
 * Heap2 redo (RM_HEAP2_ID), heapam.c's heap2_redo restricted to one page: pruning and vacuuming
 * line pointers, freezing tuples, the visibility map and PD_ALL_VISIBLE of a VISIBLE record
 * (block 0 is the VM page, block 1 the heap page), multi-row inserts and locking updated row
 * versions. NEW_CID and REWRITE have no block references, so they never reach a page.
 */
import { RM_HEAP2_ID } from '../../pg/rmgr-ids.js';
import { XLH_INSERT_ALL_FROZEN_SET, XLH_INSERT_ALL_VISIBLE_CLEARED } from '../../wal/rmgr/heap.js';
import {
  heap2Rmgr,
  type Heap2FreezePage,
  type Heap2LockUpdated,
  type Heap2MultiInsert,
  type Heap2Prune,
  type Heap2Vacuum,
  type Heap2Visible,
} from '../../wal/rmgr/heap2.js';
import {
  buildHeapTuple,
  heapExecuteFreezeTuple,
  heapPagePruneExecute,
  heapVacuumExecute,
  normalTuple,
  resetXmaxBits,
  setXmax,
} from '../heap-page.js';
import { pageClearAllVisible, pageInit, pageIsNew, pageLsn, pageSetAllVisible, setPageLsn } from '../page.js';
import { HEAPBLOCKS_PER_PAGE, VISIBILITYMAP_VALID_BITS, vmPageOf, vmSet } from '../vm.js';
import { addHeapTuple, initHeapPage } from './heap.js';
import { describeForRedo, redoFail, type RedoContext, type RedoRmgr } from './rmgr.js';

/** heap_xlog_prune */
function prune(page: Uint8Array, d: Heap2Prune, ctx: RedoContext): void {
  if (!ctx.block.hasData && d.nredirected + d.ndead > 0)
    throw redoFail(ctx, 'CORRUPT_RECORD', 'Heap2 PRUNE', 'block 0 has no offset arrays');
  heapPagePruneExecute(page, d.redirected, d.nowDead, d.nowUnused, ctx);
  setPageLsn(page, ctx.lsn);
}

/** heap_xlog_vacuum */
function vacuum(page: Uint8Array, d: Heap2Vacuum, ctx: RedoContext): void {
  if (d.nowUnused.length !== d.nunused) throw redoFail(ctx, 'CORRUPT_RECORD', 'Heap2 VACUUM', `block 0 has ${d.nowUnused.length} now-unused offsets, the record says ${d.nunused}`);
  heapVacuumExecute(page, d.nowUnused, ctx);
  setPageLsn(page, ctx.lsn);
}

/** heap_xlog_freeze_page: each freeze plan applied to its tuple. */
function freezePage(page: Uint8Array, d: Heap2FreezePage, ctx: RedoContext): void {
  const what = 'Heap2 FREEZE_PAGE';
  if (d.tuples.length !== d.ntuples) throw redoFail(ctx, 'CORRUPT_RECORD', what, `block 0 has ${d.tuples.length} freeze plans, the record says ${d.ntuples}`);
  for (const frz of d.tuples) heapExecuteFreezeTuple(normalTuple(page, frz.offset, ctx, what), frz);
  setPageLsn(page, ctx.lsn);
}

/** The VM bits of `heapBlock` on its map page (visibilitymap_set's test before it sets them). */
function vmBits(page: Uint8Array, heapBlock: number): number {
  const inPage = heapBlock % HEAPBLOCKS_PER_PAGE;
  const byte = 24 + Math.floor(inPage / 4);
  return (page[byte]! >> ((inPage % 4) * 2)) & VISIBILITYMAP_VALID_BITS;
}

/**
 * heap_xlog_visible. Block 1, the heap page: PD_ALL_VISIBLE, and the LSN only when hint bits are
 * WAL-logged (checksums or wal_log_hints). Block 0, the VM page (read RBM_ZERO_ON_ERROR, PageInit
 * when new): visibilitymap_set, which sets the bits and the LSN only when the bits change.
 */
function visible(page: Uint8Array, d: Heap2Visible, ctx: RedoContext): void {
  const what = 'Heap2 VISIBLE';
  if (ctx.blockId === 1) {
    pageSetAllVisible(page);
    if (ctx.settings.hintBitsLogged) setPageLsn(page, ctx.lsn);
    return;
  }
  if (ctx.blockId !== 0) throw redoFail(ctx, 'BAD_INPUT', what, 'a VISIBLE record references blocks 0 and 1 only');
  const heap = ctx.record.blocks[1];
  if (heap === undefined) throw redoFail(ctx, 'CORRUPT_RECORD', what, 'the record has no heap block reference 1');
  if (vmPageOf(heap.blkno) !== ctx.block.blkno)
    throw redoFail(ctx, 'CORRUPT_RECORD', what, `wrong VM buffer: heap block ${heap.blkno} is on map page ${vmPageOf(heap.blkno)}, not ${ctx.block.blkno}`);
  if ((d.flags & ~VISIBILITYMAP_VALID_BITS) !== 0 || (d.flags & VISIBILITYMAP_VALID_BITS) === 0)
    throw redoFail(ctx, 'CORRUPT_RECORD', what, `flags 0x${d.flags.toString(16)} are not visibility-map bits`);
  if (pageIsNew(page)) pageInit(page, 0);
  // The dispatcher only calls for lsn > page LSN, heap_xlog_visible's own test before the set.
  if (ctx.lsn <= pageLsn(page)) return;
  if (vmBits(page, heap.blkno) !== d.flags) {
    vmSet(page, heap.blkno, d.flags);
    setPageLsn(page, ctx.lsn);
  }
}

/** heap_xlog_multi_insert */
function multiInsert(page: Uint8Array, d: Heap2MultiInsert, ctx: RedoContext): void {
  const what = 'Heap2 MULTI_INSERT';
  if (d.initPage) initHeapPage(page, ctx, what);
  if (d.tuples.length !== d.ntuples) throw redoFail(ctx, 'CORRUPT_RECORD', what, `block 0 has ${d.tuples.length} tuples, the record says ${d.ntuples}`);
  for (const t of d.tuples) {
    const tuple = buildHeapTuple(t.header, [t.data], { xmin: ctx.record.xid, xmax: 0, block: ctx.block.blkno, offset: t.offnum });
    if (tuple === undefined) throw redoFail(ctx, 'CORRUPT_RECORD', what, `a tuple of ${t.data.length} logged bytes exceeds MaxHeapTupleSize`);
    addHeapTuple(page, tuple, t.offnum, ctx, what);
  }
  setPageLsn(page, ctx.lsn);
  if ((d.flags & XLH_INSERT_ALL_VISIBLE_CLEARED) !== 0) pageClearAllVisible(page);
  // XLH_INSERT_ALL_FROZEN_SET implies that all tuples are visible.
  if ((d.flags & XLH_INSERT_ALL_FROZEN_SET) !== 0) pageSetAllVisible(page);
}

/** heap_xlog_lock_updated */
function lockUpdated(page: Uint8Array, d: Heap2LockUpdated, ctx: RedoContext): void {
  const t = normalTuple(page, d.offnum, ctx, 'Heap2 LOCK_UPDATED');
  resetXmaxBits(t, d.infobitsSet);
  setXmax(t, d.xmax);
  setPageLsn(page, ctx.lsn);
}

export const heap2Redo: RedoRmgr = {
  id: RM_HEAP2_ID,
  name: 'Heap2',
  redo(page, ctx) {
    const d = describeForRedo(heap2Rmgr, ctx);
    switch (d.kind) {
      case 'heap2.prune':
        return prune(page, d, ctx);
      case 'heap2.vacuum':
        return vacuum(page, d, ctx);
      case 'heap2.freezePage':
        return freezePage(page, d, ctx);
      case 'heap2.visible':
        return visible(page, d, ctx);
      case 'heap2.multiInsert':
        return multiInsert(page, d, ctx);
      case 'heap2.lockUpdated':
        return lockUpdated(page, d, ctx);
      case 'heap2.newCid':
      case 'heap2.rewrite':
        // Logical decoding only (NEW_CID) or a file outside relations (REWRITE): no page changes.
        return;
    }
  },
};
