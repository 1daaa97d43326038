/**
 * BASE_BACKUP over a replication connection (PostgreSQL 15's protocol, basebackup_copy.c): how a
 * timeline gets a running primary's files (import-backup.ts turns them into the timeline's values).
 *
 * The response, message by message:
 * ```
 *  RowDescription, DataRow (recptr text, tli int8), CommandComplete   the start LSN and timeline
 *  RowDescription, DataRow* (spcoid, spclocation, size), CommandComplete   the tablespaces
 *  CopyOutResponse
 *  CopyData*, each opening with a type byte:
 *    'n' archive name \0, tablespace location \0   a new archive ("<spcoid>.tar" for each tablespace
 *                                                 first, "base.tar" last, with location "")
 *    'd' bytes                                    the current archive's next bytes (a tar stream)
 *    'p' int64                                    bytes sent so far (progress)
 *    'm'                                          the manifest follows (as 'd' messages)
 *  CopyDone
 *  RowDescription, DataRow (recptr, tli), CommandComplete   the end LSN and timeline
 *  CommandComplete "BASE_BACKUP", ReadyForQuery
 * ```
 * An archive ends where the next begins, the manifest begins, or the copy ends. An ErrorResponse
 * may come at any point, then ReadyForQuery (or nothing, if FATAL: the connection is gone).
 *
 * The response goes through `ReplicationConnection.runStreamed`: every message reaches the handlers
 * synchronously, as the socket delivers it, so archive bytes never pile up in memory.
 */
import { parseLsn, type Lsn } from '../../pg/lsn.js';
import type { ReplicationConnection } from './connection.js';
import { ReplicationError } from './errors.js';
import { MessageReader, type BackendMessage } from './protocol.js';

/** MAX_RATE's bounds in kB/s (basebackup.c MAX_RATE_LOWER, MAX_RATE_UPPER). */
export const MAX_RATE_KB_PER_S_MIN = 32;
export const MAX_RATE_KB_PER_S_MAX = 1_048_576;
/** MAXPGPATH: the longest label do_pg_backup_start takes ("backup label too long"). */
const LABEL_BYTES_MAX = 1024;

export interface BaseBackupOptions {
  /** The backup's label (backup_label's LABEL line, pg_stat_progress_basebackup). */
  readonly label: string;
  /** 'fast': the backup's checkpoint runs at once; 'spread': paced by checkpoint_completion_target. */
  readonly checkpoint: 'fast' | 'spread';
  /** Throttles the primary's sending to this many kB/s (MAX_RATE); unlimited when absent. */
  readonly maxRateKbPerS?: number;
  /**
   * PROGRESS: the primary first walks its folders to estimate the backup's size (reported in the
   * tablespace rows, BackupStart.totalBytes) and sends 'p' messages as it goes; costs that walk.
   */
  readonly progress?: boolean;
}

export interface BackupTablespace {
  readonly oid: number;
  readonly location: string;
}

export interface BackupStart {
  /** The redo point of the backup's checkpoint: WAL replay starts here. */
  readonly lsn: Lsn;
  readonly timeline: number;
  readonly tablespaces: readonly BackupTablespace[];
  /**
   * With PROGRESS: the primary's estimate of the archives' bytes, the sum of the size column of the
   * tablespace rows (kB, base included; basebackup_copy.c SendTablespaceList). Files change during
   * the backup, so the bytes sent can end above or below it.
   */
  readonly totalBytes?: number;
}

export interface BaseBackupResult {
  readonly start: BackupStart;
  /** The files are consistent once WAL up to here is replayed. */
  readonly end: Lsn;
  readonly endTimeline: number;
  /** Bytes of archive data received. */
  readonly archiveBytes: number;
}

/** Called synchronously as the messages arrive; what one throws ends the backup (and the connection). */
export interface BaseBackupHandlers {
  onStart(start: BackupStart): void;
  /** A new archive: `name` is "base.tar" or "<spcoid>.tar"; `location` the tablespace's folder ("" for base). */
  onArchive(name: string, location: string): void;
  /** The current archive's next bytes: a view, valid only during the call. */
  onArchiveData(data: Buffer): void;
  /** The current archive ended (the next one, the manifest or the end of the copy began). */
  onArchiveEnd(name: string): void;
  onProgress?(bytesSent: number): void;
}

