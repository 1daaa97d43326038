/**
 * XLOG records (xlog.c, xlogdesc.c): checkpoints, OID and timeline bookkeeping, WAL switches,
 * restore points, parameter changes, and full-page images that are records of their own (FPI,
 * FPI_FOR_HINT).
 *
 * For ingest these carry the cluster's counters: a checkpoint's whole CheckPoint struct, NEXTOID's
 * OID counter, END_OF_RECOVERY's timeline switch, PARAMETER_CHANGE's settings. FPI records are the
 * only XLOG records with block references; each reference restores one page from its image.
 */
import type { ByteReader } from '../../pg/bytes.js';
import type { Lsn } from '../../pg/lsn.js';
import { XLR_RMGR_INFO_MASK } from '../../pg/constants.js';
import { RM_XLOG_ID } from '../../pg/rmgr-ids.js';
import type { MultiXactId, Oid, TransactionId } from '../../pg/types.js';
import { NO_BLOCKS, NO_EFFECTS, type CheckPoint, type DescriptionBase } from '../describe.js';
import type { WalRecord } from '../record.js';
import { allBlocks, formatLsn, rmgrInfo, unknownType, withMainData, type RmgrModule, putVia } from './rmgr.js';
import { timestamptzToStr } from './timestamp.js';

// xl_info values (pg_control.h); the two the decoder itself needs live with the rmgr ids.
export { XLOG_OVERWRITE_CONTRECORD, XLOG_SWITCH } from '../../pg/rmgr-ids.js';
import { XLOG_OVERWRITE_CONTRECORD, XLOG_SWITCH } from '../../pg/rmgr-ids.js';
export const XLOG_CHECKPOINT_SHUTDOWN = 0x00;
export const XLOG_CHECKPOINT_ONLINE = 0x10;
export const XLOG_NOOP = 0x20;
export const XLOG_NEXTOID = 0x30;
export const XLOG_BACKUP_END = 0x50;
export const XLOG_PARAMETER_CHANGE = 0x60;
export const XLOG_RESTORE_POINT = 0x70;
export const XLOG_FPW_CHANGE = 0x80;
export const XLOG_END_OF_RECOVERY = 0x90;
export const XLOG_FPI_FOR_HINT = 0xa0;
export const XLOG_FPI = 0xb0;

/** MAXFNAMELEN: the size of xl_restore_point.rp_name. */
const MAXFNAMELEN = 64;

/** WalLevel (xlog.h) */
export const WAL_LEVEL_NAMES: readonly string[] = ['minimal', 'replica', 'logical'];


export interface XlogCheckpoint extends DescriptionBase {
  readonly kind: 'xlog.checkpoint';
  readonly shutdown: boolean;
  readonly checkpoint: CheckPoint;
}
export interface XlogNoop extends DescriptionBase {
  readonly kind: 'xlog.noop';
}
export interface XlogNextOid extends DescriptionBase {
  readonly kind: 'xlog.nextOid';
  readonly nextOid: Oid;
}
export interface XlogSwitch extends DescriptionBase {
  readonly kind: 'xlog.switch';
}
export interface XlogBackupEnd extends DescriptionBase {
  readonly kind: 'xlog.backupEnd';
  /** Where the backup that ended here started. */
  readonly startPoint: Lsn;
}
/** xl_parameter_change */
export interface XlogParameterChange extends DescriptionBase {
  readonly kind: 'xlog.parameterChange';
  readonly maxConnections: number;
  readonly maxWorkerProcesses: number;
  readonly maxWalSenders: number;
  readonly maxPreparedXacts: number;
  readonly maxLocksPerXact: number;
  /** WalLevel: 0 minimal, 1 replica, 2 logical. */
  readonly walLevel: number;
  readonly walLogHints: boolean;
  readonly trackCommitTimestamp: boolean;
}
/** xl_restore_point */
export interface XlogRestorePoint extends DescriptionBase {
  readonly kind: 'xlog.restorePoint';
  /** TimestampTz: microseconds since 2000-01-01 UTC. */
  readonly time: bigint;
  readonly name: string;
}
export interface XlogFpwChange extends DescriptionBase {
  readonly kind: 'xlog.fpwChange';
  readonly fullPageWrites: boolean;
}
/** xl_end_of_recovery */
export interface XlogEndOfRecovery extends DescriptionBase {
  readonly kind: 'xlog.endOfRecovery';
  readonly endTime: bigint;
  readonly thisTimeLineId: number;
  readonly prevTimeLineId: number;
}
/** xl_overwrite_contrecord */
export interface XlogOverwriteContrecord extends DescriptionBase {
  readonly kind: 'xlog.overwriteContrecord';
  readonly overwrittenLsn: Lsn;
  readonly overwriteTime: bigint;
}
/** FPI and FPI_FOR_HINT: nothing but block references, each (normally) with an image. */
export interface XlogFpi extends DescriptionBase {
  readonly kind: 'xlog.fpi' | 'xlog.fpiForHint';
}

