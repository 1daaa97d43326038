/**
 * Relation file names in a data directory (common/relpath.c, md.c): the one place strata builds
 * and parses them, for imports of data directories and base backups, base backups it serves, and
 * bench/redo's page reads from a backup.
 */
import { FORK_NAMES } from './types.js';

/** RELSEG_SIZE: blocks per relation segment file (1 GiB of 8 KiB pages). */
export const RELSEG_SIZE = 131072;

/** Fork numbers by file name suffix (relpath.c forkNames). */
export const FORK_SUFFIXES: Readonly<Record<string, number>> = { '': 0, _fsm: 1, _vm: 2, _init: 3 };

/** A relation segment file's name: relfilenode, fork suffix, segment number. */
export const RELATION_FILE = /^(\d+)(_fsm|_vm|_init)?(?:\.(\d+))?$/;

/** A relation segment file's name in its database folder (relpathbackend, _mdfd_segpath): `16384`, `16384_fsm`, `16384.1`. */
export function relationFileName(relNode: number, fork: number, segno: number): string {
  const forkName = FORK_NAMES[fork];
  if (forkName === undefined) throw new RangeError(`Cannot name a file for fork ${fork}: forks are 0-3`);
  return `${relNode}${fork === 0 ? '' : `_${forkName}`}${segno === 0 ? '' : `.${segno}`}`;
}
