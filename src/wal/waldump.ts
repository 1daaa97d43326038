/**
 * pg_waldump's text, produced from decoded records: one record's lines (XLogDumpDisplayRecord with
 * XLogRecGetBlockRefInfo), written as bytes into a TextBuffer, and the `--stats` table
 * (XLogDumpDisplayStats), a string. Pure, so the CLI and the tests that diff against pg_waldump
 * share it.
 */
import { BKPIMAGE_COMPRESS_LZ4, BKPIMAGE_COMPRESS_PGLZ, BKPIMAGE_COMPRESS_ZSTD, BKPIMAGE_COMPRESSED_MASK, BLCKSZ, XLR_INFO_MASK, XLR_MAX_BLOCK_ID } from '../pg/constants.js';
import { formatLsn } from '../pg/lsn.js';
import { RM_MAX_BUILTIN_ID, RM_XACT_ID } from '../pg/rmgr-ids.js';
import { FORK_NAMES, type RelFileNode } from '../pg/types.js';
import { WalDecodeError } from './errors.js';
import type { BlockRef, WalRecord } from './record.js';
import { RMGRS } from './rmgr/index.js';
import { NOT_WRITTEN } from './rmgr/rmgr.js';
import { literal, literals, putDigitsBefore, putLiteral, putLsnAt, putLsnPadded, putText, putUint, type Literal, type TextBuffer } from './text-buffer.js';

const NEWLINE = 0x0a;
const SLASH = 0x2f;

function pad(s: string | number, width: number): string {
  return String(s).padStart(width, ' ');
}

/**
 * `, desc: ID ` for each rmgr id and xl_info (at rmid * 256 + info), with pg_waldump's rm_identify
 * or UNKNOWN (%x); made on first use. Both tables keyed so are filled to their size at once: an
 * array filled at scattered indices becomes a dictionary, and each lookup hashed its key.
 */
const DESC_HEADS: (Literal | undefined)[] = new Array<Literal | undefined>(256 * 256).fill(undefined);

function descHead(rmid: number, info: number): Literal {
  return (DESC_HEADS[rmid * 256 + info] ??= literal(`, desc: ${identifyText(rmid, info)} `));
}

function identifyText(rmid: number, info: number): string {
  return RMGRS[rmid]?.identify(info) ?? `UNKNOWN (${(info & ~XLR_INFO_MASK).toString(16)})`;
}

/**
 * The whole fixed part of a line for each rmgr id and xl_info (at rmid * 256 + info), made on first
 * use: `rmgr: NAME        len (rec/tot): ______/______, tx: __________, lsn: _/________, prev _/________, desc: ID `
 * with its numeric fields blank. Every field has a fixed width while the lengths fit %6u and the
 * LSNs are below 64 GiB (one hex digit before the slash), which is nearly always: a line then starts
 * with one copy of this and its digits written into the blanks.
 */
const LINE_TEMPLATES: (Literal | undefined)[] = new Array<Literal | undefined>(256 * 256).fill(undefined);

function lineTemplate(rmid: number, info: number): Literal {
  const head = `rmgr: ${rmgrName(rmid).padEnd(11, ' ')} len (rec/tot): ${' '.repeat(6)}/${' '.repeat(6)}, tx: ${' '.repeat(10)}, lsn: `;
  return (LINE_TEMPLATES[rmid * 256 + info] ??= literal(`${head}_/________, prev _/________, desc: ${identifyText(rmid, info)} `));
}

// Where the fields of a line template are, for rmgr names of up to 11 characters: %-11s pads but
// does not cut, so a longer name (LogicalMessage) moves them all by NAME_OVERFLOW[id].
const REC_LEN_END = 39;
const TOT_LEN_END = 46;
const XID_END = 62;
const LSN_HI_AT = 69;
const PREV_HI_AT = 86;
/** The largest length the %6u fields hold, and the first LSN whose %X high half takes two digits. */
const LEN_FIELD_MAX = 999_999;
const TWO_DIGIT_LSN = 16 * 0x1_0000_0000;

/** `, blkref #N: rel ` and, for -b, `\tblkref #N: rel ` for each block id. */
const BLOCK_HEADS: readonly Literal[] = Array.from({ length: XLR_MAX_BLOCK_ID + 1 }, (_, id) => literal(`, blkref #${id}: rel `));
const BLOCK_HEADS_DETAILED: readonly Literal[] = Array.from({ length: XLR_MAX_BLOCK_ID + 1 }, (_, id) => literal(`\tblkref #${id}: rel `));

