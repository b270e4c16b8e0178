import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { renderProgress, runProgress, watchProgress } from '../../cli/progress';
import { formatStall, parseStallAfter, type StallReport } from '../../dashboard/stall';
import type { RunStatus } from '../../workflows/definitions';

describe('terminal progress', () => {
  it('draws a bar with counts, elapsed time and an ETA from the rate so far', () => {
    expect(renderProgress({ label: 'rl-stage1 1/4', done: 1, total: 4 }, 60_000, 8)).toBe('rl-stage1 1/4 · [##------] 1/4 25% · elapsed 1m00s · ETA 3m00s');
    expect(renderProgress({ label: 'x', done: 4, total: 4 }, 3_723_000, 4)).toBe('x · [####] 4/4 100% · elapsed 1h02m');
    expect(renderProgress({ label: 'eval', done: 0, total: 10 }, 5_000, 4)).toBe('eval · [----] 0/10 0% · elapsed 5s');
    expect(renderProgress({ label: 'eval', done: 3, total: null }, 5_000)).toBe('eval · 3 done · elapsed 5s');
  });

  it('counts a run in iterations over all its stages', () => {
    const s = {
      phase: 'running',
      stageIndex: 1,
      stages: [
        { name: 'rft', kind: 'rft', state: 'done', iterationsDone: 1, iterationsPlanned: 1 },
        { name: 'rl-stage1', kind: 'rl', state: 'running', iterationsDone: 2, iterationsPlanned: 5 },
      ],
      counters: { episodes: 42, infraFailures: 1, updateSteps: 3 },
    } as unknown as RunStatus;
    expect(runProgress(s)).toEqual({ label: 'running rl-stage1 2/5 · episodes 42 · infra 1', done: 3, total: 6 });
  });

  it('stays quiet when stderr is not a terminal and returns the work result', async () => {
    const out = new PassThrough() as unknown as NodeJS.WriteStream;
    let written = '';
    (out as unknown as PassThrough).on('data', (c: Buffer) => (written += c.toString()));
    let polls = 0;
    const result = await watchProgress(Promise.resolve(7), async () => {
      polls += 1;
      return { label: 'x', done: 0, total: 1 };
    }, { stream: out });
    expect(result).toBe(7);
    expect(polls).toBe(0);
    expect(written).toBe('');
  });

  it('redraws one line on a terminal and clears it when the work ends', async () => {
    const out = new PassThrough() as unknown as NodeJS.WriteStream & { isTTY: boolean; columns: number };
    out.isTTY = true;
    out.columns = 80;
    let written = '';
    (out as unknown as PassThrough).on('data', (c: Buffer) => (written += c.toString()));
    let release!: (v: string) => void;
    const work = new Promise<string>((r) => (release = r));
    let polls = 0;
    const watched = watchProgress(work, async () => {
      polls += 1;
      if (polls === 2) release('done');
      return { label: `poll ${polls}`, done: polls, total: 4 };
    }, { stream: out, intervalMs: 1 });
    expect(await watched).toBe('done');
    expect(written).toContain('poll 1 · [#####---------------] 1/4 25%');
    expect(written.endsWith('\r\x1b[2K')).toBe(true);
  });
});

describe('stall report', () => {
  const base: StallReport = { runId: 'r', workflowId: 'swerl-run-r', status: 'running', stalled: false, stallAfterSec: 300, idleSec: 12, lastProgressAt: '2026-01-01T00:00:00.000Z', waitingOn: [] };

  it('takes --stall-after as a positive whole number of seconds', () => {
    expect(parseStallAfter('300')).toBe(300);
    for (const bad of ['0', '-5', '1.5', 'soon', '']) expect(() => parseStallAfter(bad), bad).toThrow(/SWERL_CONFIG_INVALID/);
  });

  it('prints nothing for a healthy run', () => {
    expect(formatStall(base)).toEqual([]);
  });

  it('names the activity, its queue, how many wait and the attempt', () => {
    const lines = formatStall({
      ...base,
      stalled: true,
      idleSec: 900,
      waitingOn: [{ activityType: 'policyTurn', taskQueue: 'swerl-rollout', count: 3, maxAttempt: 7, maximumAttempts: 0, state: 'SCHEDULED', lastFailure: 'connect ECONNREFUSED', lastWorker: null, workflowIds: [] }],
    });
    expect(lines).toEqual([
      '  STALLED: no progress for 15 min (threshold 5 min; last at 2026-01-01T00:00:00.000Z)',
      '    waiting on policyTurn (queue swerl-rollout) ×3, attempt 7, scheduled: connect ECONNREFUSED',
    ]);
  });
});
