/**
 * The local control plane's commands (issue 8; Neon's `neon_local` in spirit): `init`, `start`,
 * `stop`, `status`, `pageserver` (the server in the foreground), `tenant ...`, `timeline ...`,
 * `endpoint ...`. Each prints a short human answer, or JSON with `--json`; an error is one line
 * saying what went wrong and what to do, with exit code 1 (2 for a usage error).
 */
import type { Command } from 'commander';
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient, type ImportState, type TimelineInfo, type TimelineNode } from '../control/api-client.js';
import { Progress } from '../control/progress.js';
import { looksLikeConnInfo, parseConnInfo, redact } from '../ingest/replication/conninfo.js';
import { ReplicationError } from '../ingest/replication/errors.js';
import { Endpoints } from '../control/endpoints.js';
import { pageServerPid, startPageServer, stopPageServer } from '../control/pageserver.js';
import { ControlError, WorkDir, workDirOf } from '../control/workdir.js';

/** bin/strata.js, for starting the page server in the background. */
export const STRATA_BIN = fileURLToPath(new URL('../../../bin/strata.js', import.meta.url));

interface Global {
  readonly dir?: string;
  readonly json?: boolean;
}

type Out = (human: string, json: unknown) => void;

function output(g: Global): Out {
  return (human, json) => process.stdout.write(g.json === true ? JSON.stringify(json, null, 2) + '\n' : human.endsWith('\n') || human === '' ? human : human + '\n');
}

/** A relative time such as -5min, -30s, -2h, or an ISO timestamp, as an ISO timestamp. */
export function parseWhen(text: string, now = Date.now()): string {
  const m = /^-(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hour|d|day)s?$/.exec(text.trim());
  if (m !== null) {
    const unit = { s: 1, sec: 1, m: 60, min: 60, h: 3600, hour: 3600, d: 86400, day: 86400 }[m[2] as 's'] as number;
    return new Date(now - Number(m[1]) * unit * 1000).toISOString();
  }
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new ControlError('BAD_ARGUMENT', `Cannot read ${JSON.stringify(text)} as a time: give an LSN (0/16B3748), a timestamp (2026-11-22T10:00:00Z) or a relative time (-5min)`);
  return new Date(t).toISOString();
}

const IMPORT_POLL_MS = 300;

/**
 * What `timeline import` was given: an existing folder is a data directory (checked first: a
 * folder may be named host=x), a connection string (key=value or postgresql://) a primary.
 */
export function importBody(source: string, o: { slot?: string; maxRate?: string }): Record<string, unknown> {
  if (existsSync(source) && statSync(source).isDirectory()) {
    if (o.slot !== undefined || o.maxRate !== undefined) throw new ControlError('BAD_ARGUMENT', `Cannot use --slot or --max-rate with a data directory (${source}): they are for a running primary`);
    return { import_datadir: resolve(source), background: true };
  }
  if (!looksLikeConnInfo(source))
    throw new ControlError('BAD_ARGUMENT', `Cannot import ${JSON.stringify(source)}: it is neither a folder here nor a connection string (host=... port=... user=..., or postgresql://user@host:port)`);
  try {
    parseConnInfo(source);
  } catch (e) {
    if (e instanceof ReplicationError) throw new ControlError('BAD_ARGUMENT', e.message);
    throw e;
  }
  const body: Record<string, unknown> = { import_primary: source };
  if (o.slot !== undefined) body['slot'] = o.slot;
  if (o.maxRate !== undefined) {
    if (!/^\d+$/.test(o.maxRate)) throw new ControlError('BAD_ARGUMENT', `Cannot use --max-rate ${JSON.stringify(o.maxRate)}: give kB/s as a whole number`);
    body['max_rate_kb_per_s'] = Number(o.maxRate);
  }
  return body;
}

/** Whether a job is over: readable (done, or following past the backup's end) or failed. */
function importOver(s: ImportState | undefined): boolean {
  return s === undefined || s.phase === 'failed' || s.readable;
}

