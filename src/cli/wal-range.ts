/**
 * One range of a folder of WAL segments read on its own: the unit `strata waldump` spreads over
 * threads (waldump-threads.ts). A range is read as pg_waldump reads WAL (segment files, the first
 * record at or after a start, up to an end LSN, the end of valid WAL or a missing file) and stops at
 * the first record that starts at or after its end, which it decodes and checks but does not hand
 * out: that record's LSN is where the next range must begin for the two to join (see `joins`).
 *
 * A range is read either from a page start, finding its first record as XLogFindNextRecord does
 * (what a thread does, not knowing the record before), or resumed exactly where another range
 * stopped (its last record, page timeline and system identifier given), which decodes as one
 * decoder reading on would: the fallback when ranges do not join.
 */
import { closeSync, existsSync, open, openSync, read, readSync } from 'node:fs';
import { join } from 'node:path';
import { readU32 } from '../pg/bytes.js';
import { XLOG_BLCKSZ } from '../pg/constants.js';
import { lsn, walFileName } from '../pg/lsn.js';
import { WalDecoder, WalDecoderScratch } from '../wal/decoder.js';
import { walEndText } from '../wal/errors.js';
import type { WalRecord } from '../wal/record.js';

/** Two buffers of this size are read into in turn (records die in the callback). */
const READ_BYTES = 256 << 10;
/**
 * This thread's read buffers and decoder memory: a thread reads one range at a time, and records
 * die in the callback.
 */
const readBuffers = [Buffer.allocUnsafe(READ_BYTES), Buffer.allocUnsafe(READ_BYTES)];
const scratch = new WalDecoderScratch();

export interface RangeReadOptions {
  readonly dir: string;
  readonly timeline: number;
  readonly segmentSize: number;
  /** Where to start: a segment start or the user's start LSN, or with `resume` a record's start. */
  readonly start: number;
  /** Where the range ends: the first record at or after it is decoded and checked, not handed out. */
  readonly stopAt: number;
  /** Records that end after it are not read (pg_waldump's -e). */
  readonly end: number | undefined;
  /**
   * The system identifier the WAL is expected to carry (from the first segment's long page header):
   * a range that starts inside a segment meets no long header before its first record, and without
   * it could not join the range before (`joins` compares them).
   */
  readonly systemId?: bigint | undefined;
  /** `start` is the next record after a range that stopped there (RangeEnd.nextLsn): go on from it. */
  readonly resume?: { readonly prevLsn: number; readonly pageTli: number; readonly systemId: bigint | undefined };
}

/** How a range ended, and what another range must match to join it. LSNs are -1 where there is none. */
export interface RangeEnd {
  /** Records handed out. */
  readonly records: number;
  readonly firstLsn: number;
  /** xl_prev of the first record. */
  readonly firstPrev: number;
  readonly lastLsn: number;
  /** The first record at or after stopAt, decoded and checked (its CRC, its prev-link). */
  readonly nextLsn: number;
  /**
   * undefined: the range stopped at nextLsn and reading goes on with the next range. Otherwise
   * reading ended in this range: '' at the end LSN, or what ended it, in pg_waldump's words.
   */
  readonly ended: string | undefined;
  readonly systemId: bigint | undefined;
  /** The timeline of the first page header (a segment start's) and of the last one read. */
  readonly firstPageTli: number;
  readonly pageTli: number;
}

/**
 * Whether range `b`, read from its page start, carries on exactly where `a` stopped: its first
 * record is the one `a` decoded next, with `a`'s last record as its prev-link, from the same system,
 * with no page timeline going back between them. Then each of `b`'s records and its end are what one
 * decoder reading on from `a` would give: from its first record on, `b`'s decoder is in the state
 * that one would be in (position, previous record, system identifier, page timeline order).
 */
export function joins(a: RangeEnd, b: RangeEnd): boolean {
  return (
    a.ended === undefined &&
    a.nextLsn >= 0 &&
    b.records > 0 &&
    b.firstLsn === a.nextLsn &&
    b.firstPrev === a.lastLsn &&
    a.systemId !== undefined &&
    b.systemId === a.systemId &&
    a.pageTli <= b.firstPageTli
  );
}

/** A piece of a range's WAL to read: bytes [pos, pos + want) of segment `segno`. */
interface ChunkPlan {
  readonly segno: number;
  readonly name: string;
  readonly file: string;
  readonly pos: number;
  readonly want: number;
  /** The last piece of its segment that the range reads (up to segEnd). */
  readonly last: boolean;
  /** The end LSN lies in or at the end of this segment: reading ends after its last piece. */
  readonly endsAtEndLsn: boolean;
}

/**
 * The pieces a range reads, in order, as pg_waldump reads them: from `readFrom` to each segment's
 * end (or the end LSN) in reads of READ_BYTES, segment after segment, until the caller stops.
 */
