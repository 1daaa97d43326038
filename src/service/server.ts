/**
 * The page server process's parts, started and stopped together (the CLI's `strata start`, issue 8,
 * will call this): the repository under one root folder, the redo engine (a worker process per
 * tenant by default), the page service (pagestream over the PostgreSQL wire protocol) and the HTTP
 * management API, both on 127.0.0.1 unless told.
 *
 * Auth follows one rule for both ports: with a JWT key configured, tokens are required; without
 * one, nothing is asked, which is only allowed on loopback addresses (a server on another address
 * with no key refuses to start unless `allowUnauthenticated` says so). Page service passwords
 * (SCRAM-SHA-256) are the alternative for the page port when no JWT key is set; they do not
 * cover the HTTP API.
 *
 * Redo needs one fact from the primary's pg_control (XLogHintBitIsNeeded: data checksums or
 * wal_log_hints); it is read per tenant when the server starts and when a timeline is imported.
 */
import { isIP } from 'node:net';
import { join } from 'node:path';
import { Followers } from './followers.js';
import { Imports } from './imports.js';
import { ControlFile, ControlFileError } from '../pg/control.js';
import { createRedoEngine, type RedoEngine, type RedoEngineConfig } from '../redo/engine.js';
import { DEFAULT_REDO_SETTINGS } from '../redo/redo.js';
import type { RedoSettings } from '../redo/types.js';
import { RepositoryError } from '../repository/errors.js';
import { CONTROL_FILE_KEY } from '../repository/key.js';
import { RedoReconstructor } from '../repository/redo-reconstructor.js';
import { Repository } from '../repository/repository.js';
import { ServiceError } from './errors.js';
import { HttpApi } from './http-api.js';
import { JwtVerifier, type JwtKeys } from './jwt.js';
import { PageService, type PageServiceAuth } from './page-service.js';
import { scramSecret } from './scram.js';
import { ServiceMetrics } from './service-metrics.js';

export interface ServerConfig {
  /** The repository's root folder. */
  readonly root: string;
  /** Both listeners' address. */
  readonly host?: string;
  /** 0: any free port. */
  readonly pageServicePort?: number;
  readonly httpPort?: number;
  readonly redo?: RedoEngineConfig;
  /** Set: JWT auth on both ports. */
  readonly jwt?: JwtKeys;
  /** Page service users and passwords (SCRAM-SHA-256 unless `passwordMethod` says cleartext); ignored with `jwt`. */
  readonly pageServicePasswords?: Readonly<Record<string, string>>;
  readonly passwordMethod?: 'scram-sha-256' | 'cleartext';
  /** Allow a non-loopback address with no authentication. */
  readonly allowUnauthenticated?: boolean;
  /** How long a page request waits for WAL up to its LSN. */
  readonly waitLsnTimeoutMs?: number;
  readonly pageCacheBytes?: number;
  /** Background flush, compaction and GC (on unless told). */
  readonly background?: boolean;
  /** PostgreSQL's bin folder, for timelines made by initdb. */
  readonly pgBinDir?: string;
  /** Where the WAL logs of followed timelines live (default: `<root>/wal`); `follows.json` there lists what is followed. */
  readonly walLogRoot?: string;
}

const DEFAULT_PG_BINDIR = '/usr/lib/postgresql/15/bin';
/** Neon's ports: 64000 for the page service, 9898 for its HTTP API. */
export const DEFAULT_PAGE_SERVICE_PORT = 64000;
export const DEFAULT_HTTP_PORT = 9898;

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

export class StrataServer {
  private startedAt = Date.now();
  private stopped = false;

  private constructor(
    readonly repository: Repository,
    readonly redo: RedoEngine,
    readonly metrics: ServiceMetrics,
    readonly pageService: PageService,
    readonly httpApi: HttpApi,
    private readonly redoSettings: Map<string, RedoSettings>,
    readonly followers: Followers,
    readonly imports: Imports,
  ) {}

