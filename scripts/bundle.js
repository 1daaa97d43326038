// Bundles strata's command into one CommonJS file, dist/src/cli/main.bundle.cjs, after tsc has
// compiled the modules (npm run build, npm test); bin/strata.js runs every subcommand from it. The
// waldump benchmark is bundled the same way, so that it times the code as strata runs it.
//
// Why one file: strata waldump is timed against pg_waldump, a C program that starts in a
// millisecond, and Node 20 loads ES modules one by one (resolve, read, compile, link: ~50 modules
// cost ~30 ms of every start, a twentieth of a dump of 180 MiB of WAL). One file loads in one step.
//
// Why CommonJS: V8 (Node 20) runs functions declared at an ES module's top level slower than the
// same functions inside another function, which is where a CommonJS bundle puts them: the WAL
// decoder on 172 MiB of pgbench WAL took 74.5 ms from the modules and 69.8 ms bundled as CommonJS
// (6%), strata waldump 330-397 ms warm from an ES module bundle against 289-310 (a tenth), and a
// small case (a function allocating an object, called in a loop) showed it too, and not once
// wrapped in a function. A CommonJS entry also needs no ES module loader at start.
//
// The code is the same: strict mode, and each module's import.meta.url its own file's URL in
// dist/ (made from the bundle's at run time), so every path a module makes from it (a worker
// script beside it, the addon, bin/strata.js) is the one it made before. npm packages are loaded
// from node_modules as before. Worker threads and child processes run scripts of their own,
// bundled below where they are hot (waldump's workers, the redo worker), else from dist/.
//
// Without esbuild (installed with --omit=dev) this warns and leaves no bundle: bin/strata.js
// then runs main.js, as it does when the bundle is older than main.js (tsc run alone).
import { readFile, rm } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

/**
 * What is bundled: the strata command; the same for `strata waldump` alone, with the modules of the
 * other subcommands left to be loaded (from beside main.js) if asked for, as `--help` does: a third
 * the size, it started 16 ms sooner, and a dump of 172 MiB of WAL took 469-487 ms from it against
 * 506-521 from the whole; the worker threads of `strata waldump --threads`; the redo worker
 * process (src/redo/worker/sandbox.ts runs it); and the benchmark that times strata waldump
 * against pg_waldump.
 */
const BUNDLES = [
  { entry: join(dist, 'src', 'cli', 'main.js'), outfile: join(dist, 'src', 'cli', 'main.bundle.cjs') },
  { entry: join(dist, 'src', 'cli', 'main.js'), outfile: join(dist, 'src', 'cli', 'waldump.bundle.cjs'), dynamicImportsOutside: true },
  { entry: join(dist, 'src', 'cli', 'waldump-worker.js'), outfile: join(dist, 'src', 'cli', 'waldump-worker.bundle.cjs') },
  { entry: join(dist, 'src', 'redo', 'worker', 'main.js'), outfile: join(dist, 'src', 'redo', 'worker', 'main.bundle.cjs') },
  { entry: join(dist, 'bench', 'waldump.js'), outfile: join(dist, 'bench', 'waldump.bundle.cjs') },
];

// The ES module bundle earlier builds made: removed, so that nothing runs a stale one.
for (const old of ['main.bundle.js', 'main.bundle.js.map']) await rm(join(dist, 'src', 'cli', old), { force: true });

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  for (const b of BUNDLES) await rm(b.outfile, { force: true });
  process.stderr.write('strata: esbuild is not installed; strata will load its modules one by one (slower to start and to run)\n');
  process.exit(0);
}

/**
 * Each module's import.meta.url as it is in dist/ (its own file's URL, made from the bundle's), so
 * that what a module finds beside itself (a worker script, the addon, bin/strata.js) it finds
 * from the bundle too.
 */
function ownUrls(outfile) {
  return {
    name: 'own-import-meta-url',
    setup(build) {
      build.onLoad({ filter: /\.js$/ }, async (args) => {
        const code = await readFile(args.path, 'utf8');
        if (!code.includes('import.meta.url')) return undefined;
        const path = relative(dirname(outfile), args.path).split(sep).join('/');
        return { contents: code.replaceAll('import.meta.url', `new URL(${JSON.stringify(path)}, importMetaUrl).href`), loader: 'js' };
      });
    },
  };
}

/** Leaves every dynamic import() to be loaded at run time, from beside main.js. */
const dynamicImportsOutside = {
  name: 'dynamic-imports-outside',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => (args.kind === 'dynamic-import' ? { path: args.path, external: true } : undefined));
  },
};

for (const b of BUNDLES) {
  const { entry, outfile } = b;
  await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    // npm packages are loaded from node_modules as before (all of strata's are CommonJS).
    packages: 'external',
    plugins: b.dynamicImportsOutside === true ? [ownUrls(outfile), dynamicImportsOutside] : [ownUrls(outfile)],
    // The modules are ES modules: strict mode, as they were.
    banner: { js: `'use strict';\nconst importMetaUrl = require('node:url').pathToFileURL(__filename).href;` },
    sourcemap: true,
    logLevel: 'warning',
  });
}
