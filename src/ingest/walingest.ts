/**
 * WAL ingest (seed 002, "WAL ingest"; Neon's walingest.rs): each decoded record becomes repository
 * writes at its end LSN, then the timeline's last record LSN moves to it.
 *
 * - Every block reference: the record, stored under that block's key (redo codec bytes), marked as
 *   initialising the page when the block is WILL_INIT or carries a full-page image that is applied.
 *   A block past the relation's end extends it, as recovery does.
 * - Every effect in the record's description (src/wal/describe.ts): relation creation, truncation
 *   and drop; VM bits cleared without a VM block reference; CLOG, multixact and commit_ts pages (as
 *   operations, src/redo/slru.ts); relmapper files; databases (CREATE DATABASE by file copy copies
 *   the template's keys as of the record); two-phase state; the checkpoint counters.
 *
 * Directory-like state (relation sizes and directories, SLRU segments, databases, two-phase files,
 * the checkpoint) is cached here, read from the timeline on first use, and written back as images
 * once per record; so a record costs its block puts and, rarely, a directory image. Reads go through
 * Timeline.getForIngest: after a base backup's import ingest runs below the consistent LSN.
 *
 * Replaying over a base backup (import-backup.ts): the files were copied between the backup's start
 * and end, so the state at the start LSN may already hold some of what the WAL from there does, as
 * PostgreSQL's own recovery finds. Every effect here is idempotent or ordered so that this comes
 * out right: a block's first record after the start carries a full-page image or initialises it
 * (the backup forces full_page_writes, and the start is a checkpoint's redo point); relation sizes
 * only grow with blocks written (a file already longer stays so) and only shrink with truncations;
 * creating a fork that exists does nothing (smgrcreate in redo); a drop removes a fork whether or
 * not its file was copied, and a fork the WAL writes to before dropping it is created first; SLRU
 * operations set bits and values, a zero-page record zeroes a page that may already hold later
 * bits, which the records after it set again; two-phase files and relmapper files are replaced
 * whole; the checkpoint counters PostgreSQL only moves forward move only forward here.
 *
 * Mirrors, per effect, the redo routine named beside it. A record's puts and its advance happen with
 * no await in between once its reads are done, so a flush never cuts a record in two. Nothing of a
 * record (its views, its block references, its description) is kept once its ingest settles: what
 * is stored is copied, so a reader may reuse the record's memory for the next one (wal-import.ts).
 */
import { BLCKSZ } from '../pg/constants.js';
import { CheckPointStruct, ControlFile } from '../pg/control.js';
import { crc32c } from '../pg/crc32c.js';
import { formatLsn, type Lsn } from '../pg/lsn.js';
import type { BlockNumber, Oid, RelFileNode } from '../pg/types.js';
import { encodeOp, RECORD_INPUT_HEADER_SIZE, writeRecordInput } from '../redo/codec.js';
import {
  CLOG_STATUS_ABORTED,
  CLOG_STATUS_COMMITTED,
  CLOG_STATUS_SUB_COMMITTED,
  CLOG_XACTS_PER_PAGE,
  COMMIT_TS_XACTS_PER_PAGE,
  encodeClogStatus,
  encodeSlruOp,
  MULTIXACT_MEMBERS_PER_PAGE,
  MULTIXACT_OFFSETS_PER_PAGE,
} from '../redo/slru.js';
import { HEAPBLOCKS_PER_PAGE } from '../redo/vm.js';
import { DatadirReader, decodeU32, encodeDatabaseDirectory, encodeNumberList, encodeRelDirectory, encodeU32, SLRU_PAGES_PER_SEGMENT, type DatabaseRef, type RelFork } from '../repository/datadir.js';
import { RepositoryError } from '../repository/errors.js';
import {
  CHECKPOINT_KEY,
  CONTROL_FILE_KEY,
  DATABASE_DIRECTORY_KEY,
  relBlockKey,
  relBlockKeyPrefix,
  relDirectoryKey,
  relmapKey,
  relSizeKey,
  Slru,
  slruDirectoryKey,
  slruPageKey,
  slruSegmentSizeKey,
  TWO_PHASE_DIRECTORY_KEY,
  twoPhaseFileKey,
  type Key,
} from '../repository/key.js';
import type { ValueSource } from '../repository/in-memory-layer.js';
import type { Timeline } from '../repository/timeline.js';
import { VALUE_KIND_WAL, VALUE_WILL_INIT, type Value } from '../repository/value.js';
import type { BlockUse, CheckPoint, DescriptionBase, Effect, MultiXactMemberStatus } from '../wal/describe.js';
import { WalDecodeError } from '../wal/errors.js';
import type { WalRecord } from '../wal/record.js';
import { describeRecord } from '../wal/rmgr/index.js';
import { describeRecordEffects } from '../wal/rmgr/ingest-effects.js';
import { IngestError } from './errors.js';

const ZERO_PAGE = new Uint8Array(BLCKSZ);
/** valueFlags of a block's record, as putBlocks stores it. */
const WAL_FLAGS = VALUE_KIND_WAL;
const WAL_WILL_INIT_FLAGS = VALUE_KIND_WAL | VALUE_WILL_INIT;

/** The redo input of one block reference of a record (codec.ts), written where the layer puts it. */
class RecordInputSource implements ValueSource {
  private record: WalRecord | undefined;
  private blockId = 0;

  /** Points at the record being stored (undefined once done: nothing of a record is kept). */
  set(record: WalRecord | undefined, blockId: number): void {
    this.record = record;
    this.blockId = blockId;
  }

  get byteLength(): number {
    return RECORD_INPUT_HEADER_SIZE + (this.record as WalRecord).totLen;
  }

  copyTo(out: Uint8Array, offset: number): void {
    writeRecordInput(this.record as WalRecord, this.blockId, out, offset);
  }
}

const NO_COPIES: readonly { key: Key; value: Value }[] = [];
const FORK_MAIN = 0;
const FORK_FSM = 1;
const FORK_VM = 2;

/** MultiXactStatus values (multixact.h), by the names descriptions use. */
const MULTIXACT_STATUS: Readonly<Record<MultiXactMemberStatus, number>> = { keysh: 0, sh: 1, fornokeyupd: 2, forupd: 3, nokeyupd: 4, upd: 5 };

/** FSM geometry (freespace.c, fsm_internals.h) for 8 KiB pages. */
const FSM_SLOTS_PER_PAGE = 4069;
const FSM_TREE_DEPTH = 3;

