/**
 * What a pagestream request reads, and at which LSN (Neon's page_service.rs handlers and
 * pgdatadir_mapping.rs reads): the page service parses a request (pagestream.ts), hands it here with
 * its timeline, and writes back the response this returns. A request that fails becomes an Error
 * response for its own request id; nothing here throws for a bad request.
 *
 * LSN rules (Neon's effective_request_lsn and wait_or_get_last_lsn):
 *  - request_lsn < not_modified_since, or request_lsn = 0: a bad request;
 *  - request_lsn below the GC cutoff (and not a branch point or leased LSN): an error;
 *  - not_modified_since above the last record LSN: wait (with a deadline) for WAL up to
 *    not_modified_since and read there; else read at min(last record LSN, request_lsn), so
 *    request_lsn = Lsn::MAX ("latest") reads at the last record LSN without waiting.
 * Relation rules (get_rel_exists, get_rel_size, get_rel_page_at_lsn):
 *  - Exists: false when the relation fork is not in its database's relation directory;
 *  - Nblocks: 0 for a missing FSM or VM fork (PostgreSQL asks for them right after smgrcreate),
 *    an error for any other missing fork;
 *  - GetPage: a block at or past the relation's size is a zero page, as is a block below it that
 *    never had a value (PostgreSQL extended the file with zeros without WAL, XLogReadBufferExtended);
 *    a missing main fork is an error;
 *  - DbSize: the blocks of every fork of every relation of the database in the default tablespace.
 */
import { BLCKSZ } from '../pg/constants.js';
import { formatLsn, MAX_LSN, type Lsn } from '../pg/lsn.js';
import { DEFAULTTABLESPACE_OID, type Oid, type RelFileNode } from '../pg/types.js';
import { DatadirReader, decodeRelDirectory, decodeU32 } from '../repository/datadir.js';
import { RepositoryError } from '../repository/errors.js';
import { relBlockKey, relDirectoryKey, relSizeKey, Slru, type Key } from '../repository/key.js';
import type { Timeline } from '../repository/timeline.js';
import type { HistogramSeries } from './metrics.js';
import { NeonSlruKind, type PagestreamHeader, type PagestreamRequest, type PagestreamResponse } from './pagestream.js';

const FORK_FSM = 1;
const FORK_VM = 2;
const FORK_MAX = 3;
const ZERO_PAGE = new Uint8Array(BLCKSZ);
const REL_SIZE_CACHE_ENTRIES_MAX = 10_000;

/** Why a request failed, as the prefix of its Error message (Neon's PageStreamError Display). */
export type PagestreamFailure = 'Bad request' | 'Not found' | 'LSN timeout' | 'Read error' | 'Shutting down';

export class PagestreamRequestError extends Error {
  override readonly name = 'PagestreamRequestError';
  constructor(
    readonly failure: PagestreamFailure,
    message: string,
  ) {
    super(message);
  }
}

export interface PageReadMetrics {
  /** Seconds waited for WAL, per wait. */
  readonly lsnWait: HistogramSeries;
  onLsnWaitTimeout(): void;
}

/** Decoded relation directories, by the very bytes the page cache hands back: a directory is decoded once per version. */
const directories = new WeakMap<Uint8Array, Set<number>>();

function directorySet(bytes: Uint8Array): Set<number> {
  let s = directories.get(bytes);
  if (s === undefined) {
    s = new Set(decodeRelDirectory(bytes).map((r) => r.relNode * 4 + r.fork));
    directories.set(bytes, s);
  }
  return s;
}

