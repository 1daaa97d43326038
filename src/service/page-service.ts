/**
 * The page service (seed 002 "Page Service"; Neon's pageserver/src/page_service.rs): a TCP server
 * that speaks the PostgreSQL wire protocol's startup and authentication (pgwire.ts), so standard
 * clients and drivers connect, and after the simple query `pagestream_v3 <tenant> <timeline>`
 * switches to CopyBoth and serves Neon's pagestream v3 requests (pagestream.ts) from the
 * repository: client -> page service -> page-reads.ts -> timeline.get -> layers -> redo.
 *
 * Connection life: startup packet (SSLRequest and GSSENCRequest answered 'N', CancelRequest
 * ignored) -> authentication -> ParameterStatus, BackendKeyData, ReadyForQuery -> queries. Only
 * `pagestream_v3` and `set ...` (which drivers send on connect) are commands; anything else gets an
 * ErrorResponse and the session goes on.
 *
 * Authentication, by configuration: trust; passwords (SCRAM-SHA-256, or cleartext, which is only
 * sensible over loopback) checked against SCRAM secrets; or a JWT as the password (as Neon's page
 * service takes it), whose scope must cover the tenant named in `pagestream_v3`.
 *
 * Pipelining and batching: a client may send many requests before reading any answer. The
 * requests that one socket read brings are one batch: they all start at once (each is a few awaits
 * on the repository, or a redo request). Answers are written strictly in request order: those that
 * complete in the same turn of the event loop go out in one socket write, and a slow request (a
 * redo, a wait for WAL) holds back the answers after it but not the start of later requests. At
 * most `inFlightRequestsMax` requests per connection are unanswered; past that, and while more than
 * `writeBufferBytesMax` of answers wait for the client to read them, the connection is not read.
 * One request's failure is an Error response for its request id; the others and the connection go
 * on.
 *
 * Malformed input: a CopyData payload whose 25-byte header is whole but whose tag or length is wrong
 * gets an in-band Error for its request id. A payload shorter than the header, a message length
 * that cannot be right, or a message other than CopyData / CopyDone / CopyFail / Terminate during
 * the stream breaks the framing: a FATAL ErrorResponse (SQLSTATE 08P01) and the connection closes.
 * Other connections never notice.
 *
 * Unlike Neon, which resolves the timeline per request, the timeline is looked up when
 * `pagestream_v3` arrives: an unknown tenant or timeline is an ErrorResponse before CopyBoth, so a
 * client learns it at once and its session stays usable.
 */
import { randomInt, timingSafeEqual } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { LsnParseError, parseLsn, type Lsn } from '../pg/lsn.js';
import { RepositoryError } from '../repository/errors.js';
import { writeBaseBackup } from './basebackup.js';
import type { Repository } from '../repository/repository.js';
import type { Timeline } from '../repository/timeline.js';
import { ServiceError } from './errors.js';
import { checkPermission, type JwtClaims, type JwtVerifier } from './jwt.js';
import { PageReads, type PageReadMetrics } from './page-reads.js';
import { encodePagestreamResponseInto, PagestreamParseError, pagestreamResponseBytes, parsePagestreamRequest, type PagestreamRequest, type PagestreamResponse } from './pagestream.js';
import {
  AUTH_CLEARTEXT_PASSWORD,
  AUTH_OK,
  AUTH_SASL_CONTINUE,
  AUTH_SASL_FINAL,
  authenticationMessage,
  authenticationSasl,
  backendKeyData,
  commandComplete,
  COPY_DATA_HEADER_BYTES,
  copyBothResponse,
  copyDone,
  copyOutResponse,
  emptyQueryResponse,
  errorResponse,
  MessageReader,
  parameterStatus,
  readCString,
  readyForQuery,
  WireProtocolError,
  writeCopyDataHeader,
  type ErrorFields,
  type FrontendMessage,
  type StartupPacket,
} from './pgwire.js';
import { ScramExchange, scramSecret, type ScramSecret } from './scram.js';

