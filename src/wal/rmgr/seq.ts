/**
 * Sequence records (PLACEHOLDER: being written).
 */
import { RM_SEQ_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const seqRmgr: RmgrModule<DescriptionBase> = {
  id: RM_SEQ_ID,
  name: 'Sequence',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
