/**
 * Heap2 records (RM_HEAP2_ID): heapam.c's second resource manager, for what no longer fitted in
 * RM_HEAP's opcodes — pruning and vacuuming line pointers, freezing tuples, setting visibility-map
 * bits, multi-row inserts (COPY), locking updated row versions, and the two records that exist only
 * for logical decoding (NEW_CID and the REWRITE mapping files).
 *
 * Mirrors heapdesc.c (heap2_identify, heap2_desc) for the text and reads everything heap2_redo's
 * routines read, from the main data and from block 0's data. Like heap2_redo, the opcode is
 * `info & XLOG_HEAP_OPMASK`.
 */
import { readU16, readU32, type ByteReader } from '../../pg/bytes.js';
import type { Lsn } from '../../pg/lsn.js';
import { RM_HEAP2_ID } from '../../pg/rmgr-ids.js';
import type { BlockNumber, Oid, RelFileNode, TransactionId } from '../../pg/types.js';
import { effectsOnly, NO_EFFECTS, type BlockUse, type DescriptionBase, type Effect } from '../describe.js';
import type { BlockRef, WalRecord } from '../record.js';
import {
  FIRST_OFFSET_NUMBER,
  VISIBILITYMAP_ALL_FROZEN,
  VISIBILITYMAP_VALID_BITS,
  XLH_INSERT_ALL_VISIBLE_CLEARED,
  XLH_LOCK_ALL_FROZEN_CLEARED,
  XLOG_HEAP_INIT_PAGE,
  XLOG_HEAP_OPMASK,
  putInfobits,
  requireBlock,
  vmClear,
  type XlHeapHeader,
} from './heap.js';
import { literals, putHexByte, putLiteral, putUint } from '../text-buffer.js';
import {
  blockDataBytes,
  blockDataEnd,
  blockDataReader,
  blockDataStruct,
  BlockUseSpec,
  mainDataBytes,
  mainDataLength,
  mainDataReader,
  mainDataStart,
  mainDataStruct,
  mainDataU8,
  malformedPayload,
  NOT_WRITTEN,
  rmgrInfo,
  unknownType,
  withMainData,
  type RmgrModule,
} from './rmgr.js';

const SPACE = 0x20;
const SLASH = 0x2f;

export const XLOG_HEAP2_REWRITE = 0x00;
export const XLOG_HEAP2_PRUNE = 0x10;
export const XLOG_HEAP2_VACUUM = 0x20;
export const XLOG_HEAP2_FREEZE_PAGE = 0x30;
export const XLOG_HEAP2_VISIBLE = 0x40;
export const XLOG_HEAP2_MULTI_INSERT = 0x50;
export const XLOG_HEAP2_LOCK_UPDATED = 0x60;
export const XLOG_HEAP2_NEW_CID = 0x70;

// xl_heap_freeze_tuple.frzflags (0x01 was XLH_FREEZE_XMIN)
export const XLH_FREEZE_XVAC = 0x02;
export const XLH_INVALID_XVAC = 0x04;

/** sizeof(xl_heap_freeze_tuple): 11 bytes of fields padded to 12. */
const SIZEOF_FREEZE_TUPLE = 12;
/** sizeof(xl_heap_rewrite_mapping) on x86-64 (off_t and XLogRecPtr are 8-aligned). */
const SIZEOF_REWRITE_MAPPING = 40;
/** sizeof(LogicalRewriteMappingData): two RelFileNodes and two ItemPointerData. */
const SIZEOF_REWRITE_MAPPING_DATA = 36;

/** ItemPointerData: a tuple's block and line pointer. */
export interface ItemPointer {
  readonly block: BlockNumber;
  readonly offset: number;
}

/**
 * XLOG_HEAP2_PRUNE (heap_xlog_prune). Block 0: the heap page, cleanup-locked. The offset arrays come
 * from block 0's data and are empty when the block carries a full-page image instead.
 */
export interface Heap2Prune extends DescriptionBase {
  readonly kind: 'heap2.prune';
  readonly latestRemovedXid: TransactionId;
  readonly nredirected: number;
  readonly ndead: number;
  /** Pairs of (line pointer, the offset it now redirects to). */
  readonly redirected: readonly (readonly [from: number, to: number])[];
  readonly nowDead: readonly number[];
  readonly nowUnused: readonly number[];
}