export type PageServiceAuth =
  | { readonly kind: 'trust' }
  | { readonly kind: 'password'; readonly method: 'scram-sha-256' | 'cleartext'; readonly users: ReadonlyMap<string, ScramSecret> }
  | { readonly kind: 'jwt'; readonly verifier: JwtVerifier };

export interface PageServiceMetrics extends PageReadMetrics {
  /** A request answered: its kind, whether it failed, and seconds from its arrival to its answer. */
  onRequest(kind: PagestreamRequest['kind'], failed: boolean, seconds: number): void;
  onBatch(requests: number): void;
  onConnection(delta: 1 | -1): void;
}

export interface PageServiceOptions {
  readonly host?: string;
  /** 0: any free port (read `port` after `listen`). */
  readonly port?: number;
  readonly auth?: PageServiceAuth;
  /** How long a request waits for WAL up to its LSN. */
  readonly waitLsnTimeoutMs?: number;
  /** Requests started and not yet answered, per connection; past it, reading waits. */
  readonly inFlightRequestsMax?: number;
  /** A message longer than this breaks the framing (requests are tens of bytes). */
  readonly messageBytesMax?: number;
  /** Stop reading a connection while this many bytes of answers wait to be sent, or of requests wait to start. */
  readonly writeBufferBytesMax?: number;
  readonly metrics?: PageServiceMetrics;
}

/** Answer buffers kept for reuse per connection, and their size (a batch of 16 pages and headers fits twice over). */
const ANSWER_BUFFERS_FREE_MAX = 4;
const ANSWER_BUFFER_BYTES = 256 << 10;

const DEFAULTS = {
  host: '127.0.0.1',
  waitLsnTimeoutMs: 30_000,
  inFlightRequestsMax: 256,
  messageBytesMax: 64 * 1024,
  writeBufferBytesMax: 4 << 20,
};

/** Parameters a client expects after authentication (libpq reads server_version and the encodings). */
const SERVER_PARAMETERS: readonly (readonly [string, string])[] = [
  ['server_version', '15.0 (strata page service)'],
  ['server_encoding', 'UTF8'],
  ['client_encoding', 'UTF8'],
  ['DateStyle', 'ISO, MDY'],
  ['integer_datetimes', 'on'],
  ['standard_conforming_strings', 'on'],
  ['application_name', ''],
];

const SQLSTATE = {
  protocolViolation: '08P01',
  invalidPassword: '28P01',
  invalidAuthorization: '28000',
  insufficientPrivilege: '42501',
  syntaxError: '42601',
  undefinedObject: '42704',
  featureNotSupported: '0A000',
  internal: 'XX000',
} as const;

export class PageService {
  private server: Server | undefined;
  private readonly connections = new Set<Connection>();
  readonly options: Required<Omit<PageServiceOptions, 'metrics' | 'port'>> & { readonly metrics: PageServiceMetrics | undefined };
  private requestedPort: number;

  constructor(
    readonly repository: Repository,
    options: PageServiceOptions = {},
  ) {
    this.options = {
      host: options.host ?? DEFAULTS.host,
      auth: options.auth ?? { kind: 'trust' },
      waitLsnTimeoutMs: options.waitLsnTimeoutMs ?? DEFAULTS.waitLsnTimeoutMs,
      inFlightRequestsMax: options.inFlightRequestsMax ?? DEFAULTS.inFlightRequestsMax,
      messageBytesMax: options.messageBytesMax ?? DEFAULTS.messageBytesMax,
      writeBufferBytesMax: options.writeBufferBytesMax ?? DEFAULTS.writeBufferBytesMax,
      metrics: options.metrics,
    };
    this.requestedPort = options.port ?? 0;
  }

