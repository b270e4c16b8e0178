import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimSummary, compareEvals, learningClaims, pairedByTask, renderDemoDoc, renderReportMarkdown, reportRows, type DemoDoc, type StageEval } from '../../cli/demoReport';

const ev = (label: string, pass1: number, sem: number | null): StageEval => ({ label, checkpointId: `ck-${label}`, pass1, sem, passK: 0, k: 4, tasks: 20 });

// The four evals of run learn-20261126-012537-2wth (SEMs rounded).
const run = [ev('base-eval', 0.0375, 0.024), ev('rft-eval', 0.2, 0.02), ev('rl-stage1-gate', 0.1875, 0.031), ev('eval', 0.2375, 0.012)];

describe('demo report', () => {
  it('compares two evals by the combined SEM sqrt(a² + b²)', () => {
    // 0.03² + 0.04² = 0.05²
    const c = compareEvals(ev('a', 0.1, 0.03), ev('b', 0.16, 0.04));
    expect(c.delta).toBeCloseTo(0.06, 12);
    expect(c.combinedSem).toBeCloseTo(0.05, 12);
    expect(c.gainBeyondSem).toBe(true);
    expect(compareEvals(ev('a', 0.1, 0.03), ev('b', 0.14, 0.04)).gainBeyondSem).toBe(false); // +0.04 < 0.05
    // A drop bigger than the noise is not a gain; a missing SEM counts as 0.
    expect(compareEvals(ev('a', 0.5, 0.01), ev('b', 0.1, 0.01)).gainBeyondSem).toBe(false);
    expect(compareEvals(ev('a', 0.1, null), ev('b', 0.1, 0.02)).combinedSem).toBeCloseTo(0.02, 12);
  });

  it('pairs two evals by task: mean and SEM of the per-task differences', () => {
    const withTasks = (label: string, solved: number[]): StageEval => ({
      ...ev(label, 0, 0),
      perTask: Object.fromEntries(solved.map((n, i) => [`t${i}`, { solved: n, runs: 4 }])),
    });
    // d = [2/4 − 0, 1/4 − 1/4, 4/4 − 2/4] = [0.5, 0, 0.5]: mean 1/3, sd sqrt((1/36 + 1/9 + 1/36) / 2) = sqrt(1/12),
    // SEM = sqrt(1/12) / sqrt(3) = 1/6.
    const p = pairedByTask(withTasks('a', [0, 1, 2]), withTasks('b', [2, 1, 4]));
    expect(p).toMatchObject({ tasks: 3, gainBeyondSem: true, up: 2, down: 0 });
    expect(p!.sem).toBeCloseTo(1 / 6, 12);
    // d = [0.25, −0.25, 0.25]: mean 1/12, sd sqrt((1/36 + 1/9 + 1/36) / 2) = sqrt(1/12) → SEM 1/6 > 1/12.
    expect(pairedByTask(withTasks('a', [0, 1, 2]), withTasks('b', [1, 0, 3]))).toMatchObject({ gainBeyondSem: false, up: 2, down: 1 });
    // Different task sets, a single task, or no per-task results: no paired comparison.
    expect(pairedByTask(withTasks('a', [0, 1]), withTasks('b', [0, 1, 2]))).toBeNull();
    expect(pairedByTask(withTasks('a', [0]), withTasks('b', [1]))).toBeNull();
    expect(compareEvals(ev('a', 0, 0), withTasks('b', [1, 2])).pairedByTask).toBeNull();
  });

  it('each row against the previous eval', () => {
    const rows = reportRows(run);
    expect(rows[0]!.vsPrevious).toBeNull();
    expect(rows[2]!.vsPrevious!.delta).toBeCloseTo(-0.0125, 12);
    expect(rows[2]!.vsPrevious!.gainBeyondSem).toBe(false);
  });

  it('each row against the latest earlier eval on the same tasks (the gate on validation is skipped)', () => {
    const on = (label: string, pass1: number, tasks: string[]): StageEval => ({
      ...ev(label, pass1, 0.01),
      tasks: tasks.length,
      perTask: Object.fromEntries(tasks.map((t) => [t, { solved: 0, runs: 3 }])),
    });
    const test = ['t1', 't2', 't3'];
    const rows = reportRows([on('base-eval', 0.1, test), on('rft-eval', 0.3, test), on('rl-stage1-gate', 0.5, ['v1', 'v2', 'v3']), on('eval', 0.35, test)]);
    expect(rows.map((r) => r.vsPrevious && [r.vsPrevious.from, r.vsPrevious.to])).toEqual([null, ['base-eval', 'rft-eval'], null, ['rft-eval', 'eval']]);
    expect(rows[3]!.vsPrevious!.delta).toBeCloseTo(0.05, 12); // 0.35 − 0.3, not 0.35 − 0.5
    // Without per-task results, the task count decides.
    expect(reportRows([ev('a', 0.1, 0.01), { ...ev('b', 0.2, 0.01), tasks: 40 }])[1]!.vsPrevious).toBeNull();
  });

  it('claims base < after RFT (first vs rft-eval) and after RFT < after RL (rft-eval vs last)', () => {
    const claims = learningClaims(run);
    expect(claims.map((c) => [c.claim, c.from, c.to])).toEqual([
      ['base < after RFT', 'base-eval', 'rft-eval'],
      ['after RFT < after RL', 'rft-eval', 'eval'],
    ]);
    // +0.1625 vs sqrt(0.024² + 0.02²) = 0.03124; +0.0375 vs sqrt(0.02² + 0.012²) = 0.02332
    expect(claims[0]!.combinedSem).toBeCloseTo(0.031241, 5);
    expect(claims[1]!.delta).toBeCloseTo(0.0375, 12);
    expect(claims[1]!.combinedSem).toBeCloseTo(0.023324, 5);
    expect(claims.every((c) => c.gainBeyondSem)).toBe(true);
    // The gate eval is not "after RL": against it the second claim fails.
    expect(learningClaims(run.slice(0, 3))[1]!.gainBeyondSem).toBe(false);
    // No RFT eval: nothing to claim; RFT eval first (a run from an RFT checkpoint): RFT < RL only;
    // a run stopped after rft-eval: one claim.
    expect(learningClaims([ev('base-eval', 0, 0), ev('eval', 0.5, 0)])).toEqual([]);
    expect(learningClaims([ev('rft-eval', 0.2, 0.01), ev('rl-stage1-gate', 0.3, 0.01), ev('eval', 0.4, 0.01)]).map((c) => [c.claim, c.from, c.to])).toEqual([
      ['after RFT < after RL', 'rft-eval', 'eval'],
    ]);
    expect(learningClaims(run.slice(0, 2))).toHaveLength(1);
  });

  it('renders both tables', () => {
    const md = renderReportMarkdown({ runId: 'r', config: 'learn', seed: 7, phase: 'completed', wallSec: 1428.4 }, run);
    expect(md).toContain('config learn, seed 7, completed in 1428 s');
    expect(md).toContain('| rl-stage1-gate | ck-rl-stage1-gate | 18.75% | 3.10% | 0.00% (4) | -1.25 pts | no |');
    expect(md).toContain('| after RFT < after RL (rft-eval → eval) | +3.75 pts | 2.33% | yes | - | - | - |');
  });
});

