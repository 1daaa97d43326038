/**
 * What a record does, in types: the contract between the WAL decoder and everything above it.
 *
 * Each resource manager module (`src/wal/rmgr/*.ts`) turns a `WalRecord` into a description: a
 * discriminated union member with a literal `kind` (`'heap.insert'`, `'xact.commit'`, ...), the
 * record's own fields, how it uses each of its block references (`blocks`), and what it changes that
 * is not a block it references (`effects`): relation creation and truncation, CLOG, multixact and
 * commit_ts pages, relmapper files, database and tablespace directories, two-phase state, checkpoint
 * counters, visibility-map bits cleared without a VM block reference. Ingest (the repository writes)
 * and redo build on these descriptions; pg_waldump's `desc:` text is produced from them too, so the
 * comparison with pg_waldump checks the decoding.
 */
import type { Lsn } from '../pg/lsn.js';
import type { BlockNumber, MultiXactId, Oid, RelFileNode, TransactionId } from '../pg/types.js';

/** How a record uses one of its block references. */
export interface BlockUse {
  readonly blockId: number;
  /** What the block is to the record, in the rmgr's words: 'heap', 'vm', 'new', 'left', 'meta'... */
  readonly role: string;
  /** Redo starts from a zeroed page (WILL_INIT or the rmgr's INIT flag): no older image is needed. */
  readonly init: boolean;
}

/** CheckPoint (pg_control.h). */
export interface CheckPoint {
  readonly redo: Lsn;
  readonly thisTimeLineId: number;
  readonly prevTimeLineId: number;
  readonly fullPageWrites: boolean;
  /** FullTransactionId: epoch in the high 32 bits. */
  readonly nextXid: bigint;
  readonly nextOid: Oid;
  readonly nextMulti: MultiXactId;
  readonly nextMultiOffset: number;
  readonly oldestXid: TransactionId;
  readonly oldestXidDb: Oid;
  readonly oldestMulti: MultiXactId;
  readonly oldestMultiDb: Oid;
  /** pg_time_t, seconds since the Unix epoch. */
  readonly time: bigint;
  readonly oldestCommitTsXid: TransactionId;
  readonly newestCommitTsXid: TransactionId;
  readonly oldestActiveXid: TransactionId;
}

export type XidStatus = 'committed' | 'aborted' | 'subcommitted';

/** The MultiXactStatus of one member (multixact.h). */
export type MultiXactMemberStatus = 'keysh' | 'sh' | 'fornokeyupd' | 'forupd' | 'nokeyupd' | 'upd';

