/**
 * The in-memory layer: where a timeline's newest values land as ingest writes them, until the layer
 * is frozen and flushed into an L0 delta layer file (seed 002: "in-memory layer") by the flush
 * worker thread (layer-flush.ts), which reads the values back from the ephemeral file. The values go
 * to that file as they arrive; the JavaScript heap holds only the index, per key the LSN, offset,
 * length and flags of each value. Reads of values not yet written out come from the write
 * buffer. The ephemeral file is not durable, nor does it need to be: the WAL log holds everything
 * above the disk-consistent LSN, and a restart replays it; a restart deletes leftover files.
 */
import { closeSync, openSync, readSync, unlinkSync } from 'node:fs';
import { AppendWriter } from './append-writer.js';
import type { Key } from './key.js';
import type { FoundValue, LayerDescriptor } from './layer-file.js';
import { FLUSH_SLOT, type FlushJob } from './layer-flush.js';
import { valueStartsHistory } from './value.js';

/** Index slots per value: LSN, offset, length, flags. */
const SLOT = FLUSH_SLOT;

export class InMemoryLayer {
  private readonly fd: number;
  private readonly index = new Map<Key, number[]>();
  private readonly out: AppendWriter;
  private values = 0;
  private endLsn: number | undefined;
  private maxLsn = -1;
  private minLsn = Number.MAX_SAFE_INTEGER;
  private deleted = false;
  readonly createdAtMs = Date.now();
  private minKey: Key | undefined;
  private maxKey: Key | undefined;

  /** `lsnStart`: no value below it may be put here (the previous layer ends there). */
  constructor(
    readonly path: string,
    readonly lsnStart: number,
  ) {
    this.fd = openSync(path, 'w+');
    this.out = new AppendWriter(this.fd, 0);
  }

  /** Bytes of values, written or buffered: the layer's size for the freeze threshold. */
  get bytes(): number {
    return this.out.position;
  }

  get valueCount(): number {
    return this.values;
  }

  get keyCount(): number {
    return this.index.size;
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

  get keyRange(): { start: Key; end: Key } | undefined {
    return this.minKey === undefined || this.maxKey === undefined ? undefined : { start: this.minKey, end: this.maxKey };
  }

  /** Appends a value; LSNs of one key must not go down. */
  put(key: Key, lsn: number, flags: number, bytes: Uint8Array): void {
    if (this.endLsn !== undefined) throw new Error('assert: put into a frozen in-memory layer');
    if (lsn < this.lsnStart) throw new Error(`assert: put at LSN ${lsn} below the layer's start ${this.lsnStart}`);
    let slots = this.index.get(key);
    if (slots === undefined) {
      slots = [];
      this.index.set(key, slots);
      if (this.minKey === undefined || key < this.minKey) this.minKey = key;
      if (this.maxKey === undefined || key > this.maxKey) this.maxKey = key;
    } else if ((slots[slots.length - SLOT] as number) > lsn) {
      throw new Error(`assert: put of ${key} at LSN ${lsn} below its newest value`);
    }
    slots.push(lsn, this.out.position, bytes.length, flags);
    if (lsn > this.maxLsn) this.maxLsn = lsn;
    if (lsn < this.minLsn) this.minLsn = lsn;
    this.out.append(bytes);
    this.values++;
  }

  private read(offset: number, length: number): Uint8Array {
    if (offset >= this.out.flushedEnd) return this.out.readBuffered(offset, length);
    const out = Buffer.allocUnsafe(length);
    let o = 0;
    while (o < length) {
      const n = readSync(this.fd, out, o, length - o, offset + o);
      if (n === 0) throw new Error(`assert: ephemeral file ${this.path} ends inside a value at ${offset}`);
      o += n;
    }
    return out;
  }

  /** As LayerFile.collect: values of `key` with floor <= LSN < below, newest first, to the first that starts its history. */
  collect(key: Key, floor: number, below: number, out: FoundValue[]): boolean {
    const slots = this.index.get(key);
    if (slots === undefined) return false;
    for (let i = slots.length - SLOT; i >= 0; i -= SLOT) {
      const lsn = slots[i] as number;
      if (lsn >= below) continue;
      if (lsn < floor) return false;
      const flags = slots[i + 3] as number;
      out.push({ lsn, flags, bytes: this.read(slots[i + 1] as number, slots[i + 2] as number) });
      if (valueStartsHistory(flags)) return true;
    }
    return false;
  }

  /** Adds to `into` the keys in [start, end) with a value at or below `lsn`. */
  keysIn(start: Key, end: Key, lsn: number, into: Set<Key>): void {
    if (lsn < this.lsnStart) return;
    for (const [key, slots] of this.index) if (key >= start && key < end && (slots[0] as number) <= lsn) into.add(key);
  }

  /** No more puts; the layer covers [lsnStart, lsnEnd). */
  freeze(lsnEnd: number): void {
    if (this.endLsn !== undefined) throw new Error('assert: in-memory layer frozen twice');
    if (lsnEnd < this.lsnStart) throw new Error(`assert: freeze at ${lsnEnd} below the layer's start ${this.lsnStart}`);
    // A record's puts and its advance() happen without an await between them, so none is cut in two.
    if (this.maxLsn >= lsnEnd) throw new Error(`assert: freeze at ${lsnEnd} with a value at ${this.maxLsn}`);
    this.endLsn = lsnEnd;
    this.out.flush();
  }

  /**
   * The flush worker's job for this frozen layer (layer-flush.ts): its ephemeral file and its index
   * as flat arrays, which the worker sorts and writes out as an L0 delta layer file in `dir`.
   */
  flushJob(dir: string, descriptor: LayerDescriptor): FlushJob {
    if (!this.frozen) throw new Error('assert: flushJob of an open in-memory layer');
    const counts = new Uint32Array(this.index.size);
    const slots = new Float64Array(this.values * SLOT);
    const keys: string[] = [];
    let k = 0;
    let s = 0;
    for (const [key, keySlots] of this.index) {
      keys.push(key);
      counts[k++] = keySlots.length / SLOT;
      slots.set(keySlots, s);
      s += keySlots.length;
    }
    return { ephemeralPath: this.path, bytes: this.bytes, dir, descriptor, keys: keys.join(''), counts, slots };
  }

  /** Closes and removes the ephemeral file. */
  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    closeSync(this.fd);
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

