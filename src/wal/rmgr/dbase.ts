/**
 * Database records (PLACEHOLDER: being written).
 */
import { RM_DBASE_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const dbaseRmgr: RmgrModule<DescriptionBase> = {
  id: RM_DBASE_ID,
  name: 'Database',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
