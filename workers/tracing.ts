/**
 * OpenTelemetry traces of workflows and activities, through Temporal's own interceptors
 * (@temporalio/interceptors-opentelemetry), exported over OTLP/HTTP when an endpoint is configured.
 *
 * Off unless `SWERL_OTLP_ENDPOINT` (or the standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
 * `OTEL_EXPORTER_OTLP_ENDPOINT`) is set or `enableTracing` is called before workers are created.
 * A workflow's spans (RunWorkflow, StartActivity, StartChildWorkflowExecution) leave the sandboxed
 * workflow through a sink and are never exported on replay; an activity's span (RunActivity:<type>)
 * is the child of the workflow span that scheduled it, so one episode is one trace with a span per
 * turn phase.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { makeWorkflowExporter, OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor } from '@temporalio/interceptors-opentelemetry';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';

export interface Tracing {
  endpoint: string;
  processor: SpanProcessor;
  resource: Resource;
  /** Exports every span ended so far. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

let active: Tracing | undefined;

/** Where spans go, from the environment; undefined when tracing is off. */
export function otlpEndpointFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.SWERL_OTLP_ENDPOINT) return env.SWERL_OTLP_ENDPOINT;
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT) return `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
  return undefined;
}

/**
 * Registers the process-wide tracer provider exporting to `endpoint` (an OTLP/HTTP traces URL,
 * e.g. http://127.0.0.1:4318/v1/traces). Workers created afterwards are traced. Idempotent for
 * one endpoint; a second endpoint in one process is a programming error.
 */
export function enableTracing(endpoint: string, serviceName = 'swerl'): Tracing {
  if (active) {
    if (active.endpoint !== endpoint) throw new Error(`tracing already exports to ${active.endpoint}, not ${endpoint}`);
    return active;
  }
  const resource = new Resource({ 'service.name': serviceName });
  const processor = new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint }));
  // The Node provider also installs the AsyncLocalStorage context manager, without which the
  // activity interceptor's context.with(parent) is a no-op and every activity span is a root.
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  provider.register();
  const tracing: Tracing = {
    endpoint,
    processor,
    resource,
    flush: () => provider.forceFlush(),
    shutdown: async () => {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
      if (active === tracing) active = undefined;
    },
  };
  active = tracing;
  return tracing;
}

/** Tracing as configured by the environment, enabling it on first use. */
export function tracingFromEnv(env: NodeJS.ProcessEnv = process.env): Tracing | undefined {
  const endpoint = otlpEndpointFromEnv(env);
  return endpoint ? enableTracing(endpoint) : active;
}

export function activeTracing(): Tracing | undefined {
  return active;
}

/** The workflow-side interceptor module, bundled into the workflow code when tracing is on. */
export const WORKFLOW_TRACING_MODULE = require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

/** Activity interceptors that open a RunActivity span under the scheduling workflow's span. */
export function activityTracingInterceptors(): ActivityInterceptorsFactory[] {
  if (!active) return [];
  return [(ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) })];
}

/** The sink through which the workflow interceptors hand their spans out of the sandbox. */
export function workflowTracingSinks(): InjectedSinks<Record<string, never>> | undefined {
  if (!active) return undefined;
  return { exporter: makeWorkflowExporter(active.processor, active.resource) } as unknown as InjectedSinks<Record<string, never>>;
}
