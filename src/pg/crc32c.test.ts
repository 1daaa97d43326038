import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c as nodeRsCrc32c } from '@node-rs/crc32';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ADDON_URL, crc32c, crc32cImplementation, crc32cRange, scanXLogRecords, strataCrc32cAddon } from './crc32c.js';
import { crc32cRangeJs } from './crc32c-js.js';

function pseudoRandomBytes(n: number, seed = 1): Buffer {
  const data = Buffer.alloc(n);
  for (let i = 0; i < n; i++) data[i] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16;
  return data;
}

// Skipped only where the addon was not built (no compiler): CI checks that it was (.ci/run), and a
// built addon that fails to load fails these tests rather than skipping them.
const noAddon =
  process.env['STRATA_NATIVE_CRC32C'] === '0' ? 'STRATA_NATIVE_CRC32C=0' : existsSync(fileURLToPath(ADDON_URL)) ? false : "strata's CRC addon is not built (npm run build:native)";

test('CRC-32C matches the standard check value and continues across calls', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  const whole = crc32c(Buffer.from('hello, world'));
  assert.equal(crc32c(Buffer.from(', world'), crc32c(Buffer.from('hello'))), whole);
});

test('the JavaScript path equals @node-rs/crc32 at every length, offset and running CRC', () => {
  const data = pseudoRandomBytes(2048);
  for (let len = 0; len <= 1100; len++) {
    const start = len % 13;
    const prev = (len * 2654435761) >>> 0;
    const expected = nodeRsCrc32c(data.subarray(start, start + len), prev) >>> 0;
    assert.equal(crc32cRange(data, start, start + len, prev), expected, `length ${len} (${crc32cImplementation})`);
    assert.equal(crc32cRangeJs(data, start, start + len, prev), expected, `length ${len}, JavaScript only`);
  }
});

test("strata's addon is the implementation in use when it is built", { skip: noAddon }, () => {
  assert.equal(crc32cImplementation, 'strata-addon');
  assert.equal(scanXLogRecords, strataCrc32cAddon!.scanXLogRecords);
});

test("strata's addon equals JavaScript at every length to 1100 and around its paths' edges, unaligned", { skip: noAddon }, () => {
  const a = strataCrc32cAddon!;
  assert.equal(a.crc32c(Buffer.from('123456789'), 0, 9, 0), 0xe3069283);
  const data = pseudoRandomBytes(40_000, 5);
  const lengths: number[] = [];
  for (let len = 0; len <= 1100; len++) lengths.push(len);
  // Around 3 x 256 and 3 x 2048 (where the three-stream loops start), and several long rounds.
  for (const edge of [768, 1536, 6144, 12288, 18432, 30000]) for (let d = -9; d <= 9; d++) lengths.push(edge + d);
  for (const len of lengths) {
    const start = (len * 7) % 13;
    const prev = (len * 2654435761) >>> 0;
    assert.equal(a.crc32c(data, start, start + len, prev), crc32cRangeJs(data, start, start + len, prev), `length ${len} at ${start}`);
  }
  assert.equal(a.crc32c(new Uint8Array(0), 0, 0, 0), 0);
  assert.throws(() => a.crc32c(data, 10, data.length + 1, 0), RangeError);
  assert.throws(() => a.crc32c(data, 10, 9, 0), RangeError);
});

/** Lengths around every path's edges: short tails, 64 and 128 (folding), 256, 768 and 6144 (three streams of 256 and 2048 bytes), long rounds. */
const PATH_LENGTHS = [0, 1, 3, 4, 5, 7, 8, 9, 20, 63, 64, 65, 100, 127, 128, 129, 191, 255, 256, 257, 300, 511, 767, 768, 769, 1100, 6143, 6144, 6145, 8192, 19990];

