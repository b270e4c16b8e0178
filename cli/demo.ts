/**
 * `swerl demo`: a training run end to end on the embedded stack, unattended, on the real training
 * loop with the real Python trainer, real sandboxes and real Postgres/Temporal.
 *
 * Default (`learn` preset, the README's main command): the learning demo of issues #7 and #16. A
 * small policy (the config's model.arch: a transformers Qwen2 base, or swerl's native GPT with
 * `--arch native`) is pre-trained here on noisy scripted demonstrations (cached), served by
 * the trainer's policy server, and trained by the run: base eval → RFT → eval → RL stage 1 → gate
 * eval (validation split) → promote (by the demo) → RL stage 2 → eval. The trivial baselines of
 * the suite are printed first; Pass@1 ± SEM of every eval (test split) is printed and stored with
 * them in .swerl/reports/<run>.{json,md} (and the evals table).
 *
 * `--scripted` (toy preset): rollouts come from scripted policy servers routed by episode-seed
 * parity (gold patch on even seeds, garbage on odd ones) — the plumbing without a model.
 */
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { startParityScriptedPolicy } from '../activities/policy/parityPolicy';
import { importTasks, persistImport, suiteNameOf, type ImportedTask } from '../activities/tasks';
import { loadRunConfig } from '../config/load';
import { ConfigError, ErrorCodes } from '../core/errors';
import type { RunConfig } from '../core/config';
import { createDb, type Db } from '../db/client';
import { migrateDatabase } from '../db/migrate';
import { connectClient, resolveEndpoints } from '../workers/endpoints';
import { installTemporalLogging } from '../workers/logging';
import { createOrchestrationWorker } from '../workers/orchestration';
import { createRolloutWorkers, processHostId, type RolloutWorkers } from '../workers/rollout';
import type { RunStatus } from '../workflows/definitions';
import { REPO_ROOT } from './dev/settings';
import { devUp } from './dev/stack';
import { formatStatus, newRunId, startRun } from './runs';
import { parseBaseArch, pretrainBase, resolveBaseCheckpoint, startPolicyServer, trainerPython, type BaseArch } from './learnPolicy';
import { RELEASE_TIMEOUT_SEC, releaseDemoSandboxes, removeCommand } from './demoSandboxes';
import { CHECKPOINTS_DIR, killPythonProcesses, spawnPython, type PythonProcess } from './pythonProcess';
import { promoteRun, runReport } from './trainingCommands';
import { renderDemoDoc, renderReportMarkdown, type DemoDoc, type DemoRun } from './demoReport';
import { learnBaselines, renderBaselines, type LearnBaselines } from '../tasks/learn/baselines';
import { learnSuiteInstances } from '../tasks/learn/suite';

const TRAINER_READY_MS = 120_000;
const POLL_MS = 3_000;

const SCRIPTED_NOTE =
  'Rollouts are SCRIPTED: the tiny model cannot solve toy tasks yet, so a scripted policy answers ' +
  '(gold patch on even episode seeds, garbage on odd ones). Training, checkpoints, sandboxes, rewards ' +
  'and evals are real.';

/**
 * Starts the Python trainer worker and resolves once it polls (its `worker_ready` line). Its
 * policy URL is what load_policy hot-reloads: the policy server, or the scripted seed router,
 * which acknowledges loads and has nothing to reload.
 */
function startTrainer(opts: { temporalAddress: string; namespace: string; taskQueue: string; policyUrl: string; baseId: string; databaseUrl: string; python: string }): Promise<PythonProcess> {
  return spawnPython({
    module: 'swerl_trainer.worker',
    python: opts.python,
    label: 'trainer worker',
    readyEvent: 'worker_ready',
    readyTimeoutMs: TRAINER_READY_MS,
    args: [
      '--address', opts.temporalAddress, '--namespace', opts.namespace, '--task-queue', opts.taskQueue,
      '--checkpoints', CHECKPOINTS_DIR, '--policy-url', opts.policyUrl, '--init-base', opts.baseId,
    ],
    // Batches name a database; the server and its credentials stay out of workflow history and argv.
    env: { SWERL_DATABASE_URL: opts.databaseUrl },
  });
}

