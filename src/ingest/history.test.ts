/**
 * History (issue 6): at five LSNs recorded during a workload, strata's pages equal those of a stock
 * PostgreSQL recovered to the same LSN (recovery_target_lsn, exclusive: every record that starts
 * before it, which is every record that ends at or before it when the LSN is a record boundary, as
 * pg_current_wal_insert_lsn() is). strata's history has been flushed, compacted into L1 and image
 * layers in between, so the reads walk real layer files.
 */
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatLsn, parseLsn, parseWalFileName, type Lsn } from '../pg/lsn.js';
import { InProcessRedoEngine } from '../redo/engine.js';
import { RedoReconstructor } from '../repository/redo-reconstructor.js';
import { Repository } from '../repository/repository.js';
import { PgCluster, run } from '../testing/cluster.js';
import { comparePages, relationInfo } from '../testing/page-oracle.js';
import { importDataDirectory } from './import-datadir.js';
import { walRecords } from './wal-folder.js';
import { WalIngest } from './walingest.js';

test('pages at five past LSNs equal a stock PostgreSQL recovered to each of them', { timeout: 900_000 }, async () => {
  const c = await PgCluster.create({ start: false, settings: { autovacuum: 'off' } });
  const root = mkdtempSync(join(tmpdir(), 'strata-history-'));
  const engine = new InProcessRedoEngine();
  const repo = Repository.open(root, { reconstructorFor: (id) => new RedoReconstructor(engine, id, () => ({ hintBitsLogged: false })) });
  const recovered: PgCluster[] = [];
  try {
    const tenant = repo.createTenant(undefined, { checkpointDistanceBytes: 1 << 20, compactionL0LayersMin: 3, imageLayerDeltasMin: 2, compactionPeriodMs: 0, gcPeriodMs: 0 });
    const timeline = tenant.createTimeline();
    const imported = importDataDirectory(timeline, c.dataDir);
    const initial = await c.makeDir('initial');
    cpSync(c.dataDir, initial, { recursive: true });
    await c.start();
    const lsns: Lsn[] = [];
    const mark = async () => lsns.push(parseLsn((await c.query('SELECT pg_current_wal_insert_lsn()')).trim()));
    await c.pgbench(['-i', '-s', '1', '-q']);
    await mark();
    await c.pgbench(['-c', '2', '-t', '150', '-n']);
    await mark();
    await c.query('CREATE TABLE h (id int primary key, v text); INSERT INTO h SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, 5000) g; CREATE INDEX ON h USING hash (v)');
    await mark();
    await c.query('DELETE FROM h WHERE id % 3 = 0; VACUUM h; UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 7 = 0');
    await mark();
    await c.query('DROP TABLE pgbench_history; TRUNCATE h; INSERT INTO h SELECT g, md5(g::text) FROM generate_series(1, 100) g');
    await mark();
    await c.stop('fast');
    const archive = await c.makeDir('archive');
    for (const n of readdirSync(c.walDir)) if (parseWalFileName(n) !== null) copyFileSync(join(c.walDir, n), join(archive, n));
    await run('chown', ['-R', 'postgres:', archive, initial]).catch(() => undefined);

    // strata follows all of it, with flushes, compactions and image layers on the way.
    const ingest = await WalIngest.open(timeline);
    let n = 0;
    for (const r of walRecords({ dir: archive, start: imported.lsn, timeline: 1, segmentSize: c.walSegSizeBytes })) {
      await ingest.ingest(r);
      if (++n % 20_000 === 0) await tenant.compactAll();
    }
    await timeline.flush();
    const compaction = await tenant.compactAll(true);
    console.log(`ingested ${n} records; ${timeline.layers.length} layers; last compaction ${JSON.stringify(compaction)}`);

    for (const [i, lsn] of lsns.entries()) {
      // A stock PostgreSQL recovered from the same starting point to the LSN, then promoted and checkpointed.
      const pg = await PgCluster.fromDataDir(initial, {
        name: `history-${i}`,
        start: false,
        settings: { restore_command: `cp ${archive}/%f %p`, recovery_target_lsn: formatLsn(lsn), recovery_target_inclusive: 'off', recovery_target_action: 'promote', autovacuum: 'off', max_connections: 100 },
      });
      recovered.push(pg);
      writeFileSync(join(pg.dataDir, 'recovery.signal'), '');
      await run('chown', ['postgres:', join(pg.dataDir, 'recovery.signal')]).catch(() => undefined);
      await pg.start();
      for (let w = 0; (await pg.query('SELECT pg_is_in_recovery()')).trim() !== 'f'; w++) {
        assert.ok(w < 600, `recovery to ${formatLsn(lsn)} did not finish`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const rels = await relationInfo(pg);
      await pg.checkpoint();
      await pg.stop('fast');
      const cmp = await comparePages(timeline, lsn, pg.dataDir, rels);
      console.log(`at ${formatLsn(lsn)}: compared ${cmp.compared} pages, ${cmp.zeroTails} zero tails, ${cmp.mismatches.length} differ`);
      assert.deepEqual(cmp.mismatches.slice(0, 20), [], `pages at ${formatLsn(lsn)}`);
      assert.ok(cmp.compared > 300);
      await pg.destroy();
    }
  } finally {
    await repo.close(false);
    await engine.close();
    for (const pg of recovered) await pg.destroy().catch(() => undefined);
    await c.destroy();
    rmSync(root, { recursive: true, force: true });
  }
});
