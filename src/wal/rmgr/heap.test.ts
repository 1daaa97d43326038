/**
 * The heap group's modules (heap, heap2, btree, seq, generic) on hand-built records: identify's
 * names, the decoded fields, block roles and effects, pg_waldump's text, and the errors for short
 * or unknown records. The comparison with pg_waldump on real WAL is in waldump.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RM_BTREE_ID, RM_GENERIC_ID, RM_HEAP2_ID, RM_HEAP_ID, RM_SEQ_ID } from '../../pg/rmgr-ids.js';
import { WalDecodeError } from '../errors.js';
import type { WalRecord } from '../record.js';
import { cat, fakeRecord, le, TEST_REL, type FakeBlock } from '../../testing/fake-records.js';
import { btreeRmgr } from './btree.js';
import { genericRmgr } from './generic.js';
import { heapRmgr } from './heap.js';
import { heap2Rmgr } from './heap2.js';
import { seqRmgr } from './seq.js';
import { formatDesc, NOT_WRITTEN, type RmgrModule } from './rmgr.js';
import { xactRmgr } from './xact.js';
import type { DescriptionBase } from '../describe.js';
import { RM_XACT_ID } from '../../pg/rmgr-ids.js';

const REL = TEST_REL;

interface BlockSpec extends FakeBlock {
  readonly blkno: number;
}

function record(rmid: number, info: number, mainData: Uint8Array, blocks: readonly BlockSpec[] = []): WalRecord {
  return fakeRecord(rmid, info, mainData, { lsn: 0x16e2408n, endLsn: 0x16e2480n, prev: 0x16e23d0n, xid: 735, blocks });
}

function rejects(fn: () => unknown, code: string, includes: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof WalDecodeError);
    assert.equal(e.code, code);
    assert.ok(e.message.includes(includes), e.message);
    return true;
  });
}

test('identify names every record type as rm_identify does, and nothing else', () => {
  assert.equal(heapRmgr.identify(0x80), 'INSERT+INIT');
  assert.equal(heapRmgr.identify(0x00 | 0x01), 'INSERT');
  assert.equal(heapRmgr.identify(0xc0), 'HOT_UPDATE+INIT');
  assert.equal(heapRmgr.identify(0x50), 'HEAP_CONFIRM');
  assert.equal(heapRmgr.identify(0x90), undefined);
  assert.equal(heap2Rmgr.identify(0xd0), 'MULTI_INSERT+INIT');
  assert.equal(heap2Rmgr.identify(0x00), 'REWRITE');
  assert.equal(heap2Rmgr.identify(0x90), undefined);
  assert.equal(btreeRmgr.identify(0xb0), 'MARK_PAGE_HALFDEAD');
  assert.equal(btreeRmgr.identify(0xe2), 'META_CLEANUP');
  assert.equal(btreeRmgr.identify(0xf0), undefined);
  assert.equal(seqRmgr.identify(0x00), 'LOG');
  assert.equal(seqRmgr.identify(0x10), undefined);
  assert.equal(genericRmgr.identify(0x00), 'Generic');
});

test('heap INSERT+INIT: the tuple is a view into block 0 data, the page starts empty, VM bits are cleared', () => {
  const tuple = Uint8Array.from([0xff, 1, 2, 3, 4, 5]);
  const data = cat(le([2, 3], [2, 0x0802], [1, 24]), tuple);
  const r = record(RM_HEAP_ID, 0x80, le([2, 1], [1, 0x01]), [{ id: 0, blkno: 7, data, willInit: true }]);
  const d = heapRmgr.describe(r);
  assert.equal(d.kind, 'heap.insert');
  if (d.kind !== 'heap.insert') return;
  assert.deepEqual(d.tuple?.header, { infomask2: 3, infomask: 0x0802, hoff: 24 });
  assert.deepEqual([...(d.tuple?.data ?? [])], [...tuple]);
  assert.equal(d.tuple?.data.buffer, data.buffer, 'a view, not a copy');
  assert.deepEqual(d.blocks, [{ blockId: 0, role: 'heap', init: true }]);
  assert.deepEqual(d.effects, [{ kind: 'vm.clear', rel: REL, heapBlock: 7, flags: 3 }]);
  assert.equal(formatDesc(heapRmgr, d, r), 'off 1 flags 0x01');
});

test('heap UPDATE: prefix and suffix lengths, new and old blocks, both VM clears, old key tuple', () => {
  const main = cat(
    le([4, 900], [2, 4], [1, 0x10], [1, 0x01 | 0x02 | 0x08 | 0x20 | 0x40], [4, 0], [2, 9]),
    le([2, 2], [2, 0x0900], [1, 24]),
    Uint8Array.from([0, 42, 42]),
  );
  const newData = cat(le([2, 10], [2, 6]), le([2, 3], [2, 0x2802], [1, 24]), Uint8Array.from([7, 7, 7, 7]));
  const r = record(RM_HEAP_ID, 0xa0, main, [
    { id: 0, blkno: 12, data: newData, willInit: true },
    { id: 1, blkno: 3 },
  ]);
  const d = heapRmgr.describe(r);
  assert.equal(d.kind, 'heap.update');
  if (d.kind !== 'heap.update') return;
  assert.equal(d.newTuple?.prefixLen, 10);
  assert.equal(d.newTuple?.suffixLen, 6);
  assert.equal(d.newTuple?.data.length, 4);
  assert.deepEqual([...(d.oldTuple?.data ?? [])], [0, 42, 42]);
  assert.deepEqual(d.blocks, [
    { blockId: 0, role: 'new', init: true },
    { blockId: 1, role: 'old', init: false },
  ]);
  assert.deepEqual(
    d.effects.map((e) => (e.kind === 'vm.clear' ? e.heapBlock : -1)),
    [3, 12],
  );
  assert.equal(formatDesc(heapRmgr, d, r), 'off 4 xmax 900 flags 0x6B KEYS_UPDATED ; new off 9 xmax 0');
});

test('heap DELETE, LOCK, TRUNCATE, CONFIRM and INPLACE text', () => {
  const del = record(RM_HEAP_ID, 0x10, le([4, 800], [2, 3], [1, 0x03], [1, 0x00]), [{ id: 0, blkno: 0 }]);
  assert.equal(formatDesc(heapRmgr, heapRmgr.describe(del), del), 'off 3 flags 0x00 IS_MULTI LOCK_ONLY ');
  const lock = record(RM_HEAP_ID, 0x60, le([4, 801], [2, 2], [1, 0x0e], [1, 0x01]), [{ id: 0, blkno: 4 }]);
  const l = heapRmgr.describe(lock);
  assert.equal(formatDesc(heapRmgr, l, lock), 'off 2: xid 801: flags 0x01 LOCK_ONLY EXCL_LOCK KEYSHR_LOCK ');
  assert.deepEqual(l.effects, [{ kind: 'vm.clear', rel: REL, heapBlock: 4, flags: 2 }]);
  const trunc = record(RM_HEAP_ID, 0x30, le([4, 5], [4, 2], [1, 3], [1, 0], [2, 0], [4, 16384], [4, 16390]));
  assert.equal(formatDesc(heapRmgr, heapRmgr.describe(trunc), trunc), 'cascade restart_seqs nrelids 2 relids 16384 16390');
  const confirm = record(RM_HEAP_ID, 0x50, le([2, 17]), [{ id: 0, blkno: 0 }]);
  assert.equal(formatDesc(heapRmgr, heapRmgr.describe(confirm), confirm), 'off 17');
  const inplace = record(RM_HEAP_ID, 0x70, le([2, 5]), [{ id: 0, blkno: 0, data: Uint8Array.from([1, 2]) }]);
  const i = heapRmgr.describe(inplace);
  assert.equal(i.kind === 'heap.inplace' ? i.data?.length : -1, 2);
});

test('a short main data or a missing block is MALFORMED_PAYLOAD naming the LSN; an unknown type is UNKNOWN_RECORD_TYPE', () => {
  rejects(() => heapRmgr.describe(record(RM_HEAP_ID, 0x20, le([4, 1], [2, 1]), [{ id: 0, blkno: 0 }])), 'MALFORMED_PAYLOAD', '0/16E2408');
  rejects(() => heapRmgr.describe(record(RM_HEAP_ID, 0x00, le([2, 1], [1, 0]))), 'MALFORMED_PAYLOAD', 'block reference 0');
  rejects(() => heap2Rmgr.describe(record(RM_HEAP2_ID, 0x40, le([4, 1], [1, 1]), [{ id: 0, blkno: 0 }])), 'MALFORMED_PAYLOAD', 'block reference 1');
  rejects(() => btreeRmgr.describe(record(RM_BTREE_ID, 0xf0, new Uint8Array(0))), 'UNKNOWN_RECORD_TYPE', 'info 0xF0');
  rejects(() => seqRmgr.describe(record(RM_SEQ_ID, 0x10, new Uint8Array(0))), 'UNKNOWN_RECORD_TYPE', 'Sequence');
  rejects(
    () => btreeRmgr.describe(record(RM_BTREE_ID, 0x30, le([4, 0], [2, 2], [2, 3]), [{ id: 0, blkno: 1 }, { id: 1, blkno: 2 }])),
    'MALFORMED_PAYLOAD',
    'postingoff',
  );
});

test('heap2 PRUNE, VACUUM and FREEZE_PAGE arrays come from block 0 data', () => {
  const prune = record(RM_HEAP2_ID, 0x10, le([4, 700], [2, 1], [2, 2]), [
    { id: 0, blkno: 9, data: le([2, 1], [2, 3], [2, 4], [2, 5], [2, 6], [2, 7]) },
  ]);
  const p = heap2Rmgr.describe(prune);
  assert.equal(formatDesc(heap2Rmgr, p, prune), 'latestRemovedXid 700 nredirected 1 ndead 2');
  assert.deepEqual(p.kind === 'heap2.prune' && [p.redirected, p.nowDead, p.nowUnused], [[[1, 3]], [4, 5], [6, 7]]);
  const vac = record(RM_HEAP2_ID, 0x20, le([2, 2]), [{ id: 0, blkno: 9, data: le([2, 8], [2, 9]) }]);
  const v = heap2Rmgr.describe(vac);
  assert.deepEqual(v.kind === 'heap2.vacuum' && v.nowUnused, [8, 9]);
  const frz = cat(le([4, 0], [2, 3], [2, 2], [2, 0x0b00], [1, 0], [1, 0]), le([4, 5], [2, 4], [2, 2], [2, 0x0300], [1, 2], [1, 0]));
  const freeze = record(RM_HEAP2_ID, 0x30, le([4, 650], [2, 2]), [{ id: 0, blkno: 1, data: frz }]);
  const f = heap2Rmgr.describe(freeze);
  assert.equal(formatDesc(heap2Rmgr, f, freeze), 'cutoff xid 650 ntuples 2');
  assert.deepEqual(f.kind === 'heap2.freezePage' && f.tuples[1], { xmax: 5, offset: 4, infomask2: 2, infomask: 0x0300, frzflags: 2 });
});

test('heap2 VISIBLE, MULTI_INSERT (SHORTALIGNed tuples), LOCK_UPDATED, NEW_CID and REWRITE', () => {
  const vis = record(RM_HEAP2_ID, 0x40, le([4, 600], [1, 3]), [{ id: 0, blkno: 0, fork: 2 }, { id: 1, blkno: 5 }]);
  const v = heap2Rmgr.describe(vis);
  assert.equal(formatDesc(heap2Rmgr, v, vis), 'cutoff xid 600 flags 0x03');
  assert.deepEqual(v.blocks.map((b) => b.role), ['vm', 'heap']);

  const t1 = cat(le([2, 2], [2, 2], [2, 0x0800], [1, 24]), Uint8Array.from([1, 2]));
  const t2 = cat(le([2, 1], [2, 2], [2, 0x0800], [1, 24]), Uint8Array.from([9]));
  const multi = record(RM_HEAP2_ID, 0xd0, le([1, 0x02], [1, 0], [2, 2]), [{ id: 0, blkno: 3, data: cat(t1, new Uint8Array(1), t2), willInit: true }]);
  const m = heap2Rmgr.describe(multi);
  assert.equal(formatDesc(heap2Rmgr, m, multi), '2 tuples flags 0x02');
  assert.equal(m.kind, 'heap2.multiInsert');
  if (m.kind === 'heap2.multiInsert') {
    assert.deepEqual(m.offsets, [1, 2]);
    assert.deepEqual([...m.tuples[1]!.data], [9], 'the second header starts after one byte of padding');
  }
  const withOffsets = record(RM_HEAP2_ID, 0x50, le([1, 0x01], [1, 0], [2, 1], [2, 7]), [{ id: 0, blkno: 3, data: t1 }]);
  const w = heap2Rmgr.describe(withOffsets);
  assert.deepEqual(w.kind === 'heap2.multiInsert' && w.tuples.map((t) => t.offnum), [7]);
  assert.equal(w.effects[0]?.kind, 'vm.clear');

  const lu = record(RM_HEAP2_ID, 0x60, le([4, 77], [2, 2], [1, 0x08], [1, 0]), [{ id: 0, blkno: 0 }]);
  assert.equal(formatDesc(heap2Rmgr, heap2Rmgr.describe(lu), lu), 'off 2: xmax 77: flags 0x00 KEYSHR_LOCK ');
  const cid = record(RM_HEAP2_ID, 0x70, le([4, 740], [4, 0], [4, 0xffffffff], [4, 0xffffffff], [4, 1663], [4, 5], [4, 1259], [2, 1], [2, 2], [2, 9]));
  assert.equal(formatDesc(heap2Rmgr, heap2Rmgr.describe(cid), cid), 'rel 1663/5/1259; tid 65538/9; cmin: 0, cmax: 4294967295, combo: 4294967295');

  const mapping = le([4, 1663], [4, 5], [4, 16400], [4, 1663], [4, 5], [4, 16401], [2, 0], [2, 1], [2, 3], [2, 0], [2, 2], [2, 4]);
  const rw = record(RM_HEAP2_ID, 0x00, cat(le([4, 741], [4, 5], [4, 16400], [4, 0], [8, 72], [4, 1], [4, 0], [8, 0x1500000n]), mapping));
  const d = heap2Rmgr.describe(rw);
  assert.equal(formatDesc(heap2Rmgr, d, rw), '');
  assert.equal(d.kind, 'heap2.rewrite');
  if (d.kind === 'heap2.rewrite') {
    assert.equal(d.offset, 72n);
    assert.equal(d.startLsn, 0x1500000n);
    assert.deepEqual(d.mappings[0]?.newTid, { block: 2, offset: 4 });
  }
});

/** An index tuple: a heap TID and t_info with the size, padded with `fill` to `size` bytes. */
function indexTuple(size: number, fill: number): Uint8Array {
  return cat(le([2, 0], [2, 1], [2, 1], [2, size]), new Uint8Array(size - 8).fill(fill));
}

