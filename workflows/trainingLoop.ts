/**
 * The training loop executor of trainingRun: walks the stage plan, one child workflow per RFT
 * stage, RL iteration and eval, threading the policy version (the checkpoint the next rollouts
 * sample from) through them, and stops at RL→RL boundaries for the `promote` Update.
 *
 * Guarantees (besides trainingRun's): a child's workflow id is derived from (run, stage,
 * iteration), so a resumed run re-attaches to the child it had started instead of starting a
 * second one; the status carries everything needed to resume after continue-as-new (position,
 * policy version, snapshot ids, checkpoints, recent iteration reports, counters). A coded,
 * non-retryable failure (e.g. SWERL_DECODING_MISMATCH) fails the run with that code after
 * recording it.
 */
import { ApplicationFailure, condition, executeChild, workflowInfo } from '@temporalio/workflow';
import type { RunActivities } from '../activities/runs';
import type { StageConfig } from '../core/config';
import { ErrorCodes, errorCodeOf } from '../core/errors';
import type { EvalOutcome, IterationReport, PromoteResult, RunStatus } from './definitions';
import type { evalStage } from './evalStage';
import { mismatchPauseReason } from './iterationReport';
import { trainerActivities, trainingActivities, type LoopContext } from './loopContext';
import type { rftStage } from './rftStage';
import type { rlIteration } from './rlIteration';

export interface LoopControl {
  status: RunStatus;
  bookkeeping: RunActivities;
  touch(phase?: RunStatus['phase']): void;
  mayProceed(): Promise<boolean>;
  /** Pauses the run as the pause Signal does (the run itself noticed something an operator must see). */
  pause(action: { who: string; reason: string }): void;
  finish(phase: 'aborted' | 'completed' | 'failed'): Promise<RunStatus>;
  isAbortRequested(): boolean;
  hasPromotion(): boolean;
  takePromotion(): PromoteResult | undefined;
  continueAsNew(): Promise<void>;
  continueAsNewAfterIterations?: number;
}

/** Iteration reports kept in status: enough for a dashboard, bounded for the history. */
const KEPT_REPORTS = 50;

/** A human decides between two RL stages; RFT → RL and → eval are mechanical. */
export function needsPromotion(from: StageConfig, to: StageConfig, requireHuman: boolean): boolean {
  return requireHuman && from.kind === 'rl' && to.kind === 'rl';
}

