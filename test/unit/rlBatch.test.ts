import { describe, expect, it } from 'vitest';
import { batchesPerEpoch, formBatches, microBatches } from '../../core/rl';

const INVALID = /SWERL_RL_INPUT_INVALID/;
const samples = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ episodeId: `ep-${String(i).padStart(4, '0')}`, tokens: 100 + i, advantage: i % 2 ? 1 : -1 }));
const ids = (xs: ReadonlyArray<{ episodeId: string }>) => xs.map((s) => s.episodeId);

describe('batchesPerEpoch', () => {
  it('keeps a remainder of at least half a batch and merges a smaller one', () => {
    expect(batchesPerEpoch(640, 128)).toBe(5); // 5 × 128, no remainder
    expect(batchesPerEpoch(700, 128)).toBe(5); // 5 × 128 + 60; 60 < 64 → merged into step 5
    expect(batchesPerEpoch(704, 128)).toBe(6); // 5 × 128 + 64; 64 ≥ 64 → its own step
    expect(batchesPerEpoch(100, 128)).toBe(1); // fewer than a batch: one small step
    expect(batchesPerEpoch(0, 128)).toBe(0);
    expect(batchesPerEpoch(1000, 256)).toBe(4); // stage 2: 3 × 256 + 232; 232 ≥ 128 → 4
  });
});

describe('formBatches', () => {
  it('cuts 700 samples at batch 128 into steps of 128 × 4 + 188, each sample once', () => {
    const steps = formBatches(samples(700), { batchSize: 128, epochs: 1, seed: 7 });
    expect(steps.map((s) => [s.step, s.epoch, s.samples.length])).toEqual([[0, 0, 128], [1, 0, 128], [2, 0, 128], [3, 0, 128], [4, 0, 188]]);
    expect(ids(steps.flatMap((s) => s.samples)).sort()).toEqual(ids(samples(700)));
  });

  it('gives a remainder of half a batch its own step', () => {
    const steps = formBatches(samples(704), { batchSize: 128, epochs: 1, seed: 7 });
    expect(steps.map((s) => s.samples.length)).toEqual([128, 128, 128, 128, 128, 64]);
  });

  it('numbers steps consecutively across epochs and reshuffles every epoch', () => {
    // 300 at 128: 2 × 128 + 44; 44 < 64 → [128, 172] per epoch.
    const steps = formBatches(samples(300), { batchSize: 128, epochs: 2, seed: 3 });
    expect(steps.map((s) => [s.step, s.epoch, s.samples.length])).toEqual([[0, 0, 128], [1, 0, 172], [2, 1, 128], [3, 1, 172]]);
    for (const epoch of [0, 1]) {
      expect(ids(steps.filter((s) => s.epoch === epoch).flatMap((s) => s.samples)).sort()).toEqual(ids(samples(300)));
    }
    expect(ids(steps[0]?.samples ?? [])).not.toEqual(ids(steps[2]?.samples ?? []));
  });

  it('depends on the seed and the set of samples, not on their arrival order', () => {
    const input = samples(50);
    const a = formBatches(input, { batchSize: 16, epochs: 1, seed: 11 });
    const reversed = formBatches(input.slice().reverse(), { batchSize: 16, epochs: 1, seed: 11 });
    expect(reversed).toEqual(a);
    const otherSeed = formBatches(input, { batchSize: 16, epochs: 1, seed: 12 });
    expect(ids(otherSeed[0]?.samples ?? [])).not.toEqual(ids(a[0]?.samples ?? []));
    // A shuffle, not the sorted order.
    expect(ids(a[0]?.samples ?? [])).not.toEqual(ids(input.slice(0, 16)));
  });

  it('returns no steps for no samples and rejects bad options or samples', () => {
    expect(formBatches([], { batchSize: 128, epochs: 1, seed: 0 })).toEqual([]);
    expect(() => formBatches(samples(3), { batchSize: 0, epochs: 1, seed: 0 })).toThrow(/batchSize must be an integer >= 1/);
    expect(() => formBatches(samples(3), { batchSize: 2, epochs: 0, seed: 0 })).toThrow(/epochs must be an integer >= 1/);
    const dup = [...samples(2), samples(1)[0] as ReturnType<typeof samples>[number]];
    expect(() => formBatches(dup, { batchSize: 2, epochs: 1, seed: 0 })).toThrow(/episode id "ep-0000" appears more than once/);
    expect(() => formBatches([{ episodeId: 'e', tokens: -1, advantage: 1 }], { batchSize: 2, epochs: 1, seed: 0 })).toThrow(INVALID);
  });
});

describe('microBatches', () => {
  const s = (episodeId: string, tokens: number) => ({ episodeId, tokens });

  it('packs next-fit within the budget, never splitting a sample; an oversized one goes alone', () => {
    // budget 1000: 300 + 500 + 200 = 1000 fits exactly; 1200 > budget goes alone; 100 + 100.
    const out = microBatches([s('a', 300), s('b', 500), s('c', 200), s('d', 1200), s('e', 100), s('f', 100)], 1000);
    expect(out.map((mb) => ids(mb))).toEqual([['a', 'b', 'c'], ['d'], ['e', 'f']]);
  });

  it('starts a new micro-batch when the next sample would overflow', () => {
    // 600 + 500 = 1100 > 1000 → split; 500 + 400 = 900 fits.
    expect(microBatches([s('a', 600), s('b', 500), s('c', 400)], 1000).map((mb) => ids(mb))).toEqual([['a'], ['b', 'c']]);
    expect(microBatches([], 1000)).toEqual([]);
  });

  it('rejects a non-positive budget and bad token counts', () => {
    expect(() => microBatches([s('a', 1)], 0)).toThrow(/tokenBudget must be an integer >= 1/);
    expect(() => microBatches([s('a', 1.5)], 10)).toThrow(/tokens of episode a/);
  });
});
