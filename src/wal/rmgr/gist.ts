/**
 * Gist records (PLACEHOLDER: being written).
 */
import { RM_GIST_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const gistRmgr: RmgrModule<DescriptionBase> = {
  id: RM_GIST_ID,
  name: 'Gist',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
