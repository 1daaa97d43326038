/**
 * The HTTP API's routes (http-api.ts serves them): one table that both dispatches requests and
 * becomes the OpenAPI document, with each route's scope (public, tenant, admin), its JSON body
 * fields (checked: an unknown field or a wrong type is a 400), its query parameters and handler.
 *
 * Timelines as JSON: LSNs are `X/X` strings (DESIGN.md), ids 32 hex digits.
 *
 * Imports: a running primary (`import_primary`, a connection string) is always a background job
 * (imports.ts): the answer is 202 with the timeline and its job's state, which GET of the timeline
 * then shows. A data directory (`import_datadir`) is a job too; the request waits for it unless
 * `background` says not to (then 202 as well). Either way the copy hands the event loop back as it
 * goes, so the server answers other requests, and the job's progress, meanwhile.
 */
import { MAX_RATE_KB_PER_S_MAX, MAX_RATE_KB_PER_S_MIN } from '../ingest/replication/base-backup.js';
import { formatLsn, type Lsn } from '../pg/lsn.js';
import { writeBaseBackup } from './basebackup.js';
import { RepositoryError } from '../repository/errors.js';
import type { ControlFile } from '../pg/control.js';
import { compact } from '../repository/compaction.js';
import { gc } from '../repository/gc.js';
import type { Repository } from '../repository/repository.js';
import { DEFAULT_TENANT_CONFIG, type Tenant, type TenantConfig } from '../repository/tenant.js';
import type { Timeline } from '../repository/timeline.js';
import type { Imports } from './imports.js';
import { bad, id, lsnParam, optionalString, timestampParam } from './request-params.js';
import { createTimeline, lsnByTimestamp } from './timeline-create.js';

export { lsnByTimestamp };

/** What the routes use of the server. */
export interface ApiContext {
  readonly repository: Repository;
  /** A tenant was created or deleted, or a timeline was imported (its pg_control says how redo must run). */
  onTenantDeleted(tenantId: string): Promise<void>;
  onImported(tenantId: string, control: ControlFile): void;
  /** For `initdb` timelines: PostgreSQL's bin folder, and the OS user initdb runs as when the server is root. */
  readonly pgBinDir: string;
  status(): Record<string, unknown>;
  metricsText(): string;
  /** Follow a compute's (or a primary's) WAL into the timeline over physical replication. */
  follow(tenantId: string, timeline: Timeline, target: FollowTarget): Promise<Record<string, unknown>>;
  /** Stop following, once the timeline has WAL up to `waitLsn` (if given). */
  unfollow(tenantId: string, timeline: Timeline, waitLsn: Lsn | undefined): Promise<Record<string, unknown>>;
  /** Imports as jobs with progress (imports.ts). */
  readonly imports: Pick<Imports, 'startPrimary' | 'importDatadir' | 'state' | 'release'>;
}

export interface FollowTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
  readonly slot: string;
}

export interface RouteResult {
  readonly status: number;
  readonly json?: unknown;
  /** A text body (metrics). */
  readonly text?: string;
  /** A streamed body (base backups): headers first, then `write` is called with each chunk. */
  readonly stream?: { readonly contentType: string; readonly headers: Readonly<Record<string, string>>; readonly run: (write: (chunk: Buffer) => Promise<void>) => Promise<void> };
}

interface FieldSpec {
  readonly type: 'string' | 'integer' | 'boolean' | 'object';
  readonly description: string;
}

export interface RouteRequest {
  readonly ctx: ApiContext;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly body: unknown;
}

export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** `/v1/tenant/{tenant_id}`: `{name}` matches one path segment. */
  readonly path: string;
  readonly scope: 'public' | 'tenant' | 'admin';
  readonly summary: string;
  readonly body?: Readonly<Record<string, FieldSpec>>;
  readonly query?: Readonly<Record<string, FieldSpec>>;
  readonly handler: (r: RouteRequest) => Promise<RouteResult> | RouteResult;
  /** Some requests answer 202 (a job started): what that means, for the OpenAPI document. */
  readonly accepted?: string;
}

