/**
 * Base backups against a real PostgreSQL 15 (DESIGN.md's oracle: stock PostgreSQL starts on the
 * archive, and query results equal the primary's at that LSN).
 *
 * A primary with data checksums is imported into a timeline, runs a pgbench and DDL workload in
 * steps (backup-workload.ts), and after each step the test records pg_current_wal_insert_lsn() and
 * the query results at that moment, with nothing else writing. The primary's WAL is then ingested.
 * Base backups at those LSNs, at the latest LSN and in the middle of a 12 KiB commit record are
 * unpacked with tar, started with pg_ctl, and must answer as the primary did, with no recovery.
 * A branch is started, written to, and its WAL ingested back; the parent must not change. Backups
 * whose pages come in bulk from image layers are byte for byte those made page by page.
 */
import assert from 'node:assert/strict';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { readWal } from '../cli/wal-files.js';
import { importDataDirectory } from '../ingest/import-datadir.js';
import { WalIngest } from '../ingest/walingest.js';
import { formatLsn, parseLsn, type Lsn } from '../pg/lsn.js';
import { InProcessRedoEngine } from '../redo/engine.js';
import { relBlockKey, relBlockOf, type Key } from '../repository/key.js';
import { LayerKind } from '../repository/layer-file.js';
import { RedoReconstructor } from '../repository/redo-reconstructor.js';
import { Repository } from '../repository/repository.js';
import type { Tenant } from '../repository/tenant.js';
import type { Timeline } from '../repository/timeline.js';
import { assertProbesUseIndexes, assertSameResults, takeSnapshot, workloadStepA, workloadStepB, workloadStepC, workloadStepD, type Snapshot } from '../testing/backup-workload.js';
import { PgCluster, pgBin, run } from '../testing/cluster.js';
import type { Oid, RelFileNode } from '../pg/types.js';
import type { WalRecord } from '../wal/record.js';
import { writeBaseBackup, type BaseBackupResult } from './basebackup.js';

interface Point {
  readonly lsn: Lsn;
  readonly snapshot: Snapshot;
}

