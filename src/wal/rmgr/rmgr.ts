/**
 * The shape of a resource manager module and the helpers they share.
 *
 * A module mirrors one PostgreSQL `*desc.c` file (rm_identify, rm_desc) and adds `describe`, which
 * returns the typed description (`describe.ts`) the rest of strata uses. `put` writes pg_waldump's
 * `desc:` text from that description, so the two cannot drift apart; it writes bytes, not a string,
 * because `strata waldump` prints a line per record and strings were most of its time.
 */
import { ByteReader, ShortReadError } from '../../pg/bytes.js';
import { formatLsn } from '../../pg/lsn.js';
import { RMGR_NAMES } from '../../pg/rmgr-ids.js';
import { XLR_INFO_MASK } from '../../pg/constants.js';
import type { BlockUse, DescriptionBase } from '../describe.js';
import { WalDecodeError } from '../errors.js';
import { putText } from '../text-buffer.js';
import { DecodedBlock, DecodedRecord, type BlockRef, type WalRecord } from '../record.js';

export interface RmgrModule<D extends DescriptionBase = DescriptionBase> {
  readonly id: number;
  readonly name: string;
  /** rm_identify: the record type's name for the full xl_info, or undefined for an unknown type. */
  identify(info: number): string | undefined;
  /**
   * The typed description. Throws `WalDecodeError` with code UNKNOWN_RECORD_TYPE for a type the
   * module does not know, MALFORMED_PAYLOAD when the record's data is not what its type says.
   */
  describe(record: WalRecord): D;
  /**
   * rm_desc: writes pg_waldump's `desc:` text after the type name at `b[o]` and returns the offset
   * after it, with text-buffer.ts's `put*` functions. The offset is exact even past `b.length`
   * (those bytes are dropped): the caller then runs it again with more room.
   */
  put(b: Uint8Array, o: number, description: D, record: WalRecord): number;
  /**
   * rm_desc straight from the record, for the record types that make most WAL: the same text as
   * `put(b, o, describe(record), record)`, with the fields read from the record's main data where
   * `describe` reads them (the offsets are shared), and no description object, tuple views or block
   * use lists made. Returns NOT_WRITTEN, having written nothing that counts, for a type it does not
   * cover or a record it cannot vouch for (data too short, a block `describe` requires missing):
   * the caller then goes through `describe`, which says what is wrong. It never throws. `strata
   * waldump` spent more on building descriptions it threw away at once than on decoding the WAL.
   */
  readonly putFast?: (b: Uint8Array, o: number, record: WalRecord) => number;
}

/** What `putFast` returns when it leaves a record to `describe` and `put`. */
export const NOT_WRITTEN = -1;

/** The length of the record's main data (for `putFast`: checked before reading, as mainDataStruct does). */
export function mainDataLength(record: WalRecord): number {
  return record instanceof DecodedRecord ? record.mainDataLen : record.mainData.length;
}

/** Where the main data begins in `mainDataBytes(record)`, unchecked: see `mainDataLength`. */
export function mainDataStart(record: WalRecord): number {
  return record instanceof DecodedRecord ? record.mainDataStart : 0;
}

/** A `put` for the rmgrs whose records are rare, which build their text as a string. */
export function putVia<D>(format: (description: D, record: WalRecord) => string): (b: Uint8Array, o: number, d: D, record: WalRecord) => number {
  return (b, o, d, record) => putText(b, o, format(d, record));
}

let formatScratch = new Uint8Array(4096);

/** rm_desc as a string: what `m.put` writes (for tests and messages; waldump writes bytes). */
export function formatDesc<D extends DescriptionBase>(m: RmgrModule<D>, description: D, record: WalRecord): string {
  let end = m.put(formatScratch, 0, description, record);
  if (end > formatScratch.length) {
    formatScratch = new Uint8Array(end);
    end = m.put(formatScratch, 0, description, record);
  }
  return Buffer.from(formatScratch.buffer, formatScratch.byteOffset, end).toString('utf8');
}

