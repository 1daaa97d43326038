/**
 * Page redo: from (a page's key, an optional base image, the inputs that apply to it in LSN order)
 * to the page. Pure: bytes in, bytes out, nothing else seen; the engine behind GetPage@LSN.
 *
 * Per record it does what XLogReadBufferForRedoExtended does for one block: an APPLY image restores
 * the page (and stamps its LSN unless the page is new); a WILL_INIT block starts from a zeroed
 * page; a record whose end LSN is at or below the page LSN is skipped (BLK_DONE); otherwise the
 * rmgr's redo module applies it. A page that does not exist yet starts zeroed, as PostgreSQL's
 * recovery extends a relation with zero pages.
 */
import { BLCKSZ } from '../pg/constants.js';
import { formatLsn } from '../pg/lsn.js';
import { relFileNodeEquals } from '../pg/types.js';
import { restoreBlockImage } from '../wal/image.js';
import { WalDecodeError } from '../wal/errors.js';
import { RedoError, redoError } from './errors.js';
import { newPage, pageIsNew, pageLsn, setPageLsn } from './page.js';
import { redoRmgrFor } from './rmgr/index.js';
import { recordName } from './rmgr/rmgr.js';
import { vmClear, vmTruncate } from './vm.js';
import type { PageKey, RecordInput, RedoInput, RedoSettings } from './types.js';

export const DEFAULT_REDO_SETTINGS: RedoSettings = { hintBitsLogged: false };

/** The page `key` after applying `inputs` (in LSN order) to `base` (or to nothing). */
export function redoPage(key: PageKey, base: Uint8Array | undefined, inputs: readonly RedoInput[], settings: RedoSettings = DEFAULT_REDO_SETTINGS): Uint8Array {
  if (base !== undefined && base.length !== BLCKSZ) throw new RedoError('BAD_INPUT', `Cannot redo onto a base image of ${base.length} bytes: a page is ${BLCKSZ}`);
  let page: Uint8Array | undefined = base === undefined ? undefined : Uint8Array.from(base);
  for (const input of inputs) {
    switch (input.kind) {
      case 'record':
        page = applyRecord(page, key, input, settings);
        break;
      case 'vm.clear':
        page ??= newPage();
        vmClear(page, input.heapBlock, input.flags);
        break;
      case 'vm.truncate':
        page ??= newPage();
        vmTruncate(page, input.heapBlocks);
        break;
    }
  }
  return page ?? newPage();
}

/** One record applied to its block reference `blockId`, which must be `key`. */
export function applyRecord(page: Uint8Array | undefined, key: PageKey, input: RecordInput, settings: RedoSettings): Uint8Array {
  const { record, blockId } = input;
  const block = record.blocks[blockId];
  if (block === undefined)
    throw new RedoError('BAD_INPUT', `Cannot redo record at ${formatLsn(record.lsn)}: it has no block reference ${blockId}`, record.lsn);
  if (!relFileNodeEquals(block.rel, key.rel) || block.fork !== key.fork || block.blkno !== key.blkno)
    throw new RedoError('BAD_INPUT', `Cannot redo record at ${formatLsn(record.lsn)}: block reference ${blockId} is block ${block.blkno} of another page`, record.lsn);
  const lsn = record.endLsnNumber;
  if (block.applyImage) {
    let restored: Uint8Array;
    try {
      restored = restoreBlockImage(block, record.lsn);
    } catch (e) {
      if (e instanceof WalDecodeError) throw new RedoError('CORRUPT_RECORD', e.message, record.lsn);
      throw e;
    }
    if (!pageIsNew(restored)) setPageLsn(restored, lsn);
    return restored;
  }
  let target: Uint8Array;
  if (block.willInit) {
    // The page is rebuilt from nothing; an existing buffer is reused rather than a new one made.
    target = page === undefined ? newPage() : page.fill(0);
  } else {
    target = page ?? newPage();
    if (lsn <= pageLsn(target)) return target; // BLK_DONE
  }
  try {
    redoRmgrFor(record.rmid).redo(target, { record, blockId, block, lsn, settings, description: input.description });
  } catch (e) {
    // Page routines know the page, not the record: name the record, its LSN and the block here.
    if (e instanceof RedoError && e.lsn === undefined) throw redoError(e.code, record.lsn, blockId, recordName(record), e.message);
    throw e;
  }
  return target;
}
