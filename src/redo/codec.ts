/**
 * The byte form of one redo input: what the repository stores as a value under a page key, and what
 * travels to a redo worker process (worker/protocol.ts carries these bytes unchanged). Ingest encodes
 * a WAL record once per block reference it applies to (a record that touches three pages is stored
 * three times, as in Neon), and strata's own operations (VM bits a heap record clears without
 * referencing the VM page, a VM truncation) as short fixed records.
 *
 * Integers are little-endian, as in WAL. Every input starts with a tag byte:
 *
 *   record       0     1         2                 10              18
 *                | 'R' | blockId | start LSN (u64) | end LSN (u64) | the record: xl_tot_len bytes,
 *                                                                    header first, CRC and all
 *   vm.clear     0     1               9                  13          14
 *                | 'C' | end LSN (u64) | heap block (u32) | flags (u8) |
 *   vm.truncate  0     1               9                   13
 *                | 'T' | end LSN (u64) | heap blocks (u32) |
 *
 * The start LSN is where the record begins (ReadRecPtr), the end LSN where the next one begins
 * (EndRecPtr, what redo stamps on the page). `blockId` is the block reference that is this page.
 *
 * Decoding trusts nothing: the bytes may come from disk or from another tenant's WAL. The record's
 * length and CRC must agree with its bytes (ValidXLogRecord), it must take apart, and the block
 * reference must exist; anything else is a RedoError with code BAD_INPUT that says what was wrong.
 * One exception, for the in-process engine alone (`recordCrcChecked`): its inputs come from this
 * process's own repository, where ingest's decoder checked each record's CRC before storing it and
 * every value read from a layer file is checked against its own CRC-32C (values still in an
 * in-memory layer come from this process's memory or its ephemeral file, which nothing else writes),
 * so recomputing the record's CRC in JavaScript on every redo checks the same bytes again (it was
 * most of a redo-heavy base backup's time). A redo worker process never skips it: its input crossed a process boundary.
 */
import assert from 'node:assert/strict';
import { readU16, readU32, readU64BigInt, readU64Number } from '../pg/bytes.js';
import {
  BKPBLOCK_HAS_IMAGE,
  BKPBLOCK_SAME_REL,
  BKPBLOCK_WILL_INIT,
  BKPIMAGE_APPLY,
  BKPIMAGE_COMPRESSED_MASK,
  BKPIMAGE_HAS_HOLE,
  SIZE_OF_XLOG_RECORD,
  XLR_BLOCK_ID_DATA_LONG,
  XLR_BLOCK_ID_DATA_SHORT,
  XLR_BLOCK_ID_ORIGIN,
  XLR_BLOCK_ID_TOPLEVEL_XID,
  XLR_MAX_BLOCK_ID,
} from '../pg/constants.js';
import { crc32cRangeJs } from '../pg/crc32c-js.js';
import { formatLsn, type Lsn } from '../pg/lsn.js';
import type { BlockNumber } from '../pg/types.js';
import { WalDecodeError } from '../wal/errors.js';
import { decodeRecord, type WalRecord } from '../wal/record.js';
import { RedoError } from './errors.js';
import type { RedoInput, VmClearInput, VmTruncateInput } from './types.js';
import { VISIBILITYMAP_VALID_BITS } from './vm.js';

export const TAG_RECORD = 0x52; // 'R'
export const TAG_VM_CLEAR = 0x43; // 'C'
export const TAG_VM_TRUNCATE = 0x54; // 'T'

/** Bytes before the record in a record input: tag, blockId, start and end LSN. */
export const RECORD_INPUT_HEADER_SIZE = 18;
const VM_CLEAR_SIZE = 14;
const VM_TRUNCATE_SIZE = 13;
/** Offset of xl_crc in XLogRecord. */
const XLOG_RECORD_CRC_OFFSET = 20;

function badInput(why: string): RedoError {
  return new RedoError('BAD_INPUT', `Cannot decode redo input: ${why}`);
}

function writeU32(out: Uint8Array, o: number, v: number): void {
  out[o] = v & 0xff;
  out[o + 1] = (v >>> 8) & 0xff;
  out[o + 2] = (v >>> 16) & 0xff;
  out[o + 3] = (v >>> 24) & 0xff;
}