test('btree SPLIT_L: the new item and high key of the left page, the right items in offset order, block roles', () => {
  const left = cat(indexTuple(16, 1), indexTuple(12, 2), new Uint8Array(4));
  const right = cat(indexTuple(16, 5), indexTuple(16, 4), indexTuple(16, 3));
  const r = record(RM_BTREE_ID, 0x30, le([4, 0], [2, 5], [2, 3], [2, 0]), [
    { id: 0, blkno: 10, data: left },
    { id: 1, blkno: 11, data: right, willInit: true },
    { id: 2, blkno: 12 },
  ]);
  const d = btreeRmgr.describe(r);
  assert.equal(formatDesc(btreeRmgr, d, r), 'level 0, firstrightoff 5, newitemoff 3, postingoff 0');
  assert.equal(d.kind, 'btree.splitL');
  if (d.kind !== 'btree.splitL') return;
  assert.equal(d.newItem?.[8], 1);
  assert.equal(d.leftHighKey?.length, 16, 'MAXALIGNed');
  assert.deepEqual(d.rightItems.map((t) => t[8]), [3, 4, 5]);
  assert.deepEqual(d.blocks, [
    { blockId: 0, role: 'left', init: false },
    { blockId: 1, role: 'right', init: true },
    { blockId: 2, role: 'rightSibling', init: false },
  ]);
});

