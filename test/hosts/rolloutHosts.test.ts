/**
 * Three rollout hosts on one machine (issue 18): `swerl worker --role rollout --host-id H` processes,
 * each with its own host queue and its own sandboxes on the shared daemon, on the real Temporal
 * server (`npm run test:hosts` brings it up: scripts/on-temporal-server.sh). One host is SIGKILLed
 * mid-iteration and never restarted ("a dead machine takes its containers with it"): its episodes
 * are rebuilt on the other two. Every episode completes once with reward 1, no turn row is
 * duplicated, no container of the run is left, and the Postgres lease ledger names each lease's run and
 * episode and holds no active lease at the end. Per-host lease and episode counts are printed.
 */
import Docker from 'dockerode';
import { and, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScriptBook, goldActions, renderReply, scriptFromActions, type Script } from '../../activities/policy/scripts';
import { Labels } from '../../activities/sandbox';
import { episodes, sandboxLeases, turns } from '../../db/schema';
import { rolloutHarness, type RolloutHarness } from '../harness/rollout';
import { testEndpoints } from '../harness/stack';
import { workerProcess, type WorkerProcess } from '../harness/workerProcess';

const EPISODES = 9;
const HOST_LOSS_SEC = 20;
const MIN = 60_000;
const docker = new Docker();
const scope = `hosts-test-${process.pid}`;
let h: RolloutHarness;
const hosts: Array<{ id: string; proc: WorkerProcess }> = [];

/** Two shell turns before the gold patch: episodes last long enough to be caught mid-flight, and a rebuild has commands to replay. */
function warmupThenGold(patch: string): Script {
  const gold = scriptFromActions('gold', goldActions(patch));
  return {
    name: 'warmup-then-gold',
    length: (gold.length ?? 0) + 2,
    reply: (turn) => (turn < 2 ? renderReply('Look around first.', `echo warmup ${turn}`) : gold.reply(turn - 2)),
  };
}

