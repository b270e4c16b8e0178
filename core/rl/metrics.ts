/**
 * What the paper watches per iteration (PAPER.md "What they watch"): reward mean, the rate of
 * episodes ending in `submit` (rises with Pass@1 as the agent learns when to submit), mean
 * trajectory length (settles near 35 turns under the length penalty), and how often episodes hit
 * the context budget or T_max. The zero-advantage fraction comes from zeroAdvantageFilter and the
 * clip fraction from the trainer; the run status puts them side by side.
 */
import { invalidInput, requireFinite, requireInt } from './inputs';

/** Same values as db/schema's EpisodeExitReason (core/ does not import db/). */
export type ExitReason = 'submitted' | 'max_turns' | 'context_overflow' | 'cancelled' | 'infra_failure' | 'sandbox_lost';

/** Exit reasons of episodes the model finished: they are scored and count in every rate. */
const SCORED: ReadonlySet<ExitReason> = new Set<ExitReason>(['submitted', 'max_turns', 'context_overflow']);

export interface EpisodeSummary {
  /** R (tests pass = 1); null for an unscored episode. */
  reward: number | null;
  /** R + R_len, when known: reported as its own mean. */
  rewardFinal?: number | null;
  turns: number;
  exitReason: ExitReason;
  infraFailures: number;
}

export interface IterationMetrics {
  episodes: number;
  /** Episodes the model finished (submitted, T_max, context overflow): the denominator of every rate below. */
  scored: number;
  /** Cancelled or given up for infra: not part of any rate (infra failures are never scored as 0). */
  unscored: number;
  /** Mean R over scored episodes: the training solve rate. null when nothing was scored. */
  rewardMean: number | null;
  /** Mean R_final over scored episodes; null when nothing was scored or an R_final is missing. */
  rewardFinalMean: number | null;
  submitRate: number | null;
  meanTurns: number | null;
  contextOverflowRate: number | null;
  maxTurnsRate: number | null;
  /** Total retried infra failures across all episodes, scored or not. */
  infraFailures: number;
}

/** Rates are null rather than 0 for an iteration with no scored episode: 0 would read as "all failed". */
export function iterationMetrics(episodes: readonly EpisodeSummary[]): IterationMetrics {
  const scored: EpisodeSummary[] = [];
  let infraFailures = 0;
  episodes.forEach((e, i) => {
    requireInt(`infraFailures of episode ${i}`, e.infraFailures, 0);
    requireInt(`turns of episode ${i}`, e.turns, 0);
    infraFailures += e.infraFailures;
    if (!SCORED.has(e.exitReason)) return;
    if (e.reward === null) throw invalidInput(`episode ${i} ended with ${e.exitReason} but has no reward`, { episode: i });
    requireFinite(`reward of episode ${i}`, e.reward);
    scored.push(e);
  });
  const n = scored.length;
  const mean = (f: (e: EpisodeSummary) => number): number | null => (n === 0 ? null : scored.reduce((a, e) => a + f(e), 0) / n);
  const rate = (reason: ExitReason): number | null => mean((e) => (e.exitReason === reason ? 1 : 0));
  const finals = scored.map((e) => e.rewardFinal);
  return {
    episodes: episodes.length,
    scored: n,
    unscored: episodes.length - n,
    rewardMean: mean((e) => e.reward as number),
    rewardFinalMean: finals.every((f): f is number => typeof f === 'number') ? mean((e) => e.rewardFinal as number) : null,
    submitRate: rate('submitted'),
    meanTurns: mean((e) => e.turns),
    contextOverflowRate: rate('context_overflow'),
    maxTurnsRate: rate('max_turns'),
    infraFailures,
  };
}
