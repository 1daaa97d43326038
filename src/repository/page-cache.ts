/**
 * The materialised page cache (seed 002): pages redo has produced, bounded by bytes, least recently
 * used out first. One entry per (timeline, key): the newest page made for it and its LSN. A read at
 * that LSN or above starts from the cached page and applies only the records above it, so a page
 * read again and again at the moving "latest" LSN costs the records since the last read, not its
 * whole history. History is immutable, so an entry never goes stale; GC and compaction leave it be.
 */
import type { Key } from './key.js';

export interface CachedPage {
  readonly lsn: number;
  readonly bytes: Uint8Array;
}

export class PageCache {
  private readonly entries = new Map<string, CachedPage>();
  private size = 0;
  hits = 0;
  misses = 0;

  constructor(readonly bytesMax: number) {}

  get bytes(): number {
    return this.size;
  }

  /** The cached page of `key` on `timelineId` made at or below `lsn`, if any. */
  get(timelineId: string, key: Key, lsn: number): CachedPage | undefined {
    const k = timelineId + key;
    const e = this.entries.get(k);
    if (e === undefined || e.lsn > lsn) {
      this.misses++;
      return undefined;
    }
    this.entries.delete(k);
    this.entries.set(k, e);
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
      this.entries.delete(k);
      this.size -= old.bytes.length;
    }
    this.entries.set(k, { lsn, bytes });
    this.size += bytes.length;
    while (this.size > this.bytesMax) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, CachedPage];
      this.entries.delete(oldestKey);
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
