/**
 * BRIN records (PLACEHOLDER: being written).
 */
import { RM_BRIN_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const brinRmgr: RmgrModule<DescriptionBase> = {
  id: RM_BRIN_ID,
  name: 'BRIN',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
