/**
 * A throwaway PostgreSQL 15 cluster for tests: the primary whose WAL strata decodes, and the stock
 * server that must start on strata's base backups.
 *
 * `PgCluster.create()` makes a folder under the OS temp folder, runs initdb there, writes the
 * settings WAL tests want (a free loopback port, wal_level=replica, a large wal_keep_size so no
 * segment is recycled under a test's feet, fsync on so `kill9()` tests real crash recovery) into
 * `strata.conf`, which `postgresql.conf` includes, and starts the server with pg_ctl. Clients
 * connect over TCP to 127.0.0.1 as the superuser `postgres` with trust auth.
 *
 * Nothing may outlive a test: `withCluster()` destroys its cluster in a `finally`, and every live
 * cluster is also in a set that a process-exit hook stops (`pg_ctl stop -m immediate`) and removes
 * synchronously, so a crashed or interrupted test run leaves no server and no folder behind.
 *
 * When the tests run as root the server runs as the `postgres` user (see process.ts) in folders
 * that user owns. Copies of a data folder (base backups) carry `strata.conf` with them, port and
 * all: start them with `PgCluster.fromDataDir()`, which writes a fresh one.
 */

import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { appendFile, chmod, chown, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { asPostgresArgv, isRoot, PG_OS_USER, pgBin, pgBinDir, run, runAsPostgres, tailOf, PgCommandError } from './process.js';
import type { RunResult } from './process.js';

export { pgBin, pgBinDir, runAsPostgres, run, isRoot, PgCommandError } from './process.js';
export type { RunOptions, RunResult } from './process.js';

export type SettingValue = string | number | boolean;
export type ShutdownMode = 'smart' | 'fast' | 'immediate';

export interface PgClusterOptions {
  /** initdb --data-checksums: needed for FPI_FOR_HINT records. */
  readonly dataChecksums?: boolean;
  /** initdb --wal-segsize, in MiB (a power of two, 1-1024); 16 unless told. */
  readonly walSegSizeMb?: number;
  /** Shorthand for the wal_level setting; 'replica' unless told. */
  readonly walLevel?: 'replica' | 'logical';
  /** postgresql.conf settings, over the defaults (e.g. `{ wal_compression: 'lz4' }`). */
  readonly settings?: Readonly<Record<string, SettingValue>>;
  /** Shows in the temp folder's name, to tell clusters apart in `ps` and /tmp. */
  readonly name?: string;
  /** Start the server before returning; true unless told. */
  readonly start?: boolean;
}

export interface PsqlOptions {
  readonly db?: string;
  readonly timeoutMs?: number;
  /** psql variables (`-v name=value`), usable as `:name` in the script. */
  readonly vars?: Readonly<Record<string, string>>;
}

const SUPERUSER = 'postgres';
const HOST = '127.0.0.1';
const CONF_FILE = 'strata.conf';
const LOG_FILE = 'postgres.log';
/** sun_path is 108 bytes including the NUL. */
const UNIX_SOCKET_PATH_BYTES_MAX = 107;
const START_TIMEOUT_S = 60;
const STOP_TIMEOUT_S = 60;
const START_PORT_ATTEMPTS_MAX = 5;
const KILL_WAIT_MS_MAX = 30_000;
const ZOMBIE_REAP_WAIT_MS_MAX = 200;
const QUERY_TIMEOUT_MS_DEFAULT = 120_000;
const PGBENCH_TIMEOUT_MS_DEFAULT = 300_000;

/** Defaults for WAL tests; `settings` in the options override any of them. */
function defaultSettings(walLevel: 'replica' | 'logical'): Record<string, SettingValue> {
  return {
    listen_addresses: HOST,
    wal_level: walLevel,
    max_wal_senders: 10,
    max_replication_slots: 10,
    // Keep every segment a test might still want to read.
    wal_keep_size: '4GB',
    max_wal_size: '1GB',
    // The kill9() recovery test needs what was committed to be on disk.
    fsync: true,
    shared_buffers: '16MB',
    max_connections: 30,
    max_prepared_transactions: 10,
    logging_collector: false,
    log_line_prefix: '%m [%p] %q%a ',
    log_checkpoints: true,
  };
}

const liveClusters = new Set<PgCluster>();
let safetyNetInstalled = false;

export class PgCluster {
  readonly tempDir: string;
  readonly dataDir: string;
  readonly logFile: string;
  private segSizeMb: number;
  private portNumber: number;
  private readonly settings: Record<string, SettingValue>;
  private destroyed = false;

  private constructor(tempDir: string, port: number, walSegSizeMb: number, settings: Record<string, SettingValue>) {
    this.tempDir = tempDir;
    this.dataDir = path.join(tempDir, 'data');
    this.logFile = path.join(tempDir, LOG_FILE);
    this.segSizeMb = walSegSizeMb;
    this.portNumber = port;
    this.settings = settings;
  }

  /** initdb a new cluster in a fresh temp folder and (unless `start: false`) start it. */
  static async create(opts: PgClusterOptions = {}): Promise<PgCluster> {
    const walSegSizeMb = opts.walSegSizeMb ?? 16;
    if (!Number.isInteger(walSegSizeMb) || walSegSizeMb < 1 || walSegSizeMb > 1024 || (walSegSizeMb & (walSegSizeMb - 1)) !== 0) {
      throw new RangeError(`Cannot create a cluster with walSegSizeMb=${walSegSizeMb}: it must be a power of two in [1, 1024]`);
    }
    const cluster = await PgCluster.makeEmpty(opts.name ?? 'pg', walSegSizeMb, { ...defaultSettings(opts.walLevel ?? 'replica'), ...opts.settings });
    try {
      const initdbArgs = ['-D', cluster.dataDir, '-U', SUPERUSER, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'];
      if (opts.dataChecksums === true) initdbArgs.push('--data-checksums');
      if (opts.walSegSizeMb !== undefined) initdbArgs.push(`--wal-segsize=${walSegSizeMb}`);
      await runAsPostgres(pgBin('initdb'), initdbArgs, { cwd: cluster.tempDir, timeoutMs: 120_000 });
      await appendFile(path.join(cluster.dataDir, 'postgresql.conf'), `\n# strata test harness settings\ninclude_if_exists = '${CONF_FILE}'\n`);
      await cluster.writeConf();
      if (opts.start !== false) await cluster.start();
      return cluster;
    } catch (err: unknown) {
      await cluster.destroy().catch(() => undefined);
      throw err;
    }
  }

  /**
   * A cluster on a copy of an existing data folder (a base backup from pg_basebackup or from
   * strata): copied into a fresh temp folder, owned by postgres, with a fresh strata.conf (new port).
   * The WAL segment size is read from pg_control.
   */
  static async fromDataDir(sourceDir: string, opts: Pick<PgClusterOptions, 'settings' | 'name' | 'start' | 'walLevel'> = {}): Promise<PgCluster> {
    const cluster = await PgCluster.makeEmpty(opts.name ?? 'copy', 16, { ...defaultSettings(opts.walLevel ?? 'replica'), ...opts.settings });
    try {
      await run('cp', ['-a', '--', sourceDir, cluster.dataDir], { timeoutMs: 300_000 });
      if (isRoot()) await run('chown', ['-R', `${PG_OS_USER}:`, cluster.dataDir]);
      await chmod(cluster.dataDir, 0o700);
      await rm(path.join(cluster.dataDir, 'postmaster.pid'), { force: true });
      const conf = path.join(cluster.dataDir, 'postgresql.conf');
      const text = existsSync(conf) ? await readFile(conf, 'utf8') : '';
      if (!text.includes(`include_if_exists = '${CONF_FILE}'`)) await appendFile(conf, `\ninclude_if_exists = '${CONF_FILE}'\n`);
      await cluster.writeConf();
      const control = await cluster.controlData();
      const segBytes = Number(control['Bytes per WAL segment']);
      if (Number.isInteger(segBytes) && segBytes > 0) cluster.segSizeMb = segBytes / (1024 * 1024);
      if (opts.start !== false) await cluster.start();
      return cluster;
    } catch (err: unknown) {
      await cluster.destroy().catch(() => undefined);
      throw err;
    }
  }

  private static async makeEmpty(name: string, walSegSizeMb: number, settings: Record<string, SettingValue>): Promise<PgCluster> {
    installSafetyNet();
    const safeName = name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 24);
    const tempDir = await mkdtemp(path.join(tmpdir(), `strata-${safeName}-`));
    if (isRoot()) await chownToPostgres(tempDir);
    const cluster = new PgCluster(tempDir, await findFreePort(), walSegSizeMb, settings);
    liveClusters.add(cluster);
    return cluster;
  }

  get port(): number {
    return this.portNumber;
  }
  get walDir(): string {
    return path.join(this.dataDir, 'pg_wal');
  }
  get binDir(): string {
    return pgBinDir();
  }
  /** The WAL segment size, in MiB. */
  get walSegSizeMb(): number {
    return this.segSizeMb;
  }
  get walSegSizeBytes(): number {
    return this.walSegSizeMb * 1024 * 1024;
  }

  connectionString(db = 'postgres'): string {
    return `postgresql://${SUPERUSER}@${HOST}:${this.port}/${encodeURIComponent(db)}`;
  }

  /** Merges settings into strata.conf; they apply at the next `reload()` or `restart()`. */
  async configure(settings: Readonly<Record<string, SettingValue>>): Promise<void> {
    Object.assign(this.settings, settings);
    await this.writeConf();
  }

  async reload(): Promise<void> {
    await runAsPostgres(pgBin('pg_ctl'), ['-D', this.dataDir, 'reload'], { cwd: this.tempDir });
  }

  /** Starts the server and waits until it accepts connections (crash recovery included). */
  async start(): Promise<void> {
    this.assertNotDestroyed('start');
    for (let attempt = 1; ; attempt++) {
      const logOffset = await fileSize(this.logFile);
      try {
        await runAsPostgres(pgBin('pg_ctl'), ['-D', this.dataDir, '-l', this.logFile, '-w', '-t', String(START_TIMEOUT_S), 'start'], {
          cwd: this.tempDir,
          timeoutMs: (START_TIMEOUT_S + 30) * 1000,
        });
        return;
      } catch (err: unknown) {
        const log = await readFrom(this.logFile, logOffset);
        // Another test process took our port between findFreePort() and bind(): pick another.
        if (attempt < START_PORT_ATTEMPTS_MAX && /could not bind|Address already in use|could not create any TCP\/IP sockets/.test(log)) {
          this.portNumber = await findFreePort();
          await this.writeConf();
          continue;
        }
        const why = err instanceof Error ? err.message : String(err);
        throw new PgCommandError('PG_COMMAND_FAILED', `Cannot start PostgreSQL in ${this.dataDir} on port ${this.port}: ${why}\nserver log:\n${tailOf(log)}`, {
          command: ['pg_ctl', 'start'],
        });
      }
    }
  }

  /** pg_ctl stop; a no-op when the server is not running. */
  async stop(mode: ShutdownMode = 'fast'): Promise<void> {
    if (!this.isRunning()) return;
    await runAsPostgres(pgBin('pg_ctl'), ['-D', this.dataDir, '-m', mode, '-w', '-t', String(STOP_TIMEOUT_S), 'stop'], {
      cwd: this.tempDir,
      timeoutMs: (STOP_TIMEOUT_S + 30) * 1000,
    });
  }

  async restart(mode: ShutdownMode = 'fast'): Promise<void> {
    await this.stop(mode);
    await this.start();
  }

  /**
   * SIGKILLs the postmaster (a crash: no shutdown checkpoint) and waits until its children have
   * exited too, so that `start()` runs crash recovery on shared memory nobody holds.
   */
  async kill9(): Promise<void> {
    const pid = this.postmasterPid();
    if (pid === undefined || processState(pid) !== 'alive') throw new Error(`Cannot kill9 the cluster in ${this.dataDir}: it is not running`);
    const family = [pid, ...childrenOf(pid)];
    process.kill(pid, 'SIGKILL');
    // Children see the postmaster die (its death pipe) and exit on their own within moments.
    const deadline = Date.now() + KILL_WAIT_MS_MAX;
    while (family.some((p) => processState(p) === 'alive')) {
      if (Date.now() > deadline) {
        for (const p of family) killQuietly(p);
        throw new Error(`Cannot kill9 the cluster in ${this.dataDir}: processes ${family.filter((p) => processState(p) === 'alive').join(', ')} still alive after ${KILL_WAIT_MS_MAX} ms`);
      }
      await sleep(20);
    }
    // Some container init processes reap orphans late; a zombie postmaster still "exists" for
    // kill(pid, 0), and the next postmaster would refuse its lock file. Nobody holds shared memory
    // any more, so the stale lock file can go.
    const reapDeadline = Date.now() + ZOMBIE_REAP_WAIT_MS_MAX;
    while (processState(pid) === 'zombie' && Date.now() < reapDeadline) await sleep(50);
    if (processState(pid) === 'zombie') {
      await rm(path.join(this.dataDir, 'postmaster.pid'), { force: true });
      // The socket's lock file names the same dead pid; the next postmaster would refuse it too.
      await rm(path.join(this.tempDir, `.s.PGSQL.${this.port}.lock`), { force: true });
    }
  }

  /** True while a live (not zombie) postmaster owns the data folder. */
  isRunning(): boolean {
    const pid = this.postmasterPid();
    return pid !== undefined && processState(pid) === 'alive';
  }

  /** Stops the server if it runs (immediate: the data is thrown away) and removes the temp folder. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      if (this.isRunning()) {
        await this.stop('immediate').catch(async () => {
          if (this.isRunning()) await this.kill9();
        });
      }
    } finally {
      await rm(this.tempDir, { recursive: true, force: true, maxRetries: 3 });
      liveClusters.delete(this);
    }
  }

  /** Runs SQL (one or many statements, psql meta-commands allowed) and returns stdout, trimmed. */
  async query(sql: string, db = 'postgres'): Promise<string> {
    return this.psql(sql, { db });
  }

  /** `query` with options: statements run one by one in autocommit mode; the first error stops the script. */
  async psql(sql: string, opts: PsqlOptions = {}): Promise<string> {
    const r = await run(pgBin('psql'), [...this.psqlArgs(opts), '-f', '-'], { input: sql, timeoutMs: opts.timeoutMs ?? QUERY_TIMEOUT_MS_DEFAULT, env: clientEnv() });
    return r.stdout.trim();
  }

  /** Runs a SQL file with psql; returns stdout, trimmed. */
  async psqlFile(file: string, opts: PsqlOptions = {}): Promise<string> {
    const r = await run(pgBin('psql'), [...this.psqlArgs(opts), '-f', file], { timeoutMs: opts.timeoutMs ?? QUERY_TIMEOUT_MS_DEFAULT, env: clientEnv() });
    return r.stdout.trim();
  }

  /** Runs pgbench against this cluster (connection options and database name are added). */
  async pgbench(args: readonly string[], opts: { db?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    return run(pgBin('pgbench'), ['-h', HOST, '-p', String(this.port), '-U', SUPERUSER, ...args, opts.db ?? 'postgres'], {
      timeoutMs: opts.timeoutMs ?? PGBENCH_TIMEOUT_MS_DEFAULT,
      env: clientEnv(),
    });
  }

  /**
   * The current WAL position as `X/X`: 'write' (pg_current_wal_lsn: handed to the kernel, so a
   * reader of pg_wal sees everything before it), 'insert' (pg_current_wal_insert_lsn) or 'flush'.
   */
  async currentLsn(which: 'write' | 'insert' | 'flush' = 'write'): Promise<string> {
    const fn = which === 'write' ? 'pg_current_wal_lsn' : which === 'insert' ? 'pg_current_wal_insert_lsn' : 'pg_current_wal_flush_lsn';
    return this.query(`SELECT ${fn}()`);
  }

  /**
   * pg_switch_wal(): ends the current segment with an XLOG_SWITCH record and returns the LSN just
   * past it. PostgreSQL skips the switch (and returns the current position) when nothing was
   * written since the last one.
   */
  async switchWal(): Promise<string> {
    return this.query('SELECT pg_switch_wal()');
  }

  async checkpoint(): Promise<void> {
    await this.query('CHECKPOINT');
  }

  /** The names of the WAL segment files in pg_wal, sorted. */
  async walSegments(): Promise<string[]> {
    const names = await readdir(this.walDir);
    return names.filter((n) => /^[0-9A-F]{24}$/.test(n)).sort();
  }

  /** pg_controldata, as its "label: value" pairs. */
  async controlData(): Promise<Record<string, string>> {
    const r = await runAsPostgres(pgBin('pg_controldata'), ['-D', this.dataDir], { cwd: this.tempDir, env: { LC_ALL: 'C' } });
    const out: Record<string, string> = {};
    for (const line of r.stdout.split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    return out;
  }

  /**
   * pg_basebackup (streamed WAL, fast checkpoint) into a new folder under the temp folder; returns
   * it. Start a server on it with `PgCluster.fromDataDir()`.
   */
  async baseBackup(extraArgs: readonly string[] = []): Promise<string> {
    const dir = await this.makeDir('basebackup');
    await runAsPostgres(pgBin('pg_basebackup'), ['-h', HOST, '-p', String(this.port), '-U', SUPERUSER, '-D', dir, '-X', 'stream', '-c', 'fast', '--no-sync', ...extraArgs], {
      cwd: this.tempDir,
      timeoutMs: 300_000,
      env: clientEnv(),
    });
    return dir;
  }

  /** A new empty folder under the temp folder, owned by postgres (for tablespaces, archives, backups). */
  async makeDir(name: string): Promise<string> {
    const dir = await mkdtemp(path.join(this.tempDir, `${name.replace(/[^A-Za-z0-9_-]/g, '_')}-`));
    if (isRoot()) await chownToPostgres(dir);
    return dir;
  }

  /** The server log written since the cluster was created (pg_ctl -l). */
  async serverLog(): Promise<string> {
    return existsSync(this.logFile) ? readFile(this.logFile, 'utf8') : '';
  }

  /** Synchronous best-effort teardown for the process-exit hook: no promises may run there. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      if (this.isRunning()) {
        const [file, ...args] = asPostgresArgv(pgBin('pg_ctl'), ['-D', this.dataDir, '-m', 'immediate', '-w', '-t', '20', 'stop']);
        if (file !== undefined) spawnSync(file, args, { stdio: 'ignore', cwd: tmpdir(), timeout: 30_000 });
        const pid = this.postmasterPid();
        if (pid !== undefined && processState(pid) === 'alive') killQuietly(pid);
      }
    } finally {
      rmSync(this.tempDir, { recursive: true, force: true, maxRetries: 3 });
      liveClusters.delete(this);
    }
  }

  private psqlArgs(opts: PsqlOptions): string[] {
    const args = ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-h', HOST, '-p', String(this.port), '-U', SUPERUSER, '-d', opts.db ?? 'postgres'];
    for (const [k, v] of Object.entries(opts.vars ?? {})) args.push('-v', `${k}=${v}`);
    return args;
  }

  private postmasterPid(): number | undefined {
    let text: string;
    try {
      text = readFileSync(path.join(this.dataDir, 'postmaster.pid'), 'utf8');
    } catch {
      return undefined;
    }
    const pid = Number.parseInt(text.split('\n')[0] ?? '', 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  private async writeConf(): Promise<void> {
    const socketDir = path.join(this.tempDir, '.s.PGSQL.65535').length <= UNIX_SOCKET_PATH_BYTES_MAX ? this.tempDir : '';
    const all: Record<string, SettingValue> = { ...this.settings, port: this.port, unix_socket_directories: socketDir };
    const lines = ['# Written by strata\'s test harness (src/testing/cluster.ts); rewritten on every configure().'];
    for (const [name, value] of Object.entries(all)) lines.push(`${checkSettingName(name)} = ${formatSetting(value)}`);
    const file = path.join(this.dataDir, CONF_FILE);
    await writeFile(file, lines.join('\n') + '\n');
    if (isRoot()) await chownToPostgres(file);
  }

  private assertNotDestroyed(what: string): void {
    if (this.destroyed) throw new Error(`Cannot ${what} the cluster in ${this.dataDir}: it was destroyed`);
  }
}

/**
 * Creates a cluster, runs `fn` on it and destroys it whatever happens; returns what `fn` returns.
 */
export async function withCluster<T>(opts: PgClusterOptions, fn: (c: PgCluster) => Promise<T>): Promise<T> {
  const cluster = await PgCluster.create(opts);
  try {
    return await fn(cluster);
  } finally {
    await cluster.destroy();
  }
}

/** How many clusters are alive in this process (tests check it drops back to zero). */
export function liveClusterCount(): number {
  return liveClusters.size;
}

function installSafetyNet(): void {
  if (safetyNetInstalled) return;
  safetyNetInstalled = true;
  const cleanupAll = (): void => {
    for (const c of [...liveClusters]) {
      try {
        c.destroySync();
      } catch {
        // Best effort: keep going so the other clusters are cleaned up too.
      }
    }
  };
  process.on('exit', cleanupAll);
  const signals: ReadonlyArray<[NodeJS.Signals, number]> = [
    ['SIGINT', 2],
    ['SIGTERM', 15],
    ['SIGHUP', 1],
  ];
  for (const [signal, number] of signals) {
    process.once(signal, () => {
      cleanupAll();
      process.exit(128 + number);
    });
  }
}

/** A port that was free a moment ago: the kernel's pick for port 0 on the loopback address. */
export function findFreePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`Cannot find a free port: the server address is ${String(address)}`));
        return;
      }
      const port = address.port;
      server.close(() => resolve(port));
    });
  });
}

