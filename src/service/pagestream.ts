/**
 * Neon's pagestream protocol, version 3: the messages a compute sends inside CopyData after the
 * `pagestream_v3 <tenant> <timeline>` command, and the page service's answers (Neon's
 * libs/pageserver_api/src/pagestream_api.rs, PagestreamFeMessage / PagestreamBeMessage; the compute
 * side is pgxn/neon/pagestore_client.h). Byte for byte the same, so tools written for Neon's page
 * service can talk to strata. Pure: bytes in, messages out.
 *
 * Every integer is big-endian. Every message starts with a tag and a 25-byte header:
 * ```
 *  tag u8 | reqid u64 | request_lsn u64 | not_modified_since u64                    25 bytes
 * ```
 * Requests (client -> server), after the header:
 * ```
 *  0 Exists          spcnode u32 | dbnode u32 | relnode u32 | forknum u8                  = 38 bytes
 *  1 Nblocks         spcnode u32 | dbnode u32 | relnode u32 | forknum u8                  = 38
 *  2 GetPage         spcnode u32 | dbnode u32 | relnode u32 | forknum u8 | blkno u32      = 42
 *  3 DbSize          dbnode u32   (the default tablespace, 1663, is implied)              = 29
 *  4 GetSlruSegment  kind u8 (0 CLOG, 1 multixact members, 2 multixact offsets) | segno u32 = 30
 * ```
 * Responses (server -> client) repeat the request's header and fields, then:
 * ```
 *  100 Exists          ... request fields | exists u8                                   = 39 bytes
 *  101 Nblocks         ... request fields | n_blocks u32                                = 42
 *  102 GetPage         ... request fields | page (8192 bytes)                           = 42 + 8192
 *  103 Error           header only | message (UTF-8) | 0x00                             = 26 + message
 *  104 DbSize          ... dbnode u32 | db_size i64 (bytes)                             = 37
 *  105 GetSlruSegment  ... kind u8 | segno u32 | n_blocks u32 | n_blocks x 8192 bytes   = 34 + segment
 * ```
 * request_lsn = 0xFFFFFFFFFFFFFFFF (Lsn::MAX) means "the latest": read at the last record LSN.
 * A request whose header is whole but whose tag or length is wrong gets an Error for its reqid; a
 * payload shorter than the header cannot be answered in-band (see page-service.ts).
 */
import { BLCKSZ } from '../pg/constants.js';
import type { Lsn } from '../pg/lsn.js';

export const enum PagestreamTag {
  Exists = 0,
  Nblocks = 1,
  GetPage = 2,
  DbSize = 3,
  GetSlruSegment = 4,
  ExistsResponse = 100,
  NblocksResponse = 101,
  GetPageResponse = 102,
  ErrorResponse = 103,
  DbSizeResponse = 104,
  GetSlruSegmentResponse = 105,
}

/** tag + reqid + request_lsn + not_modified_since. */
export const PAGESTREAM_HEADER_BYTES = 25;
const REL_BYTES = 13;

/** Neon's SlruKind numbering (reltag.rs): not the order of key.ts's Slru. */
export const enum NeonSlruKind {
  Clog = 0,
  MultiXactMembers = 1,
  MultiXactOffsets = 2,
}

export interface PagestreamHeader {
  readonly reqid: bigint;
  readonly requestLsn: Lsn;
  readonly notModifiedSince: Lsn;
}

export interface RelTag {
  readonly spcNode: number;
  readonly dbNode: number;
  readonly relNode: number;
  readonly forkNum: number;
}

export type PagestreamRequest =
  | { readonly kind: 'exists'; readonly hdr: PagestreamHeader; readonly rel: RelTag }
  | { readonly kind: 'nblocks'; readonly hdr: PagestreamHeader; readonly rel: RelTag }
  | { readonly kind: 'getpage'; readonly hdr: PagestreamHeader; readonly rel: RelTag; readonly blkno: number }
  | { readonly kind: 'dbsize'; readonly hdr: PagestreamHeader; readonly dbNode: number }
  | { readonly kind: 'slru'; readonly hdr: PagestreamHeader; readonly slruKind: number; readonly segno: number };

