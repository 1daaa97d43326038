/**
 * One WAL record taken apart: the fixed header, the block references (relation, fork, block,
 * flags, full-page image and per-block data), origin, top-level xid and main data.
 *
 * Mirrors xlogreader.c's DecodeXLogRecord. Images and data are views into the record's bytes, not
 * copies; `blockImage()` in `image.ts` turns an image into a page. Errors say what was wrong and at
 * which LSN, with xlogreader.c's wording.
 */
import { formatLsn, type Lsn } from '../pg/lsn.js';
import { readU16, readU32 } from '../pg/bytes.js';
import {
  BKPBLOCK_FORK_MASK,
  BKPBLOCK_HAS_DATA,
  BKPBLOCK_HAS_IMAGE,
  BKPBLOCK_SAME_REL,
  BKPBLOCK_WILL_INIT,
  BKPIMAGE_APPLY,
  BKPIMAGE_COMPRESSED_MASK,
  BKPIMAGE_HAS_HOLE,
  BLCKSZ,
  SIZE_OF_XLOG_RECORD,
  XLR_BLOCK_ID_DATA_LONG,
  XLR_BLOCK_ID_DATA_SHORT,
  XLR_BLOCK_ID_ORIGIN,
  XLR_BLOCK_ID_TOPLEVEL_XID,
  XLR_MAX_BLOCK_ID,
} from '../pg/constants.js';
import type { BlockNumber, Oid, RelFileNode, TransactionId } from '../pg/types.js';
import { WalDecodeError } from './errors.js';

/** DecodedBkpBlock */
export interface BlockRef {
  readonly id: number;
  readonly rel: RelFileNode;
  readonly fork: number;
  readonly blkno: BlockNumber;
  /** fork_flags as written. */
  readonly flags: number;
  readonly willInit: boolean;
  readonly hasData: boolean;
  readonly hasImage: boolean;
  /** The image restores the page on redo (not only for wal_consistency_checking). */
  readonly applyImage: boolean;
  readonly bimgLen: number;
  readonly bimgInfo: number;
  readonly holeOffset: number;
  readonly holeLength: number;
  /** The stored image: compressed or with its hole cut out. Empty without an image. */
  readonly image: Uint8Array;
  /** The block's own data. Empty without data. */
  readonly data: Uint8Array;
}

export interface WalRecord {
  /** Where the record starts (ReadRecPtr). */
  readonly lsn: Lsn;
  /** Where the next record starts (EndRecPtr): the LSN redo stamps on pages. */
  readonly endLsn: Lsn;
  readonly totLen: number;
  readonly xid: TransactionId;
  readonly prev: Lsn;
  /** `lsn`, `endLsn` and `prev` as exact numbers (WAL positions stay below 2^53), for hot paths. */
  readonly lsnNumber: number;
  readonly endLsnNumber: number;
  readonly prevNumber: number;
  readonly info: number;
  readonly rmid: number;
  readonly crc: number;
  /** Block references by block id; ids in between may be unused (undefined). */
  readonly blocks: readonly (BlockRef | undefined)[];
  readonly origin: number;
  readonly toplevelXid: TransactionId;
  readonly mainData: Uint8Array;
  /** The whole record, header included (views into it are shared with `blocks` and `mainData`). */
  readonly raw: Uint8Array;
}

const EMPTY: Uint8Array = new Uint8Array(0);
/** The block list of the many records that reference no block, shared. */
const NO_BLOCK_REFS: readonly (BlockRef | undefined)[] = Object.freeze([]);

/**
 * Where decodeRecord gathers a record's block references before copying them to a list of exactly
 * their size (an array grown from empty reserves room for 17). Entries are cleared after each use.
 */
const gathered: (DecodedBlock | undefined)[] = new Array<DecodedBlock | undefined>(XLR_MAX_BLOCK_ID + 1).fill(undefined);
/** The highest entry of `gathered` that may be set: -1 unless a malformed record left some. */
let gatheredMax = -1;

/**
 * A block reference as decoded: header fields at once, the flag bits and the views of its image and
 * data only when asked for (most readers of most records never look at them), from offsets into the
 * record's bytes set after all headers. Small fields share a number each: one of these is made for
 * nearly every record, and their size is a good part of the decoder's garbage.
 */
