/**
 * SP-GiST redo (RM_SPGIST_ID), spgxlog.c's spg_redo restricted to one page: each record type does
 * to the page of block `blockId` what its spgRedo* routine does to that block. Which block is which
 * follows the decoder's SpgistRecord (leaf / source / dest / inner / parent roles). A block
 * PostgreSQL reads with XLogInitBufferForRedo (newPage, initSrc, initDest, initInner) arrives
 * zeroed (WILL_INIT, done by the dispatcher) and is laid out again here with SpGistInitBuffer.
 * The page routines live in `../spgist-page.ts`.
 */
import { RM_SPGIST_ID } from '../../pg/rmgr-ids.js';
import {
  spgistRmgr,
  type SpgAddLeaf,
  type SpgAddNode,
  type SpgMoveLeafs,
  type SpgPickSplit,
  type SpgSplitTuple,
  type SpgVacuumLeaf,
  type SpgVacuumRedirect,
  type SpgistRecord,
} from '../../wal/rmgr/spgist.js';
import { RedoError } from '../errors.js';
import { pageIndexMultiDelete, pageIndexTupleDelete, pageMaxOffset, setPageLsn } from '../page.js';
import { itemIdPos, u32, setU32 } from '../page-layout.js';
import {
  SPGIST_DEAD,
  SPGIST_LEAF,
  SPGIST_NULLS,
  SPGIST_PLACEHOLDER,
  SPGIST_REDIRECT,
  addNPlaceholder,
  addNRedirection,
  addOrReplaceTuple,
  makePlaceholder,
  setLeafNextOffset,
  spgAddItemAt,
  spgFormDeadTuple,
  spgInitPage,
  spgItem,
  spgPageIndexMultiDelete,
  spgUpdateNodeLink,
  type FakeState,
} from '../spgist-page.js';
import { corruptRecord, recordName, describeForRedo, redoFail, type RedoContext, type RedoRmgr } from './rmgr.js';

type Apply = (page: Uint8Array, ctx: RedoContext) => void;

const INVALID_BLOCK_NUMBER = 0xffff_ffff;
const INVALID_OFFSET_NUMBER = 0;



/** XLogInitBufferForRedo + SpGistInitBuffer: the block must be WILL_INIT, so it arrived zeroed. */
function initPage(page: Uint8Array, ctx: RedoContext, flags: number): void {
  if (!ctx.block.willInit) throw corruptRecord('block to be initialized in redo routine must be marked with WILL_INIT flag in the WAL record');
  spgInitPage(page, flags);
}

/** XLogRecGetBlockTag's block number of a block the record registered. */
function blknoOf(ctx: RedoContext, id: number): number {
  const b = ctx.record.blocks[id];
  if (b === undefined) throw corruptRecord(`the record has no block reference ${id}`);
  return b.blkno;
}

/** The parent inner tuple at `offnumParent` gets node `nodeI` pointed at (blkno, offnum). */
function updateParent(page: Uint8Array, offnumParent: number, nodeI: number, blkno: number, offnum: number): void {
  spgUpdateNodeLink(spgItem(page, offnumParent, 8, 'spgUpdateNodeLink'), nodeI, blkno, offnum);
}

const leafFlags = (storesNulls: boolean): number => SPGIST_LEAF | (storesNulls ? SPGIST_NULLS : 0);

