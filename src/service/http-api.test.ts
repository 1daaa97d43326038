/**
 * The HTTP management API over real HTTP: each endpoint, each kind of error (one test each: the
 * status and the JSON body's code and message), JWT off (the loopback default) and on, the OpenAPI
 * document against the routes that answer, and the metrics text checked line by line against the
 * exposition format. Timelines are imported from a real PostgreSQL 15 data directory and made by
 * initdb.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { formatLsn, parseLsn } from '../pg/lsn.js';
import { findFreePort, PgCluster } from '../testing/cluster.js';
import { signJwt } from './jwt.js';
import { ROUTES } from './routes.js';
import { isLoopback, StrataServer } from './server.js';

let cluster: PgCluster;
const roots: string[] = [];
let server: StrataServer;

function newRoot(): string {
  const r = mkdtempSync(join(tmpdir(), 'strata-http-'));
  roots.push(r);
  return r;
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** The body parsed as JSON (undefined when it is not JSON); read it with `at`. */
  readonly json: unknown;
}

/** One HTTP request; `body` is sent as JSON unless it is a Buffer (sent as is, with `contentType`). */
function call(srv: StrataServer, method: string, path: string, o: { body?: unknown; token?: string; contentType?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = o.body === undefined ? undefined : Buffer.isBuffer(o.body) ? o.body : Buffer.from(JSON.stringify(o.body));
    const headers: Record<string, string> = {};
    if (data !== undefined) {
      headers['Content-Type'] = o.contentType ?? 'application/json';
      headers['Content-Length'] = String(data.length);
    }
    if (o.token !== undefined) headers['Authorization'] = `Bearer ${o.token}`;
    const req = httpRequest({ host: '127.0.0.1', port: srv.httpApi.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** A field of parsed JSON by its path (undefined when absent): what the assertions compare. */
function at(v: unknown, ...path: string[]): unknown {
  let x = v;
  for (const k of path) x = typeof x === 'object' && x !== null ? (x as Record<string, unknown>)[k] : undefined;
  return x;
}

/** A string field of parsed JSON ('' when absent or not a string). */
function str(v: unknown, ...path: string[]): string {
  const x = at(v, ...path);
  return typeof x === 'string' ? x : '';
}

function assertError(r: Reply, status: number, code: string, message: RegExp): void {
  assert.equal(r.status, status, `status ${r.status}: ${r.text}`);
  assert.equal(at(r.json, 'error', 'code'), code, r.text);
  assert.match(str(r.json, 'error', 'message'), message);
}

before(async () => {
  cluster = await PgCluster.create({ name: 'http-api', start: false });
  server = await StrataServer.start({ root: newRoot(), pageServicePort: 0, httpPort: 0, redo: { mode: 'in-process' }, background: false });
});

after(async () => {
  await server?.stop(false);
  await cluster?.destroy();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

describe('HTTP API endpoints', { timeout: 300_000 }, () => {
  test('tenants: create, list, get, delete', async () => {
    const id = '1'.repeat(32);
    const created = await call(server, 'POST', '/v1/tenant', { body: { new_tenant_id: id, config: { gcHorizonBytes: 1 << 20 } } });
    assert.equal(created.status, 201, created.text);
    assert.equal(at(created.json, 'tenant_id'), id);
    assert.equal(at(created.json, 'config', 'gcHorizonBytes'), 1 << 20);
    const made = await call(server, 'POST', '/v1/tenant');
    assert.match(str(made.json, 'tenant_id'), /^[0-9a-f]{32}$/);
    const list = await call(server, 'GET', '/v1/tenant');
    assert.deepEqual((list.json as { tenant_id: string }[]).map((t) => t.tenant_id).sort(), [id, str(made.json, 'tenant_id')].sort());
    assert.equal(at((await call(server, 'GET', `/v1/tenant/${id}`)).json, 'timelines'), 0);
    assert.equal((await call(server, 'DELETE', `/v1/tenant/${at(made.json, 'tenant_id')}`)).status, 200);
    assertError(await call(server, 'GET', `/v1/tenant/${at(made.json, 'tenant_id')}`), 404, 'NOT_FOUND', /Cannot find tenant/);
  });

  test('timelines: empty, imported, initdb, branches at an LSN and a timestamp, a tree, get, delete', async () => {
    const tid = at((await call(server, 'POST', '/v1/tenant')).json, 'tenant_id') as string;
    const base = `/v1/tenant/${tid}/timeline`;
    const empty = await call(server, 'POST', base, { body: { start_lsn: '0/1000' } });
    assert.equal(empty.status, 201, empty.text);
    assert.equal(at(empty.json, 'last_record_lsn'), '0/1000');
    const imported = await call(server, 'POST', base, { body: { import_datadir: cluster.dataDir } });
    assert.equal(imported.status, 201, imported.text);
    const control = await cluster.controlData();
    assert.equal(at(imported.json, 'last_record_lsn'), control['Latest checkpoint location'], 'an imported timeline starts at the data directory\'s checkpoint');
    assert.equal(at(imported.json, 'disk_consistent_lsn'), at(imported.json, 'last_record_lsn'), 'the import is flushed');
    const initdb = await call(server, 'POST', base, { body: { initdb: true } });
    assert.equal(initdb.status, 201, initdb.text);
    assert.ok(parseLsn(str(initdb.json, 'last_record_lsn')) > 0n);
    const parent = at(imported.json, 'timeline_id') as string;
    const atLsn = await call(server, 'POST', base, { body: { ancestor_timeline_id: parent, ancestor_lsn: at(imported.json, 'last_record_lsn'), new_timeline_id: 'a'.repeat(32) } });
    assert.equal(atLsn.status, 201, atLsn.text);
    assert.equal(at(atLsn.json, 'ancestor_timeline_id'), parent);
    assert.equal(at(atLsn.json, 'ancestor_lsn'), at(imported.json, 'last_record_lsn'));
    const atTime = await call(server, 'POST', base, { body: { ancestor_timeline_id: parent, ancestor_timestamp: new Date().toISOString() } });
    assert.equal(atTime.status, 201, atTime.text);
    assert.equal(at(atTime.json, 'ancestor_lsn'), at(imported.json, 'last_record_lsn'), 'the newest sample at or before now');
    const grandchild = await call(server, 'POST', base, { body: { ancestor_timeline_id: at(atLsn.json, 'timeline_id') } });
    assert.equal(grandchild.status, 201);

    const tree = (await call(server, 'GET', `${base}?tree=true`)).json as { timeline_id: string; children: { timeline_id: string; branch_lsn: string; children: unknown[] }[] }[];
    const root = tree.find((t) => t.timeline_id === parent);
    assert.deepEqual(root?.children.map((c) => c.timeline_id).sort(), [at(atLsn.json, 'timeline_id'), at(atTime.json, 'timeline_id')].sort());
    assert.equal(root?.children[0]?.branch_lsn, at(imported.json, 'last_record_lsn'));
    assert.equal(root?.children.find((c) => c.timeline_id === at(atLsn.json, 'timeline_id'))?.children.length, 1);
    assert.equal(tree.length, 3, 'three roots: empty, imported, initdb');
    assert.equal(at((await call(server, 'GET', base)).json, 'length'), 6);
    assert.equal(at((await call(server, 'GET', `${base}/${parent}`)).json, 'timeline_id'), parent);
    assertError(await call(server, 'DELETE', `${base}/${parent}`), 400, 'BAD_REQUEST', /branch from it/);
    assert.equal((await call(server, 'DELETE', `${base}/${at(grandchild.json, 'timeline_id')}`)).status, 200);
    assertError(await call(server, 'GET', `${base}/${at(grandchild.json, 'timeline_id')}`), 404, 'NOT_FOUND', /Cannot find timeline/);
  });

  test('LSN by timestamp, wait for an LSN, checkpoint, compaction, GC', async () => {
    const tid = at((await call(server, 'POST', '/v1/tenant')).json, 'tenant_id') as string;
    const t = await call(server, 'POST', `/v1/tenant/${tid}/timeline`, { body: { import_datadir: cluster.dataDir } });
    const path = `/v1/tenant/${tid}/timeline/${at(t.json, 'timeline_id')}`;
    const now = await call(server, 'GET', `${path}/get_lsn_by_timestamp?timestamp=${encodeURIComponent(new Date(Date.now() + 1000).toISOString())}`);
    assert.deepEqual(now.json, { lsn: at(t.json, 'last_record_lsn'), kind: 'present' });
    const past = await call(server, 'GET', `${path}/get_lsn_by_timestamp?timestamp=2001-01-01T00:00:00Z`);
    assert.deepEqual(past.json, { lsn: at(t.json, 'last_record_lsn'), kind: 'past' });
    assertError(await call(server, 'POST', `/v1/tenant/${tid}/timeline`, { body: { ancestor_timeline_id: at(t.json, 'timeline_id'), ancestor_timestamp: '2001-01-01T00:00:00Z' } }), 400, 'BAD_REQUEST', /before the oldest sample/);
    const empty = await call(server, 'POST', `/v1/tenant/${tid}/timeline`, { body: {} });
    assertError(await call(server, 'GET', `/v1/tenant/${tid}/timeline/${at(empty.json, 'timeline_id')}/get_lsn_by_timestamp?timestamp=2001-01-01T00:00:00Z`), 404, 'NOT_FOUND', /no \(LSN, time\) samples/);

    const reached = await call(server, 'GET', `${path}/wait_lsn?lsn=${at(t.json, 'last_record_lsn')}`);
    assert.equal(reached.status, 200);
    const t0 = Date.now();
    const ahead = formatLsn(parseLsn(str(t.json, 'last_record_lsn')) + 8n);
    assertError(await call(server, 'GET', `${path}/wait_lsn?lsn=${ahead}&timeout_ms=150`), 408, 'LSN_TIMEOUT', /Timed out after 150 ms waiting for WAL up to/);
    assert.ok(Date.now() - t0 >= 140);

    const cp = await call(server, 'PUT', `${path}/checkpoint`);
    assert.equal(cp.status, 200);
    assert.equal(at(cp.json, 'disk_consistent_lsn'), at(t.json, 'last_record_lsn'));
    const compaction = await call(server, 'PUT', `${path}/compact?force=true`);
    assert.equal(compaction.status, 200, compaction.text);
    assert.equal(typeof compaction.json, 'object');
    const gc = await call(server, 'PUT', `${path}/do_gc`);
    assert.equal(gc.status, 200, gc.text);
    assert.equal(typeof at(gc.json, 'layersRemoved'), 'number');
  });

  test('status and the OpenAPI document: every documented operation is a route that answers', async () => {
    const status = await call(server, 'GET', '/v1/status');
    assert.equal(at(status.json, 'page_service_port'), server.pageService.port);
    const doc = (await call(server, 'GET', '/v1/openapi.json')).json as { openapi: string; paths: Record<string, Record<string, unknown>> };
    assert.equal(doc.openapi, '3.0.3');
    let operations = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        operations++;
        const concrete = path.replace(/\{[a-z_]+\}/g, '0'.repeat(32));
        const r = await call(server, method.toUpperCase(), concrete);
        assert.doesNotMatch(str(r.json, 'error', 'message'), /no such route/, `${method} ${path} is documented and routed`);
        assert.notEqual(r.status, 405, `${method} ${path}`);
      }
    }
    assert.equal(operations, ROUTES.length);
    const create = at(doc.paths, '/v1/tenant/{tenant_id}/timeline', 'post');
    assert.match(str(create, 'responses', '202', 'description'), /import_primary/, 'the 202 of a background import is documented');
    assert.equal(at(create, 'requestBody', 'content', 'application/json', 'schema', 'properties', 'import_primary', 'type'), 'string');
  });

  test('metrics: the text follows the exposition format, histograms are cumulative, and requests are counted', async () => {
    const text = (await call(server, 'GET', '/metrics')).text;
    const families = checkExposition(text);
    for (const name of ['strata_pagestream_request_seconds', 'strata_lsn_wait_seconds', 'strata_redo_seconds', 'strata_timeline_layers', 'strata_timeline_flush_lag_bytes', 'strata_http_requests_total'])
      assert.ok(families.has(name), `${name} is exported`);
    assert.match(text, /^strata_http_requests_total\{method="GET",route="\/v1\/status",status="200"\} [1-9]\d*$/m);
    assert.match(text, /^strata_timeline_layers\{tenant_id="[0-9a-f]{32}",timeline_id="[0-9a-f]{32}",kind="delta"\} \d+$/m);
  });
});

/** Parses Prometheus text format 0.0.4 strictly; returns the families and their types. */
function checkExposition(text: string): Map<string, string> {
  const types = new Map<string, string>();
  const buckets = new Map<string, number>();
  assert.ok(text.endsWith('\n'));
  for (const line of text.slice(0, -1).split('\n')) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type !== null) {
      assert.ok(!types.has(type[1] as string), `family ${type[1]} declared once`);
      types.set(type[1] as string, type[2] as string);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/.test(line)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? (-?[0-9.e+-]+|[+-]Inf|NaN)$/.exec(line);
    assert.ok(m !== null, `a sample line: ${JSON.stringify(line)}`);
    const name = m[1] as string;
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(family), `${name} has a TYPE line before it`);
    if (name.endsWith('_bucket')) {
      const labels = (m[2] ?? '').replace(/,?le="[^"]*"/, '').replace(/^\{,?/, '{').replace(/^\{\}$/, '');
      const key = family + labels;
      const v = Number(m[3]);
      assert.ok(v >= (buckets.get(key) ?? 0), `${key} buckets are cumulative`);
      buckets.set(key, v);
      if (line.includes('le="+Inf"')) buckets.set(`${key}+Inf`, v);
    } else if (name.endsWith('_count') && types.get(family) === 'histogram') {
      const key = family + (m[2] ?? '');
      assert.equal(Number(m[3]), buckets.get(`${key}+Inf`), `${key}: count equals the +Inf bucket`);
    }
  }
  return types;
}

describe('HTTP API imports as background jobs', { timeout: 300_000 }, () => {
  /** Polls GET of the timeline until `done` says so; returns every state seen. */
  async function poll(srv: StrataServer, path: string, done: (state: unknown) => boolean, timeoutMs = 120_000): Promise<unknown[]> {
    const seen: unknown[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await call(srv, 'GET', path);
      assert.equal(r.status, 200, r.text);
      seen.push(r.json);
      if (done(r.json)) return seen;
      assert.ok(Date.now() < deadline, `the import did not finish in ${timeoutMs} ms: ${r.text}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  test('import_primary: 202, base_backup with bytes against the estimate, then following; readable at the end LSN; WAL after it arrives; it survives a restart; an endpoint may not take it over', async () => {
    const primary = await PgCluster.create({ name: 'http-import' });
    const root = newRoot();
    let srv = await StrataServer.start({ root, pageServicePort: 0, httpPort: 0, redo: { mode: 'in-process' }, background: false });
    try {
      await primary.pgbench(['-i', '-s', '2', '-q']);
      const tid = at((await call(srv, 'POST', '/v1/tenant')).json, 'tenant_id') as string;
      // 4 MB/s: the ~30 MB backup takes seconds, long enough to see it go.
      const created = await call(srv, 'POST', `/v1/tenant/${tid}/timeline`, { body: { import_primary: `host=127.0.0.1 port=${primary.port} user=postgres password=unused`, max_rate_kb_per_s: 4096 } });
      assert.equal(created.status, 202, created.text);
      assert.equal(at(created.json, 'import', 'phase'), 'base_backup');
      assert.equal(at(created.json, 'import', 'source'), `host=127.0.0.1 port=${primary.port} user=postgres password=***`, 'the password is not shown');
      const tl = str(created.json, 'timeline_id');
      const path = `/v1/tenant/${tid}/timeline/${tl}`;
      const seen = await poll(srv, path, (s) => at(s, 'import', 'readable') === true || at(s, 'import', 'phase') === 'failed');
      const phases = [...new Set(seen.map((s) => at(s, 'import', 'phase')))];
      assert.deepEqual(phases, ['base_backup', 'following'], JSON.stringify(seen.at(-1)));
      const during = seen.filter((s) => at(s, 'import', 'phase') === 'base_backup').map((s) => [at(s, 'import', 'bytes_done'), at(s, 'import', 'bytes_total')] as [number, number | null]);
      assert.ok(during.some(([d, total]) => total !== null && d > 0 && d < total), `bytes went up during the backup: ${JSON.stringify(during)}`);
      const last = seen.at(-1);
      const total = at(last, 'import', 'bytes_total') as number;
      const done = at(last, 'import', 'bytes_done') as number;
      assert.ok(total > 20 << 20 && Math.abs(done - total) < total * 0.1, `${done} bytes sent against an estimate of ${total}`);
      const endLsn = parseLsn(str(last, 'import', 'end_lsn'));
      assert.ok(parseLsn(str(last, 'import', 'start_lsn')) <= endLsn);
      assert.ok(parseLsn(str(last, 'last_record_lsn')) >= endLsn, 'readable: WAL up to the end of the backup is in');
      assert.equal(at(last, 'import', 'slot'), `strata_${tl}`);
      assert.equal(at(last, 'import', 'error'), null);
      assert.equal(await primary.query(`SELECT active FROM pg_replication_slots WHERE slot_name = 'strata_${tl}'`), 't', 'strata streams through its slot');

      // WAL written after the backup arrives.
      await primary.query('CREATE TABLE after_import AS SELECT g FROM generate_series(1, 1000) g');
      const lsn = await primary.query('SELECT pg_current_wal_insert_lsn()');
      assert.equal((await call(srv, 'GET', `${path}/wait_lsn?lsn=${lsn}&timeout_ms=60000`)).status, 200);

      // An endpoint cannot take over a timeline that follows its primary.
      assertError(await call(srv, 'PUT', `${path}/follow`, { body: { host: '127.0.0.1', port: 1, user: 'postgres', slot: 'x' } }), 409, 'CONFLICT', /follows the primary 127\.0\.0\.1:\d+ it was imported from; branch it/);

      // A restart: the job's state is back, and the follower with it.
      await srv.stop(true);
      srv = await StrataServer.start({ root, pageServicePort: 0, httpPort: 0, redo: { mode: 'in-process' }, background: false });
      await primary.query('INSERT INTO after_import SELECT g FROM generate_series(1, 1000) g');
      const lsn2 = await primary.query('SELECT pg_current_wal_insert_lsn()');
      assert.equal((await call(srv, 'GET', `${path}/wait_lsn?lsn=${lsn2}&timeout_ms=60000`)).status, 200, 'following resumed after the restart');
      const again = await call(srv, 'GET', path);
      assert.equal(at(again.json, 'import', 'phase'), 'following');
      assert.equal(at(again.json, 'import', 'following'), `127.0.0.1:${primary.port}`);
      assert.equal(at(again.json, 'import', 'readable'), true);

      // Deleted: it stops following, and the slot the import made on the primary goes with it.
      const deleted = await call(srv, 'DELETE', path);
      assert.equal(deleted.status, 200, deleted.text);
      assert.match(str(deleted.json, 'slot'), new RegExp(`the slot "strata_${tl}" it created on 127\\.0\\.0\\.1:\\d+ was dropped`));
      assert.equal(await primary.query(`SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'strata_${tl}'`), '0');
    } finally {
      await srv.stop(false);
      await primary.destroy();
    }
  });

  test('import_primary failures: nothing listening, and a restart during the base backup: phase failed with one clear error; the slot is dropped', async () => {
    const primary = await PgCluster.create({ name: 'http-import-fail' });
    const root = newRoot();
    let srv = await StrataServer.start({ root, pageServicePort: 0, httpPort: 0, redo: { mode: 'in-process' }, background: false });
    try {
      const tid = at((await call(srv, 'POST', '/v1/tenant')).json, 'tenant_id') as string;
      const port = await findFreePort();
      const refused = await call(srv, 'POST', `/v1/tenant/${tid}/timeline`, { body: { import_primary: `postgresql://postgres@127.0.0.1:${port}/postgres` } });
      assert.equal(refused.status, 202, refused.text);
      const seen = await poll(srv, `/v1/tenant/${tid}/timeline/${str(refused.json, 'timeline_id')}`, (s) => at(s, 'import', 'phase') === 'failed', 30_000);
      const error = at(seen.at(-1), 'import', 'error');
      assert.equal(at(error, 'code'), 'CONNECT_FAILED');
      assert.match(str(error, 'message'), new RegExp(`Cannot connect to 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*; check that PostgreSQL runs at that host and port`));
      assert.doesNotMatch(str(error, 'message'), /\n/, 'one line');

      // A role without REPLICATION: the primary's refusal, and what to do about it.
      await primary.query('CREATE ROLE nobody LOGIN');
      const role = await call(srv, 'POST', `/v1/tenant/${tid}/timeline`, { body: { import_primary: `host=127.0.0.1 port=${primary.port} user=nobody` } });
      const roleSeen = await poll(srv, `/v1/tenant/${tid}/timeline/${str(role.json, 'timeline_id')}`, (s) => at(s, 'import', 'phase') === 'failed', 30_000);
      assert.match(str(roleSeen.at(-1), 'import', 'error', 'message'), /must be superuser or replication role to start walsender.*; connect as a role with REPLICATION \(ALTER ROLE <user> REPLICATION\)$/);

      // A server stopped in the middle of a base backup (32 kB/s: it cannot finish first).
      await primary.pgbench(['-i', '-s', '1', '-q']);
      const slow = await call(srv, 'POST', `/v1/tenant/${tid}/timeline`, { body: { import_primary: `host=127.0.0.1 port=${primary.port}`, max_rate_kb_per_s: 32, slot: 'strata_slow' } });
      assert.equal(slow.status, 202, slow.text);
      const slowPath = `/v1/tenant/${tid}/timeline/${str(slow.json, 'timeline_id')}`;
      await poll(srv, slowPath, (s) => Number(at(s, 'import', 'bytes_done')) > 0 || at(s, 'import', 'phase') !== 'base_backup', 30_000);
      assert.equal(await primary.query("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'strata_slow'"), '1');
      await srv.stop(false);
      srv = await StrataServer.start({ root, pageServicePort: 0, httpPort: 0, redo: { mode: 'in-process' }, background: false });
      const after = await call(srv, 'GET', slowPath);
      assert.equal(at(after.json, 'import', 'phase'), 'failed', after.text);
      assert.equal(at(after.json, 'import', 'error', 'code'), 'INTERRUPTED');
      assert.match(str(after.json, 'import', 'error', 'message'), /stopped with the page server; the slot "strata_slow" it created on 127\.0\.0\.1:\d+ (was dropped|is gone); delete the timeline and import again/);
      assert.equal(at(after.json, 'last_record_lsn'), '0/0', 'nothing of it is in the timeline');
      assert.equal(await primary.query("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'strata_slow'"), '0');
    } finally {
      await srv.stop(false);
      await primary.destroy();
    }
  });

  test("import_datadir with background: 202, copying with bytes against the folder's size, then done", async () => {
    const tid = at((await call(server, 'POST', '/v1/tenant')).json, 'tenant_id') as string;
    const created = await call(server, 'POST', `/v1/tenant/${tid}/timeline`, { body: { import_datadir: cluster.dataDir, background: true } });
    assert.equal(created.status, 202, created.text);
    assert.equal(at(created.json, 'import', 'phase'), 'copying');
    const seen = await poll(server, `/v1/tenant/${tid}/timeline/${str(created.json, 'timeline_id')}`, (s) => at(s, 'import', 'phase') !== 'copying');
    const last = seen.at(-1);
    assert.equal(at(last, 'import', 'phase'), 'done', JSON.stringify(last));
    assert.equal(at(last, 'import', 'readable'), true);
    assert.ok(Number(at(last, 'import', 'bytes_total')) > 1 << 20);
    assert.equal(at(last, 'import', 'bytes_done'), at(last, 'import', 'bytes_total'));
    const control = await cluster.controlData();
    assert.equal(at(last, 'last_record_lsn'), control['Latest checkpoint location']);
    assert.equal(at(last, 'import', 'start_lsn'), control['Latest checkpoint location']);
  });
});

describe('HTTP API errors: each kind is a 4xx with a JSON body that says what was wrong', { timeout: 120_000 }, () => {
  test('404 for an unknown route, tenant and timeline', async () => {
    assertError(await call(server, 'GET', '/v1/nothing'), 404, 'NOT_FOUND', /no such route/);
    assertError(await call(server, 'GET', `/v1/tenant/${'e'.repeat(32)}`), 404, 'NOT_FOUND', /Cannot find tenant e{32}/);
    const tid = at((await call(server, 'POST', '/v1/tenant')).json, 'tenant_id') as string;
    assertError(await call(server, 'GET', `/v1/tenant/${tid}/timeline/${'e'.repeat(32)}`), 404, 'NOT_FOUND', /Cannot find timeline e{32}/);
  });

  test('405 with Allow', async () => {
    const r = await call(server, 'PATCH', '/v1/tenant');
    assertError(r, 405, 'METHOD_NOT_ALLOWED', /it takes GET, POST/);
    assert.equal(r.headers['allow'], 'GET, POST');
  });

  test('400 for bad ids, LSNs, timestamps, JSON, fields and parameters', async () => {
    const tid = at((await call(server, 'POST', '/v1/tenant')).json, 'tenant_id') as string;
    const tl = at((await call(server, 'POST', `/v1/tenant/${tid}/timeline`, { body: { start_lsn: '0/100' } })).json, 'timeline_id') as string;
    const cases: [string, string, unknown, RegExp][] = [
      ['GET', '/v1/tenant/XYZ', undefined, /an id is 32 lowercase hex digits/],
      ['POST', '/v1/tenant', { new_tenant_id: 'short' }, /an id is 32 lowercase hex digits/],
      ['POST', '/v1/tenant', { colour: 'red' }, /unknown field "colour"/],
      ['POST', '/v1/tenant', { new_tenant_id: 7 }, /expected string, received 7/],
      ['POST', '/v1/tenant', { config: { bogus: 1 } }, /tenant config field "bogus"/],
      ['POST', '/v1/tenant', [1, 2], /must be a JSON object/],
      ['POST', `/v1/tenant/${tid}/timeline`, { start_lsn: 'zz' }, /Cannot read start_lsn/],
      ['POST', `/v1/tenant/${tid}/timeline`, { ancestor_lsn: '0/1' }, /without ancestor_timeline_id/],
      ['POST', `/v1/tenant/${tid}/timeline`, { ancestor_timeline_id: tl, ancestor_lsn: '1/0' }, /it has WAL only up to 0\/100/],
      ['POST', `/v1/tenant/${tid}/timeline`, { ancestor_timeline_id: tl, ancestor_timestamp: 'yesterday' }, /ISO 8601/],
      ['POST', `/v1/tenant/${tid}/timeline`, { import_datadir: 'relative/path' }, /absolute path/],
      ['POST', `/v1/tenant/${tid}/timeline`, { import_datadir: '/nonexistent-strata' }, /it is not a folder/],
      ['POST', `/v1/tenant/${tid}/timeline`, { import_datadir: tmpdir() }, /not a PostgreSQL data directory/],
      ['POST', `/v1/tenant/${tid}/timeline`, { initdb: true, import_datadir: '/x' }, /at most one of/],
      ['POST', `/v1/tenant/${tid}/timeline`, { import_primary: 'host=h', import_datadir: '/x' }, /at most one of/],
      ['POST', `/v1/tenant/${tid}/timeline`, { import_primary: 'host=/var/run/postgresql' }, /Unix-domain socket; strata connects over TCP/],
      ['POST', `/v1/tenant/${tid}/timeline`, { import_primary: 'host=h port=0' }, /port must be a number from 1 to 65535/],
      ['POST', `/v1/tenant/${tid}/timeline`, { import_primary: 'host=h', slot: 'Bad-Slot' }, /replication slot name "Bad-Slot"/],
      ['POST', `/v1/tenant/${tid}/timeline`, { import_primary: 'host=h', max_rate_kb_per_s: 5 }, /max_rate_kb_per_s 5: it must be from 32/],
      ['POST', `/v1/tenant/${tid}/timeline`, { import_primary: 'host=h', background: false }, /always a background job/],
      ['POST', `/v1/tenant/${tid}/timeline`, { slot: 'x' }, /without import_primary/],
      ['GET', `/v1/tenant/${tid}/timeline/${tl}/wait_lsn`, undefined, /Cannot read lsn/],
      ['GET', `/v1/tenant/${tid}/timeline/${tl}/wait_lsn?lsn=0/1&timeout_ms=-4`, undefined, /timeout_ms: expected an integer/],
      ['GET', `/v1/tenant/${tid}/timeline/${tl}/get_lsn_by_timestamp`, undefined, /timestamp is missing/],
      ['GET', `/v1/tenant/${tid}/timeline?tree=maybe`, undefined, /expected true or false/],
      ['GET', '/v1/status', { x: 1 }, /Cannot take a body on this route/],
      ['PUT', `/v1/tenant/${tid}/timeline/${tl}/checkpoint`, { x: 1 }, /Cannot take a body on this route/],
    ];
    for (const [method, path, body, re] of cases) assertError(await call(server, method, path, body === undefined ? {} : { body }), 400, 'BAD_REQUEST', re);
    const notJson = await call(server, 'POST', '/v1/tenant', { body: Buffer.from('{"a":') });
    assertError(notJson, 400, 'BAD_REQUEST', /Cannot parse the body as JSON/);
    assertError(await call(server, 'POST', '/v1/tenant', { body: Buffer.from('{}'), contentType: 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE', /send application\/json/);
  });

  test('409 for a tenant or timeline that exists; 410 below the GC horizon', async () => {
    const tid = at((await call(server, 'POST', '/v1/tenant')).json, 'tenant_id') as string;
    assertError(await call(server, 'POST', '/v1/tenant', { body: { new_tenant_id: tid } }), 409, 'ALREADY_EXISTS', /it exists/);
    const t = await call(server, 'POST', `/v1/tenant/${tid}/timeline`, { body: { start_lsn: '0/100' } });
    assertError(await call(server, 'POST', `/v1/tenant/${tid}/timeline`, { body: { new_timeline_id: at(t.json, 'timeline_id') } }), 409, 'ALREADY_EXISTS', /it exists/);
    const timeline = server.repository.timeline(tid, str(t.json, 'timeline_id'));
    timeline.advance(0x2000n as never);
    timeline.setGcCutoff(0x1000);
    assertError(await call(server, 'POST', `/v1/tenant/${tid}/timeline`, { body: { ancestor_timeline_id: at(t.json, 'timeline_id'), ancestor_lsn: '0/800' } }), 410, 'BELOW_GC_HORIZON', /below the GC cutoff 0\/1000/);
  });

  test('413 for a body over the limit', async () => {
    const big = Buffer.alloc((1 << 20) + 10, 0x20);
    assertError(await call(server, 'POST', '/v1/tenant', { body: big }), 413, 'PAYLOAD_TOO_LARGE', /limit is 1048576/);
  });

  test('400 for a malformed HTTP request, and the server goes on', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const s = connect(server.httpApi.port, '127.0.0.1', () => s.write('GARBAGE / HTTP/9\r\n\r\n'));
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', reject);
    });
    assert.match(reply, /^HTTP\/1\.1 400 Bad Request/);
    assert.equal((await call(server, 'GET', '/v1/status')).status, 200);
  });
});

describe('HTTP API with JWT', { timeout: 120_000 }, () => {
  test('off on loopback by default; on with a key: 401 without or with a bad token, 403 outside a tenant token\'s scope', async () => {
    assert.ok(isLoopback('127.0.0.1') && isLoopback('::1') && !isLoopback('0.0.0.0'));
    await assert.rejects(StrataServer.start({ root: newRoot(), host: '0.0.0.0', pageServicePort: 0, httpPort: 0, redo: { mode: 'in-process' } }), /without authentication/);
    const secret = Buffer.from('0123456789abcdef0123456789abcdef');
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const s = await StrataServer.start({ root: newRoot(), pageServicePort: 0, httpPort: 0, redo: { mode: 'in-process' }, background: false, jwt: { hs256Secret: secret, ed25519PublicKeys: [publicKey] } });
    try {
      const admin = signJwt({ scope: 'admin' }, { ed25519PrivateKey: privateKey });
      assertError(await call(s, 'GET', '/v1/tenant'), 401, 'UNAUTHORIZED', /no Authorization header/);
      assertError(await call(s, 'GET', '/v1/tenant', { token: signJwt({ scope: 'admin' }, { hs256Secret: Buffer.from('nope') }) }), 401, 'UNAUTHORIZED', /signature does not verify/);
      assertError(await call(s, 'GET', '/v1/tenant', { token: signJwt({ scope: 'root' }, { hs256Secret: secret }) }), 401, 'UNAUTHORIZED', /scope "root"/);
      const tid = at((await call(s, 'POST', '/v1/tenant', { token: admin })).json, 'tenant_id') as string;
      const other = at((await call(s, 'POST', '/v1/tenant', { token: admin })).json, 'tenant_id') as string;
      const mine = signJwt({ scope: 'tenant', tenant_id: tid }, { hs256Secret: secret });
      assert.equal((await call(s, 'GET', `/v1/tenant/${tid}`, { token: mine })).status, 200);
      assert.equal((await call(s, 'POST', `/v1/tenant/${tid}/timeline`, { token: mine, body: {} })).status, 201);
      assertError(await call(s, 'GET', `/v1/tenant/${other}`, { token: mine }), 403, 'FORBIDDEN', new RegExp(`Cannot use tenant ${other} with a token for tenant ${tid}`));
      assertError(await call(s, 'GET', '/v1/tenant', { token: mine }), 403, 'FORBIDDEN', /needs an admin token/);
      assertError(await call(s, 'DELETE', `/v1/tenant/${tid}`, { token: mine }), 403, 'FORBIDDEN', /needs an admin token/);
      assert.equal((await call(s, 'GET', '/metrics')).status, 200, '/metrics is public');
      assert.equal((await call(s, 'GET', '/v1/status')).status, 200, '/v1/status is public');
    } finally {
      await s.stop(false);
    }
  });
});
