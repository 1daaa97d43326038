/**
 * The shape of a resource manager's redo module (`src/redo/rmgr/*.ts`), mirroring PostgreSQL's
 * `*_redo` routines restricted to one page: the dispatcher (`redo.ts`) has already done what
 * XLogReadBufferForRedoExtended does (restore an APPLY image, zero a WILL_INIT page, skip a record
 * the page already has), so `redo` is called only when the record must be applied (BLK_NEEDS_REDO)
 * and changes only the page of block reference `blockId`, including its LSN where PostgreSQL sets it.
 */
import type { DescriptionBase } from '../../wal/describe.js';
import { WalDecodeError } from '../../wal/errors.js';
import type { BlockRef, WalRecord } from '../../wal/record.js';
import type { RmgrModule } from '../../wal/rmgr/rmgr.js';
import { RMGRS } from '../../wal/rmgr/index.js';
import { RedoError, redoError, type RedoErrorCode } from '../errors.js';
import type { RedoSettings } from '../types.js';

export interface RedoContext {
  readonly record: WalRecord;
  /** Which of the record's block references the page is. */
  readonly blockId: number;
  readonly block: BlockRef;
  /** record->EndRecPtr, what PageSetLSN stamps, as an exact number. */
  readonly lsn: number;
  readonly settings: RedoSettings;
  /** The record's description, when the caller passed it (RecordInput.description). */
  readonly description?: DescriptionBase | undefined;
}

export interface RedoRmgr {
  readonly id: number;
  readonly name: string;
  /**
   * Applies the record to `page` (8 KiB, changed in place): the old page, or a zeroed one when the
   * block is WILL_INIT. Throws RedoError: UNSUPPORTED_RECORD for a type it does not handle,
   * CORRUPT_RECORD / CORRUPT_PAGE when the record or the page is not what the type needs.
   */
  redo(page: Uint8Array, ctx: RedoContext): void;
}

/** A RedoError about this record and block: "Cannot redo <what> at <lsn>, block <id>: <why>". */
export function redoFail(ctx: RedoContext, code: RedoErrorCode, what: string, why: string): RedoError {
  return redoError(code, ctx.record.lsn, ctx.blockId, what, why);
}

/**
 * The record's typed description, the decoder's; a payload the decoder rejects is a CORRUPT_RECORD
 * for redo.
 */
export function describeForRedo<D extends DescriptionBase>(rmgr: RmgrModule<D>, ctx: RedoContext): D {
  // A description the caller made came from the same module: the table is indexed by the record's rmid.
  if (ctx.description !== undefined) return ctx.description as D;
  try {
    return rmgr.describe(ctx.record);
  } catch (e) {
    if (e instanceof WalDecodeError) throw redoFail(ctx, e.code === 'UNKNOWN_RECORD_TYPE' ? 'UNSUPPORTED_RECORD' : 'CORRUPT_RECORD', `${rmgr.name} record`, e.message);
    throw e;
  }
}

/** "Btree SPLIT_L": a record's rmgr and type, as errors name it. */
export function recordName(record: WalRecord): string {
  const m = RMGRS[record.rmid];
  return `${m?.name ?? `rmgr ${record.rmid}`} ${m?.identify(record.info) ?? 'record'}`;
}

/**
 * A record whose payload is not what its type needs. Like the page routines' errors it does not
 * name the record: the dispatcher (applyRecord) adds the record, its LSN and the block.
 */
export function corruptRecord(why: string): RedoError {
  return new RedoError('CORRUPT_RECORD', why);
}

/** XLogInitBufferForRedo's contract: a block redo initialises must be WILL_INIT (so it was zeroed). */
export function requireInit(ctx: RedoContext): void {
  if (!ctx.block.willInit) throw corruptRecord('block to be initialized in redo routine must be marked with WILL_INIT flag in the WAL record');
}
