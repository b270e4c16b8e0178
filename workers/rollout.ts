/**
 * A rollout worker is a sandbox host. It serves two task queues:
 * - `swerl-rollout` (shared by all hosts): start an episode, acquire a sandbox, call the policy,
 *   score — work any host can do;
 * - its own queue `swerl-rollout-host-<hostId>`: tool execution in the sandboxes it holds.
 * The host id is stable across restarts of the worker on the same machine (SWERL_HOST_ID, default
 * the hostname), so a restarted worker picks up its queue again; its retried activities rebuild
 * the sandbox from the persisted turns. Two live processes never share a host queue: the second
 * refuses to start (hostQueueGuard.ts); a process whose sandboxes die with it (the demo, `episode
 * run`) takes a host id of its own (`processHostId`).
 */
import os from 'node:os';
import Docker from 'dockerode';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { RunConfig } from '../core/config';
import { TaskQueues } from '../core/taskQueues';
import type { Db } from '../db/client';
import { createEpisodeActivities, createHostActivities } from '../activities/episode/activities';
import { createRescoreActivities } from '../activities/episode/operations';
import type { HostContext } from '../activities/episode/sandboxes';
import { LeaseManager, runReaperEvery } from '../activities/sandbox';
import type { Endpoints } from './endpoints';
import { claimHostQueue } from './hostQueueGuard';
import { logger } from './logging';
import { workerInterceptors } from './interceptors';
import { registerSandboxSource } from './metrics';
import { temporalConnectOptions } from './temporalTls';

export function hostQueueOf(hostId: string): string {
  return `${TaskQueues.rollout}-host-${hostId}`;
}

export function defaultHostId(env: NodeJS.ProcessEnv = process.env): string {
  return hostIdOf(env.SWERL_HOST_ID || os.hostname());
}

function hostIdOf(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '-');
}

/**
 * The host id of a process whose sandboxes live and die with it (the demo, `episode run`): its own
 * unique queue name, so two such processes on one stack never poll one host queue.
 */
export function processHostId(uniqueQueue: string): string {
  return hostIdOf(uniqueQueue);
}

export interface RolloutWorkerOptions {
  endpoints: Endpoints;
  db: Db;
  sandbox: RunConfig['sandbox'];
  hostId?: string;
  /** Shared queue override, for tests that isolate themselves on a private queue. */
  sharedQueue?: string;
  connection?: NativeConnection;
  reaperIntervalMs?: number;
  /** The Docker daemon of this host (default: DOCKER_HOST or the local socket). */
  docker?: Docker;
  /**
   * How long shutdown may wait for in-flight activities before giving up on them (the SDK's
   * shutdownForceTime): an agent's command can run for minutes, and a durable turn abandoned here
   * is retried on another worker after its heartbeat timeout. Unset: wait for them (tests).
   */
  shutdownForceSec?: number;
}

export interface RolloutWorkers {
  workers: Worker[];
  hostQueue: string;
  leases: LeaseManager;
  connection: NativeConnection;
  /** Runs both workers until one stops or `shutdown()` is called. */
  run(): Promise<void>;
  /** Stops polling (in-flight activities finish) and removes the pre-warmed pool and strays at once. */
  shutdown(): void;
  close(): Promise<void>;
}

export async function createRolloutWorkers(opts: RolloutWorkerOptions): Promise<RolloutWorkers> {
  const connection = opts.connection ?? (await NativeConnection.connect(temporalConnectOptions(opts.endpoints)));
  const hostId = opts.hostId ?? defaultHostId();
  const hostQueue = hostQueueOf(hostId);
  const unclaim = await claimHostQueue(connection, opts.endpoints.temporalNamespace, hostQueue, hostId).catch(async (err: unknown) => {
    if (!opts.connection) await connection.close();
    throw err;
  });
  const docker = opts.docker ?? new Docker();
  const leases = new LeaseManager(docker, {
    maxConcurrent: opts.sandbox.maxConcurrent,
    prewarm: opts.sandbox.prewarm,
    poolMax: opts.sandbox.poolMax,
    leaseTtlSec: opts.sandbox.leaseTtlSec,
    // Renewals go to Postgres too: a reaper of another worker on this Docker daemon must see them.
    ledger: { db: opts.db, host: hostId },
  });
  const ctx: HostContext = { db: opts.db, docker, leases, hostQueue };
  const common = {
    connection,
    namespace: opts.endpoints.temporalNamespace,
    ...(opts.shutdownForceSec !== undefined ? { shutdownForceTime: `${opts.shutdownForceSec}s` as const } : {}),
  };
  let shared: Worker;
  let host: Worker;
  try {
    shared = await Worker.create({
      ...common,
      taskQueue: opts.sharedQueue ?? TaskQueues.rollout,
      activities: { ...createEpisodeActivities(ctx), ...createRescoreActivities(ctx) },
      interceptors: workerInterceptors(),
      maxConcurrentActivityTaskExecutions: opts.sandbox.maxConcurrent * 2,
    });
    host = await Worker.create({
      ...common,
      taskQueue: hostQueue,
      activities: { ...createHostActivities(ctx) },
      interceptors: workerInterceptors(),
      maxConcurrentActivityTaskExecutions: opts.sandbox.maxConcurrent,
    });
  } catch (err) {
    unclaim();
    await leases.close();
    if (!opts.connection) await connection.close();
    throw err;
  }
  const log = logger().child({ component: 'reaper', hostQueue });
  const stopReaper = runReaperEvery(docker, opts.reaperIntervalMs ?? 60_000, (err) => log.warn({ err }, 'reaper pass failed'), opts.db);
  const unregisterSandboxes = registerSandboxSource(() => leases.stats());
  const workers = [shared, host];
  const poolLog = logger().child({ component: 'sandbox-pool', hostQueue });
  let drained: Promise<unknown> = Promise.resolve();
  return {
    workers,
    hostQueue,
    leases,
    connection,
    run: async () => {
      await Promise.all(workers.map((w) => w.run()));
    },
    shutdown: () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      // Idle pool containers serve no activity in flight; left alone they wait for a reaper.
      drained = leases.drainPool().then(
        (removed) => poolLog.info({ ...removed }, 'shutdown: pre-warmed pool and strays removed'),
        (err: unknown) => poolLog.warn({ err }, 'shutdown: draining the sandbox pool failed; close() removes it'),
      );
    },
    close: async () => {
      stopReaper();
      unregisterSandboxes();
      await drained;
      await leases.close({ releaseLeases: true });
      unclaim();
      if (!opts.connection) await connection.close();
    },
  };
}
