/**
 * Evaluation statistics (PAPER.md "Evaluation"): Pass@1 as mean ± SEM over k independent runs,
 * Pass@k with the unbiased estimator of Chen et al. (2021).
 */
import { compareIds, invalidInput, requireInt } from './inputs';

/**
 * Unbiased pass@k from n attempts of which c succeeded: 1 − C(n−c, k) / C(n, k).
 * Computed as 1 − Π_{i=n−c+1}^{n} (1 − k/i), the same ratio without the binomials (C(7249, 10)
 * overflows a double). When fewer than k attempts failed, every k-subset holds a success: 1.
 * Example: n = 10, c = 3, k = 1 → 1 − (7/8)(8/9)(9/10) = 1 − 7/10 = 0.3.
 */
export function passAtK(n: number, c: number, k: number): number {
  requireInt('n', n, 1);
  requireInt('c', c, 0);
  requireInt('k', k, 1);
  if (c > n) throw invalidInput(`c (${c} successes) exceeds n (${n} attempts)`, { n, c });
  if (k > n) throw invalidInput(`k (${k}) exceeds n (${n} attempts): pass@k needs at least k attempts`, { n, k });
  if (n - c < k) return 1;
  let allFail = 1;
  for (let i = n - c + 1; i <= n; i++) allFail *= 1 - k / i;
  return 1 - allFail;
}

export interface MeanSem {
  mean: number;
  /**
   * s / sqrt(k) with s the sample standard deviation (divisor k − 1). null for a single run:
   * one run says nothing about run-to-run spread, and 0 would claim a certainty we do not have.
   */
  sem: number | null;
  runs: number;
}

/** Pass@1 over k independent runs, each given as its pass rate (solved / tasks). */
export function pass1MeanSem(perRunPassRates: readonly number[]): MeanSem {
  const k = perRunPassRates.length;
  if (k === 0) throw invalidInput('pass@1 needs at least one run');
  perRunPassRates.forEach((p, i) => {
    if (!Number.isFinite(p) || p < 0 || p > 1) throw invalidInput(`pass rate of run ${i} must be in [0, 1], got ${p}`, { run: i, rate: p });
  });
  const mean = perRunPassRates.reduce((a, p) => a + p, 0) / k;
  if (k === 1) return { mean, sem: null, runs: 1 };
  const variance = perRunPassRates.reduce((a, p) => a + (p - mean) ** 2, 0) / (k - 1);
  return { mean, sem: Math.sqrt(variance / k), runs: k };
}

export interface EvalResult {
  taskId: string;
  /** 0-based index of the independent run. */
  run: number;
  solved: boolean;
}

export interface TaskEval {
  taskId: string;
  attempts: number;
  solves: number;
  passAtK: number;
}

export interface EvalSummary {
  pass1: number;
  sem: number | null;
  /** Mean over tasks of the unbiased pass@k. */
  passAtK: number;
  k: number;
  runs: number;
  tasks: number;
  /** One entry per task, sorted by task id. */
  perTask: TaskEval[];
}

/**
 * Summarises an evaluation: results must form a complete grid, every task exactly once in every
 * run. A missing cell (an episode lost to infra) would make the per-run pass rates incomparable,
 * and infra failures are never scored as 0, so an incomplete grid is an error naming the cells
 * rather than a silently biased number. Pass@1 per run = solved / tasks; pass@k is averaged over
 * tasks with n = runs (paper: k = 10 runs, so pass@10 = fraction of tasks solved at least once).
 */
export function evalSummary(results: readonly EvalResult[], k: number): EvalSummary {
  requireInt('k', k, 1);
  if (results.length === 0) throw invalidInput('an evaluation needs at least one result');
  const runIds = new Set<number>();
  const byTask = new Map<string, Map<number, boolean>>();
  for (const r of results) {
    requireInt(`run of task ${r.taskId}`, r.run, 0);
    runIds.add(r.run);
    const cells = byTask.get(r.taskId) ?? new Map<number, boolean>();
    if (cells.has(r.run)) throw invalidInput(`task ${r.taskId} has two results in run ${r.run}`, { taskId: r.taskId, run: r.run });
    cells.set(r.run, r.solved);
    byTask.set(r.taskId, cells);
  }
  const runs = [...runIds].sort((a, b) => a - b);
  const taskIds = [...byTask.keys()].sort(compareIds);
  const missing = taskIds.flatMap((t) => runs.filter((run) => !byTask.get(t)?.has(run)).map((run) => ({ taskId: t, run })));
  if (missing.length > 0) {
    const shown = missing.slice(0, 5).map((m) => `${m.taskId}@run${m.run}`).join(', ');
    throw invalidInput(`evaluation grid incomplete: ${missing.length} (task, run) result(s) missing, e.g. ${shown}`, { missing: missing.slice(0, 50) });
  }
  if (k > runs.length) throw invalidInput(`pass@${k} needs at least ${k} runs, got ${runs.length}`, { k, runs: runs.length });
  const perTask = taskIds.map((taskId) => {
    const solves = [...(byTask.get(taskId) as Map<number, boolean>).values()].filter(Boolean).length;
    return { taskId, attempts: runs.length, solves, passAtK: passAtK(runs.length, solves, k) };
  });
  const rates = runs.map((run) => taskIds.filter((t) => byTask.get(t)?.get(run)).length / taskIds.length);
  const { mean, sem } = pass1MeanSem(rates);
  return {
    pass1: mean,
    sem,
    passAtK: perTask.reduce((a, t) => a + t.passAtK, 0) / perTask.length,
    k,
    runs: runs.length,
    tasks: taskIds.length,
    perTask,
  };
}
