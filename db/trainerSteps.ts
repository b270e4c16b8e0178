/**
 * The trainer's ledger. trainStep is a long, expensive, non-repeatable activity (it moves the
 * weights), so it is keyed by (run, stage, iteration, step): a retry that finds its step applied
 * returns the stored checkpoint instead of training twice, and a retry with a different batch
 * under the same key is refused, since that would mean two different updates claim one step.
 */
import { and, eq, sql } from 'drizzle-orm';
import { ErrorCodes, TrainerError } from '../core/errors';
import type { Db } from './client';
import { trainerSteps, type TrainerStepKind } from './schema';

export type TrainerStep = typeof trainerSteps.$inferSelect;

export interface TrainerStepKey {
  runId: string;
  stage: string;
  iteration: number;
  step: number;
}

function keyOf(key: TrainerStepKey) {
  return and(
    eq(trainerSteps.runId, key.runId),
    eq(trainerSteps.stage, key.stage),
    eq(trainerSteps.iteration, key.iteration),
    eq(trainerSteps.step, key.step),
  );
}

function describe(key: TrainerStepKey): string {
  return `trainer step (run ${key.runId}, stage ${key.stage}, iteration ${key.iteration}, step ${key.step})`;
}

/**
 * Claims the step for this batch, or returns the existing claim (status `applied` means: skip
 * training and reuse `outputCheckpointId`).
 */
export async function beginTrainerStep(
  db: Db,
  step: TrainerStepKey & { kind: TrainerStepKind; batchDigest: string; inputCheckpointId: string },
): Promise<TrainerStep> {
  const [created] = await db.insert(trainerSteps).values(step).onConflictDoNothing().returning();
  if (created) return created;
  const existing = await db.query.trainerSteps.findFirst({ where: keyOf(step) });
  if (!existing) throw new Error(`${describe(step)} vanished during claim`);
  if (existing.batchDigest !== step.batchDigest || existing.inputCheckpointId !== step.inputCheckpointId) {
    throw new TrainerError(
      ErrorCodes.TRAINER_STEP_CONFLICT,
      `${describe(step)} was claimed for batch ${existing.batchDigest} on ${existing.inputCheckpointId}, not batch ${step.batchDigest} on ${step.inputCheckpointId}`,
      { ...step, existingBatchDigest: existing.batchDigest, existingInputCheckpointId: existing.inputCheckpointId },
    );
  }
  return existing;
}

/** Marks the step applied with its output checkpoint; applying it again with the same output is a no-op. */
export async function markTrainerStepApplied(
  db: Db,
  key: TrainerStepKey,
  outputCheckpointId: string,
  metrics: Record<string, unknown> = {},
): Promise<TrainerStep> {
  const [applied] = await db
    .update(trainerSteps)
    .set({ status: 'applied', outputCheckpointId, metrics, appliedAt: sql`now()` })
    .where(and(keyOf(key), eq(trainerSteps.status, 'started')))
    .returning();
  if (applied) return applied;
  const existing = await db.query.trainerSteps.findFirst({ where: keyOf(key) });
  if (!existing) throw new TrainerError(ErrorCodes.TRAINER_STEP_CONFLICT, `${describe(key)} was never begun`, { ...key });
  if (existing.outputCheckpointId !== outputCheckpointId) {
    throw new TrainerError(
      ErrorCodes.TRAINER_STEP_CONFLICT,
      `${describe(key)} already produced ${existing.outputCheckpointId}, not ${outputCheckpointId}`,
      { ...key, outputCheckpointId, existingOutputCheckpointId: existing.outputCheckpointId },
    );
  }
  return existing;
}
