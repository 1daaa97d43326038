import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withCluster } from '../testing/cluster.js';
import { RedoError } from './errors.js';
import { heap_mask } from './mask/heap.js';
import {
  LP_DEAD, LP_NORMAL, LP_REDIRECT, LP_UNUSED, MAX_HEAP_TUPLES_PER_PAGE, PD_ALL_VISIBLE, PD_HAS_FREE_LINES, PD_PAGE_FULL,
  itemIdFlags, itemIdLength, itemIdOffset, itemIdSetDead, itemIdSetRedirect, itemIdSetUnused, maxAlign, newPage,
  pageAddItem, pageClearAllVisible, pageClearFull, pageFlags, pageGetFreeSpace, pageGetHeapFreeSpace,
  pageIndexMultiDelete, pageIndexTupleDelete, pageIndexTupleDeleteNoCompact, pageIndexTupleOverwrite, pageInit,
  pageIsAllVisible, pageIsNew, pageItem, pageLower, pageLsn, pageMaxOffset, pagePruneXid, pageRepairFragmentation,
  pageSetAllVisible, pageSetPrunable, pageSpecial, pageTruncateLinePointerArray, pageUpper, setItemId, setPageFlags,
  setPageLower, setPageLsn, setPagePruneXid, setPageUpper,
} from './page.js';

/** mulberry32: a small seeded PRNG, so a failing property names its seed. */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

function bytes(len: number, fill: number): Uint8Array {
  return new Uint8Array(len).map((_, i) => (fill + i * 7) & 0xff);
}

function u32At(p: Uint8Array, o: number): number {
  return (p[o]! | (p[o + 1]! << 8) | (p[o + 2]! << 16) | (p[o + 3]! << 24)) >>> 0;
}

test('pageInit lays out an empty page as PageInit does', () => {
  const p = newPage().fill(0xaa);
  pageInit(p, 13);
  assert.equal(pageLower(p), 24);
  assert.equal(pageUpper(p), 8192 - 16);
  assert.equal(pageSpecial(p), 8192 - 16);
  assert.deepEqual([...p.subarray(18, 20)], [0x04, 0x20]); // pd_pagesize_version 8192 | 4
  assert.equal(pageMaxOffset(p), 0);
  assert.equal(p.subarray(20).every((b) => b === 0), true);
  assert.equal(pageIsNew(p), false);
  assert.equal(pageIsNew(newPage()), true);
  assert.throws(() => pageInit(p, 8192 - 24), RedoError);
});

test('header fields and flags round-trip', () => {
  const p = newPage();
  pageInit(p, 0);
  setPageLsn(p, 0x1_2345_6789);
  assert.equal(pageLsn(p), 0x1_2345_6789);
  assert.deepEqual([...p.subarray(0, 8)], [0x01, 0, 0, 0, 0x89, 0x67, 0x45, 0x23]);
  pageSetAllVisible(p);
  assert.equal(pageIsAllVisible(p), true);
  setPageFlags(p, pageFlags(p) | PD_PAGE_FULL | PD_HAS_FREE_LINES);
  pageClearFull(p);
  pageClearAllVisible(p);
  assert.equal(pageFlags(p), PD_HAS_FREE_LINES);
  assert.equal(PD_ALL_VISIBLE, 4);
  pageSetPrunable(p, 1000);
  assert.equal(pagePruneXid(p), 1000);
  pageSetPrunable(p, 2000); // later: kept
  assert.equal(pagePruneXid(p), 1000);
  pageSetPrunable(p, 900);
  assert.equal(pagePruneXid(p), 900);
  setPagePruneXid(p, 0xffff_fff0);
  pageSetPrunable(p, 5); // wrapped around: 5 follows 0xfffffff0
  assert.equal(pagePruneXid(p), 0xffff_fff0);
});

