/**
 * trainingRun: one multi-day training run, from its first stage to its last.
 *
 * Guarantees
 * - Durable: all state lives in this workflow's history (small: the config and counters) and in
 *   Postgres rows written by idempotent activities; a killed worker or Temporal server resumes here.
 * - Exactly-once bookkeeping: every activity write is keyed (run, stage, iteration), so a retried
 *   activity writes the same row once.
 * - Operator control: `pause` / `resume` / `abort` Signals take effect at the next iteration
 *   boundary; `status` Query answers at any time, including while paused.
 * - Bounded history: continue-as-new when Temporal suggests it, carrying counters and position.
 *
 * - Stage boundaries: between two RL stages (the paper's stage 1 → stage 2, where the curriculum
 *   and the context change) the run evaluates its checkpoint and waits for the `promote` Update;
 *   the validator accepts it only at the boundary, for a checkpoint of this run, with the eval
 *   gate met or `force` and a reason. Who, when, why and which checkpoint are recorded.
 *
 * Stage executors: runs started before the training loop existed (no `swerl-training-loop`
 * patch marker in their history) keep the foundation's smoke executor, which only records each
 * planned iteration; every new run executes the loop: rftStage, rlIteration and evalStage child
 * workflows (their own histories, so this one stays small), the policy version threaded through.
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  currentUpdateInfo,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { RunActivities } from '../activities/runs';
import type { RunConfig, StageConfig } from '../core/config';
import { ErrorCodes } from '../core/errors';
import { toRetryPolicy } from '../core/retry';
import { TaskQueues } from '../core/taskQueues';
import {
  abortSignal,
  pauseSignal,
  promoteUpdate,
  resumeSignal,
  statusQuery,
  type PromoteResult,
  type RunStatus,
  type StageProgress,
} from './definitions';
import { runLoop, type LoopControl } from './trainingLoop';
import { validatePromotion } from './promotion';
import { trainingActivities } from './loopContext';

export interface TrainingRunInput {
  runId: string;
  config: RunConfig;
  /** Set only by continue-as-new: where the previous run of this workflow left off. */
  carried?: RunStatus;
  /** Where the loop finds its services; defaults: config.policy.url and the shared task queues. */
  services?: RunServices;
  /**
   * Force a stage executor. 'smoke' records the plan without rolling anything out (control-surface
   * tests); unset = the training loop for new runs, the smoke executor for runs recorded before it.
   */
  executor?: 'smoke' | 'loop';
  /**
   * Continue as new after this many iterations in one workflow run, besides Temporal's own
   * suggestion: bounds the history of very long runs (and lets tests exercise the carry-over).
   */
  continueAsNewAfterIterations?: number;
}

export interface RunServices {
  policyUrl?: string;
  rolloutQueue?: string;
  trainerQueue?: string;
}

/** Marks histories recorded by the training loop; older ones replay on the smoke executor. */
export const TRAINING_LOOP_PATCH = 'swerl-training-loop';

export function plannedIterations(stage: StageConfig): number {
  return stage.kind === 'rl' ? stage.iterations : 1;
}

function initialStatus(input: TrainingRunInput, now: string): RunStatus {
  return {
    runId: input.runId,
    name: input.config.name,
    phase: 'starting',
    stageIndex: 0,
    stages: input.config.stages.map<StageProgress>((s) => ({
      name: s.name,
      kind: s.kind,
      state: 'pending',
      iterationsDone: 0,
      iterationsPlanned: plannedIterations(s),
    })),
    continuedAsNew: 0,
    counters: { episodes: 0, infraFailures: 0, updateSteps: 0 },
    startedAt: now,
    updatedAt: now,
  };
}

