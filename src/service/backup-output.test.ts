/**
 * BackupOutput: what each kind of sink receives (a framed stream's messages carry the archive's
 * bytes in order, also while its chunk buffers are reused), and that a sink that fails or closes
 * ends the backup with OUTPUT_FAILED instead of leaving it waiting.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { BackupOutput, OUTPUT_CHUNK_BYTES } from './backup-output.js';

/** Writes `bytes` through `out` in pieces of uneven sizes, as the tar writer does (headers, pages, padding). */
async function writeAll(out: BackupOutput, bytes: Buffer): Promise<void> {
  const sizes = [512, 8192, 3, 8192 * 7, 100_000, 1];
  for (let o = 0, i = 0; o < bytes.length; i++) {
    const n = Math.min(sizes[i % sizes.length] as number, bytes.length - o);
    if (i % 2 === 0) await out.write(bytes.subarray(o, o + n));
    else (await out.reserve(n)).set(bytes.subarray(o, o + n));
    o += n;
  }
}

/** A stream that keeps a copy of each write and completes it a little later (a socket's pace). */
function slowCopyingStream(received: Buffer[]): Writable {
  return new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _e, cb) {
      received.push(Buffer.from(chunk));
      setImmediate(cb);
    },
  });
}

describe('BackupOutput', () => {
  it('a framed stream gets one message per chunk, header in front, and the payloads are the archive in order while chunks are reused', async () => {
    const archive = randomBytes(6 * OUTPUT_CHUNK_BYTES + 12_345);
    const received: Buffer[] = [];
    const out = new BackupOutput({ stream: slowCopyingStream(received), what: 'a test stream', headerBytes: 5, frame: (h, n) => void (h.write('d', 0), h.writeInt32BE(4 + n, 1)) }, undefined);
    await writeAll(out, archive);
    await out.finish();
    const payloads: Buffer[] = [];
    for (const m of received) {
      assert.equal(m[0], 0x64);
      assert.equal(m.readInt32BE(1), m.length - 1, 'the length field covers itself and the payload');
      assert.ok(m.length - 5 <= OUTPUT_CHUNK_BYTES);
      payloads.push(m.subarray(5));
    }
    assert.equal(received.length, Math.ceil(archive.length / OUTPUT_CHUNK_BYTES));
    assert.ok(Buffer.concat(payloads).equals(archive));
    assert.equal(out.tarBytes, archive.length);
    assert.equal(out.sinkBytes, archive.length);
  });

  it('a framed stream through gzip: each compressed chunk is one framed message', async () => {
    const { gunzipSync } = await import('node:zlib');
    const archive = Buffer.concat([randomBytes(300_000), Buffer.alloc(3 * OUTPUT_CHUNK_BYTES)]);
    const received: Buffer[] = [];
    const out = new BackupOutput({ stream: slowCopyingStream(received), what: 'a test stream', headerBytes: 5, frame: (h, n) => void (h.write('d', 0), h.writeInt32BE(4 + n, 1)) }, { level: 1 });
    await writeAll(out, archive);
    await out.finish();
    for (const m of received) assert.equal(m.readInt32BE(1), m.length - 1);
    assert.ok(gunzipSync(Buffer.concat(received.map((m) => m.subarray(5)))).equals(archive));
  });

  it('a plain stream and a function get the archive in order', async () => {
    const archive = randomBytes(2 * OUTPUT_CHUNK_BYTES + 77);
    const received: Buffer[] = [];
    const a = new BackupOutput(slowCopyingStream(received), undefined);
    await writeAll(a, archive);
    await a.finish();
    assert.ok(Buffer.concat(received).equals(archive));
    const kept: Buffer[] = [];
    const b = new BackupOutput((c) => void kept.push(c), undefined);
    await writeAll(b, archive);
    await b.finish();
    // The function keeps the chunks it was given (no copy): they must not be refilled later.
    assert.ok(Buffer.concat(kept).equals(archive));
  });

  it('a stream closed without an error while writes are in flight fails the backup (it never calls those writes back)', { timeout: 10_000 }, async () => {
    let writes = 0;
    // Takes writes and never completes them, like a socket whose peer stopped reading; then closes.
    const stuck = new Writable({
      write(_chunk, _e, _cb) {
        if (++writes === 1) setTimeout(() => stuck.destroy(), 20);
      },
    });
    const out = new BackupOutput(stuck, undefined);
    await assert.rejects(
      (async () => {
        await writeAll(out, randomBytes(8 * OUTPUT_CHUNK_BYTES));
        await out.finish();
      })(),
      { code: 'OUTPUT_FAILED', message: /it was closed/ },
    );
    out.abort();
  });

  it('a stream that fails a write fails the backup with the stream\'s error', async () => {
    const failing = new Writable({ write: (_c, _e, cb) => cb(new Error('connection reset')) });
    failing.on('error', () => undefined);
    const out = new BackupOutput({ stream: failing, what: 'the client', headerBytes: 5, frame: () => undefined }, undefined);
    await assert.rejects(
      (async () => {
        await writeAll(out, randomBytes(3 * OUTPUT_CHUNK_BYTES));
        await out.finish();
      })(),
      { code: 'OUTPUT_FAILED', message: /Cannot write the base backup to the client: connection reset/ },
    );
    out.abort();
  });
});
