/**
 * Stall detection: a run that is `running` but whose iteration has made no progress (no episode
 * finished, no trainer step applied, no iteration started, no run state change) for
 * `timeouts.stallAfterSec` is stalled. The report says what it is waiting on, from Temporal's own
 * describe of the run's workflow tree: each pending activity's type, the task queue it was
 * scheduled on, its attempt count and last failure. Postgres says "no progress"; Temporal says
 * "where": neither is copied anywhere.
 *
 * Used by `swerl status`, the dashboard, and (through runStalls) by metrics exporters.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { sql } from 'drizzle-orm';
import { ConfigError, ErrorCodes } from '../core/errors';
import type { Db } from '../db/client';

/** `--stall-after SEC` of `swerl status` and `swerl dashboard`: a positive whole number of seconds. */
export function parseStallAfter(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(ErrorCodes.CONFIG_INVALID, `--stall-after must be a positive number of seconds, got "${value}"`, { stallAfter: value });
  return n;
}

/** The default of timeouts.stallAfterSec, for runs stored before the knob existed. */
export const DEFAULT_STALL_AFTER_SEC = 1800;
/** Bounds the describe walk: a stalled iteration with hundreds of episodes is summarised, not listed. */
const MAX_DESCRIBES = 48;

export interface PendingActivity {
  activityType: string;
  /** The task queue the activity was scheduled on (which workers could pick it up). */
  taskQueue: string | null;
  /** How many workflows in the run's tree wait on this (type, queue). */
  count: number;
  /** The highest attempt among them (1 = first try). */
  maxAttempt: number;
  /** 0 = unlimited retries. */
  maximumAttempts: number;
  state: string;
  lastFailure: string | null;
  lastWorker: string | null;
  /** A few of the workflows waiting, for a link into the Temporal UI. */
  workflowIds: string[];
}

export interface StallReport {
  runId: string;
  workflowId: string;
  status: string;
  stalled: boolean;
  stallAfterSec: number;
  /** Seconds since the last progress (null when the run is not running). */
  idleSec: number | null;
  lastProgressAt: string | null;
  /** Filled only when stalled: what the run's workflows wait on. */
  waitingOn: PendingActivity[];
  /** Set when Temporal could not be asked (the report still says stalled). */
  describeError?: string;
}

interface ProgressRow extends Record<string, unknown> {
  id: string;
  workflow_id: string;
  status: string;
  config: { timeouts?: { stallAfterSec?: number } };
  last_progress: Date | string | null;
  now: Date | string;
}

async function progressRows(db: Db, runId?: string): Promise<ProgressRow[]> {
  const filter = runId === undefined ? sql`r.status = 'running'` : sql`r.id = ${runId}`;
  const { rows } = await db.execute<ProgressRow>(sql`
    select r.id, r.workflow_id, r.status, r.config, now() as now,
      greatest(
        r.created_at, r.updated_at,
        (select max(e.finished_at) from episodes e where e.run_id = r.id),
        (select max(s.applied_at) from trainer_steps s where s.run_id = r.id),
        (select max(i.started_at) from iterations i where i.run_id = r.id)
      ) as last_progress
    from runs r where ${filter}`);
  return rows;
}

const stateNames = temporal.api.enums.v1.PendingActivityState as unknown as Record<number, string>;

/**
 * Walks the run's open workflow tree (the run, its stage/iteration children, their episodes)
 * breadth-first and groups the pending activities by (type, task queue).
 */
