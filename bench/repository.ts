/**
 * bench/repository: the repository's own costs (issue 5), each beside the figure of what any storage
 * engine on this disk is bounded by, in one run. No PostgreSQL and no redo engine: values are
 * synthetic and a small Reconstructor stands in for redo, so the figures are the repository's.
 *
 *   - put throughput, 8 KiB page images (pgbench_accounts-like heap pages) and 100-byte records, put
 *     and advanced one record at a time as ingest does, yielding to the event loop every ~1 MiB; timed
 *     up to the end of `timeline.flush()`, so it includes every flush the puts cause (the open layer
 *     freezes at the default checkpointDistanceBytes, 64 MiB, and each frozen layer becomes one L0
 *     delta layer file). Baseline: the same number of bytes written sequentially to one file in
 *     1 MiB writes with one fsync at the end.
 *   - page read latency p50/p99 of `timeline.get` at the last LSN, for keys with 0, 10 and 100
 *     100-byte records above their image (flushed and compacted into L1 delta layers, no image
 *     layers): from the materialised page cache (a second read), from disk with a new Repository
 *     (its caches cold, the OS page cache warm), and, when this process may drop the OS page cache
 *     (root), truly cold. Baseline: a raw 8 KiB pread at random offsets of a file of the same size,
 *     OS cache warm and cold.
 *   - branch creation time on a timeline of STRATA_BENCH_REPO_GB GiB of pages and on one of 10 MiB.
 *   - bytes on disk against logical bytes (the pages the relation holds at its last LSN) after the
 *     flushes, after compaction with image layer creation, and after GC with no retention; the LZ4
 *     compression ratio of the image layers' pages.
 *
 * The Reconstructor (`patchReconstructor`) applies each record by copying its bytes into the page at
 * the offset it names: a real page copy and a real memcpy per record, but none of redo's logic.
 *
 * Scale (environment): STRATA_BENCH_REPO_GB (default 1) of images, STRATA_BENCH_REPO_RECORDS
 * (default 1000000) records, STRATA_BENCH_REPO_READ_KEYS (default 2000) keys per depth,
 * STRATA_BENCH_REPO_COLD=0 to skip the runs that drop the OS page cache, STRATA_BENCH_REPO_DIR for
 * the temporary folder's parent (default the OS temp folder). Everything is removed at the end.
 */
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, fsyncSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { BLCKSZ } from '../src/pg/constants.js';
import type { Lsn } from '../src/pg/lsn.js';
import type { Oid, RelFileNode } from '../src/pg/types.js';
import { compact } from '../src/repository/compaction.js';
import { gc } from '../src/repository/gc.js';
import { relBlockKey, type Key } from '../src/repository/key.js';
import { LayerFile, LayerKind } from '../src/repository/layer-file.js';
import type { HistoryValue, Reconstructor } from '../src/repository/reconstruct.js';
import { Repository } from '../src/repository/repository.js';
import type { TenantConfig } from '../src/repository/tenant.js';
import type { Timeline } from '../src/repository/timeline.js';
import { prng } from '../src/testing/repository-model.js';

const GIB = 1 << 30;
const MIB = 1 << 20;
const imageGiB = Number(process.env['STRATA_BENCH_REPO_GB'] ?? 1);
const recordCount = Number(process.env['STRATA_BENCH_REPO_RECORDS'] ?? 1_000_000);
const readKeys = Number(process.env['STRATA_BENCH_REPO_READ_KEYS'] ?? 2000);
const coldWanted = process.env['STRATA_BENCH_REPO_COLD'] !== '0';
const parentDir = process.env['STRATA_BENCH_REPO_DIR'] ?? os.tmpdir();

/** Bytes of a record value: a u16 LE page offset, then the bytes copied there. */
const RECORD_BYTES = 100;
/** SizeOfXLogRecord plus block reference headers, roughly: the LSN distance between two records besides their data. */
const RECORD_OVERHEAD_BYTES = 48;
/** Yield to the event loop after about this many bytes of values, as ingest does between WAL chunks. */
const YIELD_BYTES = MIB;
const SMALL_TIMELINE_BYTES = 10 * MIB;
const BRANCHES_PER_TIMELINE = 20;
const READ_DEPTHS = [0, 10, 100] as const;
const SEQUENTIAL_WRITE_BYTES = MIB;
/** Distinct synthetic pages and records cycled through (the repository copies what it is given). */
const PAGE_POOL = 1024;
const RECORD_POOL = 4096;

