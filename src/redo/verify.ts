/**
 * Redo checked against PostgreSQL's own consistency images (DESIGN.md's oracle for redo).
 *
 * With wal_consistency_checking = all, every record of a page rmgr carries, for each block, an image
 * of the page *after* the record (not applied on redo: "for WAL verification"). The verifier follows
 * every page through the WAL: it starts from an APPLY image, a WILL_INIT record or a page it already
 * verified, applies each record with strata's engine, masks its result and PostgreSQL's image with
 * the rmgr's mask (verifyBackupPageConsistency does the same during recovery) and compares. A page
 * it cannot follow (an unsupported record, a mismatch) continues from PostgreSQL's image.
 */
import { BLCKSZ } from '../pg/constants.js';
import { formatLsn, type Lsn } from '../pg/lsn.js';
import { RMGR_NAMES } from '../pg/rmgr-ids.js';
import { FORK_NAMES, type RelFileNode } from '../pg/types.js';
import type { DescriptionBase, Effect } from '../wal/describe.js';
import { WalDecodeError } from '../wal/errors.js';
import { restoreBlockImage } from '../wal/image.js';
import type { WalRecord } from '../wal/record.js';
import { describeRecord, RMGRS } from '../wal/rmgr/index.js';
import { RedoError } from './errors.js';
import { maskFor } from './mask/index.js';
import { setPageLsn } from './page.js';
import { applyRecord, DEFAULT_REDO_SETTINGS } from './redo.js';
import type { PageKey, RedoSettings } from './types.js';
import { HEAPBLOCKS_PER_PAGE, vmClear, vmPageOf, vmTruncate } from './vm.js';

const VM_FORK = 2;

export interface TypeCounts {
  /** Records with at least one block compared with PostgreSQL's image. */
  checked: number;
  matched: number;
  /** Records whose redo differs from PostgreSQL's image, or fails with a RedoError. */
  mismatched: number;
  /** Records strata's engine has no redo for yet. */
  unsupported: number;
  /** Records whose pages were not followed yet (no APPLY image or verified page to start from). */
  unverified: number;
}

export interface Mismatch {
  readonly lsn: Lsn;
  readonly type: string;
  readonly blockId: number;
  readonly page: string;
  /** What differs after masking, or why redo failed. */
  readonly detail: string;
}

function keyText(rel: RelFileNode, fork: number, blkno: number): string {
  return `${rel.spcNode}/${rel.dbNode}/${rel.relNode}/${fork}/${blkno}`;
}

function pageText(k: PageKey): string {
  return `rel ${k.rel.spcNode}/${k.rel.dbNode}/${k.rel.relNode} fork ${FORK_NAMES[k.fork] ?? k.fork} blk ${k.blkno}`;
}

/** The byte ranges where two pages differ, as `[from, to): ours ... pg ...`, the first `max` of them. */
export function diffRanges(ours: Uint8Array, theirs: Uint8Array, max = 4): string {
  const out: string[] = [];
  for (let i = 0; i < BLCKSZ && out.length < max; i++) {
    if (ours[i] === theirs[i]) continue;
    let j = i;
    // Ranges closer than 8 bytes are one range.
    for (let k = i; k < BLCKSZ && k < j + 8; k++) if (ours[k] !== theirs[k]) j = k;
    const hex = (p: Uint8Array) => Buffer.from(p.subarray(i, Math.min(j + 1, i + 16))).toString('hex');
    out.push(`[${i}, ${j + 1}): strata ${hex(ours)} pg ${hex(theirs)}${j + 1 - i > 16 ? '...' : ''}`);
    i = j;
  }
  return out.join('; ');
}

export class RedoVerifier {
  private readonly pages = new Map<string, Uint8Array>();
  readonly counts = new Map<string, TypeCounts>();
  readonly mismatches: Mismatch[] = [];
  mismatchCount = 0;

