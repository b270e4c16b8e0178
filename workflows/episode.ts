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
 * - Turns run in segments (runTurns, one activity per SEGMENT_TURNS turns on the sandbox host): each
 *   turn's two rows (the assistant message with its command, the observation) are committed to
 *   Postgres, each in one statement, while the work after them runs; a command starts only after
 *   every earlier row has landed, so a killed worker costs at most the turn in flight;
 *   `swerl trajectory` shows every turn.
 * - Sandbox-host affinity: the sandbox lives on one rollout worker; later activities go to that
 *   worker's own task queue. If the host is gone (schedule-to-close timeout, SWERL_SANDBOX_GONE),
 *   a new sandbox is rebuilt on any host from the task and the persisted commands — the policy is
 *   never asked again for a persisted turn.
 * - Infra failures (retries, lost hosts) are counted on the episode row, never scored as 0.
 * - Rebuilds are bounded: a sandbox that dies more than `sandbox.maxRebuilds` times (a lost host, a
 *   container killed from outside, an agent that finds a way to kill its own) ends the episode with
 *   exit `sandbox_lost`: unscored, excluded from training, counted on the episode row.
 * - Scoring is bounded twice (core/rewardAttempts.ts): harness crashes (Docker answering, the reward
 *   container running) end the episode at the REWARD_MAX_ATTEMPTS-th with SWERL_REWARD_UNAVAILABLE;
 *   infra failures under the harness (Docker, its container stopped, Postgres, a lost worker) are
 *   retried with backoff for timeouts.rewardInfraSec, then SWERL_REWARD_INFRA_EXHAUSTED. Either ends
 *   only this episode: exit infra_failure, unscored, excluded from training, counted.
 * - Context overflow and T_max end the episode like a submit does: the current diff is scored and
 *   the trajectory is kept (PAPER.md: masking them reinforced looping).
 */
import { ActivityFailure, ApplicationFailure, CancellationScope, TimeoutFailure, patched, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { EpisodeActivities, EpisodeScoreSummary, HostActivities, HostRef } from '../activities/episode/types';
import type { Decoding, PromptStyle, RetryPolicyConfig } from '../core/config';
import { DEFAULT_HOST_LOSS_SEC, DEFAULT_MAX_REBUILDS, DEFAULT_REWARD_INFRA_SEC, REWARD_MAX_ATTEMPTS } from '../core/episodeLimits';
import { ErrorCodes, errorCodeOf } from '../core/errors';
import { afterRewardFailure, NO_REWARD_FAILURES, rewardFailureKind } from '../core/rewardAttempts';
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
  /** `maxRebuilds` is absent when it is the default (DEFAULT_MAX_REBUILDS), so recorded inputs are unchanged. */
  sandbox: { cpus: number; memoryMiB: number; diskMiB?: number; pidsLimit: number; outputLimitBytes: number; commandTimeoutSec: number; user: string; leaseTtlSec: number; maxRebuilds?: number };
  /** `hostLossSec` and `rewardInfraSec` are absent when they are the defaults, so recorded inputs are unchanged. */
  timeouts: { policyTurnSec: number; toolExecSec: number; rewardSec: number; heartbeatSec: number; hostLossSec?: number; rewardInfraSec?: number };
  retry: RetryPolicyConfig;
  /** The shared rollout queue (default swerl-rollout); tests isolate themselves with their own. */
  rolloutQueue?: string;
}

/** infra_failure: the reward kept failing (SWERL_REWARD_UNAVAILABLE, SWERL_REWARD_INFRA_EXHAUSTED): unscored, like sandbox_lost. */
export type EpisodeExit = 'submitted' | 'max_turns' | 'context_overflow' | 'sandbox_lost' | 'infra_failure';

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

/** How long an activity on a host queue may wait for that host before we assume it is gone (timeouts.hostLossSec overrides). */
const HOST_LOSS_GRACE_SEC = 60;
/** A release on a host queue waits this long by default (timeouts.hostLossSec overrides). */
const RELEASE_TIMEOUT_SEC = 30;
/** Bounded rebuilds: SWERL_SANDBOX_GONE reaches the workflow (not retried in place) and is counted. */
export const SANDBOX_LOST_PATCH = 'swerl-episode-sandbox-lost';

/** Turns per runTurns activity (a killed worker still costs at most one turn: each is committed). */
export const SEGMENT_TURNS = 16;
/** Turns run in segments on the sandbox host (runTurns), each turn committed to Postgres. */
export const TURN_SEGMENTS_PATCH = 'swerl-episode-turn-segments';

/** Scoring under two bounds (harness crashes in attempts, infra in time); either ends the episode unscored, exit infra_failure. */
export const REWARD_BOUNDS_PATCH = 'swerl-episode-reward-bounds';

