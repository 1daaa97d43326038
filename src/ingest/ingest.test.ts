/**
 * Ingest against a real PostgreSQL 15: a freshly initialised cluster is imported, runs workloads,
 * is checkpointed and stopped; its WAL is ingested from the import LSN; then every page of every
 * relation file the server left on disk must equal strata's page at the end of WAL, masked as
 * PostgreSQL masks pages for wal_consistency_checking (DESIGN.md's oracle for pages served).
 */
import assert from 'node:assert/strict';
import { closeSync, cpSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readWal } from '../cli/wal-files.js';
import { BLCKSZ } from '../pg/constants.js';
import { formatLsn, type Lsn } from '../pg/lsn.js';
import type { Oid, RelFileNode } from '../pg/types.js';
import { InProcessRedoEngine } from '../redo/engine.js';
import { maskFor, type PageMask } from '../redo/mask/index.js';
import { mask_page_lsn_and_checksum } from '../redo/mask/common.js';
import { RM_BRIN_ID, RM_BTREE_ID, RM_GENERIC_ID, RM_GIN_ID, RM_GIST_ID, RM_HASH_ID, RM_HEAP_ID, RM_SEQ_ID, RM_SPGIST_ID } from '../pg/rmgr-ids.js';
import { DatadirReader } from '../repository/datadir.js';
import { RepositoryError } from '../repository/errors.js';
import { CHECKPOINT_KEY, relBlockKey, relmapKey, Slru } from '../repository/key.js';
import { CheckPointStruct } from '../pg/control.js';
import { RedoReconstructor } from '../repository/redo-reconstructor.js';
import { Repository } from '../repository/repository.js';
import { PgCluster, type PgClusterOptions } from '../testing/cluster.js';
import { runAllWorkloads } from '../testing/workloads.js';
import type { WalRecord } from '../wal/record.js';
import { importDataDirectory } from './import-datadir.js';
import { WalIngest } from './walingest.js';

const AM_MASK: Readonly<Record<string, number>> = {
  heap: RM_HEAP_ID,
  btree: RM_BTREE_ID,
  hash: RM_HASH_ID,
  gist: RM_GIST_ID,
  spgist: RM_SPGIST_ID,
  gin: RM_GIN_ID,
  brin: RM_BRIN_ID,
  bloom: RM_GENERIC_ID,
};

interface RelInfo {
  readonly mask: PageMask | undefined;
  readonly am: string;
  readonly kind: string;
  readonly unlogged: boolean;
  readonly name: string;
}

/** relfilenode -> how to mask its pages, for every relation of every database, from the running server. */
async function relationInfo(c: PgCluster): Promise<Map<string, RelInfo>> {
  const out = new Map<string, RelInfo>();
  const dbs = (await c.query(`select oid, datname from pg_database where datallowconn`)).trim().split('\n');
  for (const line of dbs) {
    const [dbOid, name] = line.split('|');
    const rows = await c.query(
      `select coalesce(t.oid, (select oid from pg_tablespace where spcname = case when c.relisshared then 'pg_global' else 'pg_default' end)), case when c.relisshared then 0 else ${dbOid} end, pg_relation_filenode(c.oid), c.relkind, c.relpersistence, coalesce(a.amname, ''), c.relname
         from pg_class c left join pg_am a on a.oid = c.relam left join pg_tablespace t on t.oid = nullif(c.reltablespace, 0)
        where pg_relation_filenode(c.oid) is not null`,
      name,
    );
    for (const row of rows.trim().split('\n')) {
      const [spc, db, node, kind, persistence, am, relname] = row.split('|') as [string, string, string, string, string, string, string];
      const rmid = kind === 'S' ? RM_SEQ_ID : AM_MASK[am === '' ? 'heap' : am];
      out.set(`${spc}/${db}/${node}`, { mask: rmid === undefined ? undefined : maskFor(rmid), am, kind, unlogged: persistence === 'u', name: `${name}.${relname}` });
    }
  }
  return out;
}

interface FileRel {
  readonly rel: RelFileNode;
  readonly fork: number;
  readonly path: string;
}

/** Every main, VM and init fork file (first segment) of every database folder. FSM forks are not WAL-logged. */
function relationFiles(dataDir: string): FileRel[] {
  const out: FileRel[] = [];
  const scan = (dir: string, spc: number, db: number) => {
    for (const name of readdirSync(dir)) {
      const m = /^(\d+)(_vm|_init)?$/.exec(name);
      if (m === null) continue;
      out.push({ rel: { spcNode: spc as Oid, dbNode: db as Oid, relNode: Number(m[1]) as Oid }, fork: m[2] === '_vm' ? 2 : m[2] === '_init' ? 3 : 0, path: join(dir, name) });
    }
  };
  scan(join(dataDir, 'global'), 1664, 0);
  for (const db of readdirSync(join(dataDir, 'base'))) if (/^\d+$/.test(db)) scan(join(dataDir, 'base', db), 1663, Number(db));
  const tblspc = join(dataDir, 'pg_tblspc');
  for (const spc of existsSync(tblspc) ? readdirSync(tblspc) : []) {
    const v = readdirSync(join(tblspc, spc)).find((n) => n.startsWith('PG_15_'));
    if (v !== undefined) for (const db of readdirSync(join(tblspc, spc, v))) if (/^\d+$/.test(db)) scan(join(tblspc, spc, v, db), Number(spc), Number(db));
  }
  return out;
}

