import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { RepositoryError } from './errors.js';
import { ALL_KEYS, keyFromBytes, keyToBytes, makeKey, MAX_KEY, nextKey, type Key } from './key.js';
import { compressSync as lz4Compress } from 'lz4-napi';
import { crc32c } from '../pg/crc32c.js';
import { ENTRY_BYTES, HEADER_BYTES, LayerFile, LayerKind, LayerWriter, parseLayerFileName, type FoundValue, type LayerEntry, type ValueRun } from './layer-file.js';
import { VALUE_COMPRESSED, VALUE_KIND_IMAGE, VALUE_KIND_WAL, VALUE_WILL_INIT } from './value.js';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'strata-layer-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const key = (i: number) => makeKey(0, 1663, 5, 16384, 0, i);

/** A page-sized image that compresses (mostly zeros) or not (random), tagged with its key and LSN. */
function image(i: number, lsn: number, compressible: boolean): Uint8Array {
  let x = (i * 7919 + lsn) | 1;
  const noise = () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 24);
  const b = compressible ? new Uint8Array(8192) : Uint8Array.from({ length: 8192 }, noise);
  new DataView(b.buffer).setUint32(0, i);
  new DataView(b.buffer).setUint32(4, lsn);
  return b;
}

function record(i: number, lsn: number): Uint8Array {
  return Buffer.from(`rec ${i}@${lsn}`);
}

/** A delta layer: keys 0..keys-1, each with an image at LSN 100 then records at 101.. up to `depth`. */
function writeDelta(dir: string, keys: number, depth: number): string {
  const w = new LayerWriter(dir, { kind: LayerKind.Delta, keys: ALL_KEYS, lsnStart: 100, lsnEnd: 100 + depth });
  for (let i = 0; i < keys; i++) {
    w.add(key(i), 100, VALUE_KIND_IMAGE, image(i, 100, i % 2 === 0));
    for (let l = 101; l < 100 + depth; l++) w.add(key(i), l, VALUE_KIND_WAL | (l === 103 ? VALUE_WILL_INIT : 0), record(i, l));
  }
  return w.finish(nextKey(key(keys - 1)));
}

test('a delta layer returns each key history newest first, down to its image or initialising record', () => {
  withDir((dir) => {
    // Enough entries that histories cross index blocks.
    const path = writeDelta(dir, 300, 7);
    const f = LayerFile.open(path);
    assert.equal(f.entryCount, 300 * 7);
    assert.deepEqual(parseLayerFileName(f.name), f.descriptor);
    for (const i of [0, 1, 27, 28, 150, 299]) {
      const out: FoundValue[] = [];
      // Below 103: back to the image at 100.
      assert.equal(f.collect(key(i), 0, 103, out), true);
      assert.deepEqual(out.map((v) => v.lsn), [102, 101, 100]);
      assert.ok(Buffer.from(image(i, 100, i % 2 === 0)).equals(out[2]?.bytes as Uint8Array));
      assert.equal(Buffer.from(out[0]?.bytes as Uint8Array).toString(), `rec ${i}@102`);
      // From the top: stops at the initialising record at 103.
      const top: FoundValue[] = [];
      assert.equal(f.collect(key(i), 0, 1000, top), true);
      assert.deepEqual(top.map((v) => v.lsn), [106, 105, 104, 103]);
      // A floor stops the walk without a starting value.
      const floored: FoundValue[] = [];
      assert.equal(f.collect(key(i), 105, 1000, floored), false);
      assert.deepEqual(floored.map((v) => v.lsn), [106, 105]);
    }
    const none: FoundValue[] = [];
    assert.equal(f.collect(key(300), 0, 1000, none), false);
    assert.equal(none.length, 0);
    assert.equal([...f.entries()].length, 300 * 7);
    assert.equal([...f.entries({ start: key(10), end: key(12) })].length, 14);
    f.verify();
    f.close();
  });
});