/** XLOG_HEAP2_VACUUM (heap_xlog_vacuum): LP_DEAD items become LP_UNUSED. Block 0: the heap page. */
export interface Heap2Vacuum extends DescriptionBase {
  readonly kind: 'heap2.vacuum';
  readonly nunused: number;
  /** From block 0's data; empty when the block carries a full-page image instead. */
  readonly nowUnused: readonly number[];
}

/** xl_heap_freeze_tuple: the freeze plan for one tuple (heap_execute_freeze_tuple). */
export interface FreezeTuple {
  readonly xmax: TransactionId;
  readonly offset: number;
  readonly infomask2: number;
  readonly infomask: number;
  readonly frzflags: number;
}

/** XLOG_HEAP2_FREEZE_PAGE (heap_xlog_freeze_page). Block 0: the heap page. */
export interface Heap2FreezePage extends DescriptionBase {
  readonly kind: 'heap2.freezePage';
  readonly cutoffXid: TransactionId;
  readonly ntuples: number;
  /** From block 0's data; empty when the block carries a full-page image instead. */
  readonly tuples: readonly FreezeTuple[];
}

/**
 * XLOG_HEAP2_VISIBLE (heap_xlog_visible): set `flags` in the visibility map for the heap page.
 * Block 0: the visibility-map page; block 1: the heap page (PD_ALL_VISIBLE is set on it).
 */
export interface Heap2Visible extends DescriptionBase {
  readonly kind: 'heap2.visible';
  readonly cutoffXid: TransactionId;
  readonly flags: number;
}

/** One tuple of a MULTI_INSERT: xl_multi_insert_tuple and its data. */
export interface MultiInsertTuple {
  /** Where redo puts it: offsets[i] from the main data, or FirstOffsetNumber + i on a new page. */
  readonly offnum: number;
  readonly header: XlHeapHeader;
  /** bitmap [+ padding] [+ oid] + data, a view into the record. */
  readonly data: Uint8Array;
}

/** XLOG_HEAP2_MULTI_INSERT (heap_xlog_multi_insert). Block 0: the heap page. */
export interface Heap2MultiInsert extends DescriptionBase {
  readonly kind: 'heap2.multiInsert';
  readonly flags: number;
  readonly ntuples: number;
  readonly initPage: boolean;
  /** The target offsets: from the main data, or 1..ntuples with XLOG_HEAP_INIT_PAGE. */
  readonly offsets: readonly number[];
  /** From block 0's data; empty when the block carries a full-page image instead. */
  readonly tuples: readonly MultiInsertTuple[];
}

/** XLOG_HEAP2_LOCK_UPDATED (heap_xlog_lock_updated). Block 0: the heap page. */
export interface Heap2LockUpdated extends DescriptionBase {
  readonly kind: 'heap2.lockUpdated';
  readonly xmax: TransactionId;
  readonly offnum: number;
  readonly infobitsSet: number;
  readonly flags: number;
}

/** XLOG_HEAP2_NEW_CID: logical decoding's catalog command ids; redo does nothing. */
export interface Heap2NewCid extends DescriptionBase {
  readonly kind: 'heap2.newCid';
  readonly topXid: TransactionId;
  readonly cmin: number;
  readonly cmax: number;
  readonly combocid: number;
  readonly targetNode: RelFileNode;
  readonly targetTid: ItemPointer;
}

/** LogicalRewriteMappingData */
export interface RewriteMapping {
  readonly oldNode: RelFileNode;
  readonly newNode: RelFileNode;
  readonly oldTid: ItemPointer;
  readonly newTid: ItemPointer;
}

/**
 * XLOG_HEAP2_REWRITE (heap_xlog_logical_rewrite): redo writes `mappings` at `offset` of the file
 * pg_logical/mappings/map-<db>-<rel>-<startLsn>-<mappedXid>-<record xid>, truncated there first.
 */
export interface Heap2Rewrite extends DescriptionBase {
  readonly kind: 'heap2.rewrite';
  readonly mappedXid: TransactionId;
  readonly mappedDb: Oid;
  readonly mappedRel: Oid;
  readonly offset: bigint;
  readonly numMappings: number;
  readonly startLsn: Lsn;
  readonly mappings: readonly RewriteMapping[];
}

export type Heap2Record =
  | Heap2Prune
  | Heap2Vacuum
  | Heap2FreezePage
  | Heap2Visible
  | Heap2MultiInsert
  | Heap2LockUpdated
  | Heap2NewCid
  | Heap2Rewrite;

