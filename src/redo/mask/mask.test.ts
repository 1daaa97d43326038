import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RM_BTREE_ID, RM_GENERIC_ID, RM_HEAP2_ID, RM_HEAP_ID, RM_SEQ_ID, RM_XLOG_ID, RM_HASH_ID } from '../../pg/rmgr-ids.js';
import { RedoError } from '../errors.js';
import {
  LP_DEAD, LP_NORMAL, PD_ALL_VISIBLE, PD_HAS_FREE_LINES, PD_PAGE_FULL, itemIdFlags, itemIdLength, itemIdOffset,
  itemIdSetRedirect, newPage, pageAddItem, pageFlags, pageInit, pageItem, pageLower, pagePruneXid, pageSpecial, pageUpper,
  setItemId, setPageFlags, setPageLsn, setPagePruneXid,
} from '../page.js';
import { btree_mask } from './btree.js';
import { hash_mask } from './hash.js';
import { mask_lp_flags, mask_page_content, mask_page_hint_bits, mask_page_lsn_and_checksum, mask_unused_space } from './common.js';
import { generic_mask } from './generic.js';
import { heap_mask } from './heap.js';
import { maskFor } from './index.js';
import { seq_mask } from './seq.js';

/** A heap tuple header (23 bytes) plus `dataLen` bytes of 0x5a: xmin, xmax, cid, ctid, infomask. */
function heapTuple(infomask: number, ctidPos: number, dataLen: number): Uint8Array {
  const t = new Uint8Array(24 + dataLen).fill(0x5a);
  t.set([100, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 1, 0, ctidPos & 0xff, ctidPos >> 8, 3, 0, infomask & 0xff, infomask >> 8, 24], 0);
  return t;
}

function junkFreeSpace(p: Uint8Array): void {
  p.fill(0xee, pageLower(p), pageUpper(p));
}

test('the shared masks clear what bufmask.c clears', () => {
  const p = newPage();
  pageInit(p, 8);
  setPageLsn(p, 0x1_0000_0028);
  p[8] = 0x12;
  p[9] = 0x34;
  setPageFlags(p, PD_ALL_VISIBLE | PD_HAS_FREE_LINES | PD_PAGE_FULL | 0x8);
  setPagePruneXid(p, 1234);
  pageAddItem(p, new Uint8Array(10).fill(1), 0, false, false);
  junkFreeSpace(p);
  mask_page_lsn_and_checksum(p);
  assert.deepEqual([...p.subarray(0, 10)], new Array(10).fill(0));
  mask_page_hint_bits(p);
  assert.equal(pageFlags(p), 0x8);
  assert.equal(pagePruneXid(p), 0);
  mask_unused_space(p);
  assert.equal(p.subarray(pageLower(p), pageUpper(p)).every((b) => b === 0), true);
  mask_lp_flags(p);
  assert.deepEqual([itemIdFlags(p, 1), itemIdOffset(p, 1), itemIdLength(p, 1)], [0, 8192 - 8 - 16, 10]);
  mask_page_content(p);
  assert.equal(p.subarray(12, 16).every((b) => b === 0) && p.subarray(24).every((b) => b === 0), true);
  assert.equal(pageSpecial(p), 8192 - 8); // pd_special stays
  // A new page's pointers are out of order: PostgreSQL raises ERROR, strata a RedoError.
  assert.throws(() => mask_unused_space(newPage()), (e: unknown) => e instanceof RedoError && e.code === 'CORRUPT_PAGE');
});

