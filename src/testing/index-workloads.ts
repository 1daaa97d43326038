/**
 * Workloads for every index access method PostgreSQL 15 ships and WAL-logs: btree, hash, gin,
 * gist, spgist, brin, and contrib bloom (generic WAL). Each builds its indexes, then inserts, mass
 * DELETEs and VACUUMs (splits, page deletion, vacuum records), part of `ALL_WORKLOADS`.
 */

import type { PgCluster } from './cluster.js';
import { rows } from './workload-kit.js';
import type { Workload } from './workload-kit.js';

/**
 * Fills a table whose indexes are under test, deletes most rows, VACUUMs (index bulk delete and
 * cleanup), fills it again (reusing freed space and pages) and deletes and VACUUMs once more.
 * `insert(from, to)` is an INSERT of the ids in [from, to].
 */
async function churnIndexedTable(c: PgCluster, table: string, n: number, insert: (from: number, to: number) => string): Promise<void> {
  await c.query(`
    ${insert(1, n)};
    DELETE FROM ${table} WHERE id % 4 <> 0;
    VACUUM ${table};
    ${insert(n + 1, 2 * n)};
    DELETE FROM ${table} WHERE id % 2 = 0;
    VACUUM ${table};
  `);
}

export const indexBtree: Workload = {
  name: 'index_btree',
  description: 'btree insert/split/newroot/dedup/delete/vacuum/page unlink/reuse',
  async run(c, opts) {
    const n = rows(opts, 20000);
    await c.query(`
      DROP TABLE IF EXISTS bt_t CASCADE;
      CREATE TABLE bt_t (id int, dup int, t text) WITH (autovacuum_enabled = off);
      CREATE INDEX bt_t_id ON bt_t (id);
      CREATE INDEX bt_t_dup ON bt_t (dup) INCLUDE (id);
      CREATE INDEX bt_t_t ON bt_t (t) WITH (deduplicate_items = on);
    `);
    await churnIndexedTable(c, 'bt_t', n, (from, to) => `INSERT INTO bt_t SELECT g, g % 10, 'k' || (g % 100) FROM generate_series(${from}, ${to}) g`);
    // Emptying whole leaf pages lets VACUUM delete them; the next inserts recycle them.
    await c.query(`
      DELETE FROM bt_t WHERE id BETWEEN ${Math.round(n / 20)} AND ${Math.round((n * 3) / 4)};
      VACUUM bt_t;
      VACUUM bt_t;
      INSERT INTO bt_t SELECT g, g % 10, 'r' || g FROM generate_series(${Math.round(n / 20)}, ${Math.round(n / 2)}) g;
    `);
  },
};

export const indexHash: Workload = {
  name: 'index_hash',
  description: 'hash insert, bucket split, overflow pages, delete, vacuum squeeze',
  async run(c, opts) {
    await c.query(`
      DROP TABLE IF EXISTS hash_t CASCADE;
      CREATE TABLE hash_t (id int, h int) WITH (autovacuum_enabled = off);
      CREATE INDEX hash_t_id ON hash_t USING hash (id);
      CREATE INDEX hash_t_h ON hash_t USING hash (h);
    `);
    // h has few distinct values, so its buckets grow chains of overflow pages.
    await churnIndexedTable(c, 'hash_t', rows(opts, 20000), (from, to) => `INSERT INTO hash_t SELECT g, g % 7 FROM generate_series(${from}, ${to}) g`);
  },
};

export const indexGin: Workload = {
  name: 'index_gin',
  description: 'gin fastupdate pending list and cleanup, posting trees, split, vacuum, delete page; arrays, pg_trgm, jsonb_path_ops',
  async run(c, opts) {
    // Without fastupdate every insert rewrites each key's posting list, so WAL grows fast: the
    // trigram index without it covers a fifth of the rows, with short strings.
    await c.query(`
      CREATE EXTENSION IF NOT EXISTS pg_trgm;
      DROP TABLE IF EXISTS gin_t CASCADE;
      CREATE TABLE gin_t (id int, arr int[], txt text, doc jsonb) WITH (autovacuum_enabled = off);
      CREATE INDEX gin_t_arr_fast ON gin_t USING gin (arr) WITH (fastupdate = on, gin_pending_list_limit = 128);
      CREATE INDEX gin_t_arr_slow ON gin_t USING gin (arr) WITH (fastupdate = off);
      CREATE INDEX gin_t_trgm_fast ON gin_t USING gin (txt gin_trgm_ops) WITH (fastupdate = on);
      CREATE INDEX gin_t_trgm_slow ON gin_t USING gin (txt gin_trgm_ops) WITH (fastupdate = off) WHERE id % 5 = 0;
      CREATE INDEX gin_t_doc ON gin_t USING gin (doc jsonb_path_ops);
    `);
    // g % 3 puts thousands of items under one key: posting trees.
    await churnIndexedTable(c, 'gin_t', rows(opts, 10000), (from, to) => `INSERT INTO gin_t SELECT g, ARRAY[g % 3, g % 100, g], 'w' || (g % 500) || ' x' || (g % 7), jsonb_build_object('k', g % 20, 'g', g) FROM generate_series(${from}, ${to}) g`);
    await c.query(`SELECT gin_clean_pending_list('gin_t_arr_fast'::regclass)`);
  },
};

