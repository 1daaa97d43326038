/**
 * The durable WAL log: every byte of WAL strata has received, kept in segment files until the
 * repository no longer needs it.
 *
 * The receiver writes what the primary streams here and tells the primary "flushed" only for what
 * `flush()` has fsynced (DESIGN.md invariant 2); ingest reads records back from here, both live
 * and, after a restart, from its disk-consistent LSN. The folder looks like a pg_wal folder:
 *
 *   000000010000000000000003   segments, named as PostgreSQL names them (XLogFileName), holding
 *   000000010000000000000004   the bytes at the same offsets as the primary's files; a segment
 *   00000002.history           grows by appending and is 16 MiB once complete
 *   strata-wal-log.state       where the log ends (below)
 *
 * Timelines: each PostgreSQL timeline's WAL goes into its own segment files (the timeline is in
 * the name), and its history file is kept beside them, so the log can be read back across a
 * promotion the way PostgreSQL reads pg_wal. Only the newest timeline is written; a timeline is
 * begun at a segment start (as PostgreSQL's walreceiver asks for WAL), so every segment file in
 * the log starts at its segment's first byte.
 *
 * Where the log ends after a crash: a small state file, not a scan. Scanning the segments with the
 * WAL decoder would find the end of the last valid record, which is not the end of what was
 * acknowledged (a record may cross the flushed position), and a crash can leave unsynced bytes
 * (zeros, on some filesystems) past the flushed end that look like a torn page to a scan but would
 * be trusted by a file-size check. The state file records the flushed LSN after each fsync of the
 * segments, so on restart the log ends exactly at the last LSN it ever reported flushed; bytes
 * written after that are cut off and asked for again. It has two 512-byte slots written in turn,
 * each with a sequence number and a CRC-32C, so a torn write of one slot leaves the other:
 *
 *   offset  size  field (little-endian)
 *        0     4  magic 'SWLG' (0x53574C47)
 *        4     2  format version (1)
 *        6     2  reserved, 0
 *        8     8  sequence number (the slot with the highest valid one wins)
 *       16     4  timeline being written
 *       20     4  WAL segment size in bytes
 *       24     8  system identifier (0 = not known yet)
 *       32     8  LSN where this timeline's bytes begin in the log
 *       40     8  flushed LSN: every byte of this timeline in [begin, flushed) is fsynced
 *       48     4  CRC-32C of bytes 0..47
 *
 * One flush costs an fdatasync of each segment written since the last one, of the folder when a
 * segment was created, and of the state file.
 */
import {
  close as closeCb,
  closeSync,
  fdatasync as fdatasyncCb,
  fstatSync,
  ftruncateSync,
  fsync as fsyncCb,
  mkdirSync,
  open as openCb,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
  unlinkSync,
  write as writeCb,
  writeSync,
  existsSync,
} from 'node:fs';
import { open as openAsync } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { crc32c } from '../pg/crc32c.js';
import {
  DEFAULT_WAL_SEGMENT_SIZE,
  formatLsn,
  lsn as toLsn,
  parseWalFileName,
  segmentNumber,
  segmentOffset,
  segmentStart,
  walFileName,
  type Lsn,
} from '../pg/lsn.js';
import { parseTimelineHistory, timelineHistoryFileName, type TimelineHistoryEntry } from '../pg/timeline-history.js';
import { fsyncDirectory, writeFileDurable, TEMP_SUFFIX } from '../repository/durable.js';

export const WAL_LOG_STATE_FILE = 'strata-wal-log.state';
const STATE_MAGIC = 0x5357_4c47;
const STATE_VERSION = 1;
const STATE_SLOT_BYTES = 512;
const STATE_PAYLOAD_BYTES = 48;
/** Reads for replay are cut into pieces of at most this size. */
export const WAL_LOG_READ_CHUNK_BYTES_MAX = 1024 * 1024;

const fdatasyncAsync = promisify(fdatasyncCb);
const fsyncAsync = promisify(fsyncCb);
const openFdAsync = promisify(openCb);
const closeAsync = promisify(closeCb);
const writeAsync = promisify(writeCb);

