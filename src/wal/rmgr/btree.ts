/**
 * B-tree records (RM_BTREE_ID): nbtree's inserts, page splits, deduplication, deletion of index
 * tuples, the two-stage deletion of whole pages, new roots and metapage updates.
 *
 * Mirrors nbtdesc.c (btree_identify, btree_desc) for the text and reads everything nbtxlog.c's
 * btree_redo routines read: the main data structs, the index tuples and offset arrays in block data
 * (kept as views into the record), and the xl_btree_metadata that rebuilds the metapage. Block roles
 * follow the registrations in nbtinsert.c and nbtpage.c.
 */
import { readU16, type ByteReader } from '../../pg/bytes.js';
import { RM_BTREE_ID } from '../../pg/rmgr-ids.js';
import type { BlockNumber, Oid, RelFileNode, TransactionId } from '../../pg/types.js';
import { effectsOnly, NO_EFFECTS, type DescriptionBase } from '../describe.js';
import type { BlockRef, WalRecord } from '../record.js';
import { literals, putLiteral, putText, putUint } from '../text-buffer.js';
import {
  blockDataReader,
  blockUses,
  BlockUseSpec,
  mainDataBytes,
  mainDataLength,
  mainDataStart,
  mainDataStruct,
  malformedPayload,
  NOT_WRITTEN,
  rmgrInfo,
  unknownType,
  withBytes,
  withMainData,
  type RmgrModule,
} from './rmgr.js';

export const XLOG_BTREE_INSERT_LEAF = 0x00;
export const XLOG_BTREE_INSERT_UPPER = 0x10;
export const XLOG_BTREE_INSERT_META = 0x20;
export const XLOG_BTREE_SPLIT_L = 0x30;
export const XLOG_BTREE_SPLIT_R = 0x40;
export const XLOG_BTREE_INSERT_POST = 0x50;
export const XLOG_BTREE_DEDUP = 0x60;
export const XLOG_BTREE_DELETE = 0x70;
export const XLOG_BTREE_UNLINK_PAGE = 0x80;
export const XLOG_BTREE_UNLINK_PAGE_META = 0x90;
export const XLOG_BTREE_NEWROOT = 0xa0;
export const XLOG_BTREE_MARK_PAGE_HALFDEAD = 0xb0;
export const XLOG_BTREE_VACUUM = 0xc0;
export const XLOG_BTREE_REUSE_PAGE = 0xd0;
export const XLOG_BTREE_META_CLEANUP = 0xe0;

/** P_NONE: no sibling. */
export const P_NONE = 0 as BlockNumber;
/** IndexTupleData.t_info's size bits (INDEX_SIZE_MASK). */
const INDEX_SIZE_MASK = 0x1fff;
/** offsetof(IndexTupleData, t_info): after the 6-byte heap TID. */
const INDEX_TUPLE_INFO_OFFSET = 6;
/** sizeof(IndexTupleData) */
const SIZEOF_INDEX_TUPLE_DATA = 8;

/** xl_btree_metadata: what _bt_restore_meta writes into a fresh metapage. */
export interface BtreeMetadata {
  readonly version: number;
  readonly root: BlockNumber;
  readonly level: number;
  readonly fastroot: BlockNumber;
  readonly fastlevel: number;
  readonly lastCleanupNumDelpages: number;
  readonly allequalimage: boolean;
}

/**
 * XLOG_BTREE_INSERT_LEAF/UPPER/META/POST (btree_xlog_insert). Block 0: the page receiving the tuple
 * ('leaf', or 'internal' for UPPER and META);
 * block 1 (UPPER, META): the child whose incomplete split this insert finishes; block 2 (META): the
 * metapage, rebuilt from `meta`.
 */
export interface BtreeInsert extends DescriptionBase {
  readonly kind: 'btree.insertLeaf' | 'btree.insertUpper' | 'btree.insertMeta' | 'btree.insertPost';
  readonly offnum: number;
  /** INSERT_POST: the offset inside the posting list being split; 0 otherwise. */
  readonly postingOff: number;
  /** The new index tuple (for INSERT_POST the original new item, before _bt_swap_posting); undefined when block 0 carries a full-page image instead. */
  readonly newItem: Uint8Array | undefined;
  readonly meta: BtreeMetadata | undefined;
}

