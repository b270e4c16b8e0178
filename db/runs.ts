/**
 * Runs: created once by `swerl start` (retry-safe), then moved through their lifecycle by the
 * trainingRun workflow's activities and read by `swerl status`.
 */
import { eq } from 'drizzle-orm';
import { ErrorCodes, RunError } from '../core/errors';
import type { Db } from './client';
import { runs, type RunStatus } from './schema';

export type Run = typeof runs.$inferSelect;
export interface NewRun {
  id: string;
  workflowId: string;
  name: string;
  config: Record<string, unknown>;
}

/**
 * Creates the run or returns the one already stored under this id. A retry of the same start is
 * a no-op; the same id claimed by a different workflow is a conflict, not silently merged.
 */
export async function upsertRun(db: Db, run: NewRun): Promise<{ run: Run; inserted: boolean }> {
  const [created] = await db.insert(runs).values(run).onConflictDoNothing().returning();
  if (created) return { run: created, inserted: true };
  const existing = await db.query.runs.findFirst({ where: eq(runs.id, run.id) });
  if (!existing) {
    // The id is free, so the conflict was on workflow_id: another run owns that workflow.
    throw new RunError(ErrorCodes.RUN_STATE_INVALID, `workflow ${run.workflowId} already belongs to another run (not ${run.id})`, {
      runId: run.id,
      workflowId: run.workflowId,
    });
  }
  if (existing.workflowId !== run.workflowId) {
    throw new RunError(ErrorCodes.RUN_STATE_INVALID, `run ${run.id} already exists with workflow ${existing.workflowId}, not ${run.workflowId}`, {
      runId: run.id,
      workflowId: run.workflowId,
      existingWorkflowId: existing.workflowId,
    });
  }
  return { run: existing, inserted: false };
}

export async function getRun(db: Db, runId: string): Promise<Run> {
  const run = await db.query.runs.findFirst({ where: eq(runs.id, runId) });
  if (!run) throw new RunError(ErrorCodes.RUN_NOT_FOUND, `run ${runId} not found`, { runId });
  return run;
}

/** Sets status (and stage/checkpoint when given). Writing the same values again is harmless. */
export async function setRunStatus(
  db: Db,
  runId: string,
  status: RunStatus,
  position: { currentStage?: string | null; currentCheckpointId?: string | null } = {},
): Promise<Run> {
  const [run] = await db
    .update(runs)
    .set({ status, ...position })
    .where(eq(runs.id, runId))
    .returning();
  if (!run) throw new RunError(ErrorCodes.RUN_NOT_FOUND, `run ${runId} not found`, { runId });
  return run;
}
