/**
 * Curriculum activities: build a stage's pool as an immutable snapshot row (the workflow keeps
 * only its id) and draw an iteration's problems from it. The rule itself is core/rl's.
 */
import { and, asc, eq } from 'drizzle-orm';
import type { RlStageConfig } from '../../core/config';
import { ErrorCodes, RunError } from '../../core/errors';
import { applyCurriculumRule, sampleProblems, statsForPool, type DropReason } from '../../core/rl';
import type { Db } from '../../db/client';
import { createCurriculumSnapshot, getCurriculumSnapshot } from '../../db/curriculum';
import { stages, tasks } from '../../db/schema';
import { getTaskStats } from '../../db/taskStats';
import { suiteNameOf } from '../tasks';
import { guarded } from './guard';

export interface PrepareCurriculumInput {
  runId: string;
  stage: string;
  /** config.tasks.suite: a JSONL path or suite name. */
  suite: string;
  split: string;
  /** Absent for RFT and eval: every task of the split. */
  rule?: RlStageConfig['curriculum'];
}

export interface PreparedCurriculum {
  snapshotId: string;
  taskCount: number;
  dropped: Partial<Record<DropReason, number>>;
}

export async function splitTaskIds(db: Db, suite: string, split: string): Promise<string[]> {
  const rows = await db
    .select({ id: tasks.id })
    .from(tasks)
    .where(and(eq(tasks.suite, suiteNameOf(suite)), eq(tasks.split, split)))
    .orderBy(asc(tasks.id));
  return rows.map((r) => r.id);
}

export function createCurriculumActivities(db: Db) {
  return {
    /** Idempotent: the snapshot id is (run, stage, v1), and a retry finds the stored row. */
    async prepareCurriculum(input: PrepareCurriculumInput): Promise<PreparedCurriculum> {
      return guarded(`preparing the curriculum of ${input.runId}/${input.stage}`, async () => {
        const pool = await splitTaskIds(db, input.suite, input.split);
        const rule = input.rule ?? { rule: 'all' as const, dropSolvedAtLeast: 2 / 3, dropNeverSolved: true, fromStages: [] };
        const stats = rule.rule === 'all' ? [] : await getTaskStats(db, input.runId, rule.fromStages);
        const result = applyCurriculumRule(rule, statsForPool(pool, stats));
        if (result.kept.length === 0) {
          throw new RunError(
            ErrorCodes.RUN_STATE_INVALID,
            `curriculum of stage ${input.stage} (run ${input.runId}) is empty: ${pool.length} task(s) in split ${input.split} of ${input.suite}, ${result.dropped.length} dropped by rule ${rule.rule}`,
            { runId: input.runId, stage: input.stage, pool: pool.length, dropped: result.dropped.length },
          );
        }
        const dropped: Partial<Record<DropReason, number>> = {};
        for (const d of result.dropped) dropped[d.reason] = (dropped[d.reason] ?? 0) + 1;
        const { snapshot } = await createCurriculumSnapshot(db, {
          id: `${input.runId}/${input.stage}/v1`,
          runId: input.runId,
          stage: input.stage,
          version: 1,
          rule: rule.rule,
          params: { ...rule, split: input.split, pool: pool.length, dropped },
          taskIds: result.kept,
        });
        await db
          .update(stages)
          .set({ curriculumSnapshotId: snapshot.id })
          .where(and(eq(stages.runId, input.runId), eq(stages.name, input.stage)));
        return { snapshotId: snapshot.id, taskCount: snapshot.taskCount, dropped };
      });
    },

    /** P problems of one iteration: deterministic in (snapshot, seed, iteration). */
    async sampleIterationProblems(input: { snapshotId: string; count: number; seed: number; iteration: number }): Promise<string[]> {
      return guarded(`sampling problems from ${input.snapshotId}`, async () => {
        const snapshot = await getCurriculumSnapshot(db, input.snapshotId);
        return sampleProblems(snapshot.taskIds, input.count, input.seed, input.iteration);
      });
    },

    /** All task ids of a split (eval). Small for real eval splits (hundreds of ids). */
    async listSplitTasks(input: { suite: string; split: string }): Promise<string[]> {
      return guarded(`listing ${input.split} tasks of ${input.suite}`, () => splitTaskIds(db, input.suite, input.split));
    },
  };
}
