/**
 * strata's redo against PostgreSQL's own: WAL written with wal_consistency_checking = all by a real
 * PostgreSQL 15 running the workloads, every record of the covered rmgrs replayed and compared,
 * masked, with the after-image PostgreSQL logged. Zero mismatches; and a tampered record is caught.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readWal } from '../cli/wal-files.js';
import { parseLsn, type Lsn } from '../pg/lsn.js';
import { withCluster, type PgCluster } from '../testing/cluster.js';
import { firstSegmentStart } from '../testing/waldump-oracle.js';
import { runAllWorkloads } from '../testing/workloads.js';
import { decodeRecord, type WalRecord } from '../wal/record.js';
import { RedoVerifier } from './verify.js';

/** Record types the workloads must produce, each checked at least once. */
const REQUIRED = [
  'Heap/INSERT',
  'Heap/INSERT+INIT',
  'Heap/UPDATE',
  'Heap/HOT_UPDATE',
  'Heap/DELETE',
  'Heap/LOCK',
  'Heap/INPLACE',
  'Heap2/PRUNE',
  'Heap2/VACUUM',
  'Heap2/VISIBLE',
  'Heap2/FREEZE_PAGE',
  'Heap2/MULTI_INSERT+INIT',
  'Btree/INSERT_LEAF',
  'Btree/INSERT_UPPER',
  'Btree/SPLIT_R',
  'Btree/NEWROOT',
  'Btree/DEDUP',
  'Btree/VACUUM',
  'Btree/MARK_PAGE_HALFDEAD',
  'Btree/UNLINK_PAGE',
  'Btree/INSERT_POST',
  'Sequence/LOG',
  'Generic/Generic',
  'Hash/INSERT',
  'Hash/ADD_OVFL_PAGE',
  'Hash/SPLIT_ALLOCATE_PAGE',
  'Hash/SPLIT_COMPLETE',
  'Hash/SQUEEZE_PAGE',
  'Hash/DELETE',
  'Gin/INSERT',
  'Gin/INSERT_LISTPAGE',
  'Gin/DELETE_LISTPAGE',
  'Gin/UPDATE_META_PAGE',
  'Gist/PAGE_UPDATE',
  'Gist/PAGE_SPLIT',
  'Gist/PAGE_DELETE',
  'SPGist/ADD_LEAF',
  'SPGist/PICKSPLIT',
  'SPGist/MOVE_LEAFS',
  'SPGist/VACUUM_LEAF',
  'SPGist/VACUUM_REDIRECT',
  'BRIN/CREATE_INDEX',
  'BRIN/INSERT',
  'BRIN/SAMEPAGE_UPDATE',
  'BRIN/REVMAP_EXTEND',
  'BRIN/DESUMMARIZE',
];

/** The rmgrs strata redoes (every page rmgr): none of their records may be unsupported. */
const COVERED = ['XLOG/', 'Heap/', 'Heap2/', 'Btree/', 'Hash/', 'Gin/', 'Gist/', 'Sequence/', 'SPGist/', 'BRIN/', 'Generic/'];

function walOf(c: PgCluster): { dir: string; start: ReturnType<typeof parseLsn>; segmentSize: number } {
  const dir = join(c.dataDir, 'pg_wal');
  return { dir, start: parseLsn(firstSegmentStart(dir, c.walSegSizeBytes)), segmentSize: c.walSegSizeBytes };
}

function verifyAll(c: PgCluster, from?: Lsn, each?: (r: WalRecord) => WalRecord): RedoVerifier {
  const v = new RedoVerifier();
  const { dir, start, segmentSize } = walOf(c);
  readWal({ dir, start: from ?? start, timeline: 1, segmentSize }, (r) => {
    v.add(each === undefined ? r : each(r));
    return true;
  });
  return v;
}

const RUNS = [
  { name: 'lz4, data checksums', compression: 'lz4', dataChecksums: true },
  { name: 'pglz', compression: 'pglz', dataChecksums: false },
  { name: 'zstd', compression: 'zstd', dataChecksums: false },
  { name: 'uncompressed, data checksums', compression: 'off', dataChecksums: true },
] as const;

for (const run of RUNS) {
  test(`redo matches PostgreSQL's consistency images on every workload: ${run.name}`, { timeout: 20 * 60_000 }, async () => {
    await withCluster(
      { name: `redo-${run.compression}`, dataChecksums: run.dataChecksums, settings: { wal_compression: run.compression, wal_consistency_checking: 'all', max_wal_size: '4GB' } },
      async (c) => {
        // From here on every page a record touches has been seen whole: initdb's bootstrap wrote
        // pages without WAL, and its own later records (VISIBLE on such pages) cannot be followed.
        const afterInitdb = parseLsn(await c.currentLsn('insert'));
        await runAllWorkloads(c, { scale: 0.1 });
        await c.stop('fast');
        const v = verifyAll(c, afterInitdb);
        const report = v.report();
        assert.equal(v.mismatchCount, 0, `redo differs from PostgreSQL:\n${report}`);
        for (const type of REQUIRED) assert.ok((v.counts.get(type)?.checked ?? 0) > 0, `no ${type} record was checked:\n${report}`);
        for (const [type, counts] of v.counts) {
          if (!COVERED.some((p) => type.startsWith(p))) continue;
          assert.equal(counts.unsupported, 0, `${type} has unsupported records:\n${report}`);
          assert.equal(counts.unverified, 0, `${type} has records that were not checked:\n${report}`);
        }
      },
    );
  });
}

