/**
 * The HTTP API's request parameter checks (routes.ts, timeline-create.ts): ids, LSNs, timestamps,
 * optional strings of a checked body; each failure is a 400 that says what was wrong and what was
 * received.
 */
import { LsnParseError, parseLsn, type Lsn } from '../pg/lsn.js';
import { ServiceError } from './errors.js';

const ID = /^[0-9a-f]{32}$/;

export function bad(message: string): ServiceError {
  return new ServiceError('BAD_REQUEST', message);
}

export function id(what: string, value: string): string {
  if (!ID.test(value)) throw bad(`Cannot use ${what} ${JSON.stringify(value.slice(0, 64))}: an id is 32 lowercase hex digits`);
  return value;
}

export function lsnParam(what: string, value: unknown): Lsn {
  if (typeof value !== 'string') throw bad(`Cannot read ${what}: an LSN is a string like "0/16B3748", received ${JSON.stringify(value)}`);
  try {
    return parseLsn(value);
  } catch (e) {
    if (e instanceof LsnParseError) throw bad(`Cannot read ${what}: ${e.message}`);
    throw e;
  }
}

export function timestampParam(what: string, value: string): number {
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw bad(`Cannot read ${what}: expected an ISO 8601 timestamp like 2024-01-02T03:04:05Z, received ${JSON.stringify(value.slice(0, 64))}`);
  return ms;
}

export function optionalString(o: Record<string, unknown>, k: string): string | undefined {
  const v = o[k];
  return v === undefined || v === null ? undefined : (v as string);
}
