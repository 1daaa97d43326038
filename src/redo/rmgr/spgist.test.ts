/**
 * SP-GiST redo on hand-built records, through the dispatcher: each record type's effect on its
 * blocks, spg_mask, and RedoErrors for records and pages that are not what the type needs. Real
 * WAL is checked record by record by `strata wal verify-redo`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RM_SPGIST_ID } from '../../pg/rmgr-ids.js';
import type { BlockNumber } from '../../pg/types.js';
import { TEST_REL, cat, fakeRecord, le, tid, type FakeBlock } from '../../testing/fake-records.js';
import {
  XLOG_SPGIST_ADD_LEAF, XLOG_SPGIST_ADD_NODE, XLOG_SPGIST_MOVE_LEAFS, XLOG_SPGIST_VACUUM_LEAF,
  XLOG_SPGIST_VACUUM_REDIRECT, XLOG_SPGIST_VACUUM_ROOT,
} from '../../wal/rmgr/spgist.js';
import { RedoError } from '../errors.js';
import { spg_mask } from '../mask/spgist.js';
import { newPage, pageAddItem, pageItem, pageMaxOffset, setPageLsn } from '../page.js';
import { u16, u32 } from '../page-layout.js';
import {
  SPGIST_DEAD, SPGIST_LEAF, SPGIST_PLACEHOLDER, SPGIST_REDIRECT, spgFlags, spgNPlaceholder, spgNRedirection, spgInitPage, tupState,
} from '../spgist-page.js';
import { DEFAULT_REDO_SETTINGS, applyRecord } from '../redo.js';

let nextLsn = 0x4000000n;

function rec(info: number, mainData: Uint8Array, blocks: readonly FakeBlock[]) {
  nextLsn += 0x100n;
  return fakeRecord(RM_SPGIST_ID, info, mainData, { lsn: nextLsn, endLsn: nextLsn + 0x80n, blocks });
}

function apply(page: Uint8Array | undefined, record: ReturnType<typeof rec>, blockId: number): Uint8Array {
  const blkno = record.blocks[blockId]!.blkno;
  return applyRecord(page, { rel: TEST_REL, fork: 0, blkno: blkno as BlockNumber }, { kind: 'record', record, blockId }, DEFAULT_REDO_SETTINGS);
}

const isRedo = (code: string) => (e: unknown) => e instanceof RedoError && e.code === code;

/** A 16-byte live leaf tuple: word (size 16), t_info (next offset), heap TID, a u16 key, padding. */
function ltup(key: number, next = 0): Uint8Array {
  return cat(le([4, 16 << 2], [2, next]), tid(1, key), le([2, key], [2, 0]));
}

/** An inner tuple with `n` nodes (8-byte IndexTuples with invalid downlinks), no prefix. */
function itup(n: number): Uint8Array {
  const nodes = Array.from({ length: n }, () => cat(tid(0xffffffff, 0), le([2, 8])));
  return cat(le([4, n << 3], [2, 8 + 8 * n], [2, 0]), ...nodes);
}

const STATE = le([4, 900], [1, 0], [1, 0], [2, 0]);

function addLeafMain(o: { newPage: boolean; leaf: number; head: number; parent: number; nodeI: number }, t: Uint8Array): Uint8Array {
  return cat(le([1, o.newPage ? 1 : 0], [1, 0], [2, o.leaf], [2, o.head], [2, o.parent], [2, o.nodeI]), t);
}

/** A leaf page (LSN 0) with leaf tuples 1..n, keys 1..n. */
function leafPage(n: number): Uint8Array {
  let page: Uint8Array | undefined;
  for (let i = 1; i <= n; i++) {
    const r = rec(XLOG_SPGIST_ADD_LEAF, addLeafMain({ newPage: i === 1, leaf: i, head: 0, parent: 0, nodeI: 0 }, ltup(i)), [{ id: 0, blkno: 4, willInit: i === 1 }]);
    page = apply(page, r, 0);
  }
  setPageLsn(page!, 0);
  return page!;
}

/** An inner page (LSN 0) holding one inner tuple of `n` nodes. */
function innerPage(n: number): Uint8Array {
  const page = newPage();
  spgInitPage(page, 0);
  assert.equal(pageAddItem(page, itup(n), 1, false, false), 1);
  return page;
}

