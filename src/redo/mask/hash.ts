/**
 * hash_mask (hash_xlog.c): how a hash index page is masked before strata's redo of a Hash record
 * is compared with PostgreSQL's after-image. On top of the shared masks: everything on an unused
 * page, line-pointer flags on bucket and overflow pages (LP_DEAD hints set without WAL, see
 * _hash_kill_items), and LH_PAGE_HAS_DEAD_TUPLES, a hint that may stay unlogged.
 */
import { LH_BUCKET_PAGE, LH_OVERFLOW_PAGE, LH_PAGE_HAS_DEAD_TUPLES, LH_PAGE_TYPE, LH_UNUSED_PAGE, hashoFlag, setHashoFlag } from '../hash-page.js';
import { mask_lp_flags, mask_page_content, mask_page_hint_bits, mask_page_lsn_and_checksum, mask_unused_space } from './common.js';

/** hash_mask */
export function hash_mask(page: Uint8Array, _blkno: number): void {
  mask_page_lsn_and_checksum(page);
  mask_page_hint_bits(page);
  mask_unused_space(page);
  const flag = hashoFlag(page);
  const pagetype = flag & LH_PAGE_TYPE;
  if (pagetype === LH_UNUSED_PAGE) mask_page_content(page);
  else if (pagetype === LH_BUCKET_PAGE || pagetype === LH_OVERFLOW_PAGE) mask_lp_flags(page);
  // mask_page_content zeroes the special space too; the flag is then read from it again, as
  // PostgreSQL's opaque pointer does.
  setHashoFlag(page, hashoFlag(page) & ~LH_PAGE_HAS_DEAD_TUPLES);
}