function* chunkPlan(o: RangeReadOptions, readFrom: number): Generator<ChunkPlan, never> {
  let segno = Math.floor(readFrom / o.segmentSize);
  let offset = readFrom % o.segmentSize;
  for (;;) {
    const name = walFileName(o.timeline, BigInt(segno), o.segmentSize);
    const file = join(o.dir, name);
    const segBase = segno * o.segmentSize;
    const segEnd = o.end !== undefined ? Math.min(o.segmentSize, o.end - segBase) : o.segmentSize;
    const endsAtEndLsn = o.end !== undefined && segBase + segEnd >= o.end;
    if (offset >= segEnd) yield { segno, name, file, pos: offset, want: 0, last: true, endsAtEndLsn };
    for (let pos = offset; pos < segEnd; pos += READ_BYTES) {
      const want = Math.min(segEnd - pos, READ_BYTES);
      yield { segno, name, file, pos, want, last: pos + want >= segEnd, endsAtEndLsn };
    }
    segno++;
    offset = 0;
  }
}

/**
 * The decoding half of reading a range: bytes in, in order, records out to `onRecord`; says how the
 * range ended once it has.
 */
class RangeDecoder {
  private readonly decoder: WalDecoder;
  private records = 0;
  private firstLsn = -1;
  private firstPrev = -1;
  private lastLsn = -1;
  private firstPageTli = -1;
  private lastRead: number;

  constructor(
    private readonly o: RangeReadOptions,
    readFrom: number,
    private readonly onRecord: (r: WalRecord) => boolean | void,
  ) {
    const resume = o.resume;
    const systemId = resume !== undefined ? resume.systemId : o.systemId;
    this.lastRead = resume !== undefined ? resume.prevLsn : -1;
    this.decoder = new WalDecoder({
      startLsn: lsn(BigInt(readFrom)),
      segmentSize: o.segmentSize,
      timeline: o.timeline,
      reuseMemory: true,
      scratch,
      ...(resume !== undefined ? { prevLsn: lsn(BigInt(resume.prevLsn)), pageTli: resume.pageTli } : {}),
      ...(systemId !== undefined ? { systemId } : {}),
    });
  }

  finish(ended: string | undefined, nextLsn = -1): RangeEnd {
    return {
      records: this.records,
      firstLsn: this.firstLsn,
      firstPrev: this.firstPrev,
      lastLsn: this.lastLsn,
      nextLsn,
      ended,
      systemId: this.decoder.systemIdentifier,
      firstPageTli: this.firstPageTli,
      pageTli: this.decoder.pageTimeline,
    };
  }

  /**
   * Decodes the records `chunk` (the next bytes read) completes; how the range ended if it ended in
   * them, else undefined. The chunk may be read into again once the next one is fed.
   */
  feed(chunk: Uint8Array): RangeEnd | undefined {
    const o = this.o;
    if (this.firstPageTli < 0 && o.resume === undefined && chunk.length >= 8) this.firstPageTli = readU32(chunk, 4);
    const decoder = this.decoder;
    decoder.push(chunk);
    for (;;) {
      const r = decoder.nextOrEnd();
      if (r === undefined) {
        const end = decoder.endError;
        return end === undefined ? undefined : this.finish(walEndText(end, this.lastRead, o.start));
      }
      const at = r.lsnNumber;
      this.lastRead = at;
      if (at < o.start) continue;
      if (at >= o.stopAt) return this.finish(undefined, at);
      if (this.records === 0) {
        this.firstLsn = at;
        this.firstPrev = r.prevNumber;
      }
      this.records++;
      this.lastLsn = at;
      if (this.onRecord(r) === false) return this.finish('');
    }
  }
}

function missingFile(name: string): string {
  return `could not find file "${name}": No such file or directory`;
}

function readFailed(name: string, pos: number, n: number, want: number): string {
  return `could not read from file ${name}, offset ${pos}: read ${n} of ${want}`;
}

function startOf(o: RangeReadOptions): number {
  const PAGE = XLOG_BLCKSZ;
  if (o.resume !== undefined && o.start % PAGE === 0) throw new Error('a record never starts at a page boundary');
  return o.resume !== undefined ? o.start : o.start - (o.start % PAGE);
}

/**
 * Reads piece `c` of a range from `from` to its end with readSync, each read into a buffer from
 * `nextBuffer` (not the one fed last: the decoder may still hold it) and fed to `range`; a read
 * short of the end is followed by a read of the rest, and one of nothing ends the range there.
 */
function readPieceSync(fd: number, c: ChunkPlan, from: number, nextBuffer: () => Buffer, range: RangeDecoder): RangeEnd | undefined {
  const end = c.pos + c.want;
  for (let pos = from; pos < end; ) {
    const want = end - pos;
    const chunk = nextBuffer();
    const n = readSync(fd, chunk, 0, want, pos);
    if (n <= 0) return range.finish(readFailed(c.name, pos, n, want));
    pos += n;
    const ended = range.feed(n === chunk.length ? chunk : chunk.subarray(0, n));
    if (ended !== undefined) return ended;
  }
  return undefined;
}

