import { describe, expect, it } from 'vitest';
import { temporal } from '@temporalio/proto';
import { formatHistory, summarizeHistory } from '../../cli/history';

const E = temporal.api.enums.v1.EventType;
const names = E as unknown as Record<number, string>;
const at = (s: number) => ({ seconds: s, nanos: 5_000_000 });

describe('history summary', () => {
  const events = [
    { eventId: 1, eventTime: at(1_700_000_000), eventType: E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
      workflowExecutionStartedEventAttributes: { workflowType: { name: 'trainingRun' }, taskQueue: { name: 'q' } } },
    { eventId: 2, eventTime: at(1_700_000_001), eventType: E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED },
    { eventId: 5, eventTime: at(1_700_000_002), eventType: E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
      activityTaskScheduledEventAttributes: { activityType: { name: 'recordIteration' }, taskQueue: { name: 'q' } } },
    { eventId: 7, eventTime: at(1_700_000_003), eventType: E.EVENT_TYPE_ACTIVITY_TASK_FAILED,
      activityTaskFailedEventAttributes: { failure: { message: 'db down', applicationFailureInfo: { type: 'SWERL_DB_UNAVAILABLE' } } } },
    { eventId: 9, eventTime: at(1_700_000_004), eventType: E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
      workflowExecutionSignaledEventAttributes: { signalName: 'pause', identity: 'alice@host' } },
  ] as unknown as temporal.api.history.v1.IHistoryEvent[];

  it('names events, drops workflow-task noise and keeps what an operator acts on', () => {
    expect(summarizeHistory(events, names)).toEqual([
      { id: 1, time: '2023-11-14T22:13:20.005Z', type: 'WorkflowExecutionStarted', detail: 'trainingRun on q' },
      { id: 5, time: '2023-11-14T22:13:22.005Z', type: 'ActivityTaskScheduled', detail: 'recordIteration on q' },
      { id: 7, time: '2023-11-14T22:13:23.005Z', type: 'ActivityTaskFailed', detail: 'SWERL_DB_UNAVAILABLE: db down' },
      { id: 9, time: '2023-11-14T22:13:24.005Z', type: 'WorkflowExecutionSignaled', detail: 'pause from alice@host' },
    ]);
    expect(summarizeHistory(events, names, { verbose: true })).toHaveLength(5);
  });

  it('formats one aligned line per event', () => {
    const text = formatHistory(summarizeHistory(events.slice(0, 1), names));
    expect(text).toBe('    1  2023-11-14T22:13:20.005Z  WorkflowExecutionStarted           trainingRun on q');
  });
});
