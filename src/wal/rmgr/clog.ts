/**
 * CLOG records (PLACEHOLDER: being written).
 */
import { RM_CLOG_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const clogRmgr: RmgrModule<DescriptionBase> = {
  id: RM_CLOG_ID,
  name: 'CLOG',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