const rand = prng(20240605);
const L = (n: number) => BigInt(n) as Lsn;
const rel = (relNode: number): RelFileNode => ({ spcNode: 1663 as Oid, dbNode: 5 as Oid, relNode: relNode as Oid });

// ---- values ----

/**
 * A heap page like pgbench_accounts': 61 tuples of 121 bytes (tuple header, aid, bid, abalance, and
 * an 84-byte blank char filler), MAXALIGNed to 128, line pointers, a small hole. Compresses as a
 * real table's pages of that shape do; the ints and xmins differ from page to page.
 */
function heapPage(blkno: number): Buffer {
  const TUPLES = 61;
  const TUPLE_BYTES = 121;
  const p = Buffer.alloc(BLCKSZ);
  const lower = 24 + TUPLES * 4;
  const upper = BLCKSZ - TUPLES * 128;
  p.writeUInt16LE(lower, 12); // pd_lower
  p.writeUInt16LE(upper, 14); // pd_upper
  p.writeUInt16LE(BLCKSZ, 16); // pd_special
  p.writeUInt16LE(BLCKSZ | 4, 18); // pd_pagesize_version
  for (let i = 0; i < TUPLES; i++) {
    const off = upper + i * 128;
    p.writeUInt32LE(off | (1 << 15) | (TUPLE_BYTES << 17), 24 + i * 4); // ItemIdData: lp_off, LP_NORMAL, lp_len
    p.writeUInt32LE(700 + Math.floor(rand() * 1e6), off); // t_xmin
    p.writeUInt16LE(blkno & 0xffff, off + 14); // t_ctid block
    p.writeUInt16LE(i + 1, off + 16); // t_ctid offset
    p.writeUInt16LE(4, off + 18); // t_infomask2: 4 attributes
    p.writeUInt16LE(0x0902, off + 20); // t_infomask: HEAP_XMIN_COMMITTED | HEAP_XMAX_INVALID | HEAP_HASVARWIDTH
    p[off + 22] = 24; // t_hoff
    p.writeInt32LE(blkno * TUPLES + i + 1, off + 24); // aid
    p.writeInt32LE(1 + Math.floor((blkno * TUPLES) / 100000), off + 28); // bid
    p.writeInt32LE(Math.floor(rand() * 10000) - 5000, off + 32); // abalance
    p[off + 36] = ((84 + 1) << 1) | 1; // 1-byte varlena header
    p.fill(0x20, off + 37, off + 37 + 84); // filler
  }
  return p;
}

/** A record: bytes to copy into the page at an offset (within the tuple area). */
function patchRecord(): Buffer {
  const r = Buffer.allocUnsafe(RECORD_BYTES);
  randomFillSync(r, 2);
  r.writeUInt16LE(BLCKSZ - 7808 + Math.floor(rand() * (7808 - (RECORD_BYTES - 2))), 0);
  return r;
}

/** Applies records by copying each one's bytes into the page at the offset it names (see the header). */
const patchReconstructor: Reconstructor = {
  async reconstruct(_key: Key, _lsn: number, base: HistoryValue | undefined, records: readonly HistoryValue[]): Promise<Uint8Array> {
    const page = Buffer.alloc(BLCKSZ);
    if (base !== undefined) page.set(base.bytes);
    for (const r of records) {
      const off = (r.bytes[0] as number) | ((r.bytes[1] as number) << 8);
      if (off + r.bytes.length - 2 > BLCKSZ) throw new Error(`record at ${r.lsn} writes past the page end (offset ${off}, ${r.bytes.length - 2} bytes)`);
      page.set(r.bytes.subarray(2), off);
    }
    return page;
  },
};

const pages = Array.from({ length: PAGE_POOL }, (_, i) => heapPage(i));
const records = Array.from({ length: RECORD_POOL }, () => patchRecord());

// ---- helpers ----

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] as number;
}

