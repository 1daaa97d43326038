/**
 * Btree records (PLACEHOLDER: being written).
 */
import { RM_BTREE_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const btreeRmgr: RmgrModule<DescriptionBase> = {
  id: RM_BTREE_ID,
  name: 'Btree',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
