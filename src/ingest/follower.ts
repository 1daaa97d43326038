/**
 * A timeline following a primary (seed 002: WAL receiver + WAL ingest): the receiver streams WAL
 * into the durable WAL log (the primary hears "flushed" only once it is fsynced there), the log's
 * durable records are ingested into the timeline, and the primary hears "applied" for what the
 * timeline holds. WAL the timeline has flushed to layer files is removed from the log.
 *
 * After a crash: the repository reopens at its disk-consistent LSN, the log at its last flushed
 * LSN, and the follower replays the log from the timeline's last record, skipping what the
 * timeline already has, then streams on. The timeline must hold a checkpoint first (an imported
 * data directory or base backup): that is where its WAL starts.
 */
import { pageStart, segmentStart, segmentNumber, type Lsn } from '../pg/lsn.js';
import type { Timeline } from '../repository/timeline.js';
import type { WalRecord } from '../wal/record.js';
import { WalReceiver, type ReceiverEvent } from './receiver.js';
import type { ConnectOptions } from './replication/connection.js';
import { WalLog } from './wal-log.js';
import { WalIngest } from './walingest.js';

export interface FollowerOptions {
  readonly timeline: Timeline;
  /** The folder of this timeline's WAL log. */
  readonly walLogDir: string;
  readonly connect: ConnectOptions;
  readonly slotName: string;
  /**
   * The record the stream's WAL starts with, when it is not the next after the timeline's last
   * record: a compute started from a base backup begins its WAL at the backup's checkpoint record.
   */
  readonly startAt?: Lsn;
  /** How often WAL the timeline has flushed to layers is removed from the log. */
  readonly trimIntervalMs?: number;
  readonly onEvent?: (event: ReceiverEvent) => void;
  /** Ingest failed (a record that cannot be applied): the follower stops, the timeline keeps what it has. */
  readonly onError?: (error: unknown) => void;
}

const TRIM_INTERVAL_MS_DEFAULT = 10_000;

export class TimelineFollower {
  private readonly trimTimer: NodeJS.Timeout;
  private stopped = false;

  private constructor(
    readonly timeline: Timeline,
    readonly log: WalLog,
    readonly receiver: WalReceiver,
    readonly ingest: WalIngest,
  ) {
    this.trimTimer = setInterval(() => this.trim(), TRIM_INTERVAL_MS_DEFAULT);
    this.trimTimer.unref();
  }

  static async start(o: FollowerOptions): Promise<TimelineFollower> {
    const t = o.timeline;
    const ingest = await WalIngest.open(t);
    const log = WalLog.open(o.walLogDir, { segmentSize: ingest.walSegmentSize });
    const from = t.lastRecordLsn;
    // Assigned right after the receiver is made: its tail reader awaits the log before it hands on any record.
    let follower!: TimelineFollower;
    const receiver = new WalReceiver({
      connect: o.connect,
      log,
      slotName: o.slotName,
      // An empty log starts streaming at the segment that holds the timeline's end.
      startLsn: segmentStart(segmentNumber(from, ingest.walSegmentSize), ingest.walSegmentSize),
      // Decoding starts at a page boundary (XLogFindNextRecord does too) unless told where the WAL's first record is; records the timeline has are skipped.
      replayFrom: o.startAt !== undefined && pageStart(from) < o.startAt ? o.startAt : pageStart(from),
      onRecords: (records) => follower.apply(records),
      ...(o.onEvent !== undefined ? { onEvent: o.onEvent } : {}),
    });
    follower = new TimelineFollower(t, log, receiver, ingest);
    receiver.done.catch((e: unknown) => {
      if (!follower.stopped) o.onError?.(e);
    });
    return follower;
  }

  private async apply(records: readonly WalRecord[]): Promise<void> {
    const t = this.timeline;
    for (const r of records) {
      if (r.endLsnNumber <= t.lastRecordLsnNumber) continue;
      const stored = this.ingest.ingest(r);
      if (stored !== undefined) await stored;
    }
    this.receiver.setApplied(t.lastRecordLsn);
  }

  /** Removes the log's segments wholly below the timeline's disk-consistent LSN. */
  trim(): number {
    if (this.stopped) return 0;
    const keep = this.timeline.diskConsistentLsn;
    return keep <= this.log.flushedLsn ? this.log.removeBelow(keep) : 0;
  }

  /** Waits until the timeline has ingested WAL up to `lsn`. */
  waitForLsn(lsn: Lsn, timeoutMs: number): Promise<void> {
    return this.timeline.waitForLsn(lsn, timeoutMs);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.trimTimer);
    await this.receiver.stop();
    await this.log.close();
  }
}
