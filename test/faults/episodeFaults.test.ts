/**
 * Durability of one episode: the rollout worker is SIGKILLed during a policy call, during a tool
 * execution and during the reward; the sandbox container is docker-killed; the Temporal server is
 * SIGKILLed and restarted; Postgres is stopped and started; the rollout host is SIGKILLed for good
 * while another host runs (the episode moves to it). Each disturbed episode must end with the same turns and reward as an
 * undisturbed run, no duplicated turn rows, no leaked container, and its infra failures counted.
 */
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, asc, eq } from 'drizzle-orm';
import { NONCE_PATTERN } from '../../activities/policy/scriptedServer';
import { createScriptBook } from '../../activities/policy/scripts';
import { defaultPayloadConverter } from '@temporalio/common';
import { assistantIdx, observationIdx } from '../../core/transcript';
import { episodes, turns } from '../../db/schema';
import { episodeWorkflowId } from '../../workflows/episodeInput';
import type { EpisodeResult } from '../../workflows/episode';
import { EFFECTS, SLOW_TURN, nonceOf, slowGold } from '../harness/countedEpisode';
import { recordHistoryFixture } from '../harness/historyFixtures';
import { waitUntil as poll } from '../harness/poll';
import { rolloutHarness, type RolloutHarness } from '../harness/rollout';
import { Labels } from '../../activities/sandbox';
import { createRolloutWorkers, hostQueueOf } from '../../workers/rollout';
import { killComponent, startComponent, testEndpoints } from '../harness/stack';
import { workerProcess, type WorkerProcess } from '../harness/workerProcess';

let h: RolloutHarness;
let worker: WorkerProcess;
const POLICY_DELAY_MS = 700;

/**
 * From the policy server's own counters: every persisted turn is the answer of the last call made
 * for it (nothing was sampled for a turn once it was persisted), and with `once` each turn was
 * sampled exactly once. From the sandbox's side effects: each shell command ran exactly once in the
 * sandbox whose diff was submitted (a rebuild replayed the earlier one, the pending one ran once).
 */
function expectNothingTwice(run: { episodeId: string; assistant: string[]; patch: string }, opts: { once: boolean; atMostOneTurnLost?: boolean }): void {
  const calls = h.policy.stats().calls;
  const mine = Object.keys(calls).filter((k) => k.startsWith(`${run.episodeId}:`));
  expect(mine.sort()).toEqual(run.assistant.map((_, t) => `${run.episodeId}:${t}`).sort());
  run.assistant.forEach((text, t) => {
    const issued = calls[`${run.episodeId}:${t}`]!;
    expect(issued.at(-1), `turn ${t}: sampled again after it was persisted`).toBe(nonceOf(text));
    if (opts.once) expect(issued, `turn ${t} sampled more than once`).toHaveLength(1);
  });
  if (opts.atMostOneTurnLost) {
    // A killed worker costs at most the turn in flight: one turn asked twice, every other once.
    const counts = run.assistant.map((_, t) => calls[`${run.episodeId}:${t}`]!.length);
    expect(counts.filter((n) => n > 1).length, `turns sampled more than once: ${JSON.stringify(counts)}`).toBeLessThanOrEqual(1);
    expect(Math.max(...counts), `policy calls per turn: ${JSON.stringify(counts)}`).toBeLessThanOrEqual(2);
  }
  const effects = run.patch.split('\n').filter((l) => /^\+\d+:n[0-9a-f]{10}$/.test(l)).map((l) => l.slice(1));
  expect(effects, 'each side-effect command must have run exactly once in the submitted sandbox').toEqual(
    [0, SLOW_TURN].map((t) => `${t}:${nonceOf(run.assistant[t]!)}`),
  );
}

beforeAll(async () => {
  h = await rolloutHarness('faults', (tasks) =>
    createScriptBook(tasks.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: slowGold(t.goldPatch, 4) }))),
    // Every policy call takes this long, which leaves a window to kill the worker mid-call.
    { behaviour: { delayMs: POLICY_DELAY_MS, samplePerCall: { seed: 15 } } },
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

