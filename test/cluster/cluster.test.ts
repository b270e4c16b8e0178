/**
 * The compose deployment, for real: `swerl cluster build` (images made here offline) → `docker
 * compose up` (Postgres ×2, the Temporal server from go.temporal.io/server with its schema set up
 * by the one-shot service, the orchestration worker, two rollout workers behind the Docker socket
 * proxy, the trainer, the scripted policy) → a toy RL iteration started from this host's CLI →
 * second run of the same iteration with one rollout worker SIGKILLed mid-episode (as `docker compose kill`)
 * → `docker compose down -v`.
 *
 * `npm run test:cluster`; not in scripts/test.sh: the first build compiles the Temporal server and
 * the compose CLI from their Go modules (~30 min on 2 cores). Asserts what the deployment did, not
 * only that the run ended: every poller of swerl's task queues is a compose container (no worker
 * runs in this process), every sandbox lease of the run was taken by a compose rollout worker, the
 * episode rows and the trainer step are in the compose Postgres, nothing of the run is left on the
 * daemon, and the socket proxy refuses what a sandbox host must not do. The kill run asserts that
 * the run still completes on the survivor with each episode once (one row per task and sample, each
 * assistant turn stored once), that the dead host's sandboxes are removed by the survivor's reaper
 * (nothing of the run is left on the daemon, nor any container the dead worker made: half-created
 * and pre-warmed ones too) and that no lease stays active.
 * Timings and counts go to test-artifacts/cluster/report.json (copied to bench/reports/ when committed).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { TaskQueues } from '../../core/taskQueues';
import { ensureComposeCli, type ComposeCli } from '../../deploy/composeCli';
import { Labels } from '../../activities/sandbox/types';

const REPO_ROOT = join(__dirname, '..', '..');
const PROJECT = process.env.SWERL_CLUSTER_PROJECT ?? 'swerl-cluster-test';
const TEMPORAL_PORT = process.env.SWERL_CLUSTER_TEMPORAL_PORT ?? '7461';
const PG_PORT = process.env.SWERL_CLUSTER_PG_PORT ?? '5461';
const ROLLOUT_WORKERS = 2;
/** Train tasks of the toy suite the smoke run's curriculum draws from (validated at import: each costs two test runs). */
const SMOKE_TASKS = 4;
const MIN = 60_000;

const dbPassword = randomBytes(12).toString('hex');
const composeEnv: NodeJS.ProcessEnv = {
  ...process.env,
  SWERL_DB_PASSWORD: dbPassword,
  TEMPORAL_DB_PASSWORD: randomBytes(12).toString('hex'),
  SWERL_CLUSTER_TEMPORAL_PORT: TEMPORAL_PORT,
  SWERL_CLUSTER_PG_PORT: PG_PORT,
  SWERL_ROLLOUT_WORKERS: String(ROLLOUT_WORKERS),
  SWERL_POLICY_CONTROL_URL: 'http://scripted-policy:8001',
  SWERL_SANDBOX_SCOPE: PROJECT,
  COMPOSE_PROFILES: 'smoke',
  // Each policy answer waits this long: an episode is in flight for several seconds, long enough to
  // catch a rollout worker holding its sandbox.
  SWERL_SMOKE_POLICY_DELAY_MS: '1500',
};
const databaseUrl = `postgres://swerl:${dbPassword}@127.0.0.1:${PG_PORT}/swerl`;
/** The host's CLI talks to the compose deployment through its loopback ports; it runs no worker. */
const hostEnv: NodeJS.ProcessEnv = { ...process.env, SWERL_TEMPORAL_ADDRESS: `127.0.0.1:${TEMPORAL_PORT}`, SWERL_DATABASE_URL: databaseUrl };

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: REPO_ROOT, env, maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) }),
    );
  });
}

const swerl = (args: string[], timeoutMs: number): Promise<Ran> => run(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'cli/main.ts'), ...args], hostEnv, timeoutMs);

let cli: ComposeCli | undefined;
const compose = (args: string[], timeoutMs = 10 * MIN): Promise<Ran> =>
  run(cli!.command, [...cli!.prefix, '-p', PROJECT, '-f', join(REPO_ROOT, 'docker-compose.yml'), ...args], composeEnv, timeoutMs);