test("strata's addon equals JavaScript on each of its methods: folding, the crc32 instruction, its tables", { skip: noAddon }, (t) => {
  // A fresh process for each: the addon chooses its method once, when loaded.
  const script = `
    const a = require(${JSON.stringify(fileURLToPath(ADDON_URL))});
    const data = Buffer.alloc(20100);
    for (let i = 0, s = 7; i < data.length; i++) data[i] = (s = (s * 1103515245 + 12345) & 0x7fffffff) >> 16;
    const crcs = [];
    for (const len of ${JSON.stringify(PATH_LENGTHS)}) for (const start of [0, 5, 61]) crcs.push(a.crc32c(data, start, start + len, len * 31));
    process.stdout.write(JSON.stringify({ method: a.method, hardware: a.hardware, crcs }));`;
  const data = Buffer.alloc(20100);
  for (let i = 0, s = 7; i < data.length; i++) data[i] = (s = (s * 1103515245 + 12345) & 0x7fffffff) >> 16;
  const expected: number[] = [];
  for (const len of PATH_LENGTHS) for (const start of [0, 5, 61]) expected.push(crc32cRangeJs(data, start, start + len, len * 31));
  const run = (env: Record<string, string>) =>
    JSON.parse(execFileSync(process.execPath, ['-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' })) as { method: string; hardware: boolean; crcs: number[] };

  const tables = run({ STRATA_CRC32C_TABLES: '1' });
  assert.deepEqual([tables.method, tables.hardware], ['tables', false], 'STRATA_CRC32C_TABLES=1 keeps the addon to its tables');
  assert.deepEqual(tables.crcs, expected, 'tables');
  const usual = run({});
  if (usual.method === 'tables') {
    // Said, not passed over in silence: the other methods could not be compared here.
    t.diagnostic('this CPU has no crc32 instruction: only the tables were compared');
    return;
  }
  const instruction = run({ STRATA_CRC32C_FOLD: '0' });
  assert.deepEqual([instruction.method, instruction.hardware], ['sse4.2', true], 'STRATA_CRC32C_FOLD=0 keeps the addon to the crc32 instruction');
  assert.deepEqual(instruction.crcs, expected, 'the crc32 instruction');
  // Folding where the CPU has AVX-512 and VPCLMULQDQ (this project's machines do).
  assert.ok(usual.method === 'vpclmulqdq' || usual.method === 'sse4.2', usual.method);
  assert.deepEqual(usual.crcs, expected, usual.method);
  assert.equal(usual.method, strataCrc32cAddon!.method);
});

const PAGE = 8192;
const XLP_FIRST_IS_CONTRECORD = 1;

interface LaidOut {
  bytes: Buffer;
  /** The LSN of bytes[0]. */
  lsn: number;
  /** Each record's offset in bytes, its xl_tot_len, and whether it lies whole on one page. */
  records: { o: number; len: number; whole: boolean }[];
}

/**
 * WAL pages as PostgreSQL writes them, from `pageOffset` in the first page (at LSN 0/1000000 +
 * pageOffset): short page headers (XLP_FIRST_IS_CONTRECORD and xlp_rem_len where a record goes
 * on), records MAXALIGNed with xl_tot_len, xl_prev the record before (the first's a little below
 * it), rmid 10 (or RM_XLOG_ID with XLOG_SWITCH where `switchAt` says), random bodies and the xl_crc
 * ValidXLogRecord computes over their reassembled bytes.
 */
function walPages(lengths: number[], pageOffset: number, switchAt = -1): LaidOut {
  const lsn = 0x1000000 + pageOffset;
  let prev = lsn - 64;
  const out = Buffer.alloc(lengths.reduce((s, n) => s + n + 8, 0) * 2 + 4 * PAGE);
  const records: LaidOut['records'] = [];
  let o = 0;
  const pageOf = (at: number) => (pageOffset + at) % PAGE;
  const putHeader = (remLen: number) => {
    out.writeUInt16LE(0xd110, o);
    out.writeUInt16LE(remLen > 0 ? XLP_FIRST_IS_CONTRECORD : 0, o + 2);
    out.writeUInt32LE(remLen, o + 16);
    o += 24;
  };
  lengths.forEach((len, i) => {
    if (pageOf(o) === 0) putHeader(0);
    const rec = pseudoRandomBytes(len, i + 3);
    rec.writeUInt32LE(len, 0);
    rec[16] = i === switchAt ? 0x40 : 0x00;
    rec[17] = i === switchAt ? 0 : 10;
    rec.writeUInt32LE(prev, 8);
    rec.writeUInt32LE(0, 12);
    prev = lsn + o;
    setCrc(rec);
    records.push({ o, len, whole: PAGE - pageOf(o) >= len });
    let done = 0;
    for (;;) {
      const piece = Math.min(len - done, PAGE - pageOf(o));
      rec.copy(out, o, done, done + piece);
      o += piece;
      done += piece;
      if (done === len) break;
      putHeader(len - done);
    }
    o += (8 - (o % 8)) % 8;
  });
  return { bytes: out.subarray(0, o), lsn, records };
}

/** Sets xl_crc of a record laid out whole in `rec` as ValidXLogRecord computes it. */
function setCrc(rec: Buffer): void {
  rec.writeUInt32LE(crc32cRangeJs(rec, 0, 20, crc32cRangeJs(rec, 24, rec.readUInt32LE(0))), 20);
}

