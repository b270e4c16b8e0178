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

/**
 * Inserts a task, or returns the stored one when it has the same content hash. `legacyContentHash`
 * is what the task hashed to before the hash covered the whole line: a row stored under it is the
 * same task and is brought up to date (hash, source line, metadata) instead of being refused.
 */
export async function upsertTask(db: Db, raw: NewTask, opts: { legacyContentHash?: string } = {}): Promise<{ task: Task; inserted: boolean }> {
  // Task text comes from foreign files: whatever Postgres cannot hold becomes U+FFFD.
  const task = storableJson(raw);
  const [created] = await db.insert(tasks).values(task).onConflictDoNothing().returning();
  if (created) return { task: created, inserted: true };
  const existing = await getTask(db, task.id);
  if (existing.contentHash !== task.contentHash && opts.legacyContentHash !== undefined && existing.contentHash === opts.legacyContentHash) {
    const [upgraded] = await db.update(tasks)
      .set({ contentHash: task.contentHash, sourceLine: task.sourceLine, metadata: task.metadata, image: task.image ?? existing.image })
      .where(and(eq(tasks.id, task.id), eq(tasks.contentHash, existing.contentHash))).returning();
    if (upgraded) return { task: upgraded, inserted: false };
  }
  if (existing.contentHash !== task.contentHash) {
    throw new TaskError(
      ErrorCodes.TASK_INVALID,
      `task ${task.id} is already imported with different content (hash ${existing.contentHash}, now ${task.contentHash})`,
      { taskId: task.id, suite: task.suite },
    );
  }
  // Imported before without validation, validated now: keep the image.
  if (!existing.image && task.image) {
    const [withImage] = await db.update(tasks).set({ image: task.image, metadata: task.metadata }).where(eq(tasks.id, task.id)).returning();
    if (withImage) return { task: withImage, inserted: false };
  }
  return { task: existing, inserted: false };
}

/** Content hash and image of every task of a suite: what a re-run of an import may skip. */
export async function importedTasks(db: Db, suite: string): Promise<Map<string, { contentHash: string; image: string | null }>> {
  const rows = await db.select({ id: tasks.id, contentHash: tasks.contentHash, image: tasks.image }).from(tasks).where(eq(tasks.suite, suite));
  return new Map(rows.map((r) => [r.id, { contentHash: r.contentHash, image: r.image }]));
}

/** Code and (for environment verdicts) content hash of every quarantined task of a suite. */
export async function quarantinedTasks(db: Db, suite: string): Promise<Map<string, { code: string; contentHash?: string }>> {
  const rows = await db.select({ id: taskQuarantine.taskId, code: taskQuarantine.code, details: taskQuarantine.details }).from(taskQuarantine).where(eq(taskQuarantine.suite, suite));
  return new Map(rows.map((r) => {
    const hash = (r.details as { contentHash?: unknown } | null)?.contentHash;
    return [r.id, { code: r.code, ...(typeof hash === 'string' ? { contentHash: hash } : {}) }];
  }));
}

/** Drops the quarantine entries of a task (it was accepted after all, or is recorded anew). */
export async function clearQuarantine(db: Db, suite: string, taskId: string, onlyCode?: string): Promise<void> {
  const where = and(eq(taskQuarantine.suite, suite), eq(taskQuarantine.taskId, storable(taskId)), ...(onlyCode ? [eq(taskQuarantine.code, onlyCode)] : []));
  await db.delete(taskQuarantine).where(where);
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