const expectOk = (r: Ran, what: string): void => {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\n--- stdout\n${r.stdout.slice(-6000)}\n--- stderr\n${r.stderr.slice(-6000)}`);
};

const docker = new Docker();
const timings: Record<string, number> = {};
const since = (t: number): number => Math.round((Date.now() - t) / 100) / 10;
const load = (): number[] => loadavg().map((l) => Math.round(l * 10) / 10);
/** What each run did, for the report. */
const runs: Record<string, unknown>[] = [];
const report = { project: PROJECT, started: new Date().toISOString(), loadAtStart: load(), rolloutWorkers: ROLLOUT_WORKERS, seconds: timings, runs };
let upAttempted = false;
/** The smoke suite and config, made by the first run and used again by the kill run. */
let smoke: { scratch: string; suite: string; config: string } | undefined;

/** service name → the hostnames of its containers (a worker's Temporal identity is pid@hostname). */
async function composeHosts(): Promise<Map<string, string[]>> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${PROJECT}`] } });
  const hosts = new Map<string, string[]>();
  for (const c of containers) {
    const info = await docker.getContainer(c.Id).inspect();
    const service = c.Labels['com.docker.compose.service'] ?? '?';
    hosts.set(service, [...(hosts.get(service) ?? []), info.Config.Hostname]);
  }
  return hosts;
}

async function pollerHosts(client: Client, queue: string, type: 'workflow' | 'activity'): Promise<string[]> {
  const res = await client.workflowService.describeTaskQueue({
    namespace: 'default',
    taskQueue: { name: queue, kind: 1 },
    taskQueueType: type === 'workflow' ? 1 : 2,
  });
  return (res.pollers ?? []).map((p) => String(p.identity ?? '').split('@').slice(1).join('@'));
}

async function withTemporal<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address: `127.0.0.1:${TEMPORAL_PORT}`, connectTimeout: 10_000 });
  try {
    return await fn(new Client({ connection, namespace: 'default' }));
  } finally {
    await connection.close();
  }
}

