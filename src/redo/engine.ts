/**
 * Redo as the repository calls it: one interface, `RedoEngine`, from (tenant, page key, base image,
 * encoded inputs) to the page, with two implementations.
 *
 * - ProcessRedoEngine (worker/process-engine.ts), the page server's default: a worker process per
 *   tenant, confined (worker/sandbox.ts: Node's permission model, a heap cap and a data limit, and a
 *   network namespace of its own where the host allows it, because Node 20's permission model does
 *   not restrict sockets), with a deadline per request and restarts; see seeds 000 and 001.
 * - InProcessRedoEngine: the same decode and redo (request.ts) in the caller's process, for tools
 *   and benchmarks, where the WAL is the caller's own. It blocks the event loop while it works,
 *   and trusts its inputs' record CRCs (codec.ts: the repository checked them).
 *
 * Both reject with a RedoError whose code says what happened: a verdict on the inputs (BAD_INPUT,
 * CORRUPT_RECORD, CORRUPT_PAGE, UNSUPPORTED_RECORD), a limit (TIMEOUT, OUT_OF_MEMORY, OVERLOADED),
 * a lost worker (WORKER_CRASHED, WORKER_PROTOCOL, WORKER_START_FAILED), CANCELLED, or INTERNAL for
 * a bug in the engine. `metrics()` gives counters and latency per tenant (metrics.ts).
 */
import { RedoError } from './errors.js';
import { RedoMetrics, type TenantRedoMetrics } from './metrics.js';
import { asRedoError, runRedoRequest, type RedoRequest } from './request.js';
import { ProcessRedoEngine, type ProcessRedoEngineOptions } from './worker/process-engine.js';

export type { RedoRequest } from './request.js';
export type { TenantRedoMetrics } from './metrics.js';
export { ProcessRedoEngine, type ProcessRedoEngineOptions } from './worker/process-engine.js';
export type { NetworkNamespaceMode } from './worker/sandbox.js';

export interface RedoEngine {
  /** The page after the inputs; rejects with RedoError (a typed code: BAD_INPUT, TIMEOUT, WORKER_CRASHED, ...). */
  redo(tenantId: string, request: RedoRequest): Promise<Uint8Array>;
  /** Stop the tenant's worker, if any (tenant detached); its requests not yet answered fail with CANCELLED. */
  detachTenant(tenantId: string): Promise<void>;
  /** Detach every tenant; later requests fail with CANCELLED. */
  close(): Promise<void>;
  /** Counters and latency per tenant, copied. */
  metrics(): ReadonlyMap<string, TenantRedoMetrics>;
}

export class InProcessRedoEngine implements RedoEngine {
  private readonly counters = new RedoMetrics();
  private closed = false;

  async redo(tenantId: string, request: RedoRequest): Promise<Uint8Array> {
    if (this.closed) throw new RedoError('CANCELLED', `Cannot redo a page for tenant ${tenantId}: the redo engine is closed`);
    const c = this.counters.tenant(tenantId);
    c.requests++;
    const t0 = performance.now();
    try {
      // Its inputs are this process's own repository's, CRC-checked at ingest and on every layer
      // read: the record CRC is not recomputed (codec.ts). The worker process does recompute it.
      const page = runRedoRequest(request, { recordCrcChecked: true });
      c.succeed(request.inputs.length, performance.now() - t0);
      return page;
    } catch (e) {
      const err = asRedoError(e);
      c.fail(err.code, performance.now() - t0);
      throw err;
    }
  }

  async detachTenant(): Promise<void> {
    // Nothing runs in the background for a tenant.
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  metrics(): ReadonlyMap<string, TenantRedoMetrics> {
    return this.counters.snapshot();
  }
}

export type RedoEngineConfig = { readonly mode: 'in-process' } | ({ readonly mode: 'process' } & ProcessRedoEngineOptions);

/** The engine a configuration asks for; a worker process per tenant unless told otherwise. */
export function createRedoEngine(config: RedoEngineConfig = { mode: 'process' }): RedoEngine {
  if (config.mode === 'in-process') return new InProcessRedoEngine();
  const { mode: _mode, ...options } = config;
  return new ProcessRedoEngine(options);
}
