/**
 * The HTTP management API (JSON; Neon's pageserver/src/http/routes.rs in spirit): tenants,
 * timelines (empty, imported from a stopped data directory or a running primary as a background
 * job that GET of the timeline reports on, made by initdb, branched at an LSN or a timestamp), LSN
 * by timestamp, waiting for an LSN, checkpoint / compaction / GC triggers, status,
 * Prometheus metrics at `/metrics` and an OpenAPI 3 document at `/v1/openapi.json` made from the
 * same route table (routes.ts) that dispatches requests, so the two cannot drift apart.
 *
 * Built on node:http with a small router of its own: a dozen routes need no framework, and this
 * keeps the server free of dependencies whose upgrades would touch the data path's process.
 *
 * Auth: with a JWT verifier (a key configured) every route but `/metrics`, `/v1/status` and
 * `/v1/openapi.json` needs `Authorization: Bearer <token>`; a tenant-scoped token reaches that
 * tenant's routes, an admin token everything. Without one (the loopback default) nothing is asked.
 *
 * Errors: every failure is a JSON body `{"error": {"code", "message"}}` with a 4xx status for the
 * request's fault (400 bad input, 401/403 auth, 404 unknown route/tenant/timeline, 405, 408 LSN
 * wait timeout, 409 exists or has children, 410 below the GC horizon, 413, 415) and 5xx for the
 * server's. Nothing a request sends can stop the server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { IngestError } from '../ingest/errors.js';
import { RedoError } from '../redo/errors.js';
import { RepositoryError } from '../repository/errors.js';
import { ServiceError, type ServiceErrorCode } from './errors.js';
import { checkPermission, type JwtVerifier } from './jwt.js';
import { buildOpenApi, matchRoute, ROUTES, type ApiContext, type RouteResult } from './routes.js';
import type { ServiceMetrics } from './service-metrics.js';

export interface HttpApiOptions {
  readonly host?: string;
  readonly port?: number;
  /** Auth is on when set. */
  readonly jwt?: JwtVerifier | undefined;
  readonly bodyBytesMax?: number;
}

const BODY_BYTES_MAX_DEFAULT = 1 << 20;

const STATUS: Readonly<Record<ServiceErrorCode, number>> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  TIMEOUT: 408,
  CONFLICT: 409,
  GONE: 410,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  PROTOCOL_VIOLATION: 400,
  INTERNAL: 500,
};

/** Any error as the HTTP status and body code it maps to. */
export function httpError(e: unknown): { status: number; code: string; message: string } {
  if (e instanceof ServiceError) return { status: STATUS[e.code], code: e.code, message: e.message };
  if (e instanceof RepositoryError) {
    const status = { NOT_FOUND: 404, ALREADY_EXISTS: 409, BAD_REQUEST: 400, BELOW_GC_HORIZON: 410, LSN_TIMEOUT: 408, SHUT_DOWN: 503 }[e.code as string] ?? 500;
    return { status, code: e.code, message: e.message };
  }
  if (e instanceof IngestError) return { status: e.code === 'IMPORT_FAILED' ? 400 : 500, code: e.code, message: e.message };
  if (e instanceof RedoError) return { status: 500, code: `REDO_${e.code}`, message: e.message };
  return { status: 500, code: 'INTERNAL', message: `Cannot complete the request: ${(e as Error).message ?? String(e)}` };
}

export class HttpApi {
  private server: Server | undefined;
  private readonly bodyBytesMax: number;

  constructor(
    private readonly ctx: ApiContext,
    private readonly metrics: ServiceMetrics,
    private readonly options: HttpApiOptions = {},
  ) {
    this.bodyBytesMax = options.bodyBytesMax ?? BODY_BYTES_MAX_DEFAULT;
  }

