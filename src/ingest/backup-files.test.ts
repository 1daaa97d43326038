/**
 * A base backup's archives into a timeline (backup-files.ts), without a server in between: a real
 * PostgreSQL 15 data directory as a tar stream, in chunks of every size, gives exactly the keys and
 * values the import of the same folder gives (import-datadir.ts); archives a backup never holds, or
 * that are cut short or damaged, are clear BAD_ARCHIVE errors; a file that ends inside a block
 * (extended while the backup read it) loses that part only.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { ControlFile } from '../pg/control.js';
import { formatLsn, walFileName, type Lsn } from '../pg/lsn.js';
import type { Oid } from '../pg/types.js';
import { InProcessRedoEngine } from '../redo/engine.js';
import { keysAt } from '../repository/compaction.js';
import { DatadirReader } from '../repository/datadir.js';
import { ALL_KEYS } from '../repository/key.js';
import { RedoReconstructor } from '../repository/redo-reconstructor.js';
import { Repository } from '../repository/repository.js';
import type { Timeline } from '../repository/timeline.js';
import { PgCluster } from '../testing/cluster.js';
import { BackupFilesImporter, parseBackupLabel } from './backup-files.js';
import { IngestError } from './errors.js';
import { importDataDirectory } from './import-datadir.js';

function label(start: Lsn, checkpoint: Lsn): string {
  return [
    `START WAL LOCATION: ${formatLsn(start)} (file ${walFileName(1, start >> 24n)})`,
    `CHECKPOINT LOCATION: ${formatLsn(checkpoint)}`,
    'BACKUP METHOD: streamed',
    'BACKUP FROM: primary',
    'START TIME: 2024-01-01 00:00:00 UTC',
    'LABEL: strata test',
    'START TIMELINE: 1',
    '',
  ].join('\n');
}

/** A ustar archive of `files` (path -> bytes, or 'dir' for a folder), in the order given. */
function tarOf(files: readonly (readonly [string, Buffer | 'dir'])[]): Buffer {
  const root = mkdtempSync(join(tmpdir(), 'strata-backup-files-tar-'));
  try {
    for (const [name, content] of files) {
      if (content === 'dir') mkdirSync(join(root, name), { recursive: true });
      else {
        mkdirSync(dirname(join(root, name)), { recursive: true });
        writeFileSync(join(root, name), content);
      }
    }
    return execFileSync('tar', ['--format=ustar', '--no-recursion', '-cf', '-', '-C', root, ...files.map(([n]) => n)], { maxBuffer: 64 << 20 });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Feeds `archive` to a new importer on `t` as archive `name`, in pieces of sizes from a small PRNG. */
function feed(importer: BackupFilesImporter, name: string, archive: Buffer, location = ''): void {
  importer.beginArchive(name, location);
  let seed = 12345;
  for (let o = 0; o < archive.length; ) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const n = 1 + (seed % 20000);
    importer.data(archive.subarray(o, o + n));
    o += n;
  }
  importer.endArchive();
}

function badArchive(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof IngestError && e.code === 'BAD_ARCHIVE', String(e));
    assert.match(e.message, message);
    return true;
  });
}