export type WalLogErrorCode =
  /** write() was not at the log's end (a gap or an overlap). */
  | 'NOT_CONTIGUOUS'
  /** A segment that should hold requested bytes is not there. */
  | 'MISSING_SEGMENT'
  /** A segment is shorter than the bytes the log says it holds. */
  | 'SHORT_SEGMENT'
  /** Neither state slot is valid, or the folder holds segments but no state file. */
  | 'CORRUPT_STATE'
  | 'SEGMENT_SIZE_MISMATCH'
  /** A new timeline must be newer than the current one and begin at a segment start. */
  | 'TIMELINE_ORDER'
  /** A read or removal past what is flushed. */
  | 'BEYOND_FLUSHED'
  | 'CLOSED';

export class WalLogError extends Error {
  constructor(
    readonly code: WalLogErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WalLogError';
  }
}

export interface WalLogOptions {
  readonly segmentSize?: number;
}

interface State {
  readonly sequence: bigint;
  readonly timeline: number;
  readonly segmentSize: number;
  readonly systemId: bigint;
  readonly begin: Lsn;
  readonly flushed: Lsn;
}

interface OpenSegment {
  readonly segNo: bigint;
  readonly fd: number;
}

export class WalLog {
  readonly dir: string;
  readonly segmentSize: number;
  private state: State | undefined;
  private stateFd: number | undefined;
  private written: Lsn;
  private flushed: Lsn;
  private current: OpenSegment | undefined;
  private currentDirty = false;
  /** Finished segments written since the last flush: fsync, then close. */
  private toSync: number[] = [];
  /** A segment file was created since the last flush: the folder needs an fsync too. */
  private createdFile = false;
  private flushing: Promise<Lsn> | undefined;
  private changeWaiters: (() => void)[] = [];
  private historyEntries: TimelineHistoryEntry[] = [];
  private pendingSystemId: bigint | undefined;
  private closed = false;

  private constructor(dir: string, segmentSize: number) {
    this.dir = dir;
    this.segmentSize = segmentSize;
    this.written = this.flushed = toLsn(0);
  }

  /** Opens (or creates) the log in `dir` and finds its end from the state file. */
  static open(dir: string, options: WalLogOptions = {}): WalLog {
    const log = new WalLog(dir, options.segmentSize ?? DEFAULT_WAL_SEGMENT_SIZE);
    mkdirSync(dir, { recursive: true });
    log.recover();
    return log;
  }

  /** The timeline being written; 0 while the log is empty. */
  get timeline(): number {
    return this.state?.timeline ?? 0;
  }

  /** Where the current timeline's bytes begin in the log. */
  get beginLsn(): Lsn {
    return this.state?.begin ?? toLsn(0);
  }

  /** Just past the last byte handed to write(). */
  get writtenLsn(): Lsn {
    return this.written;
  }

  /** Just past the last byte known to be on disk: the most the primary may be told is flushed. */
  get flushedLsn(): Lsn {
    return this.flushed;
  }

  get systemId(): bigint | undefined {
    const id = this.pendingSystemId ?? this.state?.systemId ?? 0n;
    return id === 0n ? undefined : id;
  }

  /** Records the primary's system identifier with the next state write. */
  setSystemId(id: bigint): void {
    this.pendingSystemId = id;
  }

  /** The current timeline's history (timeline 1 alone when it has none). */
  get history(): readonly TimelineHistoryEntry[] {
    return this.historyEntries;
  }

  /** The bytes of a timeline's history file, if the log has it. */
  historyFile(tli: number): Buffer | undefined {
    const p = path.join(this.dir, timelineHistoryFileName(tli));
    return existsSync(p) ? readFileSync(p) : undefined;
  }

