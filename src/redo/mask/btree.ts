/**
 * btree_mask (nbtxlog.c): how a B-tree page is masked before strata's redo of a Btree record is
 * compared with PostgreSQL's after-image. On top of the shared masks: line-pointer flags on leaf
 * pages (LP_DEAD hints set without WAL), BTP_HAS_GARBAGE, and BTP_SPLIT_END with btpo_cycleid,
 * which the split's redo does not restore on the right sibling.
 */
import { BLCKSZ } from '../../pg/constants.js';
import { RedoError } from '../errors.js';
import { pageSpecial } from '../page.js';
import { mask_lp_flags, mask_page_hint_bits, mask_page_lsn_and_checksum, mask_unused_space } from './common.js';

// BTPageOpaqueData (nbtree.h), at pd_special: btpo_prev u32, btpo_next u32, btpo_level u32,
// btpo_flags u16, btpo_cycleid u16.
const BTPO_FLAGS = 12;
const BTPO_CYCLEID = 14;
const SIZE_OF_BT_OPAQUE = 16;

const BTP_LEAF = 1 << 0;
const BTP_SPLIT_END = 1 << 5;
const BTP_HAS_GARBAGE = 1 << 6;

/** btree_mask */
export function btree_mask(page: Uint8Array, _blkno: number): void {
  mask_page_lsn_and_checksum(page);
  mask_page_hint_bits(page);
  mask_unused_space(page);
  const special = pageSpecial(page);
  if (special + SIZE_OF_BT_OPAQUE > BLCKSZ)
    throw new RedoError('CORRUPT_PAGE', `Cannot mask a B-tree page: its special space at ${special} is too small for BTPageOpaqueData (${SIZE_OF_BT_OPAQUE} bytes)`);
  let flags = page[special + BTPO_FLAGS]! | (page[special + BTPO_FLAGS + 1]! << 8);
  if ((flags & BTP_LEAF) !== 0) mask_lp_flags(page);
  flags &= ~(BTP_HAS_GARBAGE | BTP_SPLIT_END);
  page[special + BTPO_FLAGS] = flags & 0xff;
  page[special + BTPO_FLAGS + 1] = flags >>> 8;
  page[special + BTPO_CYCLEID] = 0;
  page[special + BTPO_CYCLEID + 1] = 0;
}
