/**
 * GIN redo on hand-built records, through the dispatcher: each record type's effect on each of its
 * blocks, leaf recompression with every segment action, and the errors (never another exception,
 * never a write outside the page) for records and pages that are not what the type needs. Real
 * WAL is checked record by record by `strata wal verify-redo` (every Gin type matched
 * PostgreSQL's images).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RM_GIN_ID } from '../../pg/rmgr-ids.js';
import type { BlockNumber } from '../../pg/types.js';
import { TEST_REL, cat, fakeRecord, le, tid, type FakeBlock } from '../../testing/fake-records.js';
import {
  GIN_SEGMENT_ADDITEMS,
  GIN_SEGMENT_DELETE,
  GIN_SEGMENT_INSERT,
  GIN_SEGMENT_REPLACE,
  XLOG_GIN_CREATE_PTREE,
  XLOG_GIN_DELETE_LISTPAGE,
  XLOG_GIN_DELETE_PAGE,
  XLOG_GIN_INSERT,
  XLOG_GIN_INSERT_LISTPAGE,
  XLOG_GIN_SPLIT,
  XLOG_GIN_UPDATE_META_PAGE,
  XLOG_GIN_VACUUM_DATA_LEAF_PAGE,
  XLOG_GIN_VACUUM_PAGE,
} from '../../wal/rmgr/gin.js';
import type { ItemPointer } from '../../wal/rmgr/index-am.js';
import { RedoError } from '../errors.js';
import {
  GIN_COMPRESSED,
  GIN_DATA,
  GIN_DATA_OFFSET,
  GIN_DELETED,
  GIN_INCOMPLETE_SPLIT,
  GIN_LEAF,
  GIN_LIST,
  GIN_LIST_FULLROW,
  GIN_META,
  INVALID_BLOCK,
  ginDataLeafPageGetPostingListSize,
  ginDataPageAddPostingItem,
  ginFlags,
  ginInitPage,
  ginMaxoff,
  ginRightlink,
  postingItemBytes,
} from '../gin-page.js';
import { ginCompressPostingList, ginPostingListDecodeAllSegments } from '../gin-posting.js';
import { gin_mask } from '../mask/gin.js';
import { newPage, pageItem, pageLower, pageLsn, pageMaxOffset, pagePruneXid, pageSpecial, setPageLsn } from '../page.js';
import { setU16 } from '../page-layout.js';
import { DEFAULT_REDO_SETTINGS, applyRecord } from '../redo.js';

let nextLsn = 0x3000000n;

function rec(info: number, mainData: Uint8Array, blocks: readonly FakeBlock[]) {
  nextLsn += 0x100n;
  return fakeRecord(RM_GIN_ID, info, mainData, { lsn: nextLsn, endLsn: nextLsn + 0x80n, blocks });
}

function apply(page: Uint8Array | undefined, record: ReturnType<typeof rec>, blockId: number): Uint8Array {
  const blkno = record.blocks[blockId]!.blkno;
  return applyRecord(page === undefined ? undefined : Uint8Array.from(page), { rel: TEST_REL, fork: 0, blkno: blkno as BlockNumber }, { kind: 'record', record, blockId }, DEFAULT_REDO_SETTINGS);
}

function isCode(code: string): (e: unknown) => boolean {
  return (e: unknown) => e instanceof RedoError && e.code === code && e.lsn !== undefined;
}

function ip(blkno: number, offnum: number): ItemPointer {
  return { blkno: blkno as BlockNumber, offnum };
}

function seg(items: readonly ItemPointer[]): Uint8Array {
  return ginCompressPostingList(items, 8192).segment;
}

/** A 16-byte index tuple: TID, t_info = 16, an int4 key, padding. */
function tuple(key: number, blkno = 0, off = 0): Uint8Array {
  const t = new Uint8Array(16);
  t.set(tid(blkno, off), 0);
  t[6] = 16;
  new DataView(t.buffer).setInt32(8, key, true);
  return t;
}

function keyOf(t: Uint8Array): number {
  return new DataView(t.buffer, t.byteOffset).getInt32(8, true);
}

