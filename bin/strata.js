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
 * strata runs from the one-file CommonJS bundle the build makes (scripts/bundle.js: it starts
 * sooner and runs faster than the modules) when there is one at least as new as main.js; without
 * one, and with STRATA_BUNDLE=0, from main.js and the modules tsc compiled.
 */
function bundled() {
  if (process.env.STRATA_BUNDLE === '0') return false;
  try {
    return statSync(join(cli, 'main.bundle.cjs')).mtimeMs >= statSync(join(cli, 'main.js')).mtimeMs;
  } catch {
    // No bundle (esbuild not installed) or no build: main.js, or its own clear error.
    return false;
  }
}

const loaded = bundled() ? Promise.resolve(require(join(cli, 'main.bundle.cjs'))) : import(pathToFileURL(join(cli, 'main.js')).href);

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
