/**
 * `strata demo`: the main job on embedded defaults, until the page server exists. It starts a stock
 * PostgreSQL 15 of its own in a temporary folder, makes WAL with pgbench and a few other writes,
 * decodes it with strata's decoder, shows a few records and the statistics beside pg_waldump's,
 * then stops and removes the server, keeping a copy of its WAL in .strata/demo/pg_wal to try by hand.
 */
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PgCluster } from '../testing/cluster.js';
import { firstSegmentStart, pgWaldump, strataWaldump } from '../testing/waldump-oracle.js';

function say(s: string): void {
  process.stdout.write(s + '\n');
}

export async function runDemo(): Promise<number> {
  say('strata demo: starting a stock PostgreSQL 15 in a temporary folder...');
  const c = await PgCluster.create({ name: 'demo', settings: { wal_compression: 'lz4' } });
  let ok = false;
  try {
    say(`  PostgreSQL is running on 127.0.0.1:${c.port}, data folder ${c.dataDir}`);
    say('strata demo: making WAL (pgbench -i -s 2, 5 s of pgbench, a 100 kB logical message)...');
    await c.pgbench(['-i', '-s', '2', '-q']);
    await c.pgbench(['-c', '2', '-j', '2', '-T', '5', '-n']);
    await c.query(`SELECT pg_logical_emit_message(false, 'strata-demo', repeat('x', 100000))`);
    await c.checkpoint();
    const walDir = join(c.dataDir, 'pg_wal');
    const start = firstSegmentStart(walDir);

    say(`\nstrata waldump -b -n 5 -p ${walDir} -s ${start}:`);
    const head = strataWaldump([], { path: walDir, start, limit: '5', bkpDetails: true });
    for (const l of head.lines) say('  ' + l);

    const t0 = performance.now();
    const stats = strataWaldump([], { path: walDir, start, stats: true });
    const strataMs = performance.now() - t0;
    const t1 = performance.now();
    const pgStats = pgWaldump(['--stats', '-p', walDir, '-s', start]);
    const pgMs = performance.now() - t1;
    say(`\nstrata waldump --stats (${strataMs.toFixed(0)} ms):`);
    for (const l of stats.lines) say('  ' + l);
    const same = stats.lines.join('\n') === pgStats.lines.join('\n');
    say(`\npg_waldump --stats (${pgMs.toFixed(0)} ms) printed ${same ? 'the same table' : 'a different table (a bug: please report it)'}.`);
    say(`Both stopped at the end of valid WAL: ${stats.error || 'cleanly'}`);

    const kept = resolve('.strata', 'demo', 'pg_wal');
    rmSync(kept, { recursive: true, force: true });
    mkdirSync(kept, { recursive: true });
    cpSync(walDir, kept, { recursive: true });
    say(`\nThe server is stopped and removed; its WAL is kept in ${kept}. To carry on by hand:`);
    say(`  node bin/strata.js waldump -p ${kept} -s ${start} -r Heap -n 20`);
    say(`  node bin/strata.js waldump --stats=record -p ${kept} -s ${start}`);
    say(`  /usr/lib/postgresql/15/bin/pg_waldump --stats=record -p ${kept} -s ${start}`);
    ok = same;
  } finally {
    await c.destroy();
  }
  return ok ? 0 : 1;
}
