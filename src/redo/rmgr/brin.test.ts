/**
 * BRIN redo on hand-built records, through the dispatcher: each record type's effect on its
 * blocks, and RedoErrors for records and pages that are not what the type needs. Real WAL is
 * checked by `strata wal verify-redo` (every BRIN type matched PostgreSQL's images).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RM_BRIN_ID } from '../../pg/rmgr-ids.js';
import type { BlockNumber } from '../../pg/types.js';
import { TEST_REL, fakeRecord, le, type FakeBlock } from '../../testing/fake-records.js';
import {
  XLOG_BRIN_CREATE_INDEX,
  XLOG_BRIN_DESUMMARIZE,
  XLOG_BRIN_INIT_PAGE,
  XLOG_BRIN_INSERT,
  XLOG_BRIN_REVMAP_EXTEND,
  XLOG_BRIN_SAMEPAGE_UPDATE,
  XLOG_BRIN_UPDATE,
} from '../../wal/rmgr/brin.js';
import {
  BRIN_CONTENTS,
  BRIN_EVACUATE_PAGE,
  BRIN_META_LAST_REVMAP_PAGE,
  BRIN_PAGETYPE_META,
  BRIN_PAGETYPE_REGULAR,
  BRIN_PAGETYPE_REVMAP,
  brinPageFlags,
  brinPageType,
  setBrinPageFlags,
} from '../brin-page.js';
import { RedoError } from '../errors.js';
import { brin_mask } from '../mask/brin.js';
import { u16, u32 } from '../page-layout.js';
import { LP_UNUSED, itemIdFlags, pageItem, pageLower, pageMaxOffset, setPageLsn, setPageSpecial } from '../page.js';
import { DEFAULT_REDO_SETTINGS, applyRecord } from '../redo.js';

let nextLsn = 0x4000000n;

function rec(info: number, mainData: Uint8Array, blocks: readonly FakeBlock[]) {
  nextLsn += 0x100n;
  return fakeRecord(RM_BRIN_ID, info, mainData, { lsn: nextLsn, endLsn: nextLsn + 0x80n, blocks });
}

function apply(page: Uint8Array | undefined, record: ReturnType<typeof rec>, blockId: number): Uint8Array {
  const blkno = record.blocks[blockId]!.blkno;
  return applyRecord(page, { rel: TEST_REL, fork: 0, blkno: blkno as BlockNumber }, { kind: 'record', record, blockId }, DEFAULT_REDO_SETTINGS);
}

function isCode(code: string) {
  return (e: unknown) => e instanceof RedoError && e.code === code && e.lsn !== undefined;
}

/** A BrinTuple of `len` bytes: bt_blkno, bt_info (data offset), then filler. */
function brinTuple(heapBlk: number, len: number, fill: number): Uint8Array {
  const t = new Uint8Array(len).fill(fill);
  new DataView(t.buffer).setUint32(0, heapBlk, true);
  t[4] = 8;
  return t;
}

/** The revmap entry `index` as (block, offset). */
function revmapEntry(page: Uint8Array, index: number): [number, number] {
  const pos = BRIN_CONTENTS + 6 * index;
  return [((u16(page, pos) << 16) | u16(page, pos + 2)) >>> 0, u16(page, pos + 4)];
}

/** INSERT+INIT of a tuple for heapBlk 0 onto block 2, then `more` inserts; LSN reset to 0. */
function regularPage(more: readonly Uint8Array[] = []): Uint8Array {
  let page = apply(undefined, rec(XLOG_BRIN_INSERT | XLOG_BRIN_INIT_PAGE, le([4, 0], [4, 1], [2, 1]), [{ id: 0, blkno: 2, willInit: true, data: brinTuple(0, 16, 1) }, { id: 1, blkno: 1 }]), 0);
  more.forEach((t, i) => {
    page = apply(page, rec(XLOG_BRIN_INSERT, le([4, i + 1], [4, 1], [2, i + 2]), [{ id: 0, blkno: 2, data: t }, { id: 1, blkno: 1 }]), 0);
  });
  setPageLsn(page, 0);
  return page;
}

function revmapPage(): Uint8Array {
  const page = apply(undefined, rec(XLOG_BRIN_REVMAP_EXTEND, le([4, 1]), [{ id: 0, blkno: 0 }, { id: 1, blkno: 1, willInit: true }]), 1);
  setPageLsn(page, 0);
  return page;
}

test('CREATE_INDEX and REVMAP_EXTEND lay out the metapage and a revmap page', () => {
  const meta = apply(undefined, rec(XLOG_BRIN_CREATE_INDEX, le([4, 128], [2, 1]), [{ id: 0, blkno: 0, willInit: true }]), 0);
  assert.equal(brinPageType(meta), BRIN_PAGETYPE_META);
  assert.deepEqual([u32(meta, BRIN_CONTENTS), u32(meta, BRIN_CONTENTS + 4), u32(meta, BRIN_CONTENTS + 8), u32(meta, BRIN_META_LAST_REVMAP_PAGE)], [0xa8109cfa, 1, 128, 0]);
  assert.equal(pageLower(meta), 40);
  setPageLsn(meta, 0);
  const r = rec(XLOG_BRIN_REVMAP_EXTEND, le([4, 1]), [{ id: 0, blkno: 0 }, { id: 1, blkno: 1, willInit: true }]);
  assert.equal(u32(apply(meta, r, 0), BRIN_META_LAST_REVMAP_PAGE), 1);
  assert.equal(brinPageType(apply(undefined, r, 1)), BRIN_PAGETYPE_REVMAP);
});