test('backup files: a data directory as a tar stream gives the keys and values its folder import gives; bad archives are clear errors', { timeout: 120_000 }, async () => {
  const c = await PgCluster.create({ start: false });
  const root = mkdtempSync(join(tmpdir(), 'strata-backup-files-'));
  const engine = new InProcessRedoEngine();
  const repo = Repository.open(root, { reconstructorFor: (id) => new RedoReconstructor(engine, id, () => ({ hintBitsLogged: false })) });
  try {
    const tenant = repo.createTenant(undefined, { compactionPeriodMs: 0, gcPeriodMs: 0 });
    const controlBytes = readFileSync(join(c.dataDir, 'global', 'pg_control'));
    const control = new ControlFile(controlBytes);
    const lsn = control.checkPoint as Lsn;
    const labelText = Buffer.from(label(lsn, lsn));
    const labelDir = mkdtempSync(join(tmpdir(), 'strata-backup-label-'));
    writeFileSync(join(labelDir, 'backup_label'), labelText);
    const archive = execFileSync('tar', ['--format=ustar', '-cf', '-', '-C', labelDir, 'backup_label', '-C', c.dataDir, '.'], { maxBuffer: 1 << 30 });
    rmSync(labelDir, { recursive: true, force: true });

    const fromFolder = tenant.createTimeline();
    const folder = importDataDirectory(fromFolder, c.dataDir);
    const fromTar = tenant.createTimeline();
    const importer = new BackupFilesImporter(fromTar, lsn, 'the test backup');
    feed(importer, 'base.tar', archive);
    const files = importer.finish();
    fromTar.advance(lsn);
    assert.equal(folder.lsn, lsn);
    assert.deepEqual([files.blocks, files.slruPages, files.relations, files.partialBlocksDropped], [folder.blocks, folder.slruPages, folder.relations, 0]);
    assert.equal(files.label.checkpointLsn, lsn);
    const keys = keysAt(fromFolder, ALL_KEYS, Number(lsn));
    assert.deepEqual([...keysAt(fromTar, ALL_KEYS, Number(lsn))].sort(), [...keys].sort());
    assert.ok(keys.size > 3000, `${keys.size} keys`);
    for (const key of keys) assert.ok(Buffer.from(await fromTar.get(key, lsn)).equals(await fromFolder.get(key, lsn)), `the value of ${key}`);

    // Archives a base backup never holds.
    const fresh = (): BackupFilesImporter => new BackupFilesImporter(tenant.createTimeline(), lsn, 'the test backup');
    const essentials = [['backup_label', labelText], ['global/pg_control', controlBytes]] as const;
    badArchive(() => fresh().beginArchive('weird.tar', ''), /"weird.tar" is neither base.tar nor <tablespace oid>.tar/);
    badArchive(() => feed(fresh(), '16400.tar', tarOf([['PG_15_202209061', 'dir'], ['stray.txt', Buffer.from('x')]]), '/spc'), /stray.txt in archive 16400.tar of the test backup: a tablespace's archive holds only its PostgreSQL 15 version folder/);
    badArchive(() => feed(fresh(), 'base.tar', tarOf([['base/5/16384', 'dir']])), /base\/5\/16384 in archive base.tar of the test backup: expected a regular file, the archive has a directory/);
    const twice = fresh();
    const one = tarOf([['base/5/16384', Buffer.alloc(8192)]]);
    // The entry (header and data), then the whole archive again: the same segment twice.
    badArchive(() => feed(twice, 'base.tar', Buffer.concat([one.subarray(0, 512 + 8192), one])), /holds this relation segment twice/);
    const noLabel = fresh();
    feed(noLabel, 'base.tar', tarOf([['global/pg_control', controlBytes]]));
    badArchive(() => noLabel.finish(), /base.tar has no backup_label/);
    const otherStart = Buffer.from(label((lsn + 8n) as Lsn, (lsn + 8n) as Lsn));
    badArchive(() => feed(fresh(), 'base.tar', tarOf([['backup_label', otherStart]])), new RegExp(`START WAL LOCATION ${formatLsn((lsn + 8n) as Lsn)}, the server said the backup starts at ${formatLsn(lsn)}`));
    const damaged = Buffer.from(controlBytes);
    damaged[20] = (damaged[20] as number) ^ 1;
    badArchive(() => feed(fresh(), 'base.tar', tarOf([['global/pg_control', damaged]])), /pg_control in archive base.tar of the test backup: its CRC does not match/);
    badArchive(() => feed(fresh(), 'base.tar', tarOf([...essentials]).subarray(0, 3000)), /cut short inside global\/pg_control/);
    assert.throws(() => new BackupFilesImporter(fromTar, lsn, 'the test backup'), /it is not empty/);

    // A relation file that ends inside a block: the whole blocks are kept, the rest is left to WAL.
    const partialTimeline: Timeline = tenant.createTimeline();
    const partial = new BackupFilesImporter(partialTimeline, lsn, 'the test backup');
    const rel = { spcNode: 1663 as Oid, dbNode: 5 as Oid, relNode: 99999 as Oid };
    const relBytes = Buffer.alloc(2 * 8192 + 100, 7);
    feed(partial, 'base.tar', tarOf([...essentials, ['base/5', 'dir'], ['base/5/99999', relBytes], ['base/5/99999_vm', Buffer.alloc(8192, 1)]]));
    const p = partial.finish();
    partialTimeline.advance(lsn);
    assert.equal(p.partialBlocksDropped, 1);
    const reader = new DatadirReader(partialTimeline);
    assert.equal(await reader.relSize(rel, 0, lsn), 2);
    assert.equal(await reader.relSize(rel, 2, lsn), 1);
    assert.deepEqual(await reader.databases(lsn), [{ spcNode: 1663, dbNode: 5 }]);
  } finally {
    await repo.close(false);
    await engine.close();
    await c.destroy();
    rmSync(root, { recursive: true, force: true });
  }
});

test('backup_label: PostgreSQL 15\'s lines, and a clear error for a label that lacks one', () => {
  const l = parseBackupLabel(label(0x3000028n as Lsn, 0x3000060n as Lsn), 'backup_label');
  assert.deepEqual([formatLsn(l.startLsn), formatLsn(l.checkpointLsn), l.startTimeline, l.backupFrom, l.label], ['0/3000028', '0/3000060', 1, 'primary', 'strata test']);
  assert.throws(() => parseBackupLabel('START WAL LOCATION: 0/3000028\n', 'backup_label of x'), /Cannot read backup_label of x: it has no "CHECKPOINT LOCATION:" line/);
  assert.throws(() => parseBackupLabel(label(1n as Lsn, 1n as Lsn).replace('START WAL LOCATION: 0/1', 'START WAL LOCATION: zz'), 'b'), /START WAL LOCATION must start with an LSN, received "zz/);
});