function keys(page: Uint8Array): number[] {
  const out: number[] = [];
  for (let off = 1; off <= pageMaxOffset(page); off++) out.push(keyOf(pageItem(page, off)));
  return out;
}

/** All TIDs of a data leaf, as "blk,off". */
function leafItems(page: Uint8Array): string[] {
  return ginPostingListDecodeAllSegments(page, GIN_DATA_OFFSET, ginDataLeafPageGetPostingListSize(page)).map((x) => `${x.blkno},${x.offnum}`);
}

/** A posting tree leaf (CREATE_PTREE on block 5) holding `segments` back to back, LSN 0. */
function dataLeaf(segments: readonly Uint8Array[]): Uint8Array {
  const list = cat(...segments);
  const page = apply(undefined, rec(XLOG_GIN_CREATE_PTREE, cat(le([4, list.length]), list), [{ id: 0, blkno: 5, willInit: true }]), 0);
  setPageLsn(page, 0);
  return page;
}

/** ginxlogRecompressDataLeaf bytes. */
function actions(...parts: Uint8Array[]): Uint8Array {
  return cat(le([2, parts.length]), ...parts);
}

function insertLeaf(page: Uint8Array, data: Uint8Array): Uint8Array {
  return apply(page, rec(XLOG_GIN_INSERT, le([2, GIN_DATA_FLAG | LEAF_FLAG]), [{ id: 0, blkno: 5, data }]), 0);
}

const GIN_DATA_FLAG = 0x01;
const LEAF_FLAG = 0x02;

test('CREATE_PTREE lays out a compressed posting tree leaf', () => {
  const page = dataLeaf([seg([ip(1, 1), ip(1, 2), ip(3, 7)])]);
  assert.equal(ginFlags(page), GIN_DATA | GIN_LEAF | GIN_COMPRESSED);
  assert.equal(ginRightlink(page), INVALID_BLOCK);
  assert.deepEqual(leafItems(page), ['1,1', '1,2', '3,7']);
  assert.equal(pageSpecial(page), 8192 - 8);
  // Not WILL_INIT, or a size past the page: refused.
  assert.throws(() => apply(undefined, rec(XLOG_GIN_CREATE_PTREE, cat(le([4, 2]), le([2, 0])), [{ id: 0, blkno: 5 }]), 0), isCode('CORRUPT_RECORD'));
});

test('INSERT on a data leaf applies insert, replace, addItems and delete actions', () => {
  const s0 = seg([ip(1, 1), ip(1, 2)]);
  const s1 = seg([ip(2, 1), ip(2, 5)]);
  const s2 = seg([ip(4, 1)]);
  const page = dataLeaf([s0, s1, s2]);
  // Items added to segment 1, segment 2 deleted, a new segment inserted at the end.
  const after = insertLeaf(page, actions(
    cat(le([1, 1], [1, GIN_SEGMENT_ADDITEMS], [2, 2]), tid(2, 3), tid(2, 9)),
    le([1, 2], [1, GIN_SEGMENT_DELETE]),
    cat(le([1, 3], [1, GIN_SEGMENT_INSERT]), seg([ip(9, 1), ip(9, 2)])),
  ));
  assert.deepEqual(leafItems(after), ['1,1', '1,2', '2,1', '2,3', '2,5', '2,9', '9,1', '9,2']);
  assert.equal(pageLsn(after), Number(nextLsn + 0x80n));
  // REPLACE of segment 0 keeps the rest after it.
  const replaced = insertLeaf(page, actions(cat(le([1, 0], [1, GIN_SEGMENT_REPLACE]), seg([ip(1, 1)]))));
  assert.deepEqual(leafItems(replaced), ['1,1', '2,1', '2,5', '4,1']);
  // As in PostgreSQL, no actions at all leave an empty leaf (the data size is what was written).
  assert.deepEqual(leafItems(insertLeaf(page, actions())), []);
});

