/**
 * A base backup's archives into an empty timeline, as they stream (import-backup.ts runs the backup
 * and feeds this): the same keys a stopped data directory's import makes (import-datadir.ts), all
 * at the backup's start LSN, from tar entries instead of a folder.
 *
 * - Relation segment files (global/, base/<db>/, and PG_15_<catversion>/<db>/ in a tablespace's
 *   archive) become block images as their bytes pass, one 8 KiB block at a time; only their sizes
 *   are kept until the end, when the relation sizes and directories are written.
 * - SLRU segments (pg_xact, pg_multixact, pg_commit_ts) become page images the same way.
 * - Small files are held whole until their entry ends: backup_label, global/pg_control,
 *   pg_filenode.map files, two-phase state files.
 * - Everything else in the main archive (configuration files, PG_VERSION, pg_wal, the tablespace
 *   symlinks in pg_tblspc, ...) is not part of the repository's state and is passed over.
 *
 * A live backup's files are not those of a stopped server: a file may have grown while it was read
 * (its tar size is what stat said when the server began sending it, so it may end inside a block
 * being written: that part is left out, WAL from the start LSN writes the block), or shrunk (the
 * server pads it with zeros, and the truncation is in the WAL). import-backup.ts makes the timeline
 * refuse reads until the WAL up to the backup's end is in.
 */
import { BLCKSZ } from '../pg/constants.js';
import { ControlFile, ControlFileError } from '../pg/control.js';
import { formatLsn, parseLsn, type Lsn } from '../pg/lsn.js';
import { FORK_SUFFIXES, RELATION_FILE, RELSEG_SIZE } from '../pg/relpath.js';
import { DEFAULTTABLESPACE_OID, GLOBALTABLESPACE_OID, type Oid, type RelFileNode } from '../pg/types.js';
import { encodeRelDirectory, encodeU32, type DatabaseRef, type RelFork } from '../repository/datadir.js';
import {
  relBlockKey,
  relDirectoryKey,
  relmapKey,
  relSizeKey,
  Slru,
  slruPageKey,
  twoPhaseFileKey,
} from '../repository/key.js';
import type { Timeline } from '../repository/timeline.js';
import { IngestError } from './errors.js';
import { putNonRelationState, SLRU_FOLDERS } from './import-datadir.js';
import { TarReader, type TarEntry } from './tar.js';

/** The largest small file held whole (a two-phase state file with many subtransactions is the biggest). */
export const HELD_FILE_BYTES_MAX = 64 << 20;
/** The version folder of a PostgreSQL 15 tablespace (TABLESPACE_VERSION_DIRECTORY: PG_15_<catalog version>). */
const TABLESPACE_VERSION_DIR = /^PG_15_\d+$/;
const SLRU_SEGMENT = /^[0-9A-F]{4,6}$/;
const TWO_PHASE_FILE = /^[0-9A-F]{8}$/;
const DATABASE_DIR = /^\d+$/;
const TABLESPACE_ARCHIVE = /^(\d+)\.tar$/;
const BASE_ARCHIVE = 'base.tar';

/** backup_label's lines (xlogbackup.c do_pg_backup_start, PostgreSQL 15). */
export interface BackupLabel {
  /** START WAL LOCATION: the redo point of the backup's checkpoint. */
  readonly startLsn: Lsn;
  /** CHECKPOINT LOCATION: the checkpoint record itself, at or after the start. */
  readonly checkpointLsn: Lsn;
  readonly startTimeline: number;
  /** BACKUP FROM: "primary" or "standby". */
  readonly backupFrom: string;
  readonly label: string;
}

export function parseBackupLabel(text: string, where: string): BackupLabel {
  const field = (name: string): string => {
    const m = new RegExp(`^${name}: (.*)$`, 'm').exec(text);
    if (m === null) throw new IngestError('BAD_ARCHIVE', `Cannot read ${where}: it has no "${name}:" line`);
    return m[1] as string;
  };
  const lsnField = (name: string): Lsn => {
    const v = field(name);
    const m = /^([0-9A-F]+\/[0-9A-F]+)/.exec(v);
    if (m === null) throw new IngestError('BAD_ARCHIVE', `Cannot read ${where}: ${name} must start with an LSN, received "${v}"`);
    return parseLsn(m[1] as string);
  };
  // In the order of the file's lines, so that the first missing one is named.
  const startLsn = lsnField('START WAL LOCATION');
  const checkpointLsn = lsnField('CHECKPOINT LOCATION');
  const backupFrom = field('BACKUP FROM');
  const tliText = field('START TIMELINE');
  const startTimeline = Number(tliText);
  if (!/^\d+$/.test(tliText) || !Number.isSafeInteger(startTimeline) || startTimeline < 1) throw new IngestError('BAD_ARCHIVE', `Cannot read ${where}: START TIMELINE must be a timeline number, received "${tliText}"`);
  return { startLsn, checkpointLsn, startTimeline, backupFrom, label: /^LABEL: (.*)$/m.exec(text)?.[1] ?? '' };
}

