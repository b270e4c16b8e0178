/**
 * Fault: the REAL Python trainer worker (its own process, its own checkpoints root and SQLite
 * ledger) is SIGKILLed inside a training-loop run — mid-update while an SFT step trains, between
 * steps while an RL iteration's episodes run, and mid-update while the RL step trains — and a fresh
 * worker is started each time. The run must complete with every (stage, iteration, step) of its
 * update plan applied exactly once (the trainer's own ledger), the checkpoints chaining from the
 * base, one checkpoint directory per step, and every episode counted once in task_stats.
 *
 * "Mid-step" is observed, not slept into: the step's lock (held by run_step from loading the base
 * until the ledger row is written) is held, and neither the checkpoint nor the ledger row exists.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedPolicyServer, type ScriptedPolicyServer } from '../../activities/policy/scriptedServer';
import { createScriptBook, garbageScript, goldScript } from '../../activities/policy/scripts';
import { startParityProxy, type SeedRouter } from '../../activities/policy/seedRouter';
import { importTasks, persistImport } from '../../activities/tasks';
import { checkpointIdFor, type LedgerRow } from '../../activities/trainer/contract';
import type { RunConfig } from '../../core/config';
import { trainingRunWorkflowId } from '../../core/taskQueues';
import { createDb, type DbHandle } from '../../db/client';
import { checkpoints, episodes, taskStatEvents, taskStats } from '../../db/schema';
import { connectClient } from '../../workers/endpoints';
import { installTemporalLogging } from '../../workers/logging';
import { createRolloutWorkers, type RolloutWorkers } from '../../workers/rollout';
import { statusQuery } from '../../workflows/definitions';
import type { trainingRun } from '../../workflows/trainingRun';
import { EASY, HARD, MIXED, TOY_SUITE, loopConfig, waitFor } from '../integration/trainingLoopSetup';
import { createTestDatabase, type TestDatabase } from '../harness/db';
import { testEndpoints } from '../harness/stack';
import { readTrainerLedger, stepAttemptInProgress, trainerWorker, type TrainerWorker } from '../harness/trainer';
import { workerProcess, type WorkerProcess } from '../harness/workerProcess';

const BASE = 'toy-base';
const MINUTES = 60_000;

interface World {
  database: TestDatabase;
  db: DbHandle;
  client: Client;
  queue: string;
  checkpointsRoot: string;
  servers: ScriptedPolicyServer[];
  router: SeedRouter;
  rollout: { workers: RolloutWorkers; done: Promise<void> };
  orchestration: WorkerProcess;
  trainer: TrainerWorker;
}
let w: World | undefined;
let run: WorkflowHandle<typeof trainingRun> | undefined;
let passed = false;

/** RFT (3 kept trajectories in batches of 2: two SFT steps) then one RL iteration (one RL step). */
function killConfig(): RunConfig {
  const [rft, rl] = loopConfig().stages;
  return loopConfig({ stages: [{ ...rft, batchSize: 2 }, { ...rl, iterations: 1 }] });
}