/** What scanXLogRecords should find from record `first`: whole records up to a header split across pages. */
function expectedScan(laid: LaidOut, pageOffset: number, first: number, switchAt = -1): number[] {
  const want: number[] = [];
  for (let i = first; i < laid.records.length; i++) {
    const r = laid.records[i]!;
    const left = PAGE - ((pageOffset + r.o) % PAGE);
    if (left < 24) break;
    if (r.whole) want.push(r.o, r.len);
    if (i === switchAt) break;
  }
  return want;
}

function scan(laid: LaidOut, from: number, prevLsn = -1, max = 4096, bytes: Uint8Array = laid.bytes): number[] {
  const pairs = new Int32Array(2 * max);
  const n = strataCrc32cAddon!.scanXLogRecords(bytes, from, laid.lsn, prevLsn, pairs);
  return [...pairs.subarray(0, 2 * n)];
}

test('scanXLogRecords walks records across pages and checks each whole one', { skip: noAddon }, () => {
  // Short, long, page-crossing (8200 > a page), and lengths that leave under 24 bytes on a page.
  const lengths = [24, 25, 31, 64, 100, 777, 8192, 8200, 40, 3000, 5000, 8150, 33, 20000, 64, 72, 7900, 26, 48];
  for (const pageOffset of [0, 24, 4096, 8104]) {
    const laid = walPages(lengths, pageOffset);
    const from = laid.records[0]!.o;
    const want = expectedScan(laid, pageOffset, 0);
    assert.ok(want.length >= 4, `page offset ${pageOffset}: the case scans several records`);
    assert.deepEqual(scan(laid, from), want, `page offset ${pageOffset}`);
    // From every later record too (the record before it known or not), and with room for only two pairs.
    for (let k = 1; k < laid.records.length; k++) {
      if (!laid.records[k]!.whole) continue;
      const w = expectedScan(laid, pageOffset, k);
      const at = laid.records[k]!.o;
      const prev = laid.lsn + laid.records[k - 1]!.o;
      assert.deepEqual(scan(laid, at), w, `page offset ${pageOffset}, from record ${k}`);
      assert.deepEqual(scan(laid, at, prev), w, `page offset ${pageOffset}, from record ${k}, the one before known`);
      assert.deepEqual(scan(laid, at, prev - 8), [], `page offset ${pageOffset}, from record ${k}, another record before it`);
      assert.deepEqual(scan(laid, at, -1, 2), w.slice(0, 4), `page offset ${pageOffset}, from record ${k}, 2 pairs`);
    }
  }
});

test('scanXLogRecords stops before a bad CRC, after XLOG_SWITCH, at the end of the bytes and at a broken continuation', { skip: noAddon }, () => {
  const lengths = [64, 100, 200, 9000, 48, 80, 3000, 56, 64];
  const laid = walPages(lengths, 0);
  const all = expectedScan(laid, 0, 0);
  assert.equal(all.length, 2 * 8);
  for (let k = 0; k < lengths.length; k++) {
    const r = laid.records[k]!;
    for (const where of [0, 4, 8, 16, 17, 19, 20, 23, 24, r.len - 1]) {
      const damaged = Buffer.from(laid.bytes);
      // Bytes of a record that crosses pages may lie under a page header: damage only its first page's.
      if (!r.whole && where >= PAGE - (r.o % PAGE)) continue;
      damaged[r.o + where]! ^= 0x40;
      const got = scan(laid, laid.records[0]!.o, -1, 4096, damaged);
      // The records before the damaged one. A damaged record whole on a page fails its CRC (which
      // covers xl_tot_len); a damaged length sends the walk astray, and it stops there too; so does
      // a damaged prev-link (byte 8) or resource manager id (17: 10 becomes 74, no such rmgr). The
      // CRC of a record crossing pages is the decoder's: other damage to it is not the scan's to see.
      const before = all.slice(0, 2 * laid.records.slice(0, k).filter((x) => x.whole).length);
      assert.deepEqual(got, r.whole || where === 0 || where === 8 || where === 17 ? before : all, `record ${k}, byte ${where}`);
    }
  }
  const sw = walPages(lengths, 0, 2);
  assert.deepEqual(scan(sw, sw.records[0]!.o), expectedScan(sw, 0, 0, 2));
  assert.equal(scan(sw, sw.records[0]!.o).length, 6, 'three records, the last the switch');
  // The bytes end inside a record: the records before it.
  const cut = laid.records[6]!.o + 100;
  assert.deepEqual(scan(laid, laid.records[0]!.o, -1, 4096, laid.bytes.subarray(0, cut)), all.slice(0, all.indexOf(laid.records[6]!.o)));
  // A page that does not continue the record crossing into it (its rem_len wrong): the walk stops there.
  const broken = Buffer.from(laid.bytes);
  broken.writeUInt32LE(1, PAGE + 16);
  assert.deepEqual(scan(laid, laid.records[0]!.o, -1, 4096, broken), all.slice(0, all.indexOf(laid.records[4]!.o)));
});