async function query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Polls `probe` every `everyMs` until it returns a value, at most `timeoutMs`; the last error is in the failure. */
async function eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 3_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s (last error: ${String(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

afterAll(async () => {
  if (smoke) rmSync(smoke.scratch, { recursive: true, force: true });
  const keep = process.env.SWERL_CLUSTER_KEEP === '1';
  if (cli && upAttempted && !keep) {
    const t = Date.now();
    const down = await compose(['down', '-v', '--remove-orphans', '--timeout', '30'], 5 * MIN);
    if (down.code !== 0) console.error(`compose down exited ${down.code}: ${down.stderr.slice(-2000)}`);
    timings.down = since(t);
  }
  // Sandboxes of this deployment only (its scope label); other stacks on the daemon are not ours.
  // What `down` left is counted for the report: the surviving workers drain their pools when
  // stopped; a killed worker's pre-warmed (run-less) containers wait for a reaper (TTL + pool idle).
  const left = keep ? [] : await docker.listContainers({ all: true, filters: { label: [`${Labels.scope}=${PROJECT}`] } }).catch(() => []);
  Object.assign(report, {
    leftAfterDown: left.map((c) => ({ name: c.Names[0], run: c.Labels[Labels.run] ?? '', manager: c.Labels[Labels.manager] ?? '', state: c.State })),
  });
  for (const c of left) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  mkdirSync(join(REPO_ROOT, 'test-artifacts', 'cluster'), { recursive: true });
  writeFileSync(join(REPO_ROOT, 'test-artifacts', 'cluster', 'report.json'), `${JSON.stringify({ ...report, finished: new Date().toISOString(), loadAtEnd: load() }, null, 2)}\n`);
  console.log(`cluster timings (s): ${JSON.stringify(timings)}`);
}, 10 * MIN);

describe('the compose deployment', () => {
  it('builds its images offline and finds the compose CLI', async () => {
    const t = Date.now();
    const build = await swerl(['cluster', 'build'], 90 * MIN);
    expectOk(build, 'swerl cluster build');
    timings.build = since(t);
    console.log(build.stdout);
    expect(build.stdout.trim().split('\n').map((l) => l.split('\t')[0])).toEqual(['postgres', 'temporal', 'docker-proxy', 'app', 'trainer']);
    cli = await ensureComposeCli((line) => console.log(line));
    expectOk(await compose(['config', '--quiet']), 'compose config');
  }, 100 * MIN);

  it('comes up: schema set by the one-shot service, namespace registered, every worker polling', async () => {
    const t = Date.now();
    upAttempted = true;
    expectOk(await compose(['up', '-d'], 20 * MIN), 'compose up');
    timings.upCommand = since(t);
    const schema = await compose(['logs', '--no-color', 'temporal-schema']);
    expect(schema.stdout).toMatch(/schema of temporal up to date/);
    expect(schema.stdout).toMatch(/schema of temporal_visibility up to date/);
    const hosts = await eventually('every worker polling its task queues', 15 * MIN, () =>
      withTemporal(async (client) => {
        const byService = await composeHosts();
        const orchestration = await pollerHosts(client, TaskQueues.orchestration, 'workflow');
        const rollout = await pollerHosts(client, TaskQueues.rollout, 'activity');
        const trainer = await pollerHosts(client, TaskQueues.trainer, 'activity');
        const rolloutHosts = new Set(byService.get('rollout-worker') ?? []);
        const ready =
          orchestration.some((h) => byService.get('orchestration-worker')?.includes(h)) &&
          [...rolloutHosts].every((h) => rollout.includes(h)) &&
          rolloutHosts.size === ROLLOUT_WORKERS &&
          trainer.some((h) => byService.get('trainer')?.includes(h));
        return ready ? { byService, orchestration, rollout, trainer } : undefined;
      }),
    );
    timings.upToPolling = since(t);
    // Nothing but the compose containers polls: this process starts no worker, and no stray one is attached.
    const own = new Set([...hosts.byService.values()].flat());
    for (const h of [...hosts.orchestration, ...hosts.rollout, ...hosts.trainer]) expect(own.has(h), `poller on ${h}`).toBe(true);
    const ps = await compose(['ps', '-a', '--format', 'json']);
    console.log(ps.stdout.slice(0, 4000));
  }, 40 * MIN);

  it('lets a rollout worker reach Docker only through the filtering proxy', async () => {
    const probe = `
      const base = 'http://docker-proxy:2375/v1.41';
      const call = (method, path, body) => fetch(base + path, { method, headers: { 'content-type': 'application/json' }, body: body && JSON.stringify(body) }).then((r) => r.status, (e) => 'error ' + e.message);
      (async () => {
        const out = {
          ping: await call('GET', '/_ping'),
          containers: await call('GET', '/containers/json'),
          volumes: await call('GET', '/volumes'),
          networks: await call('GET', '/networks'),
          imagePull: await call('POST', '/images/create?fromImage=busybox'),
          prune: await call('POST', '/containers/prune'),
          privileged: await call('POST', '/containers/create', { Image: 'none', HostConfig: { Privileged: true } }),
          bind: await call('POST', '/containers/create', { Image: 'none', HostConfig: { Binds: ['/:/host'] } }),
          sysAdmin: await call('POST', '/containers/create', { Image: 'none', HostConfig: { CapAdd: ['SETUID', 'SYS_ADMIN'] } }),
          hostPid: await call('POST', '/containers/create', { Image: 'none', HostConfig: { PidMode: 'host' } }),
        };
        console.log(JSON.stringify(out));
      })();`;
    const r = await compose(['exec', '-T', '--index', '1', 'rollout-worker', 'node', '-e', probe]);
    expectOk(r, 'probe in rollout-worker');
    const statuses = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, number | string>;
    expect(statuses).toEqual({ ping: 200, containers: 200, volumes: 403, networks: 403, imagePull: 403, prune: 403, privileged: 403, bind: 403, sysAdmin: 403, hostPid: 403 });
    // And the socket itself is not there.
    const sock = await compose(['exec', '-T', '--index', '1', 'rollout-worker', 'node', '-e', "console.log(require('fs').existsSync('/var/run/docker.sock'))"]);
    expect(sock.stdout.trim()).toBe('false');
  }, 10 * MIN);

  it('runs a toy RL iteration started from the host CLI to completion on the compose workers', async () => {
    // A few train tasks of the toy suite as their own suite (repo paths made absolute), and the
    // smoke config pointed at it: importing validates each task on this host's daemon and records
    // its image, which the rollout workers (no image builds through the proxy) then use.
    const scratch = mkdtempSync(join(tmpdir(), 'swerl-cluster-'));
    const toyDir = join(REPO_ROOT, 'tasks', 'toy');
    const lines = readFileSync(join(toyDir, 'tasks.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((t) => (t.split ?? 'train') === 'train')
      .slice(0, SMOKE_TASKS)
      .map((t) => JSON.stringify({ ...t, repo_path: resolve(toyDir, String(t.repo_path)) }));
    const suite = join(scratch, 'toy-smoke.jsonl');
    writeFileSync(suite, `${lines.join('\n')}\n`);
    const config = join(scratch, 'smoke.yaml');
    writeFileSync(config, readFileSync(join(__dirname, 'smoke.yaml'), 'utf8').replace('suite: tasks/toy/tasks.jsonl', `suite: ${suite}`));
    smoke = { scratch, suite, config };

    const t = Date.now();
    const imported = await swerl(['tasks', 'import', suite, '--jobs', '2'], 30 * MIN);
    expectOk(imported, 'swerl tasks import');
    const accepted = await query<{ n: string }>("select count(*) as n from tasks where suite = 'toy-smoke' and image is not null");
    expect(Number(accepted[0]!.n)).toBe(SMOKE_TASKS);
    timings.tasksImport = since(t);

    const runId = `cluster-smoke-${Date.now().toString(36)}`;
    const t2 = Date.now();
    const started = await swerl(['start', '--config', config, '--run-id', runId, '--wait'], 45 * MIN);
    expectOk(started, 'swerl start --wait');
    timings.smokeRun = since(t2);
    console.log(started.stdout.slice(-3000));
    const summary = await checkRun(runId);
    // No container of the run is left on the daemon: every lease was released by its host.
    expect(await runContainers(runId)).toEqual([]);
    runs.push({ kind: 'smoke', runId, seconds: timings.smokeRun, ...summary });
  }, 80 * MIN);

  it('completes a run whose rollout worker is SIGKILLed mid-episode (what docker compose kill sends): each episode once, nothing leaked', async () => {
    expect(smoke, 'the smoke run made the suite and config').toBeDefined();
    const runId = `cluster-kill-${Date.now().toString(36)}`;
    const t = Date.now();
    const startedRun = swerl(['start', '--config', smoke!.config, '--run-id', runId, '--wait'], 45 * MIN);

    // The victim: a compose rollout worker once it holds the sandbox of an episode of this run.
    const held = await eventually(
      'a rollout worker to hold a sandbox of the run',
      15 * MIN,
      async () => (await query<{ host: string; episode_id: string; container_id: string }>("select host, episode_id, container_id from sandbox_leases where run_id = $1 and status = 'active' and container_id is not null limit 1", [runId]))[0],
      500,
    );
    const victim = (await rolloutContainers()).find((c) => c.hostname === held.host);
    // Its lease manager (a label of each sandbox it made), to tell its leftovers in the report.
    const victimManager = (await docker.getContainer(held.container_id).inspect().catch(() => undefined))?.Config.Labels[Labels.manager] ?? '';
    expect(victim, `the lease host ${held.host} is a compose rollout worker`).toBeDefined();
    const killedAt = Date.now();
    timings.killAfterStart = since(t);
    // `docker compose kill` has no --index (it kills every replica of a service): the one replica is
    // killed by the call compose makes for each, POST /containers/{id}/kill with SIGKILL.
    await docker.getContainer(victim!.id).kill({ signal: 'SIGKILL' });
    const afterKill = await docker.getContainer(victim!.id).inspect();
    expect(afterKill.State.Running, 'the killed rollout worker is down').toBe(false);
    // What the victim left: its sandboxes (held, half-created, pooled) and their lease rows, for the report.
    const victimContainersAtKill = await managerContainers(victimManager);
    const victimRowsAtKill = await query<{ id: string; episode_id: string | null; container_id: string | null }>(
      "select id, episode_id, container_id from sandbox_leases where host = $1 and status = 'active'",
      [held.host],
    );
    console.log(`killed ${victim!.name} (host ${held.host}) holding episode ${held.episode_id}, ${timings.killAfterStart} s after the start`);

    const ended = await startedRun;
    expectOk(ended, 'swerl start --wait (a rollout worker killed mid-run)');
    timings.killRun = since(t);
    timings.killToRunEnd = since(killedAt);
    console.log(ended.stdout.slice(-3000));
    // Killed by hand, it stays down (Docker's restart policy does not restart a killed container): a lost host.
    const victimInfo = await docker.getContainer(victim!.id).inspect();
    expect(victimInfo.State.Running, 'the killed rollout worker stayed down').toBe(false);
    const summary = await checkRun(runId);

    const leases = await query<{ host: string; status: string; episode_id: string }>('select host, status, episode_id from sandbox_leases where run_id = $1', [runId]);
    const victimLeases = leases.filter((l) => l.host === held.host);
    expect(victimLeases.length, 'the victim held leases of the run').toBeGreaterThanOrEqual(1);
    // Its episode finished on the survivor: the last lease of the caught episode is another host's.
    const caught = leases.filter((l) => l.episode_id === held.episode_id);
    expect(caught.some((l) => l.host !== held.host && l.status === 'released'), `episode ${held.episode_id} finished on another host: ${JSON.stringify(caught)}`).toBe(true);

    // The dead host's sandbox (its lease superseded by the rebuild) is removed by the survivor's reaper: its next pass, ≤ 60 s.
    const t3 = Date.now();
    await eventually('every container of the run to be gone', 6 * MIN, async () => ((await runContainers(runId)).length === 0 ? true : undefined));
    timings.killRunContainersGoneAfterEnd = since(t3);
    // And every container the victim made, its pre-warmed pool too (no run label): their rows are
    // no longer extended by anyone, so the survivors' reapers remove them (pending TTL + a pass).
    await eventually("every container of the killed worker's lease manager to be gone", 6 * MIN, async () => ((await managerContainers(victimManager)).length === 0 ? true : undefined));
    timings.killRunVictimContainersGoneAfterEnd = since(t3);
    runs.push({
      kind: 'rollout worker killed',
      runId,
      seconds: timings.killRun,
      victim: { container: victim!.name, host: held.host, manager: victimManager, episode: held.episode_id, killedAfterSec: timings.killAfterStart, restartedByDocker: victimInfo.State.Running, restartCount: victimInfo.RestartCount },
      victimLeases: victimLeases.map((l) => l.status),
      // At the kill: the victim's containers (pool ones have no run) and its active rows (no container id = being created or pooled).
      victimContainersAtKill: victimContainersAtKill.map((c) => ({ name: c.Names[0], run: c.Labels[Labels.run] ?? '', state: c.State })),
      victimActiveRowsAtKill: victimRowsAtKill.map((r) => ({ lease: r.id, episode: r.episode_id, pending: r.container_id === null })),
      victimContainersGoneAfterRunEndSec: timings.killRunVictimContainersGoneAfterEnd,
      containersGoneAfterRunEndSec: timings.killRunContainersGoneAfterEnd,
      ...summary,
    });
  }, 60 * MIN);
});

/** The compose rollout workers: container id, name, hostname (= its host id in leases and queues). */
async function rolloutContainers(): Promise<Array<{ id: string; name: string; hostname: string }>> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${PROJECT}`, 'com.docker.compose.service=rollout-worker'] } });
  return Promise.all(
    containers.map(async (c) => {
      const info = await docker.getContainer(c.Id).inspect();
      return { id: c.Id, name: info.Name.replace(/^\//, ''), hostname: info.Config.Hostname };
    }),
  );
}

const runContainers = (runId: string): Promise<Docker.ContainerInfo[]> => docker.listContainers({ all: true, filters: { label: [`${Labels.run}=${runId}`] } });
const managerContainers = (manager: string): Promise<Docker.ContainerInfo[]> =>
  manager ? docker.listContainers({ all: true, filters: { label: [`${Labels.manager}=${manager}`, `${Labels.scope}=${PROJECT}`] } }) : Promise.resolve([]);

/**
 * What every run must show: completed, each of its 4 episodes once (one row per task and sample,
 * completed, each assistant turn stored once), the scripted policy's rewards, every lease taken by a
 * compose rollout worker and none left active, one update step over the 4 episodes and its one
 * checkpoint (the trainer service's). Returns the counts.
 */
async function checkRun(runId: string): Promise<Record<string, unknown>> {
  const [runRow] = await query<{ status: string }>('select status from runs where id = $1', [runId]);
  expect(runRow?.status).toBe('completed');
  const episodes = await query<{ id: string; task_id: string; sample_idx: number; status: string; reward: number | null; infra_failures: number; turn_count: number }>(
    'select id, task_id, sample_idx, status, reward, infra_failures, turn_count from episodes where run_id = $1 order by task_id, sample_idx',
    [runId],
  );
  expect(episodes).toHaveLength(4);
  expect(new Set(episodes.map((e) => `${e.task_id}#${e.sample_idx}`)).size, 'one row per task and sample').toBe(4);
  for (const e of episodes) expect(e.status, e.id).toBe('completed');
  // Counted once: the episode's assistant turns as stored are the turns it counted (a turn replayed
  // after a rebuild or a retry is not stored twice).
  const assistant = await query<{ episode_id: string; n: string }>(
    "select t.episode_id, count(*) as n from turns t join episodes e on e.id = t.episode_id where e.run_id = $1 and t.role = 'assistant' group by t.episode_id",
    [runId],
  );
  const storedTurns = new Map(assistant.map((a) => [a.episode_id, Number(a.n)]));
  for (const e of episodes) expect(storedTurns.get(e.id) ?? 0, `assistant turns of ${e.id}`).toBe(e.turn_count);
  // The scripted policy solves on even episode seeds only: one solve and one failure per group.
  const byTask = new Map<string, number[]>();
  for (const e of episodes) byTask.set(e.task_id, [...(byTask.get(e.task_id) ?? []), Number(e.reward)]);
  expect(byTask.size).toBe(2);
  for (const [task, rewards] of byTask) expect([...rewards].sort(), task).toEqual([0, 1]);

  // Who did the work: every sandbox lease of the run was taken by a compose rollout worker.
  const rolloutHosts = new Set((await rolloutContainers()).map((c) => c.hostname));
  const leases = await query<{ host: string; status: string; n: string }>('select host, status, count(*) as n from sandbox_leases where run_id = $1 group by host, status order by host, status', [runId]);
  expect(leases.length).toBeGreaterThan(0);
  for (const l of leases) expect(rolloutHosts.has(l.host), `lease host ${l.host}`).toBe(true);
  const leasesByHost: Record<string, Record<string, number>> = {};
  for (const l of leases) leasesByHost[l.host] = { ...leasesByHost[l.host], [l.status]: Number(l.n) };
  console.log(`[${runId}] sandbox leases per rollout host: ${JSON.stringify(leasesByHost)}`);
  expect(leases.filter((l) => l.status === 'active')).toEqual([]);

  // The update was applied by the trainer service, once: one DAPO step over the 4 episodes, one checkpoint.
  const steps = await query<{ episode_ids: string[] }>('select episode_ids from update_steps where run_id = $1', [runId]);
  expect(steps).toHaveLength(1);
  expect([...steps[0]!.episode_ids].sort()).toEqual(episodes.map((e) => e.id).sort());
  const checkpoints = await query<{ id: string; kind: string }>('select id, kind from checkpoints where run_id = $1', [runId]);
  expect(checkpoints, 'one checkpoint written by the trainer service').toHaveLength(1);
  return {
    episodes: episodes.length,
    rewards: episodes.map((e) => Number(e.reward)),
    turns: episodes.map((e) => e.turn_count),
    infraFailures: episodes.map((e) => e.infra_failures),
    leasesByHost,
    updateSteps: steps.length,
    checkpoints: checkpoints.map((c) => c.id),
  };
}