/** Ends the episode early: its sandbox kept dying. */
class SandboxLost extends Error {}

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
  const bounded = patched(SANDBOX_LOST_PATCH);
  const maxRebuilds = input.sandbox.maxRebuilds ?? DEFAULT_MAX_REBUILDS;
  // Timeouts only (no new commands): an input without hostLossSec schedules exactly what it did.
  const hostLossSec = input.timeouts.hostLossSec;
  // With the cap, a dead sandbox is the workflow's to count and rebuild, not an in-place retry's.
  const hostRetry = bounded ? toRetryPolicy(input.retry, [...(retry.nonRetryableErrorTypes ?? []), ErrorCodes.SANDBOX_GONE]) : retry;
  const acquire = bounded
    ? proxyActivities<Pick<EpisodeActivities, 'acquireSandbox'>>({
        taskQueue: input.rolloutQueue ?? TaskQueues.rollout,
        startToCloseTimeout: `${input.timeouts.policyTurnSec + input.timeouts.rewardSec} seconds`,
        heartbeatTimeout: `${input.timeouts.heartbeatSec * 3} seconds`,
        retry: hostRetry,
      })
    : shared;
  const onHost = (hostQueue: string, timeoutSec: number) =>
    proxyActivities<HostActivities>({
      taskQueue: hostQueue,
      // No other worker can run these: if the host is gone, give up and rebuild elsewhere.
      scheduleToCloseTimeout: `${timeoutSec * 2 + (hostLossSec ?? HOST_LOSS_GRACE_SEC)} seconds`,
      startToCloseTimeout: `${timeoutSec + 30} seconds`,
      heartbeatTimeout: `${input.timeouts.heartbeatSec * 3} seconds`,
      retry: hostRetry,
    });

  let infraFailures = 0;
  let rebuilds = 0;
  const started = await shared.startEpisode({ ...input, workflowId: workflowInfo().workflowId });

  /** A sandbox with the persisted turns replayed (the activity reads which); each loss is counted, past the cap the episode is lost. */
  async function acquireSandbox(replayUpTo: number, lost: boolean): Promise<HostRef> {
    for (;;) {
      if (lost) {
        infraFailures += 1;
        await shared.recordInfraFailure({ episodeId: input.episodeId, code: ErrorCodes.SANDBOX_GONE });
        if (bounded) {
          rebuilds += 1;
          if (rebuilds > maxRebuilds) throw new SandboxLost();
        }
      }
      try {
        return await acquire.acquireSandbox({ episodeId: input.episodeId, replayUpTo });
      } catch (err) {
        if (!bounded || !isHostLoss(err)) throw err;
        lost = true;
      }
    }
  }

  let host: HostRef | undefined;

  /** Runs `fn` on the current host; if the host is lost, rebuilds the sandbox on another and retries once per loss. */
  async function onCurrentHost<T>(timeoutSec: number, turn: number, fn: (h: HostActivities, containerId: string) => Promise<T>): Promise<T> {
    for (;;) {
      const current = host!;
      try {
        return await fn(onHost(current.hostQueue, timeoutSec), current.containerId);
      } catch (err) {
        if (!isHostLoss(err)) throw err;
        if (bounded) {
          // The dead container's lease: released now rather than at its TTL.
          await releaseOn(current);
        }
        host = await acquireSandbox(turn, true);
      }
    }
  }

  /**
   * runTurns on a host queue: a started segment is watched by its heartbeat (one per turn, and every
   * second while it waits), a never-started one means the host is gone (schedule-to-start).
   */
  const segmentOn = (hostQueue: string) =>
    proxyActivities<HostActivities>({
      taskQueue: hostQueue,
      scheduleToStartTimeout: `${hostLossSec ?? DEFAULT_HOST_LOSS_SEC} seconds`,
      startToCloseTimeout: `${SEGMENT_TURNS * (input.timeouts.policyTurnSec + input.timeouts.toolExecSec) + 30} seconds`,
      heartbeatTimeout: `${input.timeouts.heartbeatSec * 3} seconds`,
      retry: hostRetry,
    });

  async function releaseOn(h: HostRef): Promise<void> {
    await CancellationScope.nonCancellable(() =>
      onHost(h.hostQueue, hostLossSec === undefined ? RELEASE_TIMEOUT_SEC : 0)
        .releaseSandbox({ episodeId: input.episodeId, containerId: h.containerId })
        .catch(() => {
          // A lost host's containers are removed by its reaper.
        }),
    );
  }

  let turn = started.nextTurn;
  let formatErrors = started.formatErrors;
  let exitReason: EpisodeExit = 'max_turns';
  let score: EpisodeScoreSummary;
  try {
    host = await acquireSandbox(started.nextTurn, false);
    // One activity per segment of turns on the sandbox host instead of two per turn.
    const segments = patched(TURN_SEGMENTS_PATCH);
    while (segments && turn < input.limits.maxTurns) {
      const from = turn;
      const seg = await onCurrentHost(0, turn, (_h, containerId) =>
        segmentOn(host!.hostQueue).runTurns({ episodeId: input.episodeId, fromTurn: from, containerId, maxTurns: SEGMENT_TURNS }),
      );
      if (seg.rebuiltContainerId) host = { ...host!, containerId: seg.rebuiltContainerId };
      formatErrors += seg.formatErrors;
      turn = seg.nextTurn;
      if (seg.exit) {
        exitReason = seg.exit;
        break;
      }
    }
    while (!segments && turn < input.limits.maxTurns) {
      const step = await shared.policyTurn({ episodeId: input.episodeId, turn });
      if (step.kind === 'context_overflow') {
        exitReason = 'context_overflow';
        break;
      }
      if (step.formatError) formatErrors += 1;
      const obs = await onCurrentHost(input.timeouts.toolExecSec, turn, (h, containerId) =>
        h.execTool({ episodeId: input.episodeId, turn, containerId }),
      );
      if (obs.rebuiltContainerId) host = { ...host!, containerId: obs.rebuiltContainerId };
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
    if (patched(REWARD_BOUNDS_PATCH)) {
      score = await scoreBounded(input, turn, exitReason, shared);
    } else {
      score = await shared.scoreEpisode({ episodeId: input.episodeId, turns: turn, exitReason });
    }
  } catch (err) {
    if (!(err instanceof SandboxLost)) throw err;
    // Unscored and out of training: the episode row says sandbox_lost, the result says so too.
    const lost = await shared.loseEpisode({ episodeId: input.episodeId, rebuilds: rebuilds - 1 });
    return {
      episodeId: input.episodeId,
      taskId: input.taskId,
      reward: 0,
      lengthPenalty: 0,
      rewardFinal: 0,
      turns: turn,
      formatErrors,
      exitReason: 'sandbox_lost',
      infraFailures: lost.infraFailures,
      rewardReason: ErrorCodes.SANDBOX_LOST,
    };
  } finally {
    // Also when the episode fails or is cancelled: its sandbox lease must not wait for the TTL.
    if (host) await releaseOn(host);
  }
  if (score.unscored !== undefined) {
    // Unscored and out of training: the row says infra_failure with the code, the result too.
    return {
      episodeId: input.episodeId,
      taskId: input.taskId,
      reward: 0,
      lengthPenalty: 0,
      rewardFinal: 0,
      turns: turn,
      formatErrors,
      exitReason: 'infra_failure',
      infraFailures: score.infraFailures,
      rewardReason: score.unscored,
    };
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

/**
 * Scoring under the two bounds of core/rewardAttempts.ts: each attempt is one activity attempt;
 * a harness crash is counted (on the row by the activity, which ends the episode at the bound),
 * an infra failure is counted on the row and retried with backoff until timeouts.rewardInfraSec
 * have passed since the first, then the episode ends unscored with SWERL_REWARD_INFRA_EXHAUSTED.
 */
async function scoreBounded(
  input: EpisodeInput,
  turns: number,
  exitReason: EpisodeExit,
  shared: Pick<EpisodeActivities, 'recordInfraFailure' | 'abandonReward'>,
): Promise<EpisodeScoreSummary> {
  const scoring = proxyActivities<Pick<EpisodeActivities, 'scoreEpisode'>>({
    taskQueue: input.rolloutQueue ?? TaskQueues.rollout,
    startToCloseTimeout: `${input.timeouts.policyTurnSec + input.timeouts.rewardSec} seconds`,
    heartbeatTimeout: `${input.timeouts.heartbeatSec * 3} seconds`,
    // One attempt per call: this loop retries, so it can tell a crash from infra and bound each.
    retry: { maximumAttempts: 1 },
  });
  const bounds = { maxCrashes: REWARD_MAX_ATTEMPTS, infraSec: input.timeouts.rewardInfraSec ?? DEFAULT_REWARD_INFRA_SEC };
  let state = NO_REWARD_FAILURES;
  for (;;) {
    try {
      return await scoring.scoreEpisode({ episodeId: input.episodeId, turns, exitReason, bounded: true });
    } catch (err) {
      const decision = afterRewardFailure(state, rewardFailureKind(err), new Date().getTime(), bounds); // workflow time: deterministic under replay
      if (decision.action === 'rethrow') throw err;
      state = decision.state;
      if (rewardFailureKind(err) === 'infra') {
        await shared.recordInfraFailure({ episodeId: input.episodeId, code: errorCodeOf(err) ?? 'retried:scoreEpisode' });
      }
      if (decision.action === 'give_up') return shared.abandonReward({ episodeId: input.episodeId, code: decision.code });
      await sleep(decision.delayMs);
    }
  }
}

function isHostLoss(err: unknown): boolean {
  if (!(err instanceof ActivityFailure)) return false;
  const cause = err.cause;
  if (cause instanceof TimeoutFailure) return true;
  return cause instanceof ApplicationFailure && cause.type === ErrorCodes.SANDBOX_GONE;
}
