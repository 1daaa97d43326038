/**
 * An in-memory model of the repository, for the model-based and crash tests: every put of every
 * timeline kept in arrays, and the answer a read must give, found by walking them the simple way.
 * With it, a toy Reconstructor (test only) whose result is the concatenation of the base and the
 * records, so that any wrong, missing or reordered value shows in the bytes.
 */
import assert from 'node:assert/strict';
import type { Lsn } from '../pg/lsn.js';
import { RepositoryError } from '../repository/errors.js';
import type { Key } from '../repository/key.js';
import type { Timeline } from '../repository/timeline.js';
import { makeKey } from '../repository/key.js';
import type { HistoryValue, Reconstructor } from '../repository/reconstruct.js';
import type { Value } from '../repository/value.js';

export const toyReconstructor: Reconstructor = {
  async reconstruct(_key: Key, _lsn: number, base: HistoryValue | undefined, records: readonly HistoryValue[]): Promise<Uint8Array> {
    return Buffer.concat([...(base === undefined ? [] : [base.bytes]), ...records.map((r) => r.bytes)]);
  },
};

export interface ModelPut {
  readonly key: Key;
  readonly lsn: number;
  readonly value: Value;
}

export interface ModelTimeline {
  readonly id: string;
  readonly ancestor: ModelTimeline | undefined;
  readonly ancestorLsn: number;
  /** Puts in the order they were made (LSN order). */
  readonly puts: ModelPut[];
  last: number;
}

export type ModelAnswer = { readonly kind: 'value'; readonly bytes: Buffer } | { readonly kind: 'not-found' } | { readonly kind: 'no-base' };

function startsHistory(v: Value): boolean {
  return v.kind === 'image' || v.willInit;
}

/** What a read of `key` at `lsn` on `t` must return, with the toy Reconstructor. */
export function modelRead(t: ModelTimeline, key: Key, lsn: number): ModelAnswer {
  const found: Value[] = [];
  let at: ModelTimeline | undefined = t;
  let limit = lsn;
  while (at !== undefined) {
    for (let i = at.puts.length - 1; i >= 0; i--) {
      const p = at.puts[i] as ModelPut;
      if (p.key !== key || p.lsn > limit) continue;
      found.push(p.value);
      if (startsHistory(p.value)) return { kind: 'value', bytes: Buffer.concat(found.reverse().map((v) => v.bytes)) };
    }
    limit = Math.min(limit, at.ancestorLsn);
    at = at.ancestor;
  }
  return found.length === 0 ? { kind: 'not-found' } : { kind: 'no-base' };
}

/** A seeded PRNG (mulberry32): the same seed makes the same run, in a test and in its crash child. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A pool of keys spread over key kinds and relations, some neighbours, some far apart. */
export function keyPool(count: number): Key[] {
  const keys: Key[] = [];
  for (let i = 0; i < count; i++) {
    const kind = i % 5;
    if (kind < 3) keys.push(makeKey(0, 1663, 5, 16384 + kind, i % 3 === 0 ? 1 : 0, i));
    else if (kind === 3) keys.push(makeKey(1, 0, i >> 5, 0, 0, i & 31));
    else keys.push(makeKey(0, 1664, 0, 1260 + (i % 7), 0, i >> 3));
  }
  return [...new Set(keys)];
}

/** A random value: mostly small records, sometimes an image (some page-sized, some compressible), sometimes an initialising record. */
export function randomValue(rand: () => number, key: Key, lsn: number, first: boolean): Value {
  const tag = Buffer.from(`${key.slice(-8)}@${lsn};`);
  const r = rand();
  if (first || r < 0.15) {
    const big = rand() < 0.3;
    const bytes = Buffer.alloc(big ? 8192 : 16 + Math.floor(rand() * 64), big && rand() < 0.5 ? 0 : Math.floor(rand() * 256));
    tag.copy(bytes, 0);
    return { kind: 'image', bytes };
  }
  if (r < 0.22) return { kind: 'wal', willInit: true, bytes: tag };
  if (r < 0.3) return { kind: 'op', willInit: false, bytes: Buffer.concat([Buffer.from('op:'), tag]) };
  return { kind: 'wal', willInit: false, bytes: tag };
}

/** Expects the repository's answer to a read of `key` at `lsn` on `t` to be the model's. */
export async function expectRead(t: Timeline, m: ModelTimeline, key: Key, lsn: number, context: string): Promise<void> {
  const want = modelRead(m, key, lsn);
  let got: Uint8Array | RepositoryError;
  try {
    got = await t.get(key, BigInt(lsn) as Lsn, 1000);
  } catch (e) {
    if (!(e instanceof RepositoryError)) throw e;
    got = e;
  }
  const what = `${context}: ${key} at ${lsn} on ${t.id.slice(0, 6)}`;
  if (want.kind === 'value') {
    assert.ok(!(got instanceof RepositoryError), `${what}: expected a value, got ${got instanceof RepositoryError ? got.message : ''}`);
    assert.ok(Buffer.from(got).equals(want.bytes), `${what}: got ${Buffer.from(got).toString('latin1').replace(/\0/g, '')}, want ${want.bytes.toString('latin1').replace(/\0/g, '')}`);
  } else {
    assert.ok(got instanceof RepositoryError, `${what}: expected ${want.kind}, got a value`);
    assert.equal(got.code, want.kind === 'not-found' ? 'NOT_FOUND' : 'RECONSTRUCT_FAILED', `${what}: ${got.message}`);
  }
}
