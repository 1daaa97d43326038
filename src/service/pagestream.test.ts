/**
 * The pagestream codec and the wire-protocol message reader, without a server: every request and
 * response round-trips, Neon's byte layout is what is written (lengths and offsets checked against
 * pagestream_api.rs's serialize), and a stream of messages split at every offset reads the same.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BLCKSZ } from '../pg/constants.js';
import type { Lsn } from '../pg/lsn.js';
import {
  decodePagestreamResponse,
  encodePagestreamRequest,
  encodePagestreamResponseInto,
  PagestreamParseError,
  pagestreamResponseBytes,
  parsePagestreamRequest,
  type PagestreamRequest,
  type PagestreamResponse,
} from './pagestream.js';
import { copyDataMessage, MessageReader, startupMessage, WireProtocolError } from './pgwire.js';

const hdr = { reqid: 0x0102030405060708n, requestLsn: 0xffff_ffff_ffff_ffffn as Lsn, notModifiedSince: 0x1_6b37_48n as Lsn };
const rel = { spcNode: 1663, dbNode: 5, relNode: 16384, forkNum: 2 };
const REQUESTS: PagestreamRequest[] = [
  { kind: 'exists', hdr, rel },
  { kind: 'nblocks', hdr, rel },
  { kind: 'getpage', hdr, rel, blkno: 0xfffffffe },
  { kind: 'dbsize', hdr, dbNode: 5 },
  { kind: 'slru', hdr, slruKind: 2, segno: 0x1234 },
];

test('requests: Neon\'s sizes and field offsets, and they parse back', () => {
  const sizes = { exists: 38, nblocks: 38, getpage: 42, dbsize: 29, slru: 30 };
  for (const r of REQUESTS) {
    const b = encodePagestreamRequest(r);
    assert.equal(b.length, sizes[r.kind], r.kind);
    assert.equal(b.readBigUInt64BE(1), hdr.reqid);
    assert.equal(b.readBigUInt64BE(9), hdr.requestLsn);
    assert.equal(b.readBigUInt64BE(17), hdr.notModifiedSince);
    assert.deepEqual(parsePagestreamRequest(b, 0, b.length), r);
  }
  const g = encodePagestreamRequest(REQUESTS[2] as PagestreamRequest);
  assert.deepEqual([g[0], g.readUInt32BE(25), g.readUInt32BE(29), g.readUInt32BE(33), g[37], g.readUInt32BE(38)], [2, 1663, 5, 16384, 2, 0xfffffffe]);
});

test('requests that cannot be parsed: with a whole header the error carries it', () => {
  assert.throws(() => parsePagestreamRequest(Buffer.alloc(24), 0, 24), (e: unknown) => e instanceof PagestreamParseError && e.hdr === undefined);
  const unknown = Buffer.alloc(38);
  unknown[0] = 7;
  unknown.writeBigUInt64BE(99n, 1);
  assert.throws(() => parsePagestreamRequest(unknown, 0, 38), (e: unknown) => e instanceof PagestreamParseError && e.hdr?.reqid === 99n && /unknown tag 7/.test(e.message));
  const long = Buffer.concat([encodePagestreamRequest(REQUESTS[0] as PagestreamRequest), Buffer.alloc(1)]);
  assert.throws(() => parsePagestreamRequest(long, 0, long.length), /tag 0 is 38 bytes, received 39/);
});

test('responses: Neon\'s layout, and they decode back', () => {
  const page = Buffer.alloc(BLCKSZ, 7);
  const segment = Buffer.alloc(3 * BLCKSZ, 9);
  const [exists, nblocks, getpage, dbsize, slru] = REQUESTS as [PagestreamRequest & { kind: 'exists' }, PagestreamRequest & { kind: 'nblocks' }, PagestreamRequest & { kind: 'getpage' }, PagestreamRequest & { kind: 'dbsize' }, PagestreamRequest & { kind: 'slru' }];
  const responses: [PagestreamResponse, number][] = [
    [{ kind: 'exists', req: exists, exists: true }, 39],
    [{ kind: 'nblocks', req: nblocks, nblocks: 1234 }, 42],
    [{ kind: 'getpage', req: getpage, page }, 42 + BLCKSZ],
    [{ kind: 'dbsize', req: dbsize, dbSize: 1n << 40n }, 37],
    [{ kind: 'slru', req: slru, segment }, 34 + 3 * BLCKSZ],
    [{ kind: 'error', hdr, message: 'Not found: ü' }, 25 + Buffer.byteLength('Not found: ü') + 1],
  ];
  for (const [r, size] of responses) {
    assert.equal(pagestreamResponseBytes(r), size, r.kind);
    const b = Buffer.alloc(size + 4, 0xee);
    assert.equal(encodePagestreamResponseInto(r, b, 2), size + 2);
    const d = decodePagestreamResponse(b.subarray(2, 2 + size));
    assert.equal(d.kind, r.kind);
    assert.equal(d.hdr.reqid, hdr.reqid);
    if (d.kind === 'getpage') assert.ok(d.page.equals(page));
    if (d.kind === 'slru') assert.ok(d.segment.equals(segment) && b.readUInt32BE(2 + 30) === 3);
    if (d.kind === 'dbsize') assert.equal(d.dbSize, 1n << 40n);
    if (d.kind === 'nblocks') assert.equal(d.nblocks, 1234);
    if (d.kind === 'error') assert.equal(d.message, 'Not found: ü');
  }
});

test('MessageReader: a startup packet and 200 messages split at every offset read the same', () => {
  const stream = Buffer.concat([startupMessage({ user: 'u', database: 'd' }), ...Array.from({ length: 200 }, (_, i) => copyDataMessage(encodePagestreamRequest(REQUESTS[i % REQUESTS.length] as PagestreamRequest)))]);
  const readAll = (chunks: Buffer[]) => {
    const r = new MessageReader(1 << 16);
    const out: string[] = [];
    let started = false;
    for (const c of chunks) {
      r.push(c);
      if (!started) {
        const p = r.nextStartup();
        if (p === undefined) continue;
        assert.equal(p.kind, 'startup');
        started = true;
      }
      for (let m = r.next(); m !== undefined; m = r.next()) out.push(`${m.type}:${m.body.toString('hex')}`);
    }
    assert.equal(r.buffered, 0);
    return out;
  };
  const whole = readAll([stream]);
  assert.equal(whole.length, 200);
  for (let at = 1; at < stream.length; at += 7) assert.deepEqual(readAll([stream.subarray(0, at), stream.subarray(at)]), whole, `split at ${at}`);
  assert.deepEqual(readAll(Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1))), whole, 'one byte at a time');
});

test('MessageReader: lengths that cannot be right are a WireProtocolError', () => {
  const r = new MessageReader(100);
  r.push(Buffer.from([0x64, 0, 0, 0, 3]));
  assert.throws(() => r.next(), WireProtocolError);
  const big = new MessageReader(100);
  big.push(Buffer.from([0x64, 0, 0, 1, 0]));
  assert.throws(() => big.next(), /length must be 4 to 100 bytes, received 256/);
  const s = new MessageReader(100);
  s.push(Buffer.from([0, 1, 0, 0, 0, 0, 0, 0]));
  assert.throws(() => s.nextStartup(), /received 65536/);
});
