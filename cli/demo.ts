/**
 * `swerl demo`: the toy training run end to end on the embedded stack, unattended — RFT → RL
 * stage 1 → boundary (promoted by the demo itself) → RL stage 2 → eval, on the real training loop
 * with the real Python trainer, real sandboxes and real Postgres/Temporal.
 *
 * What is not real: the policy. The tiny model cannot solve toy tasks yet, so rollouts come from
 * scripted policy servers routed by episode-seed parity (gold patch on even seeds, garbage on odd
 * ones), which gives the trainer mixed-reward groups to learn from. The trainer still trains and
 * checkpoints the tiny model on those trajectories.
 */
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { startScriptedPolicyServer, type ScriptedPolicyServer } from '../activities/policy/scriptedServer';
import { createScriptBook, garbageScript, goldScript } from '../activities/policy/scripts';
import { startParityProxy, type SeedRouter } from '../activities/policy/seedRouter';
import { importTasks, persistImport, suiteNameOf, type ImportedTask } from '../activities/tasks';
import { loadRunConfig } from '../config/load';
import type { RunConfig } from '../core/config';
import { ErrorCodes, TrainerError } from '../core/errors';
import { createDb } from '../db/client';
import { migrateDatabase } from '../db/migrate';
import { connectClient, resolveEndpoints } from '../workers/endpoints';
import { installTemporalLogging } from '../workers/logging';
import { createOrchestrationWorker } from '../workers/orchestration';
import { createRolloutWorkers } from '../workers/rollout';
import type { RunStatus } from '../workflows/definitions';
import { REPO_ROOT } from './dev/settings';
import { devUp } from './dev/stack';
import { formatStatus, newRunId, startRun } from './runs';
import { promoteRun } from './trainingCommands';

const TRAINER_DIR = path.join(REPO_ROOT, 'trainer');
const TRAINER_PYTHON = path.join(TRAINER_DIR, '.venv', 'bin', 'python');
const CHECKPOINTS_DIR = path.join(REPO_ROOT, '.swerl', 'checkpoints');
const TRAINER_READY_MS = 120_000;
const POLL_MS = 3_000;

const SCRIPTED_NOTE =
  'Rollouts are SCRIPTED: the tiny model cannot solve toy tasks yet, so a scripted policy answers ' +
  '(gold patch on even episode seeds, garbage on odd ones). Training, checkpoints, sandboxes, rewards ' +
  'and evals are real.';

interface TrainerProcess {
  child: ChildProcess;
  kill(): void;
}

/**
 * Starts the Python trainer worker and resolves once it polls (its `worker_ready` line). Its
 * policy URL is the seed router, which acknowledges load_policy: the loop hot-reloads the policy
 * before rollouts, and a scripted policy has nothing to reload.
 */
async function startTrainer(opts: { temporalAddress: string; namespace: string; taskQueue: string; policyUrl: string; baseId: string }): Promise<TrainerProcess> {
  if (!existsSync(TRAINER_PYTHON)) {
    throw new TrainerError(ErrorCodes.STACK_DEPENDENCY_MISSING, `the trainer's venv is missing (${TRAINER_PYTHON}): run \`bash scripts/bootstrap.sh\` first`, {
      python: TRAINER_PYTHON,
    });
  }
  const args = [
    '-m',
    'swerl_trainer.worker',
    '--address',
    opts.temporalAddress,
    '--namespace',
    opts.namespace,
    '--task-queue',
    opts.taskQueue,
    '--checkpoints',
    CHECKPOINTS_DIR,
    '--policy-url',
    opts.policyUrl,
    '--init-base',
    opts.baseId,
  ];
  const child = spawn(TRAINER_PYTHON, args, { cwd: TRAINER_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  const stderrTail: string[] = [];
  readline.createInterface({ input: child.stderr! }).on('line', (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 20) stderrTail.shift();
  });
  let stopping = false;
  const kill = () => {
    stopping = true;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  await new Promise<void>((resolve, reject) => {
    const fail = (why: string) => {
      kill();
      reject(new TrainerError(ErrorCodes.TRAINER_FAILED, `trainer worker ${why}; its last stderr lines:\n${stderrTail.join('\n')}`, { args }));
    };
    const timer = setTimeout(() => fail(`not ready after ${TRAINER_READY_MS / 1000}s`), TRAINER_READY_MS);
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('"worker_ready"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      fail(`could not start: ${err.message}`);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      fail(`exited early (code ${code}, signal ${signal})`);
    });
  });
  // After readiness an exit is no longer a startup failure; the run's activities surface it.
  child.removeAllListeners('exit');
  child.once('exit', (code, signal) => {
    if (!stopping) console.error(`trainer worker exited (code ${code}, signal ${signal}):\n${stderrTail.join('\n')}`);
  });
  return { child, kill };
}

/** Gold on even seeds and garbage on odd ones, for every task (train and eval alike). */
async function startScriptedPolicy(tasks: ImportedTask[]): Promise<{ router: SeedRouter; close(): Promise<void> }> {
  const book = (solve: boolean) =>
    createScriptBook(tasks.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: solve ? goldScript(t) : garbageScript(1_000) })));
  const servers: ScriptedPolicyServer[] = [await startScriptedPolicyServer({ port: 0, scripts: book(true) }), await startScriptedPolicyServer({ port: 0, scripts: book(false) })];
  const router = await startParityProxy(servers[0]!.url, servers[1]!.url, { acceptLoads: true });
  return {
    router,
    async close() {
      await router.close();
      for (const s of servers) await s.close();
    },
  };
}

