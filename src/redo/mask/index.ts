/**
 * The rm_mask column of PostgreSQL's rmgrlist.h for the resource managers strata redoes: the
 * function that masks a page before it is compared with PostgreSQL's wal_consistency_checking
 * image. undefined for every other one: those PostgreSQL has no mask for either (XLOG's full-page
 * images) are compared unmasked, as PostgreSQL compares them.
 */
import { RM_BTREE_ID, RM_GENERIC_ID, RM_HEAP2_ID, RM_HEAP_ID, RM_SEQ_ID, RM_GIST_ID, RM_SPGIST_ID } from '../../pg/rmgr-ids.js';
import { btree_mask } from './btree.js';
import { generic_mask } from './generic.js';
import { hash_mask } from './hash.js';
import { brin_mask } from './brin.js';
import { RM_HASH_ID, RM_BRIN_ID } from '../../pg/rmgr-ids.js';
import { gist_mask } from './gist.js';
import { gin_mask } from './gin.js';
import { RM_GIN_ID } from '../../pg/rmgr-ids.js';
import { heap_mask } from './heap.js';
import { seq_mask } from './seq.js';
import { spg_mask } from './spgist.js';

/** Masks `page` (8 KiB, in place) for comparison; `blkno` is the block it is. */
export type PageMask = (page: Uint8Array, blkno: number) => void;

const MASKS: ReadonlyMap<number, PageMask> = new Map<number, PageMask>([
  [RM_HEAP_ID, heap_mask],
  [RM_HEAP2_ID, heap_mask],
  [RM_BTREE_ID, btree_mask],
  [RM_SEQ_ID, seq_mask],
  [RM_GENERIC_ID, generic_mask],
  [RM_HASH_ID, hash_mask],
  [RM_BRIN_ID, brin_mask],
  [RM_GIST_ID, gist_mask],
  [RM_SPGIST_ID, spg_mask],
  [RM_GIN_ID, gin_mask],
]);

/** The mask of resource manager `rmid`, or undefined when PostgreSQL has none for it. */
export function maskFor(rmid: number): PageMask | undefined {
  return MASKS.get(rmid);
}