/** The body as an object whose fields match `spec`; a missing body is `{}`. */
function checkedBody(body: unknown, spec: Readonly<Record<string, FieldSpec>>): Record<string, unknown> {
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('Cannot read the body: it must be a JSON object');
  const o = body as Record<string, unknown>;
  for (const [k, v] of Object.entries(o)) {
    const f = spec[k];
    if (f === undefined) throw bad(`Cannot read the body: unknown field ${JSON.stringify(k)} (known: ${Object.keys(spec).join(', ') || 'none'})`);
    if (v === null) continue;
    const ok = f.type === 'integer' ? Number.isSafeInteger(v) : f.type === 'object' ? typeof v === 'object' && !Array.isArray(v) : typeof v === f.type;
    if (!ok) throw bad(`Cannot read field ${JSON.stringify(k)}: expected ${f.type}, received ${JSON.stringify(v)}`);
  }
  return o;
}

// ---- JSON views ----

/** A timeline as JSON; with `imports`, an imported one also shows its import job's state (`import`). */
function timelineJson(t: Timeline, tenantId: string, imports?: ApiContext['imports']): Record<string, unknown> {
  const job = imports?.state(tenantId, t);
  return {
    tenant_id: tenantId,
    timeline_id: t.id,
    ancestor_timeline_id: t.ancestor?.id ?? null,
    ancestor_lsn: t.ancestor === undefined ? null : formatLsn(BigInt(t.ancestorLsn)),
    last_record_lsn: formatLsn(t.lastRecordLsn),
    disk_consistent_lsn: formatLsn(t.diskConsistentLsn),
    gc_cutoff_lsn: formatLsn(t.gcCutoff),
    layers: t.layers.length,
    in_memory_bytes: t.inMemoryBytes,
    created_at: t.createdAt,
    ...(job !== undefined ? { import: job } : {}),
  };
}

function tenantJson(t: Tenant): Record<string, unknown> {
  return { tenant_id: t.id, timelines: t.list().length, config: t.config };
}

/** Timelines as a forest: each with its children and the LSN they branch at. */
function timelineTree(tenant: Tenant, imports: ApiContext['imports']): unknown[] {
  const all = tenant.list();
  const node = (t: Timeline): Record<string, unknown> => ({
    ...timelineJson(t, tenant.id, imports),
    children: all.filter((c) => c.ancestor === t).map((c) => ({ branch_lsn: formatLsn(BigInt(c.ancestorLsn)), ...node(c) })),
  });
  return all.filter((t) => t.ancestor === undefined).map(node);
}

function tenantConfig(v: unknown): Partial<TenantConfig> {
  if (v === undefined || v === null) return {};
  const out: Record<string, number> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (!(k in DEFAULT_TENANT_CONFIG)) throw bad(`Cannot use tenant config field ${JSON.stringify(k)}: known fields are ${Object.keys(DEFAULT_TENANT_CONFIG).join(', ')}`);
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw bad(`Cannot use tenant config ${k}=${JSON.stringify(x)}: a non-negative integer is needed`);
    out[k] = x;
  }
  return out as Partial<TenantConfig>;
}

function timelineOf(r: RouteRequest): { tenant: Tenant; t: Timeline } {
  const tenant = r.ctx.repository.tenant(id('tenant_id', r.params['tenant_id'] as string));
  return { tenant, t: tenant.timeline(id('timeline_id', r.params['timeline_id'] as string)) };
}

function intQuery(q: URLSearchParams, name: string, dflt: number, max: number): number {
  const v = q.get(name);
  if (v === null) return dflt;
  if (!/^\d+$/.test(v) || Number(v) > max) throw bad(`Cannot read query parameter ${name}: expected an integer from 0 to ${max}, received ${JSON.stringify(v.slice(0, 32))}`);
  return Number(v);
}

const WAIT_LSN_TIMEOUT_MS_MAX = 600_000;

