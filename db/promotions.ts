/**
 * Promotions: the human decision that moves a run across a stage boundary, kept as an audit row
 * (who, when, why, which checkpoint, forced past the eval gate or not).
 */
import { asc, eq } from 'drizzle-orm';
import { ErrorCodes, RunError } from '../core/errors';
import type { Db } from './client';
import { promotions } from './schema';

export type Promotion = typeof promotions.$inferSelect;
export type NewPromotion = typeof promotions.$inferInsert;

/**
 * Records the promotion under its Temporal Update id; a retried Update returns the stored row.
 * A different promotion of the same boundary is refused: a stage is left once.
 */
export async function recordPromotion(db: Db, promotion: NewPromotion): Promise<{ promotion: Promotion; inserted: boolean }> {
  const [created] = await db.insert(promotions).values(promotion).onConflictDoNothing().returning();
  if (created) return { promotion: created, inserted: true };
  const existing = await db.query.promotions.findFirst({ where: eq(promotions.id, promotion.id) });
  if (existing) return { promotion: existing, inserted: false };
  throw new RunError(
    ErrorCodes.PROMOTE_REJECTED,
    `run ${promotion.runId} was already promoted from stage ${promotion.fromStage}; promotion ${promotion.id} is refused`,
    { runId: promotion.runId, fromStage: promotion.fromStage, promotionId: promotion.id },
  );
}

export async function listPromotions(db: Db, runId: string): Promise<Promotion[]> {
  return db.query.promotions.findMany({ where: eq(promotions.runId, runId), orderBy: asc(promotions.createdAt) });
}
