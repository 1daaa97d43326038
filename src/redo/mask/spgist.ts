/**
 * spg_mask (spgxlog.c): how an SP-GiST page is masked before strata's redo of an SPGist record is
 * compared with PostgreSQL's after-image: only the shared masks, the unused space only on a page
 * that has a header (pd_lower past it; the metapage's is set, a new page's is not).
 */
import { pageLower, SIZE_OF_PAGE_HEADER } from '../page.js';
import { mask_page_hint_bits, mask_page_lsn_and_checksum, mask_unused_space } from './common.js';

/** spg_mask */
export function spg_mask(page: Uint8Array, _blkno: number): void {
  mask_page_lsn_and_checksum(page);
  mask_page_hint_bits(page);
  if (pageLower(page) >= SIZE_OF_PAGE_HEADER) mask_unused_space(page);
}
