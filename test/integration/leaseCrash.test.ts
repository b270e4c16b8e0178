/**
 * A sandbox host killed while Docker creates an episode's container (issue #18: the compose kill
 * run's leaked sandbox). The dying host's lease manager is stopped for good right after `docker
 * create` returned, before it handed the lease out; it also keeps a pre-warmed pool container. A
 * live host holds a lease (taken from its pool, with the run config's TTL, not its own) and keeps a
 * refilled pool container. Every label says an hour or more. The lease rows are written before the
 * containers exist and extended by their manager while the container is created or pooled, so
 * once the dying host's rows are overdue a reaper with the database removes its three containers
 * (the half-created sandbox, its archive source, its pool container) and leaves the live host's
 * two running. Before the fix the half-created sandbox and the pool container had no row and were
 * judged by their labels: the reaper kept them for an hour.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import Docker from 'dockerode';
import { inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Labels, reapOrphans, type SandboxLimits } from '../../activities/sandbox';
import { createDb, type DbHandle } from '../../db/client';
import { activeLeaseExpiries, endedLeaseIds } from '../../db/sandboxLeases';
import { sandboxLeases } from '../../db/schema';
import { ensureBaseImage } from '../../sandbox/images';
import { createTestDatabase, type TestDatabase } from '../harness/db';

const docker = new Docker();
const RUN = `test-lease-crash-${process.pid}`;
const limits: SandboxLimits = { cpus: 0.5, memoryMiB: 256, pidsLimit: 64, outputLimitBytes: 8192, commandTimeoutSec: 30, user: '1000:1000' };
/** The dying host's pending rows outlive its last extension by this much (the test waits for it). */
const DYING_PENDING_TTL_SEC = 4;
/** The live host's: long enough that a stalled process on a loaded machine still counts as live. */
const LIVE_PENDING_TTL_SEC = 60;
const HOUR_MS = 3_600_000;

// Its own scope (the hosts inherit it): no other reaper on a shared daemon judges these containers,
// and this file's reaper passes see only them.
const SCOPE = `lease-crash-${process.pid}`;
const scopeBefore = process.env.SWERL_SANDBOX_SCOPE;
process.env.SWERL_SANDBOX_SCOPE = SCOPE;

let testDb: TestDatabase;
let handle: DbHandle;
const children: ChildProcess[] = [];

const ours = async (): Promise<Docker.ContainerInfo[]> => docker.listContainers({ all: true, filters: { label: [`${Labels.managed}=true`, `${Labels.scope}=${SCOPE}`] } });

let image: string;

beforeAll(async () => {
  // Built by earlier files in a full run; the first build of a fresh machine takes minutes (hook timeout).
  image = await ensureBaseImage();
  testDb = await createTestDatabase('lease_crash');
  handle = createDb(testDb.url);
});

afterAll(async () => {
  if (scopeBefore === undefined) delete process.env.SWERL_SANDBOX_SCOPE;
  else process.env.SWERL_SANDBOX_SCOPE = scopeBefore;
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const c of await ours().catch(() => [])) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  await handle?.close();
  await testDb?.drop();
});

interface HostReport {
  manager: string;
  /** live: the lease it holds. */
  held?: string;
  /** dying: the container `docker create` returned before the host stopped. */
  created?: string;
}

/**
 * A sandbox host in another process. `live`: fills its pool (one container), takes a lease from it
 * with a one-hour TTL (its own is 30 s), waits for the pool's refill, then idles. `dying`: fills
 * its pool, then acquires with other limits (no pool container fits) and stops for good inside
 * `docker create` of the sandbox (the archive source exists, the sandbox was just created), as a
 * process SIGKILLed there would: nothing after that line of acquire runs.
 */
