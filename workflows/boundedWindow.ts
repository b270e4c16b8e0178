/**
 * Runs `start(item, index)` for every item with at most `limit` in flight: the next item starts
 * when one finishes, in item order, and results come back in item order. Deterministic (plain
 * promises, no clock, no randomness), so workflows use it to bound child workflows; it imports
 * nothing from Temporal, so it is unit-tested on its own.
 *
 * Fail fast like Promise.all: the first rejection rejects the whole and no further item starts;
 * items already in flight are left to the caller (a workflow's children die with it).
 */
export async function mapWithWindow<T, R>(items: readonly T[], limit: number, start: (item: T, index: number) => Promise<R>): Promise<R[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`window limit must be a positive integer, got ${limit}`);
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const lane = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await start(items[index]!, index);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
