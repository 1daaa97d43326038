/**
 * Flushing a frozen in-memory layer into an L0 delta layer file, off the main thread. Ingest keeps
 * putting values while the previous layer is sorted, compressed, checksummed and written: the work
 * PostgreSQL's checkpointer and background writer take off its startup process during recovery.
 *
 * The timeline (timeline.ts flushFrozen) hands over a `FlushJob`: the frozen layer's chunks of shared
 * memory (read in place), its ephemeral file if values spilled there (complete on disk: freeze wrote
 * its buffer out) and its index as flat arrays. A worker thread
 * (layer-flush-worker.ts) sorts the index, writes the layer file with LayerWriter (temporary name,
 * fsync, rename, folder fsync: DESIGN.md invariant 3) and answers with its path. Only then does the
 * timeline open the file, put it in the layer map and write the metadata that names it, on the main
 * thread, as before: the worker never changes what a reader or a restart sees.
 *
 * One worker serves every timeline of the process, one job at a time (a second core is what there
 * is to win). It keeps the process alive only while a job is under way. When the worker cannot be
 * started or dies, the job fails with FLUSH_FAILED and the next one starts a new worker; the frozen
 * layer stays in memory and readable, as for any failed flush.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { RepositoryError } from './errors.js';
import { KEY_HEX_LENGTH, type Key } from './key.js';
import { LayerWriter, type LayerDescriptor } from './layer-file.js';

/**
 * Values that spilled to a frozen layer's ephemeral file, up to this size, are read back whole, in
 * one read, to be flushed: they come out in key order, scattered over the file, and one pread per
 * value cost more than the rest of the flush (bench/repository). Beyond it they are read one by one.
 */
const FLUSH_READ_WHOLE_BYTES_MAX = 256 << 20;
/**
 * Numbers per value in a flush job, as InMemoryLayer keeps them: LSN, offset (see CHUNK_OFFSET_SCALE),
 * length, flags, and the entry of the key's previous value (-1 for its first).
 */
export const FLUSH_ENTRY = 5;
/**
 * An offset at or above 0 is a place in the layer's chunks: chunk `floor(offset / CHUNK_OFFSET_SCALE)`,
 * byte `offset % CHUNK_OFFSET_SCALE`. One below 0 is a place in the ephemeral file: byte `-offset - 1`.
 */
export const CHUNK_OFFSET_SCALE = 2 ** 32;
/** Hex digits of a key before its last field (kind, relation, fork: see InMemoryLayer). */
export const KEY_PREFIX_LENGTH = KEY_HEX_LENGTH - 8;
/** Below this many keys under one prefix, they are sorted packed into numbers (see sortedByField). */
const FIELD_SORT_PACKED_KEYS_MAX = 2 ** 21;

/**
 * What the worker needs to write one frozen in-memory layer as an L0 delta layer file: the layer's
 * values where they are (shared memory, and the ephemeral file for those that spilled) and its index
 * as it is, with no key string built on the main thread (the worker makes the keys, sorts them and
 * follows each key's chain of values).
 */
export interface FlushJob {
  /** The frozen layer's ephemeral file (its name in messages; read only if fileBytes > 0). */
  readonly ephemeralPath: string;
  /** Bytes of values in the ephemeral file. */
  readonly fileBytes: number;
  /** The layer's chunks of values, shared with the main thread, which writes no more to them. */
  readonly chunks: readonly SharedArrayBuffer[];
  /** Bytes of values in all. */
  readonly bytes: number;
  /** The timeline folder the layer file goes into. */
  readonly dir: string;
  readonly descriptor: LayerDescriptor;
  /** The keys' prefixes, each KEY_PREFIX_LENGTH hex digits, concatenated. */
  readonly prefixes: string;
  /** Per prefix, how many keys have it. */
  readonly prefixKeys: Uint32Array;
  /** Per key, prefix after prefix: its last field (a block number) and the entry of its newest value. */
  readonly fields: Float64Array;
  readonly newest: Float64Array;
  /** FLUSH_ENTRY numbers per value. */
  readonly entries: Float64Array;
}

