/**
 * bench/redo: strata's redo engine beside PostgreSQL's own recovery, on the same WAL, in one run.
 *
 * Two WALs (STRATA_BENCH_CASE picks one): pgbench (pgbench -i at STRATA_BENCH_SCALE, a base backup,
 * then STRATA_BENCH_SECONDS of pgbench with 4 clients) and index-heavy (a base backup, then the
 * btree, hash, GIN, GiST, SP-GiST and BRIN workloads at STRATA_BENCH_INDEX_SCALE). For each:
 *   - PostgreSQL: the backup is started in archive recovery (restore_command from a copy of the
 *     WAL, hot_standby off), timed from `pg_ctl start` until it accepts connections (pg_isready),
 *     checked to have replayed up to the last record;
 *   - strata: the same WAL, from the backup's start location to its end, is decoded and every block
 *     reference applied by the redo engine to pages read from the backup's files on first use
 *     (XLogReadBufferForRedo's job included), timed from the first WAL read to the last page.
 * Both figures are records/s and MiB/s of WAL; the ratio is strata's speed over PostgreSQL's.
 *
 * A third case, engines, compares the two redo engines the repository can call (src/redo/engine.ts)
 * on requests made from real WAL (pgbench -i at STRATA_BENCH_ENGINE_SCALE, then
 * STRATA_BENCH_ENGINE_SECONDS of pgbench): a base image and the next 1 or 10 records of a page, as
 * GetPage@LSN asks. For each engine it prints throughput (pages/s with 64 requests in flight, so
 * the worker-process engine pipelines) and latency per request (one request at a time, p50/p99),
 * then the ratio worker process / in process.
 */
