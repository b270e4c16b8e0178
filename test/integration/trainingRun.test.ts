import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { loadRunConfig } from '../../config/load';
import { iterations, runs, stages } from '../../db/schema';
import { runHistory, runStatus, signalRun, startRun } from '../../cli/runs';
import { errorCodeOf } from '../../core/errors';
import { statusQuery } from '../../workflows/definitions';
import { orchestrationHarness, type OrchestrationHarness } from '../harness/orchestration';

let h: OrchestrationHarness;
const config = loadRunConfig('toy');
// toy: rft (1) + rl-stage1 (3) + rl-stage2 (3) + eval (1)
const PLANNED_ITERATIONS = 8;

beforeAll(async () => {
  h = await orchestrationHarness('run');
  await h.startWorker();
});
afterAll(async () => {
  await h?.close();
});

async function waitFor(pred: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('trainingRun smoke run', () => {
  it('records the run, pauses and resumes on Signals, answers status, and completes', async () => {
    const runId = `smoke-${Date.now()}`;
    const handle = await startRun(h.client, config, runId, h.taskQueue, { executor: 'smoke' });
    await signalRun(h.client, runId, 'pause', 'inspect the first iteration', 'alice');
    await waitFor(async () => (await handle.query(statusQuery)).phase === 'paused');

    const paused = await runStatus(h.client, runId);
    expect(paused.pausedBy).toEqual({ who: 'alice', reason: 'inspect the first iteration' });
    await waitFor(async () => (await h.db.db.select().from(runs).where(eq(runs.id, runId)))[0]?.status === 'paused');
    // While paused the run makes no progress.
    const before = paused.stages.reduce((n, s) => n + s.iterationsDone, 0);
    await new Promise((r) => setTimeout(r, 500));
    expect((await runStatus(h.client, runId)).stages.reduce((n, s) => n + s.iterationsDone, 0)).toBe(before);

    await signalRun(h.client, runId, 'resume', 'looks fine', 'alice');
    const final = await handle.result();
    expect(final.phase).toBe('completed');
    expect(final.stages.map((s) => [s.name, s.state, s.iterationsDone])).toEqual([
      ['rft', 'done', 1],
      ['rl-stage1', 'done', 3],
      ['rl-stage2', 'done', 3],
      ['eval', 'done', 1],
    ]);

    const [row] = await h.db.db.select().from(runs).where(eq(runs.id, runId));
    expect(row?.status).toBe('completed');
    expect(row?.name).toBe('toy');
    const stageRows = await h.db.db.select().from(stages).where(eq(stages.runId, runId));
    expect(stageRows.map((s) => s.status).sort()).toEqual(['completed', 'completed', 'completed', 'completed']);
    const iterRows = await h.db.db.select().from(iterations).where(eq(iterations.runId, runId));
    expect(iterRows).toHaveLength(PLANNED_ITERATIONS);

    const history = await runHistory(h.client, runId);
    const signals = history.filter((l) => l.type === 'WorkflowExecutionSignaled').map((l) => l.detail.split(' ')[0]);
    expect(signals).toEqual(['pause', 'resume']);
    expect(history.filter((l) => l.type === 'ActivityTaskScheduled' && l.detail.startsWith('recordIteration'))).toHaveLength(PLANNED_ITERATIONS);
    expect(history.at(-1)?.type).toBe('WorkflowExecutionCompleted');

    // SWERL_RECORD_HISTORIES=1 refreshes the fixture that test/integration/replay.test.ts replays.
    if (process.env.SWERL_RECORD_HISTORIES) {
      const file = path.join(__dirname, '..', 'fixtures', 'histories', 'trainingRun-smoke.json');
      writeFileSync(file, historyToJSON(await handle.fetchHistory()));
    }
  });

  it('aborts at the next boundary with the reason recorded', async () => {
    const runId = `abort-${Date.now()}`;
    const handle = await startRun(h.client, config, runId, h.taskQueue, { executor: 'smoke' });
    await signalRun(h.client, runId, 'pause', 'hold', 'bob');
    await signalRun(h.client, runId, 'abort', 'wrong learning rate', 'bob');
    const final = await handle.result();
    expect(final.phase).toBe('aborted');
    expect(final.abortReason).toBe('wrong learning rate (by bob)');
    const [row] = await h.db.db.select().from(runs).where(eq(runs.id, runId));
    expect(row?.status).toBe('aborted');
    const done = final.stages.reduce((n, s) => n + s.iterationsDone, 0);
    expect(done).toBeLessThan(PLANNED_ITERATIONS);
  });

  it('gives SWERL_RUN_NOT_FOUND for an unknown run', async () => {
    const err = await runStatus(h.client, 'no-such-run').catch((e: unknown) => e);
    expect(errorCodeOf(err)).toBe('SWERL_RUN_NOT_FOUND');
  });
});
