/**
 * The stream decoder on WAL a real PostgreSQL 15 wrote (1 MiB segments, so records cross segment
 * boundaries often): the same records whatever the chunking, and corrupted WAL ends decoding with
 * the reason pg_waldump gives, nothing but a WalDecodeError escaping and nothing hanging.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADDON_URL, crc32c } from '../pg/crc32c.js';
import { formatLsn, lsn, parseWalFileName, segmentStart, type Lsn } from '../pg/lsn.js';
import { PgCluster } from '../testing/cluster.js';
import { runAllWorkloads } from '../testing/workloads.js';
import { pgWaldump, strataWaldump } from '../testing/waldump-oracle.js';
import { decodeAll, WalDecoder } from './decoder.js';
import { WalDecodeError } from './errors.js';
import type { WalRecord } from './record.js';

const SEG = 1 << 20;
const PAGE = 8192;

interface Wal {
  bytes: Buffer;
  start: number;
  records: WalRecord[];
  end: WalDecodeError | undefined;
  walDir: string;
}

let cluster: PgCluster | undefined;
let wal: Wal;

async function makeWal(): Promise<Wal> {
  cluster = await PgCluster.create({ name: 'decoder', walSegSizeMb: 1, settings: { wal_compression: 'lz4' } });
  await runAllWorkloads(cluster, { only: ['pgbench', 'logical_messages', 'subtransactions', 'wal_switch'] });
  await cluster.query(`SELECT pg_logical_emit_message(false, 'strata', repeat('y', 3000000))`);
  await cluster.stop('fast');
  const walDir = join(cluster.dataDir, 'pg_wal');
  const segs = readdirSync(walDir)
    .map((n) => ({ n, p: parseWalFileName(n, SEG) }))
    .filter((s) => s.p !== null && s.p.timeline === 1)
    .sort((a, b) => (a.p!.segNo < b.p!.segNo ? -1 : 1));
  // The consecutive run of segments from the oldest.
  const chosen = [];
  for (const s of segs) {
    if (chosen.length > 0 && s.p!.segNo !== chosen[chosen.length - 1]!.p!.segNo + 1n) break;
    chosen.push(s);
  }
  const bytes = Buffer.concat(chosen.map((s) => readFileSync(join(walDir, s.n))));
  const start = Number(segmentStart(chosen[0]!.p!.segNo, SEG));
  const { records, end } = decodeAll(bytes, { startLsn: lsn(start), segmentSize: SEG });
  return { bytes, start, records, end, walDir };
}

function sameRecords(actual: readonly WalRecord[], expected: readonly WalRecord[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: record count`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (a.lsn !== e.lsn || a.endLsn !== e.endLsn || Buffer.compare(a.raw, e.raw) !== 0)
      assert.fail(`${what}: record ${i} differs: got ${formatLsn(a.lsn)}-${formatLsn(a.endLsn)}, want ${formatLsn(e.lsn)}-${formatLsn(e.endLsn)}`);
  }
}

/** Decodes `bytes` (starting at stream offset `from`) pushed in the given chunk sizes. */
function decodeChunks(from: number, to: number, sizes: (i: number) => number, prev?: Lsn): WalRecord[] {
  const d = new WalDecoder({ startLsn: lsn(wal.start + from), segmentSize: SEG, ...(prev !== undefined ? { prevLsn: prev } : {}) });
  const out: WalRecord[] = [];
  let pos = from;
  for (let i = 0; pos < to; i++) {
    const n = Math.min(Math.max(1, sizes(i)), to - pos);
    d.push(wal.bytes.subarray(pos, pos + n));
    pos += n;
    try {
      for (;;) {
        const r = d.next();
        if (r === undefined) break;
        out.push(r);
      }
    } catch (e) {
      // Only the end of valid WAL may stop it, and exactly where the reference stopped.
      if (!(e instanceof WalDecodeError) || e.message !== wal.end?.message) throw e;
      return out;
    }
  }
  return out;
}

/** The reference records that lie wholly in [from, to) of the stream. */
function recordsIn(from: number, to: number): WalRecord[] {
  return wal.records.filter((r) => Number(r.lsn) >= wal.start + from && Number(r.endLsn) <= wal.start + to);
}

/** A record start at or before `offset`, and the previous record's LSN. */
function recordStartBefore(offset: number): { at: number; prev: Lsn | undefined } {
  let best = 0;
  let prev: Lsn | undefined;
  for (let i = 0; i < wal.records.length; i++) {
    const o = Number(wal.records[i]!.lsn) - wal.start;
    if (o > offset) break;
    best = o;
    prev = i > 0 ? wal.records[i - 1]!.lsn : undefined;
  }
  return { at: best, prev };
}

