/**
 * Heap records (RM_HEAP_ID): the row changes of heapam.c — insert, delete, update, HOT update,
 * speculative-insert confirmation, row locks, in-place catalog updates — and the TRUNCATE record
 * that exists only for logical decoding.
 *
 * Mirrors heapdesc.c (heap_identify, heap_desc) for the text, and reads everything heapam.c's
 * heap_redo routines read: the offsets, xmax values and infomask bits set on the page, the logged
 * tuple (xl_heap_header and the bytes after the fixed tuple header, kept as views into the
 * record), the prefix and suffix an UPDATE borrows from the old tuple, and the visibility-map bits
 * redo clears before it touches the page. Like heap_redo, the opcode is `info & XLOG_HEAP_OPMASK`;
 * XLOG_HEAP_INIT_PAGE says redo starts the (new) page from scratch.
 */
import { readU16, readU32, type ByteReader } from '../../pg/bytes.js';
import { RM_HEAP_ID } from '../../pg/rmgr-ids.js';
import type { Oid, TransactionId } from '../../pg/types.js';
import { effectsOnly, NO_EFFECTS, type DescriptionBase, type Effect } from '../describe.js';
import type { BlockRef, WalRecord } from '../record.js';
import { literals, putHexByte, putLiteral, putUint } from '../text-buffer.js';
import {
  BlockUseSpec,
  NOT_WRITTEN,
  blockDataBytes,
  blockDataEnd,
  blockDataStruct,
  mainDataBytes,
  mainDataLength,
  mainDataReader,
  mainDataStart,
  mainDataStruct,
  mainDataU8,
  malformedPayload,
  rmgrInfo,
  unknownType,
  withMainData,
  type RmgrModule,
} from './rmgr.js';

// heapam_xlog.h: opcodes in the high bits of xl_info.
export const XLOG_HEAP_INSERT = 0x00;
export const XLOG_HEAP_DELETE = 0x10;
export const XLOG_HEAP_UPDATE = 0x20;
export const XLOG_HEAP_TRUNCATE = 0x30;
export const XLOG_HEAP_HOT_UPDATE = 0x40;
export const XLOG_HEAP_CONFIRM = 0x50;
export const XLOG_HEAP_LOCK = 0x60;
export const XLOG_HEAP_INPLACE = 0x70;
export const XLOG_HEAP_OPMASK = 0x70;
export const XLOG_HEAP_INIT_PAGE = 0x80;

// xl_heap_insert / xl_heap_multi_insert flags
export const XLH_INSERT_ALL_VISIBLE_CLEARED = 1 << 0;
export const XLH_INSERT_LAST_IN_MULTI = 1 << 1;
export const XLH_INSERT_IS_SPECULATIVE = 1 << 2;
export const XLH_INSERT_CONTAINS_NEW_TUPLE = 1 << 3;
export const XLH_INSERT_ON_TOAST_RELATION = 1 << 4;
export const XLH_INSERT_ALL_FROZEN_SET = 1 << 5;

// xl_heap_update flags
export const XLH_UPDATE_OLD_ALL_VISIBLE_CLEARED = 1 << 0;
export const XLH_UPDATE_NEW_ALL_VISIBLE_CLEARED = 1 << 1;
export const XLH_UPDATE_CONTAINS_OLD_TUPLE = 1 << 2;
export const XLH_UPDATE_CONTAINS_OLD_KEY = 1 << 3;
export const XLH_UPDATE_CONTAINS_NEW_TUPLE = 1 << 4;
export const XLH_UPDATE_PREFIX_FROM_OLD = 1 << 5;
export const XLH_UPDATE_SUFFIX_FROM_OLD = 1 << 6;

// xl_heap_delete flags
export const XLH_DELETE_ALL_VISIBLE_CLEARED = 1 << 0;
export const XLH_DELETE_CONTAINS_OLD_TUPLE = 1 << 1;
export const XLH_DELETE_CONTAINS_OLD_KEY = 1 << 2;
export const XLH_DELETE_IS_SUPER = 1 << 3;
export const XLH_DELETE_IS_PARTITION_MOVE = 1 << 4;

// xl_heap_truncate flags
export const XLH_TRUNCATE_CASCADE = 1 << 0;
export const XLH_TRUNCATE_RESTART_SEQS = 1 << 1;

