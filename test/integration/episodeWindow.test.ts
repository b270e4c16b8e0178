/**
 * rollout.maxConcurrentEpisodes on the real loop: an RFT stage of 6 episodes with a cap of 2 never
 * has more than 2 of them running at once (measured from the episodes' started/finished times in
 * Postgres and from the child workflows' start/close times in Temporal), and still trains on
 * every result in slot order.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asc, eq } from 'drizzle-orm';
import type { RunConfig } from '../../core/config';
import { episodes } from '../../db/schema';
import { loopConfig, loopWorld, type LoopWorld } from './trainingLoopSetup';

let w: LoopWorld;

beforeAll(async () => {
  w = await loopWorld('window');
  await w.startWorker();
  await w.startRollout();
});
afterAll(async () => {
  await w?.close();
});

/** Most intervals open at one instant; an interval ending when another starts does not overlap it. */
function maxOverlap(intervals: Array<{ start: number; end: number }>): number {
  const events = intervals.flatMap((i) => [
    { t: i.start, d: 1 },
    { t: i.end, d: -1 },
  ]);
  events.sort((a, b) => a.t - b.t || a.d - b.d);
  let open = 0;
  let most = 0;
  for (const e of events) {
    open += e.d;
    most = Math.max(most, open);
  }
  return most;
}

describe('episode window', () => {
  it('maxOverlap counts what is open at once', () => {
    expect(maxOverlap([{ start: 0, end: 10 }, { start: 5, end: 6 }, { start: 10, end: 12 }])).toBe(2);
    expect(maxOverlap([{ start: 0, end: 1 }, { start: 1, end: 2 }])).toBe(1);
  });

  it('an RFT stage with maxConcurrentEpisodes 2 runs at most 2 of its 6 episodes at once', async () => {
    const base = loopConfig();
    const config: RunConfig = { ...base, stages: [base.stages[0]!], rollout: { maxConcurrentEpisodes: 2 } };
    const started = Date.now();
    const { runId, handle } = await w.startRun(config);
    const final = await handle.result();
    const seconds = (Date.now() - started) / 1000;
    expect(final.phase).toBe('completed');
    expect(final.iterations?.map((r) => [r.stage, r.episodes, r.updateSteps])).toEqual([['rft', 6, 1]]);

    const rows = await w.db.db
      .select({ id: episodes.id, workflowId: episodes.workflowId, startedAt: episodes.startedAt, finishedAt: episodes.finishedAt })
      .from(episodes)
      .where(eq(episodes.runId, runId))
      .orderBy(asc(episodes.startedAt));
    expect(rows).toHaveLength(6);
    const fromDb = rows.map((r) => ({ start: r.startedAt!.getTime(), end: r.finishedAt!.getTime() }));
    const children = await Promise.all(rows.map(async (r) => (await w.client.workflow.getHandle(r.workflowId!).describe())));
    const fromTemporal = children.map((d) => ({ start: d.startTime.getTime(), end: d.closeTime!.getTime() }));
    console.log(`window: 6 episodes, cap 2, run ${seconds.toFixed(1)} s; max overlap Postgres ${maxOverlap(fromDb)}, Temporal ${maxOverlap(fromTemporal)}`);
    expect(maxOverlap(fromDb)).toBeLessThanOrEqual(2);
    expect(maxOverlap(fromTemporal)).toBeLessThanOrEqual(2);
    // The window was used, not a serial fallback: two episodes did run side by side.
    expect(maxOverlap(fromTemporal)).toBe(2);
    // RFT keeps EASY's two samples and MIXED's even-seed one: results came back per slot.
    expect(w.trainer.ledger(runId).map((r) => [r.kind, r.metrics.samples])).toEqual([['sft', 3]]);

    // SWERL_RECORD_HISTORIES=1 records the windowed RFT stage for test/integration/replay.test.ts.
    if (process.env.SWERL_RECORD_HISTORIES) {
      const dir = path.join(__dirname, '..', 'fixtures', 'histories');
      writeFileSync(path.join(dir, 'rftStage-window.json'), historyToJSON(await w.client.workflow.getHandle(`swerl-rft-${runId}-rft`).fetchHistory()));
    }
  });
});
