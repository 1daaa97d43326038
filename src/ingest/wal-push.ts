/**
 * WAL push (seed 004: a push API to replace archive_command): a finished WAL segment (or a timeline
 * history or backup history file) is copied into a WAL folder that strata imports from. Usable as
 * PostgreSQL's `archive_command = 'strata wal push %p --to <folder>'`: it is idempotent (the same
 * file pushed again succeeds, as PostgreSQL retries after a crash), durable before it returns
 * (DESIGN.md invariant 3), and refuses a different file under a name that exists, which would mean
 * two servers archiving into one folder, or corruption.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseWalFileName } from '../pg/lsn.js';
import { writeFileDurable } from '../repository/durable.js';
import { IngestError } from './errors.js';

export type PushResult = 'stored' | 'already-stored';

/** WAL segment, partial segment, timeline history and backup history file names, as PostgreSQL archives them. */
const ARCHIVABLE = /^([0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$/;

export function pushWalFile(source: string, folder: string): PushResult {
  const name = basename(source);
  if (!ARCHIVABLE.test(name) || (/^[0-9A-F]{24}$/.test(name) && parseWalFileName(name) === null))
    throw new IngestError('BAD_RECORD', `Cannot push ${source}: ${name} is not the name of a WAL segment, history or backup file`);
  let data: Buffer;
  try {
    data = readFileSync(source);
  } catch (e) {
    throw new IngestError('BAD_RECORD', `Cannot push ${source}: ${(e as Error).message}`, { cause: e });
  }
  const target = join(folder, name);
  if (existsSync(target)) {
    if (readFileSync(target).equals(data)) return 'already-stored';
    throw new IngestError('BAD_RECORD', `Cannot push ${source}: ${target} exists with different contents (two servers archiving into one folder?); nothing was changed`);
  }
  writeFileDurable(target, data);
  return 'stored';
}
