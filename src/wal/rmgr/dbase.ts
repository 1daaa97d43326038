/**
 * Database records (commands/dbcommands.c, dbasedesc.c): CREATE DATABASE (by copying the template's
 * directory, or by creating an empty directory whose relations are then WAL-logged block by block)
 * and DROP DATABASE.
 */
import { XLR_RMGR_INFO_MASK } from '../../pg/constants.js';
import { RM_DBASE_ID } from '../../pg/rmgr-ids.js';
import type { Oid } from '../../pg/types.js';
import { NO_BLOCKS, type DescriptionBase } from '../describe.js';
import type { WalRecord } from '../record.js';
import { rmgrInfo, unknownType, withMainData, type RmgrModule, putVia } from './rmgr.js';
import { readCount } from './standby.js';

export const XLOG_DBASE_CREATE_FILE_COPY = 0x00;
export const XLOG_DBASE_CREATE_WAL_LOG = 0x10;
export const XLOG_DBASE_DROP = 0x20;


/** xl_dbase_create_file_copy_rec: copy the template's directory as it is at this record. */
export interface DbaseCreateFileCopy extends DescriptionBase {
  readonly kind: 'dbase.createFileCopy';
  readonly dbId: Oid;
  readonly tsId: Oid;
  readonly srcDbId: Oid;
  readonly srcTsId: Oid;
}

/** xl_dbase_create_wal_log_rec: create the directory and PG_VERSION; the relations follow. */
export interface DbaseCreateWalLog extends DescriptionBase {
  readonly kind: 'dbase.createWalLog';
  readonly dbId: Oid;
  readonly tsId: Oid;
}

/** xl_dbase_drop_rec */
export interface DbaseDrop extends DescriptionBase {
  readonly kind: 'dbase.drop';
  readonly dbId: Oid;
  /** The tablespaces holding a directory of the database. */
  readonly tsIds: readonly Oid[];
}

export type DbaseRecord = DbaseCreateFileCopy | DbaseCreateWalLog | DbaseDrop;

/** Decodes what dbase_redo reads. */
function describe(record: WalRecord): DbaseRecord {
  switch (rmgrInfo(record)) {
    case XLOG_DBASE_CREATE_FILE_COPY:
      return withMainData(record, (r) => {
        const dbId = r.u32('db_id') as Oid;
        const tsId = r.u32('tablespace_id') as Oid;
        const srcDbId = r.u32('src_db_id') as Oid;
        const srcTsId = r.u32('src_tablespace_id') as Oid;
        return {
          kind: 'dbase.createFileCopy',
          dbId,
          tsId,
          srcDbId,
          srcTsId,
          blocks: NO_BLOCKS,
          effects: [{ kind: 'database.create', dbId, tsId, strategy: 'file_copy', srcDbId, srcTsId }],
        };
      });
    case XLOG_DBASE_CREATE_WAL_LOG:
      return withMainData(record, (r) => {
        const dbId = r.u32('db_id') as Oid;
        const tsId = r.u32('tablespace_id') as Oid;
        return {
          kind: 'dbase.createWalLog',
          dbId,
          tsId,
          blocks: NO_BLOCKS,
          effects: [{ kind: 'database.create', dbId, tsId, strategy: 'wal_log' }],
        };
      });
    case XLOG_DBASE_DROP:
      return withMainData(record, (r) => {
        const dbId = r.u32('db_id') as Oid;
        const n = readCount(record, r, 'ntablespaces');
        const tsIds: Oid[] = [];
        for (let i = 0; i < n; i++) tsIds.push(r.u32('tablespace_ids') as Oid);
        return { kind: 'dbase.drop', dbId, tsIds, blocks: NO_BLOCKS, effects: [{ kind: 'database.drop', dbId, tsIds }] };
      });
    default:
      return unknownType(record);
  }
}

/** dbase_desc */
function format(d: DbaseRecord): string {
  switch (d.kind) {
    case 'dbase.createFileCopy':
      return `copy dir ${d.srcTsId}/${d.srcDbId} to ${d.tsId}/${d.dbId}`;
    case 'dbase.createWalLog':
      return `create dir ${d.tsId}/${d.dbId}`;
    case 'dbase.drop':
      return 'dir' + d.tsIds.map((ts) => ` ${ts}/${d.dbId}`).join('');
  }
}

export const dbaseRmgr: RmgrModule<DbaseRecord> = {
  id: RM_DBASE_ID,
  name: 'Database',
  identify(info) {
    switch (info & XLR_RMGR_INFO_MASK) {
      case XLOG_DBASE_CREATE_FILE_COPY:
        return 'CREATE_FILE_COPY';
      case XLOG_DBASE_CREATE_WAL_LOG:
        return 'CREATE_WAL_LOG';
      case XLOG_DBASE_DROP:
        return 'DROP';
      default:
        return undefined;
    }
  },
  describe,
  put: putVia(format),
};