function shuffled<T>(xs: readonly T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

function bytesUnder(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? bytesUnder(join(dir, e.name)) : statSync(join(dir, e.name)).size;
  return n;
}

function layerBytes(t: Timeline): number {
  return t.layers.reduce((n, l) => n + (l instanceof LayerFile ? l.fileBytes : 0), 0);
}

const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;
const us = (ms: number) => `${(ms * 1000).toFixed(1).padStart(8)} µs`;
const out = (line = '') => process.stdout.write(line + '\n');

/** Whether this process may drop the OS page cache (root, and /proc/sys writable). */
function canDropOsCache(): boolean {
  if (!coldWanted) return false;
  try {
    dropOsCache();
    return true;
  } catch {
    return false;
  }
}

/** Writes back dirty pages, so that one step's writeback is not charged to the next. */
function syncDisk(): void {
  spawnSync('sync');
}

/** Writes back dirty pages, then drops the clean ones: the next reads go to the disk. */
function dropOsCache(): void {
  syncDisk();
  writeFileSync('/proc/sys/vm/drop_caches', '1\n');
}

// ---- puts ----

interface PutResult {
  readonly values: number;
  readonly bytes: number;
  readonly ms: number;
  readonly flushes: number;
  /** Bytes of the layer files the flushes wrote (the ephemeral files of in-memory layers are not counted: never fsynced). */
  readonly layerBytes: number;
  readonly lsnEnd: number;
}

/**
 * Puts `count` values on `t` from `lsn`, one record each, advancing after each as ingest does, then
 * flushes; timed to the end of the flush. `value(i)` gives the key and value of the i-th.
 */
async function putValues(t: Timeline, lsn: number, count: number, value: (i: number) => { key: Key; image: boolean; bytes: Uint8Array }): Promise<PutResult> {
  const layersBefore = new Set(t.layers);
  syncDisk();
  let bytes = 0;
  let sinceYield = 0;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const v = value(i);
    lsn += RECORD_OVERHEAD_BYTES + v.bytes.length;
    const at = L(lsn);
    t.put(v.key, at, v.image ? { kind: 'image', bytes: v.bytes } : { kind: 'wal', willInit: false, bytes: v.bytes });
    t.advance(at);
    bytes += v.bytes.length;
    sinceYield += v.bytes.length;
    if (sinceYield >= YIELD_BYTES) {
      sinceYield = 0;
      await yieldToEventLoop();
    }
  }
  await t.flush();
  const ms = performance.now() - t0;
  const added = t.layers.filter((l) => !layersBefore.has(l));
  return { values: count, bytes, ms, flushes: added.length, layerBytes: added.reduce((n, l) => n + (l instanceof LayerFile ? l.fileBytes : 0), 0), lsnEnd: lsn };
}

/** Writes `bytes` to a new file in 1 MiB sequential writes and fsyncs it once: the disk's bound for any engine. */
function sequentialWriteMs(dir: string, bytes: number): number {
  const path = join(dir, 'baseline-sequential');
  const chunk = Buffer.alloc(SEQUENTIAL_WRITE_BYTES);
  randomFillSync(chunk);
  syncDisk();
  const t0 = performance.now();
  const fd = openSync(path, 'w');
  try {
    for (let done = 0; done < bytes; ) {
      const n = Math.min(chunk.length, bytes - done);
      done += writeSync(fd, chunk, 0, n, done);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const ms = performance.now() - t0;
  unlinkSync(path);
  return ms;
}

function putLine(what: string, r: PutResult, baselineMs: number): void {
  const s = r.ms / 1000;
  out(
    `${what.padEnd(34)} ${(r.values / s / 1000).toFixed(1).padStart(8)} k values/s ${(r.bytes / MIB / s).toFixed(1).padStart(8)} MiB/s   ` +
      `(${r.values} values, ${mib(r.bytes)}, ${r.ms.toFixed(0)} ms, ${r.flushes} flushes wrote ${mib(r.layerBytes)} of layer files)`,
  );
  out(
    `${'  baseline: sequential write+fsync'.padEnd(34)} ${''.padStart(19)} ${(r.bytes / MIB / (baselineMs / 1000)).toFixed(1).padStart(8)} MiB/s   ` +
      `(same bytes, 1 MiB writes; strata / baseline = ${(baselineMs / r.ms).toFixed(2)})`,
  );
}

// ---- reads ----

interface Latencies {
  readonly p50: number;
  readonly p99: number;
  readonly n: number;
}

async function readLatencies(t: Timeline, keys: readonly Key[], lsn: Lsn): Promise<Latencies> {
  const samples: number[] = [];
  for (const key of keys) {
    const t0 = performance.now();
    const page = await t.get(key, lsn);
    samples.push(performance.now() - t0);
    if (page.length !== BLCKSZ) throw new Error(`read of ${key} returned ${page.length} bytes, not a page`);
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99), n: samples.length };
}

/** Latencies of a raw 8 KiB pread at random page-aligned offsets of `path`. */
function preadLatencies(path: string, count: number): Latencies {
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(BLCKSZ);
  const samples: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const at = Math.floor(rand() * Math.floor(size / BLCKSZ)) * BLCKSZ;
      const t0 = performance.now();
      readSync(fd, buf, 0, BLCKSZ, at);
      samples.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99), n: samples.length };
}