/** `rmgr: NAME        len (rec/tot): ` for each rmgr id, for lines that do not fit a template. */
const LINE_STARTS: readonly Literal[] = Array.from({ length: 256 }, (_, id) => literal(`rmgr: ${rmgrName(id).padEnd(11, ' ')} len (rec/tot): `));
const NAME_OVERFLOW: readonly number[] = Array.from({ length: 256 }, (_, id) => Math.max(0, rmgrName(id).length - 11));

function rmgrName(id: number): string {
  return RMGRS[id]?.name ?? `custom${String(id).padStart(3, '0')}`;
}

/** ` fork NAME` for each fork number a block reference can hold (4 bits). */
const FORK_TEXTS: readonly Literal[] = Array.from({ length: 16 }, (_, fork) => literal(` fork ${FORK_NAMES[fork] ?? String(fork)}`));

/** The fixed pieces of a line, encoded once. */
const T = literals({
  blk: ' blk ',
  fpw: ' FPW',
  fpwVerify: ' FPW for WAL verification',
  fpwHole: ' (FPW); hole: offset: ',
  fpwVerifyHole: ' (FPW for WAL verification); hole: offset: ',
  cLength: ', length: ',
  cCompressionSaved: ', compression saved: ',
  cMethod: ', method: ',
  pglz: 'pglz',
  lz4: 'lz4',
  zstd: 'zstd',
  unknown: 'unknown',
  cTx: ', tx: ',
  cLsn: ', lsn: ',
  cPrev: ', prev ',
});

/**
 * Each rmgr's putFast by rmgr id, in an array of functions: read off the modules (objects of a dozen
 * shapes) it was a megamorphic property load per record.
 */
const PUT_FAST: readonly (((b: Uint8Array, o: number, record: WalRecord) => number) | undefined)[] = Array.from({ length: 256 }, (_, id) => RMGRS[id]?.putFast);

/** rm_desc (the text after `desc: ID `, without the block references), as XLogDumpDisplayRecord prints it. */
function putDesc(b: Uint8Array, o: number, record: WalRecord): number {
  const rmid = record.rmid;
  const fast = PUT_FAST[rmid];
  if (fast !== undefined) {
    const end = fast(b, o, record);
    if (end !== NOT_WRITTEN) return end;
  }
  const m = RMGRS[rmid];
  if (m === undefined) return o;
  try {
    // Even an unnamed info value can decode (heap, BRIN pick the type by opcode bits), as in pg_waldump.
    return m.put(b, o, m.describe(record), record);
  } catch (e) {
    if (!(e instanceof WalDecodeError)) throw e;
    // pg_waldump's rm_desc prints nothing for a type it does not know; any other failure is shown.
    if (e.code === 'UNKNOWN_RECORD_TYPE' && m.identify(record.info) === undefined) return o;
    return putText(b, o, `<${e.message}>`);
  }
}

/** Room asked for a line before its desc text is known: enough for all but unusual records. */
const RECORD_BYTES_GUESS = 512;
/** The longest block reference text (-b, compressed image), with room to spare. */
const BLOCK_REF_BYTES_MAX = 200;

function compressionMethod(bimgInfo: number): Literal {
  if ((bimgInfo & BKPIMAGE_COMPRESS_PGLZ) !== 0) return T.pglz;
  if ((bimgInfo & BKPIMAGE_COMPRESS_LZ4) !== 0) return T.lz4;
  if ((bimgInfo & BKPIMAGE_COMPRESS_ZSTD) !== 0) return T.zstd;
  return T.unknown;
}

/**
 * `SPC/DB/REL` and `SPC/DB/REL blk ` of the relations named lately, by the low bits of relNode. The
 * decoder shares one RelFileNode among the records that name the same relation, so the text is made
 * once per relation, not once per block reference.
 */
interface RelText {
  readonly rel: RelFileNode;
  readonly path: Literal;
  readonly pathBlk: Literal;
  /** SPC/DB/REL as a string. */
  readonly pathText: string;
  /** `, blkref #ID: rel SPC/DB/REL blk ` by block id, made when first needed: one copy, not two. */
  readonly heads: (Literal | undefined)[];
}
const REL_TEXTS_MASK = 255;
const relTexts: (RelText | undefined)[] = new Array<RelText | undefined>(REL_TEXTS_MASK + 1).fill(undefined);