/** spgRedoAddLeaf */
function addLeaf(d: SpgAddLeaf, blockId: number): Apply | undefined {
  if (blockId === 0)
    return (page, ctx) => {
      if (d.newPage) initPage(page, ctx, leafFlags(d.storesNulls));
      if (d.offnumLeaf !== d.offnumHeadLeaf) {
        // A new tuple in a chain: add it, then link the chain's head to it.
        addOrReplaceTuple(page, d.leafTuple, d.offnumLeaf);
        if (d.offnumHeadLeaf !== INVALID_OFFSET_NUMBER) setLeafNextOffset(spgItem(page, d.offnumHeadLeaf, 6, 'chain head'), d.offnumLeaf);
      } else {
        // The chain's head replaced.
        pageIndexTupleDelete(page, d.offnumLeaf);
        spgAddItemAt(page, d.leafTuple, d.offnumLeaf);
      }
      setPageLsn(page, ctx.lsn);
    };
  if (blockId === 1 && d.offnumParent !== INVALID_OFFSET_NUMBER)
    return (page, ctx) => {
      updateParent(page, d.offnumParent, d.nodeI, blknoOf(ctx, 0), d.offnumLeaf);
      setPageLsn(page, ctx.lsn);
    };
  return undefined;
}

/** The last offset of toInsert: where a moved chain's head now is. */
function lastInsert(toInsert: readonly number[]): number {
  const last = toInsert[toInsert.length - 1];
  if (last === undefined) throw corruptRecord('the record has no insert offsets');
  return last;
}

/** spgRedoMoveLeafs */
function moveLeafs(d: SpgMoveLeafs, blockId: number): Apply | undefined {
  switch (blockId) {
    case 1:
      return (page, ctx) => {
        if (d.newPage) initPage(page, ctx, leafFlags(d.storesNulls));
        d.leafTuples.forEach((t, i) => addOrReplaceTuple(page, t, d.toInsert[i] ?? INVALID_OFFSET_NUMBER));
        setPageLsn(page, ctx.lsn);
      };
    case 0:
      return (page, ctx) => {
        const state: FakeState = d.stateSrc;
        spgPageIndexMultiDelete(page, state, d.toDelete, state.isBuild ? SPGIST_PLACEHOLDER : SPGIST_REDIRECT, SPGIST_PLACEHOLDER, blknoOf(ctx, 1), lastInsert(d.toInsert));
        setPageLsn(page, ctx.lsn);
      };
    case 2:
      return (page, ctx) => {
        updateParent(page, d.offnumParent, d.nodeI, blknoOf(ctx, 1), lastInsert(d.toInsert));
        setPageLsn(page, ctx.lsn);
      };
    default:
      return undefined;
  }
}

/** spgRedoAddNode */
function addNode(d: SpgAddNode, blockId: number, hasNew: boolean): Apply | undefined {
  if (!hasNew)
    // The enlarged inner tuple fits where the old one was.
    return blockId === 0
      ? (page, ctx) => {
          pageIndexTupleDelete(page, d.offnum);
          spgAddItemAt(page, d.innerTuple, d.offnum);
          setPageLsn(page, ctx.lsn);
        }
      : undefined;
  switch (blockId) {
    case 1:
      return (page, ctx) => {
        if (d.newPage) initPage(page, ctx, 0);
        addOrReplaceTuple(page, d.innerTuple, d.offnumNew);
        if (d.parentBlk === 1) updateParent(page, d.offnumParent, d.nodeI, blknoOf(ctx, 1), d.offnumNew);
        setPageLsn(page, ctx.lsn);
      };
    case 0:
      // The old tuple becomes a redirect to the new one (a placeholder during a build).
      return (page, ctx) => {
        const blknoNew = blknoOf(ctx, 1);
        const { isBuild, myXid } = d.stateSrc;
        const dt = isBuild
          ? spgFormDeadTuple(SPGIST_PLACEHOLDER, INVALID_BLOCK_NUMBER, INVALID_OFFSET_NUMBER, myXid)
          : spgFormDeadTuple(SPGIST_REDIRECT, blknoNew, d.offnumNew, myXid);
        pageIndexTupleDelete(page, d.offnum);
        spgAddItemAt(page, dt, d.offnum);
        if (isBuild) addNPlaceholder(page, 1);
        else addNRedirection(page, 1);
        if (d.parentBlk === 0) updateParent(page, d.offnumParent, d.nodeI, blknoNew, d.offnumNew);
        setPageLsn(page, ctx.lsn);
      };
    case 2:
      return d.parentBlk === 2
        ? (page, ctx) => {
            updateParent(page, d.offnumParent, d.nodeI, blknoOf(ctx, 1), d.offnumNew);
            setPageLsn(page, ctx.lsn);
          }
        : undefined;
    default:
      return undefined;
  }
}

