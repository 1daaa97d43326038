/**
 * GIN records (RM_GIN_ID): access/ginxlog.h, described as gindesc.c does and decoded as far as
 * ginxlog.c's redo reads them.
 *
 * Inserts carry a tree-specific payload in block 0's data: an entry tuple (entry tree), a posting
 * item (posting tree internal page) or a list of segment actions that recompress a posting tree leaf
 * (ginRedoRecompress). Splits, entry-leaf vacuums and split-page completions are full-page images.
 * The pending list (fastupdate) is the metapage plus list pages rewritten whole.
 */
import type { ByteReader } from '../../pg/bytes.js';
import { RM_GIN_ID } from '../../pg/rmgr-ids.js';
import type { BlockNumber, Oid, RelFileNode, TransactionId } from '../../pg/types.js';
import { NO_EFFECTS, type BlockUse, type DescriptionBase } from '../describe.js';
import type { WalRecord } from '../record.js';
import {
  readBlockId,
  readIndexTuple,
  readIndexTuples,
  readItemPointer,
  shortAlign,
  tf,
  withBlockData,
  type ItemPointer,
} from './index-am.js';
import { blockUses, malformedPayload, rmgrInfo, unknownType, withMainData, type RmgrModule, putVia } from './rmgr.js';

export const XLOG_GIN_CREATE_PTREE = 0x10;
export const XLOG_GIN_INSERT = 0x20;
export const XLOG_GIN_SPLIT = 0x30;
export const XLOG_GIN_VACUUM_PAGE = 0x40;
export const XLOG_GIN_DELETE_PAGE = 0x50;
export const XLOG_GIN_UPDATE_META_PAGE = 0x60;
export const XLOG_GIN_INSERT_LISTPAGE = 0x70;
export const XLOG_GIN_DELETE_LISTPAGE = 0x80;
export const XLOG_GIN_VACUUM_DATA_LEAF_PAGE = 0x90;

/** ginxlogInsert and ginxlogSplit flags. */
export const GIN_INSERT_ISDATA = 0x01;
export const GIN_INSERT_ISLEAF = 0x02;
export const GIN_SPLIT_ROOT = 0x04;

/** ginxlogSegmentAction types. */
export const GIN_SEGMENT_DELETE = 1;
export const GIN_SEGMENT_INSERT = 2;
export const GIN_SEGMENT_REPLACE = 3;
export const GIN_SEGMENT_ADDITEMS = 4;

/** sizeof(GinMetaPageData) on x86-64 (two int64 members make it 8-aligned). */
export const SIZE_OF_GIN_META_PAGE_DATA = 56;

const NAMES: Readonly<Record<number, string>> = {
  [XLOG_GIN_CREATE_PTREE]: 'CREATE_PTREE',
  [XLOG_GIN_INSERT]: 'INSERT',
  [XLOG_GIN_SPLIT]: 'SPLIT',
  [XLOG_GIN_VACUUM_PAGE]: 'VACUUM_PAGE',
  [XLOG_GIN_VACUUM_DATA_LEAF_PAGE]: 'VACUUM_DATA_LEAF_PAGE',
  [XLOG_GIN_DELETE_PAGE]: 'DELETE_PAGE',
  [XLOG_GIN_UPDATE_META_PAGE]: 'UPDATE_META_PAGE',
  [XLOG_GIN_INSERT_LISTPAGE]: 'INSERT_LISTPAGE',
  [XLOG_GIN_DELETE_LISTPAGE]: 'DELETE_LISTPAGE',
};

/** GinMetaPageData (ginblock.h), which UPDATE_META_PAGE and DELETE_LISTPAGE copy onto the metapage. */
export interface GinMetaPageData {
  readonly head: BlockNumber;
  readonly tail: BlockNumber;
  readonly tailFreeSize: number;
  readonly nPendingPages: number;
  readonly nPendingHeapTuples: bigint;
  readonly nTotalPages: number;
  readonly nEntryPages: number;
  readonly nDataPages: number;
  readonly nEntries: bigint;
  readonly ginVersion: number;
  /** The struct's bytes as logged (redo memcpy's them, padding included). */
  readonly raw: Uint8Array;
}

/** One action of a posting tree leaf recompression (ginxlogSegmentAction). */
export type GinSegmentAction =
  | { readonly segno: number; readonly type: 'delete' }
  /** `segment` is a GinPostingList (SizeOfGinPostingList bytes) that is inserted or replaces segment `segno`. */
  | { readonly segno: number; readonly type: 'insert' | 'replace'; readonly segment: Uint8Array }
  | { readonly segno: number; readonly type: 'addItems'; readonly items: readonly ItemPointer[] }
  /** An action code gindesc.c does not know; decoding stops there, as it does. */
  | { readonly segno: number; readonly type: 'unknown'; readonly action: number };

