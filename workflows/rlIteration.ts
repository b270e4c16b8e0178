/**
 * rlIteration: one synchronous, on-policy DAPO iteration (PAPER.md "RL (modified DAPO)").
 *
 * Guarantees
 * - Deterministic plan: the problems are drawn from the stage's curriculum snapshot by
 *   (seed, iteration), episode ids are derived from their slot, and the optimizer steps are
 *   formed from the sorted kept episode ids; a replay or a retry plans the same steps.
 * - Exactly-once update: each step goes to the trainer with the key (run, stage, iteration,
 *   step); the trainer returns the recorded result for a key it already applied. Each episode is
 *   counted into task_stats once (keyed by episode id).
 * - Small history: only ids, advantages and summaries pass through; trajectories stay in Postgres.
 * - A decoding-parameter mismatch (in an episode or at the trainer) fails the iteration with
 *   SWERL_DECODING_MISMATCH, never retried: training on it corrupts the importance ratios.
 */
import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { RlStageConfig } from '../core/config';
import { deriveSeed, rlBatchShaping } from '../core/rl';
import type { IterationReport } from './definitions';
import { runSharded, SHARDED_FANOUT_PATCH } from './episodeShard';
import { iterationReport } from './iterationReport';
import { applyStoredUpdateSteps } from './updateSegment';
import { applyUpdateSteps, runEpisodes, toWireDecoding, trainerActivities, trainingActivities, type LoopContext } from './loopContext';

export interface RlIterationInput {
  ctx: LoopContext;
  stageIndex: number;
  iteration: number;
  policyVersion: string;
  snapshotId: string;
}

export interface RlIterationResult {
  checkpointId: string;
  report: IterationReport;
}

import { groupSlots } from '../core/fanout';

export { groupSlots };

function rlStageOf(input: RlIterationInput): RlStageConfig {
  const stage = input.ctx.config.stages[input.stageIndex] as RlStageConfig;
  if (stage?.kind !== 'rl') throw ApplicationFailure.nonRetryable(`stage ${input.stageIndex} of run ${input.ctx.runId} is not an rl stage`, 'SWERL_RUN_STATE_INVALID');
  return stage;
}

function rlHyper(stage: RlStageConfig) {
  return {
    lr: stage.lr,
    weight_decay: 0,
    grad_clip: stage.gradClip,
    eps_low: stage.clip.low,
    eps_high: stage.clip.high,
    micro_batch_tokens: stage.contextTokens,
    loss: 'dapo' as const,
    mask_format_errors: false,
  };
}