/**
 * XLOG_BTREE_SPLIT_L/R (btree_xlog_split). Block 0: the original page, which becomes the left half;
 * block 1: the new right page (rebuilt from `rightItems`); block 2: the old right sibling, whose
 * left link now points at block 1; block 3 (non-leaf splits): the child whose incomplete split is
 * finished.
 */
export interface BtreeSplit extends DescriptionBase {
  readonly kind: 'btree.splitL' | 'btree.splitR';
  readonly level: number;
  readonly firstRightOff: number;
  readonly newItemOff: number;
  readonly postingOff: number;
  /** The new item (or the original new item with a posting split) when it goes left, MAXALIGNed. */
  readonly newItem: Uint8Array | undefined;
  /** The left page's new high key, MAXALIGNed; undefined when block 0 carries a full-page image instead. */
  readonly leftHighKey: Uint8Array | undefined;
  /** The right page's items in offset order (high key first unless rightmost), each MAXALIGNed. */
  readonly rightItems: readonly Uint8Array[];
}

/** BTDedupInterval */
export interface DedupInterval {
  readonly baseOff: number;
  readonly nitems: number;
}

/** XLOG_BTREE_DEDUP (btree_xlog_dedup). Block 0: the leaf page. */
export interface BtreeDedup extends DescriptionBase {
  readonly kind: 'btree.dedup';
  readonly nintervals: number;
  /** From block 0's data; empty when the block carries a full-page image instead. */
  readonly intervals: readonly DedupInterval[];
}

/** xl_btree_update: TIDs removed from the posting list at `offset`. */
export interface BtreeUpdate {
  readonly offset: number;
  /** Indexes into the posting list of the TIDs to delete. */
  readonly deletedTids: readonly number[];
}

/**
 * XLOG_BTREE_VACUUM and XLOG_BTREE_DELETE (btree_xlog_vacuum, btree_xlog_delete). Block 0: the leaf
 * page. The arrays come from block 0's data and are empty when it carries a full-page image instead.
 */
export interface BtreeDelete extends DescriptionBase {
  readonly kind: 'btree.vacuum' | 'btree.delete';
  /** DELETE only (0 for VACUUM). */
  readonly latestRemovedXid: TransactionId;
  readonly ndeleted: number;
  readonly nupdated: number;
  readonly deleted: readonly number[];
  readonly updated: readonly BtreeUpdate[];
}

/**
 * XLOG_BTREE_MARK_PAGE_HALFDEAD (btree_xlog_mark_page_halfdead). Block 0: the leaf, rebuilt as a
 * half-dead page; block 1: the subtree's parent, whose downlink at `poffset + 1` is removed.
 */
export interface BtreeMarkPageHalfdead extends DescriptionBase {
  readonly kind: 'btree.markPageHalfdead';
  readonly poffset: number;
  readonly leafBlk: BlockNumber;
  readonly leftBlk: BlockNumber;
  readonly rightBlk: BlockNumber;
  readonly topParent: BlockNumber;
}

/**
 * XLOG_BTREE_UNLINK_PAGE[_META] (btree_xlog_unlink_page). Block 0: the target, rebuilt as deleted;
 * block 1: its left sibling (absent when leftSib is P_NONE); block 2: its right sibling; block 3:
 * the half-dead leaf, rebuilt, when the target is an internal page; block 4 (_META): the metapage.
 */
export interface BtreeUnlinkPage extends DescriptionBase {
  readonly kind: 'btree.unlinkPage' | 'btree.unlinkPageMeta';
  readonly leftSib: BlockNumber;
  readonly rightSib: BlockNumber;
  readonly level: number;
  /** FullTransactionId: epoch in the high 32 bits. */
  readonly safeXid: bigint;
  readonly leafLeftSib: BlockNumber;
  readonly leafRightSib: BlockNumber;
  readonly leafTopParent: BlockNumber;
  readonly meta: BtreeMetadata | undefined;
}

