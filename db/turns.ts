/**
 * Turns are the durable memory of an episode: the policyTurn and execTool activities append one
 * each, and a resumed episode rebuilds its prompt and sandbox from them. Append-only (a trigger
 * rejects updates), keyed by (episode, idx).
 */
import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db } from './client';
import { episodes, turns } from './schema';
import { storable } from './text';

export type Turn = typeof turns.$inferSelect;
export type NewTurn = typeof turns.$inferInsert;

/**
 * Appends turn `idx` of an episode, or returns the turn already stored there. A retried activity
 * whose first attempt committed gets the stored turn back: the caller must continue from the
 * returned turn, never from what it generated again, so the trajectory stays the one persisted.
 *
 * The first insert also advances the episode's counters in the same transaction, so they count
 * each turn once: turn_count = assistant turns (the paper's |τ|), completion_tokens = their sum,
 * prompt_tokens = the largest prompt seen (what the context budget is checked against).
 */
export async function appendTurn(db: Db, raw: NewTurn): Promise<{ turn: Turn; inserted: boolean }> {
  // Postgres text cannot hold NUL (measured: the demo's byte-fallback policy sampled byte 0 and
  // the turn was retried forever); what later prompts show is U+FFFD, the token ids keep the bytes.
  const turn: NewTurn = { ...raw, text: storable(raw.text), command: storable(raw.command) };
  const isAction = turn.role === 'assistant';
  // One statement, one round trip (it commits on its own): the insert, and the counters only when
  // it inserted. Four statements (begin, insert, update, commit) were a turn's largest cost (bench scale).
  const inserted = db.$with('inserted').as(db.insert(turns).values(turn).onConflictDoNothing().returning());
  const counters = db.$with('counters').as(
    db
      .update(episodes)
      .set({
        turnCount: sql`${episodes.turnCount} + ${isAction ? 1 : 0}`,
        completionTokens: sql`${episodes.completionTokens} + ${isAction ? (turn.completionTokens ?? 0) : 0}`,
        promptTokens: sql`greatest(${episodes.promptTokens}, ${turn.promptTokens ?? 0})`,
      })
      .where(and(eq(episodes.id, turn.episodeId), sql`exists (select 1 from ${inserted})`))
      .returning({ id: episodes.id }),
  );
  const [created] = await db.with(inserted, counters).select().from(inserted);
  if (created) return { turn: created, inserted: true };
  const existing = await getTurn(db, turn.episodeId, turn.idx);
  // Only reachable if the row was deleted between the two statements (episode removed).
  if (!existing) throw new Error(`turn ${turn.idx} of episode ${turn.episodeId} vanished during append`);
  return { turn: existing, inserted: false };
}

/** The row `appendTurn(raw)` stores, before it is stored (defaults filled in, text made storable). */
export function asStored(raw: NewTurn): Turn {
  return {
    tokenIds: null,
    logprobs: null,
    tokensRef: null,
    promptTokens: null,
    completionTokens: null,
    formatError: false,
    tool: null,
    command: null,
    exitCode: null,
    outputTruncated: false,
    durationMs: null,
    createdAt: new Date(),
    ...raw,
    text: storable(raw.text),
    ...(raw.command === undefined ? {} : { command: storable(raw.command) }),
  } as Turn;
}

export async function getTurn(db: Db, episodeId: string, idx: number): Promise<Turn | undefined> {
  return db.query.turns.findFirst({ where: and(eq(turns.episodeId, episodeId), eq(turns.idx, idx)) });
}

/** All turns of an episode in order: the input for prompt building, replay and `swerl trajectory`. */
export async function listTurns(db: Db, episodeId: string): Promise<Turn[]> {
  return db.query.turns.findMany({ where: eq(turns.episodeId, episodeId), orderBy: asc(turns.idx) });
}
