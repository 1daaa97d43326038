/**
 * Hash index records (RM_HASH_ID): access/hash_xlog.h, described as hashdesc.c does and decoded as
 * far as hash_xlog.c's redo reads them.
 *
 * Block roles follow hash_xlog.h's "Backup Blk" comments: 'meta' is the metapage, 'bucket' the
 * primary bucket page (often registered without an image, only to take the cleanup lock in redo),
 * 'write' the page tuples are moved to, 'overflow' an overflow page, 'bitmap' a bitmap page.
 */
import type { ByteReader } from '../../pg/bytes.js';
import { RM_HASH_ID } from '../../pg/rmgr-ids.js';
import type { BlockNumber, Oid, TransactionId } from '../../pg/types.js';
import { NO_EFFECTS, type DescriptionBase } from '../describe.js';
import type { WalRecord } from '../record.js';
import { formatG, readIndexTuplesToEnd, readOffsets, readOffsetsToEnd, tf, withBlockData } from './index-am.js';
import { blockUses, malformedPayload, rmgrInfo, unknownType, withMainData, type RmgrModule, putVia } from './rmgr.js';

export const XLOG_HASH_INIT_META_PAGE = 0x00;
export const XLOG_HASH_INIT_BITMAP_PAGE = 0x10;
export const XLOG_HASH_INSERT = 0x20;
export const XLOG_HASH_ADD_OVFL_PAGE = 0x30;
export const XLOG_HASH_SPLIT_ALLOCATE_PAGE = 0x40;
export const XLOG_HASH_SPLIT_PAGE = 0x50;
export const XLOG_HASH_SPLIT_COMPLETE = 0x60;
export const XLOG_HASH_MOVE_PAGE_CONTENTS = 0x70;
export const XLOG_HASH_SQUEEZE_PAGE = 0x80;
export const XLOG_HASH_DELETE = 0x90;
export const XLOG_HASH_SPLIT_CLEANUP = 0xa0;
export const XLOG_HASH_UPDATE_META_PAGE = 0xb0;
export const XLOG_HASH_VACUUM_ONE_PAGE = 0xc0;

/** xl_hash_split_allocate_page.flags */
export const XLH_SPLIT_META_UPDATE_MASKS = 1 << 0;
export const XLH_SPLIT_META_UPDATE_SPLITPOINT = 1 << 1;

const NAMES: Readonly<Record<number, string>> = {
  [XLOG_HASH_INIT_META_PAGE]: 'INIT_META_PAGE',
  [XLOG_HASH_INIT_BITMAP_PAGE]: 'INIT_BITMAP_PAGE',
  [XLOG_HASH_INSERT]: 'INSERT',
  [XLOG_HASH_ADD_OVFL_PAGE]: 'ADD_OVFL_PAGE',
  [XLOG_HASH_SPLIT_ALLOCATE_PAGE]: 'SPLIT_ALLOCATE_PAGE',
  [XLOG_HASH_SPLIT_PAGE]: 'SPLIT_PAGE',
  [XLOG_HASH_SPLIT_COMPLETE]: 'SPLIT_COMPLETE',
  [XLOG_HASH_MOVE_PAGE_CONTENTS]: 'MOVE_PAGE_CONTENTS',
  [XLOG_HASH_SQUEEZE_PAGE]: 'SQUEEZE_PAGE',
  [XLOG_HASH_DELETE]: 'DELETE',
  [XLOG_HASH_SPLIT_CLEANUP]: 'SPLIT_CLEANUP',
  [XLOG_HASH_UPDATE_META_PAGE]: 'UPDATE_META_PAGE',
  [XLOG_HASH_VACUUM_ONE_PAGE]: 'VACUUM_ONE_PAGE',
};


/** Block 0 'meta' (initialized). */
export interface HashInitMetaPage extends DescriptionBase {
  readonly kind: 'hash.initMetaPage';
  readonly numTuples: number;
  readonly procId: Oid;
  readonly ffactor: number;
}

