/**
 * Transaction records (access/transam/xact.c, twophase.c, xactdesc.c): commit and abort (of
 * ordinary and prepared transactions), PREPARE TRANSACTION, subtransaction xid assignment, and
 * invalidations logged for logical decoding.
 *
 * Commit and abort are where transaction status enters CLOG (and commit_ts), where relations
 * dropped by the transaction lose their files, and where two-phase state files go away. PREPARE's
 * main data is the two-phase state file itself (pg_twophase/XID, less its trailing CRC).
 *
 * Text (xactdesc.c) is in xact-format.ts.
 */
import { readI64, type ByteReader } from '../../pg/bytes.js';
import type { Lsn } from '../../pg/lsn.js';
import { RM_XACT_ID } from '../../pg/rmgr-ids.js';
import type { Oid, RelFileNode, TransactionId } from '../../pg/types.js';
import { effectsOnly, NO_BLOCKS, NO_EFFECTS, type Effect, type DescriptionBase } from '../describe.js';
import type { WalRecord } from '../record.js';
import { NOT_WRITTEN, mainDataBytes, mainDataLength, mainDataReader, mainDataStart, mainDataStruct, rmgrInfo, unknownType, withMainData, type RmgrModule } from './rmgr.js';
import { putTimestamptzAt } from './timestamp.js';
import { readRelFileNode } from './smgr.js';
import { readCount, readInvalidationMessages, type InvalidationMessage } from './standby.js';
import { putXact } from './xact-format.js';

// xl_info opcodes (access/xact.h), under XLOG_XACT_OPMASK
export const XLOG_XACT_COMMIT = 0x00;
export const XLOG_XACT_PREPARE = 0x10;
export const XLOG_XACT_ABORT = 0x20;
export const XLOG_XACT_COMMIT_PREPARED = 0x30;
export const XLOG_XACT_ABORT_PREPARED = 0x40;
export const XLOG_XACT_ASSIGNMENT = 0x50;
export const XLOG_XACT_INVALIDATIONS = 0x60;
export const XLOG_XACT_OPMASK = 0x70;
/** The record has an xl_xact_xinfo after xact_time. */
export const XLOG_XACT_HAS_INFO = 0x80;

// xl_xact_xinfo.xinfo bits
export const XACT_XINFO_HAS_DBINFO = 1 << 0;
export const XACT_XINFO_HAS_SUBXACTS = 1 << 1;
export const XACT_XINFO_HAS_RELFILENODES = 1 << 2;
export const XACT_XINFO_HAS_INVALS = 1 << 3;
export const XACT_XINFO_HAS_TWOPHASE = 1 << 4;
export const XACT_XINFO_HAS_ORIGIN = 1 << 5;
export const XACT_XINFO_HAS_AE_LOCKS = 1 << 6;
export const XACT_XINFO_HAS_GID = 1 << 7;
export const XACT_XINFO_HAS_DROPPED_STATS = 1 << 8;
export const XACT_COMPLETION_APPLY_FEEDBACK = 1 << 29;
export const XACT_COMPLETION_UPDATE_RELCACHE_FILE = 1 << 30;
/** 1U << 31, kept unsigned. */
export const XACT_COMPLETION_FORCE_SYNC_COMMIT = 0x8000_0000;

/** sizeof(xl_xact_prepare), already a multiple of MAXALIGN. */
const SIZE_OF_XACT_PREPARE = 72;


/** xl_xact_stats_item: a statistics entry dropped with the transaction. */
export interface XactStatsItem {
  readonly kind: number;
  readonly dbOid: Oid;
  readonly objOid: Oid;
}

/** xl_xact_origin, and the record's origin id: where a replicated transaction came from. */
export interface XactOrigin {
  readonly lsn: Lsn;
  /** TimestampTz at the origin node. */
  readonly timestamp: bigint;
}