const relKey = (spc: number, db: number) => `${spc}/${db}`;
const forkKey = (rel: RelFileNode, fork: number) => `${rel.spcNode}/${rel.dbNode}/${rel.relNode}/${fork}`;

/** A fork known to exist (see WalIngest.forks). */
interface ForkState {
  readonly spcNode: number;
  readonly dbNode: number;
  readonly fork: number;
  /** Blocks, as relSizes has them. */
  size: number;
  /** relBlockKeyPrefix of the fork. */
  readonly keyPrefix: string;
  /** Its key in relSizes (forkKey) and its size's key (relSizeKey), made once: a fork grows by a block at a time. */
  readonly sizesKey: string;
  readonly sizeKey: Key;
}

/** An SLRU segment as one small integer (slruSizes' key): segment numbers stay far below 2^28. */
function slruSegmentId(slru: Slru, segno: number): number {
  return segno * 4 + slru;
}

/** TransactionIdFollowsOrEquals for normal xids: modulo-2^32 comparison. */
function xidFollowsOrEquals(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** fsm_logical_to_physical for a bottom-level FSM page: the physical block of logical leaf page `logpageno`. */
function fsmPhysicalBlock(logpageno: number): number {
  let leafno = logpageno;
  let pages = 0;
  for (let l = 0; l < FSM_TREE_DEPTH; l++) {
    pages += leafno + 1;
    leafno = Math.floor(leafno / FSM_SLOTS_PER_PAGE);
  }
  return pages - 1;
}

export interface IngestStats {
  records: number;
  blockValues: number;
  bytes: number;
}

export class WalIngest {
  private readonly reader: DatadirReader;
  private readonly relDirs = new Map<string, Map<string, RelFork>>();
  private readonly relSizes = new Map<string, number>();
  private readonly slruSegments = new Map<Slru, Set<number>>();
  /** SLRU segment sizes in pages, by slruSegmentId (a number: a key string per commit cost more than the lookup). */
  private readonly slruSizes = new Map<number, number>();
  /** Keys whose value this record replaces whole (directories, sizes): written once at its end. */
  private readonly pending = new Map<Key, () => Uint8Array>();
  /** SLRU operations of this record, per page key (several changes to one page make one operation). */
  private readonly pendingOps = new Map<Key, Uint8Array[]>();
  /**
   * A record's first SLRU operation, kept here while it is its only one (a commit's CLOG bits): then
   * no map entry, list and clear per record. pendingOps is empty meanwhile; a second operation moves
   * this one there first, so the order of operations is kept.
   */
  private oneOpKey: Key | undefined;
  private oneOp: Uint8Array = ZERO_PAGE;
  /** A block value's redo input (codec.ts), one object for every put. */
  private readonly recordInput = new RecordInputSource();
  /** The offsets page RecordNewMultiXact initialised early; its ZERO_OFF_PAGE record then zeroes nothing. */
  private preInitializedOffsetsPage = -1;
  private checkpointDirty = false;
  readonly stats: IngestStats = { records: 0, blockValues: 0, bytes: 0 };

  private controlDirty = false;
  /** commitTsShared->commitTsActive: whether commit_ts pages are kept (track_commit_timestamp on the primary). */
  private commitTsActive: boolean;

  private constructor(
    readonly timeline: Timeline,
    private databases: DatabaseRef[],
    private twoPhase: Set<number>,
    private readonly checkpoint: CheckPointStruct,
    private readonly control: ControlFile,
  ) {
    this.reader = new DatadirReader(timeline, 'ingest');
    this.commitTsActive = control.trackCommitTimestamp;
  }

  /** Ingest for `t` from its last record LSN; `t` must hold a checkpoint (an import or a base backup did that). */
  static async open(t: Timeline): Promise<WalIngest> {
    const at = t.lastRecordLsn;
    let checkpoint: Uint8Array;
    try {
      checkpoint = await t.getForIngest(CHECKPOINT_KEY, at);
    } catch (e) {
      if (e instanceof RepositoryError && e.code === 'NOT_FOUND')
        throw new IngestError('IMPORT_FAILED', `Cannot ingest WAL into timeline ${t.id}: it holds no checkpoint at ${formatLsn(at)} (import a data directory or a base backup first)`);
      throw e;
    }
    const reader = new DatadirReader(t, 'ingest');
    const control = new ControlFile(await t.getForIngest(CONTROL_FILE_KEY, at), `the pg_control of timeline ${t.id}`);
    const ingest = new WalIngest(t, await reader.databases(at), new Set(await reader.twoPhaseXids(at)), new CheckPointStruct(checkpoint), control);
    for (const slru of [Slru.Clog, Slru.MultiXactOffsets, Slru.MultiXactMembers, Slru.CommitTs]) {
      const segments = await reader.slruSegments(slru, at);
      ingest.slruSegments.set(slru, new Set(segments));
      for (const s of segments) {
        const size = await t.getForIngest(slruSegmentSizeKey(slru, s), at).catch(() => encodeU32(0));
        ingest.slruSizes.set(slruSegmentId(slru, s), decodeU32(size, 'an SLRU segment size'));
      }
    }
    return ingest;
  }

  /** The WAL segment size of the cluster the timeline follows (pg_control). */
  get walSegmentSize(): number {
    return this.control.walSegmentSize;
  }

  get checkpointState(): CheckPointStruct {
    return this.checkpoint;
  }

  /**
   * Ingests one record: its block values and effects at its end LSN, then advances the timeline to
   * it. Returns a promise only when the record had to read from the repository first (a relation
   * or directory not yet cached, CREATE DATABASE); otherwise the record is stored on return. Callers
   * await only a promise they get (`const p = ingest.ingest(r); if (p) await p;`).
   */
  ingest(record: WalRecord): Promise<void> | undefined {
    if (record.lsnNumber < this.timeline.lastRecordLsnNumber)
      throw new IngestError('WAL_GAP', `Cannot ingest the record at ${formatLsn(record.lsn)}: timeline ${this.timeline.id} is already at ${formatLsn(this.timeline.lastRecordLsn)}`);
    // Block uses and effects only (ingest-effects.ts): the description of the common records is not
    // made, and what is given is overwritten by the next record's, so nothing of it is kept here.
    let description: DescriptionBase;
    try {
      description = describeRecordEffects(record);
    } catch (e) {
      if (!(e instanceof WalDecodeError)) throw e;
      throw new IngestError('BAD_RECORD', `Cannot ingest the record at ${formatLsn(record.lsn)}: ${e.message}`, { cause: e });
    }
    // Reads first (they may wait on the repository), then every put, then the advance. Most
    // records need no read: they are stored before this returns, without a promise (an await per
    // record cost a tenth of ingest's time).
    const loading = this.loadFor(record, description.effects);
    if (loading === undefined && !createsDatabase(description.effects)) {
      this.store(record, description, NO_COPIES);
      return undefined;
    }
    // The record's own description, made before the first await: the one above is overwritten by
    // the next record described, which another timeline's ingest may do while this one waits.
    const kept = describeRecord(record);
    return (async () => {
      if (loading !== undefined) await loading;
      this.store(record, kept, createsDatabase(kept.effects) ? await this.prepareCopies(kept.effects) : NO_COPIES);
    })();
  }

  /** A record's puts and its advance, with no await among them, so a flush never cuts a record in two. */
  private store(record: WalRecord, description: DescriptionBase, copies: readonly { key: Key; value: Value }[]): void {
    // The end LSN as a number: no BigInt per record on the way to the timeline.
    const lsn = record.endLsnNumber;
    this.putBlocks(record, description);
    // Indexed loops on this path, here and below: for-of over these arrays made an iterator result
    // per step (a quarter of ingest's garbage on pgbench WAL).
    const effects = description.effects;
    for (let i = 0; i < effects.length; i++) this.applyEffect(effects[i] as Effect, record);
    for (let i = 0; i < copies.length; i++) this.timeline.put(copies[i]!.key, lsn, copies[i]!.value);
    if (record.xid !== 0) this.assignXid(record.xid);
    this.writePending(lsn);
    this.timeline.advance(lsn);
    this.stats.records++;
    this.stats.bytes += record.totLen;
  }

  // ---- cached state ----

  /**
   * Reads into the caches what this record's blocks and effects will change. Most records need
   * nothing read: then no promise is made, and ingest goes on without a pause.
   */
  private loadFor(record: WalRecord, effects: readonly Effect[]): Promise<void> | undefined {
    // The common case first, with nothing allocated: every block's fork is known, and no effect
    // can need a read (the effects below that may are rare, but for VM bits cleared).
    let loaded = true;
    const blocks = record.blocks;
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i];
      if (b !== undefined && !this.relLoaded(b.rel, b.fork)) loaded = false;
    }
    for (let i = 0; i < effects.length && loaded; i++) {
      const e = effects[i] as Effect;
      if (e.kind === 'vm.clear') loaded = this.relLoaded(e.rel, FORK_VM);
      else if (e.kind === 'relation.create' || e.kind === 'relation.truncate' || e.kind === 'relation.drop' || e.kind === 'database.create' || e.kind === 'database.drop') loaded = false;
    }
    return loaded ? undefined : this.loadSlow(record, effects);
  }

  private loadSlow(record: WalRecord, effects: readonly Effect[]): Promise<void> | undefined {
    const loads: (() => Promise<unknown>)[] = [];
    const rel = (r: RelFileNode, fork: number) => {
      if (!this.relLoaded(r, fork)) loads.push(() => this.loadRel(r, fork));
    };
    const dir = (spc: number, db: number) => {
      if (!this.relDirs.has(relKey(spc, db))) loads.push(() => this.loadRelDir(spc, db));
    };
    for (const b of record.blocks) if (b !== undefined) rel(b.rel, b.fork);
    for (const e of effects) {
      switch (e.kind) {
        case 'relation.create':
          rel(e.rel, e.fork);
          break;
        case 'relation.truncate':
          for (const fork of [FORK_MAIN, FORK_FSM, FORK_VM]) rel(e.rel, fork);
          break;
        case 'relation.drop':
          for (const r of e.rels) dir(r.spcNode, r.dbNode);
          break;
        case 'vm.clear':
          rel(e.rel, FORK_VM);
          break;
        case 'database.create':
          dir(e.tsId, e.dbId);
          break;
        case 'database.drop':
          for (const ts of e.tsIds) dir(ts, e.dbId);
          break;
        default:
          break;
      }
    }
    if (loads.length === 0) return undefined;
    return (async () => {
      for (const load of loads) await load();
    })();
  }

  /**
   * Forks that blocks touched, known to exist, by relNode: what every block reference needs (the
   * size, the key) without the string-keyed maps above. The maps stay the truth: setRelSize keeps
   * the sizes here in step, and whatever removes forks (drops, truncations, database and
   * tablespace drops, database copies) empties this cache.
   */
  private readonly forks = new Map<number, ForkState[]>();

  private forkState(rel: RelFileNode, fork: number): ForkState | undefined {
    const list = this.forks.get(rel.relNode);
    if (list === undefined) return undefined;
    for (let i = 0; i < list.length; i++) {
      const f = list[i] as ForkState;
      if (f.fork === fork && f.dbNode === rel.dbNode && f.spcNode === rel.spcNode) return f;
    }
    return undefined;
  }

  /** Caches an existing fork (its size loaded). */
  private cacheFork(rel: RelFileNode, fork: number): ForkState {
    const f: ForkState = {
      spcNode: rel.spcNode,
      dbNode: rel.dbNode,
      fork,
      size: this.relSize(rel, fork),
      keyPrefix: relBlockKeyPrefix(rel, fork),
      sizesKey: forkKey(rel, fork),
      sizeKey: relSizeKey(rel, fork),
    };
    const list = this.forks.get(rel.relNode);
    if (list === undefined) this.forks.set(rel.relNode, [f]);
    else list.push(f);
    return f;
  }

  /** The fork's directory is cached, and its size is too if it exists. */
  private relLoaded(rel: RelFileNode, fork: number): boolean {
    if (this.forkState(rel, fork) !== undefined) return true;
    const dir = this.relDirs.get(relKey(rel.spcNode, rel.dbNode));
    return dir !== undefined && (this.relSizes.has(forkKey(rel, fork)) || !dir.has(`${rel.relNode}/${fork}`));
  }

  private async loadRelDir(spc: number, db: number): Promise<Map<string, RelFork>> {
    const k = relKey(spc, db);
    let dir = this.relDirs.get(k);
    if (dir === undefined) {
      const rels = await this.reader.relations(spc, db, this.timeline.lastRecordLsn);
      dir = new Map(rels.map((r) => [`${r.relNode}/${r.fork}`, r]));
      this.relDirs.set(k, dir);
    }
    return dir;
  }

  private async loadRel(rel: RelFileNode, fork: number): Promise<void> {
    const dir = await this.loadRelDir(rel.spcNode, rel.dbNode);
    const k = forkKey(rel, fork);
    if (this.relSizes.has(k)) return;
    if (!dir.has(`${rel.relNode}/${fork}`)) return;
    try {
      this.relSizes.set(k, decodeU32(await this.timeline.getForIngest(relSizeKey(rel, fork), this.timeline.lastRecordLsn), 'a relation size'));
    } catch (e) {
      if (!(e instanceof RepositoryError && e.code === 'NOT_FOUND')) throw e;
      this.relSizes.set(k, 0);
    }
  }

  private relExists(rel: RelFileNode, fork: number): boolean {
    return this.relDirs.get(relKey(rel.spcNode, rel.dbNode))?.has(`${rel.relNode}/${fork}`) === true;
  }

  private relSize(rel: RelFileNode, fork: number): number {
    return this.relExists(rel, fork) ? (this.relSizes.get(forkKey(rel, fork)) ?? 0) : 0;
  }

  /** smgrcreate (in redo: a no-op if the fork exists). */
  private createRel(rel: RelFileNode, fork: number): void {
    const dir = this.relDirs.get(relKey(rel.spcNode, rel.dbNode));
    if (dir === undefined) throw new Error(`assert: relation directory ${relKey(rel.spcNode, rel.dbNode)} not loaded`);
    const name = `${rel.relNode}/${fork}`;
    if (dir.has(name)) return;
    dir.set(name, { relNode: rel.relNode, fork });
    this.markRelDir(rel.spcNode, rel.dbNode);
    this.setRelSize(rel, fork, 0);
    // The first relation of a database in another tablespace makes its folder there
    // (TablespaceCreateDbspace): list it, so that base backups find it (Neon's put_rel_creation).
    if (rel.dbNode !== 0 && !this.databases.some((d) => d.spcNode === rel.spcNode && d.dbNode === rel.dbNode)) {
      this.databases = [...this.databases, { spcNode: rel.spcNode, dbNode: rel.dbNode }];
      this.pending.set(DATABASE_DIRECTORY_KEY, () => encodeDatabaseDirectory(this.databases));
    }
  }

  private setRelSize(rel: RelFileNode, fork: number, blocks: number): void {
    const cached = this.forkState(rel, fork);
    if (cached !== undefined) cached.size = blocks;
    this.relSizes.set(forkKey(rel, fork), blocks);
    this.pending.set(relSizeKey(rel, fork), () => encodeU32(blocks));
  }

  /** setRelSize() of a cached fork, with the keys it keeps: what a block past a relation's end costs. */
  private setForkSize(f: ForkState, blocks: number): void {
    f.size = blocks;
    this.relSizes.set(f.sizesKey, blocks);
    this.pending.set(f.sizeKey, () => encodeU32(blocks));
  }

  private markRelDir(spc: number, db: number): void {
    const dir = this.relDirs.get(relKey(spc, db));
    if (dir === undefined) throw new Error(`assert: relation directory ${relKey(spc, db)} not loaded`);
    this.pending.set(relDirectoryKey(spc, db), () => encodeRelDirectory([...dir.values()]));
  }

  /** A block written at `blkno`: the fork exists and reaches it (XLogReadBufferExtended extends with zero pages). */
  private extendTo(rel: RelFileNode, fork: number, blkno: number): ForkState {
    const cached = this.forkState(rel, fork);
    if (cached !== undefined) {
      // A cached fork exists (whatever removes forks empties the cache): createRel would do nothing.
      if (blkno >= cached.size) this.setForkSize(cached, blkno + 1);
      return cached;
    }
    this.createRel(rel, fork);
    if (blkno >= this.relSize(rel, fork)) this.setRelSize(rel, fork, blkno + 1);
    return cached ?? this.cacheFork(rel, fork);
  }

  // ---- blocks ----

  private putBlocks(record: WalRecord, description: DescriptionBase): void {
    const lsn = record.endLsnNumber;
    const input = this.recordInput;
    const blocks = record.blocks;
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i];
      if (b === undefined) continue;
      const fork = this.extendTo(b.rel, b.fork, b.blkno);
      // The rmgr's own INIT flag (XLOG_HEAP_INIT_PAGE and friends), when the block header does not say WILL_INIT.
      const willInit = b.willInit || b.applyImage || initsByUse(description, b.id);
      // Written by the codec straight into the in-memory layer: the record's one copy.
      input.set(record, b.id);
      this.timeline.putBlockFrom(fork.keyPrefix, b.blkno, lsn, willInit ? WAL_WILL_INIT_FLAGS : WAL_FLAGS, input);
      this.stats.blockValues++;
    }
    input.set(undefined, 0);
  }

  // ---- effects ----

  private applyEffect(e: Effect, record: WalRecord): void {
    switch (e.kind) {
      case 'relation.create':
        // smgr_redo XLOG_SMGR_CREATE
        this.createRel(e.rel, e.fork);
        return;
      case 'relation.truncate':
        this.forks.clear();
        this.truncateRel(e.rel, e.forks, e.blocks, record.endLsn);
        return;
      case 'relation.drop': {
        this.forks.clear();
        // xact_redo_commit/abort: DropRelationFiles, every fork.
        for (const rel of e.rels) {
          const dir = this.relDirs.get(relKey(rel.spcNode, rel.dbNode));
          if (dir === undefined) continue;
          let changed = false;
          for (let fork = 0; fork <= 3; fork++) {
            changed = dir.delete(`${rel.relNode}/${fork}`) || changed;
            this.relSizes.delete(forkKey(rel, fork));
          }
          if (changed) this.markRelDir(rel.spcNode, rel.dbNode);
        }
        return;
      }
      case 'vm.clear': {
        // heap_xlog_*: visibilitymap_pin (extends the VM fork) and visibilitymap_clear.
        const vmBlock = Math.floor(e.heapBlock / HEAPBLOCKS_PER_PAGE);
        this.extendTo(e.rel, FORK_VM, vmBlock);
        // The end LSN as a BigInt only here (the operation's bytes hold it), not per effect.
        const lsn = record.endLsn;
        this.timeline.put(relBlockKey(e.rel, FORK_VM, vmBlock), lsn, { kind: 'op', willInit: false, bytes: encodeOp({ kind: 'vm.clear', endLsn: lsn, heapBlock: e.heapBlock, flags: e.flags }) });
        return;
      }
      case 'clog.set': {
        // xact_redo_commit/abort: TransactionIdCommitTree / TransactionIdAbortTree.
        const status = e.status === 'committed' ? CLOG_STATUS_COMMITTED : e.status === 'aborted' ? CLOG_STATUS_ABORTED : CLOG_STATUS_SUB_COMMITTED;
        // Most commits set the bits of xids on one page (one xid, or a few subtransactions): no grouping then.
        const xids = e.xids;
        const page = onePage(xids, CLOG_XACTS_PER_PAGE);
        if (page >= 0) this.slruOp(Slru.Clog, page, encodeClogStatus(status, xids));
        else for (const [p, onIt] of groupBy(xids, (x) => Math.floor(x / CLOG_XACTS_PER_PAGE))) this.slruOp(Slru.Clog, p, encodeSlruOp({ kind: 'clog.status', status, xids: onIt }));
        for (let i = 0; i < xids.length; i++) this.assignXid(xids[i] as number);
        return;
      }
      case 'clog.zeroPage':
        this.zeroSlruPage(Slru.Clog, e.page);
        return;
      case 'clog.truncate':
        this.truncateSlru(Slru.Clog, e.page);
        this.checkpoint.oldestXid = e.oldestXid;
        this.checkpoint.oldestXidDb = e.oldestXidDb;
        this.checkpointDirty = true;
        return;
      case 'multixact.zeroOffsetPage':
        if (e.page === this.preInitializedOffsetsPage) {
          // multixact_redo: the page was initialised by RecordNewMultiXact already; zeroing it would lose an offset.
          this.preInitializedOffsetsPage = -1;
          return;
        }
        this.zeroSlruPage(Slru.MultiXactOffsets, e.page);
        return;
      case 'multixact.zeroMemberPage':
        this.zeroSlruPage(Slru.MultiXactMembers, e.page);
        return;
      case 'multixact.create':
        this.createMultiXact(e.mid, e.offset, e.members);
        return;
      case 'multixact.truncate':
        // multixact_redo XLOG_MULTIXACT_TRUNCATE_ID: PerformOffsetsTruncation / PerformMembersTruncation.
        this.truncateSlru(Slru.MultiXactOffsets, Math.floor(e.endTruncOff / MULTIXACT_OFFSETS_PER_PAGE));
        this.truncateSlru(Slru.MultiXactMembers, Math.floor(e.endTruncMemb / MULTIXACT_MEMBERS_PER_PAGE));
        this.checkpoint.oldestMulti = e.endTruncOff;
        this.checkpoint.oldestMultiDb = e.oldestMultiDb;
        this.checkpointDirty = true;
        return;
      case 'commitTs.zeroPage':
        this.zeroSlruPage(Slru.CommitTs, e.page);
        return;
      case 'commitTs.truncate':
        this.truncateSlru(Slru.CommitTs, e.page);
        return;
      case 'commitTs.set':
        // TransactionTreeSetCommitTsData: nothing unless commit_ts is active (every commit record has a timestamp).
        if (!this.commitTsActive) return;
        for (const [page, xids] of groupBy(e.xids, (x) => Math.floor(x / COMMIT_TS_XACTS_PER_PAGE)))
          this.slruOp(Slru.CommitTs, page, encodeSlruOp({ kind: 'commitTs.set', timestamp: e.timestamp, origin: e.originId, xids }));
        return;
      case 'relmap.update':
        // relmap_redo: the file replaced whole.
        this.pending.set(relmapKey(e.tsId, e.dbId), () => e.data);
        return;
      case 'database.create':
        // dbase_redo XLOG_DBASE_CREATE_*: the database exists (its files come from the copy or from WAL).
        this.addDatabase(e.tsId, e.dbId);
        return;
      case 'database.drop':
        this.forks.clear();
        this.dropDatabase(e.dbId, e.tsIds);
        return;
      case 'twophase.prepare':
        // xact_redo XLOG_XACT_PREPARE: PrepareRedoAdd (the state file as of the record). The key holds
        // the file as pg_twophase has it (what a data directory's or a backup's import puts there):
        // the record's data and its CRC-32C, as RecreateTwoPhaseFile writes it.
        this.twoPhase.add(e.xid);
        this.pending.set(twoPhaseFileKey(e.xid), () => twoPhaseFile(e.data));
        this.pending.set(TWO_PHASE_DIRECTORY_KEY, () => encodeNumberList([...this.twoPhase]));
        this.assignXid(e.xid);
        return;
      case 'twophase.end':
        // PrepareRedoRemove
        if (this.twoPhase.delete(e.xid)) this.pending.set(TWO_PHASE_DIRECTORY_KEY, () => encodeNumberList([...this.twoPhase]));
        return;
      case 'checkpoint':
        this.applyCheckpoint(e.shutdown, e.checkpoint);
        return;
      case 'nextOid':
        // xlog_redo XLOG_NEXTOID
        this.checkpoint.nextOid = e.nextOid;
        this.checkpointDirty = true;
        return;
      case 'xid.assign':
        for (const x of e.xids) this.assignXid(x);
        return;
      case 'parameter.change': {
        // xlog_redo XLOG_PARAMETER_CHANGE: pg_control takes the primary's settings; CommitTsParameterChange.
        const f = e.fields;
        const num = (name: string) => Number(f[name] ?? 0);
        const trackCommitTimestamp = f['trackCommitTimestamp'] === true;
        this.control.setParameters({
          maxConnections: num('maxConnections'),
          maxWorkerProcesses: num('maxWorkerProcesses'),
          maxWalSenders: num('maxWalSenders'),
          maxPreparedXacts: num('maxPreparedXacts'),
          maxLocksPerXact: num('maxLocksPerXact'),
          walLevel: num('walLevel'),
          walLogHints: f['walLogHints'] === true,
          trackCommitTimestamp,
        });
        this.controlDirty = true;
        if (trackCommitTimestamp && !this.commitTsActive) this.activateCommitTs();
        else if (!trackCommitTimestamp && this.commitTsActive) this.deactivateCommitTs();
        return;
      }
      case 'tablespace.drop':
        // tblspc_redo XLOG_TBLSPC_DROP: destroy_tablespace_directories removes the (by then empty) database folders.
        this.dropTablespace(e.tsId);
        return;
      case 'tablespace.create':
        // tblspc_redo XLOG_TBLSPC_CREATE: the tablespace's folder exists from now on, before any
        // database has a folder in it (datadir.ts: the (tablespace, 0) entry), so base backups have it.
        this.createTablespace(e.tsId);
        return;
      case 'timeline.switch':
        // Nothing the repository keeps: the timeline of a base backup is the one it is made for.
        return;
    }
  }

  /** ActivateCommitTs: the page of the next xid exists from now on. */
  private activateCommitTs(): void {
    this.commitTsActive = true;
    const page = Math.floor(Number(this.checkpoint.nextXid & 0xffff_ffffn) / COMMIT_TS_XACTS_PER_PAGE);
    const segno = Math.floor(page / SLRU_PAGES_PER_SEGMENT);
    const exists = this.slruSegmentSet(Slru.CommitTs).has(segno) && page % SLRU_PAGES_PER_SEGMENT < (this.slruSizes.get(slruSegmentId(Slru.CommitTs, segno)) ?? 0);
    if (!exists) this.zeroSlruPage(Slru.CommitTs, page);
  }

  /** DeactivateCommitTs: every commit_ts segment is removed. */
  private deactivateCommitTs(): void {
    this.commitTsActive = false;
    const segments = this.slruSegmentSet(Slru.CommitTs);
    for (const segno of segments) this.slruSizes.delete(slruSegmentId(Slru.CommitTs, segno));
    segments.clear();
    this.pending.set(slruDirectoryKey(Slru.CommitTs), () => encodeNumberList([]));
  }

  /** smgr_redo XLOG_SMGR_TRUNCATE: the main fork to `blocks`, and the FSM and VM forks to match. */
  private truncateRel(rel: RelFileNode, forks: readonly number[], blocks: number, lsn: Lsn): void {
    if (forks.includes(FORK_MAIN) && this.relExists(rel, FORK_MAIN) && this.relSize(rel, FORK_MAIN) > blocks) this.setRelSize(rel, FORK_MAIN, blocks);
    if (forks.includes(FORK_FSM) && this.relExists(rel, FORK_FSM)) {
      // FreeSpaceMapPrepareTruncateRel: the FSM pages past the one covering the new last block go.
      // (The part of that page past it is zeroed there without WAL; FSM content is a hint.)
      const slot = blocks % FSM_SLOTS_PER_PAGE;
      const first = fsmPhysicalBlock(Math.floor(blocks / FSM_SLOTS_PER_PAGE));
      const fsmBlocks = slot === 0 ? first : first + 1;
      if (this.relSize(rel, FORK_FSM) > fsmBlocks) this.setRelSize(rel, FORK_FSM, fsmBlocks);
    }
    if (forks.includes(FORK_VM) && this.relExists(rel, FORK_VM)) {
      // visibilitymap_prepare_truncate: the bits past the new end are cleared on the last VM page kept.
      const vmBlock = Math.floor(blocks / HEAPBLOCKS_PER_PAGE);
      const partial = blocks % HEAPBLOCKS_PER_PAGE !== 0;
      const vmBlocks = vmBlock + (partial ? 1 : 0);
      if (partial && vmBlock < this.relSize(rel, FORK_VM))
        this.timeline.put(relBlockKey(rel, FORK_VM, vmBlock), lsn, { kind: 'op', willInit: false, bytes: encodeOp({ kind: 'vm.truncate', endLsn: lsn, heapBlocks: blocks as BlockNumber }) });
      if (this.relSize(rel, FORK_VM) > vmBlocks) this.setRelSize(rel, FORK_VM, vmBlocks);
    }
  }

  private slruSegmentSet(slru: Slru): Set<number> {
    let s = this.slruSegments.get(slru);
    if (s === undefined) {
      s = new Set();
      this.slruSegments.set(slru, s);
    }
    return s;
  }

  /** The page exists from here on: its segment is listed and long enough. */
  private extendSlru(slru: Slru, page: number): boolean {
    const segno = Math.floor(page / SLRU_PAGES_PER_SEGMENT);
    const blk = page % SLRU_PAGES_PER_SEGMENT;
    const segments = this.slruSegmentSet(slru);
    if (!segments.has(segno)) {
      segments.add(segno);
      this.pending.set(slruDirectoryKey(slru), () => encodeNumberList([...segments]));
    }
    const sizeKey = slruSegmentId(slru, segno);
    const size = this.slruSizes.get(sizeKey) ?? 0;
    if (blk < size) return false;
    this.slruSizes.set(sizeKey, blk + 1);
    this.pending.set(slruSegmentSizeKey(slru, segno), () => encodeU32(blk + 1));
    return true;
  }

  /** SimpleLruZeroPage */
  private zeroSlruPage(slru: Slru, page: number): void {
    this.extendSlru(slru, page);
    const key = slruPageKey(slru, Math.floor(page / SLRU_PAGES_PER_SEGMENT), page % SLRU_PAGES_PER_SEGMENT);
    if (this.oneOpKey === key) this.oneOpKey = undefined;
    this.pendingOps.delete(key);
    this.pending.set(key, () => ZERO_PAGE);
  }

  /** slruPageKey of a page, the last one asked for kept: commits one after another set bits on one CLOG page. */
  private slruKeyOf(slru: Slru, page: number): Key {
    if (slru !== this.lastSlruKeySlru || page !== this.lastSlruKeyPage) {
      this.lastSlruKey = slruPageKey(slru, Math.floor(page / SLRU_PAGES_PER_SEGMENT), page % SLRU_PAGES_PER_SEGMENT);
      this.lastSlruKeySlru = slru;
      this.lastSlruKeyPage = page;
    }
    return this.lastSlruKey;
  }

  private lastSlruKeySlru = -1;
  private lastSlruKeyPage = -1;
  private lastSlruKey = '' as Key;

  /** An operation on an SLRU page; a page that does not exist reads as zeros in recovery (SlruPhysicalReadPage). */
  private slruOp(slru: Slru, page: number, op: Uint8Array): void {
    const key = this.slruKeyOf(slru, page);
    if (this.extendSlru(slru, page) && !this.pending.has(key)) this.pending.set(key, () => ZERO_PAGE);
    if (this.oneOpKey === undefined && this.pendingOps.size === 0) {
      this.oneOpKey = key;
      this.oneOp = op;
      return;
    }
    if (this.oneOpKey !== undefined) {
      this.pendingOps.set(this.oneOpKey, [this.oneOp]);
      this.oneOpKey = undefined;
    }
    const ops = this.pendingOps.get(key);
    if (ops === undefined) this.pendingOps.set(key, [op]);
    else ops.push(op);
  }

  /** SimpleLruTruncate: segments wholly before `cutoffPage` go. (Wraparound is not handled: see the note in the issue.) */
  private truncateSlru(slru: Slru, cutoffPage: number): void {
    const segments = this.slruSegmentSet(slru);
    let changed = false;
    for (const segno of [...segments]) {
      if ((segno + 1) * SLRU_PAGES_PER_SEGMENT <= cutoffPage) {
        segments.delete(segno);
        this.slruSizes.delete(slruSegmentId(slru, segno));
        changed = true;
      }
    }
    if (changed) this.pending.set(slruDirectoryKey(slru), () => encodeNumberList([...segments]));
  }

  /** multixact_redo XLOG_MULTIXACT_CREATE_ID: RecordNewMultiXact, then the next multi and offset counters. */
  private createMultiXact(mid: number, offset: number, members: readonly { readonly xid: number; readonly status: MultiXactMemberStatus }[]): void {
    const page = Math.floor(mid / MULTIXACT_OFFSETS_PER_PAGE);
    let next = (mid + 1) >>> 0;
    if (next === 0) next = 1; // FirstMultiXactId
    const nextPage = Math.floor(next / MULTIXACT_OFFSETS_PER_PAGE);
    let nextOffset = (offset + members.length) >>> 0;
    if (nextOffset === 0) nextOffset = 1;
    if (nextPage === page) {
      this.slruOp(Slru.MultiXactOffsets, page, encodeSlruOp({ kind: 'multixact.offsets', entries: [{ multi: mid, offset }, { multi: next, offset: nextOffset }] }));
    } else {
      this.slruOp(Slru.MultiXactOffsets, page, encodeSlruOp({ kind: 'multixact.offsets', entries: [{ multi: mid, offset }] }));
      // The next multi's page may not exist yet: RecordNewMultiXact initialises it in recovery.
      const segno = Math.floor(nextPage / SLRU_PAGES_PER_SEGMENT);
      const existed = this.slruSegmentSet(Slru.MultiXactOffsets).has(segno) && nextPage % SLRU_PAGES_PER_SEGMENT < (this.slruSizes.get(slruSegmentId(Slru.MultiXactOffsets, segno)) ?? 0);
      if (!existed) this.preInitializedOffsetsPage = nextPage;
      this.slruOp(Slru.MultiXactOffsets, nextPage, encodeSlruOp({ kind: 'multixact.offsets', entries: [{ multi: next, offset: nextOffset }] }));
    }
    const withOffsets = members.map((m, i) => ({ offset: (offset + i) >>> 0, xid: m.xid, status: MULTIXACT_STATUS[m.status] }));
    for (const [memberPage, ms] of groupBy(withOffsets, (m) => Math.floor(m.offset / MULTIXACT_MEMBERS_PER_PAGE)))
      this.slruOp(Slru.MultiXactMembers, memberPage, encodeSlruOp({ kind: 'multixact.members', members: ms }));
    // MultiXactAdvanceNextMXact
    if (((next - this.checkpoint.nextMulti) | 0) > 0) this.checkpoint.nextMulti = next;
    const endOffset = (offset + members.length) >>> 0;
    if (((endOffset - this.checkpoint.nextMultiOffset) | 0) > 0) this.checkpoint.nextMultiOffset = endOffset;
    this.checkpointDirty = true;
  }

  private addDatabase(spcNode: number, dbNode: number): void {
    if (!this.databases.some((d) => d.spcNode === spcNode && d.dbNode === dbNode)) {
      this.databases = [...this.databases, { spcNode, dbNode }];
      this.pending.set(DATABASE_DIRECTORY_KEY, () => encodeDatabaseDirectory(this.databases));
    }
    if (!this.relDirs.has(relKey(spcNode, dbNode))) this.relDirs.set(relKey(spcNode, dbNode), new Map());
    this.markRelDir(spcNode, dbNode);
  }

  /** dbase_redo XLOG_DBASE_DROP: the database's directories in each tablespace go. */
  private dropDatabase(dbNode: number, tsIds: readonly number[]): void {
    this.databases = this.databases.filter((d) => !(d.dbNode === dbNode && tsIds.includes(d.spcNode)));
    this.pending.set(DATABASE_DIRECTORY_KEY, () => encodeDatabaseDirectory(this.databases));
    for (const ts of tsIds) {
      this.relDirs.set(relKey(ts, dbNode), new Map());
      this.markRelDir(ts, dbNode);
      for (const k of [...this.relSizes.keys()]) if (k.startsWith(`${ts}/${dbNode}/`)) this.relSizes.delete(k);
    }
  }

  /** create_tablespace_directories: the tablespace's own folder, listed as (tablespace, 0). */
  private createTablespace(spcNode: number): void {
    if (this.databases.some((d) => d.spcNode === spcNode && d.dbNode === 0)) return;
    this.databases = [...this.databases, { spcNode, dbNode: 0 }];
    this.pending.set(DATABASE_DIRECTORY_KEY, () => encodeDatabaseDirectory(this.databases));
  }

  /** A dropped tablespace's folders are gone: only empty ones can be left (DROP TABLESPACE refuses otherwise). */
  private dropTablespace(spcNode: number): void {
    this.forks.clear();
    const gone = this.databases.filter((d) => d.spcNode === spcNode);
    if (gone.length === 0) return;
    this.databases = this.databases.filter((d) => d.spcNode !== spcNode);
    this.pending.set(DATABASE_DIRECTORY_KEY, () => encodeDatabaseDirectory(this.databases));
    for (const d of gone) {
      if (d.dbNode === 0) continue;
      this.relDirs.set(relKey(spcNode, d.dbNode), new Map());
      this.markRelDir(spcNode, d.dbNode);
    }
  }

  /**
   * CREATE DATABASE ... STRATEGY FILE_COPY (dbase_redo XLOG_DBASE_CREATE_FILE_COPY copies the
   * template's directory as of the record): every relation of the template, block by block, as
   * images, with its sizes, relation directory and relmapper file.
   */
  private async prepareCopies(effects: readonly Effect[]): Promise<{ key: Key; value: Value }[]> {
    this.forks.clear();
    const out: { key: Key; value: Value }[] = [];
    for (const e of effects) {
      if (e.kind !== 'database.create' || e.strategy !== 'file_copy' || e.srcDbId === undefined || e.srcTsId === undefined) continue;
      const at = this.timeline.lastRecordLsn;
      const src = await this.loadRelDir(e.srcTsId, e.srcDbId);
      const dst = new Map<string, RelFork>();
      for (const r of src.values()) {
        const from: RelFileNode = { spcNode: e.srcTsId, dbNode: e.srcDbId, relNode: r.relNode as Oid };
        const to: RelFileNode = { spcNode: e.tsId, dbNode: e.dbId, relNode: r.relNode as Oid };
        await this.loadRel(from, r.fork);
        const blocks = this.relSize(from, r.fork);
        for (let b = 0; b < blocks; b++) {
          let page: Uint8Array;
          try {
            page = await this.timeline.getForIngest(relBlockKey(from, r.fork, b), at);
          } catch (err) {
            if (!(err instanceof RepositoryError && err.code === 'NOT_FOUND')) throw err;
            page = ZERO_PAGE;
          }
          out.push({ key: relBlockKey(to, r.fork, b), value: { kind: 'image', bytes: page } });
        }
        out.push({ key: relSizeKey(to, r.fork), value: { kind: 'image', bytes: encodeU32(blocks) } });
        this.relSizes.set(forkKey(to, r.fork), blocks);
        dst.set(`${r.relNode}/${r.fork}`, r);
      }
      try {
        out.push({ key: relmapKey(e.tsId, e.dbId), value: { kind: 'image', bytes: await this.timeline.getForIngest(relmapKey(e.srcTsId, e.srcDbId), at) } });
      } catch (err) {
        if (!(err instanceof RepositoryError && err.code === 'NOT_FOUND')) throw err;
      }
      this.relDirs.set(relKey(e.tsId, e.dbId), dst);
    }
    return out;
  }

  /** xlog_redo for checkpoint records: the counters move forward, never back (an online checkpoint's are from its start). */
  private applyCheckpoint(shutdown: boolean, c: CheckPoint): void {
    const cp = this.checkpoint;
    if (c.nextXid > cp.nextXid) cp.nextXid = c.nextXid;
    // An online checkpoint's nextOid may be stale (xlog_redo ignores it); a shutdown checkpoint's is exact.
    if (shutdown) cp.nextOid = c.nextOid;
    if (((c.nextMulti - cp.nextMulti) | 0) > 0) cp.nextMulti = c.nextMulti;
    if (((c.nextMultiOffset - cp.nextMultiOffset) | 0) > 0) cp.nextMultiOffset = c.nextMultiOffset;
    cp.oldestXid = c.oldestXid;
    cp.oldestXidDb = c.oldestXidDb;
    cp.oldestMulti = c.oldestMulti;
    cp.oldestMultiDb = c.oldestMultiDb;
    cp.oldestCommitTsXid = c.oldestCommitTsXid;
    cp.newestCommitTsXid = c.newestCommitTsXid;
    cp.oldestActiveXid = c.oldestActiveXid;
    cp.redo = c.redo;
    cp.thisTimeLineId = c.thisTimeLineId;
    cp.prevTimeLineId = c.prevTimeLineId;
    cp.time = c.time;
    this.checkpointDirty = true;
  }

  /** nextXid moves past `xid` (AdvanceNextFullTransactionIdPastXid), carrying the epoch over a wraparound. */
  private assignXid(xid: number): void {
    const cp = this.checkpoint;
    // Most records' xids were assigned already: that is decided on the low half, without a BigInt.
    const nextXid = cp.nextXidLow;
    if (!xidFollowsOrEquals(xid, nextXid)) return;
    // The halves as numbers (a BigInt per transaction otherwise).
    let epoch = cp.nextXidEpoch;
    let newXid = (xid + 1) >>> 0;
    if (newXid < nextXid) epoch = (epoch + 1) >>> 0;
    if (newXid < 3) newXid = 3; // FirstNormalTransactionId
    cp.setNextXid(epoch, newXid);
    this.checkpointDirty = true;
  }

  private writePending(lsn: number): void {
    if (this.pending.size > 0) {
      for (const [key, make] of this.pending) this.timeline.put(key, lsn, { kind: 'image', bytes: make() });
      this.pending.clear();
    }
    if (this.oneOpKey !== undefined) {
      this.timeline.put(this.oneOpKey, lsn, { kind: 'op', willInit: false, bytes: this.oneOp });
      this.oneOpKey = undefined;
    }
    if (this.pendingOps.size > 0) {
      for (const [key, ops] of this.pendingOps) for (const op of ops) this.timeline.put(key, lsn, { kind: 'op', willInit: false, bytes: op });
      this.pendingOps.clear();
    }
    if (this.controlDirty) {
      this.timeline.put(CONTROL_FILE_KEY, lsn, { kind: 'image', bytes: this.control.encode() });
      this.controlDirty = false;
    }
    if (this.checkpointDirty) {
      this.timeline.put(CHECKPOINT_KEY, lsn, { kind: 'image', bytes: this.checkpoint.bytes });
      this.checkpointDirty = false;
    }
  }
}