test("redo matches PostgreSQL's consistency images under pgbench at scale 10, 4 clients, with autovacuum", { timeout: 20 * 60_000 }, async () => {
  await withCluster(
    { name: 'redo-pgbench', settings: { wal_consistency_checking: 'all', wal_compression: 'lz4', max_wal_size: '16GB', autovacuum_naptime: '1s' } },
    async (c) => {
      const afterInitdb = parseLsn(await c.currentLsn('insert'));
      await c.pgbench(['-i', '-s', '10', '-q']);
      await c.pgbench(['-c', '4', '-j', '2', '-T', '30', '-n'], { timeoutMs: 600_000 });
      await c.stop('fast');
      const v = verifyAll(c, afterInitdb);
      const report = v.report();
      assert.equal(v.mismatchCount, 0, `redo differs from PostgreSQL:\n${report}`);
      // HOT chains and their pruning, page splits, and autovacuum's heap and index passes.
      for (const type of ['Heap/HOT_UPDATE', 'Heap2/PRUNE', 'Heap2/VACUUM', 'Heap2/VISIBLE', 'Btree/VACUUM', 'Btree/SPLIT_L', 'Heap2/MULTI_INSERT+INIT'])
        assert.ok((v.counts.get(type)?.checked ?? 0) > 0, `no ${type} record was checked:\n${report}`);
      for (const [type, counts] of v.counts)
        if (COVERED.some((p) => type.startsWith(p))) assert.equal(counts.unsupported + counts.unverified, 0, `${type}:\n${report}`);
    },
  );
});

test("redo matches PostgreSQL's consistency images for every index access method at full workload scale", { timeout: 20 * 60_000 }, async () => {
  await withCluster(
    { name: 'redo-indexes', dataChecksums: true, settings: { wal_consistency_checking: 'all', wal_compression: 'lz4', max_wal_size: '8GB' } },
    async (c) => {
      const afterInitdb = parseLsn(await c.currentLsn('insert'));
      await runAllWorkloads(c, { scale: 1, only: ['index_btree', 'index_hash', 'index_gin', 'index_gist', 'index_spgist', 'index_brin', 'index_bloom'] });
      await c.stop('fast');
      const v = verifyAll(c, afterInitdb);
      const report = v.report();
      assert.equal(v.mismatchCount, 0, `redo differs from PostgreSQL:\n${report}`);
      // The rarer records that only appear at full scale: posting trees, bucket moves, tuple splits.
      for (const type of ['Gin/CREATE_PTREE', 'Gin/VACUUM_DATA_LEAF_PAGE', 'Hash/MOVE_PAGE_CONTENTS', 'SPGist/SPLIT_TUPLE', 'SPGist/ADD_NODE', 'BRIN/INSERT+INIT'])
        assert.ok((v.counts.get(type)?.checked ?? 0) > 0, `no ${type} record was checked:\n${report}`);
      for (const [type, counts] of v.counts)
        if (COVERED.some((p) => type.startsWith(p))) assert.equal(counts.unsupported + counts.unverified, 0, `${type}:\n${report}`);
    },
  );
});

test('a tampered record is reported as a mismatch', { timeout: 10 * 60_000 }, async () => {
  await withCluster({ name: 'redo-tamper', settings: { wal_consistency_checking: 'all' } }, async (c) => {
    await c.query(`CREATE TABLE t (id int, v text); INSERT INTO t SELECT g, 'value ' || g FROM generate_series(1, 200) g;`);
    const relNode = Number(await c.query(`SELECT relfilenode FROM pg_class WHERE relname = 't'`));
    await c.stop('fast');
    const tampered = new Set<bigint>();
    const v = verifyAll(c, undefined, (r) => {
      // Flip the last byte of the tuple of every plain heap INSERT into t (not INSERT+INIT).
      const b = r.blocks[0];
      if (r.rmid !== 10 || (r.info & 0xf0) !== 0 || b === undefined || b.rel.relNode !== relNode || b.applyImage || b.data.length < 10) return r;
      const raw = Uint8Array.from(r.raw);
      const at = b.data.byteOffset - r.raw.byteOffset + b.data.length - 1;
      raw[at] = raw[at]! ^ 0xff;
      tampered.add(r.lsn);
      return decodeRecord(raw, r.lsnNumber, r.endLsnNumber);
    });
    assert.ok(tampered.size > 100, `tampered with ${tampered.size} records`);
    assert.equal(v.counts.get('Heap/INSERT')?.mismatched, tampered.size, v.report());
    assert.ok(v.mismatches.every((m) => tampered.has(m.lsn)));
  });
});
