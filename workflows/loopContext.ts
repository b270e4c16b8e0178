/**
 * What every training-loop workflow needs besides its own position: the run, its config, and
 * where the services are (policy endpoint, rollout and trainer task queues). Also the one place
 * that fans episodes out as child workflows and turns a failed child into the iteration's coded
 * failure.
 */
import { ApplicationFailure, executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { TrainerActivities, WireDecoding } from '../activities/trainer/contract';
import type { TrainingActivities } from '../activities/training';
import type { Decoding, RunConfig, StageConfig } from '../core/config';
import { ErrorCodes, errorCodeOf } from '../core/errors';
import { toRetryPolicy } from '../core/retry';
import type { episode, EpisodeResult } from './episode';
import { buildEpisodeInput, episodeWorkflowId } from './episodeInput';

export interface LoopContext {
  runId: string;
  config: RunConfig;
  policyUrl: string;
  /** Shared rollout queue; undefined = TaskQueues.rollout. */
  rolloutQueue?: string;
  trainerQueue: string;
}

export interface EpisodeSlot {
  taskId: string;
  sampleIdx: number;
}

const FINAL_CODES = [
  ErrorCodes.CONFIG_INVALID,
  ErrorCodes.RUN_STATE_INVALID,
  ErrorCodes.RL_INPUT_INVALID,
  ErrorCodes.CHECKPOINT_NOT_FOUND,
  ErrorCodes.TRAINER_STEP_CONFLICT,
  ErrorCodes.EPISODE_NOT_FOUND,
  ErrorCodes.EPISODE_STATE_INVALID,
  ErrorCodes.CURRICULUM_SNAPSHOT_NOT_FOUND,
  ErrorCodes.DECODING_MISMATCH,
];

export function trainingActivities(ctx: Pick<LoopContext, 'config'>) {
  return proxyActivities<TrainingActivities>({ startToCloseTimeout: '2 minutes', retry: toRetryPolicy(ctx.config.retry, FINAL_CODES) });
}

export function trainerActivities(ctx: LoopContext) {
  return proxyActivities<TrainerActivities>({
    taskQueue: ctx.trainerQueue,
    startToCloseTimeout: `${ctx.config.timeouts.trainStepSec} seconds`,
    retry: toRetryPolicy(ctx.config.retry, [...FINAL_CODES, 'SWERL_TRAINER_BAD_BATCH', 'SWERL_CHECKPOINT_INVALID']),
  });
}

/**
 * Runs one episode child per slot, all at once, and returns their results in slot order. A child
 * that failed (only non-retryable causes reach here: infra failures are retried inside the
 * episode) fails the caller with that child's code, e.g. SWERL_DECODING_MISMATCH.
 */
export async function runEpisodes(
  ctx: LoopContext,
  stage: StageConfig,
  iteration: number,
  slots: EpisodeSlot[],
  policyVersion: string,
): Promise<EpisodeResult[]> {
  const taskQueue = workflowInfo().taskQueue;
  try {
    // Fail fast: a final failure of one child decides the iteration; the others are terminated
    // with it (parent-close policy TERMINATE) instead of holding sandboxes for nothing.
    return await Promise.all(
      slots.map((slot) => {
        const input = {
          ...buildEpisodeInput(ctx.config, stage, { runId: ctx.runId, iteration, ...slot }, { url: ctx.policyUrl, policyVersion }),
          rolloutQueue: ctx.rolloutQueue,
        };
        return executeChild<typeof episode>('episode', { workflowId: episodeWorkflowId(input.episodeId), taskQueue, args: [input] });
      }),
    );
  } catch (err) {
    const code = errorCodeOf(err) ?? ErrorCodes.RUN_STATE_INVALID;
    const detail = err instanceof Error ? (err.cause?.toString() ?? err.message) : String(err);
    throw ApplicationFailure.create({
      type: code,
      message: `${code}: an episode of ${ctx.runId}/${stage.name}/${iteration} failed: ${detail}`,
      nonRetryable: true,
    });
  }
}

/** Mean of a per-step trainer metric over an iteration's steps; null when nothing was trained. */
export function meanOf(values: number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, v) => a + v, 0) / values.length;
}

/** Config decoding (camelCase) → the trainer's wire form; maxTokensPerTurn is not a sampler parameter. */
export function toWireDecoding(d: Decoding): WireDecoding {
  return { temperature: d.temperature, top_p: d.topP, top_k: d.topK, min_p: d.minP, repetition_penalty: d.repetitionPenalty };
}