/** What commit and abort records share (xl_xact_parsed_commit / _abort). */
interface XactCompletion extends DescriptionBase {
  /** The transaction completed: the record's xid, or the prepared transaction's for *_PREPARED. */
  readonly xid: TransactionId;
  /** TimestampTz of the commit or abort. */
  readonly xactTime: bigint;
  /** xl_xact_xinfo.xinfo, 0 when the record has none. */
  readonly xinfo: number;
  /** MyDatabaseId and its tablespace (0 without XACT_XINFO_HAS_DBINFO). */
  readonly dbId: Oid;
  readonly tsId: Oid;
  readonly subxacts: readonly TransactionId[];
  /** Relations whose files are dropped (all forks). */
  readonly rels: readonly RelFileNode[];
  readonly droppedStats: readonly XactStatsItem[];
  /** The prepared transaction's xid (0 unless XACT_XINFO_HAS_TWOPHASE) and GID (if logged). */
  readonly twophaseXid: TransactionId;
  readonly twophaseGid: string | undefined;
  /** Present with XACT_XINFO_HAS_ORIGIN. */
  readonly origin: XactOrigin | undefined;
  /** XLogRecGetOrigin: the replication origin id, 0 for none. */
  readonly originId: number;
  /** The transaction held AccessExclusiveLocks that a standby must release. */
  readonly hasAeLocks: boolean;
}

export interface XactCommit extends XactCompletion {
  readonly kind: 'xact.commit' | 'xact.commitPrepared';
  readonly invalidations: readonly InvalidationMessage[];
  readonly relcacheInitFileInval: boolean;
  readonly applyFeedback: boolean;
  readonly forceSyncCommit: boolean;
}

export interface XactAbort extends XactCompletion {
  readonly kind: 'xact.abort' | 'xact.abortPrepared';
}

/** xl_xact_prepare and what follows it (ParsePrepareRecord). */
export interface XactPrepare extends DescriptionBase {
  readonly kind: 'xact.prepare';
  readonly magic: number;
  /** The state file's length, its CRC included. */
  readonly totalLen: number;
  readonly xid: TransactionId;
  readonly dbId: Oid;
  readonly preparedAt: bigint;
  readonly owner: Oid;
  readonly gid: string;
  readonly subxacts: readonly TransactionId[];
  readonly commitRels: readonly RelFileNode[];
  readonly abortRels: readonly RelFileNode[];
  readonly commitStats: readonly XactStatsItem[];
  readonly abortStats: readonly XactStatsItem[];
  readonly invalidations: readonly InvalidationMessage[];
  readonly initFileInval: boolean;
  readonly originLsn: Lsn;
  readonly originTimestamp: bigint;
  readonly originId: number;
}

/** xl_xact_assignment: subtransaction xids of `xtop`, logged every PGPROC_MAX_CACHED_SUBXIDS. */
export interface XactAssignment extends DescriptionBase {
  readonly kind: 'xact.assignment';
  readonly xtop: TransactionId;
  readonly xsub: readonly TransactionId[];
}

/** xl_xact_invals: invalidations logged mid-transaction for logical decoding. */
export interface XactInvalidations extends DescriptionBase {
  readonly kind: 'xact.invalidations';
  readonly invalidations: readonly InvalidationMessage[];
}

export type XactRecord = XactCommit | XactAbort | XactPrepare | XactAssignment | XactInvalidations;

function readXids(r: ByteReader, n: number, what: string): TransactionId[] {
  const xids: TransactionId[] = [];
  for (let i = 0; i < n; i++) xids.push(r.u32(what) as TransactionId);
  return xids;
}

function readRels(r: ByteReader, n: number, what: string): RelFileNode[] {
  const rels: RelFileNode[] = [];
  for (let i = 0; i < n; i++) rels.push(readRelFileNode(r, what));
  return rels;
}

function readStats(r: ByteReader, n: number, what: string): XactStatsItem[] {
  const items: XactStatsItem[] = [];
  for (let i = 0; i < n; i++) items.push({ kind: r.i32(`${what}.kind`), dbOid: r.u32(`${what}.dboid`) as Oid, objOid: r.u32(`${what}.objoid`) as Oid });
  return items;
}

