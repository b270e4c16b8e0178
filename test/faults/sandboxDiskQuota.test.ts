/**
 * The per-sandbox disk quota (issue 15, activities/sandbox/writable.ts): an agent that writes 20G
 * wherever it can hits ENOSPC inside its sandbox, nothing lands in the container's layer, and the
 * host's free space does not move; an episode whose agent fills /repo, ~ and /tmp still ends
 * scored, with no infra failure, and the next episode is unaffected.
 */
import { statfsSync } from 'node:fs';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScriptBook, goldActions, renderReply, scriptFromActions, type Script } from '../../activities/policy/scripts';
import { createSandbox, type Sandbox, type SandboxLimits } from '../../activities/sandbox';
import { listTurns } from '../../db/turns';
import { ensureBaseImage } from '../../sandbox/images';
import { rolloutHarness, type RolloutHarness } from '../harness/rollout';

const docker = new Docker();
const MiB = 1024 * 1024;
const RUN = `sandbox-disk-quota-${process.pid}`;
const limits: SandboxLimits = { cpus: 0.5, memoryMiB: 512, pidsLimit: 64, outputLimitBytes: 65536, commandTimeoutSec: 120, user: '1000:1000', diskMiB: 256 };
const created: Sandbox[] = [];

/** Free bytes on the filesystem that holds Docker's container layers. */
async function hostFreeBytes(): Promise<number> {
  const root = ((await docker.info()) as { DockerRootDir?: string }).DockerRootDir ?? '/';
  const s = statfsSync(root);
  return s.bavail * s.bsize;
}

async function sizeRw(sb: Sandbox): Promise<number> {
  const info = (await docker.getContainer(sb.containerId).inspect({ size: true } as never)) as unknown as { SizeRw?: number };
  return info.SizeRw ?? 0;
}

/** `$HOME` is the agent's home (/home/agent), expanded inside the sandbox. */
const WRITABLE = ['/repo', '$HOME', '/tmp', '/var/tmp', '/dev/shm'];

/** The agent's first turns: fill /repo, ~ and /tmp, see ENOSPC, free /repo and ~ (the patch must fit), then the gold patch. */
function fillThenGold(patch: string): Script {
  const gold = scriptFromActions('gold', goldActions(patch));
  const turns = [
    'for d in /repo ~ /tmp; do head -c 20G /dev/zero > "$d/fill" || echo "full: $d"; done; df -m /repo ~ /tmp',
    'rm -f /repo/fill ~/fill',
  ];
  return {
    name: 'fill-then-gold',
    length: (gold.length ?? 0) + turns.length,
    reply: (turn) => (turn < turns.length ? renderReply('Let me see how much room there is.', turns[turn]!) : gold.reply(turn - turns.length)),
  };
}

let h: RolloutHarness;

beforeAll(async () => {
  h = await rolloutHarness('diskquota', (tasks) =>
    createScriptBook(tasks.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: fillThenGold(t.goldPatch) }))),
  );
  await h.startWorker();
  await h.startRollout();
}, 300_000);

afterAll(async () => {
  await Promise.all(created.map((s) => s.destroy().catch(() => undefined)));
  await h?.close();
});

describe('the per-sandbox disk quota', () => {
  it('turns 20G written into every writable path of two sandboxes into ENOSPC inside, with nothing in the container layer and the host disk unmoved', async () => {
    const image = await ensureBaseImage();
    const before = await hostFreeBytes();
    const sandboxes = await Promise.all([0, 1].map(async (i) => {
      const sb = await createSandbox(docker, { image, limits, labels: { run: RUN, episode: `fill-${i}` }, leaseTtlSec: 600 });
      created.push(sb);
      return sb;
    }));
    for (const sb of sandboxes) {
      for (const dir of WRITABLE) {
        const r = await sb.exec(`head -c 20G /dev/zero > "${dir}/fill"; echo "rc=$?"; stat -c %s "${dir}/fill"`);
        expect(r.output, dir).toContain('No space left on device');
        const [, rc, bytes] = /rc=(\d+)\n(\d+)/.exec(r.output) ?? [];
        expect(Number(rc), dir).not.toBe(0);
        // Full at its cap, far below the 20G asked for.
        expect(Number(bytes), dir).toBeGreaterThan(0);
        expect(Number(bytes), dir).toBeLessThanOrEqual(256 * MiB);
      }
      // Everything else is the read-only image.
      for (const dir of ['/', '/etc', '/usr/local', '/var/lib', '/opt']) {
        const r = await sb.exec(`head -c 1M /dev/zero > "${dir}/fill"`);
        expect(r.output, dir).toMatch(/Read-only file system|Permission denied/);
      }
      expect(await sizeRw(sb)).toBe(0);
      // Still a working sandbox: a full /tmp is the agent's problem, not the tool server's.
      expect((await sb.exec('echo alive')).output).toBe('alive\n');
    }
    const moved = before - (await hostFreeBytes());
    expect(Math.abs(moved)).toBeLessThan(512 * MiB);
  });

  it('scores an episode whose agent fills /repo, ~ and /tmp with no infra failure, and the next episode is unaffected', async () => {
    const task = h.tasks[0]!;
    const input = h.episodeInput(task.instanceId, { sampleIdx: 0 });
    const filled = await (await h.startEpisode(input)).result();
    expect(filled).toMatchObject({ exitReason: 'submitted', reward: 1, infraFailures: 0 });
    const observations = (await listTurns(h.db.db, input.episodeId)).filter((t) => t.role !== 'assistant').map((t) => t.text);
    expect(observations.join('\n')).toContain('No space left on device');

    const next = await (await h.startEpisode(h.episodeInput(task.instanceId, { sampleIdx: 1 }))).result();
    expect(next).toMatchObject({ exitReason: 'submitted', reward: 1, infraFailures: 0 });
  });
});
