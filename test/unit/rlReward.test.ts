import { describe, expect, it } from 'vitest';
import { RlStageSchema } from '../../core/config';
import { finalReward, lengthPenalty, rewardBreakdown } from '../../core/rl';

const INVALID = /SWERL_RL_INPUT_INVALID/;
const stage1 = RlStageSchema.parse({
  kind: 'rl', name: 'stage-1', maxTurns: 40, contextTokens: 65536, iterations: 1, problemsPerIteration: 300, batchSize: 128,
});

describe('lengthPenalty', () => {
  it('is 0 below the free turns and linear to -1 at T_max', () => {
    expect(lengthPenalty(0, 40)).toBe(0);
    expect(lengthPenalty(9, 40)).toBe(0); // 9 < 10
    expect(lengthPenalty(10, 40)).toBe(0); // (10 − 10) / 30 = 0: continuous at the free-turn boundary
    expect(lengthPenalty(11, 40)).toBeCloseTo(-1 / 30, 15); // (10 − 11) / (40 − 10)
    expect(lengthPenalty(25, 40, 10)).toBe(-0.5); // (10 − 25) / (40 − 10) = −15/30
    expect(lengthPenalty(40, 40)).toBe(-1); // (10 − 40) / 30
    expect(lengthPenalty(45, 80)).toBe(-0.5); // stage 2: (10 − 45) / (80 − 10) = −35/70
    expect(lengthPenalty(80, 80)).toBe(-1); // −70/70
    expect(lengthPenalty(6, 10, 4)).toBe(-1 / 3); // (4 − 6) / (10 − 4) = −2/6
  });

  it('rejects inputs the formula is not defined for, naming them', () => {
    expect(() => lengthPenalty(-1, 40)).toThrow(/SWERL_RL_INPUT_INVALID: turns must be an integer >= 0, got -1/);
    expect(() => lengthPenalty(2.5, 40)).toThrow(INVALID);
    expect(() => lengthPenalty(Number.NaN, 40)).toThrow(INVALID);
    expect(() => lengthPenalty(5, 10, 10)).toThrow(/maxTurns \(10\) must exceed freeTurns \(10\)/);
    expect(() => lengthPenalty(5, 8)).toThrow(/maxTurns \(8\) must exceed freeTurns \(10\)/);
    expect(() => lengthPenalty(41, 40)).toThrow(/trajectory has 41 turns, more than maxTurns 40/);
  });
});

describe('finalReward', () => {
  it('adds the length penalty to R with the stage config', () => {
    expect(finalReward(1, 25, stage1)).toBe(0.5); // 1 + (−0.5)
    expect(finalReward(1, 8, stage1)).toBe(1); // 1 + 0
    expect(rewardBreakdown(0, 34, stage1)).toEqual({ reward: 0, lengthPenalty: -0.8, rewardFinal: -0.8 }); // (10 − 34) / 30 = −0.8
  });

  it('scores T_max and context-overflow trajectories like any other: a number, never a drop', () => {
    // A T_max episode (40 turns, nothing submitted, R = 0) gets the full −1; a context overflow
    // after 22 turns gets (10 − 22) / 30 = −0.4. The API takes no exit reason at all.
    expect(finalReward(0, 40, stage1)).toBe(-1);
    expect(finalReward(0, 22, stage1)).toBeCloseTo(-0.4, 15);
  });

  it('leaves R alone when the penalty is disabled but still checks the turn count', () => {
    const off = { maxTurns: 40, lengthPenalty: { enabled: false, freeTurns: 10 } };
    expect(rewardBreakdown(1, 40, off)).toEqual({ reward: 1, lengthPenalty: 0, rewardFinal: 1 });
    expect(() => finalReward(1, 41, off)).toThrow(/41 turns, more than maxTurns 40/);
  });

  it('rejects a reward outside [0, 1]', () => {
    expect(() => finalReward(2, 5, stage1)).toThrow(/reward must be in \[0, 1\], got 2/);
    expect(() => finalReward(Number.NaN, 5, stage1)).toThrow(INVALID);
  });
});
