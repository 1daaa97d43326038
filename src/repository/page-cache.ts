/**
 * The materialised page cache (seed 002): pages redo has produced, bounded by bytes, evicted by
 * CLOCK (second chance), which approximates least recently used: a hit only sets a flag, because
 * moving the entry to the back of the Map on every hit (delete + set) was the page service's
 * largest single cost at tens of thousands of GetPage/s; eviction moves flagged entries back once. One entry per (timeline, key): the newest page made for it and its LSN. A read at
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
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, Entry];
      this.entries.delete(oldestKey);
      if (oldest.used && oldestKey !== k) {
        // Second chance: to the back, unflagged.
        oldest.used = false;
        this.entries.set(oldestKey, oldest);
        continue;
      }
      this.size -= oldest.bytes.length;
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