function relText(rel: RelFileNode): RelText {
  const slot = rel.relNode & REL_TEXTS_MASK;
  const known = relTexts[slot];
  // By value: a relation's object may be made again (a decoder in another thread, a full cache).
  if (known !== undefined && (known.rel === rel || (known.rel.relNode === rel.relNode && known.rel.dbNode === rel.dbNode && known.rel.spcNode === rel.spcNode)))
    return known;
  const path = `${rel.spcNode}/${rel.dbNode}/${rel.relNode}`;
  return (relTexts[slot] = { rel, path: literal(path), pathBlk: literal(`${path} blk `), pathText: path, heads: [] });
}

/** One block reference, as XLogRecGetBlockRefInfo writes it with pretty = true. */
function putBlockRef(b: Uint8Array, o: number, ref: BlockRef, detailed: boolean): number {
  const text = relText(ref.rel);
  const fork = ref.fork;
  if (detailed || fork !== 0) {
    o = putLiteral(b, o, (detailed ? BLOCK_HEADS_DETAILED : BLOCK_HEADS)[ref.id]!);
    o = putLiteral(b, o, text.path);
    o = putLiteral(b, o, FORK_TEXTS[fork]!);
    o = putLiteral(b, o, T.blk);
  } else {
    const id = ref.id;
    o = putLiteral(b, o, (text.heads[id] ??= literal(`, blkref #${id}: rel ${text.pathText} blk `)));
  }
  o = putUint(b, o, ref.blkno);
  if (ref.hasImage) {
    if (!detailed) return putLiteral(b, o, ref.applyImage ? T.fpw : T.fpwVerify);
    o = putLiteral(b, o, ref.applyImage ? T.fpwHole : T.fpwVerifyHole);
    o = putUint(b, o, ref.holeOffset);
    o = putLiteral(b, o, T.cLength);
    o = putUint(b, o, ref.holeLength);
    if ((ref.bimgInfo & BKPIMAGE_COMPRESSED_MASK) !== 0) {
      o = putLiteral(b, o, T.cCompressionSaved);
      o = putUint(b, o, BLCKSZ - ref.holeLength - ref.bimgLen);
      o = putLiteral(b, o, T.cMethod);
      o = putLiteral(b, o, compressionMethod(ref.bimgInfo));
    }
  }
  if (detailed) b[o++] = NEWLINE;
  return o;
}

/** The fixed part of a line that does not fit its template (see LINE_TEMPLATES), piece by piece. */
function putLineHead(b: Uint8Array, o: number, record: WalRecord, fpiLen: number): number {
  o = putLiteral(b, o, LINE_STARTS[record.rmid]!);
  o = putUint(b, o, record.totLen - fpiLen, 6);
  b[o++] = SLASH;
  o = putUint(b, o, record.totLen, 6);
  o = putLiteral(b, o, T.cTx);
  o = putUint(b, o, record.xid, 10);
  o = putLiteral(b, o, T.cLsn);
  o = putLsnPadded(b, o, record.lsnNumber);
  o = putLiteral(b, o, T.cPrev);
  o = putLsnPadded(b, o, record.prevNumber);
  return putLiteral(b, o, descHead(record.rmid, record.info));
}

/** One record's line(s) at `b[o]`; returns the offset after them (exact even past `b.length`). */
function putRecord(b: Uint8Array, o: number, record: WalRecord, detailed: boolean): number {
  const blocks = record.blocks;
  let fpiLen = 0;
  for (let i = 0; i < blocks.length; i++) {
    const ref = blocks[i];
    if (ref !== undefined && ref.hasImage) fpiLen += ref.bimgLen;
  }
  const totLen = record.totLen;
  const lsn = record.lsnNumber;
  const prev = record.prevNumber;
  if (totLen <= LEN_FIELD_MAX && lsn < TWO_DIGIT_LSN && prev < TWO_DIGIT_LSN) {
    const rmid = record.rmid;
    const template = LINE_TEMPLATES[rmid * 256 + record.info] ?? lineTemplate(rmid, record.info);
    putLiteral(b, o, template);
    const at = o + NAME_OVERFLOW[rmid]!;
    putDigitsBefore(b, at + REC_LEN_END, totLen - fpiLen);
    putDigitsBefore(b, at + TOT_LEN_END, totLen);
    putDigitsBefore(b, at + XID_END, record.xid);
    putLsnAt(b, at + LSN_HI_AT, lsn);
    putLsnAt(b, at + PREV_HI_AT, prev);
    o += template.bytes.length;
  } else {
    o = putLineHead(b, o, record, fpiLen);
  }
  o = putDesc(b, o, record);
  if (detailed) b[o++] = NEWLINE;
  for (let i = 0; i < blocks.length; i++) {
    const ref = blocks[i];
    if (ref !== undefined) o = putBlockRef(b, o, ref, detailed);
  }
  if (!detailed) b[o++] = NEWLINE;
  return o;
}