test('VACUUM_DATA_LEAF_PAGE recompresses the leaf the same way', () => {
  const page = dataLeaf([seg([ip(1, 1), ip(1, 2)]), seg([ip(2, 1)])]);
  const after = apply(page, rec(XLOG_GIN_VACUUM_DATA_LEAF_PAGE, new Uint8Array(0), [{ id: 0, blkno: 5, data: actions(cat(le([1, 0], [1, GIN_SEGMENT_REPLACE]), seg([ip(1, 2)])), le([1, 1], [1, GIN_SEGMENT_DELETE])) }]), 0);
  assert.deepEqual(leafItems(after), ['1,2']);
});

test('leaf recompression refuses unknown actions, segments past the end and oversized results', () => {
  const page = dataLeaf([seg([ip(1, 1)])]);
  assert.throws(() => insertLeaf(page, actions(le([1, 0], [1, 9]))), isCode('CORRUPT_RECORD'));
  assert.throws(() => insertLeaf(page, actions(cat(le([1, 4], [1, GIN_SEGMENT_ADDITEMS], [2, 1]), tid(3, 3)))), isCode('CORRUPT_PAGE'));
  // A leaf whose pd_lower claims data past the special space.
  const bad = Uint8Array.from(page);
  setU16(bad, 12, 8190);
  assert.throws(() => insertLeaf(bad, actions(le([1, 0], [1, GIN_SEGMENT_DELETE]))), isCode('CORRUPT_PAGE'));
  // Many large inserted segments overflow the page.
  const big = seg(Array.from({ length: 1500 }, (_, i) => ip(i * 1000 + 1, 1)));
  const many = actions(...Array.from({ length: 4 }, () => cat(le([1, 1], [1, GIN_SEGMENT_INSERT]), big)));
  assert.throws(() => insertLeaf(page, many), isCode('CORRUPT_PAGE'));
});

test('INSERT on a posting tree internal page re-points the split child and adds the new downlink', () => {
  const page = newPage();
  ginInitPage(page, GIN_DATA);
  ginDataPageAddPostingItem(page, postingItemBytes(10, ip(5, 1)), 0);
  ginDataPageAddPostingItem(page, postingItemBytes(11, ip(0, 0)), 0);
  const main = le([2, GIN_DATA_FLAG], [2, 0], [2, 10], [2, 0], [2, 12]);
  const data = cat(le([2, 1], [2, 0], [2, 10]), tid(3, 4));
  const r = rec(XLOG_GIN_INSERT, main, [{ id: 0, blkno: 2, data }, { id: 1, blkno: 10 }]);
  const after = apply(page, r, 0);
  assert.equal(ginMaxoff(after), 3);
  assert.equal(pageLower(after), GIN_DATA_OFFSET + 30);
  const child = (i: number) => ((after[GIN_DATA_OFFSET + 10 * i]! | (after[GIN_DATA_OFFSET + 10 * i + 1]! << 8)) << 16) | after[GIN_DATA_OFFSET + 10 * i + 2]! | (after[GIN_DATA_OFFSET + 10 * i + 3]! << 8);
  assert.deepEqual([child(0), child(1), child(2)], [10, 12, 11]);
  // Block 1 (the child) loses GIN_INCOMPLETE_SPLIT.
  const c = newPage();
  ginInitPage(c, GIN_DATA | GIN_LEAF | GIN_INCOMPLETE_SPLIT);
  assert.equal(ginFlags(apply(c, r, 1)), GIN_DATA | GIN_LEAF);
  // An offset past the items is refused.
  const far = rec(XLOG_GIN_INSERT, main, [{ id: 0, blkno: 2, data: cat(le([2, 9], [2, 0], [2, 10]), tid(3, 4)) }, { id: 1, blkno: 10 }]);
  assert.throws(() => apply(page, far, 0), isCode('CORRUPT_PAGE'));
});

