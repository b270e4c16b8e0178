/**
 * Curriculum snapshots: the pool a stage samples problems from, as an immutable versioned row.
 * Workflows hold only the id (the list can be thousands of task ids, too big for history).
 */
import { and, desc, eq } from 'drizzle-orm';
import { ErrorCodes, RunError } from '../core/errors';
import type { Db } from './client';
import { curriculumSnapshots } from './schema';

export type CurriculumSnapshot = typeof curriculumSnapshots.$inferSelect;

export interface NewCurriculumSnapshot {
  id: string;
  runId: string;
  stage: string;
  version: number;
  rule: string;
  params?: Record<string, unknown>;
  taskIds: string[];
}

/**
 * Stores the snapshot, or returns the stored one. Snapshots never change: the same id (or the
 * same run/stage/version) with another task list is refused, since iterations may already have
 * sampled from the first.
 */
export async function createCurriculumSnapshot(db: Db, snapshot: NewCurriculumSnapshot): Promise<{ snapshot: CurriculumSnapshot; inserted: boolean }> {
  const [created] = await db
    .insert(curriculumSnapshots)
    .values({ ...snapshot, taskCount: snapshot.taskIds.length })
    .onConflictDoNothing()
    .returning();
  if (created) return { snapshot: created, inserted: true };
  const existing = await db.query.curriculumSnapshots.findFirst({ where: eq(curriculumSnapshots.id, snapshot.id) });
  if (!existing || JSON.stringify(existing.taskIds) !== JSON.stringify(snapshot.taskIds)) {
    throw new RunError(
      ErrorCodes.RUN_STATE_INVALID,
      `curriculum snapshot ${snapshot.id} (run ${snapshot.runId}, stage ${snapshot.stage}, version ${snapshot.version}) conflicts with a stored snapshot of other content`,
      { snapshotId: snapshot.id },
    );
  }
  return { snapshot: existing, inserted: false };
}

export async function getCurriculumSnapshot(db: Db, snapshotId: string): Promise<CurriculumSnapshot> {
  const snapshot = await db.query.curriculumSnapshots.findFirst({ where: eq(curriculumSnapshots.id, snapshotId) });
  if (!snapshot) {
    throw new RunError(ErrorCodes.CURRICULUM_SNAPSHOT_NOT_FOUND, `curriculum snapshot ${snapshotId} not found`, { snapshotId });
  }
  return snapshot;
}

/** The newest snapshot of a stage, if any (what a resumed stage continues from). */
export async function latestCurriculumSnapshot(db: Db, runId: string, stage: string): Promise<CurriculumSnapshot | undefined> {
  return db.query.curriculumSnapshots.findFirst({
    where: and(eq(curriculumSnapshots.runId, runId), eq(curriculumSnapshots.stage, stage)),
    orderBy: desc(curriculumSnapshots.version),
  });
}
