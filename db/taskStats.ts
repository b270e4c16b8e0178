/**
 * Attempts and solves per task per stage: the curriculum's input (PAPER.md stage 2 drops tasks
 * solved >= 2/3 of the time and tasks never solved). A double-counted episode would shift that
 * ratio, so counting goes through task_stat_events, keyed by episode id: exactly once per episode.
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import { ErrorCodes, RunError } from '../core/errors';
import type { Db } from './client';
import { episodes, taskStatEvents, taskStats } from './schema';

export interface TaskStat {
  taskId: string;
  attempts: number;
  solves: number;
}

export interface EpisodeOutcome {
  episodeId: string;
  taskId: string;
  stage: string;
  solved: boolean;
}

/**
 * Counts a scored episode into its task's stats once; a second call for the same episode (a
 * retried activity) changes nothing and reports `counted: false`. Concurrent calls are safe: the
 * event insert of the later one waits on the unique key and then does nothing.
 */
export async function recordEpisodeOutcome(
  db: Db,
  outcome: EpisodeOutcome,
): Promise<{ counted: boolean; stat: TaskStat }> {
  return db.transaction(async (tx) => {
    const episode = await tx.query.episodes.findFirst({ where: eq(episodes.id, outcome.episodeId) });
    if (!episode) {
      throw new RunError(ErrorCodes.EPISODE_NOT_FOUND, `episode ${outcome.episodeId} not found`, { episodeId: outcome.episodeId });
    }
    if (episode.taskId !== outcome.taskId || episode.stage !== outcome.stage) {
      throw new RunError(
        ErrorCodes.EPISODE_STATE_INVALID,
        `episode ${episode.id} belongs to task ${episode.taskId} in stage ${episode.stage}, not task ${outcome.taskId} in stage ${outcome.stage}`,
        { episodeId: episode.id },
      );
    }
    if (episode.status !== 'completed') {
      // Infra-failed or unfinished episodes are never scored, so they never count as attempts.
      throw new RunError(ErrorCodes.EPISODE_STATE_INVALID, `episode ${episode.id} is ${episode.status}; only completed episodes are counted`, {
        episodeId: episode.id,
        status: episode.status,
      });
    }
    const key = { runId: episode.runId, stage: episode.stage, taskId: episode.taskId };
    const [event] = await tx
      .insert(taskStatEvents)
      .values({ episodeId: episode.id, ...key, solved: outcome.solved })
      .onConflictDoNothing()
      .returning();
    if (!event) {
      const [stat] = await tx
        .select({ taskId: taskStats.taskId, attempts: taskStats.attempts, solves: taskStats.solves })
        .from(taskStats)
        .where(and(eq(taskStats.runId, key.runId), eq(taskStats.stage, key.stage), eq(taskStats.taskId, key.taskId)));
      return { counted: false, stat: stat ?? { taskId: key.taskId, attempts: 0, solves: 0 } };
    }
    const [stat] = await tx
      .insert(taskStats)
      .values({ ...key, attempts: 1, solves: outcome.solved ? 1 : 0 })
      .onConflictDoUpdate({
        target: [taskStats.runId, taskStats.stage, taskStats.taskId],
        set: {
          attempts: sql`${taskStats.attempts} + 1`,
          solves: sql`${taskStats.solves} + excluded.solves`,
          updatedAt: sql`now()`,
        },
      })
      .returning({ taskId: taskStats.taskId, attempts: taskStats.attempts, solves: taskStats.solves });
    if (!stat) throw new Error(`task_stats upsert for task ${key.taskId} returned no row`);
    return { counted: true, stat };
  });
}

/** Attempts and solves per task of a run, summed over the given stages (the curriculum's `fromStages`). */
export async function getTaskStats(db: Db, runId: string, stages: string[]): Promise<TaskStat[]> {
  if (stages.length === 0) return [];
  const rows = await db
    .select({
      taskId: taskStats.taskId,
      attempts: sql<number>`sum(${taskStats.attempts})::int`,
      solves: sql<number>`sum(${taskStats.solves})::int`,
    })
    .from(taskStats)
    .where(and(eq(taskStats.runId, runId), inArray(taskStats.stage, stages)))
    .groupBy(taskStats.taskId)
    .orderBy(taskStats.taskId);
  return rows;
}
