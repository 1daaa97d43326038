import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lsn } from '../../pg/lsn.js';
import {
  MessageFramer,
  parseBackendMessage,
  parseStreamMessage,
  pgNowUs,
  saslInitialResponse,
  standbyStatusUpdate,
  startupMessage,
  type BackendMessage,
} from './protocol.js';
import { ReplicationError } from './errors.js';

function backend(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.write(type, 0, 'latin1');
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

function xlogData(start: bigint, walEnd: bigint, data: Buffer): Buffer {
  const h = Buffer.alloc(25);
  h.write('w', 0, 'latin1');
  h.writeBigUInt64BE(start, 1);
  h.writeBigUInt64BE(walEnd, 9);
  h.writeBigInt64BE(123456789n, 17);
  return Buffer.concat([h, data]);
}

/** A realistic sequence: auth ok, parameters, ready, a one-row result, CopyBoth, WAL, keepalive, CopyDone. */
function sampleStream(): Buffer {
  const wal = Buffer.alloc(20000);
  for (let i = 0; i < wal.length; i++) wal[i] = (i * 31) & 0xff;
  const keepalive = Buffer.alloc(18);
  keepalive.write('k', 0, 'latin1');
  keepalive.writeBigUInt64BE(0x1_0000_2000n, 1);
  keepalive.writeBigInt64BE(42n, 9);
  keepalive[17] = 1;
  const rowDesc = Buffer.concat([
    Buffer.from([0, 2]),
    Buffer.from('systemid\0'), int32(0), Buffer.from([0, 0]), int32(25), Buffer.from([0xff, 0xff]), int32(-1), Buffer.from([0, 0]),
    Buffer.from('dbname\0'), int32(0), Buffer.from([0, 0]), int32(25), Buffer.from([0xff, 0xff]), int32(-1), Buffer.from([0, 0]),
  ]);
  const dataRow = Buffer.concat([Buffer.from([0, 2]), int32(5), Buffer.from('12345'), int32(-1)]);
  const error = Buffer.from('SERROR\0VERROR\0C42704\0Mreplication slot "x" does not exist\0Dsome detail\0\0', 'latin1');
  return Buffer.concat([
    backend('R', int32(0)),
    backend('S', Buffer.from('server_version\x0015.18\0')),
    backend('K', Buffer.concat([int32(777), int32(888)])),
    backend('Z', Buffer.from('I')),
    backend('T', rowDesc),
    backend('D', dataRow),
    backend('C', Buffer.from('IDENTIFY_SYSTEM\0')),
    backend('E', error),
    backend('W', Buffer.from([0, 0, 0])),
    backend('d', xlogData(0x1_0000_0000n, 0x1_0000_4e20n, wal)),
    backend('d', keepalive),
    backend('c', Buffer.alloc(0)),
  ]);
}

function frameAll(chunks: Buffer[]): BackendMessage[] {
  const f = new MessageFramer();
  const out: BackendMessage[] = [];
  for (const c of chunks) {
    f.push(c);
    for (let m = f.next(); m !== undefined; m = f.next()) out.push(parseBackendMessage(m.type, m.body));
  }
  assert.equal(f.pendingBytes, 0);
  return out;
}

test('the framer gives the same messages however the stream is split (every offset, and byte by byte)', () => {
  const stream = sampleStream();
  const whole = frameAll([stream]);
  assert.deepEqual(
    whole.map((m) => m.kind),
    ['authentication', 'parameterStatus', 'backendKeyData', 'readyForQuery', 'rowDescription', 'dataRow', 'commandComplete', 'error', 'copyBothResponse', 'copyData', 'copyData', 'copyDone'],
  );
  const err = whole[7];
  assert.ok(err?.kind === 'error');
  assert.equal(err.fields.sqlstate, '42704');
  assert.equal(err.fields.severity, 'ERROR');
  assert.equal(err.fields.detail, 'some detail');
  const row = whole[5];
  assert.ok(row?.kind === 'dataRow');
  assert.equal(row.values[0]?.toString(), '12345');
  assert.equal(row.values[1], null);
  const rd = whole[4];
  assert.ok(rd?.kind === 'rowDescription');
  assert.deepEqual(rd.fields, [{ name: 'systemid', typeOid: 25 }, { name: 'dbname', typeOid: 25 }]);

  const key = JSON.stringify(whole, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  for (let cut = 1; cut < stream.length; cut += cut < 200 ? 1 : 97) {
    const parts = frameAll([stream.subarray(0, cut), stream.subarray(cut)]);
    assert.equal(JSON.stringify(parts, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)), key, `split at ${cut}`);
  }
  const bytes = [...stream].map((b) => Buffer.from([b]));
  assert.equal(JSON.stringify(frameAll(bytes), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)), key);
});