/**
 * XLOG_BTREE_NEWROOT (btree_xlog_newroot). Block 0: the new root; block 1 (level > 0): the left child
 * whose incomplete split is finished; block 2: the metapage.
 */
export interface BtreeNewroot extends DescriptionBase {
  readonly kind: 'btree.newroot';
  readonly rootBlk: BlockNumber;
  readonly level: number;
  /** The root's items in offset order for level > 0, each MAXALIGNed. */
  readonly items: readonly Uint8Array[];
  readonly meta: BtreeMetadata;
}

/** XLOG_BTREE_REUSE_PAGE: a deleted page is recycled; only hot standby conflicts depend on it. */
export interface BtreeReusePage extends DescriptionBase {
  readonly kind: 'btree.reusePage';
  readonly node: RelFileNode;
  readonly block: BlockNumber;
  readonly latestRemovedFullXid: bigint;
}

/** XLOG_BTREE_META_CLEANUP (_bt_restore_meta). Block 0: the metapage. */
export interface BtreeMetaCleanup extends DescriptionBase {
  readonly kind: 'btree.metaCleanup';
  readonly meta: BtreeMetadata;
}

export type BtreeRecord =
  | BtreeInsert
  | BtreeSplit
  | BtreeDedup
  | BtreeDelete
  | BtreeMarkPageHalfdead
  | BtreeUnlinkPage
  | BtreeNewroot
  | BtreeReusePage
  | BtreeMetaCleanup;

/** The block reference redo cannot do without, or a MALFORMED_PAYLOAD error. */
function requireBlock(record: WalRecord, id: number, what: string): BlockRef {
  const b = record.blocks[id];
  if (b === undefined) malformedPayload(record, `${what} needs block reference ${id}, which is missing`);
  return b;
}

function maxAlign(n: number): number {
  return (n + 7) & ~7;
}

/** IndexTupleSize of the tuple at the reader's offset, without moving it. */
function indexTupleSize(r: ByteReader): number {
  r.need(SIZEOF_INDEX_TUPLE_DATA, 'IndexTupleData');
  const o = r.offset + INDEX_TUPLE_INFO_OFFSET;
  return (r.bytes[o]! | (r.bytes[o + 1]! << 8)) & INDEX_SIZE_MASK;
}

/** One MAXALIGNed index tuple, as the split and newroot records store them. */
function readAlignedTuple(record: WalRecord, r: ByteReader, what: string): Uint8Array {
  const size = indexTupleSize(r);
  // A tuple shorter than its own header would never move a walk over a tuple list on.
  if (size < SIZEOF_INDEX_TUPLE_DATA) malformedPayload(record, `${what} is an index tuple of ${size} bytes, less than its header`);
  return r.bytesView(maxAlign(size), what);
}

/**
 * _bt_restore_page's walk over packed, MAXALIGNed tuples. The record holds a page's tuple space as
 * it lies on the page, last offset first: tuple i of n goes to offset n - i. Returned in offset
 * order (element 0 at offset 1).
 */
function readTupleList(record: WalRecord, r: ByteReader, what: string): Uint8Array[] {
  const items: Uint8Array[] = [];
  while (r.remaining > 0) items.push(readAlignedTuple(record, r, what));
  return items.reverse();
}

/** xl_btree_metadata from a block's data (_bt_restore_meta). */
function readMetadata(record: WalRecord, id: number): BtreeMetadata {
  const b = requireBlock(record, id, 'restoring the metapage');
  return withBytes(record, b.data, `block ${id} data`, (r) => ({
    version: r.u32('version'),
    root: r.u32('root') as BlockNumber,
    level: r.u32('level'),
    fastroot: r.u32('fastroot') as BlockNumber,
    fastlevel: r.u32('fastlevel'),
    lastCleanupNumDelpages: r.u32('last_cleanup_num_delpages'),
    allequalimage: r.bool('allequalimage'),
  }));
}

