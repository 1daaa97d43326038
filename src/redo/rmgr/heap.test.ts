/**
 * Heap and heap2 redo through the dispatcher (`redoPage`) on hand-built records: each record type
 * on the page of each of its block references, and the errors for records and pages that do not
 * fit. Real WAL against PostgreSQL's own after-images is `strata wal verify-redo`'s job.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Lsn } from '../../pg/lsn.js';
import { RM_HEAP2_ID, RM_HEAP_ID } from '../../pg/rmgr-ids.js';
import type { BlockNumber } from '../../pg/types.js';
import { cat, fakeRecord, le, TEST_REL, type FakeBlock } from '../../testing/fake-records.js';
import type { WalRecord } from '../../wal/record.js';
import { RedoError, type RedoErrorCode } from '../errors.js';
import { getU16, getU32 } from '../heap-page.js';
import {
  LP_DEAD,
  LP_NORMAL,
  LP_REDIRECT,
  itemIdFlags,
  pageIsAllVisible,
  pageItem,
  pageLsn,
  pageMaxOffset,
  pagePruneXid,
  pageSetAllVisible,
} from '../page.js';
import { redoPage } from '../redo.js';
import type { PageKey, RedoInput, RedoSettings } from '../types.js';

const XID = 735;
let nextLsn = 0x3000000;

/** A record at the next LSN (so the dispatcher never skips it as already applied). */
function rec(rmid: number, info: number, main: Uint8Array, blocks: readonly FakeBlock[]): WalRecord {
  nextLsn += 0x100;
  return fakeRecord(rmid, info, main, { lsn: BigInt(nextLsn) as Lsn, endLsn: BigInt(nextLsn + 0x40) as Lsn, xid: XID, blocks });
}

function key(blkno: number, fork = 0): PageKey {
  return { rel: TEST_REL, fork, blkno: blkno as BlockNumber };
}

function apply(page: Uint8Array | undefined, blkno: number, record: WalRecord, blockId = 0, settings?: RedoSettings, fork = 0): Uint8Array {
  const input: RedoInput = { kind: 'record', record, blockId };
  return redoPage(key(blkno, fork), page, [input], settings);
}

function fails(fn: () => unknown, code: RedoErrorCode, includes: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof RedoError, String(e));
    assert.equal(e.code, code);
    assert.ok(e.message.includes(includes), e.message);
    return true;
  });
}

/** xl_heap_header + the bytes after the fixed tuple header: a 1-byte bitmap, then `body`. */
function logged(body: readonly number[], infomask = 0x0802): Uint8Array {
  return cat(le([2, 2], [2, infomask], [1, 24]), Uint8Array.from([0x03, ...body]));
}

function insert(page: Uint8Array | undefined, blkno: number, offnum: number, body: readonly number[], init = false, flags = 0): Uint8Array {
  const r = rec(RM_HEAP_ID, init ? 0x80 : 0x00, le([2, offnum], [1, flags]), [{ id: 0, blkno, data: logged(body, 0x0802 | 0x0020), willInit: init }]);
  return apply(page, blkno, r);
}

function tupleData(page: Uint8Array, off: number): number[] {
  return [...pageItem(page, off).subarray(24)];
}

function ctid(page: Uint8Array, off: number): [number, number] {
  const t = pageItem(page, off);
  return [(getU16(t, 12) << 16) | getU16(t, 14), getU16(t, 16)];
}

test('INSERT+INIT starts the page, INSERT adds to it; both stamp the LSN', () => {
  let p = insert(undefined, 4, 1, [1, 2, 3, 4, 5, 6, 7, 8], true);
  assert.equal(pageMaxOffset(p), 1);
  const t = pageItem(p, 1);
  assert.equal(t.length, 23 + 1 + 8);
  assert.equal(getU32(t, 0), XID);
  assert.equal(getU32(t, 4), 0);
  assert.equal(getU32(t, 8), 0);
  assert.deepEqual(ctid(p, 1), [4, 1]);
  assert.equal(getU16(t, 20), 0x0802, 'HEAP_COMBOCID cleared by HeapTupleHeaderSetCmin');
  assert.deepEqual(tupleData(p, 1), [1, 2, 3, 4, 5, 6, 7, 8]);
  pageSetAllVisible(p);
  p = insert(p, 4, 2, [9, 9], false, 0x01);
  assert.equal(pageMaxOffset(p), 2);
  assert.deepEqual(tupleData(p, 2), [9, 9]);
  assert.equal(pageIsAllVisible(p), false, 'XLH_INSERT_ALL_VISIBLE_CLEARED');
  assert.equal(pageLsn(p), nextLsn + 0x40);
  fails(() => insert(p, 4, 4, [1]), 'CORRUPT_PAGE', 'invalid max offset number');
  fails(() => apply(p, 4, rec(RM_HEAP_ID, 0x80, le([2, 1], [1, 0]), [{ id: 0, blkno: 4, data: logged([1]) }])), 'CORRUPT_RECORD', 'WILL_INIT');
});