/** The indexes first .. first + count - 1 of `fields`, ordered by their field (`packedKeysMax`: for tests). */
export function sortedByField(fields: Float64Array, first: number, count: number, packedKeysMax = FIELD_SORT_PACKED_KEYS_MAX): ArrayLike<number> & Iterable<number> {
  if (count >= packedKeysMax) {
    // An import's layer can hold more blocks of one fork than that: a plain sort, slower but exact.
    return Array.from({ length: count }, (_, i) => first + i).sort((a, b) => (fields[a] as number) - (fields[b] as number));
  }
  // field * 2^21 + the key's place among its prefix's, in a typed array's native sort: exact below 2^53.
  const packed = new Float64Array(count);
  for (let i = 0; i < count; i++) packed[i] = (fields[first + i] as number) * FIELD_SORT_PACKED_KEYS_MAX + i;
  packed.sort();
  for (let i = 0; i < count; i++) packed[i] = first + ((packed[i] as number) % FIELD_SORT_PACKED_KEYS_MAX);
  return packed;
}

/** Reads `length` bytes at `offset`, all of them. */
function readAt(fd: number, path: string, offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let o = 0;
  while (o < length) {
    const n = readSync(fd, out, o, length - o, offset + o);
    if (n === 0) throw new Error(`assert: ephemeral file ${path} ends inside a value at ${offset}`);
    o += n;
  }
  return out;
}

/**
 * Writes the job's values, in (key, LSN) order, into a new layer file and returns its path once it
 * is durable under its layer name. Runs in the flush worker (and in tests, on any thread).
 */
