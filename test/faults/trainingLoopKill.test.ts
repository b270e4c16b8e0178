/**
 * Fault: the orchestration worker is SIGKILLed in the middle of an RL iteration (episodes of it
 * running) and again in the middle of an update step (the trainer holds the step's call; it
 * finishes while no orchestration worker is alive), restarted each time; the trainer crashes once
 * right after applying a step. The run must complete with every (run, stage, iteration, step)
 * applied exactly once (the trainer double's own ledger), the held step called exactly once (the
 * restarted worker takes its result from history, it does not issue it again), and every episode
 * counted once in task_stats.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentTurnOf } from '../../core/transcript';
import { episodes, taskStatEvents, taskStats, turns } from '../../db/schema';
import { statusQuery } from '../../workflows/definitions';
import { killComponent, startComponent, testEndpoints } from '../harness/stack';
import { EASY, HARD, MIXED, loopConfig, loopWorld, waitFor, type LoopWorld } from '../integration/trainingLoopSetup';

const REPO = path.join(__dirname, '..', '..');
let w: LoopWorld;
let worker: ChildProcess | undefined;

function startWorkerProcess(): Promise<ChildProcess> {
  const endpoints = testEndpoints();
  const dsn = (w.db.pool as unknown as { options: { connectionString: string } }).options.connectionString;
  const child = spawn('npx', ['tsx', 'cli/main.ts', 'worker', '--role', 'orchestration'], {
    cwd: REPO,
    detached: true, // its own process group: SIGKILL reaches npx, tsx and node alike
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      SWERL_ORCHESTRATION_QUEUE: w.taskQueue,
      SWERL_DATABASE_URL: dsn,
      SWERL_TEMPORAL_ADDRESS: endpoints.temporalAddress,
      SWERL_TEMPORAL_NAMESPACE: endpoints.temporalNamespace,
    },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (b: Buffer) => {
      out += b.toString();
      if (out.includes('orchestration worker polling')) resolve(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`orchestration worker exited (${code}) before polling:\n${out.slice(-2000)}`)));
    setTimeout(() => reject(new Error(`orchestration worker not ready in 120 s:\n${out.slice(-2000)}`)), 120_000).unref();
  });
}

function sigkill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    process.kill(-child.pid!, 'SIGKILL');
  });
}

/**
 * From the policy servers' own counters: every call was for an agent turn that is persisted, and
 * with `once` every persisted turn of the run was sampled exactly once (nothing re-sampled).
 */
async function expectTurnsSampled(runId: string, opts: { once: boolean }): Promise<void> {
  const persisted = await w.db.db
    .select({ episodeId: turns.episodeId, idx: turns.idx })
    .from(turns)
    .innerJoin(episodes, eq(episodes.id, turns.episodeId))
    .where(and(eq(episodes.runId, runId), eq(turns.role, 'assistant')));
  const keys = persisted.map((t) => `${t.episodeId}:${agentTurnOf(t.idx)}`).sort();
  const episodeIds = new Set(persisted.map((t) => t.episodeId));
  const calls = w.policyCalls();
  const mine = Object.keys(calls).filter((k) => episodeIds.has(k.slice(0, k.lastIndexOf(':'))));
  expect(keys.length).toBeGreaterThan(0);
  expect(mine.sort(), 'policy calls for turns that were never persisted').toEqual(keys);
  if (opts.once) {
    const twice = keys.filter((k) => calls[k]!.length !== 1);
    expect(twice, `turns sampled more than once: ${twice.map((k) => `${k}×${calls[k]!.length}`).join(', ')}`).toEqual([]);
  }
}

async function completedEpisodes(runId: string, iteration?: number): Promise<number> {
  const [row] = await w.db.db
    .select({ n: sql<number>`count(*)::int` })
    .from(episodes)
    .where(and(eq(episodes.runId, runId), eq(episodes.status, 'completed'), iteration === undefined ? undefined : eq(episodes.iteration, iteration)));
  return row?.n ?? 0;
}

beforeAll(async () => {
  w = await loopWorld('loopkill', { crashAfterApply: 1 });
  await w.startRollout();
});
afterAll(async () => {
  if (worker && worker.exitCode === null) await sigkill(worker);
  await w?.close();
});