/** What the archives held, once they all were read. */
export interface BackupFiles {
  readonly label: BackupLabel;
  readonly control: ControlFile;
  readonly relations: number;
  readonly blocks: number;
  readonly slruPages: number;
  readonly databases: number;
  readonly twoPhaseFiles: number;
  /** Trailing parts of files that ended inside a block: written while the backup read them. */
  readonly partialBlocksDropped: number;
  /** Entries that are not part of the repository's state (configuration, logs, pg_wal, ...). */
  readonly entriesPassedOver: number;
}

/** A sink for one tar entry's bytes. */
interface EntrySink {
  data(bytes: Buffer): void;
  end(): void;
}

/**
 * Cuts a file's bytes into `size`-byte blocks as they arrive: whole blocks inside a chunk go on as
 * views (the timeline copies what it keeps), only a block that straddles chunks is assembled.
 */
class BlockSink implements EntrySink {
  private readonly partial = Buffer.alloc(BLCKSZ);
  private fill = 0;
  private blocks = 0;

  constructor(
    private readonly onBlock: (index: number, block: Buffer) => void,
    private readonly onEnd: (blocks: number, partialBytes: number) => void,
  ) {}

  data(bytes: Buffer): void {
    let o = 0;
    if (this.fill > 0) {
      const n = Math.min(BLCKSZ - this.fill, bytes.length);
      bytes.copy(this.partial, this.fill, 0, n);
      this.fill += n;
      o = n;
      if (this.fill < BLCKSZ) return;
      this.onBlock(this.blocks++, this.partial);
      this.fill = 0;
    }
    for (; o + BLCKSZ <= bytes.length; o += BLCKSZ) this.onBlock(this.blocks++, bytes.subarray(o, o + BLCKSZ));
    if (o < bytes.length) {
      bytes.copy(this.partial, 0, o);
      this.fill = bytes.length - o;
    }
  }

  end(): void {
    this.onEnd(this.blocks, this.fill);
  }
}

/** Holds a small file whole, then hands it on. */
class HeldSink implements EntrySink {
  private readonly buf: Buffer;
  private fill = 0;

  constructor(
    size: number,
    private readonly onEnd: (bytes: Buffer) => void,
  ) {
    this.buf = Buffer.alloc(size);
  }

  data(bytes: Buffer): void {
    bytes.copy(this.buf, this.fill);
    this.fill += bytes.length;
  }

  end(): void {
    this.onEnd(this.buf);
  }
}

const PASS_OVER: EntrySink = { data: () => undefined, end: () => undefined };

interface ForkFiles {
  readonly rel: RelFileNode;
  readonly fork: number;
  /** Blocks of each segment file, by segment number. */
  readonly segments: Map<number, number>;
}

export class BackupFilesImporter {
  private tar: TarReader | undefined;
  /** The current archive: the tablespace its database folders belong to (undefined: base.tar). */
  private archive: { readonly name: string; readonly spcNode: number | undefined } | undefined;
  private readonly archivesSeen = new Set<string>();
  private sink: EntrySink = PASS_OVER;
  private readonly forks = new Map<string, ForkFiles>();
  /** Folders holding relations: global (1664/0), every database's in base and in each tablespace. */
  private readonly relDirs = new Map<string, DatabaseRef>();
  private readonly slruSegments = new Map<Slru, Map<number, number>>();
  private readonly twoPhase = new Set<number>();
  private label: BackupLabel | undefined;
  private control: ControlFile | undefined;
  private blocks = 0;
  private slruPages = 0;
  private partialBlocksDropped = 0;
  private entriesPassedOver = 0;

  /** `source` names the backup in errors (e.g. "the base backup from 127.0.0.1:5432"). */
  constructor(
    private readonly timeline: Timeline,
    readonly startLsn: Lsn,
    private readonly source: string,
  ) {
    if (timeline.lastRecordLsnNumber !== 0 || timeline.layers.length > 0 || timeline.inMemoryBytes > 0)
      throw new IngestError('IMPORT_FAILED', `Cannot import ${source} into timeline ${timeline.id}: it is not empty`);
    for (const [slru] of SLRU_FOLDERS) this.slruSegments.set(slru, new Map());
  }