test('scanXLogRecords: among many short and long records, a bad CRC anywhere stops it there', { skip: noAddon }, () => {
  const lengths = Array.from({ length: 40 }, (_, i) => 24 + ((i * 37) % 700) + (i % 3 === 0 ? 800 : 0));
  const laid = walPages(lengths, 40);
  const all = expectedScan(laid, 40, 0);
  assert.deepEqual(scan(laid, laid.records[0]!.o), all);
  for (let k = 0; k < lengths.length; k++) {
    const r = laid.records[k]!;
    if (!r.whole) continue;
    for (const where of [24, r.len - 1, 21]) {
      if (where >= r.len) continue;
      const damaged = Buffer.from(laid.bytes);
      damaged[r.o + where]! ^= 0x01;
      const before = all.slice(0, 2 * laid.records.slice(0, k).filter((x) => x.whole).length);
      assert.deepEqual(scan(laid, laid.records[0]!.o, -1, 4096, damaged), before, `record ${k} (${r.len} bytes), byte ${where}`);
    }
  }
});

test('scanXLogRecords stops before a record with a wrong prev-link or resource manager, its CRC right', { skip: noAddon }, () => {
  const lengths = [64, 100, 200, 48, 80, 56, 64];
  const laid = walPages(lengths, 0);
  const all = expectedScan(laid, 0, 0);
  const first = laid.records[0]!.o;
  const at = laid.records[3]!;
  const change = (edit: (rec: Buffer) => void): Buffer => {
    const b = Buffer.from(laid.bytes);
    const rec = b.subarray(at.o, at.o + at.len);
    edit(rec);
    setCrc(rec);
    return b;
  };
  const before = all.slice(0, 6);
  assert.deepEqual(scan(laid, first, -1, 4096, change((r) => r.writeUInt32LE(r.readUInt32LE(8) - 8, 8))), before, 'prev-link');
  assert.deepEqual(scan(laid, first, -1, 4096, change((r) => (r[17] = 22))), before, 'resource manager 22 (PostgreSQL 15 has 0-21)');
  assert.deepEqual(scan(laid, first, -1, 4096, change((r) => (r[17] = 127))), before, 'resource manager 127');
  assert.deepEqual(scan(laid, first, -1, 4096, change((r) => (r[17] = 128))), all, 'resource manager 128, a custom one');
  // The first record's prev-link, given the record before it or not.
  assert.deepEqual(scan(laid, first, laid.lsn - 64), all);
  assert.deepEqual(scan(laid, first, laid.lsn - 56), []);
  const ahead = Buffer.from(laid.bytes);
  ahead.writeUInt32LE(laid.lsn + first, first + 8);
  setCrc(ahead.subarray(first, first + laid.records[0]!.len));
  assert.deepEqual(scan(laid, first, -1, 4096, ahead), [], 'a first prev-link at or past the record itself');
});

test('scanXLogRecords refuses arguments it cannot use', { skip: noAddon }, () => {
  const s = strataCrc32cAddon!.scanXLogRecords;
  const laid = walPages([64, 64], 0);
  const b = laid.bytes;
  assert.throws(() => s(b, b.length + 1, laid.lsn, -1, new Int32Array(8)), RangeError);
  assert.throws(() => s(b, 0, -8192, -1, new Int32Array(8)), RangeError);
  assert.throws(() => s(b, 0, laid.lsn, -2, new Int32Array(8)), RangeError);
  assert.throws(() => s(b, 0, laid.lsn, -1, new Uint32Array(8) as unknown as Int32Array), TypeError);
  assert.throws(() => s(b, -1, laid.lsn, -1, new Int32Array(8)), RangeError);
  assert.throws(() => s(b, 0, 'x' as unknown as number, -1, new Int32Array(8)), TypeError);
  assert.throws(() => s([1, 2, 3] as unknown as Uint8Array, 0, laid.lsn, -1, new Int32Array(8)), TypeError);
  assert.equal(s(b, 24, laid.lsn, -1, new Int32Array(0)), 0, 'no room for pairs');
  assert.equal(s(b, b.length, laid.lsn, -1, new Int32Array(8)), 0, 'from the end');
});
