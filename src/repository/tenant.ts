/**
 * A tenant: one customer's timelines, in a folder of its own, with its own configuration and its
 * own Reconstructor (so its redo runs apart from every other tenant's: issue 9). Tenants share
 * nothing but the process and the page cache, whose entries are keyed by timeline id.
 *
 * Folder: `<root>/tenants/<tenant id>/` with `tenant.json` (the configuration) and
 * `timelines/<timeline id>/`. A tenant runs its own background work: freezing in-memory layers that
 * got old, compaction and GC, each on a period.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { formatLsn, type Lsn } from '../pg/lsn.js';
import { compact, type CompactionResult } from './compaction.js';
import { mkdirDurable, renameAwayDurable, TEMP_SUFFIX, writeFileDurable } from './durable.js';
import { RepositoryError } from './errors.js';
import { gc, type GcResult } from './gc.js';
import { METADATA_FILE, readMetadata } from './metadata.js';
import type { PageCache } from './page-cache.js';
import type { Reconstructor } from './reconstruct.js';
import { DEFAULT_TIMELINE_CONFIG, lsnNumber, Timeline, type TimelineConfig, type TimelineContext } from './timeline.js';

export interface TenantConfig extends TimelineConfig {
  /** How often background compaction runs (0: never; compaction is then called explicitly). */
  readonly compactionPeriodMs: number;
  /** How often background GC runs (0: never). */
  readonly gcPeriodMs: number;
}

export const DEFAULT_TENANT_CONFIG: TenantConfig = {
  ...DEFAULT_TIMELINE_CONFIG,
  compactionPeriodMs: 20_000,
  gcPeriodMs: 60 * 60_000,
};

export const TENANT_CONFIG_FILE = 'tenant.json';
const ID = /^[0-9a-f]{32}$/;

export function newId(): string {
  return randomBytes(16).toString('hex');
}

export function checkId(what: string, id: string): void {
  if (!ID.test(id)) throw new RepositoryError('BAD_REQUEST', `Cannot use ${what} id ${JSON.stringify(id)}: an id is 32 lowercase hex digits`);
}

export interface TenantEvents {
  /** Background work failed (flush, compaction, GC): the tenant keeps serving. */
  onBackgroundError(tenantId: string, timelineId: string, error: unknown): void;
}

export class Tenant {
  private readonly timelines = new Map<string, Timeline>();
  private timers: NodeJS.Timeout[] = [];
  private closed = false;

  private constructor(
    readonly id: string,
    readonly dir: string,
    readonly config: TenantConfig,
    private readonly pageCache: PageCache,
    private readonly reconstructor: Reconstructor,
    private readonly events: TenantEvents,
  ) {}

  /** Makes the tenant's folder and configuration file. */
  static create(dir: string, id: string, config: TenantConfig, pageCache: PageCache, reconstructor: Reconstructor, events: TenantEvents): Tenant {
    mkdirDurable(join(dir, 'timelines'));
    writeFileDurable(join(dir, TENANT_CONFIG_FILE), Buffer.from(JSON.stringify({ formatVersion: 1, tenantId: id, config }, null, 2) + '\n'));
    return new Tenant(id, dir, config, pageCache, reconstructor, events);
  }

  /** Opens a tenant and its timelines, ancestors before children. */
  static load(dir: string, pageCache: PageCache, reconstructor: Reconstructor, events: TenantEvents): Tenant {
    const path = join(dir, TENANT_CONFIG_FILE);
    let file: { tenantId: string; config: Partial<TenantConfig> };
    try {
      file = JSON.parse(readFileSync(path, 'utf8')) as typeof file;
    } catch (e) {
      throw new RepositoryError('CORRUPT_METADATA', `Cannot read tenant configuration ${path}: ${(e as Error).message}`, { cause: e });
    }
    const tenant = new Tenant(file.tenantId, dir, { ...DEFAULT_TENANT_CONFIG, ...file.config }, pageCache, reconstructor, events);
    const timelinesDir = join(dir, 'timelines');
    const pending = new Map<string, string | null>();
    for (const name of readdirSync(timelinesDir)) {
      const tdir = join(timelinesDir, name);
      // A timeline whose creation or deletion did not finish: its metadata never landed, or it was renamed away.
      if (name.endsWith(TEMP_SUFFIX) || !existsSync(join(tdir, METADATA_FILE))) {
        rmSync(tdir, { recursive: true, force: true });
        continue;
      }
      pending.set(name, readMetadata(join(tdir, METADATA_FILE)).ancestorTimelineId);
    }
    while (pending.size > 0) {
      const before = pending.size;
      for (const [id, ancestorId] of pending) {
        if (ancestorId !== null && !tenant.timelines.has(ancestorId)) continue;
        const ancestor = ancestorId === null ? undefined : tenant.timelines.get(ancestorId);
        tenant.timelines.set(id, Timeline.load(join(timelinesDir, id), tenant.context(), ancestor));
        pending.delete(id);
      }
      if (pending.size === before)
        throw new RepositoryError('CORRUPT_METADATA', `Cannot open tenant ${tenant.id}: timelines ${[...pending.keys()].join(', ')} name ancestors that do not exist`);
    }
    return tenant;
  }