/** The BASE_BACKUP command: PostgreSQL 15's option list; no WAL, no manifest, no tablespace_map (symlinks instead). */
export function baseBackupCommand(o: BaseBackupOptions): string {
  if (Buffer.byteLength(o.label) > LABEL_BYTES_MAX || o.label.includes('\0'))
    throw new ReplicationError('INVALID_ARGUMENT', `Cannot use backup label ${JSON.stringify(o.label)}: it must be at most ${LABEL_BYTES_MAX} bytes without NUL`);
  const options = [`LABEL '${o.label.replaceAll("'", "''")}'`, `CHECKPOINT '${o.checkpoint}'`, 'WAL false', 'WAIT false', "MANIFEST 'no'", 'TABLESPACE_MAP false', `PROGRESS ${o.progress === true}`];
  if (o.maxRateKbPerS !== undefined) {
    if (!Number.isInteger(o.maxRateKbPerS) || o.maxRateKbPerS < MAX_RATE_KB_PER_S_MIN || o.maxRateKbPerS > MAX_RATE_KB_PER_S_MAX)
      throw new ReplicationError('INVALID_ARGUMENT', `Cannot use MAX_RATE ${o.maxRateKbPerS}: it must be an integer number of kB/s in [${MAX_RATE_KB_PER_S_MIN}, ${MAX_RATE_KB_PER_S_MAX}]`);
    options.push(`MAX_RATE ${o.maxRateKbPerS}`);
  }
  return `BASE_BACKUP ( ${options.join(', ')} )`;
}

type Phase = 'start' | 'tablespaces' | 'copyOut' | 'copy' | 'manifest' | 'end' | 'tag' | 'done';

/**
 * The response's state machine: fed every message in order (BaseBackupResponse.onMessage), it
 * calls the handlers and collects the start and end. Any message out of its place is a protocol
 * violation naming the phase.
 */
export class BaseBackupResponse {
  private phase: Phase = 'start';
  private rows: (readonly (Buffer | null)[])[] = [];
  private start: BackupStart | undefined;
  private startPoint: { lsn: Lsn; timeline: number } | undefined;
  private end: { lsn: Lsn; timeline: number } | undefined;
  private archive: string | undefined;
  private archiveBytes = 0;

  constructor(
    private readonly handlers: BaseBackupHandlers,
    private readonly during: string,
  ) {}

  private violation(m: BackendMessage, why: string): ReplicationError {
    return new ReplicationError('PROTOCOL_VIOLATION', `Cannot ${this.during}: ${why} (received ${m.kind} while expecting ${this.phase === 'copy' ? 'archive data' : `the ${this.phase} part`})`);
  }

  onMessage(m: BackendMessage): void {
    switch (this.phase) {
      case 'start':
      case 'tablespaces':
      case 'end':
        this.resultSetMessage(m);
        return;
      case 'copyOut':
        if (m.kind !== 'copyOutResponse') throw this.violation(m, 'the archives must come as COPY OUT');
        this.phase = 'copy';
        return;
      case 'copy':
      case 'manifest':
        if (m.kind === 'copyDone') {
          this.endArchive();
          this.phase = 'end';
          return;
        }
        if (m.kind !== 'copyData') throw this.violation(m, 'expected CopyData or CopyDone');
        this.copyData(m, m.data);
        return;
      case 'tag':
        if (m.kind !== 'commandComplete' || m.tag !== 'BASE_BACKUP') throw this.violation(m, 'expected the BASE_BACKUP command tag');
        this.phase = 'done';
        return;
      case 'done':
        throw this.violation(m, 'the response went on after its end');
    }
  }

