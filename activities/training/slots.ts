/**
 * The sharded fan-out's activities (workflows/episodeShard.ts): an iteration's slots are planned
 * into `iteration_slots` once, shards load their slot range and record their outcomes, and the
 * batch and eval activities aggregate by key (run, stage, iteration) — never by id lists, so no
 * activity input or result grows with the number of episodes. The update steps a batch plan
 * forms go to `update_steps`, and the update segments load them one at a time.
 *
 * Every write is keyed and deterministic (a retry writes the same rows or finds them written), and
 * every episode is counted into task_stats once (task_stat_events, keyed by episode id).
 */
import { and, asc, eq, gte, lt, sql } from 'drizzle-orm';
import { ErrorCodes, RunError } from '../../core/errors';
import { groupSlots } from '../../core/fanout';
import { formBatches, iterationMetrics, rlSteps, type RlBatchShaping, sampleProblems, selectTrainingSamples, type Group } from '../../core/rl';
import type { Db } from '../../db/client';
import { getCurriculumSnapshot } from '../../db/curriculum';
import { episodes, iterationSlots, updateSteps } from '../../db/schema';
import { recordEpisodeOutcome } from '../../db/taskStats';
import { episodeId } from '../../workflows/episodeInput';
import type { RlBatchPlan, SftBatchPlan } from './batches';
import { isScored, summaries, type EpisodeRow } from './batches';
import { splitTaskIds } from './curriculum';
import { guarded } from './guard';
import { createRecordActivities, type EvalReport } from './records';

export interface IterationKey {
  runId: string;
  stage: string;
  iteration: number;
}

export type SlotSource =
  /** RL: `count` problem draws from the snapshot, G slots each (a task drawn twice gets disjoint sample indices). */
  | { kind: 'draws'; snapshotId: string; count: number; seed: number; groupSize: number }
  /** RFT: every task of the snapshot in sampled order, `perTask` rollouts each. */
  | { kind: 'snapshot'; snapshotId: string; count: number; seed: number; perTask: number }
  /** Eval: every task of a split (sorted), `perTask` runs each. */
  | { kind: 'split'; suite: string; split: string; perTask: number };

export interface ShardCounts {
  /** Slots of the range whose episode finished (completed or failed). */
  episodes: number;
  /** Of those, scored (completed with a reward). */
  scored: number;
  /** Scored with R = 1. */
  solved: number;
  /** task_stats: newly counted, and found already counted (a retry). */
  counted: number;
  alreadyCounted: number;
}

export type RlBatchSummary = Omit<RlBatchPlan, 'steps'> & { steps: number };
export type SftBatchSummary = Omit<SftBatchPlan, 'steps'> & { steps: number };

const INSERT_CHUNK = 1_000;

interface SlotRow {
  slot: number;
  groupIdx: number;
  taskId: string;
  sampleIdx: number;
}

function keyOf(k: IterationKey) {
  return and(eq(iterationSlots.runId, k.runId), eq(iterationSlots.stage, k.stage), eq(iterationSlots.iteration, k.iteration));
}

async function slotRowsOf(db: Db, source: SlotSource, iteration: number): Promise<SlotRow[]> {
  if (source.kind === 'draws') {
    const snapshot = await getCurriculumSnapshot(db, source.snapshotId);
    const problems = sampleProblems(snapshot.taskIds, source.count, source.seed, iteration);
    return groupSlots(problems, source.groupSize).flatMap((g, groupIdx) => g.slots.map((s) => ({ ...s, groupIdx }))).map((s, slot) => ({ ...s, slot }));
  }
  const taskIds =
    source.kind === 'snapshot'
      ? sampleProblems((await getCurriculumSnapshot(db, source.snapshotId)).taskIds, source.count, source.seed, iteration)
      : await splitTaskIds(db, source.suite, source.split);
  return taskIds
    .flatMap((taskId, groupIdx) => Array.from({ length: source.perTask }, (_, sampleIdx) => ({ taskId, sampleIdx, groupIdx })))
    .map((s, slot) => ({ ...s, slot }));
}

/** The slots with their episodes' rows, in slot order (only the columns the aggregates read). */
async function slotEpisodes(db: Db, key: IterationKey, range?: { from: number; to: number }) {
  const rows = await db
    .select({ slot: iterationSlots.slot, groupIdx: iterationSlots.groupIdx, taskId: iterationSlots.taskId, episodeId: iterationSlots.episodeId, episode: episodes })
    .from(iterationSlots)
    .leftJoin(episodes, eq(episodes.id, iterationSlots.episodeId))
    .where(and(keyOf(key), ...(range ? [gte(iterationSlots.slot, range.from), lt(iterationSlots.slot, range.to)] : [])))
    .orderBy(asc(iterationSlots.slot));
  return rows.map((r) => {
    if (!r.episode) {
      throw new RunError(ErrorCodes.EPISODE_NOT_FOUND, `slot ${r.slot} of ${key.runId}/${key.stage}/${key.iteration}: episode ${r.episodeId} not found`, { episodeId: r.episodeId });
    }
    return { ...r, episode: r.episode as EpisodeRow };
  });
}

