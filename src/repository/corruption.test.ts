/**
 * Corruption tests of the repository (issue 5): a timeline with L1 delta layers of disjoint key
 * ranges in two LSN bands, image layers over them and an L0 layer on top is closed; one file is
 * damaged (truncated, a bit flipped in a value, in an index block, in the header; deleted); the
 * repository is opened again. Reads whose history needs the damaged part fail with CORRUPT_LAYER
 * naming the file; every other read returns the model's value; the timeline still takes and
 * flushes new values. A damaged metadata.json or tenant.json makes that tenant fail with
 * CORRUPT_METADATA naming the file, while another tenant opens and reads. (layer-file.test.ts checks the same damage on a LayerFile alone.)
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { lsnOf } from '../testing/repository-crash-workload.js';
import { modelRead, prng, randomValue, toyReconstructor, type ModelTimeline } from '../testing/repository-model.js';
import { compact } from './compaction.js';
import { RepositoryError } from './errors.js';
import { makeKey, type Key } from './key.js';
import { ENTRY_BYTES, INDEX_BLOCK_ENTRIES_MAX, LayerFile, LayerKind, SUMMARY_LINE_BYTES, type LayerDescriptor, type LayerEntry } from './layer-file.js';
import { METADATA_FILE, METADATA_FORMAT_VERSION } from './metadata.js';
import { Repository } from './repository.js';
import { TENANT_CONFIG_FILE, type TenantConfig } from './tenant.js';
import type { Timeline } from './timeline.js';

const CONFIG: Partial<TenantConfig> = {
  checkpointDistanceBytes: 1 << 30, // flushes are the test's
  compactionL0LayersMin: 3,
  compactionLayerBytesTarget: 24 << 10,
  imageLayerDeltasMin: 2,
  gcHorizonBytes: 1 << 30, // no GC: every LSN stays readable
  compactionPeriodMs: 0,
  gcPeriodMs: 0,
};
const KEYS: readonly Key[] = Array.from({ length: 300 }, (_, i) => makeKey(0, 1663, 5, 16384 + (i >> 7), 0, i & 127));
const options = { reconstructorFor: () => toyReconstructor, pageCacheBytes: 0 };

interface LayerInfo {
  readonly name: string;
  readonly descriptor: LayerDescriptor;
  readonly entries: readonly LayerEntry[];
  /** Byte offset and key set of each index block, from the summary. */
  readonly blocks: readonly { readonly offset: number; readonly keys: ReadonlySet<Key> }[];
}

interface Pristine {
  readonly root: string;
  readonly tenantId: string;
  readonly timelineId: string;
  readonly model: ModelTimeline;
  readonly layers: readonly LayerInfo[];
}

/** Puts `count` records (one key each, at random, or with `everyKey` each key in turn) from LSN `m.last + 1` on. */
function putRecords(t: Timeline, m: ModelTimeline, rand: () => number, count: number, keys: readonly Key[] = KEYS, everyKey = false): void {
  for (let n = 0; n < count; n++) {
    const lsn = m.last + 1 + Math.floor(rand() * 20);
    const key = keys[everyKey ? n % keys.length : Math.floor(rand() * keys.length)] as Key;
    const value = randomValue(rand, key, lsn, modelRead(m, key, lsn).kind === 'not-found');
    t.put(key, lsnOf(lsn), value);
    m.puts.push({ key, lsn, value });
    t.advance(lsnOf(lsn));
    m.last = lsn;
  }
}

/** Each index block's offset (from the summary: header field at 64, a line of SUMMARY_LINE_BYTES per block) and keys. */
function blocksOf(path: string, entries: readonly LayerEntry[]): LayerInfo['blocks'] {
  const b = readFileSync(path);
  const summaryOffset = Number(b.readBigUInt64LE(64));
  const count = b.readUInt32LE(76);
  const blocks: { offset: number; keys: Set<Key> }[] = [];
  for (let i = 0; i < count; i++) blocks.push({ offset: Number(b.readBigUInt64LE(summaryOffset + i * SUMMARY_LINE_BYTES + 52)), keys: new Set() });
  // Every block but the last holds INDEX_BLOCK_ENTRIES_MAX entries, in (key, LSN) order.
  entries.forEach((e, i) => blocks[Math.floor(i / INDEX_BLOCK_ENTRIES_MAX)]?.keys.add(e.key));
  return blocks;
}

