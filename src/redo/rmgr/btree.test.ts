/**
 * B-tree redo on hand-built records, through the dispatcher: each record type's effect on each of
 * its blocks, and the errors (never a hang, never a write outside the page) for records and pages
 * that are not what the type needs. Real WAL is checked record by record by
 * `strata wal verify-redo` (every btree type matched PostgreSQL's images).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RM_BTREE_ID } from '../../pg/rmgr-ids.js';
import type { BlockNumber } from '../../pg/types.js';
import { TEST_REL, cat, fakeRecord, le, type FakeBlock, tid, leafTuple } from '../../testing/fake-records.js';
import {
  XLOG_BTREE_DEDUP,
  XLOG_BTREE_INSERT_LEAF,
  XLOG_BTREE_INSERT_META,
  XLOG_BTREE_INSERT_POST,
  XLOG_BTREE_MARK_PAGE_HALFDEAD,
  XLOG_BTREE_NEWROOT,
  XLOG_BTREE_SPLIT_L,
  XLOG_BTREE_UNLINK_PAGE,
  XLOG_BTREE_VACUUM,
} from '../../wal/rmgr/btree.js';
import {
  BTP_DELETED,
  BTP_HALF_DEAD,
  BTP_HAS_FULLXID,
  BTP_INCOMPLETE_SPLIT,
  BTP_LEAF,
  BTP_META,
  BTP_ROOT,
  btpoFlags,
  btpoLevel,
  btpoNext,
  btpoPrev,
  downLink,
  formPosting,
  heapTids,
  itemAt,
} from '../btree-page.js';
import { RedoError } from '../errors.js';
import { pageLower, pageLsn, pageMaxOffset, setPageLsn } from '../page.js';
import { DEFAULT_REDO_SETTINGS, applyRecord } from '../redo.js';



let nextLsn = 0x2000000n;

function rec(info: number, mainData: Uint8Array, blocks: readonly FakeBlock[]) {
  nextLsn += 0x100n;
  return fakeRecord(RM_BTREE_ID, info, mainData, { lsn: nextLsn, endLsn: nextLsn + 0x80n, blocks });
}

/** The record applied to its block `blockId` (whose blkno is the block's). */
function apply(page: Uint8Array | undefined, record: ReturnType<typeof rec>, blockId: number): Uint8Array {
  const blkno = record.blocks[blockId]!.blkno;
  return applyRecord(page, { rel: TEST_REL, fork: 0, blkno: blkno as BlockNumber }, { kind: 'record', record, blockId }, DEFAULT_REDO_SETTINGS);
}

const META = le([4, 4], [4, 3], [4, 0], [4, 3], [4, 0], [4, 0], [1, 1], [1, 0], [2, 0]);

/** A root leaf (NEWROOT level 0 on block 3) with `items` inserted at offsets 1..n. */
function rootLeaf(items: readonly Uint8Array[]): Uint8Array {
  let page = apply(undefined, rec(XLOG_BTREE_NEWROOT, le([4, 3], [4, 0]), [{ id: 0, blkno: 3, willInit: true }, { id: 2, blkno: 0, willInit: true, data: META }]), 0);
  items.forEach((item, i) => {
    page = apply(page, rec(XLOG_BTREE_INSERT_LEAF, le([2, i + 1]), [{ id: 0, blkno: 3, data: item }]), 0);
  });
  // LSN 0, so that records built before it still apply.
  setPageLsn(page, 0);
  return page;
}

function keyOf(t: Uint8Array): number {
  return t[8]! | (t[9]! << 8);
}

function keys(page: Uint8Array): number[] {
  const out: number[] = [];
  for (let off = 1; off <= pageMaxOffset(page); off++) out.push(keyOf(itemAt(page, off)));
  return out;
}

function tids(t: Uint8Array): string[] {
  const all = heapTids(t);
  const out: string[] = [];
  for (let i = 0; i < all.length; i += 6) out.push(`${(all[i]! | (all[i + 1]! << 8)) * 65536 + (all[i + 2]! | (all[i + 3]! << 8))},${all[i + 4]!}`);
  return out;
}

function isCode(code: string): (e: unknown) => boolean {
  return (e: unknown) => e instanceof RedoError && e.code === code && e.lsn !== undefined;
}