export type PagestreamResponse =
  | { readonly kind: 'exists'; readonly req: PagestreamRequest & { kind: 'exists' }; readonly exists: boolean }
  | { readonly kind: 'nblocks'; readonly req: PagestreamRequest & { kind: 'nblocks' }; readonly nblocks: number }
  | { readonly kind: 'getpage'; readonly req: PagestreamRequest & { kind: 'getpage' }; readonly page: Uint8Array }
  | { readonly kind: 'dbsize'; readonly req: PagestreamRequest & { kind: 'dbsize' }; readonly dbSize: bigint }
  | { readonly kind: 'slru'; readonly req: PagestreamRequest & { kind: 'slru' }; readonly segment: Uint8Array }
  | { readonly kind: 'error'; readonly hdr: PagestreamHeader; readonly message: string };

/** A request that cannot be parsed: `hdr` is set when its header was whole, so it can be answered in-band. */
export class PagestreamParseError extends Error {
  override readonly name = 'PagestreamParseError';
  constructor(
    message: string,
    readonly hdr: PagestreamHeader | undefined,
  ) {
    super(message);
  }
}

const REQUEST_BYTES: Readonly<Record<number, number>> = {
  [PagestreamTag.Exists]: PAGESTREAM_HEADER_BYTES + REL_BYTES,
  [PagestreamTag.Nblocks]: PAGESTREAM_HEADER_BYTES + REL_BYTES,
  [PagestreamTag.GetPage]: PAGESTREAM_HEADER_BYTES + REL_BYTES + 4,
  [PagestreamTag.DbSize]: PAGESTREAM_HEADER_BYTES + 4,
  [PagestreamTag.GetSlruSegment]: PAGESTREAM_HEADER_BYTES + 5,
};

function readHeader(b: Buffer, o: number): PagestreamHeader {
  return { reqid: b.readBigUInt64BE(o + 1), requestLsn: b.readBigUInt64BE(o + 9) as Lsn, notModifiedSince: b.readBigUInt64BE(o + 17) as Lsn };
}

function readRel(b: Buffer, o: number): RelTag {
  return { spcNode: b.readUInt32BE(o), dbNode: b.readUInt32BE(o + 4), relNode: b.readUInt32BE(o + 8), forkNum: b[o + 12] as number };
}

/** PagestreamFeMessage::parse for protocol v3: `len` bytes of a CopyData payload at `offset`. */
export function parsePagestreamRequest(b: Buffer, offset: number, len: number): PagestreamRequest {
  if (len < PAGESTREAM_HEADER_BYTES)
    throw new PagestreamParseError(`Cannot parse a pagestream request: it must be at least ${PAGESTREAM_HEADER_BYTES} bytes (tag, reqid, request_lsn, not_modified_since), received ${len}`, undefined);
  const tag = b[offset] as number;
  const hdr = readHeader(b, offset);
  const want = REQUEST_BYTES[tag];
  if (want === undefined) throw new PagestreamParseError(`Cannot parse pagestream request ${hdr.reqid}: unknown tag ${tag} (expected 0 Exists, 1 Nblocks, 2 GetPage, 3 DbSize or 4 GetSlruSegment)`, hdr);
  if (len !== want) throw new PagestreamParseError(`Cannot parse pagestream request ${hdr.reqid}: a message with tag ${tag} is ${want} bytes, received ${len}`, hdr);
  const o = offset + PAGESTREAM_HEADER_BYTES;
  switch (tag) {
    case PagestreamTag.Exists:
      return { kind: 'exists', hdr, rel: readRel(b, o) };
    case PagestreamTag.Nblocks:
      return { kind: 'nblocks', hdr, rel: readRel(b, o) };
    case PagestreamTag.GetPage:
      return { kind: 'getpage', hdr, rel: readRel(b, o), blkno: b.readUInt32BE(o + REL_BYTES) };
    case PagestreamTag.DbSize:
      return { kind: 'dbsize', hdr, dbNode: b.readUInt32BE(o) };
    case PagestreamTag.GetSlruSegment:
      return { kind: 'slru', hdr, slruKind: b[o] as number, segno: b.readUInt32BE(o + 1) };
    default:
      throw new Error(`assert: tag ${tag} has a length but no parser`);
  }
}

