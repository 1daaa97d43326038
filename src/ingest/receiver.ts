/**
 * The WAL receiver: strata as a physical standby of a PostgreSQL primary.
 *
 * It is the first stage of the data path (DESIGN.md): it connects to the primary (or to a standby,
 * cascading), keeps a physical replication slot there so the primary retains what strata has not
 * made durable, streams WAL into the WAL log (wal-log.ts), fsyncs it in batches, and reports
 * write = received, flush = fsynced and apply = what the caller says ingest has applied, so the
 * primary can name strata in `synchronous_standby_names`. Records are decoded from the log, never
 * from the socket, and handed to `onRecords` only once the bytes holding them are fsynced; that
 * also makes replay after a restart and live streaming one code path (`tail()`).
 *
 * Resilience, following walreceiver.c and xlogrecovery.c:
 * - When the primary goes away the receiver reconnects with exponential backoff and resumes at
 *   the log's flushed end (bytes written but not flushed are flushed first; after a crash the log
 *   itself drops them).
 * - When a timeline ends (the server's CopyDone, then the next timeline and its start) or the
 *   server turns out to be on a newer timeline, it fetches TIMELINE_HISTORY, checks that strata's
 *   timeline is in it, and goes on with the next timeline from the segment start of the switch
 *   point (as RequestXLogStreaming does, so that every segment is whole).
 * - PostgreSQL's rule for the record cut short by a promotion (seed 003): the new timeline begins
 *   at the end of the last complete record, and the old timeline's partial record past the switch
 *   point is not part of the history. The tail reader therefore reads the old timeline only up to
 *   the switch point and starts a fresh decoder there on the new timeline, with the prev-link of
 *   the last record. It never asks for the partial record again, so a new timeline that ends inside
 *   the same WAL page (the case that makes PostgreSQL's standby loop) is just another switch.
 *
 * Flush batching: WAL is written to the log as each message arrives; an fsync starts at the end of
 * each burst (the socket reads handled in one turn of the event loop) and, while one is running,
 * the next starts as soon as it completes, so data never waits longer than one fsync plus one
 * burst, and a fast stream gets one fsync per fsync-duration, not one per message.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { formatLsn, segmentStart, segmentNumber, type Lsn } from '../pg/lsn.js';
import { parseTimelineHistory, timelineOfPoint, timelineSwitchPoint, type TimelineHistoryEntry } from '../pg/timeline-history.js';
import { WalDecoder } from '../wal/decoder.js';
import { WalDecodeError } from '../wal/errors.js';
import type { WalRecord } from '../wal/record.js';
import { ReplicationConnection, type ConnectOptions, type StreamHandlers } from './replication/connection.js';
import { ReplicationError, ServerError } from './replication/errors.js';
import { WalLog, WalLogError } from './wal-log.js';

export type ReceiverErrorCode =
  /** The server is another database system than the one the log holds WAL of. */
  | 'SYSTEM_ID_MISMATCH'
  /** The server's history does not contain strata's timeline, or forked before what strata has. */
  | 'TIMELINE_DIVERGED'
  /** The server is on an older timeline than strata (a not-yet-promoted standby): retried. */
  | 'TIMELINE_AHEAD'
  /** The server sent WAL that does not continue the log. */
  | 'STREAM_GAP'
  /** The receiver was stopped while a caller waited. */
  | 'STOPPED'
  | 'WAIT_TIMEOUT';

export class ReceiverError extends Error {
  constructor(
    readonly code: ReceiverErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ReceiverError';
  }
}

export type ReceiverEvent =
  | { readonly kind: 'connected'; readonly serverTimeline: number; readonly systemId: bigint }
  | { readonly kind: 'streaming'; readonly timeline: number; readonly start: Lsn }
  | { readonly kind: 'disconnected'; readonly error: unknown; readonly retryInMs: number }
  | { readonly kind: 'timelineSwitch'; readonly from: number; readonly to: number; readonly switchPoint: Lsn }
  /** The tail reader restarted its decoder on a new timeline (records of `from` end at `at`). */
  | { readonly kind: 'decoderSwitch'; readonly from: number; readonly to: number; readonly at: Lsn; readonly droppedPartialBytes: number };

