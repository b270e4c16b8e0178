/**
 * Scoring under two bounds (issue 15, core/rewardAttempts.ts) on the real stack: real Temporal,
 * Postgres and Docker, the episode workflow and its rollout worker.
 *
 * - The reward container `docker kill`ed mid-pytest, three times: infra, retried; the fourth
 *   attempt scores the gold patch 1. The old bound (3 activity attempts of any kind) failed the
 *   episode with SWERL_REWARD_UNAVAILABLE, and a kill's cut test session looked like tests_crashed.
 * - Killed on every attempt: after timeouts.rewardInfraSec the episode ends unscored with
 *   SWERL_REWARD_INFRA_EXHAUSTED (exit infra_failure); the workflow completes, the next episode is
 *   unaffected.
 * - An operator's rescore whose grader container is killed three times: graded 1 on the fourth run
 *   (the old rescore gave up after 3 attempts of any kind).
 * - A harness that crashes while Docker answers (an image without pytest): counted on the row, the
 *   third ends the episode unscored with SWERL_REWARD_UNAVAILABLE (exit infra_failure), not the
 *   workflow failed.
 */
import Docker from 'dockerode';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScriptBook, goldActions, scriptFromActions, type ScriptedAction } from '../../activities/policy/scripts';
import { requestRescore } from '../../cli/episodeOperations';
import { REWARD_MAX_ATTEMPTS } from '../../core/episodeLimits';
import { ErrorCodes } from '../../core/errors';
import { getEpisodeOperation } from '../../db/episodeOperations';
import { getRewardResult } from '../../db/rewards';
import { episodes, tasks } from '../../db/schema';
import { ensureTaskImage } from '../../sandbox/images';
import { recordHistoryFixture } from '../harness/historyFixtures';
import { rolloutHarness, type RolloutHarness } from '../harness/rollout';

const docker = new Docker();
let h: RolloutHarness;

/** The task whose tests are slowed down (its module sleeps on import), so a kill lands mid-pytest. */
const SLOW_TASK = 'toy__stats-1';
const SLOW_FILE = 'stats/central.py';
/** The task whose image loses pytest: the harness crashes while Docker answers. */
const CRASH_TASK = 'toy__strutils-1';
const NO_PYTEST_TAG = 'swerl-test-rewardkill-nopytest';

function slowGold(patch: string): ScriptedAction[] {
  const gold = goldActions(patch);
  const sleep: ScriptedAction = { thought: 'Slow.', action: { kind: 'shell', command: `sed -i '1i import time; time.sleep(4)' ${SLOW_FILE}` } };
  return [...gold.slice(0, -1), sleep, gold[gold.length - 1]!];
}

beforeAll(async () => {
  h = await rolloutHarness('rewardkill', (ts) =>
    createScriptBook(ts.map((t) => ({
      instanceId: t.instanceId,
      problemStatement: t.problemStatement,
      script: scriptFromActions('gold', t.instanceId === SLOW_TASK ? slowGold(t.goldPatch) : goldActions(t.goldPatch)),
    }))),
  );
  h.config.sandbox.prewarm = 0;
  await h.startWorker();
  await h.startRollout();
}, 300_000);

afterAll(async () => {
  await h?.close();
  await docker.getImage(`${NO_PYTEST_TAG}:latest`).remove({ force: true }).catch(() => undefined);
});

const rewardLabel = (episodeId: string): string => `swerl.episode=${episodeId}.reward`;

/**
 * Kills the episode's reward container once pytest runs in it, at most `times` times (Infinity:
 * every one). Returns a stop function that resolves to the number killed.
 */
