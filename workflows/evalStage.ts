/**
 * evalStage: k independent runs per task of the eval split with one checkpoint (PAPER.md
 * "Evaluation"): Pass@1 mean ± SEM over the runs and the unbiased Pass@k, stored per checkpoint
 * under a workflow-derived eval id (a retry stores it once). Used for the final eval stage and for
 * the promote gate at a stage boundary. Eval episodes never enter task_stats: the curriculum
 * learns from training stages only.
 */
import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { EvalStageConfig } from '../core/config';
import type { EvalOutcome } from './definitions';
import { runSharded, SHARDED_FANOUT_PATCH } from './episodeShard';
import { runEpisodes, trainerActivities, trainingActivities, type LoopContext } from './loopContext';

export interface EvalStageInput {
  ctx: LoopContext;
  /** The eval stage config whose limits and `runs` apply. */
  evalStageIndex: number;
  /** Label of these episodes and of the eval row (the eval stage, or `<stage>-gate` at a boundary). */
  label: string;
  checkpointId: string;
  /** Skip load_policy when the endpoint already serves this checkpoint. */
  loadPolicy: boolean;
  /** The task split to run on (a gate's promotion.gateSplit); absent = tasks.evalSplit. */
  split?: string;
}

export function evalIdFor(runId: string, label: string, checkpointId: string): string {
  return `${runId}/${label}/${checkpointId}`;
}

export async function evalStage(input: EvalStageInput): Promise<EvalOutcome> {
  const { ctx } = input;
  const split = input.split ?? ctx.config.tasks.evalSplit;
  const base = ctx.config.stages[input.evalStageIndex] as EvalStageConfig;
  if (base?.kind !== 'eval') throw ApplicationFailure.nonRetryable(`stage ${input.evalStageIndex} of run ${ctx.runId} is not an eval stage`, 'SWERL_RUN_STATE_INVALID');
  const stage: EvalStageConfig = { ...base, name: input.label };
  const training = trainingActivities(ctx);
  if (input.loadPolicy) await trainerActivities(ctx).load_policy({ checkpoint_id: input.checkpointId });
  if (patched(SHARDED_FANOUT_PATCH)) return evalSharded(input, stage, split);
  const taskIds = await training.listSplitTasks({ suite: ctx.config.tasks.suite, split });
  if (taskIds.length === 0) {
    throw ApplicationFailure.nonRetryable(`eval split ${split} of ${ctx.config.tasks.suite} has no tasks`, 'SWERL_RUN_STATE_INVALID');
  }
  const slots = taskIds.flatMap((taskId) => Array.from({ length: stage.runs }, (_, run) => ({ taskId, sampleIdx: run })));
  const results = await runEpisodes(ctx, stage, 0, slots, input.checkpointId);
  return training.recordEvalReport({
    evalId: evalIdFor(ctx.runId, input.label, input.checkpointId),
    runId: ctx.runId,
    stage: input.label,
    iteration: null,
    checkpointId: input.checkpointId,
    split,
    k: stage.runs,
    results: results.map((r, i) => ({ taskId: r.taskId, run: slots[i]!.sampleIdx, solved: r.reward >= 1 })),
  });
}

/** The eval on the sharded fan-out (from swerl-sharded-fanout on): slots planned, run and reported by key. */
async function evalSharded(input: EvalStageInput, stage: EvalStageConfig, split: string): Promise<EvalOutcome> {
  const { ctx } = input;
  const training = trainingActivities(ctx);
  const key = { runId: ctx.runId, stage: input.label, iteration: 0 };
  const { slots } = await training.planSlots({ ...key, source: { kind: 'split', suite: ctx.config.tasks.suite, split, perTask: stage.runs } });
  if (slots === 0) {
    throw ApplicationFailure.nonRetryable(`eval split ${split} of ${ctx.config.tasks.suite} has no tasks`, 'SWERL_RUN_STATE_INVALID');
  }
  await runSharded(ctx, stage, key.iteration, slots, input.checkpointId, { countTaskStats: false });
  return training.recordEvalReportByKey({
    ...key,
    evalId: evalIdFor(ctx.runId, input.label, input.checkpointId),
    checkpointId: input.checkpointId,
    split,
    k: stage.runs,
  });
}
