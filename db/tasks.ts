/**
 * Tasks enter through import: valid ones become rows in `tasks`, bad ones (invalid JSONL, gold
 * patch does not apply, gold fails its tests) go to `task_quarantine` with their coded reason and
 * are never trained on. Re-importing a suite is a no-op; an id whose content changed is refused,
 * because stats and episodes already recorded under that id would silently mean another task.
 */
import { and, eq } from 'drizzle-orm';
import { ErrorCodes, TaskError } from '../core/errors';
import type { Db } from './client';
import { taskQuarantine, tasks } from './schema';
import { storable, storableJson } from './text';

export type Task = typeof tasks.$inferSelect;
export type NewTask = typeof tasks.$inferInsert;
export type QuarantinedTask = typeof taskQuarantine.$inferSelect;

export async function upsertTask(db: Db, raw: NewTask): Promise<{ task: Task; inserted: boolean }> {
  // Task text comes from foreign files: whatever Postgres cannot hold becomes U+FFFD.
  const task = storableJson(raw);
  const [created] = await db.insert(tasks).values(task).onConflictDoNothing().returning();
  if (created) return { task: created, inserted: true };
  const existing = await getTask(db, task.id);
  if (existing.contentHash !== task.contentHash) {
    throw new TaskError(
      ErrorCodes.TASK_INVALID,
      `task ${task.id} is already imported with different content (hash ${existing.contentHash}, now ${task.contentHash})`,
      { taskId: task.id, suite: task.suite },
    );
  }
  return { task: existing, inserted: false };
}

export async function getTask(db: Db, taskId: string): Promise<Task> {
  const task = await db.query.tasks.findFirst({ where: eq(tasks.id, taskId) });
  if (!task) throw new TaskError(ErrorCodes.TASK_NOT_FOUND, `task ${taskId} not found`, { taskId });
  return task;
}

/** Records why a task was rejected; the first recorded reason is kept. */
export async function quarantineTask(
  db: Db,
  raw: { suite: string; taskId: string; code: string; message: string; details?: Record<string, unknown> },
): Promise<QuarantinedTask> {
  // A reason quotes test output and task text: it may hold bytes Postgres rejects.
  const entry = { ...raw, taskId: storable(raw.taskId), message: storable(raw.message), details: storableJson(raw.details) };
  const [created] = await db.insert(taskQuarantine).values(entry).onConflictDoNothing().returning();
  if (created) return created;
  const existing = await db.query.taskQuarantine.findFirst({
    where: and(eq(taskQuarantine.suite, entry.suite), eq(taskQuarantine.taskId, entry.taskId)),
  });
  if (!existing) throw new Error(`quarantine entry for task ${entry.taskId} vanished`);
  return existing;
}