/** xl_btree_metadata */
function metadata(root: number, delpages: number): Uint8Array {
  return cat(le([4, 4], [4, root], [4, 1], [4, root], [4, 1], [4, delpages], [1, 1]), new Uint8Array(3));
}

test('btree deletion records: VACUUM updates, UNLINK_PAGE_META, REUSE_PAGE, META_CLEANUP, INSERT_POST', () => {
  const vdata = cat(le([2, 2], [2, 5]), le([2, 7]), le([2, 2], [2, 0], [2, 3]));
  const vac = record(RM_BTREE_ID, 0xc0, le([2, 2], [2, 1]), [{ id: 0, blkno: 1, data: vdata }]);
  const v = btreeRmgr.describe(vac);
  assert.equal(formatDesc(btreeRmgr, v, vac), 'ndeleted 2; nupdated 1');
  assert.deepEqual(v.kind === 'btree.vacuum' && [v.deleted, v.updated], [[2, 5], [{ offset: 7, deletedTids: [0, 3] }]]);
  const del = record(RM_BTREE_ID, 0x70, le([4, 990], [2, 0], [2, 0]), [{ id: 0, blkno: 1 }]);
  assert.equal(formatDesc(btreeRmgr, btreeRmgr.describe(del), del), 'latestRemovedXid 990; ndeleted 0; nupdated 0');

  const unlink = record(RM_BTREE_ID, 0x90, le([4, 3], [4, 8], [4, 1], [4, 0], [8, (1n << 32n) | 1234n], [4, 0], [4, 0], [4, 0xffffffff]), [
    { id: 0, blkno: 5, willInit: true },
    { id: 1, blkno: 3 },
    { id: 2, blkno: 8 },
    { id: 4, blkno: 0, data: metadata(8, 2), willInit: true },
  ]);
  const u = btreeRmgr.describe(unlink);
  assert.equal(formatDesc(btreeRmgr, u, unlink), 'left 3; right 8; level 1; safexid 1:1234; leafleft 0; leafright 0; leaftopparent 4294967295');
  assert.equal(u.kind === 'btree.unlinkPageMeta' && u.meta?.root, 8);
  assert.deepEqual(u.blocks.map((b) => `${b.blockId}:${b.role}`), ['0:target', '1:left', '2:right', '4:meta']);

  const reuse = record(RM_BTREE_ID, 0xd0, le([4, 1663], [4, 5], [4, 16500], [4, 12], [8, 700]));
  assert.equal(formatDesc(btreeRmgr, btreeRmgr.describe(reuse), reuse), 'rel 1663/5/16500; latestRemovedXid 0:700');
  const cleanup = record(RM_BTREE_ID, 0xe0, new Uint8Array(0), [{ id: 0, blkno: 0, data: metadata(3, 17), willInit: true }]);
  assert.equal(formatDesc(btreeRmgr, btreeRmgr.describe(cleanup), cleanup), 'last_cleanup_num_delpages 17');

  const post = record(RM_BTREE_ID, 0x50, le([2, 4]), [{ id: 0, blkno: 2, data: cat(le([2, 3]), indexTuple(16, 9)) }]);
  const p = btreeRmgr.describe(post);
  assert.deepEqual(p.kind === 'btree.insertPost' && [p.postingOff, p.newItem?.length], [3, 16]);
  assert.equal(formatDesc(btreeRmgr, p, post), 'off 4');
});

