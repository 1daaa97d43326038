/**
 * The WAL stream decoder: bytes in, complete records out.
 *
 * Fed WAL from any starting LSN in chunks of any size (segment files, a replication stream), it
 * checks every page header, reassembles records that cross pages and segments, skips the rest of a
 * segment after XLOG_SWITCH, drops a partial record whose continuation was overwritten
 * (XLP_FIRST_IS_OVERWRITE_CONTRECORD, seed 003), checks each record's prev-link and CRC, and yields
 * `WalRecord`s with their start and end LSN. It mirrors xlogreader.c's XLogDecodeNextRecord,
 * XLogReaderValidatePageHeader and XLogFindNextRecord, turned inside out: the reader pulls pages,
 * this decoder is pushed bytes and says when it needs more.
 *
 * Where valid WAL ends (a zeroed or recycled page, a bad CRC, a broken prev-link) `next()` throws a
 * `WalDecodeError` whose code says which and whose LSN says where; it keeps throwing that error.
 *
 * Pushed chunks are kept by reference (records are views into them): do not reuse a chunk's memory
 * while its records are in use. Once the next chunk is pushed the decoder itself holds nothing of it.
 * Positions are tracked as JavaScript numbers internally, exact up to 2^53 bytes (8 PiB) of WAL.
 */
import { crc32cRange, scanXLogRecords } from '../pg/crc32c.js';
import { readU16, readU32, readU64BigInt, readU64Number } from '../pg/bytes.js';
import { DEFAULT_WAL_SEGMENT_SIZE, formatLsn, lsn as toLsn, walFileName, type Lsn } from '../pg/lsn.js';
import {
  SIZE_OF_XLOG_LONG_PHD,
  SIZE_OF_XLOG_RECORD,
  SIZE_OF_XLOG_SHORT_PHD,
  XLOG_BLCKSZ,
  XLOG_PAGE_MAGIC,
  XLOG_RECORD_CRC_OFFSET,
  XLOG_RECORD_MAX_SIZE,
  XLP_ALL_FLAGS,
  XLP_FIRST_IS_CONTRECORD,
  XLP_FIRST_IS_OVERWRITE_CONTRECORD,
  XLP_LONG_HEADER,
  XLR_INFO_MASK,
} from '../pg/constants.js';
import { RM_MAX_BUILTIN_ID, RM_XLOG_ID, XLOG_SWITCH } from '../pg/rmgr-ids.js';
import { WalDecodeError, type WalErrorCode } from './errors.js';
import { decodeRecord, RecordRecycler, type WalRecord } from './record.js';

export interface WalDecoderOptions {
  /** The LSN of the first byte pushed. At a page boundary, continuation data there is skipped. */
  readonly startLsn: Lsn;
  readonly segmentSize?: number;
  /** When known, long page headers must carry it; otherwise the first long header's is learned. */
  readonly systemId?: bigint;
  /** The timeline of the segments, for file names in messages (pg_waldump's -t). */
  readonly timeline?: number;
  /** The record before `startLsn`, when known, so the first prev-link is checked exactly. */
  readonly prevLsn?: Lsn;
  /**
   * With `prevLsn`, when resuming where another decoder stopped (startLsn is then the next record's
   * start, inside a page that decoder read): the timeline of the last page header it read, so the
   * next page's is checked against it as one decoder would (XLogReaderValidatePageHeader).
   */
  readonly pageTli?: number;
  /**
   * The caller is done with each record (and all it made from it: views, descriptions) before it
   * asks for the next: the decoder then reassembles records that cross pages in one reused buffer
   * and makes each record out of the objects of the one before, rather than taking fresh memory.
   */
  readonly reuseMemory?: boolean;
  /**
   * With `reuseMemory`, for a caller that runs many decoders one after the other (a range of WAL
   * each): the memory they reuse, so each does not take its own (a 1 MiB reassembly buffer, zeroed,
   * was a tenth of a 2 MiB range's decoding). Decoders sharing it must not be used in turns.
   */
  readonly scratch?: WalDecoderScratch;
  /**
   * Check the headers and CRCs of the records of a chunk in one native call (see checkedAhead)
   * rather than one record at a time: on where strata's CRC addon is built, off otherwise. For tests
   * and benchmarks.
   */
  readonly crcBatches?: boolean;
}

