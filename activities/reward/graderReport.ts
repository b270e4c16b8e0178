/**
 * The pure half of the grader channel: from the frames the grader plugin (grader_plugin.py) wrote
 * to its private stdout to per-test outcomes. No I/O, so it is unit-tested with hand-built frames.
 *
 * A test's outcome is the worst of its phases: a failed call is `failed`, a failed setup or
 * teardown `error`, a skip `skipped`; an expected failure (xfail) counts as passed, as in
 * SWE-bench's grading and in our JUnit parser. Lines that are not frames are ignored (only the
 * plugin is meant to write there; anything else is noise, never a verdict).
 */
import type { TestOutcome } from '../../core/tasks';
import type { ListedOutcome } from './scoring';

export interface GraderReport {
  /** The plugin loaded (pytest started and imported it before any code under test). */
  started: boolean;
  /** pytest's exit status from the session-finish hook; null when the session never finished. */
  exitStatus: number | null;
  /** Outcome per listed node id (`missing` when pytest never reported it). */
  outcomes: Map<string, { outcome: ListedOutcome; durationSec: number }>;
}

const SEVERITY: Record<TestOutcome, number> = { passed: 0, skipped: 1, failed: 2, error: 3 };

interface Frame {
  event?: unknown;
  nodeid?: unknown;
  when?: unknown;
  outcome?: unknown;
  xfail?: unknown;
  duration?: unknown;
  exitstatus?: unknown;
}

function phaseOutcome(f: Frame): TestOutcome | undefined {
  if (f.outcome === 'passed') return f.when === 'call' ? 'passed' : undefined;
  if (f.outcome === 'skipped') return f.xfail === true ? 'passed' : 'skipped';
  if (f.outcome === 'failed') return f.when === 'call' ? 'failed' : 'error';
  return undefined;
}

export function parseGraderReport(text: string, ids: readonly string[]): GraderReport {
  let started = false;
  let exitStatus: number | null = null;
  const seen = new Map<string, { outcome: TestOutcome; durationSec: number }>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let f: Frame;
    try {
      f = JSON.parse(line) as Frame;
    } catch {
      continue;
    }
    if (f.event === 'start') started = true;
    else if (f.event === 'finish' && typeof f.exitstatus === 'number') exitStatus = f.exitstatus;
    else if (f.event === 'report' && typeof f.nodeid === 'string') {
      const outcome = phaseOutcome(f);
      if (!outcome) continue;
      const durationSec = typeof f.duration === 'number' && Number.isFinite(f.duration) ? f.duration : 0;
      const prev = seen.get(f.nodeid);
      if (!prev) seen.set(f.nodeid, { outcome, durationSec });
      else {
        prev.durationSec += durationSec;
        if (SEVERITY[outcome] > SEVERITY[prev.outcome]) prev.outcome = outcome;
      }
    }
  }
  const outcomes = new Map(ids.map((id) => [id, seen.get(id) ?? { outcome: 'missing' as const, durationSec: 0 }]));
  return { started, exitStatus, outcomes };
}
