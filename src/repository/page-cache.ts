/**
 * The materialised page cache (seed 002): pages redo has produced, bounded by bytes, evicted by
 * CLOCK (second chance), which approximates least recently used: a hit only sets a flag, because
 * moving the entry to the back of the Map on every hit (delete + set) was the page service's
 * largest single cost at tens of thousands of GetPage/s; the eviction hand unflags a flagged entry
 * and passes it over once. One entry per (timeline, key): the newest page made for it and its LSN. A read at
 * that LSN or above starts from the cached page and applies only the records above it, so a page
 * read again and again at the moving "latest" LSN costs the records since the last read, not its
 * whole history. History is immutable, so an entry never goes stale; GC and compaction leave it be.
 */
import type { Key } from './key.js';

export interface CachedPage {
  readonly lsn: number;
  readonly bytes: Uint8Array;
}

interface Entry extends CachedPage {
  /** Read since eviction last passed it. */
  used: boolean;
}

export class PageCache {
  private readonly entries = new Map<string, Entry>();
  private hand: MapIterator<[string, Entry]> = this.entries.entries();
  private size = 0;
  hits = 0;
  misses = 0;

  constructor(readonly bytesMax: number) {}

  get bytes(): number {
    return this.size;
  }

  /** The cached page of `key` on `timelineId` made at or below `lsn`, if any. */
  get(timelineId: string, key: Key, lsn: number): CachedPage | undefined {
    const e = this.entries.get(timelineId + key);
    if (e === undefined || e.lsn > lsn) {
      this.misses++;
      return undefined;
    }
    e.used = true;
    this.hits++;
    return e;
  }

  /** Remembers `bytes` as `key` at `lsn`, unless a newer page is cached. */
  put(timelineId: string, key: Key, lsn: number, bytes: Uint8Array): void {
    if (bytes.length > this.bytesMax) return;
    const k = timelineId + key;
    const old = this.entries.get(k);
    if (old !== undefined) {
      if (old.lsn >= lsn) return;
      this.size -= old.bytes.length;
    }
    // A new object, in the old one's place: a caller may still hold the old one.
    this.entries.set(k, { lsn, bytes, used: true });
    this.size += bytes.length;
    while (this.size > this.bytesMax) {
      // The clock hand: one live iterator that goes round the Map. (A fresh entries().next() per
      // eviction starts at the front, where the deleted entries' holes pile up: it was the page
      // service's largest cost on a cold cache.)
      let next = this.hand.next();
      if (next.done === true) {
        this.hand = this.entries.entries();
        next = this.hand.next();
        if (next.done === true) break;
      }
      const [key, e] = next.value;
      if (e.used && key !== k) {
        // Second chance: unflagged, and passed over until the hand comes round again.
        e.used = false;
        continue;
      }
      this.entries.delete(key);
      this.size -= e.bytes.length;
    }
  }

  /** Forgets every page of a timeline (it was deleted). */
  dropTimeline(timelineId: string): void {
    for (const [k, e] of this.entries) {
      if (k.startsWith(timelineId)) {
        this.entries.delete(k);
        this.size -= e.bytes.length;
      }
    }
  }
}
