/**
 * The pure half of the reward: from JUnit cases of one or more test runs to per-test outcomes,
 * the flaky-test rerun rule, and R ∈ {0, 1}. No I/O, so it is unit-tested with hand-built cases.
 *
 * R = 1 iff every FAIL_TO_PASS and PASS_TO_PASS test ends `passed` (paper: Golubev et al.).
 * A listed test that pytest never reported (deleted, renamed, its module failed to import) is
 * `missing` and counts as not passed.
 */
import type { JUnitCase, TestOutcome } from '../../core/tasks';

export type ListedOutcome = TestOutcome | 'missing';
export type TestList = 'FAIL_TO_PASS' | 'PASS_TO_PASS';

export interface RewardTest {
  nodeid: string;
  list: TestList;
  /** The outcome that counts, after reruns. */
  outcome: ListedOutcome;
  /** Duration of the first run, seconds. */
  durationSec: number;
  /** Every run's outcome, first run first (length 1 when nothing was rerun). */
  runs: ListedOutcome[];
}

/**
 * How reruns of a test that did not pass on its first run (the gold run's expectation is
 * "passes") are decided; a test that passes on its first run is never rerun:
 * - `majority`: the test passes iff it passes in a strict majority of 1 + reruns runs; reruns stop
 *   as soon as the majority is settled either way (an even `reruns` avoids ties).
 * - `any-pass`: the test passes iff any of the 1 + reruns runs passes; reruns stop at the first pass.
 * With reruns = 0 both rules are "the single run decides".
 */
export type FlakyRule = 'majority' | 'any-pass';

export function outcomesFromJUnit(cases: readonly JUnitCase[], ids: readonly string[]): Map<string, { outcome: ListedOutcome; durationSec: number }> {
  const byId = new Map(cases.map((c) => [c.nodeid, c]));
  return new Map(ids.map((id) => {
    const c = byId.get(id);
    return [id, c ? { outcome: c.outcome, durationSec: c.durationSec } : { outcome: 'missing' as const, durationSec: 0 }];
  }));
}

function passesNeeded(reruns: number): number {
  return Math.floor((1 + reruns) / 2) + 1;
}

/** The decided outcome, or undefined while another run could still change it. */
export function settledOutcome(runs: readonly ListedOutcome[], reruns: number, rule: FlakyRule): ListedOutcome | undefined {
  // Only a disagreement with the expectation ("passes") is rerun: a first-run pass is final.
  if (runs[0] === 'passed') return 'passed';
  const total = 1 + reruns;
  const passes = runs.filter((o) => o === 'passed').length;
  const firstFailure = runs.find((o) => o !== 'passed') ?? 'failed';
  if (rule === 'any-pass') {
    if (passes > 0) return 'passed';
    return runs.length >= total ? firstFailure : undefined;
  }
  const need = passesNeeded(reruns);
  if (passes >= need) return 'passed';
  if (passes + (total - runs.length) < need) return firstFailure;
  return undefined;
}

export function needsRerun(test: Pick<RewardTest, 'runs'>, reruns: number, rule: FlakyRule): boolean {
  return settledOutcome(test.runs, reruns, rule) === undefined;
}

export function finalOutcome(runs: readonly ListedOutcome[], reruns: number, rule: FlakyRule): ListedOutcome {
  // Once runs are exhausted a test is always settled; the fallback covers a caller that stopped early.
  return settledOutcome(runs, reruns, rule) ?? (runs.find((o) => o !== 'passed') ?? 'failed');
}

export function rewardOf(tests: readonly Pick<RewardTest, 'outcome'>[]): 0 | 1 {
  return tests.length > 0 && tests.every((t) => t.outcome === 'passed') ? 1 : 0;
}
