#!/usr/bin/env node
// The strata command: runs the compiled TypeScript (npm run build puts it in dist/).
//
// A CommonJS script (bin/package.json says so): strata then starts without Node's ES module
// loader (~5 ms of every start).
'use strict';
const { statSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

const cli = join(__dirname, '..', 'dist', 'src', 'cli');
const argv = process.argv.slice(2);

/**
 * The one-file CommonJS bundle the build makes to run this subcommand from (scripts/bundle.js: it
 * starts sooner and runs faster than the modules), if there is one at least as new as main.js:
 * `waldump` has one of its own, every other subcommand runs from the whole command's. Without one,
 * and with STRATA_BUNDLE=0, strata runs from main.js and the modules tsc compiled.
 */
function bundle() {
  if (process.env.STRATA_BUNDLE === '0') return undefined;
  const file = join(cli, argv[0] === 'waldump' ? 'waldump.bundle.cjs' : 'main.bundle.cjs');
  try {
    return statSync(file).mtimeMs >= statSync(join(cli, 'main.js')).mtimeMs ? file : undefined;
  } catch {
    // No bundle (esbuild not installed) or no build: main.js, or its own clear error.
    return undefined;
  }
}

const file = bundle();
const loaded = file !== undefined ? Promise.resolve(require(file)) : import(pathToFileURL(join(cli, 'main.js')).href);

loaded
  .then(({ main }) => main(argv))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`strata: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