/**
 * What the server writes to these pages without WAL, so that no replay (PostgreSQL's or strata's)
 * can have it, masked in both pages:
 * - SP-GiST's meta page keeps a cache of pages with free space (lastUsedPages) that is never logged
 *   (spgutils.c SpGistUpdateMetaPage);
 * - a sequence's tuple is logged 32 values ahead (sequence.c SEQ_LOG_VALS): after replay it says
 *   last_value as logged, log_cnt 0; the server's page has the value it reached. The replayed value
 *   must then be at least as far along in the sequence's direction... and is checked separately.
 */
function maskUnlogged(info: RelInfo | undefined, fork: number, blkno: number, ours: Buffer, theirs: Buffer): void {
  if (info === undefined || fork !== 0) return;
  if (info.am === 'spgist' && blkno === 0) {
    ours.fill(0, 28, 28 + 8 * 8);
    theirs.fill(0, 28, 28 + 8 * 8);
  }
  if (info.kind === 'S') {
    for (const p of [ours, theirs]) {
      const tuple = p.readUInt16LE(14);
      const data = tuple + (p[tuple + 22] as number);
      p.fill(0, data, data + 16);
    }
  }
}

/** Every bit set in `a` is set in `b`, after the page header. */
function isBitSubset(a: Buffer, b: Buffer): boolean {
  for (let i = 24; i < a.length; i++) if (((a[i] as number) & ~(b[i] as number)) !== 0) return false;
  return true;
}

function readBlock(path: string, blkno: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(BLCKSZ);
    readSync(fd, b, 0, BLCKSZ, blkno * BLCKSZ);
    return b;
  } finally {
    closeSync(fd);
  }
}

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

    // Every block of every main, VM and init fork on disk.
    const reader = new DatadirReader(timeline);
    let compared = 0;
    let zeroTails = 0;
    let walLogVmBitsLost = 0;
    const mismatches: string[] = [];
    for (const f of relationFiles(c.dataDir)) {
      const info = rels.get(`${f.rel.spcNode}/${f.rel.dbNode}/${f.rel.relNode}`);
      if (info?.unlogged === true && f.fork !== 3) continue;
      const fileBlocks = Math.floor(statSync(f.path).size / BLCKSZ);
      const ours = (await reader.relExists(f.rel, f.fork, at)) ? await reader.relSize(f.rel, f.fork, at) : 0;
      for (let b = 0; b < fileBlocks; b++) {
        const theirs = readBlock(f.path, b);
        let page: Uint8Array | undefined;
        try {
          if (b < ours) page = await timeline.get(relBlockKey(f.rel, f.fork, b), at);
        } catch (e) {
          if (!(e instanceof RepositoryError && e.code === 'NOT_FOUND')) throw e;
        }
        if (page === undefined) {
          // Pages PostgreSQL extends a relation with, without WAL, stay zero until WAL writes them.
          // A VM page vm_extend added without WAL and no bit set says what a missing page says: nothing is all-visible.
          const empty = f.fork === 2 ? theirs.subarray(24).every((x) => x === 0) : theirs.every((x) => x === 0);
          if (!empty) mismatches.push(`${info?.name ?? '?'} ${f.path} block ${b}: strata has no page (size ${ours}), the file's is not zero`);
          else zeroTails++;
          continue;
        }
        const a = Buffer.from(page);
        const mask = f.fork === 2 ? mask_page_lsn_and_checksum : (info?.mask ?? mask_page_lsn_and_checksum);
        mask(a, b);
        mask(theirs, b);
        maskUnlogged(info, f.fork, b, a, theirs);
        if (!a.equals(theirs) && f.fork === 2 && info?.name.startsWith('strata_db_wal_log.') === true && isBitSubset(a, theirs)) {
          walLogVmBitsLost++;
          continue;
        }
        if (!a.equals(theirs)) {
          mismatches.push(`${info?.name ?? '?'} ${f.path} fork ${f.fork} block ${b}`);
          if (process.env.STRATA_DEBUG_DIFF !== undefined && mismatches.length <= 5) {
            const at: string[] = [];
            for (let i = 0; i < BLCKSZ && at.length < 12; i++) if (a[i] !== theirs[i]) at.push(`${i}: ours ${a[i]} theirs ${theirs[i]}`);
            console.log(`${info?.name} fork ${f.fork} blk ${b}: ${at.join(', ')}`);
          }
        }
        compared++;
      }
    }
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