test('sequence LOG decodes the sequence tuple; generic records list fragments per page and print nothing', () => {
  const header = cat(new Uint8Array(22), le([1, 24]), new Uint8Array(1));
  const tuple = cat(header, le([8, -5n & 0xffffffffffffffffn], [8, 32], [1, 1]));
  const seq = record(RM_SEQ_ID, 0x00, cat(le([4, 1663], [4, 5], [4, 16390]), tuple), [{ id: 0, blkno: 0, willInit: true }]);
  const s = seqRmgr.describe(seq);
  assert.deepEqual([s.lastValue, s.logCnt, s.isCalled, s.tuple.length], [-5n, 32n, true, 41]);
  assert.equal(formatDesc(seqRmgr, s, seq), 'rel 1663/5/16390');
  assert.deepEqual(s.blocks, [{ blockId: 0, role: 'seq', init: true }]);

  const delta = cat(le([2, 24], [2, 2]), Uint8Array.from([1, 2]), le([2, 8000], [2, 1]), Uint8Array.from([3]));
  const gen = record(RM_GENERIC_ID, 0x00, new Uint8Array(0), [{ id: 0, blkno: 1, data: delta }, { id: 1, blkno: 0 }]);
  const g = genericRmgr.describe(gen);
  assert.equal(formatDesc(genericRmgr, g, gen), '');
  assert.deepEqual(
    g.pages.map((p) => p.fragments.map((f) => [f.offset, f.length, [...f.data]])),
    [[[24, 2, [1, 2]], [8000, 1, [3]]], []],
  );
  rejects(() => genericRmgr.describe(record(RM_GENERIC_ID, 0, new Uint8Array(0), [{ id: 0, blkno: 1, data: le([2, 24], [2, 9]) }])), 'MALFORMED_PAYLOAD', 'fragment bytes');
});

