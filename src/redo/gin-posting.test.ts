/**
 * The GIN posting-list codec: round-trip property tests on random sorted TID lists, bytes worked
 * out by hand from ginpostinglist.c's encoding, truncation at maxSize, merging, and corrupt
 * segments refused with a RedoError (never another exception).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BlockNumber } from '../pg/types.js';
import type { ItemPointer } from '../wal/rmgr/index-am.js';
import { RedoError } from './errors.js';
import {
  SIZE_OF_GIN_POSTING_LIST_HEADER,
  ginCompareItemPointers,
  ginCompressPostingList,
  ginMergeItemPointers,
  ginPostingListDecode,
  ginPostingListDecodeAllSegments,
  sizeOfGinPostingList,
} from './gin-posting.js';

function ip(blkno: number, offnum: number): ItemPointer {
  return { blkno: blkno as BlockNumber, offnum };
}

/** A small deterministic PRNG (mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` strictly ascending TIDs with gaps of every size the varbyte code distinguishes. */
function randomItems(next: () => number, n: number): ItemPointer[] {
  const out: ItemPointer[] = [];
  let v = Math.floor(next() * 5000);
  for (let i = 0; i < n; i++) {
    const scale = [1, 2 ** 7, 2 ** 14, 2 ** 21, 2 ** 28, 2 ** 35][Math.floor(next() * 6)]!;
    v += 1 + Math.floor(next() * scale);
    if (v >= 2 ** 43) break;
    // Offsets 0 are not valid TIDs; step past them.
    if (v % 2048 === 0) v++;
    out.push(ip(Math.floor(v / 2048), v % 2048));
  }
  return out;
}

test('a segment is first, nbytes, then varbyte deltas of blkno << 11 | offnum, padded to even', () => {
  const { segment, nwritten } = ginCompressPostingList([ip(0, 1), ip(0, 2), ip(1, 1)], 8192);
  assert.equal(nwritten, 3);
  // first (0,1); delta 1; delta (1 << 11 | 1) - 2 = 2047 = 0x7f + 0x0f << 7.
  assert.deepEqual([...segment], [0, 0, 0, 0, 1, 0, 3, 0, 0x01, 0xff, 0x0f, 0]);
  assert.equal(sizeOfGinPostingList(segment, 0), 12);
  assert.deepEqual(ginPostingListDecode(segment), [ip(0, 1), ip(0, 2), ip(1, 1)]);
});

test('compress then decode gives the items back (random lists, every delta width)', () => {
  const next = rng(42);
  for (let round = 0; round < 300; round++) {
    const items = randomItems(next, 1 + Math.floor(next() * 200));
    const { segment, nwritten } = ginCompressPostingList(items, 8192);
    assert.equal(nwritten, items.length);
    assert.equal(segment.length % 2, 0);
    assert.equal(segment.length, sizeOfGinPostingList(segment, 0));
    assert.deepEqual(ginPostingListDecode(segment), items);
  }
});

test('a small maxSize packs a prefix, and the prefix decodes', () => {
  const next = rng(7);
  for (let round = 0; round < 100; round++) {
    const items = randomItems(next, 100);
    // Below 10 bytes not even the first item fits (PostgreSQL asserts).
    const maxSize = 10 + Math.floor(next() * 100);
    const { segment, nwritten } = ginCompressPostingList(items, maxSize);
    assert.ok(segment.length <= (maxSize & ~1));
    assert.ok(nwritten >= 1);
    assert.deepEqual(ginPostingListDecode(segment), items.slice(0, nwritten));
  }
});

test('several segments back to back decode as one list', () => {
  const items = randomItems(rng(3), 300);
  const a = ginCompressPostingList(items.slice(0, 100), 8192).segment;
  const b = ginCompressPostingList(items.slice(100), 8192).segment;
  const both = new Uint8Array(a.length + b.length);
  both.set(a, 0);
  both.set(b, a.length);
  assert.deepEqual(ginPostingListDecodeAllSegments(both, 0, both.length), items);
});

test('merge keeps one copy of shared items and the order', () => {
  const next = rng(11);
  for (let round = 0; round < 100; round++) {
    const all = randomItems(next, 60);
    const a = all.filter(() => next() < 0.6);
    const b = all.filter(() => next() < 0.6);
    const expected = all.filter((x) => a.includes(x) || b.includes(x));
    assert.deepEqual(ginMergeItemPointers(a, b), expected);
  }
  assert.deepEqual(ginMergeItemPointers([ip(5, 1)], [ip(1, 1)]), [ip(1, 1), ip(5, 1)]);
  assert.equal(ginCompareItemPointers(ip(1, 2), ip(1, 2)), 0);
});

test('corrupt segments and unsorted input are refused with RedoError', () => {
  const isCorrupt = (e: unknown) => e instanceof RedoError && e.code === 'CORRUPT_PAGE';
  const { segment } = ginCompressPostingList([ip(0, 1), ip(0, 2), ip(9, 1)], 8192);
  // nbytes larger than the buffer.
  const long = Uint8Array.from(segment);
  long[6] = 200;
  assert.throws(() => ginPostingListDecode(long), isCorrupt);
  // A varbyte whose continuation bit runs off the segment's bytes.
  const cont = Uint8Array.from(segment);
  assert.equal(cont[6], 4);
  cont[SIZE_OF_GIN_POSTING_LIST_HEADER + 3] = 0x81;
  assert.throws(() => ginPostingListDecode(cont), isCorrupt);
  // A header cut short.
  assert.throws(() => ginPostingListDecode(segment.subarray(0, 5)), isCorrupt);
  assert.throws(() => ginCompressPostingList([ip(1, 2), ip(1, 1)], 8192), isCorrupt);
  assert.throws(() => ginCompressPostingList([], 8192), isCorrupt);
  assert.throws(() => ginCompressPostingList([ip(1, 4000)], 8192), isCorrupt);
});
