/**
 * The operator console's HTTP server (`swerl dashboard`): a fixed set of JSON routes over Postgres
 * and the Temporal client, the page's own files and uPlot's, nothing else. No route takes a path,
 * a command or SQL from the request, so the page cannot start a shell or read a file swerl did not
 * store. Operator actions call the very functions the CLI calls (promoteRun, signalRun): the run's
 * validator decides, the dashboard only shows its answer.
 *
 * Mutations are guarded three ways: a JSON body (a cross-site form cannot send one without a
 * preflight this server never answers), an Origin that matches the Host, and, when a token is set,
 * the `x-swerl-token` header. Bound to anything but loopback without a token, it is read-only.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ErrorCodes, SwerlError } from '../core/errors';
import type { Db } from '../db/client';
import { requestFork, requestRescore } from '../cli/episodeOperations';
import { launchEval, promoteRun } from '../cli/trainingCommands';
import { parseRunConfig } from '../core/config';
import { operatorName, runStatus, signalRun, type OperatorVerb } from '../cli/runs';
import type { RunStatus } from '../workflows/definitions';
import { episodeDetail, getRunRow, listEpisodes, listRuns, runCurves, runStages } from './queries';
import { detectStall, runStalls, type StallReport } from './stall';

export interface DashboardOptions {
  db: Db;
  client: Client;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8765; 0 picks a free port. */
  port?: number;
  /** Guards mutations; required for them when bound to a non-loopback address. */
  token?: string;
  temporalUiUrl?: string;
  namespace: string;
  /** Overrides each run's timeouts.stallAfterSec. */
  stallAfterSec?: number;
  /** Who the actions are recorded as when the page does not say (default: $SWERL_OPERATOR or the OS user). */
  operator?: string;
  /** How long a run's status Query may take before the page shows the database's view only. */
  queryTimeoutMs?: number;
  /**
   * Where the page's evals, rescores and forks run: the orchestration, rollout and trainer task
   * queues and the eval's policy endpoint (defaults: swerl's queues, the run config's policy.url).
   */
  services?: { taskQueue?: string; rolloutQueue?: string; trainerQueue?: string; policyUrl?: string };
}