function readRelFileNode(r: ByteReader, what: string): RelFileNode {
  return { spcNode: r.u32(`${what}.spcNode`) as Oid, dbNode: r.u32(`${what}.dbNode`) as Oid, relNode: r.u32(`${what}.relNode`) as Oid };
}

/** ItemPointerData: bi_hi, bi_lo, ip_posid. */
export function readItemPointer(r: ByteReader, what: string): ItemPointer {
  const hi = r.u16(`${what}.bi_hi`);
  const lo = r.u16(`${what}.bi_lo`);
  const offset = r.u16(`${what}.ip_posid`);
  return { block: (((hi << 16) | lo) >>> 0) as BlockNumber, offset };
}

/** Block 0's data read by `fn`, or `fallback` when the block has no data (a full-page image instead). */
function blockData<T>(record: WalRecord, fn: (r: ByteReader) => T, fallback: T): T {
  const b = requireBlock(record, 0, 'this record');
  return b.hasData ? fn(blockDataReader(record, b, 'block 0 data')) : fallback;
}

function offsetArray(r: ByteReader, n: number, what: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(r.u16(what));
  return out;
}

const NO_OFFSETS: readonly number[] = Object.freeze([]);
const NO_REDIRECTS: readonly (readonly [number, number])[] = Object.freeze([]);
const HEAP_BLOCK = new BlockUseSpec([[0, 'heap']]);
const VISIBLE_BLOCKS = new BlockUseSpec([
  [0, 'vm'],
  [1, 'heap'],
]);

/** SizeOfMultiInsertTuple: datalen u16, t_infomask2 u16, t_infomask u16, t_hoff u8. */
const SIZE_OF_MULTI_INSERT_TUPLE = 7;
// The fixed structs of the main data (heapam_xlog.h): their members' offsets and SizeOf*, the one
// statement of their layout, read by describe and putFast alike.
/** xl_heap_prune: latestRemovedXid u32, nredirected u16, ndead u16. */
const XL_HEAP_PRUNE = { latestRemovedXid: 0, nredirected: 4, ndead: 6, size: 8 } as const;
/** xl_heap_vacuum: nunused u16. */
const XL_HEAP_VACUUM = { nunused: 0, size: 2 } as const;
/** xl_heap_freeze_page: cutoff_xid u32, ntuples u16. */
const XL_HEAP_FREEZE_PAGE = { cutoffXid: 0, ntuples: 4, size: 6 } as const;
/** xl_heap_visible: cutoff_xid u32, flags u8. */
const XL_HEAP_VISIBLE = { cutoffXid: 0, flags: 4, size: 5 } as const;
/** xl_heap_multi_insert: flags u8, (padding), ntuples u16, then offsets[ntuples] unless INIT_PAGE. */
const XL_HEAP_MULTI_INSERT = { flags: 0, ntuples: 2, size: 4 } as const;

/** `n` OffsetNumbers (uint16) at `b[o]`, in a list of exactly that size. */
function offsetsAt(b: Uint8Array, o: number, n: number): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = readU16(b, o + 2 * i);
  return out;
}

function prune(record: WalRecord): Heap2Prune {
  const m = mainDataBytes(record);
  const mo = mainDataStruct(record, XL_HEAP_PRUNE.size, 'xl_heap_prune');
  const latestRemovedXid = readU32(m, mo + XL_HEAP_PRUNE.latestRemovedXid) as TransactionId;
  const nredirected = readU16(m, mo + XL_HEAP_PRUNE.nredirected);
  const ndead = readU16(m, mo + XL_HEAP_PRUNE.ndead);
  let redirected: readonly (readonly [number, number])[] = NO_REDIRECTS;
  let nowDead: readonly number[] = NO_OFFSETS;
  let nowUnused: readonly number[] = NO_OFFSETS;
  const heap = requireBlock(record, 0, 'PRUNE');
  if (heap.hasData) {
    // Block 0's data: the redirect pairs, the now-dead offsets, then the now-unused offsets, whose
    // count is not stored: they are the rest.
    const b = blockDataBytes(heap);
    const fixedBytes = 4 * nredirected + 2 * ndead;
    let o = blockDataStruct(record, heap, fixedBytes, 'redirected and nowdead offsets');
    const unusedBytes = blockDataEnd(heap) - o - fixedBytes;
    if (unusedBytes % 2 !== 0) malformedPayload(record, `PRUNE block 0 data leaves ${unusedBytes} bytes for now-unused offsets, not a whole number of them`);
    if (nredirected > 0) {
      const pairs = new Array<readonly [number, number]>(nredirected);
      for (let i = 0; i < nredirected; i++, o += 4) pairs[i] = [readU16(b, o), readU16(b, o + 2)];
      redirected = pairs;
    }
    if (ndead > 0) nowDead = offsetsAt(b, o, ndead);
    o += 2 * ndead;
    if (unusedBytes > 0) nowUnused = offsetsAt(b, o, unusedBytes / 2);
  }
  return { kind: 'heap2.prune', latestRemovedXid, nredirected, ndead, redirected, nowDead, nowUnused, blocks: HEAP_BLOCK.uses(record), effects: NO_EFFECTS };
}

