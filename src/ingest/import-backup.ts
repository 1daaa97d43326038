/**
 * A timeline from an existing primary (issue 6; Neon's import_basebackup): a base backup taken over
 * the replication connection, imported at its start LSN, after which a TimelineFollower streams
 * from that LSN on. Where a stopped data directory's import (import-datadir.ts) needs the primary
 * stopped, this takes a running, busy one.
 *
 *  1. The replication slot first (CREATE_REPLICATION_SLOT ... PHYSICAL RESERVE_WAL): its restart
 *     LSN is a checkpoint's redo point from before the backup, so from then on the primary keeps
 *     every WAL segment from the backup's start, until the follower streams them.
 *  2. BASE_BACKUP (replication/base-backup.ts, no WAL, no manifest): its archives are streamed into
 *     the timeline's values at the start LSN as they arrive (backup-files.ts); nothing is held whole.
 *  3. The start LSN is the redo point of the backup's checkpoint; the files were copied after it,
 *     each at its own moment, up to the end LSN. As in PostgreSQL's recovery from a backup, they are
 *     consistent only once the WAL from the start to the end is replayed (the first change of every
 *     block after the start carries a full-page image, and redo skips records at or below a page's
 *     LSN); so the timeline records the end LSN as its consistent LSN and refuses reads below it
 *     (Timeline.get), while ingest starts at the start LSN.
 *  4. The timeline advances to the start LSN and is flushed: the metadata that names the backup's
 *     values also names the consistent LSN, in one durable write.
 *
 * A failure at any point (the primary refuses, the stream breaks, an archive holds what no backup
 * holds) leaves nothing claimed as imported: the values put so far were never advanced over and are
 * dropped (Timeline.discardUnadvanced), the timeline is empty again, and a slot this import created
 * is dropped so that the primary does not keep WAL for nobody. After a crash mid-import the
 * metadata on disk is still that of the empty timeline.
 *
 * Memory: archive bytes pass through (the connection hands each socket read's messages to the tar
 * reader synchronously, so TCP holds the primary back); what grows with the backup is the in-memory
 * layer's index (per block, where its value is: the layer keeps a bounded amount of values in memory,
 * the rest in its ephemeral file) and one size per relation fork.
 */
import { formatLsn, type Lsn } from '../pg/lsn.js';
import type { Timeline } from '../repository/timeline.js';
import { BackupFilesImporter, type BackupFiles } from './backup-files.js';
import { IngestError } from './errors.js';
import { runBaseBackup, type BackupTablespace } from './replication/base-backup.js';
import { checkSlotName, ReplicationConnection, type ConnectOptions } from './replication/connection.js';
import { ServerError } from './replication/errors.js';

export interface ImportFromPrimaryOptions {
  /** The physical slot the follower will stream through: created here when it does not exist. */
  readonly slotName: string;
  readonly label?: string;
  /** The backup's checkpoint: 'fast' (default) at once, 'spread' paced as the primary paces checkpoints. */
  readonly checkpoint?: 'fast' | 'spread';
  /** Throttles the primary's sending (MAX_RATE), in kB/s. */
  readonly maxRateKbPerS?: number;
  /** Ask for PROGRESS: a size estimate in the 'started' event and 'progress' events about once a second. */
  readonly progress?: boolean;
  /** Called synchronously as the import goes: a callback must not throw. */
  readonly onEvent?: (event: BackupImportEvent) => void;
}

export type BackupImportEvent =
  | { readonly kind: 'slot'; readonly name: string; readonly created: boolean }
  | { readonly kind: 'started'; readonly startLsn: Lsn; readonly timeline: number; readonly walsenderPid: number; readonly tablespaces: readonly BackupTablespace[]; readonly totalBytes?: number }
  | { readonly kind: 'archive'; readonly name: string; readonly location: string }
  | { readonly kind: 'progress'; readonly archiveBytes: number };

export interface BackupImportResult extends BackupFiles {
  /** Where the values are and where WAL ingest starts: the redo point of the backup's checkpoint. */
  readonly startLsn: Lsn;
  /** Where the timeline becomes readable: its consistent LSN. */
  readonly endLsn: Lsn;
  /** The primary's timeline (PostgreSQL's, not strata's) the backup was taken on. */
  readonly timeline: number;
  readonly systemId: bigint;
  readonly slotCreated: boolean;
  readonly archives: readonly string[];
  readonly archiveBytes: number;
}

const SUPPORTED_SERVER_VERSION = /^15(\.|$|\s)/;

/**
 * Imports a base backup of the primary at `connect` into the empty timeline `t` (see the header);
 * then start a TimelineFollower on `t` with the same slot: it streams from the start LSN.
 */
