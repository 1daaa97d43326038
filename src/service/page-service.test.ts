/**
 * The page service against a timeline filled from a real PostgreSQL 15 (import, pgbench and
 * multixact workloads, stop, ingest), served by a StrataServer with its default worker-process redo:
 * every pagestream request type, pipelined and batched, equals what `timeline.get` and DatadirReader
 * say; malformed messages, unknown tenants and timelines, LSN rules and timeouts, and failed
 * authentication are each a clear error, and after each one a second connection is still served.
 * psql, a standard client, connects and gets a clear error for an unknown command.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readWal } from '../cli/wal-files.js';
import { importDataDirectory } from '../ingest/import-datadir.js';
import { WalIngest } from '../ingest/walingest.js';
import { BLCKSZ } from '../pg/constants.js';
import { formatLsn, MAX_LSN, parseLsn, type Lsn } from '../pg/lsn.js';
import type { Oid, RelFileNode } from '../pg/types.js';
import { InProcessRedoEngine } from '../redo/engine.js';
import { DatadirReader } from '../repository/datadir.js';
import { relBlockKey, Slru } from '../repository/key.js';
import { RedoReconstructor } from '../repository/redo-reconstructor.js';
import { Repository } from '../repository/repository.js';
import type { Timeline } from '../repository/timeline.js';
import { PgCluster, pgBin, run } from '../testing/cluster.js';
import { PagestreamClient, ServerError } from '../testing/pagestream-client.js';
import { runAllWorkloads } from '../testing/workloads.js';
import type { WalRecord } from '../wal/record.js';
import { JwtVerifier, signJwt } from './jwt.js';
import { PageService } from './page-service.js';
import { NeonSlruKind, type DecodedPagestreamResponse, type PagestreamRequest } from './pagestream.js';
import { copyDataMessage } from './pgwire.js';
import { scramSecret } from './scram.js';
import { StrataServer } from './server.js';

const WAIT_MS = 400;

let cluster: PgCluster;
let root: string;
let server: StrataServer;
let tenantId: string;
let timelineId: string;
let midLsn: Lsn;
let accounts: RelFileNode;
let accountsBlocks: number;
let dbNode: number;

function timeline(): Timeline {
  return server.repository.timeline(tenantId, timelineId);
}

let nextReqId = 1n;
function hdr(requestLsn: Lsn = MAX_LSN, notModifiedSince: Lsn = timeline().lastRecordLsn) {
  return { reqid: nextReqId++, requestLsn, notModifiedSince };
}

const rel = (r: RelFileNode, fork = 0) => ({ spcNode: r.spcNode, dbNode: r.dbNode, relNode: r.relNode, forkNum: fork });
const getpage = (r: RelFileNode, blkno: number, h = hdr()): PagestreamRequest => ({ kind: 'getpage', hdr: h, rel: rel(r), blkno });

async function stream(): Promise<PagestreamClient> {
  const c = await PagestreamClient.connect(server.pageService.port);
  await c.startPagestream(tenantId, timelineId);
  return c;
}

async function expectResponse<K extends DecodedPagestreamResponse['kind']>(c: PagestreamClient, kind: K): Promise<DecodedPagestreamResponse & { kind: K }> {
  const r = await c.next();
  assert.equal(r.kind, kind, `expected a ${kind} response, received ${JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v instanceof Uint8Array ? `<${v.length} bytes>` : v))}`);
  return r as DecodedPagestreamResponse & { kind: K };
}

/** A fresh connection is served: the service goes on after whatever the test did to another one. */
async function assertServing(): Promise<void> {
  const c = await stream();
  try {
    const blk = Math.floor(accountsBlocks / 2);
    c.send(getpage(accounts, blk));
    const r = await expectResponse(c, 'getpage');
    assert.ok(Buffer.from(r.page).equals(Buffer.from(await timeline().get(relBlockKey(accounts, 0, blk), timeline().lastRecordLsn))), 'a second connection gets the right page');
  } finally {
    c.close();
  }
}

