/**
 * Heap2 records (PLACEHOLDER: being written).
 */
import { RM_HEAP2_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const heap2Rmgr: RmgrModule<DescriptionBase> = {
  id: RM_HEAP2_ID,
  name: 'Heap2',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