export interface Dashboard {
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const TERMINAL = new Set(['completed', 'failed', 'aborted']);

function asset(file: string): string {
  return readFileSync(file, 'utf8');
}

/** The page and its two vendor files, read once: served from memory, never from a request path. */
function loadAssets() {
  const pub = path.join(__dirname, 'public');
  const uplot = path.dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  return {
    '/': { type: 'text/html; charset=utf-8', body: asset(path.join(pub, 'index.html')) },
    '/assets/app.js': { type: 'text/javascript; charset=utf-8', body: asset(path.join(pub, 'app.js')) },
    '/assets/app.css': { type: 'text/css; charset=utf-8', body: asset(path.join(pub, 'app.css')) },
    '/assets/uplot.js': { type: 'text/javascript; charset=utf-8', body: asset(path.join(uplot, 'uPlot.iife.min.js')) },
    '/assets/uplot.css': { type: 'text/css; charset=utf-8', body: asset(path.join(uplot, 'uPlot.min.css')) },
  };
}

class HttpError extends SwerlError {
  constructor(
    readonly status: number,
    code: (typeof ErrorCodes)[keyof typeof ErrorCodes],
    message: string,
  ) {
    super(code, message);
  }
}

const STATUS_OF: Partial<Record<string, number>> = {
  [ErrorCodes.RUN_NOT_FOUND]: 404,
  [ErrorCodes.EPISODE_NOT_FOUND]: 404,
  [ErrorCodes.CHECKPOINT_NOT_FOUND]: 404,
  [ErrorCodes.EPISODE_OPERATION_INVALID]: 409,
  [ErrorCodes.PROMOTE_REJECTED]: 409,
  [ErrorCodes.CONFIG_INVALID]: 400,
};

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const ActionBody = z.strictObject({
  who: z.string().trim().max(100).optional(),
  reason: z.string().max(2000).default(''),
});
const PromoteBody = ActionBody.extend({
  force: z.boolean().default(false),
  checkpointId: z.string().max(500).optional(),
});

const EvalBody = ActionBody.extend({
  checkpointId: z.string().min(1).max(500),
  runs: z.number().int().min(1).max(1000).optional(),
  split: z.string().min(1).max(200).optional(),
});
const RescoreBody = ActionBody;
/** No endpoint from the page: a fork samples from the source's endpoint, which the trainer points at the checkpoint. */
const ForkBody = ActionBody.extend({
  atTurn: z.number().int().min(0).max(10_000),
  policyVersion: z.string().trim().min(1).max(500),
});

function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) throw new HttpError(400, ErrorCodes.DASHBOARD_BAD_REQUEST, `bad request body: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

const EpisodeQuery = z.object({
  run: z.string().max(300).optional(),
  stage: z.string().max(200).optional(),
  iteration: z.coerce.number().int().min(0).optional(),
  task: z.string().max(300).optional(),
  minReward: z.coerce.number().optional(),
  maxReward: z.coerce.number().optional(),
  exitReason: z.string().max(50).optional(),
  status: z.string().max(20).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});

function tokenMatches(expected: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const host = opts.host ?? '127.0.0.1';
  const token = opts.token || undefined;
  const readOnly = !LOOPBACK.has(host) && !token;
  const queryTimeoutMs = opts.queryTimeoutMs ?? 5_000;
  const { db, client } = opts;
  const assets = loadAssets();
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'");
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('cache-control', 'no-store');
    return payload;
  });

  app.setErrorHandler((err: unknown, _req, reply) => {
    if (err instanceof HttpError) return reply.status(err.status).send({ error: { code: err.code, message: err.message } });
    if (err instanceof SwerlError) return reply.status(STATUS_OF[err.code] ?? 500).send({ error: { code: err.code, message: err.message, details: err.details } });
    const e = err as { statusCode?: number; message?: string };
    if (e.statusCode && e.statusCode < 500) return reply.status(e.statusCode).send({ error: { code: ErrorCodes.DASHBOARD_BAD_REQUEST, message: e.message } });
    return reply.status(500).send({ error: { code: 'SWERL_INTERNAL', message: e.message ?? String(err) } });
  });

  for (const [route, a] of Object.entries(assets)) {
    app.get(route, async (_req, reply) => reply.type(a.type).send(a.body));
  }

  const workflowUrl = (workflowId: string) =>
    opts.temporalUiUrl ? `${opts.temporalUiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(opts.namespace)}/workflows/${encodeURIComponent(workflowId)}` : null;

  /** The run's own answer (its status Query), or why there is none: a finished run whose worker is gone cannot answer. */
  async function liveStatus(runId: string): Promise<{ status: RunStatus | null; statusError: string | null }> {
    try {
      return { status: await withTimeout(runStatus(client, runId), queryTimeoutMs, `status query of ${runId}`), statusError: null };
    } catch (err) {
      return { status: null, statusError: err instanceof Error ? err.message : String(err) };
    }
  }

  app.get('/api/config', async () => ({
    temporalUiUrl: opts.temporalUiUrl ?? null,
    namespace: opts.namespace,
    readOnly,
    tokenRequired: Boolean(token),
    operator: opts.operator ?? operatorName(),
  }));

  app.get('/api/runs', async () => {
    const rows = await listRuns(db);
    const stalls = new Map((await runStalls(client, db, { stallAfterSec: opts.stallAfterSec })).map((s) => [s.runId, s]));
    const live = await Promise.all(rows.map((r) => (TERMINAL.has(r.status) ? Promise.resolve({ status: null, statusError: null }) : liveStatus(r.id))));
    return rows.map((r, i) => {
      const s = live[i]!.status;
      const stage = s?.stages[s.stageIndex];
      return {
        ...r,
        phase: s?.phase ?? r.status,
        stage: stage?.name ?? r.currentStage,
        iteration: stage ? `${stage.iterationsDone}/${stage.iterationsPlanned}` : null,
        policyVersion: s?.policyVersion ?? r.currentCheckpointId,
        pausedBy: s?.pausedBy ?? null,
        abortReason: s?.abortReason ?? null,
        wallSec: (new Date(s?.updatedAt ?? r.updatedAt).getTime() - new Date(r.createdAt).getTime()) / 1000,
        infraFailures: s?.counters.infraFailures ?? r.infraFailures,
        stall: stalls.get(r.id) ?? null,
        temporalUrl: workflowUrl(r.workflowId),
      };
    });
  });

  app.get<{ Params: { id: string } }>('/api/runs/:id', async (req) => {
    const run = await getRunRow(db, req.params.id);
    if (!run) throw new HttpError(404, ErrorCodes.RUN_NOT_FOUND, `no run "${req.params.id}"`);
    const [live, stall, stageRows] = await Promise.all([liveStatus(run.id), detectStall(client, db, run.id, { stallAfterSec: opts.stallAfterSec }), runStages(db, run.id)]);
    return { run: { ...run, config: undefined }, ...live, stall: stall ?? null, stages: stageRows, temporalUrl: workflowUrl(run.workflowId) };
  });

  app.get<{ Params: { id: string } }>('/api/runs/:id/curves', async (req) => runCurves(db, req.params.id));

  app.get('/api/episodes', async (req) => {
    const q = EpisodeQuery.safeParse(req.query);
    if (!q.success) throw new HttpError(400, ErrorCodes.DASHBOARD_BAD_REQUEST, `bad filter: ${q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return listEpisodes(db, q.data);
  });

  app.get<{ Params: { id: string } }>('/api/episodes/:id', async (req) => episodeDetail(db, req.params.id));

  /** Same-origin JSON from a holder of the token (when one is set); refuses everything when read-only. */
  function guardMutation(req: FastifyRequest): void {
    if (readOnly) throw new HttpError(403, ErrorCodes.DASHBOARD_FORBIDDEN, `the dashboard listens on ${host} without a token: read-only (start it with --token to allow actions)`);
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) throw new HttpError(415, ErrorCodes.DASHBOARD_BAD_REQUEST, 'actions take a JSON body');
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}`) throw new HttpError(403, ErrorCodes.DASHBOARD_FORBIDDEN, `action from another origin (${origin}) refused`);
    if (token && !tokenMatches(token, req.headers['x-swerl-token'])) throw new HttpError(401, ErrorCodes.DASHBOARD_FORBIDDEN, 'this action needs the dashboard token (x-swerl-token)');
  }

  app.post<{ Params: { id: string } }>('/api/runs/:id/promote', async (req: FastifyRequest<{ Params: { id: string } }>) => {
    guardMutation(req);
    const body = parseBody(PromoteBody, req.body);
    return promoteRun(client, req.params.id, { who: body.who || (opts.operator ?? operatorName()), reason: body.reason, force: body.force, checkpointId: body.checkpointId || undefined });
  });

  const services = opts.services ?? {};
  const actor = (who: string | undefined) => who || (opts.operator ?? operatorName());

  /** `swerl eval CHECKPOINT` with the run's own config (its eval stage, policy and task suite). */
  app.post<{ Params: { id: string } }>('/api/runs/:id/eval', async (req: FastifyRequest<{ Params: { id: string } }>) => {
    guardMutation(req);
    const body = parseBody(EvalBody, req.body);
    const run = await getRunRow(db, req.params.id);
    if (!run) throw new HttpError(404, ErrorCodes.RUN_NOT_FOUND, `no run "${req.params.id}"`);
    const config = parseRunConfig(run.config, `the stored config of run ${run.id}`);
    const launched = await launchEval(client, db, {
      checkpointId: body.checkpointId,
      config,
      runs: body.runs,
      split: body.split,
      who: actor(body.who),
      reason: body.reason,
      taskQueue: services.taskQueue,
      services: { policyUrl: services.policyUrl, rolloutQueue: services.rolloutQueue, trainerQueue: services.trainerQueue },
    });
    return { evalRunId: launched.evalRunId, workflowId: launched.workflowId, attachedTo: launched.attachedTo, temporalUrl: workflowUrl(launched.workflowId) };
  });

  app.post<{ Params: { id: string } }>('/api/episodes/:id/rescore', async (req: FastifyRequest<{ Params: { id: string } }>) => {
    guardMutation(req);
    const body = parseBody(RescoreBody, req.body);
    const started = await requestRescore(client, db, { episodeId: req.params.id, who: actor(body.who), reason: body.reason || 'rescore requested' }, services);
    return { operationId: started.operationId, workflowId: started.workflowId, temporalUrl: workflowUrl(started.workflowId) };
  });

  app.post<{ Params: { id: string } }>('/api/episodes/:id/fork', async (req: FastifyRequest<{ Params: { id: string } }>) => {
    guardMutation(req);
    const body = parseBody(ForkBody, req.body);
    const started = await requestFork(client, db, { episodeId: req.params.id, atTurn: body.atTurn, policyVersion: body.policyVersion, who: actor(body.who), reason: body.reason || 'fork requested' }, services);
    return { operationId: started.operationId, workflowId: started.workflowId, episodeId: started.episodeId, temporalUrl: workflowUrl(started.workflowId) };
  });

  for (const verb of ['pause', 'resume', 'abort'] as const satisfies readonly OperatorVerb[]) {
    app.post<{ Params: { id: string } }>(`/api/runs/:id/${verb}`, async (req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
      guardMutation(req);
      const body = parseBody(ActionBody, req.body);
      const who = body.who || (opts.operator ?? operatorName());
      await signalRun(client, req.params.id, verb, body.reason || `${verb} requested`, who);
      return reply.send({ sent: verb, runId: req.params.id, who });
    });
  }

  const address = await app.listen({ host, port: opts.port ?? 8765 });
  return {
    url: address,
    app,
    close: () => app.close(),
  };
}

export type { StallReport };
