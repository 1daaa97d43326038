/**
 * XLOG records (PLACEHOLDER: being written).
 */
import { RM_XLOG_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const xlogRmgr: RmgrModule<DescriptionBase> = {
  id: RM_XLOG_ID,
  name: 'XLOG',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