test('line pointers pack lp_off:15, lp_flags:2, lp_len:15 from the low bits', () => {
  const p = newPage();
  pageInit(p, 0);
  setItemId(p, 1, 8152, LP_NORMAL, 40);
  assert.equal(u32At(p, 24), (8152 | (1 << 15) | (40 << 17)) >>> 0);
  assert.deepEqual([itemIdOffset(p, 1), itemIdFlags(p, 1), itemIdLength(p, 1)], [8152, LP_NORMAL, 40]);
  itemIdSetRedirect(p, 2, 7);
  assert.deepEqual([itemIdOffset(p, 2), itemIdFlags(p, 2), itemIdLength(p, 2)], [7, LP_REDIRECT, 0]);
  itemIdSetDead(p, 1);
  assert.equal(u32At(p, 24), LP_DEAD << 15);
  itemIdSetUnused(p, 2);
  assert.equal(u32At(p, 28), 0);
  assert.throws(() => itemIdFlags(p, 0), RedoError);
  assert.throws(() => setItemId(p, 2043, 0, 0, 0), RedoError);
  setItemId(p, 2042, 0, 0, 0); // the last line pointer a page can hold
  setItemId(p, 3, 8190, LP_NORMAL, 100);
  assert.throws(() => pageItem(p, 3), RedoError);
});

test('pageAddItem appends, shuffles, overwrites and refuses as PageAddItemExtended does', () => {
  const p = newPage();
  pageInit(p, 16);
  assert.equal(pageAddItem(p, bytes(30, 1), 0, false, false), 1);
  assert.equal(itemIdOffset(p, 1), 8176 - 32);
  assert.equal(itemIdLength(p, 1), 30);
  assert.deepEqual(pageItem(p, 1), bytes(30, 1));
  assert.equal(pageAddItem(p, bytes(8, 2), 0, false, false), 2);
  // Insert at 1 without overwrite: the others move up.
  assert.equal(pageAddItem(p, bytes(5, 3), 1, false, false), 1);
  assert.equal(pageMaxOffset(p), 3);
  assert.deepEqual(pageItem(p, 2), bytes(30, 1));
  assert.deepEqual(pageItem(p, 3), bytes(8, 2));
  assert.deepEqual(pageItem(p, 1), bytes(5, 3));
  assert.equal(pageUpper(p), 8176 - 32 - 8 - 8);
  // Past the first free slot: refused.
  assert.equal(pageAddItem(p, bytes(5, 3), 5, false, false), 0);
  // Overwrite a used line pointer: refused; an unused one: reused.
  assert.equal(pageAddItem(p, bytes(5, 3), 2, true, true), 0);
  itemIdSetUnused(p, 2);
  setPageFlags(p, PD_HAS_FREE_LINES);
  const lower = pageLower(p);
  assert.equal(pageAddItem(p, bytes(9, 4), 0, false, true), 2);
  assert.equal(pageLower(p), lower);
  assert.deepEqual(pageItem(p, 2), bytes(9, 4));
  // The hint is wrong now: the search finds nothing, clears it and appends.
  assert.equal(pageAddItem(p, bytes(9, 4), 0, false, true), 4);
  assert.equal(pageFlags(p) & PD_HAS_FREE_LINES, 0);
  // No room.
  assert.equal(pageAddItem(p, new Uint8Array(8100), 0, false, false), 0);
  // Heap pages stop at MaxHeapTuplesPerPage.
  const h = newPage();
  pageInit(h, 0);
  for (let i = 1; i <= MAX_HEAP_TUPLES_PER_PAGE; i++) assert.equal(pageAddItem(h, new Uint8Array(1), 0, false, true), i);
  assert.equal(pageAddItem(h, new Uint8Array(1), 0, false, true), 0);
  assert.equal(pageAddItem(h, new Uint8Array(1), 0, false, false), MAX_HEAP_TUPLES_PER_PAGE + 1);
  // Corrupt pointers: an error, not a write.
  setPageUpper(h, 10);
  assert.throws(() => pageAddItem(h, new Uint8Array(1), 0, false, false), (e: unknown) => e instanceof RedoError && e.code === 'CORRUPT_PAGE');
});