function vacuum(record: WalRecord): Heap2Vacuum {
  const nunused = readU16(mainDataBytes(record), mainDataStruct(record, XL_HEAP_VACUUM.size, 'xl_heap_vacuum') + XL_HEAP_VACUUM.nunused);
  const nowUnused = blockData(record, (r) => offsetArray(r, nunused, 'nowunused[]'), []);
  return { kind: 'heap2.vacuum', nunused, nowUnused, blocks: HEAP_BLOCK.uses(record), effects: NO_EFFECTS };
}

function freezePage(record: WalRecord): Heap2FreezePage {
  const m = mainDataBytes(record);
  const mo = mainDataStruct(record, XL_HEAP_FREEZE_PAGE.size, 'xl_heap_freeze_page');
  const cutoffXid = readU32(m, mo + XL_HEAP_FREEZE_PAGE.cutoffXid) as TransactionId;
  const ntuples = readU16(m, mo + XL_HEAP_FREEZE_PAGE.ntuples);
  const tuples = blockData(
    record,
    (r) => {
      const out: FreezeTuple[] = [];
      for (let i = 0; i < ntuples; i++) {
        const start = r.offset;
        r.need(SIZEOF_FREEZE_TUPLE, 'xl_heap_freeze_tuple[]');
        out.push({
          xmax: r.u32('xmax') as TransactionId,
          offset: r.u16('offset'),
          infomask2: r.u16('t_infomask2'),
          infomask: r.u16('t_infomask'),
          frzflags: r.u8('frzflags'),
        });
        r.offset = start + SIZEOF_FREEZE_TUPLE;
      }
      return out;
    },
    [],
  );
  return { kind: 'heap2.freezePage', cutoffXid, ntuples, tuples, blocks: HEAP_BLOCK.uses(record), effects: NO_EFFECTS };
}

function visible(record: WalRecord): Heap2Visible {
  const m = mainDataBytes(record);
  const o = mainDataStruct(record, XL_HEAP_VISIBLE.size, 'xl_heap_visible');
  const cutoffXid = readU32(m, o + XL_HEAP_VISIBLE.cutoffXid) as TransactionId;
  const flags = m[o + XL_HEAP_VISIBLE.flags]!;
  requireBlock(record, 0, 'VISIBLE');
  requireBlock(record, 1, 'VISIBLE');
  return { kind: 'heap2.visible', cutoffXid, flags, blocks: VISIBLE_BLOCKS.uses(record), effects: NO_EFFECTS };
}

/** One tuple of a MULTI_INSERT read in place; the view of its bytes is made when first asked for. */
class MultiInsertTupleInRecord implements MultiInsertTuple {
  #data: Uint8Array | undefined;

  constructor(
    readonly offnum: number,
    readonly header: XlHeapHeader,
    private readonly source: Uint8Array,
    private readonly start: number,
    private readonly length: number,
  ) {}

