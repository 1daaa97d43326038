/**
 * Gin records (PLACEHOLDER: being written).
 */
import { RM_GIN_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const ginRmgr: RmgrModule<DescriptionBase> = {
  id: RM_GIN_ID,
  name: 'Gin',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
