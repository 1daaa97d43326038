/**
 * The data directory as keys (Neon's pgdatadir_mapping.rs): how relation sizes, the relations of a
 * database, the databases, SLRU segments and two-phase files are stored as values under the keys of
 * key.ts, and the reads the page service and base backups make of them at an LSN. Ingest writes
 * these values as images (never records), so reading them needs no redo.
 *
 * Value layouts (all little-endian):
 * ```
 *  relation size, SLRU segment size   u32 blocks
 *  relation directory of a database   u32 n, then n x (relNode u32, fork u8), sorted
 *  database directory                 u32 n, then n x (spcNode u32, dbNode u32), sorted
 *                                     (an entry with dbNode 0 outside the global tablespace is a
 *                                     tablespace's own folder, made by CREATE TABLESPACE before any
 *                                     database has a folder in it)
 *  SLRU directory                     u32 n, then n x segno u32, sorted
 *  two-phase directory                u32 n, then n x xid u32, sorted
 * ```
 */
import { BLCKSZ } from '../pg/constants.js';
import { formatLsn, type Lsn } from '../pg/lsn.js';
import type { Oid, RelFileNode } from '../pg/types.js';
import { RepositoryError } from './errors.js';
import {
  DATABASE_DIRECTORY_KEY,
  relDirectoryKey,
  relSizeKey,
  slruDirectoryKey,
  slruPageKey,
  slruSegmentSizeKey,
  TWO_PHASE_DIRECTORY_KEY,
  type Key,
  type Slru,
} from './key.js';
import type { Timeline } from './timeline.js';

export interface RelFork {
  readonly relNode: number;
  readonly fork: number;
}

export interface DatabaseRef {
  readonly spcNode: number;
  readonly dbNode: number;
}

/** SLRU_PAGES_PER_SEGMENT (slru.h). */
export const SLRU_PAGES_PER_SEGMENT = 32;

function bad(what: string, bytes: Uint8Array): RepositoryError {
  return new RepositoryError('CORRUPT_LAYER', `Cannot decode ${what}: ${bytes.length} bytes do not hold one`);
}

export function encodeU32(n: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

export function decodeU32(bytes: Uint8Array, what: string): number {
  if (bytes.length !== 4) throw bad(what, bytes);
  return Buffer.from(bytes.buffer, bytes.byteOffset, 4).readUInt32LE(0);
}

/** A sorted list of fixed-width tuples of u32s (the last field may be a u8): a directory value. */
function encodeList(items: readonly (readonly number[])[], widths: readonly number[]): Uint8Array {
  const width = widths.reduce((a, b) => a + b, 0);
  const b = Buffer.alloc(4 + items.length * width);
  b.writeUInt32LE(items.length, 0);
  let o = 4;
  for (const item of items) {
    widths.forEach((w, i) => {
      if (w === 4) b.writeUInt32LE((item[i] as number) >>> 0, o);
      else b[o] = item[i] as number;
      o += w;
    });
  }
  return b;
}

function decodeList(bytes: Uint8Array, widths: readonly number[], what: string): number[][] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const width = widths.reduce((a, x) => a + x, 0);
  if (b.length < 4) throw bad(what, bytes);
  const n = b.readUInt32LE(0);
  if (b.length !== 4 + n * width) throw bad(what, bytes);
  const out: number[][] = [];
  let o = 4;
  for (let i = 0; i < n; i++) {
    out.push(widths.map((w) => (o += w, w === 4 ? b.readUInt32LE(o - 4) : (b[o - 1] as number))));
  }
  return out;
}

const byFields = (a: readonly number[], b: readonly number[]) => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return 0;
};

export function encodeRelDirectory(rels: readonly RelFork[]): Uint8Array {
  return encodeList(rels.map((r) => [r.relNode, r.fork]).sort(byFields), [4, 1]);
}

export function decodeRelDirectory(bytes: Uint8Array): RelFork[] {
  return decodeList(bytes, [4, 1], 'a relation directory').map(([relNode, fork]) => ({ relNode: relNode as number, fork: fork as number }));
}

export function encodeDatabaseDirectory(dbs: readonly DatabaseRef[]): Uint8Array {
  return encodeList(dbs.map((d) => [d.spcNode, d.dbNode]).sort(byFields), [4, 4]);
}

export function decodeDatabaseDirectory(bytes: Uint8Array): DatabaseRef[] {
  return decodeList(bytes, [4, 4], 'the database directory').map(([spcNode, dbNode]) => ({ spcNode: spcNode as number, dbNode: dbNode as number }));
}

export function encodeNumberList(ns: readonly number[]): Uint8Array {
  return encodeList([...ns].sort((a, b) => a - b).map((n) => [n]), [4]);
}