/** The fields ParseCommitRecord and ParseAbortRecord fill in; `invals` only for commit. */
interface Parsed {
  xactTime: bigint;
  xinfo: number;
  dbId: Oid;
  tsId: Oid;
  subxacts: readonly TransactionId[];
  rels: readonly RelFileNode[];
  droppedStats: readonly XactStatsItem[];
  invalidations: readonly InvalidationMessage[];
  twophaseXid: TransactionId;
  twophaseGid: string | undefined;
  origin: XactOrigin | undefined;
}

// Most commits have none of these: they share one empty list each.
const NO_XIDS: readonly TransactionId[] = Object.freeze([]);
const NO_RELS: readonly RelFileNode[] = Object.freeze([]);
const NO_STATS: readonly XactStatsItem[] = Object.freeze([]);
const NO_INVALIDATIONS: readonly InvalidationMessage[] = Object.freeze([]);

/** ParseCommitRecord / ParseAbortRecord: abort records carry no invalidations. */
function parseCompletion(record: WalRecord, r: ByteReader, isCommit: boolean): Parsed {
  const xactTime = r.i64('xact_time');
  const xinfo = (record.info & XLOG_XACT_HAS_INFO) !== 0 ? r.u32('xinfo') : 0;
  const p: Parsed = {
    xactTime,
    xinfo,
    dbId: 0 as Oid,
    tsId: 0 as Oid,
    subxacts: NO_XIDS,
    rels: NO_RELS,
    droppedStats: NO_STATS,
    invalidations: NO_INVALIDATIONS,
    twophaseXid: 0 as TransactionId,
    twophaseGid: undefined,
    origin: undefined,
  };
  if (xinfo === 0) return p;
  if ((xinfo & XACT_XINFO_HAS_DBINFO) !== 0) {
    p.dbId = r.u32('dbId') as Oid;
    p.tsId = r.u32('tsId') as Oid;
  }
  if ((xinfo & XACT_XINFO_HAS_SUBXACTS) !== 0) p.subxacts = readXids(r, readCount(record, r, 'nsubxacts'), 'subxacts');
  if ((xinfo & XACT_XINFO_HAS_RELFILENODES) !== 0) p.rels = readRels(r, readCount(record, r, 'nrels'), 'xnodes');
  if ((xinfo & XACT_XINFO_HAS_DROPPED_STATS) !== 0) p.droppedStats = readStats(r, readCount(record, r, 'nitems'), 'stats item');
  if (isCommit && (xinfo & XACT_XINFO_HAS_INVALS) !== 0) p.invalidations = readInvalidationMessages(r, readCount(record, r, 'nmsgs'));
  if ((xinfo & XACT_XINFO_HAS_TWOPHASE) !== 0) {
    p.twophaseXid = r.u32('twophase xid') as TransactionId;
    if ((xinfo & XACT_XINFO_HAS_GID) !== 0) p.twophaseGid = r.cstring('twophase_gid');
  }
  // xl_xact_origin is stored unaligned.
  if ((xinfo & XACT_XINFO_HAS_ORIGIN) !== 0) p.origin = { lsn: r.u64('origin_lsn') as Lsn, timestamp: r.i64('origin_timestamp') };
  return p;
}

/** What xact_redo_commit / xact_redo_abort change besides the proc array. */
function completionEffects(record: WalRecord, p: Parsed, xid: TransactionId, committed: boolean, prepared: boolean): Effect[] {
  const xids = p.subxacts.length === 0 ? [xid] : [xid, ...p.subxacts];
  const effects: Effect[] = [{ kind: 'clog.set', xids, status: committed ? 'committed' : 'aborted' }];
  if (committed) {
    // TransactionTreeSetCommitTsData: the origin's timestamp wins when there is one.
    const timestamp = p.origin !== undefined ? p.origin.timestamp : p.xactTime;
    effects.push({ kind: 'commitTs.set', xids, timestamp, originId: record.origin });
  }
  if (p.rels.length > 0) effects.push({ kind: 'relation.drop', rels: p.rels });
  if (prepared) effects.push({ kind: 'twophase.end', xid, committed });
  return effects;
}