describe('base backups on PostgreSQL 15', { timeout: 600_000 }, () => {
  let primary: PgCluster;
  let repo: Repository;
  let tenant: Tenant;
  let main: Timeline;
  let importLsn: Lsn;
  const engine = new InProcessRedoEngine();
  const root = mkdtempSync(join(tmpdir(), 'strata-basebackup-'));
  const points = new Map<string, Point>();
  let commit: { lsn: Lsn; bytes: number };
  const started: PgCluster[] = [];
  /** pgbench_accounts and items at B: the branch writes to both. */
  let watched: RelFileNode[] = [];

  before(async () => {
    primary = await PgCluster.create({ start: false, dataChecksums: true, name: 'bb-primary' });
    repo = Repository.open(root, { reconstructorFor: (id) => new RedoReconstructor(engine, id, () => ({ hintBitsLogged: true })) });
    // imageLayerDeltasMin 1: the compaction below makes image layers at the latest LSN, as a page
    // server's compaction does over time, so backups there read their pages from them in bulk.
    tenant = repo.createTenant(undefined, { checkpointDistanceBytes: 8 << 20, compactionPeriodMs: 0, gcPeriodMs: 0, imageLayerDeltasMin: 1 });
    main = tenant.createTimeline();
    importLsn = importDataDirectory(main, primary.dataDir).lsn;
    await primary.start();
    const mark = async (name: string): Promise<void> => {
      const lsn = parseLsn(await primary.currentLsn('insert'));
      points.set(name, { lsn, snapshot: await takeSnapshot(primary) });
    };
    await workloadStepA(primary);
    await mark('A');
    await workloadStepB(primary);
    await mark('B');
    const [accounts, items, db] = (await primary.query("SELECT pg_relation_filenode('pgbench_accounts') || ' ' || pg_relation_filenode('items') || ' ' || oid FROM pg_database WHERE datname = 'postgres'")).split(' ').map(Number);
    watched = [accounts, items].map((relNode) => ({ spcNode: 1663 as Oid, dbNode: db as Oid, relNode: relNode as Oid }));
    await workloadStepC(primary);
    await mark('C');
    const d = await workloadStepD(primary);
    commit = { lsn: parseLsn(d.commitLsn), bytes: d.commitBytes };
    assert.ok(await assertProbesUseIndexes(primary) >= 9, 'every probe is planned through its index');
    await mark('latest');
    await primary.stop('fast');

    const records: WalRecord[] = [];
    const end = readWal({ dir: primary.walDir, start: importLsn, timeline: 1, segmentSize: primary.walSegSizeBytes }, (r) => {
      records.push(r);
      return true;
    });
    // Where the last record ends at a page boundary, the page after it was never written: zeros.
    assert.match(end ?? '', /invalid record length|could not find file|invalid magic number 0000/, `the WAL ends where it should: ${end}`);
    const ingest = await WalIngest.open(main);
    for (const r of records) await ingest.ingest(r);
    await tenant.compactAll(true);
    console.log(`ingested ${records.length} records, ${formatLsn(importLsn)} to ${formatLsn(main.lastRecordLsn)}; points ${[...points].map(([n, p]) => `${n} ${formatLsn(p.lsn)}`).join(', ')}; commit record at ${formatLsn(commit.lsn)}, ${commit.bytes} bytes`);
  });

  after(async () => {
    for (const c of started) await c.destroy();
    await repo?.close(false);
    await engine.close();
    await primary?.destroy();
    rmSync(root, { recursive: true, force: true });
  });

  /** Writes a base backup to a file, unpacks it with tar, checks pg_control, starts PostgreSQL on it. */
  async function start(t: Timeline, lsn: Lsn | undefined, opts: { gzip?: boolean; checksums?: boolean } = {}): Promise<{ c: PgCluster; result: BaseBackupResult }> {
    const dir = mkdtempSync(join(tmpdir(), 'strata-bb-tar-'));
    try {
      const file = join(dir, opts.gzip === true ? 'backup.tar.gz' : 'backup.tar');
      const stream = createWriteStream(file);
      const result = await writeBaseBackup(t, lsn, stream, { gzip: opts.gzip === true });
      await new Promise<void>((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
      const data = join(dir, 'data');
      mkdirSync(data);
      await run('tar', [opts.gzip === true ? 'xzf' : 'xf', file, '-C', data]);
      const control = await run(pgBin('pg_controldata'), ['-D', data], { env: { LC_ALL: 'C' } });
      assert.match(control.stdout, /Database cluster state: +shut down\n/);
      assert.match(control.stdout, new RegExp(`Latest checkpoint location: +${formatLsn(result.checkpointLsn)}\n`));
      assert.match(control.stdout, new RegExp(`Latest checkpoint's REDO location: +${formatLsn(result.checkpointLsn)}\n`));
      assert.match(control.stdout, /Minimum recovery ending location: +0\/0\n/);
      assert.ok(result.checkpointLsn >= result.lsn, 'the checkpoint record follows the LSN');
      // Offline, every relation page's checksum is checked (the server checks only what it reads).
      if (opts.checksums === true) await run(pgBin('pg_checksums'), ['--check', '-D', data]);
      const c = await PgCluster.fromDataDir(data, { name: 'bb-copy' });
      started.push(c);
      const log = await c.serverLog();
      assert.match(log, /database system was shut down at/);
      assert.doesNotMatch(log, /redo starts at|automatic recovery in progress|not properly shut down/, 'no recovery ran');
      return { c, result };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async function stop(c: PgCluster): Promise<void> {
    await c.destroy();
    started.splice(started.indexOf(c), 1);
  }

  /** The unlogged table is empty (its init fork) and usable, on every backup. */
  async function checkUnlogged(c: PgCluster): Promise<void> {
    assert.equal(await c.query('SELECT count(*) FROM scratch'), '0');
    await c.query("INSERT INTO scratch VALUES (1, 'a'), (2, 'b')");
    assert.equal(await c.query('SET enable_seqscan = off; SELECT v FROM scratch WHERE id = 2'), 'b');
  }

  it('done-when 1: backups at three earlier LSNs and at the latest start PostgreSQL and answer as the primary did', async () => {
    const cases: { name: string; lsn: Lsn | undefined; gzip: boolean; checksums: boolean }[] = [
      { name: 'A', lsn: points.get('A')?.lsn, gzip: false, checksums: true },
      { name: 'B', lsn: points.get('B')?.lsn, gzip: true, checksums: false },
      { name: 'C', lsn: points.get('C')?.lsn, gzip: false, checksums: false },
      { name: 'latest', lsn: undefined, gzip: false, checksums: true },
    ];
    for (const k of cases) {
      const point = points.get(k.name) as Point;
      const t0 = Date.now();
      const { c, result } = await start(main, k.lsn, { gzip: k.gzip, checksums: k.checksums });
      assert.equal(result.lsn, k.lsn ?? main.lastRecordLsn);
      const compared = assertSameResults(await takeSnapshot(c), point.snapshot, `backup at ${k.name} (${formatLsn(result.lsn)})`);
      await checkUnlogged(c);
      if (k.name === 'B') {
        // The prepared transaction's state file: it is there, and it commits.
        assert.equal(await c.query("SELECT gid FROM pg_prepared_xacts"), 'p1');
        await c.query("COMMIT PREPARED 'p1'");
        assert.equal(await c.query('SELECT name FROM items WHERE id = 100001'), 'prepared');
        // The tablespace folder: readable, writable, and it can be emptied and dropped.
        await c.query('INSERT INTO ts_items VALUES (100000, \'new\')');
        assert.equal(await c.query("SELECT pg_tablespace_location(oid) LIKE 'pg_tblspc/%' FROM pg_tablespace WHERE spcname = 'ts'"), 't');
        await c.query('DROP TABLE ts_items; DROP TABLESPACE ts');
      }
      if (k.name === 'latest') assert.ok((await assertProbesUseIndexes(c)) >= 9);
      console.log(`backup at ${k.name} ${formatLsn(result.lsn)}: ${result.tarBytes} tar bytes (${result.bytes} sent${k.gzip ? ', gzip' : ''}), ${result.entries} entries, ${result.relationPages} pages; ${compared} results equal; ${Date.now() - t0} ms`);
      await stop(c);
    }
  });

  it('pages read in bulk from image layers are the bytes of pages read one by one, on the timeline, a branch and over a newer value', async () => {
    /** The archive as bytes, its times fixed so that two backups compare. */
    const backup = async (t: Timeline, lsn: Lsn | undefined, pagesOneByOne: boolean): Promise<{ tar: Buffer; result: BaseBackupResult }> => {
      const chunks: Buffer[] = [];
      const result = await writeBaseBackup(t, lsn, (c) => void chunks.push(Buffer.from(c)), { now: new Date('2024-01-02T03:04:05Z'), pagesOneByOne });
      return { tar: Buffer.concat(chunks), result };
    };
    const compare = async (what: string, t: Timeline, lsn: Lsn | undefined): Promise<BaseBackupResult> => {
      const bulk = await backup(t, lsn, false);
      const one = await backup(t, lsn, true);
      assert.equal(one.result.relationPagesFromImageLayers, 0);
      assert.equal(bulk.result.relationPages, one.result.relationPages, what);
      assert.ok(bulk.tar.equals(one.tar), `${what}: the two archives differ (${bulk.tar.length} and ${one.tar.length} bytes)`);
      console.log(`${what}: ${bulk.result.relationPages} pages, ${bulk.result.relationPagesFromImageLayers} of them in bulk from image layers; archives equal`);
      return bulk.result;
    };
    // The compaction in before() made image layers at the latest LSN: pages come from them, the
    // others (ranges it made no image layer for) one by one.
    const latest = await compare('main at the latest LSN', main, undefined);
    assert.ok(latest.relationPagesFromImageLayers > 0, `pages in bulk: ${latest.relationPagesFromImageLayers} of ${latest.relationPages}`);
    // At B the image layers are newer than the LSN: pages are read through deltas, one by one.
    await compare('main at B', main, (points.get('B') as Point).lsn);
    // A branch with no layers of its own reads its ancestor's image layers.
    const branch = tenant.branch(main.id, main.lastRecordLsn);
    const onBranch = await compare('a branch at the latest LSN', branch, undefined);
    assert.ok(onBranch.relationPagesFromImageLayers > 0);
    // A newer value on the branch (in its in-memory layer) of a block an image layer holds: that
    // block is read through the timeline, the rest still in bulk.
    let key: Key | undefined;
    for (const l of main.layers) {
      if (l.descriptor.kind !== LayerKind.Image) continue;
      for (const e of l.entries()) {
        // A block in the middle of its fork's run of pages (blocks before it in the same file).
        if ((relBlockOf(e.key)?.blkno ?? 0) < 4) continue;
        key = e.key;
        break;
      }
      if (key !== undefined) break;
    }
    assert.ok(key !== undefined, 'an image layer holds a relation block');
    const page = Buffer.from(await main.get(key, main.lastRecordLsn));
    page[page.length - 1] = (page[page.length - 1] as number) ^ 0xff;
    const at = Number(branch.lastRecordLsn) + 8;
    branch.put(key, at, { kind: 'image', bytes: page });
    branch.advance(at);
    const over = await compare('the branch over a newer value of one block', branch, undefined);
    assert.equal(over.relationPagesFromImageLayers, onBranch.relationPagesFromImageLayers - 1);
    await tenant.deleteTimeline(branch.id);
  });

  it('an LSN in the middle of a record gives the state after the last complete record before it', async () => {
    assert.ok(commit.bytes > 8192, `the commit record spans WAL pages: ${commit.bytes} bytes`);
    const mid = (commit.lsn + BigInt(Math.floor(commit.bytes / 2))) as Lsn;
    const { c, result } = await start(main, mid);
    assert.ok(result.checkpointLsn > commit.lsn && result.checkpointLsn < commit.lsn + BigInt(commit.bytes) + 64n, `the checkpoint goes inside the cut record's bytes: ${formatLsn(result.checkpointLsn)}`);
    // subx exists (created before) but the 3000 rows committed by the cut record do not.
    assert.equal(await c.query('SELECT count(*) FROM subx'), '0');
    assertSameResults(await takeSnapshot(c).then((s) => ({ ...s, values: omit(s.values, 'postgres:table:subx', 'postgres:objects') })), {
      ...(points.get('C') as Point).snapshot,
      values: omit((points.get('C') as Point).snapshot.values, 'postgres:objects'),
    }, 'backup in the middle of the commit record');
    await stop(c);
    // Right after the record, they do.
    const afterCommit = await start(main, (commit.lsn + BigInt((commit.bytes + 7) & ~7) + 64n) as Lsn);
    assert.equal(await afterCommit.c.query('SELECT count(*) FROM subx'), '3000');
    await stop(afterCommit.c);
  });

  it('done-when 2: a branch at a past LSN starts, takes writes (ingested back into it), and its parent does not change', async () => {
    const b = points.get('B') as Point;
    const branch = tenant.branch(main.id, b.lsn);
    const parentPages = async () => {
      const out: string[] = [];
      for (const rel of watched) for (let blk = 0; blk < 60; blk++) out.push(Buffer.from(await main.get(relBlockKey(rel, 0, blk), b.lsn)).toString('hex'));
      return out;
    };
    const pagesBefore = await parentPages();
    const parentLast = main.lastRecordLsn;

    const { c, result } = await start(branch, undefined);
    assert.equal(result.lsn, b.lsn);
    assertSameResults(await takeSnapshot(c), b.snapshot, 'branch at B');
    await c.query(`
      INSERT INTO items (id, name, code, tags, pos, loc, price) VALUES (900001, 'on the branch', 'c900001', ARRAY[3], point(30, 30), point(2, 2), 4000);
      UPDATE pgbench_accounts SET abalance = abalance + 7 WHERE aid <= 2000;
      CREATE TABLE branch_only AS SELECT g AS id FROM generate_series(1, 500) g;
      CREATE INDEX branch_only_id ON branch_only (id);
    `);
    const written = await takeSnapshot(c);
    await c.stop('fast');
    // The compute's WAL, from strata's checkpoint record on, back into the branch.
    const ingest = await WalIngest.open(branch);
    const records: WalRecord[] = [];
    const end = readWal({ dir: c.walDir, start: result.checkpointLsn, timeline: 1, segmentSize: c.walSegSizeBytes }, (r) => {
      records.push(r);
      return true;
    });
    assert.equal(records[0]?.lsn, result.checkpointLsn, `the compute's WAL starts with strata's checkpoint record (${end})`);
    for (const r of records) await ingest.ingest(r);
    await stop(c);

    const again = await start(branch, undefined);
    assertSameResults(await takeSnapshot(again.c), written, 'the branch after its writes');
    assert.equal(await again.c.query("SELECT name FROM items WHERE id = 900001"), 'on the branch');
    await stop(again.c);

    // The parent: the same pages at the branch point, the same last LSN, the same answers at B.
    assert.equal(main.lastRecordLsn, parentLast);
    assert.deepEqual(await parentPages(), pagesBefore);
    const parent = await start(main, b.lsn);
    assertSameResults(await takeSnapshot(parent.c), b.snapshot, 'the parent at B after the branch wrote');
    assert.equal(await parent.c.query("SELECT to_regclass('branch_only') IS NULL"), 't');
    await stop(parent.c);
  });

  it('waits for WAL, times out, and refuses LSNs below the GC cutoff or the timeline start', async () => {
    const a = (points.get('A') as Point).lsn;
    const b = (points.get('B') as Point).lsn;
    const branch = tenant.branch(main.id, a);
    const sink = () => new Writable({ write: (_c, _e, cb) => cb() });
    // A backup at B on a branch at A waits until the WAL from A to B arrives.
    const pending = writeBaseBackup(branch, b, sink(), { waitLsnTimeoutMs: 60_000 });
    let settled = false;
    void pending.then(() => (settled = true), () => (settled = true));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(settled, false, 'the backup waits for WAL');
    const ingest = await WalIngest.open(branch);
    const records: WalRecord[] = [];
    readWal({ dir: primary.walDir, start: a, timeline: 1, segmentSize: primary.walSegSizeBytes }, (r) => {
      records.push(r);
      return r.endLsnNumber < Number(b);
    });
    for (const r of records) await ingest.ingest(r);
    const waited = await pending;
    assert.equal(waited.lsn, b);
    assert.ok(waited.relationPages > 1000);

    await assert.rejects(writeBaseBackup(branch, (branch.lastRecordLsn + 4096n) as Lsn, sink(), { waitLsnTimeoutMs: 200 }), { code: 'LSN_TIMEOUT' });
    await assert.rejects(writeBaseBackup(main, (importLsn - 4096n) as Lsn, sink()), { code: 'NO_CHECKPOINT' });
    await assert.rejects(writeBaseBackup(main, 0n as Lsn, sink()), { code: 'BAD_REQUEST' });
    await assert.rejects(writeBaseBackup(main, undefined, sink(), { gzip: true, gzipLevel: 12 }), { code: 'BAD_REQUEST' });
    const gcBranch = tenant.branch(main.id, b);
    gcBranch.setGcCutoff(Number(b) + 1);
    await assert.rejects(writeBaseBackup(gcBranch, (b - 8n) as Lsn, sink()), { code: 'BELOW_GC_HORIZON' });

    // A sink that fails, plain and through gzip, and a cancelled backup: each rejects with why.
    for (const gzip of [false, true]) {
      let chunks = 0;
      await assert.rejects(
        writeBaseBackup(main, undefined, () => {
          if (++chunks === 3) throw new Error('client went away');
        }, { gzip }),
        /client went away/,
      );
    }
    const closing = new Writable({ write: (_c, _e, cb) => cb(new Error('socket closed')) });
    await assert.rejects(writeBaseBackup(main, undefined, closing), { code: 'OUTPUT_FAILED' });
    const abort = new AbortController();
    abort.abort();
    await assert.rejects(writeBaseBackup(main, undefined, sink(), { signal: abort.signal }), { code: 'CANCELLED' });
  });
});

function omit(values: Readonly<Record<string, string>>, ...keys: string[]): Record<string, string> {
  const out = { ...values };
  for (const k of keys) delete out[k];
  return out;
}