/** Block 0 'root' (initialized as a compressed posting tree leaf holding `postingList`). */
export interface GinCreatePTree extends DescriptionBase {
  readonly kind: 'gin.createPTree';
  readonly size: number;
  readonly postingList: Uint8Array;
}

/** The payload of an INSERT to an entry tree page (ginxlogInsertEntry). */
export interface GinInsertEntry {
  readonly type: 'entry';
  readonly offset: number;
  readonly isDelete: boolean;
  readonly tuple: Uint8Array;
}

/** The payload of an INSERT to a posting tree internal page (ginxlogInsertDataInternal). */
export interface GinInsertDataInternal {
  readonly type: 'dataInternal';
  readonly offset: number;
  /** PostingItem: the new downlink and its key. */
  readonly childBlkno: BlockNumber;
  readonly key: ItemPointer;
}

/** The payload of an INSERT to a posting tree leaf (ginxlogRecompressDataLeaf). */
export interface GinInsertDataLeaf extends GinRecompressLeaf {
  readonly type: 'dataLeaf';
}

/** ginxlogRecompressDataLeaf: the count as logged, and the actions decoded. */
export interface GinRecompressLeaf {
  readonly nactions: number;
  readonly actions: readonly GinSegmentAction[];
}

/**
 * Block 0 'target' (data: the payload), block 1 'child' (a non-leaf insert finishes the child's
 * split: GIN_INCOMPLETE_SPLIT is cleared on it).
 */
export interface GinInsert extends DescriptionBase {
  readonly kind: 'gin.insert';
  readonly flags: number;
  readonly isData: boolean;
  readonly isLeaf: boolean;
  /** Non-leaf inserts: the child whose split this completes, and its new right sibling. */
  readonly leftChildBlkno: BlockNumber | undefined;
  readonly rightChildBlkno: BlockNumber | undefined;
  /** Undefined when block 0 is restored from an image. */
  readonly payload: GinInsertEntry | GinInsertDataInternal | GinInsertDataLeaf | undefined;
}

/**
 * All pages are full-page images. Root split: block 0 'left' and 1 'right' (new pages), 2 'root';
 * otherwise block 0 'left' (the original page) and 1 'right'. Block 3 'child' as in INSERT.
 */
export interface GinSplit extends DescriptionBase {
  readonly kind: 'gin.split';
  readonly node: RelFileNode;
  readonly rrlink: BlockNumber;
  readonly leftChildBlkno: BlockNumber;
  readonly rightChildBlkno: BlockNumber;
  readonly flags: number;
  readonly isRoot: boolean;
  readonly isData: boolean;
  readonly isLeaf: boolean;
}

/** Block 0 'page': an entry tree leaf vacuumed, logged as a full-page image. */
export interface GinVacuumPage extends DescriptionBase {
  readonly kind: 'gin.vacuumPage';
}

/** Block 0 'page' (data: the recompression actions; undefined when restored from an image). */
export interface GinVacuumDataLeafPage extends DescriptionBase {
  readonly kind: 'gin.vacuumDataLeafPage';
  readonly leaf: GinRecompressLeaf | undefined;
}

/** Block 0 'deleted' (marked deleted), 1 'parent' (loses the posting item), 2 'left' (gets rightLink). */
export interface GinDeletePage extends DescriptionBase {
  readonly kind: 'gin.deletePage';
  readonly parentOffset: number;
  readonly rightLink: BlockNumber;
  readonly deleteXid: TransactionId;
}

/**
 * Block 0 'meta' (reinitialized with `metadata`), block 1 'tail': with ntuples > 0 the tuples
 * (block 1 data) are appended to the tail page; otherwise, when prevTail is valid, the old tail's
 * rightlink is set to newRightlink.
 */
export interface GinUpdateMetaPage extends DescriptionBase {
  readonly kind: 'gin.updateMetaPage';
  readonly node: RelFileNode;
  readonly metadata: GinMetaPageData;
  readonly prevTail: BlockNumber;
  readonly newRightlink: BlockNumber;
  readonly ntuples: number;
  readonly tuples: readonly Uint8Array[] | undefined;
}

/** Block 0 'list' (initialized as a list page with `rightlink`, holding the tuples from its data). */
export interface GinInsertListPage extends DescriptionBase {
  readonly kind: 'gin.insertListPage';
  readonly rightlink: BlockNumber;
  readonly ntuples: number;
  readonly tuples: readonly Uint8Array[] | undefined;
}

