/**
 * A timeline from a running primary (issue 6): BASE_BACKUP over the replication connection while
 * pgbench writes and DDL runs, imported at its start LSN, then followed; at the end every page
 * equals the primary's. Reads below the backup's end are refused; a walsender killed during the
 * backup and a primary that refuses give clear errors and leave the timeline empty.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CheckPointStruct } from '../pg/control.js';
import { formatLsn, parseLsn, type Lsn } from '../pg/lsn.js';
import type { Oid } from '../pg/types.js';
import { InProcessRedoEngine } from '../redo/engine.js';
import { DatadirReader } from '../repository/datadir.js';
import { RepositoryError } from '../repository/errors.js';
import { CHECKPOINT_KEY, CONTROL_FILE_KEY, relBlockKey, relmapKey, twoPhaseFileKey } from '../repository/key.js';
import { RedoReconstructor } from '../repository/redo-reconstructor.js';
import { Repository } from '../repository/repository.js';
import { PgCluster } from '../testing/cluster.js';
import { comparePages, relationFiles, relationInfo } from '../testing/page-oracle.js';
import { IngestError } from './errors.js';
import { TimelineFollower } from './follower.js';
import { importFromPrimary, type BackupImportEvent } from './import-backup.js';
import { SLRU_FOLDERS } from './import-datadir.js';
import { WalIngest } from './walingest.js';

const CONFIG = { checkpointDistanceBytes: 8 << 20, compactionPeriodMs: 0, gcPeriodMs: 0 };
const SETTINGS = { autovacuum: 'off', max_prepared_transactions: 5 };

function openRepo(root: string, engine: InProcessRedoEngine): Repository {
  return Repository.open(root, { reconstructorFor: (id) => new RedoReconstructor(engine, id, () => ({ hintBitsLogged: false })) });
}

const connectTo = (c: PgCluster, user = 'postgres') => ({ host: '127.0.0.1', port: c.port, user, applicationName: 'strata' });

/** relfilenode of a table, as `spc/db/relfilenode`. */
async function fileNode(c: PgCluster, table: string): Promise<string> {
  return c.query(
    `SELECT coalesce(nullif(c.reltablespace, 0), (SELECT dattablespace FROM pg_database WHERE datname = current_database())) || '/' || (SELECT oid FROM pg_database WHERE datname = current_database()) || '/' || pg_relation_filenode(c.oid) FROM pg_class c WHERE relname = '${table}'`,
  );
}

async function inDirectory(reader: DatadirReader, node: string, at: Lsn): Promise<boolean> {
  const [spc, db, rel] = node.split('/').map(Number) as [number, number, number];
  return (await reader.relations(spc, db, at)).some((r) => r.relNode === rel && r.fork === 0);
}

