/**
 * The run-facing CLI verbs: start, status, history, pause/resume/abort. Each talks to Temporal
 * only; the run's own durable state is the source of truth, Postgres holds the detail.
 */
import os from 'node:os';
import { ServiceError, WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { RunError, ErrorCodes } from '../core/errors';
import type { RunConfig } from '../core/config';
import { TaskQueues, trainingRunWorkflowId } from '../core/taskQueues';
import { abortSignal, pauseSignal, resumeSignal, statusQuery, type RunStatus } from '../workflows/definitions';
import type { trainingRun, TrainingRunInput } from '../workflows/trainingRun';
import { formatHistory, summarizeHistory, type HistoryLine } from './history';

export function newRunId(config: RunConfig, now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${config.name}-${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

export async function startRun(
  client: Client,
  config: RunConfig,
  runId: string = newRunId(config),
  taskQueue: string = TaskQueues.orchestration,
  extra: Omit<TrainingRunInput, 'runId' | 'config' | 'carried'> = {},
): Promise<WorkflowHandle<typeof trainingRun>> {
  return client.workflow.start<typeof trainingRun>('trainingRun', {
    workflowId: trainingRunWorkflowId(runId),
    taskQueue,
    args: [{ runId, config, ...extra }],
    // A second start of the same run id is an operator mistake, not a new run.
    workflowIdConflictPolicy: 'FAIL',
    memo: { swerlRunName: config.name },
  });
}

/** gRPC answers of a Temporal server that is overloaded or restarting: the run goes on, so does the wait. */
const TRANSIENT_GRPC = new Set<number>([
  14, // UNAVAILABLE
  4, // DEADLINE_EXCEEDED
  8, // RESOURCE_EXHAUSTED
  2, // UNKNOWN
]);

export function isTransientTemporalError(err: unknown): boolean {
  const cause = err instanceof ServiceError ? err.cause : err;
  const code = (cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' && TRANSIENT_GRPC.has(code);
}

/**
 * `swerl start --wait`: the run's result, waiting again when Temporal answers a transient error
 * (the real server under load failed the CLI's long poll with UNAVAILABLE while the run went on).
 * Bounded: after `attempts` transient failures in a row it gives up with SWERL_TEMPORAL_UNAVAILABLE,
 * naming the run (which is still running: `swerl status RUN`).
 */
export async function waitForRun<T>(
  runId: string,
  result: () => Promise<T>,
  opts: { attempts?: number; pauseMs?: number; log?: (line: string) => void } = {},
): Promise<T> {
  const attempts = opts.attempts ?? 60;
  for (let failures = 0; ; ) {
    try {
      return await result();
    } catch (err) {
      if (!isTransientTemporalError(err)) throw err;
      failures += 1;
      const detail = (err as Error).message + (err instanceof ServiceError && err.cause ? `: ${err.cause.message}` : '');
      if (failures >= attempts) {
        throw new RunError(ErrorCodes.TEMPORAL_UNAVAILABLE, `gave up waiting for run "${runId}" after ${failures} transient Temporal errors in a row (${detail}); it may still be running: swerl status ${runId}`, {
          runId,
          failures,
        });
      }
      opts.log?.(`waiting for run ${runId}: Temporal answered ${detail}; waiting again (${failures}/${attempts})`);
      await new Promise((r) => setTimeout(r, opts.pauseMs ?? 5_000));
    }
  }
}

export function runHandle(client: Client, runId: string): WorkflowHandle<typeof trainingRun> {
  return client.workflow.getHandle<typeof trainingRun>(trainingRunWorkflowId(runId));
}

async function ensureExists(handle: WorkflowHandle, runId: string): Promise<void> {
  try {
    await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new RunError(ErrorCodes.RUN_NOT_FOUND, `no run "${runId}" (workflow ${handle.workflowId})`, { runId });
    }
    throw err;
  }
}

export async function runStatus(client: Client, runId: string): Promise<RunStatus> {
  const handle = runHandle(client, runId);
  await ensureExists(handle, runId);
  return handle.query(statusQuery);
}

const pct = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : `${(x * 100).toFixed(1)}%`);
const num = (x: number | null | undefined, digits = 2): string => (x === null || x === undefined ? '-' : x.toFixed(digits));

export function formatStatus(s: RunStatus): string {
  const lines = [
    `run ${s.runId} (${s.name}): ${s.phase}${s.pausedBy ? ` by ${s.pausedBy.who}: ${s.pausedBy.reason}` : ''}${s.abortReason ? ` — ${s.abortReason}` : ''}`,
    `  started ${s.startedAt}, updated ${s.updatedAt}, continued-as-new ${s.continuedAsNew}x${s.executor ? `, executor ${s.executor}` : ''}`,
    `  episodes ${s.counters.episodes}, infra failures ${s.counters.infraFailures}, update steps ${s.counters.updateSteps}${s.policyVersion ? `, policy ${s.policyVersion}` : ''}`,
    '  stages:',
    ...s.stages.map((st, i) => `  ${i === s.stageIndex ? '>' : ' '} ${st.name.padEnd(14)} ${st.kind.padEnd(5)} ${st.state.padEnd(8)} iterations ${st.iterationsDone}/${st.iterationsPlanned}${st.finalCheckpointId ? `  → ${st.finalCheckpointId}` : ''}`),
  ];
  if (s.iterations?.length) {
    lines.push('  iterations:', '    stage/iter            episodes  reward  pass@1   submit  turns  zero-adv  clip    infra  steps  tok/s');
    for (const it of s.iterations) {
      lines.push(
        `    ${`${it.stage}/${it.iteration}`.padEnd(20)}  ${String(it.episodes).padStart(8)}  ${num(it.rewardMean).padStart(6)}  ${pct(it.passRate).padStart(6)}  ${pct(it.submitRate).padStart(6)}  ${num(it.meanTurns, 1).padStart(5)}  ${pct(it.zeroAdvantageFraction).padStart(8)}  ${pct(it.clipFraction).padStart(6)}  ${String(it.infraFailures).padStart(5)}  ${String(it.updateSteps).padStart(5)}  ${num(it.trainerTokensPerSec, 0).padStart(5)}`,
      );
    }
  }
  for (const e of s.evals ?? []) {
    lines.push(`  eval ${e.evalId}: ${e.checkpointId} Pass@1 ${pct(e.pass1)} ± ${e.sem === null ? '-' : pct(e.sem)} (k=${e.k}, ${e.tasks} tasks), Pass@${e.k} ${pct(e.passK)}`);
  }
  if (s.boundary) {
    const b = s.boundary;
    lines.push(`  waiting at ${b.fromStage} → ${b.toStage} since ${b.since}: checkpoint ${b.checkpointId}, gate Pass@1 ≥ ${pct(b.minPass1)} ${b.gateMet ? 'met' : 'NOT met'} — \`swerl promote ${s.runId} --reason …\``);
  }
  for (const p of s.promotions ?? []) lines.push(`  promoted ${p.fromStage} → ${p.toStage} from ${p.checkpointId}${p.forced ? ' (forced)' : ''}`);
  if (s.failure) lines.push(`  failed: ${s.failure.code}: ${s.failure.message}`);
  return lines.join('\n');
}

export async function runHistory(client: Client, runId: string, opts: { verbose?: boolean } = {}): Promise<HistoryLine[]> {
  const handle = runHandle(client, runId);
  await ensureExists(handle, runId);
  const history = await handle.fetchHistory();
  const names = temporal.api.enums.v1.EventType as unknown as Record<number, string>;
  return summarizeHistory(history.events ?? [], names, opts);
}

export { formatHistory };

export type OperatorVerb = 'pause' | 'resume' | 'abort';

export async function signalRun(client: Client, runId: string, verb: OperatorVerb, reason: string, who: string = operatorName()): Promise<void> {
  const handle = runHandle(client, runId);
  await ensureExists(handle, runId);
  const signal = { pause: pauseSignal, resume: resumeSignal, abort: abortSignal }[verb];
  await handle.signal(signal, { who, reason });
}

export function operatorName(): string {
  return process.env.SWERL_OPERATOR || os.userInfo().username;
}
