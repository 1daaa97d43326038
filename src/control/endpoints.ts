/**
 * Endpoints: stock PostgreSQL 15 servers running on branches (Neon's "compute"). An endpoint's
 * data folder is a base backup of its branch at the branch's latest LSN, made by the page server;
 * the page server follows the endpoint over physical replication (a slot, and the endpoint lists
 * it in `synchronous_standby_names`, so a commit is durable in strata before the client hears of
 * it). An endpoint is stateless: its data folder is remade at every start, and everything
 * committed is in strata.
 *
 * Stopping: PostgreSQL's fast shutdown sends its walsenders everything up to the shutdown
 * checkpoint first; strata waits until its timeline reaches that checkpoint, then stops following.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { isRoot, PG_OS_USER, run, runAsPostgres } from './process.js';
import { writeFileDurable } from '../repository/durable.js';
import { Progress } from './progress.js';
import { ControlError, type WorkDir } from './workdir.js';

export interface EndpointSpec {
  readonly name: string;
  readonly tenant: string;
  readonly timeline: string;
  readonly port: number;
}

export interface EndpointStatus extends EndpointSpec {
  readonly running: boolean;
  readonly dataDir: string;
}

/** What endpoints need from the page server. */
export interface PageServerApi {
  /** A tar of the branch's data folder at its latest LSN, streamed to `onChunk`; resolves with the LSN. */
  baseBackup(tenant: string, timeline: string, onChunk: (chunk: Uint8Array) => Promise<void> | void): Promise<string>;
  /** Follow the endpoint's WAL into the timeline (physical replication from host:port). */
  follow(tenant: string, timeline: string, target: { host: string; port: number; user: string; slot: string }): Promise<void>;
  /** Stop following, once the timeline has WAL up to `lsn`. */
  unfollow(tenant: string, timeline: string, waitLsn: string | undefined): Promise<void>;
}

export const ENDPOINT_FILE = 'endpoint.json';
export const STANDBY_NAME = 'strata';

