/**
 * The redo engine's inputs and outputs: the page a caller wants, and what is applied to it in LSN
 * order, WAL records (with which block reference is this page) and strata's own operations for the
 * effects PostgreSQL applies to pages it does not reference as blocks.
 */
import type { Lsn } from '../pg/lsn.js';
import type { BlockNumber, RelFileNode } from '../pg/types.js';
import type { DescriptionBase } from '../wal/describe.js';
import type { WalRecord } from '../wal/record.js';

/** The identity of one page: BufferTag. */
export interface PageKey {
  readonly rel: RelFileNode;
  readonly fork: number;
  readonly blkno: BlockNumber;
}

/** A WAL record, applied to its block reference `blockId`, which must be this page. */
export interface RecordInput {
  readonly kind: 'record';
  readonly record: WalRecord;
  readonly blockId: number;
  /**
   * The record's description (describeRecord), when the caller has it already, as ingest does:
   * a record that touches several pages, or whose effects the caller applies, is then described once.
   */
  readonly description?: DescriptionBase | undefined;
}

/**
 * visibilitymap_clear of a heap block's bits on this VM page, as heap records do without a block
 * reference to the VM page (heap_xlog_insert and friends). `flags` are VISIBILITYMAP_* bits.
 */
export interface VmClearInput {
  readonly kind: 'vm.clear';
  /** The record that implied it (its end LSN); the page LSN is not changed, as in PostgreSQL. */
  readonly endLsn: Lsn;
  readonly heapBlock: BlockNumber;
  readonly flags: number;
}

/**
 * visibilitymap_prepare_truncate on the VM page that holds the new last heap block: the bits of
 * heap blocks at and past `heapBlocks` are cleared (smgr TRUNCATE of the heap to that length).
 */
export interface VmTruncateInput {
  readonly kind: 'vm.truncate';
  readonly endLsn: Lsn;
  readonly heapBlocks: BlockNumber;
}

export type RedoInput = RecordInput | VmClearInput | VmTruncateInput;

/** Settings of the server that wrote the WAL that change what redo does. */
export interface RedoSettings {
  /**
   * XLogHintBitIsNeeded(): data checksums or wal_log_hints. Some redo routines set the page LSN
   * only then (heap2 VISIBLE on the heap page).
   */
  readonly hintBitsLogged: boolean;
}
