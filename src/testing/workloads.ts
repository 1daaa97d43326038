/**
 * SQL workloads that make a real PostgreSQL 15 write the WAL strata must decode and redo.
 *
 * Each workload exercises a few resource managers (heap, btree, hash, gin, gist, spgist, brin,
 * generic, sequence, xact, multixact, commit_ts, dbase, tablespace, relmap, smgr, logical
 * messages, XLOG) and runs in a few seconds on a 2-core machine. Workloads drop and recreate their
 * own objects, so each can run alone, twice, or after all the others (`runAllWorkloads`). They
 * leave their tables behind on purpose: page tests compare the primary's pages with strata's.
 *
 * Settings a test passes to `PgCluster.create()` to widen what the WAL contains:
 *   - `settings: { wal_compression: 'pglz' | 'lz4' | 'zstd' }`: compressed full-page images.
 *   - `dataChecksums: true` (or `settings: { wal_log_hints: true }`): FPI_FOR_HINT records, from
 *     the `hint_bits` workload.
 *   - `settings: { track_commit_timestamp: true }`: commit timestamps in commit records and
 *     COMMIT_TS zero-page records; `commit_timestamps` then checks they are set.
 *   - `settings: { wal_consistency_checking: 'all' }`: an after-image of every block a record
 *     touches, the oracle for redo (DESIGN.md). WAL grows several times.
 *   - `walSegSizeMb: 1`: `logical_messages` then crosses many segments with one record.
 *   - `walLevel: 'logical'`: adds the information logical decoding needs (heap records grow).
 * None of the workloads needs settings beyond PgCluster's defaults (fsync on, 10 prepared
 * transactions, wal_level replica). At scale 1 all of them together write ~200 MB of WAL in ~10 s;
 * with wal_consistency_checking=all pass `{ scale: 0.1 }` (see WorkloadOptions).
 */

import type { PgCluster } from './cluster.js';
import { indexBloom, indexBrin, indexBtree, indexGin, indexGist, indexHash, indexSpgist } from './index-workloads.js';
import { CONCURRENT_WAIT_MS_MAX, rows, waitUntil } from './workload-kit.js';
import type { Workload, WorkloadOptions } from './workload-kit.js';

export type { Workload, WorkloadOptions } from './workload-kit.js';

export interface WorkloadTiming {
  readonly name: string;
  readonly durationMs: number;
}

/** pgbench: the classic OLTP mix of heap updates, btree inserts and HOT chains. */
const pgbench: Workload = {
  name: 'pgbench',
  description: 'heap insert/update/HOT, btree insert, xact commit; pgbench -i -s 1, then 2 clients for 3 s (scale 1) or a number of transactions',
  async run(c, opts) {
    await c.pgbench(['-i', '-s', '1', '-q']);
    // Time-bound at scale 1; below it, a fixed count keeps WAL small under wal_consistency_checking.
    const bound = (opts?.scale ?? 1) >= 1 ? ['-T', String(Math.round(3 * (opts?.scale ?? 1)))] : ['-t', String(rows(opts, 1000))];
    await c.pgbench(['-c', '2', '-j', '2', ...bound, '-n']);
  },
};

/** Bulk loading: multi-insert records, COPY FREEZE, TOAST. */
const bulkCopy: Workload = {
  name: 'bulk_copy',
  description: 'heap2 multi-insert (COPY, COPY FREEZE), heap insert (INSERT ... SELECT), TOAST',
  async run(c, opts) {
    await c.query(`
      DROP TABLE IF EXISTS copy_t, copy_freeze_t, insert_select_t, toast_t CASCADE;
      CREATE TABLE copy_t (id int, note text DEFAULT 'copied');
      COPY copy_t (id) FROM PROGRAM 'seq 1 ${rows(opts, 50000)}';
      BEGIN;
      CREATE TABLE copy_freeze_t (id int);
      COPY copy_freeze_t FROM PROGRAM 'seq 1 ${rows(opts, 20000)}' WITH (FREEZE);
      COMMIT;
      CREATE TABLE insert_select_t (id int PRIMARY KEY, payload text);
      INSERT INTO insert_select_t SELECT g, md5(g::text) FROM generate_series(1, ${rows(opts, 50000)}) g;
      CREATE TABLE toast_t (id int, big text);
      ALTER TABLE toast_t ALTER COLUMN big SET STORAGE EXTERNAL;
      INSERT INTO toast_t SELECT g, repeat(md5(g::text), 300) FROM generate_series(1, ${rows(opts, 200)}) g;
    `);
  },
};