test('a record at or below the page LSN is skipped by the dispatcher, not applied twice', () => {
  const r = rec(RM_HEAP_ID, 0x80, le([2, 1], [1, 0]), [{ id: 0, blkno: 1, data: logged([5]), willInit: true }]);
  const p = apply(undefined, 1, r);
  const again = redoPage(key(1), p, [{ kind: 'record', record: rec(RM_HEAP_ID, 0x00, le([2, 2], [1, 0]), [{ id: 0, blkno: 1, data: logged([6]) }]), blockId: 0 }]);
  assert.equal(pageMaxOffset(again), 2);
  const stale = fakeRecord(RM_HEAP_ID, 0x00, le([2, 3], [1, 0]), { lsn: 0x100n as Lsn, endLsn: 0x140n as Lsn, xid: XID, blocks: [{ id: 0, blkno: 1, data: logged([7]) }] });
  assert.equal(pageMaxOffset(apply(again, 1, stale)), 2);
});

test('DELETE sets xmax and the infobits, clears HOT_UPDATED, marks the page prunable, points ctid at the tuple', () => {
  let p = insert(undefined, 2, 1, [1, 2, 3], true);
  p = insert(p, 2, 2, [4, 5, 6]);
  pageSetAllVisible(p);
  p = apply(p, 2, rec(RM_HEAP_ID, 0x10, le([4, 900], [2, 2], [1, 0x10 | 0x08], [1, 0x01]), [{ id: 0, blkno: 2 }]));
  const t = pageItem(p, 2);
  assert.equal(getU32(t, 4), 900);
  assert.equal(getU16(t, 20) & 0x1cd0, 0x0010, 'KEYSHR_LOCK from infobits, no other xmax bits');
  assert.equal(getU16(t, 18) & 0x6000, 0x2000, 'KEYS_UPDATED from infobits');
  assert.deepEqual(ctid(p, 2), [2, 2]);
  assert.equal(pagePruneXid(p), XID);
  assert.equal(pageIsAllVisible(p), false);
  // super-delete (speculative insertion killed): xmin becomes invalid; partition move: ctid says so
  p = apply(p, 2, rec(RM_HEAP_ID, 0x10, le([4, 901], [2, 1], [1, 0], [1, 0x08 | 0x10]), [{ id: 0, blkno: 2 }]));
  assert.equal(getU32(pageItem(p, 1), 0), 0);
  assert.deepEqual(ctid(p, 1), [0xffffffff | 0, 0xfffd]);
  fails(() => apply(p, 2, rec(RM_HEAP_ID, 0x10, le([4, 902], [2, 7], [1, 0], [1, 0]), [{ id: 0, blkno: 2 }])), 'CORRUPT_PAGE', 'offset 7');
  fails(() => apply(p, 2, rec(RM_HEAP_ID, 0x10, le([4, 902]), [{ id: 0, blkno: 2 }])), 'CORRUPT_RECORD', 'main data too short');
});

test('HOT_UPDATE on one page: the old version links to the new, which borrows its prefix and suffix', () => {
  let p = insert(undefined, 6, 1, [10, 11, 12, 13, 14, 15, 16, 17, 18, 19], true);
  const data = cat(le([2, 3], [2, 2]), le([2, 0x8002], [2, 0x2802], [1, 24]), Uint8Array.from([0x03, 0x70, 0x71, 0x72]));
  const main = le([4, 950], [2, 1], [1, 0], [1, 0x20 | 0x40], [4, 0], [2, 2]);
  p = apply(p, 6, rec(RM_HEAP_ID, 0x40, main, [{ id: 0, blkno: 6, data }]));
  assert.equal(pageMaxOffset(p), 2);
  const old = pageItem(p, 1);
  assert.equal(getU32(old, 4), 950);
  assert.equal(getU16(old, 18) & 0x4000, 0x4000, 'HEAP_HOT_UPDATED');
  assert.deepEqual(ctid(p, 1), [6, 2]);
  assert.deepEqual(tupleData(p, 2), [10, 11, 12, 0x70, 0x71, 0x72, 18, 19]);
  assert.equal(pageItem(p, 2)[23], 0x03, 'the bitmap comes from the record');
  assert.equal(getU16(pageItem(p, 2), 18), 0x8002);
  assert.equal(pagePruneXid(p), XID);
  const tooLong = cat(le([2, 30]), le([2, 2], [2, 0x0802], [1, 24]), Uint8Array.from([0x03, 1]));
  fails(
    () => apply(p, 6, rec(RM_HEAP_ID, 0x40, le([4, 951], [2, 2], [1, 0], [1, 0x20], [4, 0], [2, 3]), [{ id: 0, blkno: 6, data: tooLong }])),
    'CORRUPT_RECORD',
    'do not fit the old tuple',
  );
});

