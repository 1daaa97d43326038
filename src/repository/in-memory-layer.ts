/**
 * The in-memory layer: where a timeline's newest values land as ingest writes them, until the layer
 * is frozen and flushed into an L0 delta layer file (seed 002: "in-memory layer") by the flush
 * worker thread (layer-flush.ts).
 *
 * Values are appended into chunks of shared memory (SharedArrayBuffer), which the flush worker reads
 * in place: ingest makes no file write and the worker reads no file back (writing each value to an
 * ephemeral file, then reading the file back to flush it, was a tenth of ingest's time). Past
 * `memoryBytesMax` a layer's further values go to its ephemeral file instead, as every value once
 * did: an import puts a whole data directory into one layer, which must not all sit in memory
 * (the bound is TimelineConfig.inMemoryLayerMemoryBytesMax). The
 * JavaScript heap holds only the index, per key the LSN, place, length and flags of each value.
 *
 * None of it is durable, nor needs to be: the WAL log holds everything above the disk-consistent
 * LSN, and a restart replays it; a restart deletes leftover ephemeral files.
 *
 * Where a value is, as an entry's offset says: at or above 0, in memory, chunk `floor(offset / 2^32)`
 * at `offset % 2^32`; below 0, in the ephemeral file at `-offset - 1`. A value never spans chunks;
 * one bigger than a chunk gets a chunk of its own size.
 */
import { closeSync, openSync, readSync, unlink } from 'node:fs';
import { AppendWriter } from './append-writer.js';
import type { Key } from './key.js';
import type { FoundValue, LayerDescriptor } from './layer-file.js';
import { CHUNK_OFFSET_SCALE, FLUSH_ENTRY, KEY_PREFIX_LENGTH, type FlushJob } from './layer-flush.js';
import { valueStartsHistory } from './value.js';

/** Numbers per value: LSN, offset, length, flags, then the entry of the key's previous value (-1 for its first); flush jobs carry them as they are. */
const ENTRY = FLUSH_ENTRY;
const PREVIOUS = 4;
const INITIAL_ENTRIES = 1024;
/** Keys whose split put() remembers (see InMemoryLayer.recentKeys). */
const RECENT_KEYS = 4;
/** Numbers per slot of a FieldIndex. */
const SLOT = 3;
/** Bytes of one shared-memory chunk of values. */
const CHUNK_BYTES = 1 << 20;

/** Ephemeral files being removed in the background (InMemoryLayer.delete). */
const unlinking = new Set<Promise<void>>();

/** Resolves once every ephemeral file deleted so far is gone: after it, a copy of the folder finds none half-removed. */
export async function ephemeralUnlinks(): Promise<void> {
  await Promise.all(unlinking);
}
/** Bytes of values one layer keeps in memory unless told (TimelineConfig.inMemoryLayerMemoryBytesMax). */
const MEMORY_BYTES_MAX = 256 << 20;
/**
 * Chunks of flushed layers kept for the next layers, in bytes: a fresh SharedArrayBuffer is zeroed
 * memory whose first writes fault every page in, about the cost of the file writes it replaces.
 * Ingest has at most an open layer and one being flushed, each about checkpointDistanceBytes.
 */
const POOL_BYTES_MAX = 48 << 20;
const pool: SharedArrayBuffer[] = [];

function takeChunk(): SharedArrayBuffer {
  return pool.pop() ?? new SharedArrayBuffer(CHUNK_BYTES);
}

/**
 * Something a put copies into the layer itself, where a value made first would be copied twice (a
 * WAL record and its redo header: ingest's block values, codec.ts).
 */
export interface ValueSource {
  readonly byteLength: number;
  /** Writes exactly byteLength bytes at `out[offset]`. */
  copyTo(out: Uint8Array, offset: number): void;
}

/**
 * Per key prefix (a relation fork), its keys' last fields (block numbers), the entry of each one's
 * newest value and that value's LSN: open addressing over one typed array, half full at most. A put
 * to a random block of a big relation misses the CPU caches; all it needs of the key lies in one slot
 * (a Map and the entry array for the LSN check were three misses, most of a put's time).
 */
class FieldIndex {
  /** SLOT numbers per slot: field, newest entry (-1 where the slot is free), newest LSN. */
  slots = FieldIndex.empty(16);
  size = 0;