test('heap_mask masks hint bits, cid, speculative ctids and padding as heapam.c does', () => {
  const p = newPage();
  pageInit(p, 0);
  const plain = heapTuple(0x0902 | 0x0100, 1, 5); // HEAP_XMIN_COMMITTED | HEAP_XMAX_INVALID | HASVARWIDTH...
  const frozen = heapTuple(0x0300 | 0x0800 | 0x0400 | 0x0010, 2, 3); // frozen xmin, xmax hints, HEAP_XMAX_KEYSHR_LOCK
  const spec = heapTuple(0x0002, 0xfffe, 1);
  for (const t of [plain, frozen, spec]) pageAddItem(p, t.subarray(0, t.length - 1), 0, false, true);
  // Padding after each item: junk that must be masked.
  for (let off = 1; off <= 3; off++) {
    const start = itemIdOffset(p, off) + itemIdLength(p, off);
    p.fill(0xcc, start, (start + 7) & ~7);
  }
  pageAddItem(p, new Uint8Array(1), 0, false, true);
  setItemId(p, 4, 0, LP_DEAD, 0);
  itemIdSetRedirect(p, 4, 2);
  junkFreeSpace(p);
  const copy = Uint8Array.from(p);
  heap_mask(p, 0x12345);
  const t1 = pageItem(p, 1);
  assert.deepEqual([t1[20], t1[21]], [0x02, 0x00]); // HEAP_XACT_MASK bits gone, HASVARWIDTH stays
  assert.deepEqual([...t1.subarray(8, 12)], [0, 0, 0, 0]); // t_cid
  assert.deepEqual([...t1.subarray(12, 18)], [0, 0, 1, 0, 1, 0]); // ctid (block 1, offset 1) untouched
  const t2 = pageItem(p, 2);
  assert.equal(t2[20]! | (t2[21]! << 8), 0x0300 | 0x0010); // frozen: only the xmax hints go
  const t3 = pageItem(p, 3);
  assert.deepEqual([...t3.subarray(12, 18)], [0x01, 0x00, 0x45, 0x23, 3, 0]); // (blkno 0x12345, offset 3)
  for (let off = 1; off <= 3; off++) {
    const start = itemIdOffset(p, off) + itemIdLength(p, off);
    assert.equal(p.subarray(start, (start + 7) & ~7).every((b) => b === 0), true, `padding of ${off}`);
  }
  assert.equal(itemIdFlags(p, 4), 2);
  assert.equal(p.subarray(pageLower(p), pageUpper(p)).every((b) => b === 0), true);
  // Tuple data itself is untouched.
  assert.deepEqual(t1.subarray(24), copy.subarray(itemIdOffset(copy, 1) + 24, itemIdOffset(copy, 1) + itemIdLength(copy, 1)));
  // Masking is idempotent.
  const again = Uint8Array.from(p);
  heap_mask(again, 0x12345);
  assert.deepEqual(again, p);
  // A normal item whose header would run off the page: an error, not a write.
  setItemId(p, 1, 8180, LP_NORMAL, 30);
  assert.throws(() => heap_mask(p, 0), RedoError);
});

test('btree_mask masks leaf line-pointer flags and the unlogged opaque bits', () => {
  for (const leaf of [true, false]) {
    const p = newPage();
    pageInit(p, 16);
    pageAddItem(p, new Uint8Array(16).fill(3), 0, false, false);
    setItemId(p, 1, itemIdOffset(p, 1), LP_DEAD, 16);
    const s = pageSpecial(p);
    const flags = (leaf ? 1 : 0) | 0x20 | 0x40 | 0x2; // LEAF?, SPLIT_END, HAS_GARBAGE, ROOT
    p.set([1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, flags, 0, 0x34, 0x12], s);
    btree_mask(p, 1);
    assert.equal(itemIdFlags(p, 1), leaf ? 0 : LP_DEAD);
    assert.deepEqual([...p.subarray(s + 12, s + 16)], [(leaf ? 1 : 0) | 0x2, 0, 0, 0]);
    assert.deepEqual([...p.subarray(s, s + 8)], [1, 0, 0, 0, 2, 0, 0, 0]);
  }
  const bad = newPage();
  pageInit(bad, 0);
  assert.throws(() => btree_mask(bad, 0), RedoError);
});

test('seq_mask and generic_mask mask only the LSN, checksum and free space', () => {
  for (const mask of [seq_mask, generic_mask]) {
    const p = newPage();
    pageInit(p, 8);
    setPageLsn(p, 99);
    setPageFlags(p, PD_ALL_VISIBLE);
    setPagePruneXid(p, 5);
    pageAddItem(p, new Uint8Array(13).fill(9), 0, false, false);
    junkFreeSpace(p);
    const item = Uint8Array.from(p.subarray(pageUpper(p)));
    mask(p, 0);
    assert.equal(pageFlags(p), PD_ALL_VISIBLE);
    assert.equal(pagePruneXid(p), 5);
    assert.deepEqual(p.subarray(pageUpper(p)), item);
    assert.equal(p.subarray(0, 10).every((b) => b === 0), true);
  }
});

test('maskFor names the mask of each resource manager strata redoes', () => {
  assert.equal(maskFor(RM_HEAP_ID), heap_mask);
  assert.equal(maskFor(RM_HEAP2_ID), heap_mask);
  assert.equal(maskFor(RM_BTREE_ID), btree_mask);
  assert.equal(maskFor(RM_SEQ_ID), seq_mask);
  assert.equal(maskFor(RM_GENERIC_ID), generic_mask);
  assert.equal(maskFor(RM_XLOG_ID), undefined);
  assert.equal(maskFor(RM_HASH_ID), hash_mask);
});
