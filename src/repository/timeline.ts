/**
 * A timeline: one branch of a tenant's history (seed 002: "Timeline"). Ingest puts values and
 * advances the last record LSN; the page service reads a key at an LSN. Values land in the open
 * in-memory layer; it is frozen when it passes a size or an age and flushed into an L0 delta layer
 * file (written by a worker thread: layer-flush.ts), after which the metadata file (the layer list
 * and the disk-consistent LSN) is replaced.
 * A read walks the in-memory layers, then the historic layers through the layer map, then the
 * ancestor below the branch point, until it has an image or a record that initialises the key, and
 * hands what it found to the tenant's Reconstructor. Compaction and GC (compaction.ts, gc.ts) change
 * the layer set through `replaceLayers`.
 *
 * Folder: `<tenant>/timelines/<timeline id>/` with `metadata.json`, the layer files it names, and
 * `ephemeral-*` files of in-memory layers whose values spilled out of memory (deleted when the timeline is opened).
 *
 * Consistency: a timeline imported from a base backup holds, at the backup's start LSN, files copied
 * while the primary ran; PostgreSQL's recovery makes them consistent by replaying WAL up to the
 * backup's end LSN. Until there the state is a mix of older and newer pages, so reads below the
 * timeline's consistent LSN (metadata.ts) are refused, branches cannot be made there, and compaction
 * makes no image layers there. Ingest reads its own state below it (`getForIngest`), as PostgreSQL's
 * recovery reads its files before it is consistent.
 */
import { readdirSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { formatLsn, type Lsn } from '../pg/lsn.js';
import { INVALID_BLOCK_NUMBER } from '../pg/types.js';
import { mkdirDurable, TEMP_SUFFIX } from './durable.js';
import { RepositoryError } from './errors.js';
import { ephemeralUnlinks, InMemoryLayer, type ValueSource } from './in-memory-layer.js';
import { describeKey, nextKey, relBlockKeyAt, type Key } from './key.js';
import { LayerFile, LayerKind, parseLayerFileName, type FoundValue, type LayerDescriptor, type LayerEntry } from './layer-file.js';
import { flushInWorker } from './layer-flush.js';
import { LayerMap } from './layer-map.js';
import { METADATA_FILE, readMetadata, writeMetadata, type TimelineMetadata } from './metadata.js';
import type { PageCache } from './page-cache.js';
import type { HistoryValue, Reconstructor } from './reconstruct.js';
import { VALUE_KIND_IMAGE, VALUE_KIND_MASK, valueFlags, type Value } from './value.js';

export interface TimelineConfig {
  /** Freeze the open in-memory layer when its values pass this many bytes. */
  readonly checkpointDistanceBytes: number;
  /**
   * A timeline's in-memory layers (the open one and those frozen, not yet flushed) keep this many
   * bytes of values in memory together; the rest go to ephemeral files (in-memory-layer.ts).
   */
  readonly inMemoryLayerMemoryBytesMax: number;
  /** ... or when it is older than this. */
  readonly checkpointTimeoutMs: number;
  /** Compact L0 layers into L1 layers once there are this many. */
  readonly compactionL0LayersMin: number;
  /** Cut L1 delta and image layer files at about this size. */
  readonly compactionLayerBytesTarget: number;
  /** Make an image layer for a key range once this many delta layers lie above its newest image. */
  readonly imageLayerDeltasMin: number;
  /** ... or once at least this fraction of its keys would be read through redo at the newest compacted LSN (compaction.ts). */
  readonly imageLayerRedoKeysFractionMin: number;
  /** LZ4-compress the pages of image layers (those of delta layers always are). */
  readonly imageLayerCompression: boolean;
  /** GC keeps at least this much WAL history (bytes of LSN) below the last record LSN. */
  readonly gcHorizonBytes: number;
  /** ... and at least this much time of history (0: the byte horizon alone). */
  readonly pitrIntervalMs: number;
  /** How long a read waits for WAL up to its LSN when the caller gives no deadline. */
  readonly waitLsnTimeoutMs: number;
}

export const DEFAULT_TIMELINE_CONFIG: TimelineConfig = {
  // 16 MiB (was 64): the flush worker writes a frozen layer while ingest fills the next, so what a
  // final flush (shutdown, an import's end) still has to write is at most one layer; a quarter the
  // size takes about a quarter the time (bench/ingest). Reads walk no more L0 layers for it:
  // compaction still starts at compactionL0LayersMin of them.
  checkpointDistanceBytes: 16 << 20,
  // Well above checkpointDistanceBytes: ingest's layers stay in memory while the flush worker keeps
  // up; an import (one layer for a whole data directory or base backup), or frozen layers piling up
  // behind a slow disk, spill the rest to disk instead of growing the process.
  inMemoryLayerMemoryBytesMax: 256 << 20,
  checkpointTimeoutMs: 10 * 60_000,
  compactionL0LayersMin: 10,
  compactionLayerBytesTarget: 64 << 20,
  imageLayerDeltasMin: 3,
  // A tenth: a range rewritten whole for fewer would cost more writes than the redo it saves.
  imageLayerRedoKeysFractionMin: 0.1,
  // Off, as in Neon: base backups copy uncompressed image layers' pages with one read per run, no
  // decompression (bench/pagebench: from 0.3 to about 1 times pg_basebackup's speed). It costs disk:
  // pgbench at scale 50 after 20 s of load, image layers 779 MiB against 135 MiB compressed, the
  // repository 1.3 GiB against 621 MiB (pgbench's rows are mostly blank padding; real tables compress less).
  imageLayerCompression: false,
  gcHorizonBytes: 64 << 20,
  pitrIntervalMs: 0,
  waitLsnTimeoutMs: 30_000,
};

/** What a timeline uses of its tenant. */
export interface TimelineContext {
  readonly config: TimelineConfig;
  readonly pageCache: PageCache;
  readonly reconstructor: Reconstructor;
  /** Branch points of this timeline's children: GC keeps what reads there need. */
  childBranchPoints(timelineId: string): number[];
  /** A failure of background work (flush), for the log; the timeline stays readable. */
  onBackgroundError(timeline: Timeline, error: unknown): void;
}

/** A layer file listed in the metadata that cannot be opened: every read that needs it fails, naming it. */
export class BrokenLayer {
  readonly descriptor: LayerDescriptor;
  constructor(
    readonly path: string,
    readonly name: string,
    descriptor: LayerDescriptor,
    readonly error: RepositoryError,
  ) {
    this.descriptor = descriptor;
  }
  collect(): boolean {
    throw this.error;
  }
  // eslint-disable-next-line require-yield
  *entries(): Generator<LayerEntry> {
    throw this.error;
  }
  readEntryValue(): Uint8Array {
    throw this.error;
  }
  close(): void {}
}

export type HistoricLayer = LayerFile | BrokenLayer;

const LSN_TIMES_MAX = 4096;
const LSN_TIME_SAMPLE_MS = 1000;
/** advance() reads the clock at least once per this many advances (see Timeline.clock). */
const CLOCK_ADVANCES_MAX = 256;
/**
 * Ephemeral files are numbered per process, not per timeline: a closed layer's file is unlinked in
 * the background (InMemoryLayer.delete), so no later layer, of any timeline opened again, may take its name.
 */
let ephemeralFiles = 0;
/** LSNs are kept as numbers: exact below 2^53 bytes of WAL (8 PiB). */
const LSN_NUMBER_MAX = Number.MAX_SAFE_INTEGER;
/** The same as a bigint, made once: every put and advance compares with it. */
const LSN_BIGINT_MAX = BigInt(LSN_NUMBER_MAX);

/** An LSN as a number, checked to fit; hot paths (ingest) pass numbers already, and no BigInt is made. */
export function lsnNumber(lsn: Lsn | bigint | number): number {
  if (typeof lsn === 'number') {
    if (!Number.isSafeInteger(lsn) || lsn < 0) throw new RepositoryError('BAD_REQUEST', `Cannot use LSN ${lsn}: strata keeps LSNs as integers below 2^53`);
    return lsn;
  }
  if (lsn < 0n || lsn > LSN_BIGINT_MAX) throw new RepositoryError('BAD_REQUEST', `Cannot use LSN ${formatLsn(lsn)}: strata keeps LSNs below 2^53`);
  return Number(lsn);
}

const fmt = (n: number) => formatLsn(BigInt(n));

/** A frozen layer's file as the flush worker writes it: `path` once it is durable. */
interface LayerWrite {
  readonly done: Promise<string>;
  path: string | undefined;
}

interface Waiter {
  readonly lsn: number;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class Timeline {
  private open: InMemoryLayer | undefined;
  private frozen: InMemoryLayer[] = [];
  /**
   * The flush worker's write of each frozen layer, started when the layer froze: the worker goes on
   * writing while this thread ingests without a pause (its reply waits for the event loop), and the
   * layers are taken into the layer map in order by flushFrozen.
   */
  private readonly layerWrites = new Map<InMemoryLayer, LayerWrite>();
  private map: LayerMap<HistoricLayer>;
  private last: number;
  private diskConsistent: number;
  private cutoff: number;
  private compacted: number;
  private consistent: number;
  private lsnTimes: [number, number][];
  private waiters: Waiter[] = [];
  /** advance()'s clock (see clock()). */
  private clockMs = 0;
  private clockAdvances = 0;
  private clockCurrent = false;
  /** The last sample's LSN is the last record LSN, not yet written into it (see advance). */
  private lastSampleIsLast = false;
  private flushing: Promise<void> | undefined;
  private readonly leases = new Map<number, number>();
  private shutDown = false;
  /** Compaction and GC, one at a time. */
  private layerWork: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly id: string,
    readonly dir: string,
    private readonly ctx: TimelineContext,
    readonly ancestor: Timeline | undefined,
    readonly ancestorLsn: number,
    meta: TimelineMetadata,
    layers: HistoricLayer[],
  ) {
    this.map = new LayerMap(layers);
    this.last = meta.diskConsistentLsn;
    this.diskConsistent = meta.diskConsistentLsn;
    this.cutoff = meta.gcCutoff;
    this.compacted = meta.compactedLsn;
    this.consistent = meta.consistentLsn;
    this.lsnTimes = meta.lsnTimes.map(([l, t]) => [l, t]);
    this.createdAt = meta.createdAt;
  }

  readonly createdAt: string;

  /** Makes a timeline folder and its first metadata: empty from `startLsn`, or a branch of `ancestor` at `ancestorLsn`. */
  static create(dir: string, id: string, ctx: TimelineContext, ancestor: Timeline | undefined, lsn: number): Timeline {
    mkdirDurable(dir);
    const meta: TimelineMetadata = {
      timelineId: id,
      ancestorTimelineId: ancestor?.id ?? null,
      ancestorLsn: ancestor === undefined ? 0 : lsn,
      diskConsistentLsn: lsn,
      gcCutoff: 0,
      compactedLsn: 0,
      consistentLsn: 0,
      layers: [],
      createdAt: new Date().toISOString(),
      lsnTimes: [],
    };
    writeMetadata(join(dir, METADATA_FILE), meta);
    return new Timeline(id, dir, ctx, ancestor, meta.ancestorLsn, meta, []);
  }

  /**
   * Opens a timeline from its folder: removes what a crash left (temporary and ephemeral files,
   * layer files the metadata does not name), opens the layers the metadata names.
   */
  static load(dir: string, ctx: TimelineContext, ancestor: Timeline | undefined): Timeline {
    const meta = readMetadata(join(dir, METADATA_FILE));
    if ((meta.ancestorTimelineId ?? undefined) !== ancestor?.id)
      throw new RepositoryError('CORRUPT_METADATA', `Cannot open timeline ${meta.timelineId}: its ancestor is ${meta.ancestorTimelineId}, given ${ancestor?.id}`);
    const named = new Set(meta.layers);
    for (const f of readdirSync(dir)) {
      if (f === METADATA_FILE || named.has(f)) continue;
      if (f.endsWith(TEMP_SUFFIX) || f.startsWith('ephemeral-') || parseLayerFileName(f) !== undefined) unlinkQuiet(join(dir, f));
    }
    const layers = meta.layers.map((name) => openLayer(dir, name));
    return new Timeline(meta.timelineId, dir, ctx, ancestor, meta.ancestorLsn, meta, layers);
  }

  // ---- state ----

  get lastRecordLsn(): Lsn {
    return BigInt(this.last) as Lsn;
  }

  get diskConsistentLsn(): Lsn {
    return BigInt(this.diskConsistent) as Lsn;
  }

  get gcCutoff(): Lsn {
    return BigInt(this.cutoff) as Lsn;
  }

  get lastRecordLsnNumber(): number {
    return this.last;
  }

  get diskConsistentLsnNumber(): number {
    return this.diskConsistent;
  }

  get gcCutoffNumber(): number {
    return this.cutoff;
  }

  /** Reads below this LSN are refused (see the header): 0 unless the timeline was imported from a base backup. */
  get consistentLsn(): Lsn {
    return BigInt(this.consistent) as Lsn;
  }

  get consistentLsnNumber(): number {
    return this.consistent;
  }

  /**
   * Reads below `lsn` are refused from now on (a base backup's importer sets its end LSN). Kept in
   * memory until the next metadata write: the importer sets it before the flush that makes the
   * backup's values durable, so the metadata never names the values without it.
   */
  setConsistentLsn(lsn: Lsn): void {
    const n = lsnNumber(lsn);
    if (n < this.consistent) throw new RepositoryError('BAD_REQUEST', `Cannot move the consistent LSN of timeline ${this.id} back from ${fmt(this.consistent)} to ${formatLsn(lsn)}`);
    this.consistent = n;
  }

  /** Delta layers ending at or below this LSN are L1; those above it are L0. */
  get compactedLsnNumber(): number {
    return this.compacted;
  }

  /** Runs compaction or GC work after any already running on this timeline. */
  runLayerWork<T>(work: () => Promise<T>): Promise<T> {
    if (this.shutDown) return Promise.reject(new RepositoryError('SHUT_DOWN', `Cannot change the layers of timeline ${this.id}: it is shutting down`));
    const run = this.layerWork.catch(() => undefined).then(work);
    this.layerWork = run;
    return run;
  }

  /** Keys with a value in `range` at or below `lsn` in this timeline's in-memory layers. */
  inMemoryKeys(start: Key, end: Key, lsn: number, into: Set<Key>): void {
    for (const m of this.open === undefined ? this.frozen : [...this.frozen, this.open]) m.keysIn(start, end, lsn, into);
  }

  get config(): TimelineConfig {
    return this.ctx.config;
  }

  get layers(): readonly HistoricLayer[] {
    return this.map.layers;
  }

  get layerMap(): LayerMap<HistoricLayer> {
    return this.map;
  }

  get inMemoryBytes(): number {
    return (this.open?.bytes ?? 0) + this.frozen.reduce((n, l) => n + l.bytes, 0);
  }

  /** The newest LSN already reached at time `ms` (from the per-second samples), or undefined before the first. */
  lsnReachedBy(ms: number): number | undefined {
    let found: number | undefined;
    for (const [lsn, at] of this.lsnSamples()) {
      if (at > ms) break;
      found = lsn;
    }
    return found;
  }

  get samples(): readonly (readonly [number, number])[] {
    return this.lsnSamples();
  }

  // ---- writes ----

  /** Stores `value` under `key` at `lsn` (the end LSN of the record it comes from), above the last record LSN. */
  put(key: Key, lsn: Lsn | number, value: Value): void {
    const n = lsnNumber(lsn);
    this.checkWritable();
    if (n <= this.last) throw new RepositoryError('BAD_REQUEST', `Cannot put ${describeKey(key)} at ${fmt(n)}: the timeline is already at ${fmt(this.last)}`);
    this.openLayer().put(key, n, valueFlags(value), value.bytes);
  }

  /** The open in-memory layer, made on the first put after a freeze. */
  private openLayer(): InMemoryLayer {
    this.open ??= new InMemoryLayer(
      join(this.dir, `ephemeral-${process.pid}-${ephemeralFiles++}`),
      this.frozen.at(-1)?.lsnEnd ?? this.diskConsistent + 1,
      Math.max(0, this.ctx.config.inMemoryLayerMemoryBytesMax - this.frozen.reduce((n, l) => n + l.bytesInMemory, 0)),
    );
    return this.open;
  }

  /**
   * put() of relation block `blkno` of the fork whose key prefix is `keyPrefix` (relBlockKeyPrefix),
   * a value with these flags (value.ts) that `source` writes straight into the in-memory layer:
   * ingest's records, copied once from the WAL read buffer, with no key string built per block.
   */
  putBlockFrom(keyPrefix: string, blkno: number, lsn: number, flags: number, source: ValueSource): void {
    this.checkWritable();
    if (lsn <= this.last) throw new RepositoryError('BAD_REQUEST', `Cannot put ${describeKey(relBlockKeyAt(keyPrefix, blkno))} at ${fmt(lsn)}: the timeline is already at ${fmt(this.last)}`);
    if (!(Number.isInteger(blkno) && blkno >= 0 && blkno < INVALID_BLOCK_NUMBER)) throw new RangeError(`Cannot put block ${blkno}: block numbers are below 0xFFFFFFFF`);
    this.openLayer().putFrom(keyPrefix, blkno, lsn, flags, source);
  }

  /**
   * The last record LSN moves to `lsn`: every value at or below it is in, and reads up to it may go
   * on. The open layer is frozen here, at a record boundary, when it is big or old enough.
   */
  advance(lsn: Lsn | number): void {
    const n = lsnNumber(lsn);
    this.checkWritable();
    if (n < this.last) throw new RepositoryError('BAD_REQUEST', `Cannot move timeline ${this.id} back from ${fmt(this.last)} to ${fmt(n)}`);
    const previous = this.last;
    this.last = n;
    const now = this.clock();
    const lastSample = this.lsnTimes.at(-1);
    // One sample per second: the newest LSN reached in it and when (GC's time window and LSN by
    // timestamp read them). While the clock reads the same, the last sample's LSN is the last record
    // LSN, filled in when the samples are read (lsnSamples): a number stored in the array per record
    // made a heap number per record once LSNs pass 2^30.
    if (lastSample !== undefined && now === lastSample[1]) {
      this.lastSampleIsLast = true;
    } else if (lastSample !== undefined && Math.floor(now / LSN_TIME_SAMPLE_MS) === Math.floor(lastSample[1] / LSN_TIME_SAMPLE_MS)) {
      lastSample[0] = n;
      lastSample[1] = now;
      this.lastSampleIsLast = true;
    } else {
      // The sample closed here keeps the LSN reached before this record.
      if (lastSample !== undefined && this.lastSampleIsLast) lastSample[0] = previous;
      this.sampleLsnTime(n, now);
      this.lastSampleIsLast = true;
    }
    while (this.waiters.length > 0 && (this.waiters[0] as Waiter).lsn <= n) {
      const w = this.waiters.shift() as Waiter;
      clearTimeout(w.timer);
      w.resolve();
    }
    const open = this.open;
    if (open !== undefined && (open.bytes >= this.ctx.config.checkpointDistanceBytes || now - open.createdAtMs >= this.ctx.config.checkpointTimeoutMs)) {
      this.freezeOpen();
      this.startFlush();
    }
  }

  /** The per-second samples, the last one brought up to the last record LSN (see advance). */
  private lsnSamples(): [number, number][] {
    if (this.lastSampleIsLast) {
      const lastSample = this.lsnTimes.at(-1);
      if (lastSample !== undefined) lastSample[0] = this.last;
      this.lastSampleIsLast = false;
    }
    return this.lsnTimes;
  }

  private sampleLsnTime(lsn: number, ms: number): void {
    this.lsnTimes.push([lsn, ms]);
    // Keep the samples bounded: thin the older half when full.
    if (this.lsnTimes.length > LSN_TIMES_MAX) this.lsnTimes = [...this.lsnTimes.slice(0, LSN_TIMES_MAX / 2).filter((_, i) => i % 2 === 0), ...this.lsnTimes.slice(LSN_TIMES_MAX / 2)];
  }

  /**
   * Date.now() for advance(), read again after CLOCK_ADVANCES_MAX advances or once the event loop
   * has turned: a clock read per record was a twentieth of ingest's time, and records that arrive
   * one by one (replication, each in a turn of the loop) still read it each time, while a burst
   * ingested without a pause (an import between its yields) shares a read per few hundred records,
   * well inside the one-second samples it feeds.
   */
  private clock(): number {
    if (this.clockCurrent && ++this.clockAdvances < CLOCK_ADVANCES_MAX) return this.clockMs;
    this.clockMs = Date.now();
    this.clockAdvances = 0;
    if (!this.clockCurrent) {
      this.clockCurrent = true;
      setImmediate(() => {
        this.clockCurrent = false;
      });
    }
    return this.clockMs;
  }

  /** Waits until the last record LSN reaches `lsn`, or fails with LSN_TIMEOUT after `timeoutMs`. */
  waitForLsn(lsn: Lsn, timeoutMs: number = this.ctx.config.waitLsnTimeoutMs): Promise<void> {
    const n = lsnNumber(lsn);
    if (n <= this.last) return Promise.resolve();
    if (this.shutDown) return Promise.reject(new RepositoryError('SHUT_DOWN', `Cannot wait for ${formatLsn(lsn)} on timeline ${this.id}: it is shutting down`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new RepositoryError('LSN_TIMEOUT', `Timed out after ${timeoutMs} ms waiting for WAL up to ${formatLsn(lsn)} on timeline ${this.id}: it is at ${fmt(this.last)}`));
      }, timeoutMs);
      const w: Waiter = { lsn: n, resolve, reject, timer };
      const i = this.waiters.findIndex((x) => x.lsn > n);
      if (i < 0) this.waiters.push(w);
      else this.waiters.splice(i, 0, w);
    });
  }

  /**
   * Drops the values put above the last record LSN and never advanced over: an import that failed
   * halfway (its puts all lie above the last record LSN until its one advance). Ingest never leaves
   * such values behind (a record's puts and its advance have no await between them), so only the
   * open in-memory layer can hold them, and then nothing else: it goes whole.
   */
  discardUnadvanced(): void {
    const open = this.open;
    if (open === undefined) return;
    if (open.lowestLsn <= this.last) throw new Error(`assert: discarding an in-memory layer of timeline ${this.id} that holds values at ${open.lowestLsn}, at or below the last record LSN ${this.last}`);
    this.open = undefined;
    open.delete();
  }

  private checkWritable(): void {
    if (this.shutDown) throw new RepositoryError('SHUT_DOWN', `Cannot write to timeline ${this.id}: it is shutting down`);
  }

  // ---- flush ----

  private freezeOpen(): void {
    const open = this.open;
    if (open === undefined) return;
    // Values above the last record LSN are an import still under way (see discardUnadvanced): they
    // become part of the timeline only with its advance, so a flush meanwhile leaves them in memory.
    if (open.highestLsn > this.last) return;
    open.freeze(this.last + 1);
    this.frozen.push(open);
    this.open = undefined;
    this.startLayerWrite(open);
  }

  /** Hands a frozen layer to the flush worker, unless it is there already; undefined for a layer with no values. */
  private startLayerWrite(layer: InMemoryLayer): LayerWrite | undefined {
    const range = layer.keyRange;
    if (range === undefined) return undefined;
    let write = this.layerWrites.get(layer);
    if (write === undefined) {
      const descriptor: LayerDescriptor = { kind: LayerKind.Delta, keys: { start: range.start, end: nextKey(range.end) }, lsnStart: layer.lsnStart, lsnEnd: layer.lsnEnd };
      const w: LayerWrite = { done: flushInWorker(layer.flushJob(this.dir, descriptor)), path: undefined };
      this.layerWrites.set(layer, w);
      // flushFrozen takes the outcome; a failed write is forgotten so that the next flush tries again.
      w.done.then(
        (path) => {
          w.path = path;
        },
        () => {
          if (this.layerWrites.get(layer) === w) this.layerWrites.delete(layer);
        },
      );
      write = w;
    }
    return write;
  }

  private startFlush(): Promise<void> {
    this.flushing ??= this.flushFrozen().finally(() => {
      this.flushing = undefined;
    });
    this.flushing.catch((e: unknown) => this.ctx.onBackgroundError(this, e));
    return this.flushing;
  }

  /** Freezes and flushes the open layer if it is older than the checkpoint timeout (no WAL may arrive to trigger it). */
  async flushIfOld(): Promise<void> {
    const open = this.open;
    if (open === undefined || this.shutDown || Date.now() - open.createdAtMs < this.ctx.config.checkpointTimeoutMs) return;
    this.freezeOpen();
    await this.startFlush();
  }

  /** Freezes the open layer and writes every frozen layer to disk; resolves when all is durable. */
  async flush(): Promise<void> {
    this.freezeOpen();
    // A flush already running may have missed the layer frozen just now: go round until none is left.
    while (this.frozen.length > 0 || this.flushing !== undefined) await this.startFlush();
    if (this.diskConsistent < this.last && this.open === undefined && this.frozen.length === 0) {
      // Nothing was put above the disk-consistent LSN, but the last record LSN moved: record that.
      this.diskConsistent = this.last;
      this.persist();
    }
  }

  private async flushFrozen(): Promise<void> {
    while (this.frozen.length > 0) {
      // Sorting, compressing and writing the file happen in the flush worker; ingest goes on meanwhile.
      await this.startLayerWrite(this.frozen[0] as InMemoryLayer)?.done;
      // The oldest layer's file is durable, and maybe those of layers after it: all of those go into
      // the layer map in order, with one metadata write (each one is two fsyncs).
      const taken: InMemoryLayer[] = [];
      const added: LayerFile[] = [];
      try {
        for (const layer of this.frozen) {
          const write = this.startLayerWrite(layer);
          if (write !== undefined && write.path === undefined) break;
          taken.push(layer);
          if (write !== undefined) added.push(LayerFile.open(write.path as string));
        }
      } catch (e) {
        // A file that cannot be opened fails the flush; the ones opened before it are not kept.
        for (const f of added) f.close();
        throw e;
      }
      this.map = this.map.replace([], added);
      this.frozen.splice(0, taken.length);
      for (const layer of taken) {
        this.layerWrites.delete(layer);
        this.diskConsistent = Math.max(this.diskConsistent, layer.lsnEnd - 1);
      }
      this.persist();
      for (const layer of taken) layer.delete();
    }
  }

  /** Writes the metadata file: the layer list, the disk-consistent LSN, the GC cutoff. */
  persist(): void {
    writeMetadata(join(this.dir, METADATA_FILE), {
      timelineId: this.id,
      ancestorTimelineId: this.ancestor?.id ?? null,
      ancestorLsn: this.ancestorLsn,
      diskConsistentLsn: this.diskConsistent,
      gcCutoff: this.cutoff,
      compactedLsn: this.compacted,
      consistentLsn: this.consistent,
      layers: this.map.layers.map((l) => l.name),
      createdAt: this.createdAt,
      lsnTimes: this.lsnSamples(),
    });
  }

  /**
   * Swaps layers (compaction, GC): the new set is made durable in the metadata, then the removed
   * files are closed and deleted. Reads see either the old set or the new one.
   */
  replaceLayers(remove: readonly HistoricLayer[], add: readonly HistoricLayer[], compactedLsn?: number): void {
    this.map = this.map.replace(remove, add);
    if (compactedLsn !== undefined) this.compacted = Math.max(this.compacted, compactedLsn);
    this.persist();
    for (const l of remove) {
      l.close();
      try {
        unlinkSync(l.path);
      } catch {
        // already gone
      }
    }
  }

  /** Records the GC cutoff (reads below it are refused) before GC removes anything. */
  setGcCutoff(lsn: number): void {
    if (lsn <= this.cutoff) return;
    this.cutoff = lsn;
    this.persist();
  }

  // ---- retention ----

  /** Keeps what reads at `lsn` need for `durationMs` (an LSN lease): GC will not remove it. */
  lease(lsn: Lsn, durationMs: number): void {
    const n = lsnNumber(lsn);
    if (n < this.cutoff && !this.isRetained(n))
      throw new RepositoryError('BELOW_GC_HORIZON', `Cannot lease ${formatLsn(lsn)} on timeline ${this.id}: it is below the GC cutoff ${fmt(this.cutoff)}`);
    this.leases.set(n, Math.max(this.leases.get(n) ?? 0, Date.now() + durationMs));
  }

  /** The LSNs GC must keep readable besides those above its horizon: branch points and unexpired leases. */
  retainedLsns(): number[] {
    const now = Date.now();
    for (const [lsn, until] of this.leases) if (until <= now) this.leases.delete(lsn);
    return [...this.ctx.childBranchPoints(this.id), ...this.leases.keys()].sort((a, b) => a - b);
  }

  private isRetained(lsn: number): boolean {
    return this.retainedLsns().includes(lsn);
  }

  // ---- reads ----

  /**
   * The value of `key` at `lsn`: refuses LSNs below the consistent LSN (NOT_CONSISTENT), waits (up
   * to `timeoutMs`) until WAL up to `lsn` is in, refuses LSNs below the GC cutoff, and reconstructs
   * the key from its history.
   */
  async get(key: Key, lsn: Lsn, timeoutMs?: number): Promise<Uint8Array> {
    const n = lsnNumber(lsn);
    if (n < this.consistent)
      throw new RepositoryError(
        'NOT_CONSISTENT',
        `Cannot read ${describeKey(key)} at ${formatLsn(lsn)} on timeline ${this.id}: the timeline is consistent only from ${fmt(this.consistent)} (it was imported from a base backup, whose files are consistent once the WAL up to the backup's end is replayed); read at or above that LSN`,
      );
    return this.getForIngest(key, lsn, timeoutMs);
  }

  /**
   * `get` without the consistency check: for ingest, which reads the state it builds on at its last
   * record LSN, also between a base backup's start and end (PostgreSQL's recovery reads its files
   * before it is consistent too). Nothing else may call it.
   */
  async getForIngest(key: Key, lsn: Lsn, timeoutMs?: number): Promise<Uint8Array> {
    const n = lsnNumber(lsn);
    if (n > this.last) await this.waitForLsn(lsn, timeoutMs);
    if (n < this.cutoff && !this.isRetained(n))
      throw new RepositoryError('BELOW_GC_HORIZON', `Cannot read ${describeKey(key)} at ${formatLsn(lsn)} on timeline ${this.id}: it is below the GC cutoff ${fmt(this.cutoff)}`);
    await this.waitForAncestors(n, timeoutMs);
    return this.reconstructAt(key, n);
  }

  /** Waits until no ancestor is behind a read at `lsn` (see ancestorBehind), or fails with LSN_TIMEOUT. */
  async waitForAncestors(lsn: number, timeoutMs?: number): Promise<void> {
    for (let behind = this.ancestorBehind(lsn); behind !== undefined; behind = this.ancestorBehind(lsn)) await behind.timeline.waitForLsn(BigInt(behind.lsn) as Lsn, timeoutMs);
  }

  /**
   * The first ancestor up the chain whose WAL has not reached the LSN at which a read of this
   * timeline at `lsn` reads it (the branch point, or `lsn` if lower), or undefined if none is behind.
   *
   * A branch is made at an LSN its ancestor has ingested but not necessarily flushed, and its
   * metadata then says disk-consistent at the branch point at once. After a restart the ancestor
   * resumes at its own disk-consistent LSN, which can be below the branch point: its values up to
   * there come back only as ingest replays its WAL. Until then a read that reaches the ancestor
   * would get an older page with no error (the crash test saw it), so reads wait for the ancestor,
   * as Neon's Timeline::get_ready_ancestor_timeline does, and image layers are not made meanwhile.
   */
  ancestorBehind(lsn: number): { timeline: Timeline; lsn: number } | undefined {
    let at = lsn;
    for (let t: Timeline = this; t.ancestor !== undefined; t = t.ancestor) {
      at = Math.min(at, t.ancestorLsn);
      if (t.ancestor.last < at) return { timeline: t.ancestor, lsn: at };
    }
    return undefined;
  }

  /**
   * The value of `key` at `lsn`, for callers that checked the LSN and that no ancestor is behind it
   * (compaction, reads). With `fillCache` false the page made is not kept in the page cache: a
   * bulk read (a base backup) would otherwise push out the pages GetPage keeps reading.
   */
  async reconstructAt(key: Key, lsn: number, fillCache = true): Promise<Uint8Array> {
    const cache = this.ctx.pageCache;
    const cached = cache.get(this.id, key, lsn);
    if (cached !== undefined && cached.lsn === lsn) return cached.bytes;
    const floor = cached === undefined ? 0 : cached.lsn + 1;
    const found: FoundValue[] = [];
    const complete = this.walk(key, lsn + 1, floor, found);
    const oldest = found[found.length - 1];
    let base: HistoryValue | undefined;
    let records: FoundValue[];
    if (complete && oldest !== undefined && (oldest.flags & VALUE_KIND_MASK) === VALUE_KIND_IMAGE) {
      base = oldest;
      records = found.slice(0, -1);
    } else if (complete) {
      records = found;
    } else if (cached !== undefined) {
      base = { lsn: cached.lsn, flags: VALUE_KIND_IMAGE, bytes: cached.bytes };
      records = found;
    } else if (found.length === 0) {
      throw new RepositoryError('NOT_FOUND', `Cannot read ${describeKey(key)} at ${fmt(lsn)} on timeline ${this.id}: it has no value at or below that LSN`);
    } else {
      throw new RepositoryError(
        'RECONSTRUCT_FAILED',
        `Cannot read ${describeKey(key)} at ${fmt(lsn)} on timeline ${this.id}: its oldest value (at ${fmt(oldest?.lsn ?? 0)}) is a record that does not initialise it, and no image lies below`,
      );
    }
    let page: Uint8Array;
    if (records.length === 0 && base !== undefined) {
      page = base.bytes;
    } else {
      records.reverse();
      try {
        page = await this.ctx.reconstructor.reconstruct(key, lsn, base, records);
      } catch (e) {
        if (e instanceof RepositoryError) throw e;
        throw new RepositoryError('RECONSTRUCT_FAILED', `Cannot reconstruct ${describeKey(key)} at ${fmt(lsn)} on timeline ${this.id}: ${(e as Error).message}`, { cause: e });
      }
    }
    if (fillCache) cache.put(this.id, key, lsn, page);
    return page;
  }

  /**
   * Where a read at `lsn` (reconstructAt) takes the values of the keys from `start` up to the
   * returned `end` (at most `end`): from one image layer file (`layer`), except the keys listed in
   * `inMemory` (their newest values are in in-memory layers: read them one by one), or from anywhere
   * else too (`layer` undefined: a delta layer, several files). It follows walk(): past the
   * in-memory layers, one image layer answers for every key of the range, in this timeline or in an
   * ancestor below the branch point. Each other key's value is then its image in that file, and a
   * key the file lacks has none (NOT_FOUND), so a bulk reader (a base backup) can read the file's
   * values in key order. Call again from the returned end for the rest of a range.
   */
  imageLayerAt(start: Key, end: Key, lsn: number): { layer: LayerFile | undefined; end: Key; inMemory: ReadonlySet<Key> } {
    let below = lsn + 1;
    let upTo = end;
    const inMemory = new Set<Key>();
    for (let t: Timeline | undefined = this; t !== undefined; t = t.ancestor) {
      for (const m of t.open === undefined ? t.frozen : [...t.frozen, t.open]) {
        if (m.lsnStart >= below) continue;
        m.keysIn(start, upTo, below - 1, inMemory);
        below = Math.min(below, m.lsnStart);
      }
      const r = t.map.imageLayerCovering(start, upTo, below);
      upTo = r.end;
      if (r.layer === undefined || (r.layer === 'none' && t.ancestor === undefined)) return { layer: undefined, end: upTo, inMemory };
      if (r.layer !== 'none') {
        for (const k of inMemory) if (k >= upTo) inMemory.delete(k);
        return { layer: r.layer instanceof LayerFile ? r.layer : undefined, end: upTo, inMemory };
      }
      below = Math.min(below, t.ancestorLsn + 1);
    }
    return { layer: undefined, end: upTo, inMemory };
  }

  /**
   * Collects, newest first, the values of `key` with floor <= LSN < below, across this timeline's
   * in-memory and historic layers and its ancestors, down to the first value that starts the key's
   * history (returns true) or to `floor` or the end of history (returns false).
   */
  private walk(key: Key, below: number, floor: number, out: FoundValue[]): boolean {
    let t: Timeline | undefined = this;
    while (t !== undefined && below > floor) {
      // In-memory layers newest first: the open one, then the frozen ones (no array made per read).
      for (let i = t.frozen.length - (t.open === undefined ? 1 : 0); i >= 0 && below > floor; i--) {
        const m = (i === t.frozen.length ? t.open : t.frozen[i]) as InMemoryLayer;
        if (m.lsnStart >= below) continue;
        if (m.collect(key, Math.max(floor, m.lsnStart), below, out)) return true;
        below = m.lsnStart;
      }
      while (below > floor) {
        const r = t.map.search(key, below);
        if (r === undefined) break;
        if (r.layer.collect(key, Math.max(floor, r.floor), below, out)) return true;
        // An image layer holds every key of its range that exists at its LSN: a key it lacks did not.
        if (r.layer.descriptor.kind === LayerKind.Image) return false;
        below = r.floor;
      }
      if (t.ancestor === undefined) return false;
      below = Math.min(below, t.ancestorLsn + 1);
      t = t.ancestor;
    }
    return false;
  }

  // ---- life ----

  /** Stops writes and waits, fails pending LSN waits, and closes files. In-memory values are dropped (the WAL log has them). */
  async shutdown(flush: boolean): Promise<void> {
    if (flush && !this.shutDown) await this.flush();
    this.shutDown = true;
    await this.flushing?.catch(() => undefined);
    await this.layerWork.catch(() => undefined);
    // Writes the flush worker still has under way finish before the files go: a layer file no
    // metadata names is removed now, not left for a later open of this folder to find.
    for (const write of this.layerWrites.values()) {
      const path = await write.done.catch(() => undefined);
      if (path !== undefined) unlinkQuiet(path);
    }
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new RepositoryError('SHUT_DOWN', `Stopped waiting for ${fmt(w.lsn)} on timeline ${this.id}: it is shutting down`));
    }
    this.waiters = [];
    this.open?.delete();
    for (const f of this.frozen) f.delete();
    this.layerWrites.clear();
    this.open = undefined;
    this.frozen = [];
    for (const l of this.map.layers) l.close();
    await ephemeralUnlinks();
  }

  /** Shuts down and removes the folder. */
  async delete(): Promise<void> {
    await this.shutdown(false);
    this.ctx.pageCache.dropTimeline(this.id);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

function openLayer(dir: string, name: string): HistoricLayer {
  const path = join(dir, name);
  const descriptor = parseLayerFileName(name);
  if (descriptor === undefined) throw new RepositoryError('CORRUPT_METADATA', `Cannot open layer ${path}: the metadata names a file that is not a layer file`);
  try {
    const f = LayerFile.open(path);
    const d = f.descriptor;
    if (d.kind !== descriptor.kind || d.keys.start !== descriptor.keys.start || d.keys.end !== descriptor.keys.end || d.lsnStart !== descriptor.lsnStart || d.lsnEnd !== descriptor.lsnEnd) {
      f.close();
      throw new RepositoryError('CORRUPT_LAYER', `Cannot read layer file ${path}: its header's ranges are not those of its name`);
    }
    return f;
  } catch (e) {
    if (!(e instanceof RepositoryError)) throw e;
    return new BrokenLayer(path, name, descriptor, e);
  }
}