/** The page header fields the decoder uses (XLogPageHeaderData / XLogLongPageHeaderData). */
export interface PageHeader {
  readonly magic: number;
  readonly info: number;
  readonly tli: number;
  readonly pageAddr: number;
  readonly remLen: number;
  readonly size: number;
  readonly systemId?: bigint;
}

const enum State {
  /** At the start position: skip continuation data of a record that began before it. */
  Start,
  /** Expecting the first byte of a record at `pos`. */
  Record,
  /** Reassembling a record that crosses pages. */
  Continuation,
  /** Discarding bytes up to `skipTo` (the rest of a segment after XLOG_SWITCH). */
  Skip,
}

const EMPTY: Uint8Array = new Uint8Array(0);
const PAGE = XLOG_BLCKSZ;
/** The size of the slabs that records crossing pages are reassembled in. */
const ASSEMBLY_SLAB_BYTES = 1 << 20;
/** How many records one native call checks at most (see checkedAhead). */
const CRC_BATCH_RECORDS_MAX = 1024;

function maxAlign(n: number): number {
  return n + ((8 - (n % 8)) % 8);
}

/**
 * Where `at` (a WAL position, an integer below 2^53) lies in its page: `at % PAGE` without the
 * floating-point remainder V8 computes for `%` on numbers past 2^31 (~9 ns, a call to fmod, once
 * or twice per record). ToInt32 keeps the low 32 bits of any such integer, so the low 13 are exact.
 */
function pageOffsetOf(at: number): number {
  return at & (PAGE - 1);
}

/** `%04X`, as page header messages print magic numbers and info bits. */
function hex4(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, '0');
}

/** What decoders that reuse memory reuse (see WalDecoderOptions.scratch). */
export class WalDecoderScratch {
  /** The buffer records that cross pages are reassembled in. */
  slab: Uint8Array = EMPTY;
  readonly recycler = new RecordRecycler();
}

export class WalDecoder {
  private readonly segmentSize: number;
  private readonly timeline: number;
  private readonly reuseMemory: boolean;
  private readonly recycler: RecordRecycler | undefined;
  private readonly scratch: WalDecoderScratch | undefined;
  private systemId: bigint | undefined;

  private buf: Uint8Array = EMPTY;
  /** LSN of buf[0]. */
  private bufStart: number;
  /** LSN just past the last pushed byte. */
  private bufEnd: number;
  /** LSN of the next byte to consume. */
  private pos: number;

  private state: State = State.Start;
  private skipTo = 0;
  private error: WalDecodeError | undefined;
  private finished = false;

  /** The last record returned (DecodeRecPtr), for the prev-link check; -1 before the first. */
  private prevRecord: number;
  private latestPagePtr = 0;
  private latestPageTli = 0;

  // Reassembly of a record that crosses pages.
  private asm: Uint8Array = EMPTY;
  /** Where reassembly buffers are carved from (see assemblyBuffer); `slabUsed` bytes are taken. */
  private slab: Uint8Array = EMPTY;
  private slabUsed = 0;
  private asmLsn = 0;
  private asmGot = 0;
  private asmHeaderChecked = false;
  private asmPageLeft = 0;
  private asmRemLen = 0;

  // Records of `buf` checked ahead, header and CRC, in one native call (see checkedAhead).
  private readonly crcBatches: boolean;
  /** Pairs (offset in buf, xl_tot_len) of the records scanned ahead. */
  private readonly crcRecords = new Int32Array(CRC_BATCH_RECORDS_MAX * 2);
  /** How many of crcRecords, from the first, have a correct CRC; reset whenever buf changes. */
  private crcGood = 0;
  /** The entry of crcRecords the next record should be. */
  private crcNext = 0;