test('UPDATE to another page: block 1 (old page) and block 0 (new page, INIT) are separate calls', () => {
  const oldPage = insert(undefined, 9, 1, [1, 2, 3, 4], true);
  pageSetAllVisible(oldPage);
  const main = le([4, 960], [2, 1], [1, 0x02], [1, 0x01 | 0x02], [4, 0], [2, 1]);
  const data = logged([5, 6, 7, 8]);
  const r = rec(RM_HEAP_ID, 0x20 | 0x80, main, [
    { id: 0, blkno: 12, data, willInit: true },
    { id: 1, blkno: 9 },
  ]);
  const o = apply(oldPage, 9, r, 1);
  assert.equal(getU32(pageItem(o, 1), 4), 960);
  assert.equal(getU16(pageItem(o, 1), 20) & 0x0080, 0x0080, 'LOCK_ONLY from infobits');
  assert.equal(getU16(pageItem(o, 1), 18) & 0x4000, 0, 'not HOT');
  assert.deepEqual(ctid(o, 1), [12, 1]);
  assert.equal(pageIsAllVisible(o), false);
  assert.equal(pageMaxOffset(o), 1);
  const n = apply(undefined, 12, r, 0);
  assert.equal(pageMaxOffset(n), 1);
  assert.deepEqual(tupleData(n, 1), [5, 6, 7, 8]);
  assert.deepEqual(ctid(n, 1), [12, 1]);
  assert.equal(pageLsn(n), pageLsn(o));
  const prefixed = rec(RM_HEAP_ID, 0x20, le([4, 961], [2, 1], [1, 0], [1, 0x20], [4, 0], [2, 2]), [
    { id: 0, blkno: 12, data: cat(le([2, 2]), logged([9])) },
    { id: 1, blkno: 9 },
  ]);
  fails(() => apply(n, 12, prefixed, 0), 'CORRUPT_RECORD', 'another page');
});

test('CONFIRM, LOCK and INPLACE change the one tuple they name', () => {
  let p = insert(undefined, 3, 1, [1, 2, 3, 4], true);
  p = apply(p, 3, rec(RM_HEAP_ID, 0x50, le([2, 1]), [{ id: 0, blkno: 3 }]));
  assert.deepEqual(ctid(p, 1), [3, 1]);
  // LOCK with an exclusive lock only: HOT_UPDATED cleared, ctid to itself, xmax the locker
  pageItem(p, 1)[19] = 0x40;
  pageItem(p, 1)[16] = 9;
  p = apply(p, 3, rec(RM_HEAP_ID, 0x60, le([4, 970], [2, 1], [1, 0x04], [1, 0]), [{ id: 0, blkno: 3 }]));
  const t = pageItem(p, 1);
  assert.equal(getU32(t, 4), 970);
  assert.equal(getU16(t, 20) & 0x1cd0, 0x0040);
  assert.equal(getU16(t, 18) & 0x4000, 0);
  assert.deepEqual(ctid(p, 1), [3, 1]);
  p = apply(p, 3, rec(RM_HEAP_ID, 0x70, le([2, 1]), [{ id: 0, blkno: 3, data: Uint8Array.from([8, 7, 6, 5]) }]));
  assert.deepEqual(tupleData(p, 1), [8, 7, 6, 5]);
  fails(() => apply(p, 3, rec(RM_HEAP_ID, 0x70, le([2, 1]), [{ id: 0, blkno: 3, data: Uint8Array.from([1, 2]) }])), 'CORRUPT_PAGE', 'wrong tuple length');
});

test('MULTI_INSERT+INIT puts the tuples at 1..n; MULTI_INSERT at the logged offsets', () => {
  const tup = (body: readonly number[]): Uint8Array => cat(le([2, 1 + body.length], [2, 2], [2, 0x0802], [1, 24]), Uint8Array.from([0x03, ...body]));
  const data = cat(tup([1, 2, 3]), new Uint8Array(0), Uint8Array.from([0]), tup([4, 5, 6, 7]));
  let p = apply(undefined, 5, rec(RM_HEAP2_ID, 0x50 | 0x80, le([1, 0x20], [1, 0], [2, 2]), [{ id: 0, blkno: 5, data, willInit: true }]));
  assert.equal(pageMaxOffset(p), 2);
  assert.deepEqual(tupleData(p, 2), [4, 5, 6, 7]);
  assert.deepEqual(ctid(p, 2), [5, 2]);
  assert.equal(pageIsAllVisible(p), true, 'XLH_INSERT_ALL_FROZEN_SET');
  p = apply(p, 5, rec(RM_HEAP2_ID, 0x50, le([1, 0x01], [1, 0], [2, 1], [2, 3]), [{ id: 0, blkno: 5, data: tup([9]) }]));
  assert.deepEqual(tupleData(p, 3), [9]);
  assert.equal(getU32(pageItem(p, 3), 0), XID);
  assert.equal(pageIsAllVisible(p), false);
});

