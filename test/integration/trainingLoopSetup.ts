/**
 * The training loop's test world, for one test file: a private database with a few toy tasks, a
 * private orchestration queue (in-process worker, or a child process for the fault tests), a
 * rollout worker, the trainer test double, and a policy made of two scripted servers behind a
 * proxy that routes by the request's seed — so one task can be solved on some samples and failed
 * on others (groups with non-zero advantage), deterministically.
 *
 * Tasks: EASY is always solved (too easy for stage 2), HARD never (never solved), MIXED is solved
 * when the episode seed is even; eval: EVAL_GOLD always solved, EVAL_GARBAGE never.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { importTasks, persistImport, type ImportedTask } from '../../activities/tasks';
import { startScriptedPolicyServer, type ScriptedPolicyServer } from '../../activities/policy/scriptedServer';
import { createScriptBook, garbageScript, goldScript } from '../../activities/policy/scripts';
import { startParityProxy } from '../../activities/policy/seedRouter';
import { startTrainerDouble, type TrainerDouble } from '../../activities/trainer/testDouble';
import { parseRunConfig, type Decoding, type RunConfig } from '../../core/config';
import { trainingRunWorkflowId } from '../../core/taskQueues';
import { createRolloutWorkers, type RolloutWorkers } from '../../workers/rollout';
import type { trainingRun, TrainingRunInput } from '../../workflows/trainingRun';
import { NativeConnection } from '@temporalio/worker';
import { createInProcessRollout, type InProcessRollout, type InProcessRolloutOptions } from '../harness/inProcessRollout';
import { orchestrationHarness, type OrchestrationHarness } from '../harness/orchestration';
import { testEndpoints } from '../harness/stack';

export const TOY_SUITE = path.join(__dirname, '..', '..', 'tasks', 'toy', 'tasks.jsonl');
export const EASY = 'toy__backoff-1';
export const MIXED = 'toy__bank-2';
export const HARD = 'toy__calc-1';
export const EVAL_GOLD = 'toy__bank-1';
export const EVAL_GARBAGE = 'toy__csvlite-1';
const TASKS = [EASY, MIXED, HARD, EVAL_GOLD, EVAL_GARBAGE];

/** The toy plan shrunk: 3 train tasks, G = 2, 2 + 1 RL iterations, 6 turns, eval k = 2. */
export function loopConfig(overrides: { minPass1?: number; stages?: unknown[] } = {}): RunConfig {
  const rl = { maxTurns: 6, contextTokens: 4096, groupSize: 2, batchSize: 8, lr: 3e-4, lengthPenalty: { enabled: true, freeTurns: 5 } };
  return parseRunConfig({
    name: 'toy-loop',
    seed: 7,
    model: { base: 'toy-base' },
    tasks: { suite: TOY_SUITE },
    stages: overrides.stages ?? [
      { kind: 'rft', name: 'rft', maxTurns: 6, contextTokens: 4096, rolloutsPerTask: 2, batchSize: 8, lr: 1e-3 },
      { kind: 'rl', name: 'rl-stage1', ...rl, iterations: 2, problemsPerIteration: 3 },
      {
        kind: 'rl',
        name: 'rl-stage2',
        ...rl,
        iterations: 1,
        problemsPerIteration: 2,
        clip: { low: 0.2, high: 0.26 },
        curriculum: { rule: 'drop-easy-and-unsolved', fromStages: ['rl-stage1'] },
      },
      { kind: 'eval', name: 'eval', maxTurns: 6, contextTokens: 4096, runs: 2 },
    ],
    sandbox: { cpus: 0.5, memoryMiB: 512, prewarm: 1, maxConcurrent: 4, commandTimeoutSec: 30 },
    timeouts: { promoteWaitDays: 1, heartbeatSec: 2 },
    retry: { initialIntervalMs: 200, maximumIntervalMs: 2_000 },
    promotion: { requireHuman: true, minPass1: overrides.minPass1 ?? 0.9 },
  });
}

export interface LoopWorld extends OrchestrationHarness {
  tasks: ImportedTask[];
  policyUrl: string;
  sharedQueue: string;
  trainerQueue: string;
  trainer: TrainerDouble;
  startRollout(): Promise<void>;
  /** Stops the policy endpoint (the proxy every episode samples from); idempotent. */
  stopPolicy(): Promise<void>;
  /** The policy calls both scripted servers answered, by request id (episode:turn). */
  policyCalls(): Record<string, string[]>;
  /** The in-process rollout host instead of Docker (test/harness/inProcessRollout.ts): orchestration load only. */
  startInProcessRollout(opts?: InProcessRolloutOptions): Promise<void>;
  startRun(config: RunConfig, extra?: Pick<TrainingRunInput, 'continueAsNewAfterIterations'>): Promise<{ runId: string; handle: WorkflowHandle<typeof trainingRun> }>;
}

