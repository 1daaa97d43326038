/**
 * Issue 6's end-to-end test at full size, kept out of `npm test` (it takes minutes): run with
 * `npm run test:heavy`. A real PostgreSQL 15 primary with strata as its synchronous standby (a
 * slot, synchronous_standby_names naming strata): pgbench at scale 10 with 4 clients for 60 s, and
 * at the same time DDL, every index type, VACUUM, CREATE/DROP DATABASE and two-phase commit (the
 * harness's workloads); then CHECKPOINT, and every page of every relation of every database the
 * primary left on disk equals strata's at the primary's LSN.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatLsn, parseLsn } from '../pg/lsn.js';
import { InProcessRedoEngine } from '../redo/engine.js';
import { RedoReconstructor } from '../repository/redo-reconstructor.js';
import { Repository } from '../repository/repository.js';
import { PgCluster } from '../testing/cluster.js';
import { comparePages, relationInfo } from '../testing/page-oracle.js';
import { runAllWorkloads } from '../testing/workloads.js';
import { TimelineFollower } from './follower.js';
import { importDataDirectory } from './import-datadir.js';

const seconds = Number(process.env['STRATA_HEAVY_SECONDS'] ?? 60);
const scale = Number(process.env['STRATA_HEAVY_SCALE'] ?? 10);

test(`strata follows a primary through pgbench (scale ${scale}, 4 clients, ${seconds} s) plus DDL, every index type, VACUUM, databases and 2PC; every page equals the primary's`, { timeout: 3_600_000 }, async () => {
  const c = await PgCluster.create({ start: false, settings: { synchronous_standby_names: 'strata' } });
  const root = mkdtempSync(join(tmpdir(), 'strata-heavy-'));
  const engine = new InProcessRedoEngine();
  const repo = Repository.open(root, { reconstructorFor: (id) => new RedoReconstructor(engine, id, () => ({ hintBitsLogged: false })), background: true });
  let follower: TimelineFollower | undefined;
  try {
    const timeline = repo.createTenant().createTimeline();
    importDataDirectory(timeline, c.dataDir);
    await c.start();
    follower = await TimelineFollower.start({ timeline, walLogDir: join(root, 'wal'), slotName: 'strata', connect: { host: '127.0.0.1', port: c.port, user: 'postgres', applicationName: 'strata' } });
    const t0 = performance.now();
    // pgbench in a database of its own: the workloads (their own pgbench included) use postgres.
    await c.query('CREATE DATABASE bench');
    await c.pgbench(['-i', '-s', String(scale), '-q'], { db: 'bench', timeoutMs: 1_800_000 });
    const load = c.pgbench(['-c', '4', '-j', '2', '-T', String(seconds), '-n'], { db: 'bench', timeoutMs: (seconds + 600) * 1000 });
    load.catch(() => undefined);
    await runAllWorkloads(c, { scale: 0.2 });
    const result = await load;
    assert.equal((await c.query("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'strata'")).trim(), 'sync');
    const tps = /tps = ([\d.]+)/.exec(result.stdout)?.[1];
    const rels = await relationInfo(c);
    await c.checkpoint();
    const lsn = parseLsn((await c.query('SELECT pg_current_wal_insert_lsn()')).trim());
    await follower.waitForLsn(lsn, 600_000);
    const workMs = performance.now() - t0;
    await c.stop('fast');
    // bench is made with CREATE DATABASE's default strategy, WAL_LOG (see page-oracle.ts on its VM pages).
    const cmp = await comparePages(timeline, lsn, c.dataDir, rels, ['strata_db_wal_log', 'bench']);
    console.log(`pgbench ${tps} tps with strata as synchronous standby; followed to ${formatLsn(lsn)} in ${(workMs / 1000).toFixed(0)} s; ${timeline.layers.length} layer files; compared ${cmp.compared} pages, ${cmp.zeroTails} zero tails, ${cmp.walLogVmBitsLost} WAL_LOG VM pages, ${cmp.mismatches.length} differ`);
    assert.deepEqual(cmp.mismatches.slice(0, 20), []);
    assert.ok(cmp.compared > 10_000);
  } finally {
    await follower?.stop();
    await repo.close(false);
    await engine.close();
    await c.destroy();
    rmSync(root, { recursive: true, force: true });
  }
});
