/**
 * SP-GiST records (RM_SPGIST_ID): access/spgxlog.h, described as spgdesc.c does and decoded as far
 * as spgxlog.c's redo reads them.
 *
 * Everything is in main data: the struct, then offset arrays, then tuples stored unaligned. Leaf
 * tuples (SpGistLeafTupleData) keep their size in the upper 30 bits of the first word, inner tuples
 * (SpGistInnerTupleData) in the uint16 at offset 4; the tuple views below span exactly that size.
 */
import type { ByteReader } from '../../pg/bytes.js';
import { RM_SPGIST_ID } from '../../pg/rmgr-ids.js';
import type { TransactionId } from '../../pg/types.js';
import { NO_EFFECTS, type DescriptionBase } from '../describe.js';
import type { WalRecord } from '../record.js';
import { readOffsets } from './index-am.js';
import { blockUses, malformedPayload, rmgrInfo, unknownType, withMainData, type RmgrModule, putVia } from './rmgr.js';

export const XLOG_SPGIST_ADD_LEAF = 0x10;
export const XLOG_SPGIST_MOVE_LEAFS = 0x20;
export const XLOG_SPGIST_ADD_NODE = 0x30;
export const XLOG_SPGIST_SPLIT_TUPLE = 0x40;
export const XLOG_SPGIST_PICKSPLIT = 0x50;
export const XLOG_SPGIST_VACUUM_LEAF = 0x60;
export const XLOG_SPGIST_VACUUM_ROOT = 0x70;
export const XLOG_SPGIST_VACUUM_REDIRECT = 0x80;

const NAMES: Readonly<Record<number, string>> = {
  [XLOG_SPGIST_ADD_LEAF]: 'ADD_LEAF',
  [XLOG_SPGIST_MOVE_LEAFS]: 'MOVE_LEAFS',
  [XLOG_SPGIST_ADD_NODE]: 'ADD_NODE',
  [XLOG_SPGIST_SPLIT_TUPLE]: 'SPLIT_TUPLE',
  [XLOG_SPGIST_PICKSPLIT]: 'PICKSPLIT',
  [XLOG_SPGIST_VACUUM_LEAF]: 'VACUUM_LEAF',
  [XLOG_SPGIST_VACUUM_ROOT]: 'VACUUM_ROOT',
  [XLOG_SPGIST_VACUUM_REDIRECT]: 'VACUUM_REDIRECT',
};

/** spgxlogState: what fillFakeState needs to form dead tuples in redo. */
export interface SpgxlogState {
  readonly myXid: TransactionId;
  readonly isBuild: boolean;
}

/** Block 0 'leaf' (initialized when newPage), block 1 'parent' (downlink updated, if offnumParent is valid). */
export interface SpgAddLeaf extends DescriptionBase {
  readonly kind: 'spgist.addLeaf';
  readonly newPage: boolean;
  readonly storesNulls: boolean;
  readonly offnumLeaf: number;
  readonly offnumHeadLeaf: number;
  readonly offnumParent: number;
  readonly nodeI: number;
  readonly leafTuple: Uint8Array;
}

/**
 * Block 0 'source' (the moved tuples become redirects or placeholders), block 1 'dest'
 * (initialized when newPage), block 2 'parent'.
 */
export interface SpgMoveLeafs extends DescriptionBase {
  readonly kind: 'spgist.moveLeafs';
  readonly nMoves: number;
  readonly newPage: boolean;
  readonly replaceDead: boolean;
  readonly storesNulls: boolean;
  readonly offnumParent: number;
  readonly nodeI: number;
  readonly stateSrc: SpgxlogState;
  readonly toDelete: readonly number[];
  /** nMoves + 1 offsets, or 1 when replaceDead. */
  readonly toInsert: readonly number[];
  readonly leafTuples: readonly Uint8Array[];
}

/**
 * Block 0 'original'; without block 1 the inner tuple is replaced in place. With it, block 1 'new'
 * (initialized when newPage) gets the tuple, the original becomes a redirect (or placeholder in a
 * build), and the parent downlink is updated on block `parentBlk` (0, 1, or 2 'parent').
 */