const waitUntil = (what: string, pred: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> => poll(what, pred, timeoutMs, 50);

async function rowsOf(episodeId: string) {
  return h.db.db.select().from(turns).where(eq(turns.episodeId, episodeId)).orderBy(asc(turns.idx));
}

/** The episode's sandboxes and its reward harness containers. */
async function containersOf(episodeId: string): Promise<number> {
  const docker = new Docker();
  const lists = await Promise.all(
    [episodeId, `${episodeId}.reward`].map((label) => docker.listContainers({ all: true, filters: { label: [`swerl.episode=${label}`] } })),
  );
  return lists.flat().length;
}

/** Waits until the slow command runs: its assistant row exists and its observation does not. */
async function slowCommandRunning(episodeId: string): Promise<void> {
  await waitUntil('the slow tool call to start', async () => {
    const rows = await rowsOf(episodeId);
    return rows.some((r) => r.idx === assistantIdx(SLOW_TURN)) && !rows.some((r) => r.idx === observationIdx(SLOW_TURN));
  });
}

/** The container the episode's running segment uses, from its workflow history (runTurns' input). */
async function currentSandboxOf(episodeId: string): Promise<string> {
  const history = await h.client.workflow.getHandle(episodeWorkflowId(episodeId)).fetchHistory();
  const inputs = (history.events ?? [])
    .map((e) => e.activityTaskScheduledEventAttributes)
    .filter((a) => a?.activityType?.name === 'runTurns')
    .map((a) => defaultPayloadConverter.fromPayload<{ containerId: string }>(a!.input!.payloads![0]!));
  const last = inputs.at(-1);
  if (!last) throw new Error(`episode ${episodeId} has no runTurns segment yet`);
  return last.containerId;
}

/** Removes every container a (dead) lease manager created: its sandboxes and its pool. */
async function removeManaged(managerId: string): Promise<void> {
  const docker = new Docker();
  const mine = await docker.listContainers({ all: true, filters: { label: [`${Labels.manager}=${managerId}`] } });
  await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
}

let reference: { result: EpisodeResult; assistant: string[] };
const taskId = () => h.tasks[0]!.instanceId;

interface Run { episodeId: string; result: EpisodeResult; assistant: string[]; rows: number; patch: string }

/** With `fixture` and SWERL_RECORD_HISTORIES=1, the episode's history is kept for test/integration/replay.test.ts. */
async function runEpisode(sampleIdx: number, disturb: (episodeId: string) => Promise<void>, fixture?: string, opts: { hostLossSec?: number } = {}): Promise<Run> {
  const input = h.episodeInput(taskId(), { sampleIdx });
  if (opts.hostLossSec) input.timeouts.hostLossSec = opts.hostLossSec;
  const handle = await h.startEpisode(input);
  await disturb(input.episodeId);
  const result = await handle.result();
  if (fixture) await recordHistoryFixture(fixture, handle);
  const rows = await rowsOf(input.episodeId);
  const [ep] = await h.db.db.select().from(episodes).where(eq(episodes.id, input.episodeId));
  await waitUntil('containers of the episode to be gone', async () => (await containersOf(input.episodeId)) === 0, 30_000);
  return { episodeId: input.episodeId, result, assistant: rows.filter((r) => r.role === 'assistant').map((r) => r.text), rows: rows.length, patch: ep?.patch ?? '' };
}

const sampled = (texts: string[]): string[] => texts.map((t) => t.replace(NONCE_PATTERN, '<nonce>'));

function expectSameAsReference(run: Run) {
  expect(run.result.reward).toBe(reference.result.reward);
  expect(run.result.turns).toBe(reference.result.turns);
  expect(run.result.exitReason).toBe('submitted');
  expect(sampled(run.assistant)).toEqual(sampled(reference.assistant));
  expect(run.rows).toBe(2 + 2 * run.result.turns);
}

describe('episode durability', () => {
  it('undisturbed reference run', async () => {
    const run = await runEpisode(0, async () => undefined);
    expect(run.result).toMatchObject({ reward: 1, exitReason: 'submitted', infraFailures: 0 });
    expect(run.patch).toContain(EFFECTS);
    expectNothingTwice(run, { once: true });
    reference = { result: run.result, assistant: run.assistant };
  });

  it('rollout worker SIGKILLed during a tool execution', async () => {
    const run = await runEpisode(1, async (id) => {
      await slowCommandRunning(id);
      await new Promise((r) => setTimeout(r, 1_000));
      await worker.kill('SIGKILL');
      await worker.start();
    });
    expectSameAsReference(run);
    expectNothingTwice(run, { once: true });
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
    expectNothingTwice(run, { once: false, atMostOneTurnLost: true });
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
    expectNothingTwice(run, { once: true });
    expect(run.result.infraFailures).toBeGreaterThanOrEqual(1);
  });

  it('the sandbox container killed from outside (docker kill) mid-episode', async () => {
    const run = await runEpisode(6, async (id) => {
      // Killed during the slow command, after turn 0's command changed the sandbox: the rebuild
      // must replay turn 0 (the persisted transcript, not the segment's first turn, says so) and
      // run turn 1 once.
      await slowCommandRunning(id);
      await new Promise((r) => setTimeout(r, 1_000));
      await new Docker().getContainer(await currentSandboxOf(id)).kill();
    }, 'episode-rebuilt');
    expectSameAsReference(run);
    expectNothingTwice(run, { once: true });
    // The lost sandbox was noticed and rebuilt from the persisted commands, not scored.
    expect(run.result.infraFailures).toBeGreaterThanOrEqual(1);
  });

  it('Temporal server SIGKILLed and restarted mid-episode', async () => {
    const run = await runEpisode(4, async (id) => {
      await waitUntil('a few turns', async () => (await rowsOf(id)).length >= 6);
      await killComponent('temporal', 'SIGKILL');
      await startComponent('temporal');
    });
    expectSameAsReference(run);
    expectNothingTwice(run, { once: false });
  });

  it('Postgres stopped and restarted mid-episode', async () => {
    const run = await runEpisode(5, async (id) => {
      await waitUntil('a few turns', async () => (await rowsOf(id)).length >= 6);
      await killComponent('postgres', 'SIGKILL');
      await new Promise((r) => setTimeout(r, 3_000));
      await startComponent('postgres');
    });
    expectSameAsReference(run);
    expectNothingTwice(run, { once: false });
    // Activities that ran during the outage failed with SWERL_DB_UNAVAILABLE and were retried.
    expect(run.result.infraFailures).toBeGreaterThanOrEqual(1);
  });

  // Last: the process host is gone for good afterwards.
  it('a rollout host killed and never restarted while another runs: its episode finishes on the other host', async () => {
    const other = await createRolloutWorkers({
      endpoints: testEndpoints(),
      db: h.db.db,
      sandbox: { ...h.config.sandbox, prewarm: 0 },
      hostId: `${h.hostId}-other`,
      sharedQueue: h.sharedQueue,
      reaperIntervalMs: 5_000,
    });
    let otherRun: Promise<void> | undefined;
    let deadManager: string | undefined;
    try {
      const run = await runEpisode(
        7,
        async (id) => {
          // The episode's sandbox is on the process host (the only one polling until now).
          await slowCommandRunning(id);
          otherRun = other.run();
          const victim = new Docker().getContainer(await currentSandboxOf(id));
          const manager = (await victim.inspect()).Config.Labels[Labels.manager];
          if (!manager) throw new Error('the sandbox carries no manager label');
          deadManager = manager;
          await worker.kill('SIGKILL');
          // A dead machine takes its containers with it.
          await removeManaged(manager);
        },
        undefined,
        { hostLossSec: 20 },
      );
      expectSameAsReference(run);
      expectNothingTwice(run, { once: true });
      expect(run.result.infraFailures).toBeGreaterThanOrEqual(1);
      // The turns after the loss ran on the other host, which also built the sandbox the diff came from.
      const history = await h.client.workflow.getHandle(episodeWorkflowId(run.episodeId)).fetchHistory();
      const segments = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes).filter((a) => a?.activityType?.name === 'runTurns');
      expect(segments.length).toBeGreaterThanOrEqual(2);
      expect(segments[0]!.taskQueue?.name).toBe(hostQueueOf(h.hostId));
      expect(segments.at(-1)!.taskQueue?.name).toBe(other.hostQueue);
    } finally {
      other.shutdown();
      await otherRun?.catch(() => {});
      await other.close();
      if (deadManager) await removeManaged(deadManager);
    }
  });
});
