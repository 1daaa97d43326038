/**
 * The masks PostgreSQL's resource managers share (bufmask.c). Redo is checked by comparing the
 * page strata produces with the image PostgreSQL logs after the same record
 * (wal_consistency_checking); both are masked first, because some bytes legitimately differ:
 * hint bits set without WAL, the LSN, the free space's garbage. Each function changes the page in
 * place and mirrors the bufmask.c function it names.
 */
import { BLCKSZ } from '../../pg/constants.js';
import { RedoError } from '../errors.js';
import {
  LP_UNUSED, PD_CHECKSUM, PD_LOWER, PD_LSN, PD_UPPER, SIZE_OF_PAGE_HEADER,
  itemIdFlags, pageClearAllVisible, pageClearFull, pageClearHasFreeLinePointers, pageLower, pageMaxOffset,
  pageSpecial, pageUpper, setItemId, itemIdLength, itemIdOffset, setPagePruneXid,
} from '../page.js';

/** MASK_MARKER: what masked bytes become. */
export const MASK_MARKER = 0;

/** mask_page_lsn_and_checksum: the LSN and the checksum never compare. */
export function mask_page_lsn_and_checksum(page: Uint8Array): void {
  page.fill(MASK_MARKER, PD_LSN, PD_LSN + 8);
  page.fill(MASK_MARKER, PD_CHECKSUM, PD_CHECKSUM + 2);
}

/**
 * mask_page_hint_bits: pd_prune_xid, PD_PAGE_FULL and PD_HAS_FREE_LINES are hints, and redo does
 * not set PD_ALL_VISIBLE when the page is already past the record (heap_xlog_visible).
 */
export function mask_page_hint_bits(page: Uint8Array): void {
  setPagePruneXid(page, MASK_MARKER);
  pageClearFull(page);
  pageClearHasFreeLinePointers(page);
  pageClearAllVisible(page);
}

/**
 * mask_unused_space: the bytes between pd_lower and pd_upper. PostgreSQL raises ERROR "invalid
 * page" when the pointers are out of order (a new, all-zero page among them); so does this.
 */
export function mask_unused_space(page: Uint8Array): void {
  const lower = pageLower(page);
  const upper = pageUpper(page);
  const special = pageSpecial(page);
  if (lower > upper || special < upper || lower < SIZE_OF_PAGE_HEADER || special > BLCKSZ)
    throw new RedoError('CORRUPT_PAGE', `Cannot mask the unused space of a page: invalid page pd_lower ${lower} pd_upper ${upper} pd_special ${special}`);
  page.fill(MASK_MARKER, lower, upper);
}

/** mask_lp_flags: index AMs change line-pointer flags (LP_DEAD hints) without WAL. */
export function mask_lp_flags(page: Uint8Array): void {
  const maxoff = pageMaxOffset(page);
  for (let off = 1; off <= maxoff; off++) {
    if (itemIdFlags(page, off) !== LP_UNUSED) setItemId(page, off, itemIdOffset(page, off), LP_UNUSED, itemIdLength(page, off));
  }
}

/** mask_page_content: everything after the header, and pd_lower and pd_upper (deleted index pages). */
export function mask_page_content(page: Uint8Array): void {
  page.fill(MASK_MARKER, SIZE_OF_PAGE_HEADER, BLCKSZ);
  page.fill(MASK_MARKER, PD_LOWER, PD_LOWER + 2);
  page.fill(MASK_MARKER, PD_UPPER, PD_UPPER + 2);
}