/** The rmgr-owned bits of xl_info (XLogRecGetInfo(record) & ~XLR_INFO_MASK). */
export function rmgrInfo(record: WalRecord): number {
  return record.info & ~XLR_INFO_MASK;
}

export function unknownType(record: WalRecord): never {
  const name = RMGR_NAMES[record.rmid] ?? `custom${String(record.rmid).padStart(3, '0')}`;
  throw new WalDecodeError(
    'UNKNOWN_RECORD_TYPE',
    `Cannot describe record at ${formatLsn(record.lsn)}: unknown ${name} record type, info 0x${rmgrInfo(record).toString(16).toUpperCase().padStart(2, '0')}`,
    record.lsn,
  );
}

export function malformedPayload(record: WalRecord, why: string): never {
  const name = RMGR_NAMES[record.rmid] ?? String(record.rmid);
  throw new WalDecodeError('MALFORMED_PAYLOAD', `Cannot describe ${name} record at ${formatLsn(record.lsn)}: ${why}`, record.lsn);
}

/**
 * A reader over part of a record whose short reads are MALFORMED_PAYLOAD errors naming the record's
 * LSN, the part and the field: rmgr modules read straight from it, with no try/catch around them.
 */
class PayloadReader extends ByteReader {
  constructor(
    private readonly record: WalRecord,
    bytes: Uint8Array,
    start: number,
    end: number,
    private readonly where: string,
  ) {
    super(bytes, start, end);
  }

  protected override short(what: string, offset: number, wanted: number, available: number): never {
    malformedPayload(this.record, `${this.where} too short: ${new ShortReadError(what, offset, wanted, available).message}`);
  }
}

/**
 * A reader of the record's main data. A decoded record's is read in place in the bytes the record
 * lies in: a view per record cost more than the reading.
 */
export function mainDataReader(record: WalRecord): ByteReader {
  if (record instanceof DecodedRecord)
    return new PayloadReader(record, record.source, record.mainDataStart, record.mainDataStart + record.mainDataLen, 'main data');
  const data = record.mainData;
  return new PayloadReader(record, data, 0, data.length, 'main data');
}

/** A reader of the data of block reference `block` (in place, as for the main data). */
export function blockDataReader(record: WalRecord, block: BlockRef, where: string): ByteReader {
  if (block instanceof DecodedBlock) return new PayloadReader(record, block.source, block.dataStart, block.dataStart + block.dataLen, where);
  const data = block.data;
  return new PayloadReader(record, data, 0, data.length, where);
}

/**
 * The bytes the record's main data lies in: with `mainDataStruct`, for fixed structs read at their
 * members' offsets as the C code reads them, with no reader object per record.
 */
export function mainDataBytes(record: WalRecord): Uint8Array {
  return record instanceof DecodedRecord ? record.source : record.mainData;
}

/**
 * Where a fixed struct of `size` bytes at the start of the main data begins in
 * `mainDataBytes(record)`, once the main data is checked to hold it (else MALFORMED_PAYLOAD).
 */
export function mainDataStruct(record: WalRecord, size: number, what: string): number {
  const decoded = record instanceof DecodedRecord;
  const length = decoded ? record.mainDataLen : record.mainData.length;
  if (length < size) malformedPayload(record, `main data too short: ${new ShortReadError(what, 0, size, length).message}`);
  return decoded ? record.mainDataStart : 0;
}

/** The byte at `field` of the fixed struct `what` the main data starts with, once checked to hold `size` bytes (a struct's flags). */
export function mainDataU8(record: WalRecord, size: number, field: number, what: string): number {
  return mainDataBytes(record)[mainDataStruct(record, size, what) + field]!;
}

/** The bytes a block reference's data lies in (see mainDataBytes). */
export function blockDataBytes(block: BlockRef): Uint8Array {
  return block instanceof DecodedBlock ? block.source : block.data;
}

