/**
 * Two live processes with one host id would take each other's host activities (a release lands
 * where the lease is not held, slots leak until every acquire fails): the second refuses to start
 * with SWERL_HOST_QUEUE_TAKEN, found by asking Temporal who polls the host queue. A worker with a
 * distinct id starts; a worker restarted after its predecessor was killed starts although
 * Temporal still lists the dead poller.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

beforeAll(async () => {
  testDb = await createTestDatabase('host_queue_guard');
  handle = createDb(testDb.url);
});

afterAll(async () => {
  await other?.kill('SIGKILL');
  for (const w of opened) await w.close().catch(() => undefined);
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
});