export class DecodedBlock implements BlockRef {
  /** Where the block's data starts in `source`, once decodeRecord has placed it; its image ends there. */
  dataStart = 0;
  #data: Uint8Array | undefined;

  // Not readonly here (BlockRef is, to everyone else): a RecordRecycler sets them again.
  constructor(
    /** The bytes the record lies in (a pushed chunk, or the record's own reassembly buffer). */
    public source: Uint8Array,
    /** id | fork_flags << 8 | bimg_info << 16 */
    private packed: number,
    public rel: RelFileNode,
    public blkno: BlockNumber,
    public dataLen: number,
    public bimgLen: number,
    /** hole_offset | hole_length << 16 */
    private hole: number,
  ) {}

  /** Makes this the block reference of another record (see RecordRecycler). */
  reset(source: Uint8Array, packed: number, rel: RelFileNode, blkno: BlockNumber, dataLen: number, bimgLen: number, hole: number): void {
    // Stored only when they change: `source` is the chunk most records of a run lie in, often a
    // young object (a view made when the chunk was pushed), and storing a young object into an
    // old one calls V8's write barrier (~4% of decoding).
    if (this.source !== source) this.source = source;
    this.packed = packed;
    if (this.rel !== rel) this.rel = rel;
    this.blkno = blkno;
    this.dataLen = dataLen;
    this.bimgLen = bimgLen;
    this.hole = hole;
    this.dataStart = 0;
    this.#data = undefined;
  }

  get id(): number {
    return this.packed & 0xff;
  }

  get flags(): number {
    return (this.packed >> 8) & 0xff;
  }

  get bimgInfo(): number {
    return this.packed >>> 16;
  }

  get holeOffset(): number {
    return this.hole & 0xffff;
  }

  get holeLength(): number {
    return this.hole >>> 16;
  }

  get fork(): number {
    return (this.packed >> 8) & BKPBLOCK_FORK_MASK;
  }

  get willInit(): boolean {
    return ((this.packed >> 8) & BKPBLOCK_WILL_INIT) !== 0;
  }

  get hasData(): boolean {
    return this.dataLen > 0;
  }

  get hasImage(): boolean {
    return ((this.packed >> 8) & BKPBLOCK_HAS_IMAGE) !== 0;
  }

  get applyImage(): boolean {
    return ((this.packed >> 8) & BKPBLOCK_HAS_IMAGE) !== 0 && ((this.packed >>> 16) & BKPIMAGE_APPLY) !== 0;
  }

  get image(): Uint8Array {
    return this.hasImage ? this.source.subarray(this.dataStart - this.bimgLen, this.dataStart) : EMPTY;
  }