/** Polls `probe` until it returns a value, at most `timeoutMs`; the last error or value is in the failure. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const ourContainers = async (filter: string): Promise<Docker.ContainerInfo[]> => docker.listContainers({ all: true, filters: { label: [filter] } });

beforeAll(async () => {
  h = await rolloutHarness(
    'hosts',
    (tasks) => createScriptBook(tasks.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: warmupThenGold(t.goldPatch) }))),
    // Each policy call takes this long: nine episodes are in flight on three hosts for a while.
    { behaviour: { delayMs: 500 } },
  );
  await h.startWorker();
  const endpoints = testEndpoints();
  for (const name of ['a', 'b', 'c']) {
    const id = `${h.hostId}-${name}`;
    const proc = workerProcess(`rollout-host-${name}`, {
      role: 'rollout',
      hostId: id,
      env: {
        SWERL_ROLLOUT_QUEUE: h.sharedQueue,
        SWERL_DATABASE_URL: (h.db.pool.options as { connectionString: string }).connectionString,
        SWERL_TEMPORAL_ADDRESS: endpoints.temporalAddress,
        SWERL_HOME: endpoints.stateDir,
        SWERL_SANDBOX_SCOPE: scope,
      },
    });
    await proc.start();
    hosts.push({ id, proc });
  }
}, 10 * MIN);

afterAll(async () => {
  // The survivors' pools (pre-warmed containers, no run label) go with a graceful shutdown
  // (test/faults/rolloutPoolDrain.test.ts); whatever is left after 90 s is removed here.
  for (const host of hosts) await host.proc.kill('SIGTERM').catch(() => undefined);
  await eventually('the hosts\' pools to drain', async () => ((await ourContainers(`${Labels.scope}=${scope}`)).length === 0 ? true : undefined), 90_000).catch((err: Error) =>
    console.log(`[hosts] ${err.message}; removing them`),
  );
  for (const host of hosts) {
    // The whole process group: npx exits at SIGTERM, the worker under it may still be draining.
    try {
      if (host.proc.pid) process.kill(-host.proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await h?.close();
  for (const c of await ourContainers(`${Labels.scope}=${scope}`).catch(() => [])) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
});

describe('three rollout hosts, one SIGKILLed for good mid-iteration', () => {
  it('completes every episode once on the survivors, leaves no container of the run and no active lease', async () => {
    const inputs = Array.from({ length: EPISODES }, (_, i) => {
      const input = h.episodeInput(h.tasks[i % 3]!.instanceId, { sampleIdx: Math.floor(i / 3) });
      input.timeouts.hostLossSec = HOST_LOSS_SEC;
      return input;
    });
    const handles = await Promise.all(inputs.map((input) => h.startEpisode(input)));
    const results = Promise.all(handles.map((handle) => handle.result()));
    results.catch(() => undefined);

    // The victim: host a, once it holds a sandbox of an episode in flight.
    const victim = hosts[0]!;
    const held = await eventually(
      `host ${victim.id} to hold a sandbox lease`,
      async () => {
        const rows = await h.db.db
          .select()
          .from(sandboxLeases)
          .where(and(eq(sandboxLeases.host, victim.id), eq(sandboxLeases.status, 'active')));
        return rows.find((r) => r.containerId);
      },
      5 * MIN,
    );
    const manager = (await docker.getContainer(held.containerId!).inspect()).Config.Labels[Labels.manager];
    expect(manager, 'the victim sandbox carries its manager label').toBeTruthy();
    await victim.proc.kill('SIGKILL');
    // A dead machine takes its containers with it: its sandboxes and its pre-warmed pool.
    for (const c of await ourContainers(`${Labels.manager}=${manager}`)) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);

    const done = await results;
    for (const r of done) expect(r, r.episodeId).toMatchObject({ reward: 1, exitReason: 'submitted' });
    expect(new Set(done.map((r) => r.episodeId)).size).toBe(EPISODES);

    // Counted once: one episode row each, and each turn stored once (system + instance + 2 per turn).
    const ids = inputs.map((i) => i.episodeId);
    const rows = await h.db.db.select().from(episodes).where(inArray(episodes.id, ids));
    expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
    for (const r of done) {
      const stored = await h.db.db.select({ idx: turns.idx }).from(turns).where(eq(turns.episodeId, r.episodeId));
      expect(stored.length, r.episodeId).toBe(2 + 2 * r.turns);
      expect(new Set(stored.map((t) => t.idx)).size, r.episodeId).toBe(stored.length);
    }

    // Released by the hosts that finished the episodes while they still run (not by their shutdown below).
        await eventually(
      'no active lease of a finished episode while the survivors run',
      async () => {
        const active = await h.db.db
          .select({ id: sandboxLeases.id })
          .from(sandboxLeases)
          .where(and(inArray(sandboxLeases.episodeId, ids), eq(sandboxLeases.status, 'active')));
        return active.length === 0 ? true : undefined;
      },
      MIN,
    );

    // No sandbox or reward container of the run is left: the survivors released theirs, the dead host's went with it.
    await eventually(
      'every container of the run to be gone',
      async () => ((await ourContainers(`${Labels.run}=${h.runId}`)).length === 0 ? true : undefined),
      2 * MIN,
    );

    // The ledger: each lease names its run and episode; none is still active (released by its host,
    // or superseded when the episode was rebuilt elsewhere).
    const leases = await h.db.db.select().from(sandboxLeases).where(inArray(sandboxLeases.episodeId, ids));
    for (const l of leases) expect(l.runId, l.id).toBe(h.runId);
    expect(leases.filter((l) => l.status === 'active').map((l) => `${l.host}:${l.episodeId}`)).toEqual([]);
    const perHost = hosts.map((host) => {
      const mine = leases.filter((l) => l.host === host.id);
      return { host: host.id, leases: mine.length, episodesFinished: mine.filter((l) => l.status === 'released').length, superseded: mine.filter((l) => l.status === 'expired').length };
    });
    console.log(`[hosts] per host (host a SIGKILLed): ${JSON.stringify(perHost)}`);
    console.log(`[hosts] infra failures per episode: ${JSON.stringify(done.map((r) => r.infraFailures))}`);
    const [dead, ...alive] = perHost;
    expect(dead!.leases).toBeGreaterThanOrEqual(1);
    // At least the episode caught on the victim was rebuilt on a survivor.
    expect(dead!.superseded).toBeGreaterThanOrEqual(1);
    // Each episode's last lease was released by the host that finished it (a segment timed out under load may add a release).
    expect(alive.reduce((n, p) => n + p.episodesFinished, 0) + dead!.episodesFinished).toBeGreaterThanOrEqual(EPISODES);
  }, 30 * MIN);
});