/** Block 0 'meta' (reinitialized with `metadata`), blocks 1..ndeleted 'deleted' (initialized as deleted pages). */
export interface GinDeleteListPage extends DescriptionBase {
  readonly kind: 'gin.deleteListPage';
  readonly metadata: GinMetaPageData;
  readonly ndeleted: number;
}

export type GinRecord =
  | GinCreatePTree
  | GinInsert
  | GinSplit
  | GinVacuumPage
  | GinVacuumDataLeafPage
  | GinDeletePage
  | GinUpdateMetaPage
  | GinInsertListPage
  | GinDeleteListPage;

function readRelFileNode(r: ByteReader): RelFileNode {
  return { spcNode: r.u32('spcNode') as Oid, dbNode: r.u32('dbNode') as Oid, relNode: r.u32('relNode') as Oid };
}

/** GinMetaPageData at the reader's (8-aligned) position. */
function readMetaPageData(r: ByteReader): GinMetaPageData {
  r.need(SIZE_OF_GIN_META_PAGE_DATA, 'GinMetaPageData');
  const raw = r.bytes.subarray(r.offset, r.offset + SIZE_OF_GIN_META_PAGE_DATA);
  const head = r.u32('head') as BlockNumber;
  const tail = r.u32('tail') as BlockNumber;
  const tailFreeSize = r.u32('tailFreeSize');
  const nPendingPages = r.u32('nPendingPages');
  const nPendingHeapTuples = r.i64('nPendingHeapTuples');
  const nTotalPages = r.u32('nTotalPages');
  const nEntryPages = r.u32('nEntryPages');
  const nDataPages = r.u32('nDataPages');
  r.skip(4);
  const nEntries = r.i64('nEntries');
  const ginVersion = r.i32('ginVersion');
  r.skip(4);
  return { head, tail, tailFreeSize, nPendingPages, nPendingHeapTuples, nTotalPages, nEntryPages, nDataPages, nEntries, ginVersion, raw };
}

/**
 * A ginxlogRecompressDataLeaf: nactions, then per action segno, type and its data. Mirrors the walk
 * in ginRedoRecompress and desc_recompress_leaf (which stops at an unknown action).
 */
function readRecompressLeaf(r: ByteReader): GinRecompressLeaf {
  const nactions = r.u16('nactions');
  return { nactions, actions: readActions(r, nactions) };
}

function readActions(r: ByteReader, nactions: number): GinSegmentAction[] {
  const actions: GinSegmentAction[] = [];
  for (let i = 0; i < nactions; i++) {
    const segno = r.u8('segno');
    const action = r.u8('action');
    switch (action) {
      case GIN_SEGMENT_INSERT:
      case GIN_SEGMENT_REPLACE: {
        // GinPostingList: first ItemPointerData, uint16 nbytes, then the varbyte-encoded bytes.
        // SizeOfGinPostingList is even already, so the SHORTALIGN step past it adds nothing.
        r.need(8, 'GinPostingList header');
        const nbytes = r.bytes[r.offset + 6]! | (r.bytes[r.offset + 7]! << 8);
        const segment = r.bytesView(8 + shortAlign(nbytes), 'GinPostingList');
        actions.push({ segno, type: action === GIN_SEGMENT_INSERT ? 'insert' : 'replace', segment });
        break;
      }
      case GIN_SEGMENT_ADDITEMS: {
        const nitems = r.u16('nitems');
        r.need(6 * nitems, 'added items');
        const items: ItemPointer[] = [];
        for (let j = 0; j < nitems; j++) items.push(readItemPointer(r, 'added item'));
        actions.push({ segno, type: 'addItems', items });
        break;
      }
      case GIN_SEGMENT_DELETE:
        actions.push({ segno, type: 'delete' });
        break;
      default:
        actions.push({ segno, type: 'unknown', action });
        return actions;
    }
  }
  return actions;
}

/** Block 0's payload for an INSERT, by tree type (ginRedoInsertEntry / ginRedoInsertData). */
function readInsertPayload(record: WalRecord, r: ByteReader, isData: boolean, isLeaf: boolean): GinInsert['payload'] {
  if (!isData) {
    const offset = r.u16('offset');
    const isDelete = r.bool('isDelete');
    r.skip(1);
    return { type: 'entry', offset, isDelete, tuple: readIndexTuple(record, r, 'entry tuple') };
  }
  if (isLeaf) return { type: 'dataLeaf', ...readRecompressLeaf(r) };
  const offset = r.u16('offset');
  const childBlkno = readBlockId(r, 'PostingItem.child_blkno');
  const key = readItemPointer(r, 'PostingItem.key');
  return { type: 'dataInternal', offset, childBlkno, key };
}