export interface SpgAddNode extends DescriptionBase {
  readonly kind: 'spgist.addNode';
  readonly offnum: number;
  readonly offnumNew: number;
  readonly newPage: boolean;
  readonly parentBlk: number;
  readonly offnumParent: number;
  readonly nodeI: number;
  readonly stateSrc: SpgxlogState;
  readonly innerTuple: Uint8Array;
}

/** Block 0 'prefix' (the prefix tuple replaces offnumPrefix), block 1 'postfix' (if not the same page; initialized when newPage). */
export interface SpgSplitTuple extends DescriptionBase {
  readonly kind: 'spgist.splitTuple';
  readonly offnumPrefix: number;
  readonly offnumPostfix: number;
  readonly newPage: boolean;
  readonly postfixBlkSame: boolean;
  readonly prefixTuple: Uint8Array;
  readonly postfixTuple: Uint8Array;
}

/**
 * Block 0 'source' (absent in a root split; initialized when initSrc), block 1 'dest' (initialized
 * when initDest), block 2 'inner' (initialized when initInner), block 3 'parent' (when not the inner page).
 */
export interface SpgPickSplit extends DescriptionBase {
  readonly kind: 'spgist.pickSplit';
  readonly isRootSplit: boolean;
  readonly nDelete: number;
  readonly nInsert: number;
  readonly initSrc: boolean;
  readonly initDest: boolean;
  readonly offnumInner: number;
  readonly initInner: boolean;
  readonly storesNulls: boolean;
  readonly innerIsParent: boolean;
  readonly offnumParent: number;
  readonly nodeI: number;
  readonly stateSrc: SpgxlogState;
  readonly toDelete: readonly number[];
  readonly toInsert: readonly number[];
  /** Per inserted tuple: 0 for the source page, nonzero for the dest page. */
  readonly leafPageSelect: readonly number[];
  readonly innerTuple: Uint8Array;
  readonly leafTuples: readonly Uint8Array[];
}

/** Block 0 'leaf'. */
export interface SpgVacuumLeaf extends DescriptionBase {
  readonly kind: 'spgist.vacuumLeaf';
  readonly nDead: number;
  readonly nPlaceholder: number;
  readonly nMove: number;
  readonly nChain: number;
  readonly stateSrc: SpgxlogState;
  readonly toDead: readonly number[];
  readonly toPlaceholder: readonly number[];
  readonly moveSrc: readonly number[];
  readonly moveDest: readonly number[];
  readonly chainSrc: readonly number[];
  readonly chainDest: readonly number[];
}

/** Block 0 'root' (a root that is also a leaf). */
export interface SpgVacuumRoot extends DescriptionBase {
  readonly kind: 'spgist.vacuumRoot';
  readonly nDelete: number;
  readonly stateSrc: SpgxlogState;
  readonly toDelete: readonly number[];
}

/** Block 0 'page': redirects become placeholders, trailing placeholders from firstPlaceholder go. */
export interface SpgVacuumRedirect extends DescriptionBase {
  readonly kind: 'spgist.vacuumRedirect';
  readonly nToPlaceholder: number;
  readonly firstPlaceholder: number;
  readonly newestRedirectXid: TransactionId;
  readonly toPlaceholder: readonly number[];
}

export type SpgistRecord =
  | SpgAddLeaf
  | SpgMoveLeafs
  | SpgAddNode
  | SpgSplitTuple
  | SpgPickSplit
  | SpgVacuumLeaf
  | SpgVacuumRoot
  | SpgVacuumRedirect;

/** spgxlogState at a 4-aligned offset: myXid, isBuild, 3 bytes of padding. */
function readState(r: ByteReader): SpgxlogState {
  const myXid = r.u32('stateSrc.myXid') as TransactionId;
  const isBuild = r.bool('stateSrc.isBuild');
  r.skip(3);
  return { myXid, isBuild };
}

