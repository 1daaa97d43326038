/**
 * Imports as background jobs of the HTTP API (issue 7: "create by importing a running primary"):
 * `POST .../timeline` with `import_primary` creates the timeline, answers 202 at once, and this
 * module runs the import behind it, which GET of the timeline shows (phase, bytes, LSNs, error).
 *
 * A primary: a base backup over a replication connection with a slot (ingest/import-backup.ts),
 * streamed into the timeline at its start LSN ("base_backup", bytes against the primary's PROGRESS
 * estimate), then the server follows the primary from that start (followers.ts, as PUT .../follow
 * does, so it resumes after a restart; "following"). The timeline is readable once its WAL reaches
 * the backup's end LSN ("readable" in the state). A data directory (`import_datadir` with
 * `background`): the folder's files go in ("copying", bytes against the folder's size), then "done".
 *
 * A failed import leaves its error on the timeline (phase "failed"), with what to check when the
 * cause is a connection the primary refused; import-backup.ts has dropped the values and the slot
 * it made. The jobs are kept in `imports.json` beside follows.json, written at each phase change
 * (progress is in memory only). A server that stops during a base backup or a copy finds the job
 * there when it starts again: the import is lost with the process (the timeline's metadata on disk
 * is still that of the empty timeline), so the job becomes "failed", and a slot it had created is
 * dropped so that the primary does not keep WAL for nobody.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IngestError } from '../ingest/errors.js';
import { dropSlot, importFromPrimary } from '../ingest/import-backup.js';
import { importDataDirectoryAsync } from '../ingest/import-datadir.js';
import { connectOptionsOf, type ConnInfo } from '../ingest/replication/conninfo.js';
import { ReplicationConnection } from '../ingest/replication/connection.js';
import { ReplicationError, ServerError } from '../ingest/replication/errors.js';
import type { ControlFile } from '../pg/control.js';
import { formatLsn, parseLsn } from '../pg/lsn.js';
import { writeFileDurable } from '../repository/durable.js';
import type { Repository } from '../repository/repository.js';
import type { Timeline } from '../repository/timeline.js';
import type { Followers } from './followers.js';

const IMPORTS_FILE = 'imports.json';

export type ImportPhase = 'base_backup' | 'copying' | 'following' | 'done' | 'failed';

/** One job, as kept in imports.json. LSNs are X/X strings. */
interface ImportJob {
  readonly tenantId: string;
  readonly timelineId: string;
  readonly kind: 'primary' | 'datadir';
  /** The connection string without its password, or the folder. */
  readonly source: string;
  /** How to reach the primary again (to follow it, or to drop the slot after a restart). */
  readonly connect?: ConnInfo;
  readonly slot?: string;
  phase: ImportPhase;
  slotCreated: boolean;
  bytesDone: number;
  bytesTotal: number | null;
  startLsn: string | null;
  endLsn: string | null;
  readonly startedAt: string;
  finishedAt: string | null;
  error: { code: string; message: string } | null;
}

export interface PrimaryImportOptions {
  readonly slot: string;
  readonly maxRateKbPerS?: number;
}

export class Imports {
  private readonly jobs = new Map<string, ImportJob>();
  private stopped = false;

  constructor(
    private readonly repository: Repository,
    private readonly root: string,
    private readonly followers: Followers,
    /** The import's pg_control, for the tenant's redo settings. */
    private readonly onImported: (tenantId: string, control: ControlFile) => void,
  ) {}

  private key(tenantId: string, timelineId: string): string {
    return `${tenantId}/${timelineId}`;
  }

  /** Writes the jobs of timelines that still exist (a sync datadir job too while it runs: after a restart it shows as interrupted). */
  private save(): void {
    if (this.stopped) return;
    for (const [k, j] of this.jobs) if (!this.exists(j)) this.jobs.delete(k);
    mkdirSync(this.root, { recursive: true });
    writeFileDurable(join(this.root, IMPORTS_FILE), Buffer.from(JSON.stringify([...this.jobs.values()], null, 2) + '\n'));
  }

  private exists(j: ImportJob): boolean {
    try {
      this.repository.timeline(j.tenantId, j.timelineId);
      return true;
    } catch {
      return false;
    }
  }

  private newJob(t: Timeline, tenantId: string, kind: ImportJob['kind'], source: string, phase: ImportPhase, extra: { connect?: ConnInfo; slot?: string } = {}): ImportJob {
    const job: ImportJob = {
      tenantId,
      timelineId: t.id,
      kind,
      source,
      ...extra,
      phase,
      slotCreated: false,
      bytesDone: 0,
      bytesTotal: null,
      startLsn: null,
      endLsn: null,
      startedAt: new Date().toISOString(),
      finishedAt: null,
      error: null,
    };
    this.jobs.set(this.key(tenantId, t.id), job);
    return job;
  }

