/**
 * Hash redo on hand-built records, through the dispatcher: each record type's effect on its
 * blocks, and RedoErrors (never another exception) for records and pages that are not what the
 * type needs. Real WAL is checked by `strata wal verify-redo` (every Hash type matched
 * PostgreSQL's images through bucket splits, overflow pages, squeezes and vacuums).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RM_HASH_ID } from '../../pg/rmgr-ids.js';
import type { BlockNumber } from '../../pg/types.js';
import { TEST_REL, cat, fakeRecord, le, tid, type FakeBlock } from '../../testing/fake-records.js';
import {
  XLOG_HASH_ADD_OVFL_PAGE,
  XLOG_HASH_DELETE,
  XLOG_HASH_INIT_BITMAP_PAGE,
  XLOG_HASH_INIT_META_PAGE,
  XLOG_HASH_INSERT,
  XLOG_HASH_MOVE_PAGE_CONTENTS,
  XLOG_HASH_SPLIT_ALLOCATE_PAGE,
  XLOG_HASH_SPLIT_COMPLETE,
  XLOG_HASH_SPLIT_PAGE,
  XLOG_HASH_SQUEEZE_PAGE,
  XLOG_HASH_UPDATE_META_PAGE,
  XLOG_HASH_VACUUM_ONE_PAGE,
} from '../../wal/rmgr/hash.js';
import {
  HASH_CONTENTS,
  HASH_MAX_BITMAPS,
  HM_BMSIZE,
  HM_HIGHMASK,
  HM_LOWMASK,
  HM_MAPP,
  HM_MAXBUCKET,
  HM_NMAPS,
  HM_OVFLPOINT,
  HM_FIRSTFREE,
  LH_BITMAP_PAGE,
  LH_BUCKET_PAGE,
  LH_META_PAGE,
  LH_OVERFLOW_PAGE,
  LH_PAGE_HAS_DEAD_TUPLES,
  LH_UNUSED_PAGE,
  hashGetTotalBuckets,
  hashInitBuf,
  hashMetaNtuples,
  hashMetaSpare,
  hashSpareIndex,
  hashoBucket,
  hashoFlag,
  hashoNextBlkno,
  hashoPrevBlkno,
  setHashoFlag,
} from '../hash-page.js';
import { RedoError } from '../errors.js';
import { hash_mask } from '../mask/hash.js';
import { u32, setU32 } from '../page-layout.js';
import { newPage, pageItem, pageLower, pageLsn, pageMaxOffset, setPageLsn, setPageSpecial } from '../page.js';
import { DEFAULT_REDO_SETTINGS, applyRecord } from '../redo.js';

let nextLsn = 0x3000000n;

function rec(info: number, mainData: Uint8Array, blocks: readonly FakeBlock[]) {
  nextLsn += 0x100n;
  return fakeRecord(RM_HASH_ID, info, mainData, { lsn: nextLsn, endLsn: nextLsn + 0x80n, blocks });
}

function apply(page: Uint8Array | undefined, record: ReturnType<typeof rec>, blockId: number): Uint8Array {
  const blkno = record.blocks[blockId]!.blkno;
  return applyRecord(page, { rel: TEST_REL, fork: 0, blkno: blkno as BlockNumber }, { kind: 'record', record, blockId }, DEFAULT_REDO_SETTINGS);
}

function isCode(code: string) {
  return (e: unknown) => e instanceof RedoError && e.code === code && e.lsn !== undefined;
}

function f64(v: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, v, true);
  return b;
}

/** A 16-byte hash index tuple: heap TID, t_info (size 16), the hash code, padding. */
function hashTuple(code: number, block: number, off: number): Uint8Array {
  const t = new Uint8Array(16);
  t.set(tid(block, off), 0);
  t[6] = 16;
  new DataView(t.buffer).setUint32(8, code, true);
  return t;
}

function metaPage(numTuples = 0): Uint8Array {
  const page = apply(undefined, rec(XLOG_HASH_INIT_META_PAGE, cat(f64(numTuples), le([4, 450], [2, 307])), [{ id: 0, blkno: 0, willInit: true }]), 0);
  setPageLsn(page, 0);
  return page;
}

function bucketPage(bucket: number, tuples: readonly Uint8Array[] = []): Uint8Array {
  let page = newPage();
  hashInitBuf(page, 1, bucket, LH_BUCKET_PAGE);
  tuples.forEach((t, i) => {
    page = apply(page, rec(XLOG_HASH_INSERT, le([2, i + 1]), [{ id: 0, blkno: bucket + 1, data: t }]), 0);
  });
  setPageLsn(page, 0);
  return page;
}

