import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BLCKSZ } from '../pg/constants.js';
import { lsn } from '../pg/lsn.js';
import { RM_HEAP_ID, RM_SMGR_ID } from '../pg/rmgr-ids.js';
import type { BlockNumber } from '../pg/types.js';
import { fakeRecord, le, TEST_REL } from '../testing/fake-records.js';
import { RedoError } from './errors.js';
import { pageLsn, setPageLsn } from './page.js';
import { redoPage } from './redo.js';
import type { PageKey } from './types.js';
import { vmSet } from './vm.js';

const KEY: PageKey = { rel: TEST_REL, fork: 0, blkno: 3 as BlockNumber };

function redoError(fn: () => unknown, code: string, includes: string): void {
  assert.throws(fn, (e: unknown) => e instanceof RedoError && e.code === code && e.message.includes(includes));
}

test('a record of an rmgr without redo is refused, naming the rmgr and the type', () => {
  const r = fakeRecord(RM_SMGR_ID, 0x20, le([2, 1]), { blocks: [{ id: 0, blkno: 3, data: le([4, 0]) }] });
  redoError(() => redoPage(KEY, undefined, [{ kind: 'record', record: r, blockId: 0 }]), 'UNSUPPORTED_RECORD', 'Storage/TRUNCATE');
});

test('a record the page already has is skipped (BLK_DONE), whatever it holds', () => {
  const page = new Uint8Array(BLCKSZ).fill(7);
  setPageLsn(page, 0x2000000);
  // Garbage main data: were the record applied, heap redo would refuse it.
  const r = fakeRecord(RM_HEAP_ID, 0x00, le([1, 0]), { endLsn: 0x1000060n, blocks: [{ id: 0, blkno: 3, data: le([4, 0]) }] });
  const out = redoPage(KEY, page, [{ kind: 'record', record: r, blockId: 0 }]);
  assert.deepEqual(out, page);
  assert.notEqual(out, page, 'the base image is not changed in place');
});

test('the block reference must be the page asked for', () => {
  const r = fakeRecord(RM_HEAP_ID, 0x00, le([2, 1], [1, 0]), { blocks: [{ id: 0, blkno: 4 }] });
  redoError(() => redoPage(KEY, undefined, [{ kind: 'record', record: r, blockId: 0 }]), 'BAD_INPUT', 'block 4 of another page');
  redoError(() => redoPage(KEY, undefined, [{ kind: 'record', record: r, blockId: 1 }]), 'BAD_INPUT', 'no block reference 1');
});

test('strata operations clear VM bits and truncate the map, without touching the LSN', () => {
  const vmKey: PageKey = { rel: TEST_REL, fork: 2, blkno: 0 as BlockNumber };
  const base = new Uint8Array(BLCKSZ);
  setPageLsn(base, 0x1234);
  for (let blk = 0; blk < 40; blk++) vmSet(base, blk, 3);
  const out = redoPage(vmKey, base, [
    { kind: 'vm.clear', endLsn: lsn(0x2000), heapBlock: 5 as BlockNumber, flags: 1 },
    { kind: 'vm.truncate', endLsn: lsn(0x3000), heapBlocks: 30 as BlockNumber },
  ]);
  assert.equal(pageLsn(out), 0x1234);
  const bits = (blk: number) => (out[24 + (blk >> 2)]! >> ((blk & 3) * 2)) & 3;
  assert.equal(bits(5), 2, 'all-visible cleared, all-frozen kept');
  assert.equal(bits(29), 3);
  assert.equal(bits(30), 0);
  assert.equal(bits(39), 0);
});
