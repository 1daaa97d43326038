/**
 * MultiXact records (access/transam/multixact.c, mxactdesc.c): pg_multixact offset and member pages
 * are zeroed, a new multixact's members are recorded, and both SLRUs are truncated.
 */
import { XLR_RMGR_INFO_MASK } from '../../pg/constants.js';
import { RM_MULTIXACT_ID } from '../../pg/rmgr-ids.js';
import type { MultiXactId, Oid, TransactionId } from '../../pg/types.js';
import { NO_BLOCKS, type Effect, type MultiXactMemberStatus, type DescriptionBase } from '../describe.js';
import type { WalRecord } from '../record.js';
import { malformedPayload, rmgrInfo, unknownType, withMainData, type RmgrModule, putVia } from './rmgr.js';
import { readCount } from './standby.js';

export const XLOG_MULTIXACT_ZERO_OFF_PAGE = 0x00;
export const XLOG_MULTIXACT_ZERO_MEM_PAGE = 0x10;
export const XLOG_MULTIXACT_CREATE_ID = 0x20;
export const XLOG_MULTIXACT_TRUNCATE_ID = 0x30;

/** MultiXactStatus values 0-5, in order, with mxactdesc.c's names. */
export const MULTIXACT_STATUS_NAMES: readonly MultiXactMemberStatus[] = ['keysh', 'sh', 'fornokeyupd', 'forupd', 'nokeyupd', 'upd'];


export interface MultiXactZeroPage extends DescriptionBase {
  readonly kind: 'multixact.zeroOffsetPage' | 'multixact.zeroMemberPage';
  readonly page: number;
}

/** MultiXactMember */
export interface MultiXactMember {
  readonly xid: TransactionId;
  readonly status: MultiXactMemberStatus;
}

/** xl_multixact_create */
export interface MultiXactCreate extends DescriptionBase {
  readonly kind: 'multixact.createId';
  readonly mid: MultiXactId;
  /** The first member's offset in pg_multixact/members. */
  readonly moff: number;
  readonly members: readonly MultiXactMember[];
}

/** xl_multixact_truncate: offsets in [startTruncOff, endTruncOff), members in [startTruncMemb, endTruncMemb) go. */
export interface MultiXactTruncate extends DescriptionBase {
  readonly kind: 'multixact.truncateId';
  readonly oldestMultiDb: Oid;
  readonly startTruncOff: MultiXactId;
  readonly endTruncOff: MultiXactId;
  readonly startTruncMemb: number;
  readonly endTruncMemb: number;
}

export type MultiXactRecord = MultiXactZeroPage | MultiXactCreate | MultiXactTruncate;

function describeCreate(record: WalRecord): MultiXactCreate {
  return withMainData(record, (r) => {
    const mid = r.u32('mid') as MultiXactId;
    const moff = r.u32('moff');
    const n = readCount(record, r, 'nmembers');
    const members: MultiXactMember[] = [];
    for (let i = 0; i < n; i++) {
      const xid = r.u32('member xid') as TransactionId;
      const raw = r.u32('member status');
      // PostgreSQL writes only MultiXactStatus values; anything else could not be stored by redo.
      const status = MULTIXACT_STATUS_NAMES[raw];
      if (status === undefined) malformedPayload(record, `member ${i} has unknown MultiXactStatus ${raw}`);
      members.push({ xid, status });
    }
    const effects: Effect[] = [{ kind: 'multixact.create', mid, offset: moff, members }];
    // multixact_redo advances nextXid past the members' xids.
    if (members.length > 0) effects.push({ kind: 'xid.assign', xids: members.map((m) => m.xid) });
    return { kind: 'multixact.createId', mid, moff, members, blocks: NO_BLOCKS, effects };
  });
}

/** Decodes what multixact_redo reads. */
function describe(record: WalRecord): MultiXactRecord {
  const info = rmgrInfo(record);
  switch (info) {
    case XLOG_MULTIXACT_ZERO_OFF_PAGE:
      return withMainData(record, (r) => {
        const page = r.i32('pageno');
        return { kind: 'multixact.zeroOffsetPage', page, blocks: NO_BLOCKS, effects: [{ kind: 'multixact.zeroOffsetPage', page }] };
      });
    case XLOG_MULTIXACT_ZERO_MEM_PAGE:
      return withMainData(record, (r) => {
        const page = r.i32('pageno');
        return { kind: 'multixact.zeroMemberPage', page, blocks: NO_BLOCKS, effects: [{ kind: 'multixact.zeroMemberPage', page }] };
      });
    case XLOG_MULTIXACT_CREATE_ID:
      return describeCreate(record);
    case XLOG_MULTIXACT_TRUNCATE_ID:
      return withMainData(record, (r) => {
        const t = {
          oldestMultiDb: r.u32('oldestMultiDB') as Oid,
          startTruncOff: r.u32('startTruncOff') as MultiXactId,
          endTruncOff: r.u32('endTruncOff') as MultiXactId,
          startTruncMemb: r.u32('startTruncMemb'),
          endTruncMemb: r.u32('endTruncMemb'),
        };
        return { kind: 'multixact.truncateId', ...t, blocks: NO_BLOCKS, effects: [{ kind: 'multixact.truncate', ...t }] };
      });
    default:
      return unknownType(record);
  }
}

/** multixact_desc */
function format(d: MultiXactRecord): string {
  switch (d.kind) {
    case 'multixact.zeroOffsetPage':
    case 'multixact.zeroMemberPage':
      return String(d.page);
    case 'multixact.createId':
      return (
        `${d.mid} offset ${d.moff} nmembers ${d.members.length}: ` +
        d.members.map((m) => `${m.xid} (${m.status}) `).join('')
      );
    case 'multixact.truncateId':
      return `offsets [${d.startTruncOff}, ${d.endTruncOff}), members [${d.startTruncMemb}, ${d.endTruncMemb})`;
  }
}

export const multixactRmgr: RmgrModule<MultiXactRecord> = {
  id: RM_MULTIXACT_ID,
  name: 'MultiXact',
  identify(info) {
    switch (info & XLR_RMGR_INFO_MASK) {
      case XLOG_MULTIXACT_ZERO_OFF_PAGE:
        return 'ZERO_OFF_PAGE';
      case XLOG_MULTIXACT_ZERO_MEM_PAGE:
        return 'ZERO_MEM_PAGE';
      case XLOG_MULTIXACT_CREATE_ID:
        return 'CREATE_ID';
      case XLOG_MULTIXACT_TRUNCATE_ID:
        return 'TRUNCATE_ID';
      default:
        return undefined;
    }
  },
  describe,
  put: putVia(format),
};
