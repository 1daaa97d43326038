/**
 * Compaction (seed 002: "Checkpointing"): keeps reads cheap as history grows.
 *
 * - L0 to L1: flushes leave L0 delta layers, each covering every key its in-memory layer touched
 *   over a short LSN range, so a read may have to look into each. Once there are enough, they are
 *   merged, in (key, LSN) order, into L1 delta layers with disjoint key ranges over their combined
 *   LSN range: one file to look into per key and LSN band.
 * - Image layers: where a key range has many delta layers above its newest image (Neon's
 *   image_creation_threshold), or where many of its keys' newest values are WAL records, so that a
 *   read at the newest LSN would need redo, its keys are reconstructed at the newest compacted LSN
 *   and written as an image layer, so a read starts there. The second rule is strata's: a first
 *   compaction merges the imported images and the WAL that followed into one band of L1 layers,
 *   depth 1, and without it a third of a pgbench database's pages were read through redo for as long
 *   as no further bands came (bench/pagebench). The merge counts those keys as it writes them.
 *
 * - When there are too few L0 layers to merge, image layers are still made where enough of them lie
 *   above the newest image (Neon's create_image_layers runs after every compaction), at the newest
 *   flushed LSN, over partitions of about compactionLayerBytesTarget of pages.
 *
 * Both write new files completely, then swap them in with one metadata replacement (readers see the
 * old set or the new), then delete what they replaced. Memory stays bounded: one index block per
 * input file and one value at a time; image creation also holds one key range's key list, and
 * choosing partitions holds the whole timeline's key list for a moment. Both yield to the event loop
 * as they go, so reads and ingest continue.
 */
import { LayerFile, LayerKind, LayerWriter, type LayerEntry } from './layer-file.js';
import { nextKey, type Key, type KeyRange } from './key.js';
import type { HistoricLayer, Timeline } from './timeline.js';
import { VALUE_KIND_IMAGE, VALUE_KIND_MASK } from './value.js';

const YIELD_EVERY_ENTRIES = 1024;
/** What a partition's key counts as, to cut partitions of about compactionLayerBytesTarget: a page. */
const PAGE_BYTES = 8192;

export interface CompactionResult {
  /** L0 layers merged (0 when there were too few). */
  readonly l0LayersCompacted: number;
  readonly l1LayersCreated: number;
  readonly imageLayersCreated: number;
  /** Image layers that could not be made (a key failed to reconstruct): the reason for each. */
  readonly imageLayerErrors: readonly string[];
  /** Keys of the new L1 layers whose newest value is a record: a read at the newest LSN needed redo for each before the image layers. */
  readonly redoKeys: number;
}