/** Two bands of L1 deltas (three flushes and a compaction each), image layers over the second, an L0 on top. */
async function buildPristine(): Promise<Pristine> {
  const root = mkdtempSync(join(tmpdir(), 'strata-corrupt-'));
  const rand = prng(42);
  const repo = Repository.open(root, options);
  const tenant = repo.createTenant(undefined, CONFIG);
  const t = tenant.createTimeline();
  const model: ModelTimeline = { id: t.id, ancestor: undefined, ancestorLsn: 0, puts: [], last: 0 };
  putRecords(t, model, rand, KEYS.length, KEYS, true); // every key starts with an image
  for (let band = 0; band < 2; band++) {
    for (let flush = 0; flush < 3; flush++) {
      putRecords(t, model, rand, 700);
      await t.flush();
    }
    const r = await compact(t, { force: true });
    assert.deepEqual(r.imageLayerErrors, []);
  }
  putRecords(t, model, rand, 400);
  await t.flush();
  const layers: LayerInfo[] = t.layers.map((l) => {
    assert.ok(l instanceof LayerFile);
    const entries = [...l.entries()];
    return { name: l.name, descriptor: l.descriptor, entries, blocks: blocksOf(l.path, entries) };
  });
  await repo.close(true);
  return { root, tenantId: tenant.id, timelineId: t.id, model, layers };
}

type Damage = (path: string, victim: LayerInfo) => { required: [Key, number][]; allowedKeys: ReadonlySet<Key> | 'range'; message: RegExp };

function flipBit(path: string, offset: number): void {
  const b = readFileSync(path);
  b[offset] = (b[offset] as number) ^ 0x04;
  writeFileSync(path, b);
}

/**
 * Reads that must fail when `entries` of `victim` are unreadable: each key's newest value among them,
 * read at its LSN, goes to that entry first (unless an image layer sits at that very LSN).
 */
function newestReads(p: Pristine, victim: LayerInfo, entries: readonly LayerEntry[] = victim.entries): [Key, number][] {
  const newest = new Map<Key, number>();
  for (const e of entries) newest.set(e.key, e.lsn);
  const imageAt = (key: Key, lsn: number) =>
    p.layers.some((l) => l !== victim && l.descriptor.kind === LayerKind.Image && l.descriptor.lsnStart === lsn && l.descriptor.keys.start <= key && key < l.descriptor.keys.end);
  return [...newest].filter(([key, lsn]) => !imageAt(key, lsn));
}

