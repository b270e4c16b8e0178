/**
 * Training records: checkpoint lineage, iteration results, eval reports, promotions and the
 * run's boundary state. Every write is keyed (checkpoint id, (run, stage, iteration), eval id,
 * Update id), so a retried activity lands once.
 */
import { and, eq, sql } from 'drizzle-orm';
import { ErrorCodes, TrainerError } from '../../core/errors';
import { evalSummary, type EvalResult } from '../../core/rl';
import type { Db } from '../../db/client';
import { getCheckpoint, registerCheckpoint } from '../../db/checkpoints';
import { recordEval } from '../../db/evals';
import { recordPromotion } from '../../db/promotions';
import { setRunStatus } from '../../db/runs';
import { iterations, runs, stages, type CheckpointKind } from '../../db/schema';
import type { EvalOutcome } from '../../workflows/definitions';
import { guarded } from './guard';

export interface StepCheckpointInput {
  checkpointId: string;
  path: string;
  parentId: string;
  runId: string;
  kind: Exclude<CheckpointKind, 'base'>;
  stage: string;
  iteration: number;
  metrics: Record<string, unknown>;
}

export interface EvalReportInput {
  evalId: string;
  runId: string;
  stage: string;
  iteration: number | null;
  checkpointId: string;
  split: string;
  k: number;
  results: EvalResult[];
}

/** What an eval reports back to the run: the run's status shows it as is. */
export type EvalReport = EvalOutcome;

export interface PromotionInput {
  promotionId: string;
  runId: string;
  fromStage: string;
  toStage: string;
  checkpointId: string;
  actor: string;
  reason: string;
  forced: boolean;
  evalId?: string;
}

export function createRecordActivities(db: Db) {
  return {
    /** The lineage's root: a base model has no run, stage or parent. */
    async ensureBaseCheckpoint(input: { checkpointId: string }): Promise<void> {
      await guarded(`registering base checkpoint ${input.checkpointId}`, async () => {
        try {
          await getCheckpoint(db, input.checkpointId);
        } catch (err) {
          if (!(err instanceof TrainerError) || err.code !== ErrorCodes.CHECKPOINT_NOT_FOUND) throw err;
          await registerCheckpoint(db, { id: input.checkpointId, kind: 'base', path: input.checkpointId });
        }
      });
    },

    /** A standalone eval must not roll out a policy the registry does not know: SWERL_CHECKPOINT_NOT_FOUND (final). */
    async requireCheckpoint(input: { checkpointId: string }): Promise<void> {
      await guarded(`looking up checkpoint ${input.checkpointId}`, () => getCheckpoint(db, input.checkpointId));
    },

    async registerStepCheckpoint(input: StepCheckpointInput): Promise<void> {
      await guarded(`registering checkpoint ${input.checkpointId}`, async () => {
        await registerCheckpoint(db, {
          id: input.checkpointId,
          path: input.path,
          parentId: input.parentId,
          runId: input.runId,
          kind: input.kind,
          stage: input.stage,
          iteration: input.iteration,
          metrics: input.metrics,
        });
        await db.update(runs).set({ currentCheckpointId: input.checkpointId }).where(eq(runs.id, input.runId));
      });
    },

    async recordIterationStarted(input: { runId: string; stage: string; iteration: number; policyVersion: string; snapshotId?: string }): Promise<void> {
      await guarded(`starting iteration ${input.runId}/${input.stage}/${input.iteration}`, () =>
        db
          .insert(iterations)
          .values({ runId: input.runId, stage: input.stage, idx: input.iteration, status: 'rolling_out', policyVersion: input.policyVersion, curriculumSnapshotId: input.snapshotId })
          .onConflictDoNothing({ target: [iterations.runId, iterations.stage, iterations.idx] }),
      );
    },

    async recordIterationPhase(input: { runId: string; stage: string; iteration: number; status: 'training' | 'failed' }): Promise<void> {
      await guarded(`updating iteration ${input.runId}/${input.stage}/${input.iteration}`, () =>
        db
          .update(iterations)
          .set({ status: input.status })
          .where(and(eq(iterations.runId, input.runId), eq(iterations.stage, input.stage), eq(iterations.idx, input.iteration))),
      );
    },

    async recordIterationResult(input: { runId: string; stage: string; iteration: number; outputCheckpointId: string; metrics: Record<string, unknown> }): Promise<void> {
      await guarded(`finishing iteration ${input.runId}/${input.stage}/${input.iteration}`, () =>
        db
          .update(iterations)
          .set({ status: 'completed', outputCheckpointId: input.outputCheckpointId, metrics: input.metrics, finishedAt: sql`coalesce(${iterations.finishedAt}, now())` })
          .where(and(eq(iterations.runId, input.runId), eq(iterations.stage, input.stage), eq(iterations.idx, input.iteration))),
      );
    },

    async recordStageCheckpoints(input: { runId: string; stage: string; baseCheckpointId: string; finalCheckpointId: string }): Promise<void> {
      await guarded(`recording checkpoints of stage ${input.runId}/${input.stage}`, () =>
        db
          .update(stages)
          .set({ baseCheckpointId: input.baseCheckpointId, finalCheckpointId: input.finalCheckpointId })
          .where(and(eq(stages.runId, input.runId), eq(stages.name, input.stage))),
      );
    },

    /** Pass@1 mean ± SEM and Pass@k of one checkpoint, stored under the workflow-derived eval id. */
    async recordEvalReport(input: EvalReportInput): Promise<EvalReport> {
      return guarded(`recording eval ${input.evalId}`, async () => {
        const summary = evalSummary(input.results, input.k);
        const { eval: row } = await recordEval(db, {
          id: input.evalId,
          runId: input.runId,
          stage: input.stage,
          iteration: input.iteration,
          checkpointId: input.checkpointId,
          split: input.split,
          k: summary.k,
          taskCount: summary.tasks,
          pass1Mean: summary.pass1,
          pass1Sem: summary.sem ?? 0,
          passK: summary.passAtK,
          perTask: Object.fromEntries(summary.perTask.map((t) => [t.taskId, { solved: t.solves, runs: t.attempts }])),
        });
        return { evalId: row.id, checkpointId: row.checkpointId, pass1: row.pass1Mean, sem: summary.sem, passK: row.passK, k: row.k, tasks: row.taskCount };
      });
    },

    async recordBoundary(input: { runId: string; stage: string }): Promise<void> {
      await guarded(`marking run ${input.runId} at the boundary after ${input.stage}`, () => setRunStatus(db, input.runId, 'awaiting_promotion'));
    },

    async recordPromotion(input: PromotionInput): Promise<void> {
      await guarded(`recording promotion ${input.promotionId} of run ${input.runId}`, async () => {
        await recordPromotion(db, {
          id: input.promotionId,
          runId: input.runId,
          fromStage: input.fromStage,
          toStage: input.toStage,
          checkpointId: input.checkpointId,
          actor: input.actor,
          reason: input.reason,
          forced: input.forced,
          evalId: input.evalId,
        });
        await setRunStatus(db, input.runId, 'running', { currentCheckpointId: input.checkpointId });
      });
    },
  };
}
