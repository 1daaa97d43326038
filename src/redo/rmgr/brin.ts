/**
 * BRIN redo (RM_BRIN_ID), brin_xlog.c's brin_redo restricted to one page: each record type does
 * to the page of block `blockId` what its brin_xlog_* routine does to that block. An insert or
 * update puts the tuple on block 0 (initialized first under XLOG_BRIN_INIT_PAGE) and points the
 * range's revmap entry (block 1) at block 0's number and the tuple's offset; an update also
 * removes the old tuple from block 2. The page routines live in `../brin-page.ts`.
 */
import { RM_BRIN_ID } from '../../pg/rmgr-ids.js';
import { brinRmgr, type BrinInsert, type BrinRecord, type BrinUpdate } from '../../wal/rmgr/brin.js';
import {
  BRIN_PAGETYPE_REGULAR,
  BRIN_PAGETYPE_REVMAP,
  brinMetaSetLastRevmapPage,
  brinMetapageInit,
  brinPageInit,
  brinSetHeapBlockItemptr,
} from '../brin-page.js';
import { RedoError } from '../errors.js';
import { pageAddItem, pageIndexTupleDeleteNoCompact, pageIndexTupleOverwrite, pageMaxOffset, setPageLsn } from '../page.js';
import { requireInit, corruptRecord, recordName, describeForRedo, redoFail, type RedoContext, type RedoRmgr } from './rmgr.js';

type Apply = (page: Uint8Array, ctx: RedoContext) => void;

/** InvalidBlockNumber, InvalidOffsetNumber: ItemPointerSetInvalid. */
const INVALID_BLOCK = 0xffffffff;
const INVALID_OFFSET = 0;




function stamped(change: (page: Uint8Array, ctx: RedoContext) => void): Apply {
  return (page, ctx) => {
    change(page, ctx);
    setPageLsn(page, ctx.lsn);
  };
}

/** brin_xlog_insert_update, for blocks 0 (the tuple's page) and 1 (the revmap page). */
function insertUpdate(d: BrinInsert | BrinUpdate, blockId: number): Apply | undefined {
  if (blockId === 0)
    return (page, ctx) => {
      if (d.initPage) {
        requireInit(ctx);
        brinPageInit(page, BRIN_PAGETYPE_REGULAR);
      }
      if (d.tuple === undefined) throw corruptRecord('block 0 has no BrinTuple');
      if (pageMaxOffset(page) + 1 < d.offnum) throw new RedoError('CORRUPT_PAGE', 'brin_xlog_insert_update: invalid max offset number');
      if (pageAddItem(page, d.tuple, d.offnum, true, false) === 0) throw new RedoError('CORRUPT_PAGE', 'brin_xlog_insert_update: failed to add tuple');
      setPageLsn(page, ctx.lsn);
    };
  if (blockId === 1)
    return stamped((page, ctx) => {
      const regpgno = ctx.record.blocks[0]?.blkno;
      if (regpgno === undefined) throw corruptRecord('the record has no block reference 0 for the revmap entry to point at');
      brinSetHeapBlockItemptr(page, d.pagesPerRange, d.heapBlk, regpgno, d.offnum);
    });
  return undefined;
}

/** brin_redo's switch, for one block: what the record does to it, or undefined if nothing. */
function applyFor(d: BrinRecord, blockId: number): Apply | undefined {
  switch (d.kind) {
    case 'brin.createIndex':
      // brin_xlog_createidx
      return blockId === 0
        ? (page, ctx) => {
            requireInit(ctx);
            brinMetapageInit(page, d.pagesPerRange, d.version);
            setPageLsn(page, ctx.lsn);
          }
        : undefined;
    case 'brin.insert':
      return insertUpdate(d, blockId);
    case 'brin.update':
      // brin_xlog_update: the old tuple goes from block 2, then as an insert.
      return blockId === 2 ? stamped((page) => pageIndexTupleDeleteNoCompact(page, d.oldOffnum)) : insertUpdate(d, blockId);
    case 'brin.samepageUpdate':
      // brin_xlog_samepage_update
      return blockId === 0
        ? stamped((page) => {
            if (d.tuple === undefined) throw corruptRecord('block 0 has no BrinTuple');
            if (!pageIndexTupleOverwrite(page, d.offnum, d.tuple)) throw new RedoError('CORRUPT_PAGE', 'brin_xlog_samepage_update: failed to replace tuple');
          })
        : undefined;
    case 'brin.revmapExtend':
      // brin_xlog_revmap_extend
      if (blockId === 0) return stamped((page) => brinMetaSetLastRevmapPage(page, d.targetBlk));
      return blockId === 1
        ? (page, ctx) => {
            requireInit(ctx);
            brinPageInit(page, BRIN_PAGETYPE_REVMAP);
            setPageLsn(page, ctx.lsn);
          }
        : undefined;
    case 'brin.desummarize':
      // brin_xlog_desummarize_page
      if (blockId === 0) return stamped((page) => brinSetHeapBlockItemptr(page, d.pagesPerRange, d.heapBlk, INVALID_BLOCK, INVALID_OFFSET));
      return blockId === 1 ? stamped((page) => pageIndexTupleDeleteNoCompact(page, d.regOffset)) : undefined;
  }
}

export const brinRedo: RedoRmgr = {
  id: RM_BRIN_ID,
  name: 'BRIN',
  redo(page, ctx) {
    const d = describeForRedo(brinRmgr, ctx);
    const apply = applyFor(d, ctx.blockId);
    if (apply === undefined)
      throw redoFail(ctx, 'BAD_INPUT', recordName(ctx.record), `brin_redo does not change block reference ${ctx.blockId} of this record`);
    apply(page, ctx);
  },
};
