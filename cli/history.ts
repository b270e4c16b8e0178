/**
 * `swerl history RUN`: the Temporal event history of a run, one line per event, with the detail a
 * human needs (which activity, which signal, why it failed) instead of the raw protobuf.
 */
import type { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface HistoryLine {
  id: number;
  time: string;
  type: string;
  detail: string;
}

const EVENT_PREFIX = 'EVENT_TYPE_';

function eventTypeName(type: unknown, names: Record<number, string>): string {
  const raw = typeof type === 'number' ? names[type] ?? String(type) : String(type ?? 'UNKNOWN');
  return raw
    .replace(EVENT_PREFIX, '')
    .toLowerCase()
    .replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())
    .replace(/^([a-z])/, (c) => c.toUpperCase());
}

function timeOf(event: HistoryEvent): string {
  const t = event.eventTime;
  if (!t?.seconds) return '';
  const ms = Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
  return new Date(ms).toISOString();
}

function failureText(failure: temporal.api.failure.v1.IFailure | null | undefined): string {
  if (!failure) return '';
  const type = failure.applicationFailureInfo?.type;
  return `${type ? `${type}: ` : ''}${failure.message ?? ''}`.slice(0, 200);
}

function detailOf(e: HistoryEvent): string {
  if (e.workflowExecutionStartedEventAttributes) {
    const a = e.workflowExecutionStartedEventAttributes;
    return `${a.workflowType?.name ?? ''} on ${a.taskQueue?.name ?? ''}${a.continuedExecutionRunId ? ' (continued as new)' : ''}`;
  }
  if (e.activityTaskScheduledEventAttributes) {
    const a = e.activityTaskScheduledEventAttributes;
    return `${a.activityType?.name ?? ''} on ${a.taskQueue?.name ?? ''}`;
  }
  if (e.activityTaskStartedEventAttributes) return `attempt ${e.activityTaskStartedEventAttributes.attempt ?? 1}`;
  if (e.activityTaskFailedEventAttributes) return failureText(e.activityTaskFailedEventAttributes.failure);
  if (e.activityTaskTimedOutEventAttributes) return failureText(e.activityTaskTimedOutEventAttributes.failure);
  if (e.workflowExecutionSignaledEventAttributes) {
    const a = e.workflowExecutionSignaledEventAttributes;
    return `${a.signalName ?? ''}${a.identity ? ` from ${a.identity}` : ''}`;
  }
  if (e.workflowExecutionUpdateAcceptedEventAttributes) {
    return e.workflowExecutionUpdateAcceptedEventAttributes.acceptedRequest?.input?.name ?? '';
  }
  if (e.timerStartedEventAttributes) return `timer ${e.timerStartedEventAttributes.timerId ?? ''}`;
  if (e.startChildWorkflowExecutionInitiatedEventAttributes) {
    const a = e.startChildWorkflowExecutionInitiatedEventAttributes;
    return `${a.workflowType?.name ?? ''} ${a.workflowId ?? ''}`;
  }
  if (e.workflowExecutionFailedEventAttributes) return failureText(e.workflowExecutionFailedEventAttributes.failure);
  if (e.workflowTaskFailedEventAttributes) return failureText(e.workflowTaskFailedEventAttributes.failure);
  if (e.workflowExecutionContinuedAsNewEventAttributes) {
    return `new run ${e.workflowExecutionContinuedAsNewEventAttributes.newExecutionRunId ?? ''}`;
  }
  return '';
}

/**
 * Summarises a history. Workflow-task bookkeeping events (scheduled/started/completed) are
 * dropped unless `verbose`, since they carry nothing an operator acts on.
 */
export function summarizeHistory(
  events: readonly HistoryEvent[],
  eventTypeNames: Record<number, string>,
  opts: { verbose?: boolean } = {},
): HistoryLine[] {
  return events
    .map((e) => ({ id: Number(e.eventId ?? 0), time: timeOf(e), type: eventTypeName(e.eventType, eventTypeNames), detail: detailOf(e) }))
    .filter((line) => opts.verbose || !/^WorkflowTask(Scheduled|Started|Completed)$/.test(line.type));
}

export function formatHistory(lines: readonly HistoryLine[]): string {
  return lines.map((l) => `${String(l.id).padStart(5)}  ${l.time}  ${l.type.padEnd(34)} ${l.detail}`).join('\n');
}
