/**
 * Generic records (PLACEHOLDER: being written).
 */
import { RM_GENERIC_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const genericRmgr: RmgrModule<DescriptionBase> = {
  id: RM_GENERIC_ID,
  name: 'Generic',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