async function setUp(prefix: string): Promise<World> {
  installTemporalLogging('warn');
  const endpoints = testEndpoints();
  const database = await createTestDatabase(prefix);
  const db = createDb(database.url);
  const client = await connectClient(endpoints);
  const queue = `test-${prefix}-${randomUUID().slice(0, 8)}`;
  const checkpointsRoot = mkdtempSync(path.join(os.tmpdir(), `swerl-${prefix}-`));

  const tasks = (await importTasks(TOY_SUITE, { validate: false })).accepted.filter((t) => [EASY, MIXED, HARD].includes(t.instanceId));
  await persistImport(db.db, 'toy', { accepted: tasks, quarantined: [] });
  // EASY always solved, HARD never, MIXED on even episode seeds (the parity router).
  const book = (mixedSolved: boolean) =>
    createScriptBook(
      tasks.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: t.instanceId === EASY || (t.instanceId === MIXED && mixedSolved) ? goldScript(t) : garbageScript(1_000) })),
    );
  const servers = [await startScriptedPolicyServer({ port: 0, scripts: book(true) }), await startScriptedPolicyServer({ port: 0, scripts: book(false) })];
  // acceptLoads: the real trainer's load_policy posts /v1/load to the policy URL it was given.
  const router = await startParityProxy(servers[0]!.url, servers[1]!.url, { acceptLoads: true });

  const workers = await createRolloutWorkers({ endpoints, db: db.db, sandbox: killConfig().sandbox, hostId: `${prefix}-${randomUUID().slice(0, 6)}`, sharedQueue: `${queue}-rollout`, reaperIntervalMs: 5_000 });
  const rollout = { workers, done: workers.run() };
  const orchestration = workerProcess(`${prefix}-orchestration`, {
    role: 'orchestration',
    env: { SWERL_ORCHESTRATION_QUEUE: queue, SWERL_DATABASE_URL: database.url, SWERL_TEMPORAL_ADDRESS: endpoints.temporalAddress, SWERL_TEMPORAL_NAMESPACE: endpoints.temporalNamespace },
    readyPattern: /orchestration worker polling/,
  });
  const trainer = trainerWorker(`${prefix}-trainer`, {
    temporalAddress: endpoints.temporalAddress,
    namespace: endpoints.temporalNamespace,
    taskQueue: `${queue}-trainer`,
    checkpoints: checkpointsRoot,
    baseId: BASE,
    policyUrl: router.url,
    // The `test` model (steps of seconds, not half a minute) with a context that fits the toy trajectories.
    preset: 'test',
    maxSeqLen: 8192,
  });
  return { database, db, client, queue, checkpointsRoot, servers, router, rollout, orchestration, trainer };
}

async function tearDown(x: World): Promise<void> {
  // A failed run would go on retrying against workers that are gone.
  if (!passed) await run?.terminate('trainerKill test failed').catch(() => {});
  await x.trainer.stop();
  await x.orchestration.kill('SIGKILL');
  x.rollout.workers.shutdown();
  await x.rollout.done.catch(() => {});
  await x.rollout.workers.close();
  await x.router.close();
  for (const s of x.servers) await s.close();
  await x.client.connection.close();
  await x.db.close();
  await x.database.drop();
  if (passed) rmSync(x.checkpointsRoot, { recursive: true, force: true });
  else console.log(`[trainerKill] kept the checkpoints root ${x.checkpointsRoot}; trainer log ${x.trainer.logFile}`);
}

async function completedEpisodes(runId: string, stage: string, iteration: number): Promise<number> {
  const [row] = await w!.db.db
    .select({ n: sql<number>`count(*)::int` })
    .from(episodes)
    .where(and(eq(episodes.runId, runId), eq(episodes.stage, stage), eq(episodes.iteration, iteration), eq(episodes.status, 'completed')));
  return row?.n ?? 0;
}

interface Kill {
  at: string;
  checkpointId?: string;
  pid: number;
  /** ms since the run started */
  atMs: number;
  /** mid-step kills: how long the attempt had held the step lock */
  lockHeldMs?: number;
}

/** How long the step lock must have been held before the kill: past loading the base and the batch (well under a second), into training. */
const INTO_STEP_MS = 1_500;

/**
 * Waits until an attempt of the step has held its lock for INTO_STEP_MS, SIGKILLs the trainer there
 * and checks the step was not applied. Polls tightly: a step of the `test` model lasts seconds.
 */