  private static empty(capacity: number): Float64Array {
    const slots = new Float64Array(capacity * SLOT);
    for (let s = 0; s < capacity; s++) slots[s * SLOT + 1] = -1;
    return slots;
  }

  get capacity(): number {
    return this.slots.length / SLOT;
  }

  /** The slot of `field` (an index into `slots`): its own, or the free one it would take. Makes room first. */
  slot(field: number): number {
    if ((this.size + 1) * 2 > this.capacity) this.grow();
    const slots = this.slots;
    const mask = this.capacity - 1;
    let s = Math.imul(field, 0x9e3779b1) & mask;
    while (slots[s * SLOT + 1]! >= 0 && slots[s * SLOT] !== field) s = (s + 1) & mask;
    return s * SLOT;
  }

  /** The entry of the newest value of `field`, or -1. */
  get(field: number): number {
    const slots = this.slots;
    const mask = this.capacity - 1;
    for (let s = Math.imul(field, 0x9e3779b1) & mask; slots[s * SLOT + 1]! >= 0; s = (s + 1) & mask) if (slots[s * SLOT] === field) return slots[s * SLOT + 1]!;
    return -1;
  }

  private grow(): void {
    const old = this.slots;
    const capacity = this.capacity * 2;
    const mask = capacity - 1;
    const slots = FieldIndex.empty(capacity);
    for (let o = 0; o < old.length; o += SLOT) {
      if (old[o + 1]! < 0) continue;
      let s = Math.imul(old[o]!, 0x9e3779b1) & mask;
      while (slots[s * SLOT + 1]! >= 0) s = (s + 1) & mask;
      slots[s * SLOT] = old[o]!;
      slots[s * SLOT + 1] = old[o + 1]!;
      slots[s * SLOT + 2] = old[o + 2]!;
    }
    this.slots = slots;
  }
}

function keyOf(prefix: string, field: number): Key {
  return (prefix + field.toString(16).padStart(8, '0')) as Key;
}

export class InMemoryLayer {
  /** The ephemeral file, once a value goes there. */
  private fd: number | undefined;
  private out: AppendWriter | undefined;
  /** Per key prefix, its keys (see FieldIndex). */
  private readonly index = new Map<string, FieldIndex>();
  /** The prefix put last and its index: puts of one fork come in runs. */
  private lastPrefix = '';
  private lastIndex: FieldIndex | undefined;
  /** ENTRY numbers per value, in the order they were put. */
  private entries = new Float64Array(INITIAL_ENTRIES * ENTRY);
  private keys = 0;
  private readonly chunks: SharedArrayBuffer[] = [];
  /** A view of the newest chunk and the bytes taken in it. */
  private chunk: Uint8Array = new Uint8Array(0);
  private chunkUsed = 0;
  private memoryBytes = 0;
  private totalBytes = 0;
  private values = 0;
  private endLsn: number | undefined;
  private maxLsn = -1;
  private minLsn = Number.MAX_SAFE_INTEGER;
  private deleted = false;
  /**
   * The last RECENT_KEYS keys given to put() and their prefix and field: ingest puts a few keys over
   * and over besides blocks (the checkpoint, a CLOG page), and slicing and parsing each key, then
   * hashing the new prefix string to find its index, was most of such a put.
   */
  private readonly recentKeys: (Key | undefined)[] = new Array<Key | undefined>(RECENT_KEYS).fill(undefined);
  private readonly recentPrefixes: string[] = new Array<string>(RECENT_KEYS).fill('');
  private readonly recentFields: number[] = new Array<number>(RECENT_KEYS).fill(0);
  private recentNext = 0;
  readonly createdAtMs = Date.now();

  /**
   * `path`: the ephemeral file, made only if values spill (and the layer's name in messages).
   * `lsnStart`: no value below it may be put here (the previous layer ends there).
   * `memoryBytesMax`: values kept in memory, in bytes, before they spill (tests make it small).
   */
  constructor(
    readonly path: string,
    readonly lsnStart: number,
    private readonly memoryBytesMax: number = MEMORY_BYTES_MAX,
  ) {}

  /** Bytes of values kept in shared memory (the rest spilled to the file). */
  get bytesInMemory(): number {
    return this.memoryBytes;
  }

