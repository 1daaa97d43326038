/**
 * Layer files: the repository's immutable on-disk unit (seed 002, "layered storage"). A delta layer
 * holds every value of a key range over an LSN range; an image layer holds one image per key of a
 * key range at one LSN. Both share this format; the header's kind tells them apart. A file is
 * written once, front to back, and never changed; the same bytes can later move to object storage.
 *
 * ```
 *  offset 0                                                        HEADER_BYTES = 128
 *  +------------------------------------------------------------+
 *  | header                                                     |
 *  |   0  magic "STRATALY"                8 bytes               |
 *  |   8  format version                  u16 LE (1)            |
 *  |  10  kind                            u8 (1 delta, 2 image) |
 *  |  11  reserved                        u8 (0)                |
 *  |  12  key range start                 18 bytes              |
 *  |  30  key range end (exclusive)       18 bytes              |
 *  |  48  LSN range start                 u64 LE                |
 *  |  56  LSN range end (exclusive)       u64 LE                |
 *  |  64  summary offset                  u64 LE                |
 *  |  72  summary bytes                   u32 LE                |
 *  |  76  index block count               u32 LE                |
 *  |  80  entry count                     u64 LE                |
 *  |  88  file bytes                      u64 LE                |
 *  |  96  reserved                        28 bytes (0)          |
 *  | 124  CRC-32C of bytes 0..123         u32 LE                |
 *  +------------------------------------------------------------+
 *  | values and index blocks, interleaved as they were written  |
 *  |   value: its stored bytes (LZ4 block when the entry's      |
 *  |          flags say compressed)                             |
 *  |   index block:                                             |
 *  |      entry count n              u16 LE                     |
 *  |      reserved                   u16 LE (0)                 |
 *  |      n entries of ENTRY_BYTES = 43, sorted by (key, LSN):  |
 *  |         key 18 | LSN u64 | value offset u64 |              |
 *  |         stored length u32 | value CRC-32C u32 | flags u8   |
 *  |      CRC-32C of the block's bytes before it  u32 LE        |
 *  +------------------------------------------------------------+
 *  | summary: one line per index block, in order                |
 *  |      first key 18 | first LSN u64 | last key 18 |          |
 *  |      last LSN u64 | block offset u64 | block bytes u32     |
 *  |      (SUMMARY_LINE_BYTES = 64)                             |
 *  |   CRC-32C of the lines                u32 LE               |
 *  +------------------------------------------------------------+
 * ```
 *
 * A lookup reads the header and summary once (when the file is opened), then one index block (two
 * when a key's history crosses a block boundary) and the values it needs: a few blocks, never the
 * file. Index blocks are written as they fill, so a writer holds one block in memory however large
 * the layer. Every part has a checksum and is checked right after it is read: a bit flip fails the
 * reads that need that part, with the file's name, and nothing else. The header's file size catches
 * truncation when the file is opened.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readSync, renameSync, unlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { compressSync as lz4Compress, uncompressSync as lz4Uncompress } from 'lz4-napi';
import { crc32c, crc32cRange } from '../pg/crc32c.js';
import { AppendWriter, writeAllAt } from './append-writer.js';
import { fsyncDirectory, TEMP_SUFFIX } from './durable.js';
import { RepositoryError } from './errors.js';
import { KEY_BYTES, KEY_HEX_LENGTH, keyFromBytes, keyToBytes, type Key, type KeyRange } from './key.js';
import { VALUE_COMPRESSED, VALUE_KIND_IMAGE, VALUE_KIND_MASK, valueStartsHistory } from './value.js';

export const LAYER_MAGIC = 'STRATALY';
export const LAYER_FORMAT_VERSION = 1;
export const HEADER_BYTES = 128;
export const ENTRY_BYTES = 43;
export const SUMMARY_LINE_BYTES = 64;
/** Entries per index block: an index block is at most ~8 KiB, one read. */
export const INDEX_BLOCK_ENTRIES_MAX = 190;
const INDEX_BLOCK_OVERHEAD = 4 + 4;
/** Images at least this long are offered to LZ4; smaller ones are not worth a native call. */
const COMPRESS_BYTES_MIN = 256;
/** A lookup reads a key's adjacent values in one pread when they span at most this much; more, one by one. */
const COALESCED_READ_BYTES_MAX = 1 << 20;

export const enum LayerKind {
  Delta = 1,
  Image = 2,
}

export interface LayerDescriptor {
  readonly kind: LayerKind;
  readonly keys: KeyRange;
  /** [start, end): a delta's values have start <= LSN < end; an image layer's LSN is start, end = start + 1. */
  readonly lsnStart: number;
  readonly lsnEnd: number;
}

