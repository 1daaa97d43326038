import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c as nodeRsCrc32c } from '@node-rs/crc32';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ADDON_URL, crc32c, crc32cImplementation, crc32cRange, strataCrc32cAddon, verifyXLogRecords } from './crc32c.js';
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
  assert.equal(verifyXLogRecords, strataCrc32cAddon!.verifyXLogRecords);
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

test("strata's addon without the CRC instruction (its slicing-by-8 tables) equals JavaScript", { skip: noAddon }, () => {
  // A fresh process: the addon chooses its path once, when loaded.
  const script = `
    const a = require(${JSON.stringify(fileURLToPath(ADDON_URL))});
    const data = Buffer.alloc(20000);
    for (let i = 0, s = 7; i < data.length; i++) data[i] = (s = (s * 1103515245 + 12345) & 0x7fffffff) >> 16;
    const out = [a.hardware];
    for (const len of [0, 1, 7, 8, 9, 63, 64, 65, 255, 768, 1100, 6144, 19990]) out.push(a.crc32c(data, 5, 5 + len, len * 31));
    process.stdout.write(JSON.stringify(out));`;
  const [hardware, ...crcs] = JSON.parse(execFileSync(process.execPath, ['-e', script], { env: { ...process.env, STRATA_CRC32C_TABLES: '1' }, encoding: 'utf8' })) as [boolean, ...number[]];
  assert.equal(hardware, false, 'STRATA_CRC32C_TABLES=1 keeps the addon to its tables');
  const data = Buffer.alloc(20000);
  for (let i = 0, s = 7; i < data.length; i++) data[i] = (s = (s * 1103515245 + 12345) & 0x7fffffff) >> 16;
  [0, 1, 7, 8, 9, 63, 64, 65, 255, 768, 1100, 6144, 19990].forEach((len, i) => assert.equal(crcs[i], crc32cRangeJs(data, 5, 5 + len, len * 31), `length ${len}`));
});

/** WAL-shaped records: xl_tot_len, 20 header bytes, xl_crc as ValidXLogRecord computes it, a body. */
function recordsIn(lengths: number[]): { bytes: Buffer; pairs: Int32Array } {
  const total = lengths.reduce((s, n) => s + n + 8, 0);
  const bytes = pseudoRandomBytes(total, 11);
  const pairs = new Int32Array(lengths.length * 2);
  let o = 0;
  lengths.forEach((len, i) => {
    bytes.writeUInt32LE(len, o);
    const crc = crc32cRangeJs(bytes, o, o + 20, crc32cRangeJs(bytes, o + 24, o + len));
    bytes.writeUInt32LE(crc, o + 20);
    pairs[2 * i] = o;
    pairs[2 * i + 1] = len;
    o += len + 8;
  });
  return { bytes, pairs };
}

test('verifyXLogRecords: counts the records with a correct xl_crc up to the first without', { skip: noAddon }, () => {
  const verify = strataCrc32cAddon!.verifyXLogRecords;
  const lengths = [24, 25, 31, 64, 100, 777, 8192, 8200, 40, 3000];
  const { bytes, pairs } = recordsIn(lengths);
  assert.equal(verify(bytes, pairs, lengths.length), lengths.length);
  assert.equal(verify(bytes, pairs, 3), 3);
  assert.equal(verify(bytes, pairs, 0), 0);
  for (let k = 0; k < lengths.length; k++) {
    for (const where of [0, 4, 19, 20, 23, 24, lengths[k]! - 1].filter((w) => w < lengths[k]!)) {
      const damaged = Buffer.from(bytes);
      damaged[pairs[2 * k]! + where]! ^= 0x40;
      // A damaged xl_tot_len is still the length given in pairs: only the CRC can tell.
      assert.equal(verify(damaged, pairs, lengths.length), k, `record ${k}, byte ${where}`);
    }
  }
});

test('verifyXLogRecords refuses records outside the bytes and counts beyond the pairs', { skip: noAddon }, () => {
  const verify = strataCrc32cAddon!.verifyXLogRecords;
  const { bytes, pairs } = recordsIn([100, 200]);
  assert.throws(() => verify(bytes, pairs, 3), RangeError);
  assert.throws(() => verify(bytes.subarray(0, 250), pairs, 2), RangeError);
  assert.throws(() => verify(bytes, Int32Array.of(-1, 100), 1), RangeError);
  assert.throws(() => verify(bytes, Int32Array.of(0, 23), 1), RangeError);
  assert.throws(() => verify(bytes, new Uint32Array(4) as unknown as Int32Array, 1), TypeError);
});
