/**
 * bench/ingest: strata's WAL ingest beside a stock PostgreSQL standby replaying the same WAL, in one run.
 *
 * A freshly initialised cluster is copied (the starting point of both), then runs `pgbench -i` at
 * STRATA_BENCH_SCALE and STRATA_BENCH_SECONDS of pgbench with 4 clients, and stops. Then:
 *   - strata: the copy is imported into a new timeline (not timed), and the WAL from its checkpoint
 *     on is read, decoded and ingested record by record (every block value, directory, SLRU
 *     operation and counter written to the repository), ending with a flush of every in-memory layer
 *     to layer files on disk, timed from the first WAL read to the end of the flush; the event loop
 *     turns every IMPORT_YIELD_RECORDS records, as in `strata wal import`;
 *   - PostgreSQL: the copy is started in archive recovery (restore_command from a copy of the WAL,
 *     hot_standby off), timed from `pg_ctl start` until it accepts connections (pg_isready), which
 *     includes its end-of-recovery checkpoint; checked to have replayed up to the last record.
 * Both figures are records/s and MiB/s of WAL; the ratio is strata's speed over PostgreSQL's.
 */
import { copyFileSync, cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWal, walRecords } from '../src/ingest/wal-folder.js';
import { importDataDirectory } from '../src/ingest/import-datadir.js';
import { IMPORT_YIELD_RECORDS } from '../src/ingest/wal-import.js';
import { WalIngest } from '../src/ingest/walingest.js';
import { formatLsn, lsn, parseWalFileName, type Lsn } from '../src/pg/lsn.js';
import { InProcessRedoEngine } from '../src/redo/engine.js';
import { RedoReconstructor } from '../src/repository/redo-reconstructor.js';
import { Repository } from '../src/repository/repository.js';
import { PgCluster, run } from '../src/testing/cluster.js';
import { timeArchiveRecovery } from '../src/testing/archive-recovery.js';

const scale = Number(process.env['STRATA_BENCH_SCALE'] ?? 10);
const seconds = Number(process.env['STRATA_BENCH_SECONDS'] ?? 30);

const primary = await PgCluster.create({ name: 'bench-ingest', start: false, settings: { max_wal_size: '8GB', checkpoint_timeout: '1h' } });
const root = mkdtempSync(join(tmpdir(), 'strata-bench-ingest-'));
try {
  const start = await primary.makeDir('start');
  cpSync(primary.dataDir, start, { recursive: true });
  await primary.start();
  process.stdout.write(`making WAL: pgbench -i -s ${scale}, then pgbench -c 4 -T ${seconds} ...\n`);
  await primary.pgbench(['-i', '-s', String(scale), '-q']);
  await primary.pgbench(['-c', '4', '-j', '2', '-T', String(seconds), '-n'], { timeoutMs: (seconds + 120) * 1000 });
  await primary.stop('fast');
  const archive = await primary.makeDir('archive');
  for (const n of readdirSync(primary.walDir)) if (parseWalFileName(n) !== null) copyFileSync(join(primary.walDir, n), join(archive, n));
  await run('chown', ['-R', 'postgres:', archive, start]).catch(() => undefined);

  // strata
  const engine = new InProcessRedoEngine();
  const repo = Repository.open(root, { reconstructorFor: (id) => new RedoReconstructor(engine, id, () => ({ hintBitsLogged: false })) });
  const timeline = repo.createTenant().createTimeline();
  const imported = importDataDirectory(timeline, start);
  await timeline.flush();
  const ingest = await WalIngest.open(timeline);
  // Read as `strata wal import` reads for ingest (wal-import.ts): ingest keeps nothing of a record, so the reader reuses its memory.
  const walOptions = { dir: archive, start: imported.lsn, timeline: 1, segmentSize: primary.walSegSizeBytes, recordsDieInCallback: true };
  // For the split only: reading and decoding alone (the OS cache is warm for both passes).
  const d0 = performance.now();
  let decoded = 0;
  readWal(walOptions, () => {
    decoded++;
    return true;
  });
  const decodeMs = performance.now() - d0;
  // Timed: records streamed from the files into ingest, as a standby streams them into redo.
  const t0 = performance.now();
  // The last record's LSNs, kept as values: the reader reuses record objects.
  let last: { lsn: Lsn; endLsn: Lsn } | undefined;
  let lastLsn = -1;
  let lastEnd = -1;
  let records = 0;
  for (const r of walRecords(walOptions)) {
    const stored = ingest.ingest(r);
    if (stored !== undefined) await stored;
    lastLsn = r.lsnNumber;
    lastEnd = r.endLsnNumber;
    // As wal import does: the event loop turns now and then, so finished layer files go into the
    // layer map while ingest goes on and their memory is used again (without it every layer's
    // flush waited for the end, and every layer took fresh memory).
    if (++records % IMPORT_YIELD_RECORDS === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  if (lastLsn >= 0) last = { lsn: lsn(BigInt(lastLsn)), endLsn: lsn(BigInt(lastEnd)) };
  if (last === undefined || records !== decoded) throw new Error(`ingested ${records} records, decoded ${decoded}`);
  const ingestMs = performance.now() - t0;
  const f0 = performance.now();
  await timeline.flush();
  const flushMs = performance.now() - f0;
  const strataMs = performance.now() - t0;
  const walMiB = Number(last.endLsn - imported.lsn) / (1 << 20);
  const layers = timeline.layers.length;
  await repo.close(false);
  await engine.close();

  // PostgreSQL
  const pgMs = await timeArchiveRecovery(start, archive, 'bench-ingest-standby', last.lsn);

  const line = (name: string, ms: number) =>
    `${name.padEnd(48)} ${(records / (ms / 1000) / 1000).toFixed(0).padStart(7)} k rec/s ${(walMiB / (ms / 1000)).toFixed(1).padStart(8)} MiB/s ${ms.toFixed(0).padStart(8)} ms\n`;
  process.stdout.write(`WAL: ${walMiB.toFixed(1)} MiB, ${records} records, ${formatLsn(imported.lsn)} to ${formatLsn(last.endLsn)}; ${ingest.stats.blockValues} block values; ${layers} layer files\n`);
  process.stdout.write(`  strata: read + decode alone ${decodeMs.toFixed(0)} ms (not in the total); read + decode + ingest ${ingestMs.toFixed(0)} ms, final flush ${flushMs.toFixed(0)} ms\n`);
  process.stdout.write(line('strata ingest (decode + store + flush)', strataMs));
  process.stdout.write(line('PostgreSQL standby replay (start to ready)', pgMs));
  process.stdout.write(`ratio strata / PostgreSQL speed: ${(pgMs / strataMs).toFixed(2)} (target >= 1)\n`);
} finally {
  await primary.destroy();
  rmSync(root, { recursive: true, force: true });
}