export async function importFromPrimary(t: Timeline, connect: ConnectOptions, o: ImportFromPrimaryOptions): Promise<BackupImportResult> {
  const source = `the base backup from ${connect.host}:${connect.port}`;
  let conn: ReplicationConnection | undefined;
  let slotCreated = false;
  let advanced = false;
  let archiveBytes = 0;
  const archives: string[] = [];
  try {
    checkSlotName(o.slotName);
    conn = await ReplicationConnection.connect(connect);
    const c = conn;
    const version = c.parameters.get('server_version') ?? '(unknown)';
    if (!SUPPORTED_SERVER_VERSION.test(version)) throw new Error(`the server is PostgreSQL ${version}; strata imports from PostgreSQL 15`);
    const system = await c.identifySystem();
    const slot = await c.readReplicationSlot(o.slotName);
    if (slot === undefined) {
      await c.createPhysicalSlot(o.slotName);
      slotCreated = true;
    } else if (slot.slotType !== 'physical') {
      throw new Error(`replication slot "${o.slotName}" exists and is a ${slot.slotType} slot; strata streams through a physical one`);
    } else if (slot.restartLsn === undefined) {
      throw new Error(`replication slot "${o.slotName}" exists but reserves no WAL (it was made without RESERVE_WAL and never used), so the primary may remove WAL the backup needs; drop it or let strata create it`);
    }
    o.onEvent?.({ kind: 'slot', name: o.slotName, created: slotCreated });

    let files: BackupFilesImporter | undefined;
    const importer = (): BackupFilesImporter => {
      if (files === undefined) throw new Error('assert: archive data before the backup started');
      return files;
    };
    const backup = await runBaseBackup(
      c,
      { label: o.label ?? `strata import into timeline ${t.id}`, checkpoint: o.checkpoint ?? 'fast', progress: o.progress === true, ...(o.maxRateKbPerS !== undefined ? { maxRateKbPerS: o.maxRateKbPerS } : {}) },
      {
        onStart: (s) => {
          if (s.timeline !== system.timeline) throw new IngestError('IMPORT_FAILED', `Cannot import ${source}: it was taken on timeline ${s.timeline}, the server was on ${system.timeline} a moment before (promoted meanwhile?)`);
          files = new BackupFilesImporter(t, s.lsn, source);
          o.onEvent?.({ kind: 'started', startLsn: s.lsn, timeline: s.timeline, walsenderPid: c.backendPid, tablespaces: s.tablespaces, ...(s.totalBytes !== undefined ? { totalBytes: s.totalBytes } : {}) });
        },
        onArchive: (name, location) => {
          importer().beginArchive(name, location);
          archives.push(name);
          o.onEvent?.({ kind: 'archive', name, location });
        },
        onArchiveData: (data) => {
          importer().data(data);
          archiveBytes += data.length;
        },
        onArchiveEnd: () => importer().endArchive(),
        onProgress: () => o.onEvent?.({ kind: 'progress', archiveBytes }),
      },
    );
    const result = importer().finish();
    const startLsn = backup.start.lsn;
    if (result.control.systemIdentifier !== system.systemId)
      throw new IngestError('BAD_ARCHIVE', `Cannot import ${source}: its pg_control is of database system ${result.control.systemIdentifier}, the server said ${system.systemId}`);
    if (result.label.startTimeline !== backup.start.timeline || backup.endTimeline !== backup.start.timeline)
      throw new IngestError('IMPORT_FAILED', `Cannot import ${source}: it starts on timeline ${result.label.startTimeline} (server: ${backup.start.timeline}) and ends on ${backup.endTimeline}; take it again`);
    if (backup.end < result.label.checkpointLsn) throw new IngestError('BAD_ARCHIVE', `Cannot import ${source}: it ends at ${formatLsn(backup.end)}, before its checkpoint at ${formatLsn(result.label.checkpointLsn)}`);
    // The slot must still hold the WAL from the start: the follower streams it from there.
    const held = await c.readReplicationSlot(o.slotName);
    if (held?.restartLsn === undefined || held.restartLsn > startLsn)
      throw new IngestError('IMPORT_FAILED', `Cannot import ${source}: replication slot "${o.slotName}" ${held === undefined ? 'is gone' : `keeps WAL only from ${held.restartLsn === undefined ? 'nowhere' : formatLsn(held.restartLsn)}`}, and the WAL from the backup's start ${formatLsn(startLsn)} is needed`);

    // Consistent LSN before the advance: a flush the advance may start already writes it.
    t.setConsistentLsn(backup.end);
    t.advance(startLsn);
    advanced = true;
    await t.flush();
    await c.close();
    return { ...result, startLsn, endLsn: backup.end, timeline: backup.start.timeline, systemId: system.systemId, slotCreated, archives, archiveBytes };
  } catch (e) {
    conn?.destroy();
    if (!advanced) t.discardUnadvanced();
    const note = slotCreated ? await dropSlot(connect, o.slotName) : '';
    const kept = advanced ? `; timeline ${t.id} holds no durable part of it: delete it` : `; timeline ${t.id} keeps nothing of it`;
    if (e instanceof IngestError) throw new IngestError(e.code, `${e.message}${kept}${note}`, { cause: e });
    throw new IngestError('IMPORT_FAILED', `Cannot import ${source} into timeline ${t.id}: ${e instanceof Error ? e.message : String(e)}${kept}${note}`, { cause: e });
  }
}

/** Drops the slot a failed import created, on a fresh connection (the import's may be broken); says how it went. */
export async function dropSlot(connect: ConnectOptions, name: string): Promise<string> {
  let conn: ReplicationConnection | undefined;
  try {
    conn = await ReplicationConnection.connect(connect);
    await conn.dropReplicationSlot(name, false);
    return `; the slot "${name}" it created on ${connect.host}:${connect.port} was dropped`;
  } catch (e) {
    // An import's own clean-up may have dropped it before.
    if (e instanceof ServerError && /does not exist/.test(e.message)) return `; the slot "${name}" it created on ${connect.host}:${connect.port} is gone`;
    return `; the slot "${name}" it created on ${connect.host}:${connect.port} could not be dropped (${e instanceof Error ? e.message : String(e)}): drop it on the primary, or it keeps WAL forever`;
  } finally {
    await conn?.close().catch(() => undefined);
  }
}