/**
 * XLOG_XACT_COMMIT(_PREPARED)'s description, over what ParseCommitRecord read. Commits are one
 * record in seven on pgbench WAL: the fields are read from the parse rather than copied, and the
 * effects (two lists and two or more objects) are made when first asked for, by ingest and redo;
 * waldump never asks.
 */
class CommitDescription implements XactCommit {
  readonly blocks = NO_BLOCKS;
  #effects: readonly Effect[] | undefined;

  constructor(
    private readonly record: WalRecord,
    private readonly p: Parsed,
    readonly kind: 'xact.commit' | 'xact.commitPrepared',
    readonly xid: TransactionId,
  ) {}

  get effects(): readonly Effect[] {
    return (this.#effects ??= completionEffects(this.record, this.p, this.xid, true, this.kind === 'xact.commitPrepared'));
  }

  get xactTime(): bigint {
    return this.p.xactTime;
  }

  get xinfo(): number {
    return this.p.xinfo;
  }

  get dbId(): Oid {
    return this.p.dbId;
  }

  get tsId(): Oid {
    return this.p.tsId;
  }

  get subxacts(): readonly TransactionId[] {
    return this.p.subxacts;
  }

  get rels(): readonly RelFileNode[] {
    return this.p.rels;
  }

  get droppedStats(): readonly XactStatsItem[] {
    return this.p.droppedStats;
  }

  get twophaseXid(): TransactionId {
    return this.p.twophaseXid;
  }

  get twophaseGid(): string | undefined {
    return this.p.twophaseGid;
  }

  get origin(): XactOrigin | undefined {
    return this.p.origin;
  }

  get originId(): number {
    return this.record.origin;
  }

  get hasAeLocks(): boolean {
    return (this.p.xinfo & XACT_XINFO_HAS_AE_LOCKS) !== 0;
  }

  get invalidations(): readonly InvalidationMessage[] {
    return this.p.invalidations;
  }

  get relcacheInitFileInval(): boolean {
    return (this.p.xinfo & XACT_COMPLETION_UPDATE_RELCACHE_FILE) !== 0;
  }

  get applyFeedback(): boolean {
    return (this.p.xinfo & XACT_COMPLETION_APPLY_FEEDBACK) !== 0;
  }

  get forceSyncCommit(): boolean {
    return (this.p.xinfo & XACT_COMPLETION_FORCE_SYNC_COMMIT) !== 0;
  }
}

function describeCommit(record: WalRecord, prepared: boolean): XactCommit {
  const p = parseCompletion(record, mainDataReader(record), true);
  return new CommitDescription(record, p, prepared ? 'xact.commitPrepared' : 'xact.commit', prepared ? p.twophaseXid : record.xid);
}

// Aborts are rare: a plain literal, its fields spelled out (an object spread from a shared helper
// made describing several times slower).
function describeAbort(record: WalRecord, prepared: boolean): XactAbort {
  return withMainData(record, (r) => {
    const p = parseCompletion(record, r, false);
    const xid = prepared ? p.twophaseXid : record.xid;
    return {
      kind: prepared ? 'xact.abortPrepared' : 'xact.abort',
      xid,
      xactTime: p.xactTime,
      xinfo: p.xinfo,
      dbId: p.dbId,
      tsId: p.tsId,
      subxacts: p.subxacts,
      rels: p.rels,
      droppedStats: p.droppedStats,
      twophaseXid: p.twophaseXid,
      twophaseGid: p.twophaseGid,
      origin: p.origin,
      originId: record.origin,
      hasAeLocks: (p.xinfo & XACT_XINFO_HAS_AE_LOCKS) !== 0,
      blocks: NO_BLOCKS,
      effects: completionEffects(record, p, xid, false, prepared),
    };
  });
}

/**
 * ParsePrepareRecord. xl_xact_prepare (72 bytes): magic@0, total_len@4, xid@8, database@12,
 * prepared_at@16, owner@24, nsubxacts@28, ncommitrels@32, nabortrels@36, ncommitstats@40,
 * nabortstats@44, ninvalmsgs@48, initfileinval@52, gidlen@54, origin_lsn@56, origin_timestamp@64;
 * then the GID, subxacts, commit rels, abort rels, commit stats, abort stats and invalidation
 * messages, each MAXALIGNed; then twophase.c's own records (locks, predicate locks), not decoded.
 */
function describePrepare(record: WalRecord): XactPrepare {
  return withMainData(record, (r) => {
    const magic = r.u32('magic');
    const totalLen = r.u32('total_len');
    const xid = r.u32('xid') as TransactionId;
    const dbId = r.u32('database') as Oid;
    const preparedAt = r.i64('prepared_at');
    const owner = r.u32('owner') as Oid;
    const nsubxacts = readCount(record, r, 'nsubxacts');
    const ncommitrels = readCount(record, r, 'ncommitrels');
    const nabortrels = readCount(record, r, 'nabortrels');
    const ncommitstats = readCount(record, r, 'ncommitstats');
    const nabortstats = readCount(record, r, 'nabortstats');
    const ninvalmsgs = readCount(record, r, 'ninvalmsgs');
    const initFileInval = r.bool('initfileinval');
    r.skip(1);
    const gidlen = r.u16('gidlen');
    const originLsn = r.u64('origin_lsn') as Lsn;
    const originTimestamp = r.i64('origin_timestamp');
    r.seek(SIZE_OF_XACT_PREPARE);
    // strncpy of gidlen bytes: the GID stops at its NUL or after gidlen bytes.
    const gidBytes = r.bytesView(gidlen, 'gid');
    const nul = gidBytes.indexOf(0);
    const gid = Buffer.from(gidBytes.subarray(0, nul < 0 ? gidlen : nul)).toString('utf8');
    r.align(8);
    const subxacts = readXids(r, nsubxacts, 'subxacts');
    r.align(8);
    const commitRels = readRels(r, ncommitrels, 'commit rel');
    r.align(8);
    const abortRels = readRels(r, nabortrels, 'abort rel');
    r.align(8);
    const commitStats = readStats(r, ncommitstats, 'commit stats item');
    r.align(8);
    const abortStats = readStats(r, nabortstats, 'abort stats item');
    r.align(8);
    const invalidations = readInvalidationMessages(r, ninvalmsgs);
    return {
      kind: 'xact.prepare',
      magic,
      totalLen,
      xid,
      dbId,
      preparedAt,
      owner,
      gid,
      subxacts,
      commitRels,
      abortRels,
      commitStats,
      abortStats,
      invalidations,
      initFileInval,
      originLsn,
      originTimestamp,
      originId: record.origin,
      blocks: NO_BLOCKS,
      effects: [
        { kind: 'twophase.prepare', xid, gid, data: record.mainData },
        // The subtransactions' xids are in use too (ProcessTwoPhaseBuffer advances nextXid past them).
        { kind: 'xid.assign', xids: [xid, ...subxacts] },
      ],
    };
  });
}

/**
 * What ingest needs of an xact record (walingest.ts; see heap.ts's describeHeapEffects): a plain
 * COMMIT with no xinfo (one record in seven on pgbench WAL) as its effects alone, the CLOG and
 * commit_ts settings of its one xid, without the description object and the lists it makes. Other
 * records get describe()'s effects. One result object (and its effects), overwritten by the next call.
 */
export function describeXactEffects(record: WalRecord): DescriptionBase {
  const info = rmgrInfo(record);
  if ((info & XLOG_XACT_OPMASK) !== XLOG_XACT_COMMIT || (info & XLOG_XACT_HAS_INFO) !== 0) return describe(record);
  // parseCompletion's read when there is no xinfo: xl_xact_commit's xact_time alone, checked here
  // and made a BigInt only when asked for (ingest asks only with track_commit_timestamp on).
  commitTimeAt = mainDataStruct(record, SIZE_OF_XACT_COMMIT, 'xl_xact_commit');
  commitTimeSource = mainDataBytes(record);
  commitXids[0] = record.xid;
  commitTsSet.originId = record.origin;
  return effectsOnly('xact.commit', NO_BLOCKS, commitEffects);
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
// completionEffects' effects for a commit of one xid, reused.
const commitXids: TransactionId[] = [0 as TransactionId];
const commitClogSet: Mutable<Extract<Effect, { kind: 'clog.set' }>> = { kind: 'clog.set', xids: commitXids, status: 'committed' };
/** SizeOfXactCommit: xact_time i64. */
const SIZE_OF_XACT_COMMIT = 8;
let commitTimeSource: Uint8Array = new Uint8Array(SIZE_OF_XACT_COMMIT);
let commitTimeAt = 0;
const commitTsSet: Mutable<Extract<Effect, { kind: 'commitTs.set' }>> = {
  kind: 'commitTs.set',
  xids: commitXids,
  get timestamp(): bigint {
    return readI64(commitTimeSource, commitTimeAt);
  },
  originId: 0,
};
const commitEffects: readonly Effect[] = [commitClogSet, commitTsSet];

/** Decodes what xact_redo and xact_desc read. */
function describe(record: WalRecord): XactRecord {
  switch (rmgrInfo(record) & XLOG_XACT_OPMASK) {
    case XLOG_XACT_COMMIT:
      return describeCommit(record, false);
    case XLOG_XACT_COMMIT_PREPARED:
      return describeCommit(record, true);
    case XLOG_XACT_ABORT:
      return describeAbort(record, false);
    case XLOG_XACT_ABORT_PREPARED:
      return describeAbort(record, true);
    case XLOG_XACT_PREPARE:
      return describePrepare(record);
    case XLOG_XACT_ASSIGNMENT:
      return withMainData(record, (r) => {
        const xtop = r.u32('xtop') as TransactionId;
        const xsub = readXids(r, readCount(record, r, 'nsubxacts'), 'xsub');
        return { kind: 'xact.assignment', xtop, xsub, blocks: NO_BLOCKS, effects: [{ kind: 'xid.assign', xids: [xtop, ...xsub] }] };
      });
    case XLOG_XACT_INVALIDATIONS:
      return withMainData(record, (r) => {
        const invalidations = readInvalidationMessages(r, readCount(record, r, 'nmsgs'));
        return { kind: 'xact.invalidations', invalidations, blocks: NO_BLOCKS, effects: NO_EFFECTS };
      });
    default:
      return unknownType(record);
  }
}

const IDENTIFY: ReadonlyMap<number, string> = new Map([
  [XLOG_XACT_COMMIT, 'COMMIT'],
  [XLOG_XACT_PREPARE, 'PREPARE'],
  [XLOG_XACT_ABORT, 'ABORT'],
  [XLOG_XACT_COMMIT_PREPARED, 'COMMIT_PREPARED'],
  [XLOG_XACT_ABORT_PREPARED, 'ABORT_PREPARED'],
  [XLOG_XACT_ASSIGNMENT, 'ASSIGNMENT'],
  [XLOG_XACT_INVALIDATIONS, 'INVALIDATION'],
]);

/** MinSizeOfXactCommit: xl_xact_commit's xact_time (TimestampTz), all a commit without xinfo holds. */
const MIN_SIZE_OF_XACT_COMMIT = 8;

/**
 * xact_desc for a COMMIT without XLOG_XACT_HAS_INFO (no subtransactions, relations, invalidations,
 * stats, two-phase or origin: nearly every commit of an OLTP load), read straight from the main data
 * (see RmgrModule.putFast): its text is the commit time alone.
 */
function putFast(b: Uint8Array, o: number, record: WalRecord): number {
  if ((record.info & (XLOG_XACT_OPMASK | XLOG_XACT_HAS_INFO)) !== XLOG_XACT_COMMIT || mainDataLength(record) < MIN_SIZE_OF_XACT_COMMIT) return NOT_WRITTEN;
  return putTimestamptzAt(b, o, mainDataBytes(record), mainDataStart(record));
}

export const xactRmgr: RmgrModule<XactRecord> = {
  id: RM_XACT_ID,
  name: 'Transaction',
  identify: (info) => IDENTIFY.get(info & XLOG_XACT_OPMASK),
  describe,
  put: putXact,
  putFast,
};
