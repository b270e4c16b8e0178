/**
 * The operator console in real Chromium (Debian's, driven by playwright-core) against a live toy
 * run: the run appears, its curves gain points as iterations finish, a trajectory opens with its
 * diff and provenance, a premature promote shows the validator's reason, a forced promote with a
 * reason moves the run to its next stage. Then the policy server is stopped under a second run,
 * which the console flags as stalled, naming the activity it waits on. Screenshots go to
 * test-artifacts/dashboard/. Every wait is on a DOM state or a recorded fact, never a fixed sleep.
 *
 * Not in the default suite: with its stack and two worlds the file took 181 s at load average 25
 * (8 min at load 40 before episode turn segments); on 2026-11-30 at load average 40-65 one run
 * timed out (the live-run test past its 600 s, file 858 s) and the next passed in 602 s (10:49
 * wall) — far from the 1.5 min a CI file may take, and not robust under load. `npm run
 * test:console` runs it (on the same stack as the integration tests).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectStall, formatStall, runStalls } from '../../dashboard/stall';
import type { RunCurves } from '../../dashboard/queries';
import { startDashboard, type Dashboard } from '../../dashboard/server';
import { episodes, promotions } from '../../db/schema';
import { eq } from 'drizzle-orm';
import { hostQueueOf } from '../../workers/rollout';
import { launchBrowser, type TestBrowser } from '../harness/browser';
import { testEndpoints } from '../harness/stack';
import { loopConfig, loopWorld, waitFor, type LoopWorld } from '../integration/trainingLoopSetup';

// Four turns: the gold script submits on its third, the garbage one runs out; fewer turns, a shorter test.
const rl = { maxTurns: 4, contextTokens: 4096, groupSize: 2, batchSize: 8, lr: 3e-4, lengthPenalty: { enabled: false, freeTurns: 3 } };
/** Two stage-1 iterations (two curve points), a gate eval the toy policy cannot pass (Pass@1 0.5 < 0.9), one stage-2 iteration. */
const STAGES = [
  { kind: 'rl', name: 'rl-stage1', ...rl, iterations: 2, problemsPerIteration: 3 },
  { kind: 'rl', name: 'rl-stage2', ...rl, iterations: 1, problemsPerIteration: 2 },
  { kind: 'eval', name: 'eval', maxTurns: 4, contextTokens: 4096, runs: 2 },
];

/** The activity that asks the policy for a turn: a segment of turns on the sandbox host's queue (workflows/episode.ts). */
const POLICY_ACTIVITY = 'runTurns';

let w: LoopWorld;
let dash: Dashboard;
let b: TestBrowser;
const started: string[] = [];

beforeAll(async () => {
  w = await loopWorld('dash');
  await w.startWorker();
  await w.startRollout();
  dash = await startDashboard({ db: w.db.db, client: w.client, port: 0, namespace: testEndpoints().temporalNamespace, temporalUiUrl: 'http://127.0.0.1:8233', operator: 'tester', queryTimeoutMs: 20_000 });
  b = await launchBrowser('dashboard');
});

let firstWorldClosed: Promise<void> | undefined;
/** Once: the first world's runs terminated (children go with their parent), its dashboard and workers stopped. */
const closeFirstWorld = () =>
  (firstWorldClosed ??= (async () => {
    await dash?.close();
    for (const runId of started) await w.client.workflow.getHandle(`swerl-run-${runId}`).terminate('test over').catch(() => {});
    await w?.close();
  })());

afterAll(async () => {
  await b?.close();
  await closeFirstWorld();
});

const chartPoints = async (name: string) => Number(await b.page.getAttribute(`[data-chart="${name}"]`, 'data-points'));