/** Block 0 'bitmap' (initialized), block 1 'meta' (hashm_mapp gains the page). */
export interface HashInitBitmapPage extends DescriptionBase {
  readonly kind: 'hash.initBitmapPage';
  readonly bmsize: number;
}

/** Block 0 'page' (data: the tuple), block 1 'meta' (hashm_ntuples + 1). */
export interface HashInsert extends DescriptionBase {
  readonly kind: 'hash.insert';
  readonly offnum: number;
  /** The index tuple to add at `offnum`; undefined when block 0 is restored from an image. */
  readonly tuple: Uint8Array | undefined;
}

/**
 * Block 0 'overflow' (initialized; data: its bucket), 1 'left' (the page before it in the chain),
 * 2 'bitmap' (if a bit was set; data: the bit), 3 'newBitmap' (initialized, if one was added),
 * 4 'meta' (data: hashm_firstfree).
 */
export interface HashAddOvflPage extends DescriptionBase {
  readonly kind: 'hash.addOvflPage';
  readonly bmsize: number;
  readonly bmpageFound: boolean;
  /** hasho_bucket of the new overflow page (block 0 data). */
  readonly bucket: number | undefined;
  /** The bit set in the bitmap page (block 2 data). */
  readonly bitmapPageBit: number | undefined;
  /** The metapage's new hashm_firstfree (block 4 data). */
  readonly firstFree: number | undefined;
}

/** Block 0 'oldBucket', block 1 'newBucket' (initialized), block 2 'meta'. */
export interface HashSplitAllocatePage extends DescriptionBase {
  readonly kind: 'hash.splitAllocatePage';
  readonly newBucket: number;
  readonly oldBucketFlag: number;
  readonly newBucketFlag: number;
  readonly flags: number;
  readonly metaPageMasksUpdated: boolean;
  readonly splitpointChanged: boolean;
  /** From block 2 data when the masks changed. */
  readonly lowmask: number | undefined;
  readonly highmask: number | undefined;
  /** From block 2 data when the split point changed: hashm_ovflpoint and hashm_spares[ovflpoint]. */
  readonly ovflpoint: number | undefined;
  readonly ovflpages: number | undefined;
}

/** Block 0 'newBucket': a forced full-page image of a page filled by the split. */
export interface HashSplitPage extends DescriptionBase {
  readonly kind: 'hash.splitPage';
}

/** Block 0 'oldBucket', block 1 'newBucket': their hasho_flag values after the split. */
export interface HashSplitComplete extends DescriptionBase {
  readonly kind: 'hash.splitComplete';
  readonly oldBucketFlag: number;
  readonly newBucketFlag: number;
}

/** Tuples moved onto block 1 'write' (data: their offsets, then the MAXALIGNed tuples). */
export interface HashMovedTuples {
  readonly offsets: readonly number[];
  readonly tuples: readonly Uint8Array[];
}

/**
 * Block 0 'bucket' (only when it is not also the write page; for the cleanup lock), block 1
 * 'write' (data: the tuples added), block 2 'delete' (data: offsets removed).
 */
export interface HashMovePageContents extends DescriptionBase {
  readonly kind: 'hash.movePageContents';
  readonly ntups: number;
  readonly isPrimBucketSameWrt: boolean;
  readonly moved: HashMovedTuples | undefined;
  readonly deleted: readonly number[] | undefined;
}

/**
 * Block 0 'bucket' (as in move), 1 'write' (data: the tuples added), 2 'overflow' (the freed page,
 * reinitialized as unused), 3 'prev' (unless it is the write page), 4 'next' (if any), 5 'bitmap'
 * (data: the bit cleared), 6 'meta' (if hashm_firstfree changed; data: the new value).
 */
export interface HashSqueezePage extends DescriptionBase {
  readonly kind: 'hash.squeezePage';
  readonly prevblkno: BlockNumber;
  readonly nextblkno: BlockNumber;
  readonly ntups: number;
  readonly isPrimBucketSameWrt: boolean;
  readonly isPrevBucketSameWrt: boolean;
  readonly moved: HashMovedTuples | undefined;
  readonly bitmapPageBit: number | undefined;
  readonly firstFree: number | undefined;
}

