/**
 * Hash records (PLACEHOLDER: being written).
 */
import { RM_HASH_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const hashRmgr: RmgrModule<DescriptionBase> = {
  id: RM_HASH_ID,
  name: 'Hash',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
