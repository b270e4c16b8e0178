import { describe, expect, it } from 'vitest';
import type { IterationMetrics } from '../../core/rl';
import { iterationReport, meanOf, mismatchPauseReason } from '../../workflows/iterationReport';

const metrics: IterationMetrics = {
  episodes: 4,
  scored: 3,
  unscored: 1,
  rewardMean: 2 / 3,
  rewardFinalMean: 0.5,
  submitRate: 1,
  meanTurns: 7,
  contextOverflowRate: 0,
  maxTurnsRate: 0,
  infraFailures: 2,
};

describe('iterationReport', () => {
  it('maps the plan metrics and the steps into the report the status shows', () => {
    const r = iterationReport({
      stage: 'rl-stage1',
      iteration: 3,
      policyVersion: 'run/rl-stage1/i0002-s0001',
      metrics,
      zeroAdvantageFraction: 0.25,
      update: { checkpointId: 'run/rl-stage1/i0003-s0001', clipFractions: [0.1, 0.3], tokensPerSec: [900, 1100] },
      updateSteps: 2,
      startedMs: 10_000,
      endedMs: 72_500,
    });
    expect(r).toEqual({
      stage: 'rl-stage1',
      iteration: 3,
      policyVersion: 'run/rl-stage1/i0002-s0001',
      checkpointId: 'run/rl-stage1/i0003-s0001',
      episodes: 4,
      // The status's "reward" is R_final (with the length penalty); its pass rate is R.
      rewardMean: 0.5,
      passRate: 2 / 3,
      submitRate: 1,
      meanTurns: 7,
      zeroAdvantageFraction: 0.25,
      clipFraction: 0.2,
      durationSec: 62.5,
      trainerTokensPerSec: 1000,
      infraFailures: 2,
      updateSteps: 2,
    });
  });

  it('reports null trainer metrics for an iteration that trained nothing', () => {
    const r = iterationReport({
      stage: 'rft',
      iteration: 0,
      policyVersion: 'toy-base',
      metrics,
      zeroAdvantageFraction: 0,
      update: { checkpointId: 'toy-base', clipFractions: [], tokensPerSec: [] },
      updateSteps: 0,
      startedMs: 0,
      endedMs: 1_000,
    });
    expect([r.checkpointId, r.clipFraction, r.trainerTokensPerSec, r.updateSteps]).toEqual(['toy-base', null, null, 0]);
  });

  it('meanOf is null on no values, the arithmetic mean otherwise', () => {
    expect(meanOf([])).toBeNull();
    expect(meanOf([1, 2, 6])).toBe(3);
  });
});

describe('training–inference mismatch', () => {
  const base = {
    stage: 'rl-stage1', iteration: 1, policyVersion: 'p', metrics, zeroAdvantageFraction: 0, updateSteps: 2, startedMs: 0, endedMs: 1_000,
  };
  it('reports the mean of the steps\' means and the max of their maxima; nothing when no step measured it', () => {
    const r = iterationReport({ ...base, update: { checkpointId: 'c', clipFractions: [0, 0], tokensPerSec: [1, 1], logprobMismatch: [{ mean: 0.02, max: 0.5 }, { mean: 0.04, max: 1.25 }] } });
    expect(r.logprobMismatchMean).toBeCloseTo(0.03, 12);
    expect(r.logprobMismatchMax).toBe(1.25);
    const none = iterationReport({ ...base, update: { checkpointId: 'c', clipFractions: [], tokensPerSec: [] } });
    expect(none).not.toHaveProperty('logprobMismatchMean');
  });

  it('pauses (SWERL_LOGPROB_MISMATCH) only above the configured bound', () => {
    const r = iterationReport({ ...base, update: { checkpointId: 'c', clipFractions: [0], tokensPerSec: [1], logprobMismatch: [{ mean: 0.3, max: 2 }] } });
    expect(mismatchPauseReason(r, undefined)).toBeUndefined();
    expect(mismatchPauseReason(r, 0.3)).toBeUndefined();
    expect(mismatchPauseReason(r, 0.1)).toMatch(/^SWERL_LOGPROB_MISMATCH: iteration rl-stage1\/1 measured a mean \|rollout - trainer logprob\| of 0\.3000 \(max 2\.0000\)/);
    const unmeasured = iterationReport({ ...base, update: { checkpointId: 'c', clipFractions: [], tokensPerSec: [] } });
    expect(mismatchPauseReason(unmeasured, 0.1)).toBeUndefined();
  });
});
