// Bundles the modules `strata waldump` runs into one CommonJS file, dist/src/cli/main.bundle.cjs,
// after tsc has compiled them (npm run build, npm test). bin/strata.js runs `strata waldump` from it.
//
// Why: strata waldump is timed against pg_waldump, a C program that starts in a millisecond, and
// Node 20 loads ES modules one by one (resolve, read, compile, link: ~50 modules cost ~30 ms of
// every start, a twentieth of a dump of 180 MiB of WAL). One file loads in one step.
//
// Why CommonJS: the same code ran a tenth faster from a CommonJS bundle than from an ES module
// one, cold and warm alike (a dump of 172 MiB of pgbench WAL in one process, five times: 412-425
// then 289-310 ms against 455-496 then 330-397), and a CommonJS entry (bin/strata.js) needs no ES
// module loader at start. The code is the same: strict mode, import.meta.url replaced by the
// bundle's own file URL, which lies beside main.js, so every path made from it resolves alike.
//
// What stays outside: npm packages (loaded from node_modules as before) and every dynamic import
// (the other subcommands' modules, loaded when run), so every path the bundle resolves
// (`./waldump-worker.js`, the addon under native/) resolves as from main.js.
// Other subcommands keep running from main.js: their modules, loaded beside a bundle, would be
// second copies of modules the bundle holds (two WalDecodeError classes, say).
//
// Without esbuild (installed with --omit=dev) this warns and leaves no bundle: bin/strata.js
// then runs main.js, as it does when the bundle is older than main.js (tsc run alone).
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'src', 'cli', 'main.js');
const outfile = join(root, 'dist', 'src', 'cli', 'main.bundle.cjs');
/** The ES module bundle earlier builds made: removed, so that nothing runs a stale one. */
const oldOutfile = join(root, 'dist', 'src', 'cli', 'main.bundle.js');
rmSync(oldOutfile, { force: true });
rmSync(`${oldOutfile}.map`, { force: true });

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  rmSync(outfile, { force: true });
  process.stderr.write('strata: esbuild is not installed; `strata waldump` will load its modules one by one (slower to start)\n');
  process.exit(0);
}

/** Leaves every dynamic import() to be loaded at run time, from beside the bundle. */
const dynamicImportsOutside = {
  name: 'dynamic-imports-outside',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => (args.kind === 'dynamic-import' ? { path: args.path, external: true } : undefined));
  },
};

await esbuild.build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  plugins: [dynamicImportsOutside],
  // The modules are ES modules: strict, and import.meta.url is the bundle's own URL.
  banner: { js: `'use strict';\nconst importMetaUrl = require('node:url').pathToFileURL(__filename).href;` },
  define: { 'import.meta.url': 'importMetaUrl' },
  sourcemap: true,
  logLevel: 'warning',
});