import { closeSync, copyFileSync, existsSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { readWal } from '../src/cli/wal-files.js';
import { BLCKSZ } from '../src/pg/constants.js';
import { formatLsn, lsn, parseLsn, parseWalFileName, type Lsn } from '../src/pg/lsn.js';
import { relationFileName, RELSEG_SIZE } from '../src/pg/relpath.js';
import { PgCluster, run } from '../src/testing/cluster.js';
import { timeArchiveRecovery } from '../src/testing/archive-recovery.js';
import { runAllWorkloads } from '../src/testing/workloads.js';
import type { WalRecord } from '../src/wal/record.js';
import { describeRecord } from '../src/wal/rmgr/index.js';
import { RedoError } from '../src/redo/errors.js';
import { applyRecord, DEFAULT_REDO_SETTINGS } from '../src/redo/redo.js';
import type { PageKey } from '../src/redo/types.js';
import { vmClear, vmPageOf } from '../src/redo/vm.js';
import { InProcessRedoEngine, ProcessRedoEngine, type RedoEngine } from '../src/redo/engine.js';
import { runRedoRequest, type RedoRequest } from '../src/redo/request.js';
import { pageHistories } from '../src/testing/redo-requests.js';
import { firstSegmentStart } from '../src/testing/waldump-oracle.js';

const scale = Number(process.env['STRATA_BENCH_SCALE'] ?? 10);
const seconds = Number(process.env['STRATA_BENCH_SECONDS'] ?? 30);
const indexScale = Number(process.env['STRATA_BENCH_INDEX_SCALE'] ?? 1);

/** The path of a relation fork's segment file in a data directory (relpath + segment number). */
function relationFile(dataDir: string, key: PageKey): string {
  const base = key.rel.spcNode === 1664 ? join(dataDir, 'global') : join(dataDir, 'base', String(key.rel.dbNode));
  return join(base, relationFileName(key.rel.relNode, key.fork, Math.floor(key.blkno / RELSEG_SIZE)));
}

/** A page as the backup holds it, or undefined past the end of its file (a new page). */
function backupPage(dataDir: string, key: PageKey): Uint8Array | undefined {
  const file = relationFile(dataDir, key);
  if (!existsSync(file)) return undefined;
  const fd = openSync(file, 'r');
  try {
    const page = Buffer.allocUnsafe(BLCKSZ);
    const n = readSync(fd, page, 0, BLCKSZ, (key.blkno % RELSEG_SIZE) * BLCKSZ);
    return n === BLCKSZ ? page : undefined;
  } finally {
    closeSync(fd);
  }
}

interface StrataResult {
  ms: number;
  records: number;
  blocks: number;
  refused: number;
  end: Lsn;
  lastRecord: Lsn;
}

/** Replays the WAL in `walDir` from `start` onto pages from `backupDir`, as recovery would. */
function strataReplay(backupDir: string, walDir: string, start: Lsn): StrataResult {
  const t0 = performance.now();
  // Pages by database, then by (relfilenode, fork, block) packed in a number: no string per lookup.
  const pages = new Map<number, Map<number, Uint8Array>>();
  const dbPages = (k: PageKey): Map<number, Uint8Array> => {
    const id = k.rel.spcNode * 0x1_0000_0000 + k.rel.dbNode;
    let db = pages.get(id);
    if (db === undefined) pages.set(id, (db = new Map()));
    return db;
  };
  const pageNumber = (k: PageKey): number => (k.rel.relNode * 4 + k.fork) * 0x1_0000_0000 + k.blkno;
  let records = 0;
  let blocks = 0;
  let refused = 0;
  let endNumber = Number(start);
  let lastNumber = Number(start);
  const onRecord = (r: WalRecord): boolean => {
    records++;
    endNumber = r.endLsnNumber;
    lastNumber = r.lsnNumber;
    const description = describeRecord(r);
    for (const b of r.blocks) {
      if (b === undefined) continue;
      // A block reference names its page: it is a PageKey.
      const db = dbPages(b);
      const k = pageNumber(b);
      let page = db.get(k);
      if (page === undefined && !b.applyImage && !b.willInit) page = backupPage(backupDir, b);
      try {
        db.set(k, applyRecord(page, b, { kind: 'record', record: r, blockId: b.id, description }, DEFAULT_REDO_SETTINGS));
        blocks++;
      } catch (e) {
        if (!(e instanceof RedoError)) throw e;
        refused++;
      }
    }
    for (const e of description.effects) {
      if (e.kind !== 'vm.clear') continue;
      const key: PageKey = { rel: e.rel, fork: 2, blkno: vmPageOf(e.heapBlock) as PageKey['blkno'] };
      const db = dbPages(key);
      const k = pageNumber(key);
      const vm = db.get(k) ?? backupPage(backupDir, key);
      if (vm === undefined) continue;
      vmClear(vm, e.heapBlock, e.flags);
      db.set(k, vm);
    }
    return true;
  };
  const segmentSize = 16 << 20;
  readWal({ dir: walDir, start, timeline: 1, segmentSize }, onRecord);
  return { ms: performance.now() - t0, records, blocks, refused, end: lsn(endNumber), lastRecord: lsn(lastNumber) };
}

/** One WAL to replay: what is loaded before the base backup, and what writes the WAL after it. */
interface BenchCase {
  readonly name: string;
  readonly describe: string;
  prepare(c: PgCluster): Promise<void>;
  load(c: PgCluster): Promise<void>;
}

const CASES: readonly BenchCase[] = [
  {
    name: 'pgbench',
    describe: `pgbench -i -s ${scale}, a base backup, then ${seconds} s of pgbench -c 4`,
    prepare: async (c) => void (await c.pgbench(['-i', '-s', String(scale), '-q'])),
    load: async (c) => void (await c.pgbench(['-c', '4', '-j', '2', '-T', String(seconds), '-n'], { timeoutMs: (seconds + 120) * 1000 })),
  },
  {
    name: 'index-heavy',
    describe: `a base backup, then the hash, GIN, GiST, SP-GiST, BRIN and btree workloads at scale ${indexScale}`,
    prepare: async () => undefined,
    load: async (c) =>
      void (await runAllWorkloads(c, { scale: indexScale, only: ['index_btree', 'index_hash', 'index_gin', 'index_gist', 'index_spgist', 'index_brin'] })),
  },
];

/** Makes the case's WAL, replays it both ways, and prints the figures. */
async function runCase(bench: BenchCase): Promise<void> {
  process.stdout.write(`\n[${bench.name}] making WAL: ${bench.describe} ...\n`);
  const primary = await PgCluster.create({ name: `bench-redo-${bench.name}`, settings: { max_wal_size: '8GB', checkpoint_timeout: '1h' } });
  try {
    await bench.prepare(primary);
    const backupDir = await primary.baseBackup();
    const label = readFileSync(join(backupDir, 'backup_label'), 'utf8');
    const start = parseLsn(/START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+)/.exec(label)![1]!);
    await bench.load(primary);
    await primary.stop('fast');

    // The WAL archive recovery reads: every segment the primary kept.
    const archive = await primary.makeDir('archive');
    for (const n of readdirSync(primary.walDir)) if (parseWalFileName(n) !== null) copyFileSync(join(primary.walDir, n), join(archive, n));
    await run('chown', ['-R', 'postgres:', archive]).catch(() => undefined);

    const strata = strataReplay(backupDir, archive, start);
    const walMiB = Number(strata.end - start) / (1 << 20);

    const pgMs = await timeArchiveRecovery(backupDir, archive, `bench-redo-${bench.name}-recovery`, strata.lastRecord);

    const line = (name: string, ms: number) =>
      `${name.padEnd(46)} ${(strata.records / (ms / 1000) / 1000).toFixed(0).padStart(7)} k rec/s ${(walMiB / (ms / 1000)).toFixed(1).padStart(8)} MiB/s ${ms.toFixed(0).padStart(8)} ms\n`;
    process.stdout.write(`[${bench.name}] WAL: ${walMiB.toFixed(1)} MiB, ${strata.records} records, ${formatLsn(start)} to ${formatLsn(strata.end)}; ${strata.blocks} block applications, ${strata.refused} refused\n`);
    process.stdout.write(line('strata redo (decode + apply, pages from backup)', strata.ms));
    process.stdout.write(line('PostgreSQL archive recovery (start to ready)', pgMs));
    process.stdout.write(`[${bench.name}] ratio strata / PostgreSQL speed: ${(pgMs / strata.ms).toFixed(2)} (target >= 1)\n`);
  } finally {
    await primary.destroy();
  }
}

