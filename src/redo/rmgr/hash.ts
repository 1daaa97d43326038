/**
 * Hash index redo (RM_HASH_ID), hash_xlog.c's hash_redo restricted to one page: each record type
 * does to the page of block `blockId` what its hash_xlog_* routine does to that block. Block roles
 * follow the decoder's HashRecord. Blocks registered only for the cleanup lock (the primary
 * bucket of MOVE_PAGE_CONTENTS, SQUEEZE_PAGE and DELETE when it is not the page written) are
 * read but not changed by PostgreSQL, so their redo leaves them as they are.
 *
 * SPLIT_ALLOCATE_PAGE and SPLIT_COMPLETE change their old (and new) bucket page even when it was
 * restored from an image; the image was taken after the change, so the dispatcher's restore alone
 * gives the same bytes. The page routines live in `../hash-page.ts`.
 */
import { RM_HASH_ID } from '../../pg/rmgr-ids.js';
import {
  hashRmgr,
  type HashAddOvflPage,
  type HashMovedTuples,
  type HashRecord,
  type HashSplitAllocatePage,
  type HashSqueezePage,
} from '../../wal/rmgr/hash.js';
import {
  INVALID_BLOCK,
  LH_BUCKET_NEEDS_SPLIT_CLEANUP,
  LH_OVERFLOW_PAGE,
  LH_PAGE_HAS_DEAD_TUPLES,
  LH_UNUSED_PAGE,
  HM_FIRSTFREE,
  HM_HIGHMASK,
  HM_LOWMASK,
  HM_MAXBUCKET,
  HM_OVFLPOINT,
  hashBitmapSet,
  hashInitBitmapBuffer,
  hashInitBuf,
  hashInitMetaBuffer,
  hashMetaAddMap,
  hashMetaNtuples,
  hashMetaSpare,
  hashPageInit,
  hashoFlag,
  setHashMetaNtuples,
  setHashMetaSpare,
  setHashOpaque,
  setHashoFlag,
  setHashoNextBlkno,
  setHashoPrevBlkno,
} from '../hash-page.js';
import { RedoError } from '../errors.js';
import { setU32, u32 } from '../page-layout.js';
import { maxAlign, pageAddItem, pageIndexMultiDelete, setPageLsn } from '../page.js';
import { requireInit, corruptRecord, recordName, describeForRedo, redoFail, type RedoContext, type RedoRmgr } from './rmgr.js';

/** What a record does to one of its blocks, by role. */
type Apply = (page: Uint8Array, ctx: RedoContext) => void;




function blkno(ctx: RedoContext, id: number): number | undefined {
  return ctx.record.blocks[id]?.blkno;
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw corruptRecord(`the record has no ${what}`);
  return v;
}

/** Applies `change` and stamps the LSN: the common shape of a BLK_NEEDS_REDO branch. */
function stamped(change: (page: Uint8Array, ctx: RedoContext) => void): Apply {
  return (page, ctx) => {
    change(page, ctx);
    setPageLsn(page, ctx.lsn);
  };
}

/** A block PostgreSQL reads only for its cleanup lock: nothing changes, not even the LSN. */
const lockOnly: Apply = () => undefined;

/** The metapage's hashm_ntuples += delta (INSERT, VACUUM_ONE_PAGE). */
function addNtuples(delta: number): Apply {
  return stamped((page) => setHashMetaNtuples(page, hashMetaNtuples(page) + delta));
}

/** hashm_firstfree = the block's data (ADD_OVFL_PAGE's and SQUEEZE_PAGE's metapage). */
function setFirstFree(firstFree: number | undefined): (page: Uint8Array) => void {
  return (page) => setU32(page, HM_FIRSTFREE, need(firstFree, 'hashm_firstfree for the metapage'));
}

/** The tuples MOVE_PAGE_CONTENTS and SQUEEZE_PAGE add to the write page, each at its offset. */
function addMoved(page: Uint8Array, moved: HashMovedTuples | undefined, ntups: number, routine: string): void {
  // With no tuples moved the block carries no data at all.
  if (ntups === 0) return;
  const m = need(moved, 'tuples for the write page');
  if (m.tuples.length > m.offsets.length) throw corruptRecord(`${m.tuples.length} tuples but ${m.offsets.length} offsets`);
  m.tuples.forEach((t, i) => {
    const item = t.subarray(0, maxAlign(t.length));
    if (pageAddItem(page, item, m.offsets[i]!, false, false) === 0)
      throw new RedoError('CORRUPT_PAGE', `${routine}: failed to add item to hash index page, size ${item.length} bytes`);
  });
}

