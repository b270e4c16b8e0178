import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import type { RunStatus } from '../../workflows/definitions';
import { validatePromotion } from '../../workflows/promotion';
import { needsPromotion } from '../../workflows/trainingLoop';
import { groupSlots } from '../../workflows/rlIteration';

function status(over: Partial<RunStatus> = {}): RunStatus {
  return {
    runId: 'r1',
    name: 'toy',
    phase: 'at-boundary',
    stageIndex: 1,
    stages: [
      { name: 'rl-stage1', kind: 'rl', state: 'done', iterationsDone: 2, iterationsPlanned: 2 },
      { name: 'rl-stage2', kind: 'rl', state: 'pending', iterationsDone: 0, iterationsPlanned: 1 },
    ],
    continuedAsNew: 0,
    counters: { episodes: 0, infraFailures: 0, updateSteps: 0 },
    checkpoints: ['r1/rl-stage1/i0000-s0000', 'r1/rl-stage1/i0001-s0000'],
    boundary: {
      fromStage: 'rl-stage1',
      toStage: 'rl-stage2',
      checkpointId: 'r1/rl-stage1/i0001-s0000',
      eval: { evalId: 'e', checkpointId: 'r1/rl-stage1/i0001-s0000', pass1: 0.5, sem: 0, passK: 0.5, k: 2, tasks: 2 },
      minPass1: 0.6,
      gateMet: false,
      since: '2026-01-01T00:00:00Z',
    },
    startedAt: '',
    updatedAt: '',
    ...over,
  };
}

function rejection(fn: () => unknown): { type?: string | null; reason?: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    const f = err as ApplicationFailure;
    expect(f.nonRetryable).toBe(true);
    return { type: f.type, reason: (f.details?.[0] as { reason: string }).reason };
  }
  throw new Error('expected a rejection');
}

describe('validatePromotion', () => {
  it('rejects mid-stage (no boundary) with not-at-boundary', () => {
    const s = status({ phase: 'running', boundary: undefined, stageIndex: 0 });
    expect(rejection(() => validatePromotion(s, { who: 'a', reason: 'x' }, 'base'))).toEqual({ type: 'SWERL_PROMOTE_REJECTED', reason: 'not-at-boundary' });
  });
  it('rejects an aborting run even at a boundary', () => {
    expect(rejection(() => validatePromotion(status({ phase: 'aborting' }), { who: 'a', reason: 'x' }, 'base')).reason).toBe('not-at-boundary');
  });
  it('rejects a checkpoint the run did not produce', () => {
    expect(rejection(() => validatePromotion(status(), { who: 'a', reason: 'x', force: true, checkpointId: 'other/ckpt' }, 'base')).reason).toBe('checkpoint-missing');
  });
  it('rejects an unmet gate without force, accepts it with force', () => {
    expect(rejection(() => validatePromotion(status(), { who: 'a', reason: 'x' }, 'base')).reason).toBe('gate-unmet');
    expect(validatePromotion(status(), { who: 'a', reason: 'x', force: true }, 'base')).toBe('r1/rl-stage1/i0001-s0000');
  });
  it('needs a reason, even when forced', () => {
    expect(rejection(() => validatePromotion(status(), { who: 'a', reason: '  ', force: true }, 'base')).reason).toBe('reason-missing');
  });
  it('accepts a met gate and an earlier checkpoint of the run, or the base', () => {
    const met = status({ boundary: { ...status().boundary!, gateMet: true } });
    expect(validatePromotion(met, { who: 'a', reason: 'ok', checkpointId: 'r1/rl-stage1/i0000-s0000' }, 'base')).toBe('r1/rl-stage1/i0000-s0000');
    expect(validatePromotion(met, { who: 'a', reason: 'roll back', checkpointId: 'base' }, 'base')).toBe('base');
  });
  it('still accepts while paused at the boundary', () => {
    expect(validatePromotion(status({ phase: 'paused' }), { who: 'a', reason: 'x', force: true }, 'base')).toBe('r1/rl-stage1/i0001-s0000');
  });
});

describe('needsPromotion', () => {
  const rl = { kind: 'rl' } as never;
  const rft = { kind: 'rft' } as never;
  const ev = { kind: 'eval' } as never;
  it('stops only between two RL stages, and only when a human is required', () => {
    expect(needsPromotion(rl, rl, true)).toBe(true);
    expect(needsPromotion(rl, rl, false)).toBe(false);
    expect(needsPromotion(rft, rl, true)).toBe(false);
    expect(needsPromotion(rl, ev, true)).toBe(false);
  });
});

describe('groupSlots', () => {
  it('gives repeated draws of a task disjoint sample indices', () => {
    expect(groupSlots(['a', 'b', 'a'], 2)).toEqual([
      { taskId: 'a', slots: [{ taskId: 'a', sampleIdx: 0 }, { taskId: 'a', sampleIdx: 1 }] },
      { taskId: 'b', slots: [{ taskId: 'b', sampleIdx: 0 }, { taskId: 'b', sampleIdx: 1 }] },
      { taskId: 'a', slots: [{ taskId: 'a', sampleIdx: 2 }, { taskId: 'a', sampleIdx: 3 }] },
    ]);
  });
});