  /** Records whose continuation was overwritten (XLOG_OVERWRITE_CONTRECORD), in order. */
  readonly overwrittenRecords: Lsn[] = [];

  constructor(options: WalDecoderOptions) {
    this.segmentSize = options.segmentSize ?? DEFAULT_WAL_SEGMENT_SIZE;
    this.timeline = options.timeline ?? 1;
    this.systemId = options.systemId;
    this.reuseMemory = options.reuseMemory === true;
    this.scratch = this.reuseMemory ? (options.scratch ?? new WalDecoderScratch()) : undefined;
    this.recycler = this.scratch?.recycler;
    this.crcBatches = scanXLogRecords !== undefined && options.crcBatches !== false;
    const start = Number(options.startLsn);
    if (!Number.isSafeInteger(start)) throw new RangeError(`Cannot decode from ${formatLsn(options.startLsn)}: strata reads WAL below 2^53`);
    if (start % PAGE !== 0 && start % 8 !== 0)
      throw new RangeError(`Cannot decode from ${formatLsn(options.startLsn)}: a record start is MAXALIGNed`);
    this.bufStart = this.bufEnd = this.pos = start;
    this.prevRecord = options.prevLsn === undefined ? -1 : Number(options.prevLsn);
    if (options.pageTli !== undefined) {
      this.latestPageTli = options.pageTli;
      this.latestPagePtr = start - (start % PAGE);
    }
  }

  /** The timeline of the last page header read (0 before the first): see `pageTli`. */
  get pageTimeline(): number {
    return this.latestPageTli;
  }

  /** The system identifier given or learned from the first long page header, if any. */
  get systemIdentifier(): bigint | undefined {
    return this.systemId;
  }

  /** The LSN of the next byte the decoder will look at (the next record's start between records). */
  get position(): Lsn {
    return toLsn(this.pos);
  }

  /** The LSN just past the last byte pushed. */
  get receivedUpTo(): Lsn {
    return toLsn(this.bufEnd);
  }

