/**
 * GiST redo on hand-built records, through the dispatcher: each record type's effect on each of
 * its blocks, gist_mask, and the errors (never a hang, never a write outside the page) for records
 * and pages that are not what the type needs. Real WAL is checked record by record by
 * `strata wal verify-redo`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RM_GIST_ID } from '../../pg/rmgr-ids.js';
import type { BlockNumber } from '../../pg/types.js';
import { TEST_REL, cat, fakeRecord, le, tid, type FakeBlock } from '../../testing/fake-records.js';
import { XLOG_GIST_DELETE, XLOG_GIST_PAGE_DELETE, XLOG_GIST_PAGE_REUSE, XLOG_GIST_PAGE_SPLIT, XLOG_GIST_PAGE_UPDATE } from '../../wal/rmgr/gist.js';
import { RedoError } from '../errors.js';
import {
  F_DELETED, F_FOLLOW_RIGHT, F_HAS_GARBAGE, F_LEAF, F_TUPLES_DELETED, GIST_PAGE_ID, INVALID_BLOCK_NUMBER,
  gistFlags, gistInitPage, gistNsn, gistRightlink, setGistFlags,
} from '../gist-page.js';
import { gist_mask } from '../mask/gist.js';
import { pageItem, pageLower, pageLsn, pageMaxOffset, pageSpecial, setPageLsn } from '../page.js';
import { u16 } from '../page-layout.js';
import { DEFAULT_REDO_SETTINGS, applyRecord } from '../redo.js';

let nextLsn = 0x3000000n;

function rec(info: number, mainData: Uint8Array, blocks: readonly FakeBlock[]) {
  nextLsn += 0x100n;
  return fakeRecord(RM_GIST_ID, info, mainData, { lsn: nextLsn, endLsn: nextLsn + 0x80n, blocks });
}

function apply(page: Uint8Array | undefined, record: ReturnType<typeof rec>, blockId: number): Uint8Array {
  const blkno = record.blocks[blockId]!.blkno;
  return applyRecord(page, { rel: TEST_REL, fork: 0, blkno: blkno as BlockNumber }, { kind: 'record', record, blockId }, DEFAULT_REDO_SETTINGS);
}

/** A 16-byte GiST leaf tuple: heap TID, t_info 16, an int4 key, padding. */
function gtup(key: number): Uint8Array {
  return cat(tid(1, key), le([2, 16], [4, key], [4, 0]));
}

function keyOf(page: Uint8Array, off: number): number {
  const item = pageItem(page, off);
  return item[8]! | (item[9]! << 8);
}

function splitData(keys: readonly number[]): Uint8Array {
  return cat(le([4, keys.length]), ...keys.map(gtup));
}

function splitMain(o: { rlink: number; nsn: bigint; leaf: boolean; npage: number; follow: boolean }): Uint8Array {
  return le([4, o.rlink], [4, 0], [8, o.nsn], [1, o.leaf ? 1 : 0], [1, 0], [2, o.npage], [1, o.follow ? 1 : 0], [1, 0]);
}

function splitLeaf(): Uint8Array {
  const r = rec(XLOG_GIST_PAGE_SPLIT, splitMain({ rlink: 9, nsn: 0x55n, leaf: true, npage: 2, follow: true }), [
    { id: 1, blkno: 5, willInit: true, data: splitData([1, 2, 3]) },
    { id: 2, blkno: 7, willInit: true, data: splitData([4, 5]) },
  ]);
  // LSN 0: every later-built record applies to it, whenever it was made.
  const page = apply(undefined, r, 1);
  setPageLsn(page, 0);
  return page;
}

