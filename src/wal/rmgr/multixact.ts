/**
 * MultiXact records (PLACEHOLDER: being written).
 */
import { RM_MULTIXACT_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const multixactRmgr: RmgrModule<DescriptionBase> = {
  id: RM_MULTIXACT_ID,
  name: 'MultiXact',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
