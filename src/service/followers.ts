/**
 * The timelines the page server follows over physical replication (src/ingest/follower.ts), by
 * HTTP request: a compute started from a timeline's base backup (its WAL begins at the backup's
 * checkpoint record) or a primary. What is followed is kept in `follows.json` beside the WAL logs
 * and resumed when the server starts again, so a restart loses nothing a compute committed.
 *
 * Starting to follow a new compute: the timeline is flushed first (the previous WAL log is not
 * needed any more) and the log is started afresh, since the compute's WAL is a new history from
 * the backup's checkpoint on.
 *
 * A primary imported by a base backup (imports.ts) is followed from the backup's start, which is
 * below the timeline's consistent LSN (so its pg_control is not read here: the import gives the
 * segment size). Such a timeline follows its primary until told to stop (DELETE .../follow): an
 * endpoint asking to follow it instead is refused, since its WAL would be a second history.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TimelineFollower } from '../ingest/follower.js';
import { ControlFile } from '../pg/control.js';
import { formatLsn, parseLsn, type Lsn } from '../pg/lsn.js';
import { CONTROL_FILE_KEY } from '../repository/key.js';
import { writeFileDurable } from '../repository/durable.js';
import type { Repository } from '../repository/repository.js';
import type { Timeline } from '../repository/timeline.js';
import { recordStartAtOrAfter } from '../wal/checkpoint-segment.js';
import { ServiceError } from './errors.js';
import type { FollowTarget } from './routes.js';

const FOLLOWS_FILE = 'follows.json';
const UNFOLLOW_WAIT_MS_MAX = 120_000;

interface FollowEntry extends FollowTarget {
  readonly tenantId: string;
  readonly timelineId: string;
  /** The record the followed server's WAL starts with (X/X). */
  readonly startAt: string;
  /** A primary the timeline was imported from (not a compute started from the timeline). */
  readonly primary?: boolean;
}

/** What GET of a timeline shows of its following. */
export interface FollowState {
  readonly following: string;
  readonly primary: boolean;
  /** The last failure of the stream (it reconnects by itself where it can), if any. */
  readonly error?: string;
}

export class Followers {
  private readonly active = new Map<string, { entry: FollowEntry; follower: TimelineFollower }>();
  private readonly errors = new Map<string, string>();

  constructor(
    private readonly repository: Repository,
    private readonly root: string,
  ) {}

  private key(tenantId: string, timelineId: string): string {
    return `${tenantId}/${timelineId}`;
  }

  private logDir(tenantId: string, timelineId: string): string {
    return join(this.root, tenantId, timelineId);
  }

  private save(): void {
    mkdirSync(this.root, { recursive: true });
    writeFileDurable(join(this.root, FOLLOWS_FILE), Buffer.from(JSON.stringify([...this.active.values()].map((a) => a.entry), null, 2) + '\n'));
  }

  private async startFollower(entry: FollowEntry, timeline: Timeline): Promise<TimelineFollower> {
    return TimelineFollower.start({
      timeline,
      walLogDir: this.logDir(entry.tenantId, entry.timelineId),
      slotName: entry.slot,
      startAt: parseLsn(entry.startAt),
      connect: { host: entry.host, port: entry.port, user: entry.user, applicationName: 'strata', ...(entry.password !== undefined ? { password: entry.password } : {}) },
      onError: (e) => {
        const message = e instanceof Error ? e.message : String(e);
        this.errors.set(this.key(entry.tenantId, entry.timelineId), message);
        console.error(`strata: following ${entry.host}:${entry.port} into ${entry.tenantId}/${entry.timelineId} stopped: ${message}`);
      },
    });
  }

  /** Starts following `target` into `timeline`, whose WAL it continues from the timeline's last record on. */
  async follow(tenantId: string, timeline: Timeline, target: FollowTarget): Promise<Record<string, unknown>> {
    const key = this.key(tenantId, timeline.id);
    const was = this.active.get(key)?.entry;
    if (was?.primary === true)
      throw new ServiceError(
        'CONFLICT',
        `Cannot follow ${target.host}:${target.port} into timeline ${timeline.id}: it follows the primary ${was.host}:${was.port} it was imported from; branch it and start the endpoint on the branch, or stop following first (DELETE .../follow)`,
      );
    const segmentSize = new ControlFile(await timeline.get(CONTROL_FILE_KEY, timeline.lastRecordLsn)).walSegmentSize;
    return this.begin({ ...target, tenantId, timelineId: timeline.id, startAt: formatLsn(recordStartAtOrAfter(timeline.lastRecordLsn, segmentSize)) }, timeline);
  }