test('images round-trip: LZ4-compressed in a delta layer, as they are in an image layer; an image layer written compressed still reads', () => {
  withDir((dir) => {
    const pages = [image(0, 500, false), image(1, 500, true)];
    const read = (f: LayerFile, i: number): Uint8Array => {
      const out: FoundValue[] = [];
      assert.equal(f.collect(key(i), 0, 501, out), true);
      return out[0]?.bytes as Uint8Array;
    };
    for (const kind of [LayerKind.Delta, LayerKind.Image]) {
      const w = new LayerWriter(dir, { kind, keys: ALL_KEYS, lsnStart: 500, lsnEnd: 501 });
      w.add(key(0), 500, VALUE_KIND_IMAGE, pages[0] as Uint8Array);
      w.add(key(1), 500, VALUE_KIND_IMAGE, pages[1] as Uint8Array);
      const f = LayerFile.open(w.finish());
      if (kind === LayerKind.Delta) assert.ok(f.fileBytes < HEADER_BYTES + 8192 + 4096, `the zero page compressed in a delta layer (file is ${f.fileBytes} bytes)`);
      else assert.ok(f.fileBytes > HEADER_BYTES + 2 * 8192, `the image layer's values stored as they are (file is ${f.fileBytes} bytes)`);
      for (const i of [0, 1]) assert.ok(Buffer.from(pages[i] as Uint8Array).equals(read(f, i)));
      f.close();
    }
    // Told to (imageLayerCompression), an image layer compresses its images too.
    const told = new LayerWriter(dir, { kind: LayerKind.Image, keys: ALL_KEYS, lsnStart: 550, lsnEnd: 551 }, { compressImages: true });
    told.add(key(1), 550, VALUE_KIND_IMAGE, pages[1] as Uint8Array);
    const packedFile = LayerFile.open(told.finish());
    assert.ok(packedFile.fileBytes < HEADER_BYTES + 4096, `the zero page compressed (file is ${packedFile.fileBytes} bytes)`);
    const got: FoundValue[] = [];
    assert.equal(packedFile.collect(key(1), 0, 551, got), true);
    assert.ok(Buffer.from(pages[1] as Uint8Array).equals(got[0]?.bytes as Uint8Array));
    packedFile.close();
    // An image layer from before (its values compressed, each value's flags say so) still reads.
    const w = new LayerWriter(join(dir), { kind: LayerKind.Image, keys: ALL_KEYS, lsnStart: 600, lsnEnd: 601 });
    const packed = lz4Compress(Buffer.from(pages[1] as Uint8Array));
    w.addStored(key(1), 600, VALUE_KIND_IMAGE | VALUE_COMPRESSED, packed, crc32c(packed));
    const f = LayerFile.open(w.finish());
    const out: FoundValue[] = [];
    assert.equal(f.collect(key(1), 0, 601, out), true);
    assert.ok(Buffer.from(pages[1] as Uint8Array).equals(out[0]?.bytes as Uint8Array));
    f.close();
  });
});