  private recover(): void {
    for (const name of readdirSync(this.dir)) if (name.endsWith(TEMP_SUFFIX)) unlinkSync(path.join(this.dir, name));
    const statePath = path.join(this.dir, WAL_LOG_STATE_FILE);
    if (!existsSync(statePath)) {
      const segments = this.listSegments();
      if (segments.length > 0)
        throw new WalLogError('CORRUPT_STATE', `Cannot open the WAL log in ${this.dir}: it holds ${segments.length} segments but no ${WAL_LOG_STATE_FILE}`);
      return;
    }
    this.stateFd = openSync(statePath, 'r+');
    const state = this.readState();
    if (state.segmentSize !== this.segmentSize)
      throw new WalLogError('SEGMENT_SIZE_MISMATCH', `Cannot open the WAL log in ${this.dir}: it was written with ${state.segmentSize}-byte segments, asked for ${this.segmentSize}`);
    this.state = state;
    this.historyEntries = this.loadHistory(state.timeline);
    this.cutAfterFlushed(state);
    this.written = this.flushed = state.flushed;
  }

  private readState(): State {
    const buf = Buffer.alloc(2 * STATE_SLOT_BYTES);
    const n = readSync(this.stateFd!, buf, 0, buf.length, 0);
    let best: State | undefined;
    for (let slot = 0; slot < 2; slot++) {
      const o = slot * STATE_SLOT_BYTES;
      if (n < o + STATE_PAYLOAD_BYTES + 4) continue;
      if (buf.readUInt32LE(o) !== STATE_MAGIC || buf.readUInt16LE(o + 4) !== STATE_VERSION) continue;
      if (crc32c(buf.subarray(o, o + STATE_PAYLOAD_BYTES)) !== buf.readUInt32LE(o + STATE_PAYLOAD_BYTES)) continue;
      const s: State = {
        sequence: buf.readBigUInt64LE(o + 8),
        timeline: buf.readUInt32LE(o + 16),
        segmentSize: buf.readUInt32LE(o + 20),
        systemId: buf.readBigUInt64LE(o + 24),
        begin: toLsn(buf.readBigUInt64LE(o + 32)),
        flushed: toLsn(buf.readBigUInt64LE(o + 40)),
      };
      if (best === undefined || s.sequence > best.sequence) best = s;
    }
    if (best === undefined) throw new WalLogError('CORRUPT_STATE', `Cannot open the WAL log in ${this.dir}: neither slot of ${WAL_LOG_STATE_FILE} is valid (read ${n} bytes)`);
    return best;
  }

  /** Removes what was written but never reported flushed: later segments, and the tail of the last. */
  private cutAfterFlushed(state: State): void {
    const lastSeg = segmentNumber(state.flushed, this.segmentSize);
    const offset = segmentOffset(state.flushed, this.segmentSize);
    for (const s of this.listSegments()) {
      const p = path.join(this.dir, s.name);
      if (s.timeline > state.timeline || (s.timeline === state.timeline && (s.segNo > lastSeg || (s.segNo === lastSeg && offset === 0)))) {
        unlinkSync(p);
      } else if (s.timeline === state.timeline && s.segNo === lastSeg) {
        const size = statSync(p).size;
        if (size < offset)
          throw new WalLogError('SHORT_SEGMENT', `Cannot open the WAL log in ${this.dir}: ${s.name} has ${size} bytes, but the log was flushed to ${formatLsn(state.flushed)} (offset ${offset})`);
        if (size > offset) {
          const fd = openSync(p, 'r+');
          try {
            ftruncateSync(fd, offset);
          } finally {
            closeSync(fd);
          }
        }
      }
    }
    if (offset > 0 && state.flushed > state.begin && !existsSync(path.join(this.dir, walFileName(state.timeline, lastSeg, this.segmentSize))))
      throw new WalLogError('MISSING_SEGMENT', `Cannot open the WAL log in ${this.dir}: the segment holding the flushed end ${formatLsn(state.flushed)} is missing`);
  }

  private loadHistory(tli: number): TimelineHistoryEntry[] {
    if (tli <= 1) return parseTimelineHistory(tli, undefined);
    const content = this.historyFile(tli);
    if (content === undefined) throw new WalLogError('CORRUPT_STATE', `Cannot open the WAL log in ${this.dir}: timeline ${tli} has no ${timelineHistoryFileName(tli)}`);
    return parseTimelineHistory(tli, content.toString('utf8'));
  }