function asRequestError(e: unknown): PagestreamRequestError {
  if (e instanceof PagestreamRequestError) return e;
  if (e instanceof RepositoryError) {
    switch (e.code) {
      case 'NOT_FOUND':
        return new PagestreamRequestError('Not found', e.message);
      case 'BAD_REQUEST':
      case 'BELOW_GC_HORIZON':
        return new PagestreamRequestError('Bad request', e.message);
      case 'LSN_TIMEOUT':
        return new PagestreamRequestError('LSN timeout', e.message);
      case 'SHUT_DOWN':
        return new PagestreamRequestError('Shutting down', e.message);
      default:
        return new PagestreamRequestError('Read error', e.message);
    }
  }
  // A redo engine's error or anything else unexpected: the request fails, the connection goes on.
  return new PagestreamRequestError('Read error', (e as Error).message ?? String(e));
}

export class PageReads {
  private readonly reader: DatadirReader;
  /** Relation fork sizes by the exact LSN they were read at (undefined blocks: the fork does not exist). */
  private readonly sizes = new Map<string, { lsn: number; blocks: number | undefined }>();

  constructor(
    readonly timeline: Timeline,
    private readonly waitLsnTimeoutMs: number,
    private readonly metrics?: PageReadMetrics,
  ) {
    this.reader = new DatadirReader(timeline);
  }

  /** The response to `req`: its answer, or an Error response for its request id. */
  async execute(req: PagestreamRequest): Promise<PagestreamResponse> {
    try {
      return await this.answer(req);
    } catch (e) {
      const err = asRequestError(e);
      return { kind: 'error', hdr: req.hdr, message: `${err.failure}: ${err.message}` };
    }
  }

  private async answer(req: PagestreamRequest): Promise<PagestreamResponse> {
    const lsn = await this.waitOrGetLastLsn(req.hdr);
    switch (req.kind) {
      case 'exists':
        checkRel(req.rel.relNode, req.rel.forkNum);
        return { kind: 'exists', req, exists: (await this.relSize(relOf(req.rel), req.rel.forkNum, lsn)) !== undefined };
      case 'nblocks':
        return { kind: 'nblocks', req, nblocks: await this.nblocks(relOf(req.rel), req.rel.forkNum, lsn) };
      case 'getpage':
        return { kind: 'getpage', req, page: await this.page(relOf(req.rel), req.rel.forkNum, req.blkno, lsn) };
      case 'dbsize':
        return { kind: 'dbsize', req, dbSize: BigInt(await this.reader.databaseSize(DEFAULTTABLESPACE_OID, req.dbNode, lsn)) };
      case 'slru':
        return { kind: 'slru', req, segment: await this.reader.slruSegment(slruOf(req.slruKind), req.segno, lsn) };
    }
  }

  /** effective_request_lsn + wait_or_get_last_lsn: the LSN to read at, once WAL up to it is in. */
  async waitOrGetLastLsn(hdr: PagestreamHeader): Promise<Lsn> {
    const t = this.timeline;
    const { requestLsn, notModifiedSince } = hdr;
    if (requestLsn < notModifiedSince)
      throw new PagestreamRequestError('Bad request', `invalid request with request LSN ${formatLsn(requestLsn)} and not_modified_since ${formatLsn(notModifiedSince)}`);
    if (requestLsn === 0n) throw new PagestreamRequestError('Bad request', 'invalid LSN(0) in request');
    if (requestLsn !== MAX_LSN && requestLsn < t.gcCutoff && !t.retainedLsns().includes(Number(requestLsn)))
      throw new PagestreamRequestError('Bad request', `tried to request a page version that was garbage collected. requested at ${formatLsn(requestLsn)} gc cutoff ${formatLsn(t.gcCutoff)}`);
    const last = t.lastRecordLsn;
    if (notModifiedSince > last) {
      const t0 = performance.now();
      try {
        await t.waitForLsn(notModifiedSince, this.waitLsnTimeoutMs);
      } catch (e) {
        if (e instanceof RepositoryError && e.code === 'LSN_TIMEOUT') this.metrics?.onLsnWaitTimeout();
        throw e;
      }
      this.metrics?.lsnWait.observe((performance.now() - t0) / 1000);
      return notModifiedSince;
    }
    return (requestLsn < last ? requestLsn : last) as Lsn;
  }

