import { describe, expect, it } from 'vitest';
import { evalSummary, pass1MeanSem, passAtK } from '../../core/rl';

const INVALID = /SWERL_RL_INPUT_INVALID/;

/** Exact 1 − C(n−c, k) / C(n, k) with BigInt binomials, to 15 decimal places. */
function exactPassAtK(n: number, c: number, k: number): number {
  const binom = (a: number, b: number): bigint => {
    if (b < 0 || b > a) return 0n;
    let r = 1n;
    for (let i = 1; i <= b; i++) r = (r * BigInt(a - b + i)) / BigInt(i);
    return r;
  };
  const scale = 10n ** 15n;
  return 1 - Number((binom(n - c, k) * scale) / binom(n, k)) / 1e15;
}

describe('passAtK', () => {
  it('matches hand-computed values', () => {
    expect(passAtK(10, 3, 1)).toBeCloseTo(0.3, 15); // 1 − (7/8)(8/9)(9/10) = 1 − 7/10
    expect(passAtK(10, 3, 10)).toBe(1); // only 7 failures: every 10-subset holds a success
    expect(passAtK(5, 0, 2)).toBe(0);
    expect(passAtK(10, 3, 5)).toBeCloseTo(1 - 21 / 252, 15); // C(7,5) = 21, C(10,5) = 252 → 0.91666…
    expect(passAtK(3, 1, 2)).toBeCloseTo(2 / 3, 15); // 1 − C(2,2)/C(3,2) = 1 − 1/3
    expect(passAtK(10, 10, 1)).toBe(1);
    expect(passAtK(1, 0, 1)).toBe(0);
    expect(passAtK(10, 1, 10)).toBe(1); // pass@n = solved at least once
  });

  it('agrees with exact binomials, also where the binomials overflow a double', () => {
    for (let n = 1; n <= 12; n++) {
      for (let c = 0; c <= n; c++) {
        for (let k = 1; k <= n; k++) expect(passAtK(n, c, k)).toBeCloseTo(exactPassAtK(n, c, k), 12);
      }
    }
    // C(2000, 100) ≈ 1e180 and C(7249, 10): fine in the product form.
    expect(passAtK(2000, 7, 100)).toBeCloseTo(exactPassAtK(2000, 7, 100), 12);
    expect(passAtK(7249, 2028, 10)).toBeCloseTo(exactPassAtK(7249, 2028, 10), 12);
  });

  it('rejects impossible counts', () => {
    expect(() => passAtK(10, 11, 1)).toThrow(/c \(11 successes\) exceeds n \(10 attempts\)/);
    expect(() => passAtK(10, 3, 11)).toThrow(/k \(11\) exceeds n \(10 attempts\)/);
    expect(() => passAtK(10, 3, 0)).toThrow(INVALID);
    expect(() => passAtK(0, 0, 1)).toThrow(INVALID);
    expect(() => passAtK(10, 2.5, 1)).toThrow(INVALID);
  });
});

describe('pass1MeanSem', () => {
  it('is the mean ± sample std / sqrt(k)', () => {
    // mean 0.3; deviations −0.1, 0.1, 0 → Σ² = 0.02; / (3 − 1) = 0.01; s = 0.1; SEM = 0.1 / √3 = 0.0577350269.
    const r = pass1MeanSem([0.2, 0.4, 0.3]);
    expect(r.mean).toBeCloseTo(0.3, 15);
    expect(r.sem).toBeCloseTo(0.0577350269, 10);
    expect(r.runs).toBe(3);
    expect(pass1MeanSem([0.35, 0.35]).sem).toBe(0);
  });

  it('leaves the SEM of a single run undefined (null), not 0', () => {
    expect(pass1MeanSem([0.4])).toEqual({ mean: 0.4, sem: null, runs: 1 });
  });

  it('rejects no runs and rates outside [0, 1]', () => {
    expect(() => pass1MeanSem([])).toThrow(INVALID);
    expect(() => pass1MeanSem([0.2, 1.2])).toThrow(/pass rate of run 1 must be in \[0, 1\], got 1.2/);
  });
});

describe('evalSummary', () => {
  // 3 tasks × 3 runs: t1 solved in every run, t2 only in run 1, t3 never.
  const grid = [
    ...[0, 1, 2].map((run) => ({ taskId: 't1', run, solved: true })),
    ...[0, 1, 2].map((run) => ({ taskId: 't2', run, solved: run === 1 })),
    ...[0, 1, 2].map((run) => ({ taskId: 't3', run, solved: false })),
  ];

  it('computes pass@1 ± SEM over runs and pass@k over tasks', () => {
    const s = evalSummary(grid, 2);
    // Per-run rates 1/3, 2/3, 1/3 → mean 4/9; deviations −1/9, 2/9, −1/9 → Σ² = 6/81; / 2 = 1/27;
    // SEM = sqrt((1/27) / 3) = 1/9.
    expect(s.pass1).toBeCloseTo(4 / 9, 15);
    expect(s.sem).toBeCloseTo(1 / 9, 15);
    // pass@2 with n = 3: t1 (c = 3) → 1; t2 (c = 1) → 1 − C(2,2)/C(3,2) = 2/3; t3 → 0; mean 5/9.
    expect(s.passAtK).toBeCloseTo(5 / 9, 15);
    expect(s).toMatchObject({ k: 2, runs: 3, tasks: 3 });
    expect(s.perTask.map((t) => [t.taskId, t.attempts, t.solves])).toEqual([['t1', 3, 3], ['t2', 3, 1], ['t3', 3, 0]]);
    // pass@3 = fraction of tasks solved at least once: 2/3. pass@1 via the estimator equals the run mean.
    expect(evalSummary(grid, 3).passAtK).toBeCloseTo(2 / 3, 15);
    expect(evalSummary(grid, 1).passAtK).toBeCloseTo(4 / 9, 15);
  });

  it('does not depend on the order of the results', () => {
    expect(evalSummary(grid.slice().reverse(), 2)).toEqual(evalSummary(grid, 2));
  });

  it('rejects an incomplete grid, duplicates, too few runs and no results', () => {
    expect(() => evalSummary(grid.filter((r) => !(r.taskId === 't2' && r.run === 2)), 2))
      .toThrow(/grid incomplete: 1 \(task, run\) result\(s\) missing, e.g. t2@run2/);
    expect(() => evalSummary([...grid, { taskId: 't1', run: 0, solved: false }], 2)).toThrow(/task t1 has two results in run 0/);
    expect(() => evalSummary(grid, 4)).toThrow(/pass@4 needs at least 4 runs, got 3/);
    expect(() => evalSummary([], 1)).toThrow(INVALID);
  });

  it('reports a single run with an undefined SEM', () => {
    const s = evalSummary([{ taskId: 'a', run: 0, solved: true }, { taskId: 'b', run: 0, solved: false }], 1);
    expect(s).toMatchObject({ pass1: 0.5, sem: null, passAtK: 0.5, runs: 1 });
  });
});
