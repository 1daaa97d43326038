/**
 * Ingest against a real PostgreSQL 15: a freshly initialised cluster is imported, runs workloads,
 * is checkpointed and stopped; its WAL is ingested from the import LSN; then every page of every
 * relation file the server left on disk must equal strata's page at the end of WAL, masked as
 * PostgreSQL masks pages for wal_consistency_checking (DESIGN.md's oracle for pages served).
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readWal } from '../cli/wal-files.js';
import { formatLsn, type Lsn } from '../pg/lsn.js';
import { InProcessRedoEngine } from '../redo/engine.js';
import { DatadirReader } from '../repository/datadir.js';
import { CHECKPOINT_KEY, relmapKey, Slru } from '../repository/key.js';
import { CheckPointStruct } from '../pg/control.js';
import { RedoReconstructor } from '../repository/redo-reconstructor.js';
import { Repository } from '../repository/repository.js';
import { PgCluster, type PgClusterOptions } from '../testing/cluster.js';
import { comparePages, relationFiles, relationInfo, type FileRel } from '../testing/page-oracle.js';
import { runAllWorkloads } from '../testing/workloads.js';
import type { WalRecord } from '../wal/record.js';
import { importDataDirectory } from './import-datadir.js';
import { WalIngest } from './walingest.js';

interface Run {
  readonly cluster: PgClusterOptions;
  readonly workloads?: readonly string[];
  readonly hintBitsLogged: boolean;
}

test('ingest: every page the server wrote equals strata\'s at the end of its WAL (all workloads)', { timeout: 900_000 }, async () => {
  await checkIngest({ cluster: { start: false }, hintBitsLogged: false });
});

test('ingest with data checksums, track_commit_timestamp and lz4 full-page images', { timeout: 900_000 }, async () => {
  await checkIngest({
    cluster: { start: false, dataChecksums: true, settings: { track_commit_timestamp: 'on', wal_compression: 'lz4' } },
    workloads: ['commit_timestamps', 'multixacts', 'two_phase', 'hint_bits', 'update_delete_vacuum', 'index_btree', 'index_gist', 'databases', 'subtransactions'],
    hintBitsLogged: true,
  });
});

async function checkIngest(run: Run): Promise<void> {
  const c = await PgCluster.create(run.cluster);
  const root = mkdtempSync(join(tmpdir(), 'strata-ingest-'));
  const engine = new InProcessRedoEngine();
  const open = () => Repository.open(root, { reconstructorFor: (id) => new RedoReconstructor(engine, id, () => ({ hintBitsLogged: run.hintBitsLogged })) });
  let repo = open();
  try {
    // Small layers, so that the run flushes, compacts and makes image layers on real WAL.
    const tenant = repo.createTenant(undefined, { checkpointDistanceBytes: 1 << 20, compactionL0LayersMin: 4, imageLayerDeltasMin: 2, compactionPeriodMs: 0, gcPeriodMs: 0, gcHorizonBytes: 16 << 20 });
    let timeline = tenant.createTimeline();
    const imported = importDataDirectory(timeline, c.dataDir);
    await c.start();
    await runAllWorkloads(c, run.workloads === undefined ? { scale: 0.1 } : { scale: 0.1, only: run.workloads });
    await c.pgbench(['-i', '-s', '1', '-q']);
    await c.pgbench(['-c', '2', '-t', '300', '-n']);
    const rels = await relationInfo(c);
    await c.checkpoint();
    await c.stop('fast');

    // Ingest the whole WAL from the import LSN on: half of it, a compaction, a GC and a restart
    // that loses what was not flushed, then the rest from the disk-consistent LSN, as after a crash.
    const records: WalRecord[] = [];
    const end = readWal({ dir: c.walDir, start: imported.lsn, timeline: 1, segmentSize: c.walSegSizeBytes }, (r) => {
      records.push(r);
      return true;
    });
    assert.match(end ?? '', /invalid record length|could not find file|zero/, `WAL ends where it should: ${end}`);
    let ingest = await WalIngest.open(timeline);
    const half = Math.floor(records.length / 2);
    for (const r of records.slice(0, half)) await ingest.ingest(r);
    const compaction = await tenant.compactAll(true);
    const gc = await tenant.gcAll();
    const tenantId = tenant.id;
    await repo.close(false);
    repo = open();
    timeline = repo.tenant(tenantId).timeline(timeline.id);
    const resumeAt = timeline.lastRecordLsnNumber;
    assert.ok(resumeAt > Number(imported.lsn), 'something was flushed before the restart');
    ingest = await WalIngest.open(timeline);
    let ingested = 0;
    for (const r of records) {
      if (r.endLsnNumber <= resumeAt) continue;
      await ingest.ingest(r);
      ingested++;
    }
    const at = timeline.lastRecordLsn;
    console.log(
      `ingested ${half} + ${ingested} records (restart at ${formatLsn(BigInt(resumeAt))}) from ${formatLsn(imported.lsn)} to ${formatLsn(at)}; ` +
        `compaction ${JSON.stringify(compaction)}; gc ${JSON.stringify(gc)}; ${timeline.layers.length} layers`,
    );

    const reader = new DatadirReader(timeline);
    const { compared, zeroTails, walLogVmBitsLost, mismatches } = await comparePages(timeline, at, c.dataDir, rels);
    console.log(`compared ${compared} pages; ${zeroTails} zero pages past strata's size; ${walLogVmBitsLost} VM pages with bits PostgreSQL's own replay loses; ${mismatches.length} differ`);
    assert.deepEqual(mismatches.slice(0, 60), []);
    assert.ok(compared > 1000, `compared ${compared} pages`);

    // Relations: strata lists exactly the relation forks that have files (dropped ones are gone).
    // An unlogged relation's main fork has no WAL: recovery makes it from the init fork (as base backups leave it out).
    const unloggedMain = (f: FileRel) => f.fork === 0 && rels.get(`${f.rel.spcNode}/${f.rel.dbNode}/${f.rel.relNode}`)?.unlogged === true;
    const files = new Set(relationFiles(c.dataDir).filter((f) => f.fork !== 2 && !unloggedMain(f)).map((f) => `${f.rel.spcNode}/${f.rel.dbNode}/${f.rel.relNode}/${f.fork}`));
    const listed = new Set<string>();
    for (const db of [{ spcNode: 1664, dbNode: 0 }, ...(await reader.databases(at))])
      for (const r of await reader.relations(db.spcNode, db.dbNode, at)) if (r.fork === 0 || r.fork === 3) listed.add(`${db.spcNode}/${db.dbNode}/${r.relNode}/${r.fork}`);
    const relName = (x: string) => `${x} ${rels.get(x.split('/').slice(0, 3).join('/'))?.name ?? '(dropped)'}`;
    assert.deepEqual([...listed].filter((x) => !files.has(x)).map(relName), [], 'relations strata lists that have no file');
    assert.deepEqual([...files].filter((x) => !listed.has(x)).map(relName), [], 'relation files strata does not list');
    const dbDirs = readdirSync(join(c.dataDir, 'base')).filter((d) => /^\d+$/.test(d)).map(Number).sort((a, b) => a - b);
    assert.deepEqual((await reader.databases(at)).filter((d) => d.spcNode === 1663).map((d) => d.dbNode).sort((a, b) => a - b), dbDirs);

    // SLRU segments, relmapper files, two-phase state: what the server left on disk.
    for (const [slru, folder] of [[Slru.Clog, 'pg_xact'], [Slru.MultiXactOffsets, 'pg_multixact/offsets'], [Slru.MultiXactMembers, 'pg_multixact/members'], [Slru.CommitTs, 'pg_commit_ts']] as const) {
      const dir = join(c.dataDir, folder);
      const onDisk = existsSync(dir) ? readdirSync(dir).map((n) => parseInt(n, 16)).sort((a, b) => a - b) : [];
      assert.deepEqual((await reader.slruSegments(slru, at)).sort((a, b) => a - b), onDisk, `${folder} segments`);
      for (const segno of onDisk) {
        const theirs = readFileSync(join(dir, segno.toString(16).toUpperCase().padStart(4, '0')));
        const ours = Buffer.from(await reader.slruSegment(slru, segno, at));
        assert.equal(ours.length, theirs.length, `${folder} segment ${segno} length`);
        assert.ok(ours.equals(theirs), `${folder} segment ${segno} differs at byte ${ours.findIndex((x, i) => x !== theirs[i])}`);
      }
    }
    for (const [spc, db, path] of [[1664, 0, 'global/pg_filenode.map'], ...dbDirs.map((d) => [1663, d, `base/${d}/pg_filenode.map`] as const)] as const)
      assert.ok(Buffer.from(await timeline.get(relmapKey(spc, db), at)).equals(readFileSync(join(c.dataDir, path))), `${path} differs`);
    const twophase = readdirSync(join(c.dataDir, 'pg_twophase')).map((n) => parseInt(n, 16)).sort((a, b) => a - b);
    assert.deepEqual((await reader.twoPhaseXids(at)).sort((a, b) => a - b), twophase, 'prepared transactions');

    // The checkpoint counters equal the shutdown checkpoint's (the last record ingested).
    const control = await c.controlData();
    const cp = new CheckPointStruct(await timeline.get(CHECKPOINT_KEY, at));
    assert.equal(`${cp.nextXid >> 32n}:${cp.nextXid & 0xffffffffn}`, control["Latest checkpoint's NextXID"]);
    assert.equal(String(cp.nextOid), control["Latest checkpoint's NextOID"]);
    assert.equal(String(cp.nextMulti), control["Latest checkpoint's NextMultiXactId"]);
    assert.equal(String(cp.nextMultiOffset), control["Latest checkpoint's NextMultiOffset"]);
    assert.equal(String(cp.oldestXid), control["Latest checkpoint's oldestXID"]);
  } finally {
    await repo.close(false);
    await engine.close();
    if (process.env.STRATA_DEBUG_DIFF !== undefined) cpSync(c.dataDir, '/tmp/strata-kept', { recursive: true });
    await c.destroy();
    rmSync(root, { recursive: true, force: true });
  }
}

export type { Lsn };
