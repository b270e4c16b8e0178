/**
 * Checkpoint lineage: every set of policy weights the run produced, with the one it came from.
 * The trainer registers a checkpoint after saving it; a retried registration is a no-op.
 */
import { eq, sql } from 'drizzle-orm';
import { ErrorCodes, TrainerError } from '../core/errors';
import type { Db } from './client';
import { checkpoints } from './schema';

export type Checkpoint = typeof checkpoints.$inferSelect;
export type NewCheckpoint = typeof checkpoints.$inferInsert;

/** Registers a checkpoint, or returns the stored one; the same id at another path is a conflict. */
export async function registerCheckpoint(db: Db, checkpoint: NewCheckpoint): Promise<{ checkpoint: Checkpoint; inserted: boolean }> {
  const [created] = await db.insert(checkpoints).values(checkpoint).onConflictDoNothing().returning();
  if (created) return { checkpoint: created, inserted: true };
  const existing = await getCheckpoint(db, checkpoint.id);
  if (existing.path !== checkpoint.path) {
    throw new TrainerError(
      ErrorCodes.TRAINER_STEP_CONFLICT,
      `checkpoint ${checkpoint.id} is already registered at ${existing.path}, not ${checkpoint.path}`,
      { checkpointId: checkpoint.id, path: checkpoint.path, existingPath: existing.path },
    );
  }
  return { checkpoint: existing, inserted: false };
}

export async function getCheckpoint(db: Db, checkpointId: string): Promise<Checkpoint> {
  const checkpoint = await db.query.checkpoints.findFirst({ where: eq(checkpoints.id, checkpointId) });
  if (!checkpoint) {
    throw new TrainerError(ErrorCodes.CHECKPOINT_NOT_FOUND, `checkpoint ${checkpointId} not found`, { checkpointId });
  }
  return checkpoint;
}

/** The checkpoint and its ancestors, newest first, back to the base model (`swerl history`). */
export async function checkpointLineage(db: Db, checkpointId: string): Promise<Checkpoint[]> {
  const result = await db.execute<{ id: string }>(sql`
    with recursive lineage(id, parent_id, depth) as (
      select id, parent_id, 0 from ${checkpoints} where id = ${checkpointId}
      union all
      select c.id, c.parent_id, l.depth + 1 from ${checkpoints} c join lineage l on c.id = l.parent_id
      where l.depth < 10000
    )
    select id from lineage order by depth`);
  const ids = result.rows.map((r) => r.id);
  if (ids.length === 0) {
    throw new TrainerError(ErrorCodes.CHECKPOINT_NOT_FOUND, `checkpoint ${checkpointId} not found`, { checkpointId });
  }
  const rows = await db.query.checkpoints.findMany({ where: (c, { inArray }) => inArray(c.id, ids) });
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}
