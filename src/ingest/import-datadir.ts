/**
 * Import of a data directory into an empty timeline: how a timeline gets PostgreSQL's state before
 * its WAL (seed 002, "import"). Every relation file becomes block images, sizes and directory
 * entries; pg_filenode.map files, SLRU segments, two-phase files and pg_control become the values
 * of their keys (key.ts, datadir.ts). Everything lands at the LSN of the cluster's last checkpoint
 * record, where WAL ingest then starts. The data directory must be cleanly shut down: then its
 * files hold exactly the state as of that checkpoint (Neon's import_datadir.rs does the same).
 *
 * One walk serves two callers: importDataDirectory runs it at once (tests, tools), and
 * importDataDirectoryAsync hands the event loop back every few milliseconds and reports bytes read
 * against the folder's size, so a server answers its other requests (and the import's progress)
 * while a large folder goes in. The walk is a generator that yields after each chunk it puts; the
 * values all land above the last record LSN and count only with the one advance at the end, so an
 * import that fails halfway leaves nothing (Timeline.discardUnadvanced).
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { BLCKSZ } from '../pg/constants.js';
import { ControlFile, DbState } from '../pg/control.js';
import { formatLsn, type Lsn } from '../pg/lsn.js';
import { FORK_SUFFIXES, RELATION_FILE, relationFileName, RELSEG_SIZE } from '../pg/relpath.js';
import { DEFAULTTABLESPACE_OID, GLOBALTABLESPACE_OID, type Oid, type RelFileNode } from '../pg/types.js';
import { encodeDatabaseDirectory, encodeNumberList, encodeRelDirectory, encodeU32, type DatabaseRef, type RelFork } from '../repository/datadir.js';
import {
  CHECKPOINT_KEY,
  CONTROL_FILE_KEY,
  DATABASE_DIRECTORY_KEY,
  relBlockKey,
  relDirectoryKey,
  relmapKey,
  relSizeKey,
  Slru,
  SLRU_DIRECTORY_NAMES,
  slruDirectoryKey,
  slruPageKey,
  slruSegmentSizeKey,
  TWO_PHASE_DIRECTORY_KEY,
  twoPhaseFileKey,
} from '../repository/key.js';
import type { Timeline } from '../repository/timeline.js';
import { IngestError } from './errors.js';

const READ_CHUNK_BYTES = 1 << 20;
/** How long the asynchronous import holds the event loop before it yields. */
const HOLD_EVENT_LOOP_MS_MAX = 20;


/** An SLRU segment file's name (SlruFileName: 4 hex digits, 6 for long segment numbers). */
const SLRU_SEGMENT_FILE = /^[0-9A-F]{4,6}$/;

/** Each SLRU and its folder in a data directory (key.ts names them, in Slru order). */
export const SLRU_FOLDERS: readonly (readonly [Slru, string])[] = SLRU_DIRECTORY_NAMES.map((folder, slru) => [slru as Slru, folder] as const);

export interface ImportResult {
  /** The LSN the values were put at: the last checkpoint record's start. WAL ingest starts there. */
  readonly lsn: Lsn;
  readonly control: ControlFile;
  readonly relations: number;
  readonly blocks: number;
  readonly slruPages: number;
}

/** Imports the cleanly shut down data directory `dataDir` into the empty timeline `t`. */
export function importDataDirectory(t: Timeline, dataDir: string): ImportResult {
  const walk = importSteps(t, dataDir, { bytes: 0 });
  for (let step = walk.next(); ; step = walk.next()) if (step.done === true) return step.value;
}

export interface ImportProgress {
  /** Bytes of relation and SLRU files read so far. */
  readonly bytesDone: number;
  /** The same files' sizes when the import began. */
  readonly bytesTotal: number;
}

/**
 * importDataDirectory, yielding to the event loop at least every HOLD_EVENT_LOOP_MS_MAX ms and
 * calling `onProgress` then. On failure the values put so far are dropped (see the module header).
 */