const fmt = (x: number | null | undefined, digits = 2): string => (x === null || x === undefined ? '-' : x.toFixed(digits));

/** Prints iterations, evals and phase changes not printed before; promotes at a boundary. */
async function watchRun(client: Client, runId: string, status: RunStatus, seen: Set<string>): Promise<void> {
  for (const r of status.iterations ?? []) {
    const key = `iter:${r.stage}:${r.iteration}`;
    if (seen.has(key)) continue;
    seen.add(key);
    console.log(
      `  ${r.stage} iteration ${r.iteration} done: ${r.episodes} episodes, pass ${fmt(r.passRate)}, reward ${fmt(r.rewardMean)}, ` +
        `zero-adv ${fmt(r.zeroAdvantageFraction)}, clip ${fmt(r.clipFraction, 3)} → ${r.checkpointId}`,
    );
  }
  for (const e of status.evals ?? []) {
    const key = `eval:${JSON.stringify(e)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    console.log(`  eval: ${JSON.stringify(e)}`);
  }
  const phaseKey = `phase:${status.phase}:${status.stageIndex}`;
  if (!seen.has(phaseKey)) {
    seen.add(phaseKey);
    console.log(`[${new Date().toISOString().slice(11, 19)}] ${status.phase}: stage ${status.stages[status.stageIndex]?.name ?? '-'}`);
  }
  if (status.phase === 'at-boundary' && status.boundary && !seen.has(`promote:${status.boundary.fromStage}`)) {
    seen.add(`promote:${status.boundary.fromStage}`);
    const b = status.boundary;
    const force = !b.gateMet;
    const result = await promoteRun(client, runId, { who: 'swerl-demo', reason: 'unattended demo', force });
    console.log(
      `  boundary ${b.fromStage} → ${b.toStage}: gate Pass@1 ≥ ${b.minPass1} ${b.gateMet ? 'met' : `unmet (eval Pass@1 ${fmt(b.eval?.pass1)})`}; ` +
        `promoted ${result.checkpointId}${result.forced ? ' with force' : ''} as swerl-demo ("unattended demo")`,
    );
  }
}

async function runDemo(opts: { config: string }): Promise<void> {
  installTemporalLogging('warn');
  const startedMs = Date.now();
  const config: RunConfig = loadRunConfig(opts.config);
  console.log(SCRIPTED_NOTE);
  const stack = await devUp();
  console.log(`stack up: Temporal ${stack.temporalAddress} (UI ${stack.temporalUiUrl}), Postgres ${stack.databaseUrl}`);
  const endpoints = resolveEndpoints();
  await migrateDatabase(endpoints.databaseUrl);
  const db = createDb(endpoints.databaseUrl);
  const closers: Array<() => Promise<void> | void> = [() => db.close()];
  let trainer: TrainerProcess | undefined;
  let releaseSandboxes: (() => Promise<void>) | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    trainer?.kill();
    console.error(`\n${signal}: stopping the demo's workers; the run stays in Temporal (abort it with \`npm run swerl -- abort <run>\`)`);
    // Release this process's sandboxes (bounded: a second signal or a hung daemon must not keep us here).
    const timeout = new Promise((r) => setTimeout(r, 10_000).unref());
    void Promise.race([releaseSandboxes?.().catch(() => undefined), timeout]).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => trainer?.kill());
  try {
    const suiteFile = path.resolve(REPO_ROOT, config.tasks.suite);
    const imported = await importTasks(suiteFile, { validate: false });
    await persistImport(db.db, suiteNameOf(suiteFile), imported);
    console.log(`tasks: ${imported.accepted.length} imported from ${path.relative(REPO_ROOT, suiteFile)}`);

    const policy = await startScriptedPolicy(imported.accepted);
    closers.push(() => policy.close());
    const queue = `swerl-demo-${randomUUID().slice(0, 8)}`;
    const services = { policyUrl: policy.router.url, rolloutQueue: `${queue}-rollout`, trainerQueue: `${queue}-trainer` };
    trainer = await startTrainer({
      temporalAddress: endpoints.temporalAddress,
      namespace: endpoints.temporalNamespace,
      taskQueue: services.trainerQueue,
      policyUrl: policy.router.url,
      baseId: config.model.base,
    });
    closers.push(() => trainer?.kill());
    console.log(`trainer worker up (checkpoints in ${path.relative(REPO_ROOT, CHECKPOINTS_DIR)})`);

    const orchestration = await createOrchestrationWorker({ endpoints, db: db.db, taskQueue: queue });
    closers.push(() => orchestration.connection.close());
    const rollout = await createRolloutWorkers({ endpoints, db: db.db, sandbox: config.sandbox, sharedQueue: services.rolloutQueue, connection: orchestration.connection });
    releaseSandboxes = () => rollout.close();
    const rolloutDone = rollout.run();
    try {
      await orchestration.worker.runUntil(async () => {
        const client = await connectClient(endpoints);
        try {
          const runId = newRunId(config);
          const handle = await startRun(client, config, runId, queue, { services });
          console.log(`run ${runId} started: ${stack.temporalUiUrl}/namespaces/${endpoints.temporalNamespace}/workflows/${handle.workflowId}`);
          let finished = false;
          const result = handle.result().finally(() => {
            finished = true;
          });
          const seen = new Set<string>();
          while (!finished) {
            await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, POLL_MS))]);
            if (!finished) await watchRun(client, runId, await handle.query<RunStatus>('status'), seen);
          }
          const final = await result.catch(async (err: unknown) => {
            console.error(`run ${runId} failed: ${err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err)}`);
            return handle.query<RunStatus>('status');
          });
          await watchRun(client, runId, final, seen);
          console.log(`\n${formatStatus(final)}`);
          console.log(`\nwall time ${((Date.now() - startedMs) / 1000).toFixed(0)}s. Look further:`);
          console.log(`  Temporal UI   ${stack.temporalUiUrl}/namespaces/${endpoints.temporalNamespace}/workflows/${handle.workflowId}`);
          for (const verb of ['status', 'history', 'checkpoints']) console.log(`  npm run swerl -- ${verb} ${runId}`);
          console.log(`  npm run swerl -- trajectory <episode-id>   (episode ids: \`npm run swerl -- history ${runId}\`)`);
          console.log(SCRIPTED_NOTE);
          if (final.phase !== 'completed') process.exitCode = 1;
        } finally {
          await client.connection.close();
        }
      });
    } finally {
      rollout.shutdown();
      await rolloutDone.catch(() => undefined);
      await rollout.close();
    }
  } finally {
    for (const close of closers.reverse()) await close();
  }
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run the toy training run end to end (RFT → RL stage 1 → promote → RL stage 2 → eval) on the embedded stack; rollouts are scripted')
    .option('--config <file>', 'run config or preset', 'toy')
    .addHelpText(
      'after',
      `\n${SCRIPTED_NOTE}\n\nBrings up the dev stack, imports the config's task suite, starts the Python trainer ` +
        '(trainer/.venv; `bash scripts/bootstrap.sh` makes it), an in-process orchestration worker and rollout ' +
        'workers on private task queues, and promotes at the stage boundary by itself (forced when the gate is unmet).',
    )
    .action(runDemo);
}
