/**
 * checkpointEval: `swerl eval CHECKPOINT` — a fresh evaluation of one registered checkpoint,
 * outside any training run (PAPER.md "Evaluation": k runs per task on the eval split, Pass@1
 * mean ± SEM and Pass@k, stored in `evals` per checkpoint).
 *
 * Guarantees: its workflow id and run id are derived by the caller from (checkpoint, config), so a
 * second start of the same evaluation attaches to this one instead of rolling out twice; the eval
 * itself is the training loop's evalStage child (same episode ids, same stored report, stored
 * once); the episodes belong to a `runs` row of their own (the run id), marked completed or
 * failed at the end. An unknown checkpoint is SWERL_CHECKPOINT_NOT_FOUND before anything runs.
 */
import { ApplicationFailure, executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { RunActivities } from '../activities/runs';
import type { RunConfig } from '../core/config';
import { ErrorCodes, errorCodeOf } from '../core/errors';
import { toRetryPolicy } from '../core/retry';
import { TaskQueues } from '../core/taskQueues';
import type { EvalOutcome } from './definitions';
import type { evalStage } from './evalStage';
import { trainingActivities, type LoopContext } from './loopContext';
import type { RunServices } from './trainingRun';

export interface CheckpointEvalInput {
  /** The runs row the eval's episodes and report belong to (cli/trainingCommands.ts launchEval derives it). */
  evalRunId: string;
  /** Its eval stage (runs = k) and tasks.evalSplit are the ones applied. */
  config: RunConfig;
  checkpointId: string;
  services?: RunServices;
}

export function checkpointEvalWorkflowId(evalRunId: string): string {
  return `swerl-checkpoint-eval-${evalRunId}`;
}

export async function checkpointEval(input: CheckpointEvalInput): Promise<EvalOutcome> {
  const { evalRunId: runId, config } = input;
  const bookkeeping = proxyActivities<RunActivities>({
    startToCloseTimeout: '30 seconds',
    retry: toRetryPolicy(config.retry, [ErrorCodes.CONFIG_INVALID, ErrorCodes.RUN_STATE_INVALID]),
  });
  const ctx: LoopContext = {
    runId,
    config,
    policyUrl: input.services?.policyUrl ?? config.policy.url ?? '',
    rolloutQueue: input.services?.rolloutQueue,
    trainerQueue: input.services?.trainerQueue ?? TaskQueues.trainer,
  };
  const evalStageIndex = config.stages.findIndex((s) => s.kind === 'eval');
  if (evalStageIndex < 0) throw ApplicationFailure.nonRetryable(`eval ${runId}: its config has no eval stage`, ErrorCodes.CONFIG_INVALID);
  if (!ctx.policyUrl) throw ApplicationFailure.nonRetryable(`eval ${runId} has no policy endpoint: set policy.url in the config`, ErrorCodes.CONFIG_INVALID);

  await trainingActivities(ctx).requireCheckpoint({ checkpointId: input.checkpointId });
  await bookkeeping.recordRunStarted({ runId, workflowId: workflowInfo().workflowId, name: config.name, config });
  try {
    const outcome = await executeChild<typeof evalStage>('evalStage', {
      workflowId: `swerl-eval-${runId}-${config.stages[evalStageIndex]!.name}`,
      taskQueue: workflowInfo().taskQueue,
      args: [{ ctx, evalStageIndex, label: config.stages[evalStageIndex]!.name, checkpointId: input.checkpointId, loadPolicy: true }],
    });
    await bookkeeping.recordRunFinished({ runId, status: 'completed' });
    return outcome;
  } catch (err) {
    const code = errorCodeOf(err);
    if (!code) throw err;
    await bookkeeping.recordRunFinished({ runId, status: 'failed', reason: err instanceof Error ? err.message : String(err) });
    throw ApplicationFailure.create({ type: code, message: `${code}: eval ${runId} of ${input.checkpointId} failed: ${err instanceof Error ? err.message : String(err)}`, nonRetryable: true });
  }
}