export async function importDataDirectoryAsync(t: Timeline, dataDir: string, onProgress?: (p: ImportProgress) => void): Promise<ImportResult> {
  const bytesTotal = dataDirectoryBytes(dataDir);
  const read = { bytes: 0 };
  const walk = importSteps(t, dataDir, read);
  let since = Date.now();
  try {
    for (let step = walk.next(); ; step = walk.next()) {
      if (step.done === true) {
        onProgress?.({ bytesDone: read.bytes, bytesTotal });
        return step.value;
      }
      if (Date.now() - since >= HOLD_EVENT_LOOP_MS_MAX) {
        onProgress?.({ bytesDone: read.bytes, bytesTotal });
        await yieldToEventLoop();
        since = Date.now();
      }
    }
  } catch (e) {
    if (t.lastRecordLsnNumber === 0) t.discardUnadvanced();
    throw e;
  }
}

/** A folder of relation files: `global`, `base/<db>`, or a database's folder in a tablespace. */
interface DatabaseFolder {
  readonly dir: string;
  readonly spcNode: number;
  readonly dbNode: number;
}

/**
 * The folders of relation files in `dataDir`, and the tablespaces (their own folders, listed even
 * while no database has a folder in them): what both the import and its progress total walk.
 */
function dataDirectoryLayout(dataDir: string): { folders: DatabaseFolder[]; tablespaces: number[] } {
  const folders: DatabaseFolder[] = [{ dir: join(dataDir, 'global'), spcNode: GLOBALTABLESPACE_OID, dbNode: 0 }];
  for (const db of readdirSync(join(dataDir, 'base'))) if (/^\d+$/.test(db)) folders.push({ dir: join(dataDir, 'base', db), spcNode: DEFAULTTABLESPACE_OID, dbNode: Number(db) });
  const tablespaces: number[] = [];
  const tblspc = join(dataDir, 'pg_tblspc');
  for (const spc of existsSync(tblspc) ? readdirSync(tblspc) : []) {
    if (!/^\d+$/.test(spc)) continue;
    const versionDir = readdirSync(join(tblspc, spc)).find((n) => n.startsWith('PG_15_'));
    if (versionDir === undefined) continue;
    tablespaces.push(Number(spc));
    for (const db of readdirSync(join(tblspc, spc, versionDir))) if (/^\d+$/.test(db)) folders.push({ dir: join(tblspc, spc, versionDir, db), spcNode: Number(spc), dbNode: Number(db) });
  }
  return { folders, tablespaces };
}

/** The bytes an import of `dataDir` reads: its relation files and SLRU segments (the progress total). */
export function dataDirectoryBytes(dataDir: string): number {
  let bytes = 0;
  const files = (dir: string, keep: (name: string) => boolean): void => {
    for (const name of existsSync(dir) ? readdirSync(dir) : []) if (keep(name)) bytes += statSync(join(dir, name)).size;
  };
  for (const f of dataDirectoryLayout(dataDir).folders) files(f.dir, (n) => RELATION_FILE.test(n));
  for (const [, folder] of SLRU_FOLDERS) files(join(dataDir, folder), (n) => SLRU_SEGMENT_FILE.test(n));
  return bytes;
}

/** What an import leaves besides relations, all at the import's LSN (both importers: a folder here, a base backup's archives in backup-files.ts). */
export interface NonRelationState {
  /** Databases, and tablespaces as (tablespace, 0). */
  readonly databases: readonly DatabaseRef[];
  /** Per SLRU, its segments and their sizes in pages (the pages themselves are put as they are read). */
  readonly slruSegments: ReadonlyMap<Slru, ReadonlyMap<number, number>>;
  readonly twoPhaseXids: readonly number[];
  readonly control: ControlFile;
}