const INSERT_KINDS = {
  [XLOG_BTREE_INSERT_LEAF]: 'btree.insertLeaf',
  [XLOG_BTREE_INSERT_UPPER]: 'btree.insertUpper',
  [XLOG_BTREE_INSERT_META]: 'btree.insertMeta',
  [XLOG_BTREE_INSERT_POST]: 'btree.insertPost',
} as const;

const LEAF_INSERT_BLOCKS = new BlockUseSpec([
  [0, 'leaf'],
  [1, 'child'],
  [2, 'meta'],
]);
const INTERNAL_INSERT_BLOCKS = new BlockUseSpec([
  [0, 'internal'],
  [1, 'child'],
  [2, 'meta'],
]);

/** xl_btree_insert: offnum u16 (SizeOfBtreeInsert), read by insert and putFast. */
const XL_BTREE_INSERT = { offnum: 0, size: 2 } as const;

function insert(record: WalRecord, info: keyof typeof INSERT_KINDS): BtreeInsert {
  const offnum = readU16(mainDataBytes(record), mainDataStruct(record, XL_BTREE_INSERT.size, 'xl_btree_insert') + XL_BTREE_INSERT.offnum);
  const target = requireBlock(record, 0, 'INSERT');
  const posting = info === XLOG_BTREE_INSERT_POST;
  let postingOff = 0;
  let newItem: Uint8Array | undefined;
  if (target.hasData) {
    const r = blockDataReader(record, target, 'block 0 data');
    if (posting) postingOff = r.u16('postingoff');
    newItem = r.bytesView(r.remaining, 'new item');
  }
  const isMeta = info === XLOG_BTREE_INSERT_META;
  const spec = info === XLOG_BTREE_INSERT_LEAF || posting ? LEAF_INSERT_BLOCKS : INTERNAL_INSERT_BLOCKS;
  return {
    kind: INSERT_KINDS[info],
    offnum,
    postingOff,
    newItem,
    meta: isMeta ? readMetadata(record, 2) : undefined,
    blocks: spec.uses(record, false, false, true),
    effects: NO_EFFECTS,
  };
}

function split(record: WalRecord, onLeft: boolean): BtreeSplit {
  const m = withMainData(record, (r) => ({
    level: r.u32('level'),
    firstRightOff: r.u16('firstrightoff'),
    newItemOff: r.u16('newitemoff'),
    postingOff: r.u16('postingoff'),
  }));
  const left = requireBlock(record, 0, 'SPLIT');
  const right = requireBlock(record, 1, 'SPLIT');
  const { newItem, leftHighKey } = left.hasData
    ? withBytes(record, left.data, 'block 0 data', (r) => {
        const newItem = onLeft || m.postingOff !== 0 ? readAlignedTuple(record, r, 'new item') : undefined;
        const leftHighKey = readAlignedTuple(record, r, 'left high key');
        if (r.remaining !== 0) malformedPayload(record, `SPLIT block 0 data has ${r.remaining} bytes after the left high key`);
        return { newItem, leftHighKey };
      })
    : { newItem: undefined, leftHighKey: undefined };
  const rightItems = withBytes(record, right.data, 'block 1 data', (r) => readTupleList(record, r, 'right item'));
  return {
    kind: onLeft ? 'btree.splitL' : 'btree.splitR',
    ...m,
    newItem,
    leftHighKey,
    rightItems,
    blocks: blockUses(record, [
      [0, 'left'],
      [1, 'right', true],
      [2, 'rightSibling'],
      [3, 'child'],
    ]),
    effects: NO_EFFECTS,
  };
}

function dedup(record: WalRecord): BtreeDedup {
  const nintervals = withMainData(record, (r) => r.u16('nintervals'));
  const b = requireBlock(record, 0, 'DEDUP');
  const intervals = b.hasData
    ? withBytes(record, b.data, 'block 0 data', (r) => {
        const out: DedupInterval[] = [];
        for (let i = 0; i < nintervals; i++) out.push({ baseOff: r.u16('intervals[].baseoff'), nitems: r.u16('intervals[].nitems') });
        return out;
      })
    : [];
  return { kind: 'btree.dedup', nintervals, intervals, blocks: blockUses(record, [[0, 'leaf']]), effects: NO_EFFECTS };
}

