/**
 * The promote Update's rules, as a pure function of the run's state (validators may not do I/O):
 * a promotion is accepted only at a stage boundary, for a checkpoint this run produced (or the
 * base), and with the eval gate met — or with `force` and a reason. Rejections carry the code
 * SWERL_PROMOTE_REJECTED and a `reason` detail saying which rule refused.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { ErrorCodes } from '../core/errors';
import type { PromoteRequest, RunStatus } from './definitions';

export type PromoteRejection = 'not-at-boundary' | 'checkpoint-missing' | 'gate-unmet' | 'reason-missing';

function reject(reason: PromoteRejection, message: string, details: Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorCodes.PROMOTE_REJECTED,
    message: `${ErrorCodes.PROMOTE_REJECTED}: ${message}`,
    details: [{ reason, ...details }],
    nonRetryable: true,
  });
}

/** Throws the rejection; returns the checkpoint the next stage will start from. */
export function validatePromotion(status: RunStatus, req: PromoteRequest, baseCheckpoint: string): string {
  const b = status.boundary;
  if (!b || status.phase === 'aborting' || status.phase === 'aborted' || status.phase === 'failed' || status.phase === 'completed') {
    const stage = status.stages[status.stageIndex];
    throw reject('not-at-boundary', `run ${status.runId} is not at a stage boundary (phase ${status.phase}, stage ${stage?.name ?? '-'} iteration ${stage?.iterationsDone ?? 0}/${stage?.iterationsPlanned ?? 0})`, {
      runId: status.runId,
      phase: status.phase,
      stage: stage?.name,
    });
  }
  if (!req.reason?.trim()) throw reject('reason-missing', `promoting run ${status.runId} needs a reason`, { runId: status.runId });
  const checkpointId = req.checkpointId ?? b.checkpointId;
  const known = new Set([baseCheckpoint, ...(status.checkpoints ?? [])]);
  if (!known.has(checkpointId)) {
    throw reject('checkpoint-missing', `checkpoint ${checkpointId} does not exist in run ${status.runId}`, { runId: status.runId, checkpointId });
  }
  if (!b.gateMet && !req.force) {
    const got = b.eval ? `Pass@1 ${b.eval.pass1.toFixed(3)} of ${b.eval.checkpointId}` : 'no eval';
    throw reject('gate-unmet', `eval gate of ${b.fromStage} not met (${got}, need ${b.minPass1}); use force with a reason`, {
      runId: status.runId,
      pass1: b.eval?.pass1 ?? null,
      minPass1: b.minPass1,
    });
  }
  return checkpointId;
}