export const ROUTES: readonly Route[] = [
  { method: 'GET', path: '/v1/status', scope: 'public', summary: 'Server status: version, uptime, ports, tenant and timeline counts', handler: (r) => ({ status: 200, json: r.ctx.status() }) },
  { method: 'GET', path: '/v1/openapi.json', scope: 'public', summary: 'This API as an OpenAPI 3 document', handler: () => ({ status: 200, json: buildOpenApi() }) },
  { method: 'GET', path: '/metrics', scope: 'public', summary: 'Prometheus metrics (text exposition format 0.0.4)', handler: (r) => ({ status: 200, text: r.ctx.metricsText() }) },
  { method: 'GET', path: '/v1/tenant', scope: 'admin', summary: 'List tenants', handler: (r) => ({ status: 200, json: r.ctx.repository.list().map(tenantJson) }) },
  {
    method: 'POST',
    path: '/v1/tenant',
    scope: 'admin',
    summary: 'Create a tenant',
    body: { new_tenant_id: { type: 'string', description: '32 hex digits; made up when absent' }, config: { type: 'object', description: 'Tenant configuration fields over the defaults (checkpointDistanceBytes, gcHorizonBytes, ...)' } },
    handler: (r) => {
      const b = checkedBody(r.body, ROUTE_BODIES.createTenant);
      const tid = optionalString(b, 'new_tenant_id');
      if (tid !== undefined) id('new_tenant_id', tid);
      return { status: 201, json: tenantJson(r.ctx.repository.createTenant(tid, tenantConfig(b['config']))) };
    },
  },
  { method: 'GET', path: '/v1/tenant/{tenant_id}', scope: 'tenant', summary: 'Get a tenant', handler: (r) => ({ status: 200, json: tenantJson(r.ctx.repository.tenant(id('tenant_id', r.params['tenant_id'] as string))) }) },
  {
    method: 'DELETE',
    path: '/v1/tenant/{tenant_id}',
    scope: 'admin',
    summary: 'Delete a tenant and all its timelines',
    handler: async (r) => {
      const tid = id('tenant_id', r.params['tenant_id'] as string);
      await r.ctx.repository.deleteTenant(tid);
      await r.ctx.onTenantDeleted(tid);
      return { status: 200, json: { tenant_id: tid, deleted: true } };
    },
  },
  {
    method: 'GET',
    path: '/v1/tenant/{tenant_id}/timeline',
    scope: 'tenant',
    summary: 'List timelines (tree=true: as a tree with branch points)',
    query: { tree: { type: 'boolean', description: 'true: roots with their children, each child with its branch_lsn' } },
    handler: (r) => {
      const tenant = r.ctx.repository.tenant(id('tenant_id', r.params['tenant_id'] as string));
      const tree = r.query.get('tree');
      if (tree !== null && tree !== 'true' && tree !== 'false') throw bad(`Cannot read query parameter tree: expected true or false, received ${JSON.stringify(tree.slice(0, 16))}`);
      return { status: 200, json: tree === 'true' ? timelineTree(tenant, r.ctx.imports) : tenant.list().map((t) => timelineJson(t, tenant.id, r.ctx.imports)) };
    },
  },
  {
    method: 'POST',
    path: '/v1/tenant/{tenant_id}/timeline',
    scope: 'tenant',
    summary: 'Create a timeline: empty, by importing a stopped data directory or a running primary, by initdb, or as a branch at an LSN or timestamp',
    accepted: 'import_primary, or import_datadir with background: the timeline exists and its import runs on; GET the timeline for the import\'s state (its "import" field)',
    body: {
      new_timeline_id: { type: 'string', description: '32 hex digits; made up when absent' },
      start_lsn: { type: 'string', description: 'Empty timeline: its history starts above this LSN' },
      ancestor_timeline_id: { type: 'string', description: 'Branch from this timeline' },
      ancestor_lsn: { type: 'string', description: "Branch point (default: the ancestor's last record LSN)" },
      ancestor_timestamp: { type: 'string', description: 'Branch at the newest LSN reached at or before this ISO 8601 time' },
      import_datadir: { type: 'string', description: "Absolute path of a cleanly stopped PostgreSQL 15 data directory on the page server's host" },
      import_primary: {
        type: 'string',
        description: 'Connection string (host=... port=... user=... password=..., or postgresql://user:password@host:port) of a running PostgreSQL 15 primary, reached from the page server, as a role with REPLICATION: a base backup is imported, then the primary is followed (202, a background job)',
      },
      slot: { type: 'string', description: 'With import_primary: the physical replication slot on the primary (default strata_<timeline id>; made if missing)' },
      max_rate_kb_per_s: { type: 'integer', description: `With import_primary: throttle the base backup to this many kB/s (${MAX_RATE_KB_PER_S_MIN}-${MAX_RATE_KB_PER_S_MAX})` },
      background: { type: 'boolean', description: 'With import_datadir: answer 202 at once and run the import as a job (import_primary always does)' },
      initdb: { type: 'boolean', description: 'Run initdb into a temporary folder and import it' },
    },
    handler: async (r) => {
      const tenant = r.ctx.repository.tenant(id('tenant_id', r.params['tenant_id'] as string));
      const created = await createTimeline(r.ctx, tenant, checkedBody(r.body, ROUTE_BODIES.createTimeline));
      if (created.job !== undefined) return { status: 202, json: { ...timelineJson(created.t, tenant.id), import: created.job } };
      return { status: 201, json: timelineJson(created.t, tenant.id) };
    },
  },
  {
    method: 'GET',
    path: '/v1/tenant/{tenant_id}/timeline/{timeline_id}',
    scope: 'tenant',
    summary: 'Get a timeline (an imported one with its import job: phase base_backup, copying, following, done or failed; bytes; LSNs; readable; error)',
    handler: (r) => {
      const { tenant, t } = timelineOf(r);
      return { status: 200, json: timelineJson(t, tenant.id, r.ctx.imports) };
    },
  },
  {
    method: 'DELETE',
    path: '/v1/tenant/{tenant_id}/timeline/{timeline_id}',
    scope: 'tenant',
    summary: 'Delete a timeline that has no branches (it stops following; the slot an import from a primary made there is dropped)',
    handler: async (r) => {
      const { tenant, t } = timelineOf(r);
      // One with branches stays as it is, following included: deleteTimeline refuses it.
      const slot = tenant.list().some((c) => c.ancestor === t) ? undefined : await r.ctx.imports.release(tenant.id, t.id);
      await tenant.deleteTimeline(t.id);
      return { status: 200, json: { timeline_id: t.id, deleted: true, ...(slot !== undefined ? { slot } : {}) } };
    },
  },
  {
    method: 'GET',
    path: '/v1/tenant/{tenant_id}/timeline/{timeline_id}/get_lsn_by_timestamp',
    scope: 'tenant',
    summary: 'The newest LSN the timeline had reached at or before a time',
    query: { timestamp: { type: 'string', description: 'ISO 8601' } },
    handler: (r) => {
      const { t } = timelineOf(r);
      const ts = r.query.get('timestamp');
      if (ts === null) throw bad('Cannot find an LSN by timestamp: the query parameter timestamp is missing');
      const found = lsnByTimestamp(t, timestampParam('timestamp', ts));
      return { status: 200, json: { lsn: formatLsn(found.lsn), kind: found.kind } };
    },
  },
  {
    method: 'GET',
    path: '/v1/tenant/{tenant_id}/timeline/{timeline_id}/wait_lsn',
    scope: 'tenant',
    summary: 'Wait until WAL up to an LSN is ingested (408 after the timeout)',
    query: { lsn: { type: 'string', description: 'X/X' }, timeout_ms: { type: 'integer', description: `default 30000, at most ${WAIT_LSN_TIMEOUT_MS_MAX}` } },
    handler: async (r) => {
      const { tenant, t } = timelineOf(r);
      const lsn = lsnParam('lsn', r.query.get('lsn') ?? undefined);
      await t.waitForLsn(lsn, intQuery(r.query, 'timeout_ms', tenant.config.waitLsnTimeoutMs, WAIT_LSN_TIMEOUT_MS_MAX));
      return { status: 200, json: { lsn: formatLsn(lsn), last_record_lsn: formatLsn(t.lastRecordLsn) } };
    },
  },
  {
    method: 'PUT',
    path: '/v1/tenant/{tenant_id}/timeline/{timeline_id}/checkpoint',
    scope: 'tenant',
    summary: 'Flush every in-memory layer to layer files',
    handler: async (r) => {
      const { t } = timelineOf(r);
      await t.flush();
      return { status: 200, json: timelineJson(t, r.params['tenant_id'] as string) };
    },
  },
  {
    method: 'PUT',
    path: '/v1/tenant/{tenant_id}/timeline/{timeline_id}/compact',
    scope: 'tenant',
    summary: 'Run compaction now (force=true: even below the L0 threshold)',
    query: { force: { type: 'boolean', description: 'compact whatever L0 layers there are' } },
    handler: async (r) => ({ status: 200, json: await compact(timelineOf(r).t, { force: r.query.get('force') === 'true' }) }),
  },
  { method: 'PUT', path: '/v1/tenant/{tenant_id}/timeline/{timeline_id}/do_gc', scope: 'tenant', summary: 'Run GC now', handler: async (r) => ({ status: 200, json: await gc(timelineOf(r).t) }) },
  {
    method: 'GET',
    path: '/v1/tenant/{tenant_id}/timeline/{timeline_id}/basebackup',
    scope: 'tenant',
    summary: 'A tar of the data directory at an LSN (default: the last record LSN) that stock PostgreSQL 15 starts from; header X-Strata-Lsn says which',
    query: { lsn: { type: 'string', description: 'X/X (default: the last record LSN)' }, gzip: { type: 'boolean', description: 'a .tar.gz' } },
    handler: async (r) => {
      const { t } = timelineOf(r);
      const asked = r.query.get('lsn');
      const lsn = asked === null ? t.lastRecordLsn : lsnParam('lsn', asked);
      const gzip = r.query.get('gzip') === 'true';
      // Fail before the headers go out when the LSN cannot be served at all.
      if (lsn < t.gcCutoff) throw new RepositoryError('BELOW_GC_HORIZON', `Cannot make a base backup of timeline ${t.id} at ${formatLsn(lsn)}: it is below the GC cutoff ${formatLsn(t.gcCutoff)}`);
      return {
        status: 200,
        stream: {
          contentType: gzip ? 'application/gzip' : 'application/x-tar',
          headers: { 'X-Strata-Lsn': formatLsn(lsn) },
          run: async (write) => {
            await writeBaseBackup(t, lsn, write, { gzip });
          },
        },
      };
    },
  },
  {
    method: 'PUT',
    path: '/v1/tenant/{tenant_id}/timeline/{timeline_id}/follow',
    scope: 'tenant',
    summary: "Follow a server's WAL into the timeline over physical replication (a compute started from this timeline's base backup, or a primary)",
    body: {
      host: { type: 'string', description: 'the server to follow' },
      port: { type: 'integer', description: 'its port' },
      user: { type: 'string', description: 'a role with REPLICATION' },
      password: { type: 'string', description: 'its password, if it needs one' },
      slot: { type: 'string', description: 'the physical replication slot strata uses there (made if missing)' },
    },
    handler: async (r) => {
      const { tenant, t } = timelineOf(r);
      const b = checkedBody(r.body, ROUTE_BODIES.follow);
      const host = optionalString(b, 'host');
      const user = optionalString(b, 'user');
      const slot = optionalString(b, 'slot');
      const port = b['port'];
      if (host === undefined || user === undefined || slot === undefined || typeof port !== 'number') throw bad('Cannot follow: the body needs host, port, user and slot');
      const password = optionalString(b, 'password');
      return { status: 200, json: await r.ctx.follow(tenant.id, t, { host, port, user, slot, ...(password !== undefined ? { password } : {}) }) };
    },
  },
  {
    method: 'DELETE',
    path: '/v1/tenant/{tenant_id}/timeline/{timeline_id}/follow',
    scope: 'tenant',
    summary: 'Stop following (after WAL up to wait_lsn is ingested, if given)',
    query: { wait_lsn: { type: 'string', description: 'X/X' } },
    handler: async (r) => {
      const { tenant, t } = timelineOf(r);
      const w = r.query.get('wait_lsn');
      return { status: 200, json: await r.ctx.unfollow(tenant.id, t, w === null ? undefined : lsnParam('wait_lsn', w)) };
    },
  },
];