test('NEWROOT and INSERT_LEAF build a root leaf; INSERT_META rebuilds the metapage', () => {
  const page = rootLeaf([leafTuple(10, 1, 1), leafTuple(30, 1, 3)]);
  const withMiddle = apply(page, rec(XLOG_BTREE_INSERT_LEAF, le([2, 2]), [{ id: 0, blkno: 3, data: leafTuple(20, 1, 2) }]), 0);
  assert.deepEqual(keys(withMiddle), [10, 20, 30]);
  assert.equal(btpoFlags(withMiddle), BTP_ROOT | BTP_LEAF);
  assert.equal(pageLsn(withMiddle), Number(nextLsn + 0x80n));
  const meta = apply(undefined, rec(XLOG_BTREE_INSERT_META, le([2, 1]), [
    { id: 0, blkno: 3, data: leafTuple(1, 1, 1) },
    { id: 1, blkno: 4 },
    { id: 2, blkno: 0, willInit: true, data: META },
  ]), 2);
  assert.equal(btpoFlags(meta), BTP_META);
  assert.equal(pageLower(meta), 72);
});

test('INSERT_POST splits the posting list and inserts the new item with the old maximum TID', () => {
  const posting = formPosting(leafTuple(5, 0, 0), cat(tid(1, 1), tid(1, 3), tid(1, 5)));
  const page = rootLeaf([posting]);
  const after = apply(page, rec(XLOG_BTREE_INSERT_POST, le([2, 2]), [{ id: 0, blkno: 3, data: cat(le([2, 1]), leafTuple(5, 1, 2)) }]), 0);
  assert.deepEqual(tids(itemAt(after, 1)), ['1,1', '1,2', '1,3']);
  assert.deepEqual(tids(itemAt(after, 2)), ['1,5']);
  // A posting split with no posting list before the offset is refused.
  assert.throws(() => apply(page, rec(XLOG_BTREE_INSERT_POST, le([2, 1]), [{ id: 0, blkno: 3, data: cat(le([2, 1]), leafTuple(5, 1, 2)) }]), 0), isCode('CORRUPT_PAGE'));
});

test('DEDUP merges the logged intervals into posting lists', () => {
  const page = rootLeaf([leafTuple(1, 1, 1), leafTuple(1, 1, 2), leafTuple(1, 1, 3), leafTuple(2, 2, 1), leafTuple(3, 3, 1), leafTuple(3, 3, 2)]);
  const after = apply(page, rec(XLOG_BTREE_DEDUP, le([2, 2]), [{ id: 0, blkno: 3, data: le([2, 1], [2, 3], [2, 5], [2, 2]) }]), 0);
  assert.deepEqual(keys(after), [1, 2, 3]);
  assert.deepEqual(tids(itemAt(after, 1)), ['1,1', '1,2', '1,3']);
  assert.deepEqual(tids(itemAt(after, 3)), ['3,1', '3,2']);
  // On an empty page there is nothing to deduplicate: an error, not a crash.
  assert.throws(() => apply(rootLeaf([]), rec(XLOG_BTREE_DEDUP, le([2, 0]), [{ id: 0, blkno: 3 }]), 0), isCode('CORRUPT_PAGE'));
});

test('VACUUM shrinks posting lists (btree_xlog_updates) and deletes items', () => {
  const posting = formPosting(leafTuple(5, 0, 0), cat(tid(1, 1), tid(1, 3), tid(1, 5)));
  const page = rootLeaf([leafTuple(4, 1, 9), posting, leafTuple(6, 2, 2)]);
  // ndeleted 1 (offset 1), nupdated 1 (offset 2, delete TID position 1)
  const data = cat(le([2, 1]), le([2, 2]), le([2, 1], [2, 1]));
  const after = apply(page, rec(XLOG_BTREE_VACUUM, le([2, 1], [2, 1]), [{ id: 0, blkno: 3, data }]), 0);
  assert.deepEqual(keys(after), [5, 6]);
  assert.deepEqual(tids(itemAt(after, 1)), ['1,1', '1,5']);
});

test('SPLIT_L rebuilds the left page with the new item and builds the right page and sibling link', () => {
  const orig = rootLeaf([leafTuple(10, 1, 1), leafTuple(20, 1, 2), leafTuple(40, 1, 4), leafTuple(50, 1, 5)]);
  // level 0, firstrightoff 3, newitemoff 2, postingoff 0; new item 15 goes left; left high key 40.
  const main = le([4, 0], [2, 3], [2, 2], [2, 0]);
  const blocks: FakeBlock[] = [
    { id: 0, blkno: 3, data: cat(leafTuple(15, 1, 9), leafTuple(40, 0, 0)) },
    { id: 1, blkno: 7, willInit: true, data: cat(leafTuple(50, 1, 5), leafTuple(40, 1, 4)) },
    { id: 2, blkno: 8 },
  ];
  const r = rec(XLOG_BTREE_SPLIT_L, main, blocks);
  const left = apply(orig, r, 0);
  assert.deepEqual(keys(left), [40, 10, 15, 20]);
  assert.equal(btpoFlags(left), BTP_INCOMPLETE_SPLIT | BTP_LEAF);
  assert.equal(btpoNext(left), 7);
  const right = apply(undefined, r, 1);
  assert.deepEqual(keys(right), [40, 50]);
  assert.equal(btpoPrev(right), 3);
  assert.equal(btpoNext(right), 8);
  assert.equal(btpoFlags(right), BTP_LEAF);
  const sibling = apply(rootLeaf([]), r, 2);
  assert.equal(btpoPrev(sibling), 7);
});

