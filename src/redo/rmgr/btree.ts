/**
 * B-tree redo (RM_BTREE_ID), nbtxlog.c's btree_redo restricted to one page: each record type does
 * to the page of block `blockId` what its btree_xlog_* routine does to that block. Which block is
 * which follows the registrations in nbtinsert.c and nbtpage.c (see the decoder's BtreeRecord);
 * the metapage is just another block here (block 2 of INSERT_META and NEWROOT, 4 of
 * UNLINK_PAGE_META, 0 of META_CLEANUP), rebuilt by _bt_restore_meta.
 *
 * Blocks PostgreSQL reads with XLogInitBufferForRedo arrive zeroed (WILL_INIT, done by the
 * dispatcher); the page routines live in `../btree-page.ts`.
 */
import { RM_BTREE_ID } from '../../pg/rmgr-ids.js';
import {
  btreeRmgr,
  type BtreeDedup,
  type BtreeDelete,
  type BtreeInsert,
  type BtreeMarkPageHalfdead,
  type BtreeMetadata,
  type BtreeNewroot,
  type BtreeRecord,
  type BtreeSplit,
  type BtreeUnlinkPage,
} from '../../wal/rmgr/btree.js';
import {
  BTP_HALF_DEAD,
  BTP_HAS_GARBAGE,
  BTP_INCOMPLETE_SPLIT,
  BTP_LEAF,
  BTP_ROOT,
  DedupState,
  P_HIKEY,
  addItemOrFail,
  btPageInit,
  btPageSetDeleted,
  btpoFlags,
  downLink,
  firstDataKey,
  indexTupleSize,
  isRightmost,
  itemAt,
  restoreMetaPage,
  restorePage,
  setBtOpaque,
  setBtpoCycleId,
  setBtpoFlags,
  setBtpoNext,
  setBtpoPrev,
  setTidBlock,
  swapPosting,
  tempPageCopySpecial,
  topParentHighKey,
  updatePosting,
} from '../btree-page.js';
import { RedoError } from '../errors.js';
import { maxAlign, pageIndexMultiDelete, pageIndexTupleDelete, pageIndexTupleOverwrite, pageMaxOffset, setPageLsn } from '../page.js';

import { requireInit, corruptRecord, recordName, describeForRedo, redoFail, type RedoContext, type RedoRmgr } from './rmgr.js';

/** P_NONE */
const P_NONE = 0;

/** What a record does to one of its blocks, by role. */
type Apply = (page: Uint8Array, ctx: RedoContext) => void;




/** A block the routine reads is `blockId`'s page only when the record registered it. */
function blkno(ctx: RedoContext, id: number): number | undefined {
  return ctx.record.blocks[id]?.blkno;
}

/** _bt_restore_meta */
function restoreMeta(meta: BtreeMetadata | undefined): Apply {
  return (page, ctx) => {
    if (meta === undefined) throw corruptRecord('the record has no metapage data');
    requireInit(ctx);
    restoreMetaPage(page, meta);
    setPageLsn(page, ctx.lsn);
  };
}

/** _bt_clear_incomplete_split */
const clearIncompleteSplit: Apply = (page, ctx) => {
  setBtpoFlags(page, btpoFlags(page) & ~BTP_INCOMPLETE_SPLIT);
  setPageLsn(page, ctx.lsn);
};

/** btree_xlog_insert's block 0: a retail insert, or a posting list split and insert (INSERT_POST). */
function insertItem(d: BtreeInsert): Apply {
  return (page, ctx) => {
    if (d.newItem === undefined) throw corruptRecord('block 0 has no item to insert');
    if (d.kind !== 'btree.insertPost') {
      addItemOrFail(page, d.newItem, d.offnum, 'failed to add new item');
    } else {
      const oposting = itemAt(page, d.offnum - 1);
      const newItem = Uint8Array.from(d.newItem);
      const nposting = swapPosting(newItem, oposting, d.postingOff);
      // Replace the posting list in place: nposting is the same size as oposting.
      oposting.set(nposting);
      addItemOrFail(page, newItem, d.offnum, 'failed to add posting split new item');
    }
    setPageLsn(page, ctx.lsn);
  };
}

