/**
 * rftStage: rejection fine-tuning (PAPER.md "RFT"): N rollouts per task with the base policy,
 * keep the successful trajectories, SFT on them with format-error assistant turns masked.
 *
 * Guarantees: as rlIteration — deterministic episode ids and steps, each SFT step keyed
 * (run, stage, 0, step) at the trainer and applied once, each episode counted once in task_stats,
 * only ids in history. With no successful trajectory there is nothing to learn from: the stage
 * ends on its base checkpoint rather than failing.
 */
import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { RftStageConfig } from '../core/config';
import { deriveSeed } from '../core/rl';
import { runSharded, SHARDED_FANOUT_PATCH } from './episodeShard';
import { iterationReport } from './iterationReport';
import { applyStoredUpdateSteps } from './updateSegment';
import type { RlIterationResult } from './rlIteration';
import { applyUpdateSteps, runEpisodes, toWireDecoding, trainerActivities, trainingActivities, type LoopContext } from './loopContext';

export interface RftStageInput {
  ctx: LoopContext;
  stageIndex: number;
  policyVersion: string;
}

function rftStageOf(input: RftStageInput): RftStageConfig {
  const stage = input.ctx.config.stages[input.stageIndex] as RftStageConfig;
  if (stage?.kind !== 'rft') throw ApplicationFailure.nonRetryable(`stage ${input.stageIndex} of run ${input.ctx.runId} is not an rft stage`, 'SWERL_RUN_STATE_INVALID');
  return stage;
}

function sftHyper(stage: RftStageConfig) {
  return { lr: stage.lr, weight_decay: stage.weightDecay, grad_clip: 1.0, micro_batch_tokens: stage.contextTokens, mask_format_errors: stage.maskFormatErrors };
}

export async function rftStage(input: RftStageInput): Promise<RlIterationResult & { snapshotId: string }> {
  if (patched(SHARDED_FANOUT_PATCH)) return rftStageSharded(input);
  const { ctx } = input;
  const stage = rftStageOf(input);
  const startedMs = new Date().getTime(); // workflow time: deterministic under replay
  const training = trainingActivities(ctx);
  const trainer = trainerActivities(ctx);
  const iteration = 0;

  const pool = await training.prepareCurriculum({ runId: ctx.runId, stage: stage.name, suite: ctx.config.tasks.suite, split: 'train' });
  await training.recordIterationStarted({ runId: ctx.runId, stage: stage.name, iteration, policyVersion: input.policyVersion, snapshotId: pool.snapshotId });
  const taskIds = await training.sampleIterationProblems({ snapshotId: pool.snapshotId, count: pool.taskCount, seed: deriveSeed(ctx.config.seed, stage.name), iteration });
  const slots = taskIds.flatMap((taskId) => Array.from({ length: stage.rolloutsPerTask }, (_, sampleIdx) => ({ taskId, sampleIdx })));
  const results = await runEpisodes(ctx, stage, iteration, slots, input.policyVersion);
  const episodeIds = results.map((r) => r.episodeId);
  await training.recordEpisodeOutcomes({ stage: stage.name, episodeIds });

  await training.recordIterationPhase({ runId: ctx.runId, stage: stage.name, iteration, status: 'training' });
  const plan = await training.buildSftBatch({ episodeIds, batchSize: stage.batchSize, epochs: stage.epochs, seed: deriveSeed(ctx.config.seed, stage.name, 'batches') });
  const { checkpointId, clipFractions, tokensPerSec } = await applyUpdateSteps(
    ctx,
    { stage: stage.name, iteration, kind: 'sft' },
    input.policyVersion,
    plan.steps,
    (step, stepKey, base, source) =>
      trainer.sft_step({
        step_key: stepKey,
        base_checkpoint: base,
        batch: { ...source, episode_ids: step.episodeIds },
        hyper: sftHyper(stage),
        decoding_expected: toWireDecoding(ctx.config.policy.decoding),
      }),
  );
  const report = iterationReport({
    stage: stage.name,
    iteration,
    policyVersion: input.policyVersion,
    metrics: plan.metrics,
    zeroAdvantageFraction: 0,
    update: { checkpointId, clipFractions, tokensPerSec },
    updateSteps: plan.steps.length,
    startedMs,
    endedMs: new Date().getTime(),
  });
  await training.recordIterationResult({ runId: ctx.runId, stage: stage.name, iteration, outputCheckpointId: checkpointId, metrics: { ...report, kept: plan.kept } });
  return { checkpointId, report, snapshotId: pool.snapshotId };
}

/** The stage on the sharded fan-out (from swerl-sharded-fanout on): as rlIterationSharded. */
async function rftStageSharded(input: RftStageInput): Promise<RlIterationResult & { snapshotId: string }> {
  const { ctx } = input;
  const stage = rftStageOf(input);
  const startedMs = new Date().getTime(); // workflow time: deterministic under replay
  const training = trainingActivities(ctx);
  const key = { runId: ctx.runId, stage: stage.name, iteration: 0 };

  const pool = await training.prepareCurriculum({ runId: ctx.runId, stage: stage.name, suite: ctx.config.tasks.suite, split: 'train' });
  await training.recordIterationStarted({ ...key, policyVersion: input.policyVersion, snapshotId: pool.snapshotId });
  const { slots } = await training.planSlots({
    ...key,
    source: { kind: 'snapshot', snapshotId: pool.snapshotId, count: pool.taskCount, seed: deriveSeed(ctx.config.seed, stage.name), perTask: stage.rolloutsPerTask },
  });
  await runSharded(ctx, stage, key.iteration, slots, input.policyVersion, { countTaskStats: true });

  await training.recordIterationPhase({ ...key, status: 'training' });
  const plan = await training.buildSftBatchByKey({ ...key, batchSize: stage.batchSize, epochs: stage.epochs, seed: deriveSeed(ctx.config.seed, stage.name, 'batches') });
  const update = await applyStoredUpdateSteps(ctx, { stage: stage.name, iteration: key.iteration, kind: 'sft' }, input.policyVersion, plan.steps, {
    hyper: sftHyper(stage),
    decodingExpected: toWireDecoding(ctx.config.policy.decoding),
  });
  const report = iterationReport({
    stage: stage.name,
    iteration: key.iteration,
    policyVersion: input.policyVersion,
    metrics: plan.metrics,
    zeroAdvantageFraction: 0,
    update,
    updateSteps: plan.steps,
    startedMs,
    endedMs: new Date().getTime(),
  });
  await training.recordIterationResult({ ...key, outputCheckpointId: update.checkpointId, metrics: { ...report, kept: plan.kept } });
  return { checkpointId: update.checkpointId, report, snapshotId: pool.snapshotId };
}
