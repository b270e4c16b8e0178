/**
 * Operators' actions on a stored episode, each a durable workflow with an audit row
 * (episode_operations: who, why, what came of it). Started by `swerl episode rescore|fork` and by
 * the dashboard through cli/episodeOperations.ts, which checks the request first (the same check
 * the first activity runs again).
 *
 * rescoreEpisode: grades the episode's stored patch once more, as the episode was graded (e.g.
 * after its task's environment was fixed). The grade is stored on the operation; the episode's own
 * reward, which training may have used, is never changed.
 *
 * forkEpisode: a new episode whose first k agent turns are the source's (copied rows, sandbox
 * rebuilt by replaying their commands) and whose later turns are sampled from another policy
 * version: the episode workflow as a child, resuming at turn k exactly as after a crash. The
 * source is only read.
 *
 * Guarantees: the operation id is chosen by the requester and is the workflow id's suffix, so a
 * repeated request attaches instead of acting twice; every write is keyed; a failure with a code
 * is recorded on the operation (status failed) before the workflow fails with that code.
 */
import { ApplicationFailure, executeChild, patched, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { OperationBookkeeping, OperationSummary, RescoreActivities } from '../activities/episode/operations';
import type { TrainerActivities } from '../activities/trainer/contract';
import { DEFAULT_REWARD_INFRA_SEC, REWARD_MAX_ATTEMPTS } from '../core/episodeLimits';
import { ErrorCodes, errorCodeOf } from '../core/errors';
import { afterRewardFailure, NO_REWARD_FAILURES, rewardFailureKind } from '../core/rewardAttempts';
import { TaskQueues } from '../core/taskQueues';
import type { episode } from './episode';
import { episodeWorkflowId } from './episodeInput';

export function episodeOperationWorkflowId(operationId: string): string {
  return `swerl-episode-op-${operationId}`;
}

interface OperationBase {
  operationId: string;
  episodeId: string;
  who: string;
  reason: string;
}

export interface RescoreEpisodeInput extends OperationBase {
  /** Shared rollout queue (default swerl-rollout): the grader needs a Docker host. */
  rolloutQueue?: string;
  /** The infra bound of its grading (default DEFAULT_REWARD_INFRA_SEC, as an episode's reward). */
  rewardInfraSec?: number;
}

/** Rescoring under the episode's two reward bounds (core/rewardAttempts.ts) instead of 3 attempts of any kind. */
export const RESCORE_BOUNDS_PATCH = 'swerl-rescore-reward-bounds';

export interface ForkEpisodeInput extends OperationBase {
  /** Agent turns copied from the source (0 = a fresh episode on the same task and spec). */
  atTurn: number;
  policyVersion: string;
  /** Endpoint of the new policy (default: the source episode's). */
  policyUrl?: string;
  /** Have the trainer's policy server load the checkpoint `policyVersion` before the fork samples. */
  loadPolicy: boolean;
  rolloutQueue?: string;
  trainerQueue?: string;
}

export interface OperationOutcome extends OperationSummary {
  kind: 'rescore' | 'fork';
}

const FINAL = [ErrorCodes.EPISODE_NOT_FOUND, ErrorCodes.EPISODE_OPERATION_INVALID, ErrorCodes.EPISODE_STATE_INVALID, ErrorCodes.CHECKPOINT_NOT_FOUND, ErrorCodes.CONFIG_INVALID, ErrorCodes.TASK_NOT_FOUND, ErrorCodes.TASK_INVALID];

const bookkeeping = proxyActivities<OperationBookkeeping>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 20, nonRetryableErrorTypes: FINAL },
});

/**
 * Records the failure on the operation (its code, or the failure's name when it has none, e.g. an
 * activity out of attempts on a timeout), then fails the workflow: coded failures with their code.
 */
async function failed(operationId: string, err: unknown): Promise<never> {
  const code = errorCodeOf(err);
  const message = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
  await bookkeeping.finishEpisodeOperation({ operationId, outcome: { status: 'failed', errorCode: code ?? (err instanceof Error ? err.name : 'failure'), error: message } });
  if (!code) throw err;
  throw ApplicationFailure.create({ type: code, message: `${code}: operation ${operationId} failed: ${message}`, nonRetryable: true });
}