describe('swerl dashboard in Chromium', () => {
  it('shows a live run, its curves, a trajectory, and promotes it past the validator', async () => {
    const { page } = b;
    const { runId } = await w.startRun(loopConfig({ minPass1: 0.9, stages: STAGES }));
    started.push(runId);

    await page.goto(`${dash.url}/#/`);
    await page.locator(`[data-run="${runId}"]`).waitFor();
    await b.screenshot('01-runs');

    await page.click(`[data-run="${runId}"] a[href^="#/run/"]`);
    await page.locator('[data-testid="run-head"] h2').waitFor();
    expect(await page.getAttribute('[data-testid="run-head"] a[href*="/workflows/"]', 'href')).toContain(encodeURIComponent(`swerl-run-${runId}`));

    // Premature: the run is mid-stage, the run's validator says so and the page shows its reason.
    await page.fill('input[name="reason"]', 'looks good already');
    await page.click('button[data-action="promote"]');
    await page.locator('[data-testid="action-result"][data-outcome="rejected"]').waitFor();
    expect(await page.getAttribute('[data-testid="action-result"]', 'data-reason')).toBe('not-at-boundary');
    expect(await page.textContent('[data-testid="action-result"]')).toContain('SWERL_PROMOTE_REJECTED');
    await b.screenshot('02-premature-promote');

    // Curves gain points as iterations finish (the page polls; nothing reloads it).
    await waitFor(async () => (await chartPoints('reward')) >= 1, 240_000, 'a first curve point');
    const first = await chartPoints('reward');
    await waitFor(async () => (await chartPoints('reward')) > first, 240_000, 'another curve point');
    expect(await chartPoints('reward')).toBeGreaterThan(first);

    // At the boundary: the gate figures, and the validator's refusal of an unforced promote.
    await page.locator('[data-testid="phase"]', { hasText: 'at-boundary' }).first().waitFor({ timeout: 240_000 });
    await page.locator('[data-testid="gate"]', { hasText: 'NOT met' }).waitFor();
    expect(await page.textContent('[data-testid="gate"]')).toMatch(/Pass@1 \d+\.\d% ± \d+\.\d% \(k=2/);
    expect(await chartPoints('advantage')).toBe(2);
    await page.click('button[data-action="promote"]');
    await page.locator('[data-testid="action-result"][data-reason="gate-unmet"]').waitFor();
    await b.screenshot('03-gate-unmet');

    await page.check('input[name="force"]');
    await page.fill('input[name="reason"]', 'toy gate is strict; stage 1 looks healthy');
    await page.click('button[data-action="promote"]');
    await page.locator('[data-testid="action-result"][data-outcome="ok"]').waitFor();
    await page.locator('[data-testid="run-stage"][data-stage="rl-stage2"]').waitFor();
    const [promotion] = await w.db.db.select().from(promotions).where(eq(promotions.runId, runId));
    expect(promotion).toMatchObject({ fromStage: 'rl-stage1', toStage: 'rl-stage2', actor: 'tester', reason: 'toy gate is strict; stage 1 looks healthy', forced: true });
    await b.screenshot('04-promoted');

    // What the curves were drawn from. Stage 1 per iteration: EASY 2/2, MIXED 1/2, HARD 0/2
    // (solved 0.5, two of three groups without advantage, the trainer double's clip 0.05).
    const curves = (await (await fetch(`${dash.url}/api/runs/${encodeURIComponent(runId)}/curves`)).json()) as RunCurves;
    const stage1 = curves.points.filter((p) => p.stage === 'rl-stage1');
    expect(stage1.map((p) => [p.x, p.iteration, p.status, p.episodesFinished])).toEqual([
      [0, 0, 'completed', 6],
      [1, 1, 'completed', 6],
    ]);
    for (const p of stage1) {
      expect(p).toMatchObject({ rewardMean: 0.5, solvedFraction: 0.5, infraFailures: expect.any(Number) });
      expect(p.zeroAdvantageFraction).toBeCloseTo(2 / 3, 10);
      expect(p.clipFraction).toBeCloseTo(0.05, 10);
      expect(p.turnsPerEpisode).toBeGreaterThanOrEqual(3);
    }
    expect(curves.evals.map((e) => [e.stage, e.pass1, e.sem, e.k, e.x])).toEqual([['rl-stage1-gate', 0.5, 0, 2, 1]]);
    expect(curves.promotions).toMatchObject([{ fromStage: 'rl-stage1', toStage: 'rl-stage2', actor: 'tester', forced: true, x: 1 }]);

    // A solved episode's trajectory: turns, the diff, the tests' statuses.
    await page.fill('form.filters input[name="minReward"]', '1');
    await page.click('form.filters button[type="submit"]');
    const solved = page.locator('[data-testid="episodes"] tr[data-episode]').first();
    await solved.waitFor();
    await solved.locator('a').click();
    await page.locator('[data-testid="trajectory"]').waitFor();
    await page.locator('[data-testid="diff"] .add').first().waitFor();
    await page.locator('[data-testid="provenance"] .outcome-passed').first().waitFor();
    expect(await page.locator('[data-turn]').count()).toBeGreaterThan(1);
    await b.screenshot('05-trajectory');

    // Two episodes of one task side by side.
    const [episodeA] = await page.locator('[data-testid="trajectory"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-episode')));
    const [{ taskId: task }] = (await w.db.db.select({ taskId: episodes.taskId }).from(episodes).where(eq(episodes.id, episodeA!))) as [{ taskId: string }];
    await page.goto(`${dash.url}/#/episodes`);
    await page.fill('form.filters input[name="run"]', runId);
    await page.fill('form.filters input[name="task"]', task);
    await page.click('form.filters button[type="submit"]');
    const boxes = page.locator('[data-testid="episodes"] tr[data-episode] input[type="checkbox"]');
    await boxes.nth(1).waitFor();
    await boxes.nth(0).check();
    await boxes.nth(1).check();
    await page.click('[data-testid="compare"]');
    await page.locator('[data-testid="compare-view"] [data-testid="trajectory"]').nth(1).waitFor();
    await b.screenshot('06-side-by-side');
    expect(b.pageErrors).toEqual([]);
  });

  it('flags a run whose policy server is gone as stalled, naming the activity and queue', async () => {
    // A world of its own: the first run's terminated episodes still hold their sandbox leases
    // until the reaper expires them, and this run must reach its policy turns at once.
    await closeFirstWorld();
    const s = await loopWorld('stall');
    await s.startWorker();
    await s.startRollout();
    const stallDash = await startDashboard({ db: s.db.db, client: s.client, port: 0, namespace: testEndpoints().temporalNamespace, operator: 'tester', queryTimeoutMs: 20_000 });
    let runId: string | undefined;
    try {
      const { page } = b;
      const base = loopConfig({ minPass1: 0.9, stages: STAGES });
      const config = { ...base, timeouts: { ...base.timeouts, stallAfterSec: 5 } };
      await s.stopPolicy();
      runId = (await s.startRun(config)).runId;

      await page.goto(`${stallDash.url}/#/run/${encodeURIComponent(runId)}`);
      await page.locator(`[data-testid="stall-activity"][data-activity="${POLICY_ACTIVITY}"]`).waitFor({ timeout: 240_000 });
      await b.screenshot('07-stalled');

      const report = await detectStall(s.client, s.db.db, runId);
      expect(report).toMatchObject({ runId, status: 'running', stalled: true, stallAfterSec: 5 });
      expect(report!.idleSec).toBeGreaterThanOrEqual(5);
      const policy = report!.waitingOn.find((a) => a.activityType === POLICY_ACTIVITY);
      // The host's own queue (the rollout worker's), where the episode's sandbox lives.
      expect(policy!.taskQueue?.startsWith(hostQueueOf('stall-'))).toBe(true);
      expect(policy!.maxAttempt).toBeGreaterThanOrEqual(2);
      expect(policy!.lastFailure).toMatch(/ECONNREFUSED|POLICY_UNAVAILABLE/);
      expect(formatStall(report!).join('\n')).toContain(`waiting on ${POLICY_ACTIVITY} (queue ${policy!.taskQueue})`);
      // The same run is healthy under a threshold it has not reached; runStalls lists it for metrics.
      expect((await detectStall(s.client, s.db.db, runId, { stallAfterSec: 3600 }))!.stalled).toBe(false);
      expect((await runStalls(s.client, s.db.db)).find((r) => r.runId === runId)?.stalled).toBe(true);
      await page.goto(`${stallDash.url}/#/`);
      await page.locator(`[data-run="${runId}"] [data-testid="run-stall"]`, { hasText: `STALLED ${POLICY_ACTIVITY}` }).waitFor();
    } finally {
      if (runId) await s.client.workflow.getHandle(`swerl-run-${runId}`).terminate('test over').catch(() => {});
      await stallDash.close();
      await s.close();
    }
  });
});