  private context(): TimelineContext {
    return {
      config: this.config,
      pageCache: this.pageCache,
      reconstructor: this.reconstructor,
      childBranchPoints: (timelineId) => [...this.timelines.values()].filter((t) => t.ancestor?.id === timelineId).map((t) => t.ancestorLsn),
      onBackgroundError: (timeline, error) => this.events.onBackgroundError(this.id, timeline.id, error),
    };
  }

  private timelineDir(id: string): string {
    return join(this.dir, 'timelines', id);
  }

  timeline(id: string): Timeline {
    const t = this.timelines.get(id);
    if (t === undefined) throw new RepositoryError('NOT_FOUND', `Cannot find timeline ${id} in tenant ${this.id}`);
    return t;
  }

  list(): Timeline[] {
    return [...this.timelines.values()];
  }

  private checkNew(id: string): void {
    checkId('timeline', id);
    if (this.closed) throw new RepositoryError('SHUT_DOWN', `Cannot create timeline ${id}: tenant ${this.id} is shutting down`);
    if (this.timelines.has(id)) throw new RepositoryError('ALREADY_EXISTS', `Cannot create timeline ${id} in tenant ${this.id}: it exists`);
  }

  /** A new empty timeline whose history starts above `startLsn`. */
  createTimeline(id: string = newId(), startLsn: Lsn = 0n as Lsn): Timeline {
    this.checkNew(id);
    const t = Timeline.create(this.timelineDir(id), id, this.context(), undefined, lsnNumber(startLsn));
    this.timelines.set(id, t);
    return t;
  }

  /**
   * A branch of `ancestorId` at `lsn` (default: its last record LSN), in O(1): a metadata file that
   * names the ancestor and the branch point; nothing is copied.
   */
  branch(ancestorId: string, lsn?: Lsn, id: string = newId()): Timeline {
    this.checkNew(id);
    const ancestor = this.timeline(ancestorId);
    const at = lsn === undefined ? ancestor.lastRecordLsnNumber : lsnNumber(lsn);
    if (at > ancestor.lastRecordLsnNumber)
      throw new RepositoryError('BAD_REQUEST', `Cannot branch timeline ${ancestorId} at ${formatLsn(BigInt(at))}: it has WAL only up to ${formatLsn(ancestor.lastRecordLsn)}`);
    if (at < ancestor.gcCutoffNumber && !ancestor.retainedLsns().includes(at))
      throw new RepositoryError('BELOW_GC_HORIZON', `Cannot branch timeline ${ancestorId} at ${formatLsn(BigInt(at))}: it is below the GC cutoff ${formatLsn(ancestor.gcCutoff)}`);
    if (at < ancestor.consistentLsnNumber)
      throw new RepositoryError('NOT_CONSISTENT', `Cannot branch timeline ${ancestorId} at ${formatLsn(BigInt(at))}: it is consistent only from ${formatLsn(ancestor.consistentLsn)} (a base backup's end)`);
    if (ancestor.ancestor !== undefined && at < ancestor.ancestorLsn)
      throw new RepositoryError('BAD_REQUEST', `Cannot branch timeline ${ancestorId} at ${formatLsn(BigInt(at))}: it begins at ${formatLsn(BigInt(ancestor.ancestorLsn))}`);
    const t = Timeline.create(this.timelineDir(id), id, this.context(), ancestor, at);
    this.timelines.set(id, t);
    return t;
  }

  /** Deletes a timeline that has no children: its folder is renamed away first, so a crash cannot leave half of it. */
  async deleteTimeline(id: string): Promise<void> {
    const t = this.timeline(id);
    const children = this.list().filter((c) => c.ancestor === t);
    if (children.length > 0) throw new RepositoryError('BAD_REQUEST', `Cannot delete timeline ${id}: timelines ${children.map((c) => c.id).join(', ')} branch from it`);
    this.timelines.delete(id);
    await t.shutdown(false);
    const gone = t.dir + TEMP_SUFFIX;
    renameAwayDurable(t.dir, gone);
    rmSync(gone, { recursive: true, force: true });
    this.pageCache.dropTimeline(id);
  }

  async compactAll(force = false): Promise<CompactionResult[]> {
    const results: CompactionResult[] = [];
    for (const t of this.list()) results.push(await compact(t, { force }));
    return results;
  }

  async gcAll(nowMs: number = Date.now()): Promise<GcResult[]> {
    const results: GcResult[] = [];
    for (const t of this.list()) results.push(await gc(t, nowMs));
    return results;
  }

  /** Starts the background loops the configuration asks for. */
  startBackground(): void {
    const every = (ms: number, work: (t: Timeline) => Promise<unknown>) => {
      if (ms <= 0) return;
      const timer = setInterval(() => {
        for (const t of this.list()) work(t).catch((e: unknown) => this.events.onBackgroundError(this.id, t.id, e));
      }, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.config.compactionPeriodMs, (t) => compact(t));
    every(this.config.gcPeriodMs, (t) => gc(t));
    // Freeze layers that have grown old even when no WAL arrives to trigger it.
    every(Math.min(this.config.checkpointTimeoutMs, 10_000), async (t) => t.flushIfOld());
  }

  /** Stops background work and closes every timeline; with `flush`, in-memory layers are written first. */
  async shutdown(flush: boolean): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    for (const t of this.list()) await t.shutdown(flush);
  }
}