function parseSeed(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new ConfigError(ErrorCodes.CONFIG_INVALID, `--seed must be a non-negative integer, got ${JSON.stringify(text)}`, { seed: text });
  return n;
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

interface DemoPolicy {
  url: string;
  /** The run's base checkpoint (the pre-trained one for the learning demo). */
  baseId: string;
  close(): Promise<void> | void;
}

async function preparePolicy(config: RunConfig, scripted: boolean, tasks: ImportedTask[], arch: BaseArch, fromCheckpoint?: string): Promise<DemoPolicy> {
  if (scripted) {
    const policy = await startParityScriptedPolicy(tasks);
    return { url: policy.router.url, baseId: config.model.base, close: () => policy.close() };
  }
  const baseId = fromCheckpoint ?? (await pretrainBase(config.model.base, (line) => console.log(line), arch));
  if (fromCheckpoint) console.log(`base policy ${baseId}: an existing checkpoint (--base), not pre-trained`);
  const served = await startPolicyServer(baseId, trainerPython(arch));
  console.log(`policy server ${served.url} serving ${baseId}`);
  return { url: served.url, baseId, close: () => served.server.kill() };
}

/**
 * Pass@1 ± SEM of every eval of the run, in order, and the learning claims, as
 * .swerl/reports/<run>.{json,md}: `swerl report RUN` from Postgres, plus this process's wall time
 * and the run's iteration reports.
 */
async function writeReport(db: Db, runId: string, status: RunStatus, wallSec: number, baselines: LearnBaselines | null): Promise<string> {
  const dir = path.join(REPO_ROOT, '.swerl', 'reports');
  mkdirSync(dir, { recursive: true });
  const report = await runReport(db, runId);
  const head = { ...report.head, phase: status.phase, wallSec, loadAverage: loadavg() };
  writeFileSync(
    path.join(dir, `${runId}.json`),
    JSON.stringify({ ...head, evals: report.evals, stageEvals: report.stageEvals, claims: report.claims, baselines, iterations: status.iterations ?? [] }, null, 2) + '\n',
  );
  const md = renderReportMarkdown(head, report.stageEvals) + (baselines ? `\n${renderBaselines(baselines)}` : '');
  const file = path.join(dir, `${runId}.md`);
  writeFileSync(file, md);
  console.log(`\n${md}`);
  return file;
}

/**
 * The trivial baselines of the `learn` suite (tasks/learn/baselines.ts), scored on the generated
 * instances when they are the imported suite (same ids, same splits); null for any other suite.
 */
function suiteBaselines(imported: readonly ImportedTask[]): LearnBaselines | null {
  const instances = learnSuiteInstances();
  const generated = new Map(instances.map((i) => [`learn__${i.name}`, i.split]));
  const same = imported.length === generated.size && imported.every((t) => generated.get(t.instanceId) === t.split);
  return same ? learnBaselines(instances) : null;
}

async function runDemo(opts: { config?: string; scripted?: boolean; seed?: string; base?: string; arch?: string; releaseTimeout?: string }): Promise<void> {
  // SIGINT/SIGTERM are the demo's (onSignal below): the SDK shutting its workers down first made
  // runDemo fail and exit before its Python processes and sandboxes were cleaned up.
  installTemporalLogging('warn', { shutdownSignals: [] });
  const startedMs = Date.now();
  const scripted = opts.scripted ?? false;
  const loaded: RunConfig = loadRunConfig(opts.config ?? (scripted ? 'toy' : 'learn'));
  const config: RunConfig = opts.seed === undefined ? loaded : { ...loaded, seed: parseSeed(opts.seed) };
  if (scripted) console.log(SCRIPTED_NOTE);
  if (scripted && opts.base !== undefined) throw new ConfigError(ErrorCodes.CONFIG_INVALID, '--base needs a model: it cannot be used with --scripted', { base: opts.base });
  const arch = parseBaseArch(opts.arch, config.model.arch);
  if (scripted && arch !== 'native') throw new ConfigError(ErrorCodes.CONFIG_INVALID, '--arch needs a model: it cannot be used with --scripted', { arch });
  // Before the stack comes up: a missing checkpoint, a mismatched --arch or a missing HF venv fails fast.
  const releaseTimeoutSec = parseReleaseTimeout(opts.releaseTimeout);
  const python = opts.base !== undefined ? resolveBaseCheckpoint(opts.base, arch).python : trainerPython(arch);
  const stack = await devUp();
  console.log(`stack up: Temporal ${stack.temporalAddress} (UI ${stack.temporalUiUrl}), Postgres ${stack.databaseUrl}`);
  const endpoints = resolveEndpoints();
  await migrateDatabase(endpoints.databaseUrl);
  const db = createDb(endpoints.databaseUrl);
  const closers: Array<() => Promise<void> | void> = [() => db.close()];
  let trainer: PythonProcess | undefined;
  let rollout: RolloutWorkers | undefined;
  let runId: string | undefined;
  // Every Python process this demo started (pre-training, policy server, trainer worker) ends with
  // it, on a signal to this process alone (not only to its terminal's process group) or any exit.
  const onSignal = (signal: NodeJS.Signals) => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    const stopped = killPythonProcesses();
    console.error(
      `\n${signal}: stopping the demo (${stopped.length > 0 ? `ended ${stopped.join(', ')}` : 'no Python process running'}${rollout ? `; removing its sandboxes, at most ${releaseTimeoutSec} s` : ''}); ` +
        `the run stays in Temporal (abort it with \`npm run swerl -- abort ${runId ?? '<run>'}\`)`,
    );
    const held = rollout;
    // A second signal does not wait (a hung Docker daemon must not keep the demo here), but says what it leaves.
    const again = (second: NodeJS.Signals) => {
      if (held) console.error(`${ErrorCodes.SANDBOX_RELEASE_TIMEOUT}: ${second} again: not waiting for the demo's sandboxes; remove what is left with: ${removeCommand(held.leases.id)}`);
      process.exit(130);
    };
    process.once('SIGINT', again);
    process.once('SIGTERM', again);
    void (held ? releaseDemoSandboxes(held, releaseTimeoutSec) : Promise.resolve(undefined))
      .then((left) => left && console.error(left))
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.once('exit', () => killPythonProcesses());
  try {
    const suiteFile = path.resolve(REPO_ROOT, config.tasks.suite);
    const imported = await importTasks(suiteFile, { validate: false });
    await persistImport(db.db, suiteNameOf(suiteFile), imported);
    console.log(`tasks: ${imported.accepted.length} imported from ${path.relative(REPO_ROOT, suiteFile)}`);
    const baselines = scripted ? null : suiteBaselines(imported.accepted);
    if (baselines) console.log(`\ntrivial policies, scored on every task (the model's numbers below are on the ${config.tasks.evalSplit} split):\n${renderBaselines(baselines)}`);

    const policy = await preparePolicy(config, scripted, imported.accepted, arch, opts.base);
    closers.push(() => policy.close());
    const runConfig: RunConfig = { ...config, model: { ...config.model, base: policy.baseId } };
    const queue = `swerl-demo-${randomUUID().slice(0, 8)}`;
    const services = { policyUrl: policy.url, rolloutQueue: `${queue}-rollout`, trainerQueue: `${queue}-trainer` };
    trainer = await startTrainer({
      temporalAddress: endpoints.temporalAddress,
      namespace: endpoints.temporalNamespace,
      taskQueue: services.trainerQueue,
      policyUrl: policy.url,
      baseId: policy.baseId,
      databaseUrl: endpoints.databaseUrl,
      python,
    });
    closers.push(() => trainer?.kill());
    console.log(`trainer worker up (checkpoints in ${path.relative(REPO_ROOT, CHECKPOINTS_DIR)})`);

    const orchestration = await createOrchestrationWorker({ endpoints, db: db.db, taskQueue: queue });
    closers.push(() => orchestration.connection.close());
    const workers = await createRolloutWorkers({ endpoints, db: db.db, sandbox: config.sandbox, hostId: processHostId(queue), sharedQueue: services.rolloutQueue, connection: orchestration.connection });
    rollout = workers;
    const rolloutDone = workers.run();
    try {
      await orchestration.worker.runUntil(async () => {
        const client = await connectClient(endpoints);
        try {
          runId = newRunId(runConfig);
          const handle = await startRun(client, runConfig, runId, queue, { services });
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
          const wallSec = (Date.now() - startedMs) / 1000;
          const report = await writeReport(db.db, runId, final, wallSec, baselines);
          console.log(`\nwall time ${wallSec.toFixed(0)}s; report ${path.relative(REPO_ROOT, report)}. Look further:`);
          console.log(`  Temporal UI   ${stack.temporalUiUrl}/namespaces/${endpoints.temporalNamespace}/workflows/${handle.workflowId}`);
          for (const verb of ['status', 'history', 'checkpoints']) console.log(`  npm run swerl -- ${verb} ${runId}`);
          console.log(`  npm run swerl -- trajectory <episode-id>   (episode ids: \`npm run swerl -- history ${runId}\`)`);
          if (scripted) console.log(SCRIPTED_NOTE);
          if (final.phase !== 'completed') process.exitCode = 1;
        } finally {
          await client.connection.close();
        }
      });
    } finally {
      workers.shutdown();
      await rolloutDone.catch(() => undefined);
      await workers.close();
    }
  } finally {
    for (const close of closers.reverse()) await close();
  }
}

function parseReleaseTimeout(text: string | undefined): number {
  if (text === undefined) return RELEASE_TIMEOUT_SEC;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(ErrorCodes.CONFIG_INVALID, `--release-timeout must be a positive number of seconds, got ${JSON.stringify(text)}`, { releaseTimeout: text });
  return n;
}

/** `swerl demo-doc`: the committed report (markdown + JSON) of demo runs, from their .swerl/reports JSON. */
function writeDemoDoc(files: string[], opts: { out: string; command: string; title?: string; split?: string }): void {
  const runs = files.map((f) => {
    const r = JSON.parse(readFileSync(f, 'utf8')) as DemoRun & { baselines?: DemoDoc['baselines'] };
    return { ...r, baselines: r.baselines ?? null };
  });
  const doc: DemoDoc = {
    commit: execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim(),
    command: opts.command,
    runs: runs.map((r) => ({ runId: r.runId, config: r.config, seed: r.seed, phase: r.phase, wallSec: r.wallSec, ...(r.loadAverage ? { loadAverage: r.loadAverage } : {}), stageEvals: r.stageEvals })),
    baselines: runs[0]?.baselines ?? null,
    ...(opts.title ? { title: opts.title } : {}),
    ...(opts.split ? { split: opts.split } : {}),
    ...(opts.out === 'docs/learn-demo' ? {} : { source: `${opts.out}.json` }),
  };
  writeFileSync(`${opts.out}.json`, JSON.stringify(doc, null, 2) + '\n');
  writeFileSync(`${opts.out}.md`, renderDemoDoc(doc));
  console.log(`wrote ${opts.out}.json and ${opts.out}.md (${runs.length} runs)`);
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo-doc')
    .description('the committed demo report: docs/<name>.{json,md} from the .swerl/reports/<run>.json files of demo runs')
    .argument('<reports...>', 'run reports written by `swerl demo`')
    .option('--out <prefix>', 'output path without extension', 'docs/learn-demo')
    .option('--command <text>', 'the command that made the runs', 'npm run demo -- --seed N')
    .option('--title <text>', 'the title line (default: the learning demo\'s)')
    .option('--split <name>', "the split the runs' evals ran on (default: test)")
    .action(writeDemoDoc);
  program
    .command('demo')
    .description('the learning demo end to end on the embedded stack: pre-trained base → eval → RFT → eval → RL stage 1 → promote → RL stage 2 → eval')
    .option('--config <file>', 'run config or preset (default: learn, or toy with --scripted)')
    .option('--scripted', 'rollouts from scripted policies instead of a model (toy preset): the plumbing only')
    .option('--seed <n>', "the run's seed instead of the config's (episode sampling and training order; the pre-trained base is the same)")
    .option('--base <checkpoint>', 'start from this checkpoint in .swerl/checkpoints instead of pre-training (e.g. an RFT checkpoint, with the learn-rl-tune preset)')
    .option('--arch <arch>', 'the base model, overriding the config\'s model.arch: native (swerl\'s GPT, trainer/.venv), qwen2 or llama (a transformers model of the same size, trainer/.venv-hf from `bash trainer/install.sh --hf`; the policy server and the trainer worker run there too)')
    .option('--release-timeout <sec>', `on SIGINT/SIGTERM: how long to wait for the demo's sandboxes to be removed before naming what is left (default ${RELEASE_TIMEOUT_SEC})`)
    .addHelpText(
      'after',
      '\nBrings up the dev stack, imports the config\'s task suite, pre-trains the base policy on noisy demonstrations ' +
        '(cached in .swerl/checkpoints), starts the policy server and the Python trainer (trainer/.venv; `bash scripts/bootstrap.sh` ' +
        'makes it), an in-process orchestration worker and rollout workers on private task queues, and promotes at the stage ' +
        'boundary by itself (forced when the gate is unmet). Writes .swerl/reports/<run>.{json,md}.',
    )
    .action(runDemo);
}