/** The file name that says both ranges: `KEYSTART-KEYEND__LSNSTART-LSNEND` (delta) or `KEYSTART-KEYEND__LSN` (image). */
export function layerFileName(d: LayerDescriptor): string {
  const lsn = (n: number) => n.toString(16).toUpperCase().padStart(16, '0');
  const keys = `${d.keys.start}-${d.keys.end}`;
  return d.kind === LayerKind.Delta ? `${keys}__${lsn(d.lsnStart)}-${lsn(d.lsnEnd)}` : `${keys}__${lsn(d.lsnStart)}`;
}

const LAYER_NAME = /^([0-9a-f]{36})-([0-9a-f]{36})__([0-9A-F]{16})(?:-([0-9A-F]{16}))?$/;

/** The descriptor a layer file's name states, or undefined if it is not a layer file name. */
export function parseLayerFileName(name: string): LayerDescriptor | undefined {
  const m = LAYER_NAME.exec(name);
  if (m === null) return undefined;
  const lsnStart = parseInt(m[3] as string, 16);
  const keys = { start: m[1] as Key, end: m[2] as Key };
  if (m[4] === undefined) return { kind: LayerKind.Image, keys, lsnStart, lsnEnd: lsnStart + 1 };
  return { kind: LayerKind.Delta, keys, lsnStart, lsnEnd: parseInt(m[4], 16) };
}

function corrupt(path: string, what: string): RepositoryError {
  return new RepositoryError('CORRUPT_LAYER', `Cannot read layer file ${path}: ${what}`);
}

/** One index entry: where a value is and what it is. */
export interface LayerEntry {
  readonly key: Key;
  readonly lsn: number;
  readonly offset: number;
  readonly length: number;
  readonly crc: number;
  readonly flags: number;
}

// ---- writing ----

/**
 * Writes one layer file front to back. Values must come in (key, LSN) order, inside the
 * descriptor's ranges. `finish` back-patches the header, fsyncs, and renames the file into place.
 */
export class LayerWriter {
  private readonly fd: number;
  private readonly temp: string;
  private readonly out: AppendWriter;
  private block = Buffer.alloc(INDEX_BLOCK_OVERHEAD + INDEX_BLOCK_ENTRIES_MAX * ENTRY_BYTES);
  private blockEntries = 0;
  private readonly keyBytes = Buffer.alloc(KEY_BYTES);
  private keyBytesOf: Key | undefined;
  private blockFirst: { key: Key; lsn: number } | undefined;
  private last: { key: Key; lsn: number } | undefined;
  private readonly summary: Buffer[] = [];
  private entryCount = 0;
  private first: Key | undefined;
  private done = false;

  /** Whether images are offered to LZ4: in delta layers always, in image layers when the writer is told (imageLayerCompression). */
  private readonly compressImages: boolean;

  /**
   * A new file in `dir`. Its name comes from the descriptor at `finish`, which may then narrow the
   * key range to the keys written (compaction cuts files where their size says, not in advance).
   */
  constructor(
    readonly dir: string,
    private descriptor: LayerDescriptor,
    options: { readonly compressImages?: boolean } = {},
  ) {
    this.compressImages = options.compressImages ?? descriptor.kind === LayerKind.Delta;
    // The thread's id too: the flush worker (layer-flush.ts) writes layer files with its own copy of
    // this module, whose counter also starts at 0; with the pid alone, its file and one compaction
    // was writing in the same folder had the same name, and one writer's rename found no file.
    this.temp = join(dir, `layer-${process.pid}-${threadId}-${nextTempId++}${TEMP_SUFFIX}`);
    this.fd = openSync(this.temp, 'w');
    this.out = new AppendWriter(this.fd, HEADER_BYTES);
  }

  get firstKey(): Key | undefined {
    return this.first;
  }

  get lastKey(): Key | undefined {
    return this.last?.key;
  }

  get entries(): number {
    return this.entryCount;
  }

  /** Bytes written so far (values and index), for callers that cut layers at a size. */
  get bytes(): number {
    return this.position;
  }