  /** Bytes of values, in memory or in the file: the layer's size for the freeze threshold. */
  get bytes(): number {
    return this.totalBytes;
  }

  get valueCount(): number {
    return this.values;
  }

  get keyCount(): number {
    return this.keys;
  }

  get frozen(): boolean {
    return this.endLsn !== undefined;
  }

  /** The exclusive end of the layer's LSN range; only for a frozen layer. */
  get lsnEnd(): number {
    if (this.endLsn === undefined) throw new Error('assert: lsnEnd of an open in-memory layer');
    return this.endLsn;
  }

  /** The newest LSN of a value put here (-1 when there is none). */
  get highestLsn(): number {
    return this.maxLsn;
  }

  /** The oldest LSN of a value put here (Number.MAX_SAFE_INTEGER when there is none). */
  get lowestLsn(): number {
    return this.minLsn;
  }

  /** The smallest and largest key put here (computed: asked once per flush). */
  get keyRange(): { start: Key; end: Key } | undefined {
    if (this.keys === 0) return undefined;
    const prefixes = [...this.index.keys()].sort();
    const first = this.index.get(prefixes[0] as string) as FieldIndex;
    const last = this.index.get(prefixes[prefixes.length - 1] as string) as FieldIndex;
    let min = Infinity;
    for (let o = 0; o < first.slots.length; o += SLOT) if (first.slots[o + 1]! >= 0 && first.slots[o]! < min) min = first.slots[o]!;
    let max = -1;
    for (let o = 0; o < last.slots.length; o += SLOT) if (last.slots[o + 1]! >= 0 && last.slots[o]! > max) max = last.slots[o]!;
    return { start: keyOf(prefixes[0] as string, min), end: keyOf(prefixes[prefixes.length - 1] as string, max) };
  }

  /** Appends a value; LSNs of one key must not go down. */
  put(key: Key, lsn: number, flags: number, bytes: Uint8Array): void {
    const keys = this.recentKeys;
    let i = 0;
    while (i < RECENT_KEYS && keys[i] !== key) i++;
    if (i === RECENT_KEYS) {
      i = this.recentNext;
      this.recentNext = (i + 1) % RECENT_KEYS;
      keys[i] = key;
      this.recentPrefixes[i] = key.slice(0, KEY_PREFIX_LENGTH);
      this.recentFields[i] = parseInt(key.slice(KEY_PREFIX_LENGTH), 16);
    }
    this.putAt(this.recentPrefixes[i] as string, this.recentFields[i] as number, lsn, flags, bytes);
  }

  /**
   * put() of the key made of `prefix` (its first KEY_PREFIX_LENGTH hex digits, relBlockKeyPrefix)
   * and `field` (its last four bytes: a block number).
   */
  putAt(prefix: string, field: number, lsn: number, flags: number, bytes: Uint8Array): void {
    const at = this.place(prefix, field, lsn, flags, bytes.length);
    if (at >= 0) this.chunk.set(bytes, at);
    else (this.out as AppendWriter).append(bytes);
  }

  /** putAt() of a value the source writes into the layer (no copy of it made first). */
  putFrom(prefix: string, field: number, lsn: number, flags: number, source: ValueSource): void {
    const length = source.byteLength;
    const at = this.place(prefix, field, lsn, flags, length);
    if (at >= 0) {
      source.copyTo(this.chunk, at);
    } else {
      const bytes = Buffer.allocUnsafe(length);
      source.copyTo(bytes, 0);
      (this.out as AppendWriter).append(bytes);
    }
  }

