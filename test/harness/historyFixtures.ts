/**
 * Recording workflow histories for test/integration/replay.test.ts: with SWERL_RECORD_HISTORIES=1
 * a test writes the history of a workflow it ran under a fixture name, unless a fixture of that
 * name exists already (old fixtures are kept: they are what today's code must still replay).
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';

export const HISTORY_FIXTURES = path.join(__dirname, '..', 'fixtures', 'histories');

export async function recordHistoryFixture(name: string, handle: WorkflowHandle): Promise<void> {
  if (!process.env.SWERL_RECORD_HISTORIES) return;
  const file = path.join(HISTORY_FIXTURES, `${name}.json`);
  if (existsSync(file)) return;
  writeFileSync(file, historyToJSON(await handle.fetchHistory()));
}

/** The first child of `parent` of workflow type `type`, as a handle (e.g. the evalStage of a checkpointEval). */
export async function childHandle(client: Client, parent: WorkflowHandle, type: string): Promise<WorkflowHandle | undefined> {
  const history = await parent.fetchHistory();
  for (const e of history.events ?? []) {
    const a = e.startChildWorkflowExecutionInitiatedEventAttributes;
    if (a?.workflowType?.name === type && a.workflowId) return client.workflow.getHandle(a.workflowId);
  }
  return undefined;
}