export async function rlIteration(input: RlIterationInput): Promise<RlIterationResult> {
  if (patched(SHARDED_FANOUT_PATCH)) return rlIterationSharded(input);
  const { ctx, iteration } = input;
  const stage = rlStageOf(input);
  const startedMs = new Date().getTime(); // workflow time: deterministic under replay
  const training = trainingActivities(ctx);
  const trainer = trainerActivities(ctx);
  const stageSeed = deriveSeed(ctx.config.seed, stage.name);

  await training.recordIterationStarted({ runId: ctx.runId, stage: stage.name, iteration, policyVersion: input.policyVersion, snapshotId: input.snapshotId });
  const problems = await training.sampleIterationProblems({ snapshotId: input.snapshotId, count: stage.problemsPerIteration, seed: stageSeed, iteration });
  const groups = groupSlots(problems, stage.groupSize);
  const results = await runEpisodes(ctx, stage, iteration, groups.flatMap((g) => g.slots), input.policyVersion);
  const episodeIds = results.map((r) => r.episodeId);
  await training.recordEpisodeOutcomes({ stage: stage.name, episodeIds });

  await training.recordIterationPhase({ runId: ctx.runId, stage: stage.name, iteration, status: 'training' });
  let cursor = 0;
  const plan = await training.buildRlBatch({
    runId: ctx.runId,
    stage: stage.name,
    iteration,
    groups: groups.map((g) => ({ taskId: g.taskId, episodeIds: g.slots.map(() => episodeIds[cursor++]!) })),
    shaping: rlBatchShaping(stage),
    seed: deriveSeed(stageSeed, 'batches', iteration),
  });

  // The next iteration's rollouts come from the new weights (on-policy): applyUpdateSteps loads them.
  const { checkpointId, clipFractions, tokensPerSec, logprobMismatch } = await applyUpdateSteps(
    ctx,
    { stage: stage.name, iteration, kind: 'rl' },
    input.policyVersion,
    plan.steps,
    (step, stepKey, base, source) =>
      trainer.rl_step({
        step_key: stepKey,
        base_checkpoint: base,
        batch: { ...source, episode_ids: step.episodeIds, advantages: step.advantages },
        hyper: rlHyper(stage),
        decoding_expected: toWireDecoding(ctx.config.policy.decoding),
      }),
  );

  const report = iterationReport({
    stage: stage.name,
    iteration,
    policyVersion: input.policyVersion,
    metrics: plan.metrics,
    zeroAdvantageFraction: plan.zeroAdvantageFraction,
    update: { checkpointId, clipFractions, tokensPerSec, logprobMismatch },
    updateSteps: plan.steps.length,
    startedMs,
    endedMs: new Date().getTime(),
  });
  await training.recordIterationResult({ runId: ctx.runId, stage: stage.name, iteration, outputCheckpointId: checkpointId, metrics: { ...report, samplesKept: plan.samplesKept, groupsTotal: plan.groupsTotal, groupsDropped: plan.groupsDropped } });
  return { checkpointId, report };
}

/**
 * The iteration on the sharded fan-out (histories from swerl-sharded-fanout on): the slots are
 * planned into Postgres, the episodes run through the shard tree, the batch plan and the update
 * steps are read by key, and the update runs in segments — no input or result of this workflow or
 * its activities grows with the number of episodes.
 */
async function rlIterationSharded(input: RlIterationInput): Promise<RlIterationResult> {
  const { ctx, iteration } = input;
  const stage = rlStageOf(input);
  const startedMs = new Date().getTime(); // workflow time: deterministic under replay
  const training = trainingActivities(ctx);
  const stageSeed = deriveSeed(ctx.config.seed, stage.name);
  const key = { runId: ctx.runId, stage: stage.name, iteration };

  await training.recordIterationStarted({ ...key, policyVersion: input.policyVersion, snapshotId: input.snapshotId });
  const { slots } = await training.planSlots({ ...key, source: { kind: 'draws', snapshotId: input.snapshotId, count: stage.problemsPerIteration, seed: stageSeed, groupSize: stage.groupSize } });
  await runSharded(ctx, stage, iteration, slots, input.policyVersion, { countTaskStats: true });

  await training.recordIterationPhase({ ...key, status: 'training' });
  const plan = await training.buildRlBatchByKey({
    ...key,
    shaping: rlBatchShaping(stage),
    seed: deriveSeed(stageSeed, 'batches', iteration),
  });
  const update = await applyStoredUpdateSteps(ctx, { stage: stage.name, iteration, kind: 'rl' }, input.policyVersion, plan.steps, {
    hyper: rlHyper(stage),
    decodingExpected: toWireDecoding(ctx.config.policy.decoding),
  });
  const report = iterationReport({
    stage: stage.name,
    iteration,
    policyVersion: input.policyVersion,
    metrics: plan.metrics,
    zeroAdvantageFraction: plan.zeroAdvantageFraction,
    update,
    updateSteps: plan.steps,
    startedMs,
    endedMs: new Date().getTime(),
  });
  await training.recordIterationResult({ ...key, outputCheckpointId: update.checkpointId, metrics: { ...report, samplesKept: plan.samplesKept, groupsTotal: plan.groupsTotal, groupsDropped: plan.groupsDropped } });
  return { checkpointId: update.checkpointId, report };
}