/** A record end (the next record's start) at or after `offset`. */
function recordEndAfter(offset: number): number {
  for (const r of wal.records) {
    const e = Number(r.endLsn) - wal.start;
    if (e >= offset && r.totLen < PAGE) return e;
  }
  return wal.bytes.length;
}

before(async () => {
  wal = await makeWal();
});

after(async () => {
  await cluster?.destroy();
});

describe('stream decoding', () => {
  test('the WAL is worth testing on', () => {
    assert.ok(wal.records.length > 10_000, `records: ${wal.records.length}`);
    assert.ok(wal.bytes.length >= 4 * SEG, `segments: ${wal.bytes.length / SEG}`);
    const crossSegment = wal.records.filter((r) => Math.floor(Number(r.lsn) / SEG) !== Math.floor((Number(r.endLsn) - 1) / SEG));
    assert.ok(crossSegment.length >= 3, 'records that cross segment boundaries');
    const headerSplit = wal.records.filter((r) => Number(r.lsn) % PAGE > PAGE - 24);
    assert.ok(headerSplit.length >= 1, 'a record whose header is split across pages');
    assert.ok(wal.end !== undefined, 'decoding ends at the end of valid WAL');
  });

  test('the same records as pg_waldump, start to end', () => {
    const startText = formatLsn(BigInt(wal.start));
    const expected = pgWaldump(['-p', wal.walDir, '-s', startText]);
    const lsns = expected.lines.map((l) => /lsn: ([0-9A-F]+\/[0-9A-F]+)/.exec(l)?.[1]).filter((x) => x !== undefined);
    assert.deepEqual(
      wal.records.map((r) => formatLsn(r.lsn).replace(/\/(.*)$/, (_m, lo: string) => '/' + lo.padStart(8, '0'))),
      lsns,
    );
  });

  test('random chunk sizes give the same records', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed);
    for (const maxChunk of [7, 300, 8192, 65536, 1 << 20]) {
      const got = decodeChunks(0, wal.bytes.length, () => 1 + (rnd() % maxChunk));
      sameRecords(got, wal.records, `chunks up to ${maxChunk} bytes`);
    }
  });

  test('a split at every offset around page and segment boundaries gives the same records', () => {
    const boundaries: number[] = [];
    // Page boundaries crossed by a record, a record whose header is split, and segment boundaries.
    const crossing = wal.records.find((r) => Number(r.lsn) % PAGE > 200 && Math.floor(Number(r.lsn) / PAGE) !== Math.floor((Number(r.endLsn) - 1) / PAGE) && r.totLen < 2000);
    const headerSplit = wal.records.find((r) => Number(r.lsn) % PAGE > PAGE - 24);
    if (crossing) boundaries.push(Math.ceil((Number(crossing.lsn) - wal.start) / PAGE) * PAGE);
    if (headerSplit) boundaries.push(Math.ceil((Number(headerSplit.lsn) - wal.start) / PAGE) * PAGE);
    boundaries.push(SEG, 2 * SEG, 3 * SEG);
    for (const b of boundaries) {
      const { at, prev } = recordStartBefore(b - 3000);
      const to = recordEndAfter(b + 3000);
      const expected = recordsIn(at, to);
      for (let k = b - 48; k <= b + 48; k++) {
        const got = decodeChunks(at, to, (i) => (i === 0 ? k - at : to), prev);
        sameRecords(got, expected, `split at stream offset ${k} (boundary ${b})`);
      }
    }
  });

  test('a caller done with each record before the next may reuse its chunks and the reassembly memory', () => {
    // What readWal does for waldump: two read buffers in turn, and reuseMemory for records that
    // cross pages. Each record is copied out as it comes: its bytes, block data and main data.
    const CHUNK = 5000;
    const d = new WalDecoder({ startLsn: lsn(wal.start), segmentSize: SEG, reuseMemory: true });
    const buffers = [Buffer.alloc(CHUNK), Buffer.alloc(CHUNK)];
    const got: { lsn: Lsn; raw: Buffer; parts: Buffer }[] = [];
    const partsOf = (r: WalRecord) => Buffer.concat([r.mainData, ...r.blocks.flatMap((b) => (b === undefined ? [] : [b.data, b.image]))]);
    let ended = false;
    for (let pos = 0, i = 0; pos < wal.bytes.length && !ended; i++) {
      const n = Math.min(CHUNK, wal.bytes.length - pos);
      const buf = buffers[i % 2]!;
      wal.bytes.copy(buf, 0, pos, pos + n);
      pos += n;
      d.push(n === CHUNK ? buf : buf.subarray(0, n));
      try {
        for (let r = d.next(); r !== undefined; r = d.next()) got.push({ lsn: r.lsn, raw: Buffer.from(r.raw), parts: partsOf(r) });
      } catch (e) {
        if (!(e instanceof WalDecodeError) || e.message !== wal.end?.message) throw e;
        ended = true;
      }
    }
    assert.equal(got.length, wal.records.length);
    for (let i = 0; i < got.length; i++) {
      const e = wal.records[i]!;
      const g = got[i]!;
      if (g.lsn !== e.lsn || Buffer.compare(g.raw, e.raw) !== 0 || Buffer.compare(g.parts, partsOf(e)) !== 0)
        assert.fail(`record ${i} at ${formatLsn(e.lsn)} differs`);
    }
  });

  test('one byte at a time across a segment boundary gives the same records', () => {
    const { at, prev } = recordStartBefore(2 * SEG - 20_000);
    const to = recordEndAfter(2 * SEG + 20_000);
    sameRecords(decodeChunks(at, to, () => 1, prev), recordsIn(at, to), 'one byte at a time');
  });

  test('starting at a segment boundary skips the tail of a record that began before it', () => {
    const crossing = wal.records.find((r) => Math.floor(Number(r.lsn) / SEG) !== Math.floor((Number(r.endLsn) - 1) / SEG));
    assert.ok(crossing);
    const segOff = Math.floor((Number(crossing.endLsn) - 1) / SEG) * SEG - wal.start;
    const got = decodeChunks(segOff, wal.bytes.length, () => 1 << 20);
    sameRecords(got, wal.records.filter((r) => Number(r.lsn) >= wal.start + segOff), 'from the segment start');
  });

  test('input that stops in the middle of a record ends with INCOMPLETE after finish()', () => {
    const r = wal.records.find((x) => x.totLen > 100 && Number(x.lsn) > wal.start + SEG)!;
    const cut = Number(r.lsn) - wal.start + 50;
    const d = new WalDecoder({ startLsn: lsn(wal.start), segmentSize: SEG });
    d.push(wal.bytes.subarray(0, cut));
    d.finish();
    assert.throws(
      () => {
        while (d.next() !== undefined);
      },
      (e: unknown) => e instanceof WalDecodeError && e.code === 'INCOMPLETE' && e.lsn === r.lsn,
    );
  });
});

