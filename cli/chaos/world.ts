/**
 * One "world" of the chaos soak: a dev stack (Temporal + Postgres, cli/dev), a Docker daemon, a
 * database of its own on that Postgres, and the run's processes — policy server, Python trainer
 * worker, orchestration worker, rollout worker — each under a SupervisedProcess. The soak builds
 * two: the disturbed one on this checkout's own stack and a private dockerd, and the undisturbed
 * reference on a second stack and the shared dockerd. Both run the same config under the same run
 * id (each world has its own Temporal, database and checkpoints root, so they never meet).
 */
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import pg from 'pg';
import type { RunConfig } from '../../core/config';
import { migrateDatabase } from '../../db/migrate';
import { importTasks, persistImport, suiteNameOf } from '../../activities/tasks';
import { connectClient } from '../../workers/endpoints';
import { statusQuery, type RunStatus } from '../../workflows/definitions';
import type { trainingRun } from '../../workflows/trainingRun';
import { createDb } from '../../db/client';
import { REPO_ROOT } from '../dev/settings';
import { devUp, type StackEndpoints } from '../dev/stack';
import { TRAINER_DIR, TRAINER_PYTHON } from '../pythonProcess';
import { runHandle, signalRun, startRun } from '../runs';
import { SupervisedProcess, type UnplannedExit } from './supervisor';

export type WorldProcess = 'policy-server' | 'trainer-worker' | 'orchestration-worker' | 'rollout-worker';

export interface WorldSpec {
  name: 'chaos' | 'reference';
  /** Environment naming the world's dev stack (SWERL_HOME and the port variables). */
  stackEnv: NodeJS.ProcessEnv;
  /** DOCKER_HOST of the daemon its sandboxes run on. */
  dockerHost: string;
  /** This soak's files of the world: logs, checkpoints. */
  dir: string;
  runId: string;
  /** The run config file (the rollout worker reads its sandbox limits from it). */
  configFile: string;
  tasksFile: string;
  policyPort: number;
  onUnplannedExit: (e: UnplannedExit) => void;
}

export class World {
  readonly processes: Record<WorldProcess, SupervisedProcess>;
  readonly checkpointsRoot: string;
  readonly queue: string;
  private client: Client | undefined;
  private pool: pg.Pool | undefined;

  private constructor(
    readonly spec: WorldSpec,
    readonly endpoints: StackEndpoints,
    readonly databaseUrl: string,
  ) {
    this.checkpointsRoot = path.join(spec.dir, 'checkpoints');
    this.queue = `chaos-${spec.runId}`;
    const policyUrl = this.policyUrl;
    const workerEnv = {
      ...process.env,
      SWERL_LOG_LEVEL: 'info',
      SWERL_TEMPORAL_ADDRESS: endpoints.temporalAddress,
      SWERL_TEMPORAL_NAMESPACE: endpoints.temporalNamespace,
      SWERL_DATABASE_URL: databaseUrl,
      SWERL_HOME: String(spec.stackEnv.SWERL_HOME),
      DOCKER_HOST: spec.dockerHost,
      SWERL_ORCHESTRATION_QUEUE: this.queue,
      SWERL_ROLLOUT_QUEUE: `${this.queue}-rollout`,
      SWERL_HOST_ID: `chaos-${spec.name}-host`,
    };
    const logs = path.join(spec.dir, 'logs');
    const swerl = (name: WorldProcess, args: string[], ready: RegExp) =>
      new SupervisedProcess(
        { name, command: 'npx', args: ['tsx', 'cli/main.ts', ...args], cwd: REPO_ROOT, env: workerEnv, ready, readyTimeoutMs: 300_000, logFile: path.join(logs, `${name}.log`) },
        spec.onUnplannedExit,
      );
    this.processes = {
      'policy-server': new SupervisedProcess(
        {
          name: 'policy-server',
          command: 'npx',
          args: ['tsx', 'cli/chaos/policyServer.ts', '--tasks', spec.tasksFile, '--port', String(spec.policyPort)],
          cwd: REPO_ROOT,
          env: process.env,
          ready: /policy_server_ready/,
          readyTimeoutMs: 300_000,
          logFile: path.join(logs, 'policy-server.log'),
        },
        spec.onUnplannedExit,
      ),
      'trainer-worker': new SupervisedProcess(
        {
          name: 'trainer-worker',
          command: TRAINER_PYTHON,
          args: [
            ...['-m', 'swerl_trainer.worker', '--address', endpoints.temporalAddress, '--namespace', endpoints.temporalNamespace],
            ...['--task-queue', `${this.queue}-trainer`, '--checkpoints', this.checkpointsRoot, '--init-base', 'toy-base'],
            // The `test` model (steps of seconds) with a context that fits toy trajectories; one
            // thread, so that a step is deterministic and leaves a core to the sandboxes.
            ...['--preset', 'test', '--max-seq-len', '8192', '--threads', '1', '--policy-url', policyUrl],
          ],
          cwd: TRAINER_DIR,
          env: { ...process.env, PYTHONUNBUFFERED: '1', SWERL_DATABASE_URL: databaseUrl },
          ready: /"worker_ready"/,
          readyTimeoutMs: 300_000,
          logFile: path.join(logs, 'trainer-worker.log'),
        },
        spec.onUnplannedExit,
      ),
      'orchestration-worker': swerl('orchestration-worker', ['worker', '--role', 'orchestration'], /orchestration worker polling/),
      'rollout-worker': swerl('rollout-worker', ['worker', '--role', 'rollout', '--config', spec.configFile], /rollout worker polling/),
    };
  }