/** The downlink (block, offset) of node `i` of the inner tuple at offset 1. */
function downlink(page: Uint8Array, i: number): [number, number] {
  const t = pageItem(page, 1);
  const at = 8 + 8 * i;
  return [(u16(t, at) << 16) | u16(t, at + 2), u16(t, at + 4)];
}

test('ADD_LEAF starts a leaf page, chains a tuple to its head, updates the parent downlink', () => {
  const p = leafPage(2);
  assert.equal(spgFlags(p), SPGIST_LEAF);
  assert.equal(pageMaxOffset(p), 2);
  const r = rec(XLOG_SPGIST_ADD_LEAF, addLeafMain({ newPage: false, leaf: 3, head: 1, parent: 1, nodeI: 2 }, ltup(3)), [{ id: 0, blkno: 4 }, { id: 1, blkno: 2 }]);
  const q = apply(p, r, 0);
  assert.equal(pageMaxOffset(q), 3);
  assert.equal(u16(pageItem(q, 1), 4) & 0x3fff, 3);
  assert.deepEqual(downlink(apply(innerPage(3), r, 1), 2), [4, 3]);
});

test('MOVE_LEAFS moves tuples to a new page and leaves a redirect and placeholders', () => {
  const main = cat(le([2, 2], [1, 1], [1, 0], [1, 0], [1, 0], [2, 1], [2, 0], [2, 0]), STATE, le([2, 2], [2, 1], [2, 1], [2, 2], [2, 3]), ltup(2), ltup(1), ltup(9));
  const r = rec(XLOG_SPGIST_MOVE_LEAFS, main, [{ id: 0, blkno: 4 }, { id: 1, blkno: 8, willInit: true }, { id: 2, blkno: 2 }]);
  const dest = apply(undefined, r, 1);
  assert.equal(pageMaxOffset(dest), 3);
  const src = apply(leafPage(3), r, 0);
  // The first listed (offset 2) redirects to the new chain head (8, 3); the rest are placeholders.
  assert.equal(tupState(pageItem(src, 2)), SPGIST_REDIRECT);
  assert.equal(u32(pageItem(src, 2), 12), 900);
  assert.equal(tupState(pageItem(src, 1)), SPGIST_PLACEHOLDER);
  assert.equal(spgNRedirection(src), 1);
  assert.equal(spgNPlaceholder(src), 1);
  assert.deepEqual(downlink(apply(innerPage(2), r, 2), 0), [8, 3]);

  // VACUUM_REDIRECT: the redirect becomes a placeholder; trailing placeholders from 3 on go.
  const vr = rec(XLOG_SPGIST_VACUUM_REDIRECT, le([2, 1], [2, 0], [4, 900], [2, 2]), [{ id: 0, blkno: 4 }]);
  const v = apply(src, vr, 0);
  assert.equal(tupState(pageItem(v, 2)), SPGIST_PLACEHOLDER);
  assert.equal(spgNRedirection(v), 0);
  assert.equal(spgNPlaceholder(v), 2);
  const trim = rec(XLOG_SPGIST_VACUUM_REDIRECT, le([2, 0], [2, 2], [4, 0]), [{ id: 0, blkno: 4 }]);
  const t = apply(v, trim, 0);
  assert.equal(pageMaxOffset(t), 1);
  assert.equal(spgNPlaceholder(t), 0);
  // A tuple to be replaced must be a placeholder.
  const notPlaceholder = rec(XLOG_SPGIST_MOVE_LEAFS, main, [{ id: 0, blkno: 4 }, { id: 1, blkno: 8 }, { id: 2, blkno: 2 }]);
  assert.throws(() => apply(leafPage(3), withoutNewPage(notPlaceholder), 1), isRedo('CORRUPT_PAGE'));
});

/** A record with newPage cleared (the dest page already exists). */
function withoutNewPage(r: ReturnType<typeof rec>): ReturnType<typeof rec> {
  const main = Uint8Array.from(r.mainData);
  main[2] = 0;
  return { ...r, mainData: main };
}