  get data(): Uint8Array {
    return (this.#data ??= this.source.subarray(this.start, this.start + this.length));
  }
}

/**
 * Walks the xl_multi_insert_tuples of block 0's data (SHORTALIGNed, each with its data), calling
 * `each` with the fields and where the data lies; checks they fill the data exactly.
 */
function walkMultiInsertTuples(
  record: WalRecord,
  block: BlockRef,
  ntuples: number,
  each?: (i: number, infomask2: number, infomask: number, hoff: number, start: number, datalen: number) => void,
): void {
  // Read in place, one bounds check per tuple header: COPY logs a hundred tuples a record.
  const b = blockDataBytes(block);
  const start = blockDataStruct(record, block, 0, 'xl_multi_insert_tuple');
  const end = blockDataEnd(block);
  let o = start;
  for (let i = 0; i < ntuples; i++) {
    o += (o - start) & 1; // xl_multi_insert_tuple is SHORTALIGNed
    if (o + SIZE_OF_MULTI_INSERT_TUPLE > end) malformedPayload(record, `MULTI_INSERT block 0 data ends in the header of tuple ${i} of ${ntuples}`);
    // datalen u16, t_infomask2 u16, t_infomask u16, t_hoff u8
    const datalen = readU16(b, o);
    const data = o + SIZE_OF_MULTI_INSERT_TUPLE;
    if (data + datalen > end) malformedPayload(record, `MULTI_INSERT block 0 data ends in the data of tuple ${i} of ${ntuples}`);
    if (each !== undefined) each(i, readU16(b, o + 2), readU16(b, o + 4), b[o + 6]!, data, datalen);
    o = data + datalen;
  }
  // heap_xlog_multi_insert: "total tuple length mismatch"
  if (o !== end) malformedPayload(record, `MULTI_INSERT block 0 data has ${end - o} bytes after ${ntuples} tuples`);
}

/**
 * XLOG_HEAP2_MULTI_INSERT's description. Its tuples (often a hundred, each two objects) are checked
 * when the record is described and made when first asked for: only redo asks.
 */
class MultiInsertDescription implements Heap2MultiInsert {
  readonly kind = 'heap2.multiInsert' as const;
  #tuples: readonly MultiInsertTuple[] | undefined;

  constructor(
    private readonly record: WalRecord,
    readonly flags: number,
    readonly ntuples: number,
    readonly offsets: readonly number[],
    readonly initPage: boolean,
    readonly blocks: readonly BlockUse[],
    readonly effects: readonly Effect[],
  ) {}