  constructor(
    private readonly settings: RedoSettings = DEFAULT_REDO_SETTINGS,
    private readonly mismatchesKeptMax = 20,
  ) {}

  private countsFor(type: string): TypeCounts {
    let c = this.counts.get(type);
    if (c === undefined) this.counts.set(type, (c = { checked: 0, matched: 0, mismatched: 0, unsupported: 0, unverified: 0 }));
    return c;
  }

  /** Follows one record: its effects on tracked pages, then each of its blocks. */
  add(record: WalRecord): void {
    let description: DescriptionBase | undefined;
    try {
      description = describeRecord(record);
    } catch (e) {
      // A record the decoder cannot describe has no effects to apply; its redo will say why.
      if (!(e instanceof WalDecodeError)) throw e;
    }
    if (description !== undefined) this.applyEffects(description.effects);
    if (record.blocks.length === 0) return;
    const rmgr = RMGRS[record.rmid];
    const type = `${rmgr?.name ?? RMGR_NAMES[record.rmid] ?? record.rmid}/${rmgr?.identify(record.info) ?? `UNKNOWN (${(record.info & 0xf0).toString(16)})`}`;
    let compared = 0;
    let mismatched = 0;
    let unsupported = 0;
    let unverified = 0;
    for (const block of record.blocks) {
      if (block === undefined) continue;
      const key: PageKey = { rel: block.rel, fork: block.fork, blkno: block.blkno };
      const k = keyText(block.rel, block.fork, block.blkno);
      const verifyImage = block.hasImage && !block.applyImage;
      const prior = this.pages.get(k);
      if (prior === undefined && !block.applyImage && !block.willInit) {
        unverified++;
        if (verifyImage) this.adopt(k, record, block.id);
        continue;
      }
      let page: Uint8Array;
      try {
        page = applyRecord(prior, key, { kind: 'record', record, blockId: block.id, description }, this.settings);
      } catch (e) {
        if (!(e instanceof RedoError)) throw e;
        // No redo for the type yet is "unsupported"; failing on PostgreSQL's own WAL is a bug.
        if (e.code === 'UNSUPPORTED_RECORD') unsupported++;
        else {
          mismatched++;
          this.note({ lsn: record.lsn, type, blockId: block.id, page: pageText(key), detail: e.message });
        }
        this.pages.delete(k);
        if (verifyImage) this.adopt(k, record, block.id);
        continue;
      }
      this.pages.set(k, page);
      if (!verifyImage) continue;
      compared++;
      const theirs = this.image(record, block.id);
      const ours = Uint8Array.from(page);
      const mask = maskFor(record.rmid);
      let maskFailure: string | undefined;
      if (mask !== undefined) {
        try {
          mask(ours, block.blkno);
          mask(theirs, block.blkno);
        } catch (e) {
          // mask_unused_space refuses a page whose pointers are corrupt, as PostgreSQL does.
          if (!(e instanceof RedoError)) throw e;
          maskFailure = e.message;
        }
      }
      if (maskFailure !== undefined) {
        mismatched++;
        this.note({ lsn: record.lsn, type, blockId: block.id, page: pageText(key), detail: `cannot mask: ${maskFailure}` });
        this.adopt(k, record, block.id);
      } else if (Buffer.compare(ours, theirs) !== 0) {
        mismatched++;
        this.note({ lsn: record.lsn, type, blockId: block.id, page: pageText(key), detail: diffRanges(ours, theirs) });
        this.adopt(k, record, block.id);
      }
    }
    const c = this.countsFor(type);
    if (compared > 0) c.checked++;
    if (mismatched > 0) c.mismatched++;
    else if (compared > 0) c.matched++;
    if (unsupported > 0) c.unsupported++;
    if (unverified > 0 && compared === 0 && unsupported === 0) c.unverified++;
  }

  private note(m: Mismatch): void {
    this.mismatchCount++;
    if (this.mismatches.length < this.mismatchesKeptMax) this.mismatches.push(m);
  }

