/**
 * The two bounds on scoring (core/rewardAttempts.ts), computed by hand: harness crashes in
 * attempts, infra failures in time from the first, and the iteration's unscored fraction.
 */
import { ActivityFailure, ApplicationFailure, CancelledFailure, RetryState, TimeoutFailure, TimeoutType } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_UNSCORED_FRACTION, DEFAULT_REWARD_INFRA_SEC, REWARD_MAX_ATTEMPTS } from '../../core/episodeLimits';
import { ErrorCodes, SandboxError, DbError } from '../../core/errors';
import {
  afterRewardFailure, NO_REWARD_FAILURES, REWARD_RETRY_INITIAL_MS, REWARD_RETRY_MAX_MS, rewardFailureKind, tooManyUnscored,
  type RewardRetryDecision, type RewardRetryState,
} from '../../core/rewardAttempts';
import { parseRunConfig } from '../../core/config';

/** An activity failure as the workflow sees it: ActivityFailure caused by `cause`. */
const activityFailure = (cause: Error): ActivityFailure =>
  new ActivityFailure('activity failed', 'scoreEpisode', '7', RetryState.MAXIMUM_ATTEMPTS_REACHED, undefined, cause);
const coded = (err: SandboxError | DbError): ActivityFailure => activityFailure(err.toApplicationFailure());

const bounds = { maxCrashes: 3, infraSec: 100 };

describe('rewardFailureKind', () => {
  it('a harness crash is a harness crash', () => {
    expect(rewardFailureKind(coded(new SandboxError(ErrorCodes.REWARD_HARNESS_CRASHED, 'pytest did not start the grader')))).toBe('harness_crash');
  });

  it('Docker, the reward container, Postgres, a lost worker and unknown errors are infra', () => {
    expect(rewardFailureKind(coded(new SandboxError(ErrorCodes.REWARD_INFRA_FAILED, 'its container stopped under it')))).toBe('infra');
    expect(rewardFailureKind(coded(new DbError(ErrorCodes.DB_UNAVAILABLE, 'connection refused')))).toBe('infra');
    expect(rewardFailureKind(activityFailure(new TimeoutFailure('heartbeat', undefined, TimeoutType.HEARTBEAT)))).toBe('infra');
    expect(rewardFailureKind(activityFailure(ApplicationFailure.create({ type: 'Error', message: 'connect ECONNREFUSED /var/run/docker.sock' })))).toBe('infra');
  });

  it('a non-retryable failure or a cancellation is rethrown, never bounded here', () => {
    expect(rewardFailureKind(coded(new SandboxError(ErrorCodes.EPISODE_STATE_INVALID, 'episode is cancelled')))).toBe('final');
    expect(rewardFailureKind(activityFailure(new CancelledFailure('cancelled')))).toBe('final');
  });
});

/** Applies `kinds` at the given workflow times from the empty state; returns every decision. */
function run(steps: Array<[ReturnType<typeof rewardFailureKind>, number]>): RewardRetryDecision[] {
  let state: RewardRetryState = NO_REWARD_FAILURES;
  const out: RewardRetryDecision[] = [];
  for (const [kind, now] of steps) {
    const d = afterRewardFailure(state, kind, now, bounds);
    out.push(d);
    if (d.action !== 'rethrow') state = d.state;
  }
  return out;
}