/** Block 0 'bucket' (for the cleanup lock, when not the page itself), block 1 'page' (data: offsets deleted). */
export interface HashDelete extends DescriptionBase {
  readonly kind: 'hash.delete';
  readonly clearDeadMarking: boolean;
  readonly isPrimaryBucketPage: boolean;
  readonly deleted: readonly number[] | undefined;
}

/** Block 0 'bucket': LH_BUCKET_NEEDS_SPLIT_CLEANUP is cleared. */
export interface HashSplitCleanup extends DescriptionBase {
  readonly kind: 'hash.splitCleanup';
}

/** Block 0 'meta': hashm_ntuples set. */
export interface HashUpdateMetaPage extends DescriptionBase {
  readonly kind: 'hash.updateMetaPage';
  readonly ntuples: number;
}

/** Block 0 'page' (the offsets are deleted, LH_PAGE_HAS_DEAD_TUPLES cleared), block 1 'meta' (hashm_ntuples - ntuples). */
export interface HashVacuumOnePage extends DescriptionBase {
  readonly kind: 'hash.vacuumOnePage';
  readonly latestRemovedXid: TransactionId;
  readonly ntuples: number;
  /** Offsets after the header in main data (redo reads them only when there are any). */
  readonly offsets: readonly number[];
}

export type HashRecord =
  | HashInitMetaPage
  | HashInitBitmapPage
  | HashInsert
  | HashAddOvflPage
  | HashSplitAllocatePage
  | HashSplitPage
  | HashSplitComplete
  | HashMovePageContents
  | HashSqueezePage
  | HashDelete
  | HashSplitCleanup
  | HashUpdateMetaPage
  | HashVacuumOnePage;

const u32 = (r: ByteReader) => r.u32('uint32');

/** The offsets then the MAXALIGNed tuples hash_xlog_move_page_contents and _squeeze_page add. */
function movedTuples(record: WalRecord, ntups: number): HashMovedTuples | undefined {
  return withBlockData(record, 1, (r) => {
    if (ntups === 0) return { offsets: [], tuples: [] };
    const offsets = readOffsets(r, ntups, 'towrite offsets');
    return { offsets, tuples: readIndexTuplesToEnd(record, r, true, 'moved tuple') };
  });
}

