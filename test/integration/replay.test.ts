/**
 * Determinism guard: recorded histories of earlier workflow code must replay on today's code.
 * A change that breaks one needs `patched()` (see STYLE.md), not a re-recorded fixture.
 * Fixtures: test/fixtures/histories/*.json (refresh with SWERL_RECORD_HISTORIES=1 only for new
 * workflow shapes, and keep the old files).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { installTemporalLogging } from '../../workers/logging';
import { workflowBundle } from '../../workers/orchestration';
import * as workflowTypes from '../../workflows';

installTemporalLogging('warn');

const dir = path.join(__dirname, '..', 'fixtures', 'histories');
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('workflow histories replay on the current code', () => {
  it('has at least one recorded history', () => {
    expect(fixtures.length).toBeGreaterThan(0);
  });
  it('has a recorded history of every workflow type a worker registers', () => {
    const recorded = new Set(fixtures.map((f) => workflowTypeOf(JSON.parse(readFileSync(path.join(dir, f), 'utf8')))));
    expect(Object.keys(workflowTypes).filter((t) => !recorded.has(t))).toEqual([]);
  });
  it.each(fixtures)('%s', async (file) => {
    const history: unknown = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, file)).resolves.toBeUndefined();
  });
});

function workflowTypeOf(history: { events?: Array<{ workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }> }): string | undefined {
  return history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
}