  /** Segment files in the folder, parsed. */
  listSegments(): { name: string; timeline: number; segNo: bigint }[] {
    const out: { name: string; timeline: number; segNo: bigint }[] = [];
    for (const name of readdirSync(this.dir)) {
      if (name.length !== 24) continue;
      const parsed = parseWalFileName(name, this.segmentSize);
      if (parsed !== null) out.push({ name, ...parsed });
    }
    out.sort((a, b) => (a.timeline - b.timeline) || (a.segNo < b.segNo ? -1 : a.segNo > b.segNo ? 1 : 0));
    return out;
  }

  /**
   * Starts writing timeline `tli` at `begin` (a segment start). The current timeline is flushed
   * first; the history file (required past timeline 1, the server's bytes) is written durably
   * before the state names the new timeline, so a reader never meets a timeline without history.
   */
  async beginTimeline(tli: number, begin: Lsn, historyContent?: Buffer): Promise<void> {
    this.assertOpen();
    if (tli <= this.timeline)
      throw new WalLogError('TIMELINE_ORDER', `Cannot begin timeline ${tli} in the WAL log: it is not newer than the current timeline ${this.timeline}`);
    if (segmentOffset(begin, this.segmentSize) !== 0)
      throw new WalLogError('TIMELINE_ORDER', `Cannot begin timeline ${tli} at ${formatLsn(begin)}: a timeline begins at a segment start in the log`);
    const history = parseTimelineHistory(tli, historyContent?.toString('utf8') ?? (tli > 1 ? this.historyFile(tli)?.toString('utf8') : undefined));
    if (tli > 1 && history.length === 1)
      throw new WalLogError('TIMELINE_ORDER', `Cannot begin timeline ${tli}: its history file is missing (timeline ${tli} must descend from another)`);
    await this.flush();
    this.closeCurrent();
    if (historyContent !== undefined) writeFileDurable(path.join(this.dir, timelineHistoryFileName(tli)), historyContent);
    await this.writeState({ timeline: tli, begin, flushed: begin });
    this.historyEntries = history;
    this.written = this.flushed = begin;
    this.notifyChange();
  }

  /** Appends WAL at `at`, which must be the log's end. The bytes are in the OS, not yet on disk. */
  write(at: Lsn, bytes: Uint8Array): void {
    this.assertOpen();
    if (this.state === undefined) throw new WalLogError('TIMELINE_ORDER', `Cannot write WAL at ${formatLsn(at)}: no timeline begun in ${this.dir}`);
    if (at !== this.written)
      throw new WalLogError('NOT_CONTIGUOUS', `Cannot write WAL at ${formatLsn(at)}: the log ends at ${formatLsn(this.written)} (writes must be contiguous)`);
    let pos = Number(at);
    let off = 0;
    while (off < bytes.length) {
      const segNo = BigInt(Math.floor(pos / this.segmentSize));
      const segOff = pos % this.segmentSize;
      const n = Math.min(bytes.length - off, this.segmentSize - segOff);
      const fd = this.segmentFd(segNo, segOff);
      let done = 0;
      while (done < n) done += writeSync(fd, bytes, off + done, n - done, segOff + done);
      this.currentDirty = true;
      off += n;
      pos += n;
    }
    this.written = toLsn(pos);
  }

  private segmentFd(segNo: bigint, segOff: number): number {
    if (this.current !== undefined && this.current.segNo === segNo) return this.current.fd;
    if (this.current !== undefined) {
      // Finished: the next flush fsyncs it, then closes it.
      this.toSync.push(this.current.fd);
      this.current = undefined;
    }
    const p = path.join(this.dir, walFileName(this.timeline, segNo, this.segmentSize));
    let fd: number;
    if (segOff === 0) {
      // A new segment ('w' truncates a leftover from before a crash, which held nothing flushed).
      fd = openSync(p, 'w');
      this.createdFile = true;
    } else {
      fd = openSync(p, 'r+');
      const size = fstatSync(fd).size;
      if (size !== segOff) {
        closeSync(fd);
        throw new WalLogError('SHORT_SEGMENT', `Cannot append to ${p} at offset ${segOff}: it has ${size} bytes`);
      }
    }
    this.current = { segNo, fd };
    return fd;
  }