/** Mirrors hash_redo's dispatch with the fields each hash_xlog_* routine reads. */
function describe(record: WalRecord): HashRecord {
  const info = rmgrInfo(record);
  const effects = NO_EFFECTS;
  switch (info) {
    case XLOG_HASH_INIT_META_PAGE:
      return withMainData(record, (r) => {
        const numTuples = r.f64('num_tuples');
        const procId = r.u32('procid') as Oid;
        const ffactor = r.u16('ffactor');
        const blocks = blockUses(record, [[0, 'meta', true]]);
        return { kind: 'hash.initMetaPage', numTuples, procId, ffactor, blocks, effects };
      });
    case XLOG_HASH_INIT_BITMAP_PAGE:
      return withMainData(record, (r) => ({
        kind: 'hash.initBitmapPage',
        bmsize: r.u16('bmsize'),
        blocks: blockUses(record, [
          [0, 'bitmap', true],
          [1, 'meta'],
        ]),
        effects,
      }));
    case XLOG_HASH_INSERT:
      return withMainData(record, (r) => ({
        kind: 'hash.insert',
        offnum: r.u16('offnum'),
        tuple: withBlockData(record, 0, (b) => b.bytesView(b.remaining, 'index tuple')),
        blocks: blockUses(record, [
          [0, 'page'],
          [1, 'meta'],
        ]),
        effects,
      }));
    case XLOG_HASH_ADD_OVFL_PAGE:
      return withMainData(record, (r) => {
        const bmsize = r.u16('bmsize');
        const bmpageFound = r.bool('bmpage_found');
        return {
          kind: 'hash.addOvflPage',
          bmsize,
          bmpageFound,
          bucket: withBlockData(record, 0, u32),
          bitmapPageBit: withBlockData(record, 2, u32),
          firstFree: withBlockData(record, 4, u32),
          blocks: blockUses(record, [
            [0, 'overflow', true],
            [1, 'left'],
            [2, 'bitmap'],
            [3, 'newBitmap', true],
            [4, 'meta'],
          ]),
          effects,
        };
      });
    case XLOG_HASH_SPLIT_ALLOCATE_PAGE:
      return withMainData(record, (r) => {
        const newBucket = r.u32('new_bucket');
        const oldBucketFlag = r.u16('old_bucket_flag');
        const newBucketFlag = r.u16('new_bucket_flag');
        const flags = r.u8('flags');
        const masks = (flags & XLH_SPLIT_META_UPDATE_MASKS) !== 0;
        const splitpoint = (flags & XLH_SPLIT_META_UPDATE_SPLITPOINT) !== 0;
        const meta = withBlockData(record, 2, (b) => {
          const m = masks ? { lowmask: b.u32('lowmask'), highmask: b.u32('highmask') } : undefined;
          const s = splitpoint ? { ovflpoint: b.u32('ovflpoint'), ovflpages: b.u32('ovflpages') } : undefined;
          return { m, s };
        });
        return {
          kind: 'hash.splitAllocatePage',
          newBucket,
          oldBucketFlag,
          newBucketFlag,
          flags,
          metaPageMasksUpdated: masks,
          splitpointChanged: splitpoint,
          lowmask: meta?.m?.lowmask,
          highmask: meta?.m?.highmask,
          ovflpoint: meta?.s?.ovflpoint,
          ovflpages: meta?.s?.ovflpages,
          blocks: blockUses(record, [
            [0, 'oldBucket'],
            [1, 'newBucket', true],
            [2, 'meta'],
          ]),
          effects,
        };
      });
    case XLOG_HASH_SPLIT_PAGE:
      return { kind: 'hash.splitPage', blocks: blockUses(record, [[0, 'newBucket']]), effects };
    case XLOG_HASH_SPLIT_COMPLETE:
      return withMainData(record, (r) => ({
        kind: 'hash.splitComplete',
        oldBucketFlag: r.u16('old_bucket_flag'),
        newBucketFlag: r.u16('new_bucket_flag'),
        blocks: blockUses(record, [
          [0, 'oldBucket'],
          [1, 'newBucket'],
        ]),
        effects,
      }));
    case XLOG_HASH_MOVE_PAGE_CONTENTS:
      return withMainData(record, (r) => {
        const ntups = r.u16('ntups');
        const isPrimBucketSameWrt = r.bool('is_prim_bucket_same_wrt');
        return {
          kind: 'hash.movePageContents',
          ntups,
          isPrimBucketSameWrt,
          moved: movedTuples(record, ntups),
          deleted: withBlockData(record, 2, (b) => readOffsetsToEnd(b, 'deleted offsets')),
          blocks: blockUses(record, [
            [0, 'bucket'],
            [1, 'write'],
            [2, 'delete'],
          ]),
          effects,
        };
      });
    case XLOG_HASH_SQUEEZE_PAGE:
      return withMainData(record, (r) => {
        const prevblkno = r.u32('prevblkno') as BlockNumber;
        const nextblkno = r.u32('nextblkno') as BlockNumber;
        const ntups = r.u16('ntups');
        const isPrimBucketSameWrt = r.bool('is_prim_bucket_same_wrt');
        const isPrevBucketSameWrt = r.bool('is_prev_bucket_same_wrt');
        return {
          kind: 'hash.squeezePage',
          prevblkno,
          nextblkno,
          ntups,
          isPrimBucketSameWrt,
          isPrevBucketSameWrt,
          moved: movedTuples(record, ntups),
          bitmapPageBit: withBlockData(record, 5, u32),
          firstFree: withBlockData(record, 6, u32),
          blocks: blockUses(record, [
            [0, 'bucket'],
            [1, 'write'],
            [2, 'overflow'],
            [3, 'prev'],
            [4, 'next'],
            [5, 'bitmap'],
            [6, 'meta'],
          ]),
          effects,
        };
      });
    case XLOG_HASH_DELETE:
      return withMainData(record, (r) => ({
        kind: 'hash.delete',
        clearDeadMarking: r.bool('clear_dead_marking'),
        isPrimaryBucketPage: r.bool('is_primary_bucket_page'),
        deleted: withBlockData(record, 1, (b) => readOffsetsToEnd(b, 'deleted offsets')),
        blocks: blockUses(record, [
          [0, 'bucket'],
          [1, 'page'],
        ]),
        effects,
      }));
    case XLOG_HASH_SPLIT_CLEANUP:
      return { kind: 'hash.splitCleanup', blocks: blockUses(record, [[0, 'bucket']]), effects };
    case XLOG_HASH_UPDATE_META_PAGE:
      return withMainData(record, (r) => ({
        kind: 'hash.updateMetaPage',
        ntuples: r.f64('ntuples'),
        blocks: blockUses(record, [[0, 'meta']]),
        effects,
      }));
    case XLOG_HASH_VACUUM_ONE_PAGE:
      return withMainData(record, (r) => {
        const latestRemovedXid = r.u32('latestRemovedXid') as TransactionId;
        const ntuples = r.i32('ntuples');
        if (ntuples < 0) malformedPayload(record, `ntuples is ${ntuples}`);
        const offsets = r.remaining > 0 ? readOffsets(r, ntuples, 'deleted offsets') : [];
        return {
          kind: 'hash.vacuumOnePage',
          latestRemovedXid,
          ntuples,
          offsets,
          blocks: blockUses(record, [
            [0, 'page'],
            [1, 'meta'],
          ]),
          effects,
        };
      });
    default:
      return unknownType(record);
  }
}