async function killMidStep(runId: string, stage: string, iteration: number, step: number, t0: number): Promise<Kill> {
  const x = w!;
  const cid = checkpointIdFor({ run: runId, stage, iteration, step });
  const deadline = Date.now() + 10 * MINUTES;
  let heldSince: number | undefined;
  for (;;) {
    const held = stepAttemptInProgress(x.checkpointsRoot, cid);
    if (held && heldSince !== undefined && Date.now() - heldSince >= INTO_STEP_MS) break;
    heldSince = held ? (heldSince ?? Date.now()) : undefined;
    if (existsSync(path.join(x.checkpointsRoot, cid))) throw new Error(`step ${cid} finished before the test could kill it mid-step`);
    if (Date.now() > deadline) throw new Error(`step ${cid} never started`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const kill = { at: 'mid-step', checkpointId: cid, pid: x.trainer.pid!, atMs: Date.now() - t0, lockHeldMs: Date.now() - heldSince };
  await x.trainer.kill('SIGKILL');
  // Killed before it applied: no checkpoint in place, no ledger row.
  expect(existsSync(path.join(x.checkpointsRoot, cid, 'model.safetensors'))).toBe(false);
  expect((await readTrainerLedger(x.checkpointsRoot, runId)).map((r) => r.checkpoint_id)).not.toContain(cid);
  await x.trainer.start();
  return kill;
}

/**
 * The final attempt number of each trainer step activity, from the history of `workflowId` and of
 * every child workflow it started (with the sharded fan-out the steps run in updateSegment children).
 */
async function stepAttempts(workflowId: string): Promise<Map<string, number>> {
  const attempts = new Map<string, number>();
  const pending = [workflowId];
  for (let visited = 0; pending.length > 0 && visited < 50; visited++) {
    const history = await w!.client.workflow.getHandle(pending.shift()!).fetchHistory();
    const scheduled = new Map<number, string>();
    for (const e of history.events ?? []) {
      const child = e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
      if (child) pending.push(child);
      const s = e.activityTaskScheduledEventAttributes;
      if (s && (s.activityType?.name === 'sft_step' || s.activityType?.name === 'rl_step')) {
        const key = (s.input?.payloads?.[0]?.data ? JSON.parse(Buffer.from(s.input.payloads[0].data).toString()) : {}) as { step_key?: { step: number } };
        scheduled.set(Number(e.eventId), `${s.activityType.name}:${key.step_key?.step}`);
      }
      const started = e.activityTaskStartedEventAttributes;
      const name = started ? scheduled.get(Number(started.scheduledEventId)) : undefined;
      if (started && name) attempts.set(name, started.attempt ?? 0);
    }
  }
  return attempts;
}

beforeAll(async () => {
  w = await setUp('trainerkill');
  await w.orchestration.start();
  await w.trainer.start();
}, 5 * MINUTES);
afterAll(async () => {
  if (w) await tearDown(w);
}, 2 * MINUTES);

describe('training loop with the real Python trainer SIGKILLed', () => {
  it('completes with every planned step applied once after kills mid-SFT-step, mid-iteration and mid-RL-step', async () => {
    const x = w!;
    const runId = `trainerkill-${randomUUID().slice(0, 8)}`;
    const config = killConfig();
    const t0 = Date.now();
    const handle = await x.client.workflow.start<typeof trainingRun>('trainingRun', {
      workflowId: trainingRunWorkflowId(runId),
      taskQueue: x.queue,
      args: [{ runId, config, services: { policyUrl: x.router.url, rolloutQueue: `${x.queue}-rollout`, trainerQueue: `${x.queue}-trainer` } }],
    });
    run = handle;
    const kills: Kill[] = [];

    // 1. Mid-update: the first SFT step of RFT trains.
    kills.push(await killMidStep(runId, 'rft', 0, 0, t0));

    // 2. Mid-iteration, between steps: RL iteration 0's episodes run, no step in flight.
    await waitFor(async () => (await completedEpisodes(runId, 'rl-stage1', 0)) >= 1, 10 * MINUTES, 'a finished episode of rl-stage1 iteration 0');
    expect(await completedEpisodes(runId, 'rl-stage1', 0)).toBeLessThan(6);
    expect(stepAttemptInProgress(x.checkpointsRoot, checkpointIdFor({ run: runId, stage: 'rl-stage1', iteration: 0, step: 0 }))).toBe(false);
    expect((await readTrainerLedger(x.checkpointsRoot, runId)).map((r) => `${r.stage}/${r.iteration}/${r.step}`)).toEqual(['rft/0/0', 'rft/0/1']);
    kills.push({ at: 'mid-iteration', pid: x.trainer.pid!, atMs: Date.now() - t0 });
    await x.trainer.kill('SIGKILL');
    await x.trainer.start();

    // 3. Mid-update: the RL step of iteration 0 trains.
    kills.push(await killMidStep(runId, 'rl-stage1', 0, 0, t0));

    const final = await handle.result();
    console.log(`[trainerKill] run ${runId} completed in ${((Date.now() - t0) / 1000).toFixed(0)} s; kills ${JSON.stringify(kills)}`);
    expect(final.phase).toBe('completed');
    expect(final.stages.map((s) => [s.name, s.state, s.iterationsDone])).toEqual([
      ['rft', 'done', 1],
      ['rl-stage1', 'done', 1],
    ]);
    expect(new Set(x.trainer.pids).size).toBe(4); // the first worker and three restarts

    // The update plan the run made, from its own status, against the trainer's own ledger.
    const status = await handle.query(statusQuery);
    const planned = (status.iterations ?? []).flatMap((r) => Array.from({ length: r.updateSteps ?? 0 }, (_, step) => `${r.stage}/${r.iteration}/${step}`));
    expect(planned).toEqual(['rft/0/0', 'rft/0/1', 'rl-stage1/0/0']);
    // Killing the trainer costs no episode attempt; a loaded machine may still retry some (measured
    // at load 40: 6 acquireSandbox attempts timed out as SWERL_LEASE_UNAVAILABLE): the run's
    // counter must equal what its episodes recorded.
    const [recorded] = await x.db.db
      .select({ n: sql<number>`coalesce(sum(${episodes.infraFailures}), 0)::int` })
      .from(episodes)
      .where(eq(episodes.runId, runId));
    expect(status.counters).toEqual({ episodes: 12, infraFailures: recorded!.n, updateSteps: 3 });
    const ledger: LedgerRow[] = await readTrainerLedger(x.checkpointsRoot, runId);
    console.log(`[trainerKill] training seconds per step (the retried attempts for the killed ones): ${ledger.map((r) => `${r.stage}/${r.step} ${r.metrics.seconds?.toFixed(1)}`).join(', ')}`);
    expect(ledger.map((r) => `${r.stage}/${r.iteration}/${r.step}`)).toEqual(planned);
    expect(ledger.map((r) => r.kind)).toEqual(['sft', 'sft', 'rl']);
    // The chain: each step trained from the previous step's checkpoint, the first from the base.
    expect(ledger.map((r) => r.base_checkpoint)).toEqual([BASE, ...ledger.slice(0, -1).map((r) => r.checkpoint_id)]);
    expect(ledger.map((r) => r.checkpoint_id)).toEqual(ledger.map((r) => checkpointIdFor(r)));
    expect(status.iterations?.map((r) => r.checkpointId)).toEqual([ledger[1]!.checkpoint_id, ledger[2]!.checkpoint_id]);
    expect(x.router.loads().at(-1)).toBe(ledger[2]!.checkpoint_id);

    // The killed steps were retried by Temporal (attempt 2 finished them), the others ran once.
    expect(Object.fromEntries(await stepAttempts(`swerl-rft-${runId}-rft`))).toEqual({ 'sft_step:0': 2, 'sft_step:1': 1 });
    expect(Object.fromEntries(await stepAttempts(`swerl-iter-${runId}-rl-stage1-0`))).toEqual({ 'rl_step:0': 2 });

    // The run's checkpoint registry matches the ledger.
    const registered = await x.db.db.select().from(checkpoints).where(eq(checkpoints.runId, runId));
    expect(registered.map((c) => [c.id, c.parentId, c.stage, c.iteration]).sort()).toEqual(ledger.map((r) => [r.checkpoint_id, r.base_checkpoint, r.stage, r.iteration]).sort());

    // One checkpoint directory per applied step; no torn temp directory of a killed attempt left.
    const onDisk = ['rft', 'rl-stage1'].flatMap((stage) => readdirSync(path.join(x.checkpointsRoot, runId, stage)).map((d) => `${runId}/${stage}/${d}`));
    expect(onDisk.sort()).toEqual(ledger.map((r) => r.checkpoint_id).sort());

    // Every episode counted once: 3 tasks × 2 rollouts in RFT, 3 problems × G 2 in the RL iteration.
    const events = await x.db.db.select().from(taskStatEvents).where(eq(taskStatEvents.runId, runId));
    const runEpisodes = await x.db.db.select({ id: episodes.id }).from(episodes).where(eq(episodes.runId, runId));
    expect(events.map((e) => e.episodeId).sort()).toEqual(runEpisodes.map((e) => e.id).sort());
    expect(events).toHaveLength(12);
    const stats = await x.db.db.select().from(taskStats).where(eq(taskStats.runId, runId));
    const byStage = (stage: string) => Object.fromEntries(stats.filter((s) => s.stage === stage).map((s) => [s.taskId, [s.attempts, s.solves]]));
    expect(byStage('rft')).toEqual({ [EASY]: [2, 2], [MIXED]: [2, 1], [HARD]: [2, 0] });
    expect(byStage('rl-stage1')).toEqual({ [EASY]: [2, 2], [MIXED]: [2, 1], [HARD]: [2, 0] });
    passed = true;
  }, 15 * MINUTES);
});
