/**
 * The per-iteration report the run status shows (PAPER.md "What they watch"), built the same way
 * for an RFT stage and an RL iteration from the batch plan's episode metrics and what the update
 * steps returned. Pure (no workflow API, no clock: the caller passes workflow time), so it is
 * deterministic under replay and unit-testable outside a workflow.
 */
import { ErrorCodes } from '../core/errors';
import type { IterationMetrics } from '../core/rl';
import type { IterationReport } from './definitions';

/** Mean of a per-step trainer metric over an iteration's steps; null when nothing was trained. */
export function meanOf(values: number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, v) => a + v, 0) / values.length;
}

/** One update step's |rollout logprob − trainer logprob| over action tokens, before its optimizer step. */
export interface LogprobMismatch {
  mean: number;
  max: number;
}

export interface IterationReportInput {
  stage: string;
  iteration: number;
  policyVersion: string;
  /** The batch plan's metrics over all of the iteration's episodes. */
  metrics: IterationMetrics;
  /** Share of samples dropped for zero advantage (0 for RFT, which keeps successes only). */
  zeroAdvantageFraction: number;
  /** What applyUpdateSteps returned. */
  update: { checkpointId: string; clipFractions: number[]; tokensPerSec: number[]; logprobMismatch?: LogprobMismatch[] };
  updateSteps: number;
  /** Workflow time (ms) at the iteration's start and end. */
  startedMs: number;
  endedMs: number;
}

export function iterationReport(r: IterationReportInput): IterationReport {
  const m = r.metrics;
  return {
    stage: r.stage,
    iteration: r.iteration,
    policyVersion: r.policyVersion,
    checkpointId: r.update.checkpointId,
    episodes: m.episodes,
    rewardMean: m.rewardFinalMean,
    passRate: m.rewardMean,
    submitRate: m.submitRate,
    meanTurns: m.meanTurns,
    zeroAdvantageFraction: r.zeroAdvantageFraction,
    clipFraction: meanOf(r.update.clipFractions),
    durationSec: (r.endedMs - r.startedMs) / 1000,
    trainerTokensPerSec: meanOf(r.update.tokensPerSec),
    infraFailures: m.infraFailures,
    updateSteps: r.updateSteps,
    ...mismatchOf(r.update.logprobMismatch ?? []),
  };
}

/** Mean of the steps' means and max of their maxima; absent when no step measured it (SFT, older trainers). */
function mismatchOf(steps: LogprobMismatch[]): Pick<IterationReport, 'logprobMismatchMean' | 'logprobMismatchMax'> {
  if (steps.length === 0) return {};
  return { logprobMismatchMean: meanOf(steps.map((s) => s.mean))!, logprobMismatchMax: Math.max(...steps.map((s) => s.max)) };
}

/**
 * The reason to pause a run whose iteration measured a training–inference mismatch above the
 * configured bound (policy.maxLogprobMismatch), or undefined. The sampler's logprobs no longer
 * describe the policy being trained (another checkpoint served, a changed decoding, a numerics
 * difference), so importance ratios are wrong: an operator has to look before training goes on.
 */
export function mismatchPauseReason(report: IterationReport, bound: number | undefined): string | undefined {
  if (bound === undefined || report.logprobMismatchMean === undefined || report.logprobMismatchMean <= bound) return undefined;
  return `${ErrorCodes.LOGPROB_MISMATCH}: iteration ${report.stage}/${report.iteration} measured a mean |rollout - trainer logprob| of ` +
    `${report.logprobMismatchMean.toFixed(4)} (max ${report.logprobMismatchMax?.toFixed(4)}) over its update steps, above policy.maxLogprobMismatch ${bound}`;
}
