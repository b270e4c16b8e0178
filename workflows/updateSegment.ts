/**
 * updateSegment: steps [from, to) of an iteration's stored update plan (update_steps), each loaded
 * by key, sent to the trainer keyed (run, stage, iteration, step) and registered, from the
 * previous step's checkpoint. An iteration runs its segments one after another (at most
 * DEFAULT_UPDATE_SEGMENT_STEPS steps each), so neither its history nor a segment's grows with the
 * number of steps beyond the bound (core/fanout.ts), and the trainer applies each step once.
 */
import { executeChild, workflowInfo } from '@temporalio/workflow';
import type { Hyper, PostgresBatchSource, WireDecoding } from '../activities/trainer/contract';
import { DEFAULT_UPDATE_SEGMENT_STEPS, segmentRanges } from '../core/fanout';
import type { LogprobMismatch } from './iterationReport';
import { applySteps, codedChildFailure, trainerActivities, trainingActivities, type LoopContext } from './loopContext';

export interface UpdateAt {
  stage: string;
  iteration: number;
  kind: 'sft' | 'rl';
}

export interface UpdateSegmentInput {
  ctx: LoopContext;
  at: UpdateAt;
  baseCheckpoint: string;
  from: number;
  to: number;
  source: PostgresBatchSource;
  hyper: Hyper;
  decodingExpected: WireDecoding;
}

export interface UpdateOutcome {
  checkpointId: string;
  clipFractions: number[];
  tokensPerSec: number[];
  /** Per RL step that measured it (absent in results recorded before it existed). */
  logprobMismatch?: LogprobMismatch[];
}

export async function updateSegment(input: UpdateSegmentInput): Promise<UpdateOutcome> {
  const { ctx, at } = input;
  const training = trainingActivities(ctx);
  const trainer = trainerActivities(ctx);
  const steps = Array.from({ length: input.to - input.from }, (_, i) => ({ step: input.from + i }));
  return applySteps(ctx, at, input.baseCheckpoint, steps, input.source, async (step, stepKey, base, source) => {
    const stored = await training.loadUpdateStep({ runId: ctx.runId, stage: at.stage, iteration: at.iteration, step: step.step });
    const call = {
      step_key: stepKey,
      base_checkpoint: base,
      batch: at.kind === 'rl' ? { ...source, episode_ids: stored.episodeIds, advantages: stored.advantages } : { ...source, episode_ids: stored.episodeIds },
      hyper: input.hyper,
      decoding_expected: input.decodingExpected,
    } as Parameters<typeof trainer.rl_step>[0];
    return at.kind === 'rl' ? trainer.rl_step(call) : trainer.sft_step(call);
  });
}

/**
 * Applies the `steps` stored steps of an iteration in segments, then has the policy server load
 * the last checkpoint (on-policy). With no step the base checkpoint stays current and nothing loads.
 */
export async function applyStoredUpdateSteps(
  ctx: LoopContext,
  at: UpdateAt,
  baseCheckpoint: string,
  steps: number,
  call: { hyper: Hyper; decodingExpected: WireDecoding },
): Promise<UpdateOutcome> {
  const out: UpdateOutcome = { checkpointId: baseCheckpoint, clipFractions: [], tokensPerSec: [], logprobMismatch: [] };
  if (steps === 0) return out;
  const source: PostgresBatchSource = { kind: 'postgres', database: await trainingActivities(ctx).trainerBatchDatabase() };
  for (const seg of segmentRanges(steps, DEFAULT_UPDATE_SEGMENT_STEPS)) {
    let r: UpdateOutcome;
    try {
      r = await executeChild<typeof updateSegment>('updateSegment', {
        workflowId: `swerl-update-${ctx.runId}-${at.stage}-${at.iteration}-${seg.from}-${seg.to}`,
        taskQueue: workflowInfo().taskQueue,
        args: [{ ctx, at, baseCheckpoint: out.checkpointId, from: seg.from, to: seg.to, source, ...call }],
      });
    } catch (err) {
      throw codedChildFailure(err, `update steps [${seg.from}, ${seg.to}) of ${ctx.runId}/${at.stage}/${at.iteration}`);
    }
    out.checkpointId = r.checkpointId;
    out.clipFractions.push(...r.clipFractions);
    out.tokensPerSec.push(...r.tokensPerSec);
    out.logprobMismatch!.push(...(r.logprobMismatch ?? []));
  }
  await trainerActivities(ctx).load_policy({ checkpoint_id: out.checkpointId });
  return out;
}