/** Opens a damaged copy and checks every read: required failures fail naming the file, allowed ones fail so or read right, the rest read right. */
async function checkDamaged(p: Pristine, victim: LayerInfo, what: string, damage: Damage): Promise<{ failed: number; read: number }> {
  const root = mkdtempSync(join(tmpdir(), 'strata-corrupt-case-'));
  try {
    cpSync(p.root, root, { recursive: true });
    const path = join(root, 'tenants', p.tenantId, 'timelines', p.timelineId, victim.name);
    const { required, allowedKeys, message } = damage(path, victim);
    assert.ok(required.length > 0, `${what}: no read is known to need the damaged part`);
    const repo = Repository.open(root, options);
    try {
      const t = repo.timeline(p.tenantId, p.timelineId);
      const m = p.model;
      const isCorrupt = (e: unknown) => e instanceof RepositoryError && e.code === 'CORRUPT_LAYER' && e.message.includes(path) && message.test(e.message);
      for (const [key, lsn] of required) {
        await assert.rejects(t.get(key, lsnOf(lsn)), (e: unknown) => {
          assert.ok(isCorrupt(e), `${what}: read of ${key} at ${lsn}: expected CORRUPT_LAYER naming ${path} and matching ${message}, got ${String(e)}`);
          return true;
        }, `${what}: the read of ${key} at ${lsn} needs the damaged file, yet it answered`);
      }
      let failed = required.length;
      let read = 0;
      const inVictim = (key: Key) => (allowedKeys === 'range' ? victim.descriptor.keys.start <= key && key < victim.descriptor.keys.end : allowedKeys.has(key));
      const rand = prng(9);
      for (const key of KEYS) {
        const lsns = m.puts.filter((x) => x.key === key).map((x) => x.lsn);
        const sample = new Set([m.last, ...Array.from({ length: 4 }, () => lsns[Math.floor(rand() * lsns.length)] as number)]);
        for (const lsn of sample) {
          const want = modelRead(m, key, lsn);
          assert.equal(want.kind, 'value');
          try {
            const got = await t.get(key, lsnOf(lsn));
            assert.ok(Buffer.from(got).equals((want as { bytes: Buffer }).bytes), `${what}: ${key} at ${lsn} read a wrong value`);
            read++;
          } catch (e) {
            assert.ok(inVictim(key), `${what}: ${key} at ${lsn} does not need the damaged part, yet failed: ${String(e)}`);
            assert.ok(isCorrupt(e), `${what}: ${key} at ${lsn} failed, but not with CORRUPT_LAYER naming ${path}: ${String(e)}`);
            failed++;
          }
        }
      }
      // The process and the timeline keep going: new values go in, are flushed, and read back.
      // (An L0 layer spans every key; an SLRU page key sorts after all of them.)
      const outside = [...KEYS, makeKey(1, 0, 0, 0, 0, 1)].find((k) => !inVictim(k)) as Key;
      const inside = KEYS.find((k) => inVictim(k)) as Key;
      const lsn = m.last + 100;
      for (const key of [outside, inside]) t.put(key, lsnOf(lsn), { kind: 'image', bytes: Buffer.from(`after ${what}`) });
      t.advance(lsnOf(lsn));
      await t.flush();
      for (const key of [outside, inside]) assert.equal(Buffer.from(await t.get(key, lsnOf(lsn))).toString(), `after ${what}`);
      return { failed, read };
    } finally {
      await repo.close(false);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('a damaged layer file fails the reads that need it, naming the file; other keys read the model; the timeline goes on', async () => {
  const p = await buildPristine();
  try {
    const deltas = p.layers.filter((l) => l.descriptor.kind === LayerKind.Delta);
    const l1 = deltas.filter((l) => l.descriptor.lsnEnd < p.model.last).sort((a, b) => a.descriptor.lsnStart - b.descriptor.lsnStart || (a.descriptor.keys.start < b.descriptor.keys.start ? -1 : 1));
    const bands = [...new Set(l1.map((l) => l.descriptor.lsnStart))];
    const images = p.layers.filter((l) => l.descriptor.kind === LayerKind.Image);
    const l0 = deltas.filter((l) => !l1.includes(l));
    // The shape the test is about: L1 layers with disjoint key ranges in two bands, images, an L0.
    assert.equal(bands.length, 2, `two L1 bands: ${p.layers.map((l) => l.name).join(', ')}`);
    for (const band of bands) {
      const inBand = l1.filter((l) => l.descriptor.lsnStart === band);
      assert.ok(inBand.length >= 3, `band ${band} has ${inBand.length} L1 layers`);
      for (let i = 1; i < inBand.length; i++) assert.ok((inBand[i - 1] as LayerInfo).descriptor.keys.end <= (inBand[i] as LayerInfo).descriptor.keys.start, 'L1 key ranges are disjoint');
    }
    assert.ok(images.length >= 2, `${images.length} image layers`);
    assert.equal(l0.length, 1);
    const middle = (ls: LayerInfo[]) => ls[ls.length >> 1] as LayerInfo;
    const band1 = middle(l1.filter((l) => l.descriptor.lsnStart === bands[0]));
    const band2 = middle(l1.filter((l) => l.descriptor.lsnStart === bands[1]));
    const image = middle(images);
    const results: Record<string, { failed: number; read: number }> = {};

    results['truncated L1'] = await checkDamaged(p, band2, 'truncated L1', (path, v) => {
      truncateSync(path, Math.floor(readFileSync(path).length * 0.6));
      return { required: newestReads(p, v), allowedKeys: 'range', message: /truncated/ };
    });
    results['truncated L0'] = await checkDamaged(p, l0[0] as LayerInfo, 'truncated L0', (path, v) => {
      truncateSync(path, readFileSync(path).length - 1);
      return { required: newestReads(p, v), allowedKeys: 'range', message: /truncated/ };
    });
    results['image header'] = await checkDamaged(p, image, 'image header', (path, v) => {
      flipBit(path, 40); // inside the key range end
      return { required: newestReads(p, v), allowedKeys: 'range', message: /header checksum/ };
    });
    results['deleted L1'] = await checkDamaged(p, band1, 'deleted L1', (path, v) => {
      unlinkSync(path);
      return { required: newestReads(p, v), allowedKeys: 'range', message: /ENOENT/ };
    });
    results['value bit'] = await checkDamaged(p, band1, 'value bit', (path, v) => {
      // A value of the key whose newest value in the layer lies under no image at its LSN.
      const [key, lsn] = newestReads(p, v)[0] as [Key, number];
      const e = v.entries.find((x) => x.key === key && x.lsn === lsn) as LayerEntry;
      flipBit(path, e.offset + (e.length >> 1));
      return { required: [[key, lsn]], allowedKeys: new Set([key]), message: /checksum does not match/ };
    });
    results['index block'] = await checkDamaged(p, band2, 'index block', (path, v) => {
      assert.ok(v.blocks.length >= 3, `the victim has ${v.blocks.length} index blocks`);
      const b = 1;
      const block = v.blocks[b] as LayerInfo['blocks'][number];
      flipBit(path, block.offset + 4 + 3 * ENTRY_BYTES + 5); // inside the fourth entry's key
      const required = newestReads(p, v, v.entries.slice(b * INDEX_BLOCK_ENTRIES_MAX, (b + 1) * INDEX_BLOCK_ENTRIES_MAX));
      // A key whose history reaches back into this block from the next one may fail too.
      const next = [...(v.blocks[b + 1]?.keys ?? [])].sort()[0];
      return { required, allowedKeys: new Set([...block.keys, ...(next === undefined ? [] : [next])]), message: /index block 1 .*checksum/ };
    });
    console.log(`corruption: ${JSON.stringify(results)}`);
    for (const [what, r] of Object.entries(results)) assert.ok(r.read > 0 && r.failed > 0, `${what}: ${JSON.stringify(r)}`);
  } finally {
    rmSync(p.root, { recursive: true, force: true });
  }
});

test('a damaged metadata.json or tenant.json fails its tenant with CORRUPT_METADATA naming the file; other tenants open', async () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-corrupt-meta-'));
  try {
    let repo = Repository.open(root, options);
    const tenant = repo.createTenant(undefined, CONFIG);
    const t = tenant.createTimeline();
    const m: ModelTimeline = { id: t.id, ancestor: undefined, ancestorLsn: 0, puts: [], last: 0 };
    putRecords(t, m, prng(3), 200, KEYS.slice(0, 20), true);
    const other = repo.createTenant(undefined, CONFIG);
    const ot = other.createTimeline();
    const om: ModelTimeline = { id: ot.id, ancestor: undefined, ancestorLsn: 0, puts: [], last: 0 };
    putRecords(ot, om, prng(4), 100, KEYS.slice(0, 20), true);
    await repo.close(true);
    const metadata = join(root, 'tenants', tenant.id, 'timelines', t.id, METADATA_FILE);
    const tenantFile = join(root, 'tenants', tenant.id, TENANT_CONFIG_FILE);
    const good = readFileSync(metadata);
    const goodTenant = readFileSync(tenantFile);
    const cases: [string, string, (b: Buffer) => Buffer, RegExp][] = [
      ['metadata bit flip', metadata, (b) => Buffer.from(b.map((x, i) => (i === b.length >> 1 ? x ^ 0x01 : x))), /checksum does not match/],
      ['metadata truncated', metadata, (b) => b.subarray(0, b.length >> 1), /not a strata metadata file/],
      ['metadata empty', metadata, () => Buffer.alloc(0), /not a strata metadata file/],
      ['metadata format version', metadata, (b) => Buffer.from(b.toString().replace(`"formatVersion":${METADATA_FORMAT_VERSION}`, '"formatVersion":7')), /format version 7/],
      ['tenant.json truncated', tenantFile, (b) => b.subarray(0, b.length >> 1), /JSON/],
    ];
    for (const [what, file, damage, why] of cases) {
      writeFileSync(file, damage(file === metadata ? good : goodTenant));
      const damaged = Repository.open(root, options);
      const fresh = damaged.timeline(other.id, ot.id);
      for (const key of KEYS.slice(0, 5)) assert.ok(Buffer.from(await fresh.get(key, lsnOf(om.last))).equals((modelRead(om, key, om.last) as { bytes: Buffer }).bytes), `${what}: the other tenant reads`);
      assert.throws(
        () => damaged.tenant(tenant.id),
        (e: unknown) => {
          assert.ok(e instanceof RepositoryError && e.code === 'CORRUPT_METADATA', `${what}: ${String(e)}`);
          assert.ok(e.message.includes(file), `${what}: the message names ${file}: ${e.message}`);
          assert.match(e.message, why, what);
          return true;
        },
      );
      await damaged.close(false);
      writeFileSync(file, file === metadata ? good : goodTenant);
    }
    // Repaired, it opens and reads the model again.
    repo = Repository.open(root, options);
    const again = repo.timeline(tenant.id, t.id);
    for (const key of KEYS.slice(0, 20)) assert.ok(Buffer.from(await again.get(key, lsnOf(m.last))).equals((modelRead(m, key, m.last) as { bytes: Buffer }).bytes));
    await repo.close(false);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