describe('corrupt WAL', () => {
  /** Copies pg_wal, applies `corrupt` to the stream bytes, and compares strata with pg_waldump. */
  async function checkAgainstPgWaldump(name: string, corrupt: (b: Buffer) => void, code: WalDecodeError['code']): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'strata-corrupt-'));
    try {
      cpSync(wal.walDir, dir, { recursive: true });
      const b = Buffer.from(wal.bytes);
      corrupt(b);
      for (let off = 0; off < b.length; off += SEG) {
        const segNo = BigInt(Math.floor((wal.start + off) / SEG));
        const hex = (n: bigint) => n.toString(16).toUpperCase().padStart(8, '0');
        writeFileSync(join(dir, `00000001${hex(segNo / 4096n)}${hex(segNo % 4096n)}`), b.subarray(off, off + SEG));
      }
      const start = formatLsn(BigInt(wal.start));
      const expected = pgWaldump(['-p', dir, '-s', start]);
      const actual = await strataWaldump([], { path: dir, start });
      assert.equal(actual.error, expected.error, `${name}: the same reason as pg_waldump`);
      assert.equal(actual.lines.length, expected.lines.length, `${name}: as many records as pg_waldump`);
      const { end } = decodeAll(b, { startLsn: lsn(wal.start), segmentSize: SEG });
      assert.equal(end?.code, code, `${name}: error code (${end?.message})`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const pick = (pred: (r: WalRecord) => boolean): WalRecord => {
    const r = wal.records.find((x) => Number(x.lsn) > wal.start + SEG && pred(x));
    assert.ok(r, 'a record to corrupt');
    return r;
  };
  const off = (l: Lsn | number) => Number(l) - wal.start;

  test('a flipped bit in a payload: bad CRC', async () => {
    const r = pick((x) => x.totLen > 100 && x.totLen < 2000 && Number(x.lsn) % PAGE < 4000);
    await checkAgainstPgWaldump('payload bit flip', (b) => (b[off(r.lsn) + 60]! ^= 0x10), 'BAD_CRC');
  });

  test('a flipped bit in a page magic: invalid magic number', async () => {
    const page = Math.ceil(off(pick(() => true).lsn) / PAGE) * PAGE + PAGE;
    await checkAgainstPgWaldump('magic bit flip', (b) => (b[page]! ^= 0x01), 'INVALID_MAGIC');
  });

  test('a page from elsewhere: unexpected pageaddr', async () => {
    const page = Math.ceil(off(pick(() => true).lsn) / PAGE) * PAGE + 3 * PAGE;
    await checkAgainstPgWaldump('wrong pageaddr', (b) => b.writeUInt32LE(b.readUInt32LE(page + 8) + 16 * PAGE, page + 8), 'UNEXPECTED_PAGEADDR');
  });

  test('a zeroed tail: invalid record length', async () => {
    const r = pick((x) => Number(x.lsn) % PAGE < 2000);
    await checkAgainstPgWaldump('zeroed tail', (b) => b.fill(0, off(r.lsn), Math.ceil(off(r.lsn) / SEG) * SEG), 'INVALID_RECORD_LENGTH');
  });

  test('a zeroed page inside a record that crosses pages: invalid magic number', async () => {
    const r = pick((x) => x.totLen > 3 * PAGE);
    const page = Math.ceil(off(r.lsn) / PAGE) * PAGE + PAGE;
    await checkAgainstPgWaldump('zeroed page', (b) => b.fill(0, page, page + PAGE), 'INVALID_MAGIC');
  });

  test('garbage page', async () => {
    const page = Math.ceil(off(pick(() => true).lsn) / PAGE) * PAGE + 5 * PAGE;
    let seed = 7;
    await checkAgainstPgWaldump(
      'garbage page',
      (b) => {
        for (let i = page; i < page + PAGE; i++) b[i] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16;
      },
      'INVALID_MAGIC',
    );
  });

  test('a broken prev-link with a valid CRC', async () => {
    const r = pick((x) => x.totLen < 500 && Number(x.lsn) % PAGE < 6000);
    await checkAgainstPgWaldump(
      'prev-link',
      (b) => {
        const o = off(r.lsn);
        b.writeUInt32LE(b.readUInt32LE(o + 8) - 8, o + 8);
        const rec = b.subarray(o, o + r.totLen);
        rec.writeUInt32LE(crc32c(rec.subarray(0, 20), crc32c(rec.subarray(24))), 20);
      },
      'BAD_PREV_LINK',
    );
  });

  test('a continuation page without the contrecord flag', async () => {
    const r = pick((x) => x.totLen > 2 * PAGE);
    const page = Math.ceil(off(r.lsn) / PAGE) * PAGE;
    await checkAgainstPgWaldump('contrecord flag', (b) => b.writeUInt16LE(b.readUInt16LE(page + 2) & ~1, page + 2), 'MISSING_CONTRECORD');
  });

  test('a continuation page with the wrong remaining length', async () => {
    const r = pick((x) => x.totLen > 2 * PAGE);
    const page = Math.ceil(off(r.lsn) / PAGE) * PAGE;
    await checkAgainstPgWaldump('rem_len', (b) => b.writeUInt32LE(b.readUInt32LE(page + 16) + 8, page + 16), 'INVALID_CONTRECORD_LENGTH');
  });

  test('random bit flips: only WalDecodeError escapes, records before the damage are intact', () => {
    let seed = 99;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed);
    const from = recordStartBefore(SEG + 100_000);
    const to = recordEndAfter(SEG + 400_000);
    const window = wal.bytes.subarray(from.at, to);
    const expected = recordsIn(from.at, to);
    for (let trial = 0; trial < 300; trial++) {
      const b = Buffer.from(window);
      const pos = rnd() % b.length;
      b[pos]! ^= 1 << (rnd() % 8);
      const d = new WalDecoder({ startLsn: lsn(wal.start + from.at), segmentSize: SEG, ...(from.prev ? { prevLsn: from.prev } : {}) });
      d.push(b);
      d.finish();
      const got: WalRecord[] = [];
      try {
        for (const r of d.records()) got.push(r);
      } catch (e) {
        assert.ok(e instanceof WalDecodeError, `trial ${trial}: ${String(e)}`);
      }
      const damaged = wal.start + from.at + pos;
      for (const [i, r] of got.entries()) {
        if (Number(r.endLsn) > damaged) break;
        assert.equal(r.lsn, expected[i]!.lsn, `trial ${trial}: record ${i} before the damage`);
      }
    }
  });
});