test('INSERT puts the tuple on the page and points the revmap entry at it', () => {
  const page = regularPage([brinTuple(1, 24, 2)]);
  assert.equal(brinPageType(page), BRIN_PAGETYPE_REGULAR);
  assert.equal(pageMaxOffset(page), 2);
  assert.equal(pageItem(page, 2)[8], 2);
  const r = rec(XLOG_BRIN_INSERT, le([4, 300], [4, 100], [2, 3]), [{ id: 0, blkno: 7, data: brinTuple(300, 16, 3) }, { id: 1, blkno: 1 }]);
  assert.deepEqual(revmapEntry(apply(revmapPage(), r, 1), 3), [7, 3]);
  // An offset past the end + 1 is refused, as PostgreSQL PANICs.
  const far = rec(XLOG_BRIN_INSERT, le([4, 0], [4, 1], [2, 9]), [{ id: 0, blkno: 2, data: brinTuple(0, 16, 1) }, { id: 1, blkno: 1 }]);
  assert.throws(() => apply(regularPage(), far, 0), isCode('CORRUPT_PAGE'));
});

test('UPDATE removes the old tuple without compacting; SAMEPAGE_UPDATE overwrites in place', () => {
  const r = rec(XLOG_BRIN_UPDATE, le([2, 1], [2, 0], [4, 0], [4, 1], [2, 1]), [{ id: 0, blkno: 9, data: brinTuple(0, 40, 4) }, { id: 1, blkno: 1 }, { id: 2, blkno: 2 }]);
  const old = apply(regularPage([brinTuple(1, 16, 2)]), r, 2);
  assert.equal(pageMaxOffset(old), 2);
  assert.equal(itemIdFlags(old, 1), LP_UNUSED);
  assert.deepEqual(revmapEntry(apply(revmapPage(), r, 1), 0), [9, 1]);
  const s = rec(XLOG_BRIN_SAMEPAGE_UPDATE, le([2, 1]), [{ id: 0, blkno: 2, data: brinTuple(0, 32, 5) }]);
  const over = apply(regularPage([brinTuple(1, 16, 2)]), s, 0);
  assert.equal(pageItem(over, 1).length, 32);
  assert.equal(pageItem(over, 1)[8], 5);
  assert.equal(pageItem(over, 2)[8], 2);
  assert.throws(() => apply(regularPage(), rec(XLOG_BRIN_SAMEPAGE_UPDATE, le([2, 1]), [{ id: 0, blkno: 2, data: brinTuple(0, 9000, 5) }]), 0), isCode('CORRUPT_PAGE'));
});

test('DESUMMARIZE clears the revmap entry and removes the tuple', () => {
  const d = rec(XLOG_BRIN_DESUMMARIZE, le([4, 1], [4, 0], [2, 1]), [{ id: 0, blkno: 1 }, { id: 1, blkno: 2 }]);
  const ins = rec(XLOG_BRIN_INSERT, le([4, 0], [4, 1], [2, 1]), [{ id: 0, blkno: 2, data: brinTuple(0, 16, 1) }, { id: 1, blkno: 1 }]);
  const revmap = apply(revmapPage(), ins, 1);
  setPageLsn(revmap, 0);
  assert.deepEqual(revmapEntry(apply(revmap, d, 0), 0), [0xffffffff, 0]);
  const reg = apply(regularPage(), d, 1);
  assert.equal(pageMaxOffset(reg), 0);
});

test('corrupt records and pages give RedoErrors', () => {
  assert.throws(() => apply(undefined, rec(XLOG_BRIN_CREATE_INDEX, le([4, 128], [2, 1]), [{ id: 0, blkno: 0 }]), 0), isCode('CORRUPT_RECORD'));
  assert.throws(() => apply(undefined, rec(XLOG_BRIN_CREATE_INDEX, le([4, 128]), [{ id: 0, blkno: 0, willInit: true }]), 0), isCode('CORRUPT_RECORD'));
  assert.throws(() => apply(revmapPage(), rec(XLOG_BRIN_DESUMMARIZE, le([4, 0], [4, 0], [2, 1]), [{ id: 0, blkno: 1 }, { id: 1, blkno: 2 }]), 0), isCode('CORRUPT_PAGE'));
  const broken = revmapPage();
  setPageSpecial(broken, 100);
  assert.throws(() => apply(broken, rec(XLOG_BRIN_DESUMMARIZE, le([4, 1], [4, 5000], [2, 1]), [{ id: 0, blkno: 1 }, { id: 1, blkno: 2 }]), 0), isCode('CORRUPT_PAGE'));
  assert.throws(() => apply(regularPage(), rec(XLOG_BRIN_DESUMMARIZE, le([4, 1], [4, 0], [2, 7]), [{ id: 0, blkno: 1 }, { id: 1, blkno: 2 }]), 1), isCode('CORRUPT_PAGE'));
  assert.throws(() => apply(regularPage(), rec(XLOG_BRIN_SAMEPAGE_UPDATE, le([2, 1]), [{ id: 0, blkno: 2 }, { id: 1, blkno: 3 }]), 1), isCode('BAD_INPUT'));
  assert.throws(() => apply(regularPage(), rec(XLOG_BRIN_SAMEPAGE_UPDATE, le([2, 1]), [{ id: 0, blkno: 2 }]), 0), isCode('CORRUPT_RECORD'));
});

test('brin_mask clears BRIN_EVACUATE_PAGE and the unused space of regular pages', () => {
  const page = regularPage();
  setBrinPageFlags(page, BRIN_EVACUATE_PAGE);
  page[pageLower(page) + 4] = 0x55;
  brin_mask(page, 2);
  assert.equal(brinPageFlags(page), 0);
  assert.equal(page[pageLower(page) + 4], 0);
});