describe('training loop under a killed orchestration worker', () => {
  it('completes after SIGKILL mid-iteration and mid-update-step with every step applied once and every episode counted once', async () => {
    worker = await startWorkerProcess();
    const config = loopConfig({ stages: [loopConfig().stages[1]] }); // rl-stage1: 2 iterations × 3 problems × G 2
    const { runId, handle } = await w.startRun(config);
    const midStep = w.trainer.hold(`${runId}/rl-stage1/1/0`);

    // Mid-iteration: some episodes of iteration 0 done, the iteration not finished.
    await waitFor(async () => (await completedEpisodes(runId, 0)) >= 1, 300_000, 'the first finished episode');
    expect(w.trainer.ledger(runId)).toEqual([]);
    await sigkill(worker);
    await new Promise((r) => setTimeout(r, 3_000));
    worker = await startWorkerProcess();

    // Mid-update-step: iteration 1's step is in the trainer's hands, not applied yet.
    await midStep.entered;
    console.log(`[trainingLoopKill] killing the orchestration worker mid-step at ${new Date().toISOString()}`);
    expect(w.trainer.applications.get(`${runId}/rl-stage1/1/0`)).toBeUndefined();
    await sigkill(worker);
    // The step completes while no orchestration worker is alive; its result waits in history.
    midStep.release();
    await waitFor(async () => w.trainer.applications.get(`${runId}/rl-stage1/1/0`) === 1, 60_000, 'the held step to apply');
    worker = await startWorkerProcess();

    const final = await handle.result();
    expect(final.phase).toBe('completed');
    expect(final.stages[0]).toMatchObject({ state: 'done', iterationsDone: 2 });
    // A worker kill loses no activity attempt that counts; a loaded machine may still retry one
    // (e.g. a reward harness that crashed): the run's counter must equal what its episodes recorded.
    const counters = (await handle.query(statusQuery)).counters;
    const [recorded] = await w.db.db
      .select({ n: sql<number>`coalesce(sum(${episodes.infraFailures}), 0)::int` })
      .from(episodes)
      .where(eq(episodes.runId, runId));
    expect(counters).toEqual({ episodes: 12, infraFailures: recorded!.n, updateSteps: 2 });

    const ledger = w.trainer.ledger(runId);
    expect(ledger.map((r) => `${r.stage}/${r.iteration}/${r.step}`)).toEqual(['rl-stage1/0/0', 'rl-stage1/1/0']);
    expect([...w.trainer.applications.values()]).toEqual([1, 1]);
    console.log(`[trainingLoopKill] run ${runId}: ${JSON.stringify(Object.fromEntries(w.trainer.calls))} step calls`);
    // The injected crash after applying step 0 made Temporal retry it; the ledger answered.
    expect(w.trainer.crashesInjected).toBe(1);
    expect(w.trainer.calls.get(`${runId}/rl-stage1/0/0`)).toBe(2);
    // The step the worker was killed in was issued once: the restarted worker did not call it again.
    expect(w.trainer.calls.get(`${runId}/rl-stage1/1/0`)).toBe(1);

    const [events] = await w.db.db.select({ n: sql<number>`count(*)::int` }).from(taskStatEvents).where(eq(taskStatEvents.runId, runId));
    expect(events?.n).toBe(12);
    const stats = await w.db.db.select().from(taskStats).where(eq(taskStats.runId, runId));
    expect(Object.fromEntries(stats.map((s) => [s.taskId, [s.attempts, s.solves]]))).toEqual({ [EASY]: [4, 4], [MIXED]: [4, 2], [HARD]: [4, 0] });
    // The orchestration worker holds no turn: its kills made no episode ask the policy twice.
    await expectTurnsSampled(runId, { once: true });
  }, 10 * 60_000);

  it('completes after the Temporal server is SIGKILLed and restarted mid-stage, every step applied once', async () => {
    worker ??= await startWorkerProcess();
    const config = loopConfig({ stages: [loopConfig().stages[1]] });
    const { runId, handle } = await w.startRun(config);
    await waitFor(async () => (await completedEpisodes(runId)) >= 2, 300_000, 'two finished episodes');
    await killComponent('temporal', 'SIGKILL');
    await startComponent('temporal');

    const final = await handle.result();
    expect(final.phase).toBe('completed');
    expect(final.stages[0]).toMatchObject({ state: 'done', iterationsDone: 2 });
    const ledger = w.trainer.ledger(runId);
    expect(ledger.map((r) => `${r.stage}/${r.iteration}/${r.step}`)).toEqual(['rl-stage1/0/0', 'rl-stage1/1/0']);
    for (const r of ledger) expect(w.trainer.applications.get(`${runId}/${r.stage}/${r.iteration}/${r.step}`)).toBe(1);
    const [events] = await w.db.db.select({ n: sql<number>`count(*)::int` }).from(taskStatEvents).where(eq(taskStatEvents.runId, runId));
    expect(events?.n).toBe(12);
    // A segment whose heartbeats the restart interrupted may ask its turn in flight again; no call
    // is for a turn that was not persisted in the end.
    await expectTurnsSampled(runId, { once: false });
  });
});