test('pageRepairFragmentation packs items in line-pointer order, trims unused tails, sets the hint', () => {
  const p = newPage();
  pageInit(p, 0);
  for (let i = 0; i < 6; i++) pageAddItem(p, bytes(10 + i * 5, i * 16), 0, false, true);
  itemIdSetUnused(p, 2);
  itemIdSetDead(p, 4);
  itemIdSetRedirect(p, 5, 6);
  setItemId(p, 6, 0, LP_UNUSED, 0);
  pageRepairFragmentation(p);
  // Items 1 and 3 keep storage: 1 ends at pd_special, 3 right below it.
  assert.equal(itemIdOffset(p, 1), 8192 - 16);
  assert.equal(itemIdOffset(p, 3), 8192 - 16 - 24);
  assert.equal(pageUpper(p), 8192 - 40);
  assert.deepEqual(pageItem(p, 1), bytes(10, 0));
  assert.deepEqual(pageItem(p, 3), bytes(20, 32));
  assert.equal(pageMaxOffset(p), 5); // trailing unused 6 dropped
  assert.equal(pageFlags(p) & PD_HAS_FREE_LINES, PD_HAS_FREE_LINES); // 2 is unused
  assert.equal(itemIdFlags(p, 5), LP_REDIRECT);
  // Nothing with storage: pd_upper goes to pd_special.
  const q = newPage();
  pageInit(q, 0);
  pageAddItem(q, bytes(10, 0), 0, false, true);
  itemIdSetDead(q, 1);
  pageRepairFragmentation(q);
  assert.equal(pageUpper(q), 8192);
  assert.equal(pageMaxOffset(q), 1);
  assert.equal(pageFlags(q) & PD_HAS_FREE_LINES, 0);
  // Corrupt line pointer.
  setItemId(q, 1, 100, LP_NORMAL, 10);
  assert.throws(() => pageRepairFragmentation(q), RedoError);
});

test('pageTruncateLinePointerArray keeps the first line pointer and sets the hint for inner holes', () => {
  const p = newPage();
  pageInit(p, 0);
  for (let i = 0; i < 5; i++) pageAddItem(p, bytes(8, i), 0, false, true);
  itemIdSetUnused(p, 2);
  itemIdSetUnused(p, 4);
  itemIdSetUnused(p, 5);
  pageTruncateLinePointerArray(p);
  assert.equal(pageMaxOffset(p), 3);
  assert.equal(pageFlags(p) & PD_HAS_FREE_LINES, PD_HAS_FREE_LINES);
  for (const i of [1, 3]) itemIdSetUnused(p, i);
  pageTruncateLinePointerArray(p);
  assert.equal(pageMaxOffset(p), 1);
  assert.equal(pageFlags(p) & PD_HAS_FREE_LINES, PD_HAS_FREE_LINES);
});