/** Puts the directory values, pg_control and the checkpoint of an import at `lsn`. */
export function putNonRelationState(t: Timeline, lsn: Lsn, s: NonRelationState): void {
  t.put(DATABASE_DIRECTORY_KEY, lsn, { kind: 'image', bytes: encodeDatabaseDirectory([...s.databases]) });
  for (const [slru] of SLRU_FOLDERS) {
    const segments = s.slruSegments.get(slru) ?? new Map<number, number>();
    // A server with track_commit_timestamp off removes pg_commit_ts's segments at its start
    // (CompleteCommitTsInitialization, DeactivateCommitTs) without WAL: they are not part of its state.
    const kept = slru === Slru.CommitTs && !s.control.trackCommitTimestamp ? [] : [...segments.keys()].sort((a, b) => a - b);
    for (const segno of kept) t.put(slruSegmentSizeKey(slru, segno), lsn, { kind: 'image', bytes: encodeU32(segments.get(segno) as number) });
    t.put(slruDirectoryKey(slru), lsn, { kind: 'image', bytes: encodeNumberList(kept) });
  }
  t.put(TWO_PHASE_DIRECTORY_KEY, lsn, { kind: 'image', bytes: encodeNumberList([...s.twoPhaseXids]) });
  t.put(CONTROL_FILE_KEY, lsn, { kind: 'image', bytes: s.control.encode() });
  t.put(CHECKPOINT_KEY, lsn, { kind: 'image', bytes: s.control.checkPointCopy.bytes });
}

/** The import's walk (see the module header): yields after each chunk it puts; `read.bytes` counts the file bytes read. */
function* importSteps(t: Timeline, dataDir: string, read: { bytes: number }): Generator<void, ImportResult, void> {
  const controlPath = join(dataDir, 'global', 'pg_control');
  const control = new ControlFile(readFileSync(controlPath), controlPath);
  if (control.state !== DbState.Shutdowned && control.state !== DbState.ShutdownedInRecovery)
    throw new IngestError('IMPORT_FAILED', `Cannot import ${dataDir}: it was not shut down cleanly (pg_control state ${control.state}); stop the server with pg_ctl stop -m fast first`);
  if (control.blcksz !== BLCKSZ) throw new IngestError('IMPORT_FAILED', `Cannot import ${dataDir}: its block size is ${control.blcksz}, strata supports ${BLCKSZ}`);
  if (t.lastRecordLsnNumber !== 0 || t.layers.length > 0) throw new IngestError('IMPORT_FAILED', `Cannot import into timeline ${t.id}: it is not empty`);
  const lsn = control.checkPoint as Lsn;
  let relations = 0;
  let blocks = 0;
  let slruPages = 0;

  const databases: DatabaseRef[] = [];
  function* importDatabaseDir(dir: string, spcNode: number, dbNode: number): Generator<void, void, void> {
    const rels = new Map<string, RelFork>();
    for (const name of readdirSync(dir).sort()) {
      const m = RELATION_FILE.exec(name);
      if (m === null) continue;
      const relNode = Number(m[1]);
      const fork = FORK_SUFFIXES[m[2] ?? ''] as number;
      const segno = m[3] === undefined ? 0 : Number(m[3]);
      const rel: RelFileNode = { spcNode: spcNode as Oid, dbNode: dbNode as Oid, relNode: relNode as Oid };
      blocks += yield* importRelationSegment(t, lsn, join(dir, name), rel, fork, segno, read);
      rels.set(`${relNode}_${fork}`, { relNode, fork });
    }
    // Sizes: the blocks of every segment file of the fork.
    for (const r of rels.values()) {
      const rel: RelFileNode = { spcNode: spcNode as Oid, dbNode: dbNode as Oid, relNode: r.relNode as Oid };
      t.put(relSizeKey(rel, r.fork), lsn, { kind: 'image', bytes: encodeU32(relationBlocks(dir, r)) });
    }
    relations += rels.size;
    t.put(relDirectoryKey(spcNode, dbNode), lsn, { kind: 'image', bytes: encodeRelDirectory([...rels.values()]) });
    const map = join(dir, 'pg_filenode.map');
    if (existsSync(map)) t.put(relmapKey(spcNode, dbNode), lsn, { kind: 'image', bytes: readFileSync(map) });
    if (dbNode !== 0) databases.push({ spcNode, dbNode });
  }

  const layout = dataDirectoryLayout(dataDir);
  for (const f of layout.folders) yield* importDatabaseDir(f.dir, f.spcNode, f.dbNode);
  for (const spcNode of layout.tablespaces) databases.push({ spcNode, dbNode: 0 });

  const slruSegments = new Map<Slru, Map<number, number>>();
  for (const [slru, folder] of SLRU_FOLDERS) {
    const dir = join(dataDir, folder);
    const segments = new Map<number, number>();
    slruSegments.set(slru, segments);
    // Not read where putNonRelationState would not list them (pg_commit_ts with track_commit_timestamp off).
    if (slru === Slru.CommitTs && !control.trackCommitTimestamp) continue;
    for (const name of existsSync(dir) ? readdirSync(dir).sort() : []) {
      if (!SLRU_SEGMENT_FILE.test(name)) continue;
      const segno = parseInt(name, 16);
      const bytes = readFileSync(join(dir, name));
      if (bytes.length % BLCKSZ !== 0) throw new IngestError('IMPORT_FAILED', `Cannot import ${join(dir, name)}: its ${bytes.length} bytes are not whole pages`);
      for (let b = 0; b < bytes.length / BLCKSZ; b++) t.put(slruPageKey(slru, segno, b), lsn, { kind: 'image', bytes: bytes.subarray(b * BLCKSZ, (b + 1) * BLCKSZ) });
      slruPages += bytes.length / BLCKSZ;
      read.bytes += bytes.length;
      segments.set(segno, bytes.length / BLCKSZ);
      yield;
    }
  }

  const twophase = join(dataDir, 'pg_twophase');
  const xids: number[] = [];
  for (const name of existsSync(twophase) ? readdirSync(twophase) : []) {
    if (!/^[0-9A-F]{8}$/.test(name)) continue;
    const xid = parseInt(name, 16);
    t.put(twoPhaseFileKey(xid), lsn, { kind: 'image', bytes: readFileSync(join(twophase, name)) });
    xids.push(xid);
  }
  putNonRelationState(t, lsn, { databases, slruSegments, twoPhaseXids: xids, control });
  t.advance(lsn);
  return { lsn, control, relations, blocks, slruPages };
}