/** Mirrors hash_desc. */
function format(d: HashRecord): string {
  switch (d.kind) {
    case 'hash.initMetaPage':
      return `num_tuples ${formatG(d.numTuples)}, fillfactor ${d.ffactor}`;
    case 'hash.initBitmapPage':
      return `bmsize ${d.bmsize}`;
    case 'hash.insert':
      return `off ${d.offnum}`;
    case 'hash.addOvflPage':
      return `bmsize ${d.bmsize}, bmpage_found ${tf(d.bmpageFound)}`;
    case 'hash.splitAllocatePage':
      return `new_bucket ${d.newBucket}, meta_page_masks_updated ${tf(d.metaPageMasksUpdated)}, issplitpoint_changed ${tf(d.splitpointChanged)}`;
    case 'hash.splitComplete':
      return `old_bucket_flag ${d.oldBucketFlag}, new_bucket_flag ${d.newBucketFlag}`;
    case 'hash.movePageContents':
      return `ntups ${d.ntups}, is_primary ${tf(d.isPrimBucketSameWrt)}`;
    case 'hash.squeezePage':
      return `prevblkno ${d.prevblkno}, nextblkno ${d.nextblkno}, ntups ${d.ntups}, is_primary ${tf(d.isPrimBucketSameWrt)}`;
    case 'hash.delete':
      return `clear_dead_marking ${tf(d.clearDeadMarking)}, is_primary ${tf(d.isPrimaryBucketPage)}`;
    case 'hash.updateMetaPage':
      return `ntuples ${formatG(d.ntuples)}`;
    case 'hash.vacuumOnePage':
      return `ntuples ${d.ntuples}, latestRemovedXid ${d.latestRemovedXid}`;
    case 'hash.splitPage':
    case 'hash.splitCleanup':
      return '';
  }
}

export const hashRmgr: RmgrModule<HashRecord> = {
  id: RM_HASH_ID,
  name: 'Hash',
  identify: (info) => NAMES[info & 0xf0],
  describe,
  put: putVia(format),
};
