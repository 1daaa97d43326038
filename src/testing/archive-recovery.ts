/**
 * The stock side of bench/redo and bench/ingest: a PostgreSQL started in archive recovery on a copy
 * of `startDir` (restore_command from `archive`, hot_standby off), timed from `pg_ctl start` until
 * it accepts connections (pg_isready), which is after the last record is replayed and the
 * end-of-recovery checkpoint; checked from its log to have replayed up to `lastRecord`.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatLsn, parseLsn, type Lsn } from '../pg/lsn.js';
import { PgCluster, pgBin, run } from './cluster.js';

const READY_WAIT_MS_MAX = 600_000;

export async function timeArchiveRecovery(startDir: string, archive: string, name: string, lastRecord: Lsn): Promise<number> {
  const replica = await PgCluster.fromDataDir(startDir, { name, start: false, settings: { restore_command: `cp ${archive}/%f %p`, hot_standby: false, max_wal_size: '8GB' } });
  try {
    writeFileSync(join(replica.dataDir, 'recovery.signal'), '');
    await run('chown', ['postgres:', join(replica.dataDir, 'recovery.signal')]).catch(() => undefined);
    const t0 = performance.now();
    await replica.start();
    // pg_ctl -w returns once recovery is consistent; ready is when the server accepts connections.
    while (spawnSync(pgBin('pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(replica.port)]).status !== 0) {
      if (performance.now() - t0 > READY_WAIT_MS_MAX) throw new Error(`PostgreSQL was not ready after ${READY_WAIT_MS_MAX} ms of recovery`);
      await sleep(5);
    }
    const ms = performance.now() - t0;
    // The comparison holds only if PostgreSQL replayed the same WAL: its log says where redo ended.
    const log = await replica.serverLog();
    const redoDone = /redo done at ([0-9A-F]+\/[0-9A-F]+)/.exec(log)?.[1];
    if (redoDone === undefined || parseLsn(redoDone) < lastRecord)
      throw new Error(`PostgreSQL's recovery stopped at ${redoDone ?? 'an unknown point'}, before the last record at ${formatLsn(lastRecord)}:\n${log.slice(-3000)}`);
    return ms;
  } finally {
    await replica.destroy();
  }
}
