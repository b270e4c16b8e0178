/**
 * Test provenance of each episode's reward: which FAIL_TO_PASS / PASS_TO_PASS tests ran, how each
 * ended, how long, and the tail of the output, so a surprising reward can be audited later.
 */
import { eq } from 'drizzle-orm';
import type { Db } from './client';
import { rewardResults } from './schema';
import { storableJson } from './text';

export type RewardResult = typeof rewardResults.$inferSelect;
export type NewRewardResult = typeof rewardResults.$inferInsert;

/** Stores the result once; a retried reward activity gets the first result back. */
export async function recordRewardResult(db: Db, raw: NewRewardResult): Promise<{ result: RewardResult; inserted: boolean }> {
  // The output tail and test names come from the agent's test run: anything goes.
  const result = storableJson(raw);
  const [created] = await db.insert(rewardResults).values(result).onConflictDoNothing().returning();
  if (created) return { result: created, inserted: true };
  const existing = await getRewardResult(db, result.episodeId);
  if (!existing) throw new Error(`reward result of episode ${result.episodeId} vanished during insert`);
  return { result: existing, inserted: false };
}

export async function getRewardResult(db: Db, episodeId: string): Promise<RewardResult | undefined> {
  return db.query.rewardResults.findFirst({ where: eq(rewardResults.episodeId, episodeId) });
}
