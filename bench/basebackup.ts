/**
 * bench/basebackup: strata's base backup generation beside `pg_basebackup -Ft` of the primary, for
 * the same pgbench database, in one run.
 *
 * A cluster runs `pgbench -i` at STRATA_BENCH_SCALE (10 unless told) and is stopped; its data
 * directory is imported into a timeline (every page an image), it is started again and runs
 * STRATA_BENCH_SECONDS of pgbench with 4 clients, and that WAL is ingested (pages then need redo of
 * pgbench's records on top of their images). Then, STRATA_BENCH_RUNS times each, alternating:
 *   - strata: writeBaseBackup at the last record LSN (a fresh page cache each run: the repository
 *     is reopened), timed from the call until the file is closed; first over L0 delta
 *     layers on top of the imported images (every pgbench record since the import is redone),
 *     then after a compaction that made image layers at the last LSN (pages read, no redo);
 *   - PostgreSQL: `pg_basebackup -Ft -X none -c fast --no-sync` of the running primary into a
 *     folder, timed from start to exit (its fast checkpoint included; the server is idle).
 * Each strata run is made twice: into a file (fs.WriteStream), and into a sink that drops the bytes
 * (generation alone; in the page service the bytes go to a socket, and the client writes the file,
 * as pg_basebackup does in its own process). Figures are MiB/s of tar; the ratios are strata's
 * speed over pg_basebackup's (target >= 1). The machine has 2 cores: run it more than once.
 */
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importDataDirectory } from '../src/ingest/import-datadir.js';
import { walRecords } from '../src/ingest/wal-folder.js';
import { WalIngest } from '../src/ingest/walingest.js';
import { formatLsn, parseLsn } from '../src/pg/lsn.js';
import { InProcessRedoEngine } from '../src/redo/engine.js';
import { RedoReconstructor } from '../src/repository/redo-reconstructor.js';
import { Repository } from '../src/repository/repository.js';
import { writeBaseBackup } from '../src/service/basebackup.js';
import { PgCluster, pgBin, run } from '../src/testing/cluster.js';

const scale = Number(process.env['STRATA_BENCH_SCALE'] ?? 10);
const seconds = Number(process.env['STRATA_BENCH_SECONDS'] ?? 10);
const runs = Number(process.env['STRATA_BENCH_RUNS'] ?? 3);

