/**
 * Branded domain numbers and relation identities shared by every layer of strata.
 */

export type Oid = number & { readonly __brand: 'Oid' };
export type BlockNumber = number & { readonly __brand: 'BlockNumber' };
export type TransactionId = number & { readonly __brand: 'TransactionId' };
export type MultiXactId = number & { readonly __brand: 'MultiXactId' };
export type TimeLineId = number & { readonly __brand: 'TimeLineId' };

export const INVALID_OID = 0 as Oid;
export const INVALID_BLOCK_NUMBER = 0xffff_ffff as BlockNumber;
export const INVALID_TRANSACTION_ID = 0 as TransactionId;

/** ForkNumber (common/relpath.h). */
export const enum Fork {
  Main = 0,
  Fsm = 1,
  VisibilityMap = 2,
  Init = 3,
}
export const MAX_FORK_NUMBER = 3;

/** forkNames[] in common/relpath.c. */
export const FORK_NAMES: readonly string[] = ['main', 'fsm', 'vm', 'init'];

/** RelFileNode: the physical identity of a relation (tablespace, database, relfilenode). */
export interface RelFileNode {
  readonly spcNode: Oid;
  readonly dbNode: Oid;
  readonly relNode: Oid;
}

export function relFileNodeEquals(a: RelFileNode, b: RelFileNode): boolean {
  return a.spcNode === b.spcNode && a.dbNode === b.dbNode && a.relNode === b.relNode;
}

export function formatRelFileNode(r: RelFileNode): string {
  return `${r.spcNode}/${r.dbNode}/${r.relNode}`;
}

/** Well-known tablespace OIDs (pg_tablespace.dat). */
export const DEFAULTTABLESPACE_OID = 1663 as Oid;
export const GLOBALTABLESPACE_OID = 1664 as Oid;