/** Updates, deletes and every kind of VACUUM on a heap with indexes. */
const updateDeleteVacuum: Workload = {
  name: 'update_delete_vacuum',
  description: 'heap update (HOT and not), delete, lock; heap2 prune/vacuum/visible/freeze; VM; smgr truncate',
  async run(c, opts) {
    const n = rows(opts, 30000);
    await c.query(`
      DROP TABLE IF EXISTS churn_t CASCADE;
      CREATE TABLE churn_t (id int PRIMARY KEY, k int, v text) WITH (fillfactor = 70, autovacuum_enabled = off);
      CREATE INDEX churn_t_k ON churn_t (k);
      INSERT INTO churn_t SELECT g, g % 1000, md5(g::text) FROM generate_series(1, ${n}) g;
      UPDATE churn_t SET v = v || 'hot' WHERE id % 3 = 0;
      UPDATE churn_t SET k = k + 1 WHERE id % 7 = 0;
      SELECT count(*) FROM churn_t WHERE id % 11 = 0;
      DELETE FROM churn_t WHERE id % 5 = 0;
      VACUUM churn_t;
      UPDATE churn_t SET v = 'again' WHERE id % 13 = 0;
      VACUUM (FREEZE, VERBOSE false) churn_t;
      DELETE FROM churn_t WHERE id > ${Math.round((n * 2) / 3)};
      VACUUM (INDEX_CLEANUP on, TRUNCATE on) churn_t;
      BEGIN;
      SELECT count(*) FROM (SELECT id FROM churn_t WHERE id <= 100 FOR UPDATE) s;
      DELETE FROM churn_t WHERE id <= 50;
      ROLLBACK;
    `);
  },
};

const sequences: Workload = {
  name: 'sequences',
  description: 'sequence log records: nextval (every 32 values and cached), setval, ALTER SEQUENCE, identity columns',
  async run(c) {
    await c.query(`
      DROP SEQUENCE IF EXISTS seq_a, seq_b;
      DROP TABLE IF EXISTS seq_t CASCADE;
      CREATE SEQUENCE seq_a;
      CREATE SEQUENCE seq_b INCREMENT 5 CACHE 10 CYCLE MAXVALUE 3000;
      SELECT count(nextval('seq_a')) FROM generate_series(1, 2000);
      SELECT count(nextval('seq_b')) FROM generate_series(1, 1000);
      SELECT setval('seq_a', 1000000);
      SELECT setval('seq_b', 7, false);
      SELECT nextval('seq_a'), nextval('seq_b');
      ALTER SEQUENCE seq_a RESTART WITH 42 INCREMENT BY 3;
      SELECT nextval('seq_a');
      CREATE TABLE seq_t (id bigint GENERATED ALWAYS AS IDENTITY, v int);
      INSERT INTO seq_t (v) SELECT g FROM generate_series(1, 500) g;
    `);
  },
};

const subtransactions: Workload = {
  name: 'subtransactions',
  description: 'xact assignment (> 64 subxacts overflow the PGPROC cache), subcommit/subabort, commit and abort with subxacts',
  async run(c) {
    await c.query(`
      DROP TABLE IF EXISTS subx_t CASCADE;
      CREATE TABLE subx_t (id int, v text);
      DO $$
      BEGIN
        FOR i IN 1..200 LOOP
          BEGIN
            INSERT INTO subx_t VALUES (i, 'plpgsql');
            IF i % 10 = 0 THEN RAISE EXCEPTION 'roll back subxact %', i; END IF;
          EXCEPTION WHEN raise_exception THEN NULL;
          END;
        END LOOP;
      END $$;
    `);
    const savepoints: string[] = ['BEGIN;'];
    for (let i = 1; i <= 100; i++) {
      savepoints.push(`SAVEPOINT s${i}; INSERT INTO subx_t VALUES (${1000 + i}, 'savepoint');`);
      if (i % 9 === 0) savepoints.push(`ROLLBACK TO SAVEPOINT s${i};`);
      if (i % 13 === 0) savepoints.push(`RELEASE SAVEPOINT s${i};`);
    }
    savepoints.push('COMMIT;');
    // The same again, aborted: an abort record listing its subxacts.
    savepoints.push('BEGIN;');
    for (let i = 1; i <= 80; i++) savepoints.push(`SAVEPOINT a${i}; INSERT INTO subx_t VALUES (${2000 + i}, 'aborted');`);
    savepoints.push('ROLLBACK;');
    await c.query(savepoints.join('\n'));
  },
};