function rewardKiller(episodeId: string, times: number, label = rewardLabel(episodeId)): () => Promise<number> {
  const killed = new Set<string>();
  let stop = false;
  const loop = (async () => {
    while (!stop && killed.size < times) {
      const running = await docker.listContainers({ filters: { label: [label] } }).catch(() => [] as Docker.ContainerInfo[]);
      for (const c of running) {
        if (killed.has(c.Id) || killed.size >= times) continue;
        const top = await docker.getContainer(c.Id).top().catch(() => undefined);
        if (!top || !JSON.stringify(top.Processes).includes('pytest')) continue;
        killed.add(c.Id);
        await docker.getContainer(c.Id).kill().catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return async () => {
    stop = true;
    await loop;
    return killed.size;
  };
}

async function row(episodeId: string) {
  const [r] = await h.db.db.select().from(episodes).where(eq(episodes.id, episodeId));
  return r!;
}

async function noContainersLeft(episodeId: string): Promise<Docker.ContainerInfo[]> {
  const deadline = Date.now() + 60_000;
  const left = () => docker.listContainers({ all: true, filters: { label: [rewardLabel(episodeId)] } });
  while ((await left()).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  return left();
}

describe('the reward container killed mid-scoring is infra, bounded in time', () => {
  it('killed three times: retried, then scored 1 (the old bound failed the episode)', async () => {
    const input = h.episodeInput(SLOW_TASK, { sampleIdx: 0 });
    const handle = await h.startEpisode(input);
    const stopKiller = rewardKiller(input.episodeId, REWARD_MAX_ATTEMPTS);
    let result;
    try {
      result = await handle.result();
    } finally {
      expect(await stopKiller()).toBe(REWARD_MAX_ATTEMPTS);
    }
    expect(result).toMatchObject({ exitReason: 'submitted', reward: 1, rewardReason: 'resolved' });
    // SWERL_RECORD_HISTORIES=1: the bounded scoring path with infra retries, for replay.test.ts.
    await recordHistoryFixture('episode-reward-infra', handle);
    const r = await row(input.episodeId);
    expect(r).toMatchObject({ status: 'completed', reward: 1, rewardHarnessCrashes: 0 });
    // One infra failure per killed attempt, each recorded once.
    expect(r.infraFailures).toBe(REWARD_MAX_ATTEMPTS);
    expect((await getRewardResult(h.db.db, input.episodeId))?.resolved).toBe(true);
    expect(await noContainersLeft(input.episodeId)).toEqual([]);
  }, 300_000);

  it('killed on every attempt: SWERL_REWARD_INFRA_EXHAUSTED after rewardInfraSec, exit infra_failure; the next episode is unaffected', async () => {
    const input = h.episodeInput(SLOW_TASK, { sampleIdx: 1 });
    input.timeouts.rewardInfraSec = 12;
    const started = Date.now();
    const handle = await h.startEpisode(input);
    const stopKiller = rewardKiller(input.episodeId, Infinity);
    let result;
    let kills: number;
    try {
      result = await handle.result();
    } finally {
      kills = await stopKiller();
    }
    expect(result).toMatchObject({ exitReason: 'infra_failure', reward: 0, rewardFinal: 0, rewardReason: ErrorCodes.REWARD_INFRA_EXHAUSTED });
    expect(kills).toBeGreaterThanOrEqual(2);
    // The bound is the window from the first infra failure (12 s) plus one attempt: generous here.
    expect(Date.now() - started).toBeLessThan(240_000);
    const r = await row(input.episodeId);
    expect(r).toMatchObject({ status: 'failed', exitReason: 'infra_failure', lastErrorCode: ErrorCodes.REWARD_INFRA_EXHAUSTED, reward: null, rewardHarnessCrashes: 0 });
    expect(r.infraFailures).toBe(kills);
    expect(await getRewardResult(h.db.db, input.episodeId)).toBeUndefined();
    expect(await noContainersLeft(input.episodeId)).toEqual([]);

    const next = h.episodeInput(SLOW_TASK, { sampleIdx: 2 });
    const ok = await (await h.startEpisode(next)).result();
    expect(ok).toMatchObject({ exitReason: 'submitted', reward: 1, infraFailures: 0 });
  }, 400_000);
});

describe('an operator\'s rescore under the same bounds', () => {
  it('its grader container killed three times: retried as infra, then graded 1 (the old rescore gave up after 3 attempts)', async () => {
    const source = h.episodeInput(SLOW_TASK, { sampleIdx: 3 });
    expect(await (await h.startEpisode(source)).result()).toMatchObject({ exitReason: 'submitted', reward: 1 });
    const operationId = `rewardkill-${source.sampleIdx}-${Date.now()}`;
    const stopKiller = rewardKiller(source.episodeId, REWARD_MAX_ATTEMPTS, `swerl.episode=${operationId}.rescore`);
    const started = await requestRescore(h.client, h.db.db, { episodeId: source.episodeId, who: 'tester', reason: 'reward kill', operationId }, { taskQueue: h.taskQueue, rolloutQueue: h.sharedQueue });
    let outcome;
    try {
      outcome = await started.handle.result();
    } finally {
      expect(await stopKiller()).toBe(REWARD_MAX_ATTEMPTS);
    }
    // Every grader run counted: the three killed and the one that graded.
    expect(outcome).toMatchObject({ kind: 'rescore', status: 'completed', reward: 1, graderRuns: REWARD_MAX_ATTEMPTS + 1 });
    await recordHistoryFixture('rescoreEpisode-bounded', started.handle);
    expect((await getEpisodeOperation(h.db.db, operationId)).graderRuns).toBe(REWARD_MAX_ATTEMPTS + 1);
    expect(await docker.listContainers({ all: true, filters: { label: [`swerl.episode=${operationId}.rescore`] } })).toEqual([]);
  }, 300_000);
});

describe('a harness that crashes while Docker answers', () => {
  it(`ends the episode unscored at the ${REWARD_MAX_ATTEMPTS}rd crash (SWERL_REWARD_UNAVAILABLE, exit infra_failure), counted on the row`, async () => {
    const task = h.tasks.find((t) => t.instanceId === CRASH_TASK)!;
    const image = await ensureTaskImage({ instanceId: task.instanceId, repoDir: task.repoDir, baseCommit: task.baseCommit }, { docker });
    const c = await docker.createContainer({ Image: image, User: '0', Cmd: ['bash', '-c', 'rm -rf /usr/lib/python3/dist-packages/pytest /usr/lib/python3/dist-packages/_pytest'] });
    try {
      await c.start();
      await c.wait();
      await c.commit({ repo: NO_PYTEST_TAG, tag: 'latest' });
    } finally {
      await c.remove({ force: true }).catch(() => undefined);
    }
    await h.db.db.update(tasks).set({ image: `${NO_PYTEST_TAG}:latest` }).where(eq(tasks.id, CRASH_TASK));

    const input = h.episodeInput(CRASH_TASK, { sampleIdx: 0 });
    const handle = await h.startEpisode(input);
    const result = await handle.result();
    expect(result).toMatchObject({ exitReason: 'infra_failure', reward: 0, rewardReason: ErrorCodes.REWARD_UNAVAILABLE });
    await recordHistoryFixture('episode-reward-unavailable', handle);
    const r = await row(input.episodeId);
    expect(r).toMatchObject({ status: 'failed', exitReason: 'infra_failure', lastErrorCode: ErrorCodes.REWARD_UNAVAILABLE, rewardHarnessCrashes: REWARD_MAX_ATTEMPTS, infraFailures: 0, reward: null });
    expect(await getRewardResult(h.db.db, input.episodeId)).toBeUndefined();
    expect(await noContainersLeft(input.episodeId)).toEqual([]);
  }, 300_000);
});
