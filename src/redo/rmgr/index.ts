/**
 * The redo table, indexed by rmgr id like the decoder's. A page rmgr without a redo module yet
 * (hash, gin, gist, spgist, brin: issue 4) or a non-page rmgr gets an UNSUPPORTED_RECORD error that
 * names it; a module slots in here when it exists.
 */
import { RMGR_NAMES } from '../../pg/rmgr-ids.js';
import { RMGRS } from '../../wal/rmgr/index.js';
import { redoFail, type RedoRmgr } from './rmgr.js';
import { xlogRedo } from './xlog.js';
import { heapRedo } from './heap.js';
import { heap2Redo } from './heap2.js';
import { btreeRedo } from './btree.js';
import { seqRedo } from './seq.js';
import { genericRedo } from './generic.js';
import { hashRedo } from './hash.js';
import { brinRedo } from './brin.js';
import { gistRedo } from './gist.js';
import { spgistRedo } from './spgist.js';
import { ginRedo } from './gin.js';

const MODULES: readonly RedoRmgr[] = [xlogRedo, heapRedo, heap2Redo, btreeRedo, seqRedo, genericRedo, gistRedo, spgistRedo, hashRedo, brinRedo, ginRedo];

export const REDO_RMGRS: readonly (RedoRmgr | undefined)[] = (() => {
  const table: (RedoRmgr | undefined)[] = new Array(256).fill(undefined);
  for (const m of MODULES) table[m.id] = m;
  return table;
})();

/** The module for a record's rmgr, or one that refuses every record of it. */
export function redoRmgrFor(rmid: number): RedoRmgr {
  return (
    REDO_RMGRS[rmid] ?? {
      id: rmid,
      name: RMGR_NAMES[rmid] ?? `custom${rmid}`,
      redo(_page, ctx) {
        const type = RMGRS[rmid]?.identify(ctx.record.info) ?? `UNKNOWN (${(ctx.record.info & 0xf0).toString(16)})`;
        throw redoFail(ctx, 'UNSUPPORTED_RECORD', `${RMGR_NAMES[rmid] ?? `rmgr ${rmid}`}/${type}`, 'strata has no redo for this resource manager yet');
      },
    }
  );
}
