/**
 * The two bounds on scoring an episode, and the one on an iteration's unscored episodes. Pure:
 * the episode workflow and the shard workflows import it, the unit tests compute it by hand.
 *
 * - A harness crash (SWERL_REWARD_HARNESS_CRASHED: Docker answered, the reward container ran, no
 *   verdict) is bounded in attempts: the REWARD_MAX_ATTEMPTS-th ends the episode with
 *   SWERL_REWARD_UNAVAILABLE (the activity counts them on the episode row; the workflow's own count
 *   is a backstop).
 * - Every other retryable failure of the reward (Docker unreachable, the reward container stopped
 *   under the harness, Postgres down, a worker lost mid-scoring: a timeout) is infra, bounded in
 *   time: retried with backoff until timeouts.rewardInfraSec have passed since the first one, then
 *   SWERL_REWARD_INFRA_EXHAUSTED.
 * - A non-retryable failure or a cancellation is not the reward's to bound: it is rethrown.
 * Either code ends only that episode (exit infra_failure, unscored); its iteration fails only when
 * more than rollout.maxUnscoredFraction of its episodes end unscored.
 */
import { ApplicationFailure, CancelledFailure, TerminatedFailure } from '@temporalio/common';
import { ErrorCodes, errorCodeOf, type ErrorCode } from './errors';

export type RewardFailureKind = 'harness_crash' | 'infra' | 'final';

/** Backoff between reward attempts: doubling from the first, capped. */
export const REWARD_RETRY_INITIAL_MS = 2_000;
export const REWARD_RETRY_MAX_MS = 60_000;

function chain(err: unknown): unknown[] {
  const out: unknown[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur && depth < 8; depth++) {
    out.push(cur);
    cur = (cur as { cause?: unknown }).cause;
  }
  return out;
}

/** What a failed scoring attempt (as the workflow sees it: an ActivityFailure and its causes) was. */
export function rewardFailureKind(err: unknown): RewardFailureKind {
  const causes = chain(err);
  if (causes.some((c) => c instanceof CancelledFailure || c instanceof TerminatedFailure)) return 'final';
  if (errorCodeOf(err) === ErrorCodes.REWARD_HARNESS_CRASHED) return 'harness_crash';
  if (causes.some((c) => c instanceof ApplicationFailure && c.nonRetryable)) return 'final';
  return 'infra';
}

export interface RewardRetryState {
  /** Harness crashes seen by this workflow. */
  crashes: number;
  /** Infra failures seen by this workflow. */
  infraFailures: number;
  /** Workflow time of the first infra failure; the bound runs from it. */
  infraSinceMs?: number;
}

export const NO_REWARD_FAILURES: RewardRetryState = { crashes: 0, infraFailures: 0 };

export type RewardRetryDecision =
  | { action: 'retry'; delayMs: number; state: RewardRetryState }
  | { action: 'give_up'; code: ErrorCode; state: RewardRetryState }
  | { action: 'rethrow' };

export interface RewardBounds {
  maxCrashes: number;
  infraSec: number;
}

/**
 * What to do after a failed scoring attempt at workflow time `nowMs`: retry after `delayMs`, give
 * up with a code, or rethrow. The delay never runs past the infra deadline, so the last attempt
 * starts by it; a failure at or after the deadline gives up.
 */
export function afterRewardFailure(state: RewardRetryState, kind: RewardFailureKind, nowMs: number, bounds: RewardBounds): RewardRetryDecision {
  if (kind === 'final') return { action: 'rethrow' };
  const failures = state.crashes + state.infraFailures;
  const backoff = Math.min(REWARD_RETRY_INITIAL_MS * 2 ** Math.min(failures, 16), REWARD_RETRY_MAX_MS);
  if (kind === 'harness_crash') {
    const next = { ...state, crashes: state.crashes + 1 };
    if (next.crashes >= bounds.maxCrashes) return { action: 'give_up', code: ErrorCodes.REWARD_UNAVAILABLE, state: next };
    return { action: 'retry', delayMs: backoff, state: next };
  }
  const since = state.infraSinceMs ?? nowMs;
  const next = { ...state, infraFailures: state.infraFailures + 1, infraSinceMs: since };
  const deadline = since + bounds.infraSec * 1000;
  if (nowMs >= deadline) return { action: 'give_up', code: ErrorCodes.REWARD_INFRA_EXHAUSTED, state: next };
  return { action: 'retry', delayMs: Math.min(backoff, deadline - nowMs), state: next };
}

/**
 * Whether an iteration with `episodes` finished episodes of which `scored` were scored has more
 * unscored ones than `maxFraction` allows (strictly more: 2 of 4 at 0.5 is within the bound).
 */
export function tooManyUnscored(episodes: number, scored: number, maxFraction: number): boolean {
  if (episodes <= 0) return false;
  // The epsilon keeps a product like 0.29 * 100 = 28.999999999999996 from counting 29 as more.
  return episodes - scored > maxFraction * episodes + 1e-9;
}
