/**
 * The ustar writer read back by GNU tar: names (short, and long ones split into prefix and name),
 * sizes, modes, folders, contents with and without padding.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { run } from '../testing/process.js';
import { TAR_END_BYTES, TarError, tarHeader, tarPaddingBytes } from './tar.js';

test('tar archives extract with tar xf and list with tar tvf', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-tar-'));
  try {
    const long = `pg_tblspc/16400/PG_15_202209061/${'d'.repeat(60)}/${'f'.repeat(90)}`;
    const files: [string, Buffer][] = [
      ['a/empty', Buffer.alloc(0)],
      ['a/one', Buffer.from('x')],
      ['a/block', Buffer.alloc(512, 7)],
      ['a/odd', Buffer.alloc(8193, 3)],
      [long, Buffer.from('long name')],
    ];
    const parts: Buffer[] = [];
    for (const folder of ['a', `pg_tblspc`, 'pg_tblspc/16400', 'pg_tblspc/16400/PG_15_202209061', `pg_tblspc/16400/PG_15_202209061/${'d'.repeat(60)}`])
      parts.push(tarHeader({ path: folder, type: 'directory', size: 0, mode: 0o700, mtimeS: 1_700_000_000 }));
    for (const [path, bytes] of files) {
      parts.push(tarHeader({ path, type: 'file', size: bytes.length, mode: 0o600, mtimeS: 1_700_000_000 }), bytes, Buffer.alloc(tarPaddingBytes(bytes.length)));
    }
    parts.push(Buffer.alloc(TAR_END_BYTES));
    const archive = Buffer.concat(parts);
    assert.equal(archive.length % 512, 0);
    writeFileSync(join(dir, 'x.tar'), archive);
    const out = join(dir, 'out');
    await run('mkdir', [out]);
    await run('tar', ['xf', join(dir, 'x.tar'), '-C', out, '--no-same-owner']);
    for (const [path, bytes] of files) assert.ok(readFileSync(join(out, path)).equals(bytes), path);
    assert.equal(statSync(join(out, 'a/one')).mode & 0o777, 0o600);
    assert.ok(statSync(join(out, 'a')).isDirectory());
    const listing = (await run('tar', ['tvf', join(dir, 'x.tar')])).stdout;
    assert.match(listing, /drwx------ postgres\/postgres +0 2023-11-14 \d\d:\d\d a\//);
    assert.match(listing, new RegExp(`-rw------- postgres/postgres +9 .* ${long}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tar headers refuse what ustar cannot hold', () => {
  assert.throws(() => tarHeader({ path: 'x'.repeat(101), type: 'file', size: 0, mode: 0o600, mtimeS: 0 }), TarError);
  assert.throws(() => tarHeader({ path: 'f', type: 'file', size: 8 ** 11, mode: 0o600, mtimeS: 0 }), TarError);
  assert.throws(() => tarHeader({ path: 'd', type: 'directory', size: 1, mode: 0o700, mtimeS: 0 }), TarError);
});