export async function runLoop(ctx: LoopContext, c: LoopControl): Promise<RunStatus> {
  const { status } = c;
  const { runId, config } = ctx;
  const training = trainingActivities(ctx);
  const trainer = trainerActivities(ctx);
  const childId = (...parts: Array<string | number>) => `swerl-${parts.join('-')}`;

  /** What the policy endpoint serves, as far as this workflow run knows (unknown after continue-as-new). */
  let servedVersion: string | undefined;
  const addReport = (report: IterationReport) => {
    servedVersion = report.checkpointId; // the iteration loaded its own output
    status.iterations = [...(status.iterations ?? []), report].slice(-KEPT_REPORTS);
    status.counters.episodes += report.episodes;
    status.counters.infraFailures += report.infraFailures;
    status.counters.updateSteps += report.updateSteps;
    status.policyVersion = report.checkpointId;
    if (report.checkpointId !== config.model.base && !(status.checkpoints ?? []).includes(report.checkpointId)) {
      status.checkpoints = [...(status.checkpoints ?? []), report.checkpointId];
    }
  };
  const addEval = (e: EvalOutcome) => {
    servedVersion = e.checkpointId;
    status.evals = [...(status.evals ?? []), e].slice(-KEPT_REPORTS);
    status.counters.episodes += e.tasks * e.k;
  };

  let iterationsThisRun = 0;
  try {
    if (status.policyVersion === undefined) {
      await training.ensureBaseCheckpoint({ checkpointId: config.model.base });
      status.policyVersion = config.model.base;
    }
    while (status.stageIndex < config.stages.length) {
      const index = status.stageIndex;
      const stage = config.stages[index]!;
      const progress = status.stages[index]!;
      if (progress.state === 'pending') {
        progress.state = 'running';
        progress.baseCheckpointId = status.policyVersion;
        await c.bookkeeping.recordStageState({ runId, stageIndex: index, name: stage.name, kind: stage.kind, state: 'running' });
      }
      if (stage.kind === 'rl' && !progress.snapshotId) {
        const pool = await training.prepareCurriculum({ runId, stage: stage.name, suite: config.tasks.suite, split: 'train', rule: stage.curriculum });
        progress.snapshotId = pool.snapshotId;
      }
      while (progress.iterationsDone < progress.iterationsPlanned) {
        if (!(await c.mayProceed())) return await c.finish('aborted');
        if (!ctx.policyUrl) {
          throw ApplicationFailure.nonRetryable(`run ${runId} has no policy endpoint: set policy.url in the config`, ErrorCodes.CONFIG_INVALID);
        }
        const policyVersion = status.policyVersion!;
        if (stage.kind !== 'eval' && servedVersion !== policyVersion) {
          // Rollouts must come from policyVersion: the base, a promoted checkpoint, or after a restart.
          await trainer.load_policy({ checkpoint_id: policyVersion });
        }
        servedVersion = policyVersion;
        if (stage.kind === 'rft') {
          const r = await executeChild<typeof rftStage>('rftStage', {
            workflowId: childId('rft', runId, stage.name),
            taskQueue: workflowInfo().taskQueue,
            args: [{ ctx, stageIndex: index, policyVersion }],
          });
          progress.snapshotId = r.snapshotId;
          addReport(r.report);
        } else if (stage.kind === 'rl') {
          const r = await executeChild<typeof rlIteration>('rlIteration', {
            workflowId: childId('iter', runId, stage.name, progress.iterationsDone),
            taskQueue: workflowInfo().taskQueue,
            args: [{ ctx, stageIndex: index, iteration: progress.iterationsDone, policyVersion, snapshotId: progress.snapshotId! }],
          });
          addReport(r.report);
          const mismatch = mismatchPauseReason(r.report, config.policy.maxLogprobMismatch);
          // Takes effect at the next iteration boundary, like an operator's pause; resume continues.
          if (mismatch) c.pause({ who: 'swerl', reason: mismatch });
        } else {
          addEval(
            await executeChild<typeof evalStage>('evalStage', {
              workflowId: childId('eval', runId, stage.name),
              taskQueue: workflowInfo().taskQueue,
              args: [{ ctx, evalStageIndex: index, label: stage.name, checkpointId: policyVersion, loadPolicy: true }],
            }),
          );
        }
        progress.iterationsDone += 1;
        c.touch();
        iterationsThisRun += 1;
        const every = c.continueAsNewAfterIterations;
        if (workflowInfo().continueAsNewSuggested || (every !== undefined && iterationsThisRun >= every)) await c.continueAsNew();
      }
      progress.state = 'done';
      progress.finalCheckpointId = status.policyVersion;
      await training.recordStageCheckpoints({ runId, stage: stage.name, baseCheckpointId: progress.baseCheckpointId ?? status.policyVersion!, finalCheckpointId: status.policyVersion! });
      await c.bookkeeping.recordStageState({ runId, stageIndex: index, name: stage.name, kind: stage.kind, state: 'done' });
      const next = config.stages[index + 1];
      if (next && needsPromotion(stage, next, config.promotion.requireHuman)) {
        if (!(await waitForPromotion(stage, next))) return await c.finish('aborted');
      }
      status.stageIndex += 1;
      c.touch();
    }
    if (!(await c.mayProceed())) return await c.finish('aborted');
    return await c.finish('completed');
  } catch (err) {
    const code = errorCodeOf(err);
    if (!code) throw err; // not ours to classify: let Temporal surface it
    const message = err instanceof Error ? err.message : String(err);
    status.failure = { code, message };
    await c.finish('failed');
    throw ApplicationFailure.create({ type: code, message: `${code}: run ${runId} failed: ${message}`, nonRetryable: true });
  }

  /** Evaluates the stage's checkpoint for the gate, then waits for a human. false = stop the run. */
  async function waitForPromotion(from: StageConfig, to: StageConfig): Promise<boolean> {
    const evalIndex = config.stages.findIndex((s) => s.kind === 'eval');
    const checkpointId = status.policyVersion!;
    let gateEval: EvalOutcome | undefined;
    if (evalIndex >= 0) {
      gateEval = await executeChild<typeof evalStage>('evalStage', {
        workflowId: childId('eval', runId, `${from.name}-gate`),
        taskQueue: workflowInfo().taskQueue,
        // A gate split is named only when configured: older runs replay with the same child input.
        args: [{ ctx, evalStageIndex: evalIndex, label: `${from.name}-gate`, checkpointId, loadPolicy: true, ...(config.promotion.gateSplit ? { split: config.promotion.gateSplit } : {}) }],
      });
      addEval(gateEval);
    }
    const minPass1 = config.promotion.minPass1;
    status.boundary = {
      fromStage: from.name,
      toStage: to.name,
      checkpointId,
      eval: gateEval,
      minPass1,
      gateMet: minPass1 <= 0 || (gateEval !== undefined && gateEval.pass1 >= minPass1),
      since: new Date().toISOString(),
    };
    c.touch(status.phase === 'paused' ? 'paused' : 'at-boundary');
    await training.recordBoundary({ runId, stage: from.name });
    const decided = await condition(() => c.hasPromotion() || c.isAbortRequested(), `${config.timeouts.promoteWaitDays} days`);
    if (!decided) status.abortReason = `no promotion from ${from.name} within ${config.timeouts.promoteWaitDays} day(s)`;
    if (!decided || c.isAbortRequested()) return false;
    const promotion = c.takePromotion()!;
    status.boundary = undefined;
    if (promotion.checkpointId !== status.policyVersion) {
      status.policyVersion = promotion.checkpointId;
    }
    c.touch(status.phase === 'paused' ? 'paused' : 'running');
    return true;
  }
}
