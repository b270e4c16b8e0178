/**
 * Image and episode verbs: `images build`, `episode run`, `trajectory` (task verbs: taskCommands.ts).
 */
import { randomUUID } from 'node:crypto';
import { Option, type Command } from 'commander';
import { loadRunConfig } from '../config/load';
import { ConfigError, ErrorCodes } from '../core/errors';
import { getEpisode } from '../db/episodes';
import { getRewardResult } from '../db/rewards';
import { upsertRun } from '../db/runs';
import { getTask } from '../db/tasks';
import { listTurns } from '../db/turns';
import { importTasks } from '../activities/tasks';
import { startScriptedPolicyServer } from '../activities/policy/scriptedServer';
import { createScriptBook, garbageScript, goldScript, loopScript, type Script } from '../activities/policy/scripts';
import { buildImages } from '../sandbox/images';
import type { episode } from '../workflows/episode';
import { buildEpisodeInput, episodeWorkflowId } from '../workflows/episodeInput';
import { connectClient, resolveEndpoints } from '../workers/endpoints';
import { installTemporalLogging } from '../workers/logging';
import { createOrchestrationWorker } from '../workers/orchestration';
import { createRolloutWorkers, processHostId } from '../workers/rollout';
import { withDb, type DbHandle } from './connections';
import { registerEpisodeOperationCommands } from './episodeOperations';
import { formatTrajectory } from './trajectory';

/** These verbs write (or may be the first to touch a new database): migrate first. */
const migratedDb = <T>(fn: (db: DbHandle) => Promise<T>): Promise<T> => withDb(fn, { migrate: true });

const SCRIPTS: Record<string, (task: { instanceId: string; goldPatch: string }) => Script> = {
  gold: (t) => goldScript(t),
  garbage: () => garbageScript(1_000),
  loop: () => loopScript('ls'),
};

/**
 * The config an episode gets without --config: the toy and learn suites have their own presets
 * (small contexts for small policies); a real task gets the paper's stage-1 preset (65k context,
 * 40 turns), since a real issue statement alone can exceed a 4k context.
 */
export function defaultEpisodeConfig(suite: string): string {
  return suite === 'toy' || suite === 'learn' ? suite : 'paper-stage1';
}

export function registerEpisodeCommands(program: Command): void {
  program
    .command('images')
    .description('sandbox images')
    .command('build')
    .option('--tasks <file>', 'also build the task images of this JSONL suite')
    .description('build the base image (and task images) offline, cached by content hash')
    .action(async (opts: { tasks?: string }) => {
      const suite = opts.tasks ? await importTasks(opts.tasks, { validate: false }) : undefined;
      const specs = suite?.accepted.map((t) => ({ instanceId: t.instanceId, repoDir: t.repoDir, baseCommit: t.baseCommit, setupScript: t.setup }));
      const result = await buildImages({ tasks: specs, log: (line) => console.error(line) });
      console.log(`base ${result.base}`);
      for (const [id, tag] of Object.entries(result.tasks)) console.log(`task ${id} ${tag}`);
    });

  const episodeCommand = program.command('episode').description('single episodes: run one, rescore or fork a stored one');
  registerEpisodeOperationCommands(episodeCommand);
  episodeCommand
    .command('run')
    .requiredOption('--task <id>', 'task instance id (imported with `swerl tasks import`)')
    .option('--policy <url>', 'OpenAI-compatible endpoint of the policy')
    .addOption(new Option('--scripted <script>', 'serve a scripted policy in-process instead').choices(Object.keys(SCRIPTS)))
    .option('--config <file>', 'run config for limits and decoding (default: the toy/learn preset for those suites, paper-stage1 for real tasks)')
    .option('--stage <name>', 'stage of the config whose limits apply (default: the first RL stage)')
    .description('run one durable episode with in-process workers and print its trajectory')
    .action(async (opts: { task: string; policy?: string; scripted?: string; config?: string; stage?: string }) => {
      if (!opts.policy && !opts.scripted) throw new ConfigError(ErrorCodes.CONFIG_INVALID, 'episode run needs --policy URL or --scripted gold|garbage|loop');
      installTemporalLogging('warn');
      const endpoints = resolveEndpoints();
      await migratedDb(async (db) => {
        const task = await getTask(db.db, opts.task);
        const config = loadRunConfig(opts.config ?? defaultEpisodeConfig(task.suite));
        const stage = config.stages.find((s) => (opts.stage ? s.name === opts.stage : s.kind === 'rl')) ?? config.stages[0]!;
        const scripted = opts.scripted
          ? await startScriptedPolicyServer({ port: 0, scripts: createScriptBook([{ instanceId: task.id, problemStatement: task.problemStatement, script: SCRIPTS[opts.scripted]!({ instanceId: task.id, goldPatch: task.goldPatch }) }]) })
          : undefined;
        const queue = `swerl-episode-cli-${randomUUID().slice(0, 8)}`;
        const runId = 'adhoc';
        await upsertRun(db.db, { id: runId, workflowId: 'swerl-adhoc-episodes', name: 'adhoc', config: {} });
        const orchestration = await createOrchestrationWorker({ endpoints, db: db.db, taskQueue: queue });
        const rollout = await createRolloutWorkers({ endpoints, db: db.db, sandbox: config.sandbox, hostId: processHostId(queue), sharedQueue: `${queue}-rollout`, connection: orchestration.connection });
        const client = await connectClient(endpoints);
        try {
          const input = {
            ...buildEpisodeInput(config, stage, { runId, iteration: 0, taskId: task.id, sampleIdx: Date.now() % 1_000_000 }, { url: scripted?.url ?? opts.policy!, policyVersion: opts.scripted ? `scripted:${opts.scripted}` : 'external' }),
            rolloutQueue: `${queue}-rollout`,
          };
          const running = Promise.all([orchestration.worker.run(), rollout.run()]);
          const handle = await client.workflow.start<typeof episode>('episode', { workflowId: episodeWorkflowId(input.episodeId), taskQueue: queue, args: [input] });
          console.error(`episode ${input.episodeId} started (workflow ${handle.workflowId})`);
          const result = await handle.result();
          orchestration.worker.shutdown();
          rollout.shutdown();
          await running;
          console.log(formatTrajectory(await getEpisode(db.db, input.episodeId), await listTurns(db.db, input.episodeId), await getRewardResult(db.db, input.episodeId)));
          console.log(`\nreward ${result.reward} (${result.rewardReason}), ${result.turns} turns, exit ${result.exitReason}, format errors ${result.formatErrors}, infra failures ${result.infraFailures}`);
        } finally {
          await rollout.close();
          await orchestration.connection.close();
          await client.connection.close();
          await scripted?.close();
        }
      });
    });

  program
    .command('trajectory')
    .argument('<episode>', 'episode id')
    .option('--full', 'do not shorten long observations')
    .option('--json', 'machine-readable output')
    .description('an episode turn by turn: reasoning, commands, observations, timings, reward and test provenance')
    .action((episodeId: string, opts: { full?: boolean; json?: boolean }) =>
      migratedDb(async (db) => {
        const episode = await getEpisode(db.db, episodeId);
        const turns = await listTurns(db.db, episodeId);
        const reward = await getRewardResult(db.db, episodeId);
        console.log(opts.json ? JSON.stringify({ episode, turns, reward }, null, 2) : formatTrajectory(episode, turns, reward, opts));
      }),
    );
}
