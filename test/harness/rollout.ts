/**
 * Everything an episode needs, for one test file: a private database with the toy tasks imported,
 * an orchestration worker (workflows) and a rollout worker (sandbox host) on private task queues,
 * and a scripted policy server.
 */
import path from 'node:path';
import type Docker from 'dockerode';
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { loadRunConfig } from '../../config/load';
import type { RunConfig } from '../../core/config';
import { upsertRun } from '../../db/runs';
import { importTasks, persistImport, type ImportedTask } from '../../activities/tasks';
import { startScriptedPolicyServer, type ScriptedPolicyBehaviour, type ScriptedPolicyServer } from '../../activities/policy/scriptedServer';
import type { ScriptBook } from '../../activities/policy/scripts';
import type { episode, EpisodeInput } from '../../workflows/episode';
import { buildEpisodeInput, episodeWorkflowId } from '../../workflows/episodeInput';
import { createRolloutWorkers, type RolloutWorkers } from '../../workers/rollout';
import { orchestrationHarness, type OrchestrationHarness } from './orchestration';
import { testEndpoints } from './stack';

export const TOY_SUITE = path.join(__dirname, '..', '..', 'tasks', 'toy', 'tasks.jsonl');

export interface RolloutHarness extends OrchestrationHarness {
  config: RunConfig;
  tasks: ImportedTask[];
  runId: string;
  sharedQueue: string;
  hostId: string;
  rollout: RolloutWorkers | undefined;
  policy: ScriptedPolicyServer;
  /** `docker`: the host's daemon, for a test that runs the sandboxes on a private one. */
  startRollout(opts?: { docker?: Docker }): Promise<RolloutWorkers>;
  stopRollout(): Promise<void>;
  episodeInput(taskId: string, overrides?: { sampleIdx?: number; maxTurns?: number; contextTokens?: number }): EpisodeInput;
  startEpisode(input: EpisodeInput): Promise<WorkflowHandle<typeof episode>>;
}

export async function rolloutHarness(
  prefix: string,
  scripts: (tasks: ImportedTask[]) => ScriptBook,
  server: { behaviour?: ScriptedPolicyBehaviour; contextLimitTokens?: number } = {},
  suite: { config: string; file: string; name: string } = { config: 'toy', file: TOY_SUITE, name: 'toy' },
): Promise<RolloutHarness> {
  const base = await orchestrationHarness(prefix);
  const config = loadRunConfig(suite.config);
  config.timeouts.heartbeatSec = 2;
  config.retry.initialIntervalMs = 200;
  config.retry.maximumIntervalMs = 2_000;
  const imported = await importTasks(suite.file, { validate: false });
  await persistImport(base.db.db, suite.name, imported);
  const runId = `${prefix}-${randomUUID().slice(0, 8)}`;
  await upsertRun(base.db.db, { id: runId, workflowId: `test-${runId}`, name: config.name, config: config as unknown as Record<string, unknown> });
  const policy = await startScriptedPolicyServer({ port: 0, scripts: scripts(imported.accepted), ...server });
  const sharedQueue = `${base.taskQueue}-rollout`;
  const hostId = `${prefix}-${randomUUID().slice(0, 6)}`;
  let running: { workers: RolloutWorkers; done: Promise<void> } | undefined;

  const h: RolloutHarness = {
    ...base,
    config,
    tasks: imported.accepted,
    runId,
    sharedQueue,
    hostId,
    policy,
    get rollout() {
      return running?.workers;
    },
    async startRollout(opts = {}) {
      if (running) throw new Error('rollout worker already running');
      const workers = await createRolloutWorkers({ endpoints: testEndpoints(), db: base.db.db, sandbox: config.sandbox, hostId, sharedQueue, reaperIntervalMs: 5_000, docker: opts.docker });
      running = { workers, done: workers.run() };
      return workers;
    },
    async stopRollout() {
      if (!running) return;
      const r = running;
      running = undefined;
      r.workers.shutdown();
      await r.done.catch(() => {});
      await r.workers.close();
    },
    episodeInput(taskId, overrides = {}) {
      const stage = { ...config.stages.find((s) => s.kind === 'rl')! };
      if (overrides.maxTurns) stage.maxTurns = overrides.maxTurns;
      if (overrides.contextTokens) stage.contextTokens = overrides.contextTokens;
      const input = buildEpisodeInput(config, stage, { runId, iteration: 0, taskId, sampleIdx: overrides.sampleIdx ?? 0 }, { url: policy.url, policyVersion: 'scripted' });
      return { ...input, rolloutQueue: sharedQueue };
    },
    startEpisode(input) {
      return base.client.workflow.start<typeof episode>('episode', {
        workflowId: episodeWorkflowId(input.episodeId),
        taskQueue: base.taskQueue,
        args: [input],
      });
    },
    async close() {
      await h.stopRollout();
      await policy.close();
      await base.close();
    },
  };
  return h;
}