test('index deletes and overwrite move data and line pointers as bufpage.c does', () => {
  const p = newPage();
  pageInit(p, 16);
  for (let i = 0; i < 6; i++) pageAddItem(p, bytes(12 + i, i * 10), 0, false, false);
  const before = [1, 2, 3, 4, 5, 6].map((i) => Uint8Array.from(pageItem(p, i)));
  pageIndexTupleDelete(p, 3);
  assert.equal(pageMaxOffset(p), 5);
  assert.deepEqual([1, 2, 3, 4, 5].map((i) => [...pageItem(p, i)]), [0, 1, 3, 4, 5].map((i) => [...before[i]!]));
  assert.equal(pageUpper(p), 8176 - 16 * 4 - 24); // lengths 12, 13, 15, 16, 17
  pageIndexMultiDelete(p, [1, 3, 5]);
  assert.equal(pageMaxOffset(p), 2);
  assert.deepEqual([1, 2].map((i) => [...pageItem(p, i)]), [1, 4].map((i) => [...before[i]!]));
  assert.equal(itemIdOffset(p, 1), 8176 - 16); // compacted in line-pointer order
  assert.equal(itemIdOffset(p, 2), 8176 - 32);
  assert.throws(() => pageIndexMultiDelete(p, [1, 1, 2]), RedoError);
  assert.throws(() => pageIndexTupleDelete(p, 3), RedoError);
  // Overwrite with a longer and a shorter item.
  assert.equal(pageIndexTupleOverwrite(p, 2, bytes(40, 99)), true);
  assert.deepEqual(pageItem(p, 2), bytes(40, 99));
  assert.deepEqual(pageItem(p, 1), before[1]);
  assert.equal(pageUpper(p), 8176 - 16 - 40);
  assert.equal(pageIndexTupleOverwrite(p, 1, bytes(3, 5)), true);
  assert.deepEqual(pageItem(p, 1), bytes(3, 5));
  assert.deepEqual(pageItem(p, 2), bytes(40, 99));
  assert.equal(pageUpper(p), 8176 - 8 - 40);
  assert.equal(pageIndexTupleOverwrite(p, 1, new Uint8Array(9000)), false);
  // NoCompact: the line pointer stays (unused) unless it is the last.
  pageAddItem(p, bytes(8, 1), 0, false, false);
  pageIndexTupleDeleteNoCompact(p, 1);
  assert.equal(pageMaxOffset(p), 3);
  assert.equal(itemIdFlags(p, 1), LP_UNUSED);
  assert.deepEqual(pageItem(p, 2), bytes(40, 99));
  pageIndexTupleDeleteNoCompact(p, 3);
  assert.equal(pageMaxOffset(p), 2);
  assert.equal(pageUpper(p), 8176 - 40);
});

test('PageIndexTupleDelete moves every line pointer below the gap, PageIndexTupleDeleteNoCompact only those with storage', () => {
  for (const [del, expected] of [[pageIndexTupleDelete, 8100 + 16], [pageIndexTupleDeleteNoCompact, 8100]] as const) {
    const p = newPage();
    pageInit(p, 16);
    pageAddItem(p, bytes(16, 1), 0, false, false); // 1 at 8160
    pageAddItem(p, bytes(16, 2), 0, false, false); // 2 at 8144
    pageAddItem(p, bytes(8, 3), 0, false, false); // 3 at 8136
    setItemId(p, 3, 8100, LP_NORMAL, 0); // no storage, lp_off below item 1's offset
    del(p, 1);
    assert.equal(itemIdOffset(p, del === pageIndexTupleDelete ? 2 : 3), expected, del.name);
  }
});

test('free space as PageGetFreeSpace and PageGetHeapFreeSpace count it', () => {
  const p = newPage();
  pageInit(p, 0);
  assert.equal(pageGetFreeSpace(p), 8192 - 24 - 4);
  setPageLower(p, 8190);
  setPageUpper(p, 8192);
  assert.equal(pageGetFreeSpace(p), 0);
  const h = newPage();
  pageInit(h, 0);
  for (let i = 0; i < MAX_HEAP_TUPLES_PER_PAGE; i++) pageAddItem(h, new Uint8Array(1), 0, false, true);
  assert.equal(pageGetHeapFreeSpace(h), 0);
  itemIdSetUnused(h, 7);
  assert.equal(pageGetHeapFreeSpace(h), 0); // no hint: PostgreSQL does not look
  setPageFlags(h, PD_HAS_FREE_LINES);
  assert.equal(pageGetHeapFreeSpace(h), pageGetFreeSpace(h));
});

// ---------------------------------------------------------------------------------------------
// Properties: random operation sequences against a model of what the page must hold.

interface LineState {
  readonly offset: number;
  readonly flags: number;
  readonly len: number;
}

function lines(p: Uint8Array): LineState[] {
  const out: LineState[] = [];
  for (let i = 1; i <= pageMaxOffset(p); i++) out.push({ offset: itemIdOffset(p, i), flags: itemIdFlags(p, i), len: itemIdLength(p, i) });
  return out;
}

