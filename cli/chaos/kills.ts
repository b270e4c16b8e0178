/**
 * Killing one component of the disturbed world and restarting it as an operator's supervisor would
 * (after the plan's seeded delay), and measuring how long the run took to make progress again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { Labels } from '../../activities/sandbox/types';
import { devStatus, killComponent, startComponent } from '../dev/stack';
import { progressCount } from './outcome';
import type { PrivateDockerd } from './privateDocker';
import type { ChaosComponent, PlannedKill } from './schedule';
import type { World } from './world';

export interface KillRecord {
  index: number;
  component: ChaosComponent;
  /** Seconds after the run started. */
  atSec: number;
  /** The process (or, for a sandbox, the container's init process) that was killed. */
  pid: number | null;
  target?: string;
  restartDelaySec: number;
  /** Seconds from the kill until the component was back (ready/healthy); null for a sandbox (the run rebuilds it). */
  restoredSec: number | null;
  /** Seconds from the kill until the run's progress count (turns, finished episodes, applied steps, iterations) grew. */
  recoverySec: number | null;
  progressAtKill: number | null;
  skipped?: string;
  errors: string[];
}

export interface KillContext {
  world: World;
  dockerd: PrivateDockerd;
  runId: string;
  t0: number;
}

const RESTART_ATTEMPTS = 6;
const SANDBOX_WAIT_MS = 120_000;

/** Restart with retries: a supervisor keeps trying (a port may still be held for a moment after a SIGKILL). */
async function restart(what: string, start: () => Promise<unknown>, errors: string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      return;
    } catch (err) {
      errors.push(`restart ${attempt} of ${what}: ${(err as Error).message.split('\n')[0]}`);
      if (attempt >= RESTART_ATTEMPTS) throw err;
      await sleep(5_000);
    }
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([p.catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function readProgress(db: pg.Pool, runId: string): Promise<number | undefined> {
  return withTimeout(progressCount(db, runId), 10_000);
}

/** A running sandbox container of the run on the private daemon, chosen by the plan's draw. */
async function pickSandbox(ctx: KillContext, pick: number): Promise<{ id: string; pid: number } | undefined> {
  // Between rollouts (a training step) there is none: wait for the next iteration's episodes.
  const deadline = Date.now() + SANDBOX_WAIT_MS;
  for (;;) {
    const list = await ctx.dockerd.docker.listContainers({ filters: { label: [`${Labels.run}=${ctx.runId}`], status: ['running'] } }).catch(() => []);
    if (list.length > 0) {
      const ids = list.map((c) => c.Id).sort();
      const id = ids[Math.floor(pick * ids.length)]!;
      const info = await ctx.dockerd.docker.getContainer(id).inspect().catch(() => undefined);
      return { id, pid: info?.State?.Pid ?? 0 };
    }
    if (Date.now() > deadline) return undefined;
    await sleep(1_000);
  }
}

/** Kills `plan.component`, restarts it after the plan's delay; resolves once it is back. */
export async function killAndRestore(ctx: KillContext, plan: PlannedKill): Promise<KillRecord> {
  const { world, dockerd } = ctx;
  const errors: string[] = [];
  const progressAtKill = (await readProgress(world.db, ctx.runId)) ?? null;
  const record: KillRecord = {
    index: plan.index,
    component: plan.component,
    atSec: 0,
    pid: null,
    restartDelaySec: plan.restartDelaySec,
    restoredSec: null,
    recoverySec: null,
    progressAtKill,
    errors,
  };
  const killedAt = () => {
    record.atSec = (Date.now() - ctx.t0) / 1000;
    return Date.now();
  };
  const delay = () => sleep(plan.restartDelaySec * 1000);
  let at = Date.now();
  switch (plan.component) {
    case 'rollout-worker':
    case 'orchestration-worker':
    case 'trainer-worker':
    case 'policy-server': {
      const proc = world.processes[plan.component];
      at = killedAt();
      record.pid = (await proc.kill('SIGKILL')) ?? null;
      await delay();
      await restart(plan.component, () => proc.start(), errors);
      break;
    }
    case 'temporal':
    case 'postgres': {
      const env = world.spec.stackEnv;
      const name = plan.component;
      record.pid = (await devStatus({ env })).find((c) => c.name === name)?.pid ?? null;
      at = killedAt();
      await killComponent(name, 'SIGKILL', { env });
      await delay();
      await restart(name, () => startComponent(name, { env }), errors);
      break;
    }
    case 'dockerd': {
      at = killedAt();
      record.pid = (await dockerd.kill()) ?? null;
      await delay();
      await restart('dockerd', () => dockerd.start(), errors);
      break;
    }
    case 'sandbox': {
      const target = await pickSandbox(ctx, plan.pick);
      at = killedAt();
      if (!target) {
        record.skipped = `no running sandbox container of the run within ${SANDBOX_WAIT_MS / 1000} s`;
        return record;
      }
      record.target = target.id.slice(0, 12);
      record.pid = target.pid || null;
      await ctx.dockerd.docker
        .getContainer(target.id)
        .kill()
        .catch((err: Error) => errors.push(`docker kill: ${err.message}`));
      // Nothing to restart: the episode rebuilds its sandbox from its persisted turns.
      return record;
    }
  }
  record.restoredSec = (Date.now() - at) / 1000;
  return record;
}

/** Polls the run's progress until it grows past the value at the kill; fills record.recoverySec. */
export async function trackRecovery(ctx: KillContext, record: KillRecord, deadlineMs: number): Promise<void> {
  const killedAt = ctx.t0 + record.atSec * 1000;
  let baseline = record.progressAtKill;
  while (Date.now() < deadlineMs) {
    const now = await readProgress(ctx.world.db, ctx.runId);
    if (now !== undefined) {
      if (baseline === null) baseline = now; // unknown at the kill (Postgres was down): the next step counts
      else if (now > baseline) {
        record.recoverySec = (Date.now() - killedAt) / 1000;
        return;
      }
    }
    await sleep(1_000);
  }
}