test('ADD_NODE to a new page leaves a redirect and links the parent', () => {
  const main = cat(le([2, 1], [2, 1], [1, 1], [1, 2], [2, 1], [2, 0], [2, 0]), STATE, itup(3));
  const r = rec(XLOG_SPGIST_ADD_NODE, main, [{ id: 0, blkno: 2 }, { id: 1, blkno: 6, willInit: true }, { id: 2, blkno: 1 }]);
  const moved = apply(undefined, r, 1);
  assert.equal(pageMaxOffset(moved), 1);
  const orig = apply(innerPage(2), r, 0);
  assert.equal(tupState(pageItem(orig, 1)), SPGIST_REDIRECT);
  assert.equal(spgNRedirection(orig), 1);
  assert.deepEqual(downlink(apply(innerPage(1), r, 2), 0), [6, 1]);
});

test('VACUUM_LEAF and VACUUM_ROOT', () => {
  // Item 3 dies, item 1 is moved to 2's line pointer (2 dead), 1 becomes a placeholder.
  const main = cat(le([2, 1], [2, 0], [2, 1], [2, 1]), STATE, le([2, 3], [2, 1], [2, 2], [2, 2], [2, 0]));
  const r = rec(XLOG_SPGIST_VACUUM_LEAF, main, [{ id: 0, blkno: 4 }]);
  const v = apply(leafPage(3), r, 0);
  assert.equal(tupState(pageItem(v, 3)), SPGIST_DEAD);
  assert.equal(tupState(pageItem(v, 1)), SPGIST_PLACEHOLDER);
  assert.equal(u16(pageItem(v, 2), 12), 1); // key 1 now at offset 2
  const root = rec(XLOG_SPGIST_VACUUM_ROOT, cat(le([2, 2], [2, 0]), STATE, le([2, 1], [2, 3])), [{ id: 0, blkno: 1 }]);
  const rp = apply(leafPage(3), root, 0);
  assert.equal(pageMaxOffset(rp), 1);
  assert.equal(u16(pageItem(rp, 1), 12), 2);
});

test('corrupt records and pages give RedoErrors', () => {
  // A node the inner tuple does not have.
  const r = rec(XLOG_SPGIST_ADD_LEAF, addLeafMain({ newPage: false, leaf: 3, head: 0, parent: 1, nodeI: 7 }, ltup(3)), [{ id: 0, blkno: 4 }, { id: 1, blkno: 2 }]);
  assert.throws(() => apply(innerPage(2), r, 1), isRedo('CORRUPT_PAGE'));
  // An offset far past the page's items.
  const far = rec(XLOG_SPGIST_VACUUM_ROOT, cat(le([2, 1], [2, 0]), STATE, le([2, 40])), [{ id: 0, blkno: 1 }]);
  assert.throws(() => apply(leafPage(2), far, 0), isRedo('CORRUPT_PAGE'));
  const swap = rec(XLOG_SPGIST_VACUUM_LEAF, cat(le([2, 0], [2, 0], [2, 1], [2, 0]), STATE, le([2, 1], [2, 300])), [{ id: 0, blkno: 4 }]);
  assert.throws(() => apply(leafPage(2), swap, 0), isRedo('CORRUPT_PAGE'));
  // Truncated main data.
  const short = rec(XLOG_SPGIST_VACUUM_REDIRECT, le([2, 5], [2, 0], [4, 0], [2, 1]), [{ id: 0, blkno: 4 }]);
  assert.throws(() => apply(leafPage(2), short, 0), isRedo('CORRUPT_RECORD'));
  // A new page that is not WILL_INIT.
  const noInit = rec(XLOG_SPGIST_ADD_LEAF, addLeafMain({ newPage: true, leaf: 1, head: 0, parent: 0, nodeI: 0 }, ltup(1)), [{ id: 0, blkno: 4 }]);
  assert.throws(() => apply(leafPage(1), noInit, 0), isRedo('CORRUPT_RECORD'));
});

test('spg_mask masks a new page without complaint and hides the free space', () => {
  const zero = newPage();
  spg_mask(zero, 0);
  assert.deepEqual(zero, newPage());
  const a = leafPage(2);
  const b = Uint8Array.from(a);
  b[4000] = 0x5a;
  spg_mask(a, 4);
  spg_mask(b, 4);
  assert.deepEqual(a, b);
});