  static async start(config: ServerConfig): Promise<StrataServer> {
    const host = config.host ?? '127.0.0.1';
    const keyed = config.jwt !== undefined;
    // Passwords cover the page port only: off loopback the HTTP API needs a JWT key as well.
    if (!keyed && !isLoopback(host) && config.allowUnauthenticated !== true)
      throw new ServiceError('BAD_REQUEST', `Cannot listen on ${host} without authentication: configure a JWT key, or set allowUnauthenticated`);
    const verifier = keyed ? new JwtVerifier(config.jwt) : undefined;
    const auth: PageServiceAuth =
      verifier !== undefined
        ? { kind: 'jwt', verifier }
        : config.pageServicePasswords !== undefined
          ? { kind: 'password', method: config.passwordMethod ?? 'scram-sha-256', users: new Map(Object.entries(config.pageServicePasswords).map(([u, p]) => [u, scramSecret(p)])) }
          : { kind: 'trust' };

    const redo = createRedoEngine(config.redo);
    const settings = new Map<string, RedoSettings>();
    let repository: Repository | undefined;
    try {
      repository = Repository.open(config.root, {
        reconstructorFor: (tenantId) => new RedoReconstructor(redo, tenantId, () => settings.get(tenantId) ?? DEFAULT_REDO_SETTINGS),
        ...(config.pageCacheBytes === undefined ? {} : { pageCacheBytes: config.pageCacheBytes }),
        background: config.background ?? true,
      });
      const metrics = new ServiceMetrics(repository, redo);
      const followers = new Followers(repository, config.walLogRoot ?? join(config.root, 'wal'));
      const imports = new Imports(repository, config.walLogRoot ?? join(config.root, 'wal'), followers, (tenantId, control) => settings.set(tenantId, { hintBitsLogged: control.hintBitsLogged }));
      const pageService = new PageService(repository, {
        host,
        port: config.pageServicePort ?? DEFAULT_PAGE_SERVICE_PORT,
        auth,
        ...(config.waitLsnTimeoutMs === undefined ? {} : { waitLsnTimeoutMs: config.waitLsnTimeoutMs }),
        metrics,
      });
      let server: StrataServer | undefined;
      const repo = repository;
      const httpApi = new HttpApi(
        {
          repository: repo,
          pgBinDir: config.pgBinDir ?? DEFAULT_PG_BINDIR,
          onTenantDeleted: async (tenantId) => {
            settings.delete(tenantId);
            await redo.detachTenant(tenantId);
          },
          onImported: (tenantId, control) => settings.set(tenantId, { hintBitsLogged: control.hintBitsLogged }),
          status: () => server?.status() ?? {},
          metricsText: () => metrics.render(),
          follow: (tenantId, timeline, target) => followers.follow(tenantId, timeline, target),
          unfollow: (tenantId, timeline, waitLsn) => followers.unfollow(tenantId, timeline, waitLsn),
          imports,
        },
        metrics,
        { host, port: config.httpPort ?? DEFAULT_HTTP_PORT, jwt: verifier },
      );
      server = new StrataServer(repo, redo, metrics, pageService, httpApi, settings, followers, imports);
      await server.loadRedoSettings();
      await followers.resume();
      await imports.resume();
      await pageService.listen();
      try {
        await httpApi.listen();
      } catch (e) {
        await pageService.close();
        throw e;
      }
      server.startedAt = Date.now();
      return server;
    } catch (e) {
      await repository?.close(false).catch(() => undefined);
      await redo.close().catch(() => undefined);
      throw e;
    }
  }

  /** Each tenant's redo settings from the pg_control of its first timeline that has one. */
  private async loadRedoSettings(): Promise<void> {
    for (const tenant of this.repository.list()) {
      for (const t of tenant.list()) {
        try {
          const control = new ControlFile(await t.get(CONTROL_FILE_KEY, t.lastRecordLsn, 0));
          this.redoSettings.set(tenant.id, { hintBitsLogged: control.hintBitsLogged });
          break;
        } catch (e) {
          // An empty timeline has no pg_control yet; a damaged one is that timeline's problem, found when it is read.
          if (!(e instanceof RepositoryError || e instanceof ControlFileError)) throw e;
        }
      }
    }
  }

  status(): Record<string, unknown> {
    const tenants = this.repository.list();
    return {
      service: 'strata',
      uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
      page_service_port: this.pageService.port,
      http_port: this.httpApi.port,
      page_service_connections: this.pageService.connectionCount,
      tenants: tenants.length,
      broken_tenants: [...this.repository.broken.keys()],
      timelines: tenants.reduce((n, t) => n + t.list().length, 0),
      page_cache_bytes: this.repository.pageCache.bytes,
    };
  }

  /** Stops listening, ends connections, flushes and closes the repository, stops the redo workers. */
  async stop(flush = true): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.httpApi.close();
    await this.pageService.close();
    this.imports.stop();
    await this.followers.stopAll();
    await this.repository.close(flush);
    await this.redo.close();
  }
}

export { ControlFile };
