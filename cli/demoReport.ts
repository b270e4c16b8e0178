/**
 * The learning demo's report: Pass@1 ± SEM of every eval of a run, each against the one before,
 * and the claims the demo exists to test (issue #7): base < after RFT < after RL on held-out tasks.
 *
 * "Beyond the SEM" means the gain exceeds the combined standard error of the two evals,
 * sqrt(SEM_a² + SEM_b²). Each eval's SEM is the paper's: over its k independent runs (the per-run
 * pass rates on the same task set), so it measures run-to-run sampling noise only.
 *
 * When both evals carry per-task results on the same tasks, the comparison is also made paired by
 * task: d_t = rate_t(b) − rate_t(a), SEM = sd(d) / sqrt(n) (divisor n − 1). That one also counts
 * task-to-task variation, i.e. how far the gain would generalise to other tasks of the family, and
 * is the stricter test on a 20-task eval split.
 */
import type { EvalOutcome } from '../workflows/definitions';
import { renderBaselines, type LearnBaselines } from '../tasks/learn/baselines';

/** An eval of the run, named by its stage label (base-eval, rft-eval, <stage>-gate, eval). */
export type StageEval = Omit<EvalOutcome, 'evalId'> & { label: string; perTask?: Record<string, { solved: number; runs: number }> };

export interface PairedByTask {
  tasks: number;
  /** sd(d_t) / sqrt(n) over the per-task differences. */
  sem: number;
  /** mean(d_t) > sem */
  gainBeyondSem: boolean;
  /** Tasks whose pass rate went up / down. */
  up: number;
  down: number;
}

export interface Comparison {
  from: string;
  to: string;
  /** to.pass1 − from.pass1 */
  delta: number;
  /** sqrt(from.sem² + to.sem²); a missing SEM (one task) counts as 0. */
  combinedSem: number;
  /** delta > combinedSem: a gain beyond the noise (a drop, however large, is not a gain). */
  gainBeyondSem: boolean;
  /** null unless both evals have per-task results on the same ≥ 2 tasks. */
  pairedByTask: PairedByTask | null;
}

export interface ReportRow extends StageEval {
  vsPrevious: Comparison | null;
}

export interface LearningClaim extends Comparison {
  claim: string;
}

export function pairedByTask(from: StageEval, to: StageEval): PairedByTask | null {
  const a = from.perTask;
  const b = to.perTask;
  if (!a || !b) return null;
  const tasks = Object.keys(a).sort();
  const same = tasks.length === Object.keys(b).length && tasks.every((t) => b[t] !== undefined);
  if (!same || tasks.length < 2) return null;
  const rate = (r: { solved: number; runs: number }) => r.solved / r.runs;
  const d = tasks.map((t) => rate(b[t]!) - rate(a[t]!));
  const n = d.length;
  const mean = d.reduce((x, y) => x + y, 0) / n;
  const sem = Math.sqrt(d.reduce((x, y) => x + (y - mean) ** 2, 0) / (n - 1) / n);
  return { tasks: n, sem, gainBeyondSem: mean > sem, up: d.filter((x) => x > 0).length, down: d.filter((x) => x < 0).length };
}

export function compareEvals(from: StageEval, to: StageEval): Comparison {
  const delta = to.pass1 - from.pass1;
  const combinedSem = Math.hypot(from.sem ?? 0, to.sem ?? 0);
  return { from: from.label, to: to.label, delta, combinedSem, gainBeyondSem: delta > combinedSem, pairedByTask: pairedByTask(from, to) };
}

/** Whether two evals ran on the same tasks: the same per-task keys when both have them, else the same count. */
function sameTasks(a: StageEval, b: StageEval): boolean {
  if (a.perTask && b.perTask) {
    const keys = Object.keys(a.perTask);
    return keys.length === Object.keys(b.perTask).length && keys.every((t) => b.perTask![t] !== undefined);
  }
  return a.tasks === b.tasks;
}

/**
 * Each eval against the latest earlier one on the same tasks: the gate eval (validation) is not
 * compared with the test evals around it, nor the final eval with the gate.
 */
export function reportRows(evals: readonly StageEval[]): ReportRow[] {
  return evals.map((e, i) => {
    const previous = evals.slice(0, i).reverse().find((p) => sameTasks(p, e));
    return { ...e, vsPrevious: previous ? compareEvals(previous, e) : null };
  });
}

/**
 * base < RFT: the run's first eval (before any training) against the eval that follows the RFT
 * stage; RFT < RL: that eval against the run's last eval, taken after the last RL stage. A claim
 * whose evals the run does not have (a run without RFT, or one that stopped early) is left out; a
 * run whose first eval is the RFT eval (started from an RFT checkpoint) claims RFT < RL only.
 */
export function learningClaims(evals: readonly StageEval[], rftEvalLabel = 'rft-eval'): LearningClaim[] {
  const rftAt = evals.findIndex((e) => e.label === rftEvalLabel);
  if (rftAt < 0) return [];
  // A run started from an RFT checkpoint (the learn-rl-tune preset) has no base eval: RFT < RL only.
  const claims: LearningClaim[] = rftAt > 0 ? [{ claim: 'base < after RFT', ...compareEvals(evals[0]!, evals[rftAt]!) }] : [];
  if (evals.length - 1 > rftAt) claims.push({ claim: 'after RFT < after RL', ...compareEvals(evals[rftAt]!, evals[evals.length - 1]!) });
  return claims;
}