before(async () => {
  cluster = await PgCluster.create({ name: 'pageservice', start: false });
  root = mkdtempSync(join(tmpdir(), 'strata-pageservice-'));
  const engine = new InProcessRedoEngine();
  const repo = Repository.open(root, { reconstructorFor: (id) => new RedoReconstructor(engine, id, () => ({ hintBitsLogged: false })) });
  const tenant = repo.createTenant(undefined, { compactionPeriodMs: 0, gcPeriodMs: 0, checkpointDistanceBytes: 4 << 20 });
  const t = tenant.createTimeline();
  tenantId = tenant.id;
  timelineId = t.id;
  const imported = importDataDirectory(t, cluster.dataDir);
  await cluster.start();
  await cluster.pgbench(['-i', '-s', '1', '-q']);
  midLsn = parseLsn(await cluster.currentLsn());
  await runAllWorkloads(cluster, { scale: 0.1, only: ['multixacts', 'update_delete_vacuum'] });
  await cluster.pgbench(['-c', '2', '-t', '200', '-n']);
  dbNode = Number(await cluster.query("SELECT oid FROM pg_database WHERE datname = 'postgres'"));
  const relNode = Number(await cluster.query("SELECT relfilenode FROM pg_class WHERE relname = 'pgbench_accounts'"));
  accounts = { spcNode: 1663 as Oid, dbNode: dbNode as Oid, relNode: relNode as Oid };
  await cluster.checkpoint();
  await cluster.stop('fast');
  const records: WalRecord[] = [];
  readWal({ dir: cluster.walDir, start: imported.lsn, timeline: 1, segmentSize: cluster.walSegSizeBytes }, (r) => {
    records.push(r);
    return true;
  });
  const ingest = await WalIngest.open(t);
  for (const r of records) await ingest.ingest(r);
  await repo.close(true);
  await engine.close();
  // The server opens what ingest left, with its default redo: a worker process per tenant.
  server = await StrataServer.start({ root, pageServicePort: 0, httpPort: 0, waitLsnTimeoutMs: WAIT_MS, background: false });
  accountsBlocks = await new DatadirReader(timeline()).relSize(accounts, 0, timeline().lastRecordLsn);
  assert.ok(accountsBlocks > 1000, `pgbench_accounts has ${accountsBlocks} blocks`);
  assert.ok(midLsn < timeline().lastRecordLsn);
});

