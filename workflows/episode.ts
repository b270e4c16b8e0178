/**
 * episode: one agent rollout on one task, as a durable loop of retryable turns.
 *
 * Guarantees
 * - Nothing big in history: turns, observations, token ids, the patch and the test provenance live
 *   in Postgres; this workflow carries ids, counters and one-line summaries.
 * - A turn is never generated twice: `policyTurn` returns the persisted assistant turn when one
 *   exists (unique (episode, idx)), so a retry after a crash reuses it instead of re-sampling.
 * - A command is never applied twice to one sandbox: `execTool` on a retry rebuilds the sandbox by
 *   replaying the persisted commands, then runs the pending one once.
 * - Sandbox-host affinity: the sandbox lives on one rollout worker; later activities go to that
 *   worker's own task queue. If the host is gone (schedule-to-close timeout, SWERL_SANDBOX_GONE),
 *   a new sandbox is rebuilt on any host from the task and the persisted commands — the policy is
 *   never asked again for a persisted turn.
 * - Infra failures (retries, lost hosts) are counted on the episode row, never scored as 0.
 * - Context overflow and T_max end the episode like a submit does: the current diff is scored and
 *   the trajectory is kept (PAPER.md: masking them reinforced looping).
 */
import { ActivityFailure, ApplicationFailure, CancellationScope, TimeoutFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { EpisodeActivities, EpisodeScoreSummary, HostActivities } from '../activities/episode/types';
import type { Decoding, PromptStyle, RetryPolicyConfig } from '../core/config';
import { ErrorCodes } from '../core/errors';
import { toRetryPolicy } from '../core/retry';
import { TaskQueues } from '../core/taskQueues';

export interface EpisodeInput {
  episodeId: string;
  runId: string;
  stage: string;
  iteration: number;
  taskId: string;
  sampleIdx: number;
  policy: { url: string; model: string; decoding: Decoding; policyVersion: string; seed?: number };
  /** `prompt` is absent for the default SWE-agent prompt, so inputs recorded before it existed are unchanged. */
  limits: { maxTurns: number; contextTokens: number; freeTurns: number; lengthPenalty: boolean; prompt?: PromptStyle };
  sandbox: { cpus: number; memoryMiB: number; pidsLimit: number; outputLimitBytes: number; commandTimeoutSec: number; user: string; leaseTtlSec: number };
  timeouts: { policyTurnSec: number; toolExecSec: number; rewardSec: number; heartbeatSec: number };
  retry: RetryPolicyConfig;
  /** The shared rollout queue (default swerl-rollout); tests isolate themselves with their own. */
  rolloutQueue?: string;
}

export type EpisodeExit = 'submitted' | 'max_turns' | 'context_overflow';

export interface EpisodeResult {
  episodeId: string;
  taskId: string;
  reward: number;
  lengthPenalty: number;
  rewardFinal: number;
  turns: number;
  formatErrors: number;
  exitReason: EpisodeExit;
  infraFailures: number;
  rewardReason: string;
}

/** How long an activity on a host queue may wait for that host before we assume it is gone. */
const HOST_LOSS_GRACE_SEC = 60;

export async function episode(input: EpisodeInput): Promise<EpisodeResult> {
  const retry = toRetryPolicy(input.retry, [
    ErrorCodes.CONFIG_INVALID,
    ErrorCodes.TASK_INVALID,
    ErrorCodes.TASK_NOT_FOUND,
    ErrorCodes.POLICY_BAD_RESPONSE,
    ErrorCodes.DECODING_MISMATCH,
    ErrorCodes.EPISODE_STATE_INVALID,
  ]);
  const shared = proxyActivities<EpisodeActivities>({
    taskQueue: input.rolloutQueue ?? TaskQueues.rollout,
    startToCloseTimeout: `${input.timeouts.policyTurnSec + input.timeouts.rewardSec} seconds`,
    heartbeatTimeout: `${input.timeouts.heartbeatSec * 3} seconds`,
    retry,
  });
  const onHost = (hostQueue: string, timeoutSec: number) =>
    proxyActivities<HostActivities>({
      taskQueue: hostQueue,
      // No other worker can run these: if the host is gone, give up and rebuild elsewhere.
      scheduleToCloseTimeout: `${timeoutSec * 2 + HOST_LOSS_GRACE_SEC} seconds`,
      startToCloseTimeout: `${timeoutSec + 30} seconds`,
      heartbeatTimeout: `${input.timeouts.heartbeatSec * 3} seconds`,
      retry,
    });

  let infraFailures = 0;
  const started = await shared.startEpisode({ ...input, workflowId: workflowInfo().workflowId });
  let host = await shared.acquireSandbox({ episodeId: input.episodeId, replayUpTo: started.nextTurn });

  /** Runs `fn` on the current host; if the host is lost, rebuilds the sandbox on another and retries once per loss. */
  async function onCurrentHost<T>(timeoutSec: number, turn: number, fn: (h: HostActivities, containerId: string) => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await fn(onHost(host.hostQueue, timeoutSec), host.containerId);
      } catch (err) {
        if (!isHostLoss(err)) throw err;
        infraFailures += 1;
        await shared.recordInfraFailure({ episodeId: input.episodeId, code: ErrorCodes.SANDBOX_GONE });
        host = await shared.acquireSandbox({ episodeId: input.episodeId, replayUpTo: turn });
      }
    }
  }

  let turn = started.nextTurn;
  let formatErrors = started.formatErrors;
  let exitReason: EpisodeExit = 'max_turns';
  let score: EpisodeScoreSummary;
  try {
    while (turn < input.limits.maxTurns) {
      const step = await shared.policyTurn({ episodeId: input.episodeId, turn });
      if (step.kind === 'context_overflow') {
        exitReason = 'context_overflow';
        break;
      }
      if (step.formatError) formatErrors += 1;
      const obs = await onCurrentHost(input.timeouts.toolExecSec, turn, (h, containerId) =>
        h.execTool({ episodeId: input.episodeId, turn, containerId }),
      );
      if (obs.rebuiltContainerId) host = { ...host, containerId: obs.rebuiltContainerId };
      turn += 1;
      if (obs.submitted) {
        exitReason = 'submitted';
        break;
      }
    }

    if (exitReason !== 'submitted') {
      // T_max or context overflow: the agent's current diff is what gets scored.
      await onCurrentHost(input.timeouts.toolExecSec, turn, (h, containerId) => h.captureDiff({ episodeId: input.episodeId, containerId }));
    }
    score = await shared.scoreEpisode({ episodeId: input.episodeId, turns: turn, exitReason });
  } finally {
    // Also when the episode fails or is cancelled: its sandbox lease must not wait for the TTL.
    await CancellationScope.nonCancellable(() =>
      onHost(host.hostQueue, 30)
        .releaseSandbox({ episodeId: input.episodeId, containerId: host.containerId })
        .catch(() => {
          // A lost host's containers are removed by its reaper.
        }),
    );
  }
  return {
    episodeId: input.episodeId,
    taskId: input.taskId,
    reward: score.reward,
    lengthPenalty: score.lengthPenalty,
    rewardFinal: score.rewardFinal,
    turns: turn,
    formatErrors,
    exitReason,
    infraFailures: infraFailures + score.infraFailures,
    rewardReason: score.reason,
  };
}

function isHostLoss(err: unknown): boolean {
  if (!(err instanceof ActivityFailure)) return false;
  const cause = err.cause;
  if (cause instanceof TimeoutFailure) return true;
  return cause instanceof ApplicationFailure && cause.type === ErrorCodes.SANDBOX_GONE;
}
