/**
 * The repository: every tenant's timelines under one root folder (seed 002: "Repository"). The page
 * service and ingest find a timeline here; each tenant brings its own Reconstructor.
 *
 * Folder: `<root>/tenants/<tenant id>/`. A tenant being deleted is renamed away first, so a crash
 * in the middle leaves nothing half-deleted under a real id; leftovers go when the root is opened.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { mkdirDurable, renameAwayDurable, TEMP_SUFFIX } from './durable.js';
import { RepositoryError } from './errors.js';
import { PageCache } from './page-cache.js';
import type { Reconstructor } from './reconstruct.js';
import { checkId, DEFAULT_TENANT_CONFIG, newId, Tenant, TENANT_CONFIG_FILE, type TenantConfig, type TenantEvents } from './tenant.js';
import type { Timeline } from './timeline.js';

export interface RepositoryOptions {
  /** The Reconstructor of a tenant's keys (its redo). Called once per tenant when it is opened or created. */
  readonly reconstructorFor: (tenantId: string) => Reconstructor;
  /** Bytes of materialised pages kept across all tenants. */
  readonly pageCacheBytes?: number;
  /** Run each tenant's background flush, compaction and GC (off for tools and tests that drive them). */
  readonly background?: boolean;
  readonly events?: TenantEvents;
}

/**
 * 1 GiB: a page served from the cache skips the layer read, its CRC, LZ4 and any redo, and is about
 * four times cheaper than one read from an image layer (bench/pagebench). A page server's memory is
 * there for its tenants' hot pages; 1 GiB holds the working set a few computes keep re-reading (a
 * scale-50 pgbench database whole) and is a small part of a server's memory (this 2-core machine
 * has 24 GiB). The former 64 MiB held a twelfth of that database, so random reads nearly always
 * missed, and each miss evicted a page: a cold path for good, with garbage collection churn on top.
 */
const DEFAULT_PAGE_CACHE_BYTES = 1 << 30;

export class Repository {
  private readonly tenants = new Map<string, Tenant>();
  /** Tenants that could not be opened, with why: every use of one fails with that error. */
  readonly broken = new Map<string, RepositoryError>();
  readonly pageCache: PageCache;

  private constructor(
    readonly root: string,
    private readonly options: RepositoryOptions,
  ) {
    this.pageCache = new PageCache(options.pageCacheBytes ?? DEFAULT_PAGE_CACHE_BYTES);
  }

  private get events(): TenantEvents {
    return this.options.events ?? { onBackgroundError: (tenantId, timelineId, e) => console.error(`strata: background work on ${tenantId}/${timelineId} failed: ${(e as Error).message}`) };
  }

  /** Opens (or makes) the root folder and every tenant in it. */
  static open(root: string, options: RepositoryOptions): Repository {
    const repo = new Repository(root, options);
    const dir = join(root, 'tenants');
    mkdirDurable(dir);
    for (const name of readdirSync(dir)) {
      const tdir = join(dir, name);
      if (name.endsWith(TEMP_SUFFIX) || !existsSync(join(tdir, TENANT_CONFIG_FILE))) {
        rmSync(tdir, { recursive: true, force: true });
        continue;
      }
      let tenant: Tenant;
      try {
        tenant = Tenant.load(tdir, repo.pageCache, options.reconstructorFor(name), repo.events);
      } catch (e) {
        // One damaged tenant fails alone (DESIGN.md invariant 4): the others open and serve.
        if (!(e instanceof RepositoryError)) throw e;
        repo.broken.set(name, e);
        continue;
      }
      repo.tenants.set(name, tenant);
      if (options.background === true) tenant.startBackground();
    }
    return repo;
  }

  createTenant(id: string = newId(), config: Partial<TenantConfig> = {}): Tenant {
    checkId('tenant', id);
    if (this.tenants.has(id) || this.broken.has(id)) throw new RepositoryError('ALREADY_EXISTS', `Cannot create tenant ${id}: it exists`);
    const tenant = Tenant.create(join(this.root, 'tenants', id), id, { ...DEFAULT_TENANT_CONFIG, ...config }, this.pageCache, this.options.reconstructorFor(id), this.events);
    this.tenants.set(id, tenant);
    if (this.options.background === true) tenant.startBackground();
    return tenant;
  }

  tenant(id: string): Tenant {
    const t = this.tenants.get(id);
    const broken = this.broken.get(id);
    if (broken !== undefined) throw broken;
    if (t === undefined) throw new RepositoryError('NOT_FOUND', `Cannot find tenant ${id}`);
    return t;
  }

  timeline(tenantId: string, timelineId: string): Timeline {
    return this.tenant(tenantId).timeline(timelineId);
  }

  list(): Tenant[] {
    return [...this.tenants.values()];
  }

  async deleteTenant(id: string): Promise<void> {
    const tenant = this.tenant(id);
    this.tenants.delete(id);
    await tenant.shutdown(false);
    for (const t of tenant.list()) this.pageCache.dropTimeline(t.id);
    const gone = tenant.dir + TEMP_SUFFIX;
    renameAwayDurable(tenant.dir, gone);
    rmSync(gone, { recursive: true, force: true });
  }

  /** Stops every tenant; with `flush`, their in-memory layers are written first. */
  async close(flush = true): Promise<void> {
    for (const t of this.tenants.values()) await t.shutdown(flush);
    this.tenants.clear();
  }
}
