/**
 * The worker protocol's frames: they round-trip both ways; the parser gives the same frames
 * whatever the chunking (the stream split at every offset, and byte by byte); and malformed frames
 * (unknown types, impossible lengths, bad bodies, random bytes and mutations of good streams) are
 * ProtocolErrors, found in bounded time, never another exception, never a hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BLCKSZ } from '../../pg/constants.js';
import { lsn } from '../../pg/lsn.js';
import type { BlockNumber, Oid } from '../../pg/types.js';
import { encodeOp } from '../codec.js';
import type { RedoRequest } from '../request.js';
import {
  APPLY_BODY_BYTES_MAX,
  encodeErrorReply,
  encodeHello,
  encodePageReply,
  encodeRequest,
  ERROR_MESSAGE_BYTES_MAX,
  FrameParser,
  ProtocolError,
  type Direction,
  type FromWorkerFrame,
  type ToWorkerFrame,
} from './protocol.js';

function page(fill: number): Uint8Array {
  const p = new Uint8Array(BLCKSZ);
  for (let i = 0; i < BLCKSZ; i++) p[i] = (i * 31 + fill) & 0xff;
  return p;
}

const KEY = { rel: { spcNode: 1663 as Oid, dbNode: 16384 as Oid, relNode: 0xfffffff0 as Oid }, fork: 2, blkno: 0xfffffffe as BlockNumber };
const REQUEST_WITH_BASE: RedoRequest = {
  key: KEY,
  base: page(7),
  inputs: [encodeOp({ kind: 'vm.clear', endLsn: lsn(0x1234_5678_9abcn), heapBlock: 9 as BlockNumber, flags: 1 }), Uint8Array.of(0x52, 1, 2, 3)],
  settings: { hintBitsLogged: true },
};
const REQUEST_WITHOUT_BASE: RedoRequest = { key: { ...KEY, fork: 0 }, base: undefined, inputs: [Uint8Array.of(9)], settings: { hintBitsLogged: false } };

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

/** A stream to the worker: hello and two requests. */
function toWorkerStream(): Uint8Array {
  return concat([encodeHello(), encodeRequest(1, REQUEST_WITH_BASE), encodeRequest(0xffff_ffff, REQUEST_WITHOUT_BASE)]);
}

/** A stream from the worker: hello, a page, an error with an LSN, one without and with non-ASCII text. */
function fromWorkerStream(): Uint8Array {
  return concat([
    encodeHello(),
    encodePageReply(1, page(3)),
    encodeErrorReply(2, 'CORRUPT_RECORD', 'Cannot redo Heap/INSERT at 0/16E2408, block 0: offnum 300 is past the end', lsn(0x16e2408n)),
    encodeErrorReply(4, 'INTERNAL', 'ünïcødé ✓', undefined),
  ]);
}

/** Frames as plain data, views copied, for deepEqual. */
function plain(frames: readonly (ToWorkerFrame | FromWorkerFrame)[]): unknown[] {
  return frames.map((f) => JSON.parse(JSON.stringify(f, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : typeof v === 'bigint' ? v.toString() : v))) as unknown);
}

test('frames round-trip both ways', () => {
  const from = new FrameParser<FromWorkerFrame>('from-worker').push(fromWorkerStream());
  assert.deepEqual(plain(from), plain([
    { kind: 'hello', version: 1 },
    { kind: 'page', requestId: 1, page: page(3) },
    { kind: 'error', requestId: 2, code: 'CORRUPT_RECORD', lsn: lsn(0x16e2408n), message: 'Cannot redo Heap/INSERT at 0/16E2408, block 0: offnum 300 is past the end' },
    { kind: 'error', requestId: 4, code: 'INTERNAL', lsn: undefined, message: 'ünïcødé ✓' },
  ]));
  assert.equal((from[3] as { lsn: unknown }).lsn, undefined);
  const to = new FrameParser<ToWorkerFrame>('to-worker').push(toWorkerStream());
  assert.deepEqual(plain(to), plain([
    { kind: 'hello', version: 1 },
    { kind: 'begin', requestId: 1, key: KEY, settings: { hintBitsLogged: true }, inputCount: 2 },
    { kind: 'push-page', requestId: 1, page: REQUEST_WITH_BASE.base! },
    { kind: 'apply', requestId: 1, input: REQUEST_WITH_BASE.inputs[0]! },
    { kind: 'apply', requestId: 1, input: REQUEST_WITH_BASE.inputs[1]! },
    { kind: 'get-page', requestId: 1 },
    { kind: 'begin', requestId: 0xffff_ffff, key: REQUEST_WITHOUT_BASE.key, settings: { hintBitsLogged: false }, inputCount: 1 },
    { kind: 'apply', requestId: 0xffff_ffff, input: Uint8Array.of(9) },
    { kind: 'get-page', requestId: 0xffff_ffff },
  ]));
});