/** btree_xlog_vacuum and btree_xlog_delete: same block data after different main data. */
function deleteItems(record: WalRecord, isDelete: boolean): BtreeDelete {
  const m = withMainData(record, (r) => ({
    latestRemovedXid: (isDelete ? r.u32('latestRemovedXid') : 0) as TransactionId,
    ndeleted: r.u16('ndeleted'),
    nupdated: r.u16('nupdated'),
  }));
  const b = requireBlock(record, 0, isDelete ? 'DELETE' : 'VACUUM');
  const arrays = b.hasData
    ? withBytes(record, b.data, 'block 0 data', (r) => {
        const deleted: number[] = [];
        for (let i = 0; i < m.ndeleted; i++) deleted.push(r.u16('deleted[]'));
        const offsets: number[] = [];
        for (let i = 0; i < m.nupdated; i++) offsets.push(r.u16('updatedoffsets[]'));
        const updated: BtreeUpdate[] = offsets.map((offset, i) => {
          const n = r.u16('updates[].ndeletedtids');
          const deletedTids: number[] = [];
          for (let j = 0; j < n; j++) deletedTids.push(r.u16('updates[].deletetids[]'));
          return { offset, deletedTids };
        });
        return { deleted, updated };
      })
    : { deleted: [], updated: [] };
  return {
    kind: isDelete ? 'btree.delete' : 'btree.vacuum',
    ...m,
    ...arrays,
    blocks: blockUses(record, [[0, 'leaf']]),
    effects: NO_EFFECTS,
  };
}

function markPageHalfdead(record: WalRecord): BtreeMarkPageHalfdead {
  const m = withMainData(record, (r) => {
    const poffset = r.u16('poffset');
    r.skip(2, 'padding before leafblk');
    return {
      poffset,
      leafBlk: r.u32('leafblk') as BlockNumber,
      leftBlk: r.u32('leftblk') as BlockNumber,
      rightBlk: r.u32('rightblk') as BlockNumber,
      topParent: r.u32('topparent') as BlockNumber,
    };
  });
  return {
    kind: 'btree.markPageHalfdead',
    ...m,
    blocks: blockUses(record, [
      [0, 'leaf', true],
      [1, 'parent'],
    ]),
    effects: NO_EFFECTS,
  };
}

function unlinkPage(record: WalRecord, withMeta: boolean): BtreeUnlinkPage {
  const m = withMainData(record, (r) => {
    const leftSib = r.u32('leftsib') as BlockNumber;
    const rightSib = r.u32('rightsib') as BlockNumber;
    const level = r.u32('level');
    r.skip(4, 'padding before safexid');
    return {
      leftSib,
      rightSib,
      level,
      safeXid: r.u64('safexid'),
      leafLeftSib: r.u32('leafleftsib') as BlockNumber,
      leafRightSib: r.u32('leafrightsib') as BlockNumber,
      leafTopParent: r.u32('leaftopparent') as BlockNumber,
    };
  });
  return {
    kind: withMeta ? 'btree.unlinkPageMeta' : 'btree.unlinkPage',
    ...m,
    meta: withMeta ? readMetadata(record, 4) : undefined,
    blocks: blockUses(record, [
      [0, 'target', true],
      [1, 'left'],
      [2, 'right'],
      [3, 'leaf', true],
      [4, 'meta', true],
    ]),
    effects: NO_EFFECTS,
  };
}

function newroot(record: WalRecord): BtreeNewroot {
  const m = withMainData(record, (r) => ({ rootBlk: r.u32('rootblk') as BlockNumber, level: r.u32('level') }));
  const root = requireBlock(record, 0, 'NEWROOT');
  const items = m.level > 0 ? withBytes(record, root.data, 'block 0 data', (r) => readTupleList(record, r, 'root item')) : [];
  return {
    kind: 'btree.newroot',
    ...m,
    items,
    meta: readMetadata(record, 2),
    blocks: blockUses(record, [
      [0, 'root', true],
      [1, 'left'],
      [2, 'meta', true],
    ]),
    effects: NO_EFFECTS,
  };
}

