/**
 * A rollout worker stopped by its supervisor (SIGTERM: a deploy, a scale-down) while the agent's
 * command runs for minutes must leave within its shutdown bound, not drain until the command ends:
 * the in-flight turn is abandoned to Temporal (heartbeat timeout → retried on the next worker, the
 * sandbox rebuilt by replay), so the episode still ends with every turn sampled once and every
 * side-effect command run once in the submitted sandbox.
 */
import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScriptBook } from '../../activities/policy/scripts';
import { assistantIdx, observationIdx } from '../../core/transcript';
import { episodes, turns } from '../../db/schema';
import { SLOW_TURN, expectEachTurnOnce, slowGold } from '../harness/countedEpisode';
import { waitUntil } from '../harness/poll';
import { rolloutHarness, type RolloutHarness } from '../harness/rollout';
import { testEndpoints } from '../harness/stack';
import { workerProcess, type WorkerProcess } from '../harness/workerProcess';

const SLOW_SEC = 75;
const FORCE_SEC = 10;
let h: RolloutHarness;
let worker: WorkerProcess;

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  h = await rolloutHarness('sigterm', (tasks) =>
    createScriptBook(tasks.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: slowGold(t.goldPatch, SLOW_SEC) }))),
    { behaviour: { samplePerCall: { seed: 21 } } },
  );
  h.config.sandbox.commandTimeoutSec = SLOW_SEC + 60;
  await h.stopRollout();
  await h.startWorker();
  const endpoints = testEndpoints();
  worker = workerProcess('rollout-sigterm', {
    role: 'rollout',
    hostId: h.hostId,
    env: {
      SWERL_ROLLOUT_QUEUE: h.sharedQueue,
      SWERL_DATABASE_URL: (h.db.pool.options as { connectionString: string }).connectionString,
      SWERL_TEMPORAL_ADDRESS: endpoints.temporalAddress,
      SWERL_HOME: endpoints.stateDir,
      SWERL_WORKER_SHUTDOWN_FORCE_SEC: String(FORCE_SEC),
    },
  });
  await worker.start();
}, 300_000);

afterAll(async () => {
  await worker?.kill('SIGKILL');
  await h?.close();
});

describe('rollout worker SIGTERM', () => {
  it('leaves within its shutdown bound while a long command runs; the episode completes with nothing twice', async () => {
    const input = h.episodeInput(h.tasks[0]!.instanceId, { sampleIdx: 1 });
    const handle = await h.startEpisode(input);
    const rows = () => h.db.db.select().from(turns).where(eq(turns.episodeId, input.episodeId)).orderBy(asc(turns.idx));
    await waitUntil('the slow command to run', async () => {
      const r = await rows();
      return r.some((t) => t.idx === assistantIdx(SLOW_TURN)) && !r.some((t) => t.idx === observationIdx(SLOW_TURN));
    }, 180_000, 100);
    await new Promise((r) => setTimeout(r, 2_000));
    const pgid = worker.pid!;
    const t0 = Date.now();
    void worker.kill('SIGTERM');
    await waitUntil('the SIGTERMed worker to exit', () => !groupAlive(pgid), 120_000, 200);
    const exitSec = (Date.now() - t0) / 1000;
    console.log(`[rolloutSigterm] worker gone ${exitSec.toFixed(1)} s after SIGTERM (bound ${FORCE_SEC} s; the command had ${SLOW_SEC} s to run)`);
    // Waiting for the command would take minutes; the bound plus the process's own teardown does not.
    expect(exitSec).toBeLessThan(FORCE_SEC + 40);

    await worker.start();
    const result = await handle.result();
    expect(result.reward).toBe(1);
    const after = await rows();
    const [ep] = await h.db.db.select().from(episodes).where(eq(episodes.id, input.episodeId));
    expectEachTurnOnce(h.policy.stats().calls, { episodeId: input.episodeId, assistant: after.filter((t) => t.role === 'assistant').map((t) => t.text), patch: ep?.patch ?? '' });
  }, 900_000);
});
