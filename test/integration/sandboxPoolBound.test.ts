/**
 * The pre-warmed pool is bounded in all, not only per image: a suite of many task images used to
 * keep `prewarm` idle containers for every image it ever ran. Past `poolMax` the least recently
 * used pool gives up its idle container; the pools of the images in use keep theirs. Counted on
 * the daemon by the manager's label, and by the manager's own counters.
 */
import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { Labels, LeaseManager, type SandboxLimits } from '../../activities/sandbox';
import { ensureBaseImage } from '../../sandbox/images';
import { waitUntil } from '../harness/poll';

const docker = new Docker();
const RUN = `test-pool-bound-${process.pid}`;
const POOL_MAX = 2;
const POOLS = 4;

// Its own sandbox scope: label-only reapers of other processes leave these containers alone.
const scopeBefore = process.env.SWERL_SANDBOX_SCOPE;
process.env.SWERL_SANDBOX_SCOPE = `pool-bound-${process.pid}`;

/** Pools are per (image, limits): one per command timeout here, as one per task image in a suite. */
const limitsOf = (i: number): SandboxLimits => ({ cpus: 0.5, memoryMiB: 256, pidsLimit: 64, outputLimitBytes: 8192, commandTimeoutSec: 30 + i, user: '1000:1000' });

let leases: LeaseManager | undefined;

const managed = async (managerId: string): Promise<number> =>
  (await docker.listContainers({ all: true, filters: { label: [`${Labels.manager}=${managerId}`] } })).length;

afterAll(async () => {
  await leases?.close();
  const left = await docker.listContainers({ all: true, filters: { label: [`${Labels.run}=${RUN}`] } });
  for (const c of left) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  if (scopeBefore === undefined) delete process.env.SWERL_SANDBOX_SCOPE;
  else process.env.SWERL_SANDBOX_SCOPE = scopeBefore;
});

describe('sandbox pool bound', () => {
  it(`keeps at most poolMax idle containers over ${POOLS} pools, evicting the least recently used`, async () => {
    const image = await ensureBaseImage();
    const m = new LeaseManager(docker, { maxConcurrent: 2, prewarm: 1, poolMax: POOL_MAX, leaseTtlSec: 600 });
    leases = m;
    for (let i = 0; i < POOLS; i++) {
      const lease = await m.acquire({ image, limits: limitsOf(i), labels: { run: RUN, episode: `e${i}` } });
      await m.release(lease.leaseId);
      // The refill after the hand-out runs in the background: wait for it (prewarm adds nothing to a full pool).
      await m.prewarm({ image, limits: limitsOf(i) });
      expect(m.stats().pooled).toBeLessThanOrEqual(POOL_MAX);
    }
    expect(m.stats()).toMatchObject({ leased: 0, pooled: POOL_MAX });
    expect(m.poolEvictions).toBe(POOLS - POOL_MAX);
    await m.persisted();
    await waitUntil('evicted containers to be removed', async () => (await managed(m.id)) === POOL_MAX, 60_000);

    // The two pools used last kept their container; the first one gave its container up.
    const recent = await m.acquire({ image, limits: limitsOf(POOLS - 1), labels: { run: RUN, episode: 'recent' } });
    expect(recent.fromPool).toBe(true);
    const old = await m.acquire({ image, limits: limitsOf(0), labels: { run: RUN, episode: 'old' } });
    expect(old.fromPool).toBe(false);
    await m.release(recent.leaseId);
    await m.release(old.leaseId);
    await m.close();
    leases = undefined;
    expect(await managed(m.id)).toBe(0);
  }, 240_000);
});
