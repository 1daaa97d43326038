/**
 * The index group's modules (hash, gin, gist, spgist, brin) on hand-built records: identify's
 * names, the decoded fields and block roles, pg_waldump's text, and the errors for short or unknown
 * records; and `%g` as glibc prints it. The comparison with pg_waldump on real WAL is in
 * waldump.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RM_BRIN_ID, RM_GIN_ID, RM_GIST_ID, RM_HASH_ID, RM_SPGIST_ID } from '../../pg/rmgr-ids.js';
import type { DescriptionBase } from '../describe.js';
import { WalDecodeError } from '../errors.js';
import type { WalRecord } from '../record.js';
import { cat, fakeRecord, le, type FakeBlock } from '../../testing/fake-records.js';
import { brinRmgr } from './brin.js';
import { ginRmgr } from './gin.js';
import { gistRmgr } from './gist.js';
import { hashRmgr } from './hash.js';
import { formatG } from './index-am.js';
import { formatDesc, type RmgrModule } from './rmgr.js';
import { spgistRmgr } from './spgist.js';

function f64(v: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, v, true);
  return b;
}

/** An IndexTuple of `size` bytes (t_info carries the size), filled with `fill`. */
function indexTuple(size: number, fill = 0xaa): Uint8Array {
  const t = new Uint8Array(size).fill(fill);
  t[6] = size & 0xff;
  t[7] = (size >> 8) & 0x1f;
  return t;
}

function rec(rmid: number, info: number, mainData: Uint8Array, blocks: readonly FakeBlock[] = []): WalRecord {
  return fakeRecord(rmid, info, mainData, { lsn: 0x1000028n, endLsn: 0x1000060n, prev: 0x1000000n, xid: 700, blocks });
}

function run<D extends DescriptionBase>(m: RmgrModule<D>, r: WalRecord): { d: D; text: string } {
  const d = m.describe(r);
  return { d, text: formatDesc(m, d, r) };
}

function roles(d: DescriptionBase): string[] {
  return d.blocks.map((b) => `${b.blockId}:${b.role}${b.init ? '+init' : ''}`);
}

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof WalDecodeError && e.code === code && e.message.includes('0/1000028'));
}