  private where(entry?: { readonly name: string }): string {
    const archive = this.archive?.name ?? '(no archive)';
    return entry === undefined ? `archive ${archive} of ${this.source}` : `${entry.name} in archive ${archive} of ${this.source}`;
  }

  private bad(why: string, entry?: TarEntry): IngestError {
    return new IngestError('BAD_ARCHIVE', `Cannot import ${this.where(entry)}: ${why}`);
  }

  /** A new archive begins: "base.tar" (the data directory) or "<spcoid>.tar" (a tablespace). */
  beginArchive(name: string, location: string): void {
    if (this.tar !== undefined) throw new Error(`assert: archive ${name} begins inside archive ${this.archive?.name}`);
    if (this.archivesSeen.has(name)) throw new IngestError('BAD_ARCHIVE', `Cannot import ${this.source}: archive ${name} comes twice`);
    this.archivesSeen.add(name);
    const m = TABLESPACE_ARCHIVE.exec(name);
    if (name !== BASE_ARCHIVE && m === null) throw new IngestError('BAD_ARCHIVE', `Cannot import ${this.source}: an archive named ${JSON.stringify(name)} is neither base.tar nor <tablespace oid>.tar`);
    if (name !== BASE_ARCHIVE && location === '') throw new IngestError('BAD_ARCHIVE', `Cannot import ${this.source}: tablespace archive ${name} has no location`);
    this.archive = { name, spcNode: m === null ? undefined : Number(m[1]) };
    this.tar = new TarReader(this.where(), {
      onEntry: (e) => {
        this.sink = this.sinkFor(e);
      },
      onData: (_e, bytes) => this.sink.data(bytes),
      onEntryEnd: () => {
        const s = this.sink;
        this.sink = PASS_OVER;
        s.end();
      },
    });
  }

  /** The current archive's next bytes (any chunking). */
  data(bytes: Buffer): void {
    if (this.tar === undefined) throw new Error('assert: archive data outside an archive');
    this.tar.push(bytes);
  }

  endArchive(): void {
    if (this.tar === undefined) throw new Error('assert: the end of an archive that did not begin');
    this.tar.end();
    this.tar = undefined;
  }

  // ---- entries ----

  private sinkFor(e: TarEntry): EntrySink {
    const parts = e.name.replace(/^(\.\/)+/, '').split('/');
    if (parts.some((p) => p === '..' || p === '') && e.name !== '.') throw this.bad('the path is not a plain relative path', e);
    const spc = this.archive?.spcNode;
    if (spc !== undefined) return this.tablespaceEntry(e, spc, parts);
    return this.baseEntry(e, parts);
  }

  /** An entry of a tablespace's archive: PG_15_<catversion>/ and its database folders, nothing else. */
  private tablespaceEntry(e: TarEntry, spc: number, parts: readonly string[]): EntrySink {
    const [version, db, file, ...rest] = parts;
    if (version === undefined || !TABLESPACE_VERSION_DIR.test(version))
      throw this.bad(`a tablespace's archive holds only its PostgreSQL 15 version folder (PG_15_<catalog version>), not ${JSON.stringify(parts[0])}`, e);
    if (db === undefined) return this.expectKind(e, 'directory', PASS_OVER);
    if (!DATABASE_DIR.test(db) || rest.length > 0) throw this.bad('a tablespace holds only database folders of relation files', e);
    if (file === undefined) return this.expectKind(e, 'directory', this.databaseDir(spc, Number(db)));
    return this.databaseFile(e, spc, Number(db), file);
  }

  /** An entry of the data directory's archive. */
  private baseEntry(e: TarEntry, parts: readonly string[]): EntrySink {
    const path = parts.join('/');
    const [top, second, third, ...rest] = parts;
    if (path === 'backup_label') return this.expectKind(e, 'file', this.held(e, (b) => this.onLabel(b.toString('utf8'))));
    if (path === 'global/pg_control') return this.expectKind(e, 'file', this.held(e, (b) => this.onControl(b, e)));
    if (top === 'global' && second === undefined) return this.expectKind(e, 'directory', this.databaseDir(GLOBALTABLESPACE_OID, 0));
    if (top === 'global' && second !== undefined && third === undefined) return this.databaseFile(e, GLOBALTABLESPACE_OID, 0, second);
    if (top === 'base' && second !== undefined && DATABASE_DIR.test(second) && rest.length === 0) {
      if (third === undefined) return this.expectKind(e, 'directory', this.databaseDir(DEFAULTTABLESPACE_OID, Number(second)));
      return this.databaseFile(e, DEFAULTTABLESPACE_OID, Number(second), third);
    }
    const slru = SLRU_FOLDERS.find(([, folder]) => path.startsWith(`${folder}/`) && !path.slice(folder.length + 1).includes('/'));
    if (slru !== undefined && SLRU_SEGMENT.test(parts[parts.length - 1] as string)) return this.expectKind(e, 'file', this.slruSegment(slru[0], parseInt(parts[parts.length - 1] as string, 16)));
    if (top === 'pg_twophase' && second !== undefined && TWO_PHASE_FILE.test(second) && third === undefined) {
      const xid = parseInt(second, 16);
      return this.expectKind(
        e,
        'file',
        this.held(e, (b) => {
          this.timeline.put(twoPhaseFileKey(xid), this.startLsn, { kind: 'image', bytes: b });
          this.twoPhase.add(xid);
        }),
      );
    }
    this.entriesPassedOver++;
    return PASS_OVER;
  }