const twoPhase: Workload = {
  name: 'two_phase',
  description: 'xact prepare, commit prepared, abort prepared (with subxacts, across a checkpoint)',
  async run(c) {
    await c.query(`
      DROP TABLE IF EXISTS twophase_t CASCADE;
      CREATE TABLE twophase_t (id int, v text);
      BEGIN; INSERT INTO twophase_t VALUES (1, 'commit me'); PREPARE TRANSACTION 'strata_2pc_commit';
      BEGIN; INSERT INTO twophase_t VALUES (2, 'abort me'); PREPARE TRANSACTION 'strata_2pc_abort';
      BEGIN; INSERT INTO twophase_t VALUES (3, 'sub');
        SAVEPOINT s1; INSERT INTO twophase_t VALUES (4, 'sub'); SAVEPOINT s2; INSERT INTO twophase_t VALUES (5, 'sub');
        PREPARE TRANSACTION 'strata_2pc_checkpoint';
      COMMIT PREPARED 'strata_2pc_commit';
      ROLLBACK PREPARED 'strata_2pc_abort';
      CHECKPOINT;
      COMMIT PREPARED 'strata_2pc_checkpoint';
      BEGIN; CREATE TABLE twophase_new_t (id int); INSERT INTO twophase_new_t VALUES (1); PREPARE TRANSACTION 'strata_2pc_create';
      ROLLBACK PREPARED 'strata_2pc_create';
    `);
  },
};

const rewrites: Workload = {
  name: 'rewrites',
  description: 'relation rewrites: VACUUM FULL (user table, mapped catalogs pg_class and pg_database: relmap update), CLUSTER, TRUNCATE, ALTER TYPE, REINDEX',
  async run(c, opts) {
    await c.query(`
      DROP TABLE IF EXISTS rewrite_t CASCADE;
      CREATE TABLE rewrite_t (id int PRIMARY KEY, v text, big text);
      INSERT INTO rewrite_t SELECT g, md5(g::text), CASE WHEN g % 100 = 0 THEN repeat('z', 5000) END FROM generate_series(1, ${rows(opts, 20000)}) g;
      DELETE FROM rewrite_t WHERE id % 2 = 0;
      VACUUM FULL rewrite_t;
      VACUUM FULL pg_class;
      VACUUM FULL pg_database;
      CLUSTER rewrite_t USING rewrite_t_pkey;
      ALTER TABLE rewrite_t ALTER COLUMN id TYPE bigint;
      REINDEX TABLE rewrite_t;
      BEGIN; TRUNCATE rewrite_t; INSERT INTO rewrite_t VALUES (1, 'after truncate', NULL); COMMIT;
      TRUNCATE rewrite_t;
      INSERT INTO rewrite_t SELECT g, md5(g::text), NULL FROM generate_series(1, ${rows(opts, 1000)}) g;
    `);
  },
};

const relationLifecycle: Workload = {
  name: 'relation_lifecycle',
  description: 'smgr create, storage drop at commit and abort, unlogged tables (init fork), SET LOGGED/UNLOGGED, temp tables',
  async run(c) {
    await c.query(`
      DROP TABLE IF EXISTS life_unlogged_t, life_flip_t CASCADE;
      CREATE UNLOGGED TABLE life_unlogged_t (id int PRIMARY KEY, v text);
      INSERT INTO life_unlogged_t SELECT g, 'u' FROM generate_series(1, 1000) g;
      CREATE TABLE life_flip_t (id int PRIMARY KEY);
      INSERT INTO life_flip_t SELECT generate_series(1, 2000);
      ALTER TABLE life_flip_t SET UNLOGGED;
      ALTER TABLE life_flip_t SET LOGGED;
      BEGIN; CREATE TABLE life_aborted_t (id int); INSERT INTO life_aborted_t SELECT generate_series(1, 100); ROLLBACK;
      CREATE TABLE life_dropped_t (id int); INSERT INTO life_dropped_t SELECT generate_series(1, 100); DROP TABLE life_dropped_t;
      CREATE TEMP TABLE life_temp_t AS SELECT generate_series(1, 1000) AS id;
      CREATE MATERIALIZED VIEW IF NOT EXISTS life_mv AS SELECT id FROM life_flip_t;
      REFRESH MATERIALIZED VIEW life_mv;
    `);
  },
};