test('formatG prints doubles as glibc printf("%g") does', () => {
  const cases: [number, string][] = [
    [0, '0'],
    [2260, '2260'],
    [1500, '1500'],
    [100000, '100000'],
    [1e6, '1e+06'],
    [1234565, '1.23456e+06'], // a tie at the sixth digit rounds to even
    [1234575, '1.23458e+06'],
    [123456.5, '123456'],
    [123457.5, '123458'],
    [999999.5, '1e+06'],
    [3.14159265, '3.14159'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [-2.5, '-2.5'],
    [1.5e300, '1.5e+300'],
    [0.1, '0.1'],
    [Infinity, 'inf'],
  ];
  for (const [v, s] of cases) assert.equal(formatG(v), s, `formatG(${v})`);
});

test('identify names every record type and nothing else', () => {
  assert.equal(hashRmgr.identify(0x00), 'INIT_META_PAGE');
  assert.equal(hashRmgr.identify(0xc0), 'VACUUM_ONE_PAGE');
  assert.equal(hashRmgr.identify(0xa1), 'SPLIT_CLEANUP', 'XLR_INFO_MASK bits are ignored');
  assert.equal(hashRmgr.identify(0xd0), undefined);
  assert.equal(ginRmgr.identify(0x90), 'VACUUM_DATA_LEAF_PAGE');
  assert.equal(ginRmgr.identify(0x00), undefined);
  assert.equal(gistRmgr.identify(0x70), 'ASSIGN_LSN');
  assert.equal(gistRmgr.identify(0x40), undefined);
  assert.equal(spgistRmgr.identify(0x80), 'VACUUM_REDIRECT');
  assert.equal(spgistRmgr.identify(0x00), undefined);
  assert.equal(brinRmgr.identify(0x90), 'INSERT+INIT');
  assert.equal(brinRmgr.identify(0xa0), 'UPDATE+INIT');
  assert.equal(brinRmgr.identify(0xb0), undefined);
});

test('unknown record types fail with UNKNOWN_RECORD_TYPE', () => {
  const cases: [RmgrModule, number, number][] = [
    [hashRmgr, RM_HASH_ID, 0xd0],
    [ginRmgr, RM_GIN_ID, 0x00],
    [gistRmgr, RM_GIST_ID, 0x50],
    [spgistRmgr, RM_SPGIST_ID, 0x00],
    [brinRmgr, RM_BRIN_ID, 0x60],
  ];
  for (const [m, id, info] of cases) assertCode(() => m.describe(rec(id, info, new Uint8Array(16))), 'UNKNOWN_RECORD_TYPE');
});

test('short main data fails with MALFORMED_PAYLOAD naming the LSN', () => {
  const cases: [RmgrModule, number, number][] = [
    [hashRmgr, RM_HASH_ID, 0xc0],
    [hashRmgr, RM_HASH_ID, 0x00],
    [ginRmgr, RM_GIN_ID, 0x60],
    [ginRmgr, RM_GIN_ID, 0x30],
    [gistRmgr, RM_GIST_ID, 0x20],
    [gistRmgr, RM_GIST_ID, 0x30],
    [spgistRmgr, RM_SPGIST_ID, 0x50],
    [spgistRmgr, RM_SPGIST_ID, 0x10],
    [brinRmgr, RM_BRIN_ID, 0x20],
  ];
  for (const [m, id, info] of cases) assertCode(() => m.describe(rec(id, info, new Uint8Array(3))), 'MALFORMED_PAYLOAD');
});

test('hash insert and init meta page', () => {
  const tuple = indexTuple(16);
  const { d, text } = run(hashRmgr, rec(RM_HASH_ID, 0x20, le([2, 5]), [{ id: 0, data: tuple }, { id: 1 }]));
  assert.equal(text, 'off 5');
  assert.equal(d.kind, 'hash.insert');
  if (d.kind === 'hash.insert') assert.deepEqual(d.tuple, tuple);
  assert.deepEqual(roles(d), ['0:page', '1:meta']);

  const meta = run(hashRmgr, rec(RM_HASH_ID, 0x00, cat(f64(2260), le([4, 450], [2, 307])), [{ id: 0, willInit: true }]));
  assert.equal(meta.text, 'num_tuples 2260, fillfactor 307');
  assert.deepEqual(roles(meta.d), ['0:meta+init']);
  assert.equal(formatDesc(hashRmgr, hashRmgr.describe(rec(RM_HASH_ID, 0xb0, f64(1e6), [{ id: 0 }])), rec(RM_HASH_ID, 0xb0, f64(1e6))), 'ntuples 1e+06');
});

test('hash squeeze page: moved tuples are MAXALIGNed, meta and bitmap data', () => {
  const t1 = indexTuple(16, 1);
  const t2 = indexTuple(24, 2);
  const main = le([4, 7], [4, 0xffffffff], [2, 2], [1, 0], [1, 1]);
  const r = rec(RM_HASH_ID, 0x80, main, [
    { id: 0 },
    { id: 1, data: cat(le([2, 3], [2, 4]), t1, t2) },
    { id: 2 },
    { id: 4 },
    { id: 5, data: le([4, 9]) },
    { id: 6, data: le([4, 12]) },
  ]);
  const { d, text } = run(hashRmgr, r);
  assert.equal(text, 'prevblkno 7, nextblkno 4294967295, ntups 2, is_primary F');
  assert.ok(d.kind === 'hash.squeezePage');
  assert.deepEqual(d.moved?.offsets, [3, 4]);
  assert.deepEqual(d.moved?.tuples, [t1, t2]);
  assert.equal(d.isPrevBucketSameWrt, true);
  assert.equal(d.bitmapPageBit, 9);
  assert.equal(d.firstFree, 12);
  assert.deepEqual(roles(d), ['0:bucket', '1:write', '2:overflow', '4:next', '5:bitmap', '6:meta']);
});

test('hash split allocate page reads the metapage fields its flags announce', () => {
  const main = le([4, 9], [2, 0x12], [2, 0x22], [1, 3]);
  const r = rec(RM_HASH_ID, 0x40, main, [{ id: 0 }, { id: 1, willInit: true }, { id: 2, data: le([4, 15], [4, 31], [4, 5], [4, 40]) }]);
  const { d, text } = run(hashRmgr, r);
  assert.equal(text, 'new_bucket 9, meta_page_masks_updated T, issplitpoint_changed T');
  assert.ok(d.kind === 'hash.splitAllocatePage');
  assert.deepEqual([d.lowmask, d.highmask, d.ovflpoint, d.ovflpages], [15, 31, 5, 40]);
  assert.deepEqual(roles(d), ['0:oldBucket', '1:newBucket+init', '2:meta']);
});

test('hash vacuum one page reads its offsets from main data', () => {
  const { d, text } = run(hashRmgr, rec(RM_HASH_ID, 0xc0, le([4, 812], [4, 3], [2, 1], [2, 2], [2, 5]), [{ id: 0 }, { id: 1 }]));
  assert.equal(text, 'ntuples 3, latestRemovedXid 812');
  assert.ok(d.kind === 'hash.vacuumOnePage');
  assert.deepEqual(d.offsets, [1, 2, 5]);
  assertCode(() => hashRmgr.describe(rec(RM_HASH_ID, 0xc0, le([4, 812], [4, 3], [2, 1]))), 'MALFORMED_PAYLOAD');
});

test('gin insert into a posting tree leaf lists its segment actions', () => {
  const posting = cat(le([2, 0], [2, 1], [2, 1], [2, 3]), Uint8Array.from([1, 2, 3, 0]));
  const payload = cat(le([2, 4]), le([1, 0], [1, 4], [2, 2]), le([2, 0], [2, 7], [2, 1], [2, 0], [2, 7], [2, 2]), le([1, 1], [1, 1]), le([1, 2], [1, 2]), posting, le([1, 3], [1, 9]));
  const r = rec(RM_GIN_ID, 0x20, le([2, 3]), [{ id: 0, data: payload }]);
  const { d, text } = run(ginRmgr, r);
  assert.equal(text, 'isdata: T isleaf: T 4 segments: 0 (add 2 items) 1 (delete) 2 (insert) 3 unknown action 9 ???');
  assert.ok(d.kind === 'gin.insert' && d.payload?.type === 'dataLeaf');
  const [add, , ins] = d.payload.actions;
  assert.deepEqual(add, { segno: 0, type: 'addItems', items: [{ blkno: 7, offnum: 1 }, { blkno: 7, offnum: 2 }] });
  assert.ok(ins?.type === 'insert');
  assert.deepEqual(ins.segment, posting);
});

test('gin insert to an internal posting tree page, and with full-page images', () => {
  const main = le([2, 1], [2, 0], [2, 3], [2, 0], [2, 5]);
  const item = le([2, 2], [2, 0], [2, 3], [2, 0], [2, 88], [2, 8]);
  const { d, text } = run(ginRmgr, rec(RM_GIN_ID, 0x20, main, [{ id: 0, data: item }, { id: 1, blkno: 3 }]));
  assert.equal(text, 'isdata: T isleaf: F children: 3/5 pitem: 3-88/8');
  assert.ok(d.kind === 'gin.insert');
  assert.deepEqual([d.leftChildBlkno, d.rightChildBlkno], [3, 5]);
  assert.deepEqual(roles(d), ['0:target', '1:child']);

  const entry = cat(le([2, 4], [1, 1], [1, 0]), indexTuple(16));
  const fpw = rec(RM_GIN_ID, 0x20, le([2, 2]), [{ id: 0, image: 'apply' }]);
  assert.equal(run(ginRmgr, fpw).text, 'isdata: F isleaf: T (full page image)');
  const verify = rec(RM_GIN_ID, 0x20, le([2, 2]), [{ id: 0, image: 'verify', data: entry }]);
  const v = run(ginRmgr, verify);
  assert.equal(v.text, 'isdata: F isleaf: T (full page image, for WAL verification)');
  assert.ok(v.d.kind === 'gin.insert' && v.d.payload?.type === 'entry' && v.d.payload.isDelete && v.d.payload.offset === 4);
  assert.equal(run(ginRmgr, rec(RM_GIN_ID, 0x20, le([2, 2]), [{ id: 0, data: entry }])).text, 'isdata: F isleaf: T isdelete: T');
  assert.equal(run(ginRmgr, rec(RM_GIN_ID, 0x90, new Uint8Array(0), [{ id: 0, image: 'apply' }])).text, ' (full page image)');
});

test('gin metapage records carry GinMetaPageData', () => {
  const meta = cat(le([4, 5], [4, 9], [4, 100], [4, 3], [8, 42], [4, 20], [4, 10], [4, 8], [4, 0], [8, 77], [4, 2], [4, 0]));
  const update = cat(le([4, 1663], [4, 5], [4, 16384], [4, 0]), meta, le([4, 9], [4, 0xffffffff], [4, 2], [4, 0]));
  const tuples = cat(indexTuple(16), indexTuple(24));
  const r = rec(RM_GIN_ID, 0x60, update, [{ id: 0, willInit: true }, { id: 1, blkno: 9, data: tuples }]);
  const { d, text } = run(ginRmgr, r);
  assert.equal(text, '');
  assert.ok(d.kind === 'gin.updateMetaPage');
  assert.equal(d.metadata.tail, 9);
  assert.equal(d.metadata.nPendingHeapTuples, 42n);
  assert.equal(d.metadata.nEntries, 77n);
  assert.equal(d.metadata.ginVersion, 2);
  assert.equal(d.tuples?.length, 2);
  assert.deepEqual(roles(d), ['0:meta+init', '1:tail']);

  const del = rec(RM_GIN_ID, 0x80, cat(meta, le([4, 2], [4, 0])), [{ id: 0, willInit: true }, { id: 1, willInit: true }, { id: 2, willInit: true }]);
  const dl = run(ginRmgr, del);
  assert.equal(dl.text, 'ndeleted: 2');
  assert.deepEqual(roles(dl.d), ['0:meta+init', '1:deleted+init', '2:deleted+init']);
  assertCode(() => ginRmgr.describe(rec(RM_GIN_ID, 0x80, cat(meta, le([4, 3], [4, 0])), [{ id: 0 }, { id: 1 }])), 'MALFORMED_PAYLOAD');
});

test('gist records', () => {
  const reuse = run(gistRmgr, rec(RM_GIST_ID, 0x20, le([4, 1663], [4, 5], [4, 16390], [4, 12], [8, (1n << 32n) | 745n])));
  assert.equal(reuse.text, 'rel 1663/5/16390; blk 12; latestRemovedXid 1:745');
  assert.deepEqual(reuse.d.blocks, []);
  assert.equal(run(gistRmgr, rec(RM_GIST_ID, 0x60, le([8, 812], [2, 3]), [{ id: 0 }, { id: 1 }])).text, 'deleteXid 0:812; downlink 3');
  assert.equal(run(gistRmgr, rec(RM_GIST_ID, 0x10, le([4, 900], [2, 2], [2, 4], [2, 6]), [{ id: 0 }])).text, 'delete: latestRemovedXid 900, nitems: 2');

  const t = [indexTuple(16, 1), indexTuple(24, 2), indexTuple(32, 3)];
  const upd = run(gistRmgr, rec(RM_GIST_ID, 0x00, le([2, 1], [2, 2]), [{ id: 0, data: cat(le([2, 7]), t[0]!, t[1]!) }]));
  assert.equal(upd.text, '');
  assert.ok(upd.d.kind === 'gist.pageUpdate');
  assert.deepEqual(upd.d.todelete, [7]);
  assert.deepEqual(upd.d.tuples, [t[0], t[1]]);

  const splitMain = le([4, 0xffffffff], [4, 0], [8, 0x1234n], [1, 1], [1, 0], [2, 2], [1, 1], [1, 0], [2, 0]);
  const split = rec(RM_GIST_ID, 0x30, splitMain, [
    { id: 0, blkno: 4 },
    { id: 1, blkno: 0, willInit: true, data: cat(le([4, 1]), t[2]!) },
    { id: 2, blkno: 8, willInit: true, data: cat(le([4, 2]), t[0]!, t[1]!) },
  ]);
  const s = run(gistRmgr, split);
  assert.equal(s.text, 'page_split: splits to 2 pages');
  assert.ok(s.d.kind === 'gist.pageSplit');
  assert.equal(s.d.orignsn, 0x1234n);
  assert.equal(s.d.origleaf, true);
  assert.deepEqual(
    s.d.pages.map((p) => p.tuples.length),
    [1, 2],
  );
  assert.deepEqual(roles(s.d), ['0:leftChild', '1:split+init', '2:split+init']);
  assertCode(() => gistRmgr.describe(rec(RM_GIST_ID, 0x30, splitMain, [{ id: 1, data: le([4, 1]) }])), 'MALFORMED_PAYLOAD');
});

/** A leaf tuple of `size` bytes: size in the upper 30 bits of the first word. */
function leafTuple(size: number): Uint8Array {
  const t = new Uint8Array(size).fill(0x55);
  t.set(le([4, size << 2]), 0);
  return t;
}

/** An inner tuple of `size` bytes: size in the uint16 at offset 4. */
function innerTuple(size: number): Uint8Array {
  const t = new Uint8Array(size).fill(0x66);
  t.set(le([2, size]), 4);
  return t;
}

test('spgist records', () => {
  const leaf = leafTuple(20);
  const add = run(spgistRmgr, rec(RM_SPGIST_ID, 0x10, cat(le([1, 1], [1, 1], [2, 3], [2, 0], [2, 7], [2, 2]), leaf), [{ id: 0, willInit: true }, { id: 1 }]));
  assert.equal(add.text, 'off: 3, headoff: 0, parentoff: 7, nodeI: 2 (newpage) (nulls)');
  assert.ok(add.d.kind === 'spgist.addLeaf');
  assert.deepEqual(add.d.leafTuple, leaf);
  assert.deepEqual(roles(add.d), ['0:leaf+init', '1:parent']);

  const inner = innerTuple(12);
  const l1 = leafTuple(16);
  const l2 = leafTuple(24);
  const pick = cat(
    le([1, 0], [1, 0], [2, 1], [2, 2], [1, 0], [1, 1], [2, 5], [1, 0], [1, 0], [1, 1], [1, 0], [2, 9], [2, 3], [2, 0]),
    le([4, 811], [1, 0], [1, 0], [2, 0]),
    le([2, 4], [2, 1], [2, 2]),
    Uint8Array.from([0, 1]),
    inner,
    l1,
    l2,
  );
  const p = run(spgistRmgr, rec(RM_SPGIST_ID, 0x50, pick, [{ id: 0 }, { id: 1, willInit: true }, { id: 2 }]));
  assert.equal(p.text, 'ndelete: 1, ninsert: 2, inneroff: 5, parentoff: 9, nodeI: 3 (innerIsParent)');
  assert.ok(p.d.kind === 'spgist.pickSplit');
  assert.deepEqual(p.d.toDelete, [4]);
  assert.deepEqual(p.d.toInsert, [1, 2]);
  assert.deepEqual(p.d.leafPageSelect, [0, 1]);
  assert.deepEqual(p.d.innerTuple, inner);
  assert.deepEqual(p.d.leafTuples, [l1, l2]);
  assert.deepEqual(p.d.stateSrc, { myXid: 811, isBuild: false });
  assert.deepEqual(roles(p.d), ['0:source', '1:dest+init', '2:inner']);

  const node = run(spgistRmgr, rec(RM_SPGIST_ID, 0x30, cat(le([2, 4], [2, 6], [1, 0], [1, 0xff], [2, 0], [2, 1], [2, 0], [4, 0], [4, 0]), inner), [{ id: 0 }]));
  assert.equal(node.text, 'off: 4, newoff: 6, parentBlk: -1, parentoff: 0, nodeI: 1');
  const redirect = run(spgistRmgr, rec(RM_SPGIST_ID, 0x80, le([2, 2], [2, 0], [4, 0], [2, 3], [2, 8]), [{ id: 0 }]));
  assert.equal(redirect.text, 'ntoplaceholder: 2, firstplaceholder: 0, newestredirectxid: 0');
  assert.ok(redirect.d.kind === 'spgist.vacuumRedirect');
  assert.deepEqual(redirect.d.toPlaceholder, [3, 8]);
  const vl = run(spgistRmgr, rec(RM_SPGIST_ID, 0x60, cat(le([2, 1], [2, 0], [2, 1], [2, 1], [4, 5], [4, 0]), le([2, 3], [2, 4], [2, 5], [2, 6], [2, 7])), [{ id: 0 }]));
  assert.equal(vl.text, 'ndead: 1, nplaceholder: 0, nmove: 1, nchain: 1');
  assert.ok(vl.d.kind === 'spgist.vacuumLeaf');
  assert.deepEqual([vl.d.toDead, vl.d.moveSrc, vl.d.moveDest, vl.d.chainSrc, vl.d.chainDest], [[3], [4], [5], [6], [7]]);
});

test('brin records', () => {
  assert.equal(run(brinRmgr, rec(RM_BRIN_ID, 0x00, le([4, 4], [2, 1]), [{ id: 0, willInit: true }])).text, 'v1 pagesPerRange 4');
  const tuple = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  const ins = run(brinRmgr, rec(RM_BRIN_ID, 0x90, le([4, 16], [4, 4], [2, 1]), [{ id: 0, willInit: true, data: tuple }, { id: 1 }]));
  assert.equal(ins.text, 'heapBlk 16 pagesPerRange 4 offnum 1');
  assert.ok(ins.d.kind === 'brin.insert' && ins.d.initPage);
  assert.deepEqual(ins.d.tuple, tuple);
  assert.deepEqual(roles(ins.d), ['0:regular+init', '1:revmap']);
  const upd = run(brinRmgr, rec(RM_BRIN_ID, 0x20, le([2, 3], [2, 0], [4, 40], [4, 4], [2, 7]), [{ id: 0, data: tuple }, { id: 1 }, { id: 2 }]));
  assert.equal(upd.text, 'heapBlk 40 pagesPerRange 4 old offnum 3, new offnum 7');
  assert.deepEqual(roles(upd.d), ['0:new', '1:revmap', '2:old']);
  assert.equal(run(brinRmgr, rec(RM_BRIN_ID, 0x50, le([4, 4], [4, 40], [2, 2]), [{ id: 0 }, { id: 1 }])).text, 'pagesPerRange 4, heapBlk 40, page offset 2');
  assert.equal(run(brinRmgr, rec(RM_BRIN_ID, 0x40, le([4, 2]), [{ id: 0 }, { id: 1, willInit: true }])).text, 'targetBlk 2');
  assert.equal(run(brinRmgr, rec(RM_BRIN_ID, 0x30, le([2, 5]), [{ id: 0, image: 'apply' }])).text, 'offnum 5');
});