  private expectKind(e: TarEntry, kind: TarEntry['kind'], sink: EntrySink): EntrySink {
    if (e.kind !== kind) throw this.bad(`expected a ${kind === 'file' ? 'regular file' : kind}, the archive has a ${e.kind}`, e);
    return sink;
  }

  private held(e: TarEntry, onEnd: (bytes: Buffer) => void): EntrySink {
    if (e.size > HELD_FILE_BYTES_MAX) throw this.bad(`${e.size} bytes is more than the ${HELD_FILE_BYTES_MAX} strata takes of such a file`, e);
    return new HeldSink(e.size, onEnd);
  }

  private databaseDir(spc: number, db: number): EntrySink {
    this.relDirs.set(`${spc}/${db}`, { spcNode: spc, dbNode: db });
    return PASS_OVER;
  }

  /** A file in a folder of relations: a relation segment, the relmapper file, or something to pass over (PG_VERSION). */
  private databaseFile(e: TarEntry, spc: number, db: number, name: string): EntrySink {
    if (name === 'pg_filenode.map') return this.expectKind(e, 'file', this.held(e, (b) => this.timeline.put(relmapKey(spc, db), this.startLsn, { kind: 'image', bytes: b })));
    const m = RELATION_FILE.exec(name);
    if (m === null) {
      this.entriesPassedOver++;
      return PASS_OVER;
    }
    // The folder's own entry comes first in a server's archive; a database is its folder.
    this.relDirs.set(`${spc}/${db}`, { spcNode: spc, dbNode: db });
    const rel: RelFileNode = { spcNode: spc as Oid, dbNode: db as Oid, relNode: Number(m[1]) as Oid };
    const fork = FORK_SUFFIXES[m[2] ?? ''] as number;
    const segno = m[3] === undefined ? 0 : Number(m[3]);
    const k = `${spc}/${db}/${rel.relNode}/${fork}`;
    let files = this.forks.get(k);
    if (files === undefined) {
      files = { rel, fork, segments: new Map() };
      this.forks.set(k, files);
    }
    if (files.segments.has(segno)) throw this.bad('the archive holds this relation segment twice', e);
    const segments = files.segments;
    const first = segno * RELSEG_SIZE;
    return this.expectKind(
      e,
      'file',
      new BlockSink(
        (i, block) => {
          if (i >= RELSEG_SIZE) throw this.bad(`a relation segment holds at most ${RELSEG_SIZE} blocks`, e);
          this.timeline.put(relBlockKey(rel, fork, first + i), this.startLsn, { kind: 'image', bytes: block });
          this.blocks++;
        },
        (blocks, partial) => {
          segments.set(segno, blocks);
          if (partial > 0) this.partialBlocksDropped++;
        },
      ),
    );
  }

  private slruSegment(slru: Slru, segno: number): EntrySink {
    return new BlockSink(
      (i, page) => {
        this.timeline.put(slruPageKey(slru, segno, i), this.startLsn, { kind: 'image', bytes: page });
        this.slruPages++;
      },
      (pages, partial) => {
        (this.slruSegments.get(slru) as Map<number, number>).set(segno, pages);
        if (partial > 0) this.partialBlocksDropped++;
      },
    );
  }

  private onLabel(text: string): void {
    const label = parseBackupLabel(text, this.where({ name: 'backup_label' }));
    if (label.startLsn !== this.startLsn)
      throw this.bad(`backup_label says START WAL LOCATION ${formatLsn(label.startLsn)}, the server said the backup starts at ${formatLsn(this.startLsn)}`);
    if (label.checkpointLsn < label.startLsn) throw this.bad(`backup_label's CHECKPOINT LOCATION ${formatLsn(label.checkpointLsn)} is before its START WAL LOCATION ${formatLsn(label.startLsn)}`);
    this.label = label;
  }