export interface WalReceiverOptions {
  readonly connect: ConnectOptions;
  readonly log: WalLog;
  readonly slotName: string;
  /** Where to start when the log is empty: default the slot's restart LSN. Rounded down to its segment. */
  readonly startLsn?: Lsn;
  /** Records are handed on from this record start; default the first record in the log. */
  readonly replayFrom?: Lsn;
  /** Receives every record once it is durable, in order, with the timeline it was read from. */
  readonly onRecords?: (records: readonly WalRecord[], timeline: number) => void | Promise<void>;
  /** Standby status updates at least this often (wal_receiver_status_interval; 10 s by default). */
  readonly statusIntervalMs?: number;
  readonly reconnectDelayMsMin?: number;
  readonly reconnectDelayMsMax?: number;
  readonly onEvent?: (event: ReceiverEvent) => void;
}

const STATUS_INTERVAL_MS_DEFAULT = 10_000;
const RECONNECT_DELAY_MS_MIN_DEFAULT = 100;
const RECONNECT_DELAY_MS_MAX_DEFAULT = 5_000;

/** Errors that retrying cannot fix: the receiver stops and `done` rejects with them. */
function isFatal(e: unknown): boolean {
  if (e instanceof ServerError) return e.isAuthFailure;
  if (e instanceof ReplicationError) return e.code === 'AUTH_FAILED' || e.code === 'UNSUPPORTED_AUTH' || e.code === 'INVALID_ARGUMENT';
  if (e instanceof ReceiverError) return e.code !== 'TIMELINE_AHEAD';
  return true;
}

export class WalReceiver {
  private readonly log: WalLog;
  private readonly statusIntervalMs: number;
  private applied: Lsn;
  private conn: ReplicationConnection | undefined;
  private stopping = false;
  private stopSignal = new AbortController();
  /** Resolves when stop() begins: waits race against it instead of adding a listener each time. */
  private readonly stopped: Promise<void>;
  private flushScheduled = false;
  private flushRunning = false;
  private fatal: unknown;
  private statusTimer: NodeJS.Timeout | undefined;
  /** Settles when the receiver stops: rejects with the error that stopped it. */
  readonly done: Promise<void>;

  constructor(private readonly options: WalReceiverOptions) {
    this.log = options.log;
    this.statusIntervalMs = options.statusIntervalMs ?? STATUS_INTERVAL_MS_DEFAULT;
    this.applied = options.replayFrom ?? (0n as Lsn);
    this.stopped = new Promise((resolve) => this.stopSignal.signal.addEventListener('abort', () => resolve(), { once: true }));
    const loops = [this.run()];
    if (options.onRecords !== undefined) loops.push(this.tail(options.onRecords));
    this.done = Promise.all(loops).then(
      () => undefined,
      async (e: unknown) => {
        await this.shutdown();
        throw e;
      },
    );
    // Callers that never await `done` must not see an unhandled rejection; they learn of the
    // failure from `error` and from waitForFlush().
    this.done.catch(() => undefined);
  }

  /** The error that stopped the receiver, if one did. */
  get error(): unknown {
    return this.fatal;
  }

  get timeline(): number {
    return this.log.timeline;
  }

  get writtenLsn(): Lsn {
    return this.log.writtenLsn;
  }

  get flushedLsn(): Lsn {
    return this.log.flushedLsn;
  }

  /** What ingest has applied: reported to the primary as the apply position. */
  setApplied(lsn: Lsn): void {
    this.applied = lsn;
  }

  /** Stops streaming and reconnecting; flushes what was written. */
  async stop(): Promise<void> {
    await this.shutdown();
    await this.done.catch(() => undefined);
  }

  private async shutdown(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.stopSignal.abort();
    if (this.statusTimer !== undefined) clearInterval(this.statusTimer);
    const conn = this.conn;
    this.conn = undefined;
    await this.log.flush().catch(() => undefined);
    if (conn !== undefined) {
      conn.sendStatus(this.log.writtenLsn, this.log.flushedLsn, this.applied);
      await conn.close();
    }
  }

