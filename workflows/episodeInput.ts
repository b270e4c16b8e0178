/**
 * Builds an episode's input from the run config: one place that decides which knobs an episode
 * sees, used by the iteration workflows and by `swerl episode run`.
 */
import type { RunConfig, StageConfig } from '../core/config';
import type { EpisodeInput } from './episode';

export function episodeId(slot: { runId: string; stage: string; iteration: number; taskId: string; sampleIdx: number }): string {
  return `${slot.runId}.${slot.stage}.${slot.iteration}.${slot.taskId}.${slot.sampleIdx}`;
}

export function episodeWorkflowId(id: string): string {
  return `swerl-episode-${id}`;
}

export function buildEpisodeInput(
  config: RunConfig,
  stage: StageConfig,
  slot: { runId: string; iteration: number; taskId: string; sampleIdx: number },
  policy: { url: string; policyVersion: string },
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
      model: config.policy.model,
      decoding: config.policy.decoding,
      policyVersion: policy.policyVersion,
      seed: config.seed * 1_000_003 + slot.iteration * 1009 + slot.sampleIdx,
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
      pidsLimit: config.sandbox.pidsLimit,
      outputLimitBytes: config.sandbox.outputLimitBytes,
      commandTimeoutSec: config.sandbox.commandTimeoutSec,
      user: config.sandbox.user,
      leaseTtlSec: config.sandbox.leaseTtlSec,
    },
    timeouts: {
      policyTurnSec: config.timeouts.policyTurnSec,
      toolExecSec: config.timeouts.toolExecSec,
      rewardSec: config.timeouts.rewardSec,
      heartbeatSec: config.timeouts.heartbeatSec,
    },
    retry: config.retry,
  };
}