export type XlogRecord =
  | XlogCheckpoint
  | XlogNoop
  | XlogNextOid
  | XlogSwitch
  | XlogBackupEnd
  | XlogParameterChange
  | XlogRestorePoint
  | XlogFpwChange
  | XlogEndOfRecovery
  | XlogOverwriteContrecord
  | XlogFpi;

const IDENTIFY: ReadonlyMap<number, string> = new Map([
  [XLOG_CHECKPOINT_SHUTDOWN, 'CHECKPOINT_SHUTDOWN'],
  [XLOG_CHECKPOINT_ONLINE, 'CHECKPOINT_ONLINE'],
  [XLOG_NOOP, 'NOOP'],
  [XLOG_NEXTOID, 'NEXTOID'],
  [XLOG_SWITCH, 'SWITCH'],
  [XLOG_BACKUP_END, 'BACKUP_END'],
  [XLOG_PARAMETER_CHANGE, 'PARAMETER_CHANGE'],
  [XLOG_RESTORE_POINT, 'RESTORE_POINT'],
  [XLOG_FPW_CHANGE, 'FPW_CHANGE'],
  [XLOG_END_OF_RECOVERY, 'END_OF_RECOVERY'],
  [XLOG_OVERWRITE_CONTRECORD, 'OVERWRITE_CONTRECORD'],
  [XLOG_FPI, 'FPI'],
  [XLOG_FPI_FOR_HINT, 'FPI_FOR_HINT'],
]);

/**
 * CheckPoint (pg_control.h), 88 bytes on x86-64: redo@0, ThisTimeLineID@8, PrevTimeLineID@12,
 * fullPageWrites@16, nextXid@24 (8-aligned), nextOid@32, nextMulti@36, nextMultiOffset@40,
 * oldestXid@44, oldestXidDB@48, oldestMulti@52, oldestMultiDB@56, time@64 (8-aligned),
 * oldestCommitTsXid@72, newestCommitTsXid@76, oldestActiveXid@80.
 */
export function readCheckPoint(r: ByteReader): CheckPoint {
  const redo = r.u64('CheckPoint.redo') as Lsn;
  const thisTimeLineId = r.u32('CheckPoint.ThisTimeLineID');
  const prevTimeLineId = r.u32('CheckPoint.PrevTimeLineID');
  const fullPageWrites = r.bool('CheckPoint.fullPageWrites');
  r.skip(7, 'CheckPoint padding');
  const nextXid = r.u64('CheckPoint.nextXid');
  const nextOid = r.u32('CheckPoint.nextOid') as Oid;
  const nextMulti = r.u32('CheckPoint.nextMulti') as MultiXactId;
  const nextMultiOffset = r.u32('CheckPoint.nextMultiOffset');
  const oldestXid = r.u32('CheckPoint.oldestXid') as TransactionId;
  const oldestXidDb = r.u32('CheckPoint.oldestXidDB') as Oid;
  const oldestMulti = r.u32('CheckPoint.oldestMulti') as MultiXactId;
  const oldestMultiDb = r.u32('CheckPoint.oldestMultiDB') as Oid;
  r.skip(4, 'CheckPoint padding');
  const time = r.i64('CheckPoint.time');
  const oldestCommitTsXid = r.u32('CheckPoint.oldestCommitTsXid') as TransactionId;
  const newestCommitTsXid = r.u32('CheckPoint.newestCommitTsXid') as TransactionId;
  const oldestActiveXid = r.u32('CheckPoint.oldestActiveXid') as TransactionId;
  return {
    redo,
    thisTimeLineId,
    prevTimeLineId,
    fullPageWrites,
    nextXid,
    nextOid,
    nextMulti,
    nextMultiOffset,
    oldestXid,
    oldestXidDb,
    oldestMulti,
    oldestMultiDb,
    time,
    oldestCommitTsXid,
    newestCommitTsXid,
    oldestActiveXid,
  };
}