function writeU64(out: Uint8Array, o: number, v: bigint): void {
  writeU32(out, o, Number(v & 0xffff_ffffn));
  writeU32(out, o + 4, Number(v >> 32n));
}

/** A u64 below 2^53, from a number: no BigInt made (ingest writes two per record). */
function writeU64Number(out: Uint8Array, o: number, v: number): void {
  writeU32(out, o, v % 0x1_0000_0000);
  writeU32(out, o + 4, Math.floor(v / 0x1_0000_0000));
}

/**
 * A WAL record applied to its block reference `blockId` (which the record must have). With
 * `scratch` big enough, the input is written there and a view of it returned, valid until the next
 * call with the same scratch: ingest stores each input by copying it, and a new buffer per record
 * (most hold an 8 KiB page image) was a good part of its garbage.
 */
export function encodeRecordInput(record: WalRecord, blockId: number, scratch?: Uint8Array): Uint8Array {
  const size = RECORD_INPUT_HEADER_SIZE + record.totLen;
  const out = scratch !== undefined && scratch.length >= size ? scratch.subarray(0, size) : Buffer.allocUnsafe(size);
  writeRecordInput(record, blockId, out, 0);
  return out;
}

/**
 * encodeRecordInput() written at `out[offset]` (RECORD_INPUT_HEADER_SIZE + xl_tot_len bytes): ingest
 * writes each block's input straight into the in-memory layer, so a record is copied once.
 */
export function writeRecordInput(record: WalRecord, blockId: number, out: Uint8Array, offset: number): void {
  // The messages are made only on failure: this runs once per record ingested.
  if (record.blocks[blockId] === undefined) assert.fail(`record at ${formatLsn(record.lsn)} has no block reference ${blockId}`);
  const raw = record.raw;
  if (raw.length !== record.totLen) assert.fail('a record is stored with exactly its xl_tot_len bytes');
  out[offset] = TAG_RECORD;
  out[offset + 1] = blockId;
  writeU64Number(out, offset + 2, record.lsnNumber);
  writeU64Number(out, offset + 10, record.endLsnNumber);
  out.set(raw, offset + RECORD_INPUT_HEADER_SIZE);
}

/**
 * Re-aims an encoded record input at another of the record's block references, in place. Ingest
 * encodes a record once and stores it under each of its blocks, changing only this byte between
 * puts (each put copies the bytes).
 */
export function setRecordInputBlockId(encoded: Uint8Array, record: WalRecord, blockId: number): void {
  if (encoded[0] !== TAG_RECORD || record.blocks[blockId] === undefined) assert.fail(`record at ${formatLsn(record.lsn)} has no block reference ${blockId}`);
  encoded[1] = blockId;
}

/** A strata operation on a VM page. */
export function encodeOp(input: VmClearInput | VmTruncateInput): Uint8Array {
  if (input.kind === 'vm.clear') {
    assert.ok((input.flags & ~VISIBILITYMAP_VALID_BITS) === 0, `VM flags ${input.flags} are not VISIBILITYMAP_* bits`);
    const out = new Uint8Array(VM_CLEAR_SIZE);
    out[0] = TAG_VM_CLEAR;
    writeU64(out, 1, input.endLsn);
    writeU32(out, 9, input.heapBlock);
    out[13] = input.flags;
    return out;
  }
  const out = new Uint8Array(VM_TRUNCATE_SIZE);
  out[0] = TAG_VM_TRUNCATE;
  writeU64(out, 1, input.endLsn);
  writeU32(out, 9, input.heapBlocks);
  return out;
}

/** Any input (the record's description, if any, is not stored: redo describes it again). */
export function encodeRedoInput(input: RedoInput): Uint8Array {
  return input.kind === 'record' ? encodeRecordInput(input.record, input.blockId) : encodeOp(input);
}

function tagName(tag: number): string {
  return `0x${tag.toString(16).padStart(2, '0')}`;
}

export interface DecodeOptions {
  /**
   * The caller's own repository checked this record's CRC when it was ingested and its value's
   * CRC-32C when it was read (the in-process engine): skip ValidXLogRecord's CRC and the copy out.
   * Every other check still runs. Never set for bytes that crossed a process boundary.
   */
  readonly recordCrcChecked?: boolean;
}