test('INSERT on entry pages adds, replaces (isDelete) and updates the split child downlink', () => {
  let page = newPage();
  ginInitPage(page, GIN_LEAF);
  const entry = (offset: number, isDelete: boolean, t: Uint8Array) => rec(XLOG_GIN_INSERT, le([2, LEAF_FLAG]), [{ id: 0, blkno: 1, data: cat(le([2, offset], [1, isDelete ? 1 : 0], [1, 0]), t) }]);
  page = apply(page, entry(1, false, tuple(10)), 0);
  page = apply(page, entry(2, false, tuple(30)), 0);
  page = apply(page, entry(2, false, tuple(20)), 0);
  assert.deepEqual(keys(page), [10, 20, 30]);
  page = apply(page, entry(2, true, tuple(21)), 0);
  assert.deepEqual(keys(page), [10, 21, 30]);
  // A non-leaf insert: item 1's downlink becomes the right child, the new tuple goes in front.
  let upper = newPage();
  ginInitPage(upper, 0);
  upper = apply(upper, rec(XLOG_GIN_INSERT, le([2, LEAF_FLAG]), [{ id: 0, blkno: 1, data: cat(le([2, 1], [1, 0], [1, 0]), tuple(50, 7, 0)) }]), 0);
  const r = rec(XLOG_GIN_INSERT, le([2, 0], [2, 0], [2, 7], [2, 0], [2, 0x0108]), [{ id: 0, blkno: 1, data: cat(le([2, 1], [1, 0], [1, 0]), tuple(40, 7, 0)) }, { id: 1, blkno: 7 }]);
  const after = apply(upper, r, 0);
  assert.deepEqual(keys(after), [40, 50]);
  assert.deepEqual([...pageItem(after, 2).subarray(0, 6)], [...tid(0x0108, 0)]);
  // Deleting an offset the page lacks is refused.
  assert.throws(() => apply(page, entry(9, true, tuple(1)), 0), isCode('CORRUPT_PAGE'));
});

/** GinMetaPageData bytes: head, tail, tailFreeSize, nPendingPages, nPendingHeapTuples, ... ginVersion. */
function meta(head: number, tail: number): Uint8Array {
  return le([4, head], [4, tail], [4, 100], [4, 2], [8, 5], [4, 9], [4, 3], [4, 4], [4, 0], [8, 77], [4, 2], [4, 0]);
}

test('UPDATE_META_PAGE rebuilds the metapage and appends tuples to the tail or links a new tail', () => {
  const main = (ntuples: number, prevTail: number) => cat(le([4, 1663], [4, 5], [4, 16384], [4, 0]), meta(3, 4), le([4, prevTail], [4, 8], [4, ntuples]));
  const r = rec(XLOG_GIN_UPDATE_META_PAGE, main(2, INVALID_BLOCK), [{ id: 0, blkno: 0, willInit: true }, { id: 1, blkno: 4, data: cat(tuple(1), tuple(2)) }]);
  const m = apply(undefined, r, 0);
  assert.equal(ginFlags(m), GIN_META);
  assert.equal(pageLower(m), 80);
  assert.deepEqual([...m.subarray(24, 80)], [...meta(3, 4)]);
  let tail = newPage();
  ginInitPage(tail, GIN_LIST);
  tail = apply(tail, r, 1);
  assert.deepEqual(keys(tail), [1, 2]);
  assert.equal(ginMaxoff(tail), 1);
  // No tuples, a previous tail: its rightlink goes to the new tail.
  const link = rec(XLOG_GIN_UPDATE_META_PAGE, main(0, 4), [{ id: 0, blkno: 0, willInit: true }, { id: 1, blkno: 4 }]);
  assert.equal(ginRightlink(apply(tail, link, 1)), 8);
  // Neither: block 1 is not redo's to change; the metapage must be WILL_INIT.
  const none = rec(XLOG_GIN_UPDATE_META_PAGE, main(0, INVALID_BLOCK), [{ id: 0, blkno: 0 }, { id: 1, blkno: 4 }]);
  assert.throws(() => apply(tail, none, 1), isCode('BAD_INPUT'));
  assert.throws(() => apply(newPage(), none, 0), isCode('CORRUPT_RECORD'));
});