  /**
   * Adds a value. Images in a delta layer (full-page images of records, an import's pages) are
   * LZ4-compressed when that saves at least an eighth; an image layer's values are stored as they
   * are unless the writer was told to compress them (TimelineConfig.imageLayerCompression), as Neon
   * stores them by default: a base backup copies runs of them from the file into its output with
   * one read (LayerFile.valueRuns), and a GetPage that reads one decompresses nothing. Compressed
   * values (files from before, or written so) read as ever: each value's flags say which it is.
   */
  add(key: Key, lsn: number, flags: number, bytes: Uint8Array): void {
    let stored = bytes;
    let storedFlags = flags & ~VALUE_COMPRESSED;
    if (this.compressImages && (flags & VALUE_KIND_MASK) === VALUE_KIND_IMAGE && bytes.length >= COMPRESS_BYTES_MIN) {
      const packed = lz4Compress(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
      if (packed.length <= bytes.length - (bytes.length >> 3)) {
        stored = packed;
        storedFlags |= VALUE_COMPRESSED;
      }
    }
    this.addStored(key, lsn, storedFlags, stored, crc32c(stored));
  }

  /** Adds a value in its stored form (as read from another layer file), with its checksum. */
  addStored(key: Key, lsn: number, flags: number, stored: Uint8Array, crc: number): void {
    if (this.done) throw new Error('assert: LayerWriter.addStored after finish');
    const d = this.descriptor;
    if (key < d.keys.start || key >= d.keys.end || lsn < d.lsnStart || lsn >= d.lsnEnd)
      throw new Error(`assert: value (${key}, ${lsn}) outside layer ranges ${layerFileName(d)}`);
    if (this.last !== undefined && (key < this.last.key || (key === this.last.key && lsn < this.last.lsn)))
      throw new Error(`assert: value (${key}, ${lsn}) added after (${this.last.key}, ${this.last.lsn})`);
    const offset = this.position;
    this.write(stored);
    const e = INDEX_BLOCK_OVERHEAD - 4 + this.blockEntries * ENTRY_BYTES;
    // A key's values come one after another: its bytes are parsed from hex once, then copied.
    if (key !== this.keyBytesOf) {
      keyToBytes(key, this.keyBytes, 0);
      this.keyBytesOf = key;
    }
    this.block.set(this.keyBytes, e);
    writeU64(this.block, lsn, e + 18);
    writeU64(this.block, offset, e + 26);
    this.block.writeUInt32LE(stored.length, e + 34);
    this.block.writeUInt32LE(crc >>> 0, e + 38);
    this.block[e + 42] = flags;
    this.blockFirst ??= { key, lsn };
    this.first ??= key;
    this.blockEntries++;
    this.entryCount++;
    this.last = { key, lsn };
    if (this.blockEntries === INDEX_BLOCK_ENTRIES_MAX) this.writeIndexBlock();
  }

  private write(bytes: Uint8Array): void {
    this.out.append(bytes);
  }

  private get position(): number {
    return this.out.position;
  }

  private writeIndexBlock(): void {
    if (this.blockEntries === 0 || this.blockFirst === undefined || this.last === undefined) return;
    const n = this.blockEntries;
    this.block.writeUInt16LE(n, 0);
    this.block.writeUInt16LE(0, 2);
    const crcAt = 4 + n * ENTRY_BYTES;
    this.block.writeUInt32LE(crc32cRange(this.block, 0, crcAt), crcAt);
    const blockBytes = crcAt + 4;
    const line = Buffer.alloc(SUMMARY_LINE_BYTES);
    keyToBytes(this.blockFirst.key, line, 0);
    writeU64(line, this.blockFirst.lsn, 18);
    keyToBytes(this.last.key, line, 26);
    writeU64(line, this.last.lsn, 44);
    writeU64(line, this.position, 52);
    line.writeUInt32LE(blockBytes, 60);
    this.summary.push(line);
    this.write(this.block.subarray(0, blockBytes));
    this.blockEntries = 0;
    this.blockFirst = undefined;
  }

  /**
   * Completes the file (index, summary, header), fsyncs it, renames it to its layer name, fsyncs
   * the folder, and returns its path. `keyEnd` narrows the key range's end to the keys written.
   */
  finish(keyEnd?: Key): string {
    if (keyEnd !== undefined) {
      if (this.last !== undefined && keyEnd <= this.last.key) throw new Error(`assert: layer key end ${keyEnd} at or below its last key ${this.last.key}`);
      this.descriptor = { ...this.descriptor, keys: { start: this.descriptor.keys.start, end: keyEnd } };
    }
    this.writeIndexBlock();
    const summaryOffset = this.position;
    const lines = Buffer.concat(this.summary);
    const crc = Buffer.alloc(4);
    crc.writeUInt32LE(crc32c(lines), 0);
    this.write(lines);
    this.write(crc);
    this.out.flush();
    const header = Buffer.alloc(HEADER_BYTES);
    header.write(LAYER_MAGIC, 0, 'latin1');
    header.writeUInt16LE(LAYER_FORMAT_VERSION, 8);
    header[10] = this.descriptor.kind;
    keyToBytes(this.descriptor.keys.start, header, 12);
    keyToBytes(this.descriptor.keys.end, header, 30);
    header.writeBigUInt64LE(BigInt(this.descriptor.lsnStart), 48);
    header.writeBigUInt64LE(BigInt(this.descriptor.lsnEnd), 56);
    header.writeBigUInt64LE(BigInt(summaryOffset), 64);
    header.writeUInt32LE(lines.length + 4, 72);
    header.writeUInt32LE(this.summary.length, 76);
    header.writeBigUInt64LE(BigInt(this.entryCount), 80);
    header.writeBigUInt64LE(BigInt(this.position), 88);
    header.writeUInt32LE(crc32cRange(header, 0, 124), 124);
    writeAllAt(this.fd, header, 0);
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.done = true;
    const path = join(this.dir, layerFileName(this.descriptor));
    // Layer files are immutable: one never replaces another under the same name.
    if (existsSync(path)) {
      unlinkSync(this.temp);
      throw new Error(`assert: layer file ${path} exists already`);
    }
    renameSync(this.temp, path);
    fsyncDirectory(this.dir);
    return path;
  }

  /** Gives up on the file (an error while writing it): nothing is left under either name. */
  abort(): void {
    if (this.done) return;
    this.done = true;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    try {
      unlinkSync(this.temp);
    } catch {
      // never created or already gone
    }
  }
}

/**
 * The u64 LE fields of an index entry (LSN, offset), which hold numbers below 2^53: two u32s, no
 * BigInt per entry (they were a tenth of a flush of small records: bench/repository).
 */
function writeU64(b: Buffer, n: number, at: number): void {
  b.writeUInt32LE(n % 0x1_0000_0000, at);
  b.writeUInt32LE(Math.floor(n / 0x1_0000_0000), at + 4);
}

/** As Number(b.readBigUInt64LE(at)): the high half times 2^32 is exact, so the sum rounds once, as that does. */
function readU64(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 0x1_0000_0000;
}


// ---- reading ----

interface SummaryLine {
  readonly firstKey: Key;
  readonly firstLsn: number;
  readonly lastKey: Key;
  readonly lastLsn: number;
  readonly offset: number;
  readonly bytes: number;
}

/** An index block, parsed: parallel arrays, one slot per entry. */
interface IndexBlock {
  readonly keys: readonly Key[];
  readonly lsns: Float64Array;
  readonly offsets: Float64Array;
  readonly lengths: Uint32Array;
  readonly crcs: Uint32Array;
  readonly flags: Uint8Array;
}

/** Parsed index blocks of all open layer files, least recently used first. */
const INDEX_BLOCK_CACHE_MAX = 4096;
const indexBlockCache = new Map<string, IndexBlock>();
let nextFileId = 0;

/**
 * Read-ahead for sequential reads. A read of consecutive keys (a base backup, a scan) asks for
 * values that lie one after another in the file: after two such reads in a row, one pread fills a
 * window of READ_AHEAD_BYTES and the next values come from memory, instead of a pread each (most of
 * a base backup's time went to those). A random read (GetPage) never starts a window. A few
 * windows are kept, least recently used out first, by file.
 */
const READ_AHEAD_BYTES = 256 << 10;
/** Reads count as sequential when they start at most this far past the previous one's end (index blocks lie between values). */
const READ_AHEAD_GAP_BYTES_MAX = 64 << 10;
const READ_AHEAD_WINDOWS_MAX = 16;
const readAheadWindows = new Map<number, { readonly start: number; readonly bytes: Buffer }>();
/**
 * One buffer that random reads of a value up to a page and a bit go through (readRange). Its bytes
 * are valid until the next read of any layer file: every reader checks and decompresses or copies
 * them at once, with no await in between (lastReadShared tells them to copy what they keep).
 */
const SCRATCH_BYTES = 16 << 10;
const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
let nextTempId = 0;

/** A run of values for a bulk reader (LayerFile.valueRuns). */
export interface ValueRun {
  /** The run's first value; the others follow it in the file and in key order. */
  readonly entry: LayerEntry;
  readonly count: number;
  /** Uncompressed values of valueBytes each, one after another: readRun reads them. Otherwise count is 1. */
  readonly plain: boolean;
  readonly valueBytes: number;
  /** The values' checksums, in order. */
  readonly crcs: Uint32Array;
}

/** A key's last field (a relation block's number): its last 8 hex digits. */
function lastField(key: Key): number {
  return parseInt(key.slice(KEY_HEX_LENGTH - 8), 16);
}

/** Whether `key` is `first` with its last field at `last + 1` (`last`: the field of the key before it in a run from `first`). */
function followsInLastField(first: Key, key: Key, last: number): boolean {
  return lastField(key) === last + 1 && key.startsWith(first.slice(0, KEY_HEX_LENGTH - 8));
}

/** (key, LSN) order. */
function compare(keyA: Key, lsnA: number, keyB: Key, lsnB: number): number {
  if (keyA !== keyB) return keyA < keyB ? -1 : 1;
  return lsnA - lsnB;
}

/** A value found by a lookup, newest first. */
export interface FoundValue {
  readonly lsn: number;
  readonly flags: number;
  readonly bytes: Uint8Array;
}

/** An open layer file: header and summary in memory, index blocks and values read on demand. */
export class LayerFile {
  private readonly id = nextFileId++;
  private closed = false;
  /** The index block the previous lookup used (immutable, so it stays valid). */
  private lastBlockIndex = -1;
  private lastBlock: IndexBlock | undefined;
  /** Where the previous value read ended (read-ahead's sequential test), or -1. */
  private lastReadEnd = -1;
  /** Whether readRange's last answer was a view of a read-ahead window (not the caller's to keep). */
  private lastReadShared = false;