  private resultSetMessage(m: BackendMessage): void {
    if (m.kind === 'rowDescription') {
      this.rows = [];
      return;
    }
    if (m.kind === 'dataRow') {
      this.rows.push(m.values);
      return;
    }
    if (m.kind !== 'commandComplete') throw this.violation(m, 'expected a result set');
    if (this.phase === 'tablespaces') {
      const tablespaces = this.rows.filter((r) => r[0] !== null && r[0] !== undefined).map((r) => ({ oid: this.int(r[0], 'spcoid'), location: this.text(r[1], 'spclocation') }));
      // The size column is NULL without PROGRESS; the base row (spcoid NULL) counts too.
      const sizes = this.rows.map((r) => r[2]).filter((v): v is Buffer => v !== null && v !== undefined);
      const totalBytes = sizes.length === 0 ? undefined : sizes.reduce((n, v) => n + this.int(v, 'size') * 1024, 0);
      const point = this.startPoint as { lsn: Lsn; timeline: number };
      this.start = { lsn: point.lsn, timeline: point.timeline, tablespaces, ...(totalBytes !== undefined ? { totalBytes } : {}) };
      this.phase = 'copyOut';
      this.handlers.onStart(this.start);
      return;
    }
    const row = this.rows[0];
    if (this.rows.length !== 1 || row === undefined || row.length !== 2)
      throw new ReplicationError('UNEXPECTED_RESULT', `Cannot ${this.during}: the ${this.phase} position must be 1 row of 2 columns, received ${this.rows.length} rows`);
    const point = { lsn: this.lsn(row[0], `${this.phase} recptr`), timeline: this.int(row[1], `${this.phase} tli`) };
    if (this.phase === 'start') {
      this.startPoint = point;
      this.phase = 'tablespaces';
    } else {
      this.end = point;
      this.phase = 'tag';
    }
  }

  private copyData(m: BackendMessage, data: Buffer): void {
    const r = new MessageReader(data, 'a BASE_BACKUP CopyData message');
    const type = r.byte('type');
    switch (type) {
      case 0x6e /* n */: {
        this.endArchive();
        if (this.phase === 'manifest') throw this.violation(m, 'a new archive after the manifest');
        const name = r.cstring('archive name');
        const location = r.cstring('tablespace location');
        this.archive = name;
        this.handlers.onArchive(name, location);
        return;
      }
      case 0x64 /* d */: {
        const bytes = r.rest();
        if (this.phase === 'manifest') return; // not asked for (MANIFEST 'no'); nothing to keep
        if (this.archive === undefined) throw this.violation(m, 'archive data before any archive began');
        this.archiveBytes += bytes.length;
        this.handlers.onArchiveData(bytes);
        return;
      }
      case 0x70 /* p */:
        this.handlers.onProgress?.(Number(r.int64('bytes done')));
        return;
      case 0x6d /* m */:
        this.endArchive();
        this.phase = 'manifest';
        return;
      default:
        throw this.violation(m, `CopyData type '${String.fromCharCode(type)}' is none of 'n', 'd', 'p', 'm'`);
    }
  }

  private endArchive(): void {
    const name = this.archive;
    if (name === undefined) return;
    this.archive = undefined;
    this.handlers.onArchiveEnd(name);
  }

  /** The collected result, once the response reached its command tag. */
  result(): BaseBackupResult {
    if (this.phase !== 'done' || this.start === undefined || this.end === undefined)
      throw new ReplicationError('PROTOCOL_VIOLATION', `Cannot ${this.during}: the response ended in its ${this.phase} part`);
    return { start: this.start, end: this.end.lsn, endTimeline: this.end.timeline, archiveBytes: this.archiveBytes };
  }

  private text(v: Buffer | null | undefined, what: string): string {
    if (v === null || v === undefined) throw new ReplicationError('UNEXPECTED_RESULT', `Cannot ${this.during}: ${what} is NULL`);
    return v.toString('utf8');
  }

  private int(v: Buffer | null | undefined, what: string): number {
    const s = this.text(v, what);
    const n = Number(s);
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(n)) throw new ReplicationError('UNEXPECTED_RESULT', `Cannot ${this.during}: ${what} must be a non-negative integer, received "${s}"`);
    return n;
  }

  private lsn(v: Buffer | null | undefined, what: string): Lsn {
    const s = this.text(v, what);
    try {
      return parseLsn(s);
    } catch {
      throw new ReplicationError('UNEXPECTED_RESULT', `Cannot ${this.during}: ${what} must be an LSN, received "${s}"`);
    }
  }
}

/** Runs BASE_BACKUP on `conn` (a replication connection), handing its archives to `handlers` as they arrive. */
export async function runBaseBackup(conn: ReplicationConnection, options: BaseBackupOptions, handlers: BaseBackupHandlers): Promise<BaseBackupResult> {
  const sql = baseBackupCommand(options);
  const during = `take a base backup (${sql})`;
  const response = new BaseBackupResponse(handlers, during);
  await conn.runStreamed(sql, (m) => response.onMessage(m), during);
  return response.result();
}