  get policyUrl(): string {
    return `http://127.0.0.1:${this.spec.policyPort}`;
  }

  /** Brings the world's stack up, makes its database (migrated, tasks imported) and starts its processes. */
  static async create(spec: WorldSpec): Promise<World> {
    const endpoints = await devUp({ env: spec.stackEnv, only: ['temporal', 'postgres'] });
    const url = new URL(endpoints.databaseUrl);
    url.pathname = `/swerl_chaos_${spec.runId.toLowerCase().replace(/[^a-z0-9_]+/g, '_')}`.slice(0, 63);
    const databaseUrl = url.toString();
    await migrateDatabase(databaseUrl);
    const db = createDb(databaseUrl);
    try {
      const imported = await importTasks(spec.tasksFile, { validate: false });
      await persistImport(db.db, suiteNameOf(spec.tasksFile), imported);
    } finally {
      await db.close();
    }
    const world = new World(spec, endpoints, databaseUrl);
    for (const p of Object.values(world.processes)) await p.start();
    return world;
  }

  async temporal(): Promise<Client> {
    this.client ??= await connectClient(this.endpoints);
    return this.client;
  }

  /** A pool on the world's database for the soak's own reads (errors of idle clients are dropped). */
  get db(): pg.Pool {
    if (!this.pool) {
      this.pool = new pg.Pool({ connectionString: this.databaseUrl, max: 2, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 5_000 });
      this.pool.on('error', () => undefined);
    }
    return this.pool;
  }

  async startRun(config: RunConfig): Promise<WorkflowHandle<typeof trainingRun>> {
    const services = { policyUrl: this.policyUrl, rolloutQueue: `${this.queue}-rollout`, trainerQueue: `${this.queue}-trainer` };
    return startRun(await this.temporal(), config, this.spec.runId, this.queue, { services });
  }

  async handle(): Promise<WorkflowHandle<typeof trainingRun>> {
    return runHandle(await this.temporal(), this.spec.runId);
  }

  async status(): Promise<RunStatus | undefined> {
    try {
      return await (await this.handle()).query(statusQuery);
    } catch {
      return undefined;
    }
  }

  async completedIterations(): Promise<string[] | undefined> {
    try {
      const { rows } = await this.db.query<{ k: string }>(
        "select stage || '/' || idx as k from iterations where run_id = $1 and status = 'completed' order by started_at, stage, idx",
        [this.spec.runId],
      );
      return rows.map((r) => r.k);
    } catch {
      return undefined;
    }
  }

  /** Ended, or paused with no iteration in flight (the pause Signal takes effect at the next iteration boundary). */
  async quiescent(): Promise<boolean> {
    const phase = (await this.status())?.phase;
    // An ended run starts nothing more; its unfinished iteration (if it failed) is out of scope.
    if (phase === 'completed' || phase === 'failed' || phase === 'aborted') return true;
    if (phase !== 'paused') return false;
    const { rows } = await this.db.query<{ n: number }>("select count(*)::int as n from iterations where run_id = $1 and status <> 'completed'", [this.spec.runId]);
    return rows[0]?.n === 0;
  }

  async signal(verb: 'pause' | 'resume' | 'abort', reason: string): Promise<void> {
    await signalRun(await this.temporal(), this.spec.runId, verb, reason, 'swerl-chaos');
  }

  /** Graceful stop of every process (workers drain), then the clients. */
  async close(): Promise<void> {
    for (const name of ['orchestration-worker', 'rollout-worker', 'trainer-worker', 'policy-server'] as const) {
      await this.processes[name].stop().catch(() => undefined);
    }
    await this.client?.connection.close().catch(() => undefined);
    await this.pool?.end().catch(() => undefined);
  }
}
