import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatLsn,
  formatLsnPadded,
  lsn,
  LsnParseError,
  maxAlign,
  pageOffset,
  pageStart,
  parseLsn,
  parseWalFileName,
  segmentNumber,
  segmentOffset,
  segmentStart,
  walFileName,
} from './lsn.js';

test('LSNs parse and format as PostgreSQL writes them', () => {
  assert.equal(parseLsn('0/16E2408'), 0x16e2408n);
  assert.equal(parseLsn('1A/0'), 0x1a_0000_0000n);
  assert.equal(parseLsn('ffffffff/ffffffff'), 0xffff_ffff_ffff_ffffn);
  assert.equal(formatLsn(lsn(0x16e2408)), '0/16E2408');
  assert.equal(formatLsn(parseLsn('1A/0')), '1A/0');
  assert.equal(formatLsnPadded(lsn(0x1000028)), '0/01000028');
  for (const bad of ['', '0', '0/', '/0', 'x/1', '1/2/3', '123456789/0', '0/123456789'])
    assert.throws(() => parseLsn(bad), LsnParseError, bad);
  assert.throws(() => lsn(-1), RangeError);
});

test('segment and page arithmetic', () => {
  const seg = 16 << 20;
  const l = parseLsn('2/1234ABC8');
  assert.equal(segmentNumber(l, seg), (2n << 32n) / BigInt(seg) + 0x12n);
  assert.equal(segmentOffset(l, seg), 0x34abc8);
  assert.equal(segmentStart(segmentNumber(l, seg), seg), parseLsn('2/12000000'));
  assert.equal(pageOffset(l), 0xbc8);
  assert.equal(pageStart(l), parseLsn('2/1234A000'));
  assert.equal(maxAlign(lsn(0x1001)), 0x1008n);
  assert.equal(maxAlign(lsn(0x1008)), 0x1008n);
});

test('WAL file names round-trip', () => {
  assert.equal(walFileName(1, 1n), '000000010000000000000001');
  assert.equal(walFileName(3, 0x1ffn), '0000000300000001000000FF');
  assert.equal(walFileName(3, 0x1ffn).length, 24);
  const seg = 16 << 20;
  for (const segNo of [0n, 1n, 255n, 256n, 0x12345n]) {
    const name = walFileName(7, segNo, seg);
    assert.deepEqual(parseWalFileName(name, seg), { timeline: 7, segNo });
  }
  assert.equal(walFileName(1, 0x1123n, 1 << 20), '000000010000000100000123');
  assert.equal(parseWalFileName('000000010000000000000001.partial')?.segNo, 1n);
  assert.equal(parseWalFileName('00000001.history'), null);
});
