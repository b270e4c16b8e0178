import { describe, expect, it } from 'vitest';
import { batchesPerEpoch, formBatches, formGroupBatches, microBatches, rlBatchShaping, rlSteps } from '../../core/rl';
import { parseRunConfig, type RlStageConfig } from '../../core/config';

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

describe('formGroupBatches', () => {
  // Groups g0..g3 of 6, 5, 6 and 4 samples: episode ids g<k>-<i>.
  const group = (k: number, n: number) => Array.from({ length: n }, (_, i) => ({ episodeId: `g${k}-${i}`, tokens: 10, advantage: i % 2 ? 1 : -1 }));
  const groups = [group(0, 6), group(1, 5), group(2, 6), group(3, 4)];
  const groupsOf = (step: ReadonlyArray<{ episodeId: string }>) => [...new Set(step.map((s) => s.episodeId.split('-')[0]))];

  it('never splits a group; fills a step to batchSize with whole groups and merges a small rest', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const steps = formGroupBatches(groups, { batchSize: 6, epochs: 1, seed });
      // Every sample once; each group's samples all in one step, in their order.
      expect(steps.flatMap((s) => ids(s.samples)).sort()).toEqual(groups.flat().map((s) => s.episodeId).sort());
      for (const g of groups) {
        const holding = steps.filter((s) => s.samples.some((x) => x.episodeId === g[0]!.episodeId));
        expect(holding).toHaveLength(1);
        expect(ids(holding[0]!.samples.filter((x) => x.episodeId.startsWith(g[0]!.episodeId.split('-')[0] + '-')))).toEqual(ids(g));
      }
      // batchSize 6: a step closes as soon as it holds ≥ 6. Groups of 6 close alone; 5 or 4 need a
      // second group, so 2-4 steps, none smaller than 3 (half a batch) and none above 6 + 6.
      expect(steps.length).toBeGreaterThanOrEqual(2);
      steps.forEach((s) => expect(s.samples.length).toBeGreaterThanOrEqual(3));
    }
  });

  it('cuts by the hand-computed rule whatever the shuffled order of groups of 6, 5, 6 and 4 (batchSize 12)', () => {
    // Two 6s first: 6 + 6 = 12 closes a step, then 5 + 4 = 9 ≥ 6 is its own step → [12, 9].
    // Otherwise the first two hold < 12 (11, 10 or 9), the third closes the step at 15-17, and the
    // last group is merged if it holds < 6 (→ [21]) or is a step of its own if it is a 6 (→ [15, 6]).
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 24; seed++) {
      const steps = formGroupBatches(groups, { batchSize: 12, epochs: 1, seed });
      const order = steps.flatMap((s) => groupsOf(s.samples)).map((g) => Number(g!.slice(1)));
      const sizes = order.map((k) => groups[k]!.length);
      const expected = sizes[0] === 6 && sizes[1] === 6 ? [12, 9] : sizes[3] === 6 ? [15, 6] : [21];
      expect(steps.map((s) => s.samples.length)).toEqual(expected);
      outcomes.add(expected.join());
    }
    expect(outcomes).toEqual(new Set(['12,9', '15,6', '21']));
    // batchSize 21 or more: one step with every group; batchSize 1: one step per group.
    expect(formGroupBatches(groups, { batchSize: 21, epochs: 1, seed: 7 }).map((s) => s.samples.length)).toEqual([21]);
    expect(formGroupBatches(groups, { batchSize: 1, epochs: 1, seed: 7 }).map((s) => groupsOf(s.samples).length)).toEqual([1, 1, 1, 1]);
  });

  it('is deterministic in the seed and independent of the input order; epochs number steps on', () => {
    const a = formGroupBatches(groups, { batchSize: 6, epochs: 2, seed: 11 });
    const reversed = formGroupBatches(groups.slice().reverse().map((g) => g.slice().reverse()), { batchSize: 6, epochs: 2, seed: 11 });
    expect(a.map((s) => groupsOf(s.samples))).toEqual(reversed.map((s) => groupsOf(s.samples)));
    expect(a.map((s) => s.step)).toEqual(a.map((_, i) => i));
    expect(new Set(a.map((s) => s.epoch))).toEqual(new Set([0, 1]));
    const orders = new Set([1, 2, 3, 4, 5, 6, 7, 8].map((seed) => formGroupBatches(groups, { batchSize: 1, epochs: 1, seed }).map((s) => groupsOf(s.samples)[0]).join()));
    expect(orders.size).toBeGreaterThan(1); // the seed does shuffle the groups
  });

  it('rejects duplicates and bad options; empty groups make no step', () => {
    expect(formGroupBatches([[], []], { batchSize: 4, epochs: 1, seed: 0 })).toEqual([]);
    expect(() => formGroupBatches([group(0, 2), group(0, 1)], { batchSize: 4, epochs: 1, seed: 0 })).toThrow(/episode id "g0-0" appears more than once/);
    expect(() => formGroupBatches(groups, { batchSize: 0, epochs: 1, seed: 0 })).toThrow(/batchSize must be an integer >= 1/);
  });
});

describe('rlSteps and rlBatchShaping', () => {
  const stage = (extra: Record<string, unknown>): RlStageConfig => {
    const cfg = parseRunConfig(
      { name: 'x', model: { base: 'b' }, tasks: { suite: 's.jsonl' }, stages: [{ kind: 'rl', name: 'rl', maxTurns: 40, contextTokens: 1024, iterations: 1, problemsPerIteration: 2, batchSize: 6, ...extra }] },
      'inline',
    );
    return cfg.stages[0] as RlStageConfig;
  };

  it("leaves the default grouping out of the activity input and passes 'group' on", () => {
    expect(rlBatchShaping(stage({}))).toEqual({ advantageEpsilon: 1e-6, dropZeroAdvantage: true, batchSize: 6, epochsPerIteration: 1 });
    expect(rlBatchShaping(stage({ batchGrouping: 'group' }))).toMatchObject({ batchGrouping: 'group' });
  });

  it("regroups kept samples by their group with 'group'; shuffles episodes otherwise", () => {
    const g = [0, 1, 2, 3].map((k) => ({ samples: Array.from({ length: 3 }, (_, i) => ({ episodeId: `g${k}-${i}`, tokens: 5, advantage: 1 })) }));
    const kept = g.flatMap((x) => x.samples);
    const shaping = { advantageEpsilon: 1e-6, dropZeroAdvantage: true, batchSize: 3, epochsPerIteration: 1 };
    const grouped = rlSteps(g, kept, { ...shaping, batchGrouping: 'group' }, 3);
    expect(grouped.map((s) => new Set(s.samples.map((x) => x.episodeId.split('-')[0])).size)).toEqual([1, 1, 1, 1]);
    // Episode shuffling mixes groups in some step for some seed.
    const mixed = [1, 2, 3, 4, 5].some((seed) => rlSteps(g, kept, shaping, seed).some((s) => new Set(s.samples.map((x) => x.episodeId.split('-')[0])).size > 1));
    expect(mixed).toBe(true);
    expect(() => rlSteps(g.slice(1), kept, { ...shaping, batchGrouping: 'group' }, 3)).toThrow(/kept sample g0-0 belongs to no group/);
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
