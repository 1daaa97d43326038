/**
 * Base backups through the server's two doors: `basebackup` on the page service port (a CopyOut,
 * read here by psql, a standard client) and GET .../basebackup on the HTTP API; both give the same
 * tar, which PostgreSQL 15 starts from. Bad arguments are clear errors and the server goes on.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { pgBin } from '../control/process.js';
import { PgCluster } from '../testing/cluster.js';
import { StrataServer } from './server.js';

const exec = promisify(execFile);

test('basebackup on the page service port and over HTTP: the same tar, which PostgreSQL starts from', { timeout: 300_000 }, async () => {
  const source = await PgCluster.create({ start: false });
  const root = mkdtempSync(join(tmpdir(), 'strata-bbcmd-'));
  const server = await StrataServer.start({ root: join(root, 'repo'), pageServicePort: 0, httpPort: 0, redo: { mode: 'in-process' }, background: false });
  let started: PgCluster | undefined;
  try {
    const http = `http://127.0.0.1:${server.httpApi.port}`;
    const tenant = (await (await fetch(`${http}/v1/tenant`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json()) as { tenant_id: string };
    const created = await fetch(`${http}/v1/tenant/${tenant.tenant_id}/timeline`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ import_datadir: source.dataDir }) });
    assert.equal(created.status, 201, await created.clone().text());
    const timeline = (await created.json()) as { timeline_id: string; last_record_lsn: string };
    const conn = `host=127.0.0.1 port=${server.pageService.port} user=postgres dbname=postgres`;
    const tarPath = join(root, 'pagestream.tar');
    const r = await exec('sh', ['-c', `${pgBin('psql')} "${conn}" -c "basebackup ${tenant.tenant_id} ${timeline.timeline_id}" > ${tarPath}`]);
    assert.equal(r.stderr, '');
    const viaPage = readFileSync(tarPath);
    const res = await fetch(`${http}/v1/tenant/${tenant.tenant_id}/timeline/${timeline.timeline_id}/basebackup`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-strata-lsn'), timeline.last_record_lsn);
    const viaHttp = Buffer.from(await res.arrayBuffer());
    // The two differ only in the time written into pg_control and the checkpoint: same size, same file list.
    assert.equal(viaPage.length, viaHttp.length);
    const list = (await exec('tar', ['tf', tarPath])).stdout.split('\n');
    assert.ok(list.includes('global/pg_control') && list.includes('PG_VERSION') && list.some((f) => f.startsWith('pg_wal/0000000')), list.slice(0, 20).join(' '));

    const dataDir = join(root, 'data');
    await exec('mkdir', ['-p', dataDir]);
    await exec('tar', ['xf', tarPath, '-C', dataDir]);
    started = await PgCluster.fromDataDir(dataDir, { name: 'from-bbcmd' });
    assert.equal((await started.query('SELECT count(*) > 0 FROM pg_class')).trim(), 't');

    // Bad arguments: clear errors, and the server goes on.
    const bad = await exec(pgBin('psql'), [conn, '-c', 'basebackup nope'], { encoding: 'utf8' }).catch((e: { stderr: string }) => e);
    assert.match((bad as { stderr: string }).stderr, /invalid number of parameters for basebackup/);
    const unknown = await exec(pgBin('psql'), [conn, '-c', `basebackup ${'0'.repeat(32)} ${'0'.repeat(32)}`], { encoding: 'utf8' }).catch((e: { stderr: string }) => e);
    assert.match((unknown as { stderr: string }).stderr, /Cannot find tenant/);
    const badLsn = await fetch(`${http}/v1/tenant/${tenant.tenant_id}/timeline/${timeline.timeline_id}/basebackup?lsn=zz`);
    assert.equal(badLsn.status, 400);
    assert.equal((await fetch(`${http}/v1/status`)).status, 200);
  } finally {
    await started?.destroy();
    await server.stop(false);
    await source.destroy();
    rmSync(root, { recursive: true, force: true });
  }
});