  get data(): Uint8Array {
    return (this.#data ??= this.dataLen > 0 ? this.source.subarray(this.dataStart, this.dataStart + this.dataLen) : EMPTY);
  }
}

/** Throws the error xlogreader.c reports for records whose parts do not add up. */
function malformed(message: string, at: number): never {
  const lsn = lsnOf(at);
  throw new WalDecodeError('MALFORMED_RECORD', `${message} at ${formatLsn(lsn)}`, lsn);
}

function shortData(at: number): never {
  malformed('record with invalid length', at);
}

/** An LSN from a JavaScript number that is exact (below 2^53), without BigInt shifts. */
function lsnOf(n: number): Lsn {
  return BigInt(n) as Lsn;
}

/**
 * Relations decoded lately, by the low bits of their relNode: a record's relation is most often one
 * a recent record named (a workload touches a few tables and indexes), and RelFileNodes are
 * immutable, so they are shared rather than made again for each block reference.
 */
// 256 slots: with 16, the tables and indexes of a pgbench run shared slots and pushed each other
// out, and every new object also cost waldump its cached text of the relation (waldump.ts relText).
const RECENT_RELS_MASK = 255;
const recentRels: RelFileNode[] = Array.from({ length: RECENT_RELS_MASK + 1 }, () => ({ spcNode: 0 as Oid, dbNode: 0 as Oid, relNode: 0 as Oid }));

function relFileNodeAt(b: Uint8Array, o: number): RelFileNode {
  const spcNode = readU32(b, o);
  const dbNode = readU32(b, o + 4);
  const relNode = readU32(b, o + 8);
  const slot = relNode & RECENT_RELS_MASK;
  const recent = recentRels[slot]!;
  if (recent.relNode === relNode && recent.dbNode === dbNode && recent.spcNode === spcNode) return recent;
  return (recentRels[slot] = { spcNode: spcNode as Oid, dbNode: dbNode as Oid, relNode: relNode as Oid });
}

/**
 * The objects one decoded record is made of, kept to be made again into the next record: for a
 * caller done with each record (and all made from it) before it asks for the next, as waldump is
 * (WalDecoderOptions.reuseMemory). Records were most of the decoder's garbage.
 */
export class RecordRecycler {
  record: DecodedRecord | undefined;
  readonly blockObjects: (DecodedBlock | undefined)[] = [];
  /**
   * A block list for each length (highest block id + 1): records of one, two, none blocks follow
   * each other, and setting one list's length to each in turn was a runtime call per record.
   */
  readonly blockLists: (BlockRef | undefined)[][] = [];
}

/**
 * Takes apart a record whose CRC has been checked: `bytes[at, at + xl_tot_len)` holds it (the
 * decoder passes the chunk the record lies in, so no view is made per record); `start` and `end`
 * are its LSN and the next record's, as exact numbers. With `recycler`, the objects of the record
 * decoded before are made into this one.
 */
export function decodeRecord(bytes: Uint8Array, start: number, end: number, at = 0, recycler?: RecordRecycler): WalRecord {
  const totLen = readU32(bytes, at);
  const common = decodeCommonShape(bytes, start, end, at, totLen, recycler);
  if (common !== undefined) return common;
  if (gatheredMax >= 0) {
    for (let i = 0; i <= gatheredMax; i++) gathered[i] = undefined;
    gatheredMax = -1;
  }
  let ptr = at + SIZE_OF_XLOG_RECORD;
  let remaining = totLen - SIZE_OF_XLOG_RECORD;
  let datatotal = 0;

  let origin = 0;
  let toplevelXid = 0;
  let mainDataLen = 0;
  let maxBlockId = -1;
  let lastRel: RelFileNode | null = null;
  // Header fields first; the images and data follow all headers, in block order (as in PostgreSQL).
  while (remaining > datatotal) {
    if (remaining < 1) shortData(start);
    const blockId = bytes[ptr]!;
    ptr += 1;
    remaining -= 1;
    if (blockId === XLR_BLOCK_ID_DATA_SHORT) {
      if (remaining < 1) shortData(start);
      mainDataLen = bytes[ptr]!;
      ptr += 1;
      remaining -= 1;
      datatotal += mainDataLen;
      break; // by convention, the main data fragment is last
    } else if (blockId === XLR_BLOCK_ID_DATA_LONG) {
      if (remaining < 4) shortData(start);
      mainDataLen = readU32(bytes, ptr);
      ptr += 4;
      remaining -= 4;
      datatotal += mainDataLen;
      break;
    } else if (blockId === XLR_BLOCK_ID_ORIGIN) {
      if (remaining < 2) shortData(start);
      origin = readU16(bytes, ptr);
      ptr += 2;
      remaining -= 2;
    } else if (blockId === XLR_BLOCK_ID_TOPLEVEL_XID) {
      if (remaining < 4) shortData(start);
      toplevelXid = readU32(bytes, ptr);
      ptr += 4;
      remaining -= 4;
    } else if (blockId <= XLR_MAX_BLOCK_ID) {
      if (blockId <= maxBlockId) malformed(`out-of-order block_id ${blockId}`, start);
      maxBlockId = blockId;
      if (remaining < 3) shortData(start);
      const flags = bytes[ptr]!;
      const dataLen = readU16(bytes, ptr + 1);
      ptr += 3;
      remaining -= 3;
      const hasData = (flags & BKPBLOCK_HAS_DATA) !== 0;
      if (hasData && dataLen === 0) malformed('BKPBLOCK_HAS_DATA set, but no data included', start);
      if (!hasData && dataLen !== 0) malformed(`BKPBLOCK_HAS_DATA not set, but data length is ${dataLen}`, start);
      datatotal += dataLen;
      let bimgLen = 0;
      let holeOffset = 0;
      let holeLength = 0;
      let bimgInfo = 0;
      if ((flags & BKPBLOCK_HAS_IMAGE) !== 0) {
        if (remaining < 5) shortData(start);
        bimgLen = readU16(bytes, ptr);
        holeOffset = readU16(bytes, ptr + 2);
        bimgInfo = bytes[ptr + 4]!;
        ptr += 5;
        remaining -= 5;
        const compressed = (bimgInfo & BKPIMAGE_COMPRESSED_MASK) !== 0;
        if (compressed) {
          if ((bimgInfo & BKPIMAGE_HAS_HOLE) !== 0) {
            if (remaining < 2) shortData(start);
            holeLength = readU16(bytes, ptr);
            ptr += 2;
            remaining -= 2;
          }
        } else {
          holeLength = BLCKSZ - bimgLen;
        }
        datatotal += bimgLen;
        const hasHole = (bimgInfo & BKPIMAGE_HAS_HOLE) !== 0;
        if (hasHole && (holeOffset === 0 || holeLength === 0 || bimgLen === BLCKSZ))
          malformed(
            `BKPIMAGE_HAS_HOLE set, but hole offset ${holeOffset} length ${holeLength} block image length ${bimgLen}`,
            start,
          );
        if (!hasHole && (holeOffset !== 0 || holeLength !== 0))
          malformed(`BKPIMAGE_HAS_HOLE not set, but hole offset ${holeOffset} length ${holeLength}`, start);
        if (compressed && bimgLen === BLCKSZ)
          malformed(`BKPIMAGE_COMPRESSED set, but block image length ${bimgLen}`, start);
        if (!hasHole && !compressed && bimgLen !== BLCKSZ)
          malformed(
            `neither BKPIMAGE_HAS_HOLE nor BKPIMAGE_COMPRESSED set, but block image length is ${bimgLen}`,
            start,
          );
      }
      let rel: RelFileNode;
      if ((flags & BKPBLOCK_SAME_REL) === 0) {
        if (remaining < 12) shortData(start);
        rel = relFileNodeAt(bytes, ptr);
        ptr += 12;
        remaining -= 12;
        lastRel = rel;
      } else {
        if (lastRel === null) malformed('BKPBLOCK_SAME_REL set but no previous rel', start);
        rel = lastRel;
      }
      if (remaining < 4) shortData(start);
      const blkno = readU32(bytes, ptr);
      ptr += 4;
      remaining -= 4;
      gatheredMax = blockId;
      const packed = blockId | (flags << 8) | (bimgInfo << 16);
      const hole = holeOffset | (holeLength << 16);
      gathered[blockId] = blockOf(recycler, blockId, bytes, packed, rel, blkno as BlockNumber, dataLen, bimgLen, hole);
    } else {
      malformed(`invalid block_id ${blockId}`, start);
    }
  }
  let blocks = NO_BLOCK_REFS;
  if (recycler !== undefined && maxBlockId >= 0) {
    const list = (recycler.blockLists[maxBlockId + 1] ??= new Array<BlockRef | undefined>(maxBlockId + 1).fill(undefined));
    for (let i = 0; i <= maxBlockId; i++) {
      list[i] = gathered[i];
      gathered[i] = undefined;
    }
    gatheredMax = -1;
    blocks = list;
  } else if (maxBlockId === 0) {
    // Most records reference one block, as block 0: a literal is the cheapest exact list.
    blocks = [gathered[0]];
    gathered[0] = undefined;
    gatheredMax = -1;
  } else if (maxBlockId > 0) {
    blocks = gathered.slice(0, maxBlockId + 1);
    for (let i = 0; i <= maxBlockId; i++) gathered[i] = undefined;
    gatheredMax = -1;
  }
  if (remaining !== datatotal) shortData(start);

  // Images and data follow all headers, in block order; their views are made when first asked for.
  for (let i = 0; i <= maxBlockId; i++) {
    const b = blocks[i] as DecodedBlock | undefined;
    if (b === undefined) continue;
    ptr += b.bimgLen;
    b.dataStart = ptr;
    ptr += b.dataLen;
  }

  return recordOf(recycler, bytes, at, start, end, blocks, origin, toplevelXid as TransactionId, ptr, mainDataLen);
}

/** A new record, or with `recycler` the record decoded before made into this one. */
function recordOf(
  recycler: RecordRecycler | undefined,
  bytes: Uint8Array,
  at: number,
  start: number,
  end: number,
  blocks: readonly (BlockRef | undefined)[],
  origin: number,
  toplevelXid: TransactionId,
  mainDataStart: number,
  mainDataLen: number,
): WalRecord {
  if (recycler === undefined) return new DecodedRecord(bytes, at, start, end, blocks, origin, toplevelXid, mainDataStart, mainDataLen);
  if (recycler.record === undefined) recycler.record = new DecodedRecord(bytes, at, start, end, blocks, origin, toplevelXid, mainDataStart, mainDataLen);
  else recycler.record.reset(bytes, at, start, end, blocks, origin, toplevelXid, mainDataStart, mainDataLen);
  return recycler.record;
}

/** Block reference `id`: a new one, or with `recycler` the one of that id of the record before. */
function blockOf(
  recycler: RecordRecycler | undefined,
  id: number,
  bytes: Uint8Array,
  packed: number,
  rel: RelFileNode,
  blkno: BlockNumber,
  dataLen: number,
  bimgLen: number,
  hole: number,
): DecodedBlock {
  const kept = recycler?.blockObjects[id];
  if (kept !== undefined) {
    kept.reset(bytes, packed, rel, blkno, dataLen, bimgLen, hole);
    return kept;
  }
  const block = new DecodedBlock(bytes, packed, rel, blkno, dataLen, bimgLen, hole);
  if (recycler !== undefined) recycler.blockObjects[id] = block;
  return block;
}

/** Block id 0's header without an image: id, fork_flags, data_length, RelFileNode, BlockNumber. */
const ONE_BLOCK_HEADER = 1 + 1 + 2 + 12 + 4;

/**
 * decodeRecord for the shapes of most records: no block and main data of under 256 bytes
 * (XLR_BLOCK_ID_DATA_SHORT); or block 0 without an image and not SAME_REL, then such main data or
 * none, the block's data and the main data ending the record exactly. undefined for any other
 * record, valid or not: decodeRecord then takes it apart in general (and says what is wrong with
 * it), so this accepts only records that path decodes, into the same record.
 */
function decodeCommonShape(bytes: Uint8Array, start: number, end: number, at: number, totLen: number, recycler: RecordRecycler | undefined): WalRecord | undefined {
  const p = at + SIZE_OF_XLOG_RECORD;
  const recordEnd = at + totLen;
  if (bytes[p] === XLR_BLOCK_ID_DATA_SHORT && p + 2 <= recordEnd && recordEnd - (p + 2) === bytes[p + 1]) {
    // No block at all: commits, running-xacts and the like.
    return recordOf(recycler, bytes, at, start, end, NO_BLOCK_REFS, 0, 0 as TransactionId, p + 2, bytes[p + 1]!);
  }
  if (p + ONE_BLOCK_HEADER > recordEnd || bytes[p] !== 0) return undefined;
  const flags = bytes[p + 1]!;
  if ((flags & (BKPBLOCK_HAS_IMAGE | BKPBLOCK_SAME_REL)) !== 0) return undefined;
  const dataLen = readU16(bytes, p + 2);
  if ((flags & BKPBLOCK_HAS_DATA) !== 0 ? dataLen === 0 : dataLen !== 0) return undefined;
  let q = p + ONE_BLOCK_HEADER;
  let mainDataLen = 0;
  if (recordEnd - q > dataLen) {
    if (bytes[q] !== XLR_BLOCK_ID_DATA_SHORT || q + 2 > recordEnd) return undefined;
    mainDataLen = bytes[q + 1]!;
    q += 2;
  }
  if (recordEnd - q !== dataLen + mainDataLen) return undefined;
  const block = blockOf(recycler, 0, bytes, flags << 8, relFileNodeAt(bytes, p + 4), readU32(bytes, p + 16) as BlockNumber, dataLen, 0, 0);
  block.dataStart = q;
  const blocks = recycler === undefined ? [block] : (recycler.blockLists[1] ??= [undefined]);
  blocks[0] = block;
  return recordOf(recycler, bytes, at, start, end, blocks, 0, 0 as TransactionId, q + dataLen, mainDataLen);
}

/**
 * A decoded record. Its LSNs are kept as exact numbers and made into branded bigints only when
 * asked (three BigInts per record were a tenth of the decoder's time); the header fields are read
 * from its bytes when asked, and its views (the whole record, its main data) made when asked: the
 * record keeps the bytes it lies in and its offset there, which readers use directly.
 */
export class DecodedRecord implements WalRecord {
  #lsn: Lsn | undefined;
  #endLsn: Lsn | undefined;
  #mainData: Uint8Array | undefined;