  private fail(job: ImportJob, e: unknown): void {
    job.phase = 'failed';
    job.finishedAt = new Date().toISOString();
    job.error = { code: errorCode(e), message: withAdvice(e) };
    this.save();
  }

  /**
   * Starts importing the primary at `conn` into the empty timeline `t` (see the header); returns
   * the job's state at once.
   */
  startPrimary(tenantId: string, t: Timeline, conn: ConnInfo, source: string, o: PrimaryImportOptions): Record<string, unknown> {
    const job = this.newJob(t, tenantId, 'primary', source, 'base_backup', { connect: conn, slot: o.slot });
    this.save();
    this.runPrimary(job, t, conn, o).catch((e: unknown) => stateNotSaved(`importing into ${tenantId}/${t.id}`, e));
    return this.view(job, t);
  }

  private async runPrimary(job: ImportJob, t: Timeline, conn: ConnInfo, o: PrimaryImportOptions): Promise<void> {
    try {
      const result = await importFromPrimary(t, connectOptionsOf(conn), {
        slotName: o.slot,
        progress: true,
        ...(o.maxRateKbPerS !== undefined ? { maxRateKbPerS: o.maxRateKbPerS } : {}),
        onEvent: (e) => {
          if (e.kind === 'slot' && e.created) {
            job.slotCreated = true;
            this.save();
          } else if (e.kind === 'started') {
            job.startLsn = formatLsn(e.startLsn);
            job.bytesTotal = e.totalBytes ?? null;
          } else if (e.kind === 'progress') {
            job.bytesDone = e.archiveBytes;
          }
        },
      });
      job.bytesDone = result.archiveBytes;
      job.startLsn = formatLsn(result.startLsn);
      job.endLsn = formatLsn(result.endLsn);
      this.onImported(job.tenantId, result.control);
      job.phase = 'following';
      job.finishedAt = new Date().toISOString();
      await this.followers.followImported(job.tenantId, t, { host: conn.host, port: conn.port, user: conn.user, slot: o.slot, ...(conn.password !== undefined ? { password: conn.password } : {}) }, result.startLsn, result.control.walSegmentSize);
      this.save();
    } catch (e) {
      if (job.phase === 'following')
        this.fail(job, new IngestError('IMPORT_FAILED', `The base backup was imported into timeline ${t.id} (from ${job.startLsn}, readable from ${job.endLsn}), but following ${conn.host}:${conn.port} could not start: ${e instanceof Error ? e.message : String(e)}; PUT .../follow with slot "${o.slot}" to try again`, { cause: e }));
      else this.fail(job, e);
    }
  }

  /**
   * Imports the data directory `dir` into the empty timeline `t` with progress: `background`
   * returns the job's state at once; otherwise it resolves when the import is done (and rejects
   * with its error, the job then forgotten: the caller answers for it).
   */
  async importDatadir(tenantId: string, t: Timeline, dir: string, background: boolean): Promise<Record<string, unknown>> {
    const job = this.newJob(t, tenantId, 'datadir', dir, 'copying');
    if (background) this.save();
    const run = async (): Promise<void> => {
      const imported = await importDataDirectoryAsync(t, dir, (p) => {
        job.bytesDone = p.bytesDone;
        job.bytesTotal = p.bytesTotal;
      });
      this.onImported(tenantId, imported.control);
      await t.flush();
      job.startLsn = formatLsn(imported.lsn);
      job.endLsn = job.startLsn;
      job.phase = 'done';
      job.finishedAt = new Date().toISOString();
    };
    if (!background) {
      try {
        await run();
        return this.view(job, t);
      } finally {
        this.jobs.delete(this.key(tenantId, t.id));
      }
    }
    run()
      .then(
        () => this.save(),
        (e: unknown) => this.fail(job, e),
      )
      .catch((e: unknown) => stateNotSaved(`importing ${dir} into ${tenantId}/${t.id}`, e));
    return this.view(job, t);
  }

  /**
   * Before a timeline is deleted: stops following (whatever it followed), and drops the slot an
   * import from a primary made there, so that the primary does not keep WAL for nobody. A base
   * backup still under way fails by itself as the timeline shuts down, and drops its slot then.
   * Says what became of the slot, if there was one.
   */
  async release(tenantId: string, timelineId: string): Promise<string | undefined> {
    await this.followers.forget(tenantId, timelineId);
    const key = this.key(tenantId, timelineId);
    const job = this.jobs.get(key);
    if (job === undefined) return undefined;
    if (job.phase === 'base_backup' || job.phase === 'copying') return undefined;
    this.jobs.delete(key);
    this.save();
    // A failed job's slot too: when following failed after the backup, the slot is still there (a
    // backup that failed dropped it itself, and then dropSlot says it is gone).
    if (job.kind !== 'primary' || !job.slotCreated || job.connect === undefined || job.slot === undefined) return undefined;
    return dropSlot(connectOptionsOf(job.connect), job.slot).then((note) => note.replace(/^; /, ''));
  }

