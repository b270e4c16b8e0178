/**
 * Trivial policies on the `learn` suite, scored on every task (issue #16): what a policy that does
 * not read the issue would score, printed by the demo next to the model's Pass@1.
 *
 * A policy here is the `open app.py` → (at most one `edit L:L` with an empty body) → `submit`
 * episode it would play; its outcome on a task is scored by applying the deletion to the task's
 * module and comparing with the gold module. That comparison is the test verdict for this action
 * class: in the family exactly one single-line deletion passes a task's tests (family.ts), which
 * test/unit/learnSuite.test.ts checks by running every deletion of every task's module against its
 * tests with Python. Any other constant edit (a replacement body, a range) either is a deletion of
 * the stray line in other words or leaves a test failing, so single-line deletions are the best a
 * constant policy can do.
 *
 *   never-edit     open, submit: the bug stays.
 *   constant L     delete line L of every task; L chosen on the train split (ties: the smaller L),
 *                  scored on every split. `best constant on <split>` is the best L for that split
 *                  itself (an oracle constant: no constant does better there).
 *   random line    delete a uniformly random line of the module: the exact expectation, mean over
 *                  tasks of (solving lines / lines).
 *   first statement  delete the module's first `x = x op k` statement (reads the file, not the issue).
 *   def line       delete the line the issue says the function starts on (reads the wrong number).
 */
import { LEARN_SPLITS, type LearnSplit, type SplitInstance } from './suite';
import type { LearnInstance } from './family';

export interface BaselineRow {
  policy: string;
  /** Pass@1 on each split (a deterministic policy's Pass@1 = its solved share). */
  pass1: Record<LearnSplit, number>;
}

export interface LearnBaselines {
  /** The constant line chosen on the train split. */
  constantLine: number;
  rows: BaselineRow[];
}

function goldSource(inst: LearnInstance): string {
  const gold = inst.spec.gold[0];
  if (!gold || !('content' in gold)) throw new Error(`learn task ${inst.name}: gold is not a whole-file write`);
  return gold.content;
}

/** The module after deleting 1-based line `line` (what `edit L:L` with no body does); out of range = unchanged. */
export function deleteLine(source: string, line: number): string {
  const lines = source.split('\n');
  // The trailing newline makes a last empty element that is not a line of the file.
  if (line < 1 || line > lines.length - 1) return source;
  lines.splice(line - 1, 1);
  return lines.join('\n');
}

/** Whether deleting `line` (null: no edit) solves the task. */
export function deletionSolves(inst: LearnInstance, line: number | null): boolean {
  return (line === null ? inst.source : deleteLine(inst.source, line)) === goldSource(inst);
}

export function lineCount(source: string): number {
  return source.split('\n').length - 1;
}

const share = (xs: readonly number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

/** The share of `tasks` solved by deleting `line` of each. */
export function constantScore(tasks: readonly LearnInstance[], line: number | null): number {
  return share(tasks.map((t) => (deletionSolves(t, line) ? 1 : 0)));
}

/** The constant line with the highest score on `tasks` (ties: the smaller line), and that score. */
export function bestConstant(tasks: readonly LearnInstance[]): { line: number; score: number } {
  const longest = Math.max(...tasks.map((t) => lineCount(t.source)));
  let best = { line: 1, score: -1 };
  for (let line = 1; line <= longest; line++) {
    const score = constantScore(tasks, line);
    if (score > best.score) best = { line, score };
  }
  return best;
}

/** Expected Pass@1 of deleting a uniformly random line of each module. */
export function randomLineScore(tasks: readonly LearnInstance[]): number {
  return share(
    tasks.map((t) => {
      const n = lineCount(t.source);
      let solving = 0;
      for (let line = 1; line <= n; line++) if (deletionSolves(t, line)) solving++;
      return solving / n;
    }),
  );
}

/** The first line of the module that looks like the stray statement (`x = x op k`); null if none. */
export function firstStatementLine(source: string): number | null {
  const at = source.split('\n').findIndex((l) => /^ {4}(\w+) = \1 [-+*] \d+$/.test(l));
  return at < 0 ? null : at + 1;
}

function perTaskScore(tasks: readonly LearnInstance[], lineOf: (t: LearnInstance) => number | null): number {
  return share(tasks.map((t) => (deletionSolves(t, lineOf(t)) ? 1 : 0)));
}

/** Every baseline on every split; the constant is chosen on train only. */
export function learnBaselines(instances: readonly SplitInstance[]): LearnBaselines {
  const of = (split: LearnSplit) => instances.filter((i) => i.split === split);
  const bySplit = (score: (tasks: readonly LearnInstance[]) => number) =>
    Object.fromEntries(LEARN_SPLITS.map((s) => [s, score(of(s))])) as Record<LearnSplit, number>;
  const constantLine = bestConstant(of('train')).line;
  return {
    constantLine,
    rows: [
      { policy: 'never edit', pass1: bySplit((ts) => constantScore(ts, null)) },
      { policy: `constant: delete line ${constantLine} (best on train)`, pass1: bySplit((ts) => constantScore(ts, constantLine)) },
      { policy: 'best constant line of each split (oracle)', pass1: bySplit((ts) => bestConstant(ts).score) },
      { policy: 'random line', pass1: bySplit(randomLineScore) },
      { policy: 'first `x = x op k` statement', pass1: bySplit((ts) => perTaskScore(ts, (t) => firstStatementLine(t.source))) },
      { policy: 'the line the issue says the function starts on', pass1: bySplit((ts) => perTaskScore(ts, (t) => t.defLine)) },
      { policy: 'the line the issue names first (gold)', pass1: bySplit((ts) => perTaskScore(ts, (t) => t.line)) },
    ],
  };
}

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;

export function renderBaselines(b: LearnBaselines): string {
  return [
    '| baseline policy (scored on every task) | train | validation | test |',
    '|---|---|---|---|',
    ...b.rows.map((r) => `| ${r.policy} | ${pct(r.pass1.train)} | ${pct(r.pass1.validation)} | ${pct(r.pass1.test)} |`),
    '',
  ].join('\n');
}

/** docs/learn-baselines.md: the table with what it measures (rebuilt from the JSON in a unit test). */
export function renderBaselinesDoc(b: LearnBaselines): string {
  return [
    '# Trivial policies on the `learn` suite',
    '',
    'Pass@1 of policies that do not read the issue (and, last, of the one that does), scored on every task of each',
    'split by tasks/learn/baselines.ts; `npx tsx tasks/learn/generate.ts --baselines docs/learn-baselines` writes',
    'this file and its JSON, and test/unit/learnBaselines.test.ts recomputes both. A policy plays `open app.py`,',
    'at most one `edit L:L` with an empty body, `submit`; exactly one such deletion passes a task\'s tests (checked',
    `with Python on every task in test/unit/learnSuite.test.ts). The constant line (${b.constantLine}) is chosen on train.`,
    '',
    renderBaselines(b),
  ].join('\n');
}
