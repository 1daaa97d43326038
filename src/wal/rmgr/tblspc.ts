/**
 * Tablespace records (commands/tablespace.c, tblspcdesc.c): a tablespace's directory and its
 * pg_tblspc symlink are created, or the (empty) tablespace is removed.
 */
import { XLR_RMGR_INFO_MASK } from '../../pg/constants.js';
import { RM_TBLSPC_ID } from '../../pg/rmgr-ids.js';
import type { Oid } from '../../pg/types.js';
import { NO_BLOCKS, type DescriptionBase } from '../describe.js';
import type { WalRecord } from '../record.js';
import { rmgrInfo, unknownType, withMainData, type RmgrModule, putVia } from './rmgr.js';

export const XLOG_TBLSPC_CREATE = 0x00;
export const XLOG_TBLSPC_DROP = 0x10;


/** xl_tblspc_create_rec */
export interface TblspcCreate extends DescriptionBase {
  readonly kind: 'tblspc.create';
  readonly tsId: Oid;
  /** The LOCATION given to CREATE TABLESPACE. */
  readonly path: string;
}

/** xl_tblspc_drop_rec */
export interface TblspcDrop extends DescriptionBase {
  readonly kind: 'tblspc.drop';
  readonly tsId: Oid;
}

export type TblspcRecord = TblspcCreate | TblspcDrop;

/** Decodes what tblspc_redo reads. */
function describe(record: WalRecord): TblspcRecord {
  switch (rmgrInfo(record)) {
    case XLOG_TBLSPC_CREATE:
      return withMainData(record, (r) => {
        const tsId = r.u32('ts_id') as Oid;
        const path = r.cstring('ts_path');
        return { kind: 'tblspc.create', tsId, path, blocks: NO_BLOCKS, effects: [{ kind: 'tablespace.create', tsId, path }] };
      });
    case XLOG_TBLSPC_DROP:
      return withMainData(record, (r) => {
        const tsId = r.u32('ts_id') as Oid;
        return { kind: 'tblspc.drop', tsId, blocks: NO_BLOCKS, effects: [{ kind: 'tablespace.drop', tsId }] };
      });
    default:
      return unknownType(record);
  }
}

/** tblspc_desc */
function format(d: TblspcRecord): string {
  switch (d.kind) {
    case 'tblspc.create':
      return `${d.tsId} "${d.path}"`;
    case 'tblspc.drop':
      return String(d.tsId);
  }
}

export const tblspcRmgr: RmgrModule<TblspcRecord> = {
  id: RM_TBLSPC_ID,
  name: 'Tablespace',
  identify(info) {
    switch (info & XLR_RMGR_INFO_MASK) {
      case XLOG_TBLSPC_CREATE:
        return 'CREATE';
      case XLOG_TBLSPC_DROP:
        return 'DROP';
      default:
        return undefined;
    }
  },
  describe,
  put: putVia(format),
};