  async listen(): Promise<void> {
    const server = createServer({ noDelay: true }, (socket) => {
      const c = new Connection(this, socket);
      this.connections.add(c);
      this.options.metrics?.onConnection(1);
      socket.once('close', () => {
        this.connections.delete(c);
        this.options.metrics?.onConnection(-1);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.requestedPort, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  get port(): number {
    const a = this.server?.address() as AddressInfo | null | undefined;
    if (a === undefined || a === null) throw new Error('assert: the page service is not listening');
    return a.port;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Stops accepting, ends every connection (their in-flight batches are dropped), and waits for the listener to close. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const c of this.connections) c.destroy();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

type State =
  | { readonly kind: 'startup' }
  | { readonly kind: 'password'; readonly user: string }
  | { readonly kind: 'sasl-first'; readonly user: string }
  | { readonly kind: 'sasl-final'; readonly user: string; readonly exchange: ScramExchange }
  | { readonly kind: 'ready' }
  | { readonly kind: 'stream'; readonly tenantId: string; readonly timelineId: string; readonly reads: PageReads }
  | { readonly kind: 'closed' };

/** One client connection and its protocol state. */
class Connection {
  private readonly reader: MessageReader;
  private state: State = { kind: 'startup' };
  private claims: JwtClaims | undefined;
  /** Requests started and not yet written, in request order. */
  private readonly inFlight: AnswerSlot[] = [];
  private endAfter: (() => void) | undefined;
  private flushScheduled = false;
  private paused = false;
  /** Answer buffers whose socket write completed, for the next flushes (see flushAnswers). */
  private readonly freeAnswerBuffers: Buffer[] = [];

  constructor(
    private readonly service: PageService,
    private readonly socket: Socket,
  ) {
    this.reader = new MessageReader(service.options.messageBytesMax);
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      this.drain();
      this.updatePause();
    });
    socket.on('drain', () => this.updatePause());
    // A client that vanishes is not an error of the server's.
    socket.on('error', () => this.destroy());
  }

  destroy(): void {
    this.state = { kind: 'closed' };
    this.socket.destroy();
  }

  /**
   * Backpressure: the connection is not read while more than writeBufferBytesMax of answers wait
   * for the client to read them, or while more than that of requests wait to be started (at
   * inFlightRequestsMax, e.g. all waiting for WAL): either way memory stays bounded.
   */
  private updatePause(): void {
    if (this.state.kind === 'closed') return;
    const max = this.service.options.writeBufferBytesMax;
    const pause = this.socket.writableLength > max || this.reader.buffered > max;
    if (pause === this.paused) return;
    this.paused = pause;
    if (pause) this.socket.pause();
    else this.socket.resume();
  }

  private write(b: Buffer): void {
    if (this.state.kind === 'closed') return;
    this.socket.write(b);
    if (!this.paused && this.socket.writableLength > this.service.options.writeBufferBytesMax) this.updatePause();
  }

  private fatal(sqlstate: string, message: string): void {
    this.write(errorResponse({ severity: 'FATAL', sqlstate, message }));
    this.state = { kind: 'closed' };
    this.socket.end();
  }

  private error(fields: Omit<ErrorFields, 'severity'>): void {
    this.write(errorResponse({ severity: 'ERROR', ...fields }));
  }

  /** Takes every whole message received; in the stream, starts each batch of requests as it arrives. */
  private drain(): void {
    try {
      while (this.state.kind !== 'closed') {
        if (this.state.kind === 'startup') {
          const p = this.reader.nextStartup();
          if (p === undefined) return;
          this.onStartup(p);
          continue;
        }
        if (this.state.kind === 'stream') {
          if (!this.takeBatch(this.state.reads)) return;
          continue;
        }
        const m = this.reader.next();
        if (m === undefined) return;
        this.onMessage(m);
      }
    } catch (e) {
      if (e instanceof WireProtocolError) this.fatal(SQLSTATE.protocolViolation, e.message);
      else if (e instanceof ServiceError && e.code === 'UNAUTHORIZED') this.fatal(SQLSTATE.invalidPassword, e.message);
      else this.fatal(SQLSTATE.internal, `Cannot go on with this connection: ${(e as Error).message}`);
    }
  }

  // ---- startup and authentication ----

  private onStartup(p: StartupPacket): void {
    switch (p.kind) {
      case 'ssl':
      case 'gssenc':
        // No TLS or GSS encryption: 'N', and the client goes on in the clear or gives up.
        this.socket.write(Buffer.from('N'));
        return;
      case 'cancel':
        // Requests are short and answered in order; there is nothing to cancel.
        this.state = { kind: 'closed' };
        this.socket.end();
        return;
      case 'startup':
        break;
    }
    const user = p.params.get('user');
    if (user === undefined || user === '') throw new WireProtocolError('Cannot start a session: the startup packet names no user');
    const auth = this.service.options.auth;
    switch (auth.kind) {
      case 'trust':
        this.authenticated();
        return;
      case 'jwt':
        this.state = { kind: 'password', user };
        this.write(authenticationMessage(AUTH_CLEARTEXT_PASSWORD));
        return;
      case 'password':
        if (auth.method === 'cleartext') {
          this.state = { kind: 'password', user };
          this.write(authenticationMessage(AUTH_CLEARTEXT_PASSWORD));
        } else {
          this.state = { kind: 'sasl-first', user };
          this.write(authenticationSasl(['SCRAM-SHA-256']));
        }
        return;
    }
  }

  private authenticated(): void {
    this.write(authenticationMessage(AUTH_OK));
    for (const [k, v] of SERVER_PARAMETERS) this.write(parameterStatus(k, v));
    this.write(backendKeyData(process.pid, randomInt(0x7fffffff)));
    this.write(readyForQuery());
    this.state = { kind: 'ready' };
  }

  private onMessage(m: FrontendMessage): void {
    const type = String.fromCharCode(m.type);
    if (type === 'X') {
      this.state = { kind: 'closed' };
      this.socket.end();
      return;
    }
    const state = this.state;
    switch (state.kind) {
      case 'password':
        if (type !== 'p') throw new WireProtocolError(`Cannot authenticate: expected a password message ('p'), received '${type}'`);
        this.onPassword(state.user, readCString(m.body, 0, 'the password').value);
        return;
      case 'sasl-first': {
        if (type !== 'p') throw new WireProtocolError(`Cannot authenticate: expected a SASLInitialResponse ('p'), received '${type}'`);
        const mech = readCString(m.body, 0, 'the SASL mechanism');
        if (m.body.length < mech.end + 4) throw new WireProtocolError('Cannot read a SASLInitialResponse: it ends before its data length');
        const len = m.body.readInt32BE(mech.end);
        const data = len < 0 ? Buffer.alloc(0) : m.body.subarray(mech.end + 4, mech.end + 4 + len);
        const auth = this.service.options.auth;
        const secret = auth.kind === 'password' ? auth.users.get(state.user) : undefined;
        const exchange = new ScramExchange(secret, state.user);
        const serverFirst = exchange.clientFirst(mech.value, data);
        this.state = { kind: 'sasl-final', user: state.user, exchange };
        this.write(authenticationMessage(AUTH_SASL_CONTINUE, Buffer.from(serverFirst)));
        return;
      }
      case 'sasl-final': {
        if (type !== 'p') throw new WireProtocolError(`Cannot authenticate: expected a SASLResponse ('p'), received '${type}'`);
        const serverFinal = state.exchange.clientFinal(m.body);
        this.write(authenticationMessage(AUTH_SASL_FINAL, Buffer.from(serverFinal)));
        this.authenticated();
        return;
      }
      case 'ready':
        this.onReadyMessage(type, m.body);
        return;
      default:
        throw new Error(`assert: message '${type}' in state ${state.kind}`);
    }
  }

  private onPassword(user: string, password: string): void {
    const auth = this.service.options.auth;
    if (auth.kind === 'jwt') {
      this.claims = auth.verifier.verify(password);
      this.authenticated();
      return;
    }
    if (auth.kind !== 'password') throw new Error('assert: a password with no password authentication');
    const secret = auth.users.get(user);
    // The same work for an unknown user as for a wrong password.
    const tried = scramSecret(password, secret?.salt ?? Buffer.alloc(16), secret?.iterations ?? 4096);
    if (secret === undefined || !timingSafeEqual(tried.storedKey, secret.storedKey)) throw new ServiceError('UNAUTHORIZED', `password authentication failed for user "${user}"`);
    this.authenticated();
  }

  // ---- queries ----

  private onReadyMessage(type: string, body: Buffer): void {
    switch (type) {
      case 'Q': {
        this.onQuery(readCString(body, 0, 'the query').value);
        return;
      }
      case 'S':
        this.write(readyForQuery());
        return;
      case 'P':
      case 'B':
      case 'D':
      case 'E':
      case 'C':
      case 'H':
        // The extended protocol: refused; the client's Sync brings a ReadyForQuery.
        if (type === 'P') this.error({ sqlstate: SQLSTATE.featureNotSupported, message: 'The page service takes simple queries only (pagestream_v3 <tenant> <timeline>), not the extended query protocol' });
        return;
      case 'd':
      case 'c':
      case 'f':
        // Copy messages outside a copy: PostgreSQL ignores them too.
        return;
      default:
        throw new WireProtocolError(`Cannot follow the session: unexpected message type '${type}'`);
    }
  }

  private onQuery(text: string): void {
    const query = text.trim().replace(/;$/, '').trim();
    if (query === '') {
      this.write(emptyQueryResponse());
      this.write(readyForQuery());
      return;
    }
    const [command = '', ...args] = query.split(/\s+/);
    switch (command.toLowerCase()) {
      case 'pagestream_v3':
        this.startPagestream(args);
        return;
      case 'basebackup':
        void this.runBaseBackup(args);
        return;
      case 'set':
        // psycopg2 and others send SET on connect; nothing here depends on settings.
        this.write(commandComplete('SET'));
        this.write(readyForQuery());
        return;
      case 'pagestream_v2':
      case 'pagestream':
        this.error({ sqlstate: SQLSTATE.featureNotSupported, message: `The page service speaks pagestream v3 only: received ${command}` });
        this.write(readyForQuery());
        return;
      default:
        this.error({ sqlstate: SQLSTATE.syntaxError, message: `Unsupported command ${JSON.stringify(command.slice(0, 64))}: the page service takes pagestream_v3 <tenant> <timeline>` });
        this.write(readyForQuery());
        return;
    }
  }

  /**
   * `basebackup <tenant> <timeline> [<lsn>] [--gzip]`: the tar of a data directory at the LSN
   * (default: the last record LSN) in a CopyOut, as Neon's page service sends it
   * (basebackup.ts writes it). An error before the first byte is an ErrorResponse; one after it
   * ends the copy with an ErrorResponse, so the client never takes a short tar for a whole one.
   */
  private async runBaseBackup(args: readonly string[]): Promise<void> {
    const fail = (sqlstate: string, message: string) => {
      this.error({ sqlstate, message });
      this.write(readyForQuery());
    };
    const gzip = args.includes('--gzip');
    const rest = args.filter((a) => a !== '--gzip');
    if (rest.length < 2 || rest.length > 3) return fail(SQLSTATE.syntaxError, `invalid number of parameters for basebackup command: expected <tenant> <timeline> [<lsn>] [--gzip], received ${args.length}`);
    const [tenantId, timelineId, lsnText] = rest as [string, string, string | undefined];
    let lsn: Lsn | undefined;
    try {
      lsn = lsnText === undefined ? undefined : parseLsn(lsnText);
    } catch (e) {
      if (e instanceof LsnParseError) return fail(SQLSTATE.syntaxError, `Cannot read the basebackup LSN: ${e.message}`);
      throw e;
    }
    const timeline = this.permittedTimeline(tenantId, timelineId, fail);
    if (timeline === undefined) return;
    this.write(copyOutResponse());
    // Each chunk of the archive is one CopyData message, its header written in front of it in the
    // same buffer (one socket write per chunk, and the buffer reused once written: backup-output.ts),
    // with a few chunks in flight while the next ones are assembled.
    try {
      await writeBaseBackup(timeline, lsn, { stream: this.socket, what: 'the client', headerBytes: COPY_DATA_HEADER_BYTES, frame: (header, payloadBytes) => writeCopyDataHeader(header, 0, payloadBytes) }, { gzip });
      this.write(copyDone());
      this.write(commandComplete('COPY'));
    } catch (e) {
      this.error({ sqlstate: SQLSTATE.internal, message: `Cannot make the base backup of ${tenantId}/${timelineId}: ${(e as Error).message}` });
    }
    this.write(readyForQuery());
  }

  /** The timeline, if this connection's token may reach its tenant and it exists; else `fail` says why. */
  private permittedTimeline(tenantId: string, timelineId: string, fail: (sqlstate: string, message: string) => void): Timeline | undefined {
    if (this.claims !== undefined) {
      try {
        checkPermission(this.claims, tenantId);
      } catch (e) {
        fail(SQLSTATE.insufficientPrivilege, (e as Error).message);
        return undefined;
      }
    }
    try {
      return this.service.repository.timeline(tenantId, timelineId);
    } catch (e) {
      if (!(e instanceof RepositoryError)) throw e;
      fail(SQLSTATE.undefinedObject, e.message);
      return undefined;
    }
  }

  private startPagestream(args: readonly string[]): void {
    const fail = (sqlstate: string, message: string) => {
      this.error({ sqlstate, message });
      this.write(readyForQuery());
    };
    if (args.length !== 2) return fail(SQLSTATE.syntaxError, `invalid number of parameters for pagestream command: expected <tenant> <timeline>, received ${args.length}`);
    const [tenantId, timelineId] = args as [string, string];
    const timeline = this.permittedTimeline(tenantId, timelineId, fail);
    if (timeline === undefined) return;
    this.state = { kind: 'stream', tenantId, timelineId, reads: new PageReads(timeline, this.service.options.waitLsnTimeoutMs, this.service.options.metrics) };
    this.write(copyBothResponse());
  }

  // ---- the stream ----

  /**
   * Starts every request received so far (up to `inFlightRequestsMax` unanswered), as one batch;
   * false when there is nothing to take. A message that ends the stream (CopyDone, CopyFail,
   * Terminate, broken framing) is acted on once every request before it is answered.
   */
  private takeBatch(reads: PageReads): boolean {
    if (this.endAfter !== undefined || this.inFlight.length >= this.service.options.inFlightRequestsMax) return false;
    const batch: (PagestreamRequest | PagestreamResponse)[] = [];
    let endAfter: (() => void) | undefined;
    while (this.inFlight.length + batch.length < this.service.options.inFlightRequestsMax) {
      let m: FrontendMessage | undefined;
      try {
        m = this.reader.next();
      } catch (e) {
        // Broken framing: answer what came before it, then say why and close.
        if (!(e instanceof WireProtocolError)) throw e;
        endAfter = () => this.fatal(SQLSTATE.protocolViolation, e.message);
        break;
      }
      if (m === undefined) break;
      const type = String.fromCharCode(m.type);
      if (type === 'd') {
        try {
          batch.push(parsePagestreamRequest(m.body, 0, m.body.length));
        } catch (e) {
          if (!(e instanceof PagestreamParseError)) throw e;
          const hdr = e.hdr;
          if (hdr === undefined) {
            endAfter = () => this.fatal(SQLSTATE.protocolViolation, e.message);
            break;
          }
          batch.push({ kind: 'error', hdr, message: `Bad request: ${e.message}` });
        }
        continue;
      }
      if (type === 'c') {
        endAfter = () => {
          // The client ended the stream: end ours and go back to taking queries.
          this.write(copyDone());
          this.write(commandComplete('COPY 0'));
          this.write(readyForQuery());
          this.state = { kind: 'ready' };
        };
      } else if (type === 'f') {
        const why = readCString(m.body, 0, 'the CopyFail message').value;
        endAfter = () => {
          this.error({ sqlstate: '57014', message: `pagestream ended by the client's CopyFail: ${why}` });
          this.write(readyForQuery());
          this.state = { kind: 'ready' };
        };
      } else if (type === 'X') {
        endAfter = () => this.destroy();
      } else {
        endAfter = () => this.fatal(SQLSTATE.protocolViolation, `Cannot follow the pagestream: unexpected message type '${type}' during CopyBoth (expected CopyData, CopyDone, CopyFail or Terminate)`);
      }
      break;
    }
    if (batch.length === 0 && endAfter === undefined) return false;
    this.endAfter = endAfter;
    if (batch.length > 0) this.startBatch(reads, batch);
    else this.flushAnswers();
    return true;
  }

  /** Starts one batch: every request at once; their answers join the in-order queue. */
  private startBatch(reads: PageReads, batch: readonly (PagestreamRequest | PagestreamResponse)[]): void {
    const metrics = this.service.options.metrics;
    metrics?.onBatch(batch.length);
    const t0 = performance.now();
    const gone = this.timelineGone(reads);
    for (const r of batch) {
      const slot: AnswerSlot = { answer: undefined };
      this.inFlight.push(slot);
      if (!isRequest(r)) {
        slot.answer = r;
        continue;
      }
      if (gone !== undefined) {
        slot.answer = { kind: 'error', hdr: r.hdr, message: gone };
        continue;
      }
      reads.execute(r).then((answer) => {
        metrics?.onRequest(r.kind, answer.kind === 'error', (performance.now() - t0) / 1000);
        slot.answer = answer;
        this.scheduleFlush();
      }, (e: unknown) => {
        // execute() answers every failure itself: this is a bug, and still only this request's.
        slot.answer = { kind: 'error', hdr: r.hdr, message: `Read error: ${(e as Error).message}` };
        this.scheduleFlush();
      });
    }
    this.scheduleFlush();
  }

  /** Answers that complete in the same turn of the event loop go out in one write. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushAnswers();
    });
  }

  /** Writes the answered prefix of the queue, in request order; then ends the stream if asked and all is answered. */
  private flushAnswers(): void {
    if (this.state.kind === 'closed') return;
    let n = 0;
    let bytes = 0;
    for (const slot of this.inFlight) {
      if (slot.answer === undefined) break;
      bytes += COPY_DATA_HEADER_BYTES + pagestreamResponseBytes(slot.answer);
      n++;
    }
    if (n > 0) {
      // A buffer of a few earlier flushes, once its write is done: a new one per flush was most of
      // the page service's allocation (hundreds of MB/s of answers at tens of thousands of GetPage/s),
      // and the garbage collections it set off marked the whole page cache each time.
      const pooled = this.freeAnswerBuffers.pop();
      const buffer = pooled !== undefined && pooled.length >= bytes ? pooled : Buffer.allocUnsafe(Math.max(bytes, ANSWER_BUFFER_BYTES));
      const out = buffer.subarray(0, bytes);
      let o = 0;
      for (const slot of this.inFlight.splice(0, n)) {
        const a = slot.answer as PagestreamResponse;
        o = writeCopyDataHeader(out, o, pagestreamResponseBytes(a));
        o = encodePagestreamResponseInto(a, out, o);
      }
      if (o !== bytes) throw new Error(`assert: answers are ${bytes} bytes, wrote ${o}`);
      // (The stream is open: a closed one returned above.) The buffer is free once its write is done.
      this.socket.write(out, () => {
        if (buffer.length === ANSWER_BUFFER_BYTES && this.freeAnswerBuffers.length < ANSWER_BUFFERS_FREE_MAX) this.freeAnswerBuffers.push(buffer);
      });
      if (!this.paused && this.socket.writableLength > this.service.options.writeBufferBytesMax) this.updatePause();
    }
    if (this.inFlight.length === 0 && this.endAfter !== undefined) {
      const end = this.endAfter;
      this.endAfter = undefined;
      end();
    }
    // Room for more requests, or a new state after the end: take what waits.
    this.drain();
    this.updatePause();
  }

  /** The Error message for every request if the stream's timeline was deleted or replaced since the stream began. */
  private timelineGone(reads: PageReads): string | undefined {
    const s = this.state;
    if (s.kind !== 'stream') return undefined;
    try {
      if (this.service.repository.timeline(s.tenantId, s.timelineId) === reads.timeline) return undefined;
    } catch {
      // fall through
    }
    return `Not found: timeline ${s.timelineId} of tenant ${s.tenantId} no longer exists`;
  }
}

interface AnswerSlot {
  answer: PagestreamResponse | undefined;
}

function isRequest(r: PagestreamRequest | PagestreamResponse): r is PagestreamRequest {
  return 'hdr' in r && r.kind !== 'error';
}