test('a base backup of a busy primary, imported and followed: every page equals the primary\'s; reads below its end are refused', { timeout: 300_000 }, async () => {
  const c = await PgCluster.create({ settings: SETTINGS });
  const root = mkdtempSync(join(tmpdir(), 'strata-import-backup-'));
  const engine = new InProcessRedoEngine();
  const repo = openRepo(root, engine);
  let follower: TimelineFollower | undefined;
  try {
    const spcDir = await c.makeDir('spc');
    await c.query(`CREATE TABLESPACE spc LOCATION '${spcDir}'`);
    await c.pgbench(['-i', '-s', '3', '-q']);
    await c.psql(`
      CREATE TABLE ts_dropped (id int, pad text) TABLESPACE spc;
      INSERT INTO ts_dropped SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g;
      CREATE TABLE ts_kept (id int PRIMARY KEY USING INDEX TABLESPACE spc, n int) TABLESPACE spc;
      INSERT INTO ts_kept SELECT g, 0 FROM generate_series(1, 20000) g;
      CREATE TABLE base_dropped (id int, pad text);
      INSERT INTO base_dropped SELECT g, repeat('y', 200) FROM generate_series(1, 20000) g;
      CREATE TABLE shrinking (id int, pad text);
      INSERT INTO shrinking SELECT g, repeat('z', 200) FROM generate_series(1, 40000) g;
      DELETE FROM shrinking WHERE id > 5000;
      BEGIN;
      INSERT INTO ts_kept VALUES (-1, 0);
      PREPARE TRANSACTION 'before';
    `);
    const droppedNodes = [await fileNode(c, 'ts_dropped'), await fileNode(c, 'base_dropped')];
    const shrinkingNode = await fileNode(c, 'shrinking');
    const shrinkingBefore = Number(await c.query(`SELECT pg_relation_size('shrinking') / 8192`));

    // The load runs through the whole backup and on while strata follows.
    const load = c.pgbench(['-c', '4', '-T', '20', '-n'], { timeoutMs: 120_000 });
    const timeline = repo.createTenant(undefined, CONFIG).createTimeline();
    let ddl: Promise<string> | undefined;
    const events: BackupImportEvent[] = [];
    const t0 = Date.now();
    const result = await importFromPrimary(timeline, connectTo(c), {
      slotName: 'strata',
      // Slow enough that pgbench and the DDL below change files while they are read.
      maxRateKbPerS: 16 * 1024,
      onEvent: (e) => {
        events.push(e);
        // base.tar comes after the tablespace's archive: ts_dropped's file is in the backup, and its drop in the WAL.
        if (e.kind === 'archive' && e.name === 'base.tar')
          ddl = c
            .psql(
              `DROP TABLE ts_dropped;
               DROP TABLE base_dropped;
               UPDATE ts_kept SET n = n + 1 WHERE id % 7 = 0;
               COMMIT PREPARED 'before';
               BEGIN;
               INSERT INTO ts_kept VALUES (-2, 0);
               PREPARE TRANSACTION 'during';
               CREATE TABLE created_during AS SELECT g AS id, repeat('c', 100) AS pad FROM generate_series(1, 30000) g;
               CREATE TABLE ts_created TABLESPACE spc AS SELECT g AS id FROM generate_series(1, 30000) g;
               VACUUM shrinking;
               CHECKPOINT;`,
            )
            .then(() => c.query('SELECT pg_current_wal_insert_lsn()'));
      },
    });
    const importMs = Date.now() - t0;
    const ddlLsn = parseLsn(await (ddl ?? Promise.reject(new Error('base.tar never began'))));
    console.log(
      `imported ${result.archiveBytes} archive bytes (${result.archives.join(', ')}) in ${importMs} ms: start ${formatLsn(result.startLsn)}, checkpoint ${formatLsn(result.label.checkpointLsn)} (pg_control's ${formatLsn(result.control.checkPoint)}), end ${formatLsn(result.endLsn)}; ${result.relations} relation forks, ${result.blocks} blocks, ${result.slruPages} SLRU pages, ${result.databases} databases, ${result.partialBlocksDropped} partial blocks, ${result.entriesPassedOver} entries passed over; DDL done at ${formatLsn(ddlLsn)}`,
    );
    assert.ok(result.slotCreated);
    assert.deepEqual(result.archives, [result.archives[0], 'base.tar']);
    assert.match(result.archives[0] as string, /^\d+\.tar$/, 'the tablespace has an archive of its own');
    assert.ok(ddlLsn < result.endLsn, `the DDL (done at ${formatLsn(ddlLsn)}) ran during the backup (end ${formatLsn(result.endLsn)})`);
    // pg_control, sent last, names the checkpoint the DDL ran, not the backup's: its counters are where ingest starts.
    assert.ok(result.control.checkPoint > result.label.checkpointLsn, `pg_control's checkpoint ${formatLsn(result.control.checkPoint)} is after the backup's ${formatLsn(result.label.checkpointLsn)}`);
    assert.ok(result.endLsn - result.startLsn > 1n << 20n, 'pgbench wrote WAL during the backup');
    assert.equal(timeline.lastRecordLsn, result.startLsn);
    assert.equal(timeline.consistentLsn, result.endLsn);
    assert.ok(events.some((e) => e.kind === 'started' && e.walsenderPid > 0));

    // Below the backup's end: refused, naming the consistent LSN.
    for (const at of [result.startLsn, (result.endLsn - 1n) as Lsn]) {
      await assert.rejects(timeline.get(CONTROL_FILE_KEY, at), (e: unknown) => {
        assert.ok(e instanceof RepositoryError && e.code === 'NOT_CONSISTENT', String(e));
        assert.match(e.message, new RegExp(`consistent only from ${formatLsn(result.endLsn)}`));
        return true;
      });
    }
    assert.throws(() => repo.tenant(repo.list()[0]?.id as string).branch(timeline.id, result.startLsn), /consistent only from/);

    follower = await TimelineFollower.start({ timeline, walLogDir: join(root, 'wal'), slotName: 'strata', connect: connectTo(c) });
    await follower.waitForLsn(result.endLsn, 60_000);
    // At the end: readable.
    assert.ok((await timeline.get(CONTROL_FILE_KEY, result.endLsn)).length > 0);
    const [spc, db, rel] = shrinkingNode.split('/').map(Number) as [number, number, number];
    assert.equal((await timeline.get(relBlockKey({ spcNode: spc as Oid, dbNode: db as Oid, relNode: rel as Oid }, 0, 0), result.endLsn)).length, 8192);

    const bench = await load;
    const tps = /tps = ([\d.]+)/.exec(bench.stdout)?.[1];
    const rels = await relationInfo(c);
    const createdNodes = [await fileNode(c, 'created_during'), await fileNode(c, 'ts_created')];
    const shrinkingAfter = Number(await c.query(`SELECT pg_relation_size('shrinking') / 8192`));
    await c.checkpoint();
    const lsn = parseLsn(await c.query('SELECT pg_current_wal_insert_lsn()'));
    await follower.waitForLsn(lsn, 60_000);
    // The primary stops; its walsender sends the shutdown checkpoint first, and strata takes it in.
    await c.stop('fast');
    const control = await c.controlData();
    await follower.waitForLsn((parseLsn(control['Latest checkpoint location'] as string) + 1n) as Lsn, 60_000);
    const at = timeline.lastRecordLsn;
    await follower.stop();
    follower = undefined;

    const reader = new DatadirReader(timeline);
    for (const node of droppedNodes) assert.equal(await inDirectory(reader, node, at), false, `${node}, dropped during the backup, is gone`);
    for (const node of createdNodes) assert.equal(await inDirectory(reader, node, at), true, `${node}, created during the backup, is there`);
    assert.ok(shrinkingAfter < shrinkingBefore, `VACUUM truncated shrinking (${shrinkingBefore} -> ${shrinkingAfter} blocks)`);
    assert.equal(await reader.relSize({ spcNode: spc as Oid, dbNode: db as Oid, relNode: rel as Oid }, 0, at), shrinkingAfter);
    const cmp = await comparePages(timeline, at, c.dataDir, rels);
    console.log(`pgbench ${tps} tps; followed to ${formatLsn(at)}; compared ${cmp.compared} pages (${cmp.zeroTails} zero tails), ${cmp.mismatches.length} differ`);
    assert.deepEqual(cmp.mismatches.slice(0, 20), []);
    assert.ok(cmp.compared > 5000);

    // The rest of the state, against what the stopped primary left on disk (as ingest.test.ts checks it):
    // every relation fork strata lists has a file and the other way round, the databases, SLRU
    // segments byte for byte, relmapper files, prepared transactions, the checkpoint counters.
    const files = new Set(relationFiles(c.dataDir).filter((f) => f.fork !== 2).map((f) => `${f.rel.spcNode}/${f.rel.dbNode}/${f.rel.relNode}/${f.fork}`));
    const listed = new Set<string>();
    for (const d of [{ spcNode: 1664, dbNode: 0 }, ...(await reader.databases(at))])
      for (const r of await reader.relations(d.spcNode, d.dbNode, at)) if (r.fork === 0 || r.fork === 3) listed.add(`${d.spcNode}/${d.dbNode}/${r.relNode}/${r.fork}`);
    assert.deepEqual([...listed].filter((x) => !files.has(x)), [], 'relations strata lists that have no file');
    assert.deepEqual([...files].filter((x) => !listed.has(x)), [], 'relation files strata does not list');
    const dbDirs = readdirSync(join(c.dataDir, 'base')).filter((d) => /^\d+$/.test(d)).map(Number).sort((a, b) => a - b);
    assert.deepEqual((await reader.databases(at)).filter((d) => d.spcNode === 1663).map((d) => d.dbNode).sort((a, b) => a - b), dbDirs);
    for (const [slru, folder] of SLRU_FOLDERS) {
      const dir = join(c.dataDir, folder);
      const onDisk = readdirSync(dir).map((n) => parseInt(n, 16)).sort((a, b) => a - b);
      assert.deepEqual((await reader.slruSegments(slru, at)).sort((a, b) => a - b), onDisk, `${folder} segments`);
      for (const segno of onDisk) {
        const theirs = readFileSync(join(dir, segno.toString(16).toUpperCase().padStart(4, '0')));
        const ours = Buffer.from(await reader.slruSegment(slru, segno, at));
        assert.ok(ours.equals(theirs), `${folder} segment ${segno} differs (${ours.length} and ${theirs.length} bytes, first at ${ours.findIndex((x, i) => x !== theirs[i])})`);
      }
    }
    for (const [s, d, path] of [[1664, 0, 'global/pg_filenode.map'], ...dbDirs.map((x) => [1663, x, `base/${x}/pg_filenode.map`] as const)] as const)
      assert.ok(Buffer.from(await timeline.get(relmapKey(s, d), at)).equals(readFileSync(join(c.dataDir, path))), `${path} differs`);
    const twophase = readdirSync(join(c.dataDir, 'pg_twophase')).map((n) => parseInt(n, 16));
    assert.equal(twophase.length, 1, 'the transaction prepared during the backup is still prepared');
    assert.deepEqual(await reader.twoPhaseXids(at), twophase);
    assert.ok(Buffer.from(await timeline.get(twoPhaseFileKey(twophase[0] as number), at)).equals(readFileSync(join(c.dataDir, 'pg_twophase', (twophase[0] as number).toString(16).toUpperCase().padStart(8, '0')))));
    const cp = new CheckPointStruct(await timeline.get(CHECKPOINT_KEY, at));
    assert.deepEqual(
      [`${cp.nextXid >> 32n}:${cp.nextXid & 0xffffffffn}`, String(cp.nextOid), String(cp.nextMulti), String(cp.nextMultiOffset), String(cp.oldestXid), String(cp.oldestMulti), formatLsn(cp.redo)],
      ["NextXID", 'NextOID', 'NextMultiXactId', 'NextMultiOffset', 'oldestXID', 'oldestMultiXid', 'REDO location'].map((k) => control[`Latest checkpoint's ${k}`]),
    );
  } finally {
    await follower?.stop();
    await repo.close(false);
    await engine.close();
    await c.destroy();
    rmSync(root, { recursive: true, force: true });
  }
});

