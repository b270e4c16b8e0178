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
  const [created] = await appendStatement(db).execute({
    episodeId: turn.episodeId,
    idx: turn.idx,
    role: turn.role,
    text: turn.text,
    tokenIds: jsonOrNull(turn.tokenIds),
    logprobs: jsonOrNull(turn.logprobs),
    tokensRef: turn.tokensRef ?? null,
    promptTokens: turn.promptTokens ?? null,
    completionTokens: turn.completionTokens ?? null,
    formatError: turn.formatError ?? false,
    tool: turn.tool ?? null,
    command: turn.command ?? null,
    exitCode: turn.exitCode ?? null,
    outputTruncated: turn.outputTruncated ?? false,
    durationMs: turn.durationMs ?? null,
    turnInc: isAction ? 1 : 0,
    completionInc: isAction ? (turn.completionTokens ?? 0) : 0,
    promptSeen: turn.promptTokens ?? 0,
  });
  // What was inserted is what was sent: only created_at comes back (the observation's output and the
  // action's logprobs are not shipped back and parsed again per turn).
  if (created) {
    const stored: Turn = {
      episodeId: turn.episodeId,
      idx: turn.idx,
      role: turn.role,
      text: turn.text,
      tokenIds: turn.tokenIds ?? null,
      logprobs: turn.logprobs ?? null,
      tokensRef: turn.tokensRef ?? null,
      promptTokens: turn.promptTokens ?? null,
      completionTokens: turn.completionTokens ?? null,
      formatError: turn.formatError ?? false,
      tool: turn.tool ?? null,
      command: turn.command ?? null,
      exitCode: turn.exitCode ?? null,
      outputTruncated: turn.outputTruncated ?? false,
      durationMs: turn.durationMs ?? null,
      createdAt: created.createdAt,
    };
    return { turn: stored, inserted: true };
  }
  const existing = await getTurn(db, turn.episodeId, turn.idx);
  // Only reachable if the row was deleted between the two statements (episode removed).
  if (!existing) throw new Error(`turn ${turn.idx} of episode ${turn.episodeId} vanished during append`);
  return { turn: existing, inserted: false };
}

/**
 * appendTurn's one statement, built once per database handle and prepared by name on each pooled
 * connection: a turn pays neither drizzle's query building (~1 ms of worker CPU per append, bench
 * scale's profile) nor Postgres' parse and plan of the CTE. Its text never changes, so a
 * connection's prepared copy is always this statement.
 */
const appendStatements = new WeakMap<Db, ReturnType<typeof prepareAppend>>();

function appendStatement(db: Db): ReturnType<typeof prepareAppend> {
  let statement = appendStatements.get(db);
  if (!statement) appendStatements.set(db, (statement = prepareAppend(db)));
  return statement;
}

/** A jsonb placeholder's text: SQL NULL for null or undefined. */
const jsonOrNull = (value: unknown): string | null => (value === null || value === undefined ? null : JSON.stringify(value));

function prepareAppend(db: Db) {
  const p = <K extends string>(name: K) => sql.placeholder(name);
  const inserted = db.$with('inserted').as(
    db
      .insert(turns)
      .values({
        episodeId: p('episodeId'),
        idx: p('idx'),
        role: p('role'),
        text: p('text'),
        // jsonb given as text: a placeholder in a column's place would be encoded even when null
        // (JSON.stringify(null), a jsonb 'null' instead of SQL NULL).
        tokenIds: sql`${p('tokenIds')}::jsonb`,
        logprobs: sql`${p('logprobs')}::jsonb`,
        tokensRef: p('tokensRef'),
        promptTokens: p('promptTokens'),
        completionTokens: p('completionTokens'),
        formatError: p('formatError'),
        tool: p('tool'),
        command: p('command'),
        exitCode: p('exitCode'),
        outputTruncated: p('outputTruncated'),
        durationMs: p('durationMs'),
      })
      .onConflictDoNothing()
      .returning({ createdAt: turns.createdAt }),
  );
  const counters = db.$with('counters').as(
    db
      .update(episodes)
      .set({
        turnCount: sql`${episodes.turnCount} + ${p('turnInc')}::integer`,
        completionTokens: sql`${episodes.completionTokens} + ${p('completionInc')}::integer`,
        promptTokens: sql`greatest(${episodes.promptTokens}, ${p('promptSeen')}::integer)`,
        // Explicit: the column's $onUpdate value would be computed once, when the statement is
        // built, and every later append would write that same time.
        updatedAt: sql`now()`,
      })
      .where(and(eq(episodes.id, p('episodeId')), sql`exists (select 1 from ${inserted})`))
      .returning({ id: episodes.id }),
  );
  return db.with(inserted, counters).select().from(inserted).prepare('swerl_append_turn');
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