  /** Resolves once the log is flushed to at least `lsn` on `timeline` (or any newer timeline). */
  async waitForFlush(lsn: Lsn, timeoutMs: number, timeline?: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const reached = (): boolean =>
      timeline === undefined ? this.log.flushedLsn >= lsn : this.log.timeline > timeline || (this.log.timeline === timeline && this.log.flushedLsn >= lsn);
    for (;;) {
      if (this.fatal !== undefined) throw this.fatal;
      if (reached()) return;
      if (this.stopping) throw new ReceiverError('STOPPED', `Cannot wait for ${formatLsn(lsn)} to be flushed: the receiver stopped at ${formatLsn(this.log.flushedLsn)}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new ReceiverError('WAIT_TIMEOUT', `Cannot wait for ${formatLsn(lsn)} to be flushed: after ${timeoutMs} ms the log is flushed to ${formatLsn(this.log.flushedLsn)} on timeline ${this.log.timeline}`);
      await Promise.race([this.log.waitForChange(), sleep(Math.min(left, 200))]);
    }
  }

  private emit(event: ReceiverEvent): void {
    this.options.onEvent?.(event);
  }

  // ---- Connection loop ----

  private async run(): Promise<void> {
    const delayMin = this.options.reconnectDelayMsMin ?? RECONNECT_DELAY_MS_MIN_DEFAULT;
    const delayMax = this.options.reconnectDelayMsMax ?? RECONNECT_DELAY_MS_MAX_DEFAULT;
    let delay = delayMin;
    this.statusTimer = setInterval(() => this.sendStatus(), this.statusIntervalMs);
    try {
      while (!this.stopping) {
        // The tail reader or a flush may have failed while this loop slept.
        if (this.fatal !== undefined) throw this.fatal;
        let conn: ReplicationConnection | undefined;
        try {
          conn = await ReplicationConnection.connect(this.options.connect);
          if (this.stopping) break;
          this.conn = conn;
          await this.session(conn, () => {
            delay = delayMin;
          });
          if (this.stopping) break;
        } catch (e) {
          if (this.stopping) break;
          if (this.fatal !== undefined) throw this.fatal;
          if (isFatal(e)) throw e;
          this.emit({ kind: 'disconnected', error: e, retryInMs: delay });
          await sleep(delay, undefined, { signal: this.stopSignal.signal }).catch(() => undefined);
          delay = Math.min(delay * 2, delayMax);
        } finally {
          if (this.conn === conn) this.conn = undefined;
          conn?.destroy();
        }
      }
    } catch (e) {
      this.fatal ??= e;
      throw e;
    } finally {
      clearInterval(this.statusTimer);
    }
  }

  /** One connection: identify, make sure of the slot, then stream timeline after timeline. */
  private async session(conn: ReplicationConnection, onStreaming: () => void): Promise<void> {
    const id = await conn.identifySystem();
    this.emit({ kind: 'connected', serverTimeline: id.timeline, systemId: id.systemId });
    const known = this.log.systemId;
    if (known !== undefined && known !== id.systemId)
      throw new ReceiverError('SYSTEM_ID_MISMATCH', `Cannot stream from ${conn.options.host}:${conn.options.port}: its system identifier is ${id.systemId}, the WAL log holds WAL of ${known}`);
    this.log.setSystemId(id.systemId);
    let slot = await conn.readReplicationSlot(this.options.slotName);
    if (slot === undefined) {
      await conn.createPhysicalSlot(this.options.slotName);
      slot = await conn.readReplicationSlot(this.options.slotName);
    }
    const serverHistory = id.timeline > 1 ? parseTimelineHistory(id.timeline, (await conn.timelineHistory(id.timeline)).content.toString('utf8')) : parseTimelineHistory(1, undefined);

    if (this.log.timeline === 0) {
      const start = this.options.startLsn ?? slot?.restartLsn ?? id.xlogpos;
      const tli = timelineOfPoint(start, serverHistory);
      const history = tli > 1 ? (await conn.timelineHistory(tli)).content : undefined;
      await this.log.beginTimeline(tli, segmentStart(segmentNumber(start, this.log.segmentSize), this.log.segmentSize), history);
    }

    for (;;) {
      await this.log.flush();
      const tli = this.log.timeline;
      const from = this.log.writtenLsn;
      if (tli > id.timeline)
        throw new ReceiverError('TIMELINE_AHEAD', `Cannot stream timeline ${tli} from ${conn.options.host}:${conn.options.port}: the server is on timeline ${id.timeline}`);
      if (tli < id.timeline) {
        const sp = timelineSwitchPoint(tli, serverHistory);
        if (sp === undefined)
          throw new ReceiverError('TIMELINE_DIVERGED', `Cannot follow the server: its timeline ${id.timeline} does not descend from strata's timeline ${tli}`);
        if (from > sp.end && sp.nextTli !== undefined) {
          // Strata has bytes of this timeline past the fork (a partial record): not part of the
          // server's history, so go straight to the next timeline.
          await this.switchTimeline(conn, sp.nextTli, sp.end);
          continue;
        }
      }
      this.emit({ kind: 'streaming', timeline: tli, start: from });
      const end = await conn.startReplication({ slot: this.options.slotName, start: from, timeline: tli }, this.streamHandlers(conn, onStreaming));
      if (end.nextTimeline === undefined || end.nextTimelineStart === undefined) return;
      await this.switchTimeline(conn, end.nextTimeline, end.nextTimelineStart);
    }
  }