/** PagestreamFeMessage::serialize (v3): for clients (tests, bench/pagebench). */
export function encodePagestreamRequest(r: PagestreamRequest): Buffer {
  const tag = { exists: PagestreamTag.Exists, nblocks: PagestreamTag.Nblocks, getpage: PagestreamTag.GetPage, dbsize: PagestreamTag.DbSize, slru: PagestreamTag.GetSlruSegment }[r.kind];
  const b = Buffer.alloc(REQUEST_BYTES[tag] as number);
  writeHeader(b, 0, tag, r.hdr);
  const o = PAGESTREAM_HEADER_BYTES;
  switch (r.kind) {
    case 'exists':
    case 'nblocks':
      writeRel(b, o, r.rel);
      break;
    case 'getpage':
      writeRel(b, o, r.rel);
      b.writeUInt32BE(r.blkno, o + REL_BYTES);
      break;
    case 'dbsize':
      b.writeUInt32BE(r.dbNode, o);
      break;
    case 'slru':
      b[o] = r.slruKind;
      b.writeUInt32BE(r.segno, o + 1);
      break;
  }
  return b;
}

function writeHeader(b: Buffer, o: number, tag: number, hdr: PagestreamHeader): void {
  b[o] = tag;
  b.writeBigUInt64BE(hdr.reqid, o + 1);
  b.writeBigUInt64BE(hdr.requestLsn, o + 9);
  b.writeBigUInt64BE(hdr.notModifiedSince, o + 17);
}

function writeRel(b: Buffer, o: number, rel: RelTag): void {
  b.writeUInt32BE(rel.spcNode, o);
  b.writeUInt32BE(rel.dbNode, o + 4);
  b.writeUInt32BE(rel.relNode, o + 8);
  b[o + 12] = rel.forkNum;
}

/** The bytes `encodePagestreamResponseInto` writes for `r`. */
export function pagestreamResponseBytes(r: PagestreamResponse): number {
  switch (r.kind) {
    case 'exists':
      return PAGESTREAM_HEADER_BYTES + REL_BYTES + 1;
    case 'nblocks':
      return PAGESTREAM_HEADER_BYTES + REL_BYTES + 4;
    case 'getpage':
      return PAGESTREAM_HEADER_BYTES + REL_BYTES + 4 + BLCKSZ;
    case 'dbsize':
      return PAGESTREAM_HEADER_BYTES + 4 + 8;
    case 'slru':
      return PAGESTREAM_HEADER_BYTES + 5 + 4 + r.segment.length;
    case 'error':
      return PAGESTREAM_HEADER_BYTES + Buffer.byteLength(r.message) + 1;
  }
}

/** PagestreamBeMessage::serialize (v3) into `b` at `o`; returns the offset past it. */
export function encodePagestreamResponseInto(r: PagestreamResponse, b: Buffer, o: number): number {
  const start = o;
  switch (r.kind) {
    case 'exists':
      writeHeader(b, o, PagestreamTag.ExistsResponse, r.req.hdr);
      writeRel(b, o + PAGESTREAM_HEADER_BYTES, r.req.rel);
      b[o + PAGESTREAM_HEADER_BYTES + REL_BYTES] = r.exists ? 1 : 0;
      break;
    case 'nblocks':
      writeHeader(b, o, PagestreamTag.NblocksResponse, r.req.hdr);
      writeRel(b, o + PAGESTREAM_HEADER_BYTES, r.req.rel);
      b.writeUInt32BE(r.nblocks, o + PAGESTREAM_HEADER_BYTES + REL_BYTES);
      break;
    case 'getpage':
      if (r.page.length !== BLCKSZ) throw new Error(`assert: a GetPage response carries ${BLCKSZ} bytes, given ${r.page.length}`);
      writeHeader(b, o, PagestreamTag.GetPageResponse, r.req.hdr);
      writeRel(b, o + PAGESTREAM_HEADER_BYTES, r.req.rel);
      b.writeUInt32BE(r.req.blkno, o + PAGESTREAM_HEADER_BYTES + REL_BYTES);
      b.set(r.page, o + PAGESTREAM_HEADER_BYTES + REL_BYTES + 4);
      break;
    case 'dbsize':
      writeHeader(b, o, PagestreamTag.DbSizeResponse, r.req.hdr);
      b.writeUInt32BE(r.req.dbNode, o + PAGESTREAM_HEADER_BYTES);
      b.writeBigInt64BE(r.dbSize, o + PAGESTREAM_HEADER_BYTES + 4);
      break;
    case 'slru':
      if (r.segment.length % BLCKSZ !== 0) throw new Error(`assert: an SLRU segment is whole pages, given ${r.segment.length} bytes`);
      writeHeader(b, o, PagestreamTag.GetSlruSegmentResponse, r.req.hdr);
      b[o + PAGESTREAM_HEADER_BYTES] = r.req.slruKind;
      b.writeUInt32BE(r.req.segno, o + PAGESTREAM_HEADER_BYTES + 1);
      b.writeUInt32BE(r.segment.length / BLCKSZ, o + PAGESTREAM_HEADER_BYTES + 5);
      b.set(r.segment, o + PAGESTREAM_HEADER_BYTES + 9);
      break;
    case 'error': {
      writeHeader(b, o, PagestreamTag.ErrorResponse, r.hdr);
      const n = b.write(r.message, o + PAGESTREAM_HEADER_BYTES, 'utf8');
      b[o + PAGESTREAM_HEADER_BYTES + n] = 0;
      break;
    }
  }
  const end = start + pagestreamResponseBytes(r);
  return end;
}

