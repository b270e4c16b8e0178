import { describe, expect, it } from 'vitest';
import { iterationMetrics, type EpisodeSummary } from '../../core/rl';

const episodes: EpisodeSummary[] = [
  { reward: 1, rewardFinal: 1 - 10 / 30, turns: 20, exitReason: 'submitted', infraFailures: 1 }, // R_len (10 − 20)/30
  { reward: 0, rewardFinal: -2 / 30, turns: 12, exitReason: 'submitted', infraFailures: 0 },
  { reward: 0, rewardFinal: -1, turns: 40, exitReason: 'max_turns', infraFailures: 0 },
  { reward: 0, rewardFinal: -23 / 30, turns: 33, exitReason: 'context_overflow', infraFailures: 0 },
  { reward: null, turns: 3, exitReason: 'infra_failure', infraFailures: 4 },
  { reward: null, turns: 0, exitReason: 'cancelled', infraFailures: 0 },
];

describe('iterationMetrics', () => {
  it('computes the paper-watched rates over scored episodes only', () => {
    const m = iterationMetrics(episodes);
    expect(m).toMatchObject({ episodes: 6, scored: 4, unscored: 2, infraFailures: 5 }); // 1 + 4 infra failures
    expect(m.rewardMean).toBe(0.25); // 1 of 4 scored solved
    expect(m.submitRate).toBe(0.5); // 2 of 4
    expect(m.meanTurns).toBe(26.25); // (20 + 12 + 40 + 33) / 4 = 105 / 4
    expect(m.contextOverflowRate).toBe(0.25);
    expect(m.maxTurnsRate).toBe(0.25);
    // (2/3 − 1/15 − 1 − 23/30) / 4 = ((20 − 2 − 30 − 23) / 30) / 4 = −35/120
    expect(m.rewardFinalMean).toBeCloseTo(-35 / 120, 12);
  });

  it('reports no R_final mean when one is missing, and null rates when nothing was scored', () => {
    expect(iterationMetrics(episodes.map(({ rewardFinal: _, ...e }) => e)).rewardFinalMean).toBeNull();
    expect(iterationMetrics([])).toEqual({
      episodes: 0, scored: 0, unscored: 0, rewardMean: null, rewardFinalMean: null, submitRate: null,
      meanTurns: null, contextOverflowRate: null, maxTurnsRate: null, infraFailures: 0,
    });
    expect(iterationMetrics([episodes[4] as EpisodeSummary]).rewardMean).toBeNull();
  });

  it('rejects a finished episode without a reward and bad counts', () => {
    expect(() => iterationMetrics([{ reward: null, turns: 40, exitReason: 'max_turns', infraFailures: 0 }]))
      .toThrow(/SWERL_RL_INPUT_INVALID: episode 0 ended with max_turns but has no reward/);
    expect(() => iterationMetrics([{ reward: 1, turns: -2, exitReason: 'submitted', infraFailures: 0 }])).toThrow(/turns of episode 0/);
  });
});
