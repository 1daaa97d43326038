/**
 * Ingest's view of a record (walingest.ts): its block uses (which pages it initialises) and its
 * effects, the two parts of a description ingest reads. For the records that make most WAL (heap
 * row changes, heap2 prune/vacuum/visible/multi-insert, btree leaf inserts, plain commits) the rmgr
 * gives them without the rest of the description, in one object it overwrites on each call; every
 * other record is described in full. Both come from the rmgr's module, which holds each record's
 * layout once.
 */
import { RM_BTREE_ID, RM_HEAP2_ID, RM_HEAP_ID, RM_XACT_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import type { WalRecord } from '../record.js';
import { describeBtreeEffects } from './btree.js';
import { describeHeapEffects } from './heap.js';
import { describeHeap2Effects } from './heap2.js';
import { describeRecord } from './index.js';
import { describeXactEffects } from './xact.js';

/**
 * describeRecord's block uses and effects (the same, for every record), valid until the next call:
 * the caller reads them before it describes another record. The `kind` is describe's too.
 */
export function describeRecordEffects(record: WalRecord): DescriptionBase {
  switch (record.rmid) {
    case RM_HEAP_ID:
      return describeHeapEffects(record);
    case RM_HEAP2_ID:
      return describeHeap2Effects(record);
    case RM_BTREE_ID:
      return describeBtreeEffects(record);
    case RM_XACT_ID:
      return describeXactEffects(record);
    default:
      return describeRecord(record);
  }
}
