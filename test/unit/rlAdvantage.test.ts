import { describe, expect, it } from 'vitest';
import { advantagesForGroups, groupAdvantages, selectTrainingSamples, zeroAdvantageFilter } from '../../core/rl';

const INVALID = /SWERL_RL_INPUT_INVALID/;

function expectClose(actual: number[], expected: number[], digits: number): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => expect(a).toBeCloseTo(expected[i] as number, digits));
}

describe('groupAdvantages', () => {
  it('standardises with the population std of the group', () => {
    // [1, 0, 0, 1]: mean 0.5, population variance (4 × 0.25) / 4 = 0.25, std 0.5.
    // A = ±0.5 / (0.5 + 1e-6) = ±0.999998000004.
    expectClose(groupAdvantages([1, 0, 0, 1], 1e-6), [0.999998000004, -0.999998000004, -0.999998000004, 0.999998000004], 11);
    // The sample std would be sqrt(1/3) = 0.57735 and give ±0.866: not what we compute.
    expect(groupAdvantages([1, 0, 0, 1], 1e-6)[0]).not.toBeCloseTo(0.866, 2);
    // [1, 0]: mean 0.5, std 0.5 → ±1 (δ negligible at 1e-12).
    expectClose(groupAdvantages([1, 0], 1e-12), [1, -1], 10);
  });

  it('gives a lone success in a group of 10 an advantage of 3', () => {
    // mean 0.1; variance (0.9² + 9 × 0.1²) / 10 = (0.81 + 0.09) / 10 = 0.09; std 0.3.
    // success: 0.9 / 0.3 = 3; each failure: −0.1 / 0.3 = −1/3.
    const a = groupAdvantages([1, 0, 0, 0, 0, 0, 0, 0, 0, 0], 1e-12);
    expectClose(a, [3, ...Array<number>(9).fill(-1 / 3)], 9);
    expect(a.reduce((s, x) => s + x, 0)).toBeCloseTo(0, 12);
  });

  it('works on R_final values that include the length penalty', () => {
    // R_final = [1 − 0.5, 0 − 1, 1 + 0, 0 − 1] = [0.5, −1, 1, −1]; mean −0.5 / 4 = −0.125.
    // deviations 0.625, −0.875, 1.125, −0.875; squares 0.390625 + 0.765625 + 1.265625 + 0.765625
    // = 3.1875; / 4 = 0.796875; std = 0.8926785535.
    // A = 0.625 / 0.89267855 = 0.7001400, −0.875 / … = −0.9801961, 1.125 / … = 1.2602521.
    expectClose(groupAdvantages([0.5, -1, 1, -1], 1e-12), [0.70014, -0.980196, 1.260252, -0.980196], 5);
  });

  it('is exactly zero for all-equal groups, whatever the floating-point mean', () => {
    expect(groupAdvantages([0.1, 0.1, 0.1], 1e-6)).toEqual([0, 0, 0]);
    expect(groupAdvantages([-1, -1], 1e-6)).toEqual([0, 0]);
    expect(groupAdvantages([1], 1e-6)).toEqual([0]);
  });

  it('rejects empty groups, non-finite rewards and a non-positive delta', () => {
    expect(() => groupAdvantages([], 1e-6)).toThrow(INVALID);
    expect(() => groupAdvantages([1, Number.NaN], 1e-6)).toThrow(/rewards\[1\] must be a finite number/);
    expect(() => groupAdvantages([1, 0], 0)).toThrow(/advantage delta must be > 0/);
  });
});

const sample = (episodeId: string, rewardFinal: number) => ({ episodeId, rewardFinal });

describe('zeroAdvantageFilter', () => {
  const groups = advantagesForGroups(
    [
      { taskId: 't1', samples: [sample('a1', 1), sample('a2', 0)] },
      { taskId: 't2', samples: [sample('b1', 0), sample('b2', 0)] }, // all failed
      { taskId: 't3', samples: [sample('c1', 1), sample('c2', 1)] }, // all solved
      { taskId: 't4', samples: [sample('d1', 0), sample('d2', 0.5), sample('d3', 1)] }, // d2: A = 0 exactly
    ],
    1e-6,
  );

  it('drops whole all-zero groups and keeps a lone A = 0 sample of a mixed group', () => {
    expect(groups[3]?.samples[1]?.advantage).toBe(0); // 0.5 − mean 0.5
    const out = zeroAdvantageFilter(groups);
    expect(out.kept.map((s) => s.episodeId)).toEqual(['a1', 'a2', 'd1', 'd2', 'd3']);
    // 2 of 4 groups dropped (t2, t3), 4 samples.
    expect(out).toMatchObject({ groupsTotal: 4, groupsDropped: 2, droppedFraction: 0.5, samplesDropped: 4 });
  });

  it('reports a zero fraction for an iteration without groups', () => {
    expect(zeroAdvantageFilter([])).toEqual({ kept: [], groupsTotal: 0, groupsDropped: 0, droppedFraction: 0, samplesDropped: 0 });
  });

  it('keeps everything when the stage disables dynamic sampling', () => {
    const input = [
      { taskId: 't1', samples: [sample('a1', 1), sample('a2', 0)] },
      { taskId: 't2', samples: [sample('b1', 0), sample('b2', 0)] },
    ];
    const off = selectTrainingSamples(input, { advantageEpsilon: 1e-6, dropZeroAdvantage: false });
    expect(off.kept.map((s) => [s.episodeId, Math.round(s.advantage * 1e4) / 1e4])).toEqual([['a1', 1], ['a2', -1], ['b1', 0], ['b2', 0]]);
    expect(off.droppedFraction).toBe(0);
    const on = selectTrainingSamples(input, { advantageEpsilon: 1e-6, dropZeroAdvantage: true });
    expect(on.kept.map((s) => s.episodeId)).toEqual(['a1', 'a2']);
    expect(on.droppedFraction).toBe(0.5); // 1 of 2 groups
  });

  it('rejects duplicate episodes and empty groups, naming them', () => {
    expect(() => advantagesForGroups([{ taskId: 't1', samples: [sample('x', 1)] }, { taskId: 't2', samples: [sample('x', 0)] }], 1e-6))
      .toThrow(/episode id "x" appears more than once/);
    expect(() => advantagesForGroups([{ taskId: 't9', samples: [] }], 1e-6)).toThrow(/group of task t9 has no samples/);
  });
});