/** Rates as percentages with 2 decimals: k·20 episodes make steps of 1.25 points at k = 4. */
const pct = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : `${(x * 100).toFixed(2)}%`);
const signed = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)} pts`;

export interface ReportHead {
  runId: string;
  config: string;
  seed: number;
  phase: string;
  wallSec: number;
  /** os.loadavg() when the run ended (1, 5, 15 min): wall times on a shared machine need it. */
  loadAverage?: number[];
}

const loadText = (l: readonly number[] | undefined): string => (l && l.length === 3 ? ` (load average ${l.map((x) => x.toFixed(1)).join(', ')} at the end)` : '');

export function renderReportMarkdown(head: ReportHead, evals: readonly StageEval[], level = '#'): string {
  const rows = reportRows(evals);
  const claims = learningClaims(evals);
  return [
    `${level} ${head.runId}`,
    '',
    `config ${head.config}, seed ${head.seed}, ${head.phase} in ${head.wallSec.toFixed(0)} s${loadText(head.loadAverage)}`,
    '',
    '| eval | checkpoint | Pass@1 | SEM (runs) | Pass@k (k) | Δ vs previous eval on the same tasks | gain beyond SEM |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => {
      const c = r.vsPrevious;
      return `| ${r.label} | ${r.checkpointId} | ${pct(r.pass1)} | ${pct(r.sem)} | ${pct(r.passK)} (${r.k}) | ${c ? signed(c.delta) : '-'} | ${c ? (c.gainBeyondSem ? 'yes' : 'no') : '-'} |`;
    }),
    '',
    ...(claims.length > 0
      ? [
          '| claim | Δ Pass@1 | combined SEM (runs) | holds | paired SEM (tasks) | holds | tasks up / down |',
          '|---|---|---|---|---|---|---|',
          ...claims.map((c) => {
            const p = c.pairedByTask;
            const paired = p ? `${pct(p.sem)} | ${p.gainBeyondSem ? 'yes' : 'no'} | ${p.up} / ${p.down}` : '- | - | -';
            return `| ${c.claim} (${c.from} → ${c.to}) | ${signed(c.delta)} | ${pct(c.combinedSem)} | ${c.gainBeyondSem ? 'yes' : 'no'} | ${paired} |`;
          }),
          '',
          'SEM (runs): the paper\'s, over the k runs of each eval, combined as sqrt(a² + b²). ' +
            'SEM (tasks): of the per-task differences of the same tasks, which also counts task-to-task variation.',
          '',
        ]
      : []),
  ].join('\n');
}

/** One run of the committed demo report: what `swerl demo` wrote to .swerl/reports/<run>.json. */
export interface DemoRun extends ReportHead {
  stageEvals: StageEval[];
}

/** The committed demo report (docs/learn-demo.json): every run the README quotes, and the baselines. */
export interface DemoDoc {
  commit: string;
  command: string;
  runs: DemoRun[];
  baselines: LearnBaselines | null;
  /** The title line; absent = the learning demo's. */
  title?: string;
  /** The split the runs' evals ran on (their config's tasks.evalSplit); absent = test. */
  split?: string;
  /** Where the JSON is committed; absent = docs/learn-demo.json. */
  source?: string;
}

/** Per claim: on how many runs it holds beyond each SEM. */
export function claimSummary(runs: readonly DemoRun[]): Array<{ claim: string; runs: number; beyondRunSem: number; beyondPairedSem: number }> {
  const byClaim = new Map<string, { claim: string; runs: number; beyondRunSem: number; beyondPairedSem: number }>();
  for (const run of runs) {
    for (const c of learningClaims(run.stageEvals)) {
      const row = byClaim.get(c.claim) ?? { claim: c.claim, runs: 0, beyondRunSem: 0, beyondPairedSem: 0 };
      row.runs += 1;
      if (c.gainBeyondSem) row.beyondRunSem += 1;
      if (c.pairedByTask?.gainBeyondSem) row.beyondPairedSem += 1;
      byClaim.set(c.claim, row);
    }
  }
  return [...byClaim.values()];
}

export function renderDemoDoc(doc: DemoDoc): string {
  const summary = claimSummary(doc.runs);
  return [
    `# ${doc.title ?? 'The learning demo: committed report'}`,
    '',
    `Commit ${doc.commit}; \`${doc.command}\`. Rebuilt from ${doc.source ?? 'docs/learn-demo.json'} by test/unit/demoReport.test.ts.`,
    '',
    `## Claims (${doc.split ?? 'test'} split)`,
    '',
    '| claim | runs | beyond the SEM over runs | beyond the task-paired SEM |',
    '|---|---|---|---|',
    ...summary.map((s) => `| ${s.claim} | ${s.runs} | ${s.beyondRunSem} of ${s.runs} | ${s.beyondPairedSem} of ${s.runs} |`),
    '',
    ...(doc.baselines ? ['## Trivial policies (scored on every task)', '', renderBaselines(doc.baselines)] : []),
    ...doc.runs.map((r) => renderReportMarkdown(r, r.stageEvals, '##')),
  ].join('\n');
}