/** One record as pg_waldump prints it (XLogDumpDisplayRecord), trailing newline included. */
export function writeRecord(t: TextBuffer, record: WalRecord, detailed: boolean): void {
  let start = t.begin(RECORD_BYTES_GUESS + record.blocks.length * BLOCK_REF_BYTES_MAX);
  let end = putRecord(t.bytes, start, record, detailed);
  if (end > t.bytes.length) {
    // A desc text longer than the guess (thousands of xids, say): now its length is known.
    start = t.begin(end - start);
    end = putRecord(t.bytes, start, record, detailed);
    if (end > t.bytes.length) throw new Error('a record line came out longer the second time it was written');
  }
  t.commit(end);
}

interface Counter {
  count: number;
  recLen: number;
  fpiLen: number;
}

/** WalStats as plain data, for another thread (structured clone keeps no class). */
export interface WalStatsData {
  readonly count: number;
  readonly startLsn: bigint | undefined;
  readonly endLsn: bigint | undefined;
  readonly perRmgr: readonly (Counter | undefined)[];
  readonly perRecord: readonly ((Counter | undefined)[] | undefined)[];
}

function addCounter(to: Counter, c: Counter): void {
  to.count += c.count;
  to.recLen += c.recLen;
  to.fpiLen += c.fpiLen;
}

/** XLogStats: per-rmgr and per-record-type counts and sizes. */
export class WalStats {
  count = 0;
  startLsn: bigint | undefined;
  private readonly perRmgr: Counter[] = [];
  private readonly perRecord: Counter[][] = [];

  /** The end of the last record added, as a number: a bigint made per record cost a third of --stats. */
  private endLsnNumber = -1;

  get endLsn(): bigint | undefined {
    return this.endLsnNumber < 0 ? undefined : BigInt(this.endLsnNumber);
  }

