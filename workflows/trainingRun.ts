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
 * Stage executor: this is the foundation's smoke executor — each planned iteration is recorded in
 * Postgres, no episodes are rolled out yet. The training-loop issue replaces `runIteration` with
 * rlIteration / rftStage child workflows without changing the run's control surface.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { RunActivities } from '../activities/runs';
import type { RunConfig, StageConfig } from '../core/config';
import { ErrorCodes } from '../core/errors';
import { toRetryPolicy } from '../core/retry';
import {
  abortSignal,
  pauseSignal,
  resumeSignal,
  statusQuery,
  type RunStatus,
  type StageProgress,
} from './definitions';

export interface TrainingRunInput {
  runId: string;
  config: RunConfig;
  /** Set only by continue-as-new: where the previous run of this workflow left off. */
  carried?: RunStatus;
}

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
  setHandler(pauseSignal, (action) => {
    if (isTerminal(status.phase) || abortRequested) return;
    paused = true;
    status.pausedBy = action;
    touch('paused');
  });
  setHandler(resumeSignal, () => {
    if (!paused || abortRequested) return;
    paused = false;
    status.pausedBy = undefined;
    touch('running');
  });
  setHandler(abortSignal, (action) => {
    if (isTerminal(status.phase)) return;
    abortRequested = true;
    status.abortReason = `${action.reason} (by ${action.who})`;
    touch('aborting');
  });

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

  async function finish(phase: 'aborted' | 'completed'): Promise<RunStatus> {
    touch(phase);
    await bookkeeping.recordRunFinished({ runId, status: phase, reason: status.abortReason });
    await condition(allHandlersFinished);
    return status;
  }
}

function isTerminal(phase: RunStatus['phase']): boolean {
  return phase === 'aborted' || phase === 'completed' || phase === 'failed';
}
