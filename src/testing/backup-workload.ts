/**
 * The oracle for base backups (DESIGN.md: "stock PostgreSQL starts on it; query results equal the
 * primary's at that LSN"): a pgbench and DDL workload in steps, and a snapshot of query results that
 * the test takes on the primary at an LSN (with nothing else writing, so the results are those of
 * that LSN) and again on a server started from strata's base backup at that LSN.
 *
 * A snapshot holds, per database: the public relations (name, kind, persistence), each permanent
 * table's row count and the md5 of its rows in text order (TOAST included), and for each index of
 * INDEX_PROBES a query the planner can only answer through that index (enable_seqscan off, and
 * bitmap scans off unless the access method has only those); plus the databases and the prepared
 * transactions. Sequences are apart: a server restarted from WAL skips ahead by up to SEQ_LOG_VALS
 * (sequence.c logs values ahead), so a backup's last_value is checked against a range.
 */
import assert from 'node:assert/strict';
import type { PgCluster } from './cluster.js';

export interface IndexProbe {
  readonly db: string;
  readonly index: string;
  /** Bitmap scans allowed: GIN and BRIN have no other scan. */
  readonly bitmap: boolean;
  /** A query returning one text value. */
  readonly sql: string;
}

export const INDEX_PROBES: readonly IndexProbe[] = [
  { db: 'postgres', index: 'pgbench_accounts_pkey', bitmap: false, sql: "SELECT count(*) || ':' || sum(abalance) FROM pgbench_accounts WHERE aid BETWEEN 1 AND 10000000" },
  { db: 'postgres', index: 'items_pkey', bitmap: false, sql: "SELECT count(*) || ':' || sum(id) FROM items WHERE id BETWEEN 1 AND 10000000" },
  { db: 'postgres', index: 'items_name_btree', bitmap: false, sql: "SELECT count(*) || ':' || md5(string_agg(id::text, ',' ORDER BY id)) FROM items WHERE name >= 'item 1' AND name < 'item 5'" },
  {
    db: 'postgres',
    index: 'items_code_hash',
    bitmap: false,
    sql: "SELECT count(*) || ':' || coalesce(sum(i.id), 0) FROM generate_series(1, 30000, 37) g JOIN items i ON i.code = 'c' || g",
  },
  { db: 'postgres', index: 'items_tags_gin', bitmap: true, sql: "SELECT count(*) || ':' || coalesce(sum(id), 0) FROM items WHERE tags @> ARRAY[3]" },
  { db: 'postgres', index: 'items_pos_gist', bitmap: false, sql: "SELECT count(*) || ':' || coalesce(sum(id), 0) FROM items WHERE pos <@ box '((10,10),(60,150))'" },
  { db: 'postgres', index: 'items_loc_spgist', bitmap: false, sql: "SELECT count(*) || ':' || coalesce(sum(id), 0) FROM items WHERE loc <@ box '((0,0),(50,50))'" },
  { db: 'postgres', index: 'items_price_brin', bitmap: true, sql: "SELECT count(*) || ':' || coalesce(sum(id), 0) FROM items WHERE price BETWEEN 1000 AND 9000" },
  { db: 'postgres', index: 'ts_items_pkey', bitmap: false, sql: "SELECT count(*) || ':' || sum(length(v)) FROM ts_items WHERE id BETWEEN 1 AND 10000000" },
  { db: 'db2', index: 't2_v_idx', bitmap: false, sql: "SELECT count(*) || ':' || md5(string_agg(id::text, ',' ORDER BY id)) FROM t2 WHERE v >= 'a' AND v < 'c'" },
];

export interface Snapshot {
  /** Everything that must be equal, by name. */
  readonly values: Readonly<Record<string, string>>;
  /** item_seq's last_value, or undefined where it does not exist. */
  readonly sequence: number | undefined;
}

