/**
 * What the dashboard reads from Postgres: the runs list, a run's curves (per iteration, from the
 * iterations' recorded reports and their episodes), its evals, stage boundaries and promotions, and
 * episodes with their turns and reward provenance. Read-only; every query is bounded.
 */
import { and, asc, desc, eq, gte, lte, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client';
import { listEpisodeOperations } from '../db/episodeOperations';
import { getEpisode } from '../db/episodes';
import { evalFigures, listEvals } from '../db/evals';
import { listPromotions } from '../db/promotions';
import { getRewardResult } from '../db/rewards';
import { listTurns } from '../db/turns';
import { episodes, runs, stages } from '../db/schema';

const MAX_RUNS = 200;
export const MAX_EPISODES = 500;

export interface RunRow {
  id: string;
  name: string;
  workflowId: string;
  status: string;
  currentStage: string | null;
  currentCheckpointId: string | null;
  createdAt: string;
  updatedAt: string;
  episodes: number;
  infraFailures: number;
}

export async function listRuns(db: Db): Promise<RunRow[]> {
  const { rows } = await db.execute<Record<string, unknown>>(sql`
    select r.id, r.name, r.workflow_id, r.status, r.current_stage, r.current_checkpoint_id, r.created_at, r.updated_at,
      coalesce(e.n, 0)::int as episodes, coalesce(e.infra, 0)::int as infra_failures
    from runs r
    left join (select run_id, count(*) as n, sum(infra_failures) as infra from episodes group by run_id) e on e.run_id = r.id
    order by r.created_at desc limit ${MAX_RUNS}`);
  return rows.map((r) => ({
    id: String(r.id),
    name: String(r.name),
    workflowId: String(r.workflow_id),
    status: String(r.status),
    currentStage: (r.current_stage as string | null) ?? null,
    currentCheckpointId: (r.current_checkpoint_id as string | null) ?? null,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
    episodes: Number(r.episodes),
    infraFailures: Number(r.infra_failures),
  }));
}

function iso(x: unknown): string {
  return x instanceof Date ? x.toISOString() : new Date(String(x)).toISOString();
}

const num = (x: unknown): number | null => (x === null || x === undefined ? null : Number(x));

/** One point of a run's training curves: an iteration (RFT stages have one). */
export interface CurvePoint {
  /** Position on the x axis: iterations of all stages in run order. */
  x: number;
  stage: string;
  iteration: number;
  status: string;
  policyVersion: string;
  finishedAt: string | null;
  /** From the episodes finished so far (live while the iteration rolls out). */
  episodesFinished: number;
  rewardMean: number | null;
  solvedFraction: number | null;
  turnsPerEpisode: number | null;
  tokensPerEpisode: number | null;
  infraFailures: number;
  /** From the iteration's recorded report (null until the iteration finished). */
  zeroAdvantageFraction: number | null;
  clipFraction: number | null;
  trainerTokensPerSec: number | null;
}

export interface RunCurves {
  points: CurvePoint[];
  /** x of the first point of each stage after the first. */
  stageBoundaries: Array<{ x: number; stage: string }>;
  /** evalFigures without the per-task counts (the report's business, and large on a big split). */
  evals: Array<Omit<ReturnType<typeof evalFigures>, 'perTask'> & { x: number; evalId: string; stage: string; createdAt: string }>;
  promotions: Array<{ x: number; fromStage: string; toStage: string; checkpointId: string; actor: string; reason: string; forced: boolean; createdAt: string }>;
}

export async function runCurves(db: Db, runId: string): Promise<RunCurves> {
  const { rows } = await db.execute<Record<string, unknown>>(sql`
    select i.stage, i.idx, i.status, i.policy_version, i.finished_at, i.metrics, s.idx as stage_idx,
      e.finished, e.reward_mean, e.solved, e.turns, e.tokens, coalesce(e.infra, 0)::int as infra
    from iterations i
    join stages s on s.run_id = i.run_id and s.name = i.stage
    left join (
      select stage, iteration, count(*) filter (where status in ('completed', 'failed'))::int as finished,
        avg(reward) as reward_mean, avg(case when reward >= 1 then 1.0 when reward is not null then 0.0 end) as solved,
        avg(turn_count) filter (where status = 'completed') as turns,
        avg(completion_tokens) filter (where status = 'completed') as tokens,
        sum(infra_failures) as infra
      from episodes where run_id = ${runId} group by stage, iteration
    ) e on e.stage = i.stage and e.iteration = i.idx
    where i.run_id = ${runId}
    order by s.idx, i.idx`);
  const points: CurvePoint[] = rows.map((r, x) => {
    const m = (r.metrics ?? {}) as Record<string, unknown>;
    return {
      x,
      stage: String(r.stage),
      iteration: Number(r.idx),
      status: String(r.status),
      policyVersion: String(r.policy_version),
      finishedAt: r.finished_at ? iso(r.finished_at) : null,
      episodesFinished: Number(r.finished ?? 0),
      rewardMean: num(r.reward_mean),
      solvedFraction: num(r.solved),
      turnsPerEpisode: num(r.turns),
      tokensPerEpisode: num(r.tokens),
      infraFailures: Number(r.infra),
      zeroAdvantageFraction: num(m.zeroAdvantageFraction),
      clipFraction: num(m.clipFraction),
      trainerTokensPerSec: num(m.trainerTokensPerSec),
    };
  });
  const stageBoundaries = points.filter((p, i) => i > 0 && points[i - 1]!.stage !== p.stage).map((p) => ({ x: p.x, stage: p.stage }));
  const lastX = points.length ? points[points.length - 1]!.x : 0;
  // An eval or a promotion sits at the last iteration finished before it.
  const xAt = (when: Date): number => {
    let x = 0;
    for (const p of points) if (p.finishedAt && new Date(p.finishedAt) <= when) x = p.x;
    return Math.min(x, lastX);
  };
  const evalRows = await listEvals(db, runId);
  const promotionRows = await listPromotions(db, runId);
  return {
    points,
    stageBoundaries,
    evals: evalRows.map((e) => {
      const { perTask: _perTask, ...figures } = evalFigures(e);
      return { ...figures, x: xAt(e.createdAt), evalId: e.id, stage: e.stage, createdAt: e.createdAt.toISOString() };
    }),
    promotions: promotionRows.map((p) => ({
      x: xAt(p.createdAt),
      fromStage: p.fromStage,
      toStage: p.toStage,
      checkpointId: p.checkpointId,
      actor: p.actor,
      reason: p.reason,
      forced: p.forced,
      createdAt: p.createdAt.toISOString(),
    })),
  };
}

export async function runStages(db: Db, runId: string) {
  return db.select().from(stages).where(eq(stages.runId, runId)).orderBy(asc(stages.idx));
}

export async function getRunRow(db: Db, runId: string) {
  const [run] = await db.select().from(runs).where(eq(runs.id, runId));
  return run;
}

export interface EpisodeFilter {
  run?: string;
  stage?: string;
  iteration?: number;
  task?: string;
  minReward?: number;
  maxReward?: number;
  exitReason?: string;
  status?: string;
  limit?: number;
}

export async function listEpisodes(db: Db, f: EpisodeFilter) {
  const where: SQL[] = [];
  if (f.run) where.push(eq(episodes.runId, f.run));
  if (f.stage) where.push(eq(episodes.stage, f.stage));
  if (f.iteration !== undefined) where.push(eq(episodes.iteration, f.iteration));
  if (f.task) where.push(eq(episodes.taskId, f.task));
  if (f.minReward !== undefined) where.push(gte(episodes.reward, f.minReward));
  if (f.maxReward !== undefined) where.push(lte(episodes.reward, f.maxReward));
  if (f.exitReason) where.push(eq(episodes.exitReason, f.exitReason as NonNullable<typeof episodes.$inferSelect.exitReason>));
  if (f.status) where.push(eq(episodes.status, f.status as typeof episodes.$inferSelect.status));
  return db
    .select({
      id: episodes.id,
      runId: episodes.runId,
      stage: episodes.stage,
      iteration: episodes.iteration,
      taskId: episodes.taskId,
      sampleIdx: episodes.sampleIdx,
      status: episodes.status,
      exitReason: episodes.exitReason,
      reward: episodes.reward,
      rewardFinal: episodes.rewardFinal,
      turnCount: episodes.turnCount,
      completionTokens: episodes.completionTokens,
      infraFailures: episodes.infraFailures,
      policyVersion: episodes.policyVersion,
      finishedAt: episodes.finishedAt,
    })
    .from(episodes)
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(episodes.createdAt), asc(episodes.id))
    .limit(Math.min(f.limit ?? 200, MAX_EPISODES));
}

/**
 * An episode as the trajectory view shows it: turns in order, the reward's provenance, the patch,
 * and operators' rescores and forks of it (or the fork that made it).
 */
export async function episodeDetail(db: Db, episodeId: string) {
  const episode = await getEpisode(db, episodeId);
  const turns = await listTurns(db, episodeId);
  const reward = await getRewardResult(db, episodeId);
  const operations = await listEpisodeOperations(db, episodeId);
  return {
    episode,
    operations,
    turns: turns.map((t) => ({
      idx: t.idx,
      role: t.role,
      text: t.text,
      tool: t.tool,
      command: t.command,
      exitCode: t.exitCode,
      formatError: t.formatError,
      outputTruncated: t.outputTruncated,
      durationMs: t.durationMs,
      promptTokens: t.promptTokens,
      completionTokens: t.completionTokens,
      // Which tokens the trainer sees: the assistant turns' sampled ids (with their logprobs).
      trainedTokens: t.tokenIds?.length ?? (t.tokensRef ? null : 0),
      meanLogprob: t.logprobs?.length ? t.logprobs.reduce((a, b) => a + b, 0) / t.logprobs.length : null,
      createdAt: t.createdAt,
    })),
    reward: reward ?? null,
  };
}