const codes = (page: Uint8Array): number[] => Array.from({ length: pageMaxOffset(page) }, (_, i) => u32(pageItem(page, i + 1), 8));

test('_hash_spareindex and _hash_get_totalbuckets agree with PostgreSQL', () => {
  assert.deepEqual([1, 2, 3, 4, 512, 1024, 1025, 1281].map(hashSpareIndex), [0, 1, 2, 2, 9, 13, 14, 15]);
  assert.deepEqual([0, 1, 9, 10, 11, 13, 14].map(hashGetTotalBuckets), [1, 2, 512, 640, 768, 1024, 1280]);
});

test('INIT_META_PAGE lays out the metapage as _hash_init_metabuffer does', () => {
  const page = metaPage();
  assert.equal(hashoFlag(page), LH_META_PAGE);
  assert.equal(u32(page, HM_MAXBUCKET), 1);
  assert.equal(u32(page, HM_HIGHMASK), 3);
  assert.equal(u32(page, HM_LOWMASK), 1);
  assert.equal(u32(page, HM_OVFLPOINT), 1);
  assert.equal(hashMetaSpare(page, 1), 1);
  assert.equal(page[HM_BMSIZE]! | (page[HM_BMSIZE + 1]! << 8), 4096);
  assert.equal(pageLower(page), 24 + 4544);
  const big = metaPage(307 * 1000);
  assert.equal(u32(big, HM_MAXBUCKET), 1023);
  assert.equal(u32(big, HM_HIGHMASK), 2047);
});

test('INIT_BITMAP_PAGE initializes the bitmap and lists it in the metapage', () => {
  const r = rec(XLOG_HASH_INIT_BITMAP_PAGE, le([2, 4096]), [{ id: 0, blkno: 3, willInit: true }, { id: 1, blkno: 0 }]);
  const bitmap = apply(undefined, r, 0);
  assert.equal(hashoFlag(bitmap), LH_BITMAP_PAGE);
  assert.equal(pageLower(bitmap), HASH_CONTENTS + 4096);
  assert.equal(bitmap[HASH_CONTENTS + 4095], 0xff);
  const meta = apply(metaPage(), r, 1);
  assert.equal(u32(meta, HM_NMAPS), 1);
  assert.equal(u32(meta, HM_MAPP), 3);
  assert.equal(pageLsn(meta), Number(r.endLsn));
});

test('INSERT adds the tuple at its offset and counts it in the metapage', () => {
  const page = bucketPage(0, [hashTuple(10, 1, 1), hashTuple(30, 1, 2)]);
  const r = rec(XLOG_HASH_INSERT, le([2, 2]), [{ id: 0, blkno: 1, data: hashTuple(20, 1, 3) }, { id: 1, blkno: 0 }]);
  assert.deepEqual(codes(apply(page, r, 0)), [10, 20, 30]);
  assert.equal(hashMetaNtuples(apply(metaPage(), r, 1)), 1);
  assert.throws(() => apply(bucketPage(0), rec(XLOG_HASH_INSERT, le([2, 5]), [{ id: 0, blkno: 1, data: hashTuple(1, 1, 1) }]), 0), isCode('CORRUPT_PAGE'));
});

test('ADD_OVFL_PAGE links the new page, sets its bit, adds a bitmap page to the metapage', () => {
  const r = rec(XLOG_HASH_ADD_OVFL_PAGE, le([2, 4096], [1, 0]), [
    { id: 0, blkno: 5, willInit: true, data: le([4, 1]) },
    { id: 1, blkno: 2 },
    { id: 2, blkno: 3, data: le([4, 9]) },
    { id: 3, blkno: 6, willInit: true },
    { id: 4, blkno: 0, data: le([4, 10]) },
  ]);
  const ovfl = apply(undefined, r, 0);
  assert.deepEqual([hashoFlag(ovfl), hashoBucket(ovfl), hashoPrevBlkno(ovfl), hashoNextBlkno(ovfl)], [LH_OVERFLOW_PAGE, 1, 2, 0xffffffff]);
  assert.equal(hashoNextBlkno(apply(bucketPage(1), r, 1)), 5);
  const bitmap = newPage();
  hashInitBuf(bitmap, 0, 0, LH_BITMAP_PAGE);
  assert.equal(apply(bitmap, r, 2)[HASH_CONTENTS + 1], 0x02);
  assert.equal(hashoFlag(apply(undefined, r, 3)), LH_BITMAP_PAGE);
  const meta = apply(metaPage(), r, 4);
  assert.equal(u32(meta, HM_FIRSTFREE), 10);
  assert.equal(hashMetaSpare(meta, 1), 3);
  assert.equal(u32(meta, HM_MAPP), 6);
});

