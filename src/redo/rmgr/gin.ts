/**
 * GIN redo (RM_GIN_ID), ginxlog.c's gin_redo restricted to one page: each record type does to the
 * page of block `blockId` what its ginRedo* routine does to that block. Which block is which
 * follows the decoder's GinRecord. SPLIT and VACUUM_PAGE pages are full-page images the
 * dispatcher restores; reaching redo for one of them means the image is missing, which PostgreSQL
 * reports as an error too. The page routines live in `../gin-page.ts`, the posting-list codec in
 * `../gin-posting.ts`.
 */
import { RM_GIN_ID } from '../../pg/rmgr-ids.js';
import {
  ginRmgr,
  type GinDeletePage,
  type GinInsert,
  type GinMetaPageData,
  type GinRecord,
  type GinUpdateMetaPage,
} from '../../wal/rmgr/gin.js';
import { RedoError } from '../errors.js';
import {
  GIN_COMPRESSED,
  GIN_DATA,
  GIN_DELETED,
  GIN_INCOMPLETE_SPLIT,
  GIN_LEAF,
  GIN_LIST,
  GIN_LIST_FULLROW,
  GIN_DATA_OFFSET,
  GIN_DATA_PAGE_MAX_DATA_SIZE,
  INVALID_BLOCK,
  ginDataPageAddPostingItem,
  ginDataPageSetDataSize,
  ginFlags,
  ginInitPage,
  ginMaxoff,
  ginPageDeletePostingItem,
  ginRedoRecompress,
  ginRestoreMetaPage,
  postingItemBytes,
  postingItemSetBlockNumber,
  setGinFlags,
  setGinMaxoff,
  setGinRightlink,
} from '../gin-page.js';
import { pageAddItem, pageIndexTupleDelete, pageIsEmpty, pageItem, pageMaxOffset, setPagePruneXid, setPageLsn } from '../page.js';
import { requireInit, corruptRecord, recordName, describeForRedo, redoFail, type RedoContext, type RedoRmgr } from './rmgr.js';

/** What a record does to one of its blocks. */
type Apply = (page: Uint8Array, ctx: RedoContext) => void;




/** A block PostgreSQL only ever restores from its image (XLogReadBufferForRedo must say BLK_RESTORED). */
function imageOnly(what: string): Apply {
  return () => {
    throw corruptRecord(what);
  };
}

/** ginRedoClearIncompleteSplit */
const clearIncompleteSplit: Apply = (page, ctx) => {
  setGinFlags(page, ginFlags(page) & ~GIN_INCOMPLETE_SPLIT);
  setPageLsn(page, ctx.lsn);
};

/** PageAddItem of each tuple from `off` on, or the "failed to add item" error. */
function addTuples(page: Uint8Array, tuples: readonly Uint8Array[], off: number): void {
  for (const t of tuples) {
    if (pageAddItem(page, t, off, false, false) === 0) throw new RedoError('CORRUPT_PAGE', `failed to add item to index page at offset ${off}`);
    off++;
  }
}

/** ginRedoCreatePTree */
function createPTree(size: number, postingList: Uint8Array): Apply {
  return (page, ctx) => {
    requireInit(ctx);
    if (size > GIN_DATA_PAGE_MAX_DATA_SIZE || postingList.length !== size) throw corruptRecord(`the posting list of ${size} bytes does not fit a data page`);
    ginInitPage(page, GIN_DATA | GIN_LEAF | GIN_COMPRESSED);
    page.set(postingList, GIN_DATA_OFFSET);
    ginDataPageSetDataSize(page, size);
    setPageLsn(page, ctx.lsn);
  };
}

/** ginRedoInsertEntry */
function insertEntry(page: Uint8Array, rightBlkno: number, offset: number, isDelete: boolean, tuple: Uint8Array): void {
  if (rightBlkno !== INVALID_BLOCK) {
    // Update the downlink to the right page after a split: GinSetDownlink (ItemPointerSet, offset 0).
    if (offset < 1 || offset > pageMaxOffset(page)) throw new RedoError('CORRUPT_PAGE', `offset ${offset} is not an item of the page's ${pageMaxOffset(page)}`);
    const itup = pageItem(page, offset);
    if (itup.length < 6) throw new RedoError('CORRUPT_PAGE', `item ${offset} is too short for an index tuple`);
    itup[0] = (rightBlkno >>> 16) & 0xff;
    itup[1] = rightBlkno >>> 24;
    itup[2] = rightBlkno & 0xff;
    itup[3] = (rightBlkno >>> 8) & 0xff;
    itup[4] = 0;
    itup[5] = 0;
  }
  if (isDelete) pageIndexTupleDelete(page, offset);
  if (pageAddItem(page, tuple, offset, false, false) === 0) throw new RedoError('CORRUPT_PAGE', 'failed to add item to index page');
}

/** ginRedoInsert's block 0: ginRedoInsertEntry or ginRedoInsertData by the tree's payload. */
function insertTarget(d: GinInsert): Apply {
  return (page, ctx) => {
    const p = d.payload;
    if (p === undefined) throw corruptRecord('block 0 has no insert payload');
    const rightBlkno = d.rightChildBlkno ?? INVALID_BLOCK;
    switch (p.type) {
      case 'entry':
        insertEntry(page, rightBlkno, p.offset, p.isDelete, p.tuple);
        break;
      case 'dataLeaf':
        if (p.actions.length !== p.nactions) throw corruptRecord(`block 0 has ${p.actions.length} of ${p.nactions} segment actions`);
        ginRedoRecompress(page, p.actions);
        break;
      case 'dataInternal':
        // Update the link to the right page after a split, then add the new downlink.
        postingItemSetBlockNumber(page, p.offset, rightBlkno);
        ginDataPageAddPostingItem(page, postingItemBytes(p.childBlkno, p.key), p.offset);
        break;
    }
    setPageLsn(page, ctx.lsn);
  };
}

