/**
 * The shape of a resource manager module and the helpers they share.
 *
 * A module mirrors one PostgreSQL `*desc.c` file (rm_identify, rm_desc) and adds `describe`, which
 * returns the typed description (`describe.ts`) the rest of strata uses. `format` writes pg_waldump's
 * `desc:` text from that description, so the two cannot drift apart.
 */
import { ByteReader, ShortReadError } from '../../pg/bytes.js';
import { formatLsn } from '../../pg/lsn.js';
import { RMGR_NAMES } from '../../pg/rmgr-ids.js';
import { XLR_INFO_MASK } from '../../pg/constants.js';
import type { BlockUse, DescriptionBase } from '../describe.js';
import { WalDecodeError } from '../errors.js';
import type { WalRecord } from '../record.js';

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
  /** rm_desc: pg_waldump's `desc:` text after the type name. */
  format(description: D, record: WalRecord): string;
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
    private readonly where: string,
  ) {
    super(bytes);
  }

  protected override short(what: string, offset: number, wanted: number, available: number): never {
    malformedPayload(this.record, `${this.where} too short: ${new ShortReadError(what, offset, wanted, available).message}`);
  }
}

/** A reader of the record's main data (see PayloadReader). */
export function mainDataReader(record: WalRecord): ByteReader {
  return new PayloadReader(record, record.mainData, 'main data');
}

/** A reader of any bytes of the record, a block's data say; `where` names them in errors. */
export function bytesReader(record: WalRecord, bytes: Uint8Array, where: string): ByteReader {
  return new PayloadReader(record, bytes, where);
}

/** Runs `fn` over a reader of the record's main data. */
export function withMainData<T>(record: WalRecord, fn: (r: ByteReader) => T): T {
  return fn(new PayloadReader(record, record.mainData, 'main data'));
}

/** As `withMainData`, over any bytes of the record (a block's data, say). */
export function withBytes<T>(record: WalRecord, bytes: Uint8Array, where: string, fn: (r: ByteReader) => T): T {
  return fn(new PayloadReader(record, bytes, where));
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

/** printf's `0x%02X`. */
export function hex2(n: number): string {
  return '0x' + n.toString(16).toUpperCase().padStart(2, '0');
}

/** printf's `%X/%X` for an LSN. */
export { formatLsn };
