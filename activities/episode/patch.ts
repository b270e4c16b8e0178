import { and, eq, isNull } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { episodes } from '../../db/schema';

/** Stores the episode's final diff once: a retried submit or capture keeps the first one. */
export async function setEpisodePatch(db: Db, episodeId: string, patch: string): Promise<void> {
  await db.update(episodes).set({ patch }).where(and(eq(episodes.id, episodeId), isNull(episodes.patch)));
}