  private onControl(bytes: Buffer, e: TarEntry): void {
    try {
      this.control = new ControlFile(bytes, this.where(e));
    } catch (err) {
      if (err instanceof ControlFileError) throw new IngestError('BAD_ARCHIVE', err.message, { cause: err });
      throw err;
    }
    if (this.control.blcksz !== BLCKSZ) throw this.bad(`its block size is ${this.control.blcksz}, strata supports ${BLCKSZ}`, e);
  }

  // ---- the end ----

  /**
   * Every archive was read: checks that the backup was whole (backup_label, pg_control, no archive
   * cut short) and writes the directories, sizes, pg_control and the checkpoint at the start LSN.
   * The caller then advances the timeline to the start LSN.
   */
  finish(): BackupFiles {
    if (this.tar !== undefined) throw new Error('assert: finish inside an archive');
    if (!this.archivesSeen.has(BASE_ARCHIVE)) throw new IngestError('BAD_ARCHIVE', `Cannot import ${this.source}: it has no base.tar archive`);
    const label = this.label;
    const control = this.control;
    if (label === undefined) throw new IngestError('BAD_ARCHIVE', `Cannot import ${this.source}: base.tar has no backup_label`);
    if (control === undefined) throw new IngestError('BAD_ARCHIVE', `Cannot import ${this.source}: base.tar has no global/pg_control`);
    // pg_control is sent last, so its checkpoint is the backup's or a later one (taken while the files were read).
    const redo = control.checkPointCopy.redo;
    if (control.checkPoint < label.checkpointLsn || redo < label.startLsn)
      throw new IngestError('BAD_ARCHIVE', `Cannot import ${this.source}: its pg_control names the checkpoint at ${formatLsn(control.checkPoint)} (redo ${formatLsn(redo)}), older than the backup's at ${formatLsn(label.checkpointLsn)} (redo ${formatLsn(label.startLsn)})`);
    const lsn = this.startLsn;
    const t = this.timeline;

    const dirs = new Map<string, RelFork[]>();
    for (const d of this.relDirs.values()) dirs.set(`${d.spcNode}/${d.dbNode}`, []);
    let relations = 0;
    for (const f of this.forks.values()) {
      t.put(relSizeKey(f.rel, f.fork), lsn, { kind: 'image', bytes: encodeU32(relationBlocks(f.segments)) });
      (dirs.get(`${f.rel.spcNode}/${f.rel.dbNode}`) as RelFork[]).push({ relNode: f.rel.relNode, fork: f.fork });
      relations++;
    }
    for (const d of this.relDirs.values()) t.put(relDirectoryKey(d.spcNode, d.dbNode), lsn, { kind: 'image', bytes: encodeRelDirectory(dirs.get(`${d.spcNode}/${d.dbNode}`) as RelFork[]) });
    const databases: DatabaseRef[] = [...this.relDirs.values()].filter((d) => d.dbNode !== 0);
    // Each tablespace's own folder, listed even while no database has a folder in it (as ingest and
    // import-datadir list it): its archive is how the backup says it exists.
    for (const name of this.archivesSeen) {
      const m = TABLESPACE_ARCHIVE.exec(name);
      if (m !== null) databases.push({ spcNode: Number(m[1]), dbNode: 0 });
    }
    // pg_control's checkpoint is the state at the start. Ingest then replays the backup's checkpoint
    // record (at CHECKPOINT LOCATION, after the start) and every later one as xlog_redo does
    // (WalIngest.applyCheckpoint); if pg_control names a later checkpoint than the backup's, its
    // counters are ones the WAL up to the backup's end reaches anyway.
    putNonRelationState(t, lsn, { databases, slruSegments: this.slruSegments, twoPhaseXids: [...this.twoPhase], control });
    return {
      label,
      control,
      relations,
      blocks: this.blocks,
      slruPages: this.slruPages,
      databases: databases.length,
      twoPhaseFiles: this.twoPhase.size,
      partialBlocksDropped: this.partialBlocksDropped,
      entriesPassedOver: this.entriesPassedOver,
    };
  }
}

/** mdnblocks: whole segments up to the first that is not full. */
function relationBlocks(segments: ReadonlyMap<number, number>): number {
  let blocks = 0;
  for (let segno = 0; ; segno++) {
    const n = segments.get(segno);
    if (n === undefined) return blocks;
    blocks = segno * RELSEG_SIZE + n;
    if (n < RELSEG_SIZE) return blocks;
  }
}