  private streamHandlers(conn: ReplicationConnection, onStreaming: () => void): StreamHandlers {
    let first = true;
    return {
      onXLogData: (start, _walEnd, data) => {
        if (first) {
          first = false;
          onStreaming();
        }
        if (start !== this.log.writtenLsn)
          throw new ReceiverError('STREAM_GAP', `Cannot write WAL received at ${formatLsn(start)}: the log ends at ${formatLsn(this.log.writtenLsn)}`);
        this.log.write(start, data);
      },
      onKeepalive: (_walEnd, replyRequested) => {
        if (replyRequested) this.sendStatus(conn);
      },
      onBurstEnd: () => this.scheduleFlush(),
      onServerDone: async () => {
        await this.log.flush();
        this.sendStatus(conn);
      },
    };
  }

  /** Goes on with `next` from `switchPoint`, after checking the server's history agrees. */
  private async switchTimeline(conn: ReplicationConnection, next: number, switchPoint: Lsn): Promise<void> {
    const from = this.log.timeline;
    await this.log.flush();
    if (this.log.writtenLsn < switchPoint)
      throw new ReceiverError('STREAM_GAP', `Cannot switch from timeline ${from} to ${next} at ${formatLsn(switchPoint)}: the log has timeline ${from} only up to ${formatLsn(this.log.writtenLsn)}`);
    const { content } = await conn.timelineHistory(next);
    const history = parseTimelineHistory(next, content.toString('utf8'));
    const sp = timelineSwitchPoint(from, history);
    if (sp === undefined || sp.end !== switchPoint)
      throw new ReceiverError(
        'TIMELINE_DIVERGED',
        `Cannot switch from timeline ${from} to ${next} at ${formatLsn(switchPoint)}: the history of timeline ${next} says timeline ${from} ${sp === undefined ? 'is not its ancestor' : `ends at ${formatLsn(sp.end)}`}`,
      );
    await this.log.beginTimeline(next, segmentStart(segmentNumber(switchPoint, this.log.segmentSize), this.log.segmentSize), content);
    this.emit({ kind: 'timelineSwitch', from, to: next, switchPoint });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushRunning) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flushAndReport();
    });
  }

  /** Fsyncs, reports the new flush position, and goes again if more arrived meanwhile. */
  private async flushAndReport(): Promise<void> {
    if (this.flushRunning || this.stopping) return;
    this.flushRunning = true;
    try {
      const before = this.log.flushedLsn;
      await this.log.flush();
      if (this.log.flushedLsn !== before) this.sendStatus();
    } catch (e) {
      // The log cannot be made durable: nothing more may be acknowledged.
      this.fatal ??= e;
      this.conn?.destroy();
      return;
    } finally {
      this.flushRunning = false;
    }
    if (this.log.writtenLsn !== this.log.flushedLsn) this.scheduleFlush();
  }

  private sendStatus(conn = this.conn): void {
    if (conn === undefined || conn.isClosed) return;
    try {
      conn.sendStatus(this.log.writtenLsn, this.log.flushedLsn, this.applied);
    } catch {
      // The connection is failing; the connection loop sees it.
    }
  }

  // ---- Tail reader: the log's durable bytes -> records, across timeline switches ----

  private async tail(onRecords: (records: readonly WalRecord[], timeline: number) => void | Promise<void>): Promise<void> {
    try {
      while (this.log.timeline === 0 && !this.stopping) await this.waitForLogChange();
      if (this.stopping) return;
      let pos = this.options.replayFrom ?? this.firstLogPosition();
      let tli = timelineOfPoint(pos, this.log.history);
      let decoder = this.newDecoder(pos, tli, undefined);
      let lastLsn: Lsn | undefined;
      let lastEnd = pos;
      let readPos = pos;
      while (!this.stopping) {
        const sp = timelineSwitchPoint(tli, this.log.history);
        if (sp === undefined) throw new ReceiverError('TIMELINE_DIVERGED', `Cannot read timeline ${tli} from the log: it is not in the history of timeline ${this.log.timeline}`);
        const current = tli === this.log.timeline;
        const limit = current ? this.log.flushedLsn : sp.end;
        if (readPos < limit) {
          for await (const chunk of this.log.read(tli, readPos, limit)) {
            decoder.push(chunk);
            readPos = (readPos + BigInt(chunk.length)) as Lsn;
            const batch = this.drain(decoder, current ? undefined : sp.end);
            if (batch.length > 0) {
              const last = batch[batch.length - 1]!;
              lastLsn = last.lsn;
              lastEnd = last.endLsn;
              await onRecords(batch, tli);
            }
            if (this.stopping) return;
          }
          continue;
        }
        if (!current && sp.nextTli !== undefined) {
          // The end of `tli` in this history: PostgreSQL goes on at the switch point on the next
          // timeline; whatever of a record of `tli` lies past it is not history (seed 003).
          if (lastEnd !== sp.end)
            throw new ReceiverError('TIMELINE_DIVERGED', `Cannot switch from timeline ${tli} to ${sp.nextTli} at ${formatLsn(sp.end)}: the records of timeline ${tli} end at ${formatLsn(lastEnd)}`);
          const dropped = Number(decoder.receivedUpTo - sp.end);
          this.emit({ kind: 'decoderSwitch', from: tli, to: sp.nextTli, at: sp.end, droppedPartialBytes: Math.max(0, dropped) });
          tli = sp.nextTli;
          decoder = this.newDecoder(sp.end, tli, lastLsn);
          readPos = sp.end;
          continue;
        }
        await this.waitForLogChange();
      }
    } catch (e) {
      this.fatal ??= e;
      this.conn?.destroy();
      throw e;
    }
  }

  private newDecoder(start: Lsn, tli: number, prevLsn: Lsn | undefined): WalDecoder {
    const systemId = this.log.systemId;
    return new WalDecoder({
      startLsn: start,
      timeline: tli,
      segmentSize: this.log.segmentSize,
      ...(systemId !== undefined ? { systemId } : {}),
      ...(prevLsn !== undefined ? { prevLsn } : {}),
    });
  }

  /**
   * The complete records decodable now. A decode error past a known switch point is the old
   * timeline's abandoned tail, not an error; anywhere else it is.
   */
  private drain(decoder: WalDecoder, switchPoint: Lsn | undefined): WalRecord[] {
    const out: WalRecord[] = [];
    try {
      for (const r of decoder.records()) out.push(r);
    } catch (e) {
      if (!(e instanceof WalDecodeError) || switchPoint === undefined || e.lsn < switchPoint) throw e;
    }
    return out;
  }

  /** The first byte of the oldest timeline the log still holds, following the current history. */
  private firstLogPosition(): Lsn {
    for (const e of this.log.history) {
      const r = this.log.timelineRange(e.tli);
      // A timeline's first segment starts before the timeline does (it copies its parent's bytes).
      if (r !== undefined) return r.start > e.begin ? r.start : e.begin;
    }
    return this.log.beginLsn;
  }

  private async waitForLogChange(): Promise<void> {
    if (this.stopping) return;
    await Promise.race([this.log.waitForChange(), this.stopped]);
  }
}

export type { TimelineHistoryEntry };