  /**
   * Makes everything written so far durable and only then moves the flushed LSN; returns it.
   * Calls are serialised; one that finds nothing new to sync returns at once.
   */
  async flush(): Promise<Lsn> {
    this.assertOpen();
    while (this.flushing !== undefined) await this.flushing;
    if (this.written === this.flushed && this.toSync.length === 0 && !this.currentDirty) return this.flushed;
    const p = this.syncAndRecord();
    this.flushing = p;
    try {
      return await p;
    } finally {
      this.flushing = undefined;
    }
  }

  private async syncAndRecord(): Promise<Lsn> {
    const target = this.written;
    const finished = this.toSync;
    this.toSync = [];
    const fds = [...finished];
    if (this.current !== undefined && this.currentDirty) fds.push(this.current.fd);
    this.currentDirty = false;
    const syncDir = this.createdFile;
    this.createdFile = false;
    await Promise.all(fds.map((fd) => fdatasyncAsync(fd)));
    for (const fd of finished) await closeAsync(fd);
    if (syncDir) await this.fsyncDir();
    if (target !== this.state!.flushed) await this.writeState({ flushed: target });
    this.flushed = target;
    this.notifyChange();
    return target;
  }

  private async fsyncDir(): Promise<void> {
    const fd = await openFdAsync(this.dir, 'r');
    try {
      await fsyncAsync(fd);
    } finally {
      await closeAsync(fd);
    }
  }

  /** Writes the next state slot and fdatasyncs it; creates the state file durably the first time. */
  private async writeState(change: Partial<Pick<State, 'timeline' | 'begin' | 'flushed'>>): Promise<void> {
    const prev = this.state;
    const next: State = {
      sequence: (prev?.sequence ?? 0n) + 1n,
      timeline: change.timeline ?? prev?.timeline ?? 0,
      segmentSize: this.segmentSize,
      systemId: this.pendingSystemId ?? prev?.systemId ?? 0n,
      begin: change.begin ?? prev?.begin ?? toLsn(0),
      flushed: change.flushed ?? prev?.flushed ?? toLsn(0),
    };
    const slot = Buffer.alloc(STATE_SLOT_BYTES);
    slot.writeUInt32LE(STATE_MAGIC, 0);
    slot.writeUInt16LE(STATE_VERSION, 4);
    slot.writeBigUInt64LE(next.sequence, 8);
    slot.writeUInt32LE(next.timeline, 16);
    slot.writeUInt32LE(next.segmentSize, 20);
    slot.writeBigUInt64LE(next.systemId, 24);
    slot.writeBigUInt64LE(next.begin, 32);
    slot.writeBigUInt64LE(next.flushed, 40);
    slot.writeUInt32LE(crc32c(slot.subarray(0, STATE_PAYLOAD_BYTES)), STATE_PAYLOAD_BYTES);
    if (this.stateFd === undefined) {
      const file = Buffer.alloc(2 * STATE_SLOT_BYTES);
      slot.copy(file, Number(next.sequence % 2n) * STATE_SLOT_BYTES);
      const p = path.join(this.dir, WAL_LOG_STATE_FILE);
      writeFileDurable(p, file);
      this.stateFd = openSync(p, 'r+');
    } else {
      const at = Number(next.sequence % 2n) * STATE_SLOT_BYTES;
      await writeAsync(this.stateFd, slot, 0, slot.length, at);
      await fdatasyncAsync(this.stateFd);
    }
    this.state = next;
    this.pendingSystemId = undefined;
  }

  private closeCurrent(): void {
    if (this.current !== undefined) {
      closeSync(this.current.fd);
      this.current = undefined;
      this.currentDirty = false;
    }
  }