/** The input `bytes` stand for, checked through (see the module header). */
export function decodeRedoInput(bytes: Uint8Array, options: DecodeOptions = {}): RedoInput {
  if (bytes.length === 0) throw badInput('it is empty');
  const tag = bytes[0]!;
  switch (tag) {
    case TAG_RECORD:
      return decodeRecordInput(bytes, options.recordCrcChecked === true);
    case TAG_VM_CLEAR: {
      if (bytes.length !== VM_CLEAR_SIZE) throw badInput(`a vm.clear input is ${VM_CLEAR_SIZE} bytes, received ${bytes.length}`);
      const flags = bytes[13]!;
      if ((flags & ~VISIBILITYMAP_VALID_BITS) !== 0) throw badInput(`vm.clear flags must be VISIBILITYMAP_* bits, received 0x${flags.toString(16)}`);
      return { kind: 'vm.clear', endLsn: readU64BigInt(bytes, 1) as Lsn, heapBlock: readU32(bytes, 9) as BlockNumber, flags };
    }
    case TAG_VM_TRUNCATE:
      if (bytes.length !== VM_TRUNCATE_SIZE) throw badInput(`a vm.truncate input is ${VM_TRUNCATE_SIZE} bytes, received ${bytes.length}`);
      return { kind: 'vm.truncate', endLsn: readU64BigInt(bytes, 1) as Lsn, heapBlocks: readU32(bytes, 9) as BlockNumber };
    default:
      throw badInput(`unknown tag ${tagName(tag)} (expected 'R' record, 'C' vm.clear or 'T' vm.truncate), in ${bytes.length} bytes`);
  }
}

/** The header of a record input, its lengths and LSNs checked (not yet its CRC). */
function recordInputHeader(bytes: Uint8Array): { blockId: number; start: number; end: number; raw: Uint8Array } {
  if (bytes.length < RECORD_INPUT_HEADER_SIZE + SIZE_OF_XLOG_RECORD)
    throw badInput(`a record input is at least ${RECORD_INPUT_HEADER_SIZE + SIZE_OF_XLOG_RECORD} bytes, received ${bytes.length}`);
  const blockId = bytes[1]!;
  if (blockId > XLR_MAX_BLOCK_ID) throw badInput(`block id ${blockId} is past XLR_MAX_BLOCK_ID (${XLR_MAX_BLOCK_ID})`);
  // Positions stay below 2^53 (decodeRecord works on exact numbers); larger ones are corrupt here.
  const start = readU64Number(bytes, 2);
  const end = readU64Number(bytes, 10);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end <= start)
    throw badInput(`the record's LSNs must satisfy start < end < 2^53, received start ${formatLsn(readU64BigInt(bytes, 2))} end ${formatLsn(readU64BigInt(bytes, 10))}`);
  const raw = bytes.subarray(RECORD_INPUT_HEADER_SIZE);
  const totLen = readU32(raw, 0);
  if (totLen !== raw.length) throw badInput(`the record at ${formatLsn(BigInt(start))} says xl_tot_len ${totLen} but ${raw.length} bytes follow the header`);
  if (end - start < totLen) throw badInput(`the record at ${formatLsn(BigInt(start))} is ${totLen} bytes but ends at ${formatLsn(BigInt(end))}`);
  return { blockId, start, end, raw };
}

function decodeRecordInput(bytes: Uint8Array, crcChecked: boolean): RedoInput {
  const { blockId, start, end, raw } = recordInputHeader(bytes);
  if (!crcChecked) {
    // ValidXLogRecord: the CRC covers the body, then the header up to xl_crc.
    let crc = crc32cRangeJs(raw, SIZE_OF_XLOG_RECORD, raw.length);
    crc = crc32cRangeJs(raw, 0, XLOG_RECORD_CRC_OFFSET, crc);
    const stored = readU32(raw, XLOG_RECORD_CRC_OFFSET);
    if (crc !== stored)
      throw badInput(`the record at ${formatLsn(BigInt(start))} has an incorrect CRC: computed 0x${crc.toString(16).padStart(8, '0')}, stored 0x${stored.toString(16).padStart(8, '0')}`);
  }
  let record: WalRecord;
  try {
    // A worker copies the record out so that it does not pin its frame buffer; the in-process
    // engine's records live only for the one redo, over a value the repository handed it.
    record = decodeRecord(crcChecked ? raw : Uint8Array.from(raw), start, end);
  } catch (e) {
    if (e instanceof WalDecodeError) throw badInput(e.message);
    throw e;
  }
  if (record.blocks[blockId] === undefined) throw badInput(`the record at ${formatLsn(record.lsn)} has no block reference ${blockId}`);
  return { kind: 'record', record, blockId };
}

