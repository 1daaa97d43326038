/**
 * WAL push and import: `strata wal push` as a real PostgreSQL's archive_command fills a folder;
 * importing that folder into a timeline gives the server's pages.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatLsn } from '../pg/lsn.js';
import { InProcessRedoEngine } from '../redo/engine.js';
import { RedoReconstructor } from '../repository/redo-reconstructor.js';
import { Repository } from '../repository/repository.js';
import { PgCluster } from '../testing/cluster.js';
import { comparePages, relationInfo } from '../testing/page-oracle.js';
import { IngestError } from './errors.js';
import { importDataDirectory } from './import-datadir.js';
import { importWalFolder } from './wal-import.js';
import { pushWalFile } from './wal-push.js';
import { WalIngest } from './walingest.js';

test('wal push stores a file durably, again without complaint, and refuses a different one under its name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-push-'));
  try {
    const src = join(dir, 'src');
    const archive = join(dir, 'archive');
    mkdirSync(src);
    mkdirSync(archive);
    const name = '000000010000000000000003';
    writeFileSync(join(src, name), Buffer.alloc(1024, 7));
    assert.equal(pushWalFile(join(src, name), archive), 'stored');
    assert.equal(pushWalFile(join(src, name), archive), 'already-stored');
    writeFileSync(join(src, name), Buffer.alloc(1024, 8));
    assert.throws(() => pushWalFile(join(src, name), archive), (e: unknown) => e instanceof IngestError && /exists with different contents/.test(e.message));
    writeFileSync(join(src, 'not-wal'), 'x');
    assert.throws(() => pushWalFile(join(src, 'not-wal'), archive), /is not the name of a WAL segment/);
    assert.throws(() => pushWalFile(join(src, '000000010000000000000009'), archive), /ENOENT/);
    assert.deepEqual(readdirSync(archive), [name], 'no temporary file is left behind');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a folder filled by archive_command = strata wal push imports into a timeline with the server\'s pages', { timeout: 600_000 }, async () => {
  const c = await PgCluster.create({ start: false });
  const root = mkdtempSync(join(tmpdir(), 'strata-import-'));
  const engine = new InProcessRedoEngine();
  const repo = Repository.open(root, { reconstructorFor: (id) => new RedoReconstructor(engine, id, () => ({ hintBitsLogged: false })) });
  try {
    const timeline = repo.createTenant().createTimeline();
    importDataDirectory(timeline, c.dataDir);
    const archive = await c.makeDir('archive');
    const strata = resolve('bin/strata.js');
    await c.configure({ archive_mode: 'on', archive_command: `'${process.execPath}' '${strata}' wal push %p --to '${archive}'` });
    await c.start();
    await c.pgbench(['-i', '-s', '2', '-q']);
    await c.pgbench(['-c', '2', '-t', '200', '-n']);
    await c.query('CREATE TABLE extra AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g; CREATE INDEX ON extra (v); CHECKPOINT');
    const rels = await relationInfo(c);
    const switched = (await c.query('SELECT pg_walfile_name(pg_switch_wal())')).trim();
    // Wait for archive_command to have stored the segment that ends with the switch.
    for (let i = 0; ; i++) {
      const last = (await c.query('SELECT coalesce(last_archived_wal, \'\') || \'|\' || failed_count FROM pg_stat_archiver')).trim();
      if (last.startsWith(`${switched}|`)) break;
      assert.ok(i < 600, `archiving did not reach ${switched}: ${last}; server log: ${(await c.serverLog()).slice(-2000)}`);
      await sleep(100);
    }
    // Nothing but the shutdown checkpoint (in the next segment) changes pages from here on.
    await c.stop('fast');

    const ingest = await WalIngest.open(timeline);
    const result = await importWalFolder(ingest, archive);
    assert.ok(result.records > 1000, `imported ${result.records} records`);
    assert.match(result.stoppedBecause, /could not find file/, 'import stops at the first segment not archived');
    // Imported again with nothing new, it does nothing and says so.
    const again = await importWalFolder(ingest, archive);
    assert.equal(again.records, 0);
    const at = timeline.lastRecordLsn;
    console.log(`imported ${result.records} records from ${formatLsn(result.from)} to ${formatLsn(result.to)} (${result.stoppedBecause})`);
    const cmp = await comparePages(timeline, at, c.dataDir, rels);
    console.log(`compared ${cmp.compared} pages; ${cmp.mismatches.length} differ`);
    assert.deepEqual(cmp.mismatches.slice(0, 20), []);
    assert.ok(cmp.compared > 500);
  } finally {
    await repo.close(false);
    await engine.close();
    await c.destroy();
    rmSync(root, { recursive: true, force: true });
  }
});
