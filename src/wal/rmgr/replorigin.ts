/**
 * Replication origin records (replication/logical/origin.c, replorigindesc.c): an origin's remote
 * LSN is advanced, or the origin is dropped. Redo keeps this progress in shared memory, written to
 * pg_logical/replorigin_checkpoint at checkpoints; no page or relation file changes.
 */
import type { Lsn } from '../../pg/lsn.js';
import { RM_REPLORIGIN_ID } from '../../pg/rmgr-ids.js';
import { NO_BLOCKS, NO_EFFECTS, type DescriptionBase } from '../describe.js';
import type { WalRecord } from '../record.js';
import { formatLsn, rmgrInfo, unknownType, withMainData, type RmgrModule, putVia } from './rmgr.js';

export const XLOG_REPLORIGIN_SET = 0x00;
export const XLOG_REPLORIGIN_DROP = 0x10;


/** xl_replorigin_set: remote_lsn@0, node_id@8, force@10. */
export interface ReplOriginSet extends DescriptionBase {
  readonly kind: 'replorigin.set';
  readonly remoteLsn: Lsn;
  readonly nodeId: number;
  /** Move the origin's LSN even backwards. */
  readonly force: boolean;
}

/** xl_replorigin_drop */
export interface ReplOriginDrop extends DescriptionBase {
  readonly kind: 'replorigin.drop';
  readonly nodeId: number;
}

export type ReplOriginRecord = ReplOriginSet | ReplOriginDrop;

/** Decodes what replorigin_redo reads. */
function describe(record: WalRecord): ReplOriginRecord {
  switch (rmgrInfo(record)) {
    case XLOG_REPLORIGIN_SET:
      return withMainData(record, (r) => {
        const remoteLsn = r.u64('remote_lsn') as Lsn;
        const nodeId = r.u16('node_id');
        const force = r.bool('force');
        return { kind: 'replorigin.set', remoteLsn, nodeId, force, blocks: NO_BLOCKS, effects: NO_EFFECTS };
      });
    case XLOG_REPLORIGIN_DROP:
      return withMainData(record, (r) => ({ kind: 'replorigin.drop', nodeId: r.u16('node_id'), blocks: NO_BLOCKS, effects: NO_EFFECTS }));
    default:
      return unknownType(record);
  }
}

/** replorigin_desc */
function format(d: ReplOriginRecord): string {
  switch (d.kind) {
    case 'replorigin.set':
      return `set ${d.nodeId}; lsn ${formatLsn(d.remoteLsn)}; force: ${d.force ? 1 : 0}`;
    case 'replorigin.drop':
      return `drop ${d.nodeId}`;
  }
}

export const replOriginRmgr: RmgrModule<ReplOriginRecord> = {
  id: RM_REPLORIGIN_ID,
  name: 'ReplicationOrigin',
  // replorigin_identify compares the whole xl_info, XLR_INFO_MASK bits included.
  identify(info) {
    switch (info) {
      case XLOG_REPLORIGIN_SET:
        return 'SET';
      case XLOG_REPLORIGIN_DROP:
        return 'DROP';
      default:
        return undefined;
    }
  },
  describe,
  put: putVia(format),
};