function insert(d: BtreeInsert, blockId: number): Apply | undefined {
  const isLeaf = d.kind === 'btree.insertLeaf' || d.kind === 'btree.insertPost';
  if (blockId === 0) return insertItem(d);
  if (blockId === 1 && !isLeaf) return clearIncompleteSplit;
  if (blockId === 2 && d.kind === 'btree.insertMeta') return restoreMeta(d.meta);
  return undefined;
}

/** btree_xlog_split's block 1: the new right page, from scratch. */
function splitRight(d: BtreeSplit): Apply {
  return (page, ctx) => {
    requireInit(ctx);
    btPageInit(page);
    setBtOpaque(page, { prev: blkno(ctx, 0) ?? P_NONE, next: blkno(ctx, 2) ?? P_NONE, level: d.level, flags: d.level === 0 ? BTP_LEAF : 0 });
    restorePage(page, d.rightItems);
    setPageLsn(page, ctx.lsn);
  };
}

/**
 * btree_xlog_split's block 0: the original page rebuilt as the left half on a temporary page, in
 * item order as _bt_split built it: the new high key, the items before firstrightoff, with the new
 * item (SPLIT_L) and the post-split posting list (posting split) in their places.
 */
function splitLeft(d: BtreeSplit): Apply {
  return (orig, ctx) => {
    const onLeft = d.kind === 'btree.splitL';
    if (d.leftHighKey === undefined) throw corruptRecord('block 0 has no left high key');
    let newItem = d.newItem;
    let nposting: Uint8Array | undefined;
    let replacePostingOff = 0;
    if (d.postingOff !== 0) {
      if (d.newItem === undefined) throw corruptRecord('a posting list split without its new item');
      replacePostingOff = d.newItemOff - 1;
      newItem = Uint8Array.from(d.newItem);
      nposting = swapPosting(newItem, itemAt(orig, replacePostingOff), d.postingOff);
    }
    if (onLeft && newItem === undefined) throw corruptRecord('SPLIT_L without its new item');
    const left = tempPageCopySpecial(orig);
    addItemOrFail(left, d.leftHighKey, P_HIKEY, 'failed to add high key to left page after split');
    let leftOff = P_HIKEY + 1;
    const maxOff = pageMaxOffset(orig);
    if (d.firstRightOff > maxOff + 1) throw corruptRecord(`firstrightoff ${d.firstRightOff} is past the page's ${maxOff} items`);
    let off = firstDataKey(orig);
    for (; off < d.firstRightOff; off++) {
      if (off === replacePostingOff && nposting !== undefined) {
        addItemOrFail(left, nposting.subarray(0, maxAlign(indexTupleSize(nposting))), leftOff++, 'failed to add new posting list item to left page after split');
        continue;
      } else if (onLeft && off === d.newItemOff && newItem !== undefined) {
        addItemOrFail(left, newItem.subarray(0, maxAlign(indexTupleSize(newItem))), leftOff++, 'failed to add new item to left page after split');
      }
      addItemOrFail(left, itemAt(orig, off), leftOff++, 'failed to add old item to left page after split');
    }
    if (onLeft && off === d.newItemOff && newItem !== undefined)
      addItemOrFail(left, newItem.subarray(0, maxAlign(indexTupleSize(newItem))), leftOff++, 'failed to add new item to left page after split');
    orig.set(left);
    setBtpoFlags(orig, BTP_INCOMPLETE_SPLIT | (d.level === 0 ? BTP_LEAF : 0));
    setBtpoNext(orig, blkno(ctx, 1) ?? P_NONE);
    setBtpoCycleId(orig, 0);
    setPageLsn(orig, ctx.lsn);
  };
}

