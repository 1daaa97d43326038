/**
 * Timeline creation for `POST /v1/tenant/{id}/timeline` (routes.ts): empty at an LSN, a branch at
 * an LSN or a timestamp, initdb, a stopped data directory, or a running primary (a background job,
 * imports.ts). What can be checked before anything is made (ids, LSNs, the folder, the connection
 * string) is checked first, as a 400.
 */
import { spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { importDataDirectoryAsync } from '../ingest/import-datadir.js';
import { MAX_RATE_KB_PER_S_MAX, MAX_RATE_KB_PER_S_MIN } from '../ingest/replication/base-backup.js';
import { parseConnInfo, redact, type ConnInfo } from '../ingest/replication/conninfo.js';
import { checkSlotName } from '../ingest/replication/connection.js';
import { ReplicationError } from '../ingest/replication/errors.js';
import { ControlFileError } from '../pg/control.js';
import { formatLsn, type Lsn } from '../pg/lsn.js';
import type { Tenant } from '../repository/tenant.js';
import type { Timeline } from '../repository/timeline.js';
import { ServiceError } from './errors.js';
import { bad, id, lsnParam, optionalString, timestampParam } from './request-params.js';
import type { ApiContext } from './routes.js';

const INITDB_TIMEOUT_MS = 120_000;

/**
 * LSN by timestamp: the newest (LSN, time) sample at or before `ms` (Timeline.samples keeps one per
 * second). "past": the timestamp is before every sample, and the LSN is the oldest one known.
 */
export function lsnByTimestamp(t: Timeline, ms: number): { lsn: Lsn; kind: 'present' | 'past' } {
  const found = t.lsnReachedBy(ms);
  if (found !== undefined) return { lsn: BigInt(found) as Lsn, kind: 'present' };
  const first = t.samples[0];
  if (first === undefined) throw new ServiceError('NOT_FOUND', `Cannot find an LSN by timestamp on timeline ${t.id}: it has no (LSN, time) samples yet (no WAL was ingested since it was created)`);
  return { lsn: BigInt(first[0]) as Lsn, kind: 'past' };
}

/** initdb into a fresh temporary folder (as the postgres user when this process is root: initdb refuses root). */
async function runInitdb(pgBinDir: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-initdb-'));
  const data = join(dir, 'data');
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (root) chownSync(dir, ...postgresIds());
  const args = ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'];
  const [file, argv] = root ? ['runuser', ['-u', 'postgres', '--', join(pgBinDir, 'initdb'), ...args]] : [join(pgBinDir, 'initdb'), args];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(file, argv, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), INITDB_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new ServiceError('INTERNAL', `Cannot run initdb from ${pgBinDir}: ${e.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new ServiceError('INTERNAL', `Cannot make a timeline by initdb: initdb exited with ${code ?? signal}: ${stderr.trim()}`));
    });
  }).catch((e: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  return dir;
}

function postgresIds(): [number, number] {
  // /etc/passwd: name:x:uid:gid:...
  const line = (existsSync('/etc/passwd') ? readFileSync('/etc/passwd', 'utf8') : '').split('\n').find((l) => l.startsWith('postgres:'));
  if (line === undefined) throw new ServiceError('INTERNAL', 'Cannot run initdb as root: there is no postgres user');
  const [, , uid, gid] = line.split(':');
  return [Number(uid), Number(gid)];
}

/** A created timeline, and its import job's state when the import goes on in the background (202). */
export interface Created {
  readonly t: Timeline;
  readonly job?: Record<string, unknown>;
}

export async function createTimeline(ctx: ApiContext, tenant: Tenant, body: Record<string, unknown>): Promise<Created> {
  const newId = optionalString(body, 'new_timeline_id');
  if (newId !== undefined) id('new_timeline_id', newId);
  const ancestor = optionalString(body, 'ancestor_timeline_id');
  const importDir = optionalString(body, 'import_datadir');
  const importPrimary = optionalString(body, 'import_primary');
  const initdb = body['initdb'] === true;
  const modes = [ancestor !== undefined, importDir !== undefined, importPrimary !== undefined, initdb].filter(Boolean).length;
  if (modes > 1) throw bad('Cannot create a timeline: give at most one of ancestor_timeline_id, import_datadir, import_primary and initdb');
  if (importPrimary === undefined) for (const k of ['slot', 'max_rate_kb_per_s']) if (body[k] != null) throw bad(`Cannot use ${k} without import_primary`);
  if (importDir === undefined && importPrimary === undefined && body['background'] != null) throw bad('Cannot use background without import_datadir or import_primary');
  if (ancestor !== undefined) {
    id('ancestor_timeline_id', ancestor);
    if (body['ancestor_lsn'] != null && body['ancestor_timestamp'] != null) throw bad('Cannot branch: give ancestor_lsn or ancestor_timestamp, not both');
    let at: Lsn | undefined;
    if (body['ancestor_lsn'] != null) at = lsnParam('ancestor_lsn', body['ancestor_lsn']);
    const ts = optionalString(body, 'ancestor_timestamp');
    if (ts !== undefined) {
      const found = lsnByTimestamp(tenant.timeline(ancestor), timestampParam('ancestor_timestamp', ts));
      if (found.kind === 'past') throw bad(`Cannot branch timeline ${ancestor} at ${ts}: it is before the oldest sample of the timeline's history (${formatLsn(found.lsn)})`);
      at = found.lsn;
    }
    return { t: tenant.branch(ancestor, at, newId) };
  }
  for (const k of ['ancestor_lsn', 'ancestor_timestamp']) if (body[k] != null) throw bad(`Cannot use ${k} without ancestor_timeline_id`);
  if (importPrimary !== undefined) return startPrimaryImport(ctx, tenant, body, importPrimary, newId);
  if (importDir !== undefined || initdb) {
    if (body['start_lsn'] != null) throw bad('Cannot use start_lsn with import_datadir or initdb: the data directory\'s checkpoint says where the timeline starts');
    let dir: string;
    let cleanup: string | undefined;
    if (importDir !== undefined) {
      if (!isAbsolute(importDir)) throw bad(`Cannot import ${JSON.stringify(importDir)}: give an absolute path on the page server's host`);
      if (!existsSync(importDir) || !statSync(importDir).isDirectory()) throw bad(`Cannot import ${importDir}: it is not a folder`);
      if (!existsSync(join(importDir, 'global', 'pg_control'))) throw bad(`Cannot import ${importDir}: it is not a PostgreSQL data directory (it has no global/pg_control)`);
      dir = importDir;
    } else {
      cleanup = await runInitdb(ctx.pgBinDir);
      dir = join(cleanup, 'data');
    }
    const t = tenant.createTimeline(newId);
    if (importDir !== undefined && body['background'] === true) return { t, job: await ctx.imports.importDatadir(tenant.id, t, importDir, true) };
    try {
      if (importDir !== undefined) await ctx.imports.importDatadir(tenant.id, t, importDir, false);
      else {
        const imported = await importDataDirectoryAsync(t, dir);
        ctx.onImported(tenant.id, imported.control);
        await t.flush();
      }
      return { t };
    } catch (e) {
      await tenant.deleteTimeline(t.id).catch(() => undefined);
      // The folder is the caller's: a pg_control that does not parse or a file that cannot be read is its fault.
      if (e instanceof ControlFileError) throw bad(`Cannot import ${dir}: ${e.message}`);
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'EACCES') throw bad(`Cannot import ${dir}: ${(e as Error).message}`);
      throw e;
    } finally {
      if (cleanup !== undefined) rmSync(cleanup, { recursive: true, force: true });
    }
  }
  const start = body['start_lsn'] == null ? undefined : lsnParam('start_lsn', body['start_lsn']);
  return { t: tenant.createTimeline(newId, start) };
}