/** spgRedoSplitTuple */
function splitTuple(d: SpgSplitTuple, blockId: number): Apply | undefined {
  if (blockId === 1 && !d.postfixBlkSame)
    return (page, ctx) => {
      if (d.newPage) initPage(page, ctx, 0);
      addOrReplaceTuple(page, d.postfixTuple, d.offnumPostfix);
      setPageLsn(page, ctx.lsn);
    };
  if (blockId === 0)
    return (page, ctx) => {
      pageIndexTupleDelete(page, d.offnumPrefix);
      spgAddItemAt(page, d.prefixTuple, d.offnumPrefix);
      if (d.postfixBlkSame) addOrReplaceTuple(page, d.postfixTuple, d.offnumPostfix);
      setPageLsn(page, ctx.lsn);
    };
  return undefined;
}

/** spgRedoPickSplit's leaf tuples that go to the source (dest false) or dest page. */
function insertLeafTuples(page: Uint8Array, d: SpgPickSplit, dest: boolean): void {
  d.leafTuples.forEach((t, i) => {
    const sel = d.leafPageSelect[i];
    const off = d.toInsert[i];
    if (sel === undefined || off === undefined) throw corruptRecord(`leaf tuple ${i} has no page select or offset`);
    if (sel !== 0 === dest) addOrReplaceTuple(page, t, off);
  });
}

/** spgRedoPickSplit */
function pickSplit(d: SpgPickSplit, blockId: number): Apply | undefined {
  switch (blockId) {
    case 0:
      if (d.isRootSplit) return undefined;
      return (page, ctx) => {
        if (d.initSrc) {
          initPage(page, ctx, leafFlags(d.storesNulls));
        } else {
          // The moved tuples leave a redirect to the new inner tuple (placeholders in a build).
          const state: FakeState = d.stateSrc;
          if (!state.isBuild) spgPageIndexMultiDelete(page, state, d.toDelete, SPGIST_REDIRECT, SPGIST_PLACEHOLDER, blknoOf(ctx, 2), d.offnumInner);
          else spgPageIndexMultiDelete(page, state, d.toDelete, SPGIST_PLACEHOLDER, SPGIST_PLACEHOLDER, INVALID_BLOCK_NUMBER, INVALID_OFFSET_NUMBER);
        }
        insertLeafTuples(page, d, false);
        setPageLsn(page, ctx.lsn);
      };
    case 1:
      return (page, ctx) => {
        if (d.initDest) initPage(page, ctx, leafFlags(d.storesNulls));
        insertLeafTuples(page, d, true);
        setPageLsn(page, ctx.lsn);
      };
    case 2:
      return (page, ctx) => {
        if (d.initInner) initPage(page, ctx, d.storesNulls ? SPGIST_NULLS : 0);
        addOrReplaceTuple(page, d.innerTuple, d.offnumInner);
        if (d.innerIsParent) updateParent(page, d.offnumParent, d.nodeI, blknoOf(ctx, 2), d.offnumInner);
        setPageLsn(page, ctx.lsn);
      };
    case 3:
      return (page, ctx) => {
        updateParent(page, d.offnumParent, d.nodeI, blknoOf(ctx, 2), d.offnumInner);
        setPageLsn(page, ctx.lsn);
      };
    default:
      return undefined;
  }
}

/** Line pointers `a` and `b` trade places (spgRedoVacuumLeaf's moves). */
function swapItemIds(page: Uint8Array, a: number, b: number): void {
  const max = pageMaxOffset(page);
  if (a < 1 || a > max || b < 1 || b > max) throw new RedoError('CORRUPT_PAGE', `cannot swap line pointers ${a} and ${b} on a page of ${max} items`);
  const pa = itemIdPos(a);
  const pb = itemIdPos(b);
  const tmp = u32(page, pa);
  setU32(page, pa, u32(page, pb));
  setU32(page, pb, tmp);
}

