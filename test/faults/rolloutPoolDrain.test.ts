/**
 * A rollout worker that is told to stop (SIGTERM/SIGINT of `swerl worker` call its shutdown())
 * removes its pre-warmed pool and its own unleased strays at once, not one label TTL later when
 * some other host's reaper gets to them. A sandbox still leased (an activity in flight while the
 * worker drains) stays until close(). Counted on the daemon by this manager's label.
 */
import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, Labels } from '../../activities/sandbox';
import { loadRunConfig } from '../../config/load';
import { createDb, type DbHandle } from '../../db/client';
import { ensureBaseImage } from '../../sandbox/images';
import { createRolloutWorkers, type RolloutWorkers } from '../../workers/rollout';
import { createTestDatabase, type TestDatabase } from '../harness/db';
import { waitUntil } from '../harness/poll';
import { testEndpoints } from '../harness/stack';

const docker = new Docker();
const RUN = `test-pool-drain-${process.pid}`;

let testDb: TestDatabase;
let handle: DbHandle;
let rollout: RolloutWorkers | undefined;

/** Containers on the daemon labelled with this manager (pool, leases, strays). */
const managed = async (managerId: string): Promise<number> =>
  (await docker.listContainers({ all: true, filters: { label: [`${Labels.manager}=${managerId}`] } })).length;


beforeAll(async () => {
  testDb = await createTestDatabase('pool_drain');
  handle = createDb(testDb.url);
});

afterAll(async () => {
  await rollout?.close().catch(() => undefined);
  const left = await docker.listContainers({ all: true, filters: { label: [`${Labels.run}=${RUN}`] } });
  for (const c of left) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  await handle?.close();
  await testDb?.drop();
});

describe('rollout worker shutdown', () => {
  it('removes the pre-warmed pool and its strays at once, and the leased sandbox at close', async () => {
    const image = await ensureBaseImage();
    const config = loadRunConfig('toy');
    const sandbox = { ...config.sandbox, prewarm: 2, maxConcurrent: 2 };
    rollout = await createRolloutWorkers({ endpoints: testEndpoints(), db: handle.db, sandbox, hostId: `pool-drain-${process.pid}`, sharedQueue: `${RUN}-rollout` });
    const done = rollout.run();
    const leases = rollout.leases;
    const limits = sandbox;

    // A lease in use, the pool refilled behind it, and a stray of this manager that it does not hold.
    await leases.prewarm({ image, limits });
    const held = await leases.acquire({ image, limits, labels: { run: RUN, episode: 'held' } });
    await leases.prewarm({ image, limits });
    expect(leases.stats()).toMatchObject({ leased: 1, pooled: 2 });
    await createSandbox(docker, { image, limits, labels: { run: RUN, episode: 'stray' }, leaseTtlSec: 3600 }, { leaseId: `stray-${randomUUID()}`, managerId: leases.id });
    expect(await managed(leases.id)).toBe(4);

    rollout.shutdown();
    // Before the workers have even finished draining and before close(): only the lease is left.
    await waitUntil('the pool and the stray to be removed', async () => (await managed(leases.id)) === 1, 120_000);
    expect(leases.stats()).toMatchObject({ leased: 1, pooled: 0 });
    expect((await held.sandbox.exec('echo still')).output).toBe('still\n');

    await done;
    await rollout.close();
    rollout = undefined;
    expect(await managed(leases.id)).toBe(0);
  });
});