  // Not readonly here (WalRecord is, to everyone else): a RecordRecycler sets them again.
  constructor(
    /** The bytes the record lies in (a pushed chunk, or the record's own reassembly buffer). */
    public source: Uint8Array,
    /** The offset of the record's first byte in `source`. */
    public at: number,
    public lsnNumber: number,
    public endLsnNumber: number,
    public blocks: readonly (BlockRef | undefined)[],
    public origin: number,
    public toplevelXid: TransactionId,
    /** The offset of the main data in `source`. */
    public mainDataStart: number,
    public mainDataLen: number,
  ) {}

  /** Makes this another record (see RecordRecycler). */
  reset(
    source: Uint8Array,
    at: number,
    lsnNumber: number,
    endLsnNumber: number,
    blocks: readonly (BlockRef | undefined)[],
    origin: number,
    toplevelXid: TransactionId,
    mainDataStart: number,
    mainDataLen: number,
  ): void {
    if (this.source !== source) this.source = source; // see DecodedBlock.reset
    this.at = at;
    this.lsnNumber = lsnNumber;
    this.endLsnNumber = endLsnNumber;
    this.blocks = blocks;
    this.origin = origin;
    this.toplevelXid = toplevelXid;
    this.mainDataStart = mainDataStart;
    this.mainDataLen = mainDataLen;
    this.#lsn = undefined;
    this.#endLsn = undefined;
    this.#mainData = undefined;
  }