async function startHost(role: 'live' | 'dying', image: string): Promise<{ proc: ChildProcess; report: HostReport }> {
  const script = `
    const Docker = require('dockerode');
    const { LeaseManager } = require('./activities/sandbox/leases');
    const { createDb } = require('./db/client');
    const { db } = createDb(process.env.LEDGER_URL);
    const docker = new Docker();
    let stopInCreate = false;
    const create = docker.createContainer.bind(docker);
    docker.createContainer = async (opts) => {
      const c = await create(opts);
      if (stopInCreate && !opts.name.endsWith('-src')) {
        console.log(JSON.stringify({ report: { manager: mgr.id, created: c.id } }));
        await new Promise(() => undefined);
      }
      return c;
    };
    const role = process.env.ROLE;
    const mgr = new LeaseManager(docker, {
      maxConcurrent: 2, prewarm: 1, leaseTtlSec: 30, poolMaxIdleSec: 3600,
      ledger: { db, host: 'lease-crash-' + role, pendingTtlSec: Number(process.env.PENDING_TTL_SEC) },
    });
    const limits = JSON.parse(process.env.LIMITS);
    const spec = { image: process.env.IMAGE, limits };
    (async () => {
      await mgr.prewarm(spec);
      if (role === 'live') {
        const lease = await mgr.acquire({ ...spec, labels: { run: process.env.RUN, episode: 'live' }, leaseTtlSec: 3600 });
        if (!lease.fromPool) throw new Error('the live lease did not come from the pool');
        await mgr.prewarm(spec);
        console.log(JSON.stringify({ report: { manager: mgr.id, held: lease.leaseId } }));
      } else {
        stopInCreate = true;
        await mgr.acquire({ image: spec.image, limits: { ...limits, pidsLimit: limits.pidsLimit + 1 }, labels: { run: process.env.RUN, episode: 'dying' }, leaseTtlSec: 3600 });
        throw new Error('acquire returned past the create that never returns');
      }
    })().catch((err) => { console.error(err); process.exit(1); });`;
  const proc = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
    cwd: process.cwd(),
    env: {
      ...process.env,
      ROLE: role,
      IMAGE: image,
      RUN,
      LIMITS: JSON.stringify(limits),
      LEDGER_URL: testDb.url,
      PENDING_TTL_SEC: String(role === 'live' ? LIVE_PENDING_TTL_SEC : DYING_PENDING_TTL_SEC),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(proc);
  const report = await new Promise<HostReport>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /\{"report":(\{[^}]*\})\}/.exec(out);
      if (m) resolve(JSON.parse(m[1]!) as HostReport);
    });
    proc.on('exit', (code) => reject(new Error(`${role} host exited ${code} before reporting: ${out}`)));
  });
  return { proc, report };
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('a sandbox host killed between docker create and the hand-out of the lease', () => {
  it("loses its half-created sandbox and its pool container to another process's reaper once its rows are overdue; a live host keeps its lease and pool", async () => {
    const [live, dying] = await Promise.all([startHost('live', image), startHost('dying', image)]);

    // Who has what, by lease id (the labels every reaper sees).
    const byLease = new Map<string, Docker.ContainerInfo[]>();
    for (const c of await ours()) byLease.set(c.Labels[Labels.leaseId]!, [...(byLease.get(c.Labels[Labels.leaseId]!) ?? []), c]);
    const leasesOf = (manager: string): string[] => [...byLease].filter(([, cs]) => cs.every((c) => c.Labels[Labels.manager] === manager)).map(([id]) => id).sort();
    const liveLeases = leasesOf(live.report.manager);
    const dyingLeases = leasesOf(dying.report.manager);
    expect(liveLeases.length + dyingLeases.length, 'every container of the scope is one of the two hosts').toBe(byLease.size);
    const creating = [...byLease].find(([, cs]) => cs.some((c) => c.Id === dying.report.created))?.[0];
    expect(creating, 'the half-created sandbox carries a lease id').toBeDefined();
    // The dying host: its pool container, and the sandbox being created with its archive source (2 containers).
    expect(dyingLeases).toHaveLength(2);
    expect(byLease.get(creating!)!.map((c) => c.Names[0]).sort()).toEqual([`/swerl-${creating}`, `/swerl-${creating}-src`]);
    // The live host: the lease it holds and the pool container that replaced it.
    expect(liveLeases).toHaveLength(2);
    expect(liveLeases).toContain(live.report.held);
    // Every label is an hour or more ahead: by the labels alone nothing here is due.
    const start = Date.now();
    for (const cs of byLease.values()) for (const c of cs) expect(Number(c.Labels[Labels.leaseExpires])).toBeGreaterThan(start + HOUR_MS - 120_000);

    // The rows exist (written before the containers): the half-created sandbox's and both pools' without a container id.
    const rows = new Map((await handle.db.select().from(sandboxLeases).where(inArray(sandboxLeases.id, [...byLease.keys()]))).map((r) => [r.id, r]));
    expect([...rows.keys()].sort()).toEqual([...byLease.keys()].sort());
    for (const [id, row] of rows) {
      expect(row.status, id).toBe('active');
      expect(row.containerId === null, id).toBe(id !== live.report.held);
    }
    expect(rows.get(creating!)!.episodeId).toBe('dying');
    // The held lease's expiry is its own TTL (an hour), not the host's 30 s.
    expect(rows.get(live.report.held!)!.episodeId).toBe('live');
    expect(rows.get(live.report.held!)!.expiresAt.getTime()).toBeGreaterThan(start + HOUR_MS - 120_000);

    // Alive, the dying host keeps extending its pending rows past their 4 s.
    const first = rows.get(creating!)!.expiresAt.getTime();
    await until('the dying host to extend its pending row', 60_000, async () =>
      ((await activeLeaseExpiries(handle.db, [creating!])).get(creating!) ?? 0) > first ? true : undefined,
    );

    // Killed for good. A reaper that reads only labels keeps everything (an hour to go)...
    dying.proc.kill('SIGKILL');
    expect(await reapOrphans(docker, Date.now())).toEqual([]);
    // ...one with the database removes the dying host's containers once its rows are overdue.
    await until(`the dying host's rows to be overdue (${DYING_PENDING_TTL_SEC} s after its last extension)`, 60_000, async () => {
      const stored = await activeLeaseExpiries(handle.db, dyingLeases);
      return dyingLeases.every((id) => (stored.get(id) ?? 0) < Date.now()) ? true : undefined;
    });
    const reaped = await reapOrphans(docker, Date.now(), { db: handle.db });
    const expected = dyingLeases.flatMap((id) => byLease.get(id)!.map(() => [id, 'lease-expired']));
    expect(reaped.map((r) => [r.leaseId, r.reason]).sort()).toEqual(expected.sort());
    expect(reaped).toHaveLength(3);

    const left = await ours();
    expect(left.map((c) => c.Labels[Labels.leaseId]).sort()).toEqual(liveLeases);
    for (const c of left) expect(c.State, c.Names[0]).toBe('running');
    // Their rows end with them; the live host's stay active.
    expect([...(await endedLeaseIds(handle.db, [...byLease.keys()]))].sort()).toEqual(dyingLeases);

    // A second pass finds nothing more to do.
    expect(await reapOrphans(docker, Date.now(), { db: handle.db })).toEqual([]);
    live.proc.kill('SIGKILL');
  }, 180_000);
});
