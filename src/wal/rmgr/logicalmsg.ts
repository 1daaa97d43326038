/**
 * LogicalMessage records (PLACEHOLDER: being written).
 */
import { RM_LOGICALMSG_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const logicalMsgRmgr: RmgrModule<DescriptionBase> = {
  id: RM_LOGICALMSG_ID,
  name: 'LogicalMessage',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
