/**
 * An empty tablespace in a base backup, against a real PostgreSQL 15: CREATE TABLESPACE alone writes
 * XLOG_TBLSPC_CREATE (tablespace.c) and a pg_tablespace row, and makes the tablespace's folder with
 * no database folder in it. Ingest lists that folder (datadir.ts: the (tablespace, 0) entry), so a
 * base backup has pg_tblspc/<oid>, and the server started on it can create a table there. Without
 * it the row is there but its folder is not, and CREATE TABLE ... TABLESPACE fails.
 */
import assert from 'node:assert/strict';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { importDataDirectory } from '../ingest/import-datadir.js';
import { walRecords } from '../ingest/wal-folder.js';
import { WalIngest } from '../ingest/walingest.js';
import { parseLsn } from '../pg/lsn.js';
import { InProcessRedoEngine } from '../redo/engine.js';
import { DatadirReader } from '../repository/datadir.js';
import { RedoReconstructor } from '../repository/redo-reconstructor.js';
import { Repository } from '../repository/repository.js';
import { PgCluster, run } from '../testing/cluster.js';
import { writeBaseBackup } from './basebackup.js';

test('a base backup taken after CREATE TABLESPACE alone has the tablespace, and a table can be made in it', { timeout: 300_000 }, async () => {
  const primary = await PgCluster.create({ start: false, name: 'bb-tblspc' });
  const engine = new InProcessRedoEngine();
  const root = mkdtempSync(join(tmpdir(), 'strata-bb-tblspc-'));
  const out = mkdtempSync(join(tmpdir(), 'strata-bb-tblspc-tar-'));
  const repo = Repository.open(root, { reconstructorFor: (id) => new RedoReconstructor(engine, id, () => ({ hintBitsLogged: true })) });
  let copy: PgCluster | undefined;
  try {
    const timeline = repo.createTenant(undefined, { compactionPeriodMs: 0, gcPeriodMs: 0 }).createTimeline();
    const imported = importDataDirectory(timeline, primary.dataDir);
    await primary.start();
    // A location outside the data directory, as a user gives it; it is empty until a database uses it.
    const location = await primary.makeDir('ts-location');
    await primary.query(`CREATE TABLESPACE empty_ts LOCATION '${location}'`);
    const oid = await primary.query("SELECT oid FROM pg_tablespace WHERE spcname = 'empty_ts'");
    const end = parseLsn(await primary.currentLsn('insert'));
    await primary.stop('fast');

    const ingest = await WalIngest.open(timeline);
    for (const r of walRecords({ dir: primary.walDir, start: imported.lsn, end, timeline: 1, segmentSize: primary.walSegSizeBytes })) await ingest.ingest(r);
    assert.ok(timeline.lastRecordLsn >= end, 'the WAL up to CREATE TABLESPACE is in');
    const listed = (await new DatadirReader(timeline).databases(timeline.lastRecordLsn)).filter((d) => d.spcNode === Number(oid));
    assert.deepEqual(listed, [{ spcNode: Number(oid), dbNode: 0 }], 'the tablespace folder is listed, with no database folder in it');

    const file = join(out, 'backup.tar');
    const stream = createWriteStream(file);
    await writeBaseBackup(timeline, undefined, stream);
    await new Promise<void>((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
    const names = (await run('tar', ['tf', file])).stdout.split('\n');
    assert.ok(names.includes(`pg_tblspc/${oid}/`), `the archive has pg_tblspc/${oid}/`);
    assert.ok(names.some((n) => n.startsWith(`pg_tblspc/${oid}/PG_15_`)), 'and its version folder');
    const data = join(out, 'data');
    mkdirSync(data);
    await run('tar', ['xf', file, '-C', data]);

    copy = await PgCluster.fromDataDir(data, { name: 'bb-tblspc-copy' });
    assert.equal(await copy.query("SELECT spcname FROM pg_tablespace WHERE oid = " + oid), 'empty_ts');
    assert.equal(await copy.query(`SELECT pg_tablespace_location(${oid})`), `pg_tblspc/${oid}`, 'the backup holds the tablespace in place');
    await copy.query('CREATE TABLE in_ts (id int PRIMARY KEY, v text) TABLESPACE empty_ts');
    await copy.query("INSERT INTO in_ts SELECT g, 'v' || g FROM generate_series(1, 1000) g");
    await copy.query('CHECKPOINT');
    assert.equal(await copy.query("SELECT count(*) || ' ' || max(v) FROM in_ts WHERE id > 500"), '500 v999');
    assert.equal(await copy.query("SELECT spcname FROM pg_class c JOIN pg_tablespace t ON t.oid = c.reltablespace WHERE relname = 'in_ts'"), 'empty_ts');
    // The folder is an ordinary tablespace: emptied, it can be dropped.
    await copy.query('DROP TABLE in_ts; DROP TABLESPACE empty_ts');
  } finally {
    await copy?.destroy();
    await repo.close(false);
    await engine.close();
    await primary.destroy();
    rmSync(root, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});
