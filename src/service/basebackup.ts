/**
 * Base backups (seed 002, "base backup"): a tar of a data directory, as of an LSN of a timeline,
 * that stock PostgreSQL 15 starts from with no recovery to do. The page service (the `basebackup`
 * command, CopyOut) and the HTTP API call `writeBaseBackup`; computes on branches start from it.
 *
 * What the archive holds, and which PostgreSQL routine each part stands in for:
 * - every relation file as of the LSN, pages reconstructed through the timeline, cut into 1 GiB
 *   segment files (mdextend's layout); blocks with no value below the size are zero pages, as a
 *   file extended past them reads. With data checksums on, each page is stamped as a buffer
 *   write stamps it (PageSetChecksumInplace).
 * - unlogged relations as ResetUnloggedRelations(UNLOGGED_RELATION_INIT) leaves them after a crash:
 *   the init fork, and a main fork that is a copy of it. pg_basebackup sends only the init fork and
 *   lets recovery make the rest; this archive starts without recovery, so it does that step here.
 * - pg_filenode.map and PG_VERSION in every database folder that has a relmapper file (a database's
 *   own folder), PG_VERSION at the top; SLRU segments (pg_xact, pg_multixact, pg_commit_ts);
 *   pg_twophase files of the transactions prepared at the LSN (RecreateTwoPhaseFile's format).
 * - the empty folders the server needs, and minimal configuration files (basebackup-files.ts);
 *   tablespaces as folders under pg_tblspc (see databasePath).
 * - a WAL segment with a shutdown checkpoint record at the first record position at or after the
 *   LSN (checkpoint-segment.ts), and global/pg_control pointing at it (state DB_SHUTDOWNED, no
 *   minimum recovery point): CreateCheckPoint's shutdown case and pg_resetwal's RewriteControlFile.
 *   pg_control goes last, as pg_basebackup sends it, so a cut-off archive lacks it.
 *
 * LSNs: the state is that of every record that ended at or before the LSN (values are stored at
 * their record's end LSN), so an LSN in the middle of a record means the last complete record
 * before it (seed 002), and the checkpoint record, which PostgreSQL's own WAL will follow, goes
 * after it. A backup waits for WAL up to the LSN as reads do, refuses an LSN below the GC cutoff,
 * and holds an LSN lease on the timeline (and its ancestors) while it runs, so GC cannot remove
 * what it still has to read.
 */
import { BLCKSZ } from '../pg/constants.js';
import { setPageChecksumInPlace } from '../pg/checksum.js';
import { CheckPointStruct, ControlFile, ControlFileError, DbState } from '../pg/control.js';
import { formatLsn, INVALID_LSN, type Lsn } from '../pg/lsn.js';
import { relationFileName, RELSEG_SIZE } from '../pg/relpath.js';
import { DEFAULTTABLESPACE_OID, GLOBALTABLESPACE_OID, type Oid, type RelFileNode } from '../pg/types.js';
import { DatadirReader, decodeU32, type RelFork } from '../repository/datadir.js';
import { RepositoryError } from '../repository/errors.js';
import { CHECKPOINT_KEY, CONTROL_FILE_KEY, KEY_HEX_LENGTH, relBlockKey, relBlockOf, relmapKey, relSizeKey, Slru, SLRU_DIRECTORY_NAMES, twoPhaseFileKey, type Key, type KeyRange } from '../repository/key.js';
import type { LayerFile } from '../repository/layer-file.js';
import { lsnNumber, type Timeline } from '../repository/timeline.js';
import { encodeShutdownCheckpointRecord, recordSegments, recordStartAtOrAfter } from '../wal/checkpoint-segment.js';
import { BackupOutput, type BackupSink } from './backup-output.js';
import {
  DATA_DIRECTORY_FOLDERS,
  databasePath,
  PG_HBA_CONF,
  PG_IDENT_CONF,
  PG_MAJOR_VERSION,
  POSTGRESQL_AUTO_CONF,
  postgresqlConf,
  slruSegmentName,
  tablespaceVersionDirectory,
  twoPhaseFileName,
  twoPhaseStateFile,
} from './basebackup-files.js';
import { TAR_END_BYTES, tarHeader, tarPaddingBytes, type TarEntryType } from './tar.js';

