/**
 * dockerd restarted mid-episode (issue 15's fault matrix): the rollout host's Docker daemon is
 * SIGKILLed while the episode's slow command runs and started again, as a supervisor would. The
 * daemon is a private one (PrivateDockerd: its own data root and socket, its own network
 * namespace so the shared daemon's docker0 is untouched); containers do not survive the kill.
 * The episode must still submit with reward 1, no turn may be sampled twice, each side-effect
 * command must have run exactly once in the submitted sandbox, and no container may be left.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrivateDockerd } from '../../cli/chaos/privateDocker';
import { createScriptBook } from '../../activities/policy/scripts';
import { Labels } from '../../activities/sandbox';
import { assistantIdx, observationIdx } from '../../core/transcript';
import { episodes, turns } from '../../db/schema';
import { ensureBaseImage, ensureTaskImage } from '../../sandbox/images';
import { EFFECTS, SLOW_TURN, expectEachTurnOnce, slowGold } from '../harness/countedEpisode';
import { waitUntil } from '../harness/poll';
import { rolloutHarness, type RolloutHarness } from '../harness/rollout';

/** Long enough that the kill lands while it runs even on a loaded machine; the wait for it is by rows, not by time. */
const SLOW_SEC = 20;

let h: RolloutHarness;
let dockerd: PrivateDockerd;
let dir: string;
let privateDocker: Docker;

function docker0Index(): number | undefined {
  try {
    return Number(readFileSync('/sys/class/net/docker0/ifindex', 'utf8').trim());
  } catch {
    return undefined;
  }
}


beforeAll(async () => {
  h = await rolloutHarness('dockerdrestart', (tasks) =>
    createScriptBook(tasks.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: slowGold(t.goldPatch, SLOW_SEC) }))),
    { behaviour: { samplePerCall: { seed: 15 } } },
  );
  // Pooled containers would be created before the kill too; without them the count is the episode's.
  h.config.sandbox.prewarm = 0;
  // Images are built (or found) on the shared daemon and copied into the private one.
  const shared = new Docker();
  const task = h.tasks[0]!;
  const tags = [
    await ensureBaseImage({ docker: shared }),
    await ensureTaskImage({ instanceId: task.instanceId, repoDir: task.repoDir, baseCommit: task.baseCommit, setupScript: task.setup ?? undefined }, { docker: shared }),
  ];
  dir = mkdtempSync(path.join(os.tmpdir(), 'swerl-dockerd-restart-'));
  dockerd = new PrivateDockerd(dir);
  await dockerd.start();
  await dockerd.loadImagesFrom(process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock', tags);
  // No client timeout: exec streams of slow commands and the reward's test run stay open for long.
  privateDocker = new Docker({ socketPath: dockerd.socket });
  await h.startWorker();
  await h.startRollout({ docker: privateDocker });
}, 600_000);

afterAll(async () => {
  await h?.close();
  await dockerd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function rowsOf(episodeId: string) {
  return h.db.db.select().from(turns).where(eq(turns.episodeId, episodeId)).orderBy(asc(turns.idx));
}

/** Every container of the run on the private daemon: sandboxes and reward harnesses. */
async function containersOfRun(): Promise<number> {
  return (await privateDocker.listContainers({ all: true, filters: { label: [`${Labels.run}=${h.runId}`] } })).length;
}

describe('dockerd restart mid-episode', () => {
  it('submits with reward 1, samples no turn twice, runs each command once and leaves no container', async () => {
    const bridge = docker0Index();
    const task = h.tasks[0]!;
    const input = h.episodeInput(task.instanceId, { sampleIdx: 0 });
    const handle = await h.startEpisode(input);

    // The slow command is running: its assistant row is there, its observation is not.
    await waitUntil('the slow command to start', async () => {
      const rows = await rowsOf(input.episodeId);
      return rows.some((r) => r.idx === assistantIdx(SLOW_TURN)) && !rows.some((r) => r.idx === observationIdx(SLOW_TURN));
    }, 180_000);
    const killed = await dockerd.kill();
    expect(killed).toBeGreaterThan(0);
    // The kill landed before the command could finish: no observation for it yet.
    expect((await rowsOf(input.episodeId)).some((r) => r.idx === observationIdx(SLOW_TURN))).toBe(false);
    await dockerd.start();

    const result = await handle.result();
    expect(result).toMatchObject({ exitReason: 'submitted', reward: 1 });
    expect(result.infraFailures, 'the lost sandbox is counted as an infra failure').toBeGreaterThanOrEqual(1);

    const rows = await rowsOf(input.episodeId);
    const [ep] = await h.db.db.select().from(episodes).where(eq(episodes.id, input.episodeId));
    expect(ep?.patch ?? '').toContain(EFFECTS);
    expectEachTurnOnce(h.policy.stats().calls, {
      episodeId: input.episodeId,
      assistant: rows.filter((r) => r.role === 'assistant').map((r) => r.text),
      patch: ep?.patch ?? '',
    });
    expect(rows).toHaveLength(2 + 2 * result.turns);

    await waitUntil('no container of the run left on the private daemon', async () => (await containersOfRun()) === 0, 60_000);
    expect(docker0Index(), "the shared daemon's docker0 is untouched").toBe(bridge);
  });
});
