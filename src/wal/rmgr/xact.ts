/**
 * Transaction records (PLACEHOLDER: being written).
 */
import { RM_XACT_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const xactRmgr: RmgrModule<DescriptionBase> = {
  id: RM_XACT_ID,
  name: 'Transaction',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
