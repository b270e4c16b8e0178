/**
 * The orchestration worker: runs every workflow and the light bookkeeping activities that write
 * run state to Postgres. Heavy I/O (sandboxes, the trainer) lives on other task queues.
 */
import path from 'node:path';
import { NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createOperationBookkeeping } from '../activities/episode/operations';
import { createRunActivities } from '../activities/runs';
import { createTrainingActivities } from '../activities/training';
import type { Db } from '../db/client';
import { TaskQueues } from '../core/taskQueues';
import type { Endpoints } from './endpoints';
import { workerInterceptors, workerSinks } from './interceptors';
import { activeTracing, WORKFLOW_TRACING_MODULE } from './tracing';
import { temporalConnectOptions } from './temporalTls';

export const WORKFLOWS_PATH = path.join(__dirname, '..', 'workflows', 'index.ts');

const cachedBundles = new Map<boolean, Promise<WorkflowBundleWithSourceMap>>();

/**
 * Bundling takes seconds; one process bundles once and reuses it for every worker it creates. With
 * tracing on, the bundle also carries Temporal's OpenTelemetry workflow interceptors.
 */
export function workflowBundle(traced = false): Promise<WorkflowBundleWithSourceMap> {
  let bundle = cachedBundles.get(traced);
  if (!bundle) {
    bundle = bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      workflowInterceptorModules: traced ? [WORKFLOW_TRACING_MODULE] : [],
      logger: quietBundlerLogger,
    });
    cachedBundles.set(traced, bundle);
  }
  return bundle;
}

const quietBundlerLogger = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn(message: string, meta?: unknown) {
    console.warn(message, meta ?? '');
  },
  error(message: string, meta?: unknown) {
    console.error(message, meta ?? '');
  },
};

export interface OrchestrationWorkerOptions {
  endpoints: Endpoints;
  db: Db;
  taskQueue?: string;
  connection?: NativeConnection;
  /** See RolloutWorkerOptions.shutdownForceSec. */
  shutdownForceSec?: number;
}

export async function createOrchestrationWorker(opts: OrchestrationWorkerOptions): Promise<{ worker: Worker; connection: NativeConnection }> {
  const connection = opts.connection ?? (await NativeConnection.connect(temporalConnectOptions(opts.endpoints)));
  const worker = await Worker.create({
    connection,
    namespace: opts.endpoints.temporalNamespace,
    taskQueue: opts.taskQueue ?? TaskQueues.orchestration,
    workflowBundle: await workflowBundle(activeTracing() !== undefined),
    activities: { ...createRunActivities(opts.db), ...createTrainingActivities(opts.db, { databaseUrl: opts.endpoints.databaseUrl }), ...createOperationBookkeeping(opts.db) },
    interceptors: workerInterceptors(),
    sinks: workerSinks(),
    ...(opts.shutdownForceSec !== undefined ? { shutdownForceTime: `${opts.shutdownForceSec}s` as const } : {}),
  });
  return { worker, connection };
}