/** spgRedoVacuumLeaf */
const vacuumLeaf =
  (d: SpgVacuumLeaf): Apply =>
  (page, ctx) => {
    const state: FakeState = d.stateSrc;
    const none = [INVALID_BLOCK_NUMBER, INVALID_OFFSET_NUMBER] as const;
    spgPageIndexMultiDelete(page, state, d.toDead, SPGIST_DEAD, SPGIST_DEAD, ...none);
    spgPageIndexMultiDelete(page, state, d.toPlaceholder, SPGIST_PLACEHOLDER, SPGIST_PLACEHOLDER, ...none);
    // Each moved tuple takes its destination's line pointer; the source's becomes a placeholder.
    d.moveSrc.forEach((src, i) => swapItemIds(page, src, d.moveDest[i] ?? INVALID_OFFSET_NUMBER));
    spgPageIndexMultiDelete(page, state, d.moveSrc, SPGIST_PLACEHOLDER, SPGIST_PLACEHOLDER, ...none);
    d.chainSrc.forEach((src, i) => setLeafNextOffset(spgItem(page, src, 6, 'chain link'), d.chainDest[i] ?? INVALID_OFFSET_NUMBER));
    setPageLsn(page, ctx.lsn);
  };

/** spgRedoVacuumRedirect */
const vacuumRedirect =
  (d: SpgVacuumRedirect): Apply =>
  (page, ctx) => {
    for (const off of d.toPlaceholder) makePlaceholder(spgItem(page, off, 12, 'redirect to placeholder'));
    addNRedirection(page, -d.nToPlaceholder);
    addNPlaceholder(page, d.nToPlaceholder);
    if (d.firstPlaceholder !== INVALID_OFFSET_NUMBER) {
      // The placeholders from firstPlaceholder to the end go altogether.
      const max = pageMaxOffset(page);
      const toDelete: number[] = [];
      for (let i = d.firstPlaceholder; i <= max; i++) toDelete.push(i);
      addNPlaceholder(page, -toDelete.length);
      pageIndexMultiDelete(page, toDelete);
    }
    setPageLsn(page, ctx.lsn);
  };

/** spg_redo's switch, for one block: what the record does to it, or undefined if nothing. */
function applyFor(d: SpgistRecord, ctx: RedoContext): Apply | undefined {
  const blockId = ctx.blockId;
  switch (d.kind) {
    case 'spgist.addLeaf':
      return addLeaf(d, blockId);
    case 'spgist.moveLeafs':
      return moveLeafs(d, blockId);
    case 'spgist.addNode':
      return addNode(d, blockId, ctx.record.blocks[1] !== undefined);
    case 'spgist.splitTuple':
      return splitTuple(d, blockId);
    case 'spgist.pickSplit':
      return pickSplit(d, blockId);
    case 'spgist.vacuumLeaf':
      return blockId === 0 ? vacuumLeaf(d) : undefined;
    case 'spgist.vacuumRoot':
      return blockId === 0
        ? (page, c) => {
            pageIndexMultiDelete(page, d.toDelete);
            setPageLsn(page, c.lsn);
          }
        : undefined;
    case 'spgist.vacuumRedirect':
      return blockId === 0 ? vacuumRedirect(d) : undefined;
  }
}

export const spgistRedo: RedoRmgr = {
  id: RM_SPGIST_ID,
  name: 'SPGist',
  redo(page, ctx) {
    const d = describeForRedo(spgistRmgr, ctx);
    const apply = applyFor(d, ctx);
    if (apply === undefined)
      throw redoFail(ctx, 'BAD_INPUT', recordName(ctx.record), `spg_redo does not change block reference ${ctx.blockId} of this record`);
    apply(page, ctx);
  },
};