  /** XLogRecStoreStats */
  add(record: WalRecord): void {
    this.count++;
    if (this.startLsn === undefined) this.startLsn = record.lsn;
    this.endLsnNumber = record.endLsnNumber;
    // recordLengths, without an object per record.
    const blocks = record.blocks;
    let fpiLen = 0;
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i];
      if (b !== undefined && b.hasImage) fpiLen += b.bimgLen;
    }
    const recLen = record.totLen - fpiLen;
    const rm = (this.perRmgr[record.rmid] ??= { count: 0, recLen: 0, fpiLen: 0 });
    rm.count++;
    rm.recLen += recLen;
    rm.fpiLen += fpiLen;
    let recid = record.info >> 4;
    // Transaction records keep an optional flag in the first of the four bits.
    if (record.rmid === RM_XACT_ID) recid &= 0x07;
    const row = (this.perRecord[record.rmid] ??= []);
    const c = (row[recid] ??= { count: 0, recLen: 0, fpiLen: 0 });
    c.count++;
    c.recLen += recLen;
    c.fpiLen += fpiLen;
  }

  data(): WalStatsData {
    return { count: this.count, startLsn: this.startLsn, endLsn: this.endLsn, perRmgr: this.perRmgr, perRecord: this.perRecord };
  }

  /** Adds the counts of WAL that follows what this has counted (a later range decoded elsewhere). */
  merge(d: WalStatsData): void {
    if (d.count === 0) return;
    this.count += d.count;
    this.startLsn ??= d.startLsn;
    if (d.endLsn !== undefined) this.endLsnNumber = Number(d.endLsn);
    d.perRmgr.forEach((c, rmid) => {
      if (c !== undefined) addCounter((this.perRmgr[rmid] ??= { count: 0, recLen: 0, fpiLen: 0 }), c);
    });
    d.perRecord.forEach((row, rmid) => {
      row?.forEach((c, recid) => {
        if (c !== undefined) addCounter(((this.perRecord[rmid] ??= [])[recid] ??= { count: 0, recLen: 0, fpiLen: 0 }), c);
      });
    });
  }

  /** XLogDumpDisplayStats */
  format(perRecord: boolean): string {
    const endLsn = this.endLsn;
    if (endLsn === undefined || this.startLsn === undefined) return '';
    let totalCount = 0;
    let totalRec = 0;
    let totalFpi = 0;
    for (const c of this.perRmgr) {
      if (c === undefined) continue;
      totalCount += c.count;
      totalRec += c.recLen;
      totalFpi += c.fpiLen;
    }
    const totalLen = totalRec + totalFpi;
    const pct = (n: number, total: number) => (total === 0 ? 0 : (100 * n) / total).toFixed(2).padStart(6, ' ');
    const row = (name: string, c: Counter) =>
      `${name.padEnd(27, ' ')} ${pad(c.count, 20)} (${pct(c.count, totalCount)}) ${pad(c.recLen, 20)} (${pct(c.recLen, totalRec)}) ` +
      `${pad(c.fpiLen, 20)} (${pct(c.fpiLen, totalFpi)}) ${pad(c.recLen + c.fpiLen, 20)} (${pct(c.recLen + c.fpiLen, totalLen)})\n`;
    const cols = (a: readonly string[]) =>
      `${a[0]!.padEnd(27, ' ')} ${pad(a[1]!, 20)} ${pad(a[2]!, 8)} ${pad(a[3]!, 20)} ${pad(a[4]!, 8)} ${pad(a[5]!, 20)} ${pad(a[6]!, 8)} ${pad(a[7]!, 20)} ${pad(a[8]!, 8)}\n`;
    let s = `WAL statistics between ${formatLsn(this.startLsn)} and ${formatLsn(endLsn)}:\n`;
    s += cols(['Type', 'N', '(%)', 'Record size', '(%)', 'FPI size', '(%)', 'Combined size', '(%)']);
    s += cols(['----', '-', '---', '-----------', '---', '--------', '---', '-------------', '---']);
    const zero: Counter = { count: 0, recLen: 0, fpiLen: 0 };
    for (let ri = 0; ri <= RM_MAX_BUILTIN_ID; ri++) {
      const m = RMGRS[ri]!;
      if (!perRecord) {
        s += row(m.name, this.perRmgr[ri] ?? zero);
        continue;
      }
      const types = this.perRecord[ri] ?? [];
      for (let rj = 0; rj < 16; rj++) {
        const c = types[rj];
        if (c === undefined || c.count === 0) continue;
        const id = m.identify(rj << 4) ?? `UNKNOWN (${(rj << 4).toString(16)})`;
        s += row(`${m.name}/${id}`, c);
      }
    }
    // Custom rmgrs (128-255) appear only when they occurred.
    for (let ri = RM_MAX_BUILTIN_ID + 1; ri < this.perRmgr.length; ri++) {
      const c = this.perRmgr[ri];
      if (c === undefined || c.count === 0) continue;
      const name = `custom${String(ri).padStart(3, '0')}`;
      if (!perRecord) s += row(name, c);
      else
        for (const [rj, rc] of (this.perRecord[ri] ?? []).entries())
          if (rc !== undefined && rc.count > 0) s += row(`${name}/UNKNOWN (${(rj << 4).toString(16)})`, rc);
    }
    s += `${''.padEnd(27, ' ')} ${pad('--------', 20)} ${pad('', 8)} ${pad('--------', 20)} ${pad('', 8)} ${pad('--------', 20)} ${pad('', 8)} ${pad('--------', 20)}\n`;
    const recPct = totalLen === 0 ? 0 : (100 * totalRec) / totalLen;
    const fpiPct = totalLen === 0 ? 0 : (100 * totalFpi) / totalLen;
    s +=
      `${'Total'.padEnd(27, ' ')} ${pad(this.count, 20)} ${''.padEnd(9, ' ')}${pad(totalRec, 20)} ${`[${recPct.toFixed(2)}%]`.padEnd(9, ' ')}` +
      `${pad(totalFpi, 20)} ${`[${fpiPct.toFixed(2)}%]`.padEnd(9, ' ')}${pad(totalLen, 20)} ${'[100%]'.padEnd(6, ' ')}\n`;
    return s;
  }
}