/** A leaf tuple: size is SpGistLeafTupleData's 30-bit field above the 2-bit tupstate. */
function readLeafTuple(record: WalRecord, r: ByteReader): Uint8Array {
  r.need(4, 'leaf tuple header');
  const word = (r.bytes[r.offset]! | (r.bytes[r.offset + 1]! << 8) | (r.bytes[r.offset + 2]! << 16) | (r.bytes[r.offset + 3]! << 24)) >>> 0;
  const size = word >>> 2;
  if (size < 4) malformedPayload(record, `leaf tuple at offset ${r.position} has size ${size}`);
  return r.bytesView(size, 'leaf tuple');
}

/** An inner tuple: size is SpGistInnerTupleData's uint16 at offset 4. */
function readInnerTuple(record: WalRecord, r: ByteReader): Uint8Array {
  r.need(6, 'inner tuple header');
  const size = r.bytes[r.offset + 4]! | (r.bytes[r.offset + 5]! << 8);
  if (size < 6) malformedPayload(record, `inner tuple at offset ${r.position} has size ${size}`);
  return r.bytesView(size, 'inner tuple');
}

function describeAddLeaf(record: WalRecord, r: ByteReader): SpgAddLeaf {
  const newPage = r.bool('newPage');
  const storesNulls = r.bool('storesNulls');
  const offnumLeaf = r.u16('offnumLeaf');
  const offnumHeadLeaf = r.u16('offnumHeadLeaf');
  const offnumParent = r.u16('offnumParent');
  const nodeI = r.u16('nodeI');
  return {
    kind: 'spgist.addLeaf',
    newPage,
    storesNulls,
    offnumLeaf,
    offnumHeadLeaf,
    offnumParent,
    nodeI,
    leafTuple: readLeafTuple(record, r),
    blocks: blockUses(record, [
      [0, 'leaf', newPage],
      [1, 'parent'],
    ]),
    effects: NO_EFFECTS,
  };
}

function describeMoveLeafs(record: WalRecord, r: ByteReader): SpgMoveLeafs {
  const nMoves = r.u16('nMoves');
  const newPage = r.bool('newPage');
  const replaceDead = r.bool('replaceDead');
  const storesNulls = r.bool('storesNulls');
  r.skip(1);
  const offnumParent = r.u16('offnumParent');
  const nodeI = r.u16('nodeI');
  r.skip(2);
  const stateSrc = readState(r);
  const nInsert = replaceDead ? 1 : nMoves + 1;
  const toDelete = readOffsets(r, nMoves, 'toDelete');
  const toInsert = readOffsets(r, nInsert, 'toInsert');
  const leafTuples: Uint8Array[] = [];
  for (let i = 0; i < nInsert; i++) leafTuples.push(readLeafTuple(record, r));
  return {
    kind: 'spgist.moveLeafs',
    nMoves,
    newPage,
    replaceDead,
    storesNulls,
    offnumParent,
    nodeI,
    stateSrc,
    toDelete,
    toInsert,
    leafTuples,
    blocks: blockUses(record, [
      [0, 'source'],
      [1, 'dest', newPage],
      [2, 'parent'],
    ]),
    effects: NO_EFFECTS,
  };
}

function describeAddNode(record: WalRecord, r: ByteReader): SpgAddNode {
  const offnum = r.u16('offnum');
  const offnumNew = r.u16('offnumNew');
  const newPage = r.bool('newPage');
  const parentBlk = r.i8('parentBlk');
  const offnumParent = r.u16('offnumParent');
  const nodeI = r.u16('nodeI');
  r.skip(2);
  const stateSrc = readState(r);
  return {
    kind: 'spgist.addNode',
    offnum,
    offnumNew,
    newPage,
    parentBlk,
    offnumParent,
    nodeI,
    stateSrc,
    innerTuple: readInnerTuple(record, r),
    blocks: blockUses(record, [
      [0, 'original'],
      [1, 'new', newPage],
      [2, 'parent'],
    ]),
    effects: NO_EFFECTS,
  };
}