/** pd_lower/pd_upper/pd_special in order, every item inside [pd_upper, pd_special), MAXALIGNed, none overlapping. */
function assertConsistent(p: Uint8Array, why: string): void {
  const lower = pageLower(p);
  const upper = pageUpper(p);
  const special = pageSpecial(p);
  assert.ok(24 <= lower && lower <= upper && upper <= special && special <= 8192, `${why}: pointers ${lower} ${upper} ${special}`);
  assert.equal((lower - 24) % 4, 0, why);
  const ranges = lines(p)
    .filter((l) => l.len > 0)
    .map((l) => [l.offset, l.offset + maxAlign(l.len)] as const)
    .sort((a, b) => a[0] - b[0]);
  for (const [i, [s, e]] of ranges.entries()) {
    assert.ok(s >= upper && e <= special && s % 8 === 0, `${why}: item at ${s}..${e} outside ${upper}..${special}`);
    const next = ranges[i + 1];
    if (next !== undefined) assert.ok(e <= next[0], `${why}: items ${s}..${e} and ${next[0]}..${next[1]} overlap`);
  }
}

/** What PageRepairFragmentation must make of `before`, computed independently of page.ts. */
function assertRepaired(before: Uint8Array, after: Uint8Array, why: string): void {
  const old = lines(before);
  const special = pageSpecial(before);
  let upper = special;
  let lastUsed = 0;
  for (const [i, l] of old.entries()) {
    const offnum = i + 1;
    if (l.flags === LP_UNUSED) {
      assert.deepEqual([itemIdOffset(after, offnum), itemIdFlags(after, offnum), itemIdLength(after, offnum)], [0, 0, 0], `${why}: unused ${offnum}`);
      continue;
    }
    lastUsed = offnum;
    if (l.len === 0) {
      assert.deepEqual([itemIdOffset(after, offnum), itemIdFlags(after, offnum)], [l.offset, l.flags], `${why}: no-storage ${offnum}`);
      continue;
    }
    upper -= maxAlign(l.len);
    assert.deepEqual([itemIdOffset(after, offnum), itemIdFlags(after, offnum), itemIdLength(after, offnum)], [upper, l.flags, l.len], `${why}: item ${offnum}`);
    assert.deepEqual(after.subarray(upper, upper + maxAlign(l.len)), before.subarray(l.offset, l.offset + maxAlign(l.len)), `${why}: data of ${offnum}`);
  }
  assert.equal(pageUpper(after), upper, `${why}: pd_upper`);
  assert.equal(pageMaxOffset(after), lastUsed, `${why}: trailing unused line pointers dropped`);
  assert.deepEqual(after.subarray(pageLower(after), upper), before.subarray(pageLower(after), upper), `${why}: the free space is left as it was`);
  const holes = old.slice(0, lastUsed).some((l) => l.flags === LP_UNUSED);
  assert.equal((pageFlags(after) & PD_HAS_FREE_LINES) !== 0, holes, `${why}: PD_HAS_FREE_LINES`);
}

test('property: heap add / prune-marking / repair / truncate keep the page consistent and compact as PostgreSQL does', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = rng(seed);
    const p = newPage();
    pageInit(p, 0);
    const data = new Map<number, Uint8Array>();
    for (let step = 0; step < 150; step++) {
      const why = `seed ${seed} step ${step}`;
      const op = r(10);
      const maxoff = pageMaxOffset(p);
      if (op < 5) {
        const item = bytes(1 + r(r(2) === 0 ? 40 : 400), r(256));
        const hint = (pageFlags(p) & PD_HAS_FREE_LINES) !== 0;
        const firstFree = lines(p).findIndex((l) => l.flags === LP_UNUSED && l.len === 0) + 1;
        const fits = pageUpper(p) - maxAlign(item.length) >= pageLower(p) + (hint && firstFree > 0 ? 0 : 4);
        const got = pageAddItem(p, item, 0, false, true);
        if (!fits || (!(hint && firstFree > 0) && maxoff + 1 > MAX_HEAP_TUPLES_PER_PAGE)) {
          assert.equal(got, 0, why);
          continue;
        }
        assert.equal(got, hint && firstFree > 0 ? firstFree : maxoff + 1, why);
        data.set(got, item);
      } else if (op < 8 && maxoff > 0) {
        const off = 1 + r(maxoff);
        const kind = r(3);
        if (kind === 0) itemIdSetUnused(p, off);
        else if (kind === 1) itemIdSetDead(p, off);
        else itemIdSetRedirect(p, off, 1 + r(maxoff));
        data.delete(off);
      } else if (op === 8) {
        const before = Uint8Array.from(p);
        pageRepairFragmentation(p);
        assertRepaired(before, p, why);
      } else if (maxoff > 0 && (pageFlags(p) & PD_HAS_FREE_LINES) === 0) {
        // VACUUM's second pass truncates only after repairing; mirror that ordering.
        pageRepairFragmentation(p);
        pageTruncateLinePointerArray(p);
      }
      assertConsistent(p, why);
      for (const [off, item] of data) assert.deepEqual(pageItem(p, off), item, `${why}: item ${off}`);
    }
  }
});

