/**
 * Sequence redo (RM_SEQ_ID), sequence.c's seq_redo: every XLOG_SEQ_LOG rebuilds the sequence's one
 * page from scratch around the logged tuple. The page is a heap page with a 4-byte special space,
 * sequence_magic (SEQ_MAGIC, MAXALIGNed to 8 bytes), and the tuple at FirstOffsetNumber.
 */
import { RM_SEQ_ID } from '../../pg/rmgr-ids.js';
import { seqRmgr } from '../../wal/rmgr/seq.js';
import { pageAddItem, pageInit, pageSpecial, setPageLsn } from '../page.js';
import { setU32 } from '../page-layout.js';
import { describeForRedo, redoFail, type RedoRmgr } from './rmgr.js';

/** SEQ_MAGIC, sequence_magic's one field. */
export const SEQ_MAGIC = 0x1717;
/** sizeof(sequence_magic) */
const SEQUENCE_MAGIC_SIZE = 4;

export const seqRedo: RedoRmgr = {
  id: RM_SEQ_ID,
  name: 'Sequence',
  /** seq_redo: block 0 is the only block, and it is always rebuilt (XLogInitBufferForRedo). */
  redo(page, ctx) {
    const what = 'Sequence LOG';
    const d = describeForRedo(seqRmgr, ctx);
    if (ctx.blockId !== 0) throw redoFail(ctx, 'BAD_INPUT', what, `seq_redo does not change block reference ${ctx.blockId}`);
    if (!ctx.block.willInit)
      throw redoFail(ctx, 'CORRUPT_RECORD', what, 'block to be initialized in redo routine must be marked with WILL_INIT flag in the WAL record');
    // PostgreSQL builds the page in local memory and copies it over; the result is the same.
    pageInit(page, SEQUENCE_MAGIC_SIZE);
    setU32(page, pageSpecial(page), SEQ_MAGIC);
    if (pageAddItem(page, d.tuple, 1, false, false) === 0)
      throw redoFail(ctx, 'CORRUPT_RECORD', what, `seq_redo: failed to add item of ${d.tuple.length} bytes to page`);
    setPageLsn(page, ctx.lsn);
  },
};
