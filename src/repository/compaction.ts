/**
 * Compaction (seed 002: "Checkpointing"): keeps reads cheap as history grows.
 *
 * - L0 to L1: flushes leave L0 delta layers, each covering every key its in-memory layer touched
 *   over a short LSN range, so a read may have to look into each. Once there are enough, they are
 *   merged, in (key, LSN) order, into L1 delta layers with disjoint key ranges over their combined
 *   LSN range: one file to look into per key and LSN band.
 * - Image layers: where a key range has many delta layers above its newest image, its keys are
 *   reconstructed at the newest compacted LSN and written as an image layer, so a read starts there.
 *
 * Both write new files completely, then swap them in with one metadata replacement (readers see the
 * old set or the new), then delete what they replaced. Memory stays bounded: one index block per
 * input file and one value at a time (image creation also holds one key range's key list). They
 * yield to the event loop as they go, so reads and ingest continue.
 */
import { LayerFile, LayerKind, LayerWriter, type LayerEntry } from './layer-file.js';
import { nextKey, type Key, type KeyRange } from './key.js';
import type { HistoricLayer, Timeline } from './timeline.js';
import { VALUE_KIND_IMAGE } from './value.js';

const YIELD_EVERY_ENTRIES = 1024;

export interface CompactionResult {
  /** L0 layers merged (0 when there were too few). */
  readonly l0LayersCompacted: number;
  readonly l1LayersCreated: number;
  readonly imageLayersCreated: number;
  /** Image layers that could not be made (a key failed to reconstruct): the reason for each. */
  readonly imageLayerErrors: readonly string[];
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Compacts `t` if it has enough L0 layers (or any, with `force`), then makes image layers where history is deep. */
export function compact(t: Timeline, options: { force?: boolean } = {}): Promise<CompactionResult> {
  const force = options.force === true;
  return t.runLayerWork(async () => {
    const l0 = await compactL0(t, force);
    const ranges = l0.made.length > 0 ? l0.made.map((l) => l.descriptor.keys) : force ? keyRangesOfNewestBand(t) : [];
    const images = await createImageLayers(t, ranges);
    return { l0LayersCompacted: l0.compacted, l1LayersCreated: l0.made.length, imageLayersCreated: images.created, imageLayerErrors: images.errors };
  });
}

/** The L0 layers of `t`, oldest first. */
export function l0Layers(t: Timeline): HistoricLayer[] {
  return t.layers
    .filter((l) => l.descriptor.kind === LayerKind.Delta && l.descriptor.lsnStart >= t.compactedLsnNumber)
    .sort((a, b) => a.descriptor.lsnStart - b.descriptor.lsnStart);
}

/** Merges the L0 layers into L1 layers (none if there are too few). */
async function compactL0(t: Timeline, force: boolean): Promise<{ compacted: number; made: LayerFile[] }> {
  const l0 = l0Layers(t);
  if (l0.length === 0 || (l0.length < t.config.compactionL0LayersMin && !force)) return { compacted: 0, made: [] };
  if (l0.length === 1) {
    // Merging one layer would rewrite it unchanged: it becomes L1 where it is.
    const only = l0[0] as HistoricLayer;
    t.replaceLayers([], [], only.descriptor.lsnEnd);
    return { compacted: 1, made: [] };
  }
  const lsnStart = (l0[0] as HistoricLayer).descriptor.lsnStart;
  const lsnEnd = (l0[l0.length - 1] as HistoricLayer).descriptor.lsnEnd;
  const target = t.config.compactionLayerBytesTarget;
  const made: LayerFile[] = [];
  let writer: LayerWriter | undefined;
  const finishWriter = (): void => {
    if (writer === undefined) return;
    const w = writer;
    writer = undefined;
    made.push(LayerFile.open(w.finish(nextKey(w.lastKey as Key))));
  };
  try {
    let n = 0;
    let previousKey: Key | undefined;
    for (const { layer, entry } of mergeEntries(l0)) {
      if (writer !== undefined && entry.key !== previousKey && writer.bytes >= target) finishWriter();
      writer ??= new LayerWriter(t.dir, { kind: LayerKind.Delta, keys: { start: entry.key, end: maxKeyOf(l0) }, lsnStart, lsnEnd });
      writer.addStored(entry.key, entry.lsn, entry.flags, layer.readStored(entry.offset, entry.length, entry.crc, entry.key), entry.crc);
      previousKey = entry.key;
      if (++n % YIELD_EVERY_ENTRIES === 0) await yieldToEventLoop();
    }
    finishWriter();
  } catch (e) {
    writer?.abort();
    for (const f of made) f.close();
    throw e;
  }
  t.replaceLayers(l0, made, lsnEnd);
  return { compacted: l0.length, made };
}

function maxKeyOf(layers: readonly HistoricLayer[]): Key {
  return layers.reduce((m, l) => (l.descriptor.keys.end > m ? l.descriptor.keys.end : m), layers[0]?.descriptor.keys.end as Key);
}

/**
 * Every entry of `layers` (L0 layers, oldest first, with disjoint LSN ranges) in (key, LSN) order:
 * a k-way merge by key; among equal keys the older layer comes first, which is LSN order.
 */
function* mergeEntries(layers: readonly HistoricLayer[]): Generator<{ layer: LayerFile; entry: LayerEntry }> {
  const iterators = layers.map((l) => l.entries());
  const heads: (LayerEntry | undefined)[] = iterators.map((it) => it.next().value ?? undefined);
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i];
      if (h !== undefined && (best < 0 || h.key < (heads[best] as LayerEntry).key)) best = i;
    }
    if (best < 0) return;
    yield { layer: layers[best] as LayerFile, entry: heads[best] as LayerEntry };
    heads[best] = (iterators[best] as Generator<LayerEntry>).next().value ?? undefined;
  }
}