test('SPLIT_ALLOCATE_PAGE and SPLIT_COMPLETE set the bucket flags and the metapage', () => {
  const r = rec(XLOG_HASH_SPLIT_ALLOCATE_PAGE, le([4, 2], [2, 0x22], [2, 0x12], [1, 3]), [
    { id: 0, blkno: 1 },
    { id: 1, blkno: 3, willInit: true },
    { id: 2, blkno: 0, data: le([4, 3], [4, 7], [4, 2], [4, 5]) },
  ]);
  const old = apply(bucketPage(0), r, 0);
  assert.deepEqual([hashoFlag(old), hashoPrevBlkno(old)], [0x22, 2]);
  const nw = apply(undefined, r, 1);
  assert.deepEqual([hashoFlag(nw), hashoBucket(nw), hashoPrevBlkno(nw)], [0x12, 2, 2]);
  const meta = apply(metaPage(), r, 2);
  assert.deepEqual([u32(meta, HM_MAXBUCKET), u32(meta, HM_LOWMASK), u32(meta, HM_HIGHMASK), u32(meta, HM_OVFLPOINT), hashMetaSpare(meta, 2)], [2, 3, 7, 2, 5]);
  const c = rec(XLOG_HASH_SPLIT_COMPLETE, le([2, 0x42], [2, 0x02]), [{ id: 0, blkno: 1 }, { id: 1, blkno: 3 }]);
  assert.equal(hashoFlag(apply(old, c, 0)), 0x42);
  assert.equal(hashoFlag(apply(nw, c, 1)), 0x02);
});

test('MOVE_PAGE_CONTENTS and SQUEEZE_PAGE move tuples and unlink the freed page', () => {
  const moved = cat(le([2, 2], [2, 3]), hashTuple(7, 2, 1), hashTuple(8, 2, 2));
  const m = rec(XLOG_HASH_MOVE_PAGE_CONTENTS, le([2, 2], [1, 1]), [{ id: 1, blkno: 1, data: moved }, { id: 2, blkno: 5, data: le([2, 1], [2, 2]) }]);
  assert.deepEqual(codes(apply(bucketPage(0, [hashTuple(1, 1, 1)]), m, 1)), [1, 7, 8]);
  const ovfl = bucketPage(0, [hashTuple(7, 2, 1), hashTuple(8, 2, 2), hashTuple(9, 2, 3)]);
  assert.deepEqual(codes(apply(ovfl, m, 2)), [9]);

  const s = rec(XLOG_HASH_SQUEEZE_PAGE, le([4, 4], [4, 6], [2, 0], [1, 0], [1, 0]), [
    { id: 0, blkno: 1 },
    { id: 1, blkno: 4 },
    { id: 2, blkno: 5 },
    { id: 3, blkno: 4 },
    { id: 4, blkno: 6 },
    { id: 5, blkno: 3, data: le([4, 0]) },
    { id: 6, blkno: 0, data: le([4, 0]) },
  ]);
  const bucket = bucketPage(0);
  assert.deepEqual(apply(Uint8Array.from(bucket), s, 0), bucket);
  const freed = apply(bucketPage(0, [hashTuple(1, 1, 1)]), s, 2);
  assert.deepEqual([hashoFlag(freed), pageMaxOffset(freed)], [LH_UNUSED_PAGE, 0]);
  assert.equal(hashoNextBlkno(apply(bucketPage(0), s, 3)), 6);
  assert.equal(hashoPrevBlkno(apply(bucketPage(0), s, 4)), 4);
  const bitmap = newPage();
  hashInitBuf(bitmap, 0, 0, LH_BITMAP_PAGE);
  bitmap[HASH_CONTENTS] = 0xff;
  assert.equal(apply(bitmap, s, 5)[HASH_CONTENTS], 0xfe);
  // ntups > 0 and no tuples in block 1: a corrupt record.
  const bad = rec(XLOG_HASH_SQUEEZE_PAGE, le([4, 4], [4, 6], [2, 1], [1, 0], [1, 0]), [{ id: 0, blkno: 1 }, { id: 1, blkno: 4 }]);
  assert.throws(() => apply(bucketPage(0), bad, 1), isCode('CORRUPT_RECORD'));
});

