/**
 * Issues 7 and 8 as a user meets them: `strata timeline import <name> <connection string>` of a
 * running primary under a pgbench load, with a progress bar on a terminal (run under script(1) for
 * a pty), exit 0 once the branch is readable; then a branch of it, after the primary's last commit,
 * serves an endpoint whose query results equal the primary's. A connection string that reaches
 * nothing is one line and exit 1; one that cannot be read, exit 2. A stopped data directory goes
 * through the same command with --json: quiet on stderr, the final state on stdout.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { PgCluster } from '../testing/cluster.js';
import type { TimelineInfo } from './api-client.js';
import { freePort } from './endpoints.js';
import { pgBin } from './process.js';

const exec = promisify(execFile);
const STRATA = resolve('bin/strata.js');
const SCRIPT = '/usr/bin/script';

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** pgbench's tables as row counts and md5s of their rows in order: equal on two servers only if their data is. */
const TABLES_SQL = `SELECT string_agg(x, ' ' ORDER BY x) FROM (
  SELECT 'accounts:' || count(*) || ':' || md5(string_agg(aid || ',' || bid || ',' || abalance, ';' ORDER BY aid)) AS x FROM pgbench_accounts
  UNION ALL SELECT 'branches:' || count(*) || ':' || md5(string_agg(bid || ',' || bbalance, ';' ORDER BY bid)) FROM pgbench_branches
  UNION ALL SELECT 'tellers:' || count(*) || ':' || md5(string_agg(tid || ',' || tbalance, ';' ORDER BY tid)) FROM pgbench_tellers
  UNION ALL SELECT 'history:' || count(*) || ':' || md5(string_agg(tid || ',' || aid || ',' || delta, ';' ORDER BY mtime, tid, aid, delta)) FROM pgbench_history
  UNION ALL SELECT 'marker:' || count(*) FROM import_marker) s`;