/** Polls the timeline until its import is over, drawing its progress (quiet unless stderr is a terminal). */
async function waitForImport(client: ApiClient, tenant: string, first: TimelineInfo): Promise<TimelineInfo> {
  const progress = new Progress(first.import?.kind === 'primary' ? 'base backup' : 'copying');
  let tl = first;
  for (;;) {
    const s = tl.import;
    if (s !== undefined) {
      if (s.phase === 'base_backup' || s.phase === 'copying') progress.set(s.bytes_done, s.bytes_total ?? undefined);
      else if (s.phase === 'following' && !s.readable) progress.status('catching up', `WAL at ${tl.last_record_lsn}, readable from ${s.end_lsn ?? '?'}`);
      else if (s.phase !== 'failed') progress.set(s.bytes_done, s.bytes_total ?? undefined, s.kind === 'primary' ? 'base backup' : 'copying');
    }
    if (importOver(s)) {
      progress.done();
      return tl;
    }
    await sleep(IMPORT_POLL_MS);
    tl = await client.getTimeline(tenant, tl.timeline_id);
  }
}

/** The one line a finished import prints. */
function importDoneLine(name: string, tl: TimelineInfo): string {
  const s = tl.import;
  const mib = s === undefined ? '' : ` (${(s.bytes_done / (1 << 20)).toFixed(1)} MiB)`;
  if (s?.kind === 'primary') return `branch ${name} imported from ${s.source} [${tl.timeline_id}]${mib}: readable from ${s.end_lsn}, now at ${tl.last_record_lsn}, following ${s.following ?? 'the primary'}`;
  return `branch ${name} imported [${tl.timeline_id}]${mib} at ${tl.last_record_lsn}`;
}

/** Draws a tenant's branch tree with its branch points. */
export function drawTree(nodes: readonly TimelineNode[], nameOf: (id: string) => string | undefined): string {
  const lines: string[] = [];
  const walk = (n: TimelineNode, prefix: string, last: boolean, root: boolean) => {
    const name = nameOf(n.timeline_id) ?? '(unnamed)';
    const at = n.branch_lsn !== undefined ? ` @ ${n.branch_lsn}` : '';
    lines.push(`${prefix}${root ? '' : last ? '└─ ' : '├─ '}${name} [${n.timeline_id}]${at}  last record ${n.last_record_lsn}`);
    n.children.forEach((c, i) => walk(c, prefix + (root ? '' : last ? '   ' : '│  '), i === n.children.length - 1, false));
  };
  nodes.forEach((n) => walk(n, '', true, true));
  return lines.join('\n');
}

