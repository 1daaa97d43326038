/**
 * gin_mask (ginxlog.c): how a GIN page is masked before strata's redo of a Gin record is compared
 * with PostgreSQL's after-image. A deleted page is reinitialized empty, so all its content is
 * masked; on other pages the hole, when pd_lower looks set (posting tree pages keep their data
 * below pd_lower, so the hole is real free space there too).
 */
import { BLCKSZ } from '../../pg/constants.js';
import { RedoError } from '../errors.js';
import { GIN_DELETED, GIN_OPAQUE_SIZE } from '../gin-page.js';
import { SIZE_OF_PAGE_HEADER, pageLower, pageSpecial } from '../page.js';
import { mask_page_content, mask_page_hint_bits, mask_page_lsn_and_checksum, mask_unused_space } from './common.js';

/** gin_mask */
export function gin_mask(page: Uint8Array, _blkno: number): void {
  mask_page_lsn_and_checksum(page);
  const special = pageSpecial(page);
  if (special + GIN_OPAQUE_SIZE > BLCKSZ)
    throw new RedoError('CORRUPT_PAGE', `Cannot mask a GIN page: its special space at ${special} is too small for GinPageOpaqueData (${GIN_OPAQUE_SIZE} bytes)`);
  // The flags are read before mask_page_hint_bits, as PostgreSQL takes the opaque pointer first
  // (the hint bits are in the header, so the order does not change them).
  const flags = page[special + 6]! | (page[special + 7]! << 8);
  mask_page_hint_bits(page);
  if ((flags & GIN_DELETED) !== 0) mask_page_content(page);
  else if (pageLower(page) > SIZE_OF_PAGE_HEADER) mask_unused_space(page);
}
