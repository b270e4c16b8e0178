/**
 * Operators' actions on stored episodes (rescore, fork): the audit row each one's workflow writes,
 * and the checks that decide whether an action applies. The requester (CLI, dashboard) runs the
 * same checks before it starts the workflow, and the workflow's first activity runs them again,
 * so both front ends refuse the same requests with the same codes.
 */
import { and, asc, eq, inArray, or, sql } from 'drizzle-orm';
import { ErrorCodes, RunError } from '../core/errors';
import { assistantIdx, observationIdx } from '../core/transcript';
import { getCheckpoint } from './checkpoints';
import type { Db } from './client';
import { getEpisode, type Episode } from './episodes';
import { episodeOperations, type EpisodeOperationKind } from './schema';
import { storableJson } from './text';
import { listTurns, type Turn } from './turns';

export type EpisodeOperation = typeof episodeOperations.$inferSelect;

export interface NewEpisodeOperation {
  id: string;
  kind: EpisodeOperationKind;
  episodeId: string;
  workflowId: string;
  actor: string;
  reason: string;
  atTurn?: number;
  policyVersion?: string;
}

/** Records the operation once (keyed by its id): a retried activity or a repeated request gets the stored row. */
export async function recordEpisodeOperation(db: Db, op: NewEpisodeOperation): Promise<EpisodeOperation> {
  const [created] = await db.insert(episodeOperations).values(op).onConflictDoNothing().returning();
  return created ?? getEpisodeOperation(db, op.id);
}

export async function getEpisodeOperation(db: Db, id: string): Promise<EpisodeOperation> {
  const op = await db.query.episodeOperations.findFirst({ where: eq(episodeOperations.id, id) });
  if (!op) throw new RunError(ErrorCodes.EPISODE_NOT_FOUND, `no episode operation "${id}"`, { operationId: id });
  return op;
}

/** The operations on an episode, and the fork that produced it (when it is one), oldest first. */
export async function listEpisodeOperations(db: Db, episodeId: string): Promise<EpisodeOperation[]> {
  return db.query.episodeOperations.findMany({
    where: or(eq(episodeOperations.episodeId, episodeId), eq(episodeOperations.resultEpisodeId, episodeId)),
    orderBy: asc(episodeOperations.createdAt),
  });
}

/** Counts one run of the grader before it starts: a retried rescore shows as 2, never as 1. */
export async function countGraderRun(db: Db, id: string): Promise<void> {
  await db.update(episodeOperations).set({ graderRuns: sql`${episodeOperations.graderRuns} + 1` }).where(eq(episodeOperations.id, id));
}

/** Finishes a running operation; the first outcome stays (a retry cannot overwrite it). */
export async function finishEpisodeOperation(
  db: Db,
  id: string,
  outcome: { status: 'completed'; reward?: number; result?: Record<string, unknown>; resultEpisodeId?: string } | { status: 'failed'; errorCode: string; error: string },
): Promise<EpisodeOperation> {
  const values = outcome.status === 'completed' && outcome.result ? { ...outcome, result: storableJson(outcome.result) } : outcome;
  const [row] = await db
    .update(episodeOperations)
    .set({ ...values, finishedAt: sql`now()` })
    .where(and(eq(episodeOperations.id, id), inArray(episodeOperations.status, ['running'])))
    .returning();
  return row ?? getEpisodeOperation(db, id);
}

/** Records which episode a fork created (before it runs, so the page can link it while it does). */
export async function setForkEpisode(db: Db, id: string, resultEpisodeId: string): Promise<void> {
  await db.update(episodeOperations).set({ resultEpisodeId }).where(eq(episodeOperations.id, id));
}

function invalid(message: string, details: Record<string, unknown>): RunError {
  return new RunError(ErrorCodes.EPISODE_OPERATION_INVALID, message, details);
}

/** A rescore grades the stored patch: an episode that never stored one (still running, lost its sandbox) has nothing to grade. */
export async function checkRescorable(db: Db, episodeId: string): Promise<Episode> {
  const episode = await getEpisode(db, episodeId);
  if (episode.patch === null) {
    throw invalid(`episode ${episodeId} has no stored patch to rescore (status ${episode.status}${episode.exitReason ? `, exit ${episode.exitReason}` : ''})`, { episodeId, status: episode.status });
  }
  return episode;
}

/**
 * A fork at agent turn k copies turns 0..k-1 (each with its action and its observation) and lets
 * the new policy act from turn k: k must leave at least one turn to act (k < the episode's
 * max turns), every copied turn must be stored in full, and none of them may be a submit (the
 * copy would end before the new policy acts).
 */
export async function checkForkable(db: Db, episodeId: string, atTurn: number): Promise<{ source: Episode; copied: Turn[] }> {
  const source = await getEpisode(db, episodeId);
  if (!Number.isInteger(atTurn) || atTurn < 0) throw invalid(`fork turn must be a whole number ≥ 0, got ${atTurn}`, { episodeId, atTurn });
  if (atTurn >= source.maxTurns) throw invalid(`episode ${episodeId} allows ${source.maxTurns} turns: a fork at turn ${atTurn} leaves none to the new policy`, { episodeId, atTurn, maxTurns: source.maxTurns });
  if (!source.spec) throw invalid(`episode ${episodeId} has no stored spec to fork from`, { episodeId });
  const turns = await listTurns(db, episodeId);
  const copied = turns.filter((t) => t.idx < assistantIdx(atTurn));
  const have = new Set(copied.map((t) => t.idx));
  let complete = 0;
  while (have.has(assistantIdx(complete)) && have.has(observationIdx(complete))) complete++;
  if (complete < atTurn) throw invalid(`episode ${episodeId} has ${complete} complete turns: it cannot be forked at turn ${atTurn}`, { episodeId, atTurn, completeTurns: complete });
  const submit = copied.find((t) => t.role === 'assistant' && t.tool === 'submit');
  if (submit) throw invalid(`episode ${episodeId} submitted at turn ${(submit.idx - 2) / 2}: fork before it (at most turn ${(submit.idx - 2) / 2})`, { episodeId, atTurn });
  return { source, copied };
}

export type EpisodeOperationRequest =
  | { kind: 'rescore'; episodeId: string }
  /** `loadPolicy`: the policy version is a registered checkpoint the trainer's server loads first. */
  | { kind: 'fork'; episodeId: string; atTurn: number; policyVersion: string; loadPolicy: boolean };

/**
 * Whether the operation applies (the one check both front ends and the workflow run): the episode
 * exists (SWERL_EPISODE_NOT_FOUND), has what the operation needs (SWERL_EPISODE_OPERATION_INVALID),
 * and a checkpoint to load is registered (SWERL_CHECKPOINT_NOT_FOUND).
 */
export async function checkEpisodeOperation(db: Db, req: EpisodeOperationRequest): Promise<void> {
  if (req.kind === 'rescore') {
    await checkRescorable(db, req.episodeId);
    return;
  }
  if (!req.policyVersion.trim()) throw invalid('a fork needs the policy version its new turns come from', { episodeId: req.episodeId });
  await checkForkable(db, req.episodeId, req.atTurn);
  if (req.loadPolicy) await getCheckpoint(db, req.policyVersion);
}