/** The key ranges of the newest band of L1 layers (for a forced image pass with no fresh L1s). */
function keyRangesOfNewestBand(t: Timeline): KeyRange[] {
  const deltas = t.layers.filter((l) => l.descriptor.kind === LayerKind.Delta && l.descriptor.lsnEnd <= t.compactedLsnNumber);
  const top = Math.max(...deltas.map((l) => l.descriptor.lsnEnd));
  return deltas.filter((l) => l.descriptor.lsnEnd === top).map((l) => l.descriptor.keys);
}

/** How many delta layers overlapping `range` lie above the newest image layer that covers all of it. */
export function deltaDepth(t: Timeline, range: KeyRange): number {
  const layers = t.layerMap.overlapping(range.start, range.end);
  const image = layers.find((l) => l.descriptor.kind === LayerKind.Image && l.descriptor.keys.start <= range.start && range.end <= l.descriptor.keys.end);
  const imageLsn = image?.descriptor.lsnStart ?? -1;
  return layers.filter((l) => l.descriptor.kind === LayerKind.Delta && l.descriptor.lsnEnd - 1 > imageLsn).length;
}

/** Makes an image layer at the compacted LSN for each range whose delta depth reached the threshold. */
async function createImageLayers(t: Timeline, ranges: readonly KeyRange[]): Promise<{ created: number; errors: string[] }> {
  const lsn = t.compactedLsnNumber - 1;
  const errors: string[] = [];
  let created = 0;
  // An ancestor behind the branch point (a restart; see Timeline.ancestorBehind) would bake its stale
  // pages into the image: make none until its WAL is replayed. A later compaction makes them.
  if (lsn < 0 || t.ancestorBehind(lsn) !== undefined) return { created, errors };
  // Below the consistent LSN (a base backup's files, WAL not yet replayed to its end) pages are a mix
  // of older and newer states, and a page may not reconstruct at all: no read may start there.
  if (lsn < t.consistentLsnNumber) return { created, errors };
  for (const range of ranges) {
    if (deltaDepth(t, range) < t.config.imageLayerDeltasMin) continue;
    const same = (l: HistoricLayer) => l.descriptor.kind === LayerKind.Image && l.descriptor.lsnStart === lsn && l.descriptor.keys.start === range.start && l.descriptor.keys.end === range.end;
    if (t.layers.some(same)) continue;
    const keys = [...keysAt(t, range, lsn)].sort();
    if (keys.length === 0) continue;
    const writer = new LayerWriter(t.dir, { kind: LayerKind.Image, keys: range, lsnStart: lsn, lsnEnd: lsn + 1 });
    try {
      let n = 0;
      for (const key of keys) {
        writer.add(key, lsn, VALUE_KIND_IMAGE, await t.reconstructAt(key, lsn));
        if (++n % YIELD_EVERY_ENTRIES === 0) await yieldToEventLoop();
      }
      const path = writer.finish();
      t.replaceLayers([], [LayerFile.open(path)]);
      created++;
    } catch (e) {
      writer.abort();
      errors.push(`image layer for ${range.start}-${range.end} at ${lsn}: ${(e as Error).message}`);
    }
  }
  return { created, errors };
}

/**
 * The keys in `range` that have a value at or below `lsn` on `t` or its ancestors. Walking layers
 * newest first, it stops under an image layer that covers the whole range: that image lists every
 * key that existed there.
 */
export function keysAt(t: Timeline, range: KeyRange, lsn: number, into = new Set<Key>()): Set<Key> {
  t.inMemoryKeys(range.start, range.end, lsn, into);
  // Newest values first: by each layer's newest LSN, so that every delta with values above an image comes before it.
  const top = (l: HistoricLayer) => (l.descriptor.kind === LayerKind.Image ? l.descriptor.lsnStart : l.descriptor.lsnEnd - 1);
  for (const l of t.layerMap.overlapping(range.start, range.end).sort((a, b) => top(b) - top(a))) {
    const d = l.descriptor;
    if (d.lsnStart > lsn) continue;
    for (const e of l.entries(range)) if (e.lsn <= lsn) into.add(e.key);
    if (d.kind === LayerKind.Image && d.keys.start <= range.start && range.end <= d.keys.end) return into;
  }
  if (t.ancestor !== undefined) keysAt(t.ancestor, range, Math.min(lsn, t.ancestorLsn), into);
  return into;
}
