/**
 * The resource manager table, indexed by rmgr id (rmgrlist.h). One module per rmgr; `describe`
 * dispatches to it and fails loudly for an id with no module.
 */
import { formatLsn } from '../../pg/lsn.js';
import type { DescriptionBase } from '../describe.js';
import { WalDecodeError } from '../errors.js';
import type { WalRecord } from '../record.js';
import type { RmgrModule } from './rmgr.js';
import { xlogRmgr } from './xlog.js';
import { xactRmgr } from './xact.js';
import { smgrRmgr } from './smgr.js';
import { clogRmgr } from './clog.js';
import { dbaseRmgr } from './dbase.js';
import { tblspcRmgr } from './tblspc.js';
import { multixactRmgr } from './multixact.js';
import { relmapRmgr } from './relmap.js';
import { standbyRmgr } from './standby.js';
import { heap2Rmgr } from './heap2.js';
import { heapRmgr } from './heap.js';
import { btreeRmgr } from './btree.js';
import { hashRmgr } from './hash.js';
import { ginRmgr } from './gin.js';
import { gistRmgr } from './gist.js';
import { seqRmgr } from './seq.js';
import { spgistRmgr } from './spgist.js';
import { brinRmgr } from './brin.js';
import { committsRmgr } from './committs.js';
import { replOriginRmgr } from './replorigin.js';
import { genericRmgr } from './generic.js';
import { logicalMsgRmgr } from './logicalmsg.js';

export const RMGRS: readonly RmgrModule<DescriptionBase>[] = [
  xlogRmgr,
  xactRmgr,
  smgrRmgr,
  clogRmgr,
  dbaseRmgr,
  tblspcRmgr,
  multixactRmgr,
  relmapRmgr,
  standbyRmgr,
  heap2Rmgr,
  heapRmgr,
  btreeRmgr,
  hashRmgr,
  ginRmgr,
  gistRmgr,
  seqRmgr,
  spgistRmgr,
  brinRmgr,
  committsRmgr,
  replOriginRmgr,
  genericRmgr,
  logicalMsgRmgr,
] as RmgrModule<DescriptionBase>[];

for (const [i, m] of RMGRS.entries()) if (m.id !== i) throw new Error(`rmgr table out of order: ${m.name} has id ${m.id} at ${i}`);

export function rmgrFor(record: WalRecord): RmgrModule<DescriptionBase> {
  const m = RMGRS[record.rmid];
  if (m === undefined)
    throw new WalDecodeError(
      'UNKNOWN_RECORD_TYPE',
      `Cannot describe record at ${formatLsn(record.lsn)}: no resource manager with id ${record.rmid}`,
      record.lsn,
    );
  return m;
}

/** The typed description of a record (see describe.ts). */
export function describeRecord(record: WalRecord): DescriptionBase {
  return rmgrFor(record).describe(record);
}