const ROUTE_BODIES = {
  get createTenant() {
    return (ROUTES.find((x) => x.method === 'POST' && x.path === '/v1/tenant') as Route).body as Record<string, FieldSpec>;
  },
  get follow() {
    return (ROUTES.find((x) => x.method === 'PUT' && x.path === '/v1/tenant/{tenant_id}/timeline/{timeline_id}/follow') as Route).body as Record<string, FieldSpec>;
  },
  get createTimeline() {
    return (ROUTES.find((x) => x.method === 'POST' && x.path === '/v1/tenant/{tenant_id}/timeline') as Route).body as Record<string, FieldSpec>;
  },
};

export type RouteMatch = { kind: 'route'; route: Route; params: Record<string, string> } | { kind: 'no-route' } | { kind: 'wrong-method'; allowed: string[] };

export function matchRoute(method: string, pathname: string): RouteMatch {
  const segs = pathname.split('/');
  const allowed: string[] = [];
  for (const route of ROUTES) {
    const rs = route.path.split('/');
    if (rs.length !== segs.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < rs.length && ok; i++) {
      const p = rs[i] as string;
      const s = segs[i] as string;
      if (p.startsWith('{')) {
        if (s === '') ok = false;
        else params[p.slice(1, -1)] = decodeURIComponent(s);
      } else if (p !== s) ok = false;
    }
    if (!ok) continue;
    if (route.method === method) return { kind: 'route', route, params };
    allowed.push(route.method);
  }
  return allowed.length > 0 ? { kind: 'wrong-method', allowed } : { kind: 'no-route' };
}