const primary = await PgCluster.create({ name: 'bench-bb', start: false, settings: { max_wal_size: '8GB', checkpoint_timeout: '1h' } });
const root = mkdtempSync(join(tmpdir(), 'strata-bench-bb-'));
const out = mkdtempSync(join(tmpdir(), 'strata-bench-bb-out-'));
const engine = new InProcessRedoEngine();
const open = () => Repository.open(root, { reconstructorFor: (id) => new RedoReconstructor(engine, id, () => ({ hintBitsLogged: false })) });
let repo = open();
try {
  await primary.start();
  process.stdout.write(`pgbench -i -s ${scale}, import, pgbench -c 4 -T ${seconds}, ingest ...\n`);
  await primary.pgbench(['-i', '-s', String(scale), '-q']);
  await primary.stop('fast');
  // imageLayerDeltasMin 1: the forced compaction below then leaves image layers at the last LSN, as
  // a page server's compaction does over time (the page GetPage and backups then read without redo).
  const tenant = repo.createTenant(undefined, { compactionPeriodMs: 0, gcPeriodMs: 0, imageLayerDeltasMin: 1 });
  const timeline = tenant.createTimeline();
  const imported = importDataDirectory(timeline, primary.dataDir);
  await primary.start();
  await primary.pgbench(['-c', '4', '-j', '2', '-T', String(seconds), '-n'], { timeoutMs: (seconds + 120) * 1000 });
  await primary.checkpoint();
  const end = parseLsn(await primary.currentLsn('write'));
  const ingest = await WalIngest.open(timeline);
  let records = 0;
  for (const r of walRecords({ dir: primary.walDir, start: imported.lsn, end, timeline: 1, segmentSize: primary.walSegSizeBytes })) {
    const stored = ingest.ingest(r);
    if (stored !== undefined) await stored;
    records++;
  }
  await timeline.flush();
  process.stdout.write(`ingested ${records} records, ${formatLsn(imported.lsn)} to ${formatLsn(timeline.lastRecordLsn)}; ${timeline.layers.length} layer files\n`);
  const tenantId = tenant.id;
  const timelineId = timeline.id;

  /** One backup into a file (`toFile`) or into a sink that drops the bytes (generation alone). */
  const strata = async (toFile: boolean): Promise<{ ms: number; bytes: number; pages: number }> => {
    await repo.close(true);
    repo = open();
    const t = repo.tenant(tenantId).timeline(timelineId);
    const file = join(out, 'strata.tar');
    const t0 = performance.now();
    const stream = toFile ? createWriteStream(file) : undefined;
    const r = await writeBaseBackup(t, undefined, stream ?? (() => undefined));
    if (stream !== undefined) await new Promise<void>((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
    const ms = performance.now() - t0;
    rmSync(file, { force: true });
    return { ms, bytes: r.tarBytes, pages: r.relationPages };
  };
  const pg = async (): Promise<{ ms: number; bytes: number }> => {
    const dir = await primary.makeDir('pgbb');
    const t0 = performance.now();
    await run(pgBin('pg_basebackup'), ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', dir, '-Ft', '-X', 'none', '-c', 'fast', '--no-sync'], {
      timeoutMs: 600_000,
      env: { PGOPTIONS: '' },
    });
    const ms = performance.now() - t0;
    const bytes = statSync(join(dir, 'base.tar')).size;
    rmSync(dir, { recursive: true, force: true });
    return { ms, bytes };
  };

  const mibs = (bytes: number, ms: number) => bytes / (1 << 20) / (ms / 1000);
  const line = (name: string, bytes: number, ms: number) => `${name.padEnd(44)} ${(bytes / (1 << 20)).toFixed(1).padStart(7)} MiB ${ms.toFixed(0).padStart(7)} ms ${mibs(bytes, ms).toFixed(1).padStart(8)} MiB/s\n`;
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

  const report = async (label: string): Promise<void> => {
    const toFile: number[] = [];
    const dropped: number[] = [];
    const p: number[] = [];
    let sBytes = 0;
    let pBytes = 0;
    for (let i = 0; i < runs; i++) {
      const a = await strata(true);
      toFile.push(mibs(a.bytes, a.ms));
      sBytes = a.bytes;
      process.stdout.write(line(`strata (${label}) into a file, run ${i + 1}`, a.bytes, a.ms));
      const d = await strata(false);
      dropped.push(mibs(d.bytes, d.ms));
      process.stdout.write(line(`strata (${label}) bytes dropped, run ${i + 1}`, d.bytes, d.ms));
      const b = await pg();
      p.push(mibs(b.bytes, b.ms));
      pBytes = b.bytes;
      process.stdout.write(line(`pg_basebackup -Ft into a file, run ${i + 1}`, b.bytes, b.ms));
    }
    process.stdout.write(
      `${label}: median strata into a file ${median(toFile).toFixed(1)} MiB/s, bytes dropped ${median(dropped).toFixed(1)} MiB/s (${(sBytes / (1 << 20)).toFixed(1)} MiB); ` +
        `pg_basebackup ${median(p).toFixed(1)} MiB/s (${(pBytes / (1 << 20)).toFixed(1)} MiB)\n` +
        `${label}: ratio strata / pg_basebackup ${(median(toFile) / median(p)).toFixed(2)} into a file, ${(median(dropped) / median(p)).toFixed(2)} generation alone (target >= 1)\n`,
    );
  };
  await report('L0 deltas over images');
  const compaction = await repo.tenant(tenantId).compactAll(true);
  const layers = repo.tenant(tenantId).timeline(timelineId).layers;
  process.stdout.write(`compacted: ${JSON.stringify(compaction)}; ${layers.length} layer files, ${layers.filter((l) => l.descriptor.kind === 2).length} image layers\n`);
  await report('after compaction: image layers');
} finally {
  await repo.close(false);
  await engine.close();
  await primary.destroy();
  rmSync(root, { recursive: true, force: true });
  rmSync(out, { recursive: true, force: true });
}