function describeInsert(record: WalRecord): GinInsert {
  return withMainData(record, (r) => {
    const flags = r.u16('flags');
    const isData = (flags & GIN_INSERT_ISDATA) !== 0;
    const isLeaf = (flags & GIN_INSERT_ISLEAF) !== 0;
    let leftChildBlkno: BlockNumber | undefined;
    let rightChildBlkno: BlockNumber | undefined;
    if (!isLeaf) {
      leftChildBlkno = readBlockId(r, 'left child BlockIdData');
      rightChildBlkno = readBlockId(r, 'right child BlockIdData');
    }
    return {
      kind: 'gin.insert',
      flags,
      isData,
      isLeaf,
      leftChildBlkno,
      rightChildBlkno,
      payload: withBlockData(record, 0, (b) => readInsertPayload(record, b, isData, isLeaf)),
      blocks: blockUses(record, [
        [0, 'target'],
        [1, 'child'],
      ]),
      effects: NO_EFFECTS,
    };
  });
}

function describeSplit(record: WalRecord): GinSplit {
  return withMainData(record, (r) => {
    const node = readRelFileNode(r);
    const rrlink = r.u32('rrlink') as BlockNumber;
    const leftChildBlkno = r.u32('leftChildBlkno') as BlockNumber;
    const rightChildBlkno = r.u32('rightChildBlkno') as BlockNumber;
    const flags = r.u16('flags');
    const isRoot = (flags & GIN_SPLIT_ROOT) !== 0;
    return {
      kind: 'gin.split',
      node,
      rrlink,
      leftChildBlkno,
      rightChildBlkno,
      flags,
      isRoot,
      isData: (flags & GIN_INSERT_ISDATA) !== 0,
      isLeaf: (flags & GIN_INSERT_ISLEAF) !== 0,
      blocks: blockUses(record, [
        [0, 'left'],
        [1, 'right'],
        [2, 'root'],
        [3, 'child'],
      ]),
      effects: NO_EFFECTS,
    };
  });
}

function describeUpdateMeta(record: WalRecord): GinUpdateMetaPage {
  return withMainData(record, (r) => {
    const node = readRelFileNode(r);
    r.skip(4, 'padding before metadata');
    const metadata = readMetaPageData(r);
    const prevTail = r.u32('prevTail') as BlockNumber;
    const newRightlink = r.u32('newRightlink') as BlockNumber;
    const ntuples = r.i32('ntuples');
    const tuples = ntuples > 0 ? withBlockData(record, 1, (b) => readIndexTuples(record, b, ntuples, 'pending tuple')) : undefined;
    return {
      kind: 'gin.updateMetaPage',
      node,
      metadata,
      prevTail,
      newRightlink,
      ntuples,
      tuples,
      blocks: blockUses(record, [
        [0, 'meta', true],
        [1, 'tail'],
      ]),
      effects: NO_EFFECTS,
    };
  });
}

function describeDeleteListPage(record: WalRecord): GinDeleteListPage {
  return withMainData(record, (r) => {
    const metadata = readMetaPageData(r);
    const ndeleted = r.i32('ndeleted');
    const blocks: BlockUse[] = blockUses(record, [[0, 'meta', true]]);
    for (let i = 0; i < ndeleted; i++) {
      if (record.blocks[i + 1] === undefined) malformedPayload(record, `ndeleted is ${ndeleted} but block ${i + 1} is not referenced`);
      blocks.push(...blockUses(record, [[i + 1, 'deleted', true]]));
    }
    return { kind: 'gin.deleteListPage', metadata, ndeleted, blocks, effects: NO_EFFECTS };
  });
}