const engineScale = Number(process.env['STRATA_BENCH_ENGINE_SCALE'] ?? 1);
const engineSeconds = Number(process.env['STRATA_BENCH_ENGINE_SECONDS'] ?? 10);
/** Requests per set and measurement; a set with fewer pages repeats them. */
const ENGINE_REQUESTS = 20_000;
const ENGINE_LATENCY_REQUESTS = 3_000;
/** Requests in flight at once in the throughput figure. */
const ENGINE_CONCURRENCY = 64;

/** Requests of `n` record inputs on a base image, from every page whose history is long enough. */
function engineRequests(histories: ReturnType<typeof pageHistories>, n: number): RedoRequest[] {
  const settings = DEFAULT_REDO_SETTINGS;
  const out: RedoRequest[] = [];
  for (const h of histories.values()) {
    // The last `n` record inputs (tag 'R'), after at least one input that makes the base.
    const records = h.inputs.map((input, i) => (input[0] === 0x52 ? i : -1)).filter((i) => i > 0);
    if (records.length < n) continue;
    const from = records[records.length - n]!;
    const inputs = h.inputs.slice(from).filter((i) => i[0] === 0x52).slice(0, n);
    const base = runRedoRequest({ key: h.key, base: undefined, inputs: h.inputs.slice(0, from), settings });
    out.push({ key: h.key, base, inputs, settings });
  }
  if (out.length === 0) throw new Error(`no page has ${n + 1} inputs`);
  const all: RedoRequest[] = [];
  for (let i = 0; i < ENGINE_REQUESTS; i++) all.push(out[i % out.length]!);
  return all;
}

interface EngineFigures {
  pagesPerSecond: number;
  p50Us: number;
  p99Us: number;
}

