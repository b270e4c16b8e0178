/**
 * The interceptors every swerl worker runs with: Prometheus metrics always, OpenTelemetry tracing
 * when it is on (workers/tracing.ts). Read when a worker is created.
 */
import type { InjectedSinks, WorkerInterceptors } from '@temporalio/worker';
import { metricsInterceptors } from './metrics';
import { activityTracingInterceptors, workflowTracingSinks } from './tracing';

export function workerInterceptors(): WorkerInterceptors {
  return { activity: [...(metricsInterceptors.activity ?? []), ...activityTracingInterceptors()] };
}

export function workerSinks(): InjectedSinks<Record<string, never>> | undefined {
  return workflowTracingSinks();
}
