/**
 * Issue 8's end-to-end test: a new user's path through the `strata` command, with real PostgreSQL:
 * init, start, an endpoint on main, writes, a branch in the past, an endpoint on it, queries that
 * differ as expected, everything stopped and started again, and the endpoints back with every
 * committed row; an endpoint started again from an empty data folder returns the same data.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { pgBin } from './process.js';
import { freePort } from './endpoints.js';

const exec = promisify(execFile);
const STRATA = resolve('bin/strata.js');


test('a new user\'s path: init, start, endpoint on main, branch in the past, endpoint on it, stop, start, every committed row back', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-e2e-'));
  chmodSync(dir, 0o755); // PostgreSQL runs as postgres when the tests run as root: it must reach the endpoints' folders
  const strata = async (...args: string[]): Promise<string> => {
    const r = await exec(process.execPath, [STRATA, '--dir', dir, ...args], { timeout: 300_000 });
    return r.stdout;
  };
  const json = async <T>(...args: string[]): Promise<T> => JSON.parse(await strata('--json', ...args)) as T;
  const psql = async (port: number, sql: string): Promise<string> => (await exec(pgBin('psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-Atc', sql], { timeout: 120_000 })).stdout.trim();
  const portOf = async (name: string) => (await json<{ name: string; port: number }[]>('endpoint', 'list')).find((e) => e.name === name)?.port as number;
  try {
    await strata('init', '--http-port', String(await freePort()), '--pg-port', String(await freePort()));
    await strata('start');
    await strata('tenant', 'create');
    await strata('timeline', 'create', 'main');
    await strata('endpoint', 'create', 'main-ep', '--branch', 'main');
    await strata('endpoint', 'start', 'main-ep');
    const main = await portOf('main-ep');
    assert.equal(await psql(main, "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'strata'"), 'sync', 'strata is the synchronous standby of the endpoint');
    await psql(main, 'CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g');
    await sleep(3000);
    await psql(main, "INSERT INTO t SELECT g, 'late' FROM generate_series(20001, 25000) g; UPDATE t SET v = 'changed' WHERE id <= 100");
    // A branch two seconds into the past: before the late rows.
    await strata('timeline', 'branch', 'past', '--from', 'main', '--at', '-2s');
    const tree = await strata('timeline', 'list');
    assert.match(tree, /main \[[0-9a-f]{32}\].*\n└─ past \[[0-9a-f]{32}\] @ [0-9A-F]+\/[0-9A-F]+/);
    await strata('endpoint', 'create', 'past-ep', '--branch', 'past');
    await strata('endpoint', 'start', 'past-ep');
    const past = await portOf('past-ep');
    assert.equal(await psql(past, "SELECT count(*), count(*) FILTER (WHERE v = 'changed') FROM t"), '20000|0', 'the branch sees the table as it was');
    assert.equal(await psql(main, "SELECT count(*), count(*) FILTER (WHERE v = 'changed') FROM t"), '25000|100');
    await psql(past, "INSERT INTO t VALUES (99999, 'branch only')");
    assert.equal(await psql(main, 'SELECT count(*) FROM t WHERE id = 99999'), '0', 'a write to the branch leaves main alone');
    const mainSum = await psql(main, 'SELECT md5(string_agg(id || v, \',\' ORDER BY id)) FROM t');

    // Everything stopped, started again: the endpoints come back with every committed row.
    await strata('stop');
    assert.match(await strata('status'), /not running/);
    await strata('start');
    await strata('endpoint', 'start', 'main-ep');
    await strata('endpoint', 'start', 'past-ep');
    assert.equal(await psql(await portOf('main-ep'), 'SELECT md5(string_agg(id || v, \',\' ORDER BY id)) FROM t'), mainSum);
    assert.equal(await psql(await portOf('past-ep'), 'SELECT count(*), max(id) FROM t'), '20001|99999');

    // An endpoint started from an empty data folder returns the same data (its folder is remade each start).
    await strata('endpoint', 'stop', 'main-ep');
    rmSync(join(dir, 'endpoints', 'main-ep', 'data'), { recursive: true, force: true });
    await strata('endpoint', 'start', 'main-ep');
    assert.equal(await psql(await portOf('main-ep'), 'SELECT md5(string_agg(id || v, \',\' ORDER BY id)) FROM t'), mainSum);

    // Errors are one clear line with a non-zero exit code.
    await assert.rejects(strata('endpoint', 'start', 'nope'), (e: { code?: number; stderr?: string }) => e.code === 1 && /Cannot find endpoint "nope"/.test(e.stderr ?? ''));
    await assert.rejects(strata('timeline', 'branch', 'x', '--from', 'main', '--at', 'yesterday-ish'), (e: { code?: number; stderr?: string }) => e.code === 2 && /Cannot read "yesterday-ish" as a time/.test(e.stderr ?? ''));
    await strata('stop');
  } finally {
    if (existsSync(join(dir, 'pageserver.pid'))) await exec(process.execPath, [STRATA, '--dir', dir, 'stop']).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
