/**
 * What the chaos soak compares between the disturbed run and the undisturbed reference: a run's
 * outcome as keyed sections of flat records (per-iteration metrics, episodes, the trainer's ledger,
 * swerl's record of trainer steps, checkpoints with content hashes), restricted to the iterations
 * the disturbed run completed, minus the fields that legitimately differ (named in EXCLUDED with
 * the reason, and listed in the report).
 */

export type OutcomeRecord = Record<string, unknown>;
/** key (e.g. "rl-stage1/3/toy__bank-2/1") → record */
export type OutcomeSection = Record<string, OutcomeRecord>;

export interface RunOutcome {
  /** "stage/iteration" of every completed iteration, in order. */
  completedIterations: string[];
  sections: Record<string, OutcomeSection>;
}

export interface Difference {
  section: string;
  key: string;
  field: string;
  reference: unknown;
  chaos: unknown;
}

/** Fields left out of the comparison, by section and name, and why. */
export const EXCLUDED: ReadonlyArray<{ section: string; field: string; why: string }> = [
  { section: 'iterations', field: 'metrics.durationSec', why: 'wall time of the iteration: kills and restarts lengthen it' },
  { section: 'iterations', field: 'metrics.trainerTokensPerSec', why: 'a rate over wall time' },
  {
    section: 'iterations',
    field: 'metrics.infraFailures',
    why: 'infra failures are what the chaos causes: retried and counted, never scored (compared to be >= the reference in the report instead)',
  },
  { section: 'episodes', field: 'infraFailures', why: 'as metrics.infraFailures, per episode' },
  { section: 'episodes', field: 'lastErrorCode', why: 'the code of the last infra failure the chaos caused' },
  {
    section: 'episodes',
    field: 'observation text',
    why: 'tool output is compared by command, exit code and truncation flag, not text: test runs print their own wall time ("1 passed in 0.05s")',
  },
  { section: 'episodes', field: 'tests[].durationMs', why: "each test's wall time in the grader's report" },
  { section: 'episodes', field: 'reward test output tail', why: "the grader's pytest output carries wall times too; the per-test outcomes are compared" },
  { section: 'trainerSteps', field: 'metrics.seconds', why: 'wall time of the training step' },
  { section: 'trainerSteps', field: 'metrics.tokens_per_sec', why: 'a rate over wall time' },
  { section: 'ledger', field: 'metrics.seconds', why: 'wall time of the training step' },
  { section: 'ledger', field: 'metrics.tokens_per_sec', why: 'a rate over wall time' },
  { section: 'checkpoints', field: 'path', why: "the absolute path under each world's own checkpoints root" },
  { section: 'checkpoints', field: 'step.json', why: 'the step record holds the absolute checkpoint path and the wall-time metrics above' },
  { section: '*', field: 'timestamps', why: 'created/started/finished/applied times are wall times' },
];

/** Metric names that are wall times or rates over them (trainer and iteration metrics alike). */
export const WALL_TIME_METRICS = new Set(['seconds', 'tokens_per_sec', 'durationSec', 'trainerTokensPerSec', 'infraFailures']);

/** Flattens `metrics` into "metrics.<name>" fields, dropping wall-time metrics. */
export function flattenMetrics(metrics: unknown): OutcomeRecord {
  const out: OutcomeRecord = {};
  if (metrics === null || typeof metrics !== 'object') return out;
  for (const [k, v] of Object.entries(metrics as Record<string, unknown>)) {
    if (!WALL_TIME_METRICS.has(k)) out[`metrics.${k}`] = v;
  }
  return out;
}

/** The keys' "stage/iteration" prefix (every section's key starts with it, checkpoints aside). */
export function iterationOf(key: string): string {
  const [stage, iteration] = key.split('/');
  return `${stage}/${iteration}`;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Every difference between the reference and the chaos outcome within `scope` (the iterations both
 * completed; records are matched by key). A record present on one side only is a difference.
 */
export function diffOutcomes(reference: RunOutcome, chaos: RunOutcome, scope: ReadonlySet<string>): Difference[] {
  const diffs: Difference[] = [];
  const sections = [...new Set([...Object.keys(reference.sections), ...Object.keys(chaos.sections)])].sort();
  for (const section of sections) {
    const inScope = (s: OutcomeSection | undefined) => Object.entries(s ?? {}).filter(([key]) => scope.has(iterationOf(key)));
    const ref = new Map(inScope(reference.sections[section]));
    const got = new Map(inScope(chaos.sections[section]));
    for (const key of [...new Set([...ref.keys(), ...got.keys()])].sort()) {
      const a = ref.get(key);
      const b = got.get(key);
      if (!a || !b) {
        diffs.push({ section, key, field: '(record)', reference: a ? 'present' : 'missing', chaos: b ? 'present' : 'missing' });
        continue;
      }
      for (const field of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
        if (!same(a[field], b[field])) diffs.push({ section, key, field, reference: a[field], chaos: b[field] });
      }
    }
  }
  return diffs;
}

/** Records per section within scope, for the report ("what was compared"). */
export function countsInScope(outcome: RunOutcome, scope: ReadonlySet<string>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(outcome.sections).map(([name, s]) => [name, Object.keys(s).filter((key) => scope.has(iterationOf(key))).length]),
  );
}