export async function loopWorld(
  prefix: string,
  opts: { mutateDecoding?: Partial<Decoding>; crashAfterApply?: number; logprobMismatch?: { mean: number; max: number } } = {},
): Promise<LoopWorld> {
  const base = await orchestrationHarness(prefix);
  const imported = await importTasks(TOY_SUITE, { validate: false });
  const tasks = imported.accepted.filter((t) => TASKS.includes(t.instanceId));
  await persistImport(base.db.db, 'toy', { accepted: tasks, quarantined: [] });
  const book = (mixedSolved: boolean) =>
    createScriptBook(
      tasks.map((t) => ({
        instanceId: t.instanceId,
        problemStatement: t.problemStatement,
        script: t.instanceId === EASY || t.instanceId === EVAL_GOLD || (t.instanceId === MIXED && mixedSolved) ? goldScript(t) : garbageScript(1_000),
      })),
    );
  const behaviour = opts.mutateDecoding ? { mutateDecoding: opts.mutateDecoding } : undefined;
  const servers: ScriptedPolicyServer[] = [
    await startScriptedPolicyServer({ port: 0, scripts: book(true), behaviour }),
    await startScriptedPolicyServer({ port: 0, scripts: book(false), behaviour }),
  ];
  const proxy = await startParityProxy(servers[0]!.url, servers[1]!.url);
  let proxyClosed: Promise<void> | undefined;
  const stopPolicy = () => (proxyClosed ??= proxy.close());
  const endpoints = testEndpoints();
  const trainerQueue = `${base.taskQueue}-trainer`;
  const trainer = await startTrainerDouble({ temporalAddress: endpoints.temporalAddress, namespace: endpoints.temporalNamespace, taskQueue: trainerQueue, crashAfterApply: opts.crashAfterApply, logprobMismatch: opts.logprobMismatch });
  const sharedQueue = `${base.taskQueue}-rollout`;
  let rollout: { workers: RolloutWorkers; done: Promise<void> } | undefined;
  let inProcess: { rollout: InProcessRollout; connection: NativeConnection; done: Promise<void> } | undefined;
  const sandbox = loopConfig().sandbox;

  return {
    ...base,
    tasks,
    policyUrl: proxy.url,
    sharedQueue,
    trainerQueue,
    trainer,
    stopPolicy,
    policyCalls() {
      const all: Record<string, string[]> = {};
      for (const s of servers) for (const [id, calls] of Object.entries(s.stats().calls)) (all[id] ??= []).push(...calls);
      return all;
    },
    async startRollout() {
      const workers = await createRolloutWorkers({ endpoints, db: base.db.db, sandbox, hostId: `${prefix}-${randomUUID().slice(0, 6)}`, sharedQueue, reaperIntervalMs: 5_000 });
      rollout = { workers, done: workers.run() };
    },
    async startInProcessRollout(rolloutOpts = {}) {
      const connection = await NativeConnection.connect({ address: endpoints.temporalAddress });
      const r = await createInProcessRollout({ connection, namespace: endpoints.temporalNamespace, db: base.db.db, sharedQueue, ...rolloutOpts });
      inProcess = { rollout: r, connection, done: r.run() };
    },
    async startRun(config, extra = {}) {
      const runId = `${prefix}-${randomUUID().slice(0, 8)}`;
      const handle = await base.client.workflow.start<typeof trainingRun>('trainingRun', {
        workflowId: trainingRunWorkflowId(runId),
        taskQueue: base.taskQueue,
        args: [{ runId, config, services: { policyUrl: proxy.url, rolloutQueue: sharedQueue, trainerQueue }, ...extra }],
      });
      return { runId, handle };
    },
    async close() {
      if (inProcess) {
        inProcess.rollout.shutdown();
        await inProcess.done.catch(() => {});
        await inProcess.connection.close().catch(() => {});
      }
      if (rollout) {
        rollout.workers.shutdown();
        await rollout.done.catch(() => {});
        await rollout.workers.close();
      }
      await trainer.close();
      await stopPolicy();
      for (const s of servers) await s.close();
      await base.close();
    },
  };
}

export async function waitFor(pred: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
