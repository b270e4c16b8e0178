/**
 * An iteration whose episodes end unscored one by one (issue 15): each such episode ends only
 * itself (exit infra_failure, unscored, out of the batch); the iteration fails
 * (SWERL_UNSCORED_FRACTION_EXCEEDED) only when more than rollout.maxUnscoredFraction of its
 * episodes end that way. On the real stack (Temporal, Postgres; the in-process rollout host of
 * test/harness/inProcessRollout.ts, whose reward for HARD's episodes always fails as infra): the
 * real episode workflow retries within timeouts.rewardInfraSec (1 s here), then ends them with
 * SWERL_REWARD_INFRA_EXHAUSTED. Before the bound, one such episode failed the whole run.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRunConfig, type RunConfig } from '../../core/config';
import { ErrorCodes, errorCodeOf } from '../../core/errors';
import { episodes } from '../../db/schema';
import { HARD, loopConfig, loopWorld, type LoopWorld } from './trainingLoopSetup';

let w: LoopWorld;

beforeAll(async () => {
  w = await loopWorld('unscored');
  await w.startWorker();
  await w.startInProcessRollout({ rewardInfraDown: (taskId) => taskId === HARD });
}, 120_000);
afterAll(async () => {
  await w?.close();
}, 120_000);

/** The RFT stage alone: 3 train tasks x 2 rollouts = 6 episodes, 2 of them (HARD's) unscored. */
function rftOnly(rollout: Record<string, unknown>): RunConfig {
  const base = loopConfig();
  return parseRunConfig({ ...base, stages: [base.stages[0]], timeouts: { ...base.timeouts, rewardInfraSec: 1 }, rollout });
}

async function episodesOf(runId: string) {
  return w.db.db.select().from(episodes).where(and(eq(episodes.runId, runId), eq(episodes.stage, 'rft')));
}

describe('unscored episodes of an iteration', () => {
  it('2 of 6 unscored (within the default 0.5): those end as infra_failure, the run completes without them', { timeout: 300_000 }, async () => {
    const { runId, handle } = await w.startRun(rftOnly({}));
    const final = await handle.result();
    expect(final.phase).toBe('completed');
    const rows = await episodesOf(runId);
    expect(rows).toHaveLength(6);
    const unscored = rows.filter((r) => r.taskId === HARD);
    expect(unscored).toHaveLength(2);
    for (const r of unscored) {
      expect(r).toMatchObject({ status: 'failed', exitReason: 'infra_failure', lastErrorCode: ErrorCodes.REWARD_INFRA_EXHAUSTED, reward: null });
      // Two attempts at least: the first failure starts the 1 s window, one at or after its end gives up.
      expect(r.infraFailures).toBeGreaterThanOrEqual(2);
    }
    expect(rows.filter((r) => r.taskId !== HARD).every((r) => r.status === 'completed' && r.reward !== null)).toBe(true);
  });

  it('2 of 6 unscored with rollout.maxUnscoredFraction 0.3: the run fails with SWERL_UNSCORED_FRACTION_EXCEEDED', { timeout: 300_000 }, async () => {
    const { runId, handle } = await w.startRun(rftOnly({ maxUnscoredFraction: 0.3 }));
    const err = await handle.result().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(errorCodeOf(err)).toBe(ErrorCodes.UNSCORED_FRACTION_EXCEEDED);
    // The episodes themselves ended as in the first run: the bound is the iteration's only.
    const rows = await episodesOf(runId);
    expect(rows.filter((r) => r.exitReason === 'infra_failure')).toHaveLength(2);
    expect(rows.filter((r) => r.status === 'completed')).toHaveLength(4);
  });
});
