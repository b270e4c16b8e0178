/**
 * What every training-loop workflow needs besides its own position: the run, its config, and
 * where the services are (policy endpoint, rollout and trainer task queues). Also the one place
 * that fans episodes out as child workflows and turns a failed child into the iteration's coded
 * failure.
 */
import { ApplicationFailure, executeChild, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { PostgresBatchSource, StepKey, StepOutput, TrainerActivities, WireDecoding } from '../activities/trainer/contract';
import type { TrainingActivities } from '../activities/training';
import type { Decoding, RunConfig, StageConfig } from '../core/config';
import { ErrorCodes, errorCodeOf } from '../core/errors';
import { toRetryPolicy } from '../core/retry';
import { mapWithWindow } from './boundedWindow';
import type { episode, EpisodeResult } from './episode';
import { buildEpisodeInput, episodeWorkflowId } from './episodeInput';
import type { LogprobMismatch } from './iterationReport';

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
    // The trainer heartbeats at least every 10 s: a killed trainer is noticed in a minute, not after
    // trainStepSec (hours).
    heartbeatTimeout: `${Math.max(3 * ctx.config.timeouts.heartbeatSec, 60)} seconds`,
    retry: toRetryPolicy(ctx.config.retry, [...FINAL_CODES, 'SWERL_TRAINER_BAD_BATCH', 'SWERL_CHECKPOINT_INVALID']),
  });
}

/** Marks histories whose batches name a database instead of carrying a DSN. */
export const BATCH_REF_PATCH = 'swerl-batch-ref-no-dsn';

/**
 * Where the trainer reads the batches: the database's name only, resolved on the trainer's own
 * server URL, so the password never lands in this history. Histories recorded before the patch
 * asked for the full DSN and keep doing so on replay.
 */
async function batchSource(training: ReturnType<typeof trainingActivities>): Promise<PostgresBatchSource> {
  if (patched(BATCH_REF_PATCH)) return { kind: 'postgres', database: await training.trainerBatchDatabase() };
  return { kind: 'postgres', dsn: await training.trainerBatchDsn() };
}

/**
 * Applies an iteration's update steps in order, each from the previous step's checkpoint (the
 * trainer keys each by (run, stage, iteration, step) and applies it once), registers every new
 * checkpoint with its lineage, then has the policy server load the last one, so the next rollouts
 * are on-policy. With no step the input checkpoint stays current and nothing is loaded.
 */
export async function applyUpdateSteps<S extends { step: number }>(
  ctx: LoopContext,
  at: { stage: string; iteration: number; kind: 'sft' | 'rl' },
  baseCheckpoint: string,
  steps: readonly S[],
  callStep: (step: S, stepKey: StepKey, baseCheckpoint: string, source: PostgresBatchSource) => Promise<StepOutput>,
): Promise<{ checkpointId: string; clipFractions: number[]; tokensPerSec: number[]; logprobMismatch: LogprobMismatch[] }> {
  if (steps.length === 0) return { checkpointId: baseCheckpoint, clipFractions: [], tokensPerSec: [], logprobMismatch: [] };
  const source = await batchSource(trainingActivities(ctx));
  const out = await applySteps(ctx, at, baseCheckpoint, steps, source, callStep);
  await trainerActivities(ctx).load_policy({ checkpoint_id: out.checkpointId });
  return out;
}

/**
 * The loop of applyUpdateSteps without the final load: each step from the previous step's
 * checkpoint, every new checkpoint registered with its lineage. Update segments run it on a range.
 */
export async function applySteps<S extends { step: number }>(
  ctx: LoopContext,
  at: { stage: string; iteration: number; kind: 'sft' | 'rl' },
  baseCheckpoint: string,
  steps: readonly S[],
  source: PostgresBatchSource,
  callStep: (step: S, stepKey: StepKey, baseCheckpoint: string, source: PostgresBatchSource) => Promise<StepOutput>,
): Promise<{ checkpointId: string; clipFractions: number[]; tokensPerSec: number[]; logprobMismatch: LogprobMismatch[] }> {
  const training = trainingActivities(ctx);
  let checkpointId = baseCheckpoint;
  const clipFractions: number[] = [];
  const tokensPerSec: number[] = [];
  const logprobMismatch: LogprobMismatch[] = [];
  for (const step of steps) {
    const out = await callStep(step, { run: ctx.runId, stage: at.stage, iteration: at.iteration, step: step.step }, checkpointId, source);
    await training.registerStepCheckpoint({
      checkpointId: out.checkpoint_id,
      path: out.checkpoint_path,
      parentId: checkpointId,
      runId: ctx.runId,
      kind: at.kind,
      stage: at.stage,
      iteration: at.iteration,
      metrics: { ...out.metrics, step: step.step },
    });
    clipFractions.push(out.metrics.clip_fraction);
    tokensPerSec.push(out.metrics.tokens_per_sec);
    const { logprob_mismatch_mean: mean, logprob_mismatch_max: max } = out.metrics;
    if (typeof mean === 'number' && typeof max === 'number') logprobMismatch.push({ mean, max });
    checkpointId = out.checkpoint_id;
  }
  return { checkpointId, clipFractions, tokensPerSec, logprobMismatch };
}