export async function rescoreEpisode(input: RescoreEpisodeInput): Promise<OperationOutcome> {
  await bookkeeping.recordEpisodeOperation({
    id: input.operationId,
    kind: 'rescore',
    episodeId: input.episodeId,
    workflowId: workflowInfo().workflowId,
    actor: input.who,
    reason: input.reason,
    check: { kind: 'rescore', episodeId: input.episodeId },
  });
  if (patched(RESCORE_BOUNDS_PATCH)) return rescoreBounded(input);
  const grader = proxyActivities<RescoreActivities>({
    taskQueue: input.rolloutQueue ?? TaskQueues.rollout,
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: '1 minute',
    // A harness that keeps crashing is given up after the same bound as an episode's reward.
    retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 3, nonRetryableErrorTypes: FINAL },
  });
  try {
    return { kind: 'rescore', ...(await grader.rescoreStoredPatch({ operationId: input.operationId })) };
  } catch (err) {
    return failed(input.operationId, err);
  }
}

/**
 * One grader attempt per activity call, retried here as an episode's reward is: the
 * REWARD_MAX_ATTEMPTS-th harness crash fails the operation with SWERL_REWARD_UNAVAILABLE, infra
 * failures (Docker, the grader's container, Postgres, a lost worker) are retried with backoff for
 * rewardInfraSec from the first, then SWERL_REWARD_INFRA_EXHAUSTED. Every run is counted on the
 * operation (grader_runs).
 */
async function rescoreBounded(input: RescoreEpisodeInput): Promise<OperationOutcome> {
  const grader = proxyActivities<RescoreActivities>({
    taskQueue: input.rolloutQueue ?? TaskQueues.rollout,
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: '1 minute',
    retry: { maximumAttempts: 1 },
  });
  const bounds = { maxCrashes: REWARD_MAX_ATTEMPTS, infraSec: input.rewardInfraSec ?? DEFAULT_REWARD_INFRA_SEC };
  let state = NO_REWARD_FAILURES;
  for (;;) {
    try {
      return { kind: 'rescore', ...(await grader.rescoreStoredPatch({ operationId: input.operationId })) };
    } catch (err) {
      const decision = afterRewardFailure(state, rewardFailureKind(err), new Date().getTime(), bounds); // workflow time
      if (decision.action === 'rethrow') return failed(input.operationId, err);
      if (decision.action === 'give_up') {
        const why = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
        return failed(input.operationId, ApplicationFailure.create({
          type: decision.code,
          message: `${decision.code}: grading gave up after ${decision.state.crashes} harness crash(es) and ${decision.state.infraFailures} infra failure(s); the last: ${why}`,
          nonRetryable: true,
        }));
      }
      state = decision.state;
      await sleep(decision.delayMs);
    }
  }
}

export async function forkEpisode(input: ForkEpisodeInput): Promise<OperationOutcome> {
  await bookkeeping.recordEpisodeOperation({
    id: input.operationId,
    kind: 'fork',
    episodeId: input.episodeId,
    workflowId: workflowInfo().workflowId,
    actor: input.who,
    reason: input.reason,
    atTurn: input.atTurn,
    policyVersion: input.policyVersion,
    check: { kind: 'fork', episodeId: input.episodeId, atTurn: input.atTurn, policyVersion: input.policyVersion, loadPolicy: input.loadPolicy },
  });
  try {
    const episodeInput = await bookkeeping.prepareFork({ operationId: input.operationId, policyUrl: input.policyUrl, rolloutQueue: input.rolloutQueue });
    if (input.loadPolicy) {
      const trainer = proxyActivities<TrainerActivities>({
        taskQueue: input.trainerQueue ?? TaskQueues.trainer,
        startToCloseTimeout: '30 minutes',
        heartbeatTimeout: '1 minute',
        retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 10, nonRetryableErrorTypes: [...FINAL, ErrorCodes.CHECKPOINT_INVALID] },
      });
      await trainer.load_policy({ checkpoint_id: input.policyVersion });
    }
    const result = await executeChild<typeof episode>('episode', {
      workflowId: episodeWorkflowId(episodeInput.episodeId),
      taskQueue: workflowInfo().taskQueue,
      args: [episodeInput],
    });
    const done = await bookkeeping.finishEpisodeOperation({
      operationId: input.operationId,
      outcome: { status: 'completed', reward: result.reward, resultEpisodeId: episodeInput.episodeId, result: { exitReason: result.exitReason, turns: result.turns, rewardReason: result.rewardReason } },
    });
    return { kind: 'fork', ...done };
  } catch (err) {
    return failed(input.operationId, err);
  }
}
