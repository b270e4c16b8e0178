/**
 * The Temporal dev server is killed with SIGKILL while a run is in flight (paused mid-stage) and
 * restarted from its SQLite file: the run keeps its state, resumes and completes, and every
 * iteration row is written exactly once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { loadRunConfig } from '../../config/load';
import { iterations, runs } from '../../db/schema';
import { runStatus, signalRun, startRun } from '../../cli/runs';
import { statusQuery } from '../../workflows/definitions';
import { orchestrationHarness, type OrchestrationHarness } from '../harness/orchestration';
import { killComponent, startComponent } from '../harness/stack';

let h: OrchestrationHarness;
beforeAll(async () => {
  h = await orchestrationHarness('restart');
  await h.startWorker();
});
afterAll(async () => {
  await startComponent('temporal');
  await h?.close();
});

it('a run survives SIGKILL of the Temporal server and completes', async () => {
  const config = loadRunConfig('toy');
  const runId = `restart-${Date.now()}`;
  const handle = await startRun(h.client, config, runId, h.taskQueue, { executor: 'smoke' });
  await signalRun(h.client, runId, 'pause', 'before the crash', 'ci');
  // The query says 'paused' as soon as the signal is handled, but the run only blocks at its next
  // boundary, after it marked its first stage running: reading the state before that raced the
  // workflow (CI saw 'pending' before the kill, 'running' after). runs.status = 'paused' is written
  // by the activity that runs right before the run blocks.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const [row] = await h.db.db.select({ status: runs.status }).from(runs).where(eq(runs.id, runId));
    if ((await handle.query(statusQuery)).phase === 'paused' && row?.status === 'paused') break;
    if (Date.now() > deadline) throw new Error('run did not pause');
    await new Promise((r) => setTimeout(r, 100));
  }
  const beforeKill = await runStatus(h.client, runId);
  expect(beforeKill.stages[0]?.state).toBe('running');

  await killComponent('temporal', 'SIGKILL');
  await startComponent('temporal');

  // Same state after the restart, answered by the workflow replayed on our (reconnected) worker.
  const afterRestart = await runStatus(h.client, runId);
  expect(afterRestart.phase).toBe('paused');
  expect(afterRestart.stages).toEqual(beforeKill.stages);

  await signalRun(h.client, runId, 'resume', 'after the crash', 'ci');
  const final = await handle.result();
  expect(final.phase).toBe('completed');
  expect(final.stages.every((s) => s.state === 'done' && s.iterationsDone === s.iterationsPlanned)).toBe(true);
  const rows = await h.db.db.select().from(iterations).where(eq(iterations.runId, runId));
  expect(rows).toHaveLength(8);
  const [run] = await h.db.db.select().from(runs).where(eq(runs.id, runId));
  expect(run?.status).toBe('completed');
});