// infobits_set: the xmax infomask bits redo sets (fix_infomask_from_infobits)
export const XLHL_XMAX_IS_MULTI = 0x01;
export const XLHL_XMAX_LOCK_ONLY = 0x02;
export const XLHL_XMAX_EXCL_LOCK = 0x04;
export const XLHL_XMAX_KEYSHR_LOCK = 0x08;
export const XLHL_KEYS_UPDATED = 0x10;

/** xl_heap_lock / xl_heap_lock_updated flags. */
export const XLH_LOCK_ALL_FROZEN_CLEARED = 0x01;

// visibilitymapdefs.h
export const VISIBILITYMAP_ALL_VISIBLE = 0x01;
export const VISIBILITYMAP_ALL_FROZEN = 0x02;
export const VISIBILITYMAP_VALID_BITS = 0x03;

/** SizeofHeapTupleHeader (offsetof(HeapTupleHeaderData, t_bits)): the part of a tuple WAL leaves out. */
export const SIZEOF_HEAP_TUPLE_HEADER = 23;
const SPACE = 0x20;

/** FirstOffsetNumber (off.h). */
export const FIRST_OFFSET_NUMBER = 1;

/** xl_heap_header: the tuple header fields WAL keeps (SizeOfHeapHeader = 5). */
export interface XlHeapHeader {
  readonly infomask2: number;
  readonly infomask: number;
  readonly hoff: number;
}

/**
 * A tuple as WAL logs it: the stored header fields and the bytes that follow the fixed tuple header
 * on the page (null bitmap [+ padding] [+ oid] + data), a view into the record.
 */
export interface LoggedTuple {
  readonly header: XlHeapHeader;
  readonly data: Uint8Array;
}

/**
 * The new tuple of an UPDATE. `data` is the bitmap [+ padding] [+ oid] followed by the user data
 * minus the first `prefixLen` and last `suffixLen` bytes, which redo copies from the old tuple.
 */
export interface UpdateNewTuple extends LoggedTuple {
  readonly prefixLen: number;
  readonly suffixLen: number;
}

/** XLOG_HEAP_INSERT (heap_xlog_insert). Block 0: the heap page. */
export interface HeapInsert extends DescriptionBase {
  readonly kind: 'heap.insert';
  readonly offnum: number;
  readonly flags: number;
  /** XLOG_HEAP_INIT_PAGE: the tuple is the first on a fresh page. */
  readonly initPage: boolean;
  /** Undefined when the block carries a full-page image and the tuple was left out. */
  readonly tuple: LoggedTuple | undefined;
}

/** XLOG_HEAP_DELETE (heap_xlog_delete). Block 0: the heap page. */
export interface HeapDelete extends DescriptionBase {
  readonly kind: 'heap.delete';
  readonly xmax: TransactionId;
  readonly offnum: number;
  readonly infobitsSet: number;
  readonly flags: number;
  /** The old tuple or its replica-identity key, for logical decoding (XLH_DELETE_CONTAINS_OLD). */
  readonly oldTuple: LoggedTuple | undefined;
}

/**
 * XLOG_HEAP_UPDATE and XLOG_HEAP_HOT_UPDATE (heap_xlog_update). Block 0: the page that receives the
 * new tuple; block 1: the old tuple's page when it is a different one.
 */
export interface HeapUpdate extends DescriptionBase {
  readonly kind: 'heap.update' | 'heap.hotUpdate';
  readonly oldXmax: TransactionId;
  readonly oldOffnum: number;
  readonly oldInfobitsSet: number;
  readonly flags: number;
  readonly newXmax: TransactionId;
  readonly newOffnum: number;
  readonly initPage: boolean;
  /** Undefined when block 0 carries a full-page image and the tuple was left out. */
  readonly newTuple: UpdateNewTuple | undefined;
  /** The old tuple or its replica-identity key, for logical decoding (XLH_UPDATE_CONTAINS_OLD). */
  readonly oldTuple: LoggedTuple | undefined;
}

/** XLOG_HEAP_TRUNCATE: logical decoding only; the storage changes are smgr records. */
export interface HeapTruncate extends DescriptionBase {
  readonly kind: 'heap.truncate';
  readonly dbId: Oid;
  readonly flags: number;
  readonly relids: readonly Oid[];
}

/** XLOG_HEAP_CONFIRM (heap_xlog_confirm): a speculative insertion succeeded. Block 0: the heap page. */
export interface HeapConfirm extends DescriptionBase {
  readonly kind: 'heap.confirm';
  readonly offnum: number;
}