function reusePage(record: WalRecord): BtreeReusePage {
  const m = withMainData(record, (r) => {
    const node: RelFileNode = { spcNode: r.u32('node.spcNode') as Oid, dbNode: r.u32('node.dbNode') as Oid, relNode: r.u32('node.relNode') as Oid };
    const block = r.u32('block') as BlockNumber;
    return { node, block, latestRemovedFullXid: r.u64('latestRemovedFullXid') };
  });
  return { kind: 'btree.reusePage', ...m, blocks: [], effects: NO_EFFECTS };
}

/**
 * What ingest needs of a btree record (walingest.ts; see heap.ts's describeHeapEffects): INSERT_LEAF
 * and INSERT_POST, the btree records pgbench writes most, without the new item; checked as far as
 * that goes (the fixed struct, block 0). They have no effects; the block uses are describe's.
 * Other types get describe() itself. One result object, overwritten by the next call.
 */
export function describeBtreeEffects(record: WalRecord): DescriptionBase {
  const info = rmgrInfo(record);
  if (info !== XLOG_BTREE_INSERT_LEAF && info !== XLOG_BTREE_INSERT_POST) return describe(record);
  mainDataStruct(record, XL_BTREE_INSERT.size, 'xl_btree_insert');
  requireBlock(record, 0, 'INSERT');
  return effectsOnly(INSERT_KINDS[info], LEAF_INSERT_BLOCKS.uses(record, false, false, true), NO_EFFECTS);
}


/** btree_redo's dispatch. */
function describe(record: WalRecord): BtreeRecord {
  const info = rmgrInfo(record);
  switch (info) {
    case XLOG_BTREE_INSERT_LEAF:
    case XLOG_BTREE_INSERT_UPPER:
    case XLOG_BTREE_INSERT_META:
    case XLOG_BTREE_INSERT_POST:
      return insert(record, info);
    case XLOG_BTREE_SPLIT_L:
      return split(record, true);
    case XLOG_BTREE_SPLIT_R:
      return split(record, false);
    case XLOG_BTREE_DEDUP:
      return dedup(record);
    case XLOG_BTREE_VACUUM:
      return deleteItems(record, false);
    case XLOG_BTREE_DELETE:
      return deleteItems(record, true);
    case XLOG_BTREE_MARK_PAGE_HALFDEAD:
      return markPageHalfdead(record);
    case XLOG_BTREE_UNLINK_PAGE:
      return unlinkPage(record, false);
    case XLOG_BTREE_UNLINK_PAGE_META:
      return unlinkPage(record, true);
    case XLOG_BTREE_NEWROOT:
      return newroot(record);
    case XLOG_BTREE_REUSE_PAGE:
      return reusePage(record);
    case XLOG_BTREE_META_CLEANUP:
      return { kind: 'btree.metaCleanup', meta: readMetadata(record, 0), blocks: blockUses(record, [[0, 'meta', true]]), effects: NO_EFFECTS };
    default:
      return unknownType(record);
  }
}

/** EpochFromFullTransactionId:XidFromFullTransactionId */
function fullXidText(x: bigint): string {
  return `${x >> 32n}:${x & 0xffff_ffffn}`;
}

/** The fixed pieces of this module's text, encoded once. */
const T = literals({
  off: 'off ',
});

/** btree_desc: inserts, most of all B-tree records, as bytes; the rest through a string. */
function putInsertText(b: Uint8Array, o: number, offnum: number): number {
  o = putLiteral(b, o, T.off);
  return putUint(b, o, offnum);
}

function put(b: Uint8Array, o: number, d: BtreeRecord): number {
  switch (d.kind) {
    case 'btree.insertLeaf':
    case 'btree.insertUpper':
    case 'btree.insertMeta':
    case 'btree.insertPost':
      return putInsertText(b, o, d.offnum);
    default:
      return putText(b, o, format(d));
  }
}