  /**
   * Indexes a value of `length` bytes and makes room for it: returns where it goes in `this.chunk`,
   * or -1 when it goes to the end of the ephemeral file.
   */
  private place(prefix: string, field: number, lsn: number, flags: number, length: number): number {
    if (this.endLsn !== undefined) throw new Error('assert: put into a frozen in-memory layer');
    if (lsn < this.lsnStart) throw new Error(`assert: put at LSN ${lsn} below the layer's start ${this.lsnStart}`);
    let fields = this.lastIndex;
    if (prefix !== this.lastPrefix || fields === undefined) {
      fields = this.index.get(prefix);
      if (fields === undefined) {
        if (prefix.length !== KEY_PREFIX_LENGTH) throw new Error(`assert: key prefix ${prefix} is not ${KEY_PREFIX_LENGTH} hex digits`);
        if (!(field >= 0 && field <= 0xffff_ffff)) throw new Error(`assert: key field ${field} is not a u32`);
        fields = new FieldIndex();
        this.index.set(prefix, fields);
      }
      this.lastPrefix = prefix;
      this.lastIndex = fields;
    }
    const slot = fields.slot(field);
    const slots = fields.slots;
    const previous = slots[slot + 1]!;
    if (previous < 0) {
      slots[slot] = field;
      fields.size++;
      this.keys++;
    } else if (slots[slot + 2]! > lsn) {
      throw new Error(`assert: put of ${keyOf(prefix, field)} at LSN ${lsn} below its newest value`);
    }
    const i = this.values;
    if ((i + 1) * ENTRY > this.entries.length) {
      const grown = new Float64Array(this.entries.length * 2);
      grown.set(this.entries);
      this.entries = grown;
    }
    let offset: number;
    let at: number;
    if (this.memoryBytes + length <= this.memoryBytesMax) {
      if (this.chunkUsed + length > this.chunk.length || this.chunks.length === 0) this.newChunk(length);
      at = this.chunkUsed;
      offset = (this.chunks.length - 1) * CHUNK_OFFSET_SCALE + at;
      this.chunkUsed += length;
      this.memoryBytes += length;
    } else {
      if (this.out === undefined) {
        this.fd = openSync(this.path, 'w+');
        this.out = new AppendWriter(this.fd, 0);
      }
      at = -1;
      offset = -this.out.position - 1;
    }
    const e = this.entries;
    const o = i * ENTRY;
    e[o] = lsn;
    e[o + 1] = offset;
    e[o + 2] = length;
    e[o + 3] = flags;
    e[o + PREVIOUS] = previous;
    slots[slot + 1] = i;
    slots[slot + 2] = lsn;
    if (lsn > this.maxLsn) this.maxLsn = lsn;
    if (lsn < this.minLsn) this.minLsn = lsn;
    this.values = i + 1;
    this.totalBytes += length;
    return at;
  }

  private newChunk(length: number): void {
    const sab = length <= CHUNK_BYTES ? takeChunk() : new SharedArrayBuffer(length);
    this.chunks.push(sab);
    this.chunk = new Uint8Array(sab);
    this.chunkUsed = 0;
  }

  /** A copy of a value (readers keep what they get; the chunks go back to the pool). */
  private read(offset: number, length: number): Uint8Array {
    if (offset >= 0) {
      const c = Math.floor(offset / CHUNK_OFFSET_SCALE);
      const at = offset - c * CHUNK_OFFSET_SCALE;
      return new Uint8Array(this.chunks[c] as SharedArrayBuffer, at, length).slice();
    }
    const position = -offset - 1;
    const out = this.out as AppendWriter;
    if (position >= out.flushedEnd) return out.readBuffered(position, length);
    const bytes = Buffer.allocUnsafe(length);
    let o = 0;
    while (o < length) {
      const n = readSync(this.fd as number, bytes, o, length - o, position + o);
      if (n === 0) throw new Error(`assert: ephemeral file ${this.path} ends inside a value at ${position}`);
      o += n;
    }
    return bytes;
  }

  /** As LayerFile.collect: values of `key` with floor <= LSN < below, newest first, to the first that starts its history. */
  collect(key: Key, floor: number, below: number, out: FoundValue[]): boolean {
    const fields = this.index.get(key.slice(0, KEY_PREFIX_LENGTH));
    if (fields === undefined) return false;
    const newest = fields.get(parseInt(key.slice(KEY_PREFIX_LENGTH), 16));
    const e = this.entries;
    for (let i = newest; i >= 0; i = e[i * ENTRY + PREVIOUS] as number) {
      const o = i * ENTRY;
      const lsn = e[o] as number;
      if (lsn >= below) continue;
      if (lsn < floor) return false;
      const flags = e[o + 3] as number;
      out.push({ lsn, flags, bytes: this.read(e[o + 1] as number, e[o + 2] as number) });
      if (valueStartsHistory(flags)) return true;
    }
    return false;
  }

