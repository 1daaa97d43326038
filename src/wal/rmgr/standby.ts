/**
 * Standby records (PLACEHOLDER: being written).
 */
import { RM_STANDBY_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const standbyRmgr: RmgrModule<DescriptionBase> = {
  id: RM_STANDBY_ID,
  name: 'Standby',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