test('valueRuns: consecutive plain values are one run that readRun reads in one go; gaps, other sizes and compressed values cut runs; a flipped bit is caught', () => {
  withDir((dir) => {
    const w = new LayerWriter(dir, { kind: LayerKind.Image, keys: ALL_KEYS, lsnStart: 500, lsnEnd: 501 });
    const pages = new Map<number, Uint8Array>();
    // Blocks 0-4, 6-7 (5 missing), 8 stored compressed, 9-10, 11 a short value, 12-14.
    for (const i of [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14]) {
      const page = i === 11 ? new Uint8Array(100).fill(i) : image(i, 500, i === 8);
      pages.set(i, page);
      if (i === 8) {
        const packed = lz4Compress(Buffer.from(page));
        w.addStored(key(i), 500, VALUE_KIND_IMAGE | VALUE_COMPRESSED, packed, crc32c(packed));
      } else {
        w.add(key(i), 500, VALUE_KIND_IMAGE, page);
      }
    }
    const path = w.finish();
    const f = LayerFile.open(path);
    const runs = [...f.valueRuns({ start: key(1), end: key(14) }, 8192)];
    const shape = runs.map((r) => [Number.parseInt(r.entry.key.slice(-8), 16), r.count, r.plain]);
    assert.deepEqual(shape, [
      [1, 4, true],
      [6, 2, true],
      [8, 1, false],
      [9, 2, true],
      [11, 1, false],
      [12, 2, true],
    ]);
    for (const r of runs.filter((r) => r.plain)) {
      const first = Number.parseInt(r.entry.key.slice(-8), 16);
      const into = Buffer.alloc(r.count * 8192);
      f.readRun(r, 0, r.count, into);
      for (let i = 0; i < r.count; i++) assert.ok(Buffer.from(pages.get(first + i) as Uint8Array).equals(into.subarray(i * 8192, (i + 1) * 8192)));
      // Part of a run, into a bigger buffer.
      if (r.count > 1) {
        const part = Buffer.alloc(3 * 8192);
        f.readRun(r, 1, 1, part);
        assert.ok(Buffer.from(pages.get(first + 1) as Uint8Array).equals(part.subarray(0, 8192)));
      }
    }
    assert.ok(Buffer.from(pages.get(8) as Uint8Array).equals(f.readEntryValue((runs[2] as { entry: LayerEntry }).entry)));
    f.close();
    // A run found before the file was closed (GC removed it): LAYER_REMOVED, which a base backup takes as "read these through the timeline".
    assert.throws(() => f.readRun(runs[0] as ValueRun, 0, 1, Buffer.alloc(8192)), (e: unknown) => e instanceof RepositoryError && e.code === 'LAYER_REMOVED');
    // A bit flipped in the third value of the first run: readRun names the file.
    const bytes = readFileSync(path);
    const third = runs[0] as ValueRun;
    bytes[third.entry.offset + 2 * 8192 + 100] = (bytes[third.entry.offset + 2 * 8192 + 100] as number) ^ 1;
    writeFileSync(path, bytes);
    const g = LayerFile.open(path);
    const run = [...g.valueRuns({ start: key(1), end: key(14) }, 8192)][0] as ValueRun;
    assert.throws(() => g.readRun(run, 0, run.count, Buffer.alloc(run.count * 8192)), (e: unknown) => e instanceof RepositoryError && e.code === 'CORRUPT_LAYER' && e.message.includes(path));
    g.readRun(run, 0, 2, Buffer.alloc(2 * 8192));
    g.close();
  });
});

test('a writer refuses values out of order or outside its ranges', () => {
  withDir((dir) => {
    const w = new LayerWriter(dir, { kind: LayerKind.Delta, keys: { start: key(1), end: key(5) }, lsnStart: 10, lsnEnd: 20 });
    assert.throws(() => w.add(key(0), 10, VALUE_KIND_IMAGE, new Uint8Array(1)), /outside layer ranges/);
    assert.throws(() => w.add(key(1), 20, VALUE_KIND_IMAGE, new Uint8Array(1)), /outside layer ranges/);
    w.add(key(2), 15, VALUE_KIND_IMAGE, new Uint8Array(1));
    assert.throws(() => w.add(key(2), 14, VALUE_KIND_IMAGE, new Uint8Array(1)), /added after/);
    assert.throws(() => w.add(key(1), 16, VALUE_KIND_IMAGE, new Uint8Array(1)), /added after/);
    w.abort();
  });
});

function expectCorrupt(fn: () => unknown, path: string, what: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof RepositoryError, String(e));
    assert.equal(e.code, 'CORRUPT_LAYER');
    assert.ok(e.message.includes(path), e.message);
    assert.match(e.message, what);
    return true;
  });
}

