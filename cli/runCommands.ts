import { Option, type Command } from 'commander';
import { loadRunConfig } from '../config/load';
import { createDb, redactDatabaseUrl } from '../db/client';
import { migrateDatabase } from '../db/migrate';
import { connectClient, resolveEndpoints } from '../workers/endpoints';
import { installTemporalLogging } from '../workers/logging';
import { createOrchestrationWorker } from '../workers/orchestration';
import { devUp } from './dev/stack';
import { formatHistory, formatStatus, newRunId, runHistory, runStatus, signalRun, startRun, type OperatorVerb } from './runs';

async function withClient<T>(fn: (client: Awaited<ReturnType<typeof connectClient>>) => Promise<T>): Promise<T> {
  const client = await connectClient(resolveEndpoints());
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

/** Runs the orchestration worker until SIGINT/SIGTERM; migrates the database first. */
async function runWorker(): Promise<void> {
  installTemporalLogging('info');
  const endpoints = resolveEndpoints();
  await migrateDatabase(endpoints.databaseUrl);
  const db = createDb(endpoints.databaseUrl);
  const { worker, connection } = await createOrchestrationWorker({ endpoints, db: db.db });
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  console.log(`orchestration worker polling ${worker.options.taskQueue} at ${endpoints.temporalAddress}`);
  try {
    await worker.run();
  } finally {
    await connection.close();
    await db.close();
  }
}

export function registerRunCommands(program: Command): void {
  program
    .command('worker')
    .description('run a worker until interrupted (SIGINT/SIGTERM drain it)')
    .addOption(new Option('--role <role>', 'which task queues this process serves').choices(['orchestration']).default('orchestration'))
    .action(runWorker);

  program
    .command('ping')
    .description('exit 0 when Temporal and Postgres answer (used as a container health check)')
    .action(async () => {
      const endpoints = resolveEndpoints();
      await withClient((client) => client.workflowService.getSystemInfo({}));
      const db = createDb(endpoints.databaseUrl, { connectTimeoutMs: 5_000 });
      try {
        await db.pool.query('select 1');
      } finally {
        await db.close();
      }
      console.log(`ok: Temporal ${endpoints.temporalAddress}, Postgres ${redactDatabaseUrl(endpoints.databaseUrl)}`);
    });

  program
    .command('start')
    .description('start a training run (needs a running `swerl worker`)')
    .requiredOption('--config <file>', 'YAML/JSON run config or a preset name')
    .option('--run-id <id>', 'run id (default: <name>-<timestamp>-<rand>)')
    .option('--wait', 'wait for the run to finish and print its final status')
    .action(async (opts: { config: string; runId?: string; wait?: boolean }) => {
      const config = loadRunConfig(opts.config);
      await withClient(async (client) => {
        const runId = opts.runId ?? newRunId(config);
        const handle = await startRun(client, config, runId);
        console.log(`started run ${runId} (workflow ${handle.workflowId})`);
        if (opts.wait) console.log(formatStatus(await handle.result()));
      });
    });

  program
    .command('status')
    .argument('<run>', 'run id')
    .option('--json', 'machine-readable output')
    .description('what a run is doing now (answered by the run itself, via a Query)')
    .action((run: string, opts: { json?: boolean }) =>
      withClient(async (client) => {
        const status = await runStatus(client, run);
        console.log(opts.json ? JSON.stringify(status, null, 2) : formatStatus(status));
      }),
    );

  program
    .command('history')
    .argument('<run>', 'run id')
    .option('--verbose', 'include workflow-task bookkeeping events')
    .option('--json', 'machine-readable output')
    .description("the run's Temporal event history, summarised")
    .action((run: string, opts: { verbose?: boolean; json?: boolean }) =>
      withClient(async (client) => {
        const lines = await runHistory(client, run, { verbose: opts.verbose });
        console.log(opts.json ? JSON.stringify(lines, null, 2) : formatHistory(lines));
      }),
    );

  for (const verb of ['pause', 'resume', 'abort'] as const satisfies readonly OperatorVerb[]) {
    program
      .command(verb)
      .argument('<run>', 'run id')
      .option('--reason <text>', 'why (recorded in the run)', `${verb} requested`)
      .option('--who <name>', 'operator name (default: $SWERL_OPERATOR or the OS user)')
      .description(`${verb} a run at its next iteration boundary`)
      .action((run: string, opts: { reason: string; who?: string }) =>
        withClient(async (client) => {
          await signalRun(client, run, verb, opts.reason, opts.who);
          console.log(`${verb} sent to ${run}`);
        }),
      );
  }

  program
    .command('demo')
    .description('bring up the embedded stack and run the toy config end to end with an in-process worker')
    .option('--config <file>', 'run config or preset', 'toy')
    .action(async (opts: { config: string }) => {
      installTemporalLogging('warn');
      const config = loadRunConfig(opts.config);
      const stack = await devUp();
      console.log(`stack up: Temporal ${stack.temporalAddress} (UI ${stack.temporalUiUrl}), Postgres ${stack.databaseUrl}`);
      const endpoints = resolveEndpoints();
      await migrateDatabase(endpoints.databaseUrl);
      const db = createDb(endpoints.databaseUrl);
      const { worker, connection } = await createOrchestrationWorker({ endpoints, db: db.db });
      try {
        await worker.runUntil(
          withClient(async (client) => {
            const runId = newRunId(config);
            const handle = await startRun(client, config, runId);
            console.log(`run ${runId} started: ${stack.temporalUiUrl}/namespaces/${endpoints.temporalNamespace}/workflows/${handle.workflowId}`);
            const final = await handle.result();
            console.log(formatStatus(final));
            console.log(`\nhistory: npm run swerl -- history ${runId}`);
          }),
        );
      } finally {
        await connection.close();
        await db.close();
      }
    });
}
