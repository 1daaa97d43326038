/**
 * Heap records (PLACEHOLDER: being written).
 */
import { RM_HEAP_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const heapRmgr: RmgrModule<DescriptionBase> = {
  id: RM_HEAP_ID,
  name: 'Heap',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