test('INSERT_LISTPAGE builds a pending-list page; DELETE_LISTPAGE empties the list', () => {
  const list = (rightlink: number) => rec(XLOG_GIN_INSERT_LISTPAGE, le([4, rightlink], [4, 2]), [{ id: 0, blkno: 6, willInit: true, data: cat(tuple(5), tuple(6)) }]);
  const tail = apply(undefined, list(INVALID_BLOCK), 0);
  assert.equal(ginFlags(tail), GIN_LIST | GIN_LIST_FULLROW);
  assert.equal(ginMaxoff(tail), 1);
  assert.deepEqual(keys(tail), [5, 6]);
  const mid = apply(undefined, list(9), 0);
  assert.equal(ginFlags(mid), GIN_LIST);
  assert.equal(ginRightlink(mid), 9);
  assert.equal(ginMaxoff(mid), 0);
  const del = rec(XLOG_GIN_DELETE_LISTPAGE, cat(meta(INVALID_BLOCK, INVALID_BLOCK), le([4, 2])), [{ id: 0, blkno: 0, willInit: true }, { id: 1, blkno: 6, willInit: true }, { id: 2, blkno: 9, willInit: true }]);
  const gone = apply(tail, del, 1);
  assert.equal(ginFlags(gone), GIN_DELETED);
  assert.equal(pageMaxOffset(gone), 0);
  assert.equal(ginFlags(apply(undefined, del, 0)), GIN_META);
});

test('DELETE_PAGE marks the page deleted, drops the parent downlink and relinks the left sibling', () => {
  const parent = newPage();
  ginInitPage(parent, GIN_DATA);
  ginDataPageAddPostingItem(parent, postingItemBytes(10, ip(5, 1)), 0);
  ginDataPageAddPostingItem(parent, postingItemBytes(11, ip(0, 0)), 0);
  const r = rec(XLOG_GIN_DELETE_PAGE, le([2, 1], [2, 0], [4, 12], [4, 777]), [{ id: 0, blkno: 10 }, { id: 1, blkno: 2 }, { id: 2, blkno: 9 }]);
  const leaf = dataLeaf([seg([ip(1, 1)])]);
  const deleted = apply(leaf, r, 0);
  assert.equal(ginFlags(deleted) & GIN_DELETED, GIN_DELETED);
  assert.equal(pagePruneXid(deleted), 777);
  const p = apply(parent, r, 1);
  assert.equal(ginMaxoff(p), 1);
  assert.equal(pageLower(p), GIN_DATA_OFFSET + 10);
  assert.equal(p[GIN_DATA_OFFSET + 2], 11);
  assert.equal(ginRightlink(apply(leaf, r, 2)), 12);
  const bad = rec(XLOG_GIN_DELETE_PAGE, le([2, 5], [2, 0], [4, 12], [4, 777]), [{ id: 0, blkno: 10 }, { id: 1, blkno: 2 }, { id: 2, blkno: 9 }]);
  assert.throws(() => apply(parent, bad, 1), isCode('CORRUPT_PAGE'));
});

test('SPLIT and VACUUM_PAGE pages must come from images; SPLIT clears the child split flag', () => {
  const split = (flags: number) => rec(XLOG_GIN_SPLIT, le([4, 1663], [4, 5], [4, 16384], [4, 0], [4, 3], [4, 4], [2, flags]), [{ id: 0, blkno: 1 }, { id: 1, blkno: 2 }, { id: 3, blkno: 3 }]);
  const page = dataLeaf([seg([ip(1, 1)])]);
  assert.throws(() => apply(page, split(0), 0), isCode('CORRUPT_RECORD'));
  const child = newPage();
  ginInitPage(child, GIN_LEAF | GIN_INCOMPLETE_SPLIT);
  assert.equal(ginFlags(apply(child, split(0), 3)), GIN_LEAF);
  assert.throws(() => apply(child, split(LEAF_FLAG), 3), isCode('BAD_INPUT'));
  assert.throws(() => apply(page, rec(XLOG_GIN_VACUUM_PAGE, new Uint8Array(0), [{ id: 0, blkno: 5 }]), 0), isCode('CORRUPT_RECORD'));
});

