/**
 * XLOG redo for pages: XLOG_FPI and XLOG_FPI_FOR_HINT (xlog_redo). Their images are all APPLY
 * images, which the dispatcher restores before any rmgr is asked; reaching `redo` means the block
 * had no image to apply, which PostgreSQL reports as an error too.
 */
import { RM_XLOG_ID } from '../../pg/rmgr-ids.js';
import { XLOG_FPI, XLOG_FPI_FOR_HINT } from '../../wal/rmgr/xlog.js';
import { rmgrInfo } from '../../wal/rmgr/rmgr.js';
import { redoFail, type RedoRmgr } from './rmgr.js';

export const xlogRedo: RedoRmgr = {
  id: RM_XLOG_ID,
  name: 'XLOG',
  redo(_page, ctx) {
    const info = rmgrInfo(ctx.record);
    if (info === XLOG_FPI || info === XLOG_FPI_FOR_HINT)
      throw redoFail(ctx, 'CORRUPT_RECORD', 'XLOG FPI', 'the block has no image to restore (unexpected XLogReadBufferForRedo result)');
    throw redoFail(ctx, 'UNSUPPORTED_RECORD', 'XLOG record', `info 0x${info.toString(16)} does not change relation pages`);
  },
};