/** hash_xlog_delete's and hash_xlog_move_page_contents's PageIndexMultiDelete. */
function deleteOffsets(page: Uint8Array, offsets: readonly number[] | undefined): void {
  if (offsets !== undefined && offsets.length > 0) pageIndexMultiDelete(page, offsets);
}

/** hash_xlog_add_ovfl_page */
function addOvflPage(d: HashAddOvflPage, blockId: number): Apply | undefined {
  switch (blockId) {
    case 0:
      return (page, ctx) => {
        requireInit(ctx);
        hashInitBuf(page, INVALID_BLOCK, need(d.bucket, 'bucket for the overflow page'), LH_OVERFLOW_PAGE);
        setHashoPrevBlkno(page, need(blkno(ctx, 1), 'block reference 1'));
        setPageLsn(page, ctx.lsn);
      };
    case 1:
      return stamped((page, ctx) => setHashoNextBlkno(page, need(blkno(ctx, 0), 'block reference 0')));
    case 2:
      return stamped((page) => hashBitmapSet(page, need(d.bitmapPageBit, 'bit for the bitmap page'), true));
    case 3:
      return (page, ctx) => {
        requireInit(ctx);
        hashInitBitmapBuffer(page, d.bmsize);
        setPageLsn(page, ctx.lsn);
      };
    case 4:
      return stamped((page, ctx) => {
        setFirstFree(d.firstFree)(page);
        if (d.bmpageFound) return;
        const ovflpoint = u32(page, HM_OVFLPOINT);
        setHashMetaSpare(page, ovflpoint, hashMetaSpare(page, ovflpoint) + 1);
        const newmap = blkno(ctx, 3);
        if (newmap !== undefined) {
          hashMetaAddMap(page, newmap);
          setHashMetaSpare(page, ovflpoint, hashMetaSpare(page, ovflpoint) + 1);
        }
      });
    default:
      return undefined;
  }
}

/** hash_xlog_split_allocate_page */
function splitAllocatePage(d: HashSplitAllocatePage, blockId: number): Apply | undefined {
  switch (blockId) {
    case 0:
      return stamped((page) => {
        setHashoFlag(page, d.oldBucketFlag);
        setHashoPrevBlkno(page, d.newBucket);
      });
    case 1:
      return (page, ctx) => {
        requireInit(ctx);
        hashInitBuf(page, d.newBucket, d.newBucket, d.newBucketFlag);
        setPageLsn(page, ctx.lsn);
      };
    case 2:
      return stamped((page) => {
        setU32(page, HM_MAXBUCKET, d.newBucket);
        if (d.metaPageMasksUpdated) {
          setU32(page, HM_LOWMASK, need(d.lowmask, 'lowmask'));
          setU32(page, HM_HIGHMASK, need(d.highmask, 'highmask'));
        }
        if (d.splitpointChanged) {
          const ovflpoint = need(d.ovflpoint, 'ovflpoint');
          setHashMetaSpare(page, ovflpoint, need(d.ovflpages, 'ovflpages'));
          setU32(page, HM_OVFLPOINT, ovflpoint);
        }
      });
    default:
      return undefined;
  }
}

/** hash_xlog_squeeze_page */
function squeezePage(d: HashSqueezePage, blockId: number): Apply | undefined {
  switch (blockId) {
    case 0:
      return d.isPrimBucketSameWrt ? undefined : lockOnly;
    case 1:
      return stamped((page) => {
        addMoved(page, d.moved, d.ntups, 'hash_xlog_squeeze_page');
        if (d.isPrevBucketSameWrt) setHashoNextBlkno(page, d.nextblkno);
      });
    case 2:
      // The freed overflow page, reinitialized as unused.
      return stamped((page) => {
        hashPageInit(page);
        setHashOpaque(page, { prevblkno: INVALID_BLOCK, nextblkno: INVALID_BLOCK, bucket: INVALID_BLOCK, flag: LH_UNUSED_PAGE });
      });
    case 3:
      return d.isPrevBucketSameWrt ? undefined : stamped((page) => setHashoNextBlkno(page, d.nextblkno));
    case 4:
      return stamped((page) => setHashoPrevBlkno(page, d.prevblkno));
    case 5:
      return stamped((page) => hashBitmapSet(page, need(d.bitmapPageBit, 'bit for the bitmap page'), false));
    case 6:
      return stamped(setFirstFree(d.firstFree));
    default:
      return undefined;
  }
}

