/**
 * Tests for the PostgreSQL test harness: clusters start, answer, crash and recover, and always go
 * away; every workload runs on a real server and writes the WAL it claims to (pg_waldump --stats).
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { test } from 'node:test';
import { liveClusterCount, PgCluster, pgBin, run, withCluster } from './cluster.js';
import { ALL_WORKLOADS, runAllWorkloads } from './workloads.js';

test('a cluster starts, answers a query, has WAL segments and is removed by destroy', async () => {
  const c = await PgCluster.create({ name: 'basic' });
  try {
    assert.equal(await c.query('SELECT 1 + 1'), '2');
    assert.match(await c.query('SHOW server_version'), /^15\./);
    assert.equal(await c.query('SHOW wal_level'), 'replica');
    assert.equal(await c.query('SHOW fsync'), 'on');
    assert.equal(await c.query(`SELECT current_setting('port')`), String(c.port));
    const segments = await c.walSegments();
    assert.ok(segments.length >= 1, 'pg_wal has at least one segment');
    const first = segments[0];
    assert.ok(first !== undefined);
    assert.equal((await stat(`${c.walDir}/${first}`)).size, 16 * 1024 * 1024);
    assert.match(await c.currentLsn(), /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.match(await c.currentLsn('insert'), /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.match(c.connectionString(), /^postgresql:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    // Multi-statement scripts run statement by statement; the output is trimmed.
    assert.equal(await c.query('CREATE TABLE t (a int); INSERT INTO t VALUES (1), (2); SELECT sum(a) FROM t;'), '3');
    await assert.rejects(c.query('SELECT * FROM no_such_table'), /no_such_table/);
  } finally {
    await c.destroy();
  }
  assert.equal(c.isRunning(), false);
  assert.equal(existsSync(c.tempDir), false, 'the temp folder is gone');
  assert.equal(liveClusterCount(), 0);
});

test('withCluster destroys the cluster even when the callback throws', async () => {
  let dir = '';
  await assert.rejects(
    withCluster({ name: 'throws', walSegSizeMb: 1, dataChecksums: true }, async (c) => {
      dir = c.tempDir;
      assert.equal(await c.query('SHOW wal_segment_size'), '1MB');
      assert.equal(await c.query('SHOW data_checksums'), 'on');
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.notEqual(dir, '');
  assert.equal(existsSync(dir), false);
  assert.equal(liveClusterCount(), 0);
});

test('kill9 then start runs crash recovery and keeps committed data', async () => {
  await withCluster({ name: 'kill9' }, async (c) => {
    await c.query('CREATE TABLE k (id int); INSERT INTO k SELECT generate_series(1, 10000);');
    const before = await c.currentLsn();
    await c.kill9();
    assert.equal(c.isRunning(), false);
    await c.start();
    assert.equal(await c.query('SELECT count(*) FROM k'), '10000');
    assert.match(await c.serverLog(), /database system was interrupted|was not properly shut down/);
    const after = await c.currentLsn();
    assert.ok(lsnValue(after) > lsnValue(before), `WAL moved on after recovery: ${before} -> ${after}`);
    await c.restart();
    assert.equal(await c.query('SELECT count(*) FROM k'), '10000');
  });
});

test('a base backup starts as a cluster of its own with the data at backup time', async () => {
  await withCluster({ name: 'primary' }, async (primary) => {
    await primary.query('CREATE TABLE b (id int); INSERT INTO b SELECT generate_series(1, 1000);');
    const backupDir = await primary.baseBackup();
    await primary.query('INSERT INTO b SELECT generate_series(1001, 2000);');
    const copy = await PgCluster.fromDataDir(backupDir, { name: 'from-backup' });
    try {
      assert.notEqual(copy.port, primary.port);
      assert.equal(copy.walSegSizeMb, 16);
      assert.equal(await copy.query('SELECT count(*) FROM b'), '1000');
      assert.equal(await primary.query('SELECT count(*) FROM b'), '2000');
      assert.equal((await copy.controlData())['Database cluster state'], 'in production');
    } finally {
      await copy.destroy();
    }
  });
  assert.equal(liveClusterCount(), 0);
});

test('every workload runs on a cluster with wal_compression=lz4 and writes the WAL it is for', async (t) => {
  await withCluster(
    { name: 'workloads', dataChecksums: true, settings: { wal_compression: 'lz4', track_commit_timestamp: true } },
    async (c) => {
      const start = await c.currentLsn();
      const timings = await runAllWorkloads(c);
      assert.deepEqual(
        timings.map((x) => x.name),
        ALL_WORKLOADS.map((w) => w.name),
      );
      for (const x of timings) t.diagnostic(`${x.name}: ${x.durationMs} ms`);
      const end = await c.currentLsn();

      // pg_waldump is the oracle: each resource manager the workloads are for shows up.
      const dump = await run(pgBin('pg_waldump'), ['-p', c.walDir, '-s', start, '-e', end, '--stats=record']);
      const rmgrLines = new Set(dump.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? ''));
      const expected = [
        'XLOG/FPI_FOR_HINT',
        'XLOG/SWITCH',
        'Transaction/PREPARE',
        'Transaction/COMMIT_PREPARED',
        'Transaction/ABORT_PREPARED',
        'Transaction/ASSIGNMENT',
        'Storage/TRUNCATE',
        'Database/CREATE_FILE_COPY',
        'Database/CREATE_WAL_LOG',
        'Database/DROP',
        'Tablespace/CREATE',
        'Tablespace/DROP',
        'MultiXact/CREATE_ID',
        'MultiXact/ZERO_MEM_PAGE',
        'RelMap/UPDATE',
        'Heap/LOCK',
        'Heap2/MULTI_INSERT',
        'Heap2/VISIBLE',
        'Btree/UNLINK_PAGE',
        'Btree/DEDUP',
        'Hash/SPLIT_ALLOCATE_PAGE',
        'Hash/SQUEEZE_PAGE',
        'Gin/UPDATE_META_PAGE',
        'Gin/DELETE_LISTPAGE',
        'Gist/PAGE_UPDATE',
        'SPGist/ADD_LEAF',
        'SPGist/VACUUM_LEAF',
        'BRIN/DESUMMARIZE',
        'BRIN/REVMAP_EXTEND',
        'Generic/Generic',
        'Sequence/LOG',
        'CommitTs/ZEROPAGE',
        'LogicalMessage/MESSAGE',
      ];
      const missing = expected.filter((e) => !rmgrLines.has(e));
      assert.deepEqual(missing, [], `pg_waldump --stats=record lacks these record kinds:\n${dump.stdout}`);
    },
  );
  assert.equal(liveClusterCount(), 0);
});

test('all workloads run twice at scale 0.1 under wal_consistency_checking with zstd and 1 MB segments', async (t) => {
  await withCluster(
    { name: 'wcc', walSegSizeMb: 1, settings: { wal_compression: 'zstd', wal_consistency_checking: 'all' } },
    async (c) => {
      assert.equal(c.walSegSizeBytes, 1024 * 1024);
      const start = await c.currentLsn();
      // The second run checks that each workload can run again on a cluster it already ran on.
      for (let round = 1; round <= 2; round++) {
        const timings = await runAllWorkloads(c, { scale: 0.1 });
        t.diagnostic(`round ${round}: ${timings.reduce((sum, x) => sum + x.durationMs, 0)} ms`);
      }
      const end = await c.currentLsn();
      // pg_waldump reads every record in between: the 20 MB messages span 21 segments here.
      const dump = await run(pgBin('pg_waldump'), ['-p', c.walDir, '-s', start, '-e', end, '--stats']);
      assert.match(dump.stdout, /LogicalMessage/);
      assert.equal(await c.query(`SELECT count(*) FROM pg_prepared_xacts`), '0');
    },
  );
});

function lsnValue(text: string): bigint {
  const [hi, lo] = text.split('/');
  return (BigInt('0x' + (hi ?? '0')) << 32n) | BigInt('0x' + (lo ?? '0'));
}