  /** The LSN of the oldest value of the key whose newest value is entry `newest`. */
  private oldestLsn(newest: number): number {
    const e = this.entries;
    let i = newest;
    for (let p = e[i * ENTRY + PREVIOUS] as number; p >= 0; p = e[p * ENTRY + PREVIOUS] as number) i = p;
    return e[i * ENTRY] as number;
  }

  /** Adds to `into` the keys in [start, end) with a value at or below `lsn`. */
  keysIn(start: Key, end: Key, lsn: number, into: Set<Key>): void {
    if (lsn < this.lsnStart) return;
    const startPrefix = start.slice(0, KEY_PREFIX_LENGTH);
    const endPrefix = end.slice(0, KEY_PREFIX_LENGTH);
    for (const [prefix, fields] of this.index) {
      if (prefix < startPrefix || prefix > endPrefix) continue;
      for (let o = 0; o < fields.slots.length; o += SLOT) {
        const newest = fields.slots[o + 1]!;
        if (newest < 0) continue;
        const key = keyOf(prefix, fields.slots[o]!);
        if (key >= start && key < end && this.oldestLsn(newest) <= lsn) into.add(key);
      }
    }
  }

  /** No more puts; the layer covers [lsnStart, lsnEnd). */
  freeze(lsnEnd: number): void {
    if (this.endLsn !== undefined) throw new Error('assert: in-memory layer frozen twice');
    if (lsnEnd < this.lsnStart) throw new Error(`assert: freeze at ${lsnEnd} below the layer's start ${this.lsnStart}`);
    // A record's puts and its advance() happen without an await between them, so none is cut in two.
    if (this.maxLsn >= lsnEnd) throw new Error(`assert: freeze at ${lsnEnd} with a value at ${this.maxLsn}`);
    this.endLsn = lsnEnd;
    this.out?.flush();
  }

  /**
   * The flush worker's job for this frozen layer (layer-flush.ts): its chunks (shared, not copied),
   * its ephemeral file if values spilled, and its index as flat arrays, which the worker sorts and
   * writes out as an L0 delta layer file in `dir`.
   */
  flushJob(dir: string, descriptor: LayerDescriptor): FlushJob {
    if (!this.frozen) throw new Error('assert: flushJob of an open in-memory layer');
    const prefixes: string[] = [];
    const prefixKeys = new Uint32Array(this.index.size);
    const fields = new Float64Array(this.keys);
    const newest = new Float64Array(this.keys);
    let p = 0;
    let k = 0;
    for (const [prefix, byField] of this.index) {
      prefixes.push(prefix);
      prefixKeys[p++] = byField.size;
      for (let o = 0; o < byField.slots.length; o += SLOT) {
        const n = byField.slots[o + 1]!;
        if (n < 0) continue;
        fields[k] = byField.slots[o]!;
        newest[k++] = n;
      }
    }
    // A copy: the layer is read from until its file is in the layer map.
    const entries = this.entries.slice(0, this.values * ENTRY);
    return {
      ephemeralPath: this.path,
      fileBytes: this.out?.position ?? 0,
      chunks: [...this.chunks],
      bytes: this.totalBytes,
      dir,
      descriptor,
      prefixes: prefixes.join(''),
      prefixKeys,
      fields,
      newest,
      entries,
    };
  }

  /**
   * Drops the layer: closes and removes its ephemeral file, and gives its chunks back to the pool.
   * Only once nothing reads them any more: no flush job of it is under way (readers get copies).
   */
  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    for (const c of this.chunks) if (c.byteLength === CHUNK_BYTES && (pool.length + 1) * CHUNK_BYTES <= POOL_BYTES_MAX) pool.push(c);
    this.chunks.length = 0;
    this.chunk = new Uint8Array(0);
    if (this.fd === undefined) return;
    closeSync(this.fd);
    // In the background: unlinking a file whose pages are cached frees them, which cost ingest a
    // twentieth of its time when done here. Its name is never reused (timeline.ts); a restart
    // removes it if the process ends first; a timeline's shutdown waits for it (ephemeralUnlinks).
    const done = new Promise<void>((resolve) => unlink(this.path, () => resolve()));
    unlinking.add(done);
    void done.then(() => unlinking.delete(done));
  }
}
