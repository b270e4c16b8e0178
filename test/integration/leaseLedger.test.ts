/**
 * Leases across processes on one Docker daemon: a lease manager in another process renews a lease
 * past its creation TTL (the container label's expiry); this process's reaper, given the database,
 * must keep that container and remove the one whose lease was not renewed. The last step shows
 * the database is what made the difference: the same reaper without it removes the renewed one too.
 * And the other way round: a lease the database says ended (superseded when its episode got a new
 * lease on another host, as when a rollout worker is killed) loses its container at the next
 * reaper pass although its label has not expired; the reaper without the database keeps it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Labels, reapOrphans, type SandboxLimits } from '../../activities/sandbox';
import { createDb, type DbHandle } from '../../db/client';
import { activeLeaseExpiries, endedLeaseIds, recordHeldLease } from '../../db/sandboxLeases';
import { ensureBaseImage } from '../../sandbox/images';
import { createTestDatabase, type TestDatabase } from '../harness/db';

const docker = new Docker();
const RUN = `test-lease-ledger-${process.pid}`;
const LEASE_TTL_SEC = 10;
const limits: SandboxLimits = { cpus: 0.5, memoryMiB: 256, pidsLimit: 64, outputLimitBytes: 8192, commandTimeoutSec: 30, user: '1000:1000' };

// Its own sandbox scope (the holder inherits it): reapers of other processes on a shared daemon,
// which judge by the label alone, leave these containers to this test.
const SCOPE = `lease-ledger-${process.pid}`;
const scopeBefore = process.env.SWERL_SANDBOX_SCOPE;
process.env.SWERL_SANDBOX_SCOPE = SCOPE;

let testDb: TestDatabase;
let handle: DbHandle;
const children: ChildProcess[] = [];

const mine = async (): Promise<Docker.ContainerInfo[]> =>
  (await docker.listContainers({ all: true, filters: { label: [Labels.managed + '=true'] } })).filter((c) => c.Labels[Labels.run]?.startsWith(RUN));

beforeAll(async () => {
  testDb = await createTestDatabase('lease_ledger');
  handle = createDb(testDb.url);
});

afterAll(async () => {
  if (scopeBefore === undefined) delete process.env.SWERL_SANDBOX_SCOPE;
  else process.env.SWERL_SANDBOX_SCOPE = scopeBefore;
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const c of await mine().catch(() => [])) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  await handle?.close();
  await testDb?.drop();
});

/** Starts a lease holder in another process; resolves with its two lease ids once both containers run. */
async function startHolder(image: string, run: string, ttlSec = LEASE_TTL_SEC): Promise<{ proc: ChildProcess; renewed: string; control: string }> {
  const script = `
    const Docker = require('dockerode');
    const { LeaseManager } = require('./activities/sandbox/leases');
    const { createDb } = require('./db/client');
    const { db } = createDb(process.env.LEDGER_URL);
    const mgr = new LeaseManager(new Docker(), { maxConcurrent: 2, prewarm: 0, leaseTtlSec: ${ttlSec}, ledger: { db, host: 'lease-ledger-test' } });
    const limits = JSON.parse(process.env.LIMITS);
    const spec = (episode) => ({ image: process.env.IMAGE, limits, labels: { run: process.env.RUN, episode } });
    (async () => {
      const renewed = await mgr.acquire(spec('renewed'));
      const control = await mgr.acquire(spec('control'));
      setInterval(() => mgr.renew(renewed.leaseId), 1000);
      console.log(JSON.stringify({ renewed: renewed.leaseId, control: control.leaseId }));
    })().catch((err) => { console.error(err); process.exit(1); });`;
  const proc = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
    cwd: process.cwd(),
    env: { ...process.env, IMAGE: image, RUN: run, LIMITS: JSON.stringify(limits), LEDGER_URL: testDb.url },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(proc);
  const ids = await new Promise<{ renewed: string; control: string }>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /\{"renewed":"[^"]+","control":"[^"]+"\}/.exec(out);
      if (m) resolve(JSON.parse(m[0]) as { renewed: string; control: string });
    });
    proc.on('exit', (code) => reject(new Error(`lease holder exited ${code} before reporting: ${out}`)));
  });
  return { proc, ...ids };
}

