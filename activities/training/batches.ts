/**
 * From scored episodes to the trainer's optimizer steps, by reference: the activities read the
 * episode rows, apply core/rl (advantages, dynamic sampling, batching) and hand back episode ids
 * and advantages per step — never trajectories. Also counts episodes into task_stats, once each.
 */
import { inArray } from 'drizzle-orm';
import { formBatches, iterationMetrics, rlSteps, type RlBatchShaping, selectTrainingSamples, type Group, type IterationMetrics } from '../../core/rl';
import type { Db } from '../../db/client';
import { episodes, type EpisodeExitReason } from '../../db/schema';
import { recordEpisodeOutcome } from '../../db/taskStats';
import { guarded } from './guard';

export interface StepBatch {
  step: number;
  episodeIds: string[];
  /** rl only: advantages[i] belongs to episodeIds[i]. */
  advantages: number[];
}

export interface RlBatchInput {
  runId: string;
  stage: string;
  iteration: number;
  /** One group per sampled problem: the G episodes of that draw. */
  groups: Array<{ taskId: string; episodeIds: string[] }>;
  shaping: RlBatchShaping;
  seed: number;
}

export interface RlBatchPlan {
  steps: StepBatch[];
  groupsTotal: number;
  groupsDropped: number;
  zeroAdvantageFraction: number;
  samplesKept: number;
  metrics: IterationMetrics;
}

export interface SftBatchPlan {
  steps: StepBatch[];
  kept: number;
  metrics: IterationMetrics;
}

export type EpisodeRow = typeof episodes.$inferSelect;

async function loadEpisodes(db: Db, ids: string[]): Promise<Map<string, EpisodeRow>> {
  if (ids.length === 0) return new Map();
  const rows = await db.select().from(episodes).where(inArray(episodes.id, ids));
  return new Map(rows.map((r) => [r.id, r]));
}

export function summaries(rows: EpisodeRow[]) {
  return rows.map((r) => ({
    reward: r.status === 'completed' ? r.reward : null,
    rewardFinal: r.rewardFinal,
    turns: r.turnCount,
    exitReason: (r.status === 'completed' ? r.exitReason : 'infra_failure') as EpisodeExitReason,
    infraFailures: r.infraFailures,
  }));
}

export function isScored(r: EpisodeRow | undefined): r is EpisodeRow & { reward: number; rewardFinal: number } {
  return r !== undefined && r.status === 'completed' && r.reward !== null && r.rewardFinal !== null;
}

export function createBatchActivities(db: Db) {
  return {
    /** task_stats += 1 attempt (and 1 solve if R = 1) per scored episode, exactly once each. */
    async recordEpisodeOutcomes(input: { stage: string; episodeIds: string[] }): Promise<{ counted: number; alreadyCounted: number }> {
      return guarded(`counting ${input.episodeIds.length} episodes of stage ${input.stage}`, async () => {
        const rows = await loadEpisodes(db, input.episodeIds);
        let counted = 0;
        let alreadyCounted = 0;
        for (const id of input.episodeIds) {
          const row = rows.get(id);
          if (!isScored(row)) continue; // unscored (infra) episodes are never attempts
          const r = await recordEpisodeOutcome(db, { episodeId: id, taskId: row.taskId, stage: input.stage, solved: row.reward >= 1 });
          if (r.counted) counted += 1;
          else alreadyCounted += 1;
        }
        return { counted, alreadyCounted };
      });
    },

    async buildRlBatch(input: RlBatchInput): Promise<RlBatchPlan> {
      return guarded(`building the batch of ${input.runId}/${input.stage}/${input.iteration}`, async () => {
        const rows = await loadEpisodes(db, input.groups.flatMap((g) => g.episodeIds));
        const groups: Array<Group<{ episodeId: string; rewardFinal: number; tokens: number }>> = [];
        for (const g of input.groups) {
          const samples = g.episodeIds
            .map((id) => rows.get(id))
            .filter(isScored)
            .map((r) => ({ episodeId: r.id, rewardFinal: r.rewardFinal, tokens: r.completionTokens }));
          if (samples.length > 0) groups.push({ taskId: g.taskId, samples });
        }
        const selected = selectTrainingSamples(groups, input.shaping);
        const steps = rlSteps(groups, selected.kept, input.shaping, input.seed);
        return {
          steps: steps.map((s) => ({ step: s.step, episodeIds: s.samples.map((x) => x.episodeId), advantages: s.samples.map((x) => x.advantage) })),
          groupsTotal: selected.groupsTotal,
          groupsDropped: selected.groupsDropped,
          zeroAdvantageFraction: selected.droppedFraction,
          samplesKept: selected.kept.length,
          metrics: iterationMetrics(summaries([...rows.values()])),
        };
      });
    },

    /** RFT: keep the successful trajectories (R = 1) and cut them into SFT steps. */
    async buildSftBatch(input: { episodeIds: string[]; batchSize: number; epochs: number; seed: number }): Promise<SftBatchPlan> {
      return guarded(`building the RFT batch of ${input.episodeIds.length} episodes`, async () => {
        const rows = await loadEpisodes(db, input.episodeIds);
        const kept = [...rows.values()].filter(isScored).filter((r) => r.reward >= 1);
        const steps = formBatches(
          kept.map((r) => ({ episodeId: r.id, tokens: r.completionTokens, advantage: 0 })),
          { batchSize: input.batchSize, epochs: input.epochs, seed: input.seed },
        );
        return {
          steps: steps.map((s) => ({ step: s.step, episodeIds: s.samples.map((x) => x.episodeId), advantages: [] })),
          kept: kept.length,
          metrics: iterationMetrics(summaries([...rows.values()])),
        };
      });
    },
  };
}