/** The blocks of one relation fork: every segment file's. */
function relationBlocks(dir: string, r: RelFork): number {
  let blocks = 0;
  for (let segno = 0; ; segno++) {
    const path = join(dir, relationFileName(r.relNode, r.fork, segno));
    if (!existsSync(path)) return blocks;
    blocks += Math.floor(statSync(path).size / BLCKSZ);
  }
}

/** Puts every block of one segment file as an image, yielding after each chunk; returns how many. */
function* importRelationSegment(t: Timeline, lsn: Lsn, path: string, rel: RelFileNode, fork: number, segno: number, read: { bytes: number }): Generator<void, number, void> {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    let blkno = segno * RELSEG_SIZE;
    let position = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, READ_CHUNK_BYTES, position);
      if (n === 0) break;
      if (n % BLCKSZ !== 0 && n < READ_CHUNK_BYTES)
        throw new IngestError('IMPORT_FAILED', `Cannot import ${path}: it ends inside a block (${position + n} bytes) as of ${formatLsn(lsn)}`);
      for (let o = 0; o + BLCKSZ <= n; o += BLCKSZ) t.put(relBlockKey(rel, fork, blkno++), lsn, { kind: 'image', bytes: buf.subarray(o, o + BLCKSZ) });
      position += n - (n % BLCKSZ);
      read.bytes += n;
      yield;
    }
    return blkno - segno * RELSEG_SIZE;
  } finally {
    closeSync(fd);
  }
}