/** The end LSN of any input (the record's EndRecPtr, or the op's), without decoding the rest. */
export function redoInputEndLsn(bytes: Uint8Array): Lsn {
  const tag = bytes[0];
  if (tag === TAG_RECORD && bytes.length >= RECORD_INPUT_HEADER_SIZE) return readU64BigInt(bytes, 10) as Lsn;
  if ((tag === TAG_VM_CLEAR && bytes.length === VM_CLEAR_SIZE) || (tag === TAG_VM_TRUNCATE && bytes.length === VM_TRUNCATE_SIZE)) return readU64BigInt(bytes, 1) as Lsn;
  throw badInput(`no end LSN in ${bytes.length} bytes with tag ${tag === undefined ? 'none' : tagName(tag)}`);
}

/**
 * Whether the input rebuilds the page from nothing: its block reference is WILL_INIT, or carries an
 * image that redo applies (BKPIMAGE_APPLY). The repository starts a page's history at such an
 * input. Only the block headers are walked (as DecodeXLogRecord walks them), not the whole record;
 * the CRC is not checked here (decodeRedoInput does that before redo).
 */
export function redoInputInitializesPage(bytes: Uint8Array): boolean {
  const tag = bytes[0];
  if (tag === TAG_VM_CLEAR || tag === TAG_VM_TRUNCATE) return false;
  if (tag !== TAG_RECORD) throw badInput(`unknown tag ${tag === undefined ? '(none: empty input)' : tagName(tag)}`);
  const { blockId, start, raw } = recordInputHeader(bytes);
  const at = formatLsn(BigInt(start));
  let ptr = SIZE_OF_XLOG_RECORD;
  // As in DecodeXLogRecord: headers go on while more bytes remain than the data they announce.
  let datatotal = 0;
  const need = (n: number, what: string): void => {
    if (ptr + n > raw.length) throw badInput(`the record at ${at} ends inside ${what} at offset ${ptr}`);
  };
  while (raw.length - ptr > datatotal) {
    const id = raw[ptr++]!;
    if (id === XLR_BLOCK_ID_DATA_SHORT || id === XLR_BLOCK_ID_DATA_LONG) break; // the main data header is last
    if (id === XLR_BLOCK_ID_ORIGIN) {
      ptr += 2;
      continue;
    }
    if (id === XLR_BLOCK_ID_TOPLEVEL_XID) {
      ptr += 4;
      continue;
    }
    if (id > XLR_MAX_BLOCK_ID) throw badInput(`the record at ${at} has invalid block_id ${id}`);
    need(3, `block ${id}'s header`);
    const forkFlags = raw[ptr]!;
    datatotal += readU16(raw, ptr + 1);
    ptr += 3; // fork_flags, data_length
    let bimgInfo = 0;
    if ((forkFlags & BKPBLOCK_HAS_IMAGE) !== 0) {
      need(5, `block ${id}'s image header`);
      datatotal += readU16(raw, ptr);
      bimgInfo = raw[ptr + 4]!;
      ptr += 5; // bimg_len, hole_offset, bimg_info
      if ((bimgInfo & BKPIMAGE_COMPRESSED_MASK) !== 0 && (bimgInfo & BKPIMAGE_HAS_HOLE) !== 0) ptr += 2; // hole_length
    }
    if (id === blockId) return (forkFlags & BKPBLOCK_WILL_INIT) !== 0 || (bimgInfo & BKPIMAGE_APPLY) !== 0;
    if (id > blockId) break; // block ids ascend: it is not there
    if ((forkFlags & BKPBLOCK_SAME_REL) === 0) ptr += 12; // RelFileNode
    ptr += 4; // BlockNumber
  }
  throw badInput(`the record at ${at} has no block reference ${blockId}`);
}