// Skipped as the addon's own tests are (crc32c.test.ts): only where it was not built.
describe('CRCs checked ahead in one native call', { skip: process.env['STRATA_NATIVE_CRC32C'] === '0' || !existsSync(fileURLToPath(ADDON_URL)) ? "strata's CRC addon is not built or is switched off" : false }, () => {
  /** The records and the end of `bytes` decoded with and without checking CRCs ahead. */
  function bothWays(bytes: Uint8Array, from: { at: number; prev: Lsn | undefined }, chunk: number) {
    const run = (crcBatches: boolean) => {
      const d = new WalDecoder({ startLsn: lsn(wal.start + from.at), segmentSize: SEG, crcBatches, ...(from.prev ? { prevLsn: from.prev } : {}) });
      const got: WalRecord[] = [];
      let end: WalDecodeError | undefined;
      try {
        for (let o = 0; o < bytes.length; o += chunk) {
          d.push(bytes.subarray(o, o + chunk));
          for (const r of d.records()) got.push(r);
        }
        d.finish();
        for (const r of d.records()) got.push(r);
      } catch (e) {
        if (!(e instanceof WalDecodeError)) throw e;
        end = e;
      }
      return { got, end };
    };
    return { ahead: run(true), oneByOne: run(false) };
  }

  function sameEnd(what: string, bytes: Uint8Array, from: { at: number; prev: Lsn | undefined }, chunk: number): void {
    const { ahead, oneByOne } = bothWays(bytes, from, chunk);
    sameRecords(ahead.got, oneByOne.got, what);
    assert.equal(ahead.end?.message, oneByOne.end?.message, `${what}: the same end`);
    assert.equal(ahead.end?.lsn, oneByOne.end?.lsn, `${what}: the same end LSN`);
  }

  test('the same records from the whole WAL, in segments and in odd chunks', () => {
    const all = { at: 0, prev: undefined };
    const { ahead } = bothWays(wal.bytes, all, SEG);
    sameRecords(ahead.got, wal.records.length > 0 ? recordsIn(0, wal.bytes.length) : [], 'segments');
    assert.equal(ahead.end?.message, wal.end?.message);
    sameEnd('chunks of 100,003 bytes', wal.bytes, all, 100_003);
    sameEnd('chunks of 7,777 bytes', wal.bytes, all, 7_777);
  });

  /** The records that lie on one page (those checked ahead), in the window of WAL where most are. */
  function denseWindow(windowBytes: number): { from: { at: number; prev: Lsn | undefined }; to: number; onPage: WalRecord[] } {
    const onPage = wal.records.filter((r) => Number(r.lsn) % PAGE + r.totLen <= PAGE);
    let best = 0;
    let bestCount = 0;
    for (let i = 0, j = 0; i < onPage.length; i++) {
      while (j < onPage.length && Number(onPage[j]!.endLsn) <= Number(onPage[i]!.lsn) + windowBytes) j++;
      if (j - i > bestCount) [best, bestCount] = [i, j - i];
    }
    const from = recordStartBefore(Number(onPage[best]!.lsn) - wal.start);
    const to = recordEndAfter(from.at + windowBytes);
    return { from, to, onPage: recordsIn(from.at, to).filter((r) => Number(r.lsn) % PAGE + r.totLen <= PAGE) };
  }

  test('a bad CRC anywhere in a run of records checked together ends decoding at that record, as one by one', () => {
    const { from, to, onPage: candidates } = denseWindow(200_000);
    const window = wal.bytes.subarray(from.at, to);
    assert.ok(candidates.length > 500, `records on one page to damage: ${candidates.length}`);
    let seed = 17;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed);
    for (let trial = 0; trial < 150; trial++) {
      const r = candidates[rnd() % candidates.length]!;
      const b = Buffer.from(window);
      // Any byte but xl_tot_len (whose damage other checks may catch first, also compared below).
      const at = Number(r.lsn) - wal.start - from.at + 4 + (rnd() % (r.totLen - 4));
      b[at]! ^= 1 << (rnd() % 8);
      const { ahead, oneByOne } = bothWays(b, from, window.length);
      sameRecords(ahead.got, oneByOne.got, `trial ${trial}`);
      assert.equal(ahead.end?.message, oneByOne.end?.message, `trial ${trial}: the same end`);
      assert.ok(ahead.end !== undefined && ahead.end.lsn <= r.lsn, `trial ${trial}: decoding ends at or before the damaged record`);
    }
  });

  test('random bit flips anywhere: the same records and the same end as one by one', () => {
    let seed = 4242;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed);
    const { from, to } = denseWindow(200_000);
    const window = wal.bytes.subarray(from.at, to);
    for (let trial = 0; trial < 200; trial++) {
      const b = Buffer.from(window);
      b[rnd() % b.length]! ^= 1 << (rnd() % 8);
      sameEnd(`trial ${trial}`, b, from, trial % 2 === 0 ? b.length : 65_536);
    }
  });
});
