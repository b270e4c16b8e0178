/** Eval results (Pass@1 mean ± SEM, Pass@k) per checkpoint, read by the promote gate and `swerl eval`. */
import { asc, eq } from 'drizzle-orm';
import type { Db } from './client';
import { evals } from './schema';

export type Eval = typeof evals.$inferSelect;
export type NewEval = typeof evals.$inferInsert;

/** Stores the eval under its workflow-derived id; a retry returns the stored row unchanged. */
export async function recordEval(db: Db, result: NewEval): Promise<{ eval: Eval; inserted: boolean }> {
  const [created] = await db.insert(evals).values(result).onConflictDoNothing().returning();
  if (created) return { eval: created, inserted: true };
  const existing = await db.query.evals.findFirst({ where: eq(evals.id, result.id) });
  if (!existing) throw new Error(`eval ${result.id} vanished during insert`);
  return { eval: existing, inserted: false };
}

export async function listEvals(db: Db, runId: string): Promise<Eval[]> {
  return db.query.evals.findMany({ where: eq(evals.runId, runId), orderBy: asc(evals.createdAt) });
}

/**
 * An eval row as people read it, labelled by the stage it was run as: Pass@1 mean ± SEM, Pass@k,
 * the task count and the per-task counts. The one mapping `swerl report` and the dashboard's
 * curves both use.
 */
export function evalFigures(e: Eval) {
  return { label: e.stage, checkpointId: e.checkpointId, pass1: e.pass1Mean, sem: e.pass1Sem, passK: e.passK, k: e.k, tasks: e.taskCount, perTask: e.perTask };
}
