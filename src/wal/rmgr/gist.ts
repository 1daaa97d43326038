/**
 * GiST records (RM_GIST_ID): access/gistxlog.h, described as gistdesc.c does and decoded as far as
 * gistxlog.c's redo reads them.
 *
 * A page update deletes and inserts tuples on one page; a split rewrites every page of the split
 * from the tuples in the record (blocks 1..npage, initialized); both may finish an earlier split by
 * clearing F_FOLLOW_RIGHT and setting the NSN on the left child ('leftChild').
 */
import type { ByteReader } from '../../pg/bytes.js';
import type { Lsn } from '../../pg/lsn.js';
import { RM_GIST_ID } from '../../pg/rmgr-ids.js';
import type { BlockNumber, Oid, RelFileNode, TransactionId } from '../../pg/types.js';
import { NO_BLOCKS, NO_EFFECTS, type BlockUse, type DescriptionBase } from '../describe.js';
import type { WalRecord } from '../record.js';
import { readIndexTuples, readIndexTuplesToEnd, readOffsets, withBlockData } from './index-am.js';
import { blockUses, malformedPayload, rmgrInfo, unknownType, withBytes, withMainData, type RmgrModule, putVia } from './rmgr.js';

export const XLOG_GIST_PAGE_UPDATE = 0x00;
export const XLOG_GIST_DELETE = 0x10;
export const XLOG_GIST_PAGE_REUSE = 0x20;
export const XLOG_GIST_PAGE_SPLIT = 0x30;
export const XLOG_GIST_PAGE_DELETE = 0x60;
export const XLOG_GIST_ASSIGN_LSN = 0x70;

const NAMES: Readonly<Record<number, string>> = {
  [XLOG_GIST_PAGE_UPDATE]: 'PAGE_UPDATE',
  [XLOG_GIST_DELETE]: 'DELETE',
  [XLOG_GIST_PAGE_REUSE]: 'PAGE_REUSE',
  [XLOG_GIST_PAGE_SPLIT]: 'PAGE_SPLIT',
  [XLOG_GIST_PAGE_DELETE]: 'PAGE_DELETE',
  [XLOG_GIST_ASSIGN_LSN]: 'ASSIGN_LSN',
};

/**
 * Block 0 'page' (data: `todelete` offsets, then the tuples to insert; undefined when restored
 * from an image), block 1 'leftChild'. One deletion and one insertion is an overwrite in place
 * (PageIndexTupleOverwrite); otherwise the deletions, then the tuples appended.
 */
export interface GistPageUpdate extends DescriptionBase {
  readonly kind: 'gist.pageUpdate';
  readonly ntodelete: number;
  readonly ntoinsert: number;
  readonly todelete: readonly number[] | undefined;
  readonly tuples: readonly Uint8Array[] | undefined;
}

/** Block 0 'leaf': the offsets (in main data) are deleted. */
export interface GistDelete extends DescriptionBase {
  readonly kind: 'gist.delete';
  readonly latestRemovedXid: TransactionId;
  readonly ntodelete: number;
  readonly todelete: readonly number[];
}

/** No block: a conflict point for hot standby before a deleted page is reused. */
export interface GistPageReuse extends DescriptionBase {
  readonly kind: 'gist.pageReuse';
  readonly node: RelFileNode;
  readonly block: BlockNumber;
  /** FullTransactionId: epoch in the high 32 bits. */
  readonly latestRemovedFullXid: bigint;
}

/** One page of a split (block `blockId`): its tuples, in order from FirstOffsetNumber. */
export interface GistSplitPage {
  readonly blockId: number;
  readonly tuples: readonly Uint8Array[];
}

/** Block 0 'leftChild', blocks 1..npage 'split' (initialized; block 1 is the original page). */
export interface GistPageSplit extends DescriptionBase {
  readonly kind: 'gist.pageSplit';
  readonly origrlink: BlockNumber;
  readonly orignsn: Lsn;
  readonly origleaf: boolean;
  readonly npage: number;
  readonly markfollowright: boolean;
  readonly pages: readonly GistSplitPage[];
}

/** Block 0 'deleted' (marked deleted with deleteXid), block 1 'parent' (loses the downlink). */
export interface GistPageDelete extends DescriptionBase {
  readonly kind: 'gist.pageDelete';
  /** FullTransactionId. */
  readonly deleteXid: bigint;
  readonly downlinkOffset: number;
}

/** No block: an empty record that only takes an LSN (gistGetFakeLSN). */
export interface GistAssignLsn extends DescriptionBase {
  readonly kind: 'gist.assignLsn';
}

export type GistRecord = GistPageUpdate | GistDelete | GistPageReuse | GistPageSplit | GistPageDelete | GistAssignLsn;

function readRelFileNode(r: ByteReader): RelFileNode {
  return { spcNode: r.u32('spcNode') as Oid, dbNode: r.u32('dbNode') as Oid, relNode: r.u32('relNode') as Oid };
}