async function measureEngine(engine: RedoEngine, requests: readonly RedoRequest[], tenants: number): Promise<EngineFigures> {
  // Warm up (and start the workers).
  // ENGINE_CONCURRENCY callers, each asking for its next page as soon as it has the last one (as a
  // page server's connections would); pages are dropped as they come.
  const all = async (rs: readonly RedoRequest[]): Promise<void> => {
    let next = 0;
    const caller = async (): Promise<void> => {
      for (let i = next++; i < rs.length; i = next++) await engine.redo(`t${i % tenants}`, rs[i]!);
    };
    await Promise.all(Array.from({ length: ENGINE_CONCURRENCY }, caller));
  };
  await all(requests.slice(0, 2000));
  const t0 = performance.now();
  await all(requests);
  const pagesPerSecond = requests.length / ((performance.now() - t0) / 1000);
  const lat: number[] = [];
  for (let i = 0; i < ENGINE_LATENCY_REQUESTS; i++) {
    const t = performance.now();
    await engine.redo('t0', requests[i % requests.length]!);
    lat.push(performance.now() - t);
  }
  lat.sort((a, b) => a - b);
  return { pagesPerSecond, p50Us: lat[Math.floor(lat.length / 2)]! * 1000, p99Us: lat[Math.floor(lat.length * 0.99)]! * 1000 };
}

/** The in-process and worker-process engines on the same requests. */
async function runEngineCase(): Promise<void> {
  process.stdout.write(`\n[engines] making WAL: pgbench -i -s ${engineScale}, then ${engineSeconds} s of pgbench -c 4 ...\n`);
  const c = await PgCluster.create({ name: 'bench-redo-engines', settings: { max_wal_size: '8GB', checkpoint_timeout: '1h' } });
  let histories: ReturnType<typeof pageHistories>;
  try {
    await c.pgbench(['-i', '-s', String(engineScale), '-q']);
    await c.pgbench(['-c', '4', '-j', '2', '-T', String(engineSeconds), '-n'], { timeoutMs: (engineSeconds + 120) * 1000 });
    await c.stop('fast');
    const dir = join(c.dataDir, 'pg_wal');
    histories = pageHistories({ dir, start: parseLsn(firstSegmentStart(dir, c.walSegSizeBytes)), segmentSize: c.walSegSizeBytes });
  } finally {
    await c.destroy();
  }
  for (const n of [1, 10]) {
    const requests = engineRequests(histories, n);
    const pages = new Set(requests.map((r) => r.key)).size;
    process.stdout.write(`[engines] ${requests.length} requests of a base image and ${n} record${n === 1 ? '' : 's'} (${pages} distinct pages)\n`);
    const rows: [string, EngineFigures][] = [];
    const inProcess = new InProcessRedoEngine();
    rows.push(['in process', await measureEngine(inProcess, requests, 1)]);
    await inProcess.close();
    for (const tenants of [1, 2]) {
      const engine = new ProcessRedoEngine({ requestDeadlineMs: 60_000, queuedRequestsMax: ENGINE_REQUESTS });
      try {
        rows.push([`worker process, ${tenants} tenant${tenants === 1 ? '' : 's'}`, await measureEngine(engine, requests, tenants)]);
      } finally {
        await engine.close();
      }
    }
    for (const [name, f] of rows)
      process.stdout.write(`${name.padEnd(30)} ${f.pagesPerSecond.toFixed(0).padStart(8)} pages/s   latency p50 ${f.p50Us.toFixed(0).padStart(5)} us  p99 ${f.p99Us.toFixed(0).padStart(6)} us\n`);
    const base = rows[0]![1];
    for (const [name, f] of rows.slice(1))
      process.stdout.write(`[engines] ${n} record${n === 1 ? '' : 's'}: ratio ${name} / in process: throughput ${(f.pagesPerSecond / base.pagesPerSecond).toFixed(2)}, p50 latency ${(f.p50Us / base.p50Us).toFixed(2)}x\n`);
  }
}

const only = process.env['STRATA_BENCH_CASE'];
for (const bench of CASES) if (only === undefined || only === bench.name) await runCase(bench);
if (only === undefined || only === 'engines') await runEngineCase();