export async function trainingRun(input: TrainingRunInput): Promise<RunStatus> {
  const { runId, config } = input;
  const nowIso = () => new Date().toISOString(); // workflow time: deterministic under replay
  const status: RunStatus = input.carried
    ? { ...input.carried, continuedAsNew: input.carried.continuedAsNew + 1 }
    : initialStatus(input, nowIso());
  let paused = status.phase === 'paused';
  let abortRequested = status.phase === 'aborting';

  const bookkeeping = proxyActivities<RunActivities>({
    startToCloseTimeout: '30 seconds',
    retry: toRetryPolicy(config.retry, [ErrorCodes.CONFIG_INVALID, ErrorCodes.RUN_STATE_INVALID]),
  });

  const touch = (phase?: RunStatus['phase']) => {
    if (phase) status.phase = phase;
    status.updatedAt = nowIso();
  };

  setHandler(statusQuery, () => status);
  const pause = (action: { who: string; reason: string }) => {
    if (isTerminal(status.phase) || abortRequested) return;
    paused = true;
    status.pausedBy = action;
    touch('paused');
  };
  setHandler(pauseSignal, pause);
  setHandler(resumeSignal, () => {
    if (!paused || abortRequested) return;
    paused = false;
    status.pausedBy = undefined;
    touch(status.boundary ? 'at-boundary' : 'running');
  });
  setHandler(abortSignal, (action) => {
    if (isTerminal(status.phase)) return;
    abortRequested = true;
    status.abortReason = `${action.reason} (by ${action.who})`;
    touch('aborting');
  });

  let promoting = false;
  let promoted: PromoteResult | undefined;
  setHandler(
    promoteUpdate,
    async (req) => {
      promoting = true;
      const b = status.boundary!;
      const checkpointId = validatePromotion(status, req, config.model.base);
      const result: PromoteResult = {
        promotionId: currentUpdateInfo()?.id ?? `${runId}/${b.fromStage}`,
        fromStage: b.fromStage,
        toStage: b.toStage,
        checkpointId,
        forced: Boolean(req.force) && !b.gateMet,
        evalId: b.eval?.evalId,
      };
      try {
        await trainingActivities({ config }).recordPromotion({
          ...result,
          runId,
          actor: req.who,
          reason: req.reason,
        });
      } catch (err) {
        promoting = false;
        throw err;
      }
      status.promotions = [...(status.promotions ?? []), result];
      promoted = result;
      touch();
      return result;
    },
    {
      validator: (req) => {
        if (promoting) {
          throw ApplicationFailure.create({
            type: ErrorCodes.PROMOTE_REJECTED,
            message: `${ErrorCodes.PROMOTE_REJECTED}: run ${runId} is already being promoted`,
            details: [{ reason: 'already-promoting', runId }],
            nonRetryable: true,
          });
        }
        validatePromotion(status, req, config.model.base);
      },
    },
  );

  status.executor ??= input.executor ?? (patched(TRAINING_LOOP_PATCH) ? 'loop' : 'smoke');

  if (!input.carried) {
    await bookkeeping.recordRunStarted({ runId, workflowId: workflowInfo().workflowId, name: config.name, config });
    // A pause or abort that arrived while the run was being recorded wins over "running".
    if (status.phase === 'starting') touch('running');
  }

  /** Blocks while paused; returns false when the run must stop. */
  const mayProceed = async (): Promise<boolean> => {
    if (paused && !abortRequested) {
      await bookkeeping.recordRunPhase({ runId, status: 'paused' });
      await condition(() => !paused || abortRequested);
      if (!abortRequested) await bookkeeping.recordRunPhase({ runId, status: 'running' });
    }
    return !abortRequested;
  };

  if (status.executor === 'loop') {
    const control: LoopControl = {
      status,
      bookkeeping,
      touch,
      mayProceed,
      pause,
      finish,
      isAbortRequested: () => abortRequested,
      takePromotion: () => {
        const p = promoted;
        promoted = undefined;
        promoting = false;
        return p;
      },
      hasPromotion: () => promoted !== undefined,
      continueAsNewAfterIterations: input.continueAsNewAfterIterations,
      continueAsNew: async () => {
        await condition(allHandlersFinished);
        await continueAsNew<typeof trainingRun>({ ...input, carried: status });
      },
    };
    return runLoop(
      {
        runId,
        config,
        policyUrl: input.services?.policyUrl ?? config.policy.url ?? '',
        rolloutQueue: input.services?.rolloutQueue,
        trainerQueue: input.services?.trainerQueue ?? TaskQueues.trainer,
      },
      control,
    );
  }

  while (status.stageIndex < config.stages.length) {
    const stage = config.stages[status.stageIndex]!;
    const progress = status.stages[status.stageIndex]!;
    if (progress.state === 'pending') {
      progress.state = 'running';
      await bookkeeping.recordStageState({ runId, stageIndex: status.stageIndex, name: stage.name, kind: stage.kind, state: 'running' });
    }
    while (progress.iterationsDone < progress.iterationsPlanned) {
      if (!(await mayProceed())) return finish('aborted');
      await bookkeeping.recordIteration({ runId, stage: stage.name, iteration: progress.iterationsDone, policyVersion: config.model.base });
      progress.iterationsDone += 1;
      touch();
      if (workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished);
        await continueAsNew<typeof trainingRun>({ runId, config, carried: status });
      }
    }
    progress.state = 'done';
    await bookkeeping.recordStageState({ runId, stageIndex: status.stageIndex, name: stage.name, kind: stage.kind, state: 'done' });
    status.stageIndex += 1;
    touch();
  }
  if (!(await mayProceed())) return finish('aborted');
  return finish('completed');

  async function finish(phase: 'aborted' | 'completed' | 'failed'): Promise<RunStatus> {
    touch(phase);
    await bookkeeping.recordRunFinished({ runId, status: phase, reason: status.abortReason });
    await condition(allHandlersFinished);
    return status;
  }
}

function isTerminal(phase: RunStatus['phase']): boolean {
  return phase === 'aborted' || phase === 'completed' || phase === 'failed';
}