/** Where the data of `block` begins in `blockDataBytes(block)`, once checked to hold `size` bytes. */
export function blockDataStruct(record: WalRecord, block: BlockRef, size: number, what: string): number {
  const decoded = block instanceof DecodedBlock;
  const length = decoded ? block.dataLen : block.data.length;
  if (length < size) malformedPayload(record, `block ${block.id} data too short: ${new ShortReadError(what, 0, size, length).message}`);
  return decoded ? block.dataStart : 0;
}

/** Where the data of `block` ends in `blockDataBytes(block)`. */
export function blockDataEnd(block: BlockRef): number {
  return block instanceof DecodedBlock ? block.dataStart + block.dataLen : block.data.length;
}

/** A reader of any bytes of the record, a block's data say; `where` names them in errors. */
export function bytesReader(record: WalRecord, bytes: Uint8Array, where: string): ByteReader {
  return new PayloadReader(record, bytes, 0, bytes.length, where);
}

/** Runs `fn` over a reader of the record's main data. */
export function withMainData<T>(record: WalRecord, fn: (r: ByteReader) => T): T {
  return fn(mainDataReader(record));
}

/** As `withMainData`, over any bytes of the record (a block's data, say). */
export function withBytes<T>(record: WalRecord, bytes: Uint8Array, where: string, fn: (r: ByteReader) => T): T {
  return fn(bytesReader(record, bytes, where));
}

/**
 * How one record type uses its block references (up to four): [block id, role] pairs. `uses` gives
 * the BlockUse list for a record, shared between records that reference the same blocks with the
 * same init flags: a hot record type then builds no arrays at all.
 */
export class BlockUseSpec {
  /** By key (two bits per role), filled to its size: scattered stores would make it a dictionary. */
  private readonly cache: (readonly BlockUse[] | undefined)[] = new Array<readonly BlockUse[] | undefined>(256).fill(undefined);

  constructor(private readonly roles: readonly (readonly [id: number, role: string])[]) {
    if (roles.length > 4) throw new RangeError(`Cannot make a BlockUseSpec of ${roles.length} roles: at most 4`);
  }

  /** The uses of the record's blocks; `initN` says redo starts role N's page from scratch. */
  uses(record: WalRecord, init0 = false, init1 = false, init2 = false, init3 = false): readonly BlockUse[] {
    const roles = this.roles;
    let key = 0;
    for (let i = 0; i < roles.length; i++) {
      const b = record.blocks[roles[i]![0]];
      if (b === undefined) continue;
      const init = (i === 0 ? init0 : i === 1 ? init1 : i === 2 ? init2 : init3) || b.willInit;
      key |= (init ? 3 : 1) << (2 * i);
    }
    return (this.cache[key] ??= this.build(key));
  }

  private build(key: number): readonly BlockUse[] {
    const uses: BlockUse[] = [];
    for (let i = 0; i < this.roles.length; i++) {
      const bits = (key >> (2 * i)) & 3;
      const [blockId, role] = this.roles[i]!;
      if (bits !== 0) uses.push(Object.freeze({ blockId, role, init: bits === 3 }));
    }
    return Object.freeze(uses);
  }
}

/** Block uses for every block reference in the record, with one role for all. */
export function allBlocks(record: WalRecord, role: string, init = false): BlockUse[] {
  const uses: BlockUse[] = [];
  for (const b of record.blocks) if (b !== undefined) uses.push({ blockId: b.id, role, init: init || b.willInit });
  return uses;
}

/** A block use for block `id` if the record references it. */
export function blockUse(record: WalRecord, id: number, role: string, init = false): BlockUse[] {
  const b = record.blocks[id];
  return b === undefined ? [] : [{ blockId: id, role, init: init || b.willInit }];
}

/** Block uses for the given ids and roles, skipping ids the record does not reference. */
export function blockUses(record: WalRecord, roles: readonly (readonly [id: number, role: string, init?: boolean])[]): BlockUse[] {
  const uses: BlockUse[] = [];
  for (const [id, role, init] of roles) {
    const b = record.blocks[id];
    if (b !== undefined) uses.push({ blockId: id, role, init: (init ?? false) || b.willInit });
  }
  return uses;
}

/** printf's `%X/%X` for an LSN. */
export { formatLsn };
