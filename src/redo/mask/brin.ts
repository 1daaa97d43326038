/**
 * brin_mask (brin_xlog.c): how a BRIN page is masked before strata's redo of a BRIN record is
 * compared with PostgreSQL's after-image. The unused space of regular pages, and of the metapage
 * when its pd_lower looks set; BRIN_EVACUATE_PAGE, which is not WAL-logged.
 */
import { BRIN_EVACUATE_PAGE, BRIN_PAGETYPE_META, BRIN_PAGETYPE_REGULAR, brinPageFlags, brinPageType, setBrinPageFlags } from '../brin-page.js';
import { SIZE_OF_PAGE_HEADER, pageLower } from '../page.js';
import { mask_page_hint_bits, mask_page_lsn_and_checksum, mask_unused_space } from './common.js';

/** brin_mask */
export function brin_mask(page: Uint8Array, _blkno: number): void {
  mask_page_lsn_and_checksum(page);
  mask_page_hint_bits(page);
  const type = brinPageType(page);
  if (type === BRIN_PAGETYPE_REGULAR || (type === BRIN_PAGETYPE_META && pageLower(page) > SIZE_OF_PAGE_HEADER)) mask_unused_space(page);
  setBrinPageFlags(page, brinPageFlags(page) & ~BRIN_EVACUATE_PAGE);
}