function insert(d: GinInsert, blockId: number): Apply | undefined {
  if (blockId === 0) return insertTarget(d);
  if (blockId === 1 && !d.isLeaf) return clearIncompleteSplit;
  return undefined;
}

/** ginRedoDeletePage */
function deletePage(d: GinDeletePage, blockId: number): Apply | undefined {
  switch (blockId) {
    case 0:
      return (page, ctx) => {
        setGinFlags(page, ginFlags(page) | GIN_DELETED);
        setPagePruneXid(page, d.deleteXid);
        setPageLsn(page, ctx.lsn);
      };
    case 1:
      return (page, ctx) => {
        ginPageDeletePostingItem(page, d.parentOffset);
        setPageLsn(page, ctx.lsn);
      };
    case 2:
      return (page, ctx) => {
        setGinRightlink(page, d.rightLink);
        setPageLsn(page, ctx.lsn);
      };
    default:
      return undefined;
  }
}

/** The metapage of UPDATE_META_PAGE and DELETE_LISTPAGE: GinInitMetabuffer plus the logged data. */
function restoreMeta(meta: GinMetaPageData): Apply {
  return (page, ctx) => {
    requireInit(ctx);
    ginRestoreMetaPage(page, meta.raw);
    setPageLsn(page, ctx.lsn);
  };
}

/** ginRedoUpdateMetapage */
function updateMeta(d: GinUpdateMetaPage, blockId: number): Apply | undefined {
  if (blockId === 0) return restoreMeta(d.metadata);
  if (blockId !== 1) return undefined;
  if (d.ntuples > 0) {
    // Append the tuples to the tail page; its maxoff counts heap tuples.
    return (page, ctx) => {
      if (d.tuples === undefined) throw corruptRecord('block 1 has no tuples');
      addTuples(page, d.tuples, pageIsEmpty(page) ? 1 : pageMaxOffset(page) + 1);
      setGinMaxoff(page, (ginMaxoff(page) + 1) & 0xffff);
      setPageLsn(page, ctx.lsn);
    };
  }
  if (d.prevTail !== INVALID_BLOCK) {
    // The old tail links to the new one.
    return (page, ctx) => {
      setGinRightlink(page, d.newRightlink);
      setPageLsn(page, ctx.lsn);
    };
  }
  return undefined;
}

/** ginRedoInsertListPage */
function insertListPage(rightlink: number, ntuples: number, tuples: readonly Uint8Array[] | undefined): Apply {
  return (page, ctx) => {
    requireInit(ctx);
    ginInitPage(page, GIN_LIST);
    setGinRightlink(page, rightlink);
    if (rightlink === INVALID_BLOCK) {
      // The tail of a sublist: it holds whole rows.
      setGinFlags(page, ginFlags(page) | GIN_LIST_FULLROW);
      setGinMaxoff(page, 1);
    } else {
      setGinMaxoff(page, 0);
    }
    if (ntuples > 0 && (tuples === undefined || tuples.length !== ntuples)) throw corruptRecord(`block 0 has ${tuples?.length ?? 0} of ${ntuples} tuples`);
    addTuples(page, tuples ?? [], 1);
    setPageLsn(page, ctx.lsn);
  };
}

/** gin_redo's switch, for one block: what the record does to it, or undefined if nothing. */
function applyFor(d: GinRecord, blockId: number): Apply | undefined {
  switch (d.kind) {
    case 'gin.createPTree':
      return blockId === 0 ? createPTree(d.size, d.postingList) : undefined;
    case 'gin.insert':
      return insert(d, blockId);
    case 'gin.split':
      if (blockId === 3) return d.isLeaf ? undefined : clearIncompleteSplit;
      if (blockId === 2 && !d.isRoot) return undefined;
      return imageOnly(`GIN split record did not contain a full-page image of ${['left', 'right', 'root'][blockId] ?? 'a'} page`);
    case 'gin.vacuumPage':
      return blockId === 0 ? imageOnly('replay of gin entry tree page vacuum did not restore the page') : undefined;
    case 'gin.vacuumDataLeafPage':
      if (blockId !== 0) return undefined;
      return (page, ctx) => {
        const leaf = d.leaf;
        if (leaf === undefined) throw corruptRecord('block 0 has no recompression data');
        if (leaf.actions.length !== leaf.nactions) throw corruptRecord(`block 0 has ${leaf.actions.length} of ${leaf.nactions} segment actions`);
        ginRedoRecompress(page, leaf.actions);
        setPageLsn(page, ctx.lsn);
      };
    case 'gin.deletePage':
      return deletePage(d, blockId);
    case 'gin.updateMetaPage':
      return updateMeta(d, blockId);
    case 'gin.insertListPage':
      return blockId === 0 ? insertListPage(d.rightlink, d.ntuples, d.tuples) : undefined;
    case 'gin.deleteListPage':
      if (blockId === 0) return restoreMeta(d.metadata);
      if (blockId < 1 || blockId > d.ndeleted) return undefined;
      return (page, ctx) => {
        requireInit(ctx);
        ginInitPage(page, GIN_DELETED);
        setPageLsn(page, ctx.lsn);
      };
  }
}

export const ginRedo: RedoRmgr = {
  id: RM_GIN_ID,
  name: 'Gin',
  redo(page, ctx) {
    const d = describeForRedo(ginRmgr, ctx);
    const apply = applyFor(d, ctx.blockId);
    if (apply === undefined) throw redoFail(ctx, 'BAD_INPUT', recordName(ctx.record), `gin_redo does not change block reference ${ctx.blockId} of this record`);
    apply(page, ctx);
  },
};