function describeSplitTuple(record: WalRecord, r: ByteReader): SpgSplitTuple {
  const offnumPrefix = r.u16('offnumPrefix');
  const offnumPostfix = r.u16('offnumPostfix');
  const newPage = r.bool('newPage');
  const postfixBlkSame = r.bool('postfixBlkSame');
  const prefixTuple = readInnerTuple(record, r);
  const postfixTuple = readInnerTuple(record, r);
  return {
    kind: 'spgist.splitTuple',
    offnumPrefix,
    offnumPostfix,
    newPage,
    postfixBlkSame,
    prefixTuple,
    postfixTuple,
    blocks: blockUses(record, [
      [0, 'prefix'],
      [1, 'postfix', newPage],
    ]),
    effects: NO_EFFECTS,
  };
}

function describePickSplit(record: WalRecord, r: ByteReader): SpgPickSplit {
  const isRootSplit = r.bool('isRootSplit');
  r.skip(1);
  const nDelete = r.u16('nDelete');
  const nInsert = r.u16('nInsert');
  const initSrc = r.bool('initSrc');
  const initDest = r.bool('initDest');
  const offnumInner = r.u16('offnumInner');
  const initInner = r.bool('initInner');
  const storesNulls = r.bool('storesNulls');
  const innerIsParent = r.bool('innerIsParent');
  r.skip(1);
  const offnumParent = r.u16('offnumParent');
  const nodeI = r.u16('nodeI');
  r.skip(2);
  const stateSrc = readState(r);
  const toDelete = readOffsets(r, nDelete, 'toDelete');
  const toInsert = readOffsets(r, nInsert, 'toInsert');
  const leafPageSelect = Array.from(r.bytesView(nInsert, 'leafPageSelect'));
  const innerTuple = readInnerTuple(record, r);
  const leafTuples: Uint8Array[] = [];
  for (let i = 0; i < nInsert; i++) leafTuples.push(readLeafTuple(record, r));
  return {
    kind: 'spgist.pickSplit',
    isRootSplit,
    nDelete,
    nInsert,
    initSrc,
    initDest,
    offnumInner,
    initInner,
    storesNulls,
    innerIsParent,
    offnumParent,
    nodeI,
    stateSrc,
    toDelete,
    toInsert,
    leafPageSelect,
    innerTuple,
    leafTuples,
    blocks: blockUses(record, [
      [0, 'source', initSrc],
      [1, 'dest', initDest],
      [2, 'inner', initInner],
      [3, 'parent'],
    ]),
    effects: NO_EFFECTS,
  };
}

function describeVacuumLeaf(record: WalRecord, r: ByteReader): SpgVacuumLeaf {
  const nDead = r.u16('nDead');
  const nPlaceholder = r.u16('nPlaceholder');
  const nMove = r.u16('nMove');
  const nChain = r.u16('nChain');
  const stateSrc = readState(r);
  return {
    kind: 'spgist.vacuumLeaf',
    nDead,
    nPlaceholder,
    nMove,
    nChain,
    stateSrc,
    toDead: readOffsets(r, nDead, 'toDead'),
    toPlaceholder: readOffsets(r, nPlaceholder, 'toPlaceholder'),
    moveSrc: readOffsets(r, nMove, 'moveSrc'),
    moveDest: readOffsets(r, nMove, 'moveDest'),
    chainSrc: readOffsets(r, nChain, 'chainSrc'),
    chainDest: readOffsets(r, nChain, 'chainDest'),
    blocks: blockUses(record, [[0, 'leaf']]),
    effects: NO_EFFECTS,
  };
}

