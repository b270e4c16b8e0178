import { Option, type Command } from 'commander';
import { ConfigError, ErrorCodes } from '../core/errors';
import { loadRunConfig } from '../config/load';
import { createDb, redactDatabaseUrl } from '../db/client';
import { migrateDatabase } from '../db/migrate';
import { resolveEndpoints } from '../workers/endpoints';
import { temporalConnectOptions } from '../workers/temporalTls';
import { NativeConnection } from '@temporalio/worker';
import { installTemporalLogging, logger } from '../workers/logging';
import { createRolloutWorkers } from '../workers/rollout';
import { createOrchestrationWorker } from '../workers/orchestration';
import { startMetricsServer } from '../workers/metrics';
import { tracingFromEnv } from '../workers/tracing';
import { detectStall, formatStall, parseStallAfter } from '../dashboard/stall';
import { withClient, withDb } from './connections';
import { runProgress, watchProgress } from './progress';
import { statusQuery } from '../workflows/definitions';
import { formatHistory, formatStatus, newRunId, runHistory, runStatus, signalRun, startRun, waitForRun, type OperatorVerb } from './runs';

type WorkerRole = 'orchestration' | 'rollout' | 'all';

/**
 * Runs workers until SIGINT/SIGTERM, which drain them: in-flight activities finish or are retried
 * elsewhere. Migrates the database first. SWERL_ORCHESTRATION_QUEUE / SWERL_ROLLOUT_QUEUE override
 * the task queues (tests isolate themselves this way); SWERL_HOST_ID names the sandbox host.
 */
async function runWorker(opts: { role: WorkerRole; config: string; hostId?: string; metricsPort?: string; metricsHost: string }): Promise<void> {
  installTemporalLogging('info');
  const log = logger();
  const endpoints = resolveEndpoints();
  const config = loadRunConfig(opts.config);
  await migrateDatabase(endpoints.databaseUrl);
  const db = createDb(endpoints.databaseUrl);
  const connection = await NativeConnection.connect(temporalConnectOptions(endpoints));
  const shutdownForceSec = shutdownForceSecFrom(process.env);
  const tracing = tracingFromEnv();
  if (tracing) log.info({ endpoint: tracing.endpoint }, 'exporting OpenTelemetry traces');
  const runs: Promise<void>[] = [];
  const stops: Array<() => void> = [];
  const closers: Array<() => Promise<void>> = [];
  if (opts.role !== 'rollout') {
    const { worker } = await createOrchestrationWorker({ endpoints, db: db.db, connection, taskQueue: process.env.SWERL_ORCHESTRATION_QUEUE, shutdownForceSec });
    runs.push(worker.run());
    stops.push(() => worker.shutdown());
    log.info({ taskQueue: worker.options.taskQueue }, 'orchestration worker polling');
  }
  if (opts.role !== 'orchestration') {
    const rollout = await createRolloutWorkers({
      endpoints,
      db: db.db,
      connection,
      sandbox: config.sandbox,
      hostId: opts.hostId,
      sharedQueue: process.env.SWERL_ROLLOUT_QUEUE,
      shutdownForceSec,
    });
    runs.push(rollout.run());
    stops.push(() => rollout.shutdown());
    closers.push(() => rollout.close());
    log.info({ hostQueue: rollout.hostQueue }, 'rollout worker polling');
  }
  const metricsPort = opts.metricsPort ?? process.env.SWERL_METRICS_PORT;
  if (metricsPort) {
    const port = Number(metricsPort);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new ConfigError(ErrorCodes.CONFIG_INVALID, `metrics port ${metricsPort} is not a TCP port (0-65535)`, { metricsPort });
    }
    const metrics = await startMetricsServer(port, opts.metricsHost);
    closers.push(() => metrics.close());
    log.info({ url: metrics.url }, 'prometheus metrics served');
  }
  let stopping = false;
  const stop = () => {
    // A second signal (tsx relays the one its process group got as well) must not end the process
    // by the default action halfway through the drain.
    if (stopping) return;
    stopping = true;
    log.info({ shutdownForceSec }, 'shutdown requested: in-flight activities get this long, then are left to Temporal');
    stops.forEach((s) => s());
    // The backstop: whatever still holds the process (a stream of an abandoned command) cannot keep
    // a stopped worker alive; its activities are retried elsewhere after their heartbeat timeout.
    setTimeout(() => {
      log.error({ code: ErrorCodes.WORKER_SHUTDOWN_FORCED, shutdownForceSec }, 'shutdown did not finish in time: exiting');
      process.exit(3);
    }, (shutdownForceSec + 30) * 1000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    await Promise.all(runs);
  } finally {
    for (const close of closers) await close();
    await tracing?.shutdown();
    await connection.close();
    await db.close();
  }
}

/** SWERL_WORKER_SHUTDOWN_FORCE_SEC (default 30): how long a SIGTERMed worker waits for in-flight activities. */
export function shutdownForceSecFrom(env: NodeJS.ProcessEnv): number {
  const raw = env.SWERL_WORKER_SHUTDOWN_FORCE_SEC;
  if (raw === undefined || raw === '') return 30;
  const sec = Number(raw);
  if (!Number.isFinite(sec) || sec <= 0) {
    throw new ConfigError(ErrorCodes.CONFIG_INVALID, `SWERL_WORKER_SHUTDOWN_FORCE_SEC=${raw}: expected a positive number of seconds`, { variable: 'SWERL_WORKER_SHUTDOWN_FORCE_SEC' });
  }
  return sec;
}

export function registerRunCommands(program: Command): void {
  program
    .command('worker')
    .description('run a worker until interrupted (SIGINT/SIGTERM drain it)')
    .addOption(new Option('--role <role>', 'which task queues this process serves').choices(['orchestration', 'rollout', 'all']).default('all'))
    .option('--config <file>', 'run config whose sandbox limits a rollout worker applies', 'toy')
    .option('--host-id <id>', 'sandbox host id (default $SWERL_HOST_ID or the hostname)')
    .option('--metrics-port <port>', 'serve Prometheus metrics on GET /metrics at this port (default $SWERL_METRICS_PORT; off when unset)')
    .option('--metrics-host <addr>', 'address the metrics endpoint binds to', '127.0.0.1')
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
        if (opts.wait) {
          const result = waitForRun(runId, () => handle.result(), { log: (line) => console.error(line) });
          console.log(formatStatus(await watchProgress(result, async () => runProgress(await handle.query(statusQuery)))));
        }
      });
    });

  program
    .command('status')
    .argument('<run>', 'run id')
    .option('--json', 'machine-readable output')
    .description('what a run is doing now (answered by the run itself, via a Query)')
    .option('--stall-after <sec>', "stalled after this long without progress (default: the run's timeouts.stallAfterSec)", parseStallAfter)
    .action((run: string, opts: { json?: boolean; stallAfter?: number }) =>
      withClient(async (client) => {
        const status = await runStatus(client, run);
        // Postgres says whether the run progressed; a run without a database row has no stall report.
        const stall = await withDb(({ db }) => detectStall(client, db, run, { stallAfterSec: opts.stallAfter }));
        if (opts.json) return console.log(JSON.stringify({ ...status, stall }, null, 2));
        console.log([formatStatus(status), ...(stall ? formatStall(stall) : [])].join('\n'));
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
}