test('property: index insert / delete / multi-delete / overwrite keep items in order and compact as PostgreSQL does', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = rng(seed * 7919);
    const p = newPage();
    pageInit(p, 16);
    const model: Uint8Array[] = [];
    for (let step = 0; step < 150; step++) {
      const why = `seed ${seed} step ${step}`;
      const op = r(10);
      const n = model.length;
      const before = Uint8Array.from(p);
      if (op < 5) {
        const at = 1 + r(n + 1);
        const item = bytes(8 + r(120), r(256));
        const got = pageAddItem(p, item, at, false, false);
        if (got === 0) assert.ok(pageUpper(before) - pageLower(before) < maxAlign(item.length) + 4, why);
        else model.splice(at - 1, 0, item);
      } else if (op < 7 && n > 0) {
        const off = 1 + r(n);
        const [offset, size] = [itemIdOffset(p, off), maxAlign(itemIdLength(p, off))];
        pageIndexTupleDelete(p, off);
        model.splice(off - 1, 1);
        const old = lines(before).filter((_, i) => i !== off - 1);
        for (const [i, l] of old.entries()) assert.equal(itemIdOffset(p, i + 1), l.offset < offset ? l.offset + size : l.offset, why);
      } else if (op < 9 && n > 0) {
        const dels = [...new Set(Array.from({ length: 1 + r(Math.min(n, 8)) }, () => 1 + r(n)))].sort((a, b) => a - b);
        pageIndexMultiDelete(p, dels);
        for (let i = dels.length - 1; i >= 0; i--) model.splice(dels[i]! - 1, 1);
        if (dels.length > 2) {
          let upper = pageSpecial(p);
          for (let i = 1; i <= model.length; i++) {
            upper -= maxAlign(model[i - 1]!.length);
            assert.equal(itemIdOffset(p, i), upper, `${why}: compacted item ${i}`);
          }
          assert.equal(pageUpper(p), upper, why);
        }
      } else if (n > 0) {
        const off = 1 + r(n);
        const item = bytes(8 + r(120), r(256));
        if (pageIndexTupleOverwrite(p, off, item)) model[off - 1] = item;
        else assert.ok(maxAlign(item.length) > maxAlign(model[off - 1]!.length) + pageUpper(p) - pageLower(p), why);
      }
      assertConsistent(p, why);
      assert.equal(pageMaxOffset(p), model.length, why);
      for (const [i, item] of model.entries()) assert.deepEqual(pageItem(p, i + 1), item, `${why}: item ${i + 1}`);
    }
  }
});

