// Builds strata's CRC-32C addon (native/crc32c.c) with node-gyp: `npm ci` runs this as the
// package's install script, `npm run build:native` runs it by hand.
//
// The addon is optional (src/pg/crc32c.ts falls back to @node-rs/crc32 and JavaScript), so a
// missing compiler or missing headers is a warning and exit 0, never a failed install. Nothing is
// downloaded: node-gyp is given the folder of the installed Node's own headers (--nodedir), and
// when there is none it is not run at all (without --nodedir it would fetch headers from the web).
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const addon = join(nativeDir, 'build', 'Release', 'strata_crc32c.node');

function warn(message) {
  process.stderr.write(`strata: the native CRC-32C addon was not built (${message}); strata will use @node-rs/crc32 and JavaScript\n`);
  process.exit(0);
}

/** A folder with include/node/node_api.h and common.gypi, as node-gyp's --nodedir wants. */
function headersFolder() {
  const candidates = [
    process.env.npm_config_nodedir,
    process.config.variables.node_prefix,
    join(dirname(process.execPath), '..'),
    '/usr',
    '/usr/local',
  ];
  for (const c of candidates) {
    if (!c) continue;
    if (existsSync(join(c, 'include', 'node', 'node_api.h')) && existsSync(join(c, 'include', 'node', 'common.gypi'))) return c;
  }
  return undefined;
}

/** node-gyp's script: the one npm names for its scripts, else the one npm bundles. */
function nodeGypScript() {
  const candidates = [process.env.npm_config_node_gyp];
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((c) => c && existsSync(c));
}

if (process.env.STRATA_NATIVE_CRC32C === '0') warn('STRATA_NATIVE_CRC32C=0');
const nodedir = headersFolder();
if (nodedir === undefined) warn("no Node headers found (Debian: apt-get install libnode-dev)");
const gyp = nodeGypScript();
if (gyp === undefined) warn('node-gyp not found');

const build = spawnSync(process.execPath, [gyp, 'rebuild', `--directory=${nativeDir}`, `--nodedir=${nodedir}`, '--loglevel=warn'], {
  stdio: ['ignore', 'pipe', 'pipe'],
  encoding: 'utf8',
});
if (build.error !== undefined || build.status !== 0) {
  process.stderr.write(build.stdout ?? '');
  process.stderr.write(build.stderr ?? '');
  warn(`node-gyp ${build.error !== undefined ? build.error.message : `exited with ${build.status}`}`);
}

// Check what was built before anything trusts it: the standard check value, in a fresh process.
const check = spawnSync(
  process.execPath,
  ['-e', `const a = require(${JSON.stringify(addon)}); process.exit(a.crc32c(Buffer.from('123456789'), 0, 9, 0) === 0xe3069283 ? 0 : 1)`],
  { stdio: 'inherit' },
);
if (check.status !== 0) {
  rmSync(addon, { force: true });
  warn('the built addon did not compute the CRC-32C check value');
}