/** What putFast writes for `r`, or undefined when it leaves the record to describe. */
function fastText<D extends DescriptionBase>(m: RmgrModule<D>, r: WalRecord): string | undefined {
  const b = new Uint8Array(512);
  const end = m.putFast!(b, 0, r);
  return end === NOT_WRITTEN ? undefined : Buffer.from(b.buffer, 0, end).toString('latin1');
}

/** putFast's text for `r` is there and is what put writes from describe. */
function sameAsDescribed<D extends DescriptionBase>(m: RmgrModule<D>, r: WalRecord, expected: string): void {
  assert.equal(formatDesc(m, m.describe(r), r), expected);
  assert.equal(fastText(m, r), expected);
}

test('putFast writes what put writes from describe, for the record types that make most WAL', () => {
  const heap = [{ id: 0, blkno: 5 }];
  sameAsDescribed(heapRmgr, record(RM_HEAP_ID, 0x00, le([2, 3], [1, 0x08]), heap), 'off 3 flags 0x08');
  sameAsDescribed(heapRmgr, record(RM_HEAP_ID, 0x80, le([2, 1], [1, 0x00]), [{ id: 0, blkno: 5, willInit: true }]), 'off 1 flags 0x00');
  sameAsDescribed(heapRmgr, record(RM_HEAP_ID, 0x10, le([4, 800], [2, 3], [1, 0x1f], [1, 0x01]), heap), 'off 3 flags 0x01 IS_MULTI LOCK_ONLY EXCL_LOCK KEYSHR_LOCK KEYS_UPDATED ');
  const update = le([4, 4_000_000_000], [2, 65535], [1, 0x10], [1, 0x03], [4, 77], [2, 12]);
  sameAsDescribed(heapRmgr, record(RM_HEAP_ID, 0x20, update, [{ id: 0, blkno: 5 }, { id: 1, blkno: 6 }]), 'off 65535 xmax 4000000000 flags 0x03 KEYS_UPDATED ; new off 12 xmax 77');
  sameAsDescribed(heapRmgr, record(RM_HEAP_ID, 0x40, update, heap), 'off 65535 xmax 4000000000 flags 0x03 KEYS_UPDATED ; new off 12 xmax 77');
  sameAsDescribed(heapRmgr, record(RM_HEAP_ID, 0x60, le([4, 801], [2, 2], [1, 0x02], [1, 0x01]), heap), 'off 2: xid 801: flags 0x01 LOCK_ONLY ');
  sameAsDescribed(heap2Rmgr, record(RM_HEAP2_ID, 0x10, le([4, 700], [2, 0], [2, 0]), heap), 'latestRemovedXid 700 nredirected 0 ndead 0');
  sameAsDescribed(heap2Rmgr, record(RM_HEAP2_ID, 0x20, le([2, 1]), [{ id: 0, blkno: 5, data: le([2, 4]) }]), 'nunused 1');
  sameAsDescribed(heap2Rmgr, record(RM_HEAP2_ID, 0x30, le([4, 650], [2, 0]), heap), 'cutoff xid 650 ntuples 0');
  sameAsDescribed(heap2Rmgr, record(RM_HEAP2_ID, 0x40, le([4, 651], [1, 0x03]), [{ id: 0, blkno: 0 }, { id: 1, blkno: 9 }]), 'cutoff xid 651 flags 0x03');
  sameAsDescribed(heap2Rmgr, record(RM_HEAP2_ID, 0xd0, le([1, 0x02], [1, 0], [2, 0]), [{ id: 0, blkno: 5, willInit: true }]), '0 tuples flags 0x02');
  sameAsDescribed(heap2Rmgr, record(RM_HEAP2_ID, 0x50, le([1, 0x00], [1, 0], [2, 0]), heap), '0 tuples flags 0x00');
  sameAsDescribed(btreeRmgr, record(RM_BTREE_ID, 0x00, le([2, 41]), [{ id: 0, blkno: 1, data: new Uint8Array(16) }]), 'off 41');
  // Commit times: one in 2026 (read as a number), one before 2000 and one past 2^53 (through the BigInt path).
  const commit = (usecs: bigint) => record(RM_XACT_ID, 0x00, le([8, usecs]));
  sameAsDescribed(xactRmgr, commit(848_000_000_123_456n), '2026-11-14 19:33:20.123456 UTC');
  sameAsDescribed(xactRmgr, commit(-1_000_000n), '1999-12-31 23:59:59.000000 UTC');
  assert.equal(fastText(xactRmgr, commit(1n << 53n)), formatDesc(xactRmgr, xactRmgr.describe(commit(1n << 53n)), commit(1n << 53n)));
});

