/**
 * A physical replication connection to a PostgreSQL primary (or a standby, for cascading):
 * the walsender side of PostgreSQL's protocol, over one `net.Socket`.
 *
 * The WAL receiver (receiver.ts) opens one of these, identifies the system, makes sure its slot
 * exists, and streams: XLogData messages go straight from the socket's 'data' event to the
 * receiver's handler (no queue, no copy), which writes them into the WAL log. Everything else
 * (command results, the end of a timeline's stream, errors) goes through a small message queue
 * that the async command methods read. The connection mirrors what libpqwalreceiver.c does with
 * libpq: startup with `replication=true` (a physical walsender, no database), then simple queries.
 *
 * A command whose response must flow through rather than queue up (BASE_BACKUP: gigabytes of
 * archives) is run with `runStreamed`: every message goes from the 'data' event straight to its
 * handler, synchronously, so the socket is not read again until the handler is done with a read's
 * messages, and TCP flow control holds the server back while the handler works.
 *
 * Server errors become `ServerError`s naming the command; a broken socket or a FATAL error fails
 * every pending and later call with that error.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { parseLsn, type Lsn } from '../../pg/lsn.js';
import { md5PasswordResponse, SCRAM_SHA_256, ScramClient } from './auth.js';
import { ReplicationError, ServerError } from './errors.js';
import {
  copyDoneMessage,
  lsnArg,
  MessageFramer,
  parseBackendMessage,
  parseStreamMessage,
  passwordMessage,
  pgNowUs,
  queryMessage,
  saslInitialResponse,
  saslResponse,
  standbyStatusUpdate,
  startupMessage,
  terminateMessage,
  type BackendMessage,
  type FieldDescription,
} from './protocol.js';

export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
  /** Shown in pg_stat_replication and matched by synchronous_standby_names. */
  readonly applicationName?: string;
  /** Time allowed for TCP connect plus authentication. */
  readonly connectTimeoutMs?: number;
}

export interface QueryResult {
  readonly fields: readonly FieldDescription[];
  /** Raw column values (text format), null for SQL NULL. */
  readonly rows: readonly (readonly (Buffer | null)[])[];
  readonly commandTag: string;
}

/** IDENTIFY_SYSTEM's one row. */
export interface SystemIdentity {
  readonly systemId: bigint;
  readonly timeline: number;
  /** The server's current WAL flush position (insert position on a primary). */
  readonly xlogpos: Lsn;
  readonly dbname: string | null;
}

/** READ_REPLICATION_SLOT's one row, for a slot that exists. */
export interface SlotInfo {
  readonly slotType: string;
  readonly restartLsn: Lsn | undefined;
  readonly restartTimeline: number | undefined;
}

export interface StreamHandlers {
  /** WAL bytes at [start, start + data.length). `data` is not reused by the connection. */
  onXLogData(start: Lsn, walEnd: Lsn, data: Buffer): void;
  onKeepalive(walEnd: Lsn, replyRequested: boolean): void;
  /** Called after the messages of one socket read are handled: the end of a burst. */
  onBurstEnd?(): void;
  /**
   * The server ended the stream (CopyDone: the end of a historic timeline). Resolve once what was
   * received is durable and reported; the connection then answers with CopyDone.
   */
  onServerDone?(): Promise<void>;
}

export interface StreamStart {
  readonly slot?: string;
  readonly start: Lsn;
  readonly timeline: number;
}

/** How a stream ended: at the end of a historic timeline the server names the next one. */
export interface StreamEnd {
  readonly nextTimeline?: number;
  readonly nextTimelineStart?: Lsn;
}

const CONNECT_TIMEOUT_MS_DEFAULT = 10_000;
const CLOSE_WAIT_MS_MAX = 1_000;
const AUTH_OK = 0;
const AUTH_CLEARTEXT = 3;
const AUTH_MD5 = 5;
const AUTH_SASL = 10;
const AUTH_SASL_CONTINUE = 11;
const AUTH_SASL_FINAL = 12;
const AUTH_NAMES: Readonly<Record<number, string>> = { 2: 'Kerberos V5', 6: 'SCM credentials', 7: 'GSSAPI', 8: 'GSSAPI continue', 9: 'SSPI' };

/** PostgreSQL slot names: lower-case letters, digits and underscores, at most NAMEDATALEN - 1 bytes. */
const SLOT_NAME = /^[a-z0-9_]{1,63}$/;

