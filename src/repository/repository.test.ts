/**
 * The model-based test of the repository (issue 5): random puts on random keys across branches,
 * with flushes, compactions, GC and restarts in between; reads at random LSNs must equal the model.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { crc32c } from '../pg/crc32c.js';
import type { Lsn } from '../pg/lsn.js';
import { expectRead, keyPool, modelRead, prng, randomValue, toyReconstructor, type ModelTimeline } from '../testing/repository-model.js';
import { RepositoryError } from './errors.js';
import type { Key } from './key.js';
import { LayerKind } from './layer-file.js';
import { METADATA_FILE } from './metadata.js';
import { Repository } from './repository.js';
import type { TenantConfig } from './tenant.js';
import type { Timeline } from './timeline.js';

const CONFIG: Partial<TenantConfig> = {
  checkpointDistanceBytes: 6 << 10,
  compactionL0LayersMin: 3,
  compactionLayerBytesTarget: 24 << 10,
  imageLayerDeltasMin: 2,
  gcHorizonBytes: 3000,
  compactionPeriodMs: 0,
  gcPeriodMs: 0,
};

const L = (n: number) => BigInt(n) as Lsn;

interface Stats {
  reads: number;
  flushes: number;
  compactions: number;
  l1: number;
  images: number;
  gcRemoved: number;
  restarts: number;
  branches: number;
  belowCutoff: number;
}


async function runModel(seed: number, steps: number): Promise<Stats> {
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const root = mkdtempSync(join(tmpdir(), 'strata-model-'));
  const stats: Stats = { reads: 0, flushes: 0, compactions: 0, l1: 0, images: 0, gcRemoved: 0, restarts: 0, branches: 0, belowCutoff: 0 };
  const keys = keyPool(60);
  let repo = Repository.open(root, { reconstructorFor: () => toyReconstructor, pageCacheBytes: 64 << 10 });
  try {
    let tenant = repo.createTenant(undefined, CONFIG);
    const tenantId = tenant.id;
    const root0 = tenant.createTimeline();
    const models = new Map<string, ModelTimeline>([[root0.id, { id: root0.id, ancestor: undefined, ancestorLsn: 0, puts: [], last: 0 }]]);
    const timeline = (id: string) => tenant.timeline(id);
    const seen = new Map<string, Set<Key>>([[root0.id, new Set()]]);

    for (let step = 0; step < steps; step++) {
      const ids = [...models.keys()];
      const id = pick(ids);
      const m = models.get(id) as ModelTimeline;
      const t = timeline(id);
      const r = rand();
      if (r < 0.5) {
        // One "record": a few puts at one LSN, then advance.
        const lsn = m.last + 1 + Math.floor(rand() * 120);
        const n = 1 + Math.floor(rand() * 4);
        const used = new Set<Key>();
        for (let i = 0; i < n; i++) {
          const key = pick(keys);
          if (used.has(key)) continue;
          used.add(key);
          const first = modelRead(m, key, lsn).kind === 'not-found';
          const value = randomValue(rand, key, lsn, first);
          t.put(key, L(lsn), value);
          m.puts.push({ key, lsn, value });
          seen.get(id)?.add(key);
        }
        t.advance(L(lsn));
        m.last = lsn;
      } else if (r < 0.75) {
        // Reads at random LSNs the timeline allows: at or above its GC cutoff, or at a retained point.
        for (let i = 0; i < 4; i++) {
          const low = Math.max(t.gcCutoffNumber, m.ancestor === undefined ? 0 : m.ancestorLsn);
          const lsn = low + Math.floor(rand() * (m.last - low + 1));
          await expectRead(t, m, pick(keys), lsn, `seed ${seed} step ${step}`);
          stats.reads++;
        }
        const retained = t.retainedLsns().filter((p) => p < t.gcCutoffNumber);
        if (retained.length > 0) {
          await expectRead(t, m, pick(keys), pick(retained), `seed ${seed} step ${step} (retained point)`);
          stats.reads++;
        }
        if (t.gcCutoffNumber > (m.ancestor === undefined ? 1 : m.ancestorLsn + 1) && !retained.includes(t.gcCutoffNumber - 1)) {
          await assert.rejects(t.get(pick(keys), L(t.gcCutoffNumber - 1)), (e: unknown) => e instanceof RepositoryError && e.code === 'BELOW_GC_HORIZON');
          stats.belowCutoff++;
        }
      } else if (r < 0.83) {
        await t.flush();
        stats.flushes++;
      } else if (r < 0.9) {
        const res = await tenant.compactAll(rand() < 0.3);
        stats.compactions++;
        for (const c of res) {
          stats.l1 += c.l1LayersCreated;
          stats.images += c.imageLayersCreated;
          assert.deepEqual(c.imageLayerErrors, []);
        }
      } else if (r < 0.94) {
        for (const g of await tenant.gcAll()) stats.gcRemoved += g.layersRemoved;
      } else if (r < 0.97 && models.size < 6) {
        const low = Math.max(t.gcCutoffNumber, m.ancestor === undefined ? 0 : m.ancestorLsn);
        const at = low + Math.floor(rand() * (m.last - low + 1));
        const child = tenant.branch(id, L(at));
        models.set(child.id, { id: child.id, ancestor: m, ancestorLsn: at, puts: [], last: at });
        seen.set(child.id, new Set());
        stats.branches++;
      } else {
        // Restart: with or without a final flush. What was not flushed is lost, as in a crash, and
        // is put again from the model (what ingest does from its WAL log above the disk-consistent LSN).
        const flush = rand() < 0.5;
        await repo.close(flush);
        repo = Repository.open(root, { reconstructorFor: () => toyReconstructor, pageCacheBytes: 64 << 10 });
        tenant = repo.tenant(tenantId);
        stats.restarts++;
        for (const [tid, tm] of models) {
          const tl = tenant.timeline(tid);
          const disk = tl.diskConsistentLsnNumber;
          assert.ok(disk <= tm.last, 'disk-consistent LSN is at most the last record LSN');
          if (flush) assert.equal(disk, tm.last, 'a flushed timeline reopens at its last record LSN');
          // Everything up to the disk-consistent LSN is there: check a few reads before replaying.
          for (let i = 0; i < 3 && disk > tl.gcCutoffNumber; i++) {
            const low = Math.max(tl.gcCutoffNumber, tm.ancestor === undefined ? 0 : tm.ancestorLsn);
            await expectRead(tl, { ...tm, puts: tm.puts.filter((p) => p.lsn <= disk), last: disk }, pick(keys), low + Math.floor(rand() * (disk - low + 1)), `seed ${seed} after restart`);
          }
          let lsn = -1;
          for (const p of tm.puts) {
            if (p.lsn <= disk) continue;
            if (lsn >= 0 && p.lsn !== lsn) tl.advance(L(lsn));
            tl.put(p.key, L(p.lsn), p.value);
            lsn = p.lsn;
          }
          tl.advance(L(tm.last));
        }
      }
    }
    // A last sweep: every key on every timeline at its last LSN and at its GC cutoff.
    for (const [tid, m] of models) {
      const t = tenant.timeline(tid);
      for (const key of keys) {
        await expectRead(t, m, key, m.last, `seed ${seed} final`);
        await expectRead(t, m, key, Math.max(t.gcCutoffNumber, m.ancestorLsn), `seed ${seed} final at cutoff`);
        stats.reads += 2;
      }
    }
    return stats;
  } finally {
    await repo.close(false);
    rmSync(root, { recursive: true, force: true });
  }
}

test('model: random puts, branches, flushes, compactions, GC and restarts; every read equals the model', async () => {
  const totals: Stats = { reads: 0, flushes: 0, compactions: 0, l1: 0, images: 0, gcRemoved: 0, restarts: 0, branches: 0, belowCutoff: 0 };
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const s = await runModel(seed, 700);
    for (const k of Object.keys(totals) as (keyof Stats)[]) totals[k] += s[k];
  }
  // The run must have exercised each mechanism, or it proves little.
  for (const k of Object.keys(totals) as (keyof Stats)[]) assert.ok(totals[k] > 0, `the model run never did ${k}: ${JSON.stringify(totals)}`);
  console.log(`model run: ${JSON.stringify(totals)}`);
});

test('a branch is O(1): no layer is copied, and the child reads its ancestor below the branch point', async () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-branch-'));
  const repo = Repository.open(root, { reconstructorFor: () => toyReconstructor });
  try {
    const tenant = repo.createTenant(undefined, CONFIG);
    const main = tenant.createTimeline();
    const keys = keyPool(40);
    for (let lsn = 1; lsn <= 400; lsn++) {
      main.put(keys[lsn % keys.length] as Key, L(lsn), { kind: 'image', bytes: Buffer.from(`v${lsn}`) });
      main.advance(L(lsn));
    }
    await main.flush();
    assert.ok(main.layers.length > 0);
    const child = tenant.branch(main.id, L(200));
    assert.equal(child.layers.length, 0);
    assert.equal(Buffer.from(await child.get(keys[200 % keys.length] as Key, L(200))).toString(), 'v200');
    // After the branch point the child sees its own writes, not its parent's.
    child.put(keys[0] as Key, L(201), { kind: 'image', bytes: Buffer.from('child') });
    child.advance(L(201));
        assert.equal(Buffer.from(await child.get(keys[0] as Key, L(201))).toString(), 'child');
    assert.equal(Buffer.from(await main.get(keys[0] as Key, L(400))).toString(), 'v400');
    assert.ok(main.layers.every((l) => l.descriptor.kind === LayerKind.Delta));
    await assert.rejects(tenant.deleteTimeline(main.id), /branch from it/);
  } finally {
    await repo.close(false);
    rmSync(root, { recursive: true, force: true });
  }
});

test('a read above the last record LSN waits for it, and times out with LSN_TIMEOUT', async () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-wait-'));
  const repo = Repository.open(root, { reconstructorFor: () => toyReconstructor });
  try {
    const t = repo.createTenant(undefined, CONFIG).createTimeline();
    const key = keyPool(1)[0] as Key;
    t.put(key, L(10), { kind: 'image', bytes: Buffer.from('a') });
    t.advance(L(10));
    const pending = t.get(key, L(20), 5000);
    setTimeout(() => {
      t.put(key, L(20), { kind: 'wal', willInit: false, bytes: Buffer.from('b') });
      t.advance(L(20));
    }, 20);
    assert.equal(Buffer.from(await pending).toString(), 'ab');
    await assert.rejects(t.get(key, L(30), 50), (e: unknown) => e instanceof RepositoryError && e.code === 'LSN_TIMEOUT' && /0\/1E/.test(e.message));
  } finally {
    await repo.close(false);
    rmSync(root, { recursive: true, force: true });
  }
});

test('tenants are independent: their own folders, reconstructors, deletion and reopening', async () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-tenants-'));
  const failing = { reconstruct: async () => Promise.reject(new Error('redo exploded')) };
  const open = () => Repository.open(root, { reconstructorFor: (id) => (id.startsWith('bad') ? failing : toyReconstructor) });
  let repo = open();
  try {
    const bad = repo.createTenant('bad'.padEnd(32, '0'), CONFIG).createTimeline();
    const good = repo.createTenant('0'.repeat(31) + '1', CONFIG).createTimeline();
    const key = keyPool(1)[0] as Key;
    for (const t of [bad, good]) {
      t.put(key, L(10), { kind: 'image', bytes: Buffer.from('base') });
      t.put(key, L(20), { kind: 'wal', willInit: false, bytes: Buffer.from('+r') });
      t.advance(L(20));
    }
    await assert.rejects(bad.get(key, L(20)), (e: unknown) => e instanceof RepositoryError && e.code === 'RECONSTRUCT_FAILED' && /redo exploded/.test(e.message));
    assert.equal(Buffer.from(await good.get(key, L(20))).toString(), 'base+r');
    await repo.close(true);
    repo = open();
    assert.equal(repo.list().length, 2);
    await repo.deleteTenant('bad'.padEnd(32, '0'));
    assert.throws(() => repo.tenant('bad'.padEnd(32, '0')), /Cannot find tenant/);
    const again = repo.tenant('0'.repeat(31) + '1').list()[0] as Timeline;
    assert.equal(Buffer.from(await again.get(key, L(20))).toString(), 'base+r');
    assert.throws(() => repo.createTenant('not-hex'), /32 lowercase hex digits/);
  } finally {
    await repo.close(false);
    rmSync(root, { recursive: true, force: true });
  }
});

test('an in-memory layer is frozen and flushed when it passes its size, or its age', async () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-freeze-'));
  const repo = Repository.open(root, { reconstructorFor: () => toyReconstructor });
  try {
    const tenant = repo.createTenant(undefined, { ...CONFIG, checkpointDistanceBytes: 1 << 30, checkpointTimeoutMs: 50 });
    const t = tenant.createTimeline();
    const key = keyPool(1)[0] as Key;
    t.put(key, L(10), { kind: 'image', bytes: Buffer.from('x') });
    t.advance(L(10));
    assert.equal(t.diskConsistentLsnNumber, 0);
    await new Promise((r) => setTimeout(r, 80));
    await t.flushIfOld();
    assert.equal(t.diskConsistentLsnNumber, 10);
    assert.equal(t.layers.length, 1);
    const sized = repo.createTenant(undefined, { ...CONFIG, checkpointDistanceBytes: 1000 }).createTimeline();
    for (let lsn = 1; lsn <= 30; lsn++) {
      sized.put(key, L(lsn), { kind: 'image', bytes: Buffer.alloc(100) });
      sized.advance(L(lsn));
    }
    await sized.flush();
    assert.ok(sized.layers.length >= 3, `layers were cut at about 1000 bytes: ${sized.layers.length}`);
  } finally {
    await repo.close(false);
    rmSync(root, { recursive: true, force: true });
  }
});

test('frozen layers not yet flushed count against the memory bound of in-memory values: past it, values spill to ephemeral files', async () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-spill-'));
  const repo = Repository.open(root, { reconstructorFor: () => toyReconstructor });
  try {
    // Layers freeze at about 1000 bytes; 2500 bytes of memory hold two frozen layers and part of a third.
    const t = repo.createTenant(undefined, { ...CONFIG, checkpointDistanceBytes: 1000, inMemoryLayerMemoryBytesMax: 2500 }).createTimeline();
    const keys = keyPool(20);
    // No turn of the event loop: the flush worker's finished layers cannot be taken, so frozen layers pile up.
    for (let lsn = 1; lsn <= 60; lsn++) {
      t.put(keys[lsn % keys.length] as Key, L(lsn), { kind: 'image', bytes: Buffer.alloc(100, lsn) });
      t.advance(L(lsn));
    }
    const ephemeral = readdirSync(root, { recursive: true }).map(String).filter((f) => f.includes('ephemeral-'));
    assert.ok(ephemeral.length >= 2, `the third layer on spilled to ephemeral files: ${ephemeral.join(', ')}`);
    for (let lsn = 41; lsn <= 60; lsn++) {
      assert.deepEqual(Buffer.from(await t.get(keys[lsn % keys.length] as Key, L(60))), Buffer.alloc(100, lsn), 'read from memory or an ephemeral file');
    }
    await t.flush();
    for (let lsn = 41; lsn <= 60; lsn++) assert.deepEqual(Buffer.from(await t.get(keys[lsn % keys.length] as Key, L(60))), Buffer.alloc(100, lsn), 'read from layer files');
  } finally {
    await repo.close(false);
    rmSync(root, { recursive: true, force: true });
  }
});

test('reads stay correct while compaction and GC run beside them', async () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-concurrent-'));
  const repo = Repository.open(root, { reconstructorFor: () => toyReconstructor });
  try {
    const tenant = repo.createTenant(undefined, { ...CONFIG, checkpointDistanceBytes: 2 << 10, compactionL0LayersMin: 4 });
    const t = tenant.createTimeline();
    const m: ModelTimeline = { id: t.id, ancestor: undefined, ancestorLsn: 0, puts: [], last: 0 };
    const keys = keyPool(50);
    const rand = prng(99);
    for (let lsn = 1; lsn <= 3000; lsn++) {
      const key = keys[Math.floor(rand() * keys.length)] as Key;
      const value = randomValue(rand, key, lsn, modelRead(m, key, lsn).kind === 'not-found');
      t.put(key, L(lsn), value);
      m.puts.push({ key, lsn, value });
      t.advance(L(lsn));
      m.last = lsn;
    }
    await t.flush();
    // Compaction and GC yield to the event loop as they go: reads interleave with their steps.
    const work = (async () => {
      const c = await tenant.compactAll(true);
      const g = await tenant.gcAll();
      return { c, g };
    })();
    let reads = 0;
    let done = false;
    void work.finally(() => {
      done = true;
    });
    while (!done || reads < 200) {
      const lsn = Math.max(t.gcCutoffNumber, 1) + Math.floor(rand() * (3000 - Math.max(t.gcCutoffNumber, 1)));
      await expectRead(t, m, keys[Math.floor(rand() * keys.length)] as Key, lsn, 'during compaction');
      reads++;
      await new Promise((r) => setImmediate(r));
    }
    const { c } = await work;
    assert.ok(c[0] !== undefined && c[0].l1LayersCreated > 0, `compaction made L1 layers: ${JSON.stringify(c)}`);
  } finally {
    await repo.close(false);
    rmSync(root, { recursive: true, force: true });
  }
});

test('GC keeps a time window of history, and what an LSN lease or a branch point needs', async () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-gc-'));
  const repo = Repository.open(root, { reconstructorFor: () => toyReconstructor });
  try {
    const tenant = repo.createTenant(undefined, { ...CONFIG, checkpointDistanceBytes: 1 << 10, gcHorizonBytes: 10, pitrIntervalMs: 60_000, imageLayerDeltasMin: 1 });
    const t = tenant.createTimeline();
    const key = keyPool(1)[0] as Key;
    const write = (from: number, to: number) => {
      for (let lsn = from; lsn <= to; lsn++) {
        t.put(key, L(lsn), { kind: 'image', bytes: Buffer.alloc(300, lsn & 0xff) });
        t.advance(L(lsn));
      }
    };
    write(1, 100);
    await t.flush();
    // All of it was written within the last minute: the time window keeps everything.
    let g = (await tenant.gcAll())[0];
    assert.equal(t.gcCutoffNumber, 0, `cutoff stays at 0 within the time window: ${JSON.stringify(g)}`);
    // An hour later (as far as GC can tell), the byte horizon alone decides; a lease at 150 and a branch at 170 hold.
    await tenant.compactAll(true);
    t.lease(L(150), 10 * 60_000);
    write(101, 200);
    await t.flush();
    await tenant.compactAll(true);
    const child = tenant.branch(t.id, L(170));
    write(201, 300);
    await t.flush();
    await tenant.compactAll(true);
    const before = t.layers.length;
    g = (await tenant.gcAll(Date.now() + 3600_000))[0];
    assert.ok(t.gcCutoffNumber >= 280, `cutoff moved to the byte horizon: ${t.gcCutoffNumber} ${JSON.stringify(g)}`);
    assert.ok((g?.layersRemoved ?? 0) > 0 && t.layers.length < before, `GC removed layers: ${JSON.stringify(g)}`);
    assert.equal(Buffer.from(await t.get(key, L(150))).readUInt8(0), 150, 'the leased LSN reads');
    assert.equal(Buffer.from(await child.get(key, L(170))).readUInt8(0), 170, 'the branch point reads');
    assert.equal(Buffer.from(await t.get(key, L(295))).readUInt8(0), 295 & 0xff, 'above the cutoff reads');
    await assert.rejects(t.get(key, L(60)), (e: unknown) => e instanceof RepositoryError && e.code === 'BELOW_GC_HORIZON');
    await assert.rejects(async () => tenant.branch(t.id, L(60)), /below the GC cutoff/);
  } finally {
    await repo.close(false);
    rmSync(root, { recursive: true, force: true });
  }
});

test('a timeline consistent only from an LSN (a base backup\'s end): reads and branches below it are refused, ingest reads, no images there; durable; an unfinished import is dropped', async () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-consistent-'));
  const open = () => Repository.open(root, { reconstructorFor: () => toyReconstructor });
  let repo = open();
  try {
    // No flush by age: which layer is open when must not depend on how fast the machine runs.
    const tenant = repo.createTenant(undefined, { ...CONFIG, checkpointTimeoutMs: 3_600_000, checkpointDistanceBytes: 1 << 30, imageLayerDeltasMin: 1 });
    const t = tenant.createTimeline();
    const keys = keyPool(8);
    // An import's puts at its start LSN (100): nothing is advanced over until the end.
    for (const key of keys) t.put(key, L(100), { kind: 'image', bytes: Buffer.from('backup') });
    await t.flush();
    assert.equal(t.layers.length, 0, 'values put but not advanced over are not flushed');
    t.discardUnadvanced();
    assert.equal(t.inMemoryBytes, 0);
    assert.equal(t.lastRecordLsnNumber, 0);
    // Again, to the end: consistent from 300 (0/12C).
    for (const key of keys) t.put(key, L(100), { kind: 'image', bytes: Buffer.from('backup') });
    t.setConsistentLsn(L(300));
    t.advance(L(100));
    // keys[0] gets the values at LSNs divisible by the number of keys.
    const key0At = (at: number) => `backup${Array.from({ length: at / 10 }, (_, i) => (i + 1) * 10).filter((l) => l > 100 && l <= at && l % keys.length === 0).map((l) => `+${l}`).join('')}`;
    const walTo = async (to: number, flushEvery: number) => {
      for (let lsn = t.lastRecordLsnNumber + 10; lsn <= to; lsn += 10) {
        t.put(keys[lsn % keys.length] as Key, L(lsn), { kind: 'wal', willInit: false, bytes: Buffer.from(`+${lsn}`) });
        t.advance(L(lsn));
        if (lsn % flushEvery === 0) await t.flush();
      }
    };
    await walTo(200, 50);
    // Compaction makes no image layer where the timeline is not consistent...
    const below = await tenant.compactAll(true);
    assert.ok(below.some((r) => r.l0LayersCompacted > 1));
    assert.deepEqual(below.map((r) => r.imageLayersCreated), [0]);
    for (const at of [100, 299]) {
      await assert.rejects(t.get(keys[0] as Key, L(at)), (e: unknown) => e instanceof RepositoryError && e.code === 'NOT_CONSISTENT' && /consistent only from 0\/12C/.test(e.message));
    }
    assert.equal(Buffer.from(await t.getForIngest(keys[0] as Key, L(200))).toString(), key0At(200));
    await walTo(410, 50);
    // ... and does above it.
    const above = await tenant.compactAll(true);
    assert.ok(above.some((r) => r.imageLayersCreated > 0));
    assert.ok(t.layers.every((l) => l.descriptor.kind !== LayerKind.Image || l.descriptor.lsnStart >= 300), 'no image layer below the consistent LSN');
    assert.throws(() => t.discardUnadvanced(), /assert: discarding an in-memory layer .* at or below the last record LSN/);
    assert.equal(Buffer.from(await t.get(keys[0] as Key, L(300))).toString(), key0At(300));
    assert.throws(() => tenant.branch(t.id, L(299)), (e: unknown) => e instanceof RepositoryError && e.code === 'NOT_CONSISTENT');
    assert.equal(tenant.branch(t.id, L(300)).ancestorLsn, 300);
    assert.throws(() => t.setConsistentLsn(L(200)), /back from 0\/12C/);
    await repo.close(true);
    repo = open();
    const again = repo.tenant(tenant.id).timeline(t.id);
    assert.equal(again.consistentLsnNumber, 300);
    await assert.rejects(again.get(keys[0] as Key, L(250)), (e: unknown) => e instanceof RepositoryError && e.code === 'NOT_CONSISTENT');
    assert.equal(Buffer.from(await again.get(keys[0] as Key, L(400))).toString(), key0At(400));
    assert.equal(key0At(200), 'backup+120+160+200');
  } finally {
    await repo.close(false);
    rmSync(root, { recursive: true, force: true });
  }
});

test('metadata format 1 (before consistentLsn) still opens, as consistent throughout', async () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-metadata-v1-'));
  const open = () => Repository.open(root, { reconstructorFor: () => toyReconstructor });
  let repo = open();
  try {
    const tenant = repo.createTenant(undefined, CONFIG);
    const t = tenant.createTimeline();
    const key = keyPool(1)[0] as Key;
    t.put(key, L(10), { kind: 'image', bytes: Buffer.from('v1') });
    t.advance(L(10));
    await repo.close(true);
    const path = join(t.dir, METADATA_FILE);
    const body = (JSON.parse(readFileSync(path, 'utf8')) as { body: Record<string, unknown> }).body;
    assert.equal(body['consistentLsn'], '0/0');
    delete body['consistentLsn'];
    const text = JSON.stringify(body);
    writeFileSync(path, `{"formatVersion":1,"crc32c":${crc32c(Buffer.from(text))},"body":${text}}\n`);
    repo = open();
    const again = repo.timeline(tenant.id, t.id);
    assert.equal(again.consistentLsnNumber, 0);
    assert.equal(Buffer.from(await again.get(key, L(10))).toString(), 'v1');
  } finally {
    await repo.close(false);
    rmSync(root, { recursive: true, force: true });
  }
});

test('LSN samples: one per second, the last one at the last record LSN, a closed one at the LSN reached before the next second', async () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-lsn-samples-'));
  const realNow = Date.now;
  let now = 1_700_000_000_000;
  Date.now = () => now;
  const repo = Repository.open(root, { reconstructorFor: () => toyReconstructor });
  try {
    const t = repo.createTenant().createTimeline();
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    // Advances within one clock reading: the sample's LSN is filled in when read.
    for (let l = 0x100; l <= 0x1000; l += 0x100) t.advance(l);
    assert.deepEqual(t.samples.at(-1), [0x1000, now]);
    t.advance(0x1100);
    assert.deepEqual(t.samples.at(-1), [0x1100, now]);
    // A later reading in the same second moves the sample.
    await turn();
    now += 100;
    t.advance(0x1200);
    t.advance(0x1300);
    assert.deepEqual(t.samples.at(-1), [0x1300, now]);
    t.advance(0x1400);
    // A new second: the sample it closes keeps the LSN reached before it (0x1400, never read).
    await turn();
    now += 1000;
    t.advance(0x2000);
    t.advance(0x2100);
    assert.deepEqual(t.samples.slice(-2), [
      [0x1400, now - 1000],
      [0x2100, now],
    ]);
    assert.equal(t.lsnReachedBy(now - 1), 0x1400);
    assert.equal(t.lsnReachedBy(now), 0x2100);
  } finally {
    Date.now = realNow;
    await repo.close(false);
    rmSync(root, { recursive: true, force: true });
  }
});