test('CopyData payloads parse as XLogData and keepalives; a message inside one read is a view, not a copy', () => {
  const stream = sampleStream();
  const f = new MessageFramer();
  f.push(stream);
  const msgs: Buffer[] = [];
  for (let m = f.next(); m !== undefined; m = f.next()) if (m.type === 0x64) msgs.push(m.body);
  const w = parseStreamMessage(msgs[0]!);
  assert.ok(w.kind === 'xlogData');
  assert.equal(w.start, lsn(0x1_0000_0000n));
  assert.equal(w.walEnd, lsn(0x1_0000_4e20n));
  assert.equal(w.data.length, 20000);
  assert.equal(w.data[100], (100 * 31) & 0xff);
  assert.equal(w.data.buffer, stream.buffer, 'zero-copy view into the socket read');
  const k = parseStreamMessage(msgs[1]!);
  assert.deepEqual(k, { kind: 'keepalive', walEnd: lsn(0x1_0000_2000n), sendTimeUs: 42n, replyRequested: true });
  assert.throws(() => parseStreamMessage(Buffer.from('x')), ReplicationError);
  assert.throws(() => parseStreamMessage(Buffer.from('w\0\0')), /dataStart/);
});

test('a broken length or an unknown message type is a protocol violation', () => {
  const f = new MessageFramer();
  f.push(Buffer.from([0x52, 0, 0, 0, 2]));
  assert.throws(() => f.next(), (e: unknown) => e instanceof ReplicationError && e.code === 'PROTOCOL_VIOLATION');
  assert.throws(() => parseBackendMessage(0x7a, Buffer.alloc(0)), /does not expect/);
  assert.throws(() => parseBackendMessage(0x44, Buffer.from([0, 1, 0, 0, 0, 9, 1])), /value/);
});

test('frontend messages have the layout the protocol documents', () => {
  const s = startupMessage({ user: 'strata', replication: 'true' });
  assert.equal(s.readInt32BE(0), s.length);
  assert.equal(s.readInt32BE(4), 196608);
  assert.equal(s.subarray(8).toString('latin1'), 'user\0strata\0replication\0true\0\0');
  const now = pgNowUs(Date.UTC(2000, 0, 1, 0, 0, 1));
  assert.equal(now, 1_000_000n);
  const r = standbyStatusUpdate(lsn(0x10n), lsn(0x8n), lsn(0x4n), now, true);
  assert.equal(r.toString('latin1', 0, 1), 'd');
  assert.equal(r.readInt32BE(1), 4 + 34);
  assert.equal(r.toString('latin1', 5, 6), 'r');
  assert.equal(r.readBigUInt64BE(6), 0x10n);
  assert.equal(r.readBigUInt64BE(14), 0x8n);
  assert.equal(r.readBigUInt64BE(22), 0x4n);
  assert.equal(r.readBigInt64BE(30), 1_000_000n);
  assert.equal(r[38], 1);
  const sasl = saslInitialResponse('SCRAM-SHA-256', Buffer.from('n,,n=,r=abc'));
  assert.equal(sasl.toString('latin1', 0, 1), 'p');
  assert.equal(sasl.toString('latin1', 5, 19), 'SCRAM-SHA-256\0');
  assert.equal(sasl.readInt32BE(19), 11);
  assert.throws(() => startupMessage({ user: 'a\0b' }), /NUL/);
});