const databases: Workload = {
  name: 'databases',
  description: 'dbase create (STRATEGY wal_log: block by block; file_copy: directory copy record), drop',
  async run(c, opts) {
    await c.query(`
      DROP DATABASE IF EXISTS strata_db_wal_log WITH (FORCE);
      DROP DATABASE IF EXISTS strata_db_file_copy WITH (FORCE);
      DROP DATABASE IF EXISTS strata_db_dropped WITH (FORCE);
      CREATE DATABASE strata_db_wal_log STRATEGY = wal_log;
      CREATE DATABASE strata_db_file_copy STRATEGY = file_copy;
      CREATE DATABASE strata_db_dropped;
    `);
    const inside = `CREATE TABLE db_t (id int PRIMARY KEY, v text); INSERT INTO db_t SELECT g, md5(g::text) FROM generate_series(1, ${rows(opts, 5000)}) g;`;
    await c.query(inside, 'strata_db_wal_log');
    await c.query(inside, 'strata_db_file_copy');
    await c.query(`
      CREATE DATABASE strata_db_from_template TEMPLATE strata_db_wal_log STRATEGY = wal_log;
      DROP DATABASE strata_db_dropped;
      DROP DATABASE strata_db_from_template;
    `);
  },
};

const tablespaces: Workload = {
  name: 'tablespaces',
  description: 'tblspc create/drop, tables and databases in a tablespace, ALTER TABLE SET TABLESPACE',
  async run(c) {
    const location = await c.makeDir('tblspc');
    await c.query(`
      DROP DATABASE IF EXISTS strata_db_in_tblspc WITH (FORCE);
      DROP TABLE IF EXISTS tblspc_t CASCADE;
      DROP TABLESPACE IF EXISTS strata_tblspc;
      CREATE TABLESPACE strata_tblspc LOCATION '${location}';
      CREATE TABLE tblspc_t (id int PRIMARY KEY USING INDEX TABLESPACE strata_tblspc, v text) TABLESPACE strata_tblspc;
      INSERT INTO tblspc_t SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
      ALTER TABLE tblspc_t SET TABLESPACE pg_default;
      ALTER TABLE tblspc_t SET TABLESPACE strata_tblspc;
      CREATE DATABASE strata_db_in_tblspc TABLESPACE strata_tblspc STRATEGY = wal_log;
      DROP DATABASE strata_db_in_tblspc;
      CREATE DATABASE strata_db_in_tblspc TABLESPACE strata_tblspc STRATEGY = file_copy;
      DROP DATABASE strata_db_in_tblspc;
      ALTER TABLE tblspc_t SET TABLESPACE pg_default;
      ALTER INDEX tblspc_t_pkey SET TABLESPACE pg_default;
      DROP TABLESPACE strata_tblspc;
    `);
  },
};

const largeObjects: Workload = {
  name: 'large_objects',
  description: 'pg_largeobject heap and btree: lo_from_bytea, lo_put, lowrite, lo_unlink',
  async run(c) {
    await c.query(`
      DROP TABLE IF EXISTS lo_ids CASCADE;
      CREATE TABLE lo_ids (name text, lo oid);
      SELECT lo_from_bytea(0, decode(repeat('0123456789abcdef', 12500), 'hex')) AS lo_kept \\gset
      INSERT INTO lo_ids VALUES ('kept', :lo_kept);
      SELECT lo_put(:lo_kept, 50000, decode(repeat('ff', 10000), 'hex'));
      SELECT lo_put(:lo_kept, 300000, '\\x0102');
      SELECT lo_from_bytea(0, decode(repeat('aa', 40000), 'hex')) AS lo_gone \\gset
      SELECT lo_unlink(:lo_gone);
      BEGIN;
      SELECT lo_create(0) AS lo_written \\gset
      SELECT lo_open(:lo_written, 131072) AS fd \\gset
      SELECT lowrite(:fd, decode(repeat('5a', 30000), 'hex'));
      SELECT lo_lseek(:fd, 1000, 0);
      SELECT lowrite(:fd, '\\xdeadbeef');
      SELECT lo_truncate(:fd, 20000);
      SELECT lo_close(:fd);
      COMMIT;
      INSERT INTO lo_ids VALUES ('written', :lo_written);
    `);
  },
};

