/**
 * `swerl eval CHECKPOINT` launches a fresh eval (cli/trainingCommands.ts launchEval →
 * checkpointEval workflow → evalStage), on the real stack with the scripted policy: EVAL_GOLD is
 * solved on every run, EVAL_GARBAGE never, so with k = 3 Pass@1 = 0.5 ± 0 and Pass@3 = 0.5.
 * A second launch while it runs attaches to it, one after it finished returns the stored result;
 * either way the episodes run once. An unknown checkpoint is refused before anything starts.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReportMarkdown } from '../../cli/demoReport';
import { runCurves } from '../../dashboard/queries';
import { checkpointEvals, formatEvalOutcome, launchEval, runReport } from '../../cli/trainingCommands';
import { RunError } from '../../core/errors';
import { registerCheckpoint } from '../../db/checkpoints';
import { episodes, evals, runs } from '../../db/schema';
import { childHandle, recordHistoryFixture } from '../harness/historyFixtures';
import { credentialLeaks, decodedHistories } from './historySecrets';
import { EVAL_GARBAGE, EVAL_GOLD, loopConfig, loopWorld, type LoopWorld } from './trainingLoopSetup';

let w: LoopWorld;
// Unique per test run: the eval's workflow id is derived from (checkpoint, config), and the Temporal
// server outlives this file's private database.
const CHECKPOINT = `ckeval-base-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  w = await loopWorld('ckeval');
  await w.startWorker();
  await w.startRollout();
  await registerCheckpoint(w.db.db, { id: CHECKPOINT, kind: 'base', path: CHECKPOINT });
});
afterAll(async () => {
  await w?.close();
});

describe('swerl eval CHECKPOINT', () => {
  const launch = (checkpointId: string) =>
    launchEval(w.client, w.db.db, {
      checkpointId,
      config: loopConfig(),
      runs: 3,
      services: { policyUrl: w.policyUrl, rolloutQueue: w.sharedQueue, trainerQueue: w.trainerQueue },
      taskQueue: w.taskQueue,
    });

  it('refuses an unknown checkpoint with SWERL_CHECKPOINT_NOT_FOUND before starting anything', async () => {
    const err = await launch('no-such-checkpoint').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunError);
    expect(err).toMatchObject({ code: 'SWERL_CHECKPOINT_NOT_FOUND', details: { checkpoint: 'no-such-checkpoint' } });
    expect((err as Error).message).toContain('no-such-checkpoint');
  });

  it('runs k runs per eval task once, stores Pass@1 ± SEM and Pass@k, and attaches duplicate launches', async () => {
    const started = Date.now();
    const first = await launch(CHECKPOINT);
    const second = await launch(CHECKPOINT); // while the first is running
    expect(second.workflowId).toBe(first.workflowId);
    expect(second.attachedTo).toBe('new-or-running');
    expect((await second.handle.describe()).runId).toBe((await first.handle.describe()).runId);

    const outcome = await first.handle.result();
    const seconds = (Date.now() - started) / 1000;
    expect(outcome).toMatchObject({ checkpointId: CHECKPOINT, pass1: 0.5, sem: 0, passK: 0.5, k: 3, tasks: 2 });
    expect(await second.handle.result()).toEqual(outcome);
    console.log(`checkpoint eval: ${formatEvalOutcome(outcome, 'eval')} in ${seconds.toFixed(1)} s`);

    // Launched again after it finished: the stored result, no new execution, no new episodes.
    const third = await launch(CHECKPOINT);
    expect(third).toMatchObject({ workflowId: first.workflowId, attachedTo: 'completed' });
    expect(await third.handle.result()).toEqual(outcome);
    const executions = [];
    for await (const e of w.client.workflow.list({ query: `WorkflowId = '${first.workflowId}'` })) executions.push(e.runId);
    expect(executions).toHaveLength(1);

    const [count] = await w.db.db.select({ n: sql<number>`count(*)::int` }).from(episodes).where(eq(episodes.runId, first.evalRunId));
    expect(count?.n).toBe(2 * 3);
    const stored = await checkpointEvals(w.db.db, CHECKPOINT);
    expect(stored.map((e) => [e.runId, e.stage, e.split, e.k, e.taskCount, e.pass1Mean, e.pass1Sem, e.passK])).toEqual([[first.evalRunId, 'eval', 'eval', 3, 2, 0.5, 0, 0.5]]);
    expect(stored[0]?.perTask).toEqual({ [EVAL_GOLD]: { solved: 3, runs: 3 }, [EVAL_GARBAGE]: { solved: 0, runs: 3 } });
    const [run] = await w.db.db.select().from(runs).where(eq(runs.id, first.evalRunId));
    expect(run?.status).toBe('completed');
    expect(await w.db.db.select().from(evals).where(and(eq(evals.runId, first.evalRunId), eq(evals.checkpointId, CHECKPOINT)))).toHaveLength(1);
    expect(w.trainer.loads).toContain(CHECKPOINT);

    // `swerl report RUN` rebuilds the eval table from Postgres; one eval makes no learning claim.
    const report = await runReport(w.db.db, first.evalRunId);
    expect(report.head).toMatchObject({ runId: first.evalRunId, phase: 'completed' });
    expect(report.evals).toMatchObject([{ label: 'eval', checkpointId: CHECKPOINT, pass1: 0.5, sem: 0, passK: 0.5, k: 3, tasks: 2, vsPrevious: null }]);
    expect(report.claims).toEqual([]);
    expect(renderReportMarkdown(report.head, report.stageEvals)).toContain(`| eval | ${CHECKPOINT} | 50.00% | 0.00% | 50.00% (3) | - | - |`);
    await expect(runReport(w.db.db, 'no-such-run')).rejects.toMatchObject({ code: 'SWERL_RUN_NOT_FOUND' });
    // The dashboard's curves read the same figures (one mapping, db/evals.ts evalFigures), without the per-task counts.
    const curves = await runCurves(w.db.db, first.evalRunId);
    expect(curves.evals).toMatchObject([{ evalId: stored[0]!.id, stage: 'eval', label: 'eval', checkpointId: CHECKPOINT, pass1: 0.5, sem: 0, passK: 0.5, k: 3, tasks: 2 }]);
    expect(curves.evals[0]).not.toHaveProperty('perTask');

    const dsn = (w.db.pool as unknown as { options: { connectionString: string } }).options.connectionString;
    const histories = await decodedHistories(w.client, [first.workflowId]);
    for (const [id, text] of histories) expect(credentialLeaks(text, dsn), id).toEqual([]);

    // SWERL_RECORD_HISTORIES=1 records the new workflow type for test/integration/replay.test.ts.
    if (process.env.SWERL_RECORD_HISTORIES) {
      const dir = path.join(__dirname, '..', 'fixtures', 'histories');
      writeFileSync(path.join(dir, 'checkpointEval.json'), historyToJSON(await first.handle.fetchHistory()));
    }
    // evalStage as a fixture of its own (recorded once; see harness/historyFixtures).
    const stage = await childHandle(w.client, first.handle, 'evalStage');
    if (stage) await recordHistoryFixture('evalStage', stage);
  });

  it('a different k is a different eval (own workflow id)', async () => {
    const k3 = await launch(CHECKPOINT);
    const k2 = await launchEval(w.client, w.db.db, { checkpointId: CHECKPOINT, config: loopConfig(), runs: 2, taskQueue: w.taskQueue, services: { policyUrl: w.policyUrl } });
    expect(k2.workflowId).not.toBe(k3.workflowId);
    await k2.handle.terminate('test: only the id matters');
  });
});
