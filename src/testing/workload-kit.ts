/**
 * What every workload module shares: the `Workload` shape, the scale option, and small helpers.
 * Workloads live in workloads.ts (the list and the runner) and index-workloads.ts (index AMs).
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { PgCluster } from './cluster.js';

export interface WorkloadOptions {
  /**
   * Multiplies row counts (and pgbench's run); 1 unless told, within [0.01, 100]. Under
   * wal_consistency_checking=all every record carries images, so WAL grows ~30x: pass ~0.1 there.
   * Small scales keep every workload working but may lose its rarer records (page deletions,
   * posting trees, overflow pages), so tests that look for those should keep scale 1.
   */
  readonly scale?: number;
}

export interface Workload {
  readonly name: string;
  /** The resource managers and record kinds it is there to produce. */
  readonly description: string;
  run(c: PgCluster, opts?: WorkloadOptions): Promise<void>;
}

const SCALE_MIN = 0.01;
const SCALE_MAX = 100;
const SCALED_ROWS_MIN = 50;
/** How long one workload session waits for another before giving up. */
export const CONCURRENT_WAIT_MS_MAX = 30_000;

/** `base` rows at scale 1, scaled, never fewer than SCALED_ROWS_MIN. */
export function rows(opts: WorkloadOptions | undefined, base: number): number {
  const scale = opts?.scale ?? 1;
  if (!(scale >= SCALE_MIN && scale <= SCALE_MAX)) throw new RangeError(`Cannot run a workload at scale ${scale}: it must be in [${SCALE_MIN}, ${SCALE_MAX}]`);
  return Math.max(SCALED_ROWS_MIN, Math.round(base * scale));
}

/** Polls `cond` every 50 ms until it holds; throws after CONCURRENT_WAIT_MS_MAX. */
export async function waitUntil(cond: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + CONCURRENT_WAIT_MS_MAX;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`Cannot wait any longer for ${what}: not done after ${CONCURRENT_WAIT_MS_MAX} ms`);
    await sleep(50);
  }
}
