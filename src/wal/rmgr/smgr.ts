/**
 * Storage records (PLACEHOLDER: being written).
 */
import { RM_SMGR_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const smgrRmgr: RmgrModule<DescriptionBase> = {
  id: RM_SMGR_ID,
  name: 'Storage',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
