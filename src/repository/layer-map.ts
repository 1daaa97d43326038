/**
 * The layer map: which historic layer to read next for key K below LSN L (seed 002: "layer map"),
 * found without scanning every layer. Layers change rarely (a flush, a compaction, a GC) and are
 * read on every GetPage, so the map is an immutable index rebuilt on each change: the key space is
 * cut at every layer's range ends into segments, and each segment lists the delta layers and the
 * image layers that cover it, newest first. A search is two binary searches.
 *
 * Within one timeline, the delta layers that cover a key never overlap in LSN (L0 layers follow one
 * another, and an L1 layer replaces exactly the L0 layers it was made from). Image layers sit at
 * one LSN, possibly inside a delta layer's range.
 */
import type { Key } from './key.js';
import { LayerKind, type LayerDescriptor } from './layer-file.js';

/** What the map needs of a layer. */
export interface MapLayer {
  readonly descriptor: LayerDescriptor;
}

/** The next layer to read for a key and the LSN at which to stop reading it (its values with LSN >= floor). */
export interface SearchResult<L> {
  readonly layer: L;
  readonly floor: number;
}

interface Segment<L> {
  /** Delta layers, by LSN start descending. */
  readonly deltas: L[];
  /** Image layers, by LSN descending. */
  readonly images: L[];
}

export class LayerMap<L extends MapLayer> {
  private readonly bounds: Key[];
  private readonly segments: Segment<L>[];

  constructor(readonly layers: readonly L[]) {
    const cuts = new Set<Key>();
    for (const l of layers) {
      cuts.add(l.descriptor.keys.start);
      cuts.add(l.descriptor.keys.end);
    }
    this.bounds = [...cuts].sort();
    this.segments = this.bounds.map(() => ({ deltas: [], images: [] }));
    for (const l of layers) {
      const first = this.segmentOf(l.descriptor.keys.start);
      for (let i = first; i < this.bounds.length && (this.bounds[i] as Key) < l.descriptor.keys.end; i++) {
        const s = this.segments[i] as Segment<L>;
        (l.descriptor.kind === LayerKind.Delta ? s.deltas : s.images).push(l);
      }
    }
    for (const s of this.segments) {
      s.deltas.sort((a, b) => b.descriptor.lsnStart - a.descriptor.lsnStart);
      s.images.sort((a, b) => b.descriptor.lsnStart - a.descriptor.lsnStart);
    }
  }

  /** A new map with `remove` taken out and `add` put in. */
  replace(remove: readonly L[], add: readonly L[]): LayerMap<L> {
    const gone = new Set<L>(remove);
    return new LayerMap([...this.layers.filter((l) => !gone.has(l)), ...add]);
  }

  /** The segment holding `key`: the last bound at or below it, or -1. */
  private segmentOf(key: Key): number {
    let lo = 0;
    let hi = this.bounds.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.bounds[mid] as Key) <= key) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /**
   * The layer to read next for `key`'s values below `below`: the newest delta layer starting below
   * it, or the newest image layer below it when that is at least as new as the delta's values.
   * When an image lies inside the delta's range, the delta is read down to just above the image.
   */
  search(key: Key, below: number): SearchResult<L> | undefined {
    const i = this.segmentOf(key);
    if (i < 0) return undefined;
    return searchSegment(this.segments[i] as Segment<L>, below);
  }

  /**
   * What search() gives for the keys of [start, end) below `below`, for the keys from `start` to the
   * returned `end` (at most `end`: as far as the answer stays the same): one image layer (each key's
   * value is in it, or the key does not exist there), 'none' (no layer holds any of the keys: reads
   * go on to the ancestor), or undefined (a delta layer: read the keys one by one). A bulk read (a
   * base backup's relation files) then reads such a range's values from that one file in key order.
   */
  imageLayerCovering(start: Key, end: Key, below: number): { layer: L | 'none' | undefined; end: Key } {
    const answer = (i: number): L | 'none' | undefined => {
      // Keys below the first bound: no layer holds them.
      if (i < 0) return 'none';
      const r = searchSegment(this.segments[i] as Segment<L>, below);
      if (r === undefined) return 'none';
      return r.layer.descriptor.kind === LayerKind.Image ? r.layer : undefined;
    };
    let i = this.segmentOf(start);
    const layer = answer(i);
    // Segment i + 1 starts at bounds[i + 1]: extend while the next segments answer the same.
    for (i++; i < this.bounds.length && (this.bounds[i] as Key) < end; i++) {
      if (layer === undefined || answer(i) !== layer) return { layer, end: this.bounds[i] as Key };
    }
    return { layer, end };
  }

  /** Layers whose key range overlaps [start, end), newest first by LSN start. */
  overlapping(start: Key, end: Key): L[] {
    return this.layers
      .filter((l) => l.descriptor.keys.start < end && start < l.descriptor.keys.end)
      .sort((a, b) => b.descriptor.lsnStart - a.descriptor.lsnStart);
  }
}

/** search() within one segment of the key space. */
function searchSegment<L extends MapLayer>(s: Segment<L>, below: number): SearchResult<L> | undefined {
  const delta = firstBelow(s.deltas, below);
  const image = firstBelow(s.images, below);
  if (image !== undefined) {
    const imageLsn = image.descriptor.lsnStart;
    // The delta's values that matter are below min(its end, below).
    if (delta === undefined || imageLsn + 1 >= Math.min(delta.descriptor.lsnEnd, below)) return { layer: image, floor: imageLsn };
    if (imageLsn >= delta.descriptor.lsnStart) return { layer: delta, floor: imageLsn + 1 };
  }
  return delta === undefined ? undefined : { layer: delta, floor: delta.descriptor.lsnStart };
}

/** The first layer (in descending LSN start order) whose LSN start is below `below`. */
function firstBelow<L extends MapLayer>(layers: readonly L[], below: number): L | undefined {
  let lo = 0;
  let hi = layers.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((layers[mid] as L).descriptor.lsnStart < below) hi = mid;
    else lo = mid + 1;
  }
  return layers[lo];
}
