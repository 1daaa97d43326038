/**
 * Redo requests made from real WAL, the way the repository will make them: every page a record
 * references gets the record encoded for that block (codec.ts), and the VM pages that heap records
 * clear bits on without referencing them get a vm.clear op; a page's history starts at an input that
 * initialises it (WILL_INIT, or an APPLY image), as the repository's will. Pages truncated or
 * dropped lose their history (a VM page cut in the middle gets a vm.truncate op), as in verify.ts.
 *
 * For the engine and codec tests and bench/redo's engine case.
 */
import { readWal } from '../cli/wal-files.js';
import type { Lsn } from '../pg/lsn.js';
import type { BlockNumber, RelFileNode } from '../pg/types.js';
import { crc32cRangeJs } from '../pg/crc32c-js.js';
import { encodeOp, encodeRecordInput, RECORD_INPUT_HEADER_SIZE, redoInputInitializesPage } from '../redo/codec.js';
import type { PageKey } from '../redo/types.js';
import { vmPageOf } from '../redo/vm.js';
import type { DescriptionBase } from '../wal/describe.js';
import { WalDecodeError } from '../wal/errors.js';
import type { WalRecord } from '../wal/record.js';
import { describeRecord } from '../wal/rmgr/index.js';

const VM_FORK = 2;

export interface PageHistory {
  readonly key: PageKey;
  /** Encoded inputs, oldest first; the first initialises the page. */
  readonly inputs: Uint8Array[];
}

export interface WalSource {
  readonly dir: string;
  readonly start: Lsn;
  readonly segmentSize: number;
}

function keyText(rel: RelFileNode, fork: number, blkno: number): string {
  return `${rel.spcNode}/${rel.dbNode}/${rel.relNode}/${fork}/${blkno}`;
}

/** Every page's history in the WAL, by "spc/db/rel/fork/blkno"; `onRecord` sees each record too. */
export function pageHistories(wal: WalSource, onRecord?: (r: WalRecord) => void): Map<string, PageHistory> {
  const pages = new Map<string, PageHistory>();
  const dropFrom = (rel: RelFileNode, fork: number, from: number): void => {
    const prefix = `${rel.spcNode}/${rel.dbNode}/${rel.relNode}/${fork}/`;
    for (const k of pages.keys()) if (k.startsWith(prefix) && Number(k.slice(prefix.length)) >= from) pages.delete(k);
  };
  readWal({ dir: wal.dir, start: wal.start, timeline: 1, segmentSize: wal.segmentSize }, (r) => {
    onRecord?.(r);
    let description: DescriptionBase | undefined;
    try {
      description = describeRecord(r);
    } catch (e) {
      if (!(e instanceof WalDecodeError)) throw e;
    }
    for (const b of r.blocks) {
      if (b === undefined) continue;
      const k = keyText(b.rel, b.fork, b.blkno);
      const input = encodeRecordInput(r, b.id);
      if (redoInputInitializesPage(input)) pages.set(k, { key: { rel: b.rel, fork: b.fork, blkno: b.blkno }, inputs: [input] });
      else pages.get(k)?.inputs.push(input);
    }
    for (const e of description?.effects ?? []) {
      if (e.kind === 'vm.clear') {
        pages.get(keyText(e.rel, VM_FORK, vmPageOf(e.heapBlock)))?.inputs.push(encodeOp({ kind: 'vm.clear', endLsn: r.endLsn, heapBlock: e.heapBlock, flags: e.flags }));
      } else if (e.kind === 'relation.truncate') {
        for (const fork of e.forks) dropFrom(e.rel, fork, fork === 0 ? e.blocks : fork === VM_FORK ? vmPageOf(e.blocks) + 1 : 0);
        if (e.forks.includes(VM_FORK))
          pages.get(keyText(e.rel, VM_FORK, vmPageOf(e.blocks)))?.inputs.push(encodeOp({ kind: 'vm.truncate', endLsn: r.endLsn, heapBlocks: e.blocks as BlockNumber }));
      } else if (e.kind === 'relation.drop') {
        for (const rel of e.rels) for (let fork = 0; fork <= 3; fork++) dropFrom(rel, fork, 0);
      }
    }
    return true;
  });
  return pages;
}

/** Sets the xl_crc of the record inside a record input to what its bytes give (after a test changed them). */
export function fixRecordInputCrc(input: Uint8Array): Uint8Array {
  const raw = input.subarray(RECORD_INPUT_HEADER_SIZE);
  const crc = crc32cRangeJs(raw, 0, 20, crc32cRangeJs(raw, 24, raw.length));
  new DataView(raw.buffer, raw.byteOffset).setUint32(20, crc, true);
  return input;
}
