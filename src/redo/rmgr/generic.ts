/**
 * Generic redo (RM_GENERIC_ID), generic_xlog.c's generic_redo for one page: the block's delta is a
 * list of fragments (offset, length, bytes) copied over the page (applyPageRedo), then the hole
 * between pd_lower and pd_upper is zeroed, as GenericXLogFinish left it, and the LSN set.
 *
 * A page GenericXLogFinish logged whole (GENERIC_XLOG_FULL_IMAGE) carries an APPLY image and no
 * delta: the dispatcher restores it and this module is not called for it.
 */
import { BLCKSZ } from '../../pg/constants.js';
import { RM_GENERIC_ID } from '../../pg/rmgr-ids.js';
import { genericRmgr } from '../../wal/rmgr/generic.js';
import { pageLower, pageUpper, setPageLsn } from '../page.js';
import { describeForRedo, redoFail, type RedoRmgr } from './rmgr.js';

export const genericRedo: RedoRmgr = {
  id: RM_GENERIC_ID,
  name: 'Generic',
  redo(page, ctx) {
    const what = 'Generic record';
    const d = describeForRedo(genericRmgr, ctx);
    const delta = d.pages.find((p) => p.blockId === ctx.blockId);
    if (delta === undefined) throw redoFail(ctx, 'BAD_INPUT', what, `it has no delta for block reference ${ctx.blockId}`);
    // applyPageRedo, with each fragment checked to lie inside the page (PostgreSQL trusts them).
    for (const f of delta.fragments) {
      if (f.offset + f.length > BLCKSZ)
        throw redoFail(ctx, 'CORRUPT_RECORD', what, `a fragment of ${f.length} bytes at offset ${f.offset} runs past the page`);
      page.set(f.data, f.offset);
    }
    const lower = pageLower(page);
    const upper = pageUpper(page);
    if (lower > upper || upper > BLCKSZ)
      throw redoFail(ctx, 'CORRUPT_PAGE', what, `cannot zero the hole: pd_lower ${lower} is past pd_upper ${upper}`);
    page.fill(0, lower, upper);
    setPageLsn(page, ctx.lsn);
  },
};
