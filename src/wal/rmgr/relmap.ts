/**
 * RelMap records (PLACEHOLDER: being written).
 */
import { RM_RELMAP_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const relmapRmgr: RmgrModule<DescriptionBase> = {
  id: RM_RELMAP_ID,
  name: 'RelMap',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
