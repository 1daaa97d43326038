/**
 * The LZ4 block decoder against the reference implementation: pages compressed by liblz4 (through
 * lz4-napi, a dev dependency kept for this check) decode to themselves, and corrupt or truncated
 * blocks give null without throwing. PostgreSQL's own LZ4 images are covered by image.test.ts and
 * the verify-redo lz4 run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compressSync } from 'lz4-napi';
import { BLCKSZ } from '../pg/constants.js';
import { lz4DecompressBlock } from './lz4.js';

let seed = 7;
const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 8) % n;

/** Pages shaped like real ones: zeroed holes, repeated tuples, runs, random bytes. */
function samplePages(): Uint8Array[] {
  const pages: Uint8Array[] = [new Uint8Array(BLCKSZ)];
  for (let k = 0; k < 60; k++) {
    const p = new Uint8Array(BLCKSZ);
    let o = 0;
    while (o < BLCKSZ) {
      const kind = rnd(4);
      const n = Math.min(BLCKSZ - o, 1 + rnd(kind === 0 ? 2000 : 300));
      if (kind === 1) for (let i = 0; i < n; i++) p[o + i] = rnd(256);
      else if (kind === 2) for (let i = 0; i < n; i++) p[o + i] = (i % (1 + (k % 17))) * 3;
      else if (kind === 3 && o > 0) p.copyWithin(o, rnd(o), rnd(o) + n);
      o += n;
    }
    pages.push(p);
  }
  return pages;
}

/** liblz4's block for `page` (lz4-napi puts a 4-byte size before it; PostgreSQL stores it bare). */
function compressBlock(page: Uint8Array): Uint8Array {
  const framed = compressSync(Buffer.from(page));
  assert.equal(framed.readUInt32LE(0), page.length);
  return framed.subarray(4);
}

test('pages compressed by liblz4 decode to themselves', () => {
  for (const page of samplePages()) {
    const block = compressBlock(page);
    const out = lz4DecompressBlock(block, page.length);
    assert.ok(out !== null);
    assert.equal(Buffer.compare(out, page), 0);
  }
});

test('a long overlapping match repeats its pattern; a match of offset 1 fills', () => {
  // "abc" as literals, then a match of offset 3 and length 4 + 15 + 10 = 29; then literal "z".
  const block = Uint8Array.of(0x3f, 0x61, 0x62, 0x63, 0x03, 0x00, 10, 0x10, 0x7a);
  const out = lz4DecompressBlock(block, 3 + 29 + 1);
  assert.equal(Buffer.from(out!).toString(), 'abc'.repeat(10) + 'abz');
  // "x", then offset 1 length 4 + 15 + 255 + 3: a run of 278 more x, literal "y".
  const run = lz4DecompressBlock(Uint8Array.of(0x1f, 0x78, 0x01, 0x00, 255, 3, 0x10, 0x79), 1 + 277 + 1);
  assert.equal(Buffer.from(run!).toString(), 'x'.repeat(278) + 'y');
});

test('corrupt, truncated or wrongly sized blocks give null', () => {
  const page = samplePages()[5]!;
  const block = compressBlock(page);
  for (let n = 0; n < block.length; n++) {
    const out = lz4DecompressBlock(block.subarray(0, n), page.length);
    assert.equal(out, null, `a block cut at ${n} of ${block.length} bytes`);
  }
  assert.equal(lz4DecompressBlock(block, page.length - 1), null, 'output too small');
  assert.equal(lz4DecompressBlock(block, page.length + 1), null, 'output too large');
  assert.equal(lz4DecompressBlock(Uint8Array.of(0x10, 0x61, 0x00, 0x00), 8), null, 'offset 0');
  assert.equal(lz4DecompressBlock(Uint8Array.of(0x10, 0x61, 0x02, 0x00), 8), null, 'offset past the output');
  assert.equal(lz4DecompressBlock(Uint8Array.of(0xf0, 255, 255), 600), null, 'literal length runs off the end');
  // Random bit flips: never an exception, only a page of the right size or null.
  for (let i = 0; i < 2000; i++) {
    const bad = Uint8Array.from(block);
    bad[rnd(bad.length)]! ^= 1 << rnd(8);
    const out = lz4DecompressBlock(bad, page.length);
    assert.ok(out === null || out.length === page.length);
  }
});