/** btree_desc for the records that are not inserts. */
function format(d: Exclude<BtreeRecord, BtreeInsert>): string {
  switch (d.kind) {
    case 'btree.splitL':
    case 'btree.splitR':
      return `level ${d.level}, firstrightoff ${d.firstRightOff}, newitemoff ${d.newItemOff}, postingoff ${d.postingOff}`;
    case 'btree.dedup':
      return `nintervals ${d.nintervals}`;
    case 'btree.vacuum':
      return `ndeleted ${d.ndeleted}; nupdated ${d.nupdated}`;
    case 'btree.delete':
      return `latestRemovedXid ${d.latestRemovedXid}; ndeleted ${d.ndeleted}; nupdated ${d.nupdated}`;
    case 'btree.markPageHalfdead':
      return `topparent ${d.topParent}; leaf ${d.leafBlk}; left ${d.leftBlk}; right ${d.rightBlk}`;
    case 'btree.unlinkPage':
    case 'btree.unlinkPageMeta':
      return (
        `left ${d.leftSib}; right ${d.rightSib}; level ${d.level}; safexid ${fullXidText(d.safeXid)}; ` +
        `leafleft ${d.leafLeftSib}; leafright ${d.leafRightSib}; leaftopparent ${d.leafTopParent}`
      );
    case 'btree.newroot':
      return `lev ${d.level}`;
    case 'btree.reusePage': {
      const n = d.node;
      return `rel ${n.spcNode}/${n.dbNode}/${n.relNode}; latestRemovedXid ${fullXidText(d.latestRemovedFullXid)}`;
    }
    case 'btree.metaCleanup':
      return `last_cleanup_num_delpages ${d.meta.lastCleanupNumDelpages}`;
  }
}

const NAMES: Readonly<Record<number, string>> = {
  [XLOG_BTREE_INSERT_LEAF]: 'INSERT_LEAF',
  [XLOG_BTREE_INSERT_UPPER]: 'INSERT_UPPER',
  [XLOG_BTREE_INSERT_META]: 'INSERT_META',
  [XLOG_BTREE_SPLIT_L]: 'SPLIT_L',
  [XLOG_BTREE_SPLIT_R]: 'SPLIT_R',
  [XLOG_BTREE_INSERT_POST]: 'INSERT_POST',
  [XLOG_BTREE_DEDUP]: 'DEDUP',
  [XLOG_BTREE_VACUUM]: 'VACUUM',
  [XLOG_BTREE_DELETE]: 'DELETE',
  [XLOG_BTREE_MARK_PAGE_HALFDEAD]: 'MARK_PAGE_HALFDEAD',
  [XLOG_BTREE_UNLINK_PAGE]: 'UNLINK_PAGE',
  [XLOG_BTREE_UNLINK_PAGE_META]: 'UNLINK_PAGE_META',
  [XLOG_BTREE_NEWROOT]: 'NEWROOT',
  [XLOG_BTREE_REUSE_PAGE]: 'REUSE_PAGE',
  [XLOG_BTREE_META_CLEANUP]: 'META_CLEANUP',
};

/**
 * btree_desc for INSERT_LEAF read straight from the main data (see RmgrModule.putFast): a leaf insert
 * needs block 0, as describe says; the new item in its data is not looked at, as btree_desc does not.
 */
function putFast(b: Uint8Array, o: number, record: WalRecord): number {
  if ((record.info & 0xf0) !== XLOG_BTREE_INSERT_LEAF || record.blocks[0] === undefined || mainDataLength(record) < XL_BTREE_INSERT.size) return NOT_WRITTEN;
  return putInsertText(b, o, readU16(mainDataBytes(record), mainDataStart(record) + XL_BTREE_INSERT.offnum));
}

export const btreeRmgr: RmgrModule<BtreeRecord> = {
  id: RM_BTREE_ID,
  name: 'Btree',
  /** btree_identify */
  identify: (info) => NAMES[info & 0xf0],
  describe,
  put,
  putFast,
};