  get tuples(): readonly MultiInsertTuple[] {
    if (this.#tuples !== undefined) return this.#tuples;
    const block = this.record.blocks[0];
    const out: MultiInsertTuple[] = [];
    if (block !== undefined && block.hasData) {
      const bytes = blockDataBytes(block);
      walkMultiInsertTuples(this.record, block, this.ntuples, (i, infomask2, infomask, hoff, start, datalen) =>
        out.push(new MultiInsertTupleInRecord(this.offsets[i]!, { infomask2, infomask, hoff }, bytes, start, datalen)),
      );
    }
    return (this.#tuples = out);
  }
}

function multiInsert(record: WalRecord, initPage: boolean): Heap2MultiInsert {
  const m = mainDataBytes(record);
  const mo = mainDataStruct(record, XL_HEAP_MULTI_INSERT.size, 'xl_heap_multi_insert');
  const flags = m[mo + XL_HEAP_MULTI_INSERT.flags]!;
  const ntuples = readU16(m, mo + XL_HEAP_MULTI_INSERT.ntuples);
  const offsets = new Array<number>(ntuples);
  if (initPage) for (let i = 0; i < ntuples; i++) offsets[i] = FIRST_OFFSET_NUMBER + i;
  else {
    const at = mainDataStruct(record, XL_HEAP_MULTI_INSERT.size + 2 * ntuples, 'xl_heap_multi_insert.offsets[]') + XL_HEAP_MULTI_INSERT.size;
    for (let i = 0; i < ntuples; i++) offsets[i] = readU16(m, at + 2 * i);
  }
  const heap = requireBlock(record, 0, 'MULTI_INSERT');
  if (heap.hasData) walkMultiInsertTuples(record, heap, ntuples);
  const effects = (flags & XLH_INSERT_ALL_VISIBLE_CLEARED) !== 0 ? [vmClear(record, 0, VISIBILITYMAP_VALID_BITS)] : NO_EFFECTS;
  return new MultiInsertDescription(record, flags, ntuples, offsets, initPage, HEAP_BLOCK.uses(record, initPage), effects);
}

function lockUpdated(record: WalRecord): Heap2LockUpdated {
  const r = mainDataReader(record);
  const xmax = r.u32('xmax') as TransactionId;
  const offnum = r.u16('offnum');
  const infobitsSet = r.u8('infobits_set');
  const flags = r.u8('flags');
  requireBlock(record, 0, 'LOCK_UPDATED');
  const effects: readonly Effect[] =
    (flags & XLH_LOCK_ALL_FROZEN_CLEARED) !== 0 ? [vmClear(record, 0, VISIBILITYMAP_ALL_FROZEN)] : NO_EFFECTS;
  return { kind: 'heap2.lockUpdated', xmax, offnum, infobitsSet, flags, blocks: HEAP_BLOCK.uses(record), effects };
}

function newCid(record: WalRecord): Heap2NewCid {
  const c = withMainData(record, (r) => ({
    topXid: r.u32('top_xid') as TransactionId,
    cmin: r.u32('cmin'),
    cmax: r.u32('cmax'),
    combocid: r.u32('combocid'),
    targetNode: readRelFileNode(r, 'target_node'),
    targetTid: readItemPointer(r, 'target_tid'),
  }));
  return { kind: 'heap2.newCid', ...c, blocks: [], effects: NO_EFFECTS };
}

function rewrite(record: WalRecord): Heap2Rewrite {
  const w = withMainData(record, (r) => {
    const mappedXid = r.u32('mapped_xid') as TransactionId;
    const mappedDb = r.u32('mapped_db') as Oid;
    const mappedRel = r.u32('mapped_rel') as Oid;
    r.skip(4, 'padding before offset');
    const offset = r.i64('offset');
    const numMappings = r.u32('num_mappings');
    r.skip(4, 'padding before start_lsn');
    const startLsn = r.u64('start_lsn') as Lsn;
    r.seek(SIZEOF_REWRITE_MAPPING);
    const mappings: RewriteMapping[] = [];
    for (let i = 0; i < numMappings; i++) {
      r.need(SIZEOF_REWRITE_MAPPING_DATA, 'LogicalRewriteMappingData[]');
      mappings.push({
        oldNode: readRelFileNode(r, 'old_node'),
        newNode: readRelFileNode(r, 'new_node'),
        oldTid: readItemPointer(r, 'old_tid'),
        newTid: readItemPointer(r, 'new_tid'),
      });
    }
    return { mappedXid, mappedDb, mappedRel, offset, numMappings, startLsn, mappings };
  });
  return { kind: 'heap2.rewrite', ...w, blocks: [], effects: NO_EFFECTS };
}

/**
 * What ingest needs of a heap2 record (walingest.ts; see describeHeapEffects): PRUNE, VACUUM,
 * VISIBLE and MULTI_INSERT without their offset lists and tuples, checked as far as those facts go
 * (the fixed struct, the block references); other types get describe() itself. One result object,
 * overwritten by the next call.
 */
export function describeHeap2Effects(record: WalRecord): DescriptionBase {
  const info = rmgrInfo(record);
  switch (info & XLOG_HEAP_OPMASK) {
    case XLOG_HEAP2_PRUNE:
      mainDataStruct(record, XL_HEAP_PRUNE.size, 'xl_heap_prune');
      requireBlock(record, 0, 'PRUNE');
      return effectsOnly('heap2.prune', HEAP_BLOCK.uses(record), NO_EFFECTS);
    case XLOG_HEAP2_VACUUM:
      mainDataStruct(record, XL_HEAP_VACUUM.size, 'xl_heap_vacuum');
      return effectsOnly('heap2.vacuum', HEAP_BLOCK.uses(record), NO_EFFECTS);
    case XLOG_HEAP2_VISIBLE:
      mainDataStruct(record, XL_HEAP_VISIBLE.size, 'xl_heap_visible');
      requireBlock(record, 0, 'VISIBLE');
      requireBlock(record, 1, 'VISIBLE');
      return effectsOnly('heap2.visible', VISIBLE_BLOCKS.uses(record), NO_EFFECTS);
    case XLOG_HEAP2_MULTI_INSERT: {
      const initPage = (info & XLOG_HEAP_INIT_PAGE) !== 0;
      const flags = mainDataU8(record, XL_HEAP_MULTI_INSERT.size, XL_HEAP_MULTI_INSERT.flags, 'xl_heap_multi_insert');
      requireBlock(record, 0, 'MULTI_INSERT');
      return effectsOnly('heap2.multiInsert', HEAP_BLOCK.uses(record, initPage), (flags & XLH_INSERT_ALL_VISIBLE_CLEARED) !== 0 ? [vmClear(record, 0, VISIBILITYMAP_VALID_BITS)] : NO_EFFECTS);
    }
    default:
      return describe(record);
  }
}


/** heap2_redo's dispatch, by `info & XLOG_HEAP_OPMASK`. */
function describe(record: WalRecord): Heap2Record {
  const info = rmgrInfo(record);
  switch (info & XLOG_HEAP_OPMASK) {
    case XLOG_HEAP2_PRUNE:
      return prune(record);
    case XLOG_HEAP2_VACUUM:
      return vacuum(record);
    case XLOG_HEAP2_FREEZE_PAGE:
      return freezePage(record);
    case XLOG_HEAP2_VISIBLE:
      return visible(record);
    case XLOG_HEAP2_MULTI_INSERT:
      return multiInsert(record, (info & XLOG_HEAP_INIT_PAGE) !== 0);
    case XLOG_HEAP2_LOCK_UPDATED:
      return lockUpdated(record);
    case XLOG_HEAP2_NEW_CID:
      return newCid(record);
    case XLOG_HEAP2_REWRITE:
      return rewrite(record);
    default:
      return unknownType(record);
  }
}

/** The fixed pieces of this module's text, encoded once. */
const T = literals({
  latestremovedxid: 'latestRemovedXid ',
  nredirected: ' nredirected ',
  ndead: ' ndead ',
  nunused: 'nunused ',
  cutoffXid: 'cutoff xid ',
  ntuples: ' ntuples ',
  flags0x: ' flags 0x',
  tuplesFlags0x: ' tuples flags 0x',
  off: 'off ',
  xmax: ': xmax ',
  colonFlags0x: ': flags 0x',
  rel: 'rel ',
  sTid: '; tid ',
  sCmin: '; cmin: ',
  cCmax: ', cmax: ',
  cCombo: ', combo: ',
});

// heap2_desc's text for the record types putFast writes too, from the fields.

function putPruneText(b: Uint8Array, o: number, latestRemovedXid: number, nredirected: number, ndead: number): number {
  o = putLiteral(b, o, T.latestremovedxid);
  o = putUint(b, o, latestRemovedXid);
  o = putLiteral(b, o, T.nredirected);
  o = putUint(b, o, nredirected);
  o = putLiteral(b, o, T.ndead);
  return putUint(b, o, ndead);
}

function putVacuumText(b: Uint8Array, o: number, nunused: number): number {
  o = putLiteral(b, o, T.nunused);
  return putUint(b, o, nunused);
}

function putFreezePageText(b: Uint8Array, o: number, cutoffXid: number, ntuples: number): number {
  o = putLiteral(b, o, T.cutoffXid);
  o = putUint(b, o, cutoffXid);
  o = putLiteral(b, o, T.ntuples);
  return putUint(b, o, ntuples);
}

function putVisibleText(b: Uint8Array, o: number, cutoffXid: number, flags: number): number {
  o = putLiteral(b, o, T.cutoffXid);
  o = putUint(b, o, cutoffXid);
  o = putLiteral(b, o, T.flags0x);
  return putHexByte(b, o, flags);
}

function putMultiInsertText(b: Uint8Array, o: number, ntuples: number, flags: number): number {
  o = putUint(b, o, ntuples);
  o = putLiteral(b, o, T.tuplesFlags0x);
  return putHexByte(b, o, flags);
}

/** heap2_desc (which has nothing to say about REWRITE). */
function put(b: Uint8Array, o: number, d: Heap2Record): number {
  switch (d.kind) {
    case 'heap2.prune':
      return putPruneText(b, o, d.latestRemovedXid, d.nredirected, d.ndead);
    case 'heap2.vacuum':
      return putVacuumText(b, o, d.nunused);
    case 'heap2.freezePage':
      return putFreezePageText(b, o, d.cutoffXid, d.ntuples);
    case 'heap2.visible':
      return putVisibleText(b, o, d.cutoffXid, d.flags);
    case 'heap2.multiInsert':
      return putMultiInsertText(b, o, d.ntuples, d.flags);
    case 'heap2.lockUpdated':
      o = putLiteral(b, o, T.off);
      o = putUint(b, o, d.offnum);
      o = putLiteral(b, o, T.xmax);
      o = putUint(b, o, d.xmax);
      o = putLiteral(b, o, T.colonFlags0x);
      o = putHexByte(b, o, d.flags);
      b[o++] = SPACE;
      return putInfobits(b, o, d.infobitsSet);
    case 'heap2.newCid': {
      const n = d.targetNode;
      o = putLiteral(b, o, T.rel);
      o = putUint(b, o, n.spcNode);
      b[o++] = SLASH;
      o = putUint(b, o, n.dbNode);
      b[o++] = SLASH;
      o = putUint(b, o, n.relNode);
      o = putLiteral(b, o, T.sTid);
      o = putUint(b, o, d.targetTid.block);
      b[o++] = SLASH;
      o = putUint(b, o, d.targetTid.offset);
      o = putLiteral(b, o, T.sCmin);
      o = putUint(b, o, d.cmin);
      o = putLiteral(b, o, T.cCmax);
      o = putUint(b, o, d.cmax);
      o = putLiteral(b, o, T.cCombo);
      return putUint(b, o, d.combocid);
    }
    case 'heap2.rewrite':
      return o;
  }
}

/** heap2_identify */
function identify(info: number): string | undefined {
  switch (info & 0xf0) {
    case XLOG_HEAP2_PRUNE:
      return 'PRUNE';
    case XLOG_HEAP2_VACUUM:
      return 'VACUUM';
    case XLOG_HEAP2_FREEZE_PAGE:
      return 'FREEZE_PAGE';
    case XLOG_HEAP2_VISIBLE:
      return 'VISIBLE';
    case XLOG_HEAP2_MULTI_INSERT:
      return 'MULTI_INSERT';
    case XLOG_HEAP2_MULTI_INSERT | XLOG_HEAP_INIT_PAGE:
      return 'MULTI_INSERT+INIT';
    case XLOG_HEAP2_LOCK_UPDATED:
      return 'LOCK_UPDATED';
    case XLOG_HEAP2_NEW_CID:
      return 'NEW_CID';
    case XLOG_HEAP2_REWRITE:
      return 'REWRITE';
    default:
      return undefined;
  }
}

/**
 * heap2_desc for PRUNE, VACUUM, FREEZE_PAGE, VISIBLE and MULTI_INSERT read straight from the main
 * data (see RmgrModule.putFast), with the blocks describe requires; the offset arrays and tuples in
 * block 0's data, which describe walks and checks, are not looked at, as heap2_desc does not.
 */
function putFast(b: Uint8Array, o: number, record: WalRecord): number {
  if (record.blocks[0] === undefined) return NOT_WRITTEN;
  const m = mainDataBytes(record);
  const s = mainDataStart(record);
  const length = mainDataLength(record);
  switch (record.info & XLOG_HEAP_OPMASK) {
    case XLOG_HEAP2_PRUNE:
      if (length < XL_HEAP_PRUNE.size) return NOT_WRITTEN;
      return putPruneText(b, o, readU32(m, s + XL_HEAP_PRUNE.latestRemovedXid), readU16(m, s + XL_HEAP_PRUNE.nredirected), readU16(m, s + XL_HEAP_PRUNE.ndead));
    case XLOG_HEAP2_VACUUM:
      if (length < XL_HEAP_VACUUM.size) return NOT_WRITTEN;
      return putVacuumText(b, o, readU16(m, s + XL_HEAP_VACUUM.nunused));
    case XLOG_HEAP2_FREEZE_PAGE:
      if (length < XL_HEAP_FREEZE_PAGE.size) return NOT_WRITTEN;
      return putFreezePageText(b, o, readU32(m, s + XL_HEAP_FREEZE_PAGE.cutoffXid), readU16(m, s + XL_HEAP_FREEZE_PAGE.ntuples));
    case XLOG_HEAP2_VISIBLE:
      if (length < XL_HEAP_VISIBLE.size || record.blocks[1] === undefined) return NOT_WRITTEN;
      return putVisibleText(b, o, readU32(m, s + XL_HEAP_VISIBLE.cutoffXid), m[s + XL_HEAP_VISIBLE.flags]!);
    case XLOG_HEAP2_MULTI_INSERT: {
      if (length < XL_HEAP_MULTI_INSERT.size) return NOT_WRITTEN;
      const ntuples = readU16(m, s + XL_HEAP_MULTI_INSERT.ntuples);
      // Without INIT_PAGE the offsets follow, which describe reads.
      if ((record.info & XLOG_HEAP_INIT_PAGE) === 0 && length < XL_HEAP_MULTI_INSERT.size + 2 * ntuples) return NOT_WRITTEN;
      return putMultiInsertText(b, o, ntuples, m[s + XL_HEAP_MULTI_INSERT.flags]!);
    }
    default:
      return NOT_WRITTEN;
  }
}

export const heap2Rmgr: RmgrModule<Heap2Record> = {
  id: RM_HEAP2_ID,
  name: 'Heap2',
  identify,
  describe,
  put,
  putFast,
};