export function registerControlCommands(program: Command, setCode: (code: number) => void): void {
  const g = (cmd: Command): Global => cmd.optsWithGlobals<Global>();
  const work = (cmd: Command) => WorkDir.open(workDirOf(g(cmd).dir));
  const api = (w: WorkDir) => new ApiClient(w.httpBase);
  const guard = (fn: (cmd: Command, ...args: string[]) => Promise<void>) =>
    async (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      try {
        await fn(cmd, ...(args.slice(0, -2) as string[]));
      } catch (e) {
        if (!(e instanceof ControlError)) throw e;
        process.stderr.write(`strata: ${e.message}\n`);
        setCode(e.code === 'BAD_ARGUMENT' ? 2 : 1);
      }
    };

  program
    .command('init')
    .description('make a work folder: configuration, repository, endpoints (default ./.strata, or --dir / $STRATA_DIR)')
    .option('--http-port <port>', 'the page server HTTP API port', '9898')
    .option('--pg-port <port>', 'the page service port', '64000')
    .action(
      guard(async (cmd) => {
        const o = cmd.opts<{ httpPort: string; pgPort: string }>();
        const w = WorkDir.init(workDirOf(g(cmd).dir), { httpPort: Number(o.httpPort), pageServicePort: Number(o.pgPort) });
        output(g(cmd))(`initialised ${w.dir}`, { dir: w.dir, config: w.config });
      }),
    );

  program
    .command('pageserver')
    .description('run the page server in the foreground (what "strata start" runs in the background)')
    .action(
      guard(async (cmd) => {
        const w = work(cmd);
        const c = w.config;
        // Loaded here: the other commands start without the server's modules.
        const { StrataServer } = await import('../service/server.js');
        const server = await StrataServer.start({ root: w.repositoryDir, host: c.host, pageServicePort: c.pageServicePort, httpPort: c.httpPort, redo: { mode: c.redoMode }, pgBinDir: c.pgBinDir, walLogRoot: join(w.dir, 'wal') });
        writeFileSync(w.pidFile, `${process.pid}\n`);
        process.stdout.write(`strata page server: HTTP on ${c.host}:${c.httpPort}, page service on ${c.host}:${c.pageServicePort}, repository ${w.repositoryDir}\n`);
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGTERM', stop);
          process.once('SIGINT', stop);
        });
        await server.stop(true);
        rmSync(w.pidFile, { force: true });
      }),
    );

  program
    .command('start')
    .description('start the page server in the background (log in the work folder)')
    .action(
      guard(async (cmd) => {
        const w = work(cmd);
        const pid = await startPageServer(w, STRATA_BIN);
        output(g(cmd))(`page server started (pid ${pid}), HTTP ${w.httpBase}, page service port ${w.config.pageServicePort}; log ${w.logFile}`, { pid, http: w.httpBase, pageServicePort: w.config.pageServicePort });
      }),
    );

  program
    .command('stop')
    .description('stop the endpoints and the page server')
    .action(
      guard(async (cmd) => {
        const w = work(cmd);
        const eps = new Endpoints(w, api(w));
        for (const e of eps.list()) if (e.running) await eps.stop(e.name);
        await stopPageServer(w);
        output(g(cmd))('stopped', { stopped: true });
      }),
    );

  program
    .command('status')
    .description('is the page server running; its tenants, branches and endpoints')
    .action(
      guard(async (cmd) => {
        const w = work(cmd);
        const pid = pageServerPid(w);
        const status = pid === undefined ? undefined : await api(w).status().catch(() => undefined);
        const endpoints = new Endpoints(w, api(w)).list();
        const human = [
          pid === undefined ? 'page server: not running ("strata start")' : `page server: running (pid ${pid}), HTTP ${w.httpBase}`,
          ...endpoints.map((e) => `endpoint ${e.name}: ${e.running ? `running on port ${e.port}` : 'stopped'} (branch ${w.branchNameOf(e.tenant, e.timeline) ?? e.timeline})`),
        ].join('\n');
        output(g(cmd))(human, { running: pid !== undefined, pid, status, endpoints });
      }),
    );

  const tenant = program.command('tenant').description('tenants');
  tenant
    .command('create')
    .description('create a tenant (the first becomes the default)')
    .option('--id <id>', '32 hex digits (made up when absent)')
    .action(
      guard(async (cmd) => {
        const w = work(cmd);
        const t = await api(w).createTenant(cmd.opts<{ id?: string }>().id);
        if (w.config.defaultTenant === null) w.update((c) => ({ ...c, defaultTenant: t.tenant_id }));
        output(g(cmd))(`tenant ${t.tenant_id} created${w.config.defaultTenant === t.tenant_id ? ' (default)' : ''}`, t);
      }),
    );
  tenant
    .command('list')
    .description('list tenants')
    .action(
      guard(async (cmd) => {
        const w = work(cmd);
        const ts = await api(w).listTenants();
        output(g(cmd))(ts.map((t) => `${t.tenant_id}${t.tenant_id === w.config.defaultTenant ? ' (default)' : ''}  ${t.timelines} timelines`).join('\n'), ts);
      }),
    );
  tenant
    .command('delete <tenant>')
    .description('delete a tenant and all its timelines')
    .action(
      guard(async (cmd, id) => {
        const w = work(cmd);
        await api(w).deleteTenant(id as string);
        if (w.config.defaultTenant === id) w.update((c) => ({ ...c, defaultTenant: null }));
        output(g(cmd))(`tenant ${id} deleted`, { tenant_id: id, deleted: true });
      }),
    );

  const timeline = program.command('timeline').description('branches (timelines) of a tenant');
  timeline
    .command('create <name>')
    .description('create a branch with a fresh database (initdb)')
    .option('--tenant <id>', 'the tenant (default: the default tenant)')
    .action(
      guard(async (cmd, name) => {
        const w = work(cmd);
        const t = w.tenantOf(cmd.opts<{ tenant?: string }>().tenant);
        const tl = await api(w).createTimeline(t, { initdb: true });
        w.nameBranch(t, name as string, tl.timeline_id);
        output(g(cmd))(`branch ${name} created [${tl.timeline_id}] at ${tl.last_record_lsn}`, tl);
      }),
    );
  timeline
    .command('import <name> <source>')
    .description(
      'create a branch by importing a PostgreSQL 15 server. <source> is either a folder (a cleanly stopped data directory on this host) or a ' +
        'connection string of a running primary, as the page server reaches it ("host=10.0.0.5 port=5432 user=replicator password=..." or ' +
        '"postgresql://replicator@10.0.0.5:5432"; a role with REPLICATION, allowed by pg_hba.conf for replication): a base backup is imported, ' +
        'then strata follows the primary. An existing folder wins. Shows progress on a terminal; exits 0 once the branch is readable, 1 if the ' +
        'import failed (the branch is then removed), 2 for arguments it cannot use',
    )
    .option('--tenant <id>', 'the tenant')
    .option('--no-wait', 'start the import and return at once ("strata timeline status <name>" shows how it goes)')
    .option('--slot <name>', 'a primary: the replication slot strata makes or uses there (default strata_<timeline id>)')
    .option('--max-rate <kB/s>', 'a primary: throttle the base backup (32 to 1048576 kB/s)')
    .action(
      guard(async (cmd, name, source) => {
        const w = work(cmd);
        const o = cmd.opts<{ tenant?: string; wait: boolean; slot?: string; maxRate?: string }>();
        const t = w.tenantOf(o.tenant);
        const branch = name as string;
        const body = importBody(source as string, o);
        if (w.config.branches[t]?.[branch] !== undefined) throw new ControlError('ALREADY_EXISTS', `Cannot import into a branch "${branch}": tenant ${t} has one`);
        const client = api(w);
        const started = await client.createTimeline(t, body);
        w.nameBranch(t, branch, started.timeline_id);
        const from = body['import_primary'] !== undefined ? redact(source as string) : String(body['import_datadir']);
        if (!o.wait) {
          output(g(cmd))(`branch ${branch} [${started.timeline_id}]: importing ${from} in the background; "strata timeline status ${branch}" shows how it goes`, started);
          return;
        }
        const tl = await waitForImport(client, t, started);
        const failure = tl.import?.phase === 'failed' ? tl.import.error : null;
        if (failure !== null) {
          // The branch holds nothing: remove it, so that the same name can be tried again.
          await client.deleteTimeline(t, tl.timeline_id).catch(() => undefined);
          w.forgetBranch(t, tl.timeline_id);
          throw new ControlError('FAILED', `${failure?.message ?? 'the import failed'} (branch ${branch} removed)`);
        }
        output(g(cmd))(importDoneLine(branch, tl), tl);
      }),
    );
  timeline
    .command('status <name>')
    .description("a branch's LSNs and, for an imported one, its import: phase, bytes, error")
    .option('--tenant <id>', 'the tenant')
    .action(
      guard(async (cmd, name) => {
        const w = work(cmd);
        const t = w.tenantOf(cmd.opts<{ tenant?: string }>().tenant);
        const tl = await api(w).getTimeline(t, w.timelineOf(t, name as string));
        const s = tl.import;
        const lines = [`branch ${name} [${tl.timeline_id}]: last record ${tl.last_record_lsn}, on disk ${tl.disk_consistent_lsn}`];
        if (s !== undefined) {
          const bytes = `${(s.bytes_done / (1 << 20)).toFixed(1)}${s.bytes_total !== null ? ` of ${(s.bytes_total / (1 << 20)).toFixed(1)}` : ''} MiB`;
          lines.push(`import from ${s.source}: ${s.phase}${s.readable ? ' (readable)' : ''}, ${bytes}${s.end_lsn !== null ? `, readable from ${s.end_lsn}` : ''}`);
          if (s.error !== null) lines.push(`error: ${s.error.message}`);
          if (s.follow_error !== undefined) lines.push(`following: ${s.follow_error}`);
        }
        output(g(cmd))(lines.join('\n'), tl);
      }),
    );
  timeline
    .command('branch <name>')
    .description('create a branch of another branch, now or in the past')
    .requiredOption('--from <parent>', 'the parent branch')
    .option('--at <when>', 'an LSN (0/16B3748), a timestamp, or a relative time such as -5min (default: now)')
    .option('--tenant <id>', 'the tenant')
    .action(
      guard(async (cmd, name) => {
        const w = work(cmd);
        const o = cmd.opts<{ from: string; at?: string; tenant?: string }>();
        const t = w.tenantOf(o.tenant);
        const parent = w.timelineOf(t, o.from);
        const body: Record<string, unknown> = { ancestor_timeline_id: parent };
        if (o.at !== undefined) {
          if (/^[0-9A-Fa-f]+\/[0-9A-Fa-f]+$/.test(o.at)) body['ancestor_lsn'] = o.at.toUpperCase();
          else body['ancestor_timestamp'] = parseWhen(o.at);
        }
        const tl = await api(w).createTimeline(t, body);
        w.nameBranch(t, name as string, tl.timeline_id);
        output(g(cmd))(`branch ${name} [${tl.timeline_id}] from ${o.from} at ${tl.ancestor_lsn}`, tl);
      }),
    );
  timeline
    .command('list')
    .description('the branch tree, with branch points')
    .option('--tenant <id>', 'the tenant')
    .action(
      guard(async (cmd) => {
        const w = work(cmd);
        const t = w.tenantOf(cmd.opts<{ tenant?: string }>().tenant);
        const tree = await api(w).listTimelines(t);
        output(g(cmd))(drawTree(tree, (id) => w.branchNameOf(t, id)), tree);
      }),
    );
  timeline
    .command('delete <name>')
    .description('delete a branch that has no branches of its own')
    .option('--tenant <id>', 'the tenant')
    .action(
      guard(async (cmd, name) => {
        const w = work(cmd);
        const t = w.tenantOf(cmd.opts<{ tenant?: string }>().tenant);
        const id = w.timelineOf(t, name as string);
        await api(w).deleteTimeline(t, id);
        w.forgetBranch(t, id);
        output(g(cmd))(`branch ${name} deleted`, { timeline_id: id, deleted: true });
      }),
    );

  const endpoint = program.command('endpoint').description('stock PostgreSQL servers on branches');
  endpoint
    .command('create <name>')
    .description('create an endpoint on a branch')
    .requiredOption('--branch <branch>', 'the branch it runs on')
    .option('--port <port>', 'its port (default: a free one)')
    .option('--tenant <id>', 'the tenant')
    .action(
      guard(async (cmd, name) => {
        const w = work(cmd);
        const o = cmd.opts<{ branch: string; port?: string; tenant?: string }>();
        const t = w.tenantOf(o.tenant);
        const spec = await new Endpoints(w, api(w)).create(name as string, t, w.timelineOf(t, o.branch), o.port === undefined ? undefined : Number(o.port));
        output(g(cmd))(`endpoint ${name} created on branch ${o.branch}, port ${spec.port}`, spec);
      }),
    );
  endpoint
    .command('start <name>')
    .description('start the endpoint from a base backup of its branch; strata follows its WAL')
    .action(
      guard(async (cmd, name) => {
        const w = work(cmd);
        const r = await new Endpoints(w, api(w)).start(name as string);
        output(g(cmd))(`endpoint ${name} started at ${r.lsn}: psql -h 127.0.0.1 -p ${r.port} -U postgres postgres`, r);
      }),
    );
  endpoint
    .command('stop <name>')
    .description('stop the endpoint (everything it committed is in strata)')
    .action(
      guard(async (cmd, name) => {
        const w = work(cmd);
        await new Endpoints(w, api(w)).stop(name as string);
        output(g(cmd))(`endpoint ${name} stopped`, { name, stopped: true });
      }),
    );
  endpoint
    .command('list')
    .description('endpoints and whether they run')
    .action(
      guard(async (cmd) => {
        const w = work(cmd);
        const list = new Endpoints(w, api(w)).list();
        output(g(cmd))(list.map((e) => `${e.name}  ${e.running ? 'running' : 'stopped'}  port ${e.port}  branch ${w.branchNameOf(e.tenant, e.timeline) ?? e.timeline}`).join('\n'), list);
      }),
    );
}
