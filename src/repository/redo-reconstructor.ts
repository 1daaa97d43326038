/**
 * The Reconstructor of a tenant whose values come from PostgreSQL WAL: relation pages through the
 * redo engine (in-process or the tenant's redo worker: src/redo/engine.ts), SLRU pages through
 * strata's SLRU operations (src/redo/slru.ts). Every other key is written as images only, so a
 * record under one is corrupt input, not something to guess at.
 */
import type { RedoEngine } from '../redo/engine.js';
import { redoSlruPage } from '../redo/slru.js';
import type { RedoSettings } from '../redo/types.js';
import { RepositoryError } from './errors.js';
import { describeKey, KeyKind, relBlockOf, type Key } from './key.js';
import type { HistoryValue, Reconstructor } from './reconstruct.js';

export class RedoReconstructor implements Reconstructor {
  constructor(
    private readonly engine: RedoEngine,
    private readonly tenantId: string,
    private readonly settings: () => RedoSettings,
  ) {}

  async reconstruct(key: Key, _lsn: number, base: HistoryValue | undefined, records: readonly HistoryValue[]): Promise<Uint8Array> {
    const page = relBlockOf(key);
    const inputs = records.map((r) => r.bytes);
    if (page !== undefined) return this.engine.redo(this.tenantId, { key: page, base: base?.bytes, inputs, settings: this.settings() });
    if (key.startsWith(KeyKind.SlruPage.toString(16).padStart(2, '0'))) return redoSlruPage(base?.bytes, inputs);
    throw new RepositoryError('RECONSTRUCT_FAILED', `Cannot reconstruct ${describeKey(key)}: it has records, and only relation and SLRU pages are redone`);
  }
}
