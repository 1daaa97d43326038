/**
 * The streaming tar reader against archives GNU tar writes (ustar, as PostgreSQL's are): every
 * entry and byte as written, whatever the chunking (split at every offset, and byte by byte), and a
 * clear error for damaged archives and for the entry types PostgreSQL never writes.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { IngestError } from './errors.js';
import { readNumber, TarReader, type TarEntry } from './tar.js';

/** A folder with the shapes a base backup has: empty and odd-sized files, nested folders, a symlink. */
function makeTree(root: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const file = (name: string, size: number) => {
    const bytes = Buffer.alloc(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 7 + name.length) & 0xff;
    writeFileSync(join(root, name), bytes);
    files.set(name, bytes);
  };
  mkdirSync(join(root, 'base', '5'), { recursive: true });
  mkdirSync(join(root, 'pg_wal'));
  file('backup_label', 0);
  file('base/5/1', 1);
  file('base/5/2', 511);
  file('base/5/3', 512);
  file('base/5/4', 513);
  file('base/5/5', 1500);
  symlinkSync('/somewhere/else', join(root, 'spc'));
  return files;
}

function tarOf(root: string, format: string, ...paths: string[]): Buffer {
  return execFileSync('tar', [`--format=${format}`, '--sort=name', '-cf', '-', '-C', root, ...(paths.length === 0 ? ['.'] : paths)], { maxBuffer: 64 << 20 });
}

/** Reads `archive` pushed in the given pieces; returns a log of every event. */
function readAll(archive: Buffer, cuts: readonly number[]): string[] {
  const log: string[] = [];
  let data: Buffer[] = [];
  const reader = new TarReader('the test archive', {
    onEntry: (e) => {
      log.push(`entry ${e.kind} ${e.name} ${e.size} ${e.linkTarget} @${e.offset}`);
      data = [];
    },
    onData: (_e, d) => data.push(Buffer.from(d)),
    onEntryEnd: (e) => log.push(`end ${e.name} ${Buffer.concat(data).toString('hex')}`),
  });
  let from = 0;
  for (const cut of [...cuts, archive.length]) {
    reader.push(archive.subarray(from, cut));
    from = cut;
  }
  reader.end();
  assert.ok(reader.ended);
  return log;
}

function badArchive(fn: () => void, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof IngestError && e.code === 'BAD_ARCHIVE', String(e));
    assert.match(e.message, message);
    assert.match(e.message, /the test archive at offset \d+/);
    return true;
  });
}

test('tar: entries and bytes as GNU tar wrote them, whatever the chunking', () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-tar-'));
  try {
    const files = makeTree(root);
    const archive = tarOf(root, 'ustar');
    const whole = readAll(archive, []);
    const entries: TarEntry[] = [];
    const contents = new Map<string, Buffer[]>();
    const r = new TarReader('the test archive', {
      onEntry: (e) => {
        entries.push(e);
        contents.set(e.name, []);
      },
      onData: (e, d) => contents.get(e.name)?.push(Buffer.from(d)),
      onEntryEnd: () => undefined,
    });
    r.push(archive);
    r.end();
    for (const [name, bytes] of files) {
      const e = entries.find((x) => x.name === `./${name}`);
      assert.ok(e !== undefined && e.kind === 'file' && e.size === bytes.length, name);
      assert.ok(Buffer.concat(contents.get(`./${name}`) ?? []).equals(bytes), `${name}'s bytes`);
    }
    assert.deepEqual(
      entries.filter((e) => e.kind !== 'file').map((e) => [e.kind, e.name, e.linkTarget]),
      [
        ['directory', '.', ''],
        ['directory', './base', ''],
        ['directory', './base/5', ''],
        ['directory', './pg_wal', ''],
        ['symlink', './spc', '/somewhere/else'],
      ],
    );
    assert.equal(r.entryCount, entries.length);
    // Every split into two pieces, and one byte at a time, read the same.
    for (let cut = 1; cut < archive.length; cut++) assert.deepEqual(readAll(archive, [cut]), whole, `split at ${cut}`);
    assert.deepEqual(
      readAll(
        archive,
        Array.from({ length: archive.length - 1 }, (_, i) => i + 1),
      ),
      whole,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('tar: damaged archives and entry types PostgreSQL never writes are clear errors', () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-tar-bad-'));
  try {
    makeTree(root);
    const archive = tarOf(root, 'ustar');
    const read = (bytes: Buffer) => () => readAll(bytes, []);

    const flipped = Buffer.from(archive);
    flipped[512 + 10] = (flipped[512 + 10] as number) ^ 0x20; // a byte of the second header's name
    badArchive(read(flipped), /at offset 512: the header checksum is \d+, its bytes sum to \d+/);
    badArchive(read(archive.subarray(0, 512 + 100)), /cut short inside a header/);
    const firstFile = archive.indexOf(Buffer.from('./base/5/5'));
    badArchive(read(archive.subarray(0, firstFile + 512 + 700)), /cut short inside \.\/base\/5\/5 \(800 of its 1500 bytes missing\)/);
    // The two end blocks are where the entries end; without them the archive is cut short.
    let endAt = archive.length;
    while (archive[endAt - 1] === 0) endAt--;
    const afterLast = Math.ceil(endAt / 512) * 512;
    badArchive(read(archive.subarray(0, afterLast)), /cut short before the end-of-archive blocks/);
    badArchive(read(Buffer.concat([archive, Buffer.from([1])])), /data after the end-of-archive blocks/);
    const oneZero = Buffer.concat([archive.subarray(0, afterLast), Buffer.alloc(512), archive.subarray(0, 512)]);
    badArchive(read(oneZero), /a header after a zero block/);
    const notTar = Buffer.alloc(1024, 0x41);
    badArchive(read(notTar), /header checksum/);

    const longName = 'n'.repeat(120);
    writeFileSync(join(root, longName), 'x');
    badArchive(read(tarOf(root, 'gnu', longName)), /is a GNU long name, which PostgreSQL's base backups do not hold/);
    badArchive(read(tarOf(root, 'pax', longName)), /is a pax extended header/);
    linkSync(join(root, 'base/5/1'), join(root, 'hardlink'));
    badArchive(read(tarOf(root, 'ustar', 'base/5/1', 'hardlink')), /"hardlink" is a hard link/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('tar numbers: octal with a space or NUL, and GNU base-256 for sizes past 8 GiB', () => {
  const h = Buffer.alloc(512);
  h.write('00000001750 ', 124, 'latin1');
  assert.equal(readNumber(h, 124, 12), 0o1750);
  h.fill(0, 124, 136);
  h.write('0000644\0', 100, 'latin1');
  assert.equal(readNumber(h, 100, 8), 0o644);
  h[124] = 0x80;
  h.writeUIntBE(12 * 2 ** 30, 130, 6); // 12 GiB: more than 11 octal digits hold
  assert.equal(readNumber(h, 124, 12), 12 * 2 ** 30);
  h.write('00x', 100, 'latin1');
  assert.ok(Number.isNaN(readNumber(h, 100, 8)));
});