/** A change a record makes that is not a change to one of its referenced blocks. */
export type Effect =
  | { readonly kind: 'relation.create'; readonly rel: RelFileNode; readonly fork: number }
  /** smgr truncation: `forks` are the forks truncated; `blocks` the new main-fork length. */
  | { readonly kind: 'relation.truncate'; readonly rel: RelFileNode; readonly forks: readonly number[]; readonly blocks: BlockNumber }
  /** Relations whose files are unlinked when the transaction commits or aborts (all forks). */
  | { readonly kind: 'relation.drop'; readonly rels: readonly RelFileNode[] }
  /** A heap record clears visibility-map bits of `heapBlock` without referencing the VM page. */
  | { readonly kind: 'vm.clear'; readonly rel: RelFileNode; readonly heapBlock: BlockNumber; readonly flags: number }
  | { readonly kind: 'clog.set'; readonly xids: readonly TransactionId[]; readonly status: XidStatus }
  | { readonly kind: 'clog.zeroPage'; readonly page: number }
  | { readonly kind: 'clog.truncate'; readonly page: number; readonly oldestXid: TransactionId; readonly oldestXidDb: Oid }
  | { readonly kind: 'multixact.zeroOffsetPage'; readonly page: number }
  | { readonly kind: 'multixact.zeroMemberPage'; readonly page: number }
  | {
      readonly kind: 'multixact.create';
      readonly mid: MultiXactId;
      readonly offset: number;
      readonly members: readonly { readonly xid: TransactionId; readonly status: MultiXactMemberStatus }[];
    }
  | {
      readonly kind: 'multixact.truncate';
      readonly oldestMultiDb: Oid;
      readonly startTruncOff: MultiXactId;
      readonly endTruncOff: MultiXactId;
      readonly startTruncMemb: number;
      readonly endTruncMemb: number;
    }
  | { readonly kind: 'commitTs.zeroPage'; readonly page: number }
  | { readonly kind: 'commitTs.truncate'; readonly page: number; readonly oldestXid: TransactionId }
  /** Commit timestamps to record when track_commit_timestamp is on (TransactionTreeSetCommitTsData). */
  | { readonly kind: 'commitTs.set'; readonly xids: readonly TransactionId[]; readonly timestamp: bigint; readonly originId: number }
  /** A relmapper file (pg_filenode.map) replaced whole. dbId 0 and tsId 1664 is the global map. */
  | { readonly kind: 'relmap.update'; readonly dbId: Oid; readonly tsId: Oid; readonly data: Uint8Array }
  | {
      readonly kind: 'database.create';
      readonly dbId: Oid;
      readonly tsId: Oid;
      readonly strategy: 'file_copy' | 'wal_log';
      /** For file_copy: the template whose files are copied as of this record. */
      readonly srcDbId?: Oid;
      readonly srcTsId?: Oid;
    }
  | { readonly kind: 'database.drop'; readonly dbId: Oid; readonly tsIds: readonly Oid[] }
  | { readonly kind: 'tablespace.create'; readonly tsId: Oid; readonly path: string }
  | { readonly kind: 'tablespace.drop'; readonly tsId: Oid }
  /** PREPARE TRANSACTION: `data` is the two-phase state file's content (pg_twophase/XID). */
  | { readonly kind: 'twophase.prepare'; readonly xid: TransactionId; readonly gid: string; readonly data: Uint8Array }
  /** COMMIT/ROLLBACK PREPARED: the state file is removed. */
  | { readonly kind: 'twophase.end'; readonly xid: TransactionId; readonly committed: boolean }
  | { readonly kind: 'checkpoint'; readonly shutdown: boolean; readonly checkpoint: CheckPoint }
  | { readonly kind: 'nextOid'; readonly nextOid: Oid }
  /** The transaction ids a record shows in use, so nextXid can be advanced past them. */
  | { readonly kind: 'xid.assign'; readonly xids: readonly TransactionId[] }
  | { readonly kind: 'timeline.switch'; readonly thisTimeLineId: number; readonly prevTimeLineId: number }
  | { readonly kind: 'parameter.change'; readonly fields: Readonly<Record<string, number | boolean>> };

/** The fields every description has. */
export interface DescriptionBase {
  readonly kind: string;
  readonly blocks: readonly BlockUse[];
  readonly effects: readonly Effect[];
}

export const NO_BLOCKS: readonly BlockUse[] = Object.freeze([]);
export const NO_EFFECTS: readonly Effect[] = Object.freeze([]);

/** What ingest reads of a record (rmgr/ingest-effects.ts), without the rest of its description. */
interface EffectsOnly extends DescriptionBase {
  kind: string;
  blocks: readonly BlockUse[];
  effects: readonly Effect[];
}

const effectsScratch: EffectsOnly = { kind: '', blocks: NO_BLOCKS, effects: NO_EFFECTS };

/**
 * The effects-only description of a record (the rmgrs' describe*Effects): one object for all of
 * them, overwritten by each call, so the caller is done with it before it describes another record.
 */
export function effectsOnly(kind: string, blocks: readonly BlockUse[], effects: readonly Effect[]): DescriptionBase {
  effectsScratch.kind = kind;
  effectsScratch.blocks = blocks;
  effectsScratch.effects = effects;
  return effectsScratch;
}
