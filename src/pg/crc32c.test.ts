import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c as nodeRsCrc32c } from '@node-rs/crc32';
import { crc32c, crc32cImplementation, crc32cRange, scanXLogRecords, strataCrc32cAddon } from './crc32c.js';
import { crc32cRangeJs } from './crc32c-js.js';

function pseudoRandomBytes(n: number, seed = 1): Buffer {
  const data = Buffer.alloc(n);
  for (let i = 0; i < n; i++) data[i] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16;
  return data;
}

const noAddon = strataCrc32cAddon === undefined ? "strata's CRC addon is not built (npm run build:native)" : false;

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

test("strata's addon equals JavaScript on every path: short, three streams of 256 and of 2048 bytes, unaligned", { skip: noAddon }, () => {
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

const PAGE = 8192;
const SHORT_PHD = 24;
const LONG_PHD = 40;

/**
 * WAL-shaped bytes: 8 KiB pages with a long header on the first and short ones after (xlp_info
 * at 2, xlp_rem_len at 16), records of the given lengths from the first page's header on, each
 * MAXALIGNed, crossing pages as PostgreSQL writes them, with xl_crc as ValidXLogRecord computes it.
 * Returns the bytes and each record's offset.
 */
function walPages(lengths: number[]): { bytes: Buffer; at: number[] } {
  const records = lengths.map((len, i) => {
    const r = pseudoRandomBytes(len, 11 + i);
    r.writeUInt32LE(len, 0);
    r[17] = 10; // xl_rmid: heap (not XLOG: no XLOG_SWITCH by chance)
    r.writeUInt32LE(crc32cRangeJs(r, 0, 20, crc32cRangeJs(r, 24, len)), 20);
    return r;
  });
  const out: Buffer[] = [];
  const at: number[] = [];
  let page = Buffer.alloc(PAGE);
  let used = LONG_PHD;
  page.writeUInt16LE(2, 2); // XLP_LONG_HEADER
  let total = 0;
  const nextPage = (remLen: number) => {
    out.push(page);
    total += PAGE;
    page = Buffer.alloc(PAGE);
    page.writeUInt16LE(remLen > 0 ? 1 : 0, 2); // XLP_FIRST_IS_CONTRECORD
    page.writeUInt32LE(remLen, 16);
    used = SHORT_PHD;
  };
  for (const r of records) {
    if (PAGE - used < 24) nextPage(0);
    at.push(total + used);
    let done = 0;
    for (;;) {
      const n = Math.min(r.length - done, PAGE - used);
      r.copy(page, used, done, done + n);
      done += n;
      used += n;
      if (done === r.length) break;
      nextPage(r.length - done);
    }
    used = Math.min(PAGE, used + ((8 - (used % 8)) % 8));
    if (used === PAGE) nextPage(0);
  }
  out.push(page);
  return { bytes: Buffer.concat(out), at };
}

test('scanXLogRecords: finds the records on one page with a correct CRC, steps over those that cross pages', { skip: noAddon }, () => {
  const scan = strataCrc32cAddon!.scanXLogRecords;
  const lengths = [24, 25, 31, 64, 100, 777, 8192, 3000, 8100, 40, 17000, 50, 4000, 4000, 4000, 60];
  const { bytes, at } = walPages(lengths);
  const onOnePage = lengths.map((len, i) => i).filter((i) => (at[i]! % PAGE) + lengths[i]! <= PAGE);
  assert.ok(onOnePage.length >= 10 && onOnePage.length < lengths.length, 'some records cross pages, most do not');
  const out = new Int32Array(64);
  const n = scan(bytes, at[0]!, at[0]! % PAGE, out);
  assert.deepEqual(
    Array.from(out.subarray(0, 2 * n)),
    onOnePage.flatMap((i) => [at[i]!, lengths[i]!]),
  );
  // From a later record; into a smaller array; in bytes that end early.
  assert.equal(scan(bytes, at[3]!, at[3]! % PAGE, out), onOnePage.filter((i) => i >= 3).length);
  assert.equal(scan(bytes, at[0]!, at[0]! % PAGE, new Int32Array(6)), 3);
  assert.equal(scan(bytes.subarray(0, at[5]! + 776), at[0]!, at[0]! % PAGE, out), 5);
  // A damaged byte anywhere in a record that lies on one page: the scan stops before it.
  for (const k of onOnePage) {
    for (const where of [4, 16, 20, 23, 24, lengths[k]! - 1].filter((w) => w < lengths[k]!)) {
      const damaged = Buffer.from(bytes);
      damaged[at[k]! + where]! ^= 0x40;
      assert.equal(scan(damaged, at[0]!, at[0]! % PAGE, out), onOnePage.indexOf(k), `record ${k}, byte ${where}`);
    }
  }
  // A continuation page without XLP_FIRST_IS_CONTRECORD: the scan stops at the record crossing to it.
  const crossing = lengths.findIndex((len, i) => (at[i]! % PAGE) + len > PAGE);
  const unflagged = Buffer.from(bytes);
  const nextPage = Math.ceil(at[crossing]! / PAGE) * PAGE;
  unflagged.writeUInt16LE(0, nextPage + 2);
  assert.equal(scan(unflagged, at[0]!, at[0]! % PAGE, out), onOnePage.filter((i) => i < crossing).length);
});

test('scanXLogRecords stops after XLOG_SWITCH and refuses a misaligned page offset', { skip: noAddon }, () => {
  const scan = strataCrc32cAddon!.scanXLogRecords;
  const { bytes, at } = walPages([100, 100, 100]);
  const out = new Int32Array(16);
  assert.equal(scan(bytes, at[0]!, at[0]! % PAGE, out), 3);
  const switched = Buffer.from(bytes);
  const r = switched.subarray(at[1]!, at[1]! + 100);
  r[17] = 0; // RM_XLOG_ID
  r[16] = 0x40; // XLOG_SWITCH
  r.writeUInt32LE(crc32cRangeJs(r, 0, 20, crc32cRangeJs(r, 24, 100)), 20);
  assert.equal(scan(switched, at[0]!, at[0]! % PAGE, out), 2);
  assert.throws(() => scan(bytes, at[0]!, 44, out), RangeError);
  assert.throws(() => scan(bytes, at[0]!, PAGE, out), RangeError);
  assert.throws(() => scan(bytes, at[0]!, 40, new Uint32Array(4) as unknown as Int32Array), TypeError);
});