  /** The import state GET of a timeline shows, or undefined when it was not imported by a job. */
  state(tenantId: string, t: Timeline): Record<string, unknown> | undefined {
    const job = this.jobs.get(this.key(tenantId, t.id));
    return job === undefined ? undefined : this.view(job, t);
  }

  private view(job: ImportJob, t: Timeline): Record<string, unknown> {
    const following = job.kind === 'primary' ? this.followers.state(job.tenantId, job.timelineId) : undefined;
    const readable = job.phase === 'done' || (job.phase === 'following' && job.endLsn !== null && t.lastRecordLsn >= parseLsn(job.endLsn));
    return {
      kind: job.kind,
      source: job.source,
      phase: job.phase,
      readable,
      bytes_done: job.bytesDone,
      bytes_total: job.bytesTotal,
      start_lsn: job.startLsn,
      end_lsn: job.endLsn,
      ...(job.slot !== undefined ? { slot: job.slot } : {}),
      ...(following !== undefined ? { following: following.following, ...(following.error !== undefined ? { follow_error: following.error } : {}) } : {}),
      started_at: job.startedAt,
      finished_at: job.finishedAt,
      error: job.error,
    };
  }

  /** Reads imports.json: jobs the last process left running become failed (see the header). */
  async resume(): Promise<void> {
    const file = join(this.root, IMPORTS_FILE);
    if (!existsSync(file)) return;
    const jobs = JSON.parse(readFileSync(file, 'utf8')) as ImportJob[];
    for (const job of jobs) {
      this.jobs.set(this.key(job.tenantId, job.timelineId), job);
      if (job.phase !== 'base_backup' && job.phase !== 'copying') continue;
      let note = '';
      if (job.slotCreated && job.connect !== undefined && job.slot !== undefined) note = await dropSlot(job.connect, job.slot);
      job.phase = 'failed';
      job.finishedAt = new Date().toISOString();
      job.error = { code: 'INTERRUPTED', message: `The import into timeline ${job.timelineId} stopped with the page server${note}; delete the timeline and import again` };
    }
    this.save();
  }

  /** Stops writing imports.json: jobs still running end with the repository's shutdown, and resume() takes them. */
  stop(): void {
    this.stopped = true;
  }
}

/** Drops a slot a job created, on a fresh connection; says how it went. */

/** A background job's own failure to record its state (the disk full, say): said on stderr; the server goes on. */
function stateNotSaved(what: string, e: unknown): void {
  console.error(`strata: ${what}: cannot record the import's state: ${e instanceof Error ? e.message : String(e)}`);
}

/** The replication client's error a failure comes from, if any (import-backup.ts wraps it as its cause). */
function replicationCause(e: unknown): ReplicationError | undefined {
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 8; c = c.cause, depth++) if (c instanceof ReplicationError) return c;
  return undefined;
}

function errorCode(e: unknown): string {
  const r = replicationCause(e);
  if (r !== undefined) return r.code;
  const code: unknown = e instanceof Error ? (e as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : 'INTERNAL';
}

/** The failure's message, and what to check when the primary could not be reached or refused. */
export function withAdvice(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const r = replicationCause(e);
  const text = r instanceof ServerError ? `${r.message}` : message;
  let advice: string | undefined;
  if (r?.code === 'CONNECT_FAILED') advice = 'check that PostgreSQL runs at that host and port, listens on that address (listen_addresses, port) and that the page server can reach it';
  else if (r?.code === 'AUTH_FAILED' || /password authentication failed/.test(text)) advice = 'check the user and password in the connection string';
  else if (/pg_hba\.conf/.test(text)) advice = 'allow a replication connection from the page server in the primary\'s pg_hba.conf (a "host replication <user> <address> <method>" line), then reload it';
  else if (/superuser or replication role/.test(text)) advice = 'connect as a role with REPLICATION (ALTER ROLE <user> REPLICATION)';
  else if (/max_wal_senders|number of requested standby connections/.test(text)) advice = 'raise max_wal_senders on the primary (it needs a restart)';
  else if (/max_replication_slots|replication slots are in use/.test(text)) advice = 'raise max_replication_slots on the primary, or drop a slot it does not need';
  else if (/wal_level/.test(text)) advice = 'set wal_level = replica on the primary (it needs a restart)';
  return advice === undefined ? message : `${message}; ${advice}`;
}