/** A decoded response, as a client reads it (PagestreamBeMessage::deserialize). */
export type DecodedPagestreamResponse =
  | { readonly kind: 'exists'; readonly hdr: PagestreamHeader; readonly rel: RelTag; readonly exists: boolean }
  | { readonly kind: 'nblocks'; readonly hdr: PagestreamHeader; readonly rel: RelTag; readonly nblocks: number }
  | { readonly kind: 'getpage'; readonly hdr: PagestreamHeader; readonly rel: RelTag; readonly blkno: number; readonly page: Buffer }
  | { readonly kind: 'dbsize'; readonly hdr: PagestreamHeader; readonly dbNode: number; readonly dbSize: bigint }
  | { readonly kind: 'slru'; readonly hdr: PagestreamHeader; readonly slruKind: number; readonly segno: number; readonly segment: Buffer }
  | { readonly kind: 'error'; readonly hdr: PagestreamHeader; readonly message: string };

/** PagestreamBeMessage::deserialize: throws when the bytes are not exactly one response. */
export function decodePagestreamResponse(b: Buffer): DecodedPagestreamResponse {
  if (b.length < PAGESTREAM_HEADER_BYTES) throw new Error(`Cannot decode a pagestream response: ${b.length} bytes is shorter than the ${PAGESTREAM_HEADER_BYTES}-byte header`);
  const hdr = readHeader(b, 0);
  const o = PAGESTREAM_HEADER_BYTES;
  const exact = <T>(n: number, v: () => T): T => {
    if (b.length !== n) throw new Error(`Cannot decode pagestream response tag ${b[0]}: it is ${n} bytes, received ${b.length}`);
    return v();
  };
  switch (b[0]) {
    case PagestreamTag.ExistsResponse:
      return exact(o + REL_BYTES + 1, () => ({ kind: 'exists', hdr, rel: readRel(b, o), exists: b[o + REL_BYTES] !== 0 }));
    case PagestreamTag.NblocksResponse:
      return exact(o + REL_BYTES + 4, () => ({ kind: 'nblocks', hdr, rel: readRel(b, o), nblocks: b.readUInt32BE(o + REL_BYTES) }));
    case PagestreamTag.GetPageResponse:
      return exact(o + REL_BYTES + 4 + BLCKSZ, () => ({ kind: 'getpage', hdr, rel: readRel(b, o), blkno: b.readUInt32BE(o + REL_BYTES), page: b.subarray(o + REL_BYTES + 4) }));
    case PagestreamTag.DbSizeResponse:
      return exact(o + 12, () => ({ kind: 'dbsize', hdr, dbNode: b.readUInt32BE(o), dbSize: b.readBigInt64BE(o + 4) }));
    case PagestreamTag.GetSlruSegmentResponse: {
      if (b.length < o + 9) throw new Error(`Cannot decode a GetSlruSegment response: ${b.length} bytes is too short`);
      const n = b.readUInt32BE(o + 5);
      return exact(o + 9 + n * BLCKSZ, () => ({ kind: 'slru', hdr, slruKind: b[o] as number, segno: b.readUInt32BE(o + 1), segment: b.subarray(o + 9) }));
    }
    case PagestreamTag.ErrorResponse: {
      const nul = b.indexOf(0, o);
      if (nul !== b.length - 1) throw new Error('Cannot decode a pagestream Error response: its message is not one NUL-terminated string');
      return { kind: 'error', hdr, message: b.toString('utf8', o, nul) };
    }
    default:
      throw new Error(`Cannot decode a pagestream response: unknown tag ${b[0]}`);
  }
}
