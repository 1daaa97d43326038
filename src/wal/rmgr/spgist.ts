/**
 * SPGist records (PLACEHOLDER: being written).
 */
import { RM_SPGIST_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const spgistRmgr: RmgrModule<DescriptionBase> = {
  id: RM_SPGIST_ID,
  name: 'SPGist',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
