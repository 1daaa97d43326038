/**
 * strata following a real primary as its synchronous standby (issue 6's end-to-end tests): the
 * primary's pages at the end equal strata's; and with strata killed by SIGKILL ten times while
 * pgbench runs, every restart resumes from the durable state, and at the end no page differs (so
 * every transaction the primary reported committed is there).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatLsn, parseLsn } from '../pg/lsn.js';
import { InProcessRedoEngine } from '../redo/engine.js';
import { RedoReconstructor } from '../repository/redo-reconstructor.js';
import { Repository } from '../repository/repository.js';
import { PgCluster } from '../testing/cluster.js';
import { comparePages, relationInfo } from '../testing/page-oracle.js';
import { TimelineFollower } from './follower.js';
import { importDataDirectory } from './import-datadir.js';

const SYNC = { synchronous_standby_names: 'strata', autovacuum: 'off' };
const CONFIG = { checkpointDistanceBytes: 4 << 20, compactionPeriodMs: 0, gcPeriodMs: 0 };

function openRepo(root: string, engine: InProcessRedoEngine): Repository {
  return Repository.open(root, { reconstructorFor: (id) => new RedoReconstructor(engine, id, () => ({ hintBitsLogged: false })) });
}

test('following a primary as its synchronous standby: its pages equal strata\'s', { timeout: 600_000 }, async () => {
  const c = await PgCluster.create({ start: false, settings: SYNC });
  const root = mkdtempSync(join(tmpdir(), 'strata-follow-'));
  const engine = new InProcessRedoEngine();
  const repo = openRepo(root, engine);
  let follower: TimelineFollower | undefined;
  try {
    const timeline = repo.createTenant(undefined, CONFIG).createTimeline();
    importDataDirectory(timeline, c.dataDir);
    await c.start();
    follower = await TimelineFollower.start({ timeline, walLogDir: join(root, 'wal'), slotName: 'strata', connect: { host: '127.0.0.1', port: c.port, user: 'postgres', applicationName: 'strata' } });
    await c.pgbench(['-i', '-s', '2', '-q']);
    await c.pgbench(['-c', '4', '-T', '10', '-n']);
    const state = (await c.query("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'strata'")).trim();
    assert.equal(state, 'sync', 'strata is the synchronous standby');
    const rels = await relationInfo(c);
    await c.checkpoint();
    const lsn = parseLsn((await c.query('SELECT pg_current_wal_insert_lsn()')).trim());
    await follower.waitForLsn(lsn, 60_000);
    await c.stop('fast');
    const cmp = await comparePages(timeline, lsn, c.dataDir, rels);
    console.log(`followed to ${formatLsn(timeline.lastRecordLsn)}; compared ${cmp.compared} pages, ${cmp.mismatches.length} differ; log trimmed ${follower.trim()} segments`);
    assert.deepEqual(cmp.mismatches.slice(0, 20), []);
    assert.ok(cmp.compared > 500);
  } finally {
    await follower?.stop();
    await repo.close(false);
    await engine.close();
    await c.destroy();
    rmSync(root, { recursive: true, force: true });
  }
});

test('strata killed with SIGKILL ten times while it follows pgbench resumes each time; no page differs at the end', { timeout: 900_000 }, async () => {
  const c = await PgCluster.create({ start: false, settings: SYNC });
  const root = mkdtempSync(join(tmpdir(), 'strata-follow-kill-'));
  const engine = new InProcessRedoEngine();
  let repo = openRepo(root, engine);
  let child: ChildProcess | undefined;
  const childScript = resolve('dist/src/testing/follower-child.js');
  try {
    const tenant = repo.createTenant(undefined, CONFIG);
    const timeline = tenant.createTimeline();
    importDataDirectory(timeline, c.dataDir);
    await timeline.flush();
    const ids = [tenant.id, timeline.id];
    await repo.close(true);
    await c.start();
    let restarts = 0;
    const startChild = async (): Promise<ChildProcess> => {
      const p = spawn(process.execPath, [childScript, root, ...ids, join(root, 'wal'), String(c.port), 'strata'], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((ok, fail) => {
        let out = '';
        p.stdout?.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('following')) ok();
        });
        p.once('exit', (code) => fail(new Error(`follower child exited (${code}) before it was following: ${out}`)));
      });
      return p;
    };
    child = await startChild();
    await c.pgbench(['-i', '-s', '2', '-q']);
    const load = c.pgbench(['-c', '4', '-T', '40', '-n'], { timeoutMs: 600_000 });
    for (let i = 0; i < 10; i++) {
      await sleep(1000 + Math.floor(Math.random() * 2000));
      child.kill('SIGKILL');
      await new Promise((r) => child?.once('exit', r));
      // Commits wait for strata meanwhile (synchronous replication); it comes back and catches up.
      child = await startChild();
      restarts++;
    }
    const result = await load;
    const committed = /number of transactions actually processed: (\d+)/.exec(result.stdout)?.[1];
    const rels = await relationInfo(c);
    await c.checkpoint();
    const lsn = parseLsn((await c.query('SELECT pg_current_wal_insert_lsn()')).trim());
    const history = (await c.query('SELECT count(*) FROM pgbench_history')).trim();
    // Wait for the child to report the LSN, then stop it cleanly and look at what it left on disk.
    for (let w = 0; ; w++) {
      const reached = await new Promise<string>((ok) => child?.stdout?.once('data', (d: Buffer) => ok(d.toString())));
      const m = /at ([0-9A-F]+\/[0-9A-F]+)/.exec(reached);
      if (m !== null && parseLsn(m[1] as string) >= lsn) break;
      assert.ok(w < 600, `strata did not reach ${formatLsn(lsn)}: ${reached}`);
    }
    child.kill('SIGTERM');
    await new Promise((r) => child?.once('exit', r));
    child = undefined;
    await c.stop('fast');
    repo = openRepo(root, engine);
    const t = repo.timeline(ids[0] as string, ids[1] as string);
    const cmp = await comparePages(t, lsn, c.dataDir, rels);
    console.log(`${restarts} SIGKILLs; pgbench committed ${committed} transactions (pgbench_history ${history} rows); strata at ${formatLsn(t.lastRecordLsn)}; compared ${cmp.compared} pages, ${cmp.mismatches.length} differ`);
    assert.deepEqual(cmp.mismatches.slice(0, 20), []);
    assert.ok(cmp.compared > 500);
  } finally {
    child?.kill('SIGKILL');
    await repo.close(false);
    await engine.close();
    await c.destroy();
    rmSync(root, { recursive: true, force: true });
  }
});

test('following a standby that is promoted: strata goes on along the new timeline with the new primary\'s pages', { timeout: 600_000 }, async () => {
  const primary = await PgCluster.create({ start: false, settings: { autovacuum: 'off' } });
  const root = mkdtempSync(join(tmpdir(), 'strata-follow-promote-'));
  const engine = new InProcessRedoEngine();
  const repo = openRepo(root, engine);
  let standby: PgCluster | undefined;
  let follower: TimelineFollower | undefined;
  try {
    const timeline = repo.createTenant(undefined, CONFIG).createTimeline();
    importDataDirectory(timeline, primary.dataDir);
    await primary.start();
    await primary.pgbench(['-i', '-s', '1', '-q']);
    standby = await PgCluster.fromDataDir(await primary.baseBackup(['-R']), { name: 'follow-standby', settings: { autovacuum: 'off', hot_standby: 'on' } });
    // strata follows the primary (the standby's WAL starts at its base backup, after strata's start).
    const connect = (port: number) => ({ host: '127.0.0.1', port, user: 'postgres', applicationName: 'strata' });
    follower = await TimelineFollower.start({ timeline, walLogDir: join(root, 'wal'), slotName: 'strata', connect: connect(primary.port) });
    await primary.pgbench(['-c', '2', '-t', '200', '-n']);
    const before = parseLsn((await primary.query('SELECT pg_current_wal_insert_lsn()')).trim());
    await follower.waitForLsn(before, 60_000);
    // The primary goes away; the standby is promoted; strata is pointed at the new primary, on its new timeline.
    await primary.stop('fast');
    await follower.stop();
    const sb = standby;
    for (let w = 0; (await sb.query('SELECT pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn()')).trim() !== 't'; w++) {
      assert.ok(w < 300, 'the standby replayed what it received');
      await sleep(100);
    }
    assert.equal((await standby.query('SELECT pg_promote(true, 60)')).trim(), 't');
    follower = await TimelineFollower.start({ timeline, walLogDir: join(root, 'wal'), slotName: 'strata', connect: connect(standby.port) });
    await standby.pgbench(['-c', '2', '-t', '200', '-n']);
    await standby.query('CREATE TABLE after_promotion AS SELECT g FROM generate_series(1, 10000) g');
    const rels = await relationInfo(standby);
    await standby.checkpoint();
    const lsn = parseLsn((await standby.query('SELECT pg_current_wal_insert_lsn()')).trim());
    const tli = (await standby.query('SELECT timeline_id FROM pg_control_checkpoint()')).trim();
    await follower.waitForLsn(lsn, 60_000);
    await standby.stop('fast');
    const cmp = await comparePages(timeline, lsn, standby.dataDir, rels);
    console.log(`followed onto timeline ${tli} to ${formatLsn(timeline.lastRecordLsn)} (receiver on ${follower.receiver.timeline}); compared ${cmp.compared} pages, ${cmp.mismatches.length} differ`);
    assert.equal(tli, '2');
    assert.equal(follower.receiver.timeline, 2);
    assert.deepEqual(cmp.mismatches.slice(0, 20), []);
    assert.ok(cmp.compared > 500);
  } finally {
    await follower?.stop();
    await repo.close(false);
    await engine.close();
    await standby?.destroy();
    await primary.destroy();
    rmSync(root, { recursive: true, force: true });
  }
});
