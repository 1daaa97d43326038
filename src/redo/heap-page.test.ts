/**
 * The heap tuple routines redo shares: the tuple header layout, fix_infomask_from_infobits,
 * heap_execute_freeze_tuple, the "invalid lp" checks and heap_page_prune_execute on hand-built
 * pages. Whole records on real WAL are checked by `strata wal verify-redo`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Lsn } from '../pg/lsn.js';
import { RM_HEAP2_ID } from '../pg/rmgr-ids.js';
import type { TransactionId } from '../pg/types.js';
import { fakeBlock, fakeRecord } from '../testing/fake-records.js';
import { RedoError } from './errors.js';
import {
  HEAP_COMBOCID,
  HEAP_KEYS_UPDATED,
  HEAP_MOVED_OFF,
  HEAP_XMAX_EXCL_LOCK,
  HEAP_XMAX_INVALID,
  HEAP_XMAX_IS_MULTI,
  HEAP_XMAX_KEYSHR_LOCK,
  HEAP_XMAX_LOCK_ONLY,
  buildHeapTuple,
  fixInfomaskFromInfobits,
  getU16,
  getU32,
  heapExecuteFreezeTuple,
  heapPagePruneExecute,
  heapVacuumExecute,
  normalTuple,
  resetXmaxBits,
  xmaxIsLockedOnly,
} from './heap-page.js';
import {
  LP_DEAD,
  LP_NORMAL,
  LP_REDIRECT,
  itemIdFlags,
  itemIdLength,
  itemIdOffset,
  itemIdRedirect,
  newPage,
  pageAddItem,
  pageInit,
  pageItem,
  pageLower,
  pageMaxOffset,
  pageUpper,
} from './page.js';
import type { RedoContext } from './rmgr/rmgr.js';

function ctx(): RedoContext {
  const record = fakeRecord(RM_HEAP2_ID, 0x10, new Uint8Array(8), { blocks: [{ id: 0, blkno: 3 }], lsn: 0x2000000n as Lsn });
  return { record, blockId: 0, block: fakeBlock({ id: 0, blkno: 3 }), lsn: record.endLsnNumber, settings: { hintBitsLogged: false } };
}

function tuple(dataLen: number, fill: number): Uint8Array {
  const t = buildHeapTuple({ infomask2: 2, infomask: 0x0802, hoff: 24 }, [new Uint8Array(1 + dataLen).fill(fill)], { xmin: 700, xmax: 0, block: 3, offset: 1 });
  assert.ok(t !== undefined);
  return t;
}

/** A heap page with tuples of the given data lengths at offsets 1, 2, ... */
function heapPage(...lens: number[]): Uint8Array {
  const p = newPage();
  pageInit(p, 0);
  lens.forEach((len, i) => assert.equal(pageAddItem(p, tuple(len, 0x11 * (i + 1)), i + 1, true, true), i + 1));
  return p;
}

function corruptPage(fn: () => unknown, includes: string): void {
  assert.throws(fn, (e: unknown) => e instanceof RedoError && e.code === 'CORRUPT_PAGE' && e.message.includes(includes));
}

test('buildHeapTuple lays out HeapTupleHeaderData as redo writes it: xmin, cmin 0, xmax, ctid, masks, hoff, then the logged bytes', () => {
  const data = Uint8Array.from([0x01, 0xaa, 0xbb, 0xcc]);
  const t = buildHeapTuple({ infomask2: 0x8003, infomask: 0x0902 | HEAP_COMBOCID, hoff: 24 }, [data.subarray(0, 2), data.subarray(2)], {
    xmin: 0x01020304,
    xmax: 77,
    block: 0x00050006,
    offset: 9,
  });
  assert.ok(t !== undefined);
  assert.equal(t.length, 23 + 4);
  assert.equal(getU32(t, 0), 0x01020304);
  assert.equal(getU32(t, 4), 77);
  assert.equal(getU32(t, 8), 0, 'cmin = FirstCommandId');
  assert.deepEqual([getU16(t, 12), getU16(t, 14), getU16(t, 16)], [5, 6, 9], 'ctid bi_hi, bi_lo, ip_posid');
  assert.equal(getU16(t, 18), 0x8003);
  assert.equal(getU16(t, 20), 0x0902, 'HeapTupleHeaderSetCmin clears HEAP_COMBOCID');
  assert.equal(t[22], 24);
  assert.deepEqual([...t.subarray(23)], [...data]);
  assert.equal(buildHeapTuple({ infomask2: 0, infomask: 0, hoff: 24 }, [new Uint8Array(8160 - 23 + 1)], { xmin: 1, xmax: 0, block: 0, offset: 1 }), undefined);
});

