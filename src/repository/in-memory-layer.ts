/**
 * The in-memory layer: where a timeline's newest values land as ingest writes them, until the layer
 * is frozen and flushed into an L0 delta layer file (seed 002: "in-memory layer") by the flush
 * worker thread (layer-flush.ts), which reads the values back from the ephemeral file. The values go
 * to that file as they arrive; the JavaScript heap holds only the index, per key the LSN, offset,
 * length and flags of each value. Reads of values not yet written out come from the write
 * buffer. The ephemeral file is not durable, nor does it need to be: the WAL log holds everything
 * above the disk-consistent LSN, and a restart replays it; a restart deletes leftover files.
 */
import { closeSync, openSync, readSync, unlink } from 'node:fs';
import { AppendWriter } from './append-writer.js';
import type { Key } from './key.js';
import type { FoundValue, LayerDescriptor } from './layer-file.js';
import { FLUSH_ENTRY, KEY_PREFIX_LENGTH, type FlushJob } from './layer-flush.js';
import { valueStartsHistory } from './value.js';

/** Numbers per value: LSN, offset, length, flags, then the entry of the key's previous value (-1 for its first); flush jobs carry them as they are. */
const ENTRY = FLUSH_ENTRY;
const PREVIOUS = 4;
/**
 * Keys are indexed by their first KEY_PREFIX_LENGTH hex digits (kind, relation, fork: the same for
 * every block of a fork), then by the last field as a number (the block number). Ingest hands the
 * fork's prefix string it keeps (already hashed by V8) and the block number (putBlock), so a put
 * builds no key string: making and hashing a 36-digit key per block cost more than the rest of a put.
 */
const INITIAL_ENTRIES = 1024;

function keyOf(prefix: string, field: number): Key {
  return (prefix + field.toString(16).padStart(8, '0')) as Key;
}

export class InMemoryLayer {
  private readonly fd: number;
  /** Per key prefix, per last field, the entry of the key's newest value. */
  private readonly index = new Map<string, Map<number, number>>();
  /** ENTRY numbers per value, in the order they were put. */
  private entries = new Float64Array(INITIAL_ENTRIES * ENTRY);
  private keys = 0;
  private readonly out: AppendWriter;
  private values = 0;
  private endLsn: number | undefined;
  private maxLsn = -1;
  private minLsn = Number.MAX_SAFE_INTEGER;
  private deleted = false;
  readonly createdAtMs = Date.now();

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
    const first = prefixes[0] as string;
    const last = prefixes[prefixes.length - 1] as string;
    let min = Infinity;
    for (const f of (this.index.get(first) as Map<number, number>).keys()) if (f < min) min = f;
    let max = -1;
    for (const f of (this.index.get(last) as Map<number, number>).keys()) if (f > max) max = f;
    return { start: keyOf(first, min), end: keyOf(last, max) };
  }

  /** Appends a value; LSNs of one key must not go down. */
  put(key: Key, lsn: number, flags: number, bytes: Uint8Array): void {
    this.putAt(key.slice(0, KEY_PREFIX_LENGTH), parseInt(key.slice(KEY_PREFIX_LENGTH), 16), lsn, flags, bytes);
  }

  /**
   * put() of the key made of `prefix` (its first KEY_PREFIX_LENGTH hex digits, relBlockKeyPrefix)
   * and `field` (its last four bytes: a block number).
   */
  putAt(prefix: string, field: number, lsn: number, flags: number, bytes: Uint8Array): void {
    if (this.endLsn !== undefined) throw new Error('assert: put into a frozen in-memory layer');
    if (lsn < this.lsnStart) throw new Error(`assert: put at LSN ${lsn} below the layer's start ${this.lsnStart}`);
    let fields = this.index.get(prefix);
    if (fields === undefined) {
      if (prefix.length !== KEY_PREFIX_LENGTH) throw new Error(`assert: key prefix ${prefix} is not ${KEY_PREFIX_LENGTH} hex digits`);
      fields = new Map();
      this.index.set(prefix, fields);
    }
    const previous = fields.get(field);
    if (previous === undefined) {
      this.keys++;
    } else if ((this.entries[previous * ENTRY] as number) > lsn) {
      throw new Error(`assert: put of ${keyOf(prefix, field)} at LSN ${lsn} below its newest value`);
    }
    const i = this.values;
    if ((i + 1) * ENTRY > this.entries.length) {
      const grown = new Float64Array(this.entries.length * 2);
      grown.set(this.entries);
      this.entries = grown;
    }
    const e = this.entries;
    const o = i * ENTRY;
    e[o] = lsn;
    e[o + 1] = this.out.position;
    e[o + 2] = bytes.length;
    e[o + 3] = flags;
    e[o + PREVIOUS] = previous ?? -1;
    fields.set(field, i);
    if (lsn > this.maxLsn) this.maxLsn = lsn;
    if (lsn < this.minLsn) this.minLsn = lsn;
    this.out.append(bytes);
    this.values = i + 1;
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
    const newest = this.index.get(key.slice(0, KEY_PREFIX_LENGTH))?.get(parseInt(key.slice(KEY_PREFIX_LENGTH), 16));
    if (newest === undefined) return false;
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
      for (const [field, newest] of fields) {
        const key = keyOf(prefix, field);
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
    this.out.flush();
  }

  /**
   * The flush worker's job for this frozen layer (layer-flush.ts): its ephemeral file and its index
   * as flat arrays, which the worker sorts and writes out as an L0 delta layer file in `dir`.
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
      for (const [field, entry] of byField) {
        fields[k] = field;
        newest[k++] = entry;
      }
    }
    // A copy: the layer is read from until its file is in the layer map.
    const entries = this.entries.slice(0, this.values * ENTRY);
    return { ephemeralPath: this.path, bytes: this.bytes, dir, descriptor, prefixes: prefixes.join(''), prefixKeys, fields, newest, entries };
  }

  /** Closes and removes the ephemeral file. */
  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    closeSync(this.fd);
    // In the background: unlinking a file whose pages are cached frees them, which cost ingest a
    // twentieth of its time when done here. Its name is never reused (timeline.ts); a restart
    // removes it if the process ends first.
    unlink(this.path, () => undefined);
  }
}

