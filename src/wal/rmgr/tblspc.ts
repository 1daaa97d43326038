/**
 * Tablespace records (PLACEHOLDER: being written).
 */
import { RM_TBLSPC_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { unknownType, type RmgrModule } from './rmgr.js';

export const tblspcRmgr: RmgrModule<DescriptionBase> = {
  id: RM_TBLSPC_ID,
  name: 'Tablespace',
  identify: () => undefined,
  describe: (record) => unknownType(record),
  format: () => '',
};
