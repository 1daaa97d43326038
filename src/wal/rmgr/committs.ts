/**
 * Commit timestamp records (access/transam/commit_ts.c, committsdesc.c): a pg_commit_ts page is
 * zeroed, or pg_commit_ts is truncated. The timestamps themselves come from commit records
 * (xact.ts, effect 'commitTs.set').
 */
import { RM_COMMIT_TS_ID } from '../../pg/rmgr-ids.js';
import type { TransactionId } from '../../pg/types.js';
import { NO_BLOCKS, type DescriptionBase } from '../describe.js';
import type { WalRecord } from '../record.js';
import { rmgrInfo, unknownType, withMainData, type RmgrModule, putVia } from './rmgr.js';

export const COMMIT_TS_ZEROPAGE = 0x00;
export const COMMIT_TS_TRUNCATE = 0x10;


export interface CommitTsZeroPage extends DescriptionBase {
  readonly kind: 'commitTs.zeroPage';
  readonly page: number;
}

/** xl_commit_ts_truncate */
export interface CommitTsTruncate extends DescriptionBase {
  readonly kind: 'commitTs.truncate';
  readonly page: number;
  readonly oldestXid: TransactionId;
}

export type CommitTsRecord = CommitTsZeroPage | CommitTsTruncate;

/** Decodes what commit_ts_redo reads. */
function describe(record: WalRecord): CommitTsRecord {
  switch (rmgrInfo(record)) {
    case COMMIT_TS_ZEROPAGE:
      return withMainData(record, (r) => {
        const page = r.i32('pageno');
        return { kind: 'commitTs.zeroPage', page, blocks: NO_BLOCKS, effects: [{ kind: 'commitTs.zeroPage', page }] };
      });
    case COMMIT_TS_TRUNCATE:
      return withMainData(record, (r) => {
        const page = r.i32('pageno');
        const oldestXid = r.u32('oldestXid') as TransactionId;
        return { kind: 'commitTs.truncate', page, oldestXid, blocks: NO_BLOCKS, effects: [{ kind: 'commitTs.truncate', page, oldestXid }] };
      });
    default:
      return unknownType(record);
  }
}

/** commit_ts_desc */
function format(d: CommitTsRecord): string {
  switch (d.kind) {
    case 'commitTs.zeroPage':
      return String(d.page);
    case 'commitTs.truncate':
      return `pageno ${d.page}, oldestXid ${d.oldestXid}`;
  }
}

export const committsRmgr: RmgrModule<CommitTsRecord> = {
  id: RM_COMMIT_TS_ID,
  name: 'CommitTs',
  // commit_ts_identify compares the whole xl_info, XLR_INFO_MASK bits included.
  identify(info) {
    switch (info) {
      case COMMIT_TS_ZEROPAGE:
        return 'ZEROPAGE';
      case COMMIT_TS_TRUNCATE:
        return 'TRUNCATE';
      default:
        return undefined;
    }
  },
  describe,
  put: putVia(format),
};
