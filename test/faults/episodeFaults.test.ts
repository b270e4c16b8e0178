/**
 * Durability of one episode: the rollout worker is SIGKILLed during a policy call, during a tool
 * execution and during the reward; the Temporal server is SIGKILLed and restarted; Postgres is
 * stopped and started. Each disturbed episode must end with the same turns and reward as an
 * undisturbed run, no duplicated turn rows, no leaked container, and its infra failures counted.
 */
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, asc, eq } from 'drizzle-orm';
import { createScriptBook, goldActions, renderReply, scriptFromActions, type Script } from '../../activities/policy/scripts';
import { episodes, turns } from '../../db/schema';
import type { EpisodeResult } from '../../workflows/episode';
import { rolloutHarness, type RolloutHarness } from '../harness/rollout';
import { killComponent, startComponent, testEndpoints } from '../harness/stack';
import { workerProcess, type WorkerProcess } from '../harness/workerProcess';

let h: RolloutHarness;
let worker: WorkerProcess;
const POLICY_DELAY_MS = 700;

/** Gold patch preceded by a slow shell command, so that a tool execution can be interrupted. */
function slowGold(patch: string): Script {
  const gold = scriptFromActions('gold', goldActions(patch));
  return {
    name: 'slow-then-gold',
    length: (gold.length ?? 0) + 1,
    reply: (turn) => (turn === 0 ? renderReply('Let me wait for the build first.', 'sleep 4 && echo built') : gold.reply(turn - 1)),
  };
}

beforeAll(async () => {
  h = await rolloutHarness('faults', (tasks) =>
    createScriptBook(tasks.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: slowGold(t.goldPatch) }))),
    // Every policy call takes this long, which leaves a window to kill the worker mid-call.
    { behaviour: { delayMs: POLICY_DELAY_MS } },
  );
  await h.stopRollout();
  await h.startWorker();
  const endpoints = testEndpoints();
  worker = workerProcess('rollout', {
    role: 'rollout',
    hostId: h.hostId,
    env: {
      SWERL_ROLLOUT_QUEUE: h.sharedQueue,
      SWERL_DATABASE_URL: (h.db.pool.options as { connectionString: string }).connectionString,
      SWERL_TEMPORAL_ADDRESS: endpoints.temporalAddress,
      SWERL_HOME: endpoints.stateDir,
    },
  });
  await worker.start();
}, 300_000);

afterAll(async () => {
  await worker?.kill('SIGTERM');
  await h?.close();
});

async function rowsOf(episodeId: string) {
  return h.db.db.select().from(turns).where(eq(turns.episodeId, episodeId)).orderBy(asc(turns.idx));
}

async function waitUntil(what: string, pred: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The episode's sandboxes and its reward harness containers. */
async function containersOf(episodeId: string): Promise<number> {
  const docker = new Docker();
  const lists = await Promise.all(
    [episodeId, `${episodeId}.reward`].map((label) => docker.listContainers({ all: true, filters: { label: [`swerl.episode=${label}`] } })),
  );
  return lists.flat().length;
}

let reference: { result: EpisodeResult; assistant: string[] };
const taskId = () => h.tasks[0]!.instanceId;

async function runEpisode(sampleIdx: number, disturb: (episodeId: string) => Promise<void>): Promise<{ result: EpisodeResult; assistant: string[]; rows: number }> {
  const input = h.episodeInput(taskId(), { sampleIdx });
  const handle = await h.startEpisode(input);
  await disturb(input.episodeId);
  const result = await handle.result();
  const rows = await rowsOf(input.episodeId);
  await waitUntil('containers of the episode to be gone', async () => (await containersOf(input.episodeId)) === 0, 30_000);
  return { result, assistant: rows.filter((r) => r.role === 'assistant').map((r) => r.text), rows: rows.length };
}

function expectSameAsReference(run: { result: EpisodeResult; assistant: string[]; rows: number }) {
  expect(run.result.reward).toBe(reference.result.reward);
  expect(run.result.turns).toBe(reference.result.turns);
  expect(run.result.exitReason).toBe('submitted');
  expect(run.assistant).toEqual(reference.assistant);
  expect(run.rows).toBe(2 + 2 * run.result.turns);
}

describe('episode durability', () => {
  it('undisturbed reference run', async () => {
    const run = await runEpisode(0, async () => undefined);
    expect(run.result).toMatchObject({ reward: 1, exitReason: 'submitted', infraFailures: 0 });
    reference = { result: run.result, assistant: run.assistant };
  });

  it('rollout worker SIGKILLed during a tool execution', async () => {
    const run = await runEpisode(1, async (id) => {
      // Turn 0 is `sleep 4`: kill once its assistant row exists and its observation does not.
      await waitUntil('the slow tool call to start', async () => {
        const rows = await rowsOf(id);
        return rows.some((r) => r.idx === 2) && !rows.some((r) => r.idx === 3);
      });
      await new Promise((r) => setTimeout(r, 1_000));
      await worker.kill('SIGKILL');
      await worker.start();
    });
    expectSameAsReference(run);
    expect(run.result.infraFailures).toBeGreaterThanOrEqual(1);
  });

  it('rollout worker SIGKILLed during a policy call', async () => {
    const run = await runEpisode(2, async (id) => {
      await waitUntil('a policy call in flight', async () => {
        const rows = await rowsOf(id);
        return rows.some((r) => r.idx === 5) && !rows.some((r) => r.idx === 6);
      });
      await new Promise((r) => setTimeout(r, POLICY_DELAY_MS / 3));
      await worker.kill('SIGKILL');
      await worker.start();
    });
    expectSameAsReference(run);
    expect(run.result.infraFailures).toBeGreaterThanOrEqual(1);
  });

  it('rollout worker SIGKILLed during the reward', async () => {
    const run = await runEpisode(3, async (id) => {
      await waitUntil('scoring to start', async () => {
        const [ep] = await h.db.db.select().from(episodes).where(and(eq(episodes.id, id)));
        return ep?.patch != null && ep.status === 'running';
      });
      await new Promise((r) => setTimeout(r, 500));
      await worker.kill('SIGKILL');
      await worker.start();
    });
    expectSameAsReference(run);
    expect(run.result.infraFailures).toBeGreaterThanOrEqual(1);
  });

  it('Temporal server SIGKILLed and restarted mid-episode', async () => {
    const run = await runEpisode(4, async (id) => {
      await waitUntil('a few turns', async () => (await rowsOf(id)).length >= 6);
      await killComponent('temporal', 'SIGKILL');
      await startComponent('temporal');
    });
    expectSameAsReference(run);
  });

  it('Postgres stopped and restarted mid-episode', async () => {
    const run = await runEpisode(5, async (id) => {
      await waitUntil('a few turns', async () => (await rowsOf(id)).length >= 6);
      await killComponent('postgres', 'SIGKILL');
      await new Promise((r) => setTimeout(r, 3_000));
      await startComponent('postgres');
    });
    expectSameAsReference(run);
    // Activities that ran during the outage failed with SWERL_DB_UNAVAILABLE and were retried.
    expect(run.result.infraFailures).toBeGreaterThanOrEqual(1);
  });
});