export const indexGist: Workload = {
  name: 'index_gist',
  description: 'gist insert/split, delete, vacuum, page delete/reuse; points, ranges, btree_gist',
  async run(c, opts) {
    await c.query(`
      CREATE EXTENSION IF NOT EXISTS btree_gist;
      DROP TABLE IF EXISTS gist_t CASCADE;
      CREATE TABLE gist_t (id int, p point, r int4range) WITH (autovacuum_enabled = off);
      CREATE INDEX gist_t_p ON gist_t USING gist (p);
      CREATE INDEX gist_t_r ON gist_t USING gist (r);
      CREATE INDEX gist_t_id ON gist_t USING gist (id);
    `);
    await churnIndexedTable(c, 'gist_t', rows(opts, 15000), (from, to) => `INSERT INTO gist_t SELECT g, point(g % 200, g / 200), int4range(g, g + g % 50) FROM generate_series(${from}, ${to}) g`);
  },
};

export const indexSpgist: Workload = {
  name: 'index_spgist',
  description: 'spgist add leaf, move leafs, split tuple, pick split, vacuum; text, quad and kd points, inet',
  async run(c, opts) {
    await c.query(`
      DROP TABLE IF EXISTS spgist_t CASCADE;
      CREATE TABLE spgist_t (id int, t text, p point, a inet) WITH (autovacuum_enabled = off);
      CREATE INDEX spgist_t_t ON spgist_t USING spgist (t);
      CREATE INDEX spgist_t_quad ON spgist_t USING spgist (p);
      CREATE INDEX spgist_t_kd ON spgist_t USING spgist (p kd_point_ops);
      CREATE INDEX spgist_t_inet ON spgist_t USING spgist (a);
    `);
    await churnIndexedTable(c, 'spgist_t', rows(opts, 15000), (from, to) => `INSERT INTO spgist_t SELECT g, 'prefix/' || (g % 300) || '/' || md5(g::text), point(g % 150, g / 150), ('10.' || (g / 65536) % 256 || '.' || (g / 256) % 256 || '.' || g % 256)::inet FROM generate_series(${from}, ${to}) g`);
  },
};

export const indexBrin: Workload = {
  name: 'index_brin',
  description: 'brin create, insert, update, revmap extend, summarize, desummarize, vacuum',
  async run(c, opts) {
    const n = rows(opts, 20000);
    await c.query(`
      DROP TABLE IF EXISTS brin_t CASCADE;
      CREATE TABLE brin_t (id int, ts timestamptz) WITH (autovacuum_enabled = off);
      INSERT INTO brin_t SELECT g, '2020-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, ${n}) g;
      CREATE INDEX brin_t_id ON brin_t USING brin (id) WITH (pages_per_range = 4);
      CREATE INDEX brin_t_ts ON brin_t USING brin (ts) WITH (pages_per_range = 8, autosummarize = off);
      INSERT INTO brin_t SELECT g, now() FROM generate_series(${n + 1}, ${2 * n}) g;
      UPDATE brin_t SET id = -id WHERE id % 1000 = 0;
      SELECT brin_summarize_new_values('brin_t_id'::regclass);
      SELECT brin_summarize_range('brin_t_ts'::regclass, 0);
      SELECT brin_desummarize_range('brin_t_id'::regclass, 0);
      SELECT brin_desummarize_range('brin_t_id'::regclass, 40);
      SELECT brin_summarize_new_values('brin_t_ts'::regclass);
      DELETE FROM brin_t WHERE id % 3 = 0;
      VACUUM brin_t;
      SELECT brin_summarize_new_values('brin_t_id'::regclass);
    `);
  },
};

export const indexBloom: Workload = {
  name: 'index_bloom',
  description: 'generic WAL (contrib bloom): index build, inserts, delete, vacuum',
  async run(c, opts) {
    const n = rows(opts, 5000);
    await c.query(`
      CREATE EXTENSION IF NOT EXISTS bloom;
      DROP TABLE IF EXISTS bloom_t CASCADE;
      CREATE TABLE bloom_t (id int, i1 int, i2 int, i3 int) WITH (autovacuum_enabled = off);
      INSERT INTO bloom_t SELECT g, g % 17, g % 31, g % 101 FROM generate_series(1, ${n}) g;
      CREATE INDEX bloom_t_idx ON bloom_t USING bloom (i1, i2, i3) WITH (length = 80);
    `);
    await churnIndexedTable(c, 'bloom_t', 2 * n, (from, to) => `INSERT INTO bloom_t SELECT g, g % 17, g % 31, g % 101 FROM generate_series(${from}, ${to}) g`);
  },
};
