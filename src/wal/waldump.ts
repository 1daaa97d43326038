/**
 * pg_waldump's text, produced from decoded records: one record's lines (XLogDumpDisplayRecord with
 * XLogRecGetBlockRefInfo) and the `--stats` table (XLogDumpDisplayStats). Pure: strings out, so the
 * CLI and the tests that diff against pg_waldump share it.
 */
import { BKPIMAGE_COMPRESS_LZ4, BKPIMAGE_COMPRESS_PGLZ, BKPIMAGE_COMPRESS_ZSTD, BKPIMAGE_COMPRESSED_MASK, BLCKSZ, XLR_INFO_MASK } from '../pg/constants.js';
import { formatLsn } from '../pg/lsn.js';
import { RM_MAX_BUILTIN_ID, RM_XACT_ID } from '../pg/rmgr-ids.js';
import { FORK_NAMES } from '../pg/types.js';
import { WalDecodeError } from './errors.js';
import { recordLengths, type BlockRef, type WalRecord } from './record.js';
import { RMGRS } from './rmgr/index.js';
import { putAscii, putBytes, putLsnPadded, putUint, type TextBuffer } from './text-buffer.js';

const NEWLINE = 0x0a;
const SLASH = 0x2f;

function pad(s: string | number, width: number): string {
  return String(s).padStart(width, ' ');
}

/** `desc: ID rm_desc` without the block references. */
export function describeText(record: WalRecord): string {
  const m = RMGRS[record.rmid];
  const id = m?.identify(record.info);
  const head = id ?? `UNKNOWN (${(record.info & ~XLR_INFO_MASK).toString(16)})`;
  if (m === undefined) return `${head} `;
  try {
    // Even an unnamed info value can decode (heap, BRIN pick the type by opcode bits), as in pg_waldump.
    return `${head} ${m.format(m.describe(record), record)}`;
  } catch (e) {
    if (!(e instanceof WalDecodeError)) throw e;
    // pg_waldump's rm_desc prints nothing for a type it does not know; any other failure is shown.
    return e.code === 'UNKNOWN_RECORD_TYPE' && id === undefined ? `${head} ` : `${head} <${e.message}>`;
  }
}

/** `rmgr: NAME        len (rec/tot): ` for each rmgr id, as bytes, built once. */
const LINE_HEADS: readonly Uint8Array[] = Array.from({ length: 256 }, (_, id) => {
  const name = RMGRS[id]?.name ?? `custom${String(id).padStart(3, '0')}`;
  return Buffer.from(`rmgr: ${name.padEnd(11, ' ')} len (rec/tot): `, 'latin1');
});

/** The longest block reference text (-b, compressed image), with room to spare. */
const BLOCK_REF_BYTES_MAX = 200;
const FIXED_PART_BYTES_MAX = 160;

function compressionMethod(bimgInfo: number): string {
  if ((bimgInfo & BKPIMAGE_COMPRESS_PGLZ) !== 0) return 'pglz';
  if ((bimgInfo & BKPIMAGE_COMPRESS_LZ4) !== 0) return 'lz4';
  if ((bimgInfo & BKPIMAGE_COMPRESS_ZSTD) !== 0) return 'zstd';
  return 'unknown';
}

/** One block reference, as XLogRecGetBlockRefInfo writes it with pretty = true. */
function putBlockRef(b: Uint8Array, o: number, ref: BlockRef, detailed: boolean): number {
  o = putAscii(b, o, detailed ? '\tblkref #' : ', blkref #');
  o = putUint(b, o, ref.id);
  o = putAscii(b, o, ': rel ');
  o = putUint(b, o, ref.rel.spcNode);
  b[o++] = SLASH;
  o = putUint(b, o, ref.rel.dbNode);
  b[o++] = SLASH;
  o = putUint(b, o, ref.rel.relNode);
  if (detailed || ref.fork !== 0) {
    o = putAscii(b, o, ' fork ');
    o = putAscii(b, o, FORK_NAMES[ref.fork] ?? String(ref.fork));
  }
  o = putAscii(b, o, ' blk ');
  o = putUint(b, o, ref.blkno);
  if (ref.hasImage) {
    if (!detailed) return putAscii(b, o, ref.applyImage ? ' FPW' : ' FPW for WAL verification');
    o = putAscii(b, o, ref.applyImage ? ' (FPW); hole: offset: ' : ' (FPW for WAL verification); hole: offset: ');
    o = putUint(b, o, ref.holeOffset);
    o = putAscii(b, o, ', length: ');
    o = putUint(b, o, ref.holeLength);
    if ((ref.bimgInfo & BKPIMAGE_COMPRESSED_MASK) !== 0) {
      o = putAscii(b, o, ', compression saved: ');
      o = putUint(b, o, BLCKSZ - ref.holeLength - ref.bimgLen);
      o = putAscii(b, o, ', method: ');
      o = putAscii(b, o, compressionMethod(ref.bimgInfo));
    }
  }
  if (detailed) b[o++] = NEWLINE;
  return o;
}

/** One record as pg_waldump prints it (XLogDumpDisplayRecord), trailing newline included. */
export function writeRecord(t: TextBuffer, record: WalRecord, detailed: boolean): void {
  let fpiLen = 0;
  for (const ref of record.blocks) if (ref !== undefined && ref.hasImage) fpiLen += ref.bimgLen;
  let o = t.begin(FIXED_PART_BYTES_MAX);
  let b = t.bytes;
  o = putBytes(b, o, LINE_HEADS[record.rmid]!);
  o = putUint(b, o, record.totLen - fpiLen, 6);
  b[o++] = SLASH;
  o = putUint(b, o, record.totLen, 6);
  o = putAscii(b, o, ', tx: ');
  o = putUint(b, o, record.xid, 10);
  o = putAscii(b, o, ', lsn: ');
  o = putLsnPadded(b, o, record.lsnNumber);
  o = putAscii(b, o, ', prev ');
  o = putLsnPadded(b, o, record.prevNumber);
  o = putAscii(b, o, ', desc: ');
  t.commit(o);
  t.text(describeText(record));
  o = t.begin(1 + record.blocks.length * BLOCK_REF_BYTES_MAX + 1);
  b = t.bytes;
  if (detailed) b[o++] = NEWLINE;
  for (const ref of record.blocks) if (ref !== undefined) o = putBlockRef(b, o, ref, detailed);
  if (!detailed) b[o++] = NEWLINE;
  t.commit(o);
}

interface Counter {
  count: number;
  recLen: number;
  fpiLen: number;
}

/** XLogStats: per-rmgr and per-record-type counts and sizes. */
export class WalStats {
  count = 0;
  startLsn: bigint | undefined;
  endLsn: bigint | undefined;
  private readonly perRmgr: Counter[] = [];
  private readonly perRecord: Counter[][] = [];

  /** XLogRecStoreStats */
  add(record: WalRecord): void {
    this.count++;
    if (this.startLsn === undefined) this.startLsn = record.lsn;
    this.endLsn = record.endLsn;
    const { recLen, fpiLen } = recordLengths(record);
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

  /** XLogDumpDisplayStats */
  format(perRecord: boolean): string {
    if (this.endLsn === undefined || this.startLsn === undefined) return '';
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
    let s = `WAL statistics between ${formatLsn(this.startLsn)} and ${formatLsn(this.endLsn)}:\n`;
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
