#!/usr/bin/env node
// The strata command: runs the compiled TypeScript (npm run build puts it in dist/).
import { statSync } from 'node:fs';

const cli = new URL('../dist/src/cli/', import.meta.url);
const argv = process.argv.slice(2);

/**
 * `strata waldump` runs from the one-file bundle the build makes (scripts/bundle.js: it starts
 * ~30 ms sooner) when there is one at least as new as main.js; everything else, and
 * STRATA_BUNDLE=0, runs main.js.
 */
function entry() {
  if (argv[0] !== 'waldump' || process.env.STRATA_BUNDLE === '0') return 'main.js';
  try {
    if (statSync(new URL('main.bundle.js', cli)).mtimeMs >= statSync(new URL('main.js', cli)).mtimeMs) return 'main.bundle.js';
  } catch {
    // No bundle (esbuild not installed) or no build: main.js, or its own clear error.
  }
  return 'main.js';
}

const { main } = await import(new URL(entry(), cli).href);

main(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`strata: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
