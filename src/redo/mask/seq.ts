/**
 * seq_mask (sequence.c): a sequence page differs from PostgreSQL's after-image only in its LSN,
 * checksum and free space.
 */
import { mask_page_lsn_and_checksum, mask_unused_space } from './common.js';

/** seq_mask */
export function seq_mask(page: Uint8Array, _blkno: number): void {
  mask_page_lsn_and_checksum(page);
  mask_unused_space(page);
}
