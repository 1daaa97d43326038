/**
 * The byte writers pg_waldump's text is made with: each one's bytes equal printf's (JavaScript's own
 * formatting here), and each returns the exact end offset even when the bytes do not fit, which
 * writers of unknown length rely on to try again with room enough.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  literal,
  putAscii,
  putDigitsBefore,
  putHex,
  putHexByte,
  putInt,
  putLiteral,
  putLsn,
  putLsnAt,
  putLsnPadded,
  putText,
  putUint,
  putUintZeroPadded,
  TextBuffer,
} from './text-buffer.js';

const LARGE = new Uint8Array(256);

/** What `put` writes, checked against `expected`; then the same into too little room must end at the same offset. */
function check(put: (b: Uint8Array, o: number) => number, expected: string): void {
  const at = 3;
  const end = put(LARGE, at);
  assert.equal(Buffer.from(LARGE.subarray(at, end)).toString('utf8'), expected);
  for (const room of [0, 1, Math.max(0, at + Buffer.byteLength(expected) - 1)]) {
    const small = new Uint8Array(room);
    assert.equal(put(small, at), end, `end offset with ${room} bytes of room for ${JSON.stringify(expected)}`);
  }
}

const NUMBERS = [0, 1, 9, 10, 99, 100, 12_345, 999_999, 1_000_000, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];

test('putUint, putInt and putUintZeroPadded print as %u, %Nu, %d and %0Nu', () => {
  for (const n of NUMBERS) {
    check((b, o) => putUint(b, o, n), String(n));
    check((b, o) => putUint(b, o, n, 10), String(n).padStart(10, ' '));
    check((b, o) => putInt(b, o, -n), String(-n));
  }
  for (const n of [0, 7, 123_456, 999_999]) check((b, o) => putUintZeroPadded(b, o, n, 6), String(n).padStart(6, '0'));
  // A value that arrives as a heap number (not a small integer) takes the same path.
  check((b, o) => putUint(b, o, Number('12345.0')), '12345');
});

test('putDigitsBefore fills a blank field from its end', () => {
  for (const n of [0, 5, 54, 999_999, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1]) {
    const b = new Uint8Array(12).fill(0x20);
    putDigitsBefore(b, 11, n);
    assert.equal(Buffer.from(b).toString('latin1'), String(n).padStart(11, ' ') + ' ');
  }
});

test('the hex writers print as %X, %08X and %02X; LSNs as %X/%X and %X/%08X', () => {
  for (const n of [0, 0xa, 0xff, 0x1234, 0xdeadbeef]) {
    check((b, o) => putHex(b, o, n), n.toString(16).toUpperCase());
    check((b, o) => putHex(b, o, n, 8), n.toString(16).toUpperCase().padStart(8, '0'));
  }
  for (const n of [0, 0x0f, 0xa0, 0xff]) {
    check((b, o) => putHexByte(b, o, n), n.toString(16).toUpperCase().padStart(2, '0'));
  }
  for (const lsn of [0, 0x1000028, 0xffff_fff8, 0x1_0000_0000, 0xf_8765_4320, 0x1234_5678_9abc]) {
    const hi = Math.floor(lsn / 2 ** 32).toString(16).toUpperCase();
    const lo = (lsn % 2 ** 32).toString(16).toUpperCase();
    check((b, o) => putLsn(b, o, BigInt(lsn)), `${hi}/${lo}`);
    check((b, o) => putLsnPadded(b, o, lsn), `${hi}/${lo.padStart(8, '0')}`);
    if (lsn < 16 * 2 ** 32) {
      const b = new Uint8Array(12);
      putLsnAt(b, 1, lsn);
      assert.equal(Buffer.from(b.subarray(1, 11)).toString('latin1'), `${hi}/${lo.padStart(8, '0')}`);
    }
  }
});

test('literals and text: every length around the four-byte words, UTF-8 beyond ASCII', () => {
  for (let n = 0; n <= 13; n++) {
    const s = 'abcdefghijklm'.slice(0, n);
    check((b, o) => putLiteral(b, o, literal(s)), s);
    check((b, o) => putAscii(b, o, s), s);
  }
  check((b, o) => putLiteral(b, o, literal('gid ünïcode')), 'gid ünïcode');
  check((b, o) => putText(b, o, 'plain'), 'plain');
  check((b, o) => putText(b, o, 'tablespace /tmp/λ'), 'tablespace /tmp/λ');
  // A literal that fits but whose last padded word would not is still written whole.
  const b = new Uint8Array(6);
  assert.equal(putLiteral(b, 1, literal('hello')), 6);
  assert.equal(Buffer.from(b.subarray(1)).toString('latin1'), 'hello');
});

test('TextBuffer hands full buffers to the sink, grows for a write larger than itself, and flushes the rest', () => {
  const out: Buffer[] = [];
  const t = new TextBuffer((bytes) => out.push(Buffer.from(bytes)), 16);
  let expected = '';
  for (let i = 0; i < 50; i++) {
    const s = `line ${i} ${'x'.repeat(i % 7)}\n`;
    t.text(s);
    expected += s;
  }
  const long = 'y'.repeat(100);
  const o = t.begin(long.length);
  t.commit(putAscii(t.bytes, o, long));
  expected += long;
  t.flush();
  assert.equal(Buffer.concat(out).toString('latin1'), expected);
  assert.ok(out.length > 5, 'several flushes');
});

test('TextBuffer with take: the sink keeps each buffer, taken only when written to, none left taken unused', () => {
  const kept: Uint8Array[] = [];
  const taken: Buffer[] = [];
  const take = (n: number): Buffer => {
    const b = Buffer.alloc(n);
    taken.push(b);
    return b;
  };
  const t = new TextBuffer((bytes) => kept.push(bytes), 16, take);
  assert.equal(taken.length, 0, 'nothing is taken before the first write');
  t.flush();
  assert.equal(kept.length, 0, 'an empty flush hands nothing on');
  let expected = '';
  for (let i = 0; i < 30; i++) {
    const s = `line ${i}\n`;
    t.text(s);
    expected += s;
  }
  const long = 'z'.repeat(40);
  const o = t.begin(long.length);
  t.commit(putAscii(t.bytes, o, long));
  expected += long;
  t.flush();
  // Each handed-on buffer is a view of a taken one, kept as it was (never written over).
  assert.equal(Buffer.concat(kept).toString('latin1'), expected);
  assert.equal(kept.length, taken.length, 'every buffer taken was handed on: none is left taken and unused');
  kept.forEach((k, i) => assert.equal(k.buffer, taken[i]!.buffer));
  assert.ok(taken.some((b) => b.length >= long.length) && taken.every((b) => b.length >= 16), 'a write larger than the size takes a larger buffer');
});
