/**
 * A sandbox that keeps dying (issue 15): every container of the episode is `docker kill`ed as soon
 * as it runs. The episode must end after sandbox.maxRebuilds rebuilds with exit `sandbox_lost`,
 * unscored (status failed, code SWERL_SANDBOX_LOST), leaving no container, and the next episode on
 * the same worker must be unaffected. The agent itself can no longer do this (PID 1 is root:
 * test/integration/sandboxToolServer.test.ts), so the killer stands in for a lost host or the OOM
 * killer.
 */
import Docker from 'dockerode';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScriptBook, goldActions, renderReply, scriptFromActions, type Script } from '../../activities/policy/scripts';
import { ErrorCodes } from '../../core/errors';
import { episodes } from '../../db/schema';
import { recordHistoryFixture } from '../harness/historyFixtures';
import { rolloutHarness, type RolloutHarness } from '../harness/rollout';

const docker = new Docker();
let h: RolloutHarness;

/** Two quick shell turns before the gold patch, so there is something to replay. */
function warmupThenGold(patch: string): Script {
  const gold = scriptFromActions('gold', goldActions(patch));
  return {
    name: 'warmup-then-gold',
    length: (gold.length ?? 0) + 2,
    reply: (turn) => (turn < 2 ? renderReply('Look around first.', `echo warmup ${turn}`) : gold.reply(turn - 2)),
  };
}

beforeAll(async () => {
  h = await rolloutHarness('sandboxlost', (tasks) =>
    createScriptBook(tasks.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: warmupThenGold(t.goldPatch) }))),
  );
  // Pooled containers carry no episode label: without a pool, every sandbox of the episode is
  // created for it and the killer can find it by label.
  h.config.sandbox.prewarm = 0;
  await h.startWorker();
  await h.startRollout();
}, 300_000);

afterAll(async () => {
  await h?.close();
});

async function containersOf(episodeId: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`swerl.episode=${episodeId}`] } });
}

describe('a sandbox that keeps dying', () => {
  it('ends the episode as sandbox_lost after maxRebuilds rebuilds, and the next episode is unaffected', async () => {
    const task = h.tasks[0]!;
    const input = h.episodeInput(task.instanceId, { sampleIdx: 0 });
    input.sandbox.maxRebuilds = 2;
    const handle = await h.startEpisode(input);
    const killed = new Set<string>();
    let stop = false;
    const killer = (async () => {
      while (!stop) {
        const running = await containersOf(input.episodeId).catch(() => [] as Docker.ContainerInfo[]);
        for (const c of running) {
          if (c.State !== 'running' || killed.has(c.Id)) continue;
          killed.add(c.Id);
          await docker.getContainer(c.Id).kill().catch(() => undefined);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    let result;
    try {
      result = await handle.result();
    } finally {
      stop = true;
      await killer;
    }
    expect(result).toMatchObject({ exitReason: 'sandbox_lost', reward: 0, rewardReason: ErrorCodes.SANDBOX_LOST });
    // SWERL_RECORD_HISTORIES=1: the bounded-rebuild path (loseEpisode) for test/integration/replay.test.ts.
    await recordHistoryFixture('episode-sandbox-lost', handle);
    // The first sandbox and two rebuilds: three containers, each killed once.
    expect(killed.size).toBe(3);
    expect(result.infraFailures).toBeGreaterThanOrEqual(3);
    const [row] = await h.db.db.select().from(episodes).where(eq(episodes.id, input.episodeId));
    expect(row).toMatchObject({ status: 'failed', exitReason: 'sandbox_lost', lastErrorCode: ErrorCodes.SANDBOX_LOST, reward: null });
    const deadline = Date.now() + 60_000;
    while ((await containersOf(input.episodeId)).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect(await containersOf(input.episodeId)).toEqual([]);

    // The next episode on the same worker: undisturbed, solved.
    const next = h.episodeInput(task.instanceId, { sampleIdx: 1 });
    const ok = await (await h.startEpisode(next)).result();
    expect(ok).toMatchObject({ exitReason: 'submitted', reward: 1, infraFailures: 0 });
  });
});