/** Record sizes for `logical_messages`: inside one page, across pages, across segments. */
const LOGICAL_MESSAGE_BYTES = [100, 8_000, 100_000, 3_000_000, 20_000_000] as const;

const logicalMessages: Workload = {
  name: 'logical_messages',
  description: 'logicalmsg records from 100 B to 20 MB: contrecords across pages and segments',
  async run(c) {
    for (const n of LOGICAL_MESSAGE_BYTES) {
      await c.query(`SELECT pg_logical_emit_message(false, 'strata-p', repeat('x', ${n}))`, 'postgres');
    }
    await c.query(`
      BEGIN;
      SELECT pg_logical_emit_message(true, 'strata-t', repeat('y', 50000));
      CREATE TABLE IF NOT EXISTS logical_messages_t (id int);
      INSERT INTO logical_messages_t VALUES (1);
      COMMIT;
    `);
  },
};

/** Two sessions share-lock the same rows, so each row gets a multixact of both. */
const multixacts: Workload = {
  name: 'multixacts',
  description: 'multixact create, zero offset and member pages; heap lock with multixact xmax; FOR KEY SHARE + update in a savepoint',
  async run(c, opts) {
    // 5000 rows: 5000 multixacts of 2 members each cross SLRU page boundaries at scale 1.
    const n = rows(opts, 5000);
    await c.query(`
      DROP TABLE IF EXISTS mx_t, mx_go CASCADE;
      CREATE TABLE mx_t (id int PRIMARY KEY, v int);
      CREATE TABLE mx_go (go bool);
      INSERT INTO mx_t SELECT g, 0 FROM generate_series(1, ${n}) g;
    `);
    // Session A locks every row, then waits (polling, each statement with a new snapshot) until
    // mx_go has a row. Session B locks the same rows meanwhile: every row's xmax becomes a multixact.
    const holder = c.query(`
      SET application_name = 'strata_mx_holder';
      BEGIN;
      SELECT count(*) FROM (SELECT id FROM mx_t FOR SHARE) s;
      DO $$
      DECLARE deadline timestamptz := clock_timestamp() + interval '${CONCURRENT_WAIT_MS_MAX / 1000} seconds';
      BEGIN
        WHILE NOT EXISTS (SELECT 1 FROM mx_go) LOOP
          IF clock_timestamp() > deadline THEN RAISE EXCEPTION 'multixacts workload: nobody set mx_go'; END IF;
          PERFORM pg_sleep(0.02);
        END LOOP;
      END $$;
      COMMIT;
    `);
    let holderError: unknown;
    const holderDone = holder.then(
      () => true,
      (err: unknown) => {
        holderError = err;
        return true;
      },
    );
    try {
      await waitUntil(
        async () =>
          holderError !== undefined ||
          (await c.query(`SELECT count(*) FROM pg_stat_activity WHERE application_name = 'strata_mx_holder' AND wait_event = 'PgSleep'`)) !== '0',
        'the multixacts holder session to lock its rows',
      );
      if (holderError === undefined) await c.query(`BEGIN; SELECT count(*) FROM (SELECT id FROM mx_t FOR SHARE) s; COMMIT;`);
    } finally {
      await c.query('INSERT INTO mx_go VALUES (true)');
      await holderDone;
    }
    if (holderError !== undefined) throw holderError;
    // One session: a key-share lock by the parent and an update by its subtransaction.
    await c.query(`
      BEGIN;
      SELECT count(*) FROM (SELECT id FROM mx_t WHERE id <= ${Math.round(n / 10)} FOR KEY SHARE) s;
      SAVEPOINT s1;
      UPDATE mx_t SET v = v + 1 WHERE id <= ${Math.round(n / 10)};
      SAVEPOINT s2;
      SELECT count(*) FROM (SELECT id FROM mx_t WHERE id BETWEEN ${Math.round(n / 10) + 1} AND ${Math.round(n / 5)} FOR NO KEY UPDATE) s;
      COMMIT;
      VACUUM (FREEZE) mx_t;
    `);
  },
};