test('truncation, a flipped header, index or value bit: caught, naming the file; other keys still read', () => {
  withDir((dir) => {
    const path = writeDelta(dir, 400, 3);
    const good = readFileSync(path);
    const f0 = LayerFile.open(path);
    const lines = [...f0.entries()];
    f0.close();

    truncateSync(path, good.length - 10);
    expectCorrupt(() => LayerFile.open(path), path, /truncated/);

    const flip = (offset: number) => {
      const b = Buffer.from(good);
      b[offset] = (b[offset] as number) ^ 0x10;
      writeFileSync(path, b);
    };
    flip(20);
    expectCorrupt(() => LayerFile.open(path), path, /header checksum/);
    flip(good.length - 20);
    expectCorrupt(() => LayerFile.open(path), path, /summary checksum/);

    // A value of key 7: only key 7 fails.
    const victim = lines.find((e) => e.key === key(7) && e.lsn === 102);
    assert.ok(victim !== undefined);
    flip(victim.offset + 1);
    let f = LayerFile.open(path);
    expectCorrupt(() => f.collect(key(7), 0, 1000, []), path, new RegExp(`value of ${key(7)}.*checksum`));
    const other: FoundValue[] = [];
    assert.equal(f.collect(key(8), 0, 1000, other), true);
    assert.equal(other.length, 3);
    f.close();

    // An index entry of the first block: reads through that block fail; keys in other blocks read.
    // The first summary line (at the header's summary offset) gives the block's offset.
    flip(Number(good.readBigUInt64LE(Number(good.readBigUInt64LE(64)) + 52)) + 4 + ENTRY_BYTES + 20);
    f = LayerFile.open(path);
    expectCorrupt(() => f.collect(key(0), 0, 1000, []), path, /index block 0 .*checksum/);
    const far: FoundValue[] = [];
    assert.equal(f.collect(key(399), 0, 1000, far), true);
    f.close();
  });
});

test('LSNs above 2^32, keys with every hex digit, and one read of a long history round-trip', () => {
  withDir((dir) => {
    // Index entries store LSNs and offsets as u64: use LSNs whose high halves are not zero.
    const base = 0x1234_5678_9abc;
    const keys = [makeKey(0xab, 0xcdef0123, 0x456789ab, 0xfedcba98, 0x7f, 0x0a0b0c0d), makeKey(0xff, 0xffffffff, 0xffffffff, 0xffffffff, 0xff, 0xfffffffe)].sort();
    const w = new LayerWriter(dir, { kind: LayerKind.Delta, keys: { start: keys[0] as Key, end: MAX_KEY }, lsnStart: base, lsnEnd: base + 1000 });
    for (const k of keys) {
      w.add(k, base, VALUE_KIND_IMAGE, image(1, 7, true));
      // A history of 150 records in one index block: read back with one pread, each checked.
      for (let l = 1; l <= 150; l++) w.add(k, base + l, VALUE_KIND_WAL, record(l, base + l));
    }
    const f = LayerFile.open(w.finish());
    assert.equal(f.descriptor.lsnStart, base);
    assert.deepEqual([...f.entries()].map((e) => [e.key, e.lsn]).slice(0, 3), [[keys[0], base], [keys[0], base + 1], [keys[0], base + 2]]);
    for (const k of keys) {
      const out: FoundValue[] = [];
      assert.equal(f.collect(k, 0, base + 1000, out), true);
      assert.deepEqual(out.map((v) => v.lsn), Array.from({ length: 151 }, (_, i) => base + 150 - i));
      assert.equal(Buffer.from(out[0]?.bytes as Uint8Array).toString(), `rec 150@${base + 150}`);
      assert.equal(Buffer.from(out[149]?.bytes as Uint8Array).toString(), `rec 1@${base + 1}`);
      assert.ok(Buffer.from(image(1, 7, true)).equals(out[150]?.bytes as Uint8Array));
      const floored: FoundValue[] = [];
      assert.equal(f.collect(k, base + 100, base + 120, floored), false);
      assert.deepEqual(floored.map((v) => v.lsn), Array.from({ length: 20 }, (_, i) => base + 119 - i));
    }
    f.close();
  });
});