/** A key range to consider for an image layer, and how many of its keys' newest values are records (when the merge counted them). */
interface ImageCandidate {
  readonly range: KeyRange;
  readonly redoKeys: number;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Compacts `t` if it has enough L0 layers (or any, with `force`), then makes image layers where history is deep. */
export function compact(t: Timeline, options: { force?: boolean } = {}): Promise<CompactionResult> {
  const force = options.force === true;
  return t.runLayerWork(async () => {
    const l0 = await compactL0(t, force);
    let candidates: ImageCandidate[];
    let lsn = t.compactedLsnNumber - 1;
    if (l0.made.length > 0) {
      candidates = l0.made.map((l, i) => ({ range: l.descriptor.keys, redoKeys: l0.redoKeys[i] ?? 0 }));
    } else if (force) {
      candidates = keyRangesOfNewestBand(t).map((range) => ({ range, redoKeys: 0 }));
    } else {
      // Nothing merged (fewer L0 layers than compactionL0LayersMin): as Neon's create_image_layers
      // does after any compaction, image the partitions that L0 deltas pile on, at the newest
      // flushed LSN. A server that has followed WAL for a while then reads from images although its
      // deltas were never merged (an import's images sit in an L0 delta layer, not an image layer).
      lsn = t.diskConsistentLsnNumber;
      candidates = deepPartitions(t, lsn).map((range) => ({ range, redoKeys: 0 }));
    }
    const images = await createImageLayers(t, candidates, lsn);
    const redoKeys = l0.redoKeys.reduce((n, k) => n + k, 0);
    return { l0LayersCompacted: l0.compacted, l1LayersCreated: l0.made.length, imageLayersCreated: images.created, imageLayerErrors: images.errors, redoKeys };
  });
}

/** The L0 layers of `t`, oldest first. */
export function l0Layers(t: Timeline): HistoricLayer[] {
  return t.layers
    .filter((l) => l.descriptor.kind === LayerKind.Delta && l.descriptor.lsnStart >= t.compactedLsnNumber)
    .sort((a, b) => a.descriptor.lsnStart - b.descriptor.lsnStart);
}

/**
 * Merges the L0 layers into L1 layers (none if there are too few). `redoKeys[i]` counts the keys of
 * `made[i]` whose newest value is not an image (a record or an op): reads at the newest LSN redo them.
 */
async function compactL0(t: Timeline, force: boolean): Promise<{ compacted: number; made: LayerFile[]; redoKeys: number[] }> {
  const l0 = l0Layers(t);
  if (l0.length === 0 || (l0.length < t.config.compactionL0LayersMin && !force)) return { compacted: 0, made: [], redoKeys: [] };
  if (l0.length === 1) {
    // Merging one layer would rewrite it unchanged: it becomes L1 where it is.
    const only = l0[0] as HistoricLayer;
    t.replaceLayers([], [], only.descriptor.lsnEnd);
    return { compacted: 1, made: [], redoKeys: [] };
  }
  const lsnStart = (l0[0] as HistoricLayer).descriptor.lsnStart;
  const lsnEnd = (l0[l0.length - 1] as HistoricLayer).descriptor.lsnEnd;
  const target = t.config.compactionLayerBytesTarget;
  const made: LayerFile[] = [];
  const redoKeys: number[] = [];
  let writer: LayerWriter | undefined;
  /** The newest value of the key written last is not an image; and the count of such keys in the open writer. */
  let newestIsRecord = false;
  let writerRedoKeys = 0;
  const finishWriter = (): void => {
    if (writer === undefined) return;
    const w = writer;
    writer = undefined;
    made.push(LayerFile.open(w.finish(nextKey(w.lastKey as Key))));
    redoKeys.push(writerRedoKeys);
    writerRedoKeys = 0;
  };
  try {
    let n = 0;
    let previousKey: Key | undefined;
    for (const { layer, entry } of mergeEntries(l0)) {
      if (entry.key !== previousKey) {
        // The previous key's values are all written (LSN order): its last one is its newest.
        if (newestIsRecord) writerRedoKeys++;
        if (writer !== undefined && writer.bytes >= target) finishWriter();
      }
      writer ??= new LayerWriter(t.dir, { kind: LayerKind.Delta, keys: { start: entry.key, end: maxKeyOf(l0) }, lsnStart, lsnEnd });
      writer.addStored(entry.key, entry.lsn, entry.flags, layer.readStored(entry.offset, entry.length, entry.crc, entry.key), entry.crc);
      newestIsRecord = (entry.flags & VALUE_KIND_MASK) !== VALUE_KIND_IMAGE;
      previousKey = entry.key;
      if (++n % YIELD_EVERY_ENTRIES === 0) await yieldToEventLoop();
    }
    if (newestIsRecord) writerRedoKeys++;
    finishWriter();
  } catch (e) {
    writer?.abort();
    for (const f of made) f.close();
    throw e;
  }
  t.replaceLayers(l0, made, lsnEnd);
  return { compacted: l0.length, made, redoKeys };
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

/**
 * Key ranges of about compactionLayerBytesTarget of pages each (Neon's repartition) over the keys of
 * `t` at `lsn` where the delta layers above the newest image layer lie, those with
 * imageLayerDeltasMin or more delta layers above their own newest image. The cheap test first: with
 * fewer delta layers than that above the newest image layer of all, none (no key list is read, as
 * the background loop asks every period).
 */
function deepPartitions(t: Timeline, lsn: number): KeyRange[] {
  const newestImage = t.layers.reduce((m, l) => (l.descriptor.kind === LayerKind.Image && l.descriptor.lsnStart > m ? l.descriptor.lsnStart : m), -1);
  const deltas = t.layers.filter((l) => l.descriptor.kind === LayerKind.Delta && l.descriptor.lsnEnd - 1 > newestImage);
  if (deltas.length < t.config.imageLayerDeltasMin || lsn < 0) return [];
  const whole: KeyRange = {
    start: deltas.reduce((m, l) => (l.descriptor.keys.start < m ? l.descriptor.keys.start : m), (deltas[0] as HistoricLayer).descriptor.keys.start),
    end: maxKeyOf(deltas),
  };
  if (deltaDepth(t, whole) < t.config.imageLayerDeltasMin) return [];
  const keys = [...keysAt(t, whole, lsn)].sort();
  const perPartition = Math.max(1, Math.floor(t.config.compactionLayerBytesTarget / PAGE_BYTES));
  const out: KeyRange[] = [];
  for (let i = 0; i < keys.length; i += perPartition) {
    const range: KeyRange = { start: keys[i] as Key, end: i + perPartition < keys.length ? (keys[i + perPartition] as Key) : nextKey(keys[keys.length - 1] as Key) };
    if (deltaDepth(t, range) >= t.config.imageLayerDeltasMin) out.push(range);
  }
  return out;
}

/** Whether image layers at exactly `lsn` together cover all of `range`. */
function coveredAt(t: Timeline, range: KeyRange, lsn: number): boolean {
  const ranges = t.layers
    .filter((l) => l.descriptor.kind === LayerKind.Image && l.descriptor.lsnStart === lsn)
    .map((l) => l.descriptor.keys)
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let reached = range.start;
  for (const r of ranges) {
    if (r.start > reached) break;
    if (r.end > reached) reached = r.end;
    if (reached >= range.end) return true;
  }
  return reached >= range.end;
}

/** How many delta layers overlapping `range` lie above the newest image layer that covers all of it. */
export function deltaDepth(t: Timeline, range: KeyRange): number {
  const layers = t.layerMap.overlapping(range.start, range.end);
  const image = layers.find((l) => l.descriptor.kind === LayerKind.Image && l.descriptor.keys.start <= range.start && range.end <= l.descriptor.keys.end);
  const imageLsn = image?.descriptor.lsnStart ?? -1;
  return layers.filter((l) => l.descriptor.kind === LayerKind.Delta && l.descriptor.lsnEnd - 1 > imageLsn).length;
}

/**
 * Makes an image layer at the compacted LSN for each range whose delta depth reached the threshold,
 * or where at least imageLayerRedoKeysFractionMin of the keys that exist there at that LSN would be
 * read through redo.
 */
async function createImageLayers(t: Timeline, candidates: readonly ImageCandidate[], lsn: number): Promise<{ created: number; errors: string[] }> {
  const errors: string[] = [];
  let created = 0;
  // An ancestor behind the branch point (a restart; see Timeline.ancestorBehind) would bake its stale
  // pages into the image: make none until its WAL is replayed. A later compaction makes them.
  if (lsn < 0 || t.ancestorBehind(lsn) !== undefined) return { created, errors };
  // Below the consistent LSN (a base backup's files, WAL not yet replayed to its end) pages are a mix
  // of older and newer states, and a page may not reconstruct at all: no read may start there.
  if (lsn < t.consistentLsnNumber) return { created, errors };
  for (const { range, redoKeys } of candidates) {
    const deep = deltaDepth(t, range) >= t.config.imageLayerDeltasMin;
    if (!deep && redoKeys === 0) continue;
    // Image layers at this LSN already hold the range (another pass's partitions): nothing to add.
    if (coveredAt(t, range, lsn)) continue;
    const keys = [...keysAt(t, range, lsn)].sort();
    if (keys.length === 0) continue;
    if (!deep && redoKeys < keys.length * t.config.imageLayerRedoKeysFractionMin) continue;
    const writer = new LayerWriter(t.dir, { kind: LayerKind.Image, keys: range, lsnStart: lsn, lsnEnd: lsn + 1 }, { compressImages: t.config.imageLayerCompression });
    try {
      let n = 0;
      for (const key of keys) {
        // Not into the page cache: a range's every page would push out the pages reads keep using.
        writer.add(key, lsn, VALUE_KIND_IMAGE, await t.reconstructAt(key, lsn, false));
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