  /** The value of `key`, or undefined when it has none at `lsn`. */
  private async valueOrUndefined(key: Key, lsn: Lsn): Promise<Uint8Array | undefined> {
    try {
      return await this.timeline.get(key, lsn, this.waitLsnTimeoutMs);
    } catch (e) {
      if (e instanceof RepositoryError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }

  /** The fork's size in blocks, or undefined when it does not exist at `lsn`. */
  async relSize(rel: RelFileNode, fork: number, lsn: Lsn): Promise<number | undefined> {
    // History at one LSN never changes (GC only refuses reads below its cutoff, checked before),
    // so a size read at exactly this LSN is still right: a stream reading at "latest" while no WAL
    // arrives asks the repository once per relation, not once per page.
    const at = Number(lsn);
    const k = `${rel.spcNode}/${rel.dbNode}/${rel.relNode}/${fork}`;
    const cached = this.sizes.get(k);
    if (cached !== undefined && cached.lsn === at) return cached.blocks;
    const dir = await this.valueOrUndefined(relDirectoryKey(rel.spcNode, rel.dbNode), lsn);
    let blocks: number | undefined;
    if (dir !== undefined && directorySet(dir).has(rel.relNode * 4 + fork)) {
      const size = await this.valueOrUndefined(relSizeKey(rel, fork), lsn);
      blocks = size === undefined ? 0 : decodeU32(size, 'a relation size');
    }
    if (this.sizes.size >= REL_SIZE_CACHE_ENTRIES_MAX) this.sizes.clear();
    this.sizes.set(k, { lsn: at, blocks });
    return blocks;
  }

  /** get_rel_size: a missing FSM or VM fork has 0 blocks; any other missing fork is an error. */
  async nblocks(rel: RelFileNode, fork: number, lsn: Lsn): Promise<number> {
    checkRel(rel.relNode, fork);
    const n = await this.relSize(rel, fork, lsn);
    if (n !== undefined) return n;
    if (fork === FORK_FSM || fork === FORK_VM) return 0;
    throw new PagestreamRequestError('Not found', `relation ${rel.spcNode}/${rel.dbNode}/${rel.relNode} fork ${fork} does not exist at ${formatLsn(lsn)}`);
  }

  /** get_rel_page_at_lsn. */
  async page(rel: RelFileNode, fork: number, blkno: number, lsn: Lsn): Promise<Uint8Array> {
    const n = await this.nblocks(rel, fork, lsn);
    if (blkno >= n) return ZERO_PAGE;
    const page = await this.valueOrUndefined(relBlockKey(rel, fork, blkno), lsn);
    return page ?? ZERO_PAGE;
  }
}

function checkRel(relNode: number, fork: number): void {
  if (relNode === 0) throw new PagestreamRequestError('Bad request', 'invalid relnode 0');
  if (fork > FORK_MAX) throw new PagestreamRequestError('Bad request', `invalid fork number ${fork}: PostgreSQL has forks 0 to ${FORK_MAX}`);
}

function relOf(r: { spcNode: number; dbNode: number; relNode: number }): RelFileNode {
  return { spcNode: r.spcNode as Oid, dbNode: r.dbNode as Oid, relNode: r.relNode as Oid };
}

/** Neon's SlruKind number to strata's Slru (key.ts numbers them differently). */
export function slruOf(kind: number): Slru {
  switch (kind) {
    case NeonSlruKind.Clog:
      return Slru.Clog;
    case NeonSlruKind.MultiXactMembers:
      return Slru.MultiXactMembers;
    case NeonSlruKind.MultiXactOffsets:
      return Slru.MultiXactOffsets;
    default:
      throw new PagestreamRequestError('Bad request', `invalid SLRU kind ${kind}: expected 0 (pg_xact), 1 (pg_multixact/members) or 2 (pg_multixact/offsets)`);
  }
}