/** A port nothing listens on right now, on loopback (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export class Endpoints {
  constructor(
    private readonly work: WorkDir,
    private readonly api: PageServerApi,
  ) {}

  private dirOf(name: string): string {
    if (!/^[A-Za-z0-9_-]{1,40}$/.test(name)) throw new ControlError('BAD_ARGUMENT', `Cannot use endpoint name ${JSON.stringify(name)}: letters, digits, - and _ only (at most 40)`);
    return join(this.work.endpointsDir, name);
  }

  spec(name: string): EndpointSpec {
    const path = join(this.dirOf(name), ENDPOINT_FILE);
    if (!existsSync(path)) throw new ControlError('NOT_FOUND', `Cannot find endpoint "${name}": see "strata endpoint list"`);
    return JSON.parse(readFileSync(path, 'utf8')) as EndpointSpec;
  }

  async create(name: string, tenant: string, timeline: string, port?: number): Promise<EndpointSpec> {
    const dir = this.dirOf(name);
    if (existsSync(join(dir, ENDPOINT_FILE))) throw new ControlError('ALREADY_EXISTS', `Cannot create endpoint "${name}": it exists`);
    mkdirSync(dir, { recursive: true });
    const spec: EndpointSpec = { name, tenant, timeline, port: port ?? (await freePort()) };
    writeFileDurable(join(dir, ENDPOINT_FILE), Buffer.from(JSON.stringify(spec, null, 2) + '\n'));
    return spec;
  }

  list(): EndpointStatus[] {
    if (!existsSync(this.work.endpointsDir)) return [];
    return readdirSync(this.work.endpointsDir)
      .filter((n) => existsSync(join(this.work.endpointsDir, n, ENDPOINT_FILE)))
      .map((n) => ({ ...this.spec(n), running: this.isRunning(n), dataDir: join(this.dirOf(n), 'data') }));
  }

  isRunning(name: string): boolean {
    const pidFile = join(this.dirOf(name), 'data', 'postmaster.pid');
    if (!existsSync(pidFile)) return false;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** Remakes the data folder from a base backup of the branch, starts PostgreSQL, has strata follow it. */
  async start(name: string): Promise<{ port: number; lsn: string }> {
    const spec = this.spec(name);
    if (this.isRunning(name)) throw new ControlError('ALREADY_RUNNING', `Cannot start endpoint "${name}": it is running on port ${spec.port}`);
    const dir = this.dirOf(name);
    const data = join(dir, 'data');
    rmSync(data, { recursive: true, force: true });
    mkdirSync(data, { recursive: true });
    chmodSync(data, 0o700);
    if (isRoot()) await run('chown', [`${PG_OS_USER}:`, dir, data]);
    const lsn = await this.extractBaseBackup(spec, data);
    this.configure(spec, data);
    if (isRoot()) await run('chown', ['-R', `${PG_OS_USER}:`, data]);
    const log = join(dir, 'postgres.log');
    if (isRoot()) {
      writeFileSync(log, '', { flag: 'a' });
      await run('chown', [`${PG_OS_USER}:`, log]);
    }
    const pgCtl = join(this.work.config.pgBinDir, 'pg_ctl');
    await runAsPostgres(pgCtl, ['-D', data, '-l', log, '-w', '-t', '60', 'start'], { timeoutMs: 90_000 }).catch((e: unknown) => {
      const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
      throw new ControlError('FAILED', `Cannot start endpoint "${name}": ${(e as Error).message}\n${tail}`, { cause: e });
    });
    await this.api.follow(spec.tenant, spec.timeline, { host: '127.0.0.1', port: spec.port, user: 'postgres', slot: STANDBY_NAME });
    return { port: spec.port, lsn };
  }

  /** `tar -x` of the page server's base backup into `data`, as the user PostgreSQL runs as. */
  private async extractBaseBackup(spec: EndpointSpec, data: string): Promise<string> {
    const argv = isRoot() ? ['runuser', '-u', PG_OS_USER, '--', 'tar', '-x', '-f', '-', '-C', data] : ['tar', '-x', '-f', '-', '-C', data];
    const tar = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    tar.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number>((resolve) => tar.once('close', (code) => resolve(code ?? 1)));
    let lsn: string;
    const progress = new Progress(`base backup of ${spec.name}'s branch`);
    try {
      lsn = await this.api.baseBackup(spec.tenant, spec.timeline, (chunk) => {
        progress.add(chunk.length);
        if (!tar.stdin.write(chunk)) return new Promise<void>((ok) => tar.stdin.once('drain', () => ok()));
        return undefined;
      });
    } finally {
      tar.stdin.end();
      progress.done();
    }
    const code = await exited;
    if (code !== 0) throw new ControlError('FAILED', `Cannot unpack the base backup of ${spec.tenant}/${spec.timeline} into ${data}: tar exited with ${code}: ${stderr.trim()}`);
    return lsn;
  }

  /** The endpoint's settings: its port on loopback, WAL for strata to follow, strata as the synchronous standby. */
  private configure(spec: EndpointSpec, data: string): void {
    appendFileSync(
      join(data, 'postgresql.conf'),
      [
        '',
        '# strata endpoint',
        `port = ${spec.port}`,
        "listen_addresses = '127.0.0.1'",
        "unix_socket_directories = ''",
        'wal_level = replica',
        'max_wal_senders = 10',
        'max_replication_slots = 10',
        `synchronous_standby_names = '${STANDBY_NAME}'`,
        "wal_keep_size = '1GB'",
        'fsync = on',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(data, 'pg_hba.conf'),
      ['# strata endpoint: loopback only', 'host all all 127.0.0.1/32 trust', 'host replication all 127.0.0.1/32 trust', ''].join('\n'),
    );
  }

  /** Fast shutdown; strata then has every byte of WAL the endpoint wrote, and stops following. */
  async stop(name: string): Promise<void> {
    const spec = this.spec(name);
    const data = join(this.dirOf(name), 'data');
    if (!this.isRunning(name)) throw new ControlError('NOT_RUNNING', `Cannot stop endpoint "${name}": it is not running`);
    await runAsPostgres(join(this.work.config.pgBinDir, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop'], { timeoutMs: 90_000 });
    const control = await runAsPostgres(join(this.work.config.pgBinDir, 'pg_controldata'), ['-D', data], { env: { LC_ALL: 'C' } });
    const checkpoint = /Latest checkpoint location:\s+([0-9A-F]+\/[0-9A-F]+)/.exec(control.stdout)?.[1];
    await this.api.unfollow(spec.tenant, spec.timeline, checkpoint);
  }

  async delete(name: string): Promise<void> {
    if (this.isRunning(name)) await this.stop(name);
    rmSync(this.dirOf(name), { recursive: true, force: true });
  }
}