function probeSettings(p: IndexProbe): string {
  return `SET enable_seqscan = off; SET enable_bitmapscan = ${p.bitmap ? 'on' : 'off'}; SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_material = off;`;
}

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** Runs `SELECT key, value` lines in one psql session and returns them as a map. */
async function keyed(c: PgCluster, db: string, sql: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const text = await c.psql(sql, { db });
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const i = line.indexOf('|');
    assert.ok(i > 0, `a snapshot line is key|value: ${line}`);
    out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** The snapshot of a running server (see the module header). */
export async function takeSnapshot(c: PgCluster): Promise<Snapshot> {
  const values: Record<string, string> = {};
  const dbs = (await c.query("SELECT datname FROM pg_database WHERE datname NOT IN ('template0', 'template1') ORDER BY 1")).split('\n');
  values['databases'] = dbs.join(',');
  values['prepared'] = await c.query("SELECT coalesce(string_agg(gid, ',' ORDER BY gid), '') FROM pg_prepared_xacts");
  for (const db of dbs) {
    const objects = await c.query(
      "SELECT coalesce(string_agg(relname || ':' || relkind::text || ':' || relpersistence::text, ',' ORDER BY relname), '') FROM pg_class WHERE relnamespace = 'public'::regnamespace",
      db,
    );
    values[`${db}:objects`] = objects;
    const names = new Set(objects.split(',').map((o) => o.split(':')[0] as string));
    const tables = objects
      .split(',')
      .filter((o) => o.endsWith(':r:p'))
      .map((o) => o.split(':')[0] as string);
    const lines: string[] = [];
    for (const t of tables)
      lines.push(`SELECT ${quote(`${db}:table:${t}`)}, (SELECT count(*) || ' ' || coalesce(md5(string_agg(x::text, E'\\n' ORDER BY x::text)), '') FROM public.${t} x);`);
    for (const p of INDEX_PROBES) {
      if (p.db !== db || !names.has(p.index)) continue;
      lines.push(probeSettings(p), `SELECT ${quote(`${db}:index:${p.index}`)}, (${p.sql});`, 'RESET ALL;');
    }
    if (lines.length > 0) Object.assign(values, await keyed(c, db, lines.join('\n')));
  }
  const seq = await c.query("SELECT CASE WHEN to_regclass('item_seq') IS NULL THEN '' ELSE (SELECT last_value::text FROM item_seq) END");
  return { values, sequence: seq === '' ? undefined : Number(seq) };
}

/** Asserts that each probe whose index exists is planned through that index (else the probe proves nothing). */
export async function assertProbesUseIndexes(c: PgCluster): Promise<number> {
  let checked = 0;
  for (const p of INDEX_PROBES) {
    const exists = await c.query(`SELECT to_regclass(${quote(p.index)}) IS NOT NULL FROM pg_database WHERE datname = current_database()`, p.db).catch(() => 'f');
    if (exists !== 't') continue;
    const plan = await c.psql(`${probeSettings(p)}\nEXPLAIN (COSTS OFF) ${p.sql};`, { db: p.db });
    assert.ok(plan.includes(p.index), `the probe of ${p.index} is planned through it:\n${plan}`);
    checked++;
  }
  return checked;
}

/** Compares a backup's snapshot with the primary's at the same LSN; returns how many values were compared. */
export function assertSameResults(backup: Snapshot, primary: Snapshot, what: string): number {
  assert.deepEqual(backup.values, primary.values, `${what}: query results equal the primary's`);
  if (primary.sequence === undefined) {
    assert.equal(backup.sequence, undefined, `${what}: no sequence`);
  } else {
    // sequence.c logs SEQ_LOG_VALS (32) values ahead: a server started from WAL resumes past them.
    assert.ok(backup.sequence !== undefined && backup.sequence >= primary.sequence && backup.sequence <= primary.sequence + 32, `${what}: item_seq at ${backup.sequence}, the primary at ${primary.sequence}`);
  }
  return Object.keys(primary.values).length;
}

// ---- the workload, in steps ----

/** Step A: pgbench tables, a table with an index of each kind, TOAST, a sequence, a table to drop later, an unlogged table. */
export async function workloadStepA(c: PgCluster): Promise<void> {
  await c.query('CREATE EXTENSION pg_walinspect');
  await c.pgbench(['-i', '-s', '1', '-q']);
  await c.query(`
    CREATE TABLE items (id int PRIMARY KEY, name text, code text, tags int[], doc jsonb, pos point, loc point, price numeric, note text);
    INSERT INTO items
      SELECT g, 'item ' || g, 'c' || g, ARRAY[g % 7, g % 11], jsonb_build_object('k', g % 13), point(g % 100, g / 100), point(g % 97, g % 89), g * 1.5,
             CASE WHEN g % 50 = 0 THEN (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 100) i) ELSE md5(g::text) END
      FROM generate_series(1, 20000) g;
    CREATE INDEX items_name_btree ON items (name);
    CREATE INDEX items_code_hash ON items USING hash (code);
    CREATE INDEX items_tags_gin ON items USING gin (tags);
    CREATE INDEX items_pos_gist ON items USING gist (pos);
    CREATE INDEX items_loc_spgist ON items USING spgist (loc);
    CREATE INDEX items_price_brin ON items USING brin (price) WITH (pages_per_range = 4);
    CREATE SEQUENCE item_seq;
    SELECT count(nextval('item_seq')) FROM generate_series(1, 50);
    CREATE TABLE doomed (id int, v text);
    INSERT INTO doomed SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
    CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY, v text);
    INSERT INTO scratch SELECT g, 'x' FROM generate_series(1, 1000) g;
  `);
}

/** Step B: pgbench traffic, a database created, a tablespace (in place) with a table, updates, deletes, VACUUM, a prepared transaction. */
export async function workloadStepB(c: PgCluster): Promise<void> {
  await c.pgbench(['-c', '2', '-j', '2', '-t', '300', '-n']);
  await c.query('CREATE DATABASE db2');
  await c.query(
    `CREATE TABLE t2 (id serial PRIMARY KEY, v text);
     INSERT INTO t2 (v) SELECT md5(g::text) FROM generate_series(1, 3000) g;
     CREATE INDEX t2_v_idx ON t2 (v);`,
    'db2',
  );
  await c.query(`
    SET allow_in_place_tablespaces = on;
    CREATE TABLESPACE ts LOCATION '';
    CREATE TABLE ts_items (id int, v text) TABLESPACE ts;
    ALTER TABLE ts_items ADD CONSTRAINT ts_items_pkey PRIMARY KEY (id) USING INDEX TABLESPACE ts;
    INSERT INTO ts_items SELECT g, repeat('t', g % 100) FROM generate_series(1, 2000) g;
    UPDATE items SET price = price + 1 WHERE id % 3 = 0;
    DELETE FROM items WHERE id % 10 = 0;
    VACUUM items;
    SELECT count(nextval('item_seq')) FROM generate_series(1, 40);
    BEGIN;
    INSERT INTO items (id, name, code, tags, pos, loc, price) VALUES (100001, 'prepared', 'c100001', ARRAY[3], point(20, 20), point(1, 1), 5000);
    PREPARE TRANSACTION 'p1';
  `);
}

/** Step C: the prepared transaction commits, a table is dropped, pgbench, a column added, a database copied from another, relations rewritten (a mapped catalog too). */
export async function workloadStepC(c: PgCluster): Promise<void> {
  await c.query("COMMIT PREPARED 'p1'; DROP TABLE doomed;");
  await c.pgbench(['-c', '2', '-j', '2', '-t', '300', '-n']);
  await c.query(`
    ALTER TABLE items ADD COLUMN extra int DEFAULT 5;
    UPDATE items SET extra = id % 17 WHERE id < 5000;
    TRUNCATE pgbench_history;
    VACUUM FULL pgbench_branches;
    CREATE DATABASE db3 STRATEGY FILE_COPY TEMPLATE db2;
  `);
  await c.query('VACUUM FULL pg_class; INSERT INTO t2 (v) VALUES (\'after rewrite\');', 'db2');
}

/**
 * Step D: one transaction with 3000 subtransactions, each with an xid: its commit record lists
 * them all (~12 KiB, across WAL pages). Returns that record's start LSN and length.
 */
export async function workloadStepD(c: PgCluster): Promise<{ commitLsn: string; commitBytes: number }> {
  const before = await c.currentLsn('insert');
  await c.query(`
    CREATE TABLE subx (id int);
    DO $$ BEGIN
      FOR i IN 1..3000 LOOP
        BEGIN INSERT INTO subx VALUES (i); EXCEPTION WHEN others THEN NULL; END;
      END LOOP;
    END $$;
  `);
  const after = await c.currentLsn('insert');
  const row = await c.query(
    `SELECT start_lsn || ' ' || record_length FROM pg_get_wal_records_info('${before}', '${after}')
      WHERE resource_manager = 'Transaction' AND record_type = 'COMMIT' ORDER BY record_length DESC LIMIT 1`,
  );
  const [commitLsn, bytes] = row.split(' ');
  return { commitLsn: commitLsn as string, commitBytes: Number(bytes) };
}