/** Marks histories whose episode seeds are derived per task (policy.seedScheme: per-task). */
export const EPISODE_SEED_PATCH = 'swerl-episode-seed-per-task';

/** Marks histories whose episodes may be started in a bounded window (rollout.maxConcurrentEpisodes). */
export const EPISODE_WINDOW_PATCH = 'swerl-episode-window';

/**
 * Runs one episode child per slot and returns their results in slot order: all at once, or with
 * `rollout.maxConcurrentEpisodes` set, at most that many in flight (the next starts when one
 * ends), so a large P x G fan-out does not queue hundreds of lease waiters on the rollout hosts.
 * A child that failed (only non-retryable causes reach here: infra failures are retried inside
 * the episode) fails the caller with that child's code, e.g. SWERL_DECODING_MISMATCH.
 */
export async function runEpisodes(
  ctx: LoopContext,
  stage: StageConfig,
  iteration: number,
  slots: EpisodeSlot[],
  policyVersion: string,
): Promise<EpisodeResult[]> {
  // Seeds parity-routed scripted policies rely on (the toy preset) stay on the old scheme.
  const seedPerTask = ctx.config.policy.seedScheme === 'per-task' && patched(EPISODE_SEED_PATCH);
  const cap = ctx.config.rollout?.maxConcurrentEpisodes;
  // The patch is asked only when the cap bites, which no history recorded before it can reach
  // (the field did not exist).
  const windowed = (): boolean => cap !== undefined && cap < slots.length && patched(EPISODE_WINDOW_PATCH);
  return runEpisodeChildren(ctx, stage, iteration, slots, policyVersion, { seedPerTask, windowed });
}

/**
 * The children of runEpisodes (and of a leaf shard): one episode workflow per slot, all at once
 * or, when `windowed()` says so, at most rollout.maxConcurrentEpisodes in flight.
 */
export async function runEpisodeChildren(
  ctx: LoopContext,
  stage: StageConfig,
  iteration: number,
  slots: EpisodeSlot[],
  policyVersion: string,
  opts: { seedPerTask: boolean; windowed: () => boolean },
): Promise<EpisodeResult[]> {
  const taskQueue = workflowInfo().taskQueue;
  const startEpisode = (slot: EpisodeSlot): Promise<EpisodeResult> => {
    const input = {
      ...buildEpisodeInput(ctx.config, stage, { runId: ctx.runId, iteration, ...slot }, { url: ctx.policyUrl, policyVersion }, { seedPerTask: opts.seedPerTask }),
      rolloutQueue: ctx.rolloutQueue,
    };
    return executeChild<typeof episode>('episode', { workflowId: episodeWorkflowId(input.episodeId), taskQueue, args: [input] });
  };
  const cap = ctx.config.rollout?.maxConcurrentEpisodes;
  try {
    // Fail fast: a final failure of one child decides the iteration; the others are terminated
    // with it (parent-close policy TERMINATE) instead of holding sandboxes for nothing.
    if (cap !== undefined && opts.windowed()) return await mapWithWindow(slots, cap, startEpisode);
    return await Promise.all(slots.map(startEpisode));
  } catch (err) {
    throw codedChildFailure(err, `an episode of ${ctx.runId}/${stage.name}/${iteration}`);
  }
}

/** A failed child (only non-retryable causes reach a parent) fails the parent with the child's code. */
export function codedChildFailure(err: unknown, what: string): ApplicationFailure {
  const code = errorCodeOf(err) ?? ErrorCodes.RUN_STATE_INVALID;
  const detail = err instanceof Error ? (err.cause?.toString() ?? err.message) : String(err);
  return ApplicationFailure.create({ type: code, message: `${code}: ${what} failed: ${detail}`, nonRetryable: true });
}

/** Config decoding (camelCase) → the trainer's wire form; maxTokensPerTurn is not a sampler parameter. */
export function toWireDecoding(d: Decoding): WireDecoding {
  return { temperature: d.temperature, top_p: d.topP, top_k: d.topK, min_p: d.minP, repetition_penalty: d.repetitionPenalty };
}
