import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { RepositoryError } from './errors.js';
import { InMemoryLayer } from './in-memory-layer.js';
import { makeKey, nextKey, type Key } from './key.js';
import { LayerFile, LayerKind, type LayerDescriptor } from './layer-file.js';
import { flushInWorker, sortedByField, writeFlushJob } from './layer-flush.js';
import { VALUE_KIND_IMAGE, VALUE_KIND_WAL, VALUE_WILL_INIT } from './value.js';

interface Put {
  readonly key: Key;
  readonly lsn: number;
  readonly flags: number;
  readonly bytes: Uint8Array;
}

/** A frozen layer holding `n` values over `keys` keys, put in LSN order with the keys shuffled, as ingest puts them. */
function frozenLayer(dir: string, n: number, keys: number, seed: number, memoryBytesMax?: number): { layer: InMemoryLayer; puts: Put[]; descriptor: LayerDescriptor } {
  let x = seed;
  const rand = (m: number) => ((x = (x * 1103515245 + 12345) >>> 0) >>> 8) % m;
  const layer = new InMemoryLayer(join(dir, `ephemeral-test-${seed}`), 100, memoryBytesMax);
  const puts: Put[] = [];
  for (let i = 0; i < n; i++) {
    const key = makeKey(0, 1663, 5, 16384 + rand(3), rand(3), rand(keys));
    // Some page-sized images (LZ4 in the file), mostly short records; now and then an empty value,
    // and one bigger than a chunk of the layer's memory (1 MiB).
    const image = rand(10) === 0;
    const bytes =
      i === 7 ? new Uint8Array(1_500_000).fill(7) : rand(100) === 0 ? new Uint8Array(0) : image ? new Uint8Array(8192).fill(i & 0xff, 0, 100 + rand(4000)) : Buffer.from(`record ${i} of seed ${seed}`);
    const put = { key, lsn: 100 + i, flags: image ? VALUE_KIND_IMAGE : VALUE_KIND_WAL | (rand(5) === 0 ? VALUE_WILL_INIT : 0), bytes };
    layer.put(put.key, put.lsn, put.flags, put.bytes);
    puts.push(put);
  }
  layer.freeze(100 + n);
  const range = layer.keyRange;
  assert.ok(range !== undefined);
  return { layer, puts, descriptor: { kind: LayerKind.Delta, keys: { start: range.start, end: nextKey(range.end) }, lsnStart: 100, lsnEnd: 100 + n } };
}

/** The layer file holds exactly the puts, in (key, LSN) order, with their flags and bytes. */
function assertHolds(path: string, puts: readonly Put[]): void {
  const f = LayerFile.open(path);
  try {
    f.verify();
    const expected = [...puts].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.lsn - b.lsn));
    const entries = [...f.entries()];
    assert.equal(entries.length, expected.length);
    for (const [i, e] of entries.entries()) {
      const p = expected[i] as Put;
      assert.equal(e.key, p.key);
      assert.equal(e.lsn, p.lsn);
      // The file marks compressed values; the rest of the flags are the put's.
      assert.equal(e.flags & ~0x40, p.flags);
      assert.deepEqual(Buffer.from(f.readEntryValue(e)), Buffer.from(p.bytes));
    }
  } finally {
    f.close();
  }
}

test('the flush worker writes a frozen in-memory layer as an L0 layer file holding every value in (key, LSN) order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-flush-'));
  try {
    for (const seed of [1, 2, 3]) {
      const { layer, puts, descriptor } = frozenLayer(dir, 3000 * seed, 50 * seed, seed);
      const path = await flushInWorker(layer.flushJob(dir, descriptor));
      assertHolds(path, puts);
      // The layer is still whole after its job went (its index arrays were copied out, then moved to the worker).
      assert.equal(layer.valueCount, puts.length);
      // The same job written on this thread gives the same bytes' worth of entries.
      rmSync(path);
      assertHolds(writeFlushJob(layer.flushJob(dir, descriptor)), puts);
      layer.delete();
    }
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('___temp')), [], 'no temporary file is left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('values past the memory bound spill to the ephemeral file; reads and flushes find them in either place', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-flush-'));
  try {
    // 3 MiB of memory: the big value and the first values stay there, the rest spill.
    const { layer, puts, descriptor } = frozenLayer(dir, 4000, 60, 4, 3 << 20);
    assert.ok(existsSync(join(dir, 'ephemeral-test-4')), 'values spilled to the ephemeral file');
    // Each key's newest value, read back through collect, is the one put last.
    const newest = new Map<Key, Put>();
    for (const p of puts) newest.set(p.key, p);
    for (const p of newest.values()) {
      const found: { lsn: number; flags: number; bytes: Uint8Array }[] = [];
      layer.collect(p.key, 0, p.lsn + 1, found);
      assert.equal(found[0]?.lsn, p.lsn);
      assert.deepEqual(Buffer.from(found[0]?.bytes as Uint8Array), Buffer.from(p.bytes));
    }
    assertHolds(await flushInWorker(layer.flushJob(dir, descriptor)), puts);
    layer.delete();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a flush the worker cannot do fails with FLUSH_FAILED, leaves no file, and the worker takes the next job', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-flush-'));
  try {
    const { layer, puts, descriptor } = frozenLayer(dir, 500, 20, 9);
    // Into a folder that does not exist: the layer file cannot be made.
    await assert.rejects(flushInWorker(layer.flushJob(join(dir, 'gone'), descriptor)), (e: unknown) => e instanceof RepositoryError && e.code === 'FLUSH_FAILED' && /Cannot flush the in-memory layer/.test(e.message));
    assert.equal(existsSync(join(dir, 'gone')), false);
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('___temp')), []);
    assertHolds(await flushInWorker(layer.flushJob(dir, descriptor)), puts);
    layer.delete();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a flush orders a prefix\'s keys by block number, packed into numbers or (past the packing bound) by a plain sort', () => {
  let x = 5;
  const rand = () => (x = (x * 1103515245 + 12345) >>> 0);
  const fields = new Float64Array(5000);
  for (let i = 0; i < fields.length; i++) fields[i] = i % 7 === 0 ? 0xffff_fffe - (rand() % 50) : rand() % 100_000;
  const expected = Array.from({ length: 4000 }, (_, i) => 500 + i).sort((a, b) => (fields[a] as number) - (fields[b] as number));
  const packed = [...sortedByField(fields, 500, 4000)];
  const plain = [...sortedByField(fields, 500, 4000, 100)];
  // Fields repeat here (never under one prefix of a layer): compare the fields in order, then the index sets.
  assert.deepEqual(packed.map((i) => fields[i]), expected.map((i) => fields[i]));
  assert.deepEqual(plain.map((i) => fields[i]), expected.map((i) => fields[i]));
  assert.deepEqual([...packed].sort((a, b) => a - b), Array.from({ length: 4000 }, (_, i) => 500 + i));
});
