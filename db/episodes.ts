/**
 * Episodes: one row per rollout slot (run, stage, iteration, task, sample). The episode workflow
 * derives the id, so every write here is retry-safe; a scored episode's reward is final.
 */
import { eq, inArray, and, sql } from 'drizzle-orm';
import { ErrorCodes, RunError } from '../core/errors';
import type { Db } from './client';
import { episodes, type EpisodeExitReason } from './schema';

export type Episode = typeof episodes.$inferSelect;
export type NewEpisode = typeof episodes.$inferInsert;

/**
 * Creates the episode or returns the stored one with the same id. Another id already holding the
 * same slot means two workflows think they own one rollout: refused rather than duplicated,
 * since a duplicate would count the task twice in its group.
 */
export async function createEpisode(db: Db, episode: NewEpisode): Promise<{ episode: Episode; inserted: boolean }> {
  const [created] = await db.insert(episodes).values(episode).onConflictDoNothing().returning();
  if (created) return { episode: created, inserted: true };
  const existing = await db.query.episodes.findFirst({ where: eq(episodes.id, episode.id) });
  if (existing) return { episode: existing, inserted: false };
  throw new RunError(
    ErrorCodes.EPISODE_STATE_INVALID,
    `episode slot (run ${episode.runId}, stage ${episode.stage}, iteration ${episode.iteration ?? 0}, task ${episode.taskId}, sample ${episode.sampleIdx}) is already taken by another episode id than ${episode.id}`,
    { episodeId: episode.id },
  );
}

export async function getEpisode(db: Db, episodeId: string): Promise<Episode> {
  const episode = await db.query.episodes.findFirst({ where: eq(episodes.id, episodeId) });
  if (!episode) throw new RunError(ErrorCodes.EPISODE_NOT_FOUND, `episode ${episodeId} not found`, { episodeId });
  return episode;
}

/** Marks the episode running; a repeat keeps the first start time. */
export async function markEpisodeRunning(db: Db, episodeId: string): Promise<Episode> {
  const [episode] = await db
    .update(episodes)
    .set({ status: 'running', startedAt: sql`coalesce(${episodes.startedAt}, now())` })
    .where(and(eq(episodes.id, episodeId), inArray(episodes.status, ['pending', 'running'])))
    .returning();
  return episode ?? assertState(await getEpisode(db, episodeId), ['running']);
}

export interface EpisodeScore {
  episodeId: string;
  exitReason: EpisodeExitReason;
  patch: string | null;
  /** R: 1 iff all FAIL_TO_PASS and PASS_TO_PASS tests pass. */
  reward: number;
  lengthPenalty: number;
  rewardFinal: number;
}

/**
 * Records the episode's score and marks it completed. The first score wins: a retried reward
 * activity gets the stored row back instead of overwriting what the iteration may already have
 * used. An episode given up for infra failures cannot be scored (it must never count as 0).
 */
export async function completeEpisode(db: Db, score: EpisodeScore): Promise<Episode> {
  const { episodeId, ...values } = score;
  const [episode] = await db
    .update(episodes)
    .set({ ...values, status: 'completed', finishedAt: sql`now()` })
    .where(and(eq(episodes.id, episodeId), inArray(episodes.status, ['pending', 'running'])))
    .returning();
  return episode ?? assertState(await getEpisode(db, episodeId), ['completed']);
}

/**
 * Counts one infra failure (sandbox died, policy 5xx, harness crash). Not idempotent on purpose:
 * each call is one observed failure; callers record it once per failed attempt.
 */
export async function recordInfraFailure(db: Db, episodeId: string, code: string): Promise<Episode> {
  const [episode] = await db
    .update(episodes)
    .set({ infraFailures: sql`${episodes.infraFailures} + 1`, lastErrorCode: code })
    .where(eq(episodes.id, episodeId))
    .returning();
  if (!episode) throw new RunError(ErrorCodes.EPISODE_NOT_FOUND, `episode ${episodeId} not found`, { episodeId });
  return episode;
}

/** Counts one reward attempt that ended in a harness crash (not infra); returns the row with the new count. */
export async function recordHarnessCrash(db: Db, episodeId: string): Promise<Episode> {
  const [episode] = await db
    .update(episodes)
    .set({ rewardHarnessCrashes: sql`${episodes.rewardHarnessCrashes} + 1`, lastErrorCode: ErrorCodes.REWARD_HARNESS_CRASHED })
    .where(eq(episodes.id, episodeId))
    .returning();
  if (!episode) throw new RunError(ErrorCodes.EPISODE_NOT_FOUND, `episode ${episodeId} not found`, { episodeId });
  return episode;
}

/** Gives up on an episode after repeated infra failures (or a sandbox lost too often): it stays unscored. */
export async function failEpisode(db: Db, episodeId: string, code: string, exitReason: 'infra_failure' | 'sandbox_lost' = 'infra_failure'): Promise<Episode> {
  const [episode] = await db
    .update(episodes)
    .set({ status: 'failed', exitReason, lastErrorCode: code, finishedAt: sql`now()` })
    .where(and(eq(episodes.id, episodeId), inArray(episodes.status, ['pending', 'running'])))
    .returning();
  return episode ?? assertState(await getEpisode(db, episodeId), ['failed']);
}

function assertState(episode: Episode, allowed: Episode['status'][]): Episode {
  if (allowed.includes(episode.status)) return episode;
  throw new RunError(
    ErrorCodes.EPISODE_STATE_INVALID,
    `episode ${episode.id} is ${episode.status}, expected ${allowed.join(' or ')}`,
    { episodeId: episode.id, status: episode.status },
  );
}
