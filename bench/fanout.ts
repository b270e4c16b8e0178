/**
 * `npm run bench -- fanout`: one RL iteration of N = 3,000 one- or two-turn episodes
 * (SWERL_BENCH_FANOUT_EPISODES overrides N) through the sharded fan-out, on the dev stack.
 *
 * Policy: the scripted server behind the seed-parity proxy — even seeds run `true` then submit
 * (2 turns, R = 1), odd seeds loop `true` to T_max = 2 (R = 0), so groups have advantage and the
 * update runs. Sandboxes: IN-PROCESS (test/harness/inProcessRollout.ts; labelled in the output):
 * no container is started and no command or test runs — it loads the orchestration only.
 *
 * Prints wall time, episodes/s, the largest history (events and bytes, from DescribeWorkflowExecution)
 * of any workflow of the run (training run, iteration, shards, update segments, every episode), and
 * the Temporal server's CPU seconds; asserts that every episode was counted once and that the
 * largest history has at most 10,000 events. Also writes the full report to bench/reports/.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { and, eq, sql } from 'drizzle-orm';
import { importTasks, persistImport } from '../activities/tasks';
import { startScriptedPolicyServer } from '../activities/policy/scriptedServer';
import { createScriptBook, loopScript, renderReply, sequence } from '../activities/policy/scripts';
import { startParityProxy } from '../activities/policy/seedRouter';
import { startTrainerDouble } from '../activities/trainer/testDouble';
import { parseRunConfig } from '../core/config';
import { planFanout, segmentRanges, summarize, DEFAULT_FANOUT_LIMITS, type ShardNode } from '../core/fanout';
import { trainingRunWorkflowId } from '../core/taskQueues';
import { createDb } from '../db/client';
import { migrateDatabase } from '../db/migrate';
import { episodes, taskStatEvents } from '../db/schema';
import { devStatus, devUp } from '../cli/dev/stack';
import { connectClient } from '../workers/endpoints';
import { installTemporalLogging } from '../workers/logging';
import { createOrchestrationWorker } from '../workers/orchestration';
import { createInProcessRollout } from '../test/harness/inProcessRollout';
import type { trainingRun } from '../workflows/trainingRun';
import { shardWorkflowId } from '../workflows/episodeShard';
import { round1 } from './stats';

const SUITE = path.join(__dirname, '..', 'tasks', 'toy', 'tasks.jsonl');
const MAX_HISTORY_EVENTS = 10_000;

/** user + system CPU seconds of a process and its reaped children (/proc/<pid>/stat). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = [11, 12, 13, 14].reduce((a, i) => a + Number(fields[i]), 0); // utime stime cutime cstime
  return ticks / 100;
}

function nodes(n: ShardNode): ShardNode[] {
  return [n, ...n.children.flatMap(nodes)];
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

export async function benchFanout(opts: { episodes?: number; maxConcurrentEpisodes?: number } = {}): Promise<Record<string, number>> {
  const n = opts.episodes ?? Number(process.env.SWERL_BENCH_FANOUT_EPISODES ?? 3_000);
  const cap = opts.maxConcurrentEpisodes ?? Number(process.env.SWERL_BENCH_FANOUT_CONCURRENT ?? 200);
  if (!Number.isInteger(n) || n < 2 || n % 2 !== 0) throw new RangeError(`fanout bench: episode count must be an even integer ≥ 2, got ${n}`);
  installTemporalLogging('error');
  const stack = await devUp();
  const temporalPid = (await devStatus()).find((c) => c.name === 'temporal')?.pid;
  const dbUrl = stack.databaseUrl.replace(/\/swerl$/, '/swerl_bench');
  await migrateDatabase(dbUrl);
  const db = createDb(dbUrl);
  const imported = await importTasks(SUITE, { validate: false });
  await persistImport(db.db, 'toy', imported);
  const solve = sequence({ name: 'look', length: 1, reply: () => renderReply('Let me look.', 'true') }, { name: 'submit', reply: () => renderReply('Done.', 'submit') });
  const book = (script: ReturnType<typeof loopScript>) => createScriptBook(imported.accepted.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script })));
  const solver = await startScriptedPolicyServer({ port: 0, scripts: book(solve) });
  const looper = await startScriptedPolicyServer({ port: 0, scripts: book(loopScript('true')) });
  const proxy = await startParityProxy(solver.url, looper.url);
  const queue = `bench-fanout-${randomUUID().slice(0, 8)}`;
  const trainer = await startTrainerDouble({ temporalAddress: stack.temporalAddress, namespace: stack.temporalNamespace, taskQueue: `${queue}-trainer`, databaseUrl: dbUrl });
  const orchestration = await createOrchestrationWorker({ endpoints: stack, db: db.db, taskQueue: queue });
  const rolloutConnection = await NativeConnection.connect({ address: stack.temporalAddress });
  const rollout = await createInProcessRollout({ connection: rolloutConnection, namespace: stack.temporalNamespace, db: db.db, sharedQueue: `${queue}-rollout`, concurrency: 100 });
  const running = Promise.all([orchestration.worker.run(), rollout.run()]);
  const client = await connectClient(stack);
  const runId = `bench-fanout-${randomUUID().slice(0, 8)}`;
  const stage = 'rl';
  const config = parseRunConfig({
    name: 'bench-fanout',
    seed: 11,
    model: { base: 'bench-base' },
    tasks: { suite: SUITE },
    stages: [{ kind: 'rl', name: stage, maxTurns: 2, contextTokens: 4096, groupSize: 2, problemsPerIteration: n / 2, iterations: 1, batchSize: 512, lr: 1e-4, lengthPenalty: { enabled: false, freeTurns: 1 } }],
    policy: { seedScheme: 'per-task' },
    sandbox: { cpus: 0.5, memoryMiB: 512, prewarm: 0, maxConcurrent: 4 },
    timeouts: { heartbeatSec: 10 },
    retry: { initialIntervalMs: 500, maximumIntervalMs: 10_000 },
    promotion: { requireHuman: false },
    rollout: { maxConcurrentEpisodes: cap },
  });

  try {
    const cpu0 = temporalPid ? cpuSeconds(temporalPid) : NaN;
    const t0 = performance.now();
    const handle = await client.workflow.start<typeof trainingRun>('trainingRun', {
      workflowId: trainingRunWorkflowId(runId),
      taskQueue: queue,
      args: [{ runId, config, services: { policyUrl: proxy.url, rolloutQueue: `${queue}-rollout`, trainerQueue: `${queue}-trainer` } }],
    });
    const final = await handle.result();
    const wallSec = (performance.now() - t0) / 1000;
    const cpu1 = temporalPid ? cpuSeconds(temporalPid) : NaN;
    if (final.phase !== 'completed') throw new Error(`fanout bench: run ${runId} ended ${final.phase}: ${final.failure?.message ?? ''}`);
    const report = final.iterations?.[0];
    if (!report) throw new Error('fanout bench: the run reported no iteration');

    // Every episode counted once: one row per slot, one task_stats event per episode.
    const [counts] = await db.db
      .select({ episodes: sql<number>`count(*)::int`, completed: sql<number>`count(*) filter (where ${episodes.status} = 'completed')::int`, solved: sql<number>`count(*) filter (where ${episodes.reward} >= 1)::int` })
      .from(episodes)
      .where(and(eq(episodes.runId, runId), eq(episodes.stage, stage)));
    const [events] = await db.db
      .select({ n: sql<number>`count(*)::int` })
      .from(taskStatEvents)
      .where(sql`${taskStatEvents.episodeId} in (select id from episodes where run_id = ${runId})`);
    if (counts!.episodes !== n || counts!.completed !== n || events!.n !== n || report.episodes !== n) {
      throw new Error(`fanout bench: ${n} slots, ${counts!.episodes} episode rows (${counts!.completed} completed), ${events!.n} counted, report ${report.episodes}`);
    }

    // Largest history of any workflow of the run, as the server measures it.
    const limits = { ...DEFAULT_FANOUT_LIMITS };
    const tree = planFanout(n, limits);
    const episodeIds = (await db.db.select({ wf: episodes.workflowId }).from(episodes).where(eq(episodes.runId, runId))).map((r) => r.wf!);
    const steps = report.updateSteps;
    const workflowIds = [
      trainingRunWorkflowId(runId),
      `swerl-iter-${runId}-${stage}-0`,
      ...nodes(tree).map((node) => shardWorkflowId(runId, stage, 0, node)),
      ...segmentRanges(steps).map((seg) => `swerl-update-${runId}-${stage}-0-${seg.from}-${seg.to}`),
      ...episodeIds,
    ];
    const described = await mapLimit(workflowIds, 16, async (id) => {
      const d = await client.workflow.getHandle(id).describe();
      return { id, events: d.historyLength, bytes: Number(d.raw.workflowExecutionInfo?.historySizeBytes ?? 0) };
    });
    const largest = described.reduce((a, b) => (b.events > a.events ? b : a));
    const largestBytes = Math.max(...described.map((d) => d.bytes));
    const summary = summarize(tree, limits);
    const result = {
      episodes: n,
      sandbox_in_process: 1,
      max_concurrent_episodes: cap,
      wall_sec: round1(wallSec),
      episodes_per_sec: round1(n / wallSec),
      largest_history_events: largest.events,
      largest_history_bytes: largestBytes,
      workflows_measured: described.length,
      shard_tree_height: summary.height,
      shards: summary.shards,
      planner_max_shard_events: summary.maxShardEvents,
      temporal_cpu_sec: round1(cpu1 - cpu0),
      update_steps: steps,
      solved: counts!.solved,
      loadavg_1m: round1((await import('node:os')).loadavg()[0]!),
    };
    const dir = path.join(__dirname, 'reports');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, `fanout-${n}.json`),
      `${JSON.stringify({ at: new Date().toISOString(), command: `${n === 3_000 ? '' : `SWERL_BENCH_FANOUT_EPISODES=${n} `}npm run bench -- fanout`, sandbox: 'in-process (no containers; orchestration load only)', largestWorkflow: largest.id, runId, ...result }, null, 2)}\n`,
    );
    if (largest.events > MAX_HISTORY_EVENTS) throw new Error(`fanout bench: workflow ${largest.id} has ${largest.events} history events (> ${MAX_HISTORY_EVENTS})`);
    return result;
  } finally {
    rollout.shutdown();
    orchestration.worker.shutdown();
    await running.catch(() => {});
    await rolloutConnection.close().catch(() => {});
    await orchestration.connection.close().catch(() => {});
    await client.connection.close().catch(() => {});
    await trainer.close();
    await proxy.close();
    await solver.close();
    await looper.close();
    await db.close();
  }
}