test('property: on garbage pages every routine either works in bounds or throws RedoError', () => {
  const ops: ((p: Uint8Array, r: (n: number) => number) => unknown)[] = [
    (p, r) => pageAddItem(p, new Uint8Array(r(9000)), r(400), r(2) === 0, r(2) === 0),
    (p) => pageRepairFragmentation(p),
    (p) => pageTruncateLinePointerArray(p),
    (p, r) => pageIndexTupleDelete(p, r(400)),
    (p, r) => pageIndexTupleDeleteNoCompact(p, r(400)),
    (p, r) => pageIndexMultiDelete(p, [r(50), 50 + r(50), 100 + r(50), 150 + r(300)]),
    (p, r) => pageIndexTupleOverwrite(p, r(400), new Uint8Array(r(9000))),
    (p, r) => pageItem(p, r(2100)),
    (p) => pageGetHeapFreeSpace(p),
  ];
  for (let seed = 1; seed <= 3000; seed++) {
    const r = rng(seed * 31 + 5);
    const p = newPage();
    for (let i = 0; i < 8192; i += 4) p.set([r(256), r(256), r(256), r(256)], i);
    // Mostly plausible headers, so the routines get past their first checks.
    if (r(4) !== 0) {
      const special = 8192 - 8 * r(4);
      const lower = 24 + 4 * r(300);
      p.set([lower & 0xff, lower >> 8, 0, 0, special & 0xff, special >> 8], 12);
      const upper = Math.min(special, lower + r(special - lower + 1));
      p[14] = upper & 0xff;
      p[15] = upper >> 8;
    }
    const op = ops[r(ops.length)]!;
    try {
      op(p, r);
    } catch (e) {
      assert.ok(e instanceof RedoError && e.code === 'CORRUPT_PAGE', `seed ${seed}: ${String(e)}`);
    }
    assert.equal(p.length, 8192);
  }
});

// ---------------------------------------------------------------------------------------------
// PostgreSQL's own pages: what VACUUM makes of a heap page, rebuilt with pageRepairFragmentation.

test("VACUUM's page, rebuilt from the page before it with pageRepairFragmentation, is PostgreSQL's", { timeout: 5 * 60_000 }, async () => {
  await withCluster({ name: 'page-vacuum' }, async (c) => {
    // One heap page with tuples of many lengths (so alignment padding varies), HOT chains, holes.
    await c.query(`CREATE EXTENSION pageinspect;
      CREATE TABLE v (id int, pad text) WITH (autovacuum_enabled = off, fillfactor = 70);
      INSERT INTO v SELECT g, repeat(chr(65 + g % 26), g % 37) FROM generate_series(1, 120) g;
      DELETE FROM v WHERE id % 3 = 0 OR id > 110;
      UPDATE v SET pad = pad || 'x' WHERE id % 7 = 1;`);
    const raw = async (): Promise<Uint8Array> => Buffer.from(await c.query(`SELECT encode(get_raw_page('v', 0), 'hex')`), 'hex');
    const before = await raw();
    await c.query('VACUUM v');
    const after = await raw();
    // Prune leaves each line pointer as VACUUM's result shows it: the tuples it kept stay, the
    // others become redirects or lose their storage; then compaction, then VACUUM's second pass
    // marks dead ones unused and truncates the array.
    const page = Uint8Array.from(before);
    const afterMax = pageMaxOffset(after);
    let removed = 0;
    let redirects = 0;
    for (let off = 1; off <= pageMaxOffset(before); off++) {
      const flags = off <= afterMax ? itemIdFlags(after, off) : LP_UNUSED;
      if (flags === LP_NORMAL) assert.equal(itemIdFlags(before, off), LP_NORMAL);
      else if (flags === LP_REDIRECT) {
        itemIdSetRedirect(page, off, itemIdOffset(after, off));
        redirects++;
      } else {
        itemIdSetDead(page, off);
        removed++;
      }
    }
    assert.ok(removed > 30 && redirects > 0, `VACUUM removed ${removed} tuples and left ${redirects} redirects`);
    pageRepairFragmentation(page);
    for (let off = 1; off <= pageMaxOffset(page); off++) if (off > afterMax || itemIdFlags(after, off) === LP_UNUSED) itemIdSetUnused(page, off);
    pageTruncateLinePointerArray(page);
    assert.notEqual(pageUpper(before), pageUpper(page), 'the page was compacted');
    heap_mask(page, 0);
    heap_mask(after, 0);
    const diff: number[] = [];
    for (let i = 0; i < 8192; i++) if (page[i] !== after[i]) diff.push(i);
    assert.deepEqual(diff, [], `masked pages differ at bytes ${diff.slice(0, 20).join(", ")}`);
  });
});