function describePageUpdate(record: WalRecord): GistPageUpdate {
  return withMainData(record, (r) => {
    const ntodelete = r.u16('ntodelete');
    const ntoinsert = r.u16('ntoinsert');
    const data = withBlockData(record, 0, (b) => ({
      todelete: readOffsets(b, ntodelete, 'todelete offsets'),
      tuples: readIndexTuplesToEnd(record, b, false, 'inserted tuple'),
    }));
    return {
      kind: 'gist.pageUpdate',
      ntodelete,
      ntoinsert,
      todelete: data?.todelete,
      tuples: data?.tuples,
      blocks: blockUses(record, [
        [0, 'page'],
        [1, 'leftChild'],
      ]),
      effects: NO_EFFECTS,
    };
  });
}

/** gistRedoPageSplitRecord with decodePageSplitRecord for each page. */
function describePageSplit(record: WalRecord): GistPageSplit {
  return withMainData(record, (r) => {
    const origrlink = r.u32('origrlink') as BlockNumber;
    r.skip(4);
    const orignsn = r.u64('orignsn') as Lsn;
    const origleaf = r.bool('origleaf');
    r.skip(1);
    const npage = r.u16('npage');
    const markfollowright = r.bool('markfollowright');
    const pages: GistSplitPage[] = [];
    const blocks: BlockUse[] = blockUses(record, [[0, 'leftChild']]);
    for (let i = 0; i < npage; i++) {
      const b = record.blocks[i + 1];
      if (b === undefined) malformedPayload(record, `npage is ${npage} but block ${i + 1} is not referenced`);
      const tuples = withBytes(record, b.data, `block ${i + 1} data`, (d) => {
        const num = d.i32('tuple count');
        return readIndexTuples(record, d, Math.max(num, 0), 'split page tuple');
      });
      pages.push({ blockId: i + 1, tuples });
      blocks.push(...blockUses(record, [[i + 1, 'split', true]]));
    }
    return { kind: 'gist.pageSplit', origrlink, orignsn, origleaf, npage, markfollowright, pages, blocks, effects: NO_EFFECTS };
  });
}

/** Mirrors gist_redo's dispatch with the fields each gistRedo* routine reads. */
function describe(record: WalRecord): GistRecord {
  switch (rmgrInfo(record)) {
    case XLOG_GIST_PAGE_UPDATE:
      return describePageUpdate(record);
    case XLOG_GIST_DELETE:
      return withMainData(record, (r) => {
        const latestRemovedXid = r.u32('latestRemovedXid') as TransactionId;
        const ntodelete = r.u16('ntodelete');
        // Redo reads the offsets only when the main data goes past SizeOfGistxlogDelete.
        const todelete = r.remaining > 0 ? readOffsets(r, ntodelete, 'todelete offsets') : [];
        return { kind: 'gist.delete', latestRemovedXid, ntodelete, todelete, blocks: blockUses(record, [[0, 'leaf']]), effects: NO_EFFECTS };
      });
    case XLOG_GIST_PAGE_REUSE:
      return withMainData(record, (r) => {
        const node = readRelFileNode(r);
        const block = r.u32('block') as BlockNumber;
        return { kind: 'gist.pageReuse', node, block, latestRemovedFullXid: r.u64('latestRemovedFullXid'), blocks: NO_BLOCKS, effects: NO_EFFECTS };
      });
    case XLOG_GIST_PAGE_SPLIT:
      return describePageSplit(record);
    case XLOG_GIST_PAGE_DELETE:
      return withMainData(record, (r) => ({
        kind: 'gist.pageDelete',
        deleteXid: r.u64('deleteXid'),
        downlinkOffset: r.u16('downlinkOffset'),
        blocks: blockUses(record, [
          [0, 'deleted'],
          [1, 'parent'],
        ]),
        effects: NO_EFFECTS,
      }));
    case XLOG_GIST_ASSIGN_LSN:
      return { kind: 'gist.assignLsn', blocks: NO_BLOCKS, effects: NO_EFFECTS };
    default:
      return unknownType(record);
  }
}

/** EpochFromFullTransactionId:XidFromFullTransactionId, as gistdesc.c prints them. */
function fullXid(x: bigint): string {
  return `${x >> 32n}:${x & 0xffff_ffffn}`;
}

/** Mirrors gist_desc. */
function format(d: GistRecord): string {
  switch (d.kind) {
    case 'gist.pageReuse':
      return `rel ${d.node.spcNode}/${d.node.dbNode}/${d.node.relNode}; blk ${d.block}; latestRemovedXid ${fullXid(d.latestRemovedFullXid)}`;
    case 'gist.delete':
      return `delete: latestRemovedXid ${d.latestRemovedXid}, nitems: ${d.ntodelete}`;
    case 'gist.pageSplit':
      return `page_split: splits to ${d.npage} pages`;
    case 'gist.pageDelete':
      return `deleteXid ${fullXid(d.deleteXid)}; downlink ${d.downlinkOffset}`;
    case 'gist.pageUpdate':
    case 'gist.assignLsn':
      return '';
  }
}

export const gistRmgr: RmgrModule<GistRecord> = {
  id: RM_GIST_ID,
  name: 'Gist',
  identify: (info) => NAMES[info & 0xf0],
  describe,
  put: putVia(format),
};