  private constructor(
    readonly path: string,
    readonly descriptor: LayerDescriptor,
    private readonly fd: number,
    private readonly summary: readonly SummaryLine[],
    readonly entryCount: number,
    readonly fileBytes: number,
  ) {}

  get name(): string {
    return basename(this.path);
  }

  /** Opens and checks a layer file: magic, version, header checksum, size, summary checksum. */
  static open(path: string): LayerFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw new RepositoryError('CORRUPT_LAYER', `Cannot open layer file ${path}: ${(e as Error).message}`, { cause: e });
    }
    try {
      return LayerFile.parse(path, fd);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  private static parse(path: string, fd: number): LayerFile {
    const size = fstatSync(fd).size;
    if (size < HEADER_BYTES) throw corrupt(path, `the file is ${size} bytes, shorter than a header (${HEADER_BYTES})`);
    const h = Buffer.alloc(HEADER_BYTES);
    readExactly(path, fd, h, 0);
    if (h.toString('latin1', 0, 8) !== LAYER_MAGIC) throw corrupt(path, 'it does not start with the layer magic "STRATALY"');
    const crc = h.readUInt32LE(124);
    if (crc32cRange(h, 0, 124) !== crc) throw corrupt(path, 'the header checksum does not match');
    const version = h.readUInt16LE(8);
    if (version !== LAYER_FORMAT_VERSION) throw corrupt(path, `format version ${version} is not the supported ${LAYER_FORMAT_VERSION}`);
    const kind = h[10];
    if (kind !== LayerKind.Delta && kind !== LayerKind.Image) throw corrupt(path, `layer kind ${kind} is unknown`);
    const fileBytes = Number(h.readBigUInt64LE(88));
    if (fileBytes !== size) throw corrupt(path, `the header says ${fileBytes} bytes, the file has ${size} (truncated or extended)`);
    const descriptor: LayerDescriptor = {
      kind,
      keys: { start: keyFromBytes(h, 12), end: keyFromBytes(h, 30) },
      lsnStart: Number(h.readBigUInt64LE(48)),
      lsnEnd: Number(h.readBigUInt64LE(56)),
    };
    const summaryOffset = Number(h.readBigUInt64LE(64));
    const summaryBytes = h.readUInt32LE(72);
    const blocks = h.readUInt32LE(76);
    const entryCount = Number(h.readBigUInt64LE(80));
    if (summaryBytes !== blocks * SUMMARY_LINE_BYTES + 4 || summaryOffset + summaryBytes !== size)
      throw corrupt(path, `the summary (${summaryBytes} bytes at ${summaryOffset}) does not fit ${blocks} index blocks and the file`);
    const s = Buffer.alloc(summaryBytes);
    readExactly(path, fd, s, summaryOffset);
    if (crc32cRange(s, 0, summaryBytes - 4) !== s.readUInt32LE(summaryBytes - 4)) throw corrupt(path, 'the summary checksum does not match');
    const summary: SummaryLine[] = [];
    for (let i = 0; i < blocks; i++) {
      const o = i * SUMMARY_LINE_BYTES;
      summary.push({
        firstKey: keyFromBytes(s, o),
        firstLsn: readU64(s, o + 18),
        lastKey: keyFromBytes(s, o + 26),
        lastLsn: readU64(s, o + 44),
        offset: readU64(s, o + 52),
        bytes: s.readUInt32LE(o + 60),
      });
    }
    return new LayerFile(path, descriptor, fd, summary, entryCount, size);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (let i = 0; i < this.summary.length; i++) indexBlockCache.delete(`${this.id}:${i}`);
    readAheadWindows.delete(this.id);
    this.lastBlock = undefined;
    closeSync(this.fd);
  }

  private indexBlock(i: number): IndexBlock {
    // Consecutive reads of one file mostly want the block the previous read did (a scan, a key's history).
    if (i === this.lastBlockIndex && this.lastBlock !== undefined) return this.lastBlock;
    const block = this.indexBlockCached(i);
    this.lastBlockIndex = i;
    this.lastBlock = block;
    return block;
  }

  private indexBlockCached(i: number): IndexBlock {
    const cacheKey = `${this.id}:${i}`;
    const cached = indexBlockCache.get(cacheKey);
    if (cached !== undefined) {
      indexBlockCache.delete(cacheKey);
      indexBlockCache.set(cacheKey, cached);
      return cached;
    }
    if (this.closed) throw new Error(`assert: read of closed layer file ${this.path}`);
    const line = this.summary[i] as SummaryLine;
    const b = Buffer.alloc(line.bytes);
    readExactly(this.path, this.fd, b, line.offset);
    const n = b.readUInt16LE(0);
    if (line.bytes !== INDEX_BLOCK_OVERHEAD + n * ENTRY_BYTES) throw corrupt(this.path, `index block ${i} at ${line.offset} says ${n} entries in ${line.bytes} bytes`);
    if (crc32cRange(b, 0, line.bytes - 4) !== b.readUInt32LE(line.bytes - 4)) throw corrupt(this.path, `index block ${i} at ${line.offset}: checksum does not match`);
    const block: IndexBlock = {
      keys: new Array<Key>(n),
      lsns: new Float64Array(n),
      offsets: new Float64Array(n),
      lengths: new Uint32Array(n),
      crcs: new Uint32Array(n),
      flags: new Uint8Array(n),
    };
    for (let j = 0; j < n; j++) {
      const e = 4 + j * ENTRY_BYTES;
      (block.keys as Key[])[j] = keyFromBytes(b, e);
      block.lsns[j] = readU64(b, e + 18);
      block.offsets[j] = readU64(b, e + 26);
      block.lengths[j] = b.readUInt32LE(e + 34);
      block.crcs[j] = b.readUInt32LE(e + 38);
      block.flags[j] = b[e + 42] as number;
    }
    indexBlockCache.set(cacheKey, block);
    if (indexBlockCache.size > INDEX_BLOCK_CACHE_MAX) indexBlockCache.delete(indexBlockCache.keys().next().value as string);
    return block;
  }

  /** The index of the last block whose first entry is at or before (key, lsn), or -1. */
  private blockAtOrBefore(key: Key, lsn: number): number {
    let lo = 0;
    let hi = this.summary.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const line = this.summary[mid] as SummaryLine;
      if (compare(line.firstKey, line.firstLsn, key, lsn) <= 0) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /**
   * Appends to `out`, newest first, the values of `key` with floor <= LSN < below, stopping after
   * the first one that starts the key's history (an image or a record that initialises it).
   * Returns true when it stopped at such a value.
   */
  collect(key: Key, floor: number, below: number, out: FoundValue[]): boolean {
    if (below <= floor) return false;
    let b = this.blockAtOrBefore(key, below - 1);
    while (b >= 0) {
      const block = this.indexBlock(b);
      const top = upperBound(block, key, below - 1) - 1;
      // Which entries of this block the read needs is in the index: find them first, then read them together.
      let j = top;
      let starts = false;
      let other = false;
      for (; j >= 0; j--) {
        if (block.keys[j] !== key || (block.lsns[j] as number) < floor) {
          other = true;
          break;
        }
        if (valueStartsHistory(block.flags[j] as number)) {
          starts = true;
          break;
        }
      }
      this.readValues(block, starts ? j : j + 1, top, out);
      if (starts) return true;
      if (other) return false;
      const line = this.summary[b] as SummaryLine;
      if (line.firstKey !== key) return false;
      b--;
    }
    return false;
  }

  /**
   * Appends entries `high` down to `low` of `block` to `out`, newest first. One key's values in one
   * index block were written one after another, so they are usually one run of the file: it is read
   * with one pread (each value still checked against its own checksum) rather than one per value,
   * which was most of the cost of a read with many records (bench/repository).
   */
  private readValues(block: IndexBlock, low: number, high: number, out: FoundValue[]): void {
    if (low > high) return;
    const start = block.offsets[low] as number;
    const end = (block.offsets[high] as number) + (block.lengths[high] as number);
    let run: Uint8Array | undefined;
    let shared = false;
    if (low < high && end - start <= COALESCED_READ_BYTES_MAX && start >= HEADER_BYTES && end <= this.fileBytes) {
      let contiguous = true;
      for (let j = low; j < high && contiguous; j++) contiguous = (block.offsets[j] as number) + (block.lengths[j] as number) === block.offsets[j + 1];
      if (contiguous) {
        run = this.readRange(start, end - start);
        shared = this.lastReadShared;
      }
    }
    for (let j = high; j >= low; j--) {
      const flags = block.flags[j] as number;
      let bytes: Uint8Array;
      if (run === undefined) {
        bytes = this.readValue(block, j);
      } else {
        const offset = block.offsets[j] as number;
        const length = block.lengths[j] as number;
        const stored = run.subarray(offset - start, offset - start + length);
        if (crc32c(stored) !== block.crcs[j]) throw corrupt(this.path, `the value of ${block.keys[j] as Key} at ${offset} (${length} bytes): checksum does not match`);
        bytes = (flags & VALUE_COMPRESSED) !== 0 ? this.decompress(stored, offset) : shared ? copyOf(stored) : stored;
      }
      out.push({ lsn: block.lsns[j] as number, flags, bytes });
    }
  }

  private readValue(block: IndexBlock, j: number): Uint8Array {
    const stored = this.readStoredView(block.offsets[j] as number, block.lengths[j] as number, block.crcs[j] as number, block.keys[j] as Key);
    if ((block.flags[j]! & VALUE_COMPRESSED) !== 0) return this.decompress(stored, block.offsets[j] as number);
    return this.lastReadShared ? copyOf(stored) : stored;
  }

  /** A value's stored bytes (compressed or not), checked against its checksum. */
  readStored(offset: number, length: number, crc: number, key: Key): Uint8Array {
    const stored = this.readStoredView(offset, length, crc, key);
    return this.lastReadShared ? copyOf(stored) : stored;
  }

  /** readStored's bytes, possibly a view of a read-ahead window: valid until the next read. */
  private readStoredView(offset: number, length: number, crc: number, key: Key): Uint8Array {
    if (offset < HEADER_BYTES || offset + length > this.fileBytes) throw corrupt(this.path, `the value of ${key} at ${offset} (${length} bytes) lies outside the file`);
    const b = this.readRange(offset, length);
    if (crc32c(b) !== crc) throw corrupt(this.path, `the value of ${key} at ${offset} (${length} bytes): checksum does not match`);
    return b;
  }

  /** Bytes [offset, offset + length) of the file, through the read-ahead window when reads are sequential. */
  private readRange(offset: number, length: number): Uint8Array {
    const sequential = this.lastReadEnd >= 0 && offset >= this.lastReadEnd && offset - this.lastReadEnd <= READ_AHEAD_GAP_BYTES_MAX;
    this.lastReadEnd = offset + length;
    const w = readAheadWindows.get(this.id);
    this.lastReadShared = true;
    if (w !== undefined && offset >= w.start && offset + length <= w.start + w.bytes.length) {
      readAheadWindows.delete(this.id);
      readAheadWindows.set(this.id, w);
      return w.bytes.subarray(offset - w.start, offset - w.start + length);
    }
    if (!sequential || length >= READ_AHEAD_BYTES) {
      if (length <= SCRATCH_BYTES) {
        // A random read (GetPage) of one value: into the scratch buffer, as the bytes are checked
        // and then decompressed (or copied) at once. A new buffer per read was one of the two
        // allocations of every GetPage that missed the page cache.
        readExactly(this.path, this.fd, scratch, offset, length);
        return scratch.subarray(0, length);
      }
      this.lastReadShared = false;
      const b = Buffer.allocUnsafe(length);
      readExactly(this.path, this.fd, b, offset);
      return b;
    }
    const bytes = Buffer.allocUnsafe(Math.min(READ_AHEAD_BYTES, this.fileBytes - offset));
    readExactly(this.path, this.fd, bytes, offset);
    readAheadWindows.delete(this.id);
    readAheadWindows.set(this.id, { start: offset, bytes });
    if (readAheadWindows.size > READ_AHEAD_WINDOWS_MAX) readAheadWindows.delete(readAheadWindows.keys().next().value as number);
    return bytes.subarray(0, length);
  }

  private decompress(stored: Uint8Array, offset: number): Uint8Array {
    try {
      return lz4Uncompress(stored);
    } catch (e) {
      throw corrupt(this.path, `the compressed value at ${offset} does not decompress: ${(e as Error).message}`);
    }
  }

  /** The value bytes of an entry, uncompressed. */
  readEntryValue(e: LayerEntry): Uint8Array {
    const stored = this.readStored(e.offset, e.length, e.crc, e.key);
    return (e.flags & VALUE_COMPRESSED) !== 0 ? this.decompress(stored, e.offset) : stored;
  }

  /**
   * A bulk reader's view of the values of the keys in `range` (a base backup's relation files, read
   * from an image layer, which holds one value per key), in key order, as runs. Values stored
   * uncompressed in `valueBytes` bytes each, one after another in the file, under keys one apart in
   * their last field (consecutive blocks of a relation fork) and in one index block, make one
   * `plain` run: readRun reads any part of it with one pread, into the caller's buffer, with no
   * object per value. Any other value is a run of one that is not plain: readEntryValue(run.entry).
   */
  *valueRuns(range: KeyRange, valueBytes: number): Generator<ValueRun> {
    let b = Math.max(0, this.blockAtOrBefore(range.start, 0));
    for (; b < this.summary.length; b++) {
      const line = this.summary[b] as SummaryLine;
      if (line.firstKey >= range.end) return;
      if (line.lastKey < range.start) continue;
      if (this.closed) throw new RepositoryError('LAYER_REMOVED', `Cannot read the index of layer file ${this.path} from ${range.start}: it was closed (removed) while its runs were read`);
      const block = this.indexBlock(b);
      const n = block.keys.length;
      let j = 0;
      while (j < n && (block.keys[j] as Key) < range.start) j++;
      while (j < n) {
        const key = block.keys[j] as Key;
        if (key >= range.end) return;
        const plain = (block.flags[j]! & VALUE_COMPRESSED) === 0 && block.lengths[j] === valueBytes;
        let k = j + 1;
        if (plain) {
          let last = lastField(key);
          while (
            k < n &&
            (block.flags[k]! & VALUE_COMPRESSED) === 0 &&
            block.lengths[k] === valueBytes &&
            block.offsets[k] === (block.offsets[k - 1] as number) + valueBytes &&
            (block.keys[k] as Key) < range.end &&
            followsInLastField(key, block.keys[k] as Key, last)
          ) {
            last++;
            k++;
          }
        }
        const entry = { key, lsn: block.lsns[j] as number, offset: block.offsets[j] as number, length: block.lengths[j] as number, crc: block.crcs[j] as number, flags: block.flags[j] as number };
        yield { entry, count: k - j, plain, valueBytes, crcs: block.crcs.subarray(j, k) };
        j = k;
      }
    }
  }

  /**
   * Values `first` to `first + count - 1` of a plain run, read with one pread into `into` (count *
   * valueBytes bytes, e.g. the base backup's output chunk), each checked against its checksum.
   */
  readRun(run: ValueRun, first: number, count: number, into: Uint8Array): void {
    const { offset, length } = this.runPart(run, first, count, into);
    readExactly(this.path, this.fd, into, offset, length);
    this.checkRun(run, first, count, into, offset);
  }

  /** Where part of a run lies; LAYER_REMOVED once the file is closed (GC removed it while a base backup held it). */
  private runPart(run: ValueRun, first: number, count: number, into: Uint8Array): { offset: number; length: number } {
    if (!run.plain || first < 0 || count < 0 || first + count > run.count || into.length < count * run.valueBytes) throw new Error(`assert: readRun(${first}, ${count}) of a run of ${run.count} (plain ${run.plain}) into ${into.length} bytes`);
    const offset = run.entry.offset + first * run.valueBytes;
    const length = count * run.valueBytes;
    if (offset < HEADER_BYTES || offset + length > this.fileBytes) throw corrupt(this.path, `the values of ${run.entry.key} and after, at ${offset} (${length} bytes), lie outside the file`);
    if (this.closed) throw new RepositoryError('LAYER_REMOVED', `Cannot read the values of ${run.entry.key} and after from layer file ${this.path}: it was closed (removed) since the run was found`);
    return { offset, length };
  }

  private checkRun(run: ValueRun, first: number, count: number, into: Uint8Array, offset: number): void {
    for (let i = 0; i < count; i++) {
      const at = i * run.valueBytes;
      if (crc32cRange(into, at, at + run.valueBytes) !== run.crcs[first + i])
        throw corrupt(this.path, `the value at ${offset + at} (${run.valueBytes} bytes, value ${first + i} of the run from ${run.entry.key}): checksum does not match`);
    }
  }

  /** Every entry with a key in `range`, in (key, LSN) order: compaction's and GC's view of the file. */
  *entries(range?: KeyRange): Generator<LayerEntry> {
    let b = range === undefined ? 0 : Math.max(0, this.blockAtOrBefore(range.start, 0));
    for (; b < this.summary.length; b++) {
      const line = this.summary[b] as SummaryLine;
      if (range !== undefined && line.firstKey >= range.end) return;
      if (range !== undefined && line.lastKey < range.start) continue;
      const block = this.indexBlock(b);
      for (let j = 0; j < block.keys.length; j++) {
        const key = block.keys[j] as Key;
        if (range !== undefined && (key < range.start || key >= range.end)) continue;
        yield { key, lsn: block.lsns[j] as number, offset: block.offsets[j] as number, length: block.lengths[j] as number, crc: block.crcs[j] as number, flags: block.flags[j] as number };
      }
    }
  }

  /** Reads every index block and value and checks their checksums (`strata` scrub, tests). */
  verify(): void {
    for (const e of this.entries()) this.readEntryValue(e);
  }
}

/** A copy that owns its memory (a value must not pin a read-ahead window). */
function copyOf(view: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(view.length);
  out.set(view);
  return out;
}

/** The first slot in `block` whose (key, LSN) is after (key, lsn). */
function upperBound(block: IndexBlock, key: Key, lsn: number): number {
  let lo = 0;
  let hi = block.keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compare(block.keys[mid] as Key, block.lsns[mid] as number, key, lsn) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Reads `length` bytes (all of `into` unless told) at `position` into the start of `into`. */
function readExactly(path: string, fd: number, into: Uint8Array, position: number, length = into.length): void {
  let o = 0;
  while (o < length) {
    const n = readSync(fd, into, o, length - o, position + o);
    if (n === 0) throw corrupt(path, `it ends at ${position + o}, inside a read of ${length} bytes at ${position}`);
    o += n;
  }
}

