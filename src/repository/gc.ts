/**
 * Garbage collection (seed 002: "Garbage collection"): removes layer files no read can need.
 *
 * Reads are allowed at and above the GC cutoff (the last record LSN less the retention window, in
 * bytes of WAL and, if set, in time) and at the retained points below it: the branch points of
 * child timelines and unexpired LSN leases. A read at P walks down from P and stops at the first
 * image of its key; so a layer is removable when it lies wholly below the cutoff and, for every
 * allowed read point P at or above the layer, image layers at or above the layer's newest LSN and
 * at or below P cover the layer's whole key range. (P = the cutoff stands for every point above it.)
 *
 * The cutoff is made durable before any file goes, so a restart never lets a read below it reach
 * history that is gone.
 */
import { formatLsn } from '../pg/lsn.js';
import { LayerKind } from './layer-file.js';
import type { KeyRange } from './key.js';
import type { HistoricLayer, Timeline } from './timeline.js';

export interface GcResult {
  readonly cutoff: string;
  readonly layersRemoved: number;
  readonly layersKept: number;
  readonly bytesRemoved: number;
}

/** The GC cutoff of `t` now: history within the retention window (bytes and time) stays readable. */
export function gcCutoffOf(t: Timeline, nowMs: number = Date.now()): number {
  const last = t.lastRecordLsnNumber;
  let cutoff = Math.max(0, last - t.config.gcHorizonBytes);
  if (t.config.pitrIntervalMs > 0) {
    // The newest LSN that was already reached when the window began.
    const since = nowMs - t.config.pitrIntervalMs;
    cutoff = Math.min(cutoff, t.lsnReachedBy(since) ?? 0);
  }
  // Only what is on disk: in-memory layers are not GC's to touch. (The cutoff never moves back: see setGcCutoff.)
  return Math.min(cutoff, t.diskConsistentLsnNumber);
}

/** The newest LSN of a layer's values. */
function topLsn(l: HistoricLayer): number {
  return l.descriptor.kind === LayerKind.Image ? l.descriptor.lsnStart : l.descriptor.lsnEnd - 1;
}

/** Whether the union of `ranges` covers all of `target`. */
function covers(ranges: KeyRange[], target: KeyRange): boolean {
  let reached = target.start;
  for (const r of ranges.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))) {
    if (r.start > reached) return false;
    if (r.end > reached) reached = r.end;
    if (reached >= target.end) return true;
  }
  return reached >= target.end;
}

/** Whether reads at `point` can need `layer`: no images between the layer and the point cover its keys. */
function neededAt(layer: HistoricLayer, point: number, images: readonly HistoricLayer[]): boolean {
  const top = topLsn(layer);
  const over = images.filter((i) => i !== layer && i.descriptor.lsnStart >= top && i.descriptor.lsnStart <= point).map((i) => i.descriptor.keys);
  return !covers(over, layer.descriptor.keys);
}

/** Runs GC on `t`: moves its cutoff forward and removes the layers no allowed read needs. */
export function gc(t: Timeline, nowMs: number = Date.now()): Promise<GcResult> {
  return t.runLayerWork(async () => {
    const cutoff = gcCutoffOf(t, nowMs);
    t.setGcCutoff(cutoff);
    const retained = t.retainedLsns();
    const layers = t.layers;
    // Images first, newest first, then deltas; each decision counts only the images still kept. Two
    // image layers at one LSN whose ranges overlap (compaction's partitions and its L1 ranges) can
    // each be covered by the other: judged against the whole set, both went, and with them the
    // only copy of their keys at that LSN (the crash test's model read found the gap).
    const order = [...layers].sort((a, b) => (a.descriptor.kind === b.descriptor.kind ? b.descriptor.lsnStart - a.descriptor.lsnStart : a.descriptor.kind === LayerKind.Image ? -1 : 1));
    const images = new Set(layers.filter((l) => l.descriptor.kind === LayerKind.Image));
    const remove: HistoricLayer[] = [];
    for (const l of order) {
      if (l.descriptor.lsnEnd > t.gcCutoffNumber) continue;
      const points = [t.gcCutoffNumber, ...retained.filter((p) => p >= l.descriptor.lsnStart && p < t.gcCutoffNumber)];
      const kept = [...images];
      if (points.every((p) => !neededAt(l, p, kept))) {
        remove.push(l);
        images.delete(l);
      }
    }
    const bytesRemoved = remove.reduce((n, l) => n + ('fileBytes' in l ? l.fileBytes : 0), 0);
    if (remove.length > 0) t.replaceLayers(remove, []);
    return { cutoff: formatLsn(BigInt(t.gcCutoffNumber)), layersRemoved: remove.length, layersKept: layers.length - remove.length, bytesRemoved };
  });
}