/** Mirrors gin_redo's dispatch with the fields each ginRedo* routine reads. */
function describe(record: WalRecord): GinRecord {
  switch (rmgrInfo(record)) {
    case XLOG_GIN_CREATE_PTREE:
      return withMainData(record, (r) => {
        const size = r.u32('size');
        return {
          kind: 'gin.createPTree',
          size,
          postingList: r.bytesView(size, 'posting list'),
          blocks: blockUses(record, [[0, 'root', true]]),
          effects: NO_EFFECTS,
        };
      });
    case XLOG_GIN_INSERT:
      return describeInsert(record);
    case XLOG_GIN_SPLIT:
      return describeSplit(record);
    case XLOG_GIN_VACUUM_PAGE:
      return { kind: 'gin.vacuumPage', blocks: blockUses(record, [[0, 'page']]), effects: NO_EFFECTS };
    case XLOG_GIN_VACUUM_DATA_LEAF_PAGE:
      return {
        kind: 'gin.vacuumDataLeafPage',
        leaf: withBlockData(record, 0, readRecompressLeaf),
        blocks: blockUses(record, [[0, 'page']]),
        effects: NO_EFFECTS,
      };
    case XLOG_GIN_DELETE_PAGE:
      return withMainData(record, (r) => {
        const parentOffset = r.u16('parentOffset');
        r.skip(2);
        return {
          kind: 'gin.deletePage',
          parentOffset,
          rightLink: r.u32('rightLink') as BlockNumber,
          deleteXid: r.u32('deleteXid') as TransactionId,
          blocks: blockUses(record, [
            [0, 'deleted'],
            [1, 'parent'],
            [2, 'left'],
          ]),
          effects: NO_EFFECTS,
        };
      });
    case XLOG_GIN_UPDATE_META_PAGE:
      return describeUpdateMeta(record);
    case XLOG_GIN_INSERT_LISTPAGE:
      return withMainData(record, (r) => {
        const rightlink = r.u32('rightlink') as BlockNumber;
        const ntuples = r.i32('ntuples');
        return {
          kind: 'gin.insertListPage',
          rightlink,
          ntuples,
          tuples: withBlockData(record, 0, (b) => readIndexTuples(record, b, ntuples, 'list tuple')),
          blocks: blockUses(record, [[0, 'list', true]]),
          effects: NO_EFFECTS,
        };
      });
    case XLOG_GIN_DELETE_LISTPAGE:
      return describeDeleteListPage(record);
    default:
      return unknownType(record);
  }
}

/** desc_recompress_leaf */
function formatActions(leaf: GinRecompressLeaf): string {
  let s = ` ${leaf.nactions} segments:`;
  for (const a of leaf.actions) {
    switch (a.type) {
      case 'addItems':
        s += ` ${a.segno} (add ${a.items.length} items)`;
        break;
      case 'delete':
        s += ` ${a.segno} (delete)`;
        break;
      case 'insert':
        s += ` ${a.segno} (insert)`;
        break;
      case 'replace':
        s += ` ${a.segno} (replace)`;
        break;
      case 'unknown':
        s += ` ${a.segno} unknown action ${a.action} ???`;
        break;
    }
  }
  return s;
}

/** gin_desc prints this instead of the block 0 payload when block 0 carries an image. */
function imageNote(record: WalRecord): string | undefined {
  const b = record.blocks[0];
  if (b === undefined || !b.hasImage) return undefined;
  return b.applyImage ? ' (full page image)' : ' (full page image, for WAL verification)';
}

/** Mirrors gin_desc. */
function format(d: GinRecord, record: WalRecord): string {
  switch (d.kind) {
    case 'gin.insert': {
      let s = `isdata: ${tf(d.isData)} isleaf: ${tf(d.isLeaf)}`;
      if (!d.isLeaf) s += ` children: ${d.leftChildBlkno}/${d.rightChildBlkno}`;
      const note = imageNote(record);
      if (note !== undefined) return s + note;
      const p = d.payload;
      if (p === undefined) return s;
      switch (p.type) {
        case 'entry':
          return s + ` isdelete: ${tf(p.isDelete)}`;
        case 'dataLeaf':
          return s + formatActions(p);
        case 'dataInternal':
          return s + ` pitem: ${p.childBlkno}-${p.key.blkno}/${p.key.offnum}`;
      }
    }
    case 'gin.split':
      return `isrootsplit: ${tf(d.isRoot)} isdata: ${tf(d.isData)} isleaf: ${tf(d.isLeaf)}`;
    case 'gin.vacuumDataLeafPage': {
      const note = imageNote(record);
      if (note !== undefined) return note;
      return d.leaf === undefined ? '' : formatActions(d.leaf);
    }
    case 'gin.deleteListPage':
      return `ndeleted: ${d.ndeleted}`;
    case 'gin.createPTree':
    case 'gin.vacuumPage':
    case 'gin.deletePage':
    case 'gin.updateMetaPage':
    case 'gin.insertListPage':
      return '';
  }
}

export const ginRmgr: RmgrModule<GinRecord> = {
  id: RM_GIN_ID,
  name: 'Gin',
  identify: (info) => NAMES[info & 0xf0],
  describe,
  put: putVia(format),
};