after(async () => {
  await server?.stop(false);
  await cluster?.destroy();
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

describe('page service: answers equal the repository\'s', { timeout: 300_000 }, () => {
  test('GetPage of every block of pgbench_accounts, 100 requests in flight, at the latest LSN and at a past one', async () => {
    const c = await stream();
    try {
      const t = timeline();
      const reader = new DatadirReader(t);
      for (const at of [t.lastRecordLsn, midLsn]) {
        const blocks = at === t.lastRecordLsn ? accountsBlocks : await reader.relSize(accounts, 0, at);
        for (let start = 0; start < blocks; start += 100) {
          const n = Math.min(100, blocks - start);
          const reqs = Array.from({ length: n }, (_, i) => getpage(accounts, start + i, at === t.lastRecordLsn ? hdr() : hdr(at, at)));
          c.sendMany(reqs);
          for (const req of reqs) {
            const r = await expectResponse(c, 'getpage');
            assert.equal(r.hdr.reqid, req.hdr.reqid, 'answers come in request order');
            assert.equal(r.blkno, (req as { blkno: number }).blkno);
            const want = await t.get(relBlockKey(accounts, 0, r.blkno), at);
            assert.ok(Buffer.from(r.page).equals(Buffer.from(want)), `block ${r.blkno} at ${formatLsn(at)} differs`);
          }
        }
      }
    } finally {
      c.close();
    }
  });

  test('Exists, Nblocks, DbSize and GetSlruSegment equal DatadirReader; a block past the end is a zero page', async () => {
    const c = await stream();
    try {
      const t = timeline();
      const at = t.lastRecordLsn;
      const reader = new DatadirReader(t);
      const rels = await reader.relations(1663, dbNode, at);
      assert.ok(rels.length > 50);
      for (const r of rels) {
        const rn: RelFileNode = { spcNode: 1663 as Oid, dbNode: dbNode as Oid, relNode: r.relNode as Oid };
        c.sendMany([
          { kind: 'exists', hdr: hdr(), rel: rel(rn, r.fork) },
          { kind: 'nblocks', hdr: hdr(), rel: rel(rn, r.fork) },
        ]);
        assert.equal((await expectResponse(c, 'exists')).exists, true);
        assert.equal((await expectResponse(c, 'nblocks')).nblocks, await reader.relSize(rn, r.fork, at));
      }
      const missing: RelFileNode = { ...accounts, relNode: 999_999 as Oid };
      c.sendMany([
        { kind: 'exists', hdr: hdr(), rel: rel(missing) },
        { kind: 'exists', hdr: hdr(), rel: { ...rel(accounts), dbNode: 4_000_000 } },
        { kind: 'nblocks', hdr: hdr(), rel: rel(missing, 1) },
        { kind: 'nblocks', hdr: hdr(), rel: rel(missing, 0) },
        getpage(accounts, accountsBlocks + 10),
        getpage(missing, 0),
        { kind: 'dbsize', hdr: hdr(), dbNode },
        { kind: 'dbsize', hdr: hdr(midLsn, midLsn), dbNode },
      ]);
      assert.equal((await expectResponse(c, 'exists')).exists, false, 'a relation that does not exist');
      assert.equal((await expectResponse(c, 'exists')).exists, false, 'a database that does not exist');
      assert.equal((await expectResponse(c, 'nblocks')).nblocks, 0, 'a missing FSM fork has 0 blocks (Neon)');
      assert.match((await expectResponse(c, 'error')).message, /^Not found: relation 1663\/\d+\/999999 fork 0 does not exist/);
      const past = await expectResponse(c, 'getpage');
      assert.ok(past.page.equals(Buffer.alloc(BLCKSZ)), 'a block past the end is a zero page');
      assert.match((await expectResponse(c, 'error')).message, /^Not found: /);
      assert.equal((await expectResponse(c, 'dbsize')).dbSize, BigInt(await reader.databaseSize(1663, dbNode, at)));
      const mid = await expectResponse(c, 'dbsize');
      assert.equal(mid.dbSize, BigInt(await reader.databaseSize(1663, dbNode, midLsn)));

      let slruChecked = 0;
      for (const [kind, slru] of [[NeonSlruKind.Clog, Slru.Clog], [NeonSlruKind.MultiXactMembers, Slru.MultiXactMembers], [NeonSlruKind.MultiXactOffsets, Slru.MultiXactOffsets]] as const) {
        for (const segno of await reader.slruSegments(slru, at)) {
          c.send({ kind: 'slru', hdr: hdr(), slruKind: kind, segno });
          const r = await expectResponse(c, 'slru');
          assert.equal(r.segno, segno);
          assert.ok(r.segment.length > 0 && r.segment.equals(Buffer.from(await reader.slruSegment(slru, segno, at))), `SLRU kind ${kind} segment ${segno}`);
          slruChecked++;
        }
      }
      assert.ok(slruChecked >= 3, `CLOG and both multixact SLRUs have segments (${slruChecked})`);
      c.sendMany([
        { kind: 'slru', hdr: hdr(), slruKind: 3, segno: 0 },
        { kind: 'slru', hdr: hdr(), slruKind: NeonSlruKind.Clog, segno: 0x7777 },
      ]);
      assert.match((await expectResponse(c, 'error')).message, /^Bad request: invalid SLRU kind 3/);
      assert.match((await expectResponse(c, 'error')).message, /^Not found: SLRU 0 segment 7777 does not exist/);
    } finally {
      c.close();
    }
    await assertServing();
  });

  test('pipelined requests are served in batches; one bad request fails alone', async () => {
    const c = await stream();
    try {
      const before = server.metrics.render();
      const reqs: PagestreamRequest[] = [];
      for (let i = 0; i < 100; i++) {
        if (i === 37) reqs.push(getpage(accounts, 0, hdr(5n as Lsn, 10n as Lsn)));
        else if (i % 10 === 3) reqs.push({ kind: 'nblocks', hdr: hdr(), rel: rel(accounts) });
        else reqs.push(getpage(accounts, (i * 7919) % accountsBlocks));
      }
      c.sendMany(reqs);
      for (const [i, req] of reqs.entries()) {
        const r = await c.next();
        assert.ok('hdr' in r);
        assert.equal(r.hdr.reqid, req.hdr.reqid, `answer ${i} is for request ${i}`);
        if (i === 37) assert.match((r as { message: string }).message, /^Bad request: invalid request with request LSN 0\/5 and not_modified_since 0\/A/);
        else assert.equal(r.kind, req.kind);
      }
      const batches = (text: string) => Number(/^strata_pagestream_batch_requests_count (\d+)$/m.exec(text)?.[1] ?? 0);
      const served = batches(server.metrics.render()) - batches(before);
      // Requests that arrive together start together: one write of 100 requests is a few socket reads, not 100 batches.
      assert.ok(served >= 1 && served <= 10, `100 requests sent in one write were served in ${served} batches`);
    } finally {
      c.close();
    }
    await assertServing();
  });
});

describe('page service: errors are clear and fail alone', { timeout: 120_000 }, () => {
  test('unknown tenants and timelines, bad commands: an ErrorResponse, and the session goes on', async () => {
    const c = await PagestreamClient.connect(server.pageService.port);
    try {
      const other = 'ab'.repeat(16);
      for (const [q, re] of [
        [`pagestream_v3 ${other} ${timelineId}`, /Cannot find tenant abab/],
        [`pagestream_v3 ${tenantId} ${other}`, /Cannot find timeline abab/],
        [`pagestream_v3 ${tenantId}`, /invalid number of parameters/],
        ['pagestream_v2 a b', /pagestream v3 only/],
        ['SELECT 1', /Unsupported command "SELECT"/],
      ] as const) {
        const r = await c.query(q);
        assert.equal(r.kind, 'error', q);
        assert.match((r as { fields: Map<string, string> }).fields.get('M') ?? '', re);
      }
      assert.deepEqual(await c.query('SET datestyle TO ISO'), { kind: 'complete', tag: 'SET' });
      await c.startPagestream(tenantId, timelineId);
      c.send(getpage(accounts, 1));
      await expectResponse(c, 'getpage');
    } finally {
      c.close();
    }
    await assertServing();
  });

  test('malformed requests with a whole header get an Error for their request id; the stream goes on', async () => {
    const c = await stream();
    try {
      const unknownTag = Buffer.alloc(38);
      unknownTag[0] = 9;
      unknownTag.writeBigUInt64BE(4242n, 1);
      const wrongLength = Buffer.alloc(30);
      wrongLength[0] = 2;
      wrongLength.writeBigUInt64BE(4343n, 1);
      c.sendRaw(Buffer.concat([copyDataMessage(unknownTag), copyDataMessage(wrongLength)]));
      c.send(getpage(accounts, 2));
      const a = await expectResponse(c, 'error');
      assert.equal(a.hdr.reqid, 4242n);
      assert.match(a.message, /unknown tag 9/);
      const b = await expectResponse(c, 'error');
      assert.equal(b.hdr.reqid, 4343n);
      assert.match(b.message, /tag 2 is 42 bytes, received 30/);
      await expectResponse(c, 'getpage');
      c.sendMany([{ kind: 'getpage', hdr: hdr(), rel: { ...rel(accounts), relNode: 0 }, blkno: 0 }, { kind: 'nblocks', hdr: hdr(), rel: rel(accounts, 7) }, getpage(accounts, 0, hdr(0n as Lsn, 0n as Lsn))]);
      assert.match((await expectResponse(c, 'error')).message, /^Bad request: invalid relnode 0/);
      assert.match((await expectResponse(c, 'error')).message, /^Bad request: invalid fork number 7/);
      assert.match((await expectResponse(c, 'error')).message, /^Bad request: invalid LSN\(0\) in request/);
    } finally {
      c.close();
    }
    await assertServing();
  });

  for (const [name, bytes, re] of [
    ['a payload shorter than the pagestream header', copyDataMessage(Buffer.alloc(10)), /at least 25 bytes.*received 10/],
    ['a message length that cannot be right', Buffer.from([0x64, 0, 0, 0, 2]), /length must be 4 to \d+ bytes, received 2/],
    ['a Query message in the middle of the stream', Buffer.from([0x51, 0, 0, 0, 5, 0]), /unexpected message type 'Q' during CopyBoth/],
  ] as const) {
    test(`broken framing (${name}): FATAL 08P01, the connection closes, the server goes on`, async () => {
      const c = await stream();
      try {
        c.send(getpage(accounts, 3));
        c.sendRaw(bytes);
        await expectResponse(c, 'getpage');
        const r = await c.next();
        assert.equal(r.kind, 'server-error');
        const f = (r as { fields: Map<string, string> }).fields;
        assert.equal(f.get('S'), 'FATAL');
        assert.equal(f.get('C'), '08P01');
        assert.match(f.get('M') ?? '', re);
        assert.equal((await c.next()).kind, 'closed');
      } finally {
        c.close();
      }
      await assertServing();
    });
  }

  test('a broken startup packet: FATAL 08P01 and closed; SSLRequest is answered N', async () => {
    const c = await PagestreamClient.open(server.pageService.port);
    c.sendRaw(Buffer.from([0, 0, 0, 3]));
    const m = await c.message();
    assert.equal(m?.type, 'E');
    assert.equal((await c.message()), undefined);
    c.close();
    const ssl = await PagestreamClient.connect(server.pageService.port, { sslRequest: true });
    assert.equal(ssl.parameters.get('server_encoding'), 'UTF8');
    ssl.close();
    await assertServing();
  });

  test('LSN rules: a wait past the deadline, a wait that ends, below the GC cutoff', async () => {
    const c = await stream();
    const t = timeline();
    const ahead = (t.lastRecordLsn + 1000n) as Lsn;
    try {
      const t0 = Date.now();
      c.send(getpage(accounts, 0, hdr(ahead, ahead)));
      const r = await expectResponse(c, 'error');
      assert.match(r.message, /^LSN timeout: Timed out after 400 ms waiting for WAL up to/);
      assert.ok(Date.now() - t0 >= WAIT_MS - 20, 'it waited for the deadline');
      c.send(getpage(accounts, 0));
      await expectResponse(c, 'getpage');
    } finally {
      c.close();
    }
    await assertServing();

    // A timeline whose WAL arrives while the request waits.
    const tenant = server.repository.tenant(tenantId);
    const live = tenant.createTimeline(undefined, 0x1000n as Lsn);
    const w = await PagestreamClient.connect(server.pageService.port);
    try {
      await w.startPagestream(tenantId, live.id);
      const at = 0x2000n as Lsn;
      w.send({ kind: 'exists', hdr: { reqid: 77n, requestLsn: at, notModifiedSince: at }, rel: rel(accounts) });
      setTimeout(() => live.advance(at), 100);
      const r = await expectResponse(w, 'exists');
      assert.equal(r.hdr.reqid, 77n);
      assert.equal(r.exists, false);
      assert.ok(live.lastRecordLsn === at);
    } finally {
      w.close();
    }

    // Below the GC cutoff of a branch.
    const branch = tenant.branch(timelineId, midLsn);
    // GC never moves the cutoff past the last record LSN: at most up to it.
    branch.setGcCutoff(Number(midLsn));
    const g = await PagestreamClient.connect(server.pageService.port);
    try {
      await g.startPagestream(tenantId, branch.id);
      const low = (midLsn - 100n) as Lsn;
      g.send(getpage(accounts, 0, { reqid: 5n, requestLsn: low, notModifiedSince: low }));
      assert.match((await expectResponse(g, 'error')).message, /^Bad request: tried to request a page version that was garbage collected/);
      g.send(getpage(accounts, 0, { reqid: 6n, requestLsn: MAX_LSN, notModifiedSince: midLsn }));
      await expectResponse(g, 'getpage');
    } finally {
      g.close();
      await tenant.deleteTimeline(branch.id);
      await tenant.deleteTimeline(live.id);
    }
    await assertServing();
  });

  test('more requests than may be in flight: the rest wait unread, and all are answered in order once WAL arrives', async () => {
    const tenant = server.repository.tenant(tenantId);
    const live = tenant.createTimeline(undefined, 0x1000n as Lsn);
    const ps = new PageService(server.repository, { inFlightRequestsMax: 4, waitLsnTimeoutMs: 10_000 });
    await ps.listen();
    const c = await PagestreamClient.connect(ps.port);
    try {
      await c.startPagestream(tenantId, live.id);
      const at = 0x3000n as Lsn;
      const reqs: PagestreamRequest[] = Array.from({ length: 40 }, (_, i) => ({ kind: 'exists', hdr: { reqid: BigInt(1000 + i), requestLsn: at, notModifiedSince: i % 2 === 0 ? at : (0x1000n as Lsn) }, rel: rel(accounts) }));
      c.sendMany(reqs);
      setTimeout(() => live.advance(at), 200);
      for (const req of reqs) assert.equal((await expectResponse(c, 'exists')).hdr.reqid, req.hdr.reqid);
    } finally {
      c.close();
      await ps.close();
      await tenant.deleteTimeline(live.id);
    }
    await assertServing();
  });

  test('a timeline deleted under an open stream: Not found for each request, the connection goes on', async () => {
    const tenant = server.repository.tenant(tenantId);
    const doomed = tenant.branch(timelineId);
    const c = await PagestreamClient.connect(server.pageService.port);
    try {
      await c.startPagestream(tenantId, doomed.id);
      c.send(getpage(accounts, 1));
      await expectResponse(c, 'getpage');
      await tenant.deleteTimeline(doomed.id);
      c.send(getpage(accounts, 1));
      assert.match((await expectResponse(c, 'error')).message, /^Not found: timeline .* no longer exists/);
    } finally {
      c.close();
    }
    await assertServing();
  });
});

describe('page service: authentication', { timeout: 120_000 }, () => {
  test('SCRAM-SHA-256: the right password gets in; a wrong one and an unknown user get FATAL 28P01', async () => {
    const ps = new PageService(server.repository, { auth: { kind: 'password', method: 'scram-sha-256', users: new Map([['alice', scramSecret('s3cret')]]) } });
    await ps.listen();
    try {
      const ok = await PagestreamClient.connect(ps.port, { user: 'alice', password: 's3cret' });
      await ok.startPagestream(tenantId, timelineId);
      ok.close();
      for (const [user, password] of [['alice', 'wrong'], ['bob', 's3cret']] as const) {
        await assert.rejects(PagestreamClient.connect(ps.port, { user, password }), (e: unknown) => e instanceof ServerError && e.fields.get('C') === '28P01' && e.fields.get('S') === 'FATAL');
      }
      const clear = new PageService(server.repository, { auth: { kind: 'password', method: 'cleartext', users: new Map([['alice', scramSecret('s3cret')]]) } });
      await clear.listen();
      try {
        (await PagestreamClient.connect(clear.port, { user: 'alice', password: 's3cret' })).close();
        await assert.rejects(PagestreamClient.connect(clear.port, { user: 'alice', password: 'nope' }), /28P01: password authentication failed for user "alice"/);
      } finally {
        await clear.close();
      }
    } finally {
      await ps.close();
    }
    await assertServing();
  });

  test('JWT as the password: a tenant token reaches its tenant only; bad tokens are refused', async () => {
    const secret = Buffer.from('a-test-secret-of-32-bytes-length');
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const ps = new PageService(server.repository, { auth: { kind: 'jwt', verifier: new JwtVerifier({ hs256Secret: secret, ed25519PublicKeys: [publicKey] }) } });
    await ps.listen();
    try {
      const tenantToken = signJwt({ scope: 'tenant', tenant_id: tenantId }, { hs256Secret: secret });
      const c = await PagestreamClient.connect(ps.port, { password: tenantToken });
      const denied = await c.query(`pagestream_v3 ${'cd'.repeat(16)} ${timelineId}`);
      assert.equal(denied.kind, 'error');
      assert.equal((denied as { fields: Map<string, string> }).fields.get('C'), '42501');
      await c.startPagestream(tenantId, timelineId);
      c.close();
      const admin = await PagestreamClient.connect(ps.port, { password: signJwt({ scope: 'admin' }, { ed25519PrivateKey: privateKey }) });
      await admin.startPagestream(tenantId, timelineId);
      admin.close();
      for (const [token, re] of [
        [signJwt({ scope: 'admin' }, { hs256Secret: Buffer.from('another secret') }), /HS256 signature does not verify/],
        [signJwt({ scope: 'admin', exp: Math.floor(Date.now() / 1000) - 3600 }, { hs256Secret: secret }), /expired/],
        [signJwt({ scope: 'tenant' }, { hs256Secret: secret }), /without a tenant_id/],
        ['not.a.token', /Cannot read the token/],
      ] as const) {
        await assert.rejects(PagestreamClient.connect(ps.port, { password: token }), (e: unknown) => e instanceof ServerError && e.fields.get('C') === '28P01' && re.test(e.message));
      }
    } finally {
      await ps.close();
    }
    await assertServing();
  });

  test('psql connects, and an unknown command is a clear error', async () => {
    const args = ['-h', '127.0.0.1', '-p', String(server.pageService.port), '-U', 'strata', '-d', 'strata', '-X', '-v', 'ON_ERROR_STOP=1'];
    const env = { PGCONNECT_TIMEOUT: '10' };
    const set = await run(pgBin('psql'), [...args, '-c', 'SET application_name = x'], { timeoutMs: 30_000, env });
    assert.equal(set.stdout.trim(), 'SET');
    await assert.rejects(run(pgBin('psql'), [...args, '-c', 'SELECT 1'], { timeoutMs: 30_000, env }), /Unsupported command "SELECT": the page service takes pagestream_v3 <tenant> <timeline>/);
    await assertServing();
  });
});