  // XLogRecord: xl_tot_len @0, xl_xid @4, xl_prev @8, xl_info @16, xl_rmid @17, xl_crc @20.
  get totLen(): number {
    return readU32(this.source, this.at);
  }

  get xid(): TransactionId {
    return readU32(this.source, this.at + 4) as TransactionId;
  }

  get prevNumber(): number {
    return readU32(this.source, this.at + 12) * 0x1_0000_0000 + readU32(this.source, this.at + 8);
  }

  get info(): number {
    return this.source[this.at + 16]!;
  }

  get rmid(): number {
    return this.source[this.at + 17]!;
  }

  get crc(): number {
    return readU32(this.source, this.at + 20);
  }

  get mainData(): Uint8Array {
    return (this.#mainData ??= this.mainDataLen > 0 ? this.source.subarray(this.mainDataStart, this.mainDataStart + this.mainDataLen) : EMPTY);
  }

  get raw(): Uint8Array {
    return this.source.subarray(this.at, this.at + this.totLen);
  }

  get lsn(): Lsn {
    return (this.#lsn ??= lsnOf(this.lsnNumber));
  }

  get endLsn(): Lsn {
    return (this.#endLsn ??= lsnOf(this.endLsnNumber));
  }

  get prev(): Lsn {
    return lsnOf(this.prevNumber);
  }
}

/** The block reference with this id, or undefined (XLogRecGetBlockTag's "not in use"). */
export function blockRef(record: WalRecord, id: number): BlockRef | undefined {
  return record.blocks[id];
}

/** XLogRecGetLen: the bytes of full-page images in the record, and the rest. */
export function recordLengths(record: WalRecord): { recLen: number; fpiLen: number } {
  let fpiLen = 0;
  for (const b of record.blocks) if (b !== undefined && b.hasImage) fpiLen += b.bimgLen;
  return { recLen: record.totLen - fpiLen, fpiLen };
}