test('PAGE_SPLIT rebuilds each page with its tuples, rightlinks, NSN and follow-right', () => {
  const r = rec(XLOG_GIST_PAGE_SPLIT, splitMain({ rlink: 9, nsn: 0x55n, leaf: true, npage: 2, follow: true }), [
    { id: 0, blkno: 3 },
    { id: 1, blkno: 5, willInit: true, data: splitData([1, 2, 3]) },
    { id: 2, blkno: 7, willInit: true, data: splitData([4, 5]) },
  ]);
  const left = apply(undefined, r, 1);
  assert.equal(pageMaxOffset(left), 3);
  assert.deepEqual([1, 2, 3].map((o) => keyOf(left, o)), [1, 2, 3]);
  assert.equal(gistRightlink(left), 7);
  assert.equal(gistFlags(left), F_LEAF | F_FOLLOW_RIGHT);
  assert.equal(gistNsn(left), 0x55n);
  assert.equal(u16(left, pageSpecial(left) + 14), GIST_PAGE_ID);
  assert.equal(BigInt(pageLsn(left)), r.endLsn);
  const right = apply(undefined, r, 2);
  assert.equal(gistRightlink(right), 9);
  assert.equal(gistFlags(right), F_LEAF);
  // The left child of the finished split: NSN is the record's LSN, follow-right cleared.
  const child = splitLeaf();
  const fixed = apply(child, r, 0);
  assert.equal(gistFlags(fixed) & F_FOLLOW_RIGHT, 0);
  assert.equal(gistNsn(fixed), r.endLsn);
});

test('a root split keeps the root an inner page with no rightlink', () => {
  const r = rec(XLOG_GIST_PAGE_SPLIT, splitMain({ rlink: INVALID_BLOCK_NUMBER, nsn: 0n, leaf: true, npage: 3, follow: true }), [
    { id: 1, blkno: 0, willInit: true, data: splitData([1]) },
    { id: 2, blkno: 4, willInit: true, data: splitData([2]) },
    { id: 3, blkno: 6, willInit: true, data: splitData([3]) },
  ]);
  const root = apply(undefined, r, 1);
  assert.equal(gistFlags(root), 0);
  assert.equal(gistRightlink(root), INVALID_BLOCK_NUMBER);
  // No follow-right under a root split.
  assert.equal(gistFlags(apply(undefined, r, 2)), F_LEAF);
  assert.equal(gistRightlink(apply(undefined, r, 2)), 6);
});

test('PAGE_UPDATE overwrites one tuple in place, or deletes and appends', () => {
  const one = rec(XLOG_GIST_PAGE_UPDATE, le([2, 1], [2, 1]), [{ id: 0, blkno: 5, data: cat(le([2, 2]), gtup(42)) }]);
  const p = apply(splitLeaf(), one, 0);
  assert.deepEqual([1, 2, 3].map((o) => keyOf(p, o)), [1, 42, 3]);
  assert.equal(gistFlags(p) & F_TUPLES_DELETED, 0);
  const many = rec(XLOG_GIST_PAGE_UPDATE, le([2, 2], [2, 2]), [{ id: 0, blkno: 5, data: cat(le([2, 1], [2, 3]), gtup(8), gtup(9)) }]);
  const q = apply(p, many, 0);
  assert.deepEqual([1, 2, 3].map((o) => keyOf(q, o)), [42, 8, 9]);
  assert.equal(gistFlags(q) & F_TUPLES_DELETED, F_TUPLES_DELETED);
});

test('DELETE removes the offsets, clears F_HAS_GARBAGE, marks tuples deleted', () => {
  const page = splitLeaf();
  setGistFlags(page, gistFlags(page) | F_HAS_GARBAGE);
  const r = rec(XLOG_GIST_DELETE, le([4, 700], [2, 2], [2, 1], [2, 3]), [{ id: 0, blkno: 5 }]);
  const p = apply(page, r, 0);
  assert.equal(pageMaxOffset(p), 1);
  assert.equal(keyOf(p, 1), 2);
  assert.equal(gistFlags(p) & (F_HAS_GARBAGE | F_TUPLES_DELETED), F_TUPLES_DELETED);
});