describe('a lease renewed in another process', () => {
  it('survives this process\'s reaper past its creation TTL; an unrenewed one does not', async () => {
    const image = await ensureBaseImage();
    // Should another process's reaper of the same scope (reading labels only) still remove a
    // container between its label expiry and our reaper pass, that run says nothing either way:
    // it is repeated, a bounded number of times.
    for (let attempt = 1; attempt <= 3; attempt++) {
      const run = `${RUN}-${attempt}`;
      const inRun = async (): Promise<Map<string, Docker.ContainerInfo>> =>
        new Map((await docker.listContainers({ all: true, filters: { label: [`${Labels.run}=${run}`] } })).map((c) => [c.Labels[Labels.leaseId]!, c]));
      const holder = await startHolder(image, run);
      const before = await inRun();
      expect([...before.keys()].sort()).toEqual([holder.control, holder.renewed].sort());
      const labelExpiry = Math.max(...[...before.values()].map((c) => Number(c.Labels[Labels.leaseExpires])));

      // The stored expiry is taken once the container runs, after its label's (seconds later on a
      // loaded machine): wait (on the clock, not on the holder) until both the labels' and the
      // control's stored expiry have passed.
      const controlStored = (await activeLeaseExpiries(handle.db, [holder.control])).get(holder.control) ?? labelExpiry;
      await new Promise((r) => setTimeout(r, Math.max(0, Math.max(labelExpiry, controlStored) + 1_000 - Date.now())));
      const now = Date.now();
      if ((await inRun()).size < 2) {
        console.log(`[lease-ledger] attempt ${attempt}: a foreign reaper removed the containers first; again`);
        holder.proc.kill('SIGKILL');
        continue;
      }
      const stored = await activeLeaseExpiries(handle.db, [holder.renewed, holder.control]);
      expect(stored.get(holder.renewed)).toBeGreaterThan(now);
      expect(stored.get(holder.control)).toBeLessThan(now);

      const reaped = await reapOrphans(docker, now, { db: handle.db, run });
      expect(reaped.map((r) => [r.leaseId, r.reason])).toEqual([[holder.control, 'lease-expired']]);
      const after = await inRun();
      if (!after.has(holder.renewed)) {
        // Not ours (our reaper's list above is exact): a foreign reaper took it meanwhile.
        console.log(`[lease-ledger] attempt ${attempt}: a foreign reaper removed the renewed container after our pass; again`);
        holder.proc.kill('SIGKILL');
        continue;
      }
      // The control's removal may have been started by its own holder's sweep (409): the reaper waits for it to end.
      expect([...after.keys()]).toEqual([holder.renewed]);
      expect(after.get(holder.renewed)!.State).toBe('running');

      // The holder dies; its label expired long ago, so a reaper without the database removes it at once.
      holder.proc.kill('SIGKILL');
      const withoutDb = await reapOrphans(docker, Date.now(), { run });
      expect(withoutDb.map((r) => r.leaseId)).toEqual([holder.renewed]);
      expect((await inRun()).size).toBe(0);
      return;
    }
    throw new Error('every attempt was disturbed by a foreign reaper on this shared daemon');
  }, 240_000);
});

describe('a lease superseded by a newer lease of its episode', () => {
  it("loses its container at the next reaper pass, long before its label's expiry", async () => {
    const image = await ensureBaseImage();
    const run = `${RUN}-superseded`;
    const inRun = async (): Promise<string[]> =>
      (await docker.listContainers({ all: true, filters: { label: [`${Labels.run}=${run}`] } })).map((c) => c.Labels[Labels.leaseId]!).sort();
    // A holder in another process with a one-hour TTL, killed like a lost rollout worker.
    const holder = await startHolder(image, run, 3600);
    holder.proc.kill('SIGKILL');
    expect(await inRun()).toEqual([holder.control, holder.renewed].sort());
    // Its episode "control" is rebuilt on another host: the new lease supersedes the old one.
    await recordHeldLease(handle.db, { id: `${run}-rebuilt`, host: 'another-host', image, containerId: 'elsewhere', expiresAt: new Date(Date.now() + 3_600_000), episodeId: 'control' });
    expect([...(await endedLeaseIds(handle.db, [holder.control, holder.renewed]))]).toEqual([holder.control]);

    // Without the database, the labels (an hour to go) keep both.
    expect(await reapOrphans(docker, Date.now(), { run })).toEqual([]);
    const reaped = await reapOrphans(docker, Date.now(), { db: handle.db, run });
    expect(reaped.map((r) => [r.leaseId, r.reason])).toEqual([[holder.control, 'lease-ended']]);
    expect(await inRun()).toEqual([holder.renewed]);
  }, 120_000);
});