function split(d: BtreeSplit, blockId: number): Apply | undefined {
  switch (blockId) {
    case 0:
      return splitLeft(d);
    case 1:
      return splitRight(d);
    case 2:
      // Fix the left link of the page to the right of the new right sibling.
      return (page, ctx) => {
        setBtpoPrev(page, blkno(ctx, 1) ?? P_NONE);
        setPageLsn(page, ctx.lsn);
      };
    case 3:
      return d.level !== 0 ? clearIncompleteSplit : undefined;
    default:
      return undefined;
  }
}

/**
 * btree_xlog_dedup: the leaf rebuilt on a temporary page, merging the items of each logged
 * interval into one posting list with _bt_dedup_start_pending / _save_htid / _finish_pending.
 */
function dedup(d: BtreeDedup): Apply {
  return (page, ctx) => {
    if (d.intervals.length < d.nintervals) throw corruptRecord(`block 0 has ${d.intervals.length} of ${d.nintervals} intervals`);
    const state = new DedupState();
    const minOff = firstDataKey(page);
    const maxOff = pageMaxOffset(page);
    const newPage = tempPageCopySpecial(page);
    if (!isRightmost(page)) addItemOrFail(newPage, itemAt(page, P_HIKEY), P_HIKEY, 'deduplication failed to add highkey');
    for (let off = minOff; off <= maxOff; off++) {
      const itup = itemAt(page, off);
      const interval = d.intervals[state.nintervals];
      if (off === minOff) {
        state.startPending(itup, off);
      } else if (state.nintervals < d.nintervals && interval !== undefined && state.baseOff === interval.baseOff && state.nitems < interval.nitems) {
        if (!state.saveHtid(itup)) throw new RedoError('CORRUPT_PAGE', 'deduplication failed to add heap tid to pending posting list');
      } else {
        state.finishPending(newPage);
        state.startPending(itup, off);
      }
    }
    // A page with no data items has nothing pending: finishPending refuses (PostgreSQL asserts).
    state.finishPending(newPage);
    if ((btpoFlags(page) & BTP_HAS_GARBAGE) !== 0) setBtpoFlags(newPage, btpoFlags(newPage) & ~BTP_HAS_GARBAGE);
    page.set(newPage);
    setPageLsn(page, ctx.lsn);
  };
}

/** btree_xlog_vacuum and btree_xlog_delete: posting lists shrunk (btree_xlog_updates), items deleted. */
function deleteItems(d: BtreeDelete): Apply {
  return (page, ctx) => {
    if (d.deleted.length !== d.ndeleted || d.updated.length !== d.nupdated) throw corruptRecord('block 0 has no offsets to delete');
    for (const u of d.updated) {
      const updated = updatePosting(itemAt(page, u.offset), u.deletedTids);
      if (!pageIndexTupleOverwrite(page, u.offset, updated)) throw new RedoError('CORRUPT_PAGE', 'failed to update partially dead item');
    }
    if (d.ndeleted > 0) pageIndexMultiDelete(page, d.deleted);
    setBtpoFlags(page, btpoFlags(page) & ~BTP_HAS_GARBAGE);
    setPageLsn(page, ctx.lsn);
  };
}

/** A half-dead leaf from scratch: no items but the dummy high key that points at the top parent. */
function halfDeadLeaf(page: Uint8Array, ctx: RedoContext, left: number, right: number, topParent: number): void {
  requireInit(ctx);
  btPageInit(page);
  setBtOpaque(page, { prev: left, next: right, level: 0, flags: BTP_HALF_DEAD | BTP_LEAF });
  addItemOrFail(page, topParentHighKey(topParent), P_HIKEY, 'could not add dummy high key to half-dead page');
  setPageLsn(page, ctx.lsn);
}

/** btree_xlog_mark_page_halfdead */
function markPageHalfdead(d: BtreeMarkPageHalfdead, blockId: number): Apply | undefined {
  if (blockId === 0) return (page, ctx) => halfDeadLeaf(page, ctx, d.leftBlk, d.rightBlk, d.topParent);
  if (blockId !== 1) return undefined;
  // The subtree's parent: the downlink at poffset takes over its right neighbour's, which goes.
  return (page, ctx) => {
    const next = d.poffset + 1;
    const rightSib = downLink(itemAt(page, next));
    const itup = itemAt(page, d.poffset);
    downLink(itup);
    setTidBlock(itup, rightSib);
    pageIndexTupleDelete(page, next);
    setPageLsn(page, ctx.lsn);
  };
}