function latencyLine(what: string, l: Latencies): void {
  out(`${what.padEnd(72)} p50 ${us(l.p50)}   p99 ${us(l.p99)}   (${l.n} reads)`);
}

// ---- the runs ----

const BENCH_CONFIG: Partial<TenantConfig> = { compactionPeriodMs: 0, gcPeriodMs: 0 };

/** Put throughput, branch creation, and space on disk, on one timeline of STRATA_BENCH_REPO_GB of pages. */
async function putBranchSpace(dir: string): Promise<void> {
  // Image layers for every compacted key range (one compaction leaves one band of L1s), and GC with no retention.
  const repo = Repository.open(join(dir, 'big'), { reconstructorFor: () => patchReconstructor });
  try {
    const tenant = repo.createTenant(undefined, { ...BENCH_CONFIG, imageLayerDeltasMin: 1, gcHorizonBytes: 0 });
    const big = tenant.createTimeline();
    const blocks = Math.max(1, Math.floor((imageGiB * GIB) / BLCKSZ));
    const relation = rel(16384);
    const blockKeys = Array.from({ length: blocks }, (_, b) => relBlockKey(relation, 0, b));

    out(`\n== put throughput (one timeline; default checkpointDistanceBytes 64 MiB: each flush is one frozen in-memory layer written as an L0 delta layer, the last one by timeline.flush() at the end) ==`);
    const images = await putValues(big, 0, blocks, (i) => ({ key: blockKeys[i] as Key, image: true, bytes: pages[i % PAGE_POOL] as Buffer }));
    putLine('8 KiB images (pgbench-like pages)', images, sequentialWriteMs(dir, images.bytes));
    const recs = await putValues(big, images.lsnEnd, recordCount, (i) => ({ key: blockKeys[Math.floor(rand() * blocks)] as Key, image: false, bytes: records[i % RECORD_POOL] as Buffer }));
    putLine('100-byte records (random blocks)', recs, sequentialWriteMs(dir, recs.bytes));

    out(`  (strata writes images LZ4-compressed and fsyncs only layer files; the baseline fsyncs every byte: a ratio above 1 is compression)`);
    out(`\n== branch creation (Tenant.branch at the last record LSN: one metadata file written, fsynced, renamed, folder fsynced; nothing copied) ==`);
    const small = tenant.createTimeline();
    const smallBlocks = SMALL_TIMELINE_BYTES / BLCKSZ;
    const smallKeys = Array.from({ length: smallBlocks }, (_, b) => relBlockKey(relation, 0, b));
    await putValues(small, 0, smallBlocks, (i) => ({ key: smallKeys[i] as Key, image: true, bytes: pages[i % PAGE_POOL] as Buffer }));
    const branchTimes = (t: Timeline): number[] => {
      const ms: number[] = [];
      for (let i = 0; i < BRANCHES_PER_TIMELINE; i++) {
        const t0 = performance.now();
        tenant.branch(t.id);
        ms.push(performance.now() - t0);
      }
      return ms.sort((a, b) => a - b);
    };
    const bigMs = branchTimes(big);
    const smallMs = branchTimes(small);
    const branchLine = (what: string, ms: number[]) =>
      out(`${what.padEnd(46)} median ${ms[ms.length >> 1]!.toFixed(2).padStart(6)} ms   max ${ms[ms.length - 1]!.toFixed(2).padStart(6)} ms   (${ms.length} branches)`);
    branchLine(`on a ${mib(images.bytes + recs.bytes)} timeline (${big.layers.length} layers)`, bigMs);
    branchLine(`on a ${mib(smallBlocks * BLCKSZ)} timeline (${small.layers.length} layers)`, smallMs);
    out(`ratio big / small (median): ${(bigMs[bigMs.length >> 1]! / smallMs[smallMs.length >> 1]!).toFixed(2)} (O(1): about 1)`);

    out(`\n== space on disk (the big timeline; logical = its ${blocks} pages at the last LSN, ${mib(blocks * BLCKSZ)}; history put = ${mib(images.bytes + recs.bytes)}) ==`);
    const logical = blocks * BLCKSZ;
    const spaceLine = (what: string) => {
      const disk = layerBytes(big);
      const counts = { delta: big.layers.filter((l) => l.descriptor.kind === LayerKind.Delta).length, image: big.layers.filter((l) => l.descriptor.kind === LayerKind.Image).length };
      out(`${what.padEnd(44)} ${mib(disk).padStart(11)} in ${String(counts.delta).padStart(3)} delta + ${String(counts.image).padStart(3)} image layers   disk / logical ${(disk / logical).toFixed(2)}`);
    };
    spaceLine('after the flushes (L0 layers)');
    const t0 = performance.now();
    const c = await compact(big, { force: true });
    const compactMs = performance.now() - t0;
    if (c.imageLayerErrors.length > 0) throw new Error(`image layer creation failed: ${c.imageLayerErrors.join('; ')}`);
    spaceLine('after compaction + image layers');
    out(`  (compaction: ${c.l0LayersCompacted} L0 -> ${c.l1LayersCreated} L1 layers and ${c.imageLayersCreated} image layers in ${(compactMs / 1000).toFixed(1)} s)`);
    let imagePages = 0;
    let imageStored = 0;
    for (const l of big.layers) {
      if (!(l instanceof LayerFile) || l.descriptor.kind !== LayerKind.Image) continue;
      for (const e of l.entries()) {
        imagePages++;
        imageStored += e.length;
      }
    }
    out(`  image layer pages: ${imagePages} x 8 KiB stored in ${mib(imageStored)}: LZ4 compression ratio ${((imagePages * BLCKSZ) / imageStored).toFixed(2)}`);
    // GC removes only layers wholly below its cutoff: one more record moves the last LSN past the compacted ones.
    await putValues(big, recs.lsnEnd, 1, () => ({ key: blockKeys[0] as Key, image: false, bytes: records[0] as Buffer }));
    const g = await gc(big);
    spaceLine('after GC (no retention; branch points kept)');
    out(`  (GC: ${g.layersRemoved} layers removed, ${mib(g.bytesRemoved)}; the timeline folder holds ${mib(bytesUnder(big.dir))} with metadata)`);
  } finally {
    await repo.close(false);
  }
}