/** Mirrors spg_redo's dispatch with the fields each spgRedo* routine reads. */
function describe(record: WalRecord): SpgistRecord {
  const info = rmgrInfo(record);
  switch (info) {
    case XLOG_SPGIST_ADD_LEAF:
      return withMainData(record, (r) => describeAddLeaf(record, r));
    case XLOG_SPGIST_MOVE_LEAFS:
      return withMainData(record, (r) => describeMoveLeafs(record, r));
    case XLOG_SPGIST_ADD_NODE:
      return withMainData(record, (r) => describeAddNode(record, r));
    case XLOG_SPGIST_SPLIT_TUPLE:
      return withMainData(record, (r) => describeSplitTuple(record, r));
    case XLOG_SPGIST_PICKSPLIT:
      return withMainData(record, (r) => describePickSplit(record, r));
    case XLOG_SPGIST_VACUUM_LEAF:
      return withMainData(record, (r) => describeVacuumLeaf(record, r));
    case XLOG_SPGIST_VACUUM_ROOT:
      return withMainData(record, (r) => {
        const nDelete = r.u16('nDelete');
        r.skip(2);
        const stateSrc = readState(r);
        const toDelete = readOffsets(r, nDelete, 'toDelete');
        return { kind: 'spgist.vacuumRoot', nDelete, stateSrc, toDelete, blocks: blockUses(record, [[0, 'root']]), effects: NO_EFFECTS };
      });
    case XLOG_SPGIST_VACUUM_REDIRECT:
      return withMainData(record, (r) => {
        const nToPlaceholder = r.u16('nToPlaceholder');
        const firstPlaceholder = r.u16('firstPlaceholder');
        const newestRedirectXid = r.u32('newestRedirectXid') as TransactionId;
        return {
          kind: 'spgist.vacuumRedirect',
          nToPlaceholder,
          firstPlaceholder,
          newestRedirectXid,
          toPlaceholder: readOffsets(r, nToPlaceholder, 'itemToPlaceholder'),
          blocks: blockUses(record, [[0, 'page']]),
          effects: NO_EFFECTS,
        };
      });
    default:
      return unknownType(record);
  }
}

/** Mirrors spg_desc. */
function format(d: SpgistRecord): string {
  switch (d.kind) {
    case 'spgist.addLeaf':
      return (
        `off: ${d.offnumLeaf}, headoff: ${d.offnumHeadLeaf}, parentoff: ${d.offnumParent}, nodeI: ${d.nodeI}` +
        (d.newPage ? ' (newpage)' : '') +
        (d.storesNulls ? ' (nulls)' : '')
      );
    case 'spgist.moveLeafs':
      return (
        `nmoves: ${d.nMoves}, parentoff: ${d.offnumParent}, nodeI: ${d.nodeI}` +
        (d.newPage ? ' (newpage)' : '') +
        (d.replaceDead ? ' (replacedead)' : '') +
        (d.storesNulls ? ' (nulls)' : '')
      );
    case 'spgist.addNode':
      return (
        `off: ${d.offnum}, newoff: ${d.offnumNew}, parentBlk: ${d.parentBlk}, parentoff: ${d.offnumParent}, nodeI: ${d.nodeI}` +
        (d.newPage ? ' (newpage)' : '')
      );
    case 'spgist.splitTuple':
      return `prefixoff: ${d.offnumPrefix}, postfixoff: ${d.offnumPostfix}` + (d.newPage ? ' (newpage)' : '') + (d.postfixBlkSame ? ' (same)' : '');
    case 'spgist.pickSplit':
      return (
        `ndelete: ${d.nDelete}, ninsert: ${d.nInsert}, inneroff: ${d.offnumInner}, parentoff: ${d.offnumParent}, nodeI: ${d.nodeI}` +
        (d.innerIsParent ? ' (innerIsParent)' : '') +
        (d.storesNulls ? ' (nulls)' : '') +
        (d.isRootSplit ? ' (isRootSplit)' : '')
      );
    case 'spgist.vacuumLeaf':
      return `ndead: ${d.nDead}, nplaceholder: ${d.nPlaceholder}, nmove: ${d.nMove}, nchain: ${d.nChain}`;
    case 'spgist.vacuumRoot':
      return `ndelete: ${d.nDelete}`;
    case 'spgist.vacuumRedirect':
      return `ntoplaceholder: ${d.nToPlaceholder}, firstplaceholder: ${d.firstPlaceholder}, newestredirectxid: ${d.newestRedirectXid}`;
  }
}

export const spgistRmgr: RmgrModule<SpgistRecord> = {
  id: RM_SPGIST_ID,
  name: 'SPGist',
  identify: (info) => NAMES[info & 0xf0],
  describe,
  put: putVia(format),
};