test('strata timeline import of a running primary: progress on a terminal, exit 0 when readable; a branch of it serves the primary\'s data; bad connection strings are one line', { timeout: 600_000 }, async () => {
  const primary = await PgCluster.create({ name: 'cli-import' });
  const dir = mkdtempSync(join(tmpdir(), 'strata-import-e2e-'));
  chmodSync(dir, 0o755); // PostgreSQL runs as postgres when the tests run as root: it must reach the endpoints' folders
  const strata = async (...args: string[]): Promise<{ stdout: string; stderr: string }> => exec(process.execPath, [STRATA, '--dir', dir, ...args], { timeout: 300_000 });
  const psql = async (port: number, sql: string): Promise<string> => (await exec(pgBin('psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-Atc', sql], { timeout: 120_000 })).stdout.trim();
  const httpPort = await freePort();
  try {
    await strata('init', '--http-port', String(httpPort), '--pg-port', String(await freePort()));
    await strata('start');
    await strata('tenant', 'create');
    await primary.pgbench(['-i', '-s', '5', '-q']);
    await primary.query('CREATE TABLE import_marker (id int)');

    // The load runs through the base backup and on while strata follows.
    const load = primary.pgbench(['-c', '4', '-T', '15', '-n'], { timeoutMs: 120_000 });
    const conninfo = `host=127.0.0.1 port=${primary.port} user=postgres`;
    const args = [STRATA, '--dir', dir, '--json', 'timeline', 'import', 'prim', conninfo, '--max-rate', '16384'];
    // script(1) (util-linux, on every Debian) gives the command a terminal: the progress bar shows; -e passes on the exit code.
    const r = await exec(SCRIPT, ['-qefc', [process.execPath, ...args].map(shellQuote).join(' '), '/dev/null'], { timeout: 300_000 });
    const out = r.stdout.replaceAll('\r\n', '\n');
    assert.match(out, /\r {2}base backup: \d+\.\d MiB of \d+\.\d MiB \(\d+%\), [\d.]+ MiB\/s/, 'a progress bar on a terminal');
    const frames = out.slice(0, out.indexOf('\n{') + 1).split('\r').map((f) => f.trim()).filter((f) => f !== '');
    console.log(`progress: ${frames.length} frames, e.g. "${frames[Math.floor(frames.length / 2)]}", last "${frames.at(-1)}"`);
    const state = JSON.parse(out.slice(out.indexOf('\n{') + 1)) as TimelineInfo;
    assert.equal(state.import?.kind, 'primary');
    assert.equal(state.import?.phase, 'following');
    assert.equal(state.import?.readable, true);
    assert.ok(state.import.end_lsn !== null && state.last_record_lsn >= state.import.end_lsn);
    assert.ok((state.import.bytes_total ?? 0) > 50 << 20, `the estimate ${state.import.bytes_total} covers pgbench scale 5`);
    const bench = await load;
    console.log(`imported ${state.import.bytes_done} bytes (estimate ${state.import.bytes_total}), readable from ${state.import.end_lsn}; pgbench ${/tps = ([\d.]+)/.exec(bench.stdout)?.[1]} tps`);

    // The primary's last commit, then its LSN on strata's branch.
    await primary.query('INSERT INTO import_marker VALUES (1)');
    const lsn = await primary.query('SELECT pg_current_wal_flush_lsn()');
    const tenant = (JSON.parse((await strata('--json', 'tenant', 'list')).stdout) as { tenant_id: string }[])[0]?.tenant_id as string;
    const waited = await fetch(`http://127.0.0.1:${httpPort}/v1/tenant/${tenant}/timeline/${state.timeline_id}/wait_lsn?lsn=${lsn}&timeout_ms=60000`);
    assert.equal(waited.status, 200, await waited.text());
    const status = (await strata('timeline', 'status', 'prim')).stdout;
    assert.match(status, /import from host=127\.0\.0\.1 port=\d+ user=postgres: following \(readable\)/);

    // The imported branch follows its primary: an endpoint runs on a branch of it.
    await strata('timeline', 'branch', 'snap', '--from', 'prim');
    await strata('endpoint', 'create', 'snap-ep', '--branch', 'snap');
    await strata('endpoint', 'start', 'snap-ep');
    const port = (JSON.parse((await strata('--json', 'endpoint', 'list')).stdout) as { name: string; port: number }[]).find((e) => e.name === 'snap-ep')?.port as number;
    const expected = await primary.query(TABLES_SQL);
    assert.match(expected, /accounts:500000:.* history:[1-9]\d*:.* marker:1/);
    assert.equal(await psql(port, TABLES_SQL), expected, "the branch's endpoint returns the primary's rows");
    await strata('endpoint', 'stop', 'snap-ep');

    // Nothing listens at the port: one line naming it and what to check; exit 1; the branch is gone again.
    const nobody = await freePort();
    await assert.rejects(strata('timeline', 'import', 'bad', `host=127.0.0.1 port=${nobody} user=postgres`), (e: { code?: number; stderr?: string }) => {
      assert.equal(e.code, 1, e.stderr);
      const lines = (e.stderr ?? '').trimEnd().split('\n');
      assert.equal(lines.length, 1, `one line: ${e.stderr}`);
      console.log(`refused: ${lines[0]}`);
      assert.match(lines[0] as string, new RegExp(`^strata: Cannot import the base backup from 127\\.0\\.0\\.1:${nobody} .*Cannot connect to 127\\.0\\.0\\.1:${nobody}: .*ECONNREFUSED.*; check that PostgreSQL runs at that host and port.* \\(branch bad removed\\)$`));
      return true;
    });
    assert.doesNotMatch((await strata('timeline', 'list')).stdout, /\bbad\b/);
    // Arguments it cannot use: exit 2.
    await assert.rejects(strata('timeline', 'import', 'x', 'host=/var/run/postgresql'), (e: { code?: number; stderr?: string }) => e.code === 2 && /^strata: .*Unix-domain socket; strata connects over TCP.*\n$/.test(e.stderr ?? ''));
    await assert.rejects(strata('timeline', 'import', 'x', 'no-such-folder'), (e: { code?: number; stderr?: string }) => e.code === 2 && /neither a folder here nor a connection string/.test(e.stderr ?? ''));

    // A stopped data directory through the same command: --json, quiet on stderr (not a terminal).
    await primary.stop('fast');
    const folder = await strata('--json', 'timeline', 'import', 'stopped', primary.dataDir);
    assert.equal(folder.stderr, '');
    const fromFolder = JSON.parse(folder.stdout) as TimelineInfo;
    assert.equal(fromFolder.import?.kind, 'datadir');
    assert.equal(fromFolder.import?.phase, 'done');
    assert.equal(fromFolder.last_record_lsn, (await primary.controlData())['Latest checkpoint location']);
    assert.ok(fromFolder.import.bytes_done > 50 << 20 && fromFolder.import.bytes_done === fromFolder.import.bytes_total);
    await strata('stop');
  } finally {
    if (existsSync(join(dir, 'pageserver.pid'))) await exec(process.execPath, [STRATA, '--dir', dir, 'stop']).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    await primary.destroy();
  }
});
