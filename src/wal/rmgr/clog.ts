/**
 * CLOG records (access/transam/clog.c, clogdesc.c): a pg_xact page is zeroed before its first
 * transaction, or pg_xact is truncated below the oldest xid still needed. Transaction status itself
 * is set by commit and abort records (xact.ts).
 */
import { XLR_RMGR_INFO_MASK } from '../../pg/constants.js';
import { RM_CLOG_ID } from '../../pg/rmgr-ids.js';
import type { Oid, TransactionId } from '../../pg/types.js';
import { NO_BLOCKS, type DescriptionBase } from '../describe.js';
import type { WalRecord } from '../record.js';
import { rmgrInfo, unknownType, withMainData, type RmgrModule, putVia } from './rmgr.js';

export const CLOG_ZEROPAGE = 0x00;
export const CLOG_TRUNCATE = 0x10;


export interface ClogZeroPage extends DescriptionBase {
  readonly kind: 'clog.zeroPage';
  readonly page: number;
}

/** xl_clog_truncate */
export interface ClogTruncate extends DescriptionBase {
  readonly kind: 'clog.truncate';
  readonly page: number;
  readonly oldestXact: TransactionId;
  readonly oldestXactDb: Oid;
}

export type ClogRecord = ClogZeroPage | ClogTruncate;

/** Decodes what clog_redo reads. */
function describe(record: WalRecord): ClogRecord {
  switch (rmgrInfo(record)) {
    case CLOG_ZEROPAGE:
      return withMainData(record, (r) => {
        const page = r.i32('pageno');
        return { kind: 'clog.zeroPage', page, blocks: NO_BLOCKS, effects: [{ kind: 'clog.zeroPage', page }] };
      });
    case CLOG_TRUNCATE:
      return withMainData(record, (r) => {
        const page = r.i32('pageno');
        const oldestXact = r.u32('oldestXact') as TransactionId;
        const oldestXactDb = r.u32('oldestXactDb') as Oid;
        return {
          kind: 'clog.truncate',
          page,
          oldestXact,
          oldestXactDb,
          blocks: NO_BLOCKS,
          effects: [{ kind: 'clog.truncate', page, oldestXid: oldestXact, oldestXidDb: oldestXactDb }],
        };
      });
    default:
      return unknownType(record);
  }
}

/** clog_desc */
function format(d: ClogRecord): string {
  switch (d.kind) {
    case 'clog.zeroPage':
      return `page ${d.page}`;
    case 'clog.truncate':
      return `page ${d.page}; oldestXact ${d.oldestXact}`;
  }
}

export const clogRmgr: RmgrModule<ClogRecord> = {
  id: RM_CLOG_ID,
  name: 'CLOG',
  identify(info) {
    switch (info & XLR_RMGR_INFO_MASK) {
      case CLOG_ZEROPAGE:
        return 'ZEROPAGE';
      case CLOG_TRUNCATE:
        return 'TRUNCATE';
      default:
        return undefined;
    }
  },
  describe,
  put: putVia(format),
};