/** Read latencies at depths 0, 10 and 100, from the page cache, from disk with the OS cache warm, and truly cold. */
async function reads(dir: string, cold: boolean): Promise<void> {
  const root = join(dir, 'reads');
  // No image layers: the records stay above each key's image, in L1 delta layers.
  const config: Partial<TenantConfig> = { ...BENCH_CONFIG, imageLayerDeltasMin: Number.MAX_SAFE_INTEGER };
  let repo = Repository.open(root, { reconstructorFor: () => patchReconstructor });
  let tenantId: string;
  let timelineId: string;
  let lsn: Lsn;
  const keysByDepth = new Map<number, Key[]>(READ_DEPTHS.map((d) => [d, Array.from({ length: readKeys }, (_, b) => relBlockKey(rel(20000 + d), 0, b))]));
  try {
    const tenant = repo.createTenant(undefined, config);
    const t = tenant.createTimeline();
    tenantId = tenant.id;
    timelineId = t.id;
    // Images first, then records round-robin over the keys, as WAL interleaves them.
    const all = READ_DEPTHS.flatMap((d) => keysByDepth.get(d) as Key[]);
    const end = (await putValues(t, 0, all.length, (i) => ({ key: all[i] as Key, image: true, bytes: pages[i % PAGE_POOL] as Buffer }))).lsnEnd;
    const recordKeys: Key[] = [];
    for (let r = 0; r < Math.max(...READ_DEPTHS); r++) for (const d of READ_DEPTHS) if (d > r) recordKeys.push(...(keysByDepth.get(d) as Key[]));
    await putValues(t, end, recordKeys.length, (i) => ({ key: recordKeys[i] as Key, image: false, bytes: records[(i * 7919) % RECORD_POOL] as Buffer }));
    await compact(t, { force: true });
    lsn = t.lastRecordLsn;
    out(
      `\n== page reads at the last LSN (${readKeys} keys per depth; ${mib(layerBytes(t))} in ${t.layers.length} L1 delta layers, no image layers; ` +
        `Reconstructor: copies each 100-byte record into the page at its offset) ==`,
    );
  } finally {
    await repo.close(false);
  }

  const results = new Map<string, Latencies>();
  for (const depth of READ_DEPTHS) {
    const keys = shuffled(keysByDepth.get(depth) as Key[]);
    if (cold) {
      dropOsCache();
      repo = Repository.open(root, { reconstructorFor: () => patchReconstructor });
      results.set(`cold ${depth}`, await readLatencies(repo.timeline(tenantId, timelineId), keys, lsn));
      await repo.close(false);
    }
    // A new Repository: the materialised page cache and the layer files' index block cache are cold. The OS page
    // cache is warm: the cold run above just read these keys, or (without it) the files were just written.
    repo = Repository.open(root, { reconstructorFor: () => patchReconstructor });
    const t2 = repo.timeline(tenantId, timelineId);
    results.set(`disk ${depth}`, await readLatencies(t2, keys, lsn));
    results.set(`cache ${depth}`, await readLatencies(t2, keys, lsn));
    await repo.close(false);
  }
  for (const depth of READ_DEPTHS) latencyLine(`${depth} records above the image, page cache hit`, results.get(`cache ${depth}`) as Latencies);
  for (const depth of READ_DEPTHS) latencyLine(`${depth} records above the image, from disk (new Repository, OS cache warm)`, results.get(`disk ${depth}`) as Latencies);
  if (cold) {
    for (const depth of READ_DEPTHS) latencyLine(`${depth} records above the image, TRULY COLD (OS cache dropped)`, results.get(`cold ${depth}`) as Latencies);
    out('  (cold: the OS cache is dropped before each depth; one depth\'s keys are adjacent in the layer file, so kernel readahead serves many of them)');
  } else {
    out('(truly cold run skipped: the OS page cache cannot be dropped here, or STRATA_BENCH_REPO_COLD=0)');
  }

  // Baseline: a file as big as the read repository's folder, read at random 8 KiB-aligned offsets.
  const path = join(dir, 'baseline-pread');
  const size = bytesUnder(root);
  const chunk = Buffer.alloc(MIB);
  randomFillSync(chunk);
  const fd = openSync(path, 'w');
  for (let done = 0; done < size; ) done += writeSync(fd, chunk, 0, Math.min(chunk.length, size - done), done);
  fsyncSync(fd);
  closeSync(fd);
  const samples = readKeys;
  preadLatencies(path, samples); // untimed: the first reads of a just-written file, as strata's warm reads were not the first
  latencyLine(`  baseline: raw 8 KiB pread, random offsets, ${mib(size)} file, OS cache warm`, preadLatencies(path, samples));
  if (cold) {
    dropOsCache();
    latencyLine(`  baseline: raw 8 KiB pread, random offsets, ${mib(size)} file, TRULY COLD`, preadLatencies(path, samples));
  }
  unlinkSync(path);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(parentDir, 'strata-bench-repo-'));
  // The folder goes however the run ends: finished, failed, interrupted, or its output closed (EPIPE).
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => process.exit(128 + os.constants.signals[signal]));
  const cold = canDropOsCache();
  const t0 = performance.now();
  out(`bench/repository in ${dir}: ${imageGiB} GiB of images, ${recordCount} records, ${readKeys} read keys per depth; OS page cache can be dropped: ${cold ? 'yes' : 'no'}`);
  try {
    await putBranchSpace(dir);
    await reads(dir, cold);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  out(`\ntotal ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

await main();