test('a page whose special space cannot hold GinPageOpaqueData is refused', () => {
  const page = dataLeaf([seg([ip(1, 1)])]);
  setU16(page, 16, 8190);
  assert.throws(() => insertLeaf(page, actions(le([1, 0], [1, GIN_SEGMENT_DELETE]))), isCode('CORRUPT_PAGE'));
  assert.throws(() => gin_mask(page, 5), (e: unknown) => e instanceof RedoError && e.code === 'CORRUPT_PAGE');
});

test('gin_mask masks a deleted page whole and the hole of others', () => {
  const leaf = dataLeaf([seg([ip(1, 1)])]);
  leaf.fill(0xaa, pageLower(leaf), pageSpecial(leaf));
  gin_mask(leaf, 5);
  assert.ok(leaf.subarray(pageLower(leaf), pageSpecial(leaf)).every((b) => b === 0));
  assert.deepEqual(leafItems(leaf), ['1,1']);
  const deleted = dataLeaf([seg([ip(1, 1)])]);
  const flagsAt = pageSpecial(deleted) + 6;
  deleted[flagsAt] = deleted[flagsAt]! | GIN_DELETED;
  gin_mask(deleted, 5);
  assert.equal(pageLower(deleted), 0);
  assert.ok(deleted.subarray(24).every((b) => b === 0));
});

test('random corruption of pages and block data gives a page or a RedoError, nothing else', () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const leaf = dataLeaf([seg([ip(1, 1), ip(1, 2)]), seg([ip(2, 1), ip(2, 5)]), seg([ip(4, 1)])]);
  const leafData = actions(
    cat(le([1, 1], [1, GIN_SEGMENT_ADDITEMS], [2, 2]), tid(2, 3), tid(2, 9)),
    le([1, 2], [1, GIN_SEGMENT_DELETE]),
    cat(le([1, 3], [1, GIN_SEGMENT_INSERT]), seg([ip(9, 1), ip(9, 2)])),
  );
  const internal = newPage();
  ginInitPage(internal, GIN_DATA);
  ginDataPageAddPostingItem(internal, postingItemBytes(10, ip(5, 1)), 0);
  for (let round = 0; round < 3000; round++) {
    const page = Uint8Array.from(round % 2 === 0 ? leaf : internal);
    const data = Uint8Array.from(leafData);
    for (let k = rand(4); k >= 0; k--) page[rand(round % 3 === 0 ? 64 : 8192)] = rand(256);
    for (let k = rand(3); k >= 0; k--) data[rand(data.length)] = rand(256);
    const records = [
      rec(XLOG_GIN_INSERT, le([2, GIN_DATA_FLAG | LEAF_FLAG]), [{ id: 0, blkno: 5, data }]),
      rec(XLOG_GIN_VACUUM_DATA_LEAF_PAGE, new Uint8Array(0), [{ id: 0, blkno: 5, data }]),
      rec(XLOG_GIN_INSERT, le([2, GIN_DATA_FLAG], [2, 0], [2, 10], [2, 0], [2, 12]), [{ id: 0, blkno: 5, data: cat(le([2, rand(4)], [2, 0], [2, 10]), tid(3, 4)) }]),
      rec(XLOG_GIN_DELETE_PAGE, le([2, rand(4)], [2, 0], [4, 12], [4, 777]), [{ id: 0, blkno: 5 }, { id: 1, blkno: 2 }]),
      rec(XLOG_GIN_INSERT, le([2, LEAF_FLAG]), [{ id: 0, blkno: 5, data: cat(le([2, rand(4)], [1, rand(2)], [1, 0]), tuple(1)) }]),
    ];
    const r = records[round % records.length]!;
    try {
      const out = apply(page, r, (r.info & 0xf0) === XLOG_GIN_DELETE_PAGE ? 1 : 0);
      assert.equal(out.length, 8192);
    } catch (e) {
      if (!(e instanceof RedoError)) throw e;
    }
    try {
      gin_mask(page, 5);
    } catch (e) {
      if (!(e instanceof RedoError)) throw e;
    }
  }
});