/** btree_xlog_unlink_page */
function unlinkPage(d: BtreeUnlinkPage, blockId: number): Apply | undefined {
  switch (blockId) {
    case 0:
      // The target, rewritten as an empty deleted page.
      return (page, ctx) => {
        requireInit(ctx);
        btPageInit(page);
        setBtOpaque(page, { prev: d.leftSib, next: d.rightSib, level: d.level, flags: 0 });
        btPageSetDeleted(page, d.safeXid);
        if (d.level === 0) setBtpoFlags(page, btpoFlags(page) | BTP_LEAF);
        setPageLsn(page, ctx.lsn);
      };
    case 1:
      return d.leftSib !== P_NONE
        ? (page, ctx) => {
            setBtpoNext(page, d.rightSib);
            setPageLsn(page, ctx.lsn);
          }
        : undefined;
    case 2:
      return (page, ctx) => {
        setBtpoPrev(page, d.leftSib);
        setPageLsn(page, ctx.lsn);
      };
    case 3:
      return (page, ctx) => halfDeadLeaf(page, ctx, d.leafLeftSib, d.leafRightSib, d.leafTopParent);
    case 4:
      return d.kind === 'btree.unlinkPageMeta' ? restoreMeta(d.meta) : undefined;
    default:
      return undefined;
  }
}

/** btree_xlog_newroot */
function newroot(d: BtreeNewroot, blockId: number): Apply | undefined {
  switch (blockId) {
    case 0:
      return (page, ctx) => {
        requireInit(ctx);
        btPageInit(page);
        setBtOpaque(page, { prev: P_NONE, next: P_NONE, level: d.level, flags: BTP_ROOT | (d.level === 0 ? BTP_LEAF : 0) });
        if (d.level > 0) restorePage(page, d.items);
        setPageLsn(page, ctx.lsn);
      };
    case 1:
      return d.level > 0 ? clearIncompleteSplit : undefined;
    case 2:
      return restoreMeta(d.meta);
    default:
      return undefined;
  }
}

/** btree_redo's switch, for one block: what the record does to it, or undefined if nothing. */
function applyFor(d: BtreeRecord, blockId: number): Apply | undefined {
  switch (d.kind) {
    case 'btree.insertLeaf':
    case 'btree.insertUpper':
    case 'btree.insertMeta':
    case 'btree.insertPost':
      return insert(d, blockId);
    case 'btree.splitL':
    case 'btree.splitR':
      return split(d, blockId);
    case 'btree.dedup':
      return blockId === 0 ? dedup(d) : undefined;
    case 'btree.vacuum':
    case 'btree.delete':
      return blockId === 0 ? deleteItems(d) : undefined;
    case 'btree.markPageHalfdead':
      return markPageHalfdead(d, blockId);
    case 'btree.unlinkPage':
    case 'btree.unlinkPageMeta':
      return unlinkPage(d, blockId);
    case 'btree.newroot':
      return newroot(d, blockId);
    case 'btree.reusePage':
      // Only hot standby conflicts; no page changes.
      return undefined;
    case 'btree.metaCleanup':
      return blockId === 0 ? restoreMeta(d.meta) : undefined;
  }
}

export const btreeRedo: RedoRmgr = {
  id: RM_BTREE_ID,
  name: 'Btree',
  redo(page, ctx) {
    const d = describeForRedo(btreeRmgr, ctx);
    const apply = applyFor(d, ctx.blockId);
    if (apply === undefined)
      throw redoFail(ctx, 'BAD_INPUT', recordName(ctx.record), `btree_redo does not change block reference ${ctx.blockId} of this record`);
    apply(page, ctx);
  },
};