/** The OpenAPI 3.0 document of ROUTES. */
export function buildOpenApi(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const errorRef = { $ref: '#/components/schemas/Error' };
  for (const r of ROUTES) {
    const params = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9a-f]{32}$' } }));
    const query = Object.entries(r.query ?? {}).map(([name, f]) => ({ name, in: 'query', required: false, description: f.description, schema: { type: f.type } }));
    const op: Record<string, unknown> = {
      summary: r.summary,
      parameters: [...params, ...query],
      security: r.scope === 'public' ? [] : [{ bearerJwt: [] }],
      'x-strata-scope': r.scope,
      responses: {
        [r.method === 'POST' ? '201' : '200']: { description: 'OK', content: r.path === '/metrics' ? { 'text/plain': {} } : { 'application/json': {} } },
        ...(r.accepted !== undefined ? { '202': { description: `Accepted: ${r.accepted}`, content: { 'application/json': {} } } } : {}),
        '4XX': { description: 'A bad request: what was wrong', content: { 'application/json': { schema: errorRef } } },
        '5XX': { description: 'A server failure', content: { 'application/json': { schema: errorRef } } },
      },
    };
    if (r.body !== undefined) {
      op['requestBody'] = {
        required: false,
        content: { 'application/json': { schema: { type: 'object', additionalProperties: false, properties: Object.fromEntries(Object.entries(r.body).map(([k, f]) => [k, { type: f.type, description: f.description }])) } } },
      };
    }
    (paths[r.path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.0.3',
    info: { title: 'strata page server management API', version: '1' },
    paths,
    components: {
      securitySchemes: { bearerJwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (HS256 or EdDSA; claims scope "tenant" with tenant_id, or "admin")' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
        },
      },
    },
  };
}