test('fix_infomask_from_infobits sets each logged bit and clears the old lock bits, never HEAP_XMAX_SHR_LOCK as such', () => {
  const stale = HEAP_XMAX_IS_MULTI | HEAP_XMAX_LOCK_ONLY | HEAP_XMAX_KEYSHR_LOCK | HEAP_XMAX_EXCL_LOCK | HEAP_XMAX_INVALID;
  assert.deepEqual(fixInfomaskFromInfobits(0, stale, HEAP_KEYS_UPDATED | 3), [HEAP_XMAX_INVALID, 3]);
  assert.deepEqual(fixInfomaskFromInfobits(0x01, 0, 0), [HEAP_XMAX_IS_MULTI, 0]);
  assert.deepEqual(fixInfomaskFromInfobits(0x02, 0, 0), [HEAP_XMAX_LOCK_ONLY, 0]);
  assert.deepEqual(fixInfomaskFromInfobits(0x04, 0, 0), [HEAP_XMAX_EXCL_LOCK, 0]);
  assert.deepEqual(fixInfomaskFromInfobits(0x08, 0, 0), [HEAP_XMAX_KEYSHR_LOCK, 0]);
  assert.deepEqual(fixInfomaskFromInfobits(0x10, 0, 0), [0, HEAP_KEYS_UPDATED]);
  // resetXmaxBits also drops the hint bits and HEAP_MOVED first, as heap_xlog_delete does.
  const t = tuple(4, 1);
  t[20] = (HEAP_XMAX_INVALID | HEAP_MOVED_OFF | 0x0002) & 0xff;
  t[21] = (HEAP_XMAX_INVALID | HEAP_MOVED_OFF | 0x0002) >> 8;
  resetXmaxBits(t, 0x02 | 0x04);
  assert.equal(getU16(t, 20), 0x0002 | HEAP_XMAX_LOCK_ONLY | HEAP_XMAX_EXCL_LOCK);
});

test('HEAP_XMAX_IS_LOCKED_ONLY: LOCK_ONLY, or a plain exclusive lock that is not a multixact', () => {
  assert.equal(xmaxIsLockedOnly(HEAP_XMAX_LOCK_ONLY), true);
  assert.equal(xmaxIsLockedOnly(HEAP_XMAX_EXCL_LOCK), true);
  assert.equal(xmaxIsLockedOnly(HEAP_XMAX_EXCL_LOCK | HEAP_XMAX_IS_MULTI), false);
  assert.equal(xmaxIsLockedOnly(HEAP_XMAX_KEYSHR_LOCK), false);
  assert.equal(xmaxIsLockedOnly(0), false);
});

test('heap_execute_freeze_tuple: xmax, xvac when asked, and both infomasks from the plan', () => {
  const t = tuple(4, 1);
  heapExecuteFreezeTuple(t, { xmax: 0 as TransactionId, offset: 1, infomask2: 0x4002, infomask: 0x0b02, frzflags: 0x02 });
  assert.equal(getU32(t, 4), 0);
  assert.equal(getU32(t, 8), 2, 'XLH_FREEZE_XVAC: FrozenTransactionId');
  assert.equal(getU16(t, 18), 0x4002);
  assert.equal(getU16(t, 20), 0x0b02);
  heapExecuteFreezeTuple(t, { xmax: 5 as TransactionId, offset: 1, infomask2: 2, infomask: 2, frzflags: 0x04 });
  assert.equal(getU32(t, 8), 0, 'XLH_INVALID_XVAC');
  assert.equal(getU32(t, 4), 5);
});

test('normalTuple finds the tuple as a view into the page and refuses what heap redo calls an invalid lp', () => {
  const p = heapPage(4, 8);
  const t = normalTuple(p, 2, ctx(), 'test');
  assert.equal(t.length, 23 + 9);
  t[4] = 0x7f;
  assert.equal(pageItem(p, 2)[4], 0x7f, 'writes reach the page');
  corruptPage(() => normalTuple(p, 3, ctx(), 'test'), 'offset 3 is not a line pointer');
  corruptPage(() => normalTuple(p, 0, ctx(), 'test'), 'offset 0');
  heapPagePruneExecute(p, [], [1], [], ctx());
  corruptPage(() => normalTuple(p, 1, ctx(), 'test'), 'not LP_NORMAL');
});

test('heap_page_prune_execute redirects, kills and frees line pointers, then compacts the remaining tuples', () => {
  const p = heapPage(8, 16, 24, 32);
  const upperBefore = pageUpper(p);
  heapPagePruneExecute(p, [[1, 3]], [2], [4], ctx());
  assert.equal(itemIdFlags(p, 1), LP_REDIRECT);
  assert.equal(itemIdRedirect(p, 1), 3);
  assert.equal(itemIdFlags(p, 2), LP_DEAD);
  assert.equal(itemIdFlags(p, 3), LP_NORMAL);
  assert.equal(pageMaxOffset(p), 3, 'PageRepairFragmentation drops the trailing unused line pointer');
  // Only tuple 3 keeps storage, now at the end of the page.
  assert.equal(itemIdOffset(p, 3), 8192 - 48);
  assert.equal(itemIdLength(p, 3), 23 + 25);
  assert.equal(pageUpper(p), 8192 - 48);
  assert.ok(pageUpper(p) > upperBefore);
  assert.equal(pageItem(p, 3)[30], 0x33);
  corruptPage(() => heapPagePruneExecute(p, [[1, 9]], [], [], ctx()), 'offset 9');
});

test('heap_xlog_vacuum frees dead line pointers and truncates the array behind the last used one', () => {
  const p = heapPage(8, 8, 8);
  heapPagePruneExecute(p, [], [2, 3], [], ctx());
  heapVacuumExecute(p, [2, 3], ctx());
  assert.equal(pageMaxOffset(p), 1);
  assert.equal(pageLower(p), 28);
  corruptPage(() => heapVacuumExecute(p, [2], ctx()), 'offset 2');
});