const commitTimestamps: Workload = {
  name: 'commit_timestamps',
  description: 'commit_ts zero-page records and commit records with timestamps (with track_commit_timestamp=on); 1000 small commits (at every scale: a commit_ts page holds 819)',
  async run(c) {
    await c.query(`
      DROP TABLE IF EXISTS commit_ts_t CASCADE;
      CREATE TABLE commit_ts_t (id int);
      SET synchronous_commit = off;
      DO $$
      BEGIN
        FOR i IN 1..1000 LOOP
          INSERT INTO commit_ts_t VALUES (i);
          COMMIT;
        END LOOP;
      END $$;
    `);
    const tracked = await c.query(`SHOW track_commit_timestamp`);
    if (tracked === 'on') {
      const missing = await c.query(`SELECT count(*) FROM commit_ts_t WHERE pg_xact_commit_timestamp(xmin) IS NULL`);
      if (missing !== '0') throw new Error(`commit_timestamps workload: ${missing} rows have no commit timestamp although track_commit_timestamp is on`);
    }
  },
};

const hintBits: Workload = {
  name: 'hint_bits',
  description: 'XLOG FPI_FOR_HINT (with data checksums or wal_log_hints): hint bits set after a checkpoint',
  async run(c, opts) {
    await c.query(`
      DROP TABLE IF EXISTS hint_t CASCADE;
      CREATE TABLE hint_t (id int, v text) WITH (autovacuum_enabled = off);
      INSERT INTO hint_t SELECT g, md5(g::text) FROM generate_series(1, ${rows(opts, 10000)}) g;
      CHECKPOINT;
      SELECT count(*) FROM hint_t;
    `);
  },
};

const walSwitch: Workload = {
  name: 'wal_switch',
  description: 'XLOG switch (rest of segment skipped), restore point, online checkpoint records',
  async run(c) {
    await c.query(`
      CREATE TABLE IF NOT EXISTS switch_t (id int);
      INSERT INTO switch_t SELECT generate_series(1, 100);
      SELECT pg_switch_wal();
      INSERT INTO switch_t SELECT generate_series(101, 200);
      SELECT pg_create_restore_point('strata_restore_point');
      CHECKPOINT;
      INSERT INTO switch_t SELECT generate_series(201, 300);
      SELECT pg_switch_wal();
    `);
  },
};

export const ALL_WORKLOADS: ReadonlyArray<Workload> = [
  pgbench,
  bulkCopy,
  updateDeleteVacuum,
  indexBtree,
  indexHash,
  indexGin,
  indexGist,
  indexSpgist,
  indexBrin,
  indexBloom,
  sequences,
  subtransactions,
  twoPhase,
  rewrites,
  relationLifecycle,
  databases,
  tablespaces,
  largeObjects,
  logicalMessages,
  multixacts,
  commitTimestamps,
  hintBits,
  walSwitch,
];

/** Looks a workload up by name; throws listing the known names when there is none. */
export function workload(name: string): Workload {
  const w = ALL_WORKLOADS.find((x) => x.name === name);
  if (w === undefined) throw new Error(`Cannot find workload "${name}": known are ${ALL_WORKLOADS.map((x) => x.name).join(', ')}`);
  return w;
}

/**
 * Runs the workloads (all, or those named in `only`) one after the other at `scale`; returns how
 * long each took. A failure names the workload.
 */
export async function runAllWorkloads(c: PgCluster, opts: WorkloadOptions & { readonly only?: readonly string[] } = {}): Promise<WorkloadTiming[]> {
  const chosen = opts.only === undefined ? ALL_WORKLOADS : opts.only.map(workload);
  const timings: WorkloadTiming[] = [];
  for (const w of chosen) {
    const t0 = performance.now();
    try {
      await w.run(c, opts);
    } catch (err: unknown) {
      throw new Error(`Workload ${w.name} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    timings.push({ name: w.name, durationMs: Math.round(performance.now() - t0) });
  }
  return timings;
}