function describeParameterChange(r: ByteReader): XlogParameterChange {
  const maxConnections = r.i32('MaxConnections');
  const maxWorkerProcesses = r.i32('max_worker_processes');
  const maxWalSenders = r.i32('max_wal_senders');
  const maxPreparedXacts = r.i32('max_prepared_xacts');
  const maxLocksPerXact = r.i32('max_locks_per_xact');
  const walLevel = r.i32('wal_level');
  const walLogHints = r.bool('wal_log_hints');
  const trackCommitTimestamp = r.bool('track_commit_timestamp');
  const fields = {
    maxConnections,
    maxWorkerProcesses,
    maxWalSenders,
    maxPreparedXacts,
    maxLocksPerXact,
    walLevel,
    walLogHints,
    trackCommitTimestamp,
  };
  return { kind: 'xlog.parameterChange', ...fields, blocks: NO_BLOCKS, effects: [{ kind: 'parameter.change', fields }] };
}

/** Decodes what xlog_redo and xlog_desc read. */
function describe(record: WalRecord): XlogRecord {
  const info = rmgrInfo(record);
  const bare = { blocks: NO_BLOCKS, effects: NO_EFFECTS };
  switch (info) {
    case XLOG_CHECKPOINT_SHUTDOWN:
    case XLOG_CHECKPOINT_ONLINE:
      return withMainData(record, (r) => {
        const checkpoint = readCheckPoint(r);
        const shutdown = info === XLOG_CHECKPOINT_SHUTDOWN;
        return { kind: 'xlog.checkpoint', shutdown, checkpoint, blocks: NO_BLOCKS, effects: [{ kind: 'checkpoint', shutdown, checkpoint }] };
      });
    case XLOG_NOOP:
      return { kind: 'xlog.noop', ...bare };
    case XLOG_NEXTOID:
      return withMainData(record, (r) => {
        const nextOid = r.u32('nextOid') as Oid;
        return { kind: 'xlog.nextOid', nextOid, blocks: NO_BLOCKS, effects: [{ kind: 'nextOid', nextOid }] };
      });
    case XLOG_SWITCH:
      return { kind: 'xlog.switch', ...bare };
    case XLOG_BACKUP_END:
      return withMainData(record, (r) => ({ kind: 'xlog.backupEnd', startPoint: r.u64('startpoint') as Lsn, ...bare }));
    case XLOG_PARAMETER_CHANGE:
      return withMainData(record, describeParameterChange);
    case XLOG_RESTORE_POINT:
      return withMainData(record, (r) => {
        const time = r.i64('rp_time');
        // rp_name is a char[MAXFNAMELEN] holding a NUL-terminated name.
        const nameBytes = r.bytesView(MAXFNAMELEN, 'rp_name');
        const nul = nameBytes.indexOf(0);
        const name = Buffer.from(nameBytes.subarray(0, nul < 0 ? nameBytes.length : nul)).toString('utf8');
        return { kind: 'xlog.restorePoint', time, name, ...bare };
      });
    case XLOG_FPW_CHANGE:
      return withMainData(record, (r) => ({ kind: 'xlog.fpwChange', fullPageWrites: r.bool('fpw'), ...bare }));
    case XLOG_END_OF_RECOVERY:
      return withMainData(record, (r) => {
        const endTime = r.i64('end_time');
        const thisTimeLineId = r.u32('ThisTimeLineID');
        const prevTimeLineId = r.u32('PrevTimeLineID');
        return {
          kind: 'xlog.endOfRecovery',
          endTime,
          thisTimeLineId,
          prevTimeLineId,
          blocks: NO_BLOCKS,
          effects: [{ kind: 'timeline.switch', thisTimeLineId, prevTimeLineId }],
        };
      });
    case XLOG_OVERWRITE_CONTRECORD:
      return withMainData(record, (r) => ({
        kind: 'xlog.overwriteContrecord',
        overwrittenLsn: r.u64('overwritten_lsn') as Lsn,
        overwriteTime: r.i64('overwrite_time'),
        ...bare,
      }));
    case XLOG_FPI:
    case XLOG_FPI_FOR_HINT:
      return { kind: info === XLOG_FPI ? 'xlog.fpi' : 'xlog.fpiForHint', blocks: allBlocks(record, 'page'), effects: NO_EFFECTS };
    default:
      return unknownType(record);
  }
}