test('keys round-trip through their bytes, every hex digit included', () => {
  for (const k of [makeKey(0xab, 0xcdef0123, 0x456789ab, 0xfedcba98, 0x7f, 0x0a0b0c0d), makeKey(0, 0, 0, 0, 0, 0), makeKey(0xff, 0xffffffff, 0xffffffff, 0xffffffff, 0xff, 0xfffffffe)]) {
    const b = keyToBytes(k);
    assert.equal(Buffer.from(b).toString('hex'), k);
    assert.equal(keyFromBytes(b), k);
  }
  assert.throws(() => keyToBytes('zz'.repeat(18) as Key), /not a hex digit/);
});

test('sequential reads through the read-ahead window return what random reads do, own their bytes, and still catch a flipped bit', () => {
  withDir((dir) => {
    // 600 keys of one image each (half compressible): about 2.5 MiB, many read-ahead windows.
    const w = new LayerWriter(dir, { kind: LayerKind.Delta, keys: ALL_KEYS, lsnStart: 100, lsnEnd: 102 });
    for (let i = 0; i < 600; i++) {
      w.add(key(i), 100, VALUE_KIND_IMAGE, image(i, 100, i % 2 === 0));
      if (i % 3 === 0) w.add(key(i), 101, VALUE_KIND_WAL, record(i, 101));
    }
    const path = w.finish(nextKey(key(599)));
    const read = (f: LayerFile, i: number): FoundValue[] => {
      const out: FoundValue[] = [];
      assert.equal(f.collect(key(i), 0, 1000, out), true);
      return out;
    };
    const f = LayerFile.open(path);
    const kept: FoundValue[][] = [];
    // In key order (read-ahead), then backwards and scattered (no read-ahead): the same values.
    for (let i = 0; i < 600; i++) kept.push(read(f, i));
    for (let i = 0; i < 600; i++) {
      const v = kept[i] as FoundValue[];
      assert.deepEqual(v.map((x) => x.lsn), i % 3 === 0 ? [101, 100] : [100]);
      assert.ok(Buffer.from(v.at(-1)?.bytes as Uint8Array).equals(image(i, 100, i % 2 === 0)), `key ${i}`);
      if (i % 3 === 0) assert.equal(Buffer.from(v[0]?.bytes as Uint8Array).toString(), `rec ${i}@101`);
      // Values own their memory: none is a view of a (256 KiB) read-ahead window.
      for (const x of v) assert.ok(x.bytes.buffer.byteLength < 64 << 10, `key ${i}: a value of ${x.bytes.length} bytes holds ${x.bytes.buffer.byteLength}`);
    }
    for (let i = 599; i >= 0; i -= 7) assert.deepEqual(read(f, i).map((x) => Buffer.from(x.bytes).toString('hex')), (kept[i] as FoundValue[]).map((x) => Buffer.from(x.bytes).toString('hex')));
    f.close();

    // A bit flipped in a value far into the file: a sequential read reaches it through a window and fails on its checksum.
    const bytes = readFileSync(path);
    const victim = LayerFile.open(path);
    const entry = [...victim.entries()].find((e) => e.key === key(400) && e.lsn === 100);
    victim.close();
    assert.ok(entry !== undefined);
    bytes[entry.offset + 10] = (bytes[entry.offset + 10] as number) ^ 0x20;
    writeFileSync(path, bytes);
    const g = LayerFile.open(path);
    for (let i = 0; i < 400; i++) read(g, i);
    assert.throws(() => read(g, 400), (e: unknown) => e instanceof RepositoryError && e.code === 'CORRUPT_LAYER' && e.message.includes(path));
    read(g, 401);
    g.close();
  });
});