  private notifyChange(): void {
    const waiters = this.changeWaiters;
    this.changeWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves at the next flush that moves the flushed LSN, or the next timeline begun. */
  waitForChange(): Promise<void> {
    return new Promise((resolve) => this.changeWaiters.push(resolve));
  }

  /**
   * The range of `tli`'s bytes in the log: for the current timeline [begin, flushed), for an older
   * one from its first segment's start to the end of its last segment file. Undefined when the log
   * holds none of that timeline.
   */
  timelineRange(tli: number): { start: Lsn; end: Lsn } | undefined {
    if (tli === this.timeline && this.state !== undefined) {
      const segs = this.listSegments().filter((s) => s.timeline === tli);
      const first = segs[0];
      const start = first === undefined ? this.state.begin : maxLsn(this.state.begin, segmentStart(first.segNo, this.segmentSize));
      return { start, end: this.flushed };
    }
    const segs = this.listSegments().filter((s) => s.timeline === tli);
    const first = segs[0];
    const last = segs.at(-1);
    if (first === undefined || last === undefined) return undefined;
    const size = statSync(path.join(this.dir, last.name)).size;
    return { start: segmentStart(first.segNo, this.segmentSize), end: toLsn(segmentStart(last.segNo, this.segmentSize) + BigInt(size)) };
  }

  /**
   * Yields the bytes of timeline `tli` in [start, end), in pieces of at most `chunkBytesMax`, for
   * replay into the WAL decoder. Each piece is a fresh buffer (the decoder keeps them).
   */
  async *read(tli: number, start: Lsn, end: Lsn, chunkBytesMax = WAL_LOG_READ_CHUNK_BYTES_MAX): AsyncGenerator<Buffer> {
    if (tli === this.timeline && end > this.flushed)
      throw new WalLogError('BEYOND_FLUSHED', `Cannot read timeline ${tli} up to ${formatLsn(end)}: the log is flushed to ${formatLsn(this.flushed)}`);
    let pos = Number(start);
    const stop = Number(end);
    while (pos < stop) {
      const segNo = BigInt(Math.floor(pos / this.segmentSize));
      const name = walFileName(tli, segNo, this.segmentSize);
      let handle;
      try {
        handle = await openAsync(path.join(this.dir, name), 'r');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT')
          throw new WalLogError('MISSING_SEGMENT', `Cannot read WAL at ${formatLsn(toLsn(pos))} on timeline ${tli}: segment ${name} is not in the log`);
        throw e;
      }
      try {
        const segEnd = Math.min(stop, (Math.floor(pos / this.segmentSize) + 1) * this.segmentSize);
        while (pos < segEnd) {
          const n = Math.min(chunkBytesMax, segEnd - pos);
          const buf = Buffer.allocUnsafeSlow(n);
          const { bytesRead } = await handle.read(buf, 0, n, pos % this.segmentSize);
          if (bytesRead < n)
            throw new WalLogError('SHORT_SEGMENT', `Cannot read WAL at ${formatLsn(toLsn(pos))} on timeline ${tli}: ${name} ends ${n - bytesRead} bytes short`);
          pos += n;
          yield buf;
        }
      } finally {
        await handle.close();
      }
    }
  }

  /**
   * Deletes every segment (of any timeline) that ends at or below `lsn`: whole segments only, so
   * the segment holding `lsn` stays. `lsn` may not pass the flushed end. Returns how many went.
   */
  removeBelow(lsn: Lsn): number {
    this.assertOpen();
    if (lsn > this.flushed) throw new WalLogError('BEYOND_FLUSHED', `Cannot remove WAL below ${formatLsn(lsn)}: the log is flushed only to ${formatLsn(this.flushed)}`);
    const keepFrom = segmentNumber(lsn, this.segmentSize);
    let removed = 0;
    for (const s of this.listSegments()) {
      if (s.segNo >= keepFrom) continue;
      unlinkSync(path.join(this.dir, s.name));
      removed++;
    }
    if (removed > 0) fsyncDirectory(this.dir);
    return removed;
  }

  /** Closes the files (unflushed bytes stay in the OS and are cut off at the next open). */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.flushing !== undefined) await this.flushing.catch(() => undefined);
    this.closed = true;
    this.closeCurrent();
    for (const fd of this.toSync) closeSync(fd);
    this.toSync = [];
    if (this.stateFd !== undefined) closeSync(this.stateFd);
    this.stateFd = undefined;
    this.notifyChange();
  }

  private assertOpen(): void {
    if (this.closed) throw new WalLogError('CLOSED', `Cannot use the WAL log in ${this.dir}: it is closed`);
  }
}

function maxLsn(a: Lsn, b: Lsn): Lsn {
  return a > b ? a : b;
}
