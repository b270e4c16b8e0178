/**
 * Two live processes with one host id would take each other's host activities (a release lands
 * where the lease is not held, slots leak until every acquire fails): the second refuses to start
 * with SWERL_HOST_QUEUE_TAKEN, found by asking Temporal who polls the host queue. A worker with a
 * distinct id starts; a worker restarted after its predecessor was killed starts although
 * Temporal still lists the dead poller. And if a release lands where the lease is not held anyway,
 * it says so (a warning with the lease and its manager) instead of passing in silence.
 */
import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHostActivities } from '../../activities/episode/activities';
import { Labels, LeaseManager } from '../../activities/sandbox';
import { ensureBaseImage } from '../../sandbox/images';
import { loadRunConfig } from '../../config/load';
import { errorCodeOf } from '../../core/errors';
import { createDb, type DbHandle } from '../../db/client';
import { createRolloutWorkers, hostQueueOf, type RolloutWorkers } from '../../workers/rollout';
import { createTestDatabase, type TestDatabase } from '../harness/db';
import { testEndpoints } from '../harness/stack';
import { workerProcess, type WorkerProcess } from '../harness/workerProcess';

const ID = `hostq-${randomUUID().slice(0, 8)}`;
const sandbox = { ...loadRunConfig('toy').sandbox, prewarm: 0 };

let testDb: TestDatabase;
let handle: DbHandle;
let other: WorkerProcess | undefined;
const opened: RolloutWorkers[] = [];
const docker = new Docker();

// Its own sandbox scope: label-only reapers of other processes leave these containers alone.
const scopeBefore = process.env.SWERL_SANDBOX_SCOPE;
process.env.SWERL_SANDBOX_SCOPE = ID;

beforeAll(async () => {
  testDb = await createTestDatabase('host_queue_guard');
  handle = createDb(testDb.url);
});

afterAll(async () => {
  await other?.kill('SIGKILL');
  for (const w of opened) await w.close().catch(() => undefined);
  const left = await docker.listContainers({ all: true, filters: { label: [`${Labels.run}=${ID}`] } });
  for (const c of left) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  if (scopeBefore === undefined) delete process.env.SWERL_SANDBOX_SCOPE;
  else process.env.SWERL_SANDBOX_SCOPE = scopeBefore;
  await handle?.close();
  await testDb?.drop();
});

async function start(hostId: string): Promise<RolloutWorkers> {
  const w = await createRolloutWorkers({ endpoints: testEndpoints(), db: handle.db, sandbox, hostId, sharedQueue: `${ID}-rollout` });
  opened.push(w);
  return w;
}

async function refusal(hostId: string): Promise<unknown> {
  return start(hostId).then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('one live process per host queue', () => {
  it('a second process with the same host id refuses to start; one with its own id starts; a restart after a kill starts', async () => {
    const endpoints = testEndpoints();
    const hostId = `${ID}-a`;
    other = workerProcess(`host-queue-guard-${ID}`, {
      role: 'rollout',
      hostId,
      env: {
        SWERL_ROLLOUT_QUEUE: `${ID}-rollout`,
        SWERL_DATABASE_URL: testDb.url,
        SWERL_TEMPORAL_ADDRESS: endpoints.temporalAddress,
        SWERL_HOME: endpoints.stateDir,
        SWERL_SANDBOX_SCOPE: ID,
      },
    });
    await other.start();

    const err = await refusal(hostId);
    expect(errorCodeOf(err)).toBe('SWERL_HOST_QUEUE_TAKEN');
    expect(String((err as Error).message)).toContain('SWERL_HOST_ID');
    expect(String((err as Error).message)).toContain(`@`);
    expect(String((err as Error).message)).toContain(hostQueueOf(hostId));

    const distinct = await start(`${ID}-b`);
    expect(distinct.hostQueue).toBe(hostQueueOf(`${ID}-b`));

    // Within this process too: a second worker set on the same host queue.
    expect(errorCodeOf(await refusal(`${ID}-b`))).toBe('SWERL_HOST_QUEUE_TAKEN');

    // The other process dies; Temporal still lists its poller, but its pid is gone: a restart here is allowed.
    await other.kill('SIGKILL');
    other = undefined;
    const restarted = await start(hostId);
    expect(restarted.hostQueue).toBe(hostQueueOf(hostId));
  }, 240_000);

  it('a release of a sandbox this process holds no lease on warns with its lease and manager', async () => {
    const image = await ensureBaseImage();
    const limits = { ...sandbox, memoryMiB: 256 };
    // The holder: another lease manager (as in another process polling the same host queue).
    const holder = new LeaseManager(docker, { maxConcurrent: 1, prewarm: 0, leaseTtlSec: 600 });
    const mine = new LeaseManager(docker, { maxConcurrent: 1, prewarm: 0, leaseTtlSec: 600 });
    try {
      const held = await holder.acquire({ image, limits, labels: { run: ID, episode: 'held' } });
      const entries: LogEntry[] = [];
      const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('WARN', (e) => entries.push(e)) });
      const activities = createHostActivities({ db: handle.db, docker, leases: mine, hostQueue: hostQueueOf(`${ID}-c`) });
      await env.run(activities.releaseSandbox, { episodeId: 'e-held', containerId: held.sandbox.containerId });
      const warned = entries.filter((e) => e.level === 'WARN' && /holds no lease/.test(e.message));
      expect(warned).toHaveLength(1);
      expect(warned[0]!.meta).toMatchObject({ containerId: held.sandbox.containerId, leaseId: held.leaseId, managerId: holder.id, episodeId: 'e-held' });
      // The holder's slot is still taken: the leak the warning names.
      expect(holder.stats().leased).toBe(1);
    } finally {
      await holder.close();
      await mine.close();
    }
  }, 120_000);
});
