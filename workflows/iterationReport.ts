/**
 * The per-iteration report the run status shows (PAPER.md "What they watch"), built the same way
 * for an RFT stage and an RL iteration from the batch plan's episode metrics and what the update
 * steps returned. Pure (no workflow API, no clock: the caller passes workflow time), so it is
 * deterministic under replay and unit-testable outside a workflow.
 */
import type { IterationMetrics } from '../core/rl';
import type { IterationReport } from './definitions';

/** Mean of a per-step trainer metric over an iteration's steps; null when nothing was trained. */
export function meanOf(values: number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, v) => a + v, 0) / values.length;
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
  update: { checkpointId: string; clipFractions: number[]; tokensPerSec: number[] };
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
  };
}