export type { BackupSink } from './backup-output.js';

export type BaseBackupErrorCode =
  | 'NO_CHECKPOINT' // the timeline holds no pg_control or checkpoint at the LSN (below its start)
  | 'CORRUPT_STATE' // a stored value that cannot become its file (pg_control, two-phase state)
  | 'CANCELLED' // the caller's signal aborted it
  | 'BAD_REQUEST'; // an option it cannot take

export class BaseBackupError extends Error {
  override readonly name = 'BaseBackupError';
  constructor(
    readonly code: BaseBackupErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface BaseBackupOptions {
  /** Compress the archive with gzip (a .tar.gz). */
  readonly gzip?: boolean;
  /** zlib level 1-9; 1 unless told, as a compute waits for the archive. */
  readonly gzipLevel?: number;
  /** How long to wait for WAL up to the LSN; the timeline's waitLsnTimeoutMs unless told. */
  readonly waitLsnTimeoutMs?: number;
  /** Aborts the backup between pages: it rejects with CANCELLED and writes nothing more. */
  readonly signal?: AbortSignal;
  /** The time written into pg_control, the checkpoint and file headers; now unless told. */
  readonly now?: Date;
  /**
   * Read every relation page through the timeline one by one, never in bulk from an image layer
   * (pagesFromImageLayer): the path every page can take, for tests that compare the two and benches.
   */
  readonly pagesOneByOne?: boolean;
}

export interface BaseBackupResult {
  /** The LSN whose state the archive holds (as asked, or the last record LSN). */
  readonly lsn: Lsn;
  /** Where the shutdown checkpoint record is: the compute's WAL begins there. */
  readonly checkpointLsn: Lsn;
  /** Bytes handed to the sink (compressed, with gzip). */
  readonly bytes: number;
  /** Bytes of the tar itself. */
  readonly tarBytes: number;
  /** Archive entries: files and folders. */
  readonly entries: number;
  readonly relationPages: number;
  /** Of those, pages read in bulk from image layers (pagesFromImageLayer). */
  readonly relationPagesFromImageLayers: number;
}

/** Pages read at once: redo in a worker process answers several requests per round trip. */
const READ_AHEAD_PAGES = 32;
/** The LSN lease held while a backup runs, renewed well before it ends. */
const LEASE_MS = 120_000;
const LEASE_RENEW_MS = 30_000;
const FILE_MODE = 0o600;
const FOLDER_MODE = 0o700;
const ZERO_PAGE = new Uint8Array(BLCKSZ);

/**
 * Writes a base backup of `timeline` at `lsn` (undefined: its last record LSN) to `out`, as a tar
 * (strata's own ustar writer, tar.ts), gzipped if asked. Resolves once every byte is handed to
 * `out`, which is not ended. Rejects with a RepositoryError (LSN_TIMEOUT, BELOW_GC_HORIZON,
 * RECONSTRUCT_FAILED, ...), a BaseBackupError, or a BackupOutputError (the sink failed); the
 * archive is then incomplete, and lacks pg_control.
 */
export async function writeBaseBackup(timeline: Timeline, lsn: Lsn | undefined, out: BackupSink, options: BaseBackupOptions = {}): Promise<BaseBackupResult> {
  const at = lsn ?? timeline.lastRecordLsn;
  if (at === INVALID_LSN) throw new RepositoryError('BAD_REQUEST', `Cannot make a base backup of timeline ${timeline.id} at ${formatLsn(at)}: it is not a valid LSN`);
  const gzipLevel = options.gzipLevel ?? 1;
  if (!Number.isInteger(gzipLevel) || gzipLevel < 1 || gzipLevel > 9) throw new BaseBackupError('BAD_REQUEST', `Cannot make a base backup with gzip level ${gzipLevel}: levels are 1 to 9`);
  const timeoutMs = options.waitLsnTimeoutMs ?? timeline.config.waitLsnTimeoutMs;
  const n = lsnNumber(at);
  await timeline.waitForLsn(at, timeoutMs);
  const output = new BackupOutput(out, options.gzip === true ? { level: gzipLevel } : undefined);
  let stopLeases: (() => void) | undefined;
  try {
    stopLeases = holdLeases(timeline, n);
    await timeline.waitForAncestors(n, timeoutMs);
    const backup = new BaseBackup(timeline, at, output, options);
    const written = await backup.write();
    await output.finish();
    return { lsn: at, checkpointLsn: written.checkpointLsn, bytes: output.sinkBytes, tarBytes: output.tarBytes, entries: written.entries, relationPages: written.relationPages, relationPagesFromImageLayers: written.bulkPages };
  } catch (e) {
    output.abort();
    throw e;
  } finally {
    stopLeases?.();
  }
}

/**
 * Leases `lsn` on the timeline, and on each ancestor the LSN reads there use, until the returned
 * function is called. lease() refuses an LSN below the GC cutoff: the backup then fails at once.
 */
function holdLeases(timeline: Timeline, lsn: number): () => void {
  const take = (): void => {
    let readAt = lsn;
    for (let t: Timeline | undefined = timeline; t !== undefined; t = t.ancestor) {
      t.lease(BigInt(readAt) as Lsn, LEASE_MS);
      readAt = Math.min(readAt, t.ancestorLsn);
    }
  };
  take();
  const timer = setInterval(() => {
    try {
      take();
    } catch {
      // The first lease holds until LEASE_MS; a read that GC got to first fails with BELOW_GC_HORIZON.
    }
  }, LEASE_RENEW_MS);
  timer.unref();
  return () => clearInterval(timer);
}

class BaseBackup {
  private readonly reader: DatadirReader;
  private readonly n: number;
  private readonly mtimeS: number;
  private entries = 0;
  private relationPages = 0;
  private bulkPages = 0;
  private control!: ControlFile;
  private checksums = false;
  private readonly bulk: boolean;

  constructor(
    private readonly timeline: Timeline,
    private readonly lsn: Lsn,
    private readonly output: BackupOutput,
    private readonly options: BaseBackupOptions,
  ) {
    this.reader = new DatadirReader(timeline);
    this.n = lsnNumber(lsn);
    this.mtimeS = Math.floor((options.now ?? new Date()).getTime() / 1000);
    this.bulk = options.pagesOneByOne !== true;
  }

  async write(): Promise<{ checkpointLsn: Lsn; entries: number; relationPages: number; bulkPages: number }> {
    const controlBytes = await this.state(CONTROL_FILE_KEY, 'pg_control');
    const checkpointBytes = await this.state(CHECKPOINT_KEY, 'the checkpoint');
    try {
      this.control = new ControlFile(controlBytes, `the pg_control of timeline ${this.timeline.id} at ${formatLsn(this.lsn)}`);
    } catch (e) {
      if (!(e instanceof ControlFileError)) throw e;
      throw new BaseBackupError('CORRUPT_STATE', e.message, { cause: e });
    }
    this.checksums = this.control.dataChecksumVersion !== 0;
    const { control: pgControl, checkpointLsn, segments } = this.shutdownCheckpoint(new CheckPointStruct(checkpointBytes));

    for (const folder of DATA_DIRECTORY_FOLDERS) await this.entry(folder, 'directory');
    await this.file('PG_VERSION', Buffer.from(`${PG_MAJOR_VERSION}\n`));
    await this.file('postgresql.conf', Buffer.from(postgresqlConf(this.control)));
    await this.file('postgresql.auto.conf', Buffer.from(POSTGRESQL_AUTO_CONF));
    await this.file('pg_hba.conf', Buffer.from(PG_HBA_CONF));
    await this.file('pg_ident.conf', Buffer.from(PG_IDENT_CONF));

    await this.database(GLOBALTABLESPACE_OID, 0);
    const tablespaces = new Set<number>();
    for (const db of await this.reader.databases(this.lsn)) {
      if (db.spcNode !== DEFAULTTABLESPACE_OID && db.spcNode !== GLOBALTABLESPACE_OID && !tablespaces.has(db.spcNode)) {
        tablespaces.add(db.spcNode);
        await this.entry(`pg_tblspc/${db.spcNode}`, 'directory');
        await this.entry(`pg_tblspc/${db.spcNode}/${tablespaceVersionDirectory(this.control)}`, 'directory');
      }
      // (tablespace, 0): the tablespace's own folder, made above; it has no database folder of its own.
      if (db.dbNode !== 0) await this.database(db.spcNode, db.dbNode);
    }

    for (const slru of [Slru.Clog, Slru.MultiXactOffsets, Slru.MultiXactMembers, Slru.CommitTs]) {
      const folder = SLRU_DIRECTORY_NAMES[slru] as string;
      for (const segno of await this.reader.slruSegments(slru, this.lsn)) await this.file(`${folder}/${slruSegmentName(segno)}`, await this.reader.slruSegment(slru, segno, this.lsn));
    }
    for (const xid of await this.reader.twoPhaseXids(this.lsn)) {
      const value = await this.timeline.get(twoPhaseFileKey(xid), this.lsn);
      let file: Uint8Array;
      try {
        file = twoPhaseStateFile(xid, value);
      } catch (e) {
        throw new BaseBackupError('CORRUPT_STATE', `Cannot make a base backup of timeline ${this.timeline.id} at ${formatLsn(this.lsn)}: ${(e as Error).message}`, { cause: e });
      }
      await this.file(`pg_twophase/${twoPhaseFileName(xid)}`, file);
    }
    for (const s of segments) await this.file(`pg_wal/${s.name}`, s.bytes);
    await this.file('global/pg_control', pgControl);
    await this.output.zeros(TAR_END_BYTES);
    return { checkpointLsn, entries: this.entries, relationPages: this.relationPages, bulkPages: this.bulkPages };
  }

  /** A value every data directory has (pg_control, the checkpoint); its absence means the LSN is before the timeline's start. */
  private async state(key: Key, what: string): Promise<Uint8Array> {
    try {
      return await this.timeline.get(key, this.lsn);
    } catch (e) {
      if (e instanceof RepositoryError && e.code === 'NOT_FOUND')
        throw new BaseBackupError('NO_CHECKPOINT', `Cannot make a base backup of timeline ${this.timeline.id} at ${formatLsn(this.lsn)}: it holds no ${what} there (is the LSN before the timeline's start?)`, { cause: e });
      throw e;
    }
  }

  /**
   * The new checkpoint and the control file that points at it. CreateCheckPoint (shutdown case):
   * redo is the record's own position, oldestActiveXid is invalid, the time is now; the counters
   * are the repository's as of the LSN. pg_control as RewriteControlFile (pg_resetwal.c) leaves it:
   * DB_SHUTDOWNED, no minimum recovery point, no backup in progress.
   */
  private shutdownCheckpoint(checkpoint: CheckPointStruct): { control: Buffer; checkpointLsn: Lsn; segments: ReturnType<typeof recordSegments> } {
    const segmentSize = this.control.walSegmentSize;
    const checkpointLsn = recordStartAtOrAfter(this.lsn, segmentSize);
    checkpoint.redo = checkpointLsn;
    checkpoint.prevTimeLineId = checkpoint.thisTimeLineId;
    checkpoint.time = BigInt(this.mtimeS);
    checkpoint.oldestActiveXid = 0;
    const record = encodeShutdownCheckpointRecord(checkpoint.bytes);
    const segments = recordSegments({ systemId: this.control.systemIdentifier, segmentSize, timeline: checkpoint.thisTimeLineId, at: checkpointLsn, record });
    const c = this.control;
    c.state = DbState.Shutdowned;
    c.time = BigInt(this.mtimeS);
    c.checkPoint = checkpointLsn;
    c.checkPointCopy = checkpoint;
    c.minRecoveryPoint = 0n;
    c.minRecoveryPointTli = 0;
    c.backupStartPoint = 0n;
    c.backupEndPoint = 0n;
    c.backupEndRequired = false;
    return { control: c.encode(), checkpointLsn, segments };
  }

  /** A database folder: its relmapper file and PG_VERSION when it is the database's own folder, then its relation files. */
  private async database(spcNode: number, dbNode: number): Promise<void> {
    const dir = databasePath(this.control, spcNode, dbNode);
    if (spcNode !== GLOBALTABLESPACE_OID) await this.entry(dir, 'directory');
    let relmap: Uint8Array | undefined;
    try {
      relmap = await this.timeline.get(relmapKey(spcNode, dbNode), this.lsn);
    } catch (e) {
      if (!(e instanceof RepositoryError && e.code === 'NOT_FOUND')) throw e;
    }
    // PG_VERSION only where PostgreSQL puts it: DROP TABLESPACE fails on a folder holding a stray one.
    if (relmap !== undefined && spcNode !== GLOBALTABLESPACE_OID) await this.file(`${dir}/PG_VERSION`, Buffer.from(`${PG_MAJOR_VERSION}\n`));
    if (relmap !== undefined) await this.file(`${dir}/pg_filenode.map`, relmap);

    const byRel = new Map<number, RelFork[]>();
    for (const r of await this.reader.relations(spcNode, dbNode, this.lsn)) {
      const forks = byRel.get(r.relNode);
      if (forks === undefined) byRel.set(r.relNode, [r]);
      else forks.push(r);
    }
    for (const [relNode, forks] of byRel) {
      const rel: RelFileNode = { spcNode: spcNode as Oid, dbNode: dbNode as Oid, relNode: relNode as Oid };
      if (forks.some((f) => f.fork === 3)) {
        // Unlogged: the init fork, and the main fork made from it (ResetUnloggedRelations).
        await this.relationFork(dir, rel, 3, 3);
        await this.relationFork(dir, rel, 0, 3);
        continue;
      }
      for (const f of forks) await this.relationFork(dir, rel, f.fork, f.fork);
    }
  }

  /** The segment files of fork `fork`, with the pages of fork `from` (the same, except for an unlogged relation's main fork). */
  private async relationFork(dir: string, rel: RelFileNode, fork: number, from: number): Promise<void> {
    let blocks = 0;
    try {
      blocks = decodeU32(await this.timeline.reconstructAt(relSizeKey(rel, from), this.n), 'a relation size');
    } catch (e) {
      if (!(e instanceof RepositoryError && e.code === 'NOT_FOUND')) throw e;
    }
    // mdcreate makes the first segment file even for an empty fork; later ones hold RELSEG_SIZE blocks each.
    const segmentCount = Math.max(1, Math.ceil(blocks / RELSEG_SIZE));
    for (let segno = 0; segno < segmentCount; segno++) {
      const first = segno * RELSEG_SIZE;
      const end = Math.min(blocks, first + RELSEG_SIZE);
      await this.header(`${dir}/${relationFileName(rel.relNode, fork, segno)}`, 'file', (end - first) * BLCKSZ);
      if (first === end) continue;
      const segmentEnd = relBlockKey(rel, from, end);
      // Each part of the segment whose pages all come from one image layer is read from it in bulk.
      for (let b = first; b < end; ) {
        const start = relBlockKey(rel, from, b);
        const part = this.bulk ? this.timeline.imageLayerAt(start, segmentEnd, this.n) : { layer: undefined, end: segmentEnd, inMemory: new Set<Key>() };
        const partEnd = part.end === segmentEnd ? end : blockNumberBound(part.end, start);
        if (part.layer !== undefined) {
          const inMemory = [...part.inMemory].map((k) => blockNumberBound(k, start)).sort((x, y) => x - y);
          await this.pagesFromImageLayer(part.layer, { start, end: part.end }, inMemory, rel, from, b, partEnd);
        } else {
          await this.pagesOneByOne(rel, from, b, partEnd);
        }
        b = partEnd;
      }
    }
  }

  /** Blocks [first, end) of a fork, each read through the timeline (reconstructAt). */
  private async pagesOneByOne(rel: RelFileNode, fork: number, first: number, end: number): Promise<void> {
    for (let b = first; b < end; b += READ_AHEAD_PAGES) {
      this.checkCancelled();
      const batch: Promise<Uint8Array>[] = [];
      for (let blk = b; blk < Math.min(end, b + READ_AHEAD_PAGES); blk++) batch.push(this.page(rel, fork, blk));
      const pages = await Promise.all(batch);
      for (let i = 0; i < pages.length; i++) {
        const dst = await this.output.reserve(BLCKSZ);
        dst.set(pages[i] as Uint8Array);
        if (this.checksums) setPageChecksumInPlace(dst, b + i);
      }
      this.relationPages += pages.length;
    }
  }

  /**
   * Blocks [first, end) of a fork whose every page a read at the LSN takes from one image layer
   * (Timeline.imageLayerAt), but those listed in `inMemory` (block numbers, ascending: their newest
   * values are in in-memory layers). The pages are what reconstructAt would return, read in runs
   * straight into the output chunk (one read per run, no object per page); a block the layer lacks
   * is a zero page, as page() makes it; a value stored compressed, and each block of `inMemory`,
   * goes through page(). Should GC remove the file between two runs (a newer image layer at or
   * below the LSN took its place; the backup's lease keeps what reads at the LSN need, not this
   * file), the rest of the blocks are read one by one through the timeline. The reads are
   * synchronous: through the thread pool (fs.read), so that socket writes went on meanwhile, they
   * cost more CPU than they saved on two cores and the backups were no faster (bench: 555-800 MiB/s
   * against 571-1511 synchronous, the same runs alternated).
   */
  private async pagesFromImageLayer(layer: LayerFile, range: KeyRange, inMemory: readonly number[], rel: RelFileNode, fork: number, first: number, end: number): Promise<void> {
    /** Blocks below it are in the archive. */
    let next = first;
    let x = 0;
    /** The first block of `inMemory` in [next, to), or `to`. */
    const nextInMemory = (to: number): number => {
      while (x < inMemory.length && (inMemory[x] as number) < next) x++;
      return x < inMemory.length && (inMemory[x] as number) < to ? (inMemory[x] as number) : to;
    };
    /** Blocks [next, to) that the image layer does not hold: zero pages, but those with in-memory values. */
    const absentUpTo = async (to: number): Promise<void> => {
      while (next < to) {
        const m = nextInMemory(to);
        await this.zeroPages(next, m);
        next = m;
        if (m < to) await this.oneByOne(rel, fork, next++);
      }
    };
    try {
      for (const run of layer.valueRuns(range, BLCKSZ)) {
        this.checkCancelled();
        const blk = relBlockNumber(run.entry.key);
        if (blk < next || blk + run.count > end) throw new Error(`assert: image layer run of ${run.count} from block ${blk} outside blocks ${next}-${end}`);
        await absentUpTo(blk);
        if (!run.plain) {
          await this.oneByOne(rel, fork, next++);
          continue;
        }
        while (next < blk + run.count) {
          const m = nextInMemory(blk + run.count);
          if (m === next) {
            await this.oneByOne(rel, fork, next++);
            continue;
          }
          // As many pages as fit in what is left of the output chunk (at least one: reserve makes room), up to the next in-memory block.
          const k = Math.min(m - next, Math.max(1, Math.floor(this.output.room / BLCKSZ)));
          const dst = await this.output.reserve(k * BLCKSZ);
          try {
            layer.readRun(run, next - blk, k, dst);
          } catch (e) {
            if (!layerRemoved(e)) throw e;
            // The space is in the archive already: fill it through the timeline, then go on from there.
            for (let p = 0; p < k; p++) dst.set(await this.page(rel, fork, next + p), p * BLCKSZ);
            this.stampChecksums(dst, next, k);
            this.relationPages += k;
            next += k;
            throw e;
          }
          this.stampChecksums(dst, next, k);
          this.relationPages += k;
          this.bulkPages += k;
          next += k;
        }
      }
    } catch (e) {
      if (!layerRemoved(e)) throw e;
      await this.pagesOneByOne(rel, fork, next, end);
      return;
    }
    await absentUpTo(end);
  }

  /** One block through the timeline (page()). */
  private async oneByOne(rel: RelFileNode, fork: number, blkno: number): Promise<void> {
    const dst = await this.output.reserve(BLCKSZ);
    dst.set(await this.page(rel, fork, blkno));
    if (this.checksums) setPageChecksumInPlace(dst, blkno);
    this.relationPages++;
  }

  /** PageSetChecksumInplace on `count` pages at the start of `pages`, the first of them block `blkno`. */
  private stampChecksums(pages: Buffer, blkno: number, count: number): void {
    if (!this.checksums) return;
    for (let p = 0; p < count; p++) setPageChecksumInPlace(pages.subarray(p * BLCKSZ, (p + 1) * BLCKSZ), blkno + p);
  }

  /** Zero pages for blocks [first, end): no value below the size (page()'s NOT_FOUND case). */
  private async zeroPages(first: number, end: number): Promise<void> {
    for (let blk = first; blk < end; blk++) {
      const dst = await this.output.reserve(BLCKSZ);
      dst.fill(0);
      if (this.checksums) setPageChecksumInPlace(dst, blk);
      this.relationPages++;
    }
  }

  private checkCancelled(): void {
    if (this.options.signal?.aborted === true) throw new BaseBackupError('CANCELLED', `The base backup of timeline ${this.timeline.id} at ${formatLsn(this.lsn)} was cancelled`);
  }

  /** A page as of the LSN; a block below the size with no value is a zero page (the file was extended past it). */
  private async page(rel: RelFileNode, fork: number, blkno: number): Promise<Uint8Array> {
    try {
      return await this.timeline.reconstructAt(relBlockKey(rel, fork, blkno), this.n, false);
    } catch (e) {
      if (e instanceof RepositoryError && e.code === 'NOT_FOUND') return ZERO_PAGE;
      throw e;
    }
  }

  private async header(path: string, type: TarEntryType, size: number): Promise<void> {
    await this.output.write(tarHeader({ path, type, size, mode: type === 'directory' ? FOLDER_MODE : FILE_MODE, mtimeS: this.mtimeS }));
    this.entries++;
  }

  private async entry(path: string, type: TarEntryType): Promise<void> {
    await this.header(path, type, 0);
  }

  private async file(path: string, bytes: Uint8Array): Promise<void> {
    await this.header(path, 'file', bytes.length);
    await this.output.write(bytes);
    await this.output.zeros(tarPaddingBytes(bytes.length));
  }
}

/**
 * The first block at or after `key`, a key between two block keys of the fork of `blockKey` (a
 * layer's key range may end at any key).
 */
function blockNumberBound(key: Key, blockKey: Key): number {
  const prefix = blockKey.slice(0, KEY_HEX_LENGTH - 8);
  if (!key.startsWith(prefix)) throw new Error(`assert: ${key} is not inside the fork of ${blockKey}`);
  return parseInt(key.slice(KEY_HEX_LENGTH - 8), 16);
}

function layerRemoved(e: unknown): boolean {
  return e instanceof RepositoryError && e.code === 'LAYER_REMOVED';
}

/** The block number of a relation block key (an image layer's run of a fork's blocks starts at one). */
function relBlockNumber(key: Key): number {
  const b = relBlockOf(key);
  if (b === undefined) throw new Error(`assert: ${key} is not a relation block key`);
  return b.blkno;
}