test('DELETE, VACUUM_ONE_PAGE and UPDATE_META_PAGE', () => {
  const page = bucketPage(0, [hashTuple(1, 1, 1), hashTuple(2, 1, 2), hashTuple(3, 1, 3)]);
  setHashoFlag(page, LH_BUCKET_PAGE | LH_PAGE_HAS_DEAD_TUPLES);
  const d = rec(XLOG_HASH_DELETE, le([1, 1], [1, 1]), [{ id: 1, blkno: 1, data: le([2, 2]) }]);
  const after = apply(Uint8Array.from(page), d, 1);
  assert.deepEqual([codes(after), hashoFlag(after)], [[1, 3], LH_BUCKET_PAGE]);
  const v = rec(XLOG_HASH_VACUUM_ONE_PAGE, le([4, 700], [4, 2], [2, 1], [2, 3]), [{ id: 0, blkno: 1 }, { id: 1, blkno: 0 }]);
  assert.deepEqual(codes(apply(Uint8Array.from(page), v, 0)), [2]);
  const meta = apply(metaPage(), rec(XLOG_HASH_UPDATE_META_PAGE, f64(5), [{ id: 0, blkno: 0 }]), 0);
  assert.equal(hashMetaNtuples(meta), 5);
  setPageLsn(meta, 0);
  assert.equal(hashMetaNtuples(apply(meta, v, 1)), 3);
});

test('corrupt records and pages give RedoErrors', () => {
  assert.throws(() => apply(undefined, rec(XLOG_HASH_INIT_META_PAGE, cat(f64(0), le([4, 450], [2, 307])), [{ id: 0, blkno: 0 }]), 0), isCode('CORRUPT_RECORD'));
  assert.throws(() => apply(undefined, rec(XLOG_HASH_INIT_META_PAGE, cat(f64(0), le([4, 450], [2, 0])), [{ id: 0, blkno: 0, willInit: true }]), 0), isCode('CORRUPT_PAGE'));
  assert.throws(() => apply(bucketPage(1), rec(XLOG_HASH_SPLIT_PAGE, new Uint8Array(0), [{ id: 0, blkno: 2 }]), 0), isCode('CORRUPT_RECORD'));
  const full = metaPage();
  setU32(full, HM_NMAPS, HASH_MAX_BITMAPS);
  assert.throws(() => apply(full, rec(XLOG_HASH_INIT_BITMAP_PAGE, le([2, 16]), [{ id: 0, blkno: 3, willInit: true }, { id: 1, blkno: 0 }]), 1), isCode('CORRUPT_PAGE'));
  const bitmap = newPage();
  hashInitBuf(bitmap, 0, 0, LH_BITMAP_PAGE);
  const far = rec(XLOG_HASH_SQUEEZE_PAGE, le([4, 4], [4, 6], [2, 0], [1, 0], [1, 0]), [{ id: 5, blkno: 3, data: le([4, 0xffffff]) }]);
  assert.throws(() => apply(bitmap, far, 5), isCode('CORRUPT_PAGE'));
  const broken = bucketPage(0);
  setPageSpecial(broken, 8190);
  assert.throws(() => apply(broken, rec(XLOG_HASH_SPLIT_COMPLETE, le([2, 1], [2, 1]), [{ id: 0, blkno: 1 }]), 0), isCode('CORRUPT_PAGE'));
  assert.throws(() => apply(undefined, rec(XLOG_HASH_UPDATE_META_PAGE, le([4, 1]), [{ id: 0, blkno: 0 }]), 0), isCode('CORRUPT_RECORD'));
  assert.throws(() => apply(bucketPage(0), rec(XLOG_HASH_UPDATE_META_PAGE, f64(1), [{ id: 0, blkno: 0 }, { id: 1, blkno: 1 }]), 1), isCode('BAD_INPUT'));
});

test('hash_mask masks unused pages, line-pointer flags and LH_PAGE_HAS_DEAD_TUPLES', () => {
  const page = bucketPage(0, [hashTuple(1, 1, 1)]);
  setHashoFlag(page, LH_BUCKET_PAGE | LH_PAGE_HAS_DEAD_TUPLES);
  hash_mask(page, 1);
  assert.equal(hashoFlag(page), LH_BUCKET_PAGE);
  const unused = bucketPage(0, [hashTuple(1, 1, 1)]);
  setHashoFlag(unused, LH_UNUSED_PAGE);
  hash_mask(unused, 1);
  assert.ok(unused.subarray(24).every((b) => b === 0));
});