type ProcessState = 'alive' | 'zombie' | 'gone';

/** Reads /proc/<pid>/stat; a zombie has exited but is not reaped yet. */
function processState(pid: number): ProcessState {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    if (existsSync('/proc/self/stat')) return 'gone';
    try {
      process.kill(pid, 0);
      return 'alive';
    } catch {
      return 'gone';
    }
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so look after the last ')'.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state === 'Z' || state === 'X' ? 'zombie' : 'alive';
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) out.push(Number(e));
    } catch {
      // The process exited while we looked.
    }
  }
  return out;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

let postgresIds: { uid: number; gid: number } | undefined;

async function chownToPostgres(file: string): Promise<void> {
  if (postgresIds === undefined) {
    const uid = Number(execFileSync('id', ['-u', PG_OS_USER], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', PG_OS_USER], { encoding: 'utf8' }).trim());
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`Cannot find the uid and gid of the ${PG_OS_USER} user`);
    postgresIds = { uid, gid };
  }
  await chown(file, postgresIds.uid, postgresIds.gid);
}

function checkSettingName(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(name)) throw new Error(`Cannot write setting: the name must be a PostgreSQL GUC name, received "${name}"`);
  return name;
}

function formatSetting(value: SettingValue): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (typeof value === 'number') return String(value);
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

function clientEnv(): Record<string, string> {
  // Keep a developer's own PG* variables (PGOPTIONS, PGSSLMODE...) from changing what tests do.
  return { PGOPTIONS: '', PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10', PGAPPNAME: 'strata-test' };
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

async function readFrom(file: string, offset: number): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return '';
  }
  try {
    const size = (await handle.stat()).size;
    const buf = Buffer.alloc(Math.max(0, size - offset));
    await handle.read(buf, 0, buf.length, offset);
    return buf.toString('utf8');
  } finally {
    await handle.close();
  }
}