test('PAGE_DELETE marks the empty leaf deleted and drops the downlink from the parent', () => {
  const leaf = new Uint8Array(8192);
  gistInitPage(leaf, F_LEAF);
  const r = rec(XLOG_GIST_PAGE_DELETE, le([8, 0x1_0000_0203n], [2, 2]), [{ id: 0, blkno: 7 }, { id: 1, blkno: 5 }]);
  const d = apply(leaf, r, 0);
  assert.equal(gistFlags(d), F_LEAF | F_DELETED);
  assert.equal(pageLower(d), 32);
  assert.deepEqual([...d.subarray(24, 32)], [3, 2, 0, 0, 1, 0, 0, 0]);
  const parent = apply(splitLeaf(), r, 1);
  assert.deepEqual([1, 2].map((o) => keyOf(parent, o)), [1, 3]);
  // A page that still has items is not marked deleted.
  assert.throws(() => apply(splitLeaf(), rec(XLOG_GIST_PAGE_DELETE, le([8, 1n], [2, 1]), [{ id: 0, blkno: 5 }]), 0), (e: unknown) => e instanceof RedoError && e.code === 'CORRUPT_PAGE');
});

test('records with no page and corrupt input give RedoErrors', () => {
  const isRedo = (code: string) => (e: unknown) => e instanceof RedoError && e.code === code;
  // PAGE_REUSE registers no block: nothing to redo on a page.
  const reuse = rec(XLOG_GIST_PAGE_REUSE, le([4, 1663], [4, 5], [4, 16384], [4, 3], [8, 5n]), []);
  assert.throws(() => applyRecord(undefined, { rel: TEST_REL, fork: 0, blkno: 0 as BlockNumber }, { kind: 'record', record: reuse, blockId: 0 }, DEFAULT_REDO_SETTINGS), isRedo('BAD_INPUT'));
  // An offset past the page's items.
  const past = rec(XLOG_GIST_PAGE_UPDATE, le([2, 1], [2, 1]), [{ id: 0, blkno: 5, data: cat(le([2, 40]), gtup(1)) }]);
  assert.throws(() => apply(splitLeaf(), past, 0), isRedo('CORRUPT_PAGE'));
  // A split page that is not WILL_INIT.
  const noInit = rec(XLOG_GIST_PAGE_SPLIT, splitMain({ rlink: 9, nsn: 0n, leaf: true, npage: 1, follow: false }), [{ id: 1, blkno: 5, data: splitData([1]) }]);
  assert.throws(() => apply(splitLeaf(), noInit, 1), isRedo('CORRUPT_RECORD'));
  // Truncated main data.
  const short = rec(XLOG_GIST_PAGE_DELETE, le([4, 1]), [{ id: 0, blkno: 7 }]);
  assert.throws(() => apply(splitLeaf(), short, 0), isRedo('CORRUPT_RECORD'));
  // A page whose special space is garbage.
  const bad = splitLeaf();
  bad[16] = 0xff;
  bad[17] = 0xff;
  assert.throws(() => apply(bad, rec(XLOG_GIST_DELETE, le([4, 1], [2, 0]), [{ id: 0, blkno: 5 }]), 0), (e: unknown) => e instanceof RedoError);
});

test('gist_mask hides the NSN, F_FOLLOW_RIGHT, F_HAS_GARBAGE and leaf line-pointer flags', () => {
  const a = splitLeaf();
  const b = Uint8Array.from(a);
  setGistFlags(b, (gistFlags(b) & ~F_FOLLOW_RIGHT) | F_HAS_GARBAGE);
  b[pageSpecial(b)] = 0x77;
  b[24 + 2] = b[24 + 2]! | 0x01; // lp_flags of item 1: LP_NORMAL to LP_DEAD
  gist_mask(a, 5);
  gist_mask(b, 5);
  assert.deepEqual(a, b);
  assert.equal(gistFlags(a) & F_FOLLOW_RIGHT, F_FOLLOW_RIGHT);
});
