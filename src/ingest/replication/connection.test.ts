/**
 * The replication connection against a real PostgreSQL 15: trust, md5 and SCRAM-SHA-256 as
 * pg_hba.conf asks for them (the server log says which method it used), clear errors for a wrong
 * or missing password, and the replication commands' results and errors.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { formatLsn, parseLsn } from '../../pg/lsn.js';
import { withCluster, type PgCluster } from '../../testing/cluster.js';
import { WalLog } from '../wal-log.js';
import { WalReceiver } from '../receiver.js';
import { ReplicationConnection, type ConnectOptions } from './connection.js';
import { ReplicationError, ServerError } from './errors.js';

const HBA = [
  'host replication trust_user 127.0.0.1/32 trust',
  'host replication md5_user 127.0.0.1/32 md5',
  'host replication scram_user 127.0.0.1/32 scram-sha-256',
  'host replication plain_user 127.0.0.1/32 scram-sha-256',
];

async function setUpRoles(c: PgCluster): Promise<void> {
  const hbaPath = path.join(c.dataDir, 'pg_hba.conf');
  // Before initdb's lines: the first matching line decides.
  await writeFile(hbaPath, HBA.join('\n') + '\n' + (await readFile(hbaPath, 'utf8')));
  await c.configure({ log_connections: true });
  await c.reload();
  await c.query(`
    CREATE ROLE trust_user WITH REPLICATION LOGIN;
    SET password_encryption = 'md5';
    CREATE ROLE md5_user WITH REPLICATION LOGIN PASSWORD 'md5 secret';
    SET password_encryption = 'scram-sha-256';
    CREATE ROLE scram_user WITH REPLICATION LOGIN PASSWORD 'scram sécret ünicode';
    CREATE ROLE plain_user WITH LOGIN PASSWORD 'x';
  `);
  assert.match(await c.query(`SELECT rolpassword FROM pg_authid WHERE rolname = 'md5_user'`), /^md5[0-9a-f]{32}$/);
  assert.match(await c.query(`SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_user'`), /^SCRAM-SHA-256\$4096:/);
}

function opts(c: PgCluster, user: string, password?: string): ConnectOptions {
  return { host: '127.0.0.1', port: c.port, user, applicationName: `t_${user}`, ...(password !== undefined ? { password } : {}) };
}

test('trust, md5 and SCRAM-SHA-256 log in; a wrong or missing password is a clear error', async () => {
  await withCluster({ name: 'repl-auth' }, async (c) => {
    await setUpRoles(c);
    const systemId = await c.query('SELECT system_identifier FROM pg_control_system()');
    for (const [user, password, method] of [
      ['trust_user', undefined, 'trust'],
      ['md5_user', 'md5 secret', 'md5'],
      ['scram_user', 'scram sécret ünicode', 'scram-sha-256'],
    ] as const) {
      const conn = await ReplicationConnection.connect(opts(c, user, password));
      try {
        const id = await conn.identifySystem();
        assert.equal(id.systemId.toString(), systemId);
        assert.equal(id.timeline, 1);
        assert.equal(id.dbname, null, 'a physical walsender has no database');
        assert.ok(id.xlogpos <= parseLsn(await c.currentLsn()));
        assert.match(conn.parameters.get('server_version') ?? '', /^15\./);
      } finally {
        await conn.close();
      }
      // PostgreSQL 14+ logs the method it authenticated with (log_connections); trust logs none.
      const logged = method === 'trust' ? `replication connection authorized: user=${user}` : `connection authenticated: identity="${user}" method=${method}`;
      assert.match(await c.serverLog(), new RegExp(logged));
      if (method === 'trust') continue;
      const bad = await ReplicationConnection.connect(opts(c, user, 'wrong')).then(
        () => assert.fail('a wrong password must not log in'),
        (e: unknown) => e,
      );
      assert.ok(bad instanceof ServerError, String(bad));
      assert.equal(bad.sqlstate, '28P01');
      assert.ok(bad.isAuthFailure);
      assert.match(bad.message, new RegExp(`Cannot authenticate to 127\\.0\\.0\\.1:\\d+ as "${user}" for replication: the server said FATAL 28P01: password authentication failed for user "${user}"`));
      await assert.rejects(ReplicationConnection.connect(opts(c, user)), (e: unknown) => e instanceof ReplicationError && e.code === 'AUTH_FAILED' && /none is configured/.test(e.message));
    }
    // A role without REPLICATION may not start a walsender.
    await assert.rejects(ReplicationConnection.connect(opts(c, 'plain_user', 'x')), (e: unknown) => e instanceof ServerError && e.sqlstate === '42501');
    // Nothing listens: a connect error, not a hang.
    await assert.rejects(ReplicationConnection.connect({ host: '127.0.0.1', port: 1, user: 'x', connectTimeoutMs: 2000 }), (e: unknown) => e instanceof ReplicationError && e.code === 'CONNECT_FAILED');

    // The receiver gives up at once on a wrong password instead of retrying forever.
    const dir = mkdtempSync(path.join(tmpdir(), 'strata-auth-'));
    try {
      const log = WalLog.open(dir);
      const receiver = new WalReceiver({ connect: opts(c, 'scram_user', 'wrong'), log, slotName: 'strata', reconnectDelayMsMin: 10 });
      await assert.rejects(receiver.done, (e: unknown) => e instanceof ServerError && e.sqlstate === '28P01');
      await log.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('replication commands: slots, timeline history, and errors that name the command and SQLSTATE', async () => {
  await withCluster({ name: 'repl-cmds' }, async (c) => {
    const conn = await ReplicationConnection.connect({ host: '127.0.0.1', port: c.port, user: 'postgres' });
    try {
      assert.equal(await conn.readReplicationSlot('nope'), undefined);
      await conn.createPhysicalSlot('strata_a');
      const slot = await conn.readReplicationSlot('strata_a');
      assert.equal(slot?.slotType, 'physical');
      assert.equal(slot?.restartTimeline, 1);
      assert.ok(slot?.restartLsn !== undefined);
      assert.equal(await c.query(`SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'strata_a'`), formatLsn(slot.restartLsn));
      await assert.rejects(conn.createPhysicalSlot('strata_a'), (e: unknown) => e instanceof ServerError && e.sqlstate === '42710' && /CREATE_REPLICATION_SLOT "strata_a"/.test(e.message));
      // The connection is still usable after an ERROR.
      await assert.rejects(conn.timelineHistory(1), (e: unknown) => e instanceof ServerError && /TIMELINE_HISTORY 1/.test(e.during));
      await assert.rejects(
        conn.startReplication({ slot: 'missing', start: parseLsn('0/1000000'), timeline: 1 }, { onXLogData: () => undefined, onKeepalive: () => undefined }),
        (e: unknown) => e instanceof ServerError && e.sqlstate === '42704' && /START_REPLICATION SLOT "missing" PHYSICAL 0\/1000000 TIMELINE 1/.test(e.message),
      );
      await assert.rejects(
        conn.startReplication({ start: parseLsn('0/1000000'), timeline: 7 }, { onXLogData: () => undefined, onKeepalive: () => undefined }),
        (e: unknown) => e instanceof ServerError && /timeline/.test(e.serverMessage),
      );
      // Streaming, then CopyDone from strata's side: the stream ends without a next timeline, and
      // the bytes received are the primary's.
      const from = (await conn.readReplicationSlot('strata_a'))!.restartLsn!;
      const segStart = from - (from % BigInt(16 << 20));
      const chunks: Buffer[] = [];
      const ended = conn.startReplication(
        { slot: 'strata_a', start: segStart as typeof from, timeline: 1 },
        {
          onXLogData: (start, _end, data) => {
            assert.equal(Number(start), Number(segStart) + chunks.reduce((n, c) => n + c.length, 0));
            chunks.push(data);
            if (chunks.length === 1) conn.endStreaming();
          },
          onKeepalive: () => undefined,
        },
      );
      assert.deepEqual(await ended, {});
      const got = Buffer.concat(chunks);
      assert.ok(got.length > 0);
      const segName = (await c.query(`SELECT pg_walfile_name('${formatLsn(from)}')`)).trim();
      const theirs = await readFile(path.join(c.walDir, segName));
      assert.ok(theirs.subarray(0, got.length).equals(got), 'streamed bytes equal the segment file');
      // The connection takes commands again after the copy.
      assert.equal((await conn.identifySystem()).timeline, 1);
      await conn.dropReplicationSlot('strata_a');
      assert.equal(await conn.readReplicationSlot('strata_a'), undefined);
      await assert.rejects(conn.readReplicationSlot('Bad-Name'), (e: unknown) => e instanceof ReplicationError && e.code === 'INVALID_ARGUMENT');
    } finally {
      await conn.close();
    }
  });
});