test('MARK_PAGE_HALFDEAD moves the downlink in the parent and rebuilds the leaf as half-dead', () => {
  // Pivot tuples whose t_tid block is the downlink (leaf tuples serve: same layout).
  const parent = rootLeaf([leafTuple(1, 11, 0), leafTuple(2, 12, 0), leafTuple(3, 13, 0)]);
  const main = le([2, 1], [2, 0], [4, 12], [4, 11], [4, 13], [4, 0xffffffff]);
  const r = rec(XLOG_BTREE_MARK_PAGE_HALFDEAD, main, [{ id: 0, blkno: 12, willInit: true }, { id: 1, blkno: 3 }]);
  const p = apply(parent, r, 1);
  assert.equal(pageMaxOffset(p), 2);
  assert.equal(downLink(itemAt(p, 1)), 12);
  assert.equal(downLink(itemAt(p, 2)), 13);
  const leaf = apply(undefined, r, 0);
  assert.equal(btpoFlags(leaf), BTP_HALF_DEAD | BTP_LEAF);
  assert.equal(btpoPrev(leaf), 11);
  assert.equal(btpoNext(leaf), 13);
  assert.equal(downLink(itemAt(leaf, 1)), 0xffffffff);
  // A poffset with no right neighbour is refused.
  const bad = rec(XLOG_BTREE_MARK_PAGE_HALFDEAD, le([2, 3], [2, 0], [4, 12], [4, 11], [4, 13], [4, 0]), [{ id: 0, blkno: 12, willInit: true }, { id: 1, blkno: 3 }]);
  assert.throws(() => apply(parent, bad, 1), isCode('CORRUPT_PAGE'));
});

test('UNLINK_PAGE rewrites the target as deleted and fixes both siblings', () => {
  const main = le([4, 5], [4, 9], [4, 1], [4, 0], [8, 0x100000200n], [4, 0], [4, 0], [4, 0xffffffff]);
  const r = rec(XLOG_BTREE_UNLINK_PAGE, main, [{ id: 0, blkno: 7, willInit: true }, { id: 1, blkno: 5 }, { id: 2, blkno: 9 }]);
  const target = apply(undefined, r, 0);
  assert.equal(btpoFlags(target), BTP_DELETED | BTP_HAS_FULLXID);
  assert.equal(btpoLevel(target), 1);
  assert.equal(pageLower(target), 32);
  assert.equal(btpoNext(apply(rootLeaf([]), r, 1)), 9);
  assert.equal(btpoPrev(apply(rootLeaf([]), r, 2)), 5);
});

test('a right-page tuple list with a zero-size tuple is CORRUPT_RECORD, not a hang', () => {
  const main = le([4, 0], [2, 2], [2, 5], [2, 0]);
  const r = rec(XLOG_BTREE_SPLIT_L, main, [
    { id: 0, blkno: 3, data: leafTuple(40, 0, 0) },
    { id: 1, blkno: 7, willInit: true, data: new Uint8Array(16) },
  ]);
  assert.throws(() => apply(undefined, r, 1), isCode('CORRUPT_RECORD'));
  const nr = rec(XLOG_BTREE_NEWROOT, le([4, 3], [4, 1]), [{ id: 0, blkno: 3, willInit: true, data: new Uint8Array(8) }, { id: 2, blkno: 0, willInit: true, data: META }]);
  assert.throws(() => apply(undefined, nr, 0), isCode('CORRUPT_RECORD'));
});

test('records on pages that are not btree pages are errors with the record LSN', () => {
  const zero = new Uint8Array(8192); // pd_lsn 0: the records apply
  assert.throws(() => apply(zero, rec(XLOG_BTREE_INSERT_LEAF, le([2, 1]), [{ id: 0, blkno: 3, data: leafTuple(1, 1, 1) }]), 0), isCode('CORRUPT_PAGE'));
  assert.throws(() => apply(zero, rec(XLOG_BTREE_VACUUM, le([2, 0], [2, 0]), [{ id: 0, blkno: 3 }]), 0), isCode('CORRUPT_PAGE'));
  // A block the record does not change.
  assert.throws(() => apply(rootLeaf([]), rec(XLOG_BTREE_DEDUP, le([2, 0]), [{ id: 0, blkno: 3 }, { id: 1, blkno: 4 }]), 1), isCode('BAD_INPUT'));
});