export function decodeNumberList(bytes: Uint8Array, what: string): number[] {
  return decodeList(bytes, [4], what).map(([n]) => n as number);
}

/**
 * Reads of the data directory at an LSN. Each waits for the LSN and refuses one below the GC
 * cutoff, as every timeline read does, and one below the timeline's consistent LSN unless the
 * reader is ingest's (Timeline.getForIngest). A key with no value reads as absent (an empty
 * directory, a relation that does not exist), which is what PostgreSQL sees of a file that is not there.
 */
export class DatadirReader {
  constructor(
    private readonly timeline: Timeline,
    private readonly purpose: 'read' | 'ingest' = 'read',
  ) {}

  private async getOrUndefined(key: Key, lsn: Lsn): Promise<Uint8Array | undefined> {
    try {
      return this.purpose === 'ingest' ? await this.timeline.getForIngest(key, lsn) : await this.timeline.get(key, lsn);
    } catch (e) {
      if (e instanceof RepositoryError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }

  /** The relations (and their forks) of a database, from its relation directory. */
  async relations(spcNode: Oid | number, dbNode: Oid | number, lsn: Lsn): Promise<RelFork[]> {
    const v = await this.getOrUndefined(relDirectoryKey(spcNode, dbNode), lsn);
    return v === undefined ? [] : decodeRelDirectory(v);
  }

  async relExists(rel: RelFileNode, fork: number, lsn: Lsn): Promise<boolean> {
    return (await this.relations(rel.spcNode, rel.dbNode, lsn)).some((r) => r.relNode === rel.relNode && r.fork === fork);
  }

  /** The relation fork's size in blocks; NOT_FOUND if it does not exist at `lsn`. */
  async relSize(rel: RelFileNode, fork: number, lsn: Lsn): Promise<number> {
    if (!(await this.relExists(rel, fork, lsn)))
      throw new RepositoryError('NOT_FOUND', `Relation ${rel.spcNode}/${rel.dbNode}/${rel.relNode} fork ${fork} does not exist at ${formatLsn(lsn)}`);
    const v = await this.getOrUndefined(relSizeKey(rel, fork), lsn);
    return v === undefined ? 0 : decodeU32(v, 'a relation size');
  }

  async databases(lsn: Lsn): Promise<DatabaseRef[]> {
    const v = await this.getOrUndefined(DATABASE_DIRECTORY_KEY, lsn);
    return v === undefined ? [] : decodeDatabaseDirectory(v);
  }

  /** pg_database_size's sum: every fork of every relation of the database, in bytes. */
  async databaseSize(spcNode: Oid | number, dbNode: Oid | number, lsn: Lsn): Promise<number> {
    let blocks = 0;
    for (const r of await this.relations(spcNode, dbNode, lsn)) {
      const v = await this.getOrUndefined(relSizeKey({ spcNode: spcNode as Oid, dbNode: dbNode as Oid, relNode: r.relNode as Oid }, r.fork), lsn);
      blocks += v === undefined ? 0 : decodeU32(v, 'a relation size');
    }
    return blocks * BLCKSZ;
  }

  async slruSegments(slru: Slru, lsn: Lsn): Promise<number[]> {
    const v = await this.getOrUndefined(slruDirectoryKey(slru), lsn);
    return v === undefined ? [] : decodeNumberList(v, 'an SLRU directory');
  }

  /** An SLRU segment file's bytes: its pages in order (as many as its size says). */
  async slruSegment(slru: Slru, segno: number, lsn: Lsn): Promise<Uint8Array> {
    if (!(await this.slruSegments(slru, lsn)).includes(segno))
      throw new RepositoryError('NOT_FOUND', `SLRU ${slru} segment ${segno.toString(16).toUpperCase().padStart(4, '0')} does not exist at ${formatLsn(lsn)}`);
    const size = await this.getOrUndefined(slruSegmentSizeKey(slru, segno), lsn);
    const blocks = size === undefined ? 0 : decodeU32(size, 'an SLRU segment size');
    const out = Buffer.alloc(blocks * BLCKSZ);
    for (let b = 0; b < blocks; b++) {
      const page = await this.getOrUndefined(slruPageKey(slru, segno, b), lsn);
      if (page !== undefined) out.set(page.subarray(0, BLCKSZ), b * BLCKSZ);
    }
    return out;
  }

  async twoPhaseXids(lsn: Lsn): Promise<number[]> {
    const v = await this.getOrUndefined(TWO_PHASE_DIRECTORY_KEY, lsn);
    return v === undefined ? [] : decodeNumberList(v, 'the two-phase directory');
  }
}
