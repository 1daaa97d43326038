/**
 * Compaction's image rule for reads that need redo (compaction.ts): one band of L1 layers holds the
 * images and the records above them (depth 1, below any depth threshold), and a read at the newest
 * LSN still redoes every key whose newest value is a record. When enough of a range's keys are such,
 * the background compaction (no force) makes an image layer there, and reads then need no redo;
 * when too few are, it leaves the range as it is. And GC, which such overlapping image passes
 * meet, never removes every image layer of a set that covers another at the same LSN.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Lsn } from '../pg/lsn.js';
import { keyPool, toyReconstructor } from '../testing/repository-model.js';
import { compact } from './compaction.js';
import { gc } from './gc.js';
import { nextKey, type Key } from './key.js';
import { LayerFile, LayerKind, LayerWriter } from './layer-file.js';
import type { HistoryValue, Reconstructor } from './reconstruct.js';
import { Repository } from './repository.js';
import { VALUE_KIND_IMAGE } from './value.js';

const L = (n: number) => BigInt(n) as Lsn;

async function scenario(recordKeys: number): Promise<{ images: number; redoKeys: number; redoAfter: number; reads: number }> {
  const root = mkdtempSync(join(tmpdir(), 'strata-compaction-'));
  let redoCalls = 0;
  const counting: Reconstructor = {
    reconstruct(key: Key, lsn: number, base: HistoryValue | undefined, records: readonly HistoryValue[]) {
      redoCalls++;
      return toyReconstructor.reconstruct(key, lsn, base, records);
    },
  };
  const repo = Repository.open(root, { reconstructorFor: () => counting, pageCacheBytes: 0 });
  try {
    // Depth rule out of reach: only the redo-keys rule can make an image here.
    const tenant = repo.createTenant(undefined, { compactionL0LayersMin: 2, imageLayerDeltasMin: 100, imageLayerRedoKeysFractionMin: 0.1, compactionPeriodMs: 0, gcPeriodMs: 0 });
    const t = tenant.createTimeline();
    const keys = keyPool(100).sort();
    let lsn = 10;
    for (const key of keys) t.put(key, L(lsn), { kind: 'image', bytes: Buffer.from(`image of ${key}`) });
    t.advance(L(lsn));
    await t.flush();
    for (const key of keys.slice(0, recordKeys)) {
      lsn += 10;
      t.put(key, L(lsn), { kind: 'wal', bytes: Buffer.from(`+${lsn}`), willInit: false });
      t.advance(L(lsn));
    }
    await t.flush();
    const expected = new Map<Key, string>();
    for (const key of keys) expected.set(key, Buffer.from(await t.get(key, L(lsn))).toString());

    // What the background loop runs: no force; two L0 layers reach compactionL0LayersMin.
    const result = await compact(t);
    assert.equal(result.l0LayersCompacted, 2);
    assert.equal(result.imageLayerErrors.length, 0);
    const deltas = t.layers.filter((l) => l.descriptor.kind === LayerKind.Delta);
    assert.ok(deltas.length >= 1 && deltas.every((l) => l.descriptor.lsnStart === deltas[0]?.descriptor.lsnStart && l.descriptor.lsnEnd === lsn + 1), 'one band of L1 layers: a delta depth of 1, below imageLayerDeltasMin');
    redoCalls = 0;
    for (const key of keys) assert.equal(Buffer.from(await t.get(key, L(lsn))).toString(), expected.get(key), `${key} reads the same after compaction`);
    return { images: t.layers.filter((l) => l.descriptor.kind === LayerKind.Image).length, redoKeys: result.redoKeys, redoAfter: redoCalls, reads: keys.length };
  } finally {
    await repo.close(false);
    rmSync(root, { recursive: true, force: true });
  }
}

test('compaction makes image layers where many keys would be read through redo, at depth 1', async () => {
  const many = await scenario(40);
  assert.equal(many.redoKeys, 40, 'the merge counted the keys whose newest value is a record');
  assert.ok(many.images >= 1, 'an image layer was made');
  assert.equal(many.redoAfter, 0, `no read at the newest LSN needs redo after it (${many.redoAfter} of ${many.reads} did)`);

  const few = await scenario(5);
  assert.equal(few.redoKeys, 5);
  assert.equal(few.images, 0, '5% of the keys is below the 10% threshold: no image layer');
  assert.equal(few.redoAfter, 5, 'those five keys are still read through redo');
});

test('GC keeps one of two image layer sets at one LSN that each cover the other', async () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-gc-images-'));
  const repo = Repository.open(root, { reconstructorFor: () => toyReconstructor, pageCacheBytes: 0 });
  try {
    const t = repo.createTenant(undefined, { gcHorizonBytes: 10, compactionPeriodMs: 0, gcPeriodMs: 0 }).createTimeline();
    const keys = keyPool(10).sort();
    for (const key of keys) t.put(key, L(10), { kind: 'image', bytes: Buffer.from(`image of ${key}`) });
    t.advance(L(10));
    await t.flush();
    // Three image layers at LSN 10, as two passes with other boundaries leave them: A and B split
    // the keys, C holds them all; each is covered by the others.
    const end = nextKey(keys[keys.length - 1] as Key);
    const image = (start: Key, stop: Key): LayerFile => {
      const w = new LayerWriter(t.dir, { kind: LayerKind.Image, keys: { start, end: stop }, lsnStart: 10, lsnEnd: 11 });
      for (const key of keys) if (key >= start && key < stop) w.add(key, 10, VALUE_KIND_IMAGE, Buffer.from(`image of ${key}`));
      return LayerFile.open(w.finish());
    };
    t.replaceLayers([], [image(keys[0] as Key, keys[5] as Key), image(keys[5] as Key, end), image(keys[0] as Key, end)]);
    // History moves on (another key), so the cutoff passes LSN 10 and the delta below the images can go.
    const other = nextKey(end);
    t.put(other, L(1000), { kind: 'image', bytes: Buffer.from('other') });
    t.advance(L(1000));
    await t.flush();
    const result = await gc(t);
    assert.ok(t.gcCutoffNumber >= 11, `the cutoff ${t.gcCutoffNumber} passed the images`);
    assert.ok(result.layersRemoved >= 1, 'GC removed the delta below the images, or a redundant image');
    assert.ok(t.layers.some((l) => l.descriptor.kind === LayerKind.Image && l.descriptor.lsnStart === 10), 'an image layer at LSN 10 is kept');
    for (const key of keys) assert.equal(Buffer.from(await t.get(key, BigInt(t.gcCutoffNumber) as Lsn)).toString(), `image of ${key}`, `${key} still reads at the cutoff`);
  } finally {
    await repo.close(false);
    rmSync(root, { recursive: true, force: true });
  }
});
