/**
 * Curriculum rules: which tasks a stage trains on, from the attempts/solves earlier stages
 * recorded (task_stats). PAPER.md: the stage-2 pool (2,028 of 7,249 tasks) drops tasks solved
 * ≥ 2/3 of the time across all stage-1 iterations and tasks never solved — both make groups with
 * (nearly) equal rewards, i.e. zero advantage, so they cost rollouts and teach nothing.
 */
import type { RlStageConfig } from '../config';
import { compareIds, invalidInput, requireInt, requireUniqueIds } from './inputs';

export interface TaskStat {
  taskId: string;
  attempts: number;
  solves: number;
}

export interface CurriculumRule {
  /** Drop tasks with solves / attempts ≥ this (paper: 2/3). */
  dropSolvedAtLeast: number;
  /** Drop tasks with no solve (paper: true). */
  dropNeverSolved: boolean;
}

export type DropReason = 'too_easy' | 'never_solved' | 'no_attempts';

export interface CurriculumResult {
  /** Task ids that stay in the pool, sorted. */
  kept: string[];
  /** Sorted by task id. */
  dropped: Array<{ taskId: string; reason: DropReason }>;
}

/**
 * Sums attempts and solves per task over the rows of the source stages (the paper's "across all
 * stage-1 iterations"; several stages when `fromStages` names several) and gives every pool task a
 * row, with zeros if it was never attempted. Rows of tasks outside the pool are ignored: the pool
 * (e.g. minus quarantined tasks) is the universe the rule chooses from.
 */
export function statsForPool(pool: readonly string[], rows: readonly TaskStat[]): TaskStat[] {
  requireUniqueIds('task id', pool);
  const totals = new Map<string, TaskStat>(pool.map((taskId) => [taskId, { taskId, attempts: 0, solves: 0 }]));
  for (const row of rows) {
    validateStat(row);
    const total = totals.get(row.taskId);
    if (!total) continue;
    total.attempts += row.attempts;
    total.solves += row.solves;
  }
  return [...totals.values()].sort((a, b) => compareIds(a.taskId, b.taskId));
}

function validateStat(s: TaskStat): void {
  requireInt(`attempts of task ${s.taskId}`, s.attempts, 0);
  requireInt(`solves of task ${s.taskId}`, s.solves, 0);
  if (s.solves > s.attempts) {
    throw invalidInput(`task ${s.taskId} has ${s.solves} solves but only ${s.attempts} attempts`, { ...s });
  }
}

/**
 * The paper's stage-2 rule. Precedence: never solved before too easy, so a threshold of 0 cannot
 * relabel unsolved tasks. Boundary: exactly 2 of 3 (or 20 of 30) solves is ≥ 2/3 and is dropped.
 *
 * Tasks never attempted (attempts = 0: stage 1 sampled 300 problems per iteration and may never
 * have drawn them) are literally "never solved", so they go with `dropNeverSolved`, under their
 * own reason `no_attempts` so the status shows how much of the pool stage 1 never covered. We
 * drop rather than keep them because stage 1 is the only evidence of difficulty: the paper's
 * pool is the tasks known to be in the learnable band, and most of the unknown ones were not
 * (72% of the tasks were dropped). Pass the whole pool, with zero rows, via statsForPool.
 */
export function filterStage2(stats: readonly TaskStat[], rule: CurriculumRule): CurriculumResult {
  if (!Number.isFinite(rule.dropSolvedAtLeast) || rule.dropSolvedAtLeast < 0 || rule.dropSolvedAtLeast > 1) {
    throw invalidInput(`dropSolvedAtLeast must be in [0, 1], got ${rule.dropSolvedAtLeast}`, { dropSolvedAtLeast: rule.dropSolvedAtLeast });
  }
  requireUniqueIds('task id', stats.map((s) => s.taskId));
  const kept: string[] = [];
  const dropped: CurriculumResult['dropped'] = [];
  for (const s of [...stats].sort((a, b) => compareIds(a.taskId, b.taskId))) {
    validateStat(s);
    const reason = dropReason(s, rule);
    if (reason) dropped.push({ taskId: s.taskId, reason });
    else kept.push(s.taskId);
  }
  return { kept, dropped };
}

function dropReason(s: TaskStat, rule: CurriculumRule): DropReason | undefined {
  if (s.solves === 0) {
    if (!rule.dropNeverSolved) return undefined;
    return s.attempts === 0 ? 'no_attempts' : 'never_solved';
  }
  // solves > 0 implies attempts > 0. IEEE division is correctly rounded, so equal rationals give
  // the same double (20/30 === 4/6 === 2/3): the boundary is exact for the configured 2/3.
  return s.solves / s.attempts >= rule.dropSolvedAtLeast ? 'too_easy' : undefined;
}

/**
 * Dispatch on the stage's `curriculum.rule`: 'all' keeps every task of `stats` (the pool) and
 * reads no counts; 'drop-easy-and-unsolved' is filterStage2 with the stage's thresholds.
 */
export function applyCurriculumRule(rule: RlStageConfig['curriculum'], stats: readonly TaskStat[]): CurriculumResult {
  switch (rule.rule) {
    case 'all': {
      requireUniqueIds('task id', stats.map((s) => s.taskId));
      return { kept: stats.map((s) => s.taskId).sort(compareIds), dropped: [] };
    }
    case 'drop-easy-and-unsolved':
      return filterStage2(stats, { dropSolvedAtLeast: rule.dropSolvedAtLeast, dropNeverSolved: rule.dropNeverSolved });
    default: {
      const unknown: never = rule.rule;
      throw invalidInput(`unknown curriculum rule "${String(unknown)}"`, { rule: unknown });
    }
  }
}
