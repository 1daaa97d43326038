/**
 * The oracle for pages served (DESIGN.md): every page of every relation file a stopped PostgreSQL
 * left on disk, against strata's page at an LSN, masked as PostgreSQL masks pages for
 * wal_consistency_checking, with what the server writes without WAL masked too (and said why).
 * Used by the ingest tests; needs the server's catalog (relationInfo) read before it stopped.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BLCKSZ } from '../pg/constants.js';
import type { Lsn } from '../pg/lsn.js';
import { RM_BRIN_ID, RM_BTREE_ID, RM_GENERIC_ID, RM_GIN_ID, RM_GIST_ID, RM_HASH_ID, RM_HEAP_ID, RM_SEQ_ID, RM_SPGIST_ID } from '../pg/rmgr-ids.js';
import type { Oid, RelFileNode } from '../pg/types.js';
import { mask_page_lsn_and_checksum } from '../redo/mask/common.js';
import { maskFor, type PageMask } from '../redo/mask/index.js';
import { DatadirReader } from '../repository/datadir.js';
import { RepositoryError } from '../repository/errors.js';
import { relBlockKey } from '../repository/key.js';
import type { Timeline } from '../repository/timeline.js';
import type { PgCluster } from './cluster.js';

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

export interface RelInfo {
  readonly mask: PageMask | undefined;
  readonly am: string;
  readonly kind: string;
  readonly unlogged: boolean;
  readonly name: string;
}

/** relfilenode -> how to mask its pages, for every relation of every database, from the running server. */
export async function relationInfo(c: PgCluster): Promise<Map<string, RelInfo>> {
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

export interface FileRel {
  readonly rel: RelFileNode;
  readonly fork: number;
  readonly path: string;
}

/** Every main, VM and init fork file (first segment) of every database folder. FSM forks are not WAL-logged. */
export function relationFiles(dataDir: string): FileRel[] {
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

export interface PageComparison {
  readonly compared: number;
  /** Pages past strata's relation size that are zero (or empty VM pages) in the file: extended without WAL. */
  readonly zeroTails: number;
  /** VM pages of a database made by CREATE DATABASE WAL_LOG, whose bits PostgreSQL's own replay loses (see below). */
  readonly walLogVmBitsLost: number;
  readonly mismatches: string[];
}

/**
 * Every block of every main, VM and init fork in `dataDir` against strata's page at `at`. VM pages
 * of the database the `databases` workload creates with STRATEGY WAL_LOG may have fewer bits in
 * strata: PostgreSQL 15 logs those pages with page_std = true (bufmgr.c RelationCopyStorageUsingBuffer),
 * so the image's hole swallows the bitmap and every replay, PostgreSQL's too, has zeros there.
 */
export async function comparePages(
  timeline: Timeline,
  at: Lsn,
  dataDir: string,
  rels: Map<string, RelInfo>,
  /** Databases made by CREATE DATABASE with STRATEGY WAL_LOG (PostgreSQL 15's default): their VM pages may lose bits on replay. */
  walLogDatabases: readonly string[] = ['strata_db_wal_log'],
): Promise<PageComparison> {
  const c = { dataDir };
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
      if (!a.equals(theirs) && f.fork === 2 && info !== undefined && walLogDatabases.some((d) => info.name.startsWith(`${d}.`)) && isBitSubset(a, theirs)) {
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
  return { compared, zeroTails, walLogVmBitsLost, mismatches };
}