/** XLOG_HEAP_LOCK (heap_xlog_lock). Block 0: the heap page. */
export interface HeapLock extends DescriptionBase {
  readonly kind: 'heap.lock';
  /** Might be a MultiXactId (XLHL_XMAX_IS_MULTI). */
  readonly lockingXid: TransactionId;
  readonly offnum: number;
  readonly infobitsSet: number;
  readonly flags: number;
}

/** XLOG_HEAP_INPLACE (heap_xlog_inplace). Block 0: the heap page. */
export interface HeapInplace extends DescriptionBase {
  readonly kind: 'heap.inplace';
  readonly offnum: number;
  /** The tuple's new bytes after t_hoff; undefined when the block carries a full-page image instead. */
  readonly data: Uint8Array | undefined;
}

export type HeapRecord = HeapInsert | HeapDelete | HeapUpdate | HeapTruncate | HeapConfirm | HeapLock | HeapInplace;

/** Reads an xl_heap_header. */
export function readHeapHeader(r: ByteReader): XlHeapHeader {
  const infomask2 = r.u16('xl_heap_header.t_infomask2');
  const infomask = r.u16('xl_heap_header.t_infomask');
  const hoff = r.u8('xl_heap_header.t_hoff');
  return { infomask2, infomask, hoff };
}

/**
 * A logged tuple read in place: the view of its bytes is made when first asked for (waldump never
 * asks, redo always does), as views cost more than the rest of describing a heap record.
 */
class TupleInRecord implements UpdateNewTuple {
  #data: Uint8Array | undefined;

  constructor(
    readonly header: XlHeapHeader,
    private readonly source: Uint8Array,
    private readonly start: number,
    private readonly length: number,
    readonly prefixLen: number,
    readonly suffixLen: number,
  ) {}