export function writeFlushJob(job: FlushJob): string {
  const prefixCount = job.prefixKeys.length;
  const keyCount = job.fields.length;
  if (job.prefixes.length !== prefixCount * KEY_PREFIX_LENGTH) throw new Error(`assert: a flush job of ${prefixCount} key prefixes has ${job.prefixes.length} prefix characters`);
  if (job.newest.length !== keyCount) throw new Error(`assert: a flush job of ${keyCount} keys has ${job.newest.length} newest entries`);
  // Key order without comparing key strings (that sort was a good part of a flush, which the final
  // flush of an ingest waits for): the prefixes in string order, then each prefix's keys by their
  // last field as a number (fixed-width hex orders as the number does).
  const prefixes: { prefix: string; first: number; count: number }[] = [];
  let k = 0;
  for (let p = 0; p < prefixCount; p++) {
    const count = job.prefixKeys[p] as number;
    prefixes.push({ prefix: job.prefixes.slice(p * KEY_PREFIX_LENGTH, (p + 1) * KEY_PREFIX_LENGTH), first: k, count });
    k += count;
  }
  if (k !== keyCount) throw new Error(`assert: a flush job's prefixes count ${k} keys, it has ${keyCount}`);
  prefixes.sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
  const keys: Key[] = new Array<Key>(keyCount);
  const order = new Array<number>(keyCount);
  let n = 0;
  for (const { prefix, first, count } of prefixes) {
    for (const at of sortedByField(job.fields, first, count)) {
      keys[at] = (prefix + (job.fields[at] as number).toString(16).padStart(8, '0')) as Key;
      order[n++] = at;
    }
  }
  const e = job.entries;
  const chain: number[] = [];
  const chunks = job.chunks.map((c) => new Uint8Array(c));

  const fd = job.fileBytes > 0 ? openSync(job.ephemeralPath, 'r') : undefined;
  const writer = new LayerWriter(job.dir, job.descriptor);
  try {
    const whole = fd !== undefined && job.fileBytes <= FLUSH_READ_WHOLE_BYTES_MAX ? readAt(fd, job.ephemeralPath, 0, job.fileBytes) : undefined;
    const value = (offset: number, length: number): Uint8Array => {
      if (offset >= 0) {
        const c = Math.floor(offset / CHUNK_OFFSET_SCALE);
        const at = offset - c * CHUNK_OFFSET_SCALE;
        return (chunks[c] as Uint8Array).subarray(at, at + length);
      }
      const position = -offset - 1;
      if (whole !== undefined) return whole.subarray(position, position + length);
      return readAt(fd as number, job.ephemeralPath, position, length);
    };
    for (const k of order) {
      const key = keys[k] as Key;
      // The chain runs newest first; the file wants each key's values oldest first.
      chain.length = 0;
      for (let i = job.newest[k] as number; i >= 0; i = e[i * FLUSH_ENTRY + 4] as number) chain.push(i);
      for (let c = chain.length - 1; c >= 0; c--) {
        const o = (chain[c] as number) * FLUSH_ENTRY;
        writer.add(key, e[o] as number, e[o + 3] as number, value(e[o + 1] as number, e[o + 2] as number));
      }
    }
    return writer.finish();
  } catch (e) {
    writer.abort();
    throw e;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

// ---- the worker, seen from the main thread ----

/** Messages from layer-flush-worker.ts. */
export type FlushReply = { readonly id: number; readonly path: string } | { readonly id: number; readonly error: string };

/** A module the worker imports before its first job, with data for it (the crash test's fault points). */
export interface FlushWorkerSetup {
  /** A file URL; the module must export `setupFlushWorker(data)`. */
  readonly module: string;
  readonly data: unknown;
}

let setup: FlushWorkerSetup | undefined;

/** Sets what a flush worker started from now on imports first (tests). */
export function configureFlushWorker(s: FlushWorkerSetup | undefined): void {
  setup = s;
}

interface Pending {
  readonly resolve: (path: string) => void;
  readonly reject: (e: Error) => void;
  readonly what: string;
}

class FlushWorker {
  private worker: Worker | undefined;
  /** Jobs sent, per worker: a worker that dies fails its own jobs, not those of the one after it. */
  private readonly pending = new Map<Worker, Map<number, Pending>>();
  private nextId = 1;

  write(job: FlushJob): Promise<string> {
    const id = this.nextId++;
    const what = `Cannot flush the in-memory layer ${job.ephemeralPath} into ${job.dir}`;
    return new Promise<string>((resolve, reject) => {
      let w: Worker;
      try {
        w = this.started();
      } catch (e) {
        reject(new RepositoryError('FLUSH_FAILED', `${what}: the flush worker could not be started: ${(e as Error).message}`, { cause: e }));
        return;
      }
      (this.pending.get(w) as Map<number, Pending>).set(id, { resolve, reject, what });
      w.ref();
      // The job's arrays move to the worker (transferred, not copied); the layer keeps its own index.
      // Its chunks are shared: the layer writes no more to them, and gives them back only once this job is done.
      w.postMessage({ id, job }, [job.prefixKeys.buffer as ArrayBuffer, job.fields.buffer as ArrayBuffer, job.newest.buffer as ArrayBuffer, job.entries.buffer as ArrayBuffer]);
    });
  }

  private started(): Worker {
    if (this.worker !== undefined) return this.worker;
    const w = new Worker(new URL('./layer-flush-worker.js', import.meta.url), { workerData: { setup } });
    const jobs = new Map<number, Pending>();
    this.pending.set(w, jobs);
    w.unref();
    w.on('message', (m: FlushReply) => {
      const p = jobs.get(m.id);
      if (p === undefined) return;
      jobs.delete(m.id);
      if (jobs.size === 0) w.unref();
      if ('path' in m) p.resolve(m.path);
      else p.reject(new RepositoryError('FLUSH_FAILED', `${p.what}: ${m.error}`));
    });
    const lost = (why: string) => {
      if (this.worker === w) this.worker = undefined;
      for (const p of jobs.values()) p.reject(new RepositoryError('FLUSH_FAILED', `${p.what}: the flush worker ${why}`));
      jobs.clear();
    };
    w.on('error', (e) => lost(`failed: ${e.message}`));
    w.on('exit', (code) => {
      lost(`exited with code ${code}`);
      this.pending.delete(w);
    });
    this.worker = w;
    return w;
  }
}

const flushWorker = new FlushWorker();

/** Writes the job's layer file in the flush worker; resolves with its path once it is durable. */
export function flushInWorker(job: FlushJob): Promise<string> {
  return flushWorker.write(job);
}
