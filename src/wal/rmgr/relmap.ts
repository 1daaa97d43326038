/**
 * Relation mapper records (utils/cache/relmapper.c, relmapdesc.c): a pg_filenode.map file is
 * replaced whole, for one database or (dbId 0, tablespace pg_global) for the shared catalogs.
 */
import { XLR_RMGR_INFO_MASK } from '../../pg/constants.js';
import { RM_RELMAP_ID } from '../../pg/rmgr-ids.js';
import type { Oid } from '../../pg/types.js';
import { NO_BLOCKS, type BlockUse, type Effect } from '../describe.js';
import type { WalRecord } from '../record.js';
import { rmgrInfo, unknownType, withMainData, type RmgrModule, putVia } from './rmgr.js';
import { readCount } from './standby.js';

export const XLOG_RELMAP_UPDATE = 0x00;

/** sizeof(RelMapFile): the only size relmap_redo accepts. */
export const RELMAP_FILE_SIZE = 512;

/** xl_relmap_update: dbid@0, tsid@4, nbytes@8, data@12. */
export interface RelmapUpdate {
  readonly kind: 'relmap.update';
  readonly dbId: Oid;
  readonly tsId: Oid;
  /** The new RelMapFile, nbytes long. */
  readonly data: Uint8Array;
  readonly blocks: readonly BlockUse[];
  readonly effects: readonly Effect[];
}

export type RelmapRecord = RelmapUpdate;

/** Decodes what relmap_redo reads. */
function describe(record: WalRecord): RelmapRecord {
  if (rmgrInfo(record) !== XLOG_RELMAP_UPDATE) return unknownType(record);
  return withMainData(record, (r) => {
    const dbId = r.u32('dbid') as Oid;
    const tsId = r.u32('tsid') as Oid;
    const data = r.bytesView(readCount(record, r, 'nbytes'), 'relmap data');
    return { kind: 'relmap.update', dbId, tsId, data, blocks: NO_BLOCKS, effects: [{ kind: 'relmap.update', dbId, tsId, data }] };
  });
}

/** relmap_desc */
function format(d: RelmapRecord): string {
  return `database ${d.dbId} tablespace ${d.tsId} size ${d.data.length}`;
}

export const relmapRmgr: RmgrModule<RelmapRecord> = {
  id: RM_RELMAP_ID,
  name: 'RelMap',
  identify: (info) => ((info & XLR_RMGR_INFO_MASK) === XLOG_RELMAP_UPDATE ? 'UPDATE' : undefined),
  describe,
  put: putVia(format),
};
