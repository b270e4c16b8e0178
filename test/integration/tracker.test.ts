/**
 * `swerl track`: a run's rows in Postgres written to TensorBoard event files by tensorboardX and
 * read back with TensorBoard's own EventAccumulator; a second export adds nothing, a new iteration
 * adds only itself.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportRunToTensorBoard, exportRunToTracker, trackerPython } from '../../cli/track';
import { createDb, type DbHandle } from '../../db/client';
import { episodes, evals, iterations, runs, stages, tasks, turns } from '../../db/schema';
import { createTestDatabase, type TestDatabase } from '../harness/db';

let testDb: TestDatabase;
let handle: DbHandle;
let python: string;
let logDir: string;
const RUN = 'track-run';

interface ReadBack {
  scalars: Record<string, Array<[number, number]>>;
  texts: Record<string, Array<[number, string]>>;
}

function readBack(dir = logDir): ReadBack {
  const out = execFileSync(python, [path.join(__dirname, '..', '..', 'trackers', 'tensorboard_reader.py'), dir], { encoding: 'utf8' });
  return JSON.parse(out) as ReadBack;
}

beforeAll(async () => {
  python = trackerPython();
  testDb = await createTestDatabase('tracker');
  handle = createDb(testDb.url);
  logDir = mkdtempSync(path.join(os.tmpdir(), 'swerl-track-'));
  const db = handle.db;
  await db.insert(runs).values({ id: RUN, workflowId: 'wf-track', name: 'toy', config: {}, status: 'running' });
  await db.insert(stages).values([
    { runId: RUN, name: 'rft', idx: 0, kind: 'rft', status: 'completed' },
    { runId: RUN, name: 'rl-stage1', idx: 1, kind: 'rl', status: 'running' },
  ]);
  await db.insert(iterations).values([
    { runId: RUN, stage: 'rft', idx: 0, status: 'completed', policyVersion: 'base', metrics: { rewardMean: 0.25, meanTurns: 6, submitRate: null } },
    { runId: RUN, stage: 'rl-stage1', idx: 0, status: 'completed', policyVersion: 'p1', metrics: { rewardMean: 0.5, meanTurns: 5 } },
    { runId: RUN, stage: 'rl-stage1', idx: 1, status: 'rolling_out', policyVersion: 'p2' },
  ]);
  await db.insert(evals).values({ id: 'ev-1', runId: RUN, stage: 'rft', checkpointId: 'ck-1', split: 'test', k: 10, taskCount: 20, pass1Mean: 0.2, pass1Sem: 0.05, passK: 0.45, perTask: {} });
  await db.insert(tasks).values({ id: 'toy__t1', suite: 'toy', repo: 'toy/t1', baseCommit: 'abc1234', problemStatement: 'fix it', goldPatch: 'x', testPatch: '', failToPass: ['t'], passToPass: [], contentHash: 'h' });
  const episode = (id: string, reward: number) => ({
    id, runId: RUN, stage: 'rl-stage1', iteration: 0, taskId: 'toy__t1', sampleIdx: reward, policyVersion: 'p1', decoding: {}, maxTurns: 5, contextTokens: 4096,
    status: 'completed' as const, reward, exitReason: reward ? ('submitted' as const) : ('max_turns' as const),
  });
  await db.insert(episodes).values([episode('ep-solved', 1), episode('ep-failed', 0)]);
  await db.insert(turns).values([
    { episodeId: 'ep-solved', idx: 0, role: 'assistant', text: 'open app.py' },
    { episodeId: 'ep-failed', idx: 0, role: 'assistant', text: 'edit 3:3' },
  ]);
});
afterAll(async () => {
  await handle?.close();
  await testDb?.drop();
  if (logDir) rmSync(logDir, { recursive: true, force: true });
});

describe('swerl track --tensorboard', () => {
  it('writes completed iterations, evals and sampled trajectories that TensorBoard reads back', async () => {
    const r = await exportRunToTensorBoard(handle.db, RUN, { logDir, python, samplesPerIteration: 2 });
    // 2 completed iterations + 1 eval; 3 + 2 numeric metrics + 3 eval scalars; 1 trajectory text (rl-stage1/0 has episodes)
    expect(r).toEqual({ items: 3, scalars: 7, texts: 1, runStatus: 'running' });
    const back = readBack();
    expect(back.scalars['rft/rewardMean']).toEqual([[0, 0.25]]);
    expect(back.scalars['rft/meanTurns']).toEqual([[0, 6]]);
    expect(back.scalars['rft/submitRate']).toBeUndefined();
    expect(back.scalars['rl-stage1/rewardMean']).toEqual([[0, 0.5]]);
    expect(back.scalars['eval/test/pass1_mean']?.[0]?.[1]).toBeCloseTo(0.2, 6);
    expect(back.scalars['eval/test/pass_at_10']?.[0]?.[1]).toBeCloseTo(0.45, 6);
    const text = back.texts['trajectories/rl-stage1'];
    expect(text).toHaveLength(1);
    expect(text![0]![1]).toContain('**ep-solved**');
    expect(text![0]![1]).toContain('**ep-failed**');
    expect(text![0]![1].indexOf('ep-solved')).toBeLessThan(text![0]![1].indexOf('ep-failed'));
  });

  it('a second export writes nothing; a newly completed iteration is written alone', async () => {
    expect(await exportRunToTensorBoard(handle.db, RUN, { logDir, python })).toEqual({ items: 0, scalars: 0, texts: 0, runStatus: 'running' });
    expect(readBack().scalars['rft/rewardMean']).toHaveLength(1);
    await handle.db.update(iterations).set({ status: 'completed', metrics: { rewardMean: 0.75 } }).where(
      // only rl-stage1 iteration 1 is still rolling out
      eq(iterations.policyVersion, 'p2'),
    );
    expect(await exportRunToTensorBoard(handle.db, RUN, { logDir, python })).toEqual({ items: 1, scalars: 1, texts: 0, runStatus: 'running' });
    // One event file per export that wrote something, even within one second (none overwrites another).
    expect(readdirSync(logDir).filter((f) => f.startsWith('events.out.tfevents.'))).toHaveLength(2);
    const back = readBack();
    expect(back.scalars['rl-stage1/rewardMean']).toEqual([[0, 0.5], [1, 0.75]]);
    expect(back.scalars['rft/rewardMean']).toHaveLength(1);
  });

  it("writes where the run config's tracking says; a run that chooses none needs the flag", async () => {
    // The run's config is {}: no tracker chosen.
    await expect(exportRunToTracker(handle.db, RUN, { python })).rejects.toMatchObject({ code: 'SWERL_CONFIG_INVALID' });
    await expect(exportRunToTracker(handle.db, 'no-such-run', { python })).rejects.toMatchObject({ code: 'SWERL_RUN_NOT_FOUND' });
    const configured = mkdtempSync(path.join(os.tmpdir(), 'swerl-track-config-'));
    try {
      await handle.db.update(runs).set({ config: { tracking: { tracker: 'tensorboard', dir: configured, samplesPerIteration: 0 } } }).where(eq(runs.id, RUN));
      const r = await exportRunToTracker(handle.db, RUN, { python });
      // Everything is new in that directory: 3 completed iterations and the eval; no samples (samplesPerIteration 0).
      expect(r).toMatchObject({ logDir: configured, items: 4, texts: 0 });
      expect(readBack(configured).scalars['rl-stage1/rewardMean']).toEqual([[0, 0.5], [1, 0.75]]);
      // The flag still wins over the config.
      expect((await exportRunToTracker(handle.db, RUN, { python, flagDir: logDir })).logDir).toBe(logDir);
    } finally {
      rmSync(configured, { recursive: true, force: true });
    }
  });
});
