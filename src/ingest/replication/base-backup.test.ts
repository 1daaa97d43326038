/**
 * BASE_BACKUP over the replication connection: against a real PostgreSQL 15 (a tablespace's archive
 * first, base.tar last, each a whole tar stream; a command error leaves the connection usable; a
 * handler that throws ends the command and the connection), and the response's state machine on
 * messages out of their place.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatLsn } from '../../pg/lsn.js';
import { withCluster } from '../../testing/cluster.js';
import { TarReader } from '../tar.js';
import { baseBackupCommand, BaseBackupResponse, runBaseBackup, type BaseBackupHandlers } from './base-backup.js';
import { ReplicationConnection } from './connection.js';
import { ReplicationError, ServerError } from './errors.js';
import type { BackendMessage } from './protocol.js';

test('BASE_BACKUP from PostgreSQL 15: the start, each archive a whole tar stream, the end; errors leave the connection as they should', { timeout: 120_000 }, async () => {
  await withCluster({ name: 'base-backup' }, async (c) => {
    const spcDir = await c.makeDir('spc');
    await c.query(`CREATE TABLESPACE spc LOCATION '${spcDir}'`);
    await c.query('CREATE TABLE t TABLESPACE spc AS SELECT g FROM generate_series(1, 1000) g');
    const spcOid = await c.query("SELECT oid FROM pg_tablespace WHERE spcname = 'spc'");
    const conn = await ReplicationConnection.connect({ host: '127.0.0.1', port: c.port, user: 'postgres' });
    try {
      const log: string[] = [];
      const names = new Map<string, string[]>();
      let tar: TarReader | undefined;
      let current = '';
      const handlers: BaseBackupHandlers = {
        onStart: (s) => log.push(`start ${s.timeline} [${s.tablespaces.map((t) => `${t.oid}:${t.location}`).join(',')}]`),
        onArchive: (name, location) => {
          log.push(`archive ${name} ${location}`);
          current = name;
          names.set(name, []);
          tar = new TarReader(name, { onEntry: (e) => names.get(current)?.push(e.name), onData: () => undefined, onEntryEnd: () => undefined });
        },
        onArchiveData: (d) => tar?.push(d),
        onArchiveEnd: (name) => {
          tar?.end();
          log.push(`end ${name}`);
        },
      };
      const r = await runBaseBackup(conn, { label: "strata's test", checkpoint: 'fast' }, handlers);
      assert.deepEqual(log, [`start 1 [${spcOid}:${spcDir}]`, `archive ${spcOid}.tar ${spcDir}`, `end ${spcOid}.tar`, 'archive base.tar ', 'end base.tar']);
      assert.ok(r.start.lsn <= r.end, `${formatLsn(r.start.lsn)} <= ${formatLsn(r.end)}`);
      assert.equal(r.endTimeline, 1);
      assert.ok(r.archiveBytes > 1 << 20);
      const base = names.get('base.tar') ?? [];
      assert.equal(base[0], 'backup_label', 'backup_label comes first');
      assert.equal(base.at(-1), 'global/pg_control', 'pg_control comes last');
      assert.ok((names.get(`${spcOid}.tar`) ?? []).every((n) => n.startsWith('PG_15_')));

      // A command the server refuses: a ServerError, and the connection goes on.
      await assert.rejects(
        conn.runStreamed("BASE_BACKUP ( LABEL 'x', CHECKPOINT 'sometime' )", () => undefined),
        (e: unknown) => e instanceof ServerError && e.sqlstate === '42601' && /unrecognized checkpoint type: "sometime"/.test(e.message),
      );
      assert.equal((await conn.identifySystem()).timeline, 1);

      // A handler that throws ends the command and the connection with its error.
      const boom = new Error('the importer gave up');
      await assert.rejects(
        runBaseBackup(conn, { label: 'x', checkpoint: 'fast' }, { ...handlers, onArchiveData: () => { throw boom; } }),
        (e: unknown) => e === boom,
      );
      assert.ok(conn.isClosed);
      // A new connection takes a whole backup again (with MAX_RATE at its upper bound).
      const again = await ReplicationConnection.connect({ host: '127.0.0.1', port: c.port, user: 'postgres' });
      try {
        // With PROGRESS: the size estimate in the tablespace rows, and 'p' messages counting up to the bytes sent.
        let total: number | undefined;
        const reported: number[] = [];
        const r2 = await runBaseBackup(
          again,
          { label: 'y', checkpoint: 'fast', maxRateKbPerS: 1_048_576, progress: true },
          { onStart: (s) => (total = s.totalBytes), onArchive: () => undefined, onArchiveData: () => undefined, onArchiveEnd: () => undefined, onProgress: (n) => reported.push(n) },
        );
        assert.ok(r2.start.lsn > r.start.lsn);
        assert.equal(r.start.totalBytes, undefined, 'no estimate without PROGRESS');
        assert.ok(total !== undefined && Math.abs(total - r2.archiveBytes) < r2.archiveBytes * 0.1, `the estimate ${total} is within 10% of the ${r2.archiveBytes} bytes sent`);
        assert.ok(reported.length > 0 && reported.every((n, i) => i === 0 || n >= (reported[i - 1] as number)), `progress counts up: ${reported.join(', ')}`);
      } finally {
        await again.close();
      }
    } finally {
      await conn.close();
    }
  });
});

function message(kind: string, extra: Record<string, unknown> = {}): BackendMessage {
  return { kind, ...extra } as unknown as BackendMessage;
}

function copyData(type: string, payload: Buffer = Buffer.alloc(0)): BackendMessage {
  return message('copyData', { data: Buffer.concat([Buffer.from(type), payload]) });
}

const row = (...values: string[]): BackendMessage => message('dataRow', { values: values.map((v) => Buffer.from(v)) });

test('BASE_BACKUP response: the happy sequence, the manifest passed over, and messages out of their place', () => {
  const seen: string[] = [];
  const handlers: BaseBackupHandlers = {
    onStart: (s) => seen.push(`start ${formatLsn(s.lsn)} ${s.timeline} ${s.tablespaces.length}`),
    onArchive: (n) => seen.push(`archive ${n}`),
    onArchiveData: (d) => seen.push(`data ${d.toString()}`),
    onArchiveEnd: (n) => seen.push(`end ${n}`),
    onProgress: (b) => seen.push(`progress ${b}`),
  };
  const r = new BaseBackupResponse(handlers, 'test');
  const progress = Buffer.alloc(8);
  progress.writeBigInt64BE(42n);
  for (const m of [
    message('rowDescription'),
    row('0/3000028', '1'),
    message('commandComplete', { tag: 'SELECT' }),
    message('rowDescription'),
    message('commandComplete', { tag: 'SELECT' }),
    message('copyOutResponse'),
    copyData('n', Buffer.from('base.tar\0\0')),
    copyData('d', Buffer.from('abc')),
    copyData('p', progress),
    copyData('m'),
    copyData('d', Buffer.from('{"manifest": 1}')),
    message('copyDone'),
    message('rowDescription'),
    row('0/3000100', '1'),
    message('commandComplete', { tag: 'SELECT' }),
    message('commandComplete', { tag: 'BASE_BACKUP' }),
  ])
    r.onMessage(m);
  assert.deepEqual(seen, ['start 0/3000028 1 0', 'archive base.tar', 'data abc', 'progress 42', 'end base.tar']);
  assert.equal(formatLsn(r.result().end), '0/3000100');

  const violation = (messages: BackendMessage[], why: RegExp) => {
    const x = new BaseBackupResponse(handlers, 'take a test backup');
    assert.throws(
      () => {
        for (const m of messages) x.onMessage(m);
        x.result();
      },
      (e: unknown) => e instanceof ReplicationError && e.code === 'PROTOCOL_VIOLATION' && why.test(e.message) && e.message.startsWith('Cannot take a test backup'),
    );
  };
  const started = [message('rowDescription'), row('0/3000028', '1'), message('commandComplete'), message('rowDescription'), message('commandComplete')];
  violation([message('copyOutResponse')], /expected a result set/);
  violation([...started, copyData('d')], /archives must come as COPY OUT/);
  violation([...started, message('copyOutResponse'), copyData('d', Buffer.from('x'))], /archive data before any archive began/);
  violation([...started, message('copyOutResponse'), copyData('q')], /CopyData type 'q' is none of/);
  violation([...started, message('copyOutResponse'), copyData('m'), copyData('n', Buffer.from('a.tar\0\0'))], /a new archive after the manifest/);
  violation([...started, message('copyOutResponse'), message('dataRow', { values: [] })], /expected CopyData or CopyDone/);
  violation(started, /the response ended in its copyOut part/);
  const short = new BaseBackupResponse(handlers, 't');
  short.onMessage(message('rowDescription'));
  short.onMessage(message('dataRow', { values: [] }));
  assert.throws(() => short.onMessage(message('commandComplete')), (e: unknown) => e instanceof ReplicationError && e.code === 'UNEXPECTED_RESULT' && /1 row of 2 columns/.test(e.message));
});

test('BASE_BACKUP command: options, the label quoted, MAX_RATE within PostgreSQL\'s bounds', () => {
  assert.equal(baseBackupCommand({ label: "it's", checkpoint: 'fast' }), "BASE_BACKUP ( LABEL 'it''s', CHECKPOINT 'fast', WAL false, WAIT false, MANIFEST 'no', TABLESPACE_MAP false, PROGRESS false )");
  assert.match(baseBackupCommand({ label: 'x', checkpoint: 'spread', maxRateKbPerS: 32 }), /CHECKPOINT 'spread'.*MAX_RATE 32 \)$/);
  for (const bad of [31, 1_048_577, 1.5]) assert.throws(() => baseBackupCommand({ label: 'x', checkpoint: 'fast', maxRateKbPerS: bad }), /MAX_RATE .* must be an integer number of kB\/s in \[32, 1048576\]/);
  assert.throws(() => baseBackupCommand({ label: 'x'.repeat(1025), checkpoint: 'fast' }), /at most 1024 bytes/);
});
