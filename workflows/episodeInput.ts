/**
 * Builds an episode's input from the run config: one place that decides which knobs an episode
 * sees, used by the iteration workflows and by `swerl episode run`.
 */
import type { RunConfig, StageConfig } from '../core/config';
import { DEFAULT_HOST_LOSS_SEC, DEFAULT_MAX_REBUILDS, DEFAULT_REWARD_INFRA_SEC } from '../core/episodeLimits';
import { deriveSeed } from '../core/rl/sampling';
import type { EpisodeInput } from './episode';

export function episodeId(slot: { runId: string; stage: string; iteration: number; taskId: string; sampleIdx: number }): string {
  return `${slot.runId}.${slot.stage}.${slot.iteration}.${slot.taskId}.${slot.sampleIdx}`;
}

export function episodeWorkflowId(id: string): string {
  return `swerl-episode-${id}`;
}

/**
 * The sampler seed of an episode (turn t samples with seed + t). `perTask`: derived from the stage,
 * iteration, task and sample, so no two episodes of a run share a random stream. The original
 * scheme (seed·1000003 + iteration·1009 + sample) gave every task of an iteration the same stream
 * per sample index: the learning demo measured it — all 20 eval tasks of one sample index drew the
 * same choices, so an eval of 20 tasks × 4 runs had the variety of 4 draws. Kept for recorded
 * histories and the toy preset's parity-routed scripted policy.
 */
export function episodeSeed(seed: number, stage: string, slot: { iteration: number; taskId: string; sampleIdx: number }, perTask: boolean): number {
  if (!perTask) return seed * 1_000_003 + slot.iteration * 1009 + slot.sampleIdx;
  return deriveSeed(seed, 'episode', stage, slot.iteration, slot.taskId, slot.sampleIdx) % 1_000_000_000;
}

export function buildEpisodeInput(
  config: RunConfig,
  stage: StageConfig,
  slot: { runId: string; iteration: number; taskId: string; sampleIdx: number },
  policy: { url: string; policyVersion: string },
  opts: { seedPerTask?: boolean } = {},
): EpisodeInput {
  const lengthPenalty = stage.kind === 'rl' ? stage.lengthPenalty : { enabled: false, freeTurns: Math.min(10, stage.maxTurns - 1) };
  return {
    episodeId: episodeId({ ...slot, stage: stage.name }),
    runId: slot.runId,
    stage: stage.name,
    iteration: slot.iteration,
    taskId: slot.taskId,
    sampleIdx: slot.sampleIdx,
    policy: {
      url: policy.url,
      // Pinned: the checkpoint id, which a server serving another version refuses (never samples).
      model: config.policy.pinVersion ? policy.policyVersion : config.policy.model,
      decoding: config.policy.decoding,
      policyVersion: policy.policyVersion,
      seed: episodeSeed(config.seed, stage.name, slot, opts.seedPerTask ?? false),
    },
    limits: {
      maxTurns: stage.maxTurns,
      contextTokens: stage.contextTokens,
      freeTurns: lengthPenalty.freeTurns,
      lengthPenalty: lengthPenalty.enabled,
      ...(config.policy.prompt !== 'swe-agent' ? { prompt: config.policy.prompt } : {}),
    },
    sandbox: {
      cpus: config.sandbox.cpus,
      memoryMiB: config.sandbox.memoryMiB,
      // Only when set: inputs recorded before the disk quota replay unchanged.
      ...(config.sandbox.diskMiB !== undefined ? { diskMiB: config.sandbox.diskMiB } : {}),
      pidsLimit: config.sandbox.pidsLimit,
      outputLimitBytes: config.sandbox.outputLimitBytes,
      commandTimeoutSec: config.sandbox.commandTimeoutSec,
      user: config.sandbox.user,
      leaseTtlSec: config.sandbox.leaseTtlSec,
      ...(config.sandbox.maxRebuilds !== DEFAULT_MAX_REBUILDS ? { maxRebuilds: config.sandbox.maxRebuilds } : {}),
    },
    timeouts: {
      policyTurnSec: config.timeouts.policyTurnSec,
      toolExecSec: config.timeouts.toolExecSec,
      rewardSec: config.timeouts.rewardSec,
      heartbeatSec: config.timeouts.heartbeatSec,
      ...(config.timeouts.hostLossSec !== DEFAULT_HOST_LOSS_SEC ? { hostLossSec: config.timeouts.hostLossSec } : {}),
      ...(config.timeouts.rewardInfraSec !== DEFAULT_REWARD_INFRA_SEC ? { rewardInfraSec: config.timeouts.rewardInfraSec } : {}),
    },
    retry: config.retry,
  };
}
