/**
 * What durability costs per agent turn: the same scripted policy and the same kind of sandbox,
 * driven once by a bare in-process loop (HTTP call, parse, docker exec) and once by the durable
 * episode workflow (Temporal activities, Postgres turn rows, host-affine queues). Also the
 * throughput of several concurrent durable episodes with a trivial tool (`true`).
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import Docker from 'dockerode';
import type { Client } from '@temporalio/client';
import { asc, eq } from 'drizzle-orm';
import { innerRenderOptions, parseAction, renderActionCommand } from '../core/actions';
import { loadRunConfig } from '../config/load';
import { createDb } from '../db/client';
import { migrateDatabase } from '../db/migrate';
import { upsertRun } from '../db/runs';
import { turns as turnsTable } from '../db/schema';
import { importTasks, persistImport } from '../activities/tasks';
import { complete } from '../activities/policy/client';
import { startScriptedPolicyServer } from '../activities/policy/scriptedServer';
import { createScriptBook, loopScript } from '../activities/policy/scripts';
import { createSandbox } from '../activities/sandbox';
import { ensureTaskImage } from '../sandbox/images';
import type { episode } from '../workflows/episode';
import { buildEpisodeInput, episodeWorkflowId } from '../workflows/episodeInput';
import { devUp, type StackEndpoints } from '../cli/dev/stack';
import type { Db } from '../db/client';
import type { RunConfig } from '../core/config';
import { connectClient } from '../workers/endpoints';
import { installTemporalLogging } from '../workers/logging';
import { createOrchestrationWorker } from '../workers/orchestration';
import { createRolloutWorkers } from '../workers/rollout';
import { percentile, round1 } from './stats';

type SandboxConfig = RunConfig['sandbox'];

const SUITE = path.join(__dirname, '..', 'tasks', 'toy', 'tasks.jsonl');

export async function benchEpisode(opts: { turns?: number; concurrent?: number } = {}): Promise<Record<string, number>> {
  const turns = opts.turns ?? 40;
  const concurrent = opts.concurrent ?? 4;
  const { stack, db, config, imported } = await benchSetup();
  const tasks = imported.accepted.slice(0, concurrent);
  const runId = `bench-${randomUUID().slice(0, 8)}`;
  await upsertRun(db.db, { id: runId, workflowId: `bench-${runId}`, name: 'bench', config: {} });
  const policy = await startScriptedPolicyServer({
    port: 0,
    scripts: createScriptBook(imported.accepted.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: loopScript('true') }))),
  });
  const queue = `bench-${randomUUID().slice(0, 8)}`;
  const workers = await startBenchWorkers(stack, db.db, queue, { ...config.sandbox, maxConcurrent: concurrent, prewarm: 0 });
  const { client } = workers;
  const stage = { ...config.stages.find((s) => s.kind === 'rl')!, maxTurns: turns, lengthPenalty: { enabled: false, freeTurns: 1 } };
  const task0 = tasks[0]!;
  const image = await ensureTaskImage({ instanceId: task0.instanceId, repoDir: task0.repoDir, baseCommit: task0.baseCommit });

  try {
    // Bare loop: what one turn costs without any durability.
    const sandbox = await createSandbox(new Docker(), { image, limits: config.sandbox, labels: { run: 'bench', episode: 'bare' }, leaseTtlSec: 600 });
    const bare: number[] = [];
    const messages = [{ role: 'system' as const, content: 'bench' }, { role: 'user' as const, content: `Task: ${task0.instanceId}` }];
    for (let t = 0; t < turns; t++) {
      const start = performance.now();
      const out = await complete({ url: policy.url, model: 'bench', messages, decoding: config.policy.decoding, timeoutMs: 30_000, headers: { 'x-swerl-task': task0.instanceId } });
      if (out.kind !== 'completion') throw new Error('bench policy overflowed');
      const parsed = parseAction(out.completion.text);
      if (!parsed.ok) throw new Error(parsed.error.message);
      await sandbox.exec(renderActionCommand(parsed.action, innerRenderOptions(config.sandbox)));
      bare.push(performance.now() - start);
    }
    await sandbox.destroy();

    const runEpisodes = async (list: typeof tasks, sample: number) => {
      const inputs = list.map((t) => ({
        ...buildEpisodeInput(config, stage, { runId, iteration: 0, taskId: t.instanceId, sampleIdx: sample }, { url: policy.url, policyVersion: 'bench' }),
        rolloutQueue: `${queue}-rollout`,
      }));
      const t0 = performance.now();
      await Promise.all(inputs.map((input) => startAndWait(client, queue, input)));
      return { wallMs: performance.now() - t0, ids: inputs.map((i) => i.episodeId) };
    };

    // One durable episode: per-turn time from consecutive assistant rows.
    const single = await runEpisodes([task0], 0);
    const rows = await db.db.select().from(turnsTable).where(eq(turnsTable.episodeId, single.ids[0]!)).orderBy(asc(turnsTable.idx));
    const starts = rows.filter((r) => r.role === 'assistant').map((r) => r.createdAt.getTime());
    const durable = starts.slice(1).map((t, i) => t - starts[i]!);

    // Throughput: `concurrent` durable episodes at once.
    const many = await runEpisodes(tasks, 1);
    const bareP50 = percentile(bare, 50);
    const durableP50 = percentile(durable, 50);
    return {
      turns_per_episode: turns,
      bare_turn_p50_ms: round1(bareP50),
      bare_turn_p95_ms: round1(percentile(bare, 95)),
      durable_turn_p50_ms: round1(durableP50),
      durable_turn_p95_ms: round1(percentile(durable, 95)),
      orchestration_overhead_p50_ms: round1(durableP50 - bareP50),
      orchestration_overhead_pct_of_turn: round1(((durableP50 - bareP50) / durableP50) * 100),
      single_episode_wall_ms: Math.round(single.wallMs),
      concurrent_episodes: concurrent,
      concurrent_turns_per_sec: round1((concurrent * turns) / (many.wallMs / 1000)),
    };
  } finally {
    await workers.close();
    await policy.close();
    await db.close();
  }
}

/** The dev stack, a bench database with the toy suite imported, and the toy config. */
export async function benchSetup() {
  installTemporalLogging('error');
  const stack = await devUp();
  const dbUrl = stack.databaseUrl.replace(/\/swerl$/, '/swerl_bench');
  await migrateDatabase(dbUrl);
  const db = createDb(dbUrl);
  const config = loadRunConfig('toy');
  const imported = await importTasks(SUITE, { validate: false });
  await persistImport(db.db, 'toy', imported);
  return { stack, db, config, imported };
}

/** An orchestration worker and a rollout host on `queue` in this process, and a client. */
export async function startBenchWorkers(stack: StackEndpoints, db: Db, queue: string, sandbox: SandboxConfig): Promise<{ client: Client; close(): Promise<void> }> {
  const orchestration = await createOrchestrationWorker({ endpoints: stack, db, taskQueue: queue });
  const rollout = await createRolloutWorkers({ endpoints: stack, db, sandbox, sharedQueue: `${queue}-rollout`, connection: orchestration.connection, hostId: `bench-${process.pid}` });
  const running = Promise.all([orchestration.worker.run(), rollout.run()]);
  const client = await connectClient(stack);
  return {
    client,
    async close() {
      orchestration.worker.shutdown();
      rollout.shutdown();
      await running.catch(() => undefined);
      await rollout.close();
      await orchestration.connection.close();
      await client.connection.close();
    },
  };
}

export async function startAndWait(client: Client, taskQueue: string, input: Parameters<typeof episode>[0]): Promise<Awaited<ReturnType<typeof episode>>> {
  const handle = await client.workflow.start<typeof episode>('episode', { workflowId: episodeWorkflowId(input.episodeId), taskQueue, args: [input] });
  return handle.result();
}
