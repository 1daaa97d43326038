/**
 * Issue 9 through the repository's read path: two tenants follow the same real WAL and read their
 * pages through a ProcessRedoEngine (a redo worker per tenant). One tenant's history then gets an
 * input that makes its worker loop, and one that makes it crash: reads of that page fail with a
 * clear error (TIMEOUT, WORKER_CRASHED) while the other tenant's reads go on succeeding at their
 * usual latency, and the bad tenant's other pages read again once its worker is replaced.
 *
 * The looping and crashing inputs are the worker's TEST-ONLY hooks (src/redo/worker/test-hooks.ts
 * says why: no real record makes strata's engine loop or crash).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { importDataDirectory } from '../ingest/import-datadir.js';
import { walRecords } from '../ingest/wal-folder.js';
import { WalIngest } from '../ingest/walingest.js';
import type { Lsn } from '../pg/lsn.js';
import { ProcessRedoEngine } from '../redo/engine.js';
import { RedoError } from '../redo/errors.js';
import { encodeTestHook } from '../redo/worker/test-hooks.js';
import { PgCluster } from '../testing/cluster.js';
import { RepositoryError } from './errors.js';
import { relBlockKey, type Key } from './key.js';
import { RedoReconstructor } from './redo-reconstructor.js';
import { Repository } from './repository.js';
import type { Timeline } from './timeline.js';

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

test('a tenant whose redo loops or crashes gets clear errors; another tenant reads on at its usual latency', { timeout: 600_000 }, async () => {
  const c = await PgCluster.create({ start: false });
  const root = mkdtempSync(join(tmpdir(), 'strata-isolation-'));
  const engine = new ProcessRedoEngine({ testHooks: true, requestDeadlineMs: 1000 });
  const repo = Repository.open(root, { reconstructorFor: (id) => new RedoReconstructor(engine, id, () => ({ hintBitsLogged: false })), pageCacheBytes: 0 });
  try {
    const good = repo.createTenant('a'.repeat(32)).createTimeline();
    const bad = repo.createTenant('b'.repeat(32)).createTimeline();
    const imported = importDataDirectory(good, c.dataDir);
    importDataDirectory(bad, c.dataDir);
    await c.start();
    await c.pgbench(['-i', '-s', '1', '-q']);
    await c.pgbench(['-c', '2', '-t', '100', '-n']);
    await c.stop('fast');
    // Keys with history to redo: every block some record touched.
    const keys = new Set<Key>();
    for (const t of [good, bad]) {
      const ingest = await WalIngest.open(t);
      for (const r of walRecords({ dir: c.walDir, start: imported.lsn, timeline: 1, segmentSize: c.walSegSizeBytes })) await ingest.ingest(r);
    }
    for (const r of walRecords({ dir: c.walDir, start: imported.lsn, timeline: 1, segmentSize: c.walSegSizeBytes }))
      for (const b of r.blocks) if (b !== undefined && b.fork === 0) keys.add(relBlockKey(b.rel, 0, b.blkno));
    const sample = [...keys].slice(0, 300);
    const at = good.lastRecordLsn;

    const readAll = async (t: Timeline, lsn: Lsn): Promise<number[]> => {
      const ms: number[] = [];
      for (const key of sample) {
        const t0 = performance.now();
        await t.get(key, lsn);
        ms.push(performance.now() - t0);
      }
      return ms;
    };
    const alone = await readAll(good, at);
    await readAll(bad, at); // the bad tenant's worker is up and its pages read, before it is made to misbehave

    // The bad tenant's next record on one page makes its worker loop; another page's makes it crash.
    const [loopKey, crashKey] = sample as [Key, Key];
    const next = (BigInt(at) + 8n) as Lsn;
    bad.put(loopKey, next, { kind: 'wal', willInit: false, bytes: encodeTestHook('loop') });
    bad.put(crashKey, next, { kind: 'wal', willInit: false, bytes: encodeTestHook('abort') });
    bad.advance(next);

    const attack = (async () => {
      const errors: string[] = [];
      for (const key of [loopKey, crashKey, loopKey]) {
        try {
          await bad.get(key, next);
          errors.push('a value');
        } catch (e) {
          assert.ok(e instanceof RepositoryError && e.code === 'RECONSTRUCT_FAILED', String(e));
          const cause = e.cause instanceof RedoError ? e.cause.code : 'no RedoError cause';
          errors.push(`${cause}: ${e.message}`);
        }
      }
      return errors;
    })();
    const during: number[] = [];
    let rounds = 0;
    // Keep reading the good tenant for as long as the attack lasts.
    const attackDone = attack.then(() => true);
    while (!(await Promise.race([attackDone, Promise.resolve(false)])) || rounds === 0) {
      during.push(...(await readAll(good, at)));
      rounds++;
    }
    const errors = await attack;
    console.log(`good tenant alone p50 ${percentile(alone, 50).toFixed(2)} ms p99 ${percentile(alone, 99).toFixed(2)} ms; during the attack p50 ${percentile(during, 50).toFixed(2)} ms p99 ${percentile(during, 99).toFixed(2)} ms (${during.length} reads)`);
    console.log(`bad tenant: ${errors.join(' | ')}`);
    assert.match(errors[0] as string, /^TIMEOUT: .*gave no answer within 1000 ms/);
    assert.match(errors[1] as string, /^WORKER_CRASHED: .*killed by SIGABRT/);
    assert.match(errors[2] as string, /^TIMEOUT: /);
    // The good tenant never failed (readAll throws otherwise) and its median stayed in its usual range.
    assert.ok(percentile(during, 50) < Math.max(5, 5 * percentile(alone, 50)), 'the good tenant\'s median latency stayed near its usual');
    // The bad tenant's other pages read again: its worker was replaced.
    for (const key of sample.slice(2, 20)) assert.equal((await bad.get(key, next)).length, 8192);
    const m = engine.metrics().get('b'.repeat(32));
    assert.ok(m !== undefined && m.workerRestarts >= 2, `the bad tenant's worker was replaced: ${JSON.stringify(m)}`);
    assert.equal(engine.metrics().get('a'.repeat(32))?.workerRestarts ?? 0, 0, 'the good tenant\'s worker never restarted');
  } finally {
    await repo.close(false);
    await engine.close();
    await c.destroy();
    rmSync(root, { recursive: true, force: true });
  }
});