  get data(): Uint8Array {
    return (this.#data ??= this.source.subarray(this.start, this.start + this.length));
  }
}

/** An xl_heap_header and the tuple bytes after it, up to the end of the reader (which it consumes). */
function readLoggedTuple(r: ByteReader): LoggedTuple {
  const header = readHeapHeader(r);
  const start = r.offset;
  r.offset = r.end;
  return new TupleInRecord(header, r.bytes, start, r.end - start, 0, 0);
}

/**
 * The tuple in a block's data: `prefixBytes` of other fields (UPDATE's prefix and suffix lengths),
 * then an xl_heap_header, then the tuple bytes to the end of the data.
 */
function blockTuple(record: WalRecord, block: BlockRef, prefixBytes: number, prefixLen: number, suffixLen: number): UpdateNewTuple {
  const b = blockDataBytes(block);
  const o = blockDataStruct(record, block, prefixBytes + SIZE_OF_HEAP_HEADER, 'xl_heap_header') + prefixBytes;
  const header = { infomask2: readU16(b, o), infomask: readU16(b, o + 2), hoff: b[o + 4]! };
  const start = o + SIZE_OF_HEAP_HEADER;
  return new TupleInRecord(header, b, start, blockDataEnd(block) - start, prefixLen, suffixLen);
}

/** A reader of the main data after its fixed struct of `size` bytes (the old tuple of DELETE and UPDATE). */
function afterStruct(record: WalRecord, size: number): ByteReader {
  const r = mainDataReader(record);
  r.skip(size);
  return r;
}

/** The block reference redo cannot do without, or a MALFORMED_PAYLOAD error. */
export function requireBlock(record: WalRecord, id: number, what: string): BlockRef {
  const b = record.blocks[id];
  if (b === undefined) malformedPayload(record, `${what} needs block reference ${id}, which is missing`);
  return b;
}

/** The 'vm.clear' effect for the heap page of block reference `id`. */
export function vmClear(record: WalRecord, id: number, flags: number): Effect {
  const b = requireBlock(record, id, 'clearing visibility-map bits');
  return { kind: 'vm.clear', rel: b.rel, heapBlock: b.blkno, flags };
}

const HEAP_BLOCK = new BlockUseSpec([[0, 'heap']]);
const UPDATE_BLOCKS = new BlockUseSpec([
  [0, 'new'],
  [1, 'old'],
]);

// The fixed structs of the main data (heapam_xlog.h): their members' offsets and SizeOf*, the one
// statement of their layout, read by describe and putFast alike.
/** xl_heap_insert: offnum u16, flags u8. */
const XL_HEAP_INSERT = { offnum: 0, flags: 2, size: 3 } as const;
/** xl_heap_delete: xmax u32, offnum u16, infobits_set u8, flags u8. */
const XL_HEAP_DELETE = { xmax: 0, offnum: 4, infobitsSet: 6, flags: 7, size: 8 } as const;
/** xl_heap_update: old_xmax u32, old_offnum u16, old_infobits_set u8, flags u8, new_xmax u32, new_offnum u16. */
const XL_HEAP_UPDATE = { oldXmax: 0, oldOffnum: 4, oldInfobitsSet: 6, flags: 7, newXmax: 8, newOffnum: 12, size: 14 } as const;
/** xl_heap_lock: locking_xid u32, offnum u16, infobits_set u8, flags u8. */
const XL_HEAP_LOCK = { lockingXid: 0, offnum: 4, infobitsSet: 6, flags: 7, size: 8 } as const;
/** SizeOfHeapHeader: t_infomask2 u16, t_infomask u16, t_hoff u8. */
const SIZE_OF_HEAP_HEADER = 5;

function insert(record: WalRecord, initPage: boolean): HeapInsert {
  const m = mainDataBytes(record);
  const o = mainDataStruct(record, XL_HEAP_INSERT.size, 'xl_heap_insert');
  const offnum = readU16(m, o + XL_HEAP_INSERT.offnum);
  const flags = m[o + XL_HEAP_INSERT.flags]!;
  const heap = requireBlock(record, 0, 'INSERT');
  const tuple = heap.hasData ? blockTuple(record, heap, 0, 0, 0) : undefined;
  const effects = (flags & XLH_INSERT_ALL_VISIBLE_CLEARED) !== 0 ? [vmClear(record, 0, VISIBILITYMAP_VALID_BITS)] : NO_EFFECTS;
  return { kind: 'heap.insert', offnum, flags, initPage, tuple, blocks: HEAP_BLOCK.uses(record, initPage), effects };
}

function del(record: WalRecord): HeapDelete {
  const m = mainDataBytes(record);
  const o = mainDataStruct(record, XL_HEAP_DELETE.size, 'xl_heap_delete');
  const xmax = readU32(m, o + XL_HEAP_DELETE.xmax) as TransactionId;
  const offnum = readU16(m, o + XL_HEAP_DELETE.offnum);
  const infobitsSet = m[o + XL_HEAP_DELETE.infobitsSet]!;
  const flags = m[o + XL_HEAP_DELETE.flags]!;
  const oldTuple =
    (flags & (XLH_DELETE_CONTAINS_OLD_TUPLE | XLH_DELETE_CONTAINS_OLD_KEY)) !== 0 ? readLoggedTuple(afterStruct(record, XL_HEAP_DELETE.size)) : undefined;
  requireBlock(record, 0, 'DELETE');
  const effects = (flags & XLH_DELETE_ALL_VISIBLE_CLEARED) !== 0 ? [vmClear(record, 0, VISIBILITYMAP_VALID_BITS)] : NO_EFFECTS;
  return { kind: 'heap.delete', xmax, offnum, infobitsSet, flags, oldTuple, blocks: HEAP_BLOCK.uses(record), effects };
}

/** heap_xlog_update's visibilitymap_clear calls: the old page's (block 1, or 0 when it is the new page too) and the new page's. */
function updateEffects(record: WalRecord, flags: number, separateOld: boolean): readonly Effect[] {
  if ((flags & (XLH_UPDATE_OLD_ALL_VISIBLE_CLEARED | XLH_UPDATE_NEW_ALL_VISIBLE_CLEARED)) === 0) return NO_EFFECTS;
  const clears: Effect[] = [];
  if ((flags & XLH_UPDATE_OLD_ALL_VISIBLE_CLEARED) !== 0) clears.push(vmClear(record, separateOld ? 1 : 0, VISIBILITYMAP_VALID_BITS));
  if ((flags & XLH_UPDATE_NEW_ALL_VISIBLE_CLEARED) !== 0) clears.push(vmClear(record, 0, VISIBILITYMAP_VALID_BITS));
  return clears;
}

function update(record: WalRecord, hot: boolean, initPage: boolean): HeapUpdate {
  // Fields are read into locals and the description built in one literal: object spreads here cost
  // more than the rest of the decoding on pgbench WAL.
  const m = mainDataBytes(record);
  const o = mainDataStruct(record, XL_HEAP_UPDATE.size, 'xl_heap_update');
  const oldXmax = readU32(m, o + XL_HEAP_UPDATE.oldXmax) as TransactionId;
  const oldOffnum = readU16(m, o + XL_HEAP_UPDATE.oldOffnum);
  const oldInfobitsSet = m[o + XL_HEAP_UPDATE.oldInfobitsSet]!;
  const flags = m[o + XL_HEAP_UPDATE.flags]!;
  const newXmax = readU32(m, o + XL_HEAP_UPDATE.newXmax) as TransactionId;
  const newOffnum = readU16(m, o + XL_HEAP_UPDATE.newOffnum);
  const oldTuple =
    (flags & (XLH_UPDATE_CONTAINS_OLD_TUPLE | XLH_UPDATE_CONTAINS_OLD_KEY)) !== 0 ? readLoggedTuple(afterStruct(record, XL_HEAP_UPDATE.size)) : undefined;
  const newPage = requireBlock(record, 0, 'UPDATE');
  let newTuple: UpdateNewTuple | undefined;
  if (newPage.hasData) {
    // The prefix and suffix lengths (uint16 each) lead the block data when the flags say so.
    const hasPrefix = (flags & XLH_UPDATE_PREFIX_FROM_OLD) !== 0;
    const hasSuffix = (flags & XLH_UPDATE_SUFFIX_FROM_OLD) !== 0;
    let prefixLen = 0;
    let suffixLen = 0;
    const lengthBytes = (hasPrefix ? 2 : 0) + (hasSuffix ? 2 : 0);
    if (lengthBytes > 0) {
      const d = blockDataBytes(newPage);
      const p = blockDataStruct(record, newPage, lengthBytes, 'prefixlen/suffixlen');
      if (hasPrefix) prefixLen = readU16(d, p);
      if (hasSuffix) suffixLen = readU16(d, hasPrefix ? p + 2 : p);
    }
    newTuple = blockTuple(record, newPage, lengthBytes, prefixLen, suffixLen);
  }
  // heap_xlog_update: without block 1 the old tuple is on the new page, and INIT_PAGE does not apply.
  const separateOld = record.blocks[1] !== undefined;
  const effects = updateEffects(record, flags, separateOld);
  return {
    kind: hot ? 'heap.hotUpdate' : 'heap.update',
    oldXmax,
    oldOffnum,
    oldInfobitsSet,
    flags,
    newXmax,
    newOffnum,
    oldTuple,
    initPage,
    newTuple,
    blocks: UPDATE_BLOCKS.uses(record, initPage && separateOld),
    effects,
  };
}

function truncate(record: WalRecord): HeapTruncate {
  const t = withMainData(record, (r) => {
    const dbId = r.u32('dbId') as Oid;
    const nrelids = r.u32('nrelids');
    const flags = r.u8('flags');
    r.skip(3, 'padding before relids');
    const relids: Oid[] = [];
    for (let i = 0; i < nrelids; i++) relids.push(r.u32('relids[]') as Oid);
    return { dbId, flags, relids };
  });
  return { kind: 'heap.truncate', ...t, blocks: [], effects: NO_EFFECTS };
}

function lock(record: WalRecord): HeapLock {
  const m = mainDataBytes(record);
  const o = mainDataStruct(record, XL_HEAP_LOCK.size, 'xl_heap_lock');
  const lockingXid = readU32(m, o + XL_HEAP_LOCK.lockingXid) as TransactionId;
  const offnum = readU16(m, o + XL_HEAP_LOCK.offnum);
  const infobitsSet = m[o + XL_HEAP_LOCK.infobitsSet]!;
  const flags = m[o + XL_HEAP_LOCK.flags]!;
  requireBlock(record, 0, 'LOCK');
  const effects = (flags & XLH_LOCK_ALL_FROZEN_CLEARED) !== 0 ? [vmClear(record, 0, VISIBILITYMAP_ALL_FROZEN)] : NO_EFFECTS;
  return { kind: 'heap.lock', lockingXid, offnum, infobitsSet, flags, blocks: HEAP_BLOCK.uses(record), effects };
}

function offnumOnly(record: WalRecord): number {
  return mainDataReader(record).u16('offnum');
}

/** heap_redo's dispatch, by `info & XLOG_HEAP_OPMASK`. */
function describe(record: WalRecord): HeapRecord {
  const info = rmgrInfo(record);
  const initPage = (info & XLOG_HEAP_INIT_PAGE) !== 0;
  switch (info & XLOG_HEAP_OPMASK) {
    case XLOG_HEAP_INSERT:
      return insert(record, initPage);
    case XLOG_HEAP_DELETE:
      return del(record);
    case XLOG_HEAP_UPDATE:
      return update(record, false, initPage);
    case XLOG_HEAP_HOT_UPDATE:
      return update(record, true, initPage);
    case XLOG_HEAP_TRUNCATE:
      return truncate(record);
    case XLOG_HEAP_CONFIRM: {
      const offnum = offnumOnly(record);
      requireBlock(record, 0, 'HEAP_CONFIRM');
      return { kind: 'heap.confirm', offnum, blocks: HEAP_BLOCK.uses(record), effects: NO_EFFECTS };
    }
    case XLOG_HEAP_LOCK:
      return lock(record);
    case XLOG_HEAP_INPLACE: {
      const offnum = offnumOnly(record);
      const b = requireBlock(record, 0, 'INPLACE');
      const data = b.hasData ? b.data : undefined;
      return { kind: 'heap.inplace', offnum, data, blocks: HEAP_BLOCK.uses(record), effects: NO_EFFECTS };
    }
    default:
      return unknownType(record);
  }
}

/**
 * What ingest needs of a heap record (walingest.ts): which pages it initialises and its effects (the
 * VM bits it clears), as describe() gives them, without the description (its tuples and fields).
 * Heap records are most of pgbench's WAL, and ingest drops each description at once.
 *
 * The result is one object, overwritten by the next call (ingest reads it before the next record).
 * It checks what those facts rest on, as describe does: the fixed struct is all there and the block
 * references exist. The tuple bytes are left to redo, which describes the record when it applies it.
 * Types other than INSERT, DELETE, UPDATE, HOT_UPDATE and LOCK get describe() itself.
 */
export function describeHeapEffects(record: WalRecord): DescriptionBase {
  const info = rmgrInfo(record);
  const initPage = (info & XLOG_HEAP_INIT_PAGE) !== 0;
  switch (info & XLOG_HEAP_OPMASK) {
    case XLOG_HEAP_INSERT: {
      const flags = mainDataU8(record, XL_HEAP_INSERT.size, XL_HEAP_INSERT.flags, 'xl_heap_insert');
      requireBlock(record, 0, 'INSERT');
      return effectsOnly('heap.insert', HEAP_BLOCK.uses(record, initPage), (flags & XLH_INSERT_ALL_VISIBLE_CLEARED) !== 0 ? [vmClear(record, 0, VISIBILITYMAP_VALID_BITS)] : NO_EFFECTS);
    }
    case XLOG_HEAP_DELETE: {
      const flags = mainDataU8(record, XL_HEAP_DELETE.size, XL_HEAP_DELETE.flags, 'xl_heap_delete');
      requireBlock(record, 0, 'DELETE');
      return effectsOnly('heap.delete', HEAP_BLOCK.uses(record), (flags & XLH_DELETE_ALL_VISIBLE_CLEARED) !== 0 ? [vmClear(record, 0, VISIBILITYMAP_VALID_BITS)] : NO_EFFECTS);
    }
    case XLOG_HEAP_UPDATE:
    case XLOG_HEAP_HOT_UPDATE: {
      const flags = mainDataU8(record, XL_HEAP_UPDATE.size, XL_HEAP_UPDATE.flags, 'xl_heap_update');
      requireBlock(record, 0, 'UPDATE');
      const separateOld = record.blocks[1] !== undefined;
      return effectsOnly((info & XLOG_HEAP_OPMASK) === XLOG_HEAP_HOT_UPDATE ? 'heap.hotUpdate' : 'heap.update', UPDATE_BLOCKS.uses(record, initPage && separateOld), updateEffects(record, flags, separateOld));
    }
    case XLOG_HEAP_LOCK: {
      const flags = mainDataU8(record, XL_HEAP_LOCK.size, XL_HEAP_LOCK.flags, 'xl_heap_lock');
      requireBlock(record, 0, 'LOCK');
      return effectsOnly('heap.lock', HEAP_BLOCK.uses(record), (flags & XLH_LOCK_ALL_FROZEN_CLEARED) !== 0 ? [vmClear(record, 0, VISIBILITYMAP_ALL_FROZEN)] : NO_EFFECTS);
    }
    default:
      return describe(record);
  }
}


/** heapdesc.c's out_infobits. */
export function putInfobits(b: Uint8Array, o: number, infobits: number): number {
  if ((infobits & XLHL_XMAX_IS_MULTI) !== 0) o = putLiteral(b, o, T.isMulti);
  if ((infobits & XLHL_XMAX_LOCK_ONLY) !== 0) o = putLiteral(b, o, T.lockOnly);
  if ((infobits & XLHL_XMAX_EXCL_LOCK) !== 0) o = putLiteral(b, o, T.exclLock);
  if ((infobits & XLHL_XMAX_KEYSHR_LOCK) !== 0) o = putLiteral(b, o, T.keyshrLock);
  if ((infobits & XLHL_KEYS_UPDATED) !== 0) o = putLiteral(b, o, T.keysUpdated);
  return o;
}

/** The fixed pieces of this module's text, encoded once. */
const T = literals({
  isMulti: 'IS_MULTI ',
  lockOnly: 'LOCK_ONLY ',
  exclLock: 'EXCL_LOCK ',
  keyshrLock: 'KEYSHR_LOCK ',
  keysUpdated: 'KEYS_UPDATED ',
  off: 'off ',
  flags0x: ' flags 0x',
  xmax: ' xmax ',
  sNewOff: '; new off ',
  cascade: 'cascade ',
  restartSeqs: 'restart_seqs ',
  nrelids: 'nrelids ',
  relids: ' relids',
  xid: ': xid ',
  colonFlags0x: ': flags 0x',
});

// heap_desc's text for the record types putFast writes too, from the fields.

function putInsertText(b: Uint8Array, o: number, offnum: number, flags: number): number {
  o = putLiteral(b, o, T.off);
  o = putUint(b, o, offnum);
  o = putLiteral(b, o, T.flags0x);
  return putHexByte(b, o, flags);
}

function putDeleteText(b: Uint8Array, o: number, offnum: number, flags: number, infobitsSet: number): number {
  o = putInsertText(b, o, offnum, flags);
  b[o++] = SPACE;
  return putInfobits(b, o, infobitsSet);
}

function putUpdateText(b: Uint8Array, o: number, oldOffnum: number, oldXmax: number, flags: number, oldInfobitsSet: number, newOffnum: number, newXmax: number): number {
  o = putLiteral(b, o, T.off);
  o = putUint(b, o, oldOffnum);
  o = putLiteral(b, o, T.xmax);
  o = putUint(b, o, oldXmax);
  o = putLiteral(b, o, T.flags0x);
  o = putHexByte(b, o, flags);
  b[o++] = SPACE;
  o = putInfobits(b, o, oldInfobitsSet);
  o = putLiteral(b, o, T.sNewOff);
  o = putUint(b, o, newOffnum);
  o = putLiteral(b, o, T.xmax);
  return putUint(b, o, newXmax);
}

function putLockText(b: Uint8Array, o: number, offnum: number, lockingXid: number, flags: number, infobitsSet: number): number {
  o = putLiteral(b, o, T.off);
  o = putUint(b, o, offnum);
  o = putLiteral(b, o, T.xid);
  o = putUint(b, o, lockingXid);
  o = putLiteral(b, o, T.colonFlags0x);
  o = putHexByte(b, o, flags);
  b[o++] = SPACE;
  return putInfobits(b, o, infobitsSet);
}

/** heap_desc */
function put(b: Uint8Array, o: number, d: HeapRecord): number {
  switch (d.kind) {
    case 'heap.insert':
      return putInsertText(b, o, d.offnum, d.flags);
    case 'heap.delete':
      return putDeleteText(b, o, d.offnum, d.flags, d.infobitsSet);
    case 'heap.update':
    case 'heap.hotUpdate':
      return putUpdateText(b, o, d.oldOffnum, d.oldXmax, d.flags, d.oldInfobitsSet, d.newOffnum, d.newXmax);
    case 'heap.truncate':
      if ((d.flags & XLH_TRUNCATE_CASCADE) !== 0) o = putLiteral(b, o, T.cascade);
      if ((d.flags & XLH_TRUNCATE_RESTART_SEQS) !== 0) o = putLiteral(b, o, T.restartSeqs);
      o = putLiteral(b, o, T.nrelids);
      o = putUint(b, o, d.relids.length);
      o = putLiteral(b, o, T.relids);
      for (const id of d.relids) {
        b[o++] = SPACE;
        o = putUint(b, o, id);
      }
      return o;
    case 'heap.confirm':
    case 'heap.inplace':
      o = putLiteral(b, o, T.off);
      return putUint(b, o, d.offnum);
    case 'heap.lock':
      return putLockText(b, o, d.offnum, d.lockingXid, d.flags, d.infobitsSet);
  }
}

/**
 * heap_desc for INSERT, DELETE, UPDATE, HOT_UPDATE and LOCK read straight from the main data (see
 * RmgrModule.putFast). Each needs block 0, as describe does (requireBlock); what describe checks in
 * the block data and in an old tuple after the struct is not looked at, as heap_desc does not.
 */
function putFast(b: Uint8Array, o: number, record: WalRecord): number {
  if (record.blocks[0] === undefined) return NOT_WRITTEN;
  const m = mainDataBytes(record);
  const s = mainDataStart(record);
  const length = mainDataLength(record);
  switch (record.info & XLOG_HEAP_OPMASK) {
    case XLOG_HEAP_INSERT:
      if (length < XL_HEAP_INSERT.size) return NOT_WRITTEN;
      return putInsertText(b, o, readU16(m, s + XL_HEAP_INSERT.offnum), m[s + XL_HEAP_INSERT.flags]!);
    case XLOG_HEAP_DELETE:
      if (length < XL_HEAP_DELETE.size) return NOT_WRITTEN;
      return putDeleteText(b, o, readU16(m, s + XL_HEAP_DELETE.offnum), m[s + XL_HEAP_DELETE.flags]!, m[s + XL_HEAP_DELETE.infobitsSet]!);
    case XLOG_HEAP_UPDATE:
    case XLOG_HEAP_HOT_UPDATE:
      if (length < XL_HEAP_UPDATE.size) return NOT_WRITTEN;
      return putUpdateText(
        b,
        o,
        readU16(m, s + XL_HEAP_UPDATE.oldOffnum),
        readU32(m, s + XL_HEAP_UPDATE.oldXmax),
        m[s + XL_HEAP_UPDATE.flags]!,
        m[s + XL_HEAP_UPDATE.oldInfobitsSet]!,
        readU16(m, s + XL_HEAP_UPDATE.newOffnum),
        readU32(m, s + XL_HEAP_UPDATE.newXmax),
      );
    case XLOG_HEAP_LOCK:
      if (length < XL_HEAP_LOCK.size) return NOT_WRITTEN;
      return putLockText(b, o, readU16(m, s + XL_HEAP_LOCK.offnum), readU32(m, s + XL_HEAP_LOCK.lockingXid), m[s + XL_HEAP_LOCK.flags]!, m[s + XL_HEAP_LOCK.infobitsSet]!);
    default:
      return NOT_WRITTEN;
  }
}

/** heap_identify */
function identify(info: number): string | undefined {
  switch (info & 0xf0) {
    case XLOG_HEAP_INSERT:
      return 'INSERT';
    case XLOG_HEAP_INSERT | XLOG_HEAP_INIT_PAGE:
      return 'INSERT+INIT';
    case XLOG_HEAP_DELETE:
      return 'DELETE';
    case XLOG_HEAP_UPDATE:
      return 'UPDATE';
    case XLOG_HEAP_UPDATE | XLOG_HEAP_INIT_PAGE:
      return 'UPDATE+INIT';
    case XLOG_HEAP_HOT_UPDATE:
      return 'HOT_UPDATE';
    case XLOG_HEAP_HOT_UPDATE | XLOG_HEAP_INIT_PAGE:
      return 'HOT_UPDATE+INIT';
    case XLOG_HEAP_TRUNCATE:
      return 'TRUNCATE';
    case XLOG_HEAP_CONFIRM:
      return 'HEAP_CONFIRM';
    case XLOG_HEAP_LOCK:
      return 'LOCK';
    case XLOG_HEAP_INPLACE:
      return 'INPLACE';
    default:
      return undefined;
  }
}

export const heapRmgr: RmgrModule<HeapRecord> = {
  id: RM_HEAP_ID,
  name: 'Heap',
  identify,
  describe,
  put,
  putFast,
};
