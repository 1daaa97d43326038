/**
 * The work folder of the local control plane (in the spirit of Neon's `neon_local` `.neon`): one
 * folder holds the page server's repository, its log and pid file, the configuration, the names
 * given to branches, and the endpoints (stock PostgreSQL servers on branches).
 *
 * ```
 *  <dir>/config.json         ports, redo mode, PostgreSQL bin folder, default tenant, branch names
 *  <dir>/repository/         the page server's repository (src/repository)
 *  <dir>/pageserver.log      the page server's log when it runs in the background
 *  <dir>/pageserver.pid
 *  <dir>/endpoints/<name>/   endpoint.json, data/ (PostgreSQL's data folder), postgres.log
 * ```
 * The configuration is rewritten whole and durably (temp + fsync + rename) on every change.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileDurable } from '../repository/durable.js';

export const CONFIG_FILE = 'config.json';
export const CONFIG_FORMAT_VERSION = 1;

export interface ControlConfig {
  readonly formatVersion: number;
  readonly host: string;
  readonly pageServicePort: number;
  readonly httpPort: number;
  readonly redoMode: 'process' | 'in-process';
  readonly pgBinDir: string;
  /** The tenant commands use when none is named. */
  readonly defaultTenant: string | null;
  /** Branch names per tenant: name -> timeline id. */
  readonly branches: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

export class ControlError extends Error {
  override readonly name = 'ControlError';
  constructor(
    readonly code: 'NOT_INITIALIZED' | 'ALREADY_INITIALIZED' | 'NOT_RUNNING' | 'ALREADY_RUNNING' | 'NOT_FOUND' | 'ALREADY_EXISTS' | 'BAD_ARGUMENT' | 'FAILED',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function defaultConfig(overrides: Partial<ControlConfig> = {}): ControlConfig {
  return {
    formatVersion: CONFIG_FORMAT_VERSION,
    host: '127.0.0.1',
    pageServicePort: 64000,
    httpPort: 9898,
    redoMode: 'process',
    pgBinDir: process.env['PG_BINDIR'] ?? '/usr/lib/postgresql/15/bin',
    defaultTenant: null,
    branches: {},
    ...overrides,
  };
}

/** The work folder: `--dir`, else $STRATA_DIR, else ./.strata. */
export function workDirOf(dir: string | undefined): string {
  return resolve(dir ?? process.env['STRATA_DIR'] ?? '.strata');
}

export class WorkDir {
  private constructor(
    readonly dir: string,
    private current: ControlConfig,
  ) {}

  static init(dir: string, overrides: Partial<ControlConfig> = {}): WorkDir {
    if (existsSync(join(dir, CONFIG_FILE))) throw new ControlError('ALREADY_INITIALIZED', `Cannot initialise ${dir}: it holds a strata configuration already (use it, or remove the folder)`);
    mkdirSync(join(dir, 'endpoints'), { recursive: true });
    mkdirSync(join(dir, 'repository'), { recursive: true });
    const w = new WorkDir(dir, defaultConfig(overrides));
    w.save();
    return w;
  }

  static open(dir: string): WorkDir {
    const path = join(dir, CONFIG_FILE);
    if (!existsSync(path)) throw new ControlError('NOT_INITIALIZED', `Cannot find a strata work folder at ${dir}: run "strata init" first (or pass --dir)`);
    let config: ControlConfig;
    try {
      config = JSON.parse(readFileSync(path, 'utf8')) as ControlConfig;
    } catch (e) {
      throw new ControlError('FAILED', `Cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
    if (config.formatVersion !== CONFIG_FORMAT_VERSION) throw new ControlError('FAILED', `Cannot read ${path}: format version ${config.formatVersion} is not ${CONFIG_FORMAT_VERSION}`);
    return new WorkDir(dir, { ...defaultConfig(), ...config });
  }

  get config(): ControlConfig {
    return this.current;
  }

  update(change: (c: ControlConfig) => ControlConfig): void {
    this.current = change(this.current);
    this.save();
  }

  private save(): void {
    writeFileDurable(join(this.dir, CONFIG_FILE), Buffer.from(JSON.stringify(this.current, null, 2) + '\n'));
  }

  get repositoryDir(): string {
    return join(this.dir, 'repository');
  }
  get logFile(): string {
    return join(this.dir, 'pageserver.log');
  }
  get pidFile(): string {
    return join(this.dir, 'pageserver.pid');
  }
  get endpointsDir(): string {
    return join(this.dir, 'endpoints');
  }
  get httpBase(): string {
    return `http://${this.current.host}:${this.current.httpPort}`;
  }

  /** The tenant named, or the default one. */
  tenantOf(tenant: string | undefined): string {
    const t = tenant ?? this.current.defaultTenant;
    if (t === null || t === undefined) throw new ControlError('BAD_ARGUMENT', 'No tenant given and no default tenant: run "strata tenant create" (it becomes the default) or pass --tenant');
    return t;
  }

  /** A branch name's timeline id (a 32-hex id is taken as is). */
  timelineOf(tenant: string, branch: string): string {
    if (/^[0-9a-f]{32}$/.test(branch)) return branch;
    const id = this.current.branches[tenant]?.[branch];
    if (id === undefined) throw new ControlError('NOT_FOUND', `Cannot find branch "${branch}" of tenant ${tenant}: see "strata timeline list"`);
    return id;
  }

  branchNameOf(tenant: string, timelineId: string): string | undefined {
    return Object.entries(this.current.branches[tenant] ?? {}).find(([, id]) => id === timelineId)?.[0];
  }

  nameBranch(tenant: string, name: string, timelineId: string): void {
    if (this.current.branches[tenant]?.[name] !== undefined) throw new ControlError('ALREADY_EXISTS', `Cannot name a branch "${name}": tenant ${tenant} has one`);
    this.update((c) => ({ ...c, branches: { ...c.branches, [tenant]: { ...(c.branches[tenant] ?? {}), [name]: timelineId } } }));
  }

  forgetBranch(tenant: string, timelineId: string): void {
    this.update((c) => ({ ...c, branches: { ...c.branches, [tenant]: Object.fromEntries(Object.entries(c.branches[tenant] ?? {}).filter(([, id]) => id !== timelineId)) } }));
  }
}