test('PRUNE, VACUUM, FREEZE_PAGE and LOCK_UPDATED', () => {
  let p = insert(undefined, 8, 1, [1], true);
  for (let off = 2; off <= 4; off++) p = insert(p, 8, off, [off]);
  p = apply(p, 8, rec(RM_HEAP2_ID, 0x10, le([4, 700], [2, 1], [2, 1]), [{ id: 0, blkno: 8, data: le([2, 1], [2, 3], [2, 2], [2, 4]) }]));
  assert.deepEqual([itemIdFlags(p, 1), itemIdFlags(p, 2), itemIdFlags(p, 3)], [LP_REDIRECT, LP_DEAD, LP_NORMAL]);
  assert.equal(pageMaxOffset(p), 3);
  p = apply(p, 8, rec(RM_HEAP2_ID, 0x20, le([2, 1]), [{ id: 0, blkno: 8, data: le([2, 2]) }]));
  assert.equal(itemIdFlags(p, 2), 0);
  fails(() => apply(p, 8, rec(RM_HEAP2_ID, 0x20, le([2, 2]), [{ id: 0, blkno: 8, data: le([2, 2]) }])), 'CORRUPT_RECORD', 'too short');
  const plan = cat(le([4, 0], [2, 3], [2, 2], [2, 0x0b02], [1, 0]), new Uint8Array(1));
  p = apply(p, 8, rec(RM_HEAP2_ID, 0x30, le([4, 700], [2, 1]), [{ id: 0, blkno: 8, data: plan }]));
  assert.equal(getU16(pageItem(p, 3), 20), 0x0b02);
  p = apply(p, 8, rec(RM_HEAP2_ID, 0x60, le([4, 990], [2, 3], [1, 0x01], [1, 0]), [{ id: 0, blkno: 8 }]));
  assert.equal(getU32(pageItem(p, 3), 4), 990);
  assert.equal(getU16(pageItem(p, 3), 20) & 0x1cd0, 0x1000);
  fails(() => apply(p, 8, rec(RM_HEAP2_ID, 0x60, le([4, 990], [2, 1], [1, 0], [1, 0]), [{ id: 0, blkno: 8 }])), 'CORRUPT_PAGE', 'not LP_NORMAL');
});

test('VISIBLE: the VM page gets the bits and the LSN; the heap page PD_ALL_VISIBLE, its LSN only with logged hint bits', () => {
  const heap = insert(undefined, 5, 1, [1], true);
  const heapLsn = pageLsn(heap);
  const r = rec(RM_HEAP2_ID, 0x40, le([4, 800], [1, 0x03]), [
    { id: 0, blkno: 0, fork: 2 },
    { id: 1, blkno: 5 },
  ]);
  const h = apply(heap, 5, r, 1);
  assert.equal(pageIsAllVisible(h), true);
  assert.equal(pageLsn(h), heapLsn);
  const logged = apply(heap, 5, r, 1, { hintBitsLogged: true });
  assert.equal(pageLsn(logged), r.endLsnNumber);
  const vm = apply(undefined, 0, r, 0, undefined, 2);
  assert.equal(vm[24 + 1], 0x03 << 2, 'heap block 5: byte 1, bits 2-3');
  assert.equal(pageLsn(vm), r.endLsnNumber);
  assert.equal(getU16(vm, 14), 8192, 'PageInit on a new VM page');
  // The bits are already set: visibilitymap_set changes nothing, not even the LSN.
  const again = rec(RM_HEAP2_ID, 0x40, le([4, 801], [1, 0x03]), [
    { id: 0, blkno: 0, fork: 2 },
    { id: 1, blkno: 5 },
  ]);
  const vm2 = redoPage(key(0, 2), vm, [{ kind: 'record', record: again, blockId: 0 }]);
  assert.equal(pageLsn(vm2), r.endLsnNumber);
  const wrongMap = rec(RM_HEAP2_ID, 0x40, le([4, 800], [1, 0x01]), [
    { id: 0, blkno: 1, fork: 2 },
    { id: 1, blkno: 5 },
  ]);
  fails(() => apply(undefined, 1, wrongMap, 0, undefined, 2), 'CORRUPT_RECORD', 'wrong VM buffer');
});
