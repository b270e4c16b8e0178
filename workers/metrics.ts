/**
 * Prometheus metrics of a swerl worker process (prom-client), served on `/metrics`.
 *
 * What is measured, and where:
 * - every activity, by an activity interceptor (so no activity body knows about metrics): attempts,
 *   duration by outcome, failures by SWERL_* code. The episode's turn phases are activities
 *   (`policyTurn` samples, `execTool` runs the tool, `scoreEpisode` grades), so the duration
 *   histogram per activity type is the turn-latency histogram per phase; code that runs several
 *   phases in one activity reports them through `observeTurnPhase`.
 * - episode and reward events, read off the results of `startEpisode` and `scoreEpisode`;
 * - sandbox gauges (leased, pooled) from the host's LeaseManager, at scrape time.
 *
 * One registry per process; `startMetricsServer` listens on loopback unless told otherwise.
 */
import { createServer, type Server } from 'node:http';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { Context } from '@temporalio/activity';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next, WorkerInterceptors } from '@temporalio/worker';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { errorCodeOf } from '../core/errors';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'swerl_' });

/** Seconds; from a fast tool call to a long test run. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];

export const activityAttempts = new Counter({
  name: 'swerl_activity_attempts_total',
  help: 'Activity attempts started by this worker, by activity type and task queue (attempt > 1 is a retry).',
  labelNames: ['activity', 'task_queue', 'retry'] as const,
  registers: [registry],
});

export const activityDuration = new Histogram({
  name: 'swerl_activity_duration_seconds',
  help: 'Wall time of one activity attempt, by activity type, task queue and outcome (ok | failed).',
  labelNames: ['activity', 'task_queue', 'outcome'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const activityFailures = new Counter({
  name: 'swerl_activity_failures_total',
  help: 'Failed activity attempts by activity type and error code (SWERL_* or "uncoded").',
  labelNames: ['activity', 'code'] as const,
  registers: [registry],
});

export const turnPhaseSeconds = new Histogram({
  name: 'swerl_turn_phase_seconds',
  help: 'Time of one phase of an agent turn (policy = sampling, tool = running the action, reward = grading).',
  labelNames: ['phase'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const episodeEvents = new Counter({
  name: 'swerl_episode_events_total',
  help: 'Episodes started and scored on this worker (a scored episode carries its exit reason).',
  labelNames: ['event', 'reason'] as const,
  registers: [registry],
});

export const rewardEvents = new Counter({
  name: 'swerl_reward_events_total',
  help: 'Episode rewards computed on this worker, by binary reward (0 | 1) and reason.',
  labelNames: ['reward', 'reason'] as const,
  registers: [registry],
});

export type TurnPhase = 'policy' | 'tool' | 'reward';

/** The phases of the per-turn activities; the histogram of the others is swerl_activity_duration_seconds. */
const PHASE_OF_ACTIVITY: Record<string, TurnPhase> = { policyTurn: 'policy', execTool: 'tool', scoreEpisode: 'reward' };

export function observeTurnPhase(phase: TurnPhase, seconds: number): void {
  turnPhaseSeconds.observe({ phase }, seconds);
}

/**
 * Runs one phase of a turn inside an activity that runs several (runTurns): the time of a completed
 * phase goes to swerl_turn_phase_seconds and, when tracing is on, it is a `Turn:<phase>` span (attributes: the
 * episode and the turn) under the activity's span. Without a tracer provider the span is a no-op.
 */
export async function measureTurnPhase<T>(phase: TurnPhase, where: { episodeId: string; turn: number }, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  return trace.getTracer('swerl').startActiveSpan(`Turn:${phase}`, { attributes: { 'swerl.episode_id': where.episodeId, 'swerl.turn': where.turn } }, async (span) => {
    try {
      const result = await fn();
      // Completed phases only: a failed one is counted by swerl_activity_failures_total.
      observeTurnPhase(phase, (performance.now() - started) / 1000);
      return result;
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      span.end();
    }
  });
}

interface SandboxCounts {
  leased: number;
  pooled: number;
  waiting: number;
}
const sandboxSources = new Set<() => SandboxCounts>();

/** A host registers where its sandbox counts come from; the returned function unregisters it. */
export function registerSandboxSource(source: () => SandboxCounts): () => void {
  sandboxSources.add(source);
  return () => sandboxSources.delete(source);
}

/** Read at scrape time, so the gauge is never stale and costs nothing between scrapes. */
export const sandboxes = new Gauge({
  name: 'swerl_sandboxes',
  help: 'Sandboxes of this process: leased (one per episode in flight), pooled (pre-warmed, idle), waiting (acquires queued for a slot).',
  labelNames: ['state'] as const,
  registers: [registry],
  collect() {
    const total: SandboxCounts = { leased: 0, pooled: 0, waiting: 0 };
    for (const source of sandboxSources) {
      const c = source();
      total.leased += c.leased;
      total.pooled += c.pooled;
      total.waiting += c.waiting;
    }
    for (const [state, n] of Object.entries(total)) this.set({ state }, n);
  },
});

/** What an activity's result tells about the episode, for the event counters. */
function countResult(activity: string, result: unknown): void {
  if (activity === 'startEpisode') {
    episodeEvents.inc({ event: 'started', reason: '' });
    return;
  }
  if (activity === 'scoreEpisode' && result && typeof result === 'object') {
    const { reward, reason } = result as { reward?: unknown; reason?: unknown };
    const why = typeof reason === 'string' ? reason : 'unknown';
    episodeEvents.inc({ event: 'scored', reason: why });
    if (typeof reward === 'number') rewardEvents.inc({ reward: reward > 0 ? '1' : '0', reason: why });
  }
}

class MetricsActivityInbound implements ActivityInboundCallsInterceptor {
  constructor(private readonly ctx: Context) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const { activityType: activity, taskQueue, attempt } = this.ctx.info;
    activityAttempts.inc({ activity, task_queue: taskQueue, retry: attempt > 1 ? 'true' : 'false' });
    const started = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
    const phase = PHASE_OF_ACTIVITY[activity];
    try {
      const result = await next(input);
      const seconds = elapsed();
      activityDuration.observe({ activity, task_queue: taskQueue, outcome: 'ok' }, seconds);
      if (phase) observeTurnPhase(phase, seconds);
      countResult(activity, result);
      return result;
    } catch (err) {
      activityDuration.observe({ activity, task_queue: taskQueue, outcome: 'failed' }, elapsed());
      activityFailures.inc({ activity, code: errorCodeOf(err) ?? 'uncoded' });
      throw err;
    }
  }
}

/** Worker interceptors that feed the activity metrics; pass to Worker.create({ interceptors }). */
export const metricsInterceptors: WorkerInterceptors = {
  activity: [(ctx) => ({ inbound: new MetricsActivityInbound(ctx) })],
};

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/** Serves `GET /metrics` (Prometheus text format); every other path is 404. */
export async function startMetricsServer(port: number, host = '127.0.0.1'): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host}:${bound}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