/** hash_redo's switch, for one block: what the record does to it, or undefined if nothing. */
function applyFor(d: HashRecord, blockId: number): Apply | undefined {
  switch (d.kind) {
    case 'hash.initMetaPage':
      if (blockId !== 0) return undefined;
      return (page, ctx) => {
        requireInit(ctx);
        hashInitMetaBuffer(page, d.numTuples, d.procId, d.ffactor);
        setPageLsn(page, ctx.lsn);
      };
    case 'hash.initBitmapPage':
      if (blockId === 0)
        return (page, ctx) => {
          requireInit(ctx);
          hashInitBitmapBuffer(page, d.bmsize);
          setPageLsn(page, ctx.lsn);
        };
      // The new bitmap page is block num_buckets + 1.
      return blockId === 1 ? stamped((page) => hashMetaAddMap(page, u32(page, HM_MAXBUCKET) + 1 + 1)) : undefined;
    case 'hash.insert':
      if (blockId === 0)
        return stamped((page) => {
          if (pageAddItem(page, need(d.tuple, 'index tuple for block 0'), d.offnum, false, false) === 0)
            throw new RedoError('CORRUPT_PAGE', 'hash_xlog_insert: failed to add item');
        });
      return blockId === 1 ? addNtuples(1) : undefined;
    case 'hash.addOvflPage':
      return addOvflPage(d, blockId);
    case 'hash.splitAllocatePage':
      return splitAllocatePage(d, blockId);
    case 'hash.splitPage':
      // hash_xlog_split_page: the block must come back from its image, which the dispatcher restores.
      return blockId === 0
        ? () => {
            throw corruptRecord('Hash split record did not contain a full-page image');
          }
        : undefined;
    case 'hash.splitComplete':
      if (blockId === 0) return stamped((page) => setHashoFlag(page, d.oldBucketFlag));
      return blockId === 1 ? stamped((page) => setHashoFlag(page, d.newBucketFlag)) : undefined;
    case 'hash.movePageContents':
      if (blockId === 0) return d.isPrimBucketSameWrt ? undefined : lockOnly;
      if (blockId === 1) return stamped((page) => addMoved(page, d.moved, d.ntups, 'hash_xlog_move_page_contents'));
      return blockId === 2 ? stamped((page) => deleteOffsets(page, d.deleted)) : undefined;
    case 'hash.squeezePage':
      return squeezePage(d, blockId);
    case 'hash.delete':
      if (blockId === 0) return d.isPrimaryBucketPage ? undefined : lockOnly;
      if (blockId !== 1) return undefined;
      return stamped((page) => {
        deleteOffsets(page, d.deleted);
        if (d.clearDeadMarking) setHashoFlag(page, hashoFlag(page) & ~LH_PAGE_HAS_DEAD_TUPLES);
      });
    case 'hash.splitCleanup':
      return blockId === 0 ? stamped((page) => setHashoFlag(page, hashoFlag(page) & ~LH_BUCKET_NEEDS_SPLIT_CLEANUP)) : undefined;
    case 'hash.updateMetaPage':
      return blockId === 0 ? stamped((page) => setHashMetaNtuples(page, d.ntuples)) : undefined;
    case 'hash.vacuumOnePage':
      if (blockId === 0)
        return stamped((page) => {
          if (d.offsets.length > 0) pageIndexMultiDelete(page, d.offsets);
          setHashoFlag(page, hashoFlag(page) & ~LH_PAGE_HAS_DEAD_TUPLES);
        });
      return blockId === 1 ? addNtuples(-d.ntuples) : undefined;
  }
}

export const hashRedo: RedoRmgr = {
  id: RM_HASH_ID,
  name: 'Hash',
  redo(page, ctx) {
    const d = describeForRedo(hashRmgr, ctx);
    const apply = applyFor(d, ctx.blockId);
    if (apply === undefined)
      throw redoFail(ctx, 'BAD_INPUT', recordName(ctx.record), `hash_redo does not change block reference ${ctx.blockId} of this record`);
    apply(page, ctx);
  },
};
