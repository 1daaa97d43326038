/**
 * Standby records (storage/ipc/standby.c, standbydesc.c): AccessExclusiveLocks, snapshots of the
 * running transactions, and cache invalidations, all for hot standby. None changes pages or files;
 * ingest may use RUNNING_XACTS's counters (nextXid, oldestRunningXid).
 *
 * Also home to the shared invalidation messages (storage/sinval.h), which transaction commit and
 * prepare records carry too, and to standby_desc_invalidations, which prints them.
 */
import { XLR_RMGR_INFO_MASK } from '../../pg/constants.js';
import type { ByteReader } from '../../pg/bytes.js';
import { RM_STANDBY_ID } from '../../pg/rmgr-ids.js';
import type { Oid, RelFileNode, TransactionId } from '../../pg/types.js';
import { NO_BLOCKS, NO_EFFECTS, type DescriptionBase } from '../describe.js';
import type { WalRecord } from '../record.js';
import { malformedPayload, rmgrInfo, unknownType, withMainData, type RmgrModule, putVia } from './rmgr.js';
import { readRelFileNode } from './smgr.js';

export const XLOG_STANDBY_LOCK = 0x00;
export const XLOG_RUNNING_XACTS = 0x10;
export const XLOG_INVALIDATIONS = 0x20;

/** sizeof(SharedInvalidationMessage): a 16-byte union whose first byte, an int8, says which. */
export const SIZE_OF_INVALIDATION_MESSAGE = 16;
export const SHAREDINVALCATALOG_ID = -1;
export const SHAREDINVALRELCACHE_ID = -2;
export const SHAREDINVALSMGR_ID = -3;
export const SHAREDINVALRELMAP_ID = -4;
export const SHAREDINVALSNAPSHOT_ID = -5;

/** SharedInvalidationMessage, by its id. */
export type InvalidationMessage =
  /** id >= 0: a catcache entry, `cacheId` being the id. */
  | { readonly kind: 'catcache'; readonly cacheId: number; readonly dbId: Oid; readonly hashValue: number }
  | { readonly kind: 'catalog'; readonly dbId: Oid; readonly catId: Oid }
  | { readonly kind: 'relcache'; readonly dbId: Oid; readonly relId: Oid }
  | { readonly kind: 'smgr'; readonly backend: number; readonly rel: RelFileNode }
  | { readonly kind: 'relmap'; readonly dbId: Oid }
  | { readonly kind: 'snapshot'; readonly dbId: Oid; readonly relId: Oid }
  | { readonly kind: 'unknown'; readonly id: number };

/** Reads one 16-byte SharedInvalidationMessage. */
export function readInvalidationMessage(r: ByteReader): InvalidationMessage {
  const start = r.offset;
  r.need(SIZE_OF_INVALIDATION_MESSAGE, 'SharedInvalidationMessage');
  const id = r.i8('SharedInvalidationMessage.id');
  let msg: InvalidationMessage;
  if (id === SHAREDINVALSMGR_ID) {
    // SharedInvalSmgrMsg: id, backend_hi (int8), backend_lo (uint16), rnode.
    const hi = r.i8('backend_hi');
    const lo = r.u16('backend_lo');
    msg = { kind: 'smgr', backend: (hi << 16) | lo, rel: readRelFileNode(r, 'rnode') };
  } else {
    r.skip(3); // to the 4-aligned dbId every other member has
    const dbId = r.u32('dbId') as Oid;
    if (id >= 0) msg = { kind: 'catcache', cacheId: id, dbId, hashValue: r.u32('hashValue') };
    else if (id === SHAREDINVALCATALOG_ID) msg = { kind: 'catalog', dbId, catId: r.u32('catId') as Oid };
    else if (id === SHAREDINVALRELCACHE_ID) msg = { kind: 'relcache', dbId, relId: r.u32('relId') as Oid };
    else if (id === SHAREDINVALRELMAP_ID) msg = { kind: 'relmap', dbId };
    else if (id === SHAREDINVALSNAPSHOT_ID) msg = { kind: 'snapshot', dbId, relId: r.u32('relId') as Oid };
    else msg = { kind: 'unknown', id };
  }
  r.offset = start + SIZE_OF_INVALIDATION_MESSAGE;
  return msg;
}

export function readInvalidationMessages(r: ByteReader, n: number): InvalidationMessage[] {
  const msgs: InvalidationMessage[] = [];
  for (let i = 0; i < n; i++) msgs.push(readInvalidationMessage(r));
  return msgs;
}

/** standby_desc_invalidations */
export function formatInvalidations(msgs: readonly InvalidationMessage[], dbId: number, tsId: number, relcacheInitFileInval: boolean): string {
  if (msgs.length === 0) return '';
  let s = relcacheInitFileInval ? `; relcache init file inval dbid ${dbId} tsid ${tsId}` : '';
  s += '; inval msgs:';
  for (const m of msgs) {
    switch (m.kind) {
      case 'catcache':
        s += ` catcache ${m.cacheId}`;
        break;
      case 'catalog':
        s += ` catalog ${m.catId}`;
        break;
      case 'relcache':
        s += ` relcache ${m.relId}`;
        break;
      case 'smgr':
        s += ' smgr';
        break;
      case 'relmap':
        s += ` relmap db ${m.dbId}`;
        break;
      case 'snapshot':
        s += ` snapshot ${m.relId}`;
        break;
      case 'unknown':
        s += ` unrecognized id ${m.id}`;
        break;
    }
  }
  return s;
}


