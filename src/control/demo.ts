/**
 * `strata demo`, the main job on embedded defaults: in a work folder of its own (.strata/demo) it
 * starts the page server, makes a branch `main` with a fresh database, runs a stock PostgreSQL 15
 * endpoint on it, loads pgbench data and runs a short workload, branches 30 seconds into the past,
 * starts an endpoint on that branch, and shows side by side how the two differ. Then it stops what
 * it started and prints how to carry on by hand (the work folder keeps everything).
 */
import { execFile } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { ApiClient } from './api-client.js';
import { Endpoints, freePort } from './endpoints.js';
import { pageServerPid, startPageServer, stopPageServer } from './pageserver.js';
import { pgBin } from './process.js';
import { WorkDir } from './workdir.js';

const exec = promisify(execFile);

export interface DemoOptions {
  readonly dir?: string;
  /** pgbench scale of the data loaded. */
  readonly scale?: number;
  /** Seconds of pgbench after the load; the branch goes `pastSeconds` back from its end. */
  readonly workloadSeconds?: number;
  readonly pastSeconds?: number;
  readonly keepRunning?: boolean;
  readonly strataBin: string;
  readonly say?: (line: string) => void;
}


export async function runDemo(o: DemoOptions): Promise<number> {
  const say = o.say ?? ((l: string) => process.stdout.write(l + '\n'));
  const dir = resolve(o.dir ?? '.strata/demo');
  const scale = o.scale ?? 5;
  const seconds = o.workloadSeconds ?? 45;
  const past = o.pastSeconds ?? 30;
  const cli = `node bin/strata.js --dir ${dir}`;

  // A demo run before this one: stop what it left running, start afresh.
  if (existsSync(dir)) {
    const old = WorkDir.open(dir);
    const eps = new Endpoints(old, new ApiClient(old.httpBase));
    for (const e of eps.list()) if (e.running) await eps.stop(e.name).catch(() => undefined);
    if (pageServerPid(old) !== undefined) await stopPageServer(old);
    rmSync(dir, { recursive: true, force: true });
  }
  const work = WorkDir.init(dir, { httpPort: await freePort(), pageServicePort: await freePort() });
  const api = new ApiClient(work.httpBase);
  const endpoints = new Endpoints(work, api);
  const psql = async (port: number, sql: string) => (await exec(pgBin('psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-Atc', sql], { timeout: 600_000 })).stdout.trim();
  const pgbench = (port: number, args: string[]) => exec(pgBin('pgbench'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', ...args, 'postgres'], { timeout: 1_800_000 });
  let ok = false;
  try {
    say(`strata demo, in ${dir}`);
    say(`\n$ ${cli} start`);
    const pid = await startPageServer(work, o.strataBin);
    say(`  page server running (pid ${pid}): HTTP API ${work.httpBase}, page service port ${work.config.pageServicePort}`);
    const tenant = (await api.createTenant()).tenant_id;
    work.update((c) => ({ ...c, defaultTenant: tenant }));
    say(`$ ${cli} tenant create\n  tenant ${tenant}`);
    const main = await api.createTimeline(tenant, { initdb: true });
    work.nameBranch(tenant, 'main', main.timeline_id);
    say(`$ ${cli} timeline create main\n  branch main [${main.timeline_id}], a fresh database (initdb) at ${main.last_record_lsn}`);
    await endpoints.create('main-ep', tenant, main.timeline_id);
    const m = await endpoints.start('main-ep');
    say(`$ ${cli} endpoint create main-ep --branch main && ${cli} endpoint start main-ep`);
    say(`  stock PostgreSQL 15 on port ${m.port}, made from a base backup of main; strata is its synchronous standby`);

    say(`\nloading pgbench data (scale ${scale}) and running pgbench for ${seconds} s on main-ep...`);
    await pgbench(m.port, ['-i', '-s', String(scale), '-q']);
    const run = await pgbench(m.port, ['-c', '2', '-j', '2', '-T', String(seconds), '-n']);
    const tps = /tps = ([\d.]+)/.exec(run.stdout)?.[1] ?? '?';
    say(`  pgbench: ${tps} transactions/s, each committed in strata before pgbench heard of it`);

    const at = new Date(Date.now() - past * 1000).toISOString();
    const branch = await api.createTimeline(tenant, { ancestor_timeline_id: main.timeline_id, ancestor_timestamp: at });
    work.nameBranch(tenant, 'past', branch.timeline_id);
    say(`\n$ ${cli} timeline branch past --from main --at -${past}s`);
    say(`  branch past [${branch.timeline_id}] at ${branch.ancestor_lsn} (${at}): O(1), nothing copied`);
    await endpoints.create('past-ep', tenant, branch.timeline_id);
    const p = await endpoints.start('past-ep');
    say(`$ ${cli} endpoint create past-ep --branch past && ${cli} endpoint start past-ep\n  stock PostgreSQL 15 on port ${p.port}`);

    const q = "SELECT count(*) || ' rows', sum(abalance) FROM pgbench_accounts";
    const h = 'SELECT count(*) FROM pgbench_history';
    const rows: [string, string, string][] = [
      ['pgbench_history rows', await psql(m.port, h), await psql(p.port, h)],
      ['sum of account balances', (await psql(m.port, q)).split('|')[1] ?? '', (await psql(p.port, q)).split('|')[1] ?? ''],
      ['last history entry', await psql(m.port, 'SELECT max(mtime)::text FROM pgbench_history'), await psql(p.port, 'SELECT max(mtime)::text FROM pgbench_history')],
    ];
    say('\nthe two branches, side by side:');
    say(`  ${''.padEnd(26)}${'main (now)'.padEnd(32)}past (${past} s ago)`);
    for (const [what, a, b] of rows) say(`  ${what.padEnd(26)}${a.padEnd(32)}${b}`);
    ok = rows[0]?.[1] !== rows[0]?.[2];
    if (!ok) say('  (the branches do not differ: the workload was too short to show it)');

    say('\nthe branch tree:');
    const tree = await api.listTimelines(tenant);
    for (const n of tree) {
      say(`  main [${n.timeline_id}] last record ${n.last_record_lsn}`);
      for (const c of n.children) say(`  └─ past [${c.timeline_id}] @ ${c.branch_lsn}`);
    }
  } finally {
    if (o.keepRunning !== true) {
      for (const e of endpoints.list()) if (e.running) await endpoints.stop(e.name).catch((err: unknown) => say(`  (stopping ${e.name}: ${(err as Error).message})`));
      if (pageServerPid(work) !== undefined) await stopPageServer(work);
    }
  }
  say(o.keepRunning === true ? '\neverything is still running. To carry on by hand:' : '\neverything is stopped; the work folder keeps it all. To carry on by hand:');
  if (o.keepRunning !== true) say(`  ${cli} start`);
  say(`  ${cli} endpoint start main-ep        # then: psql -h 127.0.0.1 -p <its port> -U postgres postgres`);
  say(`  ${cli} timeline branch yesterday --from main --at -10min`);
  say(`  ${cli} timeline list`);
  say(`  ${cli} status`);
  say(`  ${cli} stop`);
  return ok ? 0 : 1;
}