  private image(record: WalRecord, blockId: number): Uint8Array {
    try {
      return restoreBlockImage(record.blocks[blockId]!, record.lsn);
    } catch (e) {
      if (e instanceof WalDecodeError) throw new RedoError('CORRUPT_RECORD', e.message, record.lsn);
      throw e;
    }
  }

  /** Continues a page from PostgreSQL's after-image, stamped with the LSN redo would give it. */
  private adopt(k: string, record: WalRecord, blockId: number): void {
    const page = this.image(record, blockId);
    setPageLsn(page, record.endLsnNumber);
    this.pages.set(k, page);
  }

  /** Effects on pages the record does not reference: VM bits, truncation, dropped relations. */
  private applyEffects(effects: readonly Effect[]): void {
    for (const e of effects) {
      if (e.kind === 'vm.clear') {
        const vm = this.pages.get(keyText(e.rel, VM_FORK, vmPageOf(e.heapBlock)));
        if (vm !== undefined) vmClear(vm, e.heapBlock, e.flags);
      } else if (e.kind === 'relation.truncate') {
        // Main-fork pages past the new end go; so do VM pages wholly past it; FSM pages are not
        // followed (no page rmgr writes them), so all of them go.
        for (const fork of e.forks) this.truncate(e.rel, fork, fork === 0 ? e.blocks : fork === VM_FORK ? Math.ceil(e.blocks / HEAPBLOCKS_PER_PAGE) : 0);
        if (e.forks.includes(VM_FORK)) {
          const vm = this.pages.get(keyText(e.rel, VM_FORK, vmPageOf(e.blocks)));
          if (vm !== undefined) vmTruncate(vm, e.blocks);
        }
      } else if (e.kind === 'relation.drop') {
        for (const rel of e.rels) for (let fork = 0; fork <= 3; fork++) this.truncate(rel, fork, 0);
      }
    }
  }

  /** Forgets the tracked pages of a relation fork at and past block `from`. */
  private truncate(rel: RelFileNode, fork: number, from: number): void {
    const prefix = `${rel.spcNode}/${rel.dbNode}/${rel.relNode}/${fork}/`;
    for (const k of this.pages.keys()) if (k.startsWith(prefix) && Number(k.slice(prefix.length)) >= from) this.pages.delete(k);
  }

  /** The table per rmgr and record type, then the first mismatches. */
  report(): string {
    const rows = [...this.counts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const col = (s: string | number, w: number) => String(s).padStart(w);
    let out = `${'Type'.padEnd(34)} ${col('checked', 10)} ${col('matched', 10)} ${col('mismatched', 11)} ${col('unsupported', 12)} ${col('unverified', 11)}\n`;
    const total: TypeCounts = { checked: 0, matched: 0, mismatched: 0, unsupported: 0, unverified: 0 };
    for (const [type, c] of rows) {
      out += `${type.padEnd(34)} ${col(c.checked, 10)} ${col(c.matched, 10)} ${col(c.mismatched, 11)} ${col(c.unsupported, 12)} ${col(c.unverified, 11)}\n`;
      total.checked += c.checked;
      total.matched += c.matched;
      total.mismatched += c.mismatched;
      total.unsupported += c.unsupported;
      total.unverified += c.unverified;
    }
    out += `${'Total'.padEnd(34)} ${col(total.checked, 10)} ${col(total.matched, 10)} ${col(total.mismatched, 11)} ${col(total.unsupported, 12)} ${col(total.unverified, 11)}\n`;
    if (this.mismatchCount > 0) {
      out += `\n${this.mismatchCount} mismatch${this.mismatchCount === 1 ? '' : 'es'} or redo errors; the first ${this.mismatches.length}:\n`;
      for (const m of this.mismatches) out += `  ${formatLsn(m.lsn)} ${m.type} block ${m.blockId} (${m.page}): ${m.detail}\n`;
    }
    return out;
  }
}