test('putFast leaves to describe what it cannot vouch for: short main data, a missing block, other types', () => {
  const heap = [{ id: 0, blkno: 5 }];
  assert.equal(fastText(heapRmgr, record(RM_HEAP_ID, 0x20, le([4, 1], [2, 1]), heap)), undefined, 'UPDATE main data too short');
  assert.equal(fastText(heapRmgr, record(RM_HEAP_ID, 0x00, le([2, 1], [1, 0]))), undefined, 'INSERT without block 0');
  assert.equal(fastText(heapRmgr, record(RM_HEAP_ID, 0x30, le([4, 5], [4, 0], [1, 0], [1, 0], [2, 0]))), undefined, 'TRUNCATE');
  assert.equal(fastText(heap2Rmgr, record(RM_HEAP2_ID, 0x40, le([4, 1], [1, 1]), heap)), undefined, 'VISIBLE without block 1');
  assert.equal(fastText(heap2Rmgr, record(RM_HEAP2_ID, 0x50, le([1, 0], [1, 0], [2, 2], [2, 1]), heap)), undefined, 'MULTI_INSERT offsets cut short');
  assert.equal(fastText(heap2Rmgr, record(RM_HEAP2_ID, 0x70, new Uint8Array(32), heap)), undefined, 'NEW_CID');
  assert.equal(fastText(btreeRmgr, record(RM_BTREE_ID, 0x10, le([2, 41]), heap)), undefined, 'INSERT_UPPER');
  assert.equal(fastText(xactRmgr, record(RM_XACT_ID, 0x80, le([8, 1], [4, 0]))), undefined, 'COMMIT with xinfo');
  assert.equal(fastText(xactRmgr, record(RM_XACT_ID, 0x00, le([4, 1]))), undefined, 'COMMIT main data too short');
  assert.equal(fastText(xactRmgr, record(RM_XACT_ID, 0x20, le([8, 1]))), undefined, 'ABORT');
  // describe then says what is wrong, as before.
  rejects(() => heapRmgr.describe(record(RM_HEAP_ID, 0x20, le([4, 1], [2, 1]), heap)), 'MALFORMED_PAYLOAD', 'main data too short');
});
