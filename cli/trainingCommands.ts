/**
 * Training-loop verbs: `promote` (the human decision at a stage boundary, sent as the run's
 * `promote` Update so the run's validator decides), `eval` (a fresh evaluation of a checkpoint:
 * Pass@1 ± SEM and Pass@k, stored per checkpoint; `--stored` lists the stored ones) and
 * `checkpoints` (a run's checkpoint lineage). Register with registerTrainingCommands(program).
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { Option, type Command } from 'commander';
import { asc, eq, sql } from 'drizzle-orm';
import { suiteNameOf } from '../activities/tasks';
import { loadRunConfig } from '../config/load';
import { parseRunConfig, type EvalStageConfig, type RunConfig } from '../core/config';
import { ConfigError, ErrorCodes, errorCodeOf, RunError } from '../core/errors';
import { TaskQueues } from '../core/taskQueues';
import type { Db } from '../db/client';
import { getCheckpoint } from '../db/checkpoints';
import { evalFigures, listEvals } from '../db/evals';
import { checkpoints, evals, runs } from '../db/schema';
import { checkpointEvalWorkflowId, type checkpointEval } from '../workflows/checkpointEval';
import { promoteUpdate, type EvalOutcome, type PromoteRequest, type PromoteResult } from '../workflows/definitions';
import type { RunServices } from '../workflows/trainingRun';
import { withClient, withDb } from './connections';
import { learningClaims, renderReportMarkdown, reportRows, type StageEval } from './demoReport';
import { watchProgress, type ProgressSnapshot } from './progress';
import { operatorName, runHandle } from './runs';

/**
 * Sends the promote Update. A rejection by the run's validator becomes a RunError
 * SWERL_PROMOTE_REJECTED whose details carry the validator's reason (not-at-boundary,
 * checkpoint-missing, gate-unmet, reason-missing).
 */
