/**
 * Redo metrics per tenant, kept by the engines (engine.ts) in plain counters: requests and their
 * outcomes, inputs applied, latency (a histogram with Prometheus-style bucket bounds), and for the
 * worker processes their starts, restarts, timeouts, crashes, protocol errors and retries. A later
 * issue exports them; `snapshot()` gives copies that the caller may keep.
 */
import type { RedoErrorCode } from './errors.js';

/** Upper bounds of the latency buckets, in ms; the last bucket (+Inf) is implied. */
export const LATENCY_BUCKET_BOUNDS_MS: readonly number[] = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

export interface LatencyHistogram {
  readonly count: number;
  readonly sumMs: number;
  readonly maxMs: number;
  /** `counts[i]` requests took at most LATENCY_BUCKET_BOUNDS_MS[i] (and more than the bound before); the last entry is +Inf. Not cumulative. */
  readonly counts: readonly number[];
}

export interface TenantRedoMetrics {
  /** Requests submitted. */
  readonly requests: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly failures: Readonly<Partial<Record<RedoErrorCode, number>>>;
  /** Inputs in the requests that succeeded. */
  readonly inputsApplied: number;
  /** From submission to answer, of every request answered (succeeded or failed). */
  readonly latency: LatencyHistogram;
  /** Worker processes started (the first one included). */
  readonly workerStarts: number;
  /** Workers lost while serving (deadline, crash, garbage) and so replaced on the next request. */
  readonly workerRestarts: number;
  readonly timeouts: number;
  readonly crashes: number;
  readonly protocolErrors: number;
  /** Requests sent again to a new worker after theirs was lost. */
  readonly retries: number;
  /** Workers stopped because they were idle. */
  readonly idleStops: number;
  /** Now: requests sent to the worker and not answered, and requests waiting to be sent. */
  readonly inFlight: number;
  readonly queued: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class TenantCounters implements Mutable<Omit<TenantRedoMetrics, 'latency' | 'failures'>> {
  requests = 0;
  succeeded = 0;
  failed = 0;
  readonly failures = new Map<RedoErrorCode, number>();
  inputsApplied = 0;
  workerStarts = 0;
  workerRestarts = 0;
  timeouts = 0;
  crashes = 0;
  protocolErrors = 0;
  retries = 0;
  idleStops = 0;
  inFlight = 0;
  queued = 0;
  private latencyCount = 0;
  private latencySumMs = 0;
  private latencyMaxMs = 0;
  private readonly latencyCounts = new Array<number>(LATENCY_BUCKET_BOUNDS_MS.length + 1).fill(0);

  observeLatency(ms: number): void {
    this.latencyCount++;
    this.latencySumMs += ms;
    if (ms > this.latencyMaxMs) this.latencyMaxMs = ms;
    let i = 0;
    while (i < LATENCY_BUCKET_BOUNDS_MS.length && ms > LATENCY_BUCKET_BOUNDS_MS[i]!) i++;
    this.latencyCounts[i]!++;
  }

  succeed(inputs: number, ms: number): void {
    this.succeeded++;
    this.inputsApplied += inputs;
    this.observeLatency(ms);
  }

  fail(code: RedoErrorCode, ms: number): void {
    this.failed++;
    this.failures.set(code, (this.failures.get(code) ?? 0) + 1);
    this.observeLatency(ms);
  }

  snapshot(): TenantRedoMetrics {
    return {
      requests: this.requests,
      succeeded: this.succeeded,
      failed: this.failed,
      failures: Object.fromEntries(this.failures),
      inputsApplied: this.inputsApplied,
      latency: { count: this.latencyCount, sumMs: this.latencySumMs, maxMs: this.latencyMaxMs, counts: [...this.latencyCounts] },
      workerStarts: this.workerStarts,
      workerRestarts: this.workerRestarts,
      timeouts: this.timeouts,
      crashes: this.crashes,
      protocolErrors: this.protocolErrors,
      retries: this.retries,
      idleStops: this.idleStops,
      inFlight: this.inFlight,
      queued: this.queued,
    };
  }
}

/** The counters of every tenant an engine has served; they outlive a tenant's detach. */
export class RedoMetrics {
  private readonly tenants = new Map<string, TenantCounters>();

  tenant(tenantId: string): TenantCounters {
    let t = this.tenants.get(tenantId);
    if (t === undefined) this.tenants.set(tenantId, (t = new TenantCounters()));
    return t;
  }

  snapshot(): ReadonlyMap<string, TenantRedoMetrics> {
    return new Map([...this.tenants].map(([id, t]) => [id, t.snapshot()]));
  }
}