export async function pendingActivities(client: Client, workflowId: string): Promise<PendingActivity[]> {
  const groups = new Map<string, PendingActivity>();
  const queue = [workflowId];
  let describes = 0;
  while (queue.length > 0 && describes < MAX_DESCRIBES) {
    const id = queue.shift()!;
    describes += 1;
    const { raw } = await client.workflow.getHandle(id).describe();
    for (const child of raw.pendingChildren ?? []) if (child.workflowId) queue.push(child.workflowId);
    for (const a of raw.pendingActivities ?? []) {
      const activityType = a.activityType?.name ?? '?';
      const taskQueue = a.activityOptions?.taskQueue?.name ?? null;
      const state = (stateNames[a.state ?? 0] ?? String(a.state)).replace(/^PENDING_ACTIVITY_STATE_/, '');
      const key = `${activityType}\u0000${taskQueue ?? ''}`;
      const g = groups.get(key) ?? {
        activityType,
        taskQueue,
        count: 0,
        maxAttempt: 0,
        maximumAttempts: a.maximumAttempts ?? 0,
        state,
        lastFailure: null,
        lastWorker: null,
        workflowIds: [],
      };
      g.count += 1;
      if ((a.attempt ?? 0) >= g.maxAttempt) {
        g.maxAttempt = a.attempt ?? 0;
        g.state = state;
        g.lastFailure = a.lastFailure?.message ?? g.lastFailure;
        g.lastWorker = a.lastWorkerIdentity || g.lastWorker;
      }
      if (g.workflowIds.length < 5) g.workflowIds.push(id);
      groups.set(key, g);
    }
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || a.activityType.localeCompare(b.activityType));
}

function toDate(x: Date | string | null): Date | null {
  return x === null ? null : x instanceof Date ? x : new Date(x);
}

async function reportOf(client: Client, row: ProgressRow, opts: { stallAfterSec?: number }): Promise<StallReport> {
  const stallAfterSec = opts.stallAfterSec ?? row.config?.timeouts?.stallAfterSec ?? DEFAULT_STALL_AFTER_SEC;
  const last = toDate(row.last_progress);
  const now = toDate(row.now)!;
  const running = row.status === 'running';
  const idleSec = running && last ? Math.max(0, (now.getTime() - last.getTime()) / 1000) : null;
  const report: StallReport = {
    runId: row.id,
    workflowId: row.workflow_id,
    status: row.status,
    stalled: idleSec !== null && idleSec >= stallAfterSec,
    stallAfterSec,
    idleSec,
    lastProgressAt: last?.toISOString() ?? null,
    waitingOn: [],
  };
  if (report.stalled) {
    try {
      report.waitingOn = await pendingActivities(client, row.workflow_id);
    } catch (err) {
      report.describeError = err instanceof Error ? err.message : String(err);
    }
  }
  return report;
}

/** The stall report of one run (not stalled when the run is not `running`); undefined if no such run. */
export async function detectStall(client: Client, db: Db, runId: string, opts: { stallAfterSec?: number } = {}): Promise<StallReport | undefined> {
  const [row] = await progressRows(db, runId);
  return row ? reportOf(client, row, opts) : undefined;
}

/** Every running run's stall report: what a metrics exporter calls on each scrape (stalled → a gauge). */
export async function runStalls(client: Client, db: Db, opts: { stallAfterSec?: number } = {}): Promise<StallReport[]> {
  const rows = await progressRows(db);
  return Promise.all(rows.map((row) => reportOf(client, row, opts)));
}

function duration(sec: number): string {
  if (sec < 120) return `${Math.round(sec)} s`;
  if (sec < 7200) return `${Math.round(sec / 60)} min`;
  return `${(sec / 3600).toFixed(1)} h`;
}

/** The lines `swerl status` prints under a stalled run (none for a healthy one). */
export function formatStall(r: StallReport): string[] {
  if (!r.stalled) return [];
  const lines = [`  STALLED: no progress for ${duration(r.idleSec ?? 0)} (threshold ${duration(r.stallAfterSec)}; last at ${r.lastProgressAt})`];
  if (r.describeError) lines.push(`    (could not ask Temporal what it waits on: ${r.describeError})`);
  else if (r.waitingOn.length === 0) lines.push('    no activity pending: the run waits on a timer, a child workflow or a worker that polls its queue');
  for (const a of r.waitingOn) {
    const attempts = a.maximumAttempts > 0 ? `${a.maxAttempt}/${a.maximumAttempts}` : `${a.maxAttempt}`;
    lines.push(`    waiting on ${a.activityType} (queue ${a.taskQueue ?? '?'}) ×${a.count}, attempt ${attempts}, ${a.state.toLowerCase()}${a.lastFailure ? `: ${a.lastFailure}` : ''}`);
  }
  return lines;
}