test('an error frame with a code the worker may not send is refused', () => {
  // TIMEOUT is the page server's to decide, not the worker's.
  const p = new FrameParser<FromWorkerFrame>('from-worker');
  const stream = concat([fromWorkerStream(), encodeErrorReply(3, 'TIMEOUT' as 'INTERNAL', '', undefined)]);
  assert.throws(() => p.push(stream), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_FRAME_BODY' && /unknown code "TIMEOUT"/.test(e.message));
  // After an error the parser refuses everything.
  assert.throws(() => p.push(encodeHello()), ProtocolError);
});

for (const direction of ['to-worker', 'from-worker'] as const) {
  const stream = direction === 'to-worker' ? toWorkerStream() : fromWorkerStream();
  test(`${direction}: the same frames whatever the chunking (split at every offset, byte by byte)`, () => {
    const whole = plain(new FrameParser<ToWorkerFrame | FromWorkerFrame>(direction).push(stream));
    assert.ok(whole.length >= 4);
    for (let cut = 0; cut <= stream.length; cut++) {
      const p = new FrameParser<ToWorkerFrame | FromWorkerFrame>(direction);
      const got = [...p.push(stream.subarray(0, cut)), ...p.push(stream.subarray(cut))];
      assert.deepEqual(plain(got), whole, `split at ${cut}`);
      assert.ok(p.atFrameBoundary);
    }
    const p = new FrameParser<ToWorkerFrame | FromWorkerFrame>(direction);
    const got: (ToWorkerFrame | FromWorkerFrame)[] = [];
    for (let i = 0; i < stream.length; i++) got.push(...p.push(stream.subarray(i, i + 1)));
    assert.deepEqual(plain(got), whole, 'byte by byte');
  });
}

function header(type: number, length: number): Uint8Array {
  const h = new Uint8Array(5);
  h[0] = type;
  new DataView(h.buffer).setUint32(1, length, true);
  return h;
}

function refusedWith(direction: Direction, bytes: Uint8Array, code: ProtocolError['code'], pattern: RegExp): void {
  const p = new FrameParser(direction);
  assert.throws(() => p.push(bytes), (e: unknown) => {
    assert.ok(e instanceof ProtocolError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

test('malformed frames are refused with a typed error as soon as they can be', () => {
  refusedWith('to-worker', header(0x52, 8196), 'BAD_FRAME_TYPE', /unknown type 0x52 'R' going to-worker/);
  refusedWith('from-worker', header(0x42, 26), 'BAD_FRAME_TYPE', /unknown type 0x42 'B' going from-worker/);
  refusedWith('from-worker', header(0x00, 0), 'BAD_FRAME_TYPE', /unknown type 0x00/);
  // Lengths are checked from the header alone: no body needed.
  refusedWith('to-worker', header(0x41, APPLY_BODY_BYTES_MAX + 5), 'BAD_FRAME_LENGTH', /'A': its body must be 5 to \d+ bytes, received a length of/);
  refusedWith('to-worker', header(0x41, 4), 'BAD_FRAME_LENGTH', /received a length of 4/);
  refusedWith('to-worker', header(0x42, 25), 'BAD_FRAME_LENGTH', /'B': its body must be 26 bytes/);
  refusedWith('from-worker', header(0x52, 0xffff_ffff), 'BAD_FRAME_LENGTH', /'R': its body must be 8196 bytes, received a length of 4294967295/);
  refusedWith('from-worker', header(0x45, 13), 'BAD_FRAME_LENGTH', /'E'/);
  refusedWith('from-worker', header(0x45, 4 + 1 + 255 + 8 + ERROR_MESSAGE_BYTES_MAX + 1), 'BAD_FRAME_LENGTH', /'E'/);
  // Bodies.
  const hello = encodeHello();
  hello[5] = 0x53;
  refusedWith('from-worker', hello, 'BAD_FRAME_BODY', /magic must be "strataRW"/);
  const begin = encodeRequest(5, REQUEST_WITHOUT_BASE);
  begin[5 + 21] = 0x80;
  refusedWith('to-worker', begin, 'BAD_FRAME_BODY', /unknown settings flags 0x80/);
  const err = encodeErrorReply(6, 'INTERNAL', 'x', undefined);
  err[5 + 4] = 200; // a code length past the body
  refusedWith('from-worker', err, 'BAD_FRAME_BODY', /a 200-byte code does not fit/);
  const notUtf8 = encodeErrorReply(6, 'INTERNAL', 'ab', undefined);
  notUtf8[notUtf8.length - 1] = 0xff;
  refusedWith('from-worker', notUtf8, 'BAD_FRAME_BODY', /not UTF-8/);
  // The offset of the bad frame is named.
  refusedWith('to-worker', concat([encodeHello(), header(0x5a, 1)]), 'BAD_FRAME_TYPE', /at stream offset 15/);
});

test('long error messages are cut to the limit at a character boundary', () => {
  const frame = encodeErrorReply(1, 'INTERNAL', 'é'.repeat(ERROR_MESSAGE_BYTES_MAX), undefined);
  const [f] = new FrameParser<FromWorkerFrame>('from-worker').push(frame);
  assert.ok(f !== undefined && f.kind === 'error');
  assert.equal(f.message, 'é'.repeat(ERROR_MESSAGE_BYTES_MAX / 2));
});

test('fuzz: random bytes and mutated streams give frames or a ProtocolError, never anything else, quickly', () => {
  let seed = 20261122;
  const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 8) % n;
  const t0 = performance.now();
  let refused = 0;
  let cases = 0;
  for (const direction of ['to-worker', 'from-worker'] as const) {
    const good = direction === 'to-worker' ? toWorkerStream() : fromWorkerStream();
    for (let k = 0; k < 3000; k++) {
      let bytes: Uint8Array;
      const kind = k % 4;
      if (kind === 0) bytes = Uint8Array.from({ length: rnd(64) }, () => rnd(256));
      else if (kind === 1) {
        bytes = Uint8Array.from(good);
        for (let m = 1 + rnd(4); m > 0; m--) bytes[rnd(bytes.length)] = rnd(256);
      } else if (kind === 2) {
        // A header with a plausible type and any length.
        const types = direction === 'to-worker' ? [0x48, 0x42, 0x50, 0x41, 0x47] : [0x48, 0x52, 0x45];
        bytes = concat([header(types[rnd(types.length)]!, rnd(4) === 0 ? rnd(0xffff_ffff) : rnd(9000)), Uint8Array.from({ length: rnd(300) }, () => rnd(256))]);
      } else {
        bytes = concat([good.subarray(0, rnd(good.length)), Uint8Array.from({ length: rnd(40) }, () => rnd(256))]);
      }
      cases++;
      const p = new FrameParser(direction);
      try {
        // Fed in random chunks.
        for (let o = 0; o < bytes.length; ) {
          const n = 1 + rnd(64);
          p.push(bytes.subarray(o, o + n));
          o += n;
        }
      } catch (e) {
        assert.ok(e instanceof ProtocolError, `${direction} case ${k}: ${e instanceof Error ? e.stack : String(e)}`);
        refused++;
      }
    }
  }
  assert.ok(refused > cases / 4, `${refused} of ${cases} refused`);
  assert.ok(performance.now() - t0 < 20_000);
});