export async function promoteRun(client: Client, runId: string, req: PromoteRequest): Promise<PromoteResult> {
  try {
    return await runHandle(client, runId).executeUpdate(promoteUpdate, { args: [req] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
      const details = (err.cause.details?.[0] ?? {}) as Record<string, unknown>;
      throw new RunError(ErrorCodes.PROMOTE_REJECTED, `run ${runId}: ${err.cause.message.replace(`${ErrorCodes.PROMOTE_REJECTED}: `, '')}`, details);
    }
    if (err instanceof WorkflowNotFoundError) throw new RunError(ErrorCodes.RUN_NOT_FOUND, `no run "${runId}"`, { runId });
    throw err;
  }
}

/**
 * The config a standalone eval runs: only an eval stage (the config's own, else one with the last
 * stage's turn and context limits), `runs` = k and the split overridden when given. Validated
 * like any run config (e.g. --runs 0 is SWERL_CONFIG_INVALID).
 */
export function evalConfigFor(config: RunConfig, opts: { runs?: number; split?: string } = {}): RunConfig {
  const own = config.stages.find((s): s is EvalStageConfig => s.kind === 'eval');
  const last = config.stages[config.stages.length - 1]!;
  const stage = own ?? { kind: 'eval' as const, name: 'eval', maxTurns: last.maxTurns, contextTokens: last.contextTokens, runs: 10 };
  return parseRunConfig(
    { ...config, tasks: { ...config.tasks, evalSplit: opts.split ?? config.tasks.evalSplit }, stages: [{ ...stage, runs: opts.runs ?? stage.runs }] },
    `eval config from ${config.name}`,
  );
}

/**
 * The run id of the evaluation of `checkpointId` under `evalConfig` (from evalConfigFor): the
 * same checkpoint, config, split and k give the same id, hence the same workflow.
 */
export function checkpointEvalRunId(evalConfig: RunConfig, checkpointId: string): string {
  const digest = createHash('sha256').update(JSON.stringify({ checkpointId, config: evalConfig })).digest('hex').slice(0, 10);
  const slug = checkpointId.replace(/[^A-Za-z0-9._-]+/g, '_').slice(-60);
  return `eval-${evalConfig.name}-${slug}-${digest}`;
}

export interface LaunchEvalOptions {
  checkpointId: string;
  config: RunConfig;
  runs?: number;
  split?: string;
  services?: RunServices;
  /** Orchestration task queue (default TaskQueues.orchestration). */
  taskQueue?: string;
  /** Who asked and why: recorded in the eval workflow's memo (the first request's, when a second attaches). */
  who?: string;
  reason?: string;
}

export interface LaunchedEval {
  evalRunId: string;
  workflowId: string;
  handle: WorkflowHandle<typeof checkpointEval>;
  /** 'completed': the same eval had already finished; its stored result is returned, nothing reruns. */
  attachedTo: 'new-or-running' | 'completed';
}

/**
 * Starts the checkpointEval workflow, or attaches to the one already running (or finished) for
 * the same checkpoint and config. A failed one may be started again. An unknown checkpoint is
 * SWERL_CHECKPOINT_NOT_FOUND before anything starts.
 */
export async function launchEval(client: Client, db: Db, opts: LaunchEvalOptions): Promise<LaunchedEval> {
  try {
    await getCheckpoint(db, opts.checkpointId);
  } catch (err) {
    if (errorCodeOf(err) !== ErrorCodes.CHECKPOINT_NOT_FOUND) throw err;
    throw new RunError(ErrorCodes.CHECKPOINT_NOT_FOUND, `no checkpoint "${opts.checkpointId}" in the registry (\`swerl checkpoints RUN\` lists a run's)`, { checkpoint: opts.checkpointId });
  }
  const config = evalConfigFor(opts.config, opts);
  const evalRunId = checkpointEvalRunId(config, opts.checkpointId);
  const workflowId = checkpointEvalWorkflowId(evalRunId);
  try {
    const handle = await client.workflow.start<typeof checkpointEval>('checkpointEval', {
      workflowId,
      taskQueue: opts.taskQueue ?? TaskQueues.orchestration,
      args: [{ evalRunId, config, checkpointId: opts.checkpointId, services: opts.services }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      memo: { swerlRunName: config.name, swerlCheckpoint: opts.checkpointId, swerlActor: opts.who ?? operatorName(), swerlReason: opts.reason ?? '' },
    });
    return { evalRunId, workflowId, handle, attachedTo: 'new-or-running' };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return { evalRunId, workflowId, handle: client.workflow.getHandle<typeof checkpointEval>(workflowId), attachedTo: 'completed' };
  }
}

export function formatEvalOutcome(e: Pick<EvalOutcome, 'checkpointId' | 'pass1' | 'sem' | 'passK' | 'k' | 'tasks'>, split: string): string {
  return `${e.checkpointId} [split ${split}, ${e.tasks} tasks]: Pass@1 ${pct(e.pass1)} ± ${e.sem === null ? '-' : pct(e.sem)} (k=${e.k}), Pass@${e.k} ${pct(e.passK)}`;
}

export async function checkpointEvals(db: Db, checkpointId: string) {
  return db.select().from(evals).where(eq(evals.checkpointId, checkpointId)).orderBy(asc(evals.createdAt));
}

export async function runCheckpoints(db: Db, runId: string) {
  return db.select().from(checkpoints).where(eq(checkpoints.runId, runId)).orderBy(asc(checkpoints.createdAt));
}

/**
 * A run's eval report rebuilt from Postgres (runs + evals rows, evals in the order they were
 * stored): what the demo writes to .swerl/reports when its run ends, for any run, at any time.
 */
export async function runReport(db: Db, runId: string) {
  const [run] = await db.select().from(runs).where(eq(runs.id, runId));
  if (!run) throw new RunError(ErrorCodes.RUN_NOT_FOUND, `no run "${runId}" in the database`, { runId });
  const stageEvals: StageEval[] = (await listEvals(db, runId)).map(evalFigures);
  const config = run.config as { seed?: number };
  const head = { runId, config: run.name, seed: config.seed ?? 0, phase: run.status, wallSec: (run.updatedAt.getTime() - run.createdAt.getTime()) / 1000 };
  return { head, stageEvals, evals: reportRows(stageEvals), claims: learningClaims(stageEvals) };
}

/** An eval's finished episodes against tasks × k of its split (what `swerl eval` shows while it waits). */
async function evalProgress(db: Db, evalRunId: string, suiteFile: string, split: string, k: number): Promise<ProgressSnapshot> {
  const { rows } = await db.execute<{ done: number; tasks: number }>(sql`
    select (select count(*) from episodes where run_id = ${evalRunId} and status in ('completed', 'failed'))::int as done,
      (select count(*) from tasks where suite = ${suiteNameOf(suiteFile)} and split = ${split})::int as tasks`);
  const row = rows[0] ?? { done: 0, tasks: 0 };
  return { label: `eval ${evalRunId} · split ${split} · k=${k}`, done: row.done, total: row.tasks > 0 ? row.tasks * k : null };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

function positiveIntArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(ErrorCodes.CONFIG_INVALID, `--runs must be a positive integer, got "${value}"`, { runs: value });
  return n;
}

async function listStoredEvals(checkpoint: string, json: boolean): Promise<void> {
  await withDb(async ({ db }) => {
    const rows = await checkpointEvals(db, checkpoint);
    if (rows.length === 0) {
      throw new RunError(ErrorCodes.CHECKPOINT_NOT_FOUND, `no evaluation of checkpoint ${checkpoint} is stored (\`swerl eval ${checkpoint}\` runs one)`, { checkpoint });
    }
    if (json) return console.log(JSON.stringify(rows, null, 2));
    for (const e of rows) {
      console.log(`${e.checkpointId} [${e.stage}, split ${e.split}, ${e.taskCount} tasks]: Pass@1 ${pct(e.pass1Mean)} ± ${pct(e.pass1Sem)} (k=${e.k}), Pass@${e.k} ${pct(e.passK)}`);
    }
  });
}

export function registerTrainingCommands(program: Command): void {
  program
    .command('promote')
    .argument('<run>', 'run id')
    .option('--reason <text>', 'why (recorded with the promotion)')
    .option('--who <name>', 'operator name (default: $SWERL_OPERATOR or the OS user)')
    .option('--force', 'promote although the eval gate is not met (needs --reason)')
    .option('--to <checkpoint>', "start the next stage from this checkpoint of the run (default: the stage's last)")
    .description('move a run waiting at a stage boundary into its next stage')
    .action(async (run: string, opts: { reason?: string; who?: string; force?: boolean; to?: string }) => {
      await withClient(async (client) => {
        const result = await promoteRun(client, run, {
          who: opts.who ?? operatorName(),
          reason: opts.reason ?? '',
          force: Boolean(opts.force),
          checkpointId: opts.to,
        });
        console.log(`promoted ${run}: ${result.fromStage} → ${result.toStage} from ${result.checkpointId}${result.forced ? ' (forced past the eval gate)' : ''} [${result.promotionId}]`);
      });
    });

  program
    .command('eval')
    .argument('<checkpoint>', 'checkpoint id (from the registry: `swerl checkpoints RUN`)')
    .option('--config <file>', 'run config or preset whose eval stage, policy and task suite apply', 'toy')
    .addOption(new Option('--runs <k>', 'k independent runs per task (default: the eval stage\'s runs)').argParser(positiveIntArg))
    .option('--split <name>', 'task split to evaluate on (default: the config\'s tasks.evalSplit)')
    .option('--no-wait', 'print the workflow id and return instead of waiting for the result')
    .option('--who <name>', 'operator name, recorded with the eval (default: $SWERL_OPERATOR or the OS user)')
    .option('--reason <text>', 'why, recorded with the eval', '')
    .option('--stored', 'list the stored evaluations of the checkpoint instead of running one')
    .option('--json', 'machine-readable output')
    .description('evaluate a checkpoint on the eval split: Pass@1 mean ± SEM over k runs and Pass@k (needs a running `swerl worker`)')
    .action(async (checkpoint: string, opts: { config: string; runs?: number; split?: string; wait: boolean; who?: string; reason: string; stored?: boolean; json?: boolean }) => {
      if (opts.stored) return listStoredEvals(checkpoint, Boolean(opts.json));
      const config = loadRunConfig(opts.config);
      await withDb((db) =>
        withClient(async (client) => {
          const launched = await launchEval(client, db.db, { checkpointId: checkpoint, config, runs: opts.runs, split: opts.split, who: opts.who, reason: opts.reason });
          const split = opts.split ?? config.tasks.evalSplit;
          if (!opts.json) console.log(`eval ${launched.evalRunId} (workflow ${launched.workflowId})${launched.attachedTo === 'completed' ? ': already done, its stored result:' : ''}`);
          if (!opts.wait) {
            if (opts.json) console.log(JSON.stringify({ evalRunId: launched.evalRunId, workflowId: launched.workflowId }));
            return;
          }
          const k = evalConfigFor(config, opts).stages[0]!;
          const outcome = await watchProgress(launched.handle.result(), () => evalProgress(db.db, launched.evalRunId, config.tasks.suite, split, k.kind === 'eval' ? k.runs : 1));
          console.log(opts.json ? JSON.stringify({ evalRunId: launched.evalRunId, workflowId: launched.workflowId, split, ...outcome }, null, 2) : formatEvalOutcome(outcome, split));
        }),
      );
    });

  program
    .command('report')
    .argument('<run>', 'run id')
    .option('--json', 'machine-readable output')
    .description("a run's evals in order (Pass@1 ± SEM, Pass@k, the change against the previous eval) and the learning claims base < after RFT < after RL, from Postgres")
    .action((run: string, opts: { json?: boolean }) =>
      withDb(async ({ db }) => {
        const report = await runReport(db, run);
        if (opts.json) return console.log(JSON.stringify({ ...report.head, evals: report.evals, claims: report.claims }, null, 2));
        console.log(renderReportMarkdown(report.head, report.stageEvals));
      }),
    );

  program
    .command('checkpoints')
    .argument('<run>', 'run id')
    .option('--json', 'machine-readable output')
    .description("a run's checkpoints with their lineage (parent, stage, iteration, metrics)")
    .action((run: string, opts: { json?: boolean }) =>
      withDb(async ({ db }) => {
        const rows = await runCheckpoints(db, run);
        if (opts.json) return console.log(JSON.stringify(rows, null, 2));
        if (rows.length === 0) console.log(`run ${run} has no checkpoints yet`);
        for (const c of rows) {
          const m = c.metrics as { loss?: number; clip_fraction?: number };
          const metrics = m.loss === undefined ? '' : `  loss ${m.loss.toFixed(4)} clip ${(m.clip_fraction ?? 0).toFixed(3)}`;
          console.log(`${c.id}  ${c.kind}  ${c.stage ?? '-'}#${c.iteration ?? '-'}  ← ${c.parentId ?? '(root)'}${metrics}`);
        }
      }),
    );
}