  /** Appends the next bytes of the stream. */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    // A plain Uint8Array view: a Buffer's subarray() costs several times more, once per record.
    const chunk = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
    if (this.finished) throw new Error('Cannot push WAL after finish()');
    // Checked-ahead records are offsets into the buf being replaced (and the caller may now reuse
    // a chunk pushed before): forget them.
    this.crcGood = 0;
    this.crcNext = 0;
    const chunkStart = this.bufEnd;
    const chunkEnd = chunkStart + chunk.length;
    if (this.pos >= this.bufEnd) {
      const skip = this.pos - chunkStart;
      this.buf = skip >= chunk.length ? EMPTY : skip > 0 ? chunk.subarray(skip) : chunk;
      this.bufStart = Math.min(this.pos, chunkEnd);
    } else {
      const left = this.buf.subarray(this.pos - this.bufStart);
      const joined = new Uint8Array(left.length + chunk.length);
      joined.set(left, 0);
      joined.set(chunk, left.length);
      this.buf = joined;
      this.bufStart = this.pos;
    }
    this.bufEnd = chunkEnd;
  }

  /** Says no more bytes will come; a record left incomplete is then an error. */
  finish(): void {
    this.finished = true;
  }

  /**
   * The next complete record, or undefined when more bytes are needed (or, after `finish()`, when the
   * stream ended cleanly between records). Throws a `WalDecodeError` where valid WAL ends.
   */
  next(): WalRecord | undefined {
    if (this.error !== undefined) throw this.error;
    try {
      const record = this.step();
      if (record === undefined && this.finished && this.inRecord()) {
        const at = this.state === State.Continuation ? this.asmLsn : this.pos;
        this.fail('INCOMPLETE', `WAL ends in the middle of a record at ${formatLsn(BigInt(at))}`, at);
      }
      return record;
    } catch (e) {
      if (e instanceof WalDecodeError) this.error = e;
      throw e;
    }
  }

  /**
   * `next()` for a loop that stops where valid WAL ends: undefined both when more bytes are needed
   * and when decoding has ended, which `endError` then says (errors of any other kind still throw).
   */
  nextOrEnd(): WalRecord | undefined {
    try {
      return this.next();
    } catch (e) {
      if (e instanceof WalDecodeError) return undefined;
      throw e;
    }
  }

  /** The error that ended decoding, if any. */
  get endError(): WalDecodeError | undefined {
    return this.error;
  }

  /** Iterates the records decodable from the bytes pushed so far. */
  *records(): Generator<WalRecord> {
    for (;;) {
      const r = this.next();
      if (r === undefined) return;
      yield r;
    }
  }

  private inRecord(): boolean {
    if (this.state === State.Continuation) return true;
    if (this.state !== State.Record) return false;
    // Bytes of a record that has begun but not arrived in full.
    return this.bufEnd > this.pos && pageOffsetOf(this.pos) !== 0;
  }

  private step(): WalRecord | undefined {
    for (;;) {
      switch (this.state) {
        case State.Skip: {
          // emit() already moved pos to skipTo; push() drops the bytes before it as they arrive.
          if (this.bufEnd < this.skipTo) return undefined;
          this.state = State.Record;
          continue;
        }
        case State.Start: {
          if (pageOffsetOf(this.pos) !== 0) {
            this.state = State.Record;
            continue;
          }
          const h = this.readPageHeader();
          if (h === undefined) return undefined;
          if ((h.info & XLP_FIRST_IS_CONTRECORD) !== 0) {
            // XLogFindNextRecord: the page starts with the tail of an earlier record.
            if (h.remLen >= PAGE - h.size) {
              this.pos += PAGE;
              continue;
            }
            this.pos += h.size + maxAlign(h.remLen);
          } else {
            this.pos += h.size;
          }
          this.state = State.Record;
          continue;
        }
        case State.Record: {
          const r = this.readRecordStart();
          if (r === null) continue;
          return r;
        }
        case State.Continuation: {
          const r = this.readContinuation();
          if (r === null) continue;
          return r;
        }
      }
    }
  }

  /** Returns a record, undefined when more bytes are needed, or null to run the state machine again. */
  private readRecordStart(): WalRecord | undefined | null {
    let pageOff = pageOffsetOf(this.pos);
    if (pageOff === 0) {
      const h = this.readPageHeader();
      if (h === undefined) return undefined;
      this.pos += h.size;
      pageOff = h.size;
      if ((h.info & XLP_FIRST_IS_CONTRECORD) !== 0)
        this.fail('CONTRECORD_REQUESTED', `contrecord is requested by ${formatLsn(BigInt(this.pos))}`, this.pos);
    }
    const fitsHeader = pageOff <= PAGE - SIZE_OF_XLOG_RECORD;
    const avail = this.bufEnd - this.pos;
    if (avail < (fitsHeader ? SIZE_OF_XLOG_RECORD : 4)) return undefined;
    const o = this.pos - this.bufStart;
    const buf = this.buf;
    const totLen = readU32(buf, o);
    const onPage = PAGE - pageOff;
    // Most records lie whole on their page, and were checked ahead, header and CRC, by one native
    // call for many (see checkedAhead); any other goes through every check here.
    const wholeOnPage = fitsHeader && totLen >= SIZE_OF_XLOG_RECORD && totLen <= onPage && totLen <= avail;
    if (wholeOnPage && this.checkedAhead(o, totLen)) {
      const start = this.pos;
      this.pos = start + maxAlign(totLen);
      return this.emit(buf, o, start, this.pos);
    }
    if (fitsHeader) this.checkRecordHeader(buf, o, this.pos);
    else if (totLen < SIZE_OF_XLOG_RECORD) this.failLength(this.pos, totLen);
    if (totLen > XLOG_RECORD_MAX_SIZE)
      this.fail('RECORD_TOO_LONG', `record length ${totLen} at ${formatLsn(BigInt(this.pos))} too long`, this.pos);

    if (totLen <= onPage) {
      if (avail < totLen) return undefined;
      const start = this.pos;
      this.checkCrc(buf, o, totLen, start);
      this.pos = start + maxAlign(totLen);
      return this.emit(buf, o, start, this.pos);
    }
    // The record continues on the next page(s).
    if (avail < onPage) return undefined;
    this.asm = this.assemblyBuffer(totLen);
    this.asm.set(buf.subarray(o, o + onPage), 0);
    this.asmLsn = this.pos;
    this.asmGot = onPage;
    this.asmHeaderChecked = fitsHeader;
    this.asmPageLeft = 0;
    this.pos += onPage;
    this.state = State.Continuation;
    return null;
  }

  /**
   * Room for a record that crosses pages. Each record gets bytes of its own (records handed out are
   * views into them), carved from a shared slab: one ArrayBuffer per record made these records cost
   * ~1 µs each, a tenth of all decoding on pgbench WAL. A slab is never reused, only dropped when full.
   */
  private assemblyBuffer(totLen: number): Uint8Array {
    const scratch = this.scratch;
    if (scratch !== undefined) {
      if (scratch.slab.length < totLen) scratch.slab = new Uint8Array(Math.max(totLen, ASSEMBLY_SLAB_BYTES));
      return scratch.slab.subarray(0, totLen);
    }
    if (totLen > ASSEMBLY_SLAB_BYTES / 4) return new Uint8Array(totLen);
    if (this.slabUsed + totLen > this.slab.length) {
      this.slab = new Uint8Array(ASSEMBLY_SLAB_BYTES);
      this.slabUsed = 0;
    }
    const start = this.slabUsed;
    // Keep every record's start 8-aligned in the slab, as records are in WAL.
    this.slabUsed = start + maxAlign(totLen);
    return this.slab.subarray(start, start + totLen);
  }

  private readContinuation(): WalRecord | undefined | null {
    const totLen = this.asm.length;
    if (this.asmPageLeft === 0 && pageOffsetOf(this.pos) === 0) {
      const h = this.readPageHeader();
      if (h === undefined) return undefined;
      if ((h.info & XLP_FIRST_IS_OVERWRITE_CONTRECORD) !== 0) {
        // The rest of this record was never written; what follows replaces it (seed 003).
        this.overwrittenRecords.push(toLsn(this.asmLsn));
        this.asm = EMPTY;
        this.state = State.Record;
        return null;
      }
      if ((h.info & XLP_FIRST_IS_CONTRECORD) === 0)
        this.fail('MISSING_CONTRECORD', `there is no contrecord flag at ${formatLsn(BigInt(this.asmLsn))}`, this.asmLsn);
      if (h.remLen === 0 || totLen !== h.remLen + this.asmGot)
        this.fail(
          'INVALID_CONTRECORD_LENGTH',
          `invalid contrecord length ${h.remLen} (expected ${totLen - this.asmGot}) at ${formatLsn(BigInt(this.asmLsn))}`,
          this.asmLsn,
        );
      this.pos += h.size;
      this.asmRemLen = h.remLen;
      this.asmPageLeft = Math.min(h.remLen, PAGE - h.size);
    }
    const avail = this.bufEnd - this.pos;
    const n = Math.min(avail, this.asmPageLeft);
    if (n > 0) {
      const o = this.pos - this.bufStart;
      this.asm.set(this.buf.subarray(o, o + n), this.asmGot);
      this.asmGot += n;
      this.asmPageLeft -= n;
      this.pos += n;
    }
    if (this.asmPageLeft > 0) return undefined;
    if (!this.asmHeaderChecked) {
      this.checkRecordHeader(this.asm, 0, this.asmLsn);
      this.asmHeaderChecked = true;
    }
    if (this.asmGot < totLen) return null;
    const raw = this.asm;
    const start = this.asmLsn;
    this.asm = EMPTY;
    this.checkCrc(raw, 0, totLen, start);
    // NextRecPtr = targetPagePtr + pageHeaderSize + MAXALIGN(xlp_rem_len): pos is just past the
    // last piece, so only the alignment padding remains.
    this.pos += maxAlign(this.asmRemLen) - this.asmRemLen;
    return this.emit(raw, 0, start, this.pos);
  }

  /** Hands out the record at `bytes[o]` (the chunk it lies in, or its reassembly buffer). */
  private emit(bytes: Uint8Array, o: number, start: number, end: number): WalRecord {
    let next = end;
    const isSwitch = bytes[o + 17] === RM_XLOG_ID && (bytes[o + 16]! & ~XLR_INFO_MASK) === XLOG_SWITCH;
    if (isSwitch) {
      // The rest of the segment is unused: the next record is at the next segment's start.
      next = Math.ceil(end / this.segmentSize) * this.segmentSize;
      this.skipTo = next;
      this.pos = next;
      this.state = State.Skip;
    } else {
      this.state = State.Record;
    }
    this.prevRecord = start;
    return decodeRecord(bytes, start, next, o, this.recycler);
  }

  /** ValidXLogRecordHeader */
  private checkRecordHeader(b: Uint8Array, o: number, at: number): void {
    const totLen = readU32(b, o);
    if (totLen < SIZE_OF_XLOG_RECORD) this.failLength(at, totLen);
    const rmid = b[o + 17]!;
    if (rmid > RM_MAX_BUILTIN_ID && rmid < 128)
      this.fail('INVALID_RMGR', `invalid resource manager ID ${rmid} at ${formatLsn(BigInt(at))}`, at);
    const prev = readU64Number(b, o + 8);
    const ok = this.prevRecord < 0 ? prev < at : prev === this.prevRecord;
    if (!ok)
      this.fail(
        'BAD_PREV_LINK',
        `record with incorrect prev-link ${formatLsn(readU64BigInt(b, o + 8))} at ${formatLsn(BigInt(at))}`,
        at,
      );
  }

  /** ValidXLogRecord: CRC over the body, then over the header up to xl_crc, of `b[o, o + totLen)`. */
  private checkCrc(b: Uint8Array, o: number, totLen: number, at: number): void {
    let crc = crc32cRange(b, o + SIZE_OF_XLOG_RECORD, o + totLen);
    crc = crc32cRange(b, o, o + XLOG_RECORD_CRC_OFFSET, crc);
    if (crc !== readU32(b, o + XLOG_RECORD_CRC_OFFSET))
      this.fail('BAD_CRC', `incorrect resource manager data checksum in record at ${formatLsn(BigInt(at))}`, at);
  }

  /**
   * Whether the record at buf[o] (xl_tot_len `totLen`, all on one page, all in buf) was found
   * valid ahead: its header as checkRecordHeader checks it (resource manager, prev-link) and its
   * CRC as checkCrc does. If it is not the next record checked, has the records from it on checked
   * in one native call (scanXLogRecords: it walks them by their lengths and the page headers, a
   * guess made without the page header checks, and stops before a record that fails). A record is
   * only trusted when it is reached at the offset and length guessed, which the page headers read
   * on the way here confirm; one that fails (or was not scanned) goes through every check in
   * readRecordStart, which reports it as always: valid WAL ends at the same record with the same error.
   */
  private checkedAhead(o: number, totLen: number): boolean {
    if (!this.crcBatches) return false;
    const i = this.crcNext;
    const recs = this.crcRecords;
    if (i < this.crcGood && recs[2 * i] === o && recs[2 * i + 1] === totLen) {
      this.crcNext = i + 1;
      return true;
    }
    this.crcNext = 0;
    this.crcGood = scanXLogRecords!(this.buf, o, this.bufStart, this.prevRecord, recs);
    if (this.crcGood === 0 || recs[0] !== o || recs[1] !== totLen) return false;
    this.crcNext = 1;
    return true;
  }

  private failLength(at: number, got: number): never {
    this.fail(
      'INVALID_RECORD_LENGTH',
      `invalid record length at ${formatLsn(BigInt(at))}: wanted ${SIZE_OF_XLOG_RECORD}, got ${got}`,
      at,
    );
  }

  private fail(code: WalErrorCode, message: string, at: number, segOffset?: number): never {
    throw new WalDecodeError(code, message, toLsn(at), segOffset);
  }

  /** "in log segment NAME, offset N", where a page header check failed. */
  private segmentPlace(at: number, segOffset: number): string {
    return `in log segment ${walFileName(this.timeline, BigInt(Math.floor(at / this.segmentSize)), this.segmentSize)}, offset ${segOffset}`;
  }

  /**
   * Reads and checks the page header at `pos` (a page boundary); undefined when its bytes have not
   * all arrived. Mirrors XLogReaderValidatePageHeader.
   */
  private readPageHeader(): PageHeader | undefined {
    const avail = this.bufEnd - this.pos;
    if (avail < SIZE_OF_XLOG_SHORT_PHD) return undefined;
    const b = this.buf;
    const o = this.pos - this.bufStart;
    const info = readU16(b, o + 2);
    const long = (info & XLP_LONG_HEADER) !== 0;
    if (long && avail < SIZE_OF_XLOG_LONG_PHD) return undefined;
    const h: PageHeader = {
      magic: readU16(b, o),
      info,
      tli: readU32(b, o + 4),
      pageAddr: readU64Number(b, o + 8),
      remLen: readU32(b, o + 16),
      size: long ? SIZE_OF_XLOG_LONG_PHD : SIZE_OF_XLOG_SHORT_PHD,
    };
    const at = this.pos;
    const segOffset = at % this.segmentSize;
    if (h.magic !== XLOG_PAGE_MAGIC) this.fail('INVALID_MAGIC', `invalid magic number ${hex4(h.magic)} ${this.segmentPlace(at, segOffset)}`, at, segOffset);
    if ((info & ~XLP_ALL_FLAGS) !== 0) this.fail('INVALID_INFO_BITS', `invalid info bits ${hex4(info)} ${this.segmentPlace(at, segOffset)}`, at, segOffset);
    if (long) {
      const sysid = readU64BigInt(b, o + 24);
      const segSize = readU32(b, o + 32);
      const blcksz = readU32(b, o + 36);
      if (this.systemId !== undefined && sysid !== this.systemId)
        this.fail(
          'SYSTEM_ID_MISMATCH',
          `WAL file is from different database system: WAL file database system identifier is ${sysid}, pg_control database system identifier is ${this.systemId}`,
          at,
          segOffset,
        );
      if (segSize !== this.segmentSize)
        this.fail('SEGMENT_SIZE_MISMATCH', 'WAL file is from different database system: incorrect segment size in page header', at, segOffset);
      if (blcksz !== XLOG_BLCKSZ)
        this.fail('BLOCK_SIZE_MISMATCH', 'WAL file is from different database system: incorrect XLOG_BLCKSZ in page header', at, segOffset);
      this.systemId = sysid;
    } else if (segOffset === 0) {
      this.fail('INVALID_INFO_BITS', `invalid info bits ${hex4(info)} ${this.segmentPlace(at, segOffset)}`, at, segOffset);
    }
    if (h.pageAddr !== at)
      this.fail('UNEXPECTED_PAGEADDR', `unexpected pageaddr ${formatLsn(readU64BigInt(b, o + 8))} ${this.segmentPlace(at, segOffset)}`, at, segOffset);
    if (at > this.latestPagePtr && h.tli < this.latestPageTli)
      this.fail('OUT_OF_SEQUENCE_TIMELINE', `out-of-sequence timeline ID ${h.tli} (after ${this.latestPageTli}) ${this.segmentPlace(at, segOffset)}`, at, segOffset);
    this.latestPagePtr = at;
    this.latestPageTli = h.tli;
    return h;
  }
}

/** Decodes every record in `bytes`, which start at `startLsn`; stops at the end of valid WAL. */
export function decodeAll(bytes: Uint8Array, options: WalDecoderOptions): { records: WalRecord[]; end: WalDecodeError | undefined } {
  const d = new WalDecoder(options);
  d.push(bytes);
  d.finish();
  const records: WalRecord[] = [];
  for (let r = d.nextOrEnd(); r !== undefined; r = d.nextOrEnd()) records.push(r);
  return { records, end: d.endError };
}
