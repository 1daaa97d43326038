import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c as nativeCrc32c } from '@node-rs/crc32';
import { crc32c, crc32cRange } from './crc32c.js';
import { crc32cRangeJs } from './crc32c-js.js';

test('CRC-32C matches the standard check value and continues across calls', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  const whole = crc32c(Buffer.from('hello, world'));
  assert.equal(crc32c(Buffer.from(', world'), crc32c(Buffer.from('hello'))), whole);
});

test('the JavaScript path equals the native library at every length, offset and running CRC', () => {
  const data = Buffer.alloc(2048);
  let seed = 1;
  for (let i = 0; i < data.length; i++) data[i] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16;
  for (let len = 0; len <= 1100; len++) {
    const start = len % 13;
    const prev = (len * 2654435761) >>> 0;
    const expected = nativeCrc32c(data.subarray(start, start + len), prev) >>> 0;
    assert.equal(crc32cRange(data, start, start + len, prev), expected, `length ${len}`);
    assert.equal(crc32cRangeJs(data, start, start + len, prev), expected, `length ${len}, JavaScript only`);
  }
});