test('a walsender killed during the backup, and a primary that refuses: clear errors, the timeline keeps nothing, the slot is dropped', { timeout: 120_000 }, async () => {
  const c = await PgCluster.create({ settings: SETTINGS });
  const root = mkdtempSync(join(tmpdir(), 'strata-import-backup-broken-'));
  const engine = new InProcessRedoEngine();
  let repo = openRepo(root, engine);
  try {
    await c.query('CREATE ROLE nobody LOGIN');
    const tenant = repo.createTenant(undefined, CONFIG);
    const timeline = tenant.createTimeline();

    // A role without REPLICATION: the primary refuses the walsender.
    await assert.rejects(importFromPrimary(timeline, connectTo(c, 'nobody'), { slotName: 'strata' }), (e: unknown) => {
      assert.ok(e instanceof IngestError && e.code === 'IMPORT_FAILED', String(e));
      console.log(`refused: ${e.message}`);
      assert.match(e.message, /must be superuser or replication role to start walsender/);
      assert.match(e.message, new RegExp(`timeline ${timeline.id} keeps nothing of it`));
      return true;
    });

    // The walsender is terminated in the middle of the stream, once strata has put some of the
    // backup's values into the timeline (throttled to 1 MB/s, the backup takes half a minute).
    let killed: Promise<string> | undefined;
    let putBeforeKill = 0;
    let poll: NodeJS.Timeout | undefined;
    await assert.rejects(
      importFromPrimary(timeline, connectTo(c), {
        slotName: 'strata',
        maxRateKbPerS: 1024,
        onEvent: (e) => {
          if (e.kind !== 'started') return;
          poll = setInterval(() => {
            if (timeline.inMemoryBytes === 0 || killed !== undefined) return;
            putBeforeKill = timeline.inMemoryBytes;
            killed = c.query(`SELECT pg_terminate_backend(${e.walsenderPid})`);
          }, 10);
        },
      }),
      (e: unknown) => {
        assert.ok(e instanceof IngestError && e.code === 'IMPORT_FAILED', String(e));
        console.log(`broken: ${e.message}`);
        assert.match(e.message, /terminating connection due to administrator command|closed by the server/);
        assert.match(e.message, /the slot "strata" it created on 127\.0\.0\.1:\d+ was dropped/);
        return true;
      },
    );
    clearInterval(poll);
    assert.equal(await killed, 't');
    assert.ok(putBeforeKill > 0, 'the stream broke after strata had put values');
    assert.equal(timeline.lastRecordLsnNumber, 0);
    assert.equal(timeline.layers.length, 0);
    assert.equal(timeline.inMemoryBytes, 0);
    assert.equal(await c.query("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'strata'"), '0');
    await assert.rejects(WalIngest.open(timeline), /holds no checkpoint/);
    await assert.rejects(timeline.get(CONTROL_FILE_KEY, 0n as Lsn), (e: unknown) => e instanceof RepositoryError && e.code === 'NOT_FOUND');

    // Nothing of it is on disk either; and the same timeline then takes a whole backup.
    const ids = [tenant.id, timeline.id] as const;
    await repo.close(true);
    repo = openRepo(root, engine);
    const reopened = repo.timeline(...ids);
    assert.equal(reopened.lastRecordLsnNumber, 0);
    assert.equal(reopened.layers.length, 0);
    const result = await importFromPrimary(reopened, connectTo(c), { slotName: 'strata' });
    assert.equal(reopened.lastRecordLsn, result.startLsn);
    assert.equal(reopened.consistentLsn, result.endLsn);
    await repo.close(true);
    repo = openRepo(root, engine);
    const again = repo.timeline(...ids);
    assert.equal(again.lastRecordLsn, result.startLsn, 'the import is durable');
    assert.equal(again.consistentLsn, result.endLsn, 'so is its consistent LSN');
    assert.ok(again.layers.length > 0);
  } finally {
    await repo.close(false);
    await engine.close();
    await c.destroy();
    rmSync(root, { recursive: true, force: true });
  }
});
