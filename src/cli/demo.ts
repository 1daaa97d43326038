/** Placeholder: replaced below. */
export async function runDemo(_opts: { keep?: boolean }): Promise<number> {
  return 0;
}