/** xlog_desc */
function format(d: XlogRecord): string {
  switch (d.kind) {
    case 'xlog.checkpoint': {
      const c = d.checkpoint;
      return (
        `redo ${formatLsn(c.redo)}; tli ${c.thisTimeLineId}; prev tli ${c.prevTimeLineId}; fpw ${c.fullPageWrites}; ` +
        `xid ${c.nextXid >> 32n}:${c.nextXid & 0xffff_ffffn}; oid ${c.nextOid}; multi ${c.nextMulti}; offset ${c.nextMultiOffset}; ` +
        `oldest xid ${c.oldestXid} in DB ${c.oldestXidDb}; oldest multi ${c.oldestMulti} in DB ${c.oldestMultiDb}; ` +
        `oldest/newest commit timestamp xid: ${c.oldestCommitTsXid}/${c.newestCommitTsXid}; ` +
        `oldest running xid ${c.oldestActiveXid}; ${d.shutdown ? 'shutdown' : 'online'}`
      );
    }
    case 'xlog.nextOid':
      return String(d.nextOid);
    case 'xlog.restorePoint':
      return d.name;
    case 'xlog.backupEnd':
      return formatLsn(d.startPoint);
    case 'xlog.parameterChange':
      return (
        `max_connections=${d.maxConnections} max_worker_processes=${d.maxWorkerProcesses} ` +
        `max_wal_senders=${d.maxWalSenders} max_prepared_xacts=${d.maxPreparedXacts} ` +
        `max_locks_per_xact=${d.maxLocksPerXact} wal_level=${WAL_LEVEL_NAMES[d.walLevel] ?? '?'} ` +
        `wal_log_hints=${d.walLogHints ? 'on' : 'off'} track_commit_timestamp=${d.trackCommitTimestamp ? 'on' : 'off'}`
      );
    case 'xlog.fpwChange':
      return d.fullPageWrites ? 'true' : 'false';
    case 'xlog.endOfRecovery':
      return `tli ${d.thisTimeLineId}; prev tli ${d.prevTimeLineId}; time ${timestamptzToStr(d.endTime)}`;
    case 'xlog.overwriteContrecord':
      return `lsn ${formatLsn(d.overwrittenLsn)}; time ${timestamptzToStr(d.overwriteTime)}`;
    case 'xlog.noop':
    case 'xlog.switch':
    case 'xlog.fpi':
    case 'xlog.fpiForHint':
      return '';
  }
}

export const xlogRmgr: RmgrModule<XlogRecord> = {
  id: RM_XLOG_ID,
  name: 'XLOG',
  identify: (info) => IDENTIFY.get(info & XLR_RMGR_INFO_MASK),
  describe,
  put: putVia(format),
};
