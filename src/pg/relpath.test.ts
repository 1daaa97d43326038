import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FORK_SUFFIXES, RELATION_FILE, relationFileName } from './relpath.js';

test('relation file names are built as relpathbackend/_mdfd_segpath build them, and parse back', () => {
  assert.equal(relationFileName(16384, 0, 0), '16384');
  assert.equal(relationFileName(16384, 1, 0), '16384_fsm');
  assert.equal(relationFileName(16384, 2, 3), '16384_vm.3');
  assert.equal(relationFileName(1259, 3, 1), '1259_init.1');
  assert.throws(() => relationFileName(1, 4, 0), /fork 4/);
  for (const fork of [0, 1, 2, 3])
    for (const segno of [0, 1, 17]) {
      const m = RELATION_FILE.exec(relationFileName(42, fork, segno));
      assert.ok(m !== null);
      assert.equal(Number(m[1]), 42);
      assert.equal(FORK_SUFFIXES[m[2] ?? ''], fork);
      assert.equal(m[3] === undefined ? 0 : Number(m[3]), segno);
    }
  for (const name of ['pg_filenode.map', 'PG_VERSION', '16384_xx', '16384.', 't1_16384']) assert.equal(RELATION_FILE.exec(name), null, name);
});
