/**
 * bench/pagebench: GetPage@LSN throughput and latency of the page service (issue 7), over loopback,
 * the way a compute reads: several connections, each with requests pipelined, at the latest LSN
 * (request_lsn = Lsn::MAX, not_modified_since = the last record LSN), for uniformly random blocks
 * of the main forks of a pgbench database.
 *
 * The timeline is filled as a page server's would be: `pgbench -i -s SCALE` on a stock PostgreSQL 15,
 * which is stopped and imported; then STRATA_PAGEBENCH_WORKLOAD_SECONDS of pgbench with 4 clients,
 * whose WAL is ingested (so pages have records above their images and some reads need redo), a
 * flush, and a forced compaction (as the background loop would do). A StrataServer then serves it
 * with its defaults (a redo worker process per tenant) and, in turn, each page cache size of
 * STRATA_PAGEBENCH_PAGE_CACHE_MB (the default 64 MiB, and 1 GiB, which holds the scale-50 data set), and a worker thread drives the load
 * (pagebench-load.ts). With a cache that holds the data set, every block is read once in order first
 * (a prewarm, its rate printed). Each run: 3 s of warm-up, then STRATA_PAGEBENCH_SECONDS measured; it prints
 * GetPage/s and p50/p99/p99.9 latency, and the server's own per-request latency from /metrics.
 *
 * Environment: STRATA_PAGEBENCH_SCALE (50), STRATA_PAGEBENCH_WORKLOAD_SECONDS (10),
 * STRATA_PAGEBENCH_SECONDS (10), STRATA_PAGEBENCH_CLIENTS (comma list of client counts, "1,2"),
 * STRATA_PAGEBENCH_DEPTH (requests in flight per client, 16), STRATA_PAGEBENCH_RUNS (2 per setting),
 * STRATA_PAGEBENCH_PAGE_CACHE_MB ("64,1024"), STRATA_PAGEBENCH_REDO ("process", the server's default, or
 * "in-process", to see what the worker's round trips cost). Targets (issue 7): >= 50,000 GetPage/s with p99 <= 2 ms.
 * Base backup MB/s beside pg_basebackup is the other half of the issue's bench; it is added when
 * the base backup lands.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { readWal } from '../src/cli/wal-files.js';
import { importDataDirectory } from '../src/ingest/import-datadir.js';
import { WalIngest } from '../src/ingest/walingest.js';
import { formatLsn } from '../src/pg/lsn.js';
import { InProcessRedoEngine } from '../src/redo/engine.js';
import { compact } from '../src/repository/compaction.js';
import { DatadirReader } from '../src/repository/datadir.js';
import { RedoReconstructor } from '../src/repository/redo-reconstructor.js';
import { Repository } from '../src/repository/repository.js';
import { StrataServer } from '../src/service/server.js';
import { PgCluster } from '../src/testing/cluster.js';
import type { WalRecord } from '../src/wal/record.js';
import type { LoadConfig, LoadResult } from './pagebench-load.js';

const env = (k: string, d: string) => process.env[k] ?? d;
const scale = Number(env('STRATA_PAGEBENCH_SCALE', '50'));
const workloadSeconds = Number(env('STRATA_PAGEBENCH_WORKLOAD_SECONDS', '10'));
const measureSeconds = Number(env('STRATA_PAGEBENCH_SECONDS', '10'));
const clientCounts = env('STRATA_PAGEBENCH_CLIENTS', '1,2').split(',').map(Number);
const depth = Number(env('STRATA_PAGEBENCH_DEPTH', '16'));
const runs = Number(env('STRATA_PAGEBENCH_RUNS', '2'));
const pageCacheMbs = env('STRATA_PAGEBENCH_PAGE_CACHE_MB', '64,1024').split(',').map(Number);
const redoMode = env('STRATA_PAGEBENCH_REDO', 'process');
if (redoMode !== 'process' && redoMode !== 'in-process') throw new Error(`STRATA_PAGEBENCH_REDO must be process or in-process, received ${redoMode}`);
const WARMUP_MS = 3000;

const say = (s: string) => process.stdout.write(s + '\n');
const secs = (t0: number) => ((performance.now() - t0) / 1000).toFixed(1);

const primary = await PgCluster.create({ name: 'pagebench', start: false, settings: { max_wal_size: '8GB', checkpoint_timeout: '1h', shared_buffers: '256MB' } });
const root = mkdtempSync(join(tmpdir(), 'strata-pagebench-'));
let server: StrataServer | undefined;
const cleanup = () => rmSync(root, { recursive: true, force: true });
process.once('SIGINT', () => {
  cleanup();
  process.exit(130);
});
try {
  let t0 = performance.now();
  await primary.start();
  await primary.pgbench(['-i', '-s', String(scale), '-q'], { timeoutMs: 1_800_000 });
  await primary.stop('fast');
  say(`pgbench -i -s ${scale}: ${secs(t0)} s`);

  t0 = performance.now();
  const engine = new InProcessRedoEngine();
  const repo = Repository.open(root, { reconstructorFor: (id) => new RedoReconstructor(engine, id, () => ({ hintBitsLogged: false })) });
  const tenant = repo.createTenant(undefined, { compactionPeriodMs: 0, gcPeriodMs: 0 });
  const timeline = tenant.createTimeline();
  const imported = importDataDirectory(timeline, primary.dataDir);
  await timeline.flush();
  say(`import: ${imported.blocks} blocks of ${imported.relations} relation forks at ${formatLsn(imported.lsn)}, ${secs(t0)} s`);

  await primary.start();
  await primary.pgbench(['-c', '4', '-j', '2', '-T', String(workloadSeconds), '-n'], { timeoutMs: (workloadSeconds + 300) * 1000 });
  const dbNode = Number(await primary.query("SELECT oid FROM pg_database WHERE datname = 'postgres'"));
  await primary.stop('fast');
  t0 = performance.now();
  const records: WalRecord[] = [];
  readWal({ dir: primary.walDir, start: imported.lsn, timeline: 1, segmentSize: primary.walSegSizeBytes }, (r) => {
    records.push(r);
    return true;
  });
  const ingest = await WalIngest.open(timeline);
  for (const r of records) await ingest.ingest(r);
  await timeline.flush();
  const compaction = await compact(timeline, { force: true });
  say(`ingest of ${workloadSeconds} s of pgbench: ${records.length} records to ${formatLsn(timeline.lastRecordLsn)}, flush and compaction ${secs(t0)} s; ${timeline.layers.length} layers; compaction ${JSON.stringify(compaction)}`);

  // The relations to read: every main fork of the pgbench database with blocks.
  const at = timeline.lastRecordLsn;
  const reader = new DatadirReader(timeline);
  const rels: [number, number, number, number][] = [];
  for (const r of await reader.relations(1663, dbNode, at)) {
    if (r.fork !== 0) continue;
    const n = await reader.relSize({ spcNode: 1663, dbNode, relNode: r.relNode } as never, 0, at);
    if (n > 0) rels.push([1663, dbNode, r.relNode, n]);
  }
  const totalBlocks = rels.reduce((n, r) => n + r[3], 0);
  const tenantId = tenant.id;
  const timelineId = timeline.id;
  await repo.close(true);
  await engine.close();

  for (const pageCacheMb of pageCacheMbs) {
    server = await StrataServer.start({ root, pageServicePort: 0, httpPort: 0, background: false, pageCacheBytes: pageCacheMb << 20, redo: { mode: redoMode } });
    await measure(server, pageCacheMb);
    await server.stop(false);
    server = undefined;
  }
  say('targets: >= 50000 GetPage/s with p99 <= 2 ms');

  async function measure(srv: StrataServer, pageCacheMb: number): Promise<void> {
    const load = (cfg: LoadConfig) =>
      new Promise<LoadResult>((resolve, reject) => {
        const w = new Worker(new URL('./pagebench-load.js', import.meta.url), { workerData: cfg });
        w.once('message', (m: LoadResult | { error: string }) => ('error' in m ? reject(new Error(m.error)) : resolve(m)));
        w.once('error', reject);
      });
    const base = { port: srv.pageService.port, tenantId, timelineId, notModifiedSince: String(at), rels, depth, warmupMs: WARMUP_MS, measureMs: measureSeconds * 1000 };
    if (pageCacheMb << 20 > totalBlocks * 8192 * 1.1) {
      // The cache holds the data set: read it all once first, so the runs measure the cached path (the cold one is the small cache's).
      const w = await load({ ...base, clients: 1, depth: 64, sequential: true });
      say(`prewarm: every block once, in order, 1 x 64: ${w.requests} GetPage in ${w.seconds.toFixed(1)} s (${(w.requests / w.seconds).toFixed(0)}/s), ${w.errors} errors`);
    }
    say(`serving ${totalBlocks} blocks (${((totalBlocks * 8192) / (1 << 20)).toFixed(0)} MiB) of ${rels.length} relations at ${formatLsn(at)}; page cache ${pageCacheMb} MiB; redo: ${redoMode === 'process' ? 'worker process' : 'in process'}`);
    say(`${'clients x depth'.padEnd(16)} ${'GetPage/s'.padStart(10)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'p99.9 ms'.padStart(9)} ${'errors'.padStart(7)}   server-side mean ms`);
    for (const clients of clientCounts) {
      for (let run = 0; run < runs; run++) {
        const before = serverLatency(srv.metrics.render());
        const result = await load({ ...base, clients });
        const after = serverLatency(srv.metrics.render());
        const q = (p: number) => ((result.latenciesUs[Math.min(result.latenciesUs.length - 1, Math.floor(p * result.latenciesUs.length))] ?? NaN) / 1000).toFixed(3);
        const serverMean = ((after.sum - before.sum) / Math.max(1, after.count - before.count)) * 1000;
        say(
          `${`${clients} x ${depth}`.padEnd(16)} ${(result.requests / result.seconds).toFixed(0).padStart(10)} ${q(0.5).padStart(8)} ${q(0.99).padStart(8)} ${q(0.999).padStart(9)} ${String(result.errors).padStart(7)}   ${serverMean.toFixed(3)}` +
            (result.firstError === undefined ? '' : `  first error: ${result.firstError}`),
        );
      }
    }
    const m = srv.metrics.render();
    const redo = [...srv.redo.metrics().values()][0];
    say(`page cache hits ${/result="hit"\} (\d+)/.exec(m)?.[1]}, misses ${/result="miss"\} (\d+)/.exec(m)?.[1]}; redo requests ${redo?.requests ?? 0} (mean ${redo === undefined || redo.latency.count === 0 ? '-' : (redo.latency.sumMs / redo.latency.count).toFixed(3)} ms)`);
  }
} finally {
  await server?.stop(false).catch(() => undefined);
  await primary.destroy();
  cleanup();
}

/** The server's GetPage latency sum and count from the metrics text. */
function serverLatency(text: string): { sum: number; count: number } {
  const sum = Number(/^strata_pagestream_request_seconds_sum\{kind="getpage"\} (\S+)$/m.exec(text)?.[1] ?? 0);
  const count = Number(/^strata_pagestream_request_seconds_count\{kind="getpage"\} (\S+)$/m.exec(text)?.[1] ?? 0);
  return { sum, count };
}