/** `import_primary`: checks what can be checked before the 202 (the connection string, slot, rate), then starts the job. */
function startPrimaryImport(ctx: ApiContext, tenant: Tenant, body: Record<string, unknown>, conninfo: string, newId: string | undefined): Created {
  if (body['start_lsn'] != null) throw bad("Cannot use start_lsn with import_primary: the base backup's start says where the timeline starts");
  if (body['background'] === false) throw bad('Cannot import a primary in the foreground: it is always a background job (GET the timeline for its state)');
  let conn: ConnInfo;
  const given = optionalString(body, 'slot');
  try {
    conn = parseConnInfo(conninfo);
    if (given !== undefined) checkSlotName(given);
  } catch (e) {
    if (e instanceof ReplicationError) throw bad(e.message);
    throw e;
  }
  const rate = body['max_rate_kb_per_s'];
  if (typeof rate === 'number' && (rate < MAX_RATE_KB_PER_S_MIN || rate > MAX_RATE_KB_PER_S_MAX))
    throw bad(`Cannot use max_rate_kb_per_s ${rate}: it must be from ${MAX_RATE_KB_PER_S_MIN} to ${MAX_RATE_KB_PER_S_MAX} kB/s (PostgreSQL's MAX_RATE bounds)`);
  const t = tenant.createTimeline(newId);
  // One slot per timeline: two imports from one primary do not share one.
  const slot = given ?? `strata_${t.id}`;
  const job = ctx.imports.startPrimary(tenant.id, t, conn, redact(conninfo), { slot, ...(typeof rate === 'number' ? { maxRateKbPerS: rate } : {}) });
  return { t, job };
}
