/**
 * CommitTs records (PLACEHOLDER: being written).
 */
import { RM_COMMIT_TS_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const committsRmgr: RmgrModule<DescriptionBase> = {
  id: RM_COMMIT_TS_ID,
  name: 'CommitTs',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