describe('committed demo report', () => {
  const withTasks = (label: string, solved: number[], sem: number): StageEval => ({
    ...ev(label, solved.reduce((a, b) => a + b, 0) / (solved.length * 4), sem),
    perTask: Object.fromEntries(solved.map((n, i) => [`t${i}`, { solved: n, runs: 4 }])),
  });
  // Seed 1: base → RFT d = [0.5, 0, 0.5] (paired SEM 1/6 < mean 1/3: holds), RFT → RL d = [0.25, −0.25, −0.25] (a drop).
  // Seed 2: base → RFT d = [0.25, 0.25, 0.25] (sd 0: holds), RFT → RL d = [0, 0, 0] (no gain).
  const doc: DemoDoc = {
    commit: 'abc',
    command: 'npm run demo -- --seed N',
    baselines: null,
    runs: [
      { runId: 'r1', config: 'learn', seed: 1, phase: 'completed', wallSec: 100, loadAverage: [20, 25.5, 30], stageEvals: [withTasks('base-eval', [0, 1, 2], 0.01), withTasks('rft-eval', [2, 1, 4], 0.01), withTasks('eval', [3, 0, 3], 0.01)] },
      { runId: 'r2', config: 'learn', seed: 2, phase: 'completed', wallSec: 200, stageEvals: [withTasks('base-eval', [0, 0, 0], 0.01), withTasks('rft-eval', [1, 1, 1], 0.01), withTasks('eval', [1, 1, 1], 0.01)] },
    ],
  };

  it('counts, per claim, the runs on which it holds beyond each SEM', () => {
    expect(claimSummary(doc.runs)).toEqual([
      { claim: 'base < after RFT', runs: 2, beyondRunSem: 2, beyondPairedSem: 2 },
      { claim: 'after RFT < after RL', runs: 2, beyondRunSem: 0, beyondPairedSem: 0 },
    ]);
  });

  it('renders the summary, then each run with its load average', () => {
    const md = renderDemoDoc(doc);
    expect(md).toContain('| base < after RFT | 2 | 2 of 2 | 2 of 2 |');
    expect(md).toContain('| after RFT < after RL | 2 | 0 of 2 | 0 of 2 |');
    expect(md).toContain('## r1\n\nconfig learn, seed 1, completed in 100 s (load average 20.0, 25.5, 30.0 at the end)');
    expect(md).toContain('## r2\n\nconfig learn, seed 2, completed in 200 s\n');
    expect(md).toContain('## Claims (test split)');
    expect(md).toContain('Rebuilt from docs/learn-demo.json');
    // A report of runs on another split (the RL tuning runs on validation) says so.
    const tuned = renderDemoDoc({ ...doc, title: 'RL tuning', split: 'validation', source: 'docs/learn-rl-tune.json' });
    expect(tuned.split('\n')[0]).toBe('# RL tuning');
    expect(tuned).toContain('## Claims (validation split)');
    expect(tuned).toContain('Rebuilt from docs/learn-rl-tune.json');
  });

  // The demo's runs (the README's table, Qwen2 base), `time make demo` from a fresh clone, the same
  // with the native base, and the RL tuning runs on validation (docs/learn-demo-attempts.md sections
  // 6 and 8). Committed: never skipped.
  for (const name of ['learn-demo', 'learn-demo-fresh', 'learn-demo-native', 'learn-rl-tune', 'learn-rl-tune-qwen2']) {
    const committed = path.join(__dirname, '..', '..', 'docs', `${name}.json`);
    it(`docs/${name}.md is rebuilt from docs/${name}.json`, () => {
      const json = JSON.parse(readFileSync(committed, 'utf8')) as DemoDoc;
      expect(readFileSync(committed.replace(/\.json$/, '.md'), 'utf8')).toBe(renderDemoDoc(json));
    });
  }
});
