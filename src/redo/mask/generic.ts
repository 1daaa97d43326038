/**
 * generic_mask (generic_xlog.c): a page changed by generic WAL records (bloom, extensions)
 * differs from PostgreSQL's after-image only in its LSN, checksum and free space.
 */
import { mask_page_lsn_and_checksum, mask_unused_space } from './common.js';

/** generic_mask */
export function generic_mask(page: Uint8Array, _blkno: number): void {
  mask_page_lsn_and_checksum(page);
  mask_unused_space(page);
}