/** xl_standby_lock */
export interface StandbyLockEntry {
  readonly xid: TransactionId;
  readonly dbOid: Oid;
  readonly relOid: Oid;
}

/** xl_standby_locks */
export interface StandbyLock extends DescriptionBase {
  readonly kind: 'standby.lock';
  readonly locks: readonly StandbyLockEntry[];
}

/** xl_running_xacts */
export interface StandbyRunningXacts extends DescriptionBase {
  readonly kind: 'standby.runningXacts';
  readonly subxidOverflow: boolean;
  readonly nextXid: TransactionId;
  readonly oldestRunningXid: TransactionId;
  readonly latestCompletedXid: TransactionId;
  /** The top-level xids (xcnt of them). */
  readonly xids: readonly TransactionId[];
  /** The subtransaction xids that follow them (subxcnt). */
  readonly subxids: readonly TransactionId[];
}

/** xl_invalidations */
export interface StandbyInvalidations extends DescriptionBase {
  readonly kind: 'standby.invalidations';
  readonly dbId: Oid;
  readonly tsId: Oid;
  readonly relcacheInitFileInval: boolean;
  readonly messages: readonly InvalidationMessage[];
}

export type StandbyRecord = StandbyLock | StandbyRunningXacts | StandbyInvalidations;

/** Reads a count field and checks it is not negative (C ints used as array lengths). */
export function readCount(record: WalRecord, r: ByteReader, what: string): number {
  const n = r.i32(what);
  if (n < 0) malformedPayload(record, `${what} must be >= 0, received ${n}`);
  return n;
}

function readXids(r: ByteReader, n: number, what: string): TransactionId[] {
  const xids: TransactionId[] = [];
  for (let i = 0; i < n; i++) xids.push(r.u32(what) as TransactionId);
  return xids;
}

/** Decodes what standby_redo and standby_desc read. */
function describe(record: WalRecord): StandbyRecord {
  switch (rmgrInfo(record)) {
    case XLOG_STANDBY_LOCK:
      return withMainData(record, (r) => {
        const n = readCount(record, r, 'nlocks');
        const locks: StandbyLockEntry[] = [];
        for (let i = 0; i < n; i++)
          locks.push({ xid: r.u32('lock xid') as TransactionId, dbOid: r.u32('lock dbOid') as Oid, relOid: r.u32('lock relOid') as Oid });
        return { kind: 'standby.lock', locks, blocks: NO_BLOCKS, effects: NO_EFFECTS };
      });
    case XLOG_RUNNING_XACTS:
      return withMainData(record, (r) => {
        const xcnt = readCount(record, r, 'xcnt');
        const subxcnt = readCount(record, r, 'subxcnt');
        const subxidOverflow = r.bool('subxid_overflow');
        r.skip(3);
        const nextXid = r.u32('nextXid') as TransactionId;
        const oldestRunningXid = r.u32('oldestRunningXid') as TransactionId;
        const latestCompletedXid = r.u32('latestCompletedXid') as TransactionId;
        const xids = readXids(r, xcnt, 'xids');
        const subxids = readXids(r, subxcnt, 'subxids');
        return {
          kind: 'standby.runningXacts',
          subxidOverflow,
          nextXid,
          oldestRunningXid,
          latestCompletedXid,
          xids,
          subxids,
          blocks: NO_BLOCKS,
          effects: NO_EFFECTS,
        };
      });
    case XLOG_INVALIDATIONS:
      return withMainData(record, (r) => {
        const dbId = r.u32('dbId') as Oid;
        const tsId = r.u32('tsId') as Oid;
        const relcacheInitFileInval = r.bool('relcacheInitFileInval');
        r.skip(3);
        const n = readCount(record, r, 'nmsgs');
        const messages = readInvalidationMessages(r, n);
        return { kind: 'standby.invalidations', dbId, tsId, relcacheInitFileInval, messages, blocks: NO_BLOCKS, effects: NO_EFFECTS };
      });
    default:
      return unknownType(record);
  }
}

/** standby_desc */
function format(d: StandbyRecord): string {
  switch (d.kind) {
    case 'standby.lock':
      return d.locks.map((l) => `xid ${l.xid} db ${l.dbOid} rel ${l.relOid} `).join('');
    case 'standby.runningXacts': {
      let s = `nextXid ${d.nextXid} latestCompletedXid ${d.latestCompletedXid} oldestRunningXid ${d.oldestRunningXid}`;
      if (d.xids.length > 0) s += `; ${d.xids.length} xacts:` + d.xids.map((x) => ` ${x}`).join('');
      if (d.subxidOverflow) s += '; subxid ovf';
      return s;
    }
    case 'standby.invalidations':
      return formatInvalidations(d.messages, d.dbId, d.tsId, d.relcacheInitFileInval);
  }
}

export const standbyRmgr: RmgrModule<StandbyRecord> = {
  id: RM_STANDBY_ID,
  name: 'Standby',
  identify(info) {
    switch (info & XLR_RMGR_INFO_MASK) {
      case XLOG_STANDBY_LOCK:
        return 'LOCK';
      case XLOG_RUNNING_XACTS:
        return 'RUNNING_XACTS';
      case XLOG_INVALIDATIONS:
        return 'INVALIDATIONS';
      default:
        return undefined;
    }
  },
  describe,
  put: putVia(format),
};
