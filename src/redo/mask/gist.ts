/**
 * gist_mask (gistxlog.c): how a GiST page is masked before strata's redo of a Gist record is
 * compared with PostgreSQL's after-image. On top of the shared masks: the NSN (a special-purpose
 * LSN), F_FOLLOW_RIGHT (set on the left child after the record is written), line-pointer flags on
 * leaf pages (gistkillitems sets LP_DEAD without WAL), and F_HAS_GARBAGE, which redo never sets.
 */
import { BLCKSZ } from '../../pg/constants.js';
import { RedoError } from '../errors.js';
import { pageSpecial } from '../page.js';
import { MASK_MARKER, mask_lp_flags, mask_page_hint_bits, mask_page_lsn_and_checksum, mask_unused_space } from './common.js';

// GISTPageOpaqueData (gist.h), at pd_special: nsn 8 bytes, rightlink u32, flags u16, gist_page_id u16.
const GIST_FLAGS = 12;
const SIZE_OF_GIST_OPAQUE = 16;
const F_LEAF = 1 << 0;
const F_FOLLOW_RIGHT = 1 << 3;
const F_HAS_GARBAGE = 1 << 4;

/** gist_mask */
export function gist_mask(page: Uint8Array, _blkno: number): void {
  mask_page_lsn_and_checksum(page);
  mask_page_hint_bits(page);
  mask_unused_space(page);
  const special = pageSpecial(page);
  if (special + SIZE_OF_GIST_OPAQUE > BLCKSZ)
    throw new RedoError('CORRUPT_PAGE', `Cannot mask a GiST page: its special space at ${special} is too small for GISTPageOpaqueData (${SIZE_OF_GIST_OPAQUE} bytes)`);
  page.fill(MASK_MARKER, special, special + 8);
  let flags = page[special + GIST_FLAGS]! | (page[special + GIST_FLAGS + 1]! << 8);
  flags |= F_FOLLOW_RIGHT;
  page[special + GIST_FLAGS] = flags & 0xff;
  page[special + GIST_FLAGS + 1] = flags >>> 8;
  if ((flags & F_LEAF) !== 0) mask_lp_flags(page);
  flags &= ~F_HAS_GARBAGE;
  page[special + GIST_FLAGS] = flags & 0xff;
  page[special + GIST_FLAGS + 1] = flags >>> 8;
}