describe('afterRewardFailure', () => {
  it('the third harness crash gives up with SWERL_REWARD_UNAVAILABLE; the first two retry after 2 s and 4 s', () => {
    const d = run([['harness_crash', 0], ['harness_crash', 10_000], ['harness_crash', 20_000]]);
    expect(d[0]).toMatchObject({ action: 'retry', delayMs: 2_000, state: { crashes: 1, infraFailures: 0 } });
    expect(d[1]).toMatchObject({ action: 'retry', delayMs: 4_000, state: { crashes: 2 } });
    expect(d[2]).toMatchObject({ action: 'give_up', code: ErrorCodes.REWARD_UNAVAILABLE, state: { crashes: 3 } });
  });

  it('infra failures retry with doubling backoff until infraSec after the first, then SWERL_REWARD_INFRA_EXHAUSTED', () => {
    // First infra failure at t=1000 ms: the deadline is 1000 + 100 000 = 101 000 ms.
    const d = run([['infra', 1_000], ['infra', 5_000], ['infra', 60_000], ['infra', 95_000], ['infra', 101_000]]);
    expect(d[0]).toMatchObject({ action: 'retry', delayMs: 2_000, state: { infraFailures: 1, infraSinceMs: 1_000 } });
    expect(d[1]).toMatchObject({ action: 'retry', delayMs: 4_000, state: { infraFailures: 2, infraSinceMs: 1_000 } });
    expect(d[2]).toMatchObject({ action: 'retry', delayMs: 8_000 });
    // 16 s of backoff would pass the deadline: the last attempt starts at it (101 000 - 95 000).
    expect(d[3]).toMatchObject({ action: 'retry', delayMs: 6_000 });
    expect(d[4]).toMatchObject({ action: 'give_up', code: ErrorCodes.REWARD_INFRA_EXHAUSTED, state: { infraFailures: 5 } });
  });

  it('harness crashes do not start the infra clock, and infra failures do not count as crashes', () => {
    const d = run([['harness_crash', 0], ['infra', 500_000], ['infra', 550_000], ['harness_crash', 560_000], ['infra', 600_001]]);
    expect(d[1]).toMatchObject({ action: 'retry', state: { crashes: 1, infraFailures: 1, infraSinceMs: 500_000 } });
    expect(d[2]).toMatchObject({ action: 'retry', state: { infraSinceMs: 500_000 } });
    expect(d[3]).toMatchObject({ action: 'retry', state: { crashes: 2 } });
    expect(d[4]).toMatchObject({ action: 'give_up', code: ErrorCodes.REWARD_INFRA_EXHAUSTED, state: { crashes: 2, infraFailures: 3 } });
  });

  it('backoff is capped at 60 s', () => {
    const state: RewardRetryState = { crashes: 0, infraFailures: 30, infraSinceMs: 0 };
    expect(afterRewardFailure(state, 'infra', 1_000, { maxCrashes: 3, infraSec: 3_600 })).toMatchObject({ action: 'retry', delayMs: REWARD_RETRY_MAX_MS });
    expect(REWARD_RETRY_INITIAL_MS).toBe(2_000);
  });

  it('a final failure is rethrown, the state untouched', () => {
    expect(afterRewardFailure({ crashes: 2, infraFailures: 0 }, 'final', 0, bounds)).toEqual({ action: 'rethrow' });
  });

  it('with the defaults: 3 crashes, 1800 s of infra', () => {
    expect(REWARD_MAX_ATTEMPTS).toBe(3);
    expect(DEFAULT_REWARD_INFRA_SEC).toBe(1800);
    const defaults = { maxCrashes: REWARD_MAX_ATTEMPTS, infraSec: DEFAULT_REWARD_INFRA_SEC };
    const since = { crashes: 0, infraFailures: 1, infraSinceMs: 0 };
    expect(afterRewardFailure(since, 'infra', 1_799_999, defaults)).toMatchObject({ action: 'retry', delayMs: 1 });
    expect(afterRewardFailure(since, 'infra', 1_800_000, defaults)).toMatchObject({ action: 'give_up', code: ErrorCodes.REWARD_INFRA_EXHAUSTED });
  });
});

describe('tooManyUnscored', () => {
  it('fails only when strictly more than the fraction is unscored', () => {
    expect(DEFAULT_MAX_UNSCORED_FRACTION).toBe(0.5);
    expect(tooManyUnscored(4, 2, 0.5)).toBe(false); // 2 of 4 unscored: at the bound
    expect(tooManyUnscored(4, 1, 0.5)).toBe(true); // 3 of 4
    expect(tooManyUnscored(1, 0, 0.5)).toBe(true); // the only episode
    expect(tooManyUnscored(1, 1, 0)).toBe(false);
    expect(tooManyUnscored(10, 9, 0)).toBe(true); // maxUnscoredFraction 0: any unscored episode fails it
    expect(tooManyUnscored(10, 0, 1)).toBe(false); // 1: never
    expect(tooManyUnscored(0, 0, 0)).toBe(false);
  });

  it('is exact where the product is not (0.29 × 100 = 28.999999999999996)', () => {
    expect(tooManyUnscored(100, 71, 0.29)).toBe(false); // 29 of 100
    expect(tooManyUnscored(100, 70, 0.29)).toBe(true); // 30 of 100
  });
});

describe('config', () => {
  it('timeouts.rewardInfraSec defaults to 1800 s; rollout.maxUnscoredFraction is within [0, 1]', () => {
    const base = { name: 'x', model: { base: 'b' }, tasks: { suite: 's.jsonl' }, stages: [{ kind: 'eval', name: 'e', maxTurns: 5, contextTokens: 100 }] };
    expect(parseRunConfig(base).timeouts.rewardInfraSec).toBe(1800);
    expect(parseRunConfig({ ...base, timeouts: { rewardInfraSec: 60 } }).timeouts.rewardInfraSec).toBe(60);
    expect(parseRunConfig({ ...base, rollout: { maxUnscoredFraction: 0.2 } }).rollout?.maxUnscoredFraction).toBe(0.2);
    expect(() => parseRunConfig({ ...base, rollout: { maxUnscoredFraction: 1.5 } })).toThrow();
  });
});
