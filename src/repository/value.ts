/**
 * Values: what the repository stores under a key at an LSN. Three kinds, as seed 002 describes:
 * - an image: the whole content of the key (a page, a relation size, a directory) at that LSN;
 * - a WAL record that applies to the key (`wal`), marked when it initialises the key (WILL_INIT or
 *   a full-page image), so that a read can start from it without an older image;
 * - a strata operation (`op`): an effect some record has on a key it does not reference as a block
 *   (VM bits cleared by heap records, CLOG bits set by a commit).
 * The repository never interprets the bytes of records and operations: it hands them, oldest first,
 * to its Reconstructor with the newest image below them.
 *
 * On disk and in the in-memory layer a value is one flags byte then its bytes:
 * ```
 *   bit 0..1  kind: 0 image, 1 wal record, 2 operation
 *   bit 6     the bytes are LZ4-compressed (a u32 LE raw length, then an LZ4 block)
 *   bit 7     initialises the key (records and operations)
 * ```
 */
export type Value =
  | { readonly kind: 'image'; readonly bytes: Uint8Array }
  | { readonly kind: 'wal'; readonly willInit: boolean; readonly bytes: Uint8Array }
  | { readonly kind: 'op'; readonly willInit: boolean; readonly bytes: Uint8Array };

export const VALUE_KIND_MASK = 0x03;
export const VALUE_KIND_IMAGE = 0;
export const VALUE_KIND_WAL = 1;
export const VALUE_KIND_OP = 2;
export const VALUE_COMPRESSED = 0x40;
export const VALUE_WILL_INIT = 0x80;

export function valueFlags(v: Value): number {
  switch (v.kind) {
    case 'image':
      return VALUE_KIND_IMAGE;
    case 'wal':
      return VALUE_KIND_WAL | (v.willInit ? VALUE_WILL_INIT : 0);
    case 'op':
      return VALUE_KIND_OP | (v.willInit ? VALUE_WILL_INIT : 0);
  }
}

/** An image, or a record that starts the key's history: a read needs nothing older. */
export function valueStartsHistory(flags: number): boolean {
  return (flags & VALUE_KIND_MASK) === VALUE_KIND_IMAGE || (flags & VALUE_WILL_INIT) !== 0;
}