  /**
   * Starts following the primary a base backup of which was just imported into `timeline`: from
   * the backup's start `startAt` (the timeline's last record LSN), in segments of `segmentSize`.
   */
  async followImported(tenantId: string, timeline: Timeline, target: FollowTarget, startAt: Lsn, segmentSize: number): Promise<Record<string, unknown>> {
    return this.begin({ ...target, tenantId, timelineId: timeline.id, startAt: formatLsn(recordStartAtOrAfter(startAt, segmentSize)), primary: true }, timeline);
  }

  private async begin(entry: FollowEntry, timeline: Timeline): Promise<Record<string, unknown>> {
    const key = this.key(entry.tenantId, entry.timelineId);
    await this.stop(key);
    await timeline.flush();
    rmSync(this.logDir(entry.tenantId, entry.timelineId), { recursive: true, force: true });
    const follower = await this.startFollower(entry, timeline);
    this.active.set(key, { entry, follower });
    this.save();
    return { tenant_id: entry.tenantId, timeline_id: entry.timelineId, following: `${entry.host}:${entry.port}`, start_lsn: entry.startAt };
  }

  /** Whether the timeline is followed, from where, and the stream's last failure. */
  state(tenantId: string, timelineId: string): FollowState | undefined {
    const key = this.key(tenantId, timelineId);
    const a = this.active.get(key);
    if (a === undefined) return undefined;
    const error = this.errors.get(key);
    return { following: `${a.entry.host}:${a.entry.port}`, primary: a.entry.primary === true, ...(error !== undefined ? { error } : {}) };
  }

  /** Stops following, after the timeline has WAL up to `waitLsn` when given; flushes the timeline. */
  async unfollow(tenantId: string, timeline: Timeline, waitLsn: Lsn | undefined): Promise<Record<string, unknown>> {
    const key = this.key(tenantId, timeline.id);
    if (waitLsn !== undefined && this.active.has(key)) await timeline.waitForLsn(waitLsn, UNFOLLOW_WAIT_MS_MAX);
    const was = this.active.has(key);
    await this.stop(key);
    this.save();
    await timeline.flush();
    return { tenant_id: tenantId, timeline_id: timeline.id, was_following: was, last_record_lsn: formatLsn(timeline.lastRecordLsn) };
  }

  /** Stops following a timeline that is being deleted, and removes its WAL log. */
  async forget(tenantId: string, timelineId: string): Promise<void> {
    const key = this.key(tenantId, timelineId);
    if (!this.active.has(key)) return;
    await this.stop(key);
    this.save();
    rmSync(this.logDir(tenantId, timelineId), { recursive: true, force: true });
  }

  private async stop(key: string): Promise<void> {
    const a = this.active.get(key);
    if (a === undefined) return;
    this.active.delete(key);
    this.errors.delete(key);
    await a.follower.stop();
  }

  /** Follows again what was followed when the server stopped. */
  async resume(): Promise<void> {
    const file = join(this.root, FOLLOWS_FILE);
    if (!existsSync(file)) return;
    const entries = JSON.parse(readFileSync(file, 'utf8')) as FollowEntry[];
    for (const entry of entries) {
      try {
        const timeline = this.repository.timeline(entry.tenantId, entry.timelineId);
        this.active.set(this.key(entry.tenantId, entry.timelineId), { entry, follower: await this.startFollower(entry, timeline) });
      } catch (e) {
        console.error(`strata: cannot follow ${entry.host}:${entry.port} into ${entry.tenantId}/${entry.timelineId} again: ${(e as Error).message}`);
      }
    }
  }

  async stopAll(): Promise<void> {
    for (const key of [...this.active.keys()]) await this.stop(key);
  }
}
