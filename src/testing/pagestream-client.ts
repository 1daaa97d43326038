/**
 * A pagestream v3 client over net.Socket, for tests and bench/pagebench: the PostgreSQL wire
 * startup (trust, cleartext password or JWT-as-password, SCRAM-SHA-256), simple queries, and the
 * pagestream sub-protocol (requests as CopyData, responses decoded as Neon's client decodes them).
 * It keeps every server message in order, so a test can send a hundred requests and then read a
 * hundred answers, or write arbitrary bytes and see what the server says.
 */
import { connect, type Socket } from 'node:net';
import { decodePagestreamResponse, encodePagestreamRequest, type DecodedPagestreamResponse, type PagestreamRequest } from '../service/pagestream.js';
import { copyDataMessage, frontendMessage, parseErrorFields, passwordMessage, queryMessage, startupMessage } from '../service/pgwire.js';
import { ScramClient } from '../service/scram.js';

export interface BackendMessage {
  readonly type: string;
  readonly body: Buffer;
}

/** What a simple query ended with. */
export type QueryOutcome = { readonly kind: 'error'; readonly fields: Map<string, string> } | { readonly kind: 'complete'; readonly tag: string } | { readonly kind: 'copyboth' } | { readonly kind: 'empty' };

export type StreamItem = DecodedPagestreamResponse | { readonly kind: 'server-error'; readonly fields: Map<string, string> } | { readonly kind: 'closed' } | { readonly kind: 'other'; readonly type: string };

export class ServerError extends Error {
  constructor(readonly fields: Map<string, string>) {
    super(`${fields.get('S') ?? 'ERROR'} ${fields.get('C') ?? ''}: ${fields.get('M') ?? ''}`);
  }
}

export interface ConnectOptions {
  readonly host?: string;
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
  /** Send an SSLRequest first (the server must answer 'N'). */
  readonly sslRequest?: boolean;
}

