/**
 * ReplicationOrigin records (PLACEHOLDER: being written).
 */
import { RM_REPLORIGIN_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const replOriginRmgr: RmgrModule<DescriptionBase> = {
  id: RM_REPLORIGIN_ID,
  name: 'ReplicationOrigin',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