/**
 * Reads one range; `onRecord` gets each record, which dies when it returns, and returns false to
 * stop reading there (the range then ends as at the end LSN).
 */
export function readRange(o: RangeReadOptions, onRecord: (r: WalRecord) => boolean | void): RangeEnd {
  const readFrom = startOf(o);
  const range = new RangeDecoder(o, readFrom, onRecord);
  let reads = 0;
  let fd = -1;
  let fdSegno = -1;
  try {
    for (const c of chunkPlan(o, readFrom)) {
      if (c.segno !== fdSegno) {
        if (fd >= 0) closeSync(fd);
        fd = -1;
        if (!existsSync(c.file)) return range.finish(missingFile(c.name));
        fd = openSync(c.file, 'r');
        fdSegno = c.segno;
      }
      const ended = readPieceSync(fd, c, c.pos, () => readBuffers[reads++ % 2]!, range);
      if (ended !== undefined) return ended;
      if (c.last && c.endsAtEndLsn) return range.finish('');
    }
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  // chunkPlan never ends: reading ends at a missing file at the latest.
  throw new Error('unreachable');
}

/** How many reads readRangeAhead keeps going on the thread pool ahead of the one decoded. */
const READS_AHEAD = 4;

interface ReadDone {
  readonly c: ChunkPlan;
  readonly buffer: Buffer;
  /** Bytes read, or -1 when the segment is missing; `error` when opening or reading failed otherwise. */
  readonly n: number;
  readonly error?: NodeJS.ErrnoException;
}

/**
 * readRange with the reads on libuv's thread pool, READS_AHEAD pieces ahead of the decoding: on a
 * machine with a core to spare, reading the files (the kernel copying from the page cache) overlaps
 * decoding and printing. Measured here: no gain while the files are hot in the page cache, ~5% once
 * the machine has let their pages go cold. Same records, same end: a piece that could not be read
 * ends the range only when decoding reaches it, as in readRange.
 */
export async function readRangeAhead(o: RangeReadOptions, onRecord: (r: WalRecord) => boolean | void): Promise<RangeEnd> {
  const readFrom = startOf(o);
  const range = new RangeDecoder(o, readFrom, onRecord);
  // The reads ahead, the piece being decoded and the one before it (the decoder's until the next push).
  const buffers = Array.from({ length: READS_AHEAD + 2 }, () => Buffer.allocUnsafe(READ_BYTES));
  const plan = chunkPlan(o, readFrom);
  /** Each segment's file, opened by the first read of it (on the thread pool too). */
  const files = new Map<number, Promise<number>>();
  const inFlight: Promise<ReadDone>[] = [];
  let issued = 0;
  const openFile = (c: ChunkPlan): Promise<number> => {
    let f = files.get(c.segno);
    if (f === undefined) {
      f = new Promise<number>((resolve, reject) => open(c.file, 'r', (e, fd) => (e ? reject(e) : resolve(fd))));
      // Handled where awaited; a missing file is not an unhandled rejection meanwhile.
      f.catch(() => {});
      files.set(c.segno, f);
    }
    return f;
  };
  const issue = (): void => {
    const c = plan.next().value;
    const buffer = buffers[issued++ % buffers.length]!;
    inFlight.push(
      openFile(c).then(
        (fd) =>
          c.want === 0
            ? { c, buffer, n: 0 }
            : new Promise<ReadDone>((resolve) => read(fd, buffer, 0, c.want, c.pos, (e, n) => resolve(e ? { c, buffer, n: 0, error: e } : { c, buffer, n }))),
        (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? { c, buffer, n: -1 } : { c, buffer, n: 0, error: e }),
      ),
    );
  };
  try {
    for (let i = 0; i < READS_AHEAD; i++) issue();
    for (;;) {
      const done = await inFlight.shift()!;
      issue();
      const c = done.c;
      if (done.error !== undefined) throw done.error;
      if (done.n < 0) return range.finish(missingFile(c.name));
      if (c.want > 0) {
        if (done.n === 0) return range.finish(readFailed(c.name, c.pos, 0, c.want));
        const ended = range.feed(done.n === done.buffer.length ? done.buffer : done.buffer.subarray(0, done.n));
        if (ended !== undefined) return ended;
        if (done.n < c.want) {
          // A short read: the rest read as readRange reads, to say where the file ended.
          const rest = readPieceSync(await files.get(c.segno)!, c, c.pos + done.n, () => Buffer.allocUnsafe(READ_BYTES), range);
          if (rest !== undefined) return rest;
        }
      }
      if (c.last && c.endsAtEndLsn) return range.finish('');
      if (c.last) {
        // Its last piece is decoded and no read of it is going on: a long dump keeps no file open.
        const fd = await files.get(c.segno)!;
        files.delete(c.segno);
        closeSync(fd);
      }
    }
  } finally {
    // Reads still going write into buffers and use files: wait for them before closing or reusing.
    await Promise.allSettled(inFlight);
    for (const f of files.values()) {
      const fd = await f.catch(() => -1);
      if (fd >= 0) closeSync(fd);
    }
  }
}