export function createSlotActivities(db: Db) {
  const records = createRecordActivities(db);
  return {
    /** Writes the iteration's slots (idempotent: deterministic rows, insert-if-missing); returns their count. */
    async planSlots(input: IterationKey & { source: SlotSource }): Promise<{ slots: number }> {
      return guarded(`planning the slots of ${input.runId}/${input.stage}/${input.iteration}`, async () => {
        const rows = await slotRowsOf(db, input.source, input.iteration);
        for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
          await db
            .insert(iterationSlots)
            .values(
              rows.slice(i, i + INSERT_CHUNK).map((r) => ({
                runId: input.runId,
                stage: input.stage,
                iteration: input.iteration,
                ...r,
                episodeId: episodeId({ runId: input.runId, stage: input.stage, iteration: input.iteration, taskId: r.taskId, sampleIdx: r.sampleIdx }),
              })),
            )
            .onConflictDoNothing();
        }
        return { slots: rows.length };
      });
    },

    /** One shard's slots, in slot order (at most the leaf size). */
    async loadSlots(input: IterationKey & { from: number; to: number }): Promise<Array<{ taskId: string; sampleIdx: number }>> {
      return guarded(`loading slots [${input.from}, ${input.to}) of ${input.runId}/${input.stage}/${input.iteration}`, async () => {
        const rows = await db
          .select({ taskId: iterationSlots.taskId, sampleIdx: iterationSlots.sampleIdx })
          .from(iterationSlots)
          .where(and(keyOf(input), gte(iterationSlots.slot, input.from), lt(iterationSlots.slot, input.to)))
          .orderBy(asc(iterationSlots.slot));
        if (rows.length !== input.to - input.from) {
          throw new RunError(ErrorCodes.RUN_STATE_INVALID, `slots [${input.from}, ${input.to}) of ${input.runId}/${input.stage}/${input.iteration}: ${rows.length} planned`, { ...input });
        }
        return rows;
      });
    },

    /**
     * A leaf shard's outcomes, after all its episodes ended: each slot's outcome is stored and each
     * scored episode counted into task_stats once (training stages only). Returns counts only.
     */
    async recordShardOutcomes(input: IterationKey & { from: number; to: number; countTaskStats: boolean }): Promise<ShardCounts> {
      return guarded(`recording the outcomes of slots [${input.from}, ${input.to}) of ${input.runId}/${input.stage}/${input.iteration}`, async () => {
        const rows = await slotEpisodes(db, input, input);
        const counts: ShardCounts = { episodes: 0, scored: 0, solved: 0, counted: 0, alreadyCounted: 0 };
        for (const r of rows) {
          const e = r.episode;
          if (e.status !== 'completed' && e.status !== 'failed') {
            throw new RunError(ErrorCodes.EPISODE_STATE_INVALID, `episode ${e.id} is ${e.status} after its workflow ended`, { episodeId: e.id });
          }
          counts.episodes += 1;
          if (!isScored(e)) continue; // unscored (infra) episodes are never attempts
          counts.scored += 1;
          if (e.reward >= 1) counts.solved += 1;
          if (!input.countTaskStats) continue;
          const c = await recordEpisodeOutcome(db, { episodeId: e.id, taskId: e.taskId, stage: input.stage, solved: e.reward >= 1 });
          if (c.counted) counts.counted += 1;
          else counts.alreadyCounted += 1;
        }
        await db.execute(sql`
          update iteration_slots s
             set outcome = jsonb_build_object('status', e.status, 'reward', e.reward, 'scored', e.status = 'completed' and e.reward is not null)
            from episodes e
           where e.id = s.episode_id and s.run_id = ${input.runId} and s.stage = ${input.stage} and s.iteration = ${input.iteration}
             and s.slot >= ${input.from} and s.slot < ${input.to}`);
        return counts;
      });
    },

    /** buildRlBatch by key: the groups are the slots' draws, in slot order; the steps go to update_steps. */
    async buildRlBatchByKey(input: IterationKey & { shaping: RlBatchShaping; seed: number }): Promise<RlBatchSummary> {
      return guarded(`building the batch of ${input.runId}/${input.stage}/${input.iteration}`, async () => {
        const rows = await slotEpisodes(db, input);
        const byGroup = new Map<number, { taskId: string; samples: Array<{ episodeId: string; rewardFinal: number; tokens: number }> }>();
        for (const r of rows) {
          const g = byGroup.get(r.groupIdx) ?? { taskId: r.taskId, samples: [] };
          byGroup.set(r.groupIdx, g);
          if (isScored(r.episode)) g.samples.push({ episodeId: r.episode.id, rewardFinal: r.episode.rewardFinal, tokens: r.episode.completionTokens });
        }
        const groups: Array<Group<{ episodeId: string; rewardFinal: number; tokens: number }>> = [...byGroup.values()].filter((g) => g.samples.length > 0);
        const selected = selectTrainingSamples(groups, input.shaping);
        const steps = rlSteps(groups, selected.kept, input.shaping, input.seed);
        await storeSteps(db, input, steps.map((s) => ({ step: s.step, episodeIds: s.samples.map((x) => x.episodeId), advantages: s.samples.map((x) => x.advantage) })));
        return {
          steps: steps.length,
          groupsTotal: selected.groupsTotal,
          groupsDropped: selected.groupsDropped,
          zeroAdvantageFraction: selected.droppedFraction,
          samplesKept: selected.kept.length,
          metrics: iterationMetrics(summaries(rows.map((r) => r.episode))),
        };
      });
    },

    /** buildSftBatch by key: the successful trajectories (R = 1) in slot order, cut into steps stored in update_steps. */
    async buildSftBatchByKey(input: IterationKey & { batchSize: number; epochs: number; seed: number }): Promise<SftBatchSummary> {
      return guarded(`building the RFT batch of ${input.runId}/${input.stage}/${input.iteration}`, async () => {
        const rows = (await slotEpisodes(db, input)).map((r) => r.episode);
        const kept = rows.filter(isScored).filter((r) => r.reward >= 1);
        const steps = formBatches(
          kept.map((r) => ({ episodeId: r.id, tokens: r.completionTokens, advantage: 0 })),
          { batchSize: input.batchSize, epochs: input.epochs, seed: input.seed },
        );
        await storeSteps(db, input, steps.map((s) => ({ step: s.step, episodeIds: s.samples.map((x) => x.episodeId), advantages: [] })));
        return { steps: steps.length, kept: kept.length, metrics: iterationMetrics(summaries(rows)) };
      });
    },

    /** One optimizer step of a stored plan (at most batchSize episodes). */
    async loadUpdateStep(input: IterationKey & { step: number }): Promise<{ episodeIds: string[]; advantages: number[] }> {
      return guarded(`loading update step ${input.step} of ${input.runId}/${input.stage}/${input.iteration}`, async () => {
        const [row] = await db
          .select({ episodeIds: updateSteps.episodeIds, advantages: updateSteps.advantages })
          .from(updateSteps)
          .where(and(eq(updateSteps.runId, input.runId), eq(updateSteps.stage, input.stage), eq(updateSteps.iteration, input.iteration), eq(updateSteps.step, input.step)));
        if (!row) throw new RunError(ErrorCodes.RUN_STATE_INVALID, `update step ${input.step} of ${input.runId}/${input.stage}/${input.iteration} was never planned`, { ...input });
        return row;
      });
    },

    /** recordEvalReport by key: run r of task t is the slot's sample index; solved iff R ≥ 1. */
    async recordEvalReportByKey(input: IterationKey & { evalId: string; checkpointId: string; split: string; k: number }): Promise<EvalReport> {
      const rows = await guarded(`reading the eval episodes of ${input.runId}/${input.stage}`, () => slotEpisodes(db, input));
      return records.recordEvalReport({
        evalId: input.evalId,
        runId: input.runId,
        stage: input.stage,
        iteration: null,
        checkpointId: input.checkpointId,
        split: input.split,
        k: input.k,
        results: rows.map((r) => ({ taskId: r.taskId, run: r.episode.sampleIdx, solved: (r.episode.reward ?? 0) >= 1 })),
      });
    },
  };
}

/** The plan is deterministic, so a retry finds the same steps: insert-if-missing. */
async function storeSteps(db: Db, key: IterationKey, steps: Array<{ step: number; episodeIds: string[]; advantages: number[] }>): Promise<void> {
  for (let i = 0; i < steps.length; i += INSERT_CHUNK) {
    await db
      .insert(updateSteps)
      .values(steps.slice(i, i + INSERT_CHUNK).map((s) => ({ runId: key.runId, stage: key.stage, iteration: key.iteration, ...s })))
      .onConflictDoNothing();
  }
}