/** RecreateTwoPhaseFile's bytes: the state data, then its CRC-32C (native order: little-endian). */
function twoPhaseFile(data: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(data.length + 4);
  out.set(data, 0);
  out.writeUInt32LE(crc32c(data), data.length);
  return out;
}

/** Whether an effect is CREATE DATABASE (no closure per record, as effects.some would make). */
function createsDatabase(effects: readonly Effect[]): boolean {
  for (let i = 0; i < effects.length; i++) if ((effects[i] as Effect).kind === 'database.create') return true;
  return false;
}

/** Whether the description says the record initialises block `blockId` (few blocks per record: a scan, no Set). */
function initsByUse(d: DescriptionBase, blockId: number): boolean {
  const uses = d.blocks;
  for (let i = 0; i < uses.length; i++) if ((uses[i] as BlockUse).blockId === blockId && (uses[i] as BlockUse).init) return true;
  return false;
}

/** The page all of `xids` lie on, with `perPage` per page; -1 when they lie on several (or there are none). */
function onePage(xids: readonly number[], perPage: number): number {
  if (xids.length === 0) return -1;
  const page = Math.floor((xids[0] as number) / perPage);
  for (let i = 1; i < xids.length; i++) if (Math.floor((xids[i] as number) / perPage) !== page) return -1;
  return page;
}

function groupBy<T>(items: readonly T[], key: (t: T) => number): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = out.get(k);
    if (list === undefined) out.set(k, [it]);
    else list.push(it);
  }
  return out;
}
