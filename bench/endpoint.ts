/**
 * bench/endpoint (issue 8): how long an endpoint takes to start on a database of about 1 GB (a base
 * backup from strata, unpacked, and PostgreSQL started: `strata endpoint start`), beside the stock
 * way to the same place: `pg_basebackup` of a primary holding the same database, then PostgreSQL
 * started on it. Both are timed until the server accepts connections; the ratio is stock / strata.
 *
 * STRATA_BENCH_ENDPOINT_SCALE sets the pgbench scale of the database (default 64: ~1 GB).
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ApiClient } from '../src/control/api-client.js';
import { Endpoints, freePort } from '../src/control/endpoints.js';
import { startPageServer, stopPageServer } from '../src/control/pageserver.js';
import { pgBin, run, runAsPostgres } from '../src/control/process.js';
import { WorkDir } from '../src/control/workdir.js';
import { STRATA_BIN } from '../src/cli/control.js';
import { PgCluster } from '../src/testing/cluster.js';

const exec = promisify(execFile);
const scale = Number(process.env['STRATA_BENCH_ENDPOINT_SCALE'] ?? 64);


const dir = mkdtempSync(join(tmpdir(), 'strata-bench-endpoint-'));
chmodSync(dir, 0o755);
const work = WorkDir.init(dir, { httpPort: await freePort(), pageServicePort: await freePort() });
const api = new ApiClient(work.httpBase);
const endpoints = new Endpoints(work, api);
let primary: PgCluster | undefined;
let copy: PgCluster | undefined;
try {
  await startPageServer(work, STRATA_BIN);
  const tenant = (await api.createTenant()).tenant_id;
  const main = await api.createTimeline(tenant, { initdb: true });
  await endpoints.create('ep', tenant, main.timeline_id);
  const first = await endpoints.start('ep');
  process.stdout.write(`loading pgbench scale ${scale} through an endpoint (strata is its synchronous standby)...\n`);
  await exec(pgBin('pgbench'), ['-h', '127.0.0.1', '-p', String(first.port), '-U', 'postgres', '-i', '-s', String(scale), '-q', 'postgres'], { timeout: 3_600_000 });
  const size = (await exec(pgBin('psql'), ['-h', '127.0.0.1', '-p', String(first.port), '-U', 'postgres', '-Atc', "SELECT pg_database_size('postgres')", 'postgres'])).stdout.trim();
  await endpoints.stop('ep');
  await api.checkpoint(tenant, main.timeline_id);

  // strata: base backup of the branch, unpacked, PostgreSQL started.
  const t0 = performance.now();
  const again = await endpoints.start('ep');
  const strataMs = performance.now() - t0;
  const rows = (await exec(pgBin('psql'), ['-h', '127.0.0.1', '-p', String(again.port), '-U', 'postgres', '-Atc', 'SELECT count(*) FROM pgbench_accounts', 'postgres'])).stdout.trim();
  if (rows !== String(scale * 100_000)) throw new Error(`the endpoint has ${rows} accounts, expected ${scale * 100_000}`);
  await endpoints.stop('ep');

  // Stock: a primary with the same database; pg_basebackup of it, then PostgreSQL started on the copy.
  primary = await PgCluster.create({ name: 'bench-endpoint-primary' });
  await primary.pgbench(['-i', '-s', String(scale), '-q'], { timeoutMs: 3_600_000 });
  await primary.checkpoint();
  const target = join(await primary.makeDir('copy-root'), 'data');
  const s0 = performance.now();
  await runAsPostgres(pgBin('pg_basebackup'), ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', target, '-X', 'stream', '-c', 'fast'], { timeoutMs: 3_600_000 });
  const backupMs = performance.now() - s0;
  copy = await PgCluster.fromDataDir(target, { name: 'bench-endpoint-copy', start: false });
  const c0 = performance.now();
  await copy.start();
  const startMs = performance.now() - c0;
  // fromDataDir copies the folder (not timed); the stock figure is the backup plus the start.
  const stockMs = backupMs + startMs;

  const mib = Number(size) / (1 << 20);
  process.stdout.write(`database: pgbench scale ${scale}, ${mib.toFixed(0)} MiB\n`);
  process.stdout.write(`strata endpoint start (base backup from strata + unpack + start)  ${strataMs.toFixed(0).padStart(8)} ms  ${(mib / (strataMs / 1000)).toFixed(1)} MiB/s\n`);
  process.stdout.write(`pg_basebackup ${backupMs.toFixed(0)} ms + PostgreSQL start ${startMs.toFixed(0)} ms        ${stockMs.toFixed(0).padStart(8)} ms  ${(mib / (stockMs / 1000)).toFixed(1)} MiB/s\n`);
  process.stdout.write(`ratio stock / strata: ${(stockMs / strataMs).toFixed(2)} (>= 1: strata is at least as fast)\n`);
} finally {
  await copy?.destroy();
  await primary?.destroy();
  for (const e of endpoints.list()) if (e.running) await endpoints.stop(e.name).catch(() => undefined);
  await stopPageServer(work).catch(() => undefined);
  await run('rm', ['-rf', dir]).catch(() => rmSync(dir, { recursive: true, force: true }));
}
