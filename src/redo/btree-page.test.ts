/**
 * nbtree's page routines on hand-built tuples and pages: posting lists formed, shrunk and split as
 * nbtdedup.c does, _bt_restore_page's layout, the metapage, the half-dead high key, and the errors
 * for tuples that do not hold what they say. Whole records on real WAL are checked by
 * `strata wal verify-redo`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BLCKSZ } from '../pg/constants.js';
import type { BlockNumber } from '../pg/types.js';
import {
  BTP_DELETED,
  BTP_HAS_FULLXID,
  BTP_HALF_DEAD,
  BTP_META,
  BT_MAX_ITEM_SIZE,
  DedupState,
  btPageInit,
  btPageSetDeleted,
  btpoFlags,
  btpoNext,
  btpoPrev,
  formPosting,
  heapTids,
  indexTupleSize,
  isPosting,
  itemAt,
  postingList,
  restoreMetaPage,
  restorePage,
  setBtOpaque,
  swapPosting,
  tempPageCopySpecial,
  topParentHighKey,
  updatePosting,
} from './btree-page.js';
import { tid, leafTuple, cat } from '../testing/fake-records.js';
import { RedoError } from './errors.js';
import { itemIdOffset, pageLower, pageMaxOffset, pageSpecial, pageUpper } from './page.js';



function tidsOf(t: Uint8Array): string[] {
  const all = heapTids(t);
  const out: string[] = [];
  for (let i = 0; i < all.length; i += 6) {
    const blk = ((all[i]! | (all[i + 1]! << 8)) << 16) | all[i + 2]! | (all[i + 3]! << 8);
    out.push(`(${blk},${all[i + 4]! | (all[i + 5]! << 8)})`);
  }
  return out;
}


test('tid() writes bi_hi, bi_lo, ip_posid', () => {
  assert.deepEqual([...tid(0x00010002, 7)], [1, 0, 2, 0, 7, 0]);
});

test('formPosting builds a posting list tuple after the key, MAXALIGNed, as _bt_form_posting does', () => {
  const base = leafTuple(42, 1, 1);
  const p = formPosting(base, cat(tid(1, 1), tid(1, 2), tid(2, 5)));
  assert.equal(p.length, 40); // MAXALIGN(16 + 18)
  assert.equal(indexTupleSize(p), 40);
  assert.equal(p[7]! & 0x20, 0x20, 'INDEX_ALT_TID_MASK');
  assert.ok(isPosting(p));
  assert.deepEqual(postingList(p), { offset: 16, n: 3 });
  assert.deepEqual(tidsOf(p), ['(1,1)', '(1,2)', '(2,5)']);
  assert.equal(new DataView(p.buffer).getInt32(8, true), 42);
  assert.deepEqual([...p.subarray(34)], [0, 0, 0, 0, 0, 0], 'padding is zero (palloc0)');
  // One TID: a plain tuple with that t_tid.
  const one = formPosting(p, tid(9, 3));
  assert.equal(one.length, 16);
  assert.ok(!isPosting(one));
  assert.deepEqual(tidsOf(one), ['(9,3)']);
});

test('updatePosting drops the TIDs at the given positions, down to a plain tuple', () => {
  const p = formPosting(leafTuple(7, 0, 0), cat(tid(1, 1), tid(1, 2), tid(1, 3), tid(1, 4)));
  const u = updatePosting(p, [1, 3]);
  assert.deepEqual(tidsOf(u), ['(1,1)', '(1,3)']);
  assert.equal(u.length, 32);
  const single = updatePosting(p, [0, 1, 3]);
  assert.ok(!isPosting(single));
  assert.equal(single.length, 16);
  assert.deepEqual(tidsOf(single), ['(1,3)']);
  assert.throws(() => updatePosting(p, [0, 1, 2, 3]), (e: unknown) => e instanceof RedoError && e.code === 'CORRUPT_RECORD');
  assert.throws(() => updatePosting(p, [3, 1]), (e: unknown) => e instanceof RedoError && e.code === 'CORRUPT_RECORD');
  assert.throws(() => updatePosting(leafTuple(1, 1, 1), [0]), (e: unknown) => e instanceof RedoError && e.code === 'CORRUPT_PAGE');
});

test('swapPosting puts the new TID in the list and gives the new item the old maximum', () => {
  const oposting = formPosting(leafTuple(5, 0, 0), cat(tid(1, 1), tid(1, 3), tid(1, 5)));
  const before = Uint8Array.from(oposting);
  const newItem = leafTuple(5, 1, 2);
  const nposting = swapPosting(newItem, oposting, 1);
  assert.deepEqual(tidsOf(nposting), ['(1,1)', '(1,2)', '(1,3)']);
  assert.deepEqual(tidsOf(newItem), ['(1,5)']);
  assert.deepEqual(oposting, before, 'oposting itself is not changed');
  assert.equal(nposting.length, oposting.length);
  assert.throws(() => swapPosting(leafTuple(5, 1, 2), oposting, 3), (e: unknown) => e instanceof RedoError && e.code === 'CORRUPT_PAGE');
  assert.throws(() => swapPosting(leafTuple(5, 1, 2), oposting, 0), (e: unknown) => e instanceof RedoError && e.code === 'CORRUPT_PAGE');
});

test('a posting list that does not fit its tuple is CORRUPT_PAGE, never an out-of-bounds read', () => {
  const p = formPosting(leafTuple(5, 0, 0), cat(tid(1, 1), tid(1, 3)));
  p[4] = 200; // nhtids 200
  assert.throws(() => postingList(p), (e: unknown) => e instanceof RedoError && e.code === 'CORRUPT_PAGE');
  const short = leafTuple(1, 1, 1);
  short[6] = 40; // says 40 bytes, has 16
  assert.throws(() => indexTupleSize(short), (e: unknown) => e instanceof RedoError && e.code === 'CORRUPT_PAGE');
});

test('restorePage lays items out as _bt_restore_page: offset 1 highest on the page', () => {
  const page = new Uint8Array(BLCKSZ);
  btPageInit(page);
  assert.equal(pageSpecial(page), BLCKSZ - 16);
  restorePage(page, [leafTuple(1, 1, 1), leafTuple(2, 1, 2), leafTuple(3, 1, 3)]);
  assert.equal(pageMaxOffset(page), 3);
  assert.equal(itemIdOffset(page, 1), BLCKSZ - 16 - 16);
  assert.equal(itemIdOffset(page, 3), BLCKSZ - 16 - 48);
  assert.equal(pageUpper(page), BLCKSZ - 16 - 48);
  assert.equal(new DataView(itemAt(page, 2).slice().buffer).getInt32(8, true), 2);
  assert.throws(() => itemAt(page, 4), (e: unknown) => e instanceof RedoError && e.code === 'CORRUPT_PAGE');
});

test('tempPageCopySpecial keeps the special space, empties the rest', () => {
  const page = new Uint8Array(BLCKSZ);
  btPageInit(page);
  setBtOpaque(page, { prev: 3, next: 9, level: 0, flags: 1 });
  restorePage(page, [leafTuple(1, 1, 1)]);
  const temp = tempPageCopySpecial(page);
  assert.equal(pageMaxOffset(temp), 0);
  assert.equal(btpoPrev(temp), 3);
  assert.equal(btpoNext(temp), 9);
  assert.equal(pageUpper(temp), BLCKSZ - 16);
});

test('restoreMetaPage writes BTMetaPageData and pd_lower 72', () => {
  const page = new Uint8Array(BLCKSZ).fill(0xee);
  restoreMetaPage(page, { version: 4, root: 3 as BlockNumber, level: 1, fastroot: 3 as BlockNumber, fastlevel: 1, lastCleanupNumDelpages: 0, allequalimage: true });
  const v = new DataView(page.buffer);
  assert.equal(v.getUint32(24, true), 0x053162);
  assert.equal(v.getUint32(28, true), 4);
  assert.equal(v.getUint32(32, true), 3);
  assert.equal(v.getFloat64(56, true), -1);
  assert.equal(page[64], 1);
  assert.equal(pageLower(page), 72);
  assert.equal(btpoFlags(page), BTP_META);
  assert.equal(page[100], 0, 'the rest is zeroed by PageInit');
});

test('btPageSetDeleted and the half-dead high key', () => {
  const page = new Uint8Array(BLCKSZ);
  btPageInit(page);
  setBtOpaque(page, { prev: 1, next: 2, level: 0, flags: BTP_HALF_DEAD });
  btPageSetDeleted(page, (5n << 32n) | 1234n);
  assert.equal(btpoFlags(page), BTP_DELETED | BTP_HAS_FULLXID);
  assert.equal(pageLower(page), 32);
  assert.equal(pageUpper(page), pageSpecial(page));
  assert.equal(new DataView(page.buffer).getBigUint64(24, true), (5n << 32n) | 1234n);
  assert.deepEqual([...topParentHighKey(0x12345)], [1, 0, 0x45, 0x23, 0, 0, 8, 0x20]);
});

test('DedupState merges duplicates into one posting list and keeps singletons as they were', () => {
  const page = new Uint8Array(BLCKSZ);
  btPageInit(page);
  const s = new DedupState();
  s.startPending(leafTuple(1, 1, 1), 1);
  assert.ok(s.saveHtid(leafTuple(1, 1, 2)));
  assert.ok(s.saveHtid(formPosting(leafTuple(1, 0, 0), cat(tid(1, 3), tid(1, 4)))));
  s.finishPending(page);
  s.startPending(leafTuple(2, 2, 1), 4);
  s.finishPending(page);
  assert.equal(s.nintervals, 1);
  assert.equal(pageMaxOffset(page), 2);
  assert.deepEqual(tidsOf(itemAt(page, 1)), ['(1,1)', '(1,2)', '(1,3)', '(1,4)']);
  assert.deepEqual(tidsOf(itemAt(page, 2)), ['(2,1)']);
  // The size limit: BTMaxItemSize.
  const big = new DedupState();
  big.startPending(leafTuple(1, 1, 1), 1);
  let saved = 1;
  while (big.saveHtid(leafTuple(1, 1, saved + 1))) saved++;
  assert.equal(saved, Math.floor((BT_MAX_ITEM_SIZE - 16) / 6));
});