  async listen(): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        // handle() answers every error itself; this is a bug, and still must not stop the server.
        console.error(`strata: HTTP handler failed: ${(e as Error).stack ?? String(e)}`);
        if (!res.headersSent) this.send(res, 500, { error: { code: 'INTERNAL', message: 'internal error' } });
        else res.destroy();
      });
    });
    server.on('clientError', (_e, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"error":{"code":"BAD_REQUEST","message":"malformed HTTP request"}}');
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  get port(): number {
    const a = this.server?.address() as AddressInfo | null | undefined;
    if (a === undefined || a === null) throw new Error('assert: the HTTP API is not listening');
    return a.port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = typeof body === 'string' ? body : JSON.stringify(body, null, 2) + '\n';
    res.writeHead(status, { 'Content-Type': typeof body === 'string' ? 'text/plain; version=0.0.4; charset=utf-8' : 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  /**
   * A streamed answer: headers, then chunks as the producer makes them, waiting when the client
   * reads slowly. A failure after the headers went out can only cut the connection: the client
   * sees a short body (a tar with no end), never a complete-looking one.
   */
  private async sendStream(res: ServerResponse, status: number, stream: NonNullable<RouteResult['stream']>): Promise<void> {
    res.writeHead(status, { 'Content-Type': stream.contentType, ...stream.headers });
    try {
      await stream.run(async (chunk) => {
        if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', () => resolve()));
      });
    } catch (e) {
      console.error(`strata: a streamed answer failed after its headers: ${(e as Error).message}`);
      res.destroy();
      return;
    }
    res.end();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    const url = new URL(req.url ?? '/', 'http://strata');
    const method = req.method ?? 'GET';
    let routeName = 'unknown';
    let status = 500;
    try {
      const found = matchRoute(method, url.pathname);
      if (found.kind === 'no-route') throw new ServiceError('NOT_FOUND', `Cannot ${method} ${url.pathname}: no such route (see /v1/openapi.json)`);
      if (found.kind === 'wrong-method') {
        res.setHeader('Allow', found.allowed.join(', '));
        throw new ServiceError('METHOD_NOT_ALLOWED', `Cannot ${method} ${url.pathname}: it takes ${found.allowed.join(', ')}`);
      }
      const { route, params } = found;
      routeName = route.path;
      if (route.scope !== 'public' && this.options.jwt !== undefined) {
        const header = req.headers.authorization;
        if (header === undefined) throw new ServiceError('UNAUTHORIZED', 'Cannot authorize the request: it has no Authorization header (Bearer <JWT>)');
        const m = /^Bearer (\S+)$/.exec(header);
        if (m === null) throw new ServiceError('UNAUTHORIZED', 'Cannot authorize the request: the Authorization header must be "Bearer <JWT>"');
        checkPermission(this.options.jwt.verify(m[1] as string), route.scope === 'tenant' ? params['tenant_id'] : undefined);
      }
      const body = await this.readBody(req, route.body !== undefined);
      const result: RouteResult = await route.handler({ ctx: this.ctx, params, query: url.searchParams, body });
      status = result.status;
      if (result.stream !== undefined) await this.sendStream(res, status, result.stream);
      else if (result.text !== undefined) this.send(res, status, result.text);
      else this.send(res, status, result.json ?? {});
    } catch (e) {
      const err = httpError(e);
      status = err.status;
      if (status >= 500 && !(e instanceof RepositoryError || e instanceof RedoError)) console.error(`strata: ${method} ${url.pathname} failed: ${(e as Error).stack ?? String(e)}`);
      this.send(res, status, { error: { code: err.code, message: err.message } });
    } finally {
      this.metrics.httpRequests.inc({ method, route: routeName, status: String(status) });
      this.metrics.httpLatency.observe((performance.now() - t0) / 1000, { route: routeName });
    }
  }

  /** The JSON body, bounded; undefined when there is none. */
  private async readBody(req: IncomingMessage, takesBody: boolean): Promise<unknown> {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.bodyBytesMax) {
      req.resume();
      throw new ServiceError('PAYLOAD_TOO_LARGE', `Cannot take a body of ${declared} bytes: the limit is ${this.bodyBytesMax}`);
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > this.bodyBytesMax) {
        req.destroy();
        throw new ServiceError('PAYLOAD_TOO_LARGE', `Cannot take a body of more than ${this.bodyBytesMax} bytes`);
      }
      chunks.push(chunk);
    }
    if (bytes === 0) return undefined;
    if (!takesBody) throw new ServiceError('BAD_REQUEST', `Cannot take a body on this route: received ${bytes} bytes`);
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/json\b/i.test(type)) throw new ServiceError('UNSUPPORTED_MEDIA_TYPE', `Cannot read a body of type ${JSON.stringify(type)}: send application/json`);
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    } catch (e) {
      throw new ServiceError('BAD_REQUEST', `Cannot parse the body as JSON: ${(e as Error).message}`);
    }
  }
}

export { ROUTES, buildOpenApi };