export function checkSlotName(name: string): string {
  if (!SLOT_NAME.test(name))
    throw new ReplicationError('INVALID_ARGUMENT', `Cannot use replication slot name "${name}": it must be 1-63 lower-case letters, digits and underscores`);
  return name;
}

export class ReplicationConnection {
  private readonly framer = new MessageFramer();
  private readonly queue: BackendMessage[] = [];
  private waiter: { resolve: (m: BackendMessage) => void; reject: (e: unknown) => void } | undefined;
  private failure: unknown;
  private streaming: StreamHandlers | undefined;
  /** The handler of a `runStreamed` command's messages, and how to fail it. */
  private router: ((m: BackendMessage) => void) | undefined;
  private routerReject: ((e: unknown) => void) | undefined;
  private clientDoneSent = false;
  /** Between CopyBothResponse and strata's CopyDone: status updates may be sent. */
  private copyActive = false;
  private busy = false;
  private closed = false;
  /** ParameterStatus values the server reported (server_version, integer_datetimes, ...). */
  readonly parameters = new Map<string, string>();
  backendPid = 0;

  private constructor(
    private readonly socket: Socket,
    readonly options: ConnectOptions,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: Error) => this.fail(new ReplicationError('CONNECTION_LOST', `Connection to ${this.where} failed: ${err.message}`, { cause: err })));
    socket.on('close', () => this.fail(new ReplicationError('CONNECTION_LOST', `Connection to ${this.where} closed by the server`)));
  }

  private get where(): string {
    return `${this.options.host}:${this.options.port}`;
  }

  /** Connects, authenticates and waits for ReadyForQuery. */
  static async connect(options: ConnectOptions): Promise<ReplicationConnection> {
    const timeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT;
    const socket = await openSocket(options.host, options.port, timeoutMs);
    const conn = new ReplicationConnection(socket, options);
    const timer = setTimeout(
      () => conn.fail(new ReplicationError('CONNECT_FAILED', `Cannot connect to ${conn.where}: no ReadyForQuery within ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      await conn.startup();
      return conn;
    } catch (e) {
      conn.destroy();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  get isClosed(): boolean {
    return this.closed || this.failure !== undefined;
  }

  private onData(chunk: Buffer): void {
    if (this.failure !== undefined) return;
    this.framer.push(chunk);
    try {
      for (;;) {
        const m = this.framer.next();
        if (m === undefined) break;
        if (this.streaming !== undefined && m.type === 0x64 /* d */) {
          const sm = parseStreamMessage(m.body);
          if (sm.kind === 'xlogData') this.streaming.onXLogData(sm.start, sm.walEnd, sm.data);
          else this.streaming.onKeepalive(sm.walEnd, sm.replyRequested);
          continue;
        }
        const msg = parseBackendMessage(m.type, m.body);
        if (this.router !== undefined) {
          if (msg.kind === 'parameterStatus') this.parameters.set(msg.name, msg.value);
          else if (msg.kind !== 'notice' && msg.kind !== 'notificationResponse') this.router(msg);
          continue;
        }
        if (msg.kind === 'copyBothResponse') this.copyActive = true;
        if (msg.kind === 'parameterStatus') this.parameters.set(msg.name, msg.value);
        else if (msg.kind !== 'notice' && msg.kind !== 'notificationResponse') this.deliver(msg);
      }
      this.streaming?.onBurstEnd?.();
    } catch (e) {
      // A malformed message, or the handler failed (the WAL log could not write): the stream
      // cannot go on from here.
      this.fail(e);
      this.socket.destroy();
    }
  }

  private deliver(msg: BackendMessage): void {
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      w.resolve(msg);
    } else {
      this.queue.push(msg);
    }
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
    const r = this.routerReject;
    this.router = undefined;
    this.routerReject = undefined;
    r?.(err);
  }

  private nextMessage(): Promise<BackendMessage> {
    const m = this.queue.shift();
    if (m !== undefined) return Promise.resolve(m);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  private send(bytes: Buffer): void {
    if (this.failure !== undefined) throw this.failure;
    this.socket.write(bytes);
  }

  /** An ErrorResponse: FATAL ones end the connection (no ReadyForQuery follows). */
  private serverError(msg: Extract<BackendMessage, { kind: 'error' }>, during: string): ServerError {
    const err = new ServerError(msg.fields, during);
    if (msg.fields.severity === 'FATAL' || msg.fields.severity === 'PANIC') {
      this.fail(err);
      this.socket.destroy();
    }
    return err;
  }

  private async startup(): Promise<void> {
    const params: Record<string, string> = { user: this.options.user, replication: 'true' };
    if (this.options.applicationName !== undefined) params['application_name'] = this.options.applicationName;
    this.socket.write(startupMessage(params));
    const during = `authenticate to ${this.where} as "${this.options.user}" for replication`;
    let scram: ScramClient | undefined;
    for (;;) {
      const m = await this.nextMessage();
      switch (m.kind) {
        case 'authentication':
          scram = this.authenticate(m.code, m.data, scram, during);
          break;
        case 'error':
          throw this.serverError(m, during);
        case 'backendKeyData':
          this.backendPid = m.pid;
          break;
        case 'readyForQuery':
          return;
        default:
          throw new ReplicationError('PROTOCOL_VIOLATION', `Cannot ${during}: unexpected ${m.kind} message during startup`);
      }
    }
  }

  /** Answers one AuthenticationRequest; returns the SCRAM state to carry to the next one. */
  private authenticate(code: number, data: Buffer, scram: ScramClient | undefined, during: string): ScramClient | undefined {
    const password = (): string => {
      if (this.options.password === undefined) throw new ReplicationError('AUTH_FAILED', `Cannot ${during}: the server asks for a password and none is configured`);
      return this.options.password;
    };
    switch (code) {
      case AUTH_OK:
        return undefined;
      case AUTH_CLEARTEXT:
        this.send(passwordMessage(password()));
        return undefined;
      case AUTH_MD5:
        this.send(passwordMessage(md5PasswordResponse(this.options.user, password(), data.subarray(0, 4))));
        return undefined;
      case AUTH_SASL: {
        const mechanisms = data.toString('utf8').split('\0').filter((s) => s !== '');
        if (!mechanisms.includes(SCRAM_SHA_256))
          throw new ReplicationError('UNSUPPORTED_AUTH', `Cannot ${during}: the server offers SASL mechanisms [${mechanisms.join(', ')}], strata speaks ${SCRAM_SHA_256}`);
        const client = new ScramClient(password());
        this.send(saslInitialResponse(SCRAM_SHA_256, client.clientFirstMessage()));
        return client;
      }
      case AUTH_SASL_CONTINUE:
        if (scram === undefined) throw new ReplicationError('PROTOCOL_VIOLATION', `Cannot ${during}: SASL continue without a SASL exchange`);
        this.send(saslResponse(scram.clientFinalMessage(data)));
        return scram;
      case AUTH_SASL_FINAL:
        if (scram === undefined) throw new ReplicationError('PROTOCOL_VIOLATION', `Cannot ${during}: SASL final without a SASL exchange`);
        scram.verifyServerFinal(data);
        return undefined;
      default:
        throw new ReplicationError('UNSUPPORTED_AUTH', `Cannot ${during}: the server asks for ${AUTH_NAMES[code] ?? `authentication method ${code}`}, which strata does not speak (use trust, md5 or scram-sha-256)`);
    }
  }

  /** Runs one simple query (a replication command) and collects its result. */
  async query(sql: string): Promise<QueryResult> {
    this.enter(sql);
    try {
      this.send(queryMessage(sql));
      return await this.collectResult(sql, undefined);
    } finally {
      this.busy = false;
    }
  }

  /**
   * Runs one command whose response is handed to `onMessage` message by message, synchronously, as
   * the socket delivers it (see the header). Resolves at ReadyForQuery; rejects with the server's
   * ErrorResponse (after its ReadyForQuery, or at once if it is FATAL), or with what `onMessage`
   * threw: the connection is then dropped, since the response cannot be resumed halfway. `during`
   * says what strata was doing, for errors.
   */
  async runStreamed(sql: string, onMessage: (m: BackendMessage) => void, during: string = sql): Promise<void> {
    this.enter(sql);
    try {
      await new Promise<void>((resolve, reject) => {
        let error: ServerError | undefined;
        this.routerReject = reject;
        this.router = (m) => {
          if (m.kind === 'readyForQuery') {
            this.router = undefined;
            this.routerReject = undefined;
            if (error !== undefined) reject(error);
            else resolve();
          } else if (m.kind === 'error') {
            // A FATAL one fails the connection, which rejects through routerReject.
            error = this.serverError(m, during);
          } else if (error === undefined) {
            onMessage(m);
          }
        };
        this.send(queryMessage(sql));
      });
    } finally {
      this.router = undefined;
      this.routerReject = undefined;
      this.busy = false;
    }
  }

  private enter(what: string): void {
    if (this.busy) throw new ReplicationError('CONNECTION_BUSY', `Cannot run ${what}: the connection is running another command`);
    if (this.failure !== undefined) throw this.failure;
    this.busy = true;
  }

  /** Reads row descriptions, rows and command tags up to ReadyForQuery; an error is thrown after it. */
  private async collectResult(during: string, first: BackendMessage | undefined): Promise<QueryResult> {
    let fields: readonly FieldDescription[] = [];
    const rows: (Buffer | null)[][] = [];
    let commandTag = '';
    let error: ServerError | undefined;
    let m = first ?? (await this.nextMessage());
    for (;;) {
      switch (m.kind) {
        case 'rowDescription':
          fields = m.fields;
          break;
        case 'dataRow':
          rows.push([...m.values]);
          break;
        case 'commandComplete':
          commandTag = m.tag;
          break;
        case 'emptyQueryResponse':
          break;
        case 'error':
          error = this.serverError(m, during);
          if (this.failure !== undefined) throw error;
          break;
        case 'readyForQuery':
          if (error !== undefined) throw error;
          return { fields, rows, commandTag };
        default:
          throw new ReplicationError('PROTOCOL_VIOLATION', `Cannot ${during}: unexpected ${m.kind} message in a command result`);
      }
      m = await this.nextMessage();
    }
  }

  async identifySystem(): Promise<SystemIdentity> {
    const r = await this.query('IDENTIFY_SYSTEM');
    const row = singleRow(r, 'IDENTIFY_SYSTEM', 4);
    return {
      systemId: BigInt(text(row[0], 'IDENTIFY_SYSTEM systemid')),
      timeline: intValue(row[1], 'IDENTIFY_SYSTEM timeline'),
      xlogpos: parseLsn(text(row[2], 'IDENTIFY_SYSTEM xlogpos')),
      dbname: row[3] === null || row[3] === undefined ? null : row[3].toString('utf8'),
    };
  }

  /** TIMELINE_HISTORY: the history file of `tli`, its name and its bytes as the server has them. */
  async timelineHistory(tli: number): Promise<{ fileName: string; content: Buffer }> {
    const r = await this.query(`TIMELINE_HISTORY ${tli}`);
    const row = singleRow(r, 'TIMELINE_HISTORY', 2);
    const content = row[1];
    if (content === null || content === undefined) throw new ReplicationError('UNEXPECTED_RESULT', `Cannot read the history of timeline ${tli}: the content is NULL`);
    return { fileName: text(row[0], 'TIMELINE_HISTORY filename'), content: Buffer.from(content) };
  }

  /** CREATE_REPLICATION_SLOT name PHYSICAL RESERVE_WAL: the slot keeps WAL from now on. */
  async createPhysicalSlot(name: string): Promise<void> {
    await this.query(`CREATE_REPLICATION_SLOT "${checkSlotName(name)}" PHYSICAL RESERVE_WAL`);
  }

  /** READ_REPLICATION_SLOT: undefined when the slot does not exist. */
  async readReplicationSlot(name: string): Promise<SlotInfo | undefined> {
    const r = await this.query(`READ_REPLICATION_SLOT "${checkSlotName(name)}"`);
    const row = singleRow(r, 'READ_REPLICATION_SLOT', 3);
    if (row[0] === null) return undefined;
    return {
      slotType: text(row[0], 'slot_type'),
      restartLsn: row[1] === null ? undefined : parseLsn(text(row[1], 'restart_lsn')),
      restartTimeline: row[2] === null ? undefined : intValue(row[2], 'restart_tli'),
    };
  }

  async dropReplicationSlot(name: string, wait = true): Promise<void> {
    await this.query(`DROP_REPLICATION_SLOT "${checkSlotName(name)}"${wait ? ' WAIT' : ''}`);
  }

  /**
   * START_REPLICATION [SLOT s] PHYSICAL start TIMELINE tli. WAL and keepalives go to `handlers` as
   * they arrive; the promise settles when the stream ends: with the next timeline when the server
   * reached the end of a historic timeline, without one when strata ended it (`endStreaming`), or
   * with an error.
   */
  async startReplication(cmd: StreamStart, handlers: StreamHandlers): Promise<StreamEnd> {
    const sql = `START_REPLICATION${cmd.slot !== undefined ? ` SLOT "${checkSlotName(cmd.slot)}"` : ''} PHYSICAL ${lsnArg(cmd.start)} TIMELINE ${cmd.timeline}`;
    this.enter(sql);
    try {
      // The first CopyData may share a socket read with CopyBothResponse, and the read's messages
      // are dispatched before this function resumes: the handler must be in place already.
      this.streaming = handlers;
      this.clientDoneSent = false;
      this.send(queryMessage(sql));
      let m = await this.nextMessage();
      if (m.kind === 'copyBothResponse') {
        m = await this.streamUntilDone(handlers, sql);
      } else {
        this.streaming = undefined;
      }
      // Either the stream ended, or there was nothing to stream (the start is the timeline's end).
      const r = await this.collectResult(sql, m);
      if (r.rows.length === 0) return {};
      const row = singleRow(r, sql, 2);
      return { nextTimeline: intValue(row[0], 'next_tli'), nextTimelineStart: parseLsn(text(row[1], 'next_tli_startpos')) };
    } finally {
      this.streaming = undefined;
      this.copyActive = false;
      this.busy = false;
    }
  }

  /** Waits for the server's CopyDone (answering it) and returns the first message after the copy. */
  private async streamUntilDone(handlers: StreamHandlers, during: string): Promise<BackendMessage> {
    for (;;) {
      const m = await this.nextMessage();
      if (m.kind === 'copyDone') {
        if (!this.clientDoneSent) {
          await handlers.onServerDone?.();
          this.clientDoneSent = true;
          this.copyActive = false;
          this.send(copyDoneMessage());
        }
        this.streaming = undefined;
        return this.nextMessage();
      }
      if (m.kind === 'error') {
        this.streaming = undefined;
        throw await this.finishWithError(this.serverError(m, during));
      }
      throw new ReplicationError('PROTOCOL_VIOLATION', `Cannot ${during}: unexpected ${m.kind} message while streaming`);
    }
  }

  /** After an ErrorResponse (not FATAL) the server still sends ReadyForQuery; consume it. */
  private async finishWithError(err: ServerError): Promise<ServerError> {
    if (this.failure !== undefined) return err;
    for (;;) {
      const m = await this.nextMessage().catch(() => undefined);
      if (m === undefined || m.kind === 'readyForQuery') return err;
    }
  }

  /** Sends a standby status update ('r'): written, flushed and applied positions. */
  sendStatus(write: Lsn, flush: Lsn, apply: Lsn, replyRequested = false): void {
    // Only inside the copy: before CopyBothResponse or after strata's CopyDone it would be a protocol error.
    if (!this.copyActive || this.failure !== undefined) return;
    this.send(standbyStatusUpdate(write, flush, apply, pgNowUs(), replyRequested));
  }

  /** Ends streaming from strata's side (CopyDone); `startReplication` then settles. */
  endStreaming(): void {
    if (!this.copyActive || this.clientDoneSent) return;
    this.clientDoneSent = true;
    this.copyActive = false;
    this.send(copyDoneMessage());
  }

  /** Sends Terminate and closes the socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.failure === undefined && !this.socket.destroyed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.socket.destroy();
          resolve();
        }, CLOSE_WAIT_MS_MAX);
        this.socket.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        this.socket.end(terminateMessage());
      });
    }
    this.fail(new ReplicationError('CONNECTION_LOST', `Connection to ${this.where} was closed by strata`));
    this.socket.destroy();
  }

  /** Drops the connection at once (no Terminate): for errors and tests. */
  destroy(): void {
    this.closed = true;
    this.fail(new ReplicationError('CONNECTION_LOST', `Connection to ${this.where} was dropped by strata`));
    this.socket.destroy();
  }
}

function openSocket(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ReplicationError('CONNECT_FAILED', `Cannot connect to ${host}:${port}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err: Error) => {
      clearTimeout(timer);
      reject(new ReplicationError('CONNECT_FAILED', `Cannot connect to ${host}:${port}: ${err.message}`, { cause: err }));
    });
  });
}

function singleRow(r: QueryResult, what: string, columns: number): readonly (Buffer | null)[] {
  const row = r.rows[0];
  if (r.rows.length !== 1 || row === undefined || row.length !== columns)
    throw new ReplicationError('UNEXPECTED_RESULT', `Cannot read the result of ${what}: expected 1 row of ${columns} columns, received ${r.rows.length} rows of ${row?.length ?? 0}`);
  return row;
}

function text(v: Buffer | null | undefined, what: string): string {
  if (v === null || v === undefined) throw new ReplicationError('UNEXPECTED_RESULT', `Cannot read ${what}: it is NULL`);
  return v.toString('utf8');
}

function intValue(v: Buffer | null | undefined, what: string): number {
  const s = text(v, what);
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0) throw new ReplicationError('UNEXPECTED_RESULT', `Cannot read ${what}: expected a non-negative integer, received "${s}"`);
  return n;
}