export class PagestreamClient {
  private buf: Buffer = Buffer.alloc(0);
  private readonly queue: BackendMessage[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  /** Bytes the server sent before its first message (the answer to an SSLRequest). */
  private rawByte: number | undefined;
  private expectRawByte = false;
  readonly parameters = new Map<string, string>();

  private constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      this.parse();
    });
    const end = () => {
      this.ended = true;
      this.wake();
    };
    socket.on('close', end);
    socket.on('error', end);
  }

  /** Opens a socket only (no startup), for tests that send bytes of their own. */
  static async open(port: number, host = '127.0.0.1'): Promise<PagestreamClient> {
    const socket = connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new PagestreamClient(socket);
  }

  /** Connects and authenticates; throws ServerError when the server refuses. */
  static async connect(port: number, o: ConnectOptions = {}): Promise<PagestreamClient> {
    const c = await PagestreamClient.open(port, o.host);
    try {
      if (o.sslRequest === true) {
        c.expectRawByte = true;
        const b = Buffer.alloc(8);
        b.writeInt32BE(8, 0);
        b.writeInt32BE(80877103, 4);
        c.socket.write(b);
        await c.waitFor(() => c.rawByte !== undefined);
        if (c.rawByte !== 'N'.charCodeAt(0)) throw new Error(`SSLRequest answered with byte ${c.rawByte}`);
      }
      c.socket.write(startupMessage({ user: o.user ?? 'strata', database: o.database ?? 'strata', application_name: 'strata-test' }));
      let scram: ScramClient | undefined;
      for (;;) {
        const m = await c.message();
        if (m === undefined) throw new Error('the server closed the connection during startup');
        if (m.type === 'E') throw new ServerError(parseErrorFields(m.body));
        if (m.type === 'S') {
          const [k = '', v = ''] = m.body.toString('utf8').split('\0');
          c.parameters.set(k, v);
        }
        if (m.type === 'Z') return c;
        if (m.type !== 'R') continue;
        const code = m.body.readInt32BE(0);
        if (code === 3) c.socket.write(passwordMessage(o.password ?? ''));
        else if (code === 10) {
          scram = new ScramClient(o.password ?? '');
          const first = scram.first();
          const mech = Buffer.from('SCRAM-SHA-256\0');
          const len = Buffer.alloc(4);
          len.writeInt32BE(first.length, 0);
          c.socket.write(frontendMessage('p', Buffer.concat([mech, len, first])));
        } else if (code === 11) {
          if (scram === undefined) throw new Error('SASLContinue without SASL');
          c.socket.write(frontendMessage('p', scram.final(m.body.subarray(4).toString('utf8'))));
        } else if (code === 12) {
          if (scram === undefined || !scram.verifyServer(m.body.subarray(4).toString('utf8'))) throw new Error('the server signature does not verify');
        }
      }
    } catch (e) {
      c.close();
      throw e;
    }
  }

  private parse(): void {
    let o = 0;
    if (this.expectRawByte && this.rawByte === undefined && this.buf.length > 0) {
      this.rawByte = this.buf[0] as number;
      this.expectRawByte = false;
      o = 1;
    }
    while (this.buf.length - o >= 5) {
      const len = this.buf.readInt32BE(o + 1);
      if (this.buf.length - o < len + 1) break;
      this.queue.push({ type: String.fromCharCode(this.buf[o] as number), body: this.buf.subarray(o + 5, o + 1 + len) });
      o += len + 1;
    }
    this.buf = o === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(o);
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private async waitFor(cond: () => boolean): Promise<void> {
    while (!cond()) {
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /** The next message from the server; undefined once the connection is closed and everything was read. */
  async message(): Promise<BackendMessage | undefined> {
    await this.waitFor(() => this.queue.length > 0);
    return this.queue.shift();
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Runs a simple query up to ReadyForQuery (or CopyBothResponse). */
  async query(sql: string): Promise<QueryOutcome> {
    this.socket.write(queryMessage(sql));
    let outcome: QueryOutcome | undefined;
    for (;;) {
      const m = await this.message();
      if (m === undefined) return outcome ?? { kind: 'error', fields: new Map([['M', 'connection closed']]) };
      if (m.type === 'E') outcome = { kind: 'error', fields: parseErrorFields(m.body) };
      else if (m.type === 'C') outcome = { kind: 'complete', tag: m.body.toString('utf8', 0, m.body.length - 1) };
      else if (m.type === 'I') outcome = { kind: 'empty' };
      else if (m.type === 'W') return { kind: 'copyboth' };
      else if (m.type === 'Z') return outcome ?? { kind: 'empty' };
    }
  }

  /** `pagestream_v3 tenant timeline`; throws ServerError when refused. */
  async startPagestream(tenantId: string, timelineId: string): Promise<void> {
    const r = await this.query(`pagestream_v3 ${tenantId} ${timelineId}`);
    if (r.kind === 'error') throw new ServerError(r.fields);
    if (r.kind !== 'copyboth') throw new Error(`pagestream_v3 answered ${r.kind}`);
  }

  send(req: PagestreamRequest): void {
    this.socket.write(copyDataMessage(encodePagestreamRequest(req)));
  }

  /** Several requests in one write, as a pipelining compute sends them. */
  sendMany(reqs: readonly PagestreamRequest[]): void {
    this.socket.write(Buffer.concat(reqs.map((r) => copyDataMessage(encodePagestreamRequest(r)))));
  }

  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next item of the stream: a decoded response, the server's ErrorResponse, or the end. */
  async next(): Promise<StreamItem> {
    const m = await this.message();
    if (m === undefined) return { kind: 'closed' };
    if (m.type === 'd') return decodePagestreamResponse(m.body);
    if (m.type === 'E') return { kind: 'server-error', fields: parseErrorFields(m.body) };
    return { kind: 'other', type: m.type };
  }

  close(): void {
    this.socket.destroy();
  }
}
