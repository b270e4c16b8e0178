/**
 * The chaos soak: the toy preset (scripted policy, real trainer, real sandboxes) run twice under
 * one run id — once in the disturbed world, where a seeded plan kills a component every
 * ~45–60 s and restarts it, and once undisturbed in a reference world — then both outcomes are
 * compared over the iterations the disturbed run completed.
 *
 * Sizing: stage rl-stage1 is given far more iterations than can run, and at the end of the soak
 * the disturbed run is paused (which takes effect at the next iteration boundary); the reference
 * is held at most one iteration ahead (pause/resume at boundaries, so it does not take the CPU the
 * disturbed world needs) and paused once it has completed every iteration the disturbed run did.
 * Both are then aborted, and every record of the completed iterations must be equal.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { Labels } from '../../activities/sandbox/types';
import { importTasks } from '../../activities/tasks';
import { loadRunConfig } from '../../config/load';
import { parseRunConfig, type RunConfig } from '../../core/config';
import { ensureBaseImage, ensureTaskImage } from '../../sandbox/images';
import { devDown, stackSettings } from '../dev/stack';
import { REPO_ROOT } from '../dev/settings';
import { countsInScope, diffOutcomes, EXCLUDED, type Difference } from './compare';
import { killAndRestore, trackRecovery, type KillContext, type KillRecord } from './kills';
import { readOutcome } from './outcome';
import { PrivateDockerd, type ShimCleanup } from './privateDocker';
import { killPlan, type ChaosComponent } from './schedule';
import type { UnplannedExit } from './supervisor';
import { World } from './world';

export interface SoakOptions {
  minutes: number;
  seed: number;
  intervalSec: [number, number];
  restartDelaySec: [number, number];
  components: readonly ChaosComponent[];
  /** How many train tasks of the toy suite the run uses. */
  tasks: number;
  /** Where the JSON report goes (default <soak dir>/report.json). */
  report?: string;
  /** Fail unless at least this many different kinds of component were killed (the CI soak asks for 3). */
  minKinds: number;
  log: (line: string) => void;
}

export interface SoakReport {
  command: string;
  runId: string;
  seed: number;
  minutes: number;
  startedAt: string;
  finishedAt: string;
  /** Seconds of the disturbed phase (kills) and of the whole soak. */
  chaosSec: number;
  totalSec: number;
  config: { tasks: string[]; intervalSec: [number, number]; restartDelaySec: [number, number]; components: readonly ChaosComponent[]; deviationsFromToy: string[] };
  kills: KillRecord[];
  killsByComponent: Record<string, number>;
  unplannedExits: Array<UnplannedExit & { world: string; atSec: number }>;
  runs: Record<'chaos' | 'reference', { phaseAtEnd: string | undefined; completedIterations: string[]; infraFailures: number }>;
  comparison: {
    scope: string[];
    compared: Record<string, number>;
    excluded: typeof EXCLUDED;
    differenceCount: number;
    differences: Difference[];
  };
  /** `strayShims`: shims of containers the private dockerd does not list (dockerd killed mid-create), cleaned at the end. */
  leaks: { chaos: number; reference: number; orphansReapedWithinSec: number | null; strayShims: ShimCleanup };
  verdict: 'pass' | 'fail';
  reasons: string[];
}

const MINUTE = 60_000;

/** The run config: the toy preset on a task subset, rl-stage1 open-ended; the deviations are reported. */
function chaosConfig(tasksFile: string): { config: RunConfig; deviations: string[] } {
  const toy = loadRunConfig('toy');
  const deviations = [
    `tasks.suite: the first train tasks of the toy suite (${path.basename(path.dirname(tasksFile))}/tasks.jsonl under the soak dir)`,
    'rl-stage1.iterations: 100000 — open-ended; the soak pauses the run at an iteration boundary when its time is up',
    'sandbox.prewarm 0 and leaseTtlSec 300: no pool containers, and an orphan of a SIGKILLed rollout worker is due for the reaper within minutes (the leak check waits for it)',
    'sandbox.maxRebuilds 10: a container killed by the soak (or by a dockerd kill) is an outside kill, not the agent killing its own sandbox',
    'timeouts.heartbeatSec 10, retry.maximumIntervalMs 10000: a killed worker is noticed and retried within seconds',
  ];
  const config = parseRunConfig(
    {
      ...toy,
      tasks: { ...toy.tasks, suite: tasksFile },
      stages: toy.stages.map((s) => (s.name === 'rl-stage1' ? { ...s, iterations: 100_000 } : s)),
      sandbox: { ...toy.sandbox, prewarm: 0, leaseTtlSec: 300, maxRebuilds: 10 },
      timeouts: { ...toy.timeouts, heartbeatSec: 10 },
      retry: { ...toy.retry, maximumIntervalMs: 10_000 },
    },
    'chaos config',
  );
  return { config, deviations };
}

/** The first `n` train tasks of the toy suite, repo paths made absolute, as <dir>/toy/tasks.jsonl (suite "toy"). */
function writeTaskSubset(dir: string, n: number): { file: string; ids: string[] } {
  const suite = path.join(REPO_ROOT, 'tasks', 'toy', 'tasks.jsonl');
  const rows = readFileSync(suite, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((t) => t.split === 'train')
    .slice(0, n)
    .map((t): Record<string, unknown> => ({ ...t, repo_path: path.resolve(path.dirname(suite), String(t.repo_path)) }));
  const file = path.join(dir, 'toy', 'tasks.jsonl');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return { file, ids: rows.map((r) => String(r.instance_id)) };
}

/** Builds (or finds) the tasks' images on the shared daemon and copies them into the private one. */
async function prepareImages(dockerd: PrivateDockerd, tasksFile: string, log: (l: string) => void): Promise<void> {
  const shared = new Docker();
  const imported = await importTasks(tasksFile, { validate: false });
  const tags = [await ensureBaseImage({ docker: shared })];
  for (const t of imported.accepted) {
    tags.push(await ensureTaskImage({ instanceId: t.instanceId, repoDir: t.repoDir, baseCommit: t.baseCommit, setupScript: t.setup ?? undefined }, { docker: shared }));
  }
  const copied = await dockerd.loadImagesFrom(process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock', tags);
  log(`images: ${tags.length} on the private dockerd (${copied.length} copied from the shared daemon)`);
}

async function managedContainers(docker: Docker, label: string): Promise<number> {
  return (await docker.listContainers({ all: true, filters: { label: [label] } })).length;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, log: (l: string) => void): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return true;
    if (Date.now() > deadline) {
      log(`gave up waiting for ${what} after ${Math.round(timeoutMs / 1000)} s`);
      return false;
    }
    await sleep(2_000);
  }
}

async function sumInfraFailures(world: World, scope: Set<string>): Promise<number> {
  const { rows } = await world.db.query<{ stage: string; iteration: number; n: number }>(
    'select stage, iteration, sum(infra_failures)::int as n from episodes where run_id = $1 group by stage, iteration',
    [world.spec.runId],
  );
  return rows.filter((r) => scope.has(`${r.stage}/${r.iteration}`)).reduce((a, r) => a + r.n, 0);
}

function referenceStackEnv(home: string): NodeJS.ProcessEnv {
  const own = stackSettings();
  return {
    ...process.env,
    SWERL_HOME: path.join(home, 'reference-stack'),
    SWERL_TEMPORAL_PORT: String(own.temporalPort + 20_000),
    SWERL_TEMPORAL_UI_PORT: String(own.temporalUiPort + 21_000),
    SWERL_PG_PORT: String(own.pgPort + 20_000),
  };
}

export async function runSoak(opts: SoakOptions): Promise<SoakReport> {
  const log = opts.log;
  const started = new Date();
  const stamp = started.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const runId = `chaos-s${opts.seed}-${stamp}`;
  const home = path.join(stackSettings().stateDir, 'chaos');
  const soakDir = path.join(home, runId);
  mkdirSync(soakDir, { recursive: true });
  log(`soak ${runId}: ${opts.minutes} min, seed ${opts.seed}; files in ${soakDir}`);

  const { file: tasksFile, ids: taskIds } = writeTaskSubset(soakDir, opts.tasks);
  const { config, deviations } = chaosConfig(tasksFile);
  const configFile = path.join(soakDir, 'config.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');

  const dockerd = new PrivateDockerd(path.join(home, 'dockerd'));
  const unplanned: SoakReport['unplannedExits'] = [];
  let t0 = Date.now();
  const onExit = (world: string) => (e: UnplannedExit) => {
    unplanned.push({ ...e, world, atSec: (e.atMs - t0) / 1000 });
    log(`[${world}] ${e.name} (pid ${e.pid}) exited on its own (${e.how}); the supervisor restarts it`);
  };
  // Below the ephemeral range (32768+), so that no random port can take it between a kill and the restart.
  const policyPortBase = stackSettings().pgPort + 21_000;
  const worlds: World[] = [];
  const kills: KillRecord[] = [];
  const reasons: string[] = [];
  const refEnv = referenceStackEnv(home);
  let report: SoakReport | undefined;
  try {
    await dockerd.start();
    log(`private dockerd pid ${dockerd.pid()} on ${dockerd.host}`);
    await prepareImages(dockerd, tasksFile, log);
    const worldSpec = (name: 'chaos' | 'reference', stackEnv: NodeJS.ProcessEnv, dockerHost: string, policyPort: number) => ({
      name,
      stackEnv,
      dockerHost,
      dir: path.join(soakDir, name),
      runId,
      configFile,
      tasksFile,
      policyPort,
      onUnplannedExit: onExit(name),
    });
    const [chaos, reference] = await Promise.all([
      World.create(worldSpec('chaos', process.env, dockerd.host, policyPortBase)),
      World.create(worldSpec('reference', refEnv, process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock', policyPortBase + 1)),
    ]);
    worlds.push(chaos, reference);
    log(`worlds up: chaos on Temporal ${chaos.endpoints.temporalAddress}, reference on ${reference.endpoints.temporalAddress}`);

    await Promise.all([chaos.startRun(config), reference.startRun(config)]);
    t0 = Date.now();
    const ctx: KillContext = { world: chaos, dockerd, runId, t0 };
    const chaosEnd = t0 + opts.minutes * MINUTE;
    log(`runs started; killing until ${new Date(chaosEnd).toISOString().slice(11, 19)} UTC`);

    // ---- the disturbed phase
    const plan = killPlan(opts.seed, { intervalSec: opts.intervalSec, restartDelaySec: opts.restartDelaySec, components: opts.components });
    const recoveries: Promise<void>[] = [];
    let referenceHeld = false;
    let nextKill = plan.next().value!;
    let nextAt = t0 + nextKill.afterSec * 1000;
    let lastLine = 0;
    for (;;) {
      const now = Date.now();
      if (now >= chaosEnd) break;
      const [chaosDone, refDone] = await Promise.all([chaos.completedIterations(), reference.completedIterations()]);
      if (chaosDone && refDone) {
        if (!referenceHeld && refDone.length > chaosDone.length + 1) {
          await reference.signal('pause', 'held at most one iteration ahead of the disturbed run').then(() => (referenceHeld = true), () => undefined);
        } else if (referenceHeld && refDone.length <= chaosDone.length + 1) {
          await reference.signal('resume', 'the disturbed run caught up').then(() => (referenceHeld = false), () => undefined);
        }
      }
      if (now - lastLine > 30_000) {
        lastLine = now;
        log(`  t=${Math.round((now - t0) / 1000)} s: iterations done chaos ${chaosDone?.length ?? '?'}, reference ${refDone?.length ?? '?'}${referenceHeld ? ' (held)' : ''}; kills ${kills.length}`);
      }
      const phase = (await chaos.status())?.phase;
      if (phase === 'failed' || phase === 'completed' || phase === 'aborted') {
        const failure = (await chaos.status())?.failure;
        reasons.push(`the disturbed run ended early (${phase}${failure ? `: ${failure.code} ${failure.message}` : ''})`);
        log(reasons.at(-1)!);
        break;
      }
      if (now < nextAt) {
        await sleep(Math.min(2_000, nextAt - now));
        continue;
      }
      const record = await killAndRestore(ctx, nextKill).catch((err: Error) => {
        reasons.push(`kill ${nextKill.index} (${nextKill.component}) could not be restored: ${err.message.split('\n')[0]}`);
        log(reasons.at(-1)!);
        return undefined;
      });
      if (!record) break;
      kills.push(record);
      log(
        `  kill ${record.index} at ${record.atSec.toFixed(0)} s: ${record.component}${record.pid ? ` pid ${record.pid}` : ''}` +
          `${record.skipped ? ` skipped (${record.skipped})` : ''}${record.restoredSec !== null ? `, back after ${record.restoredSec.toFixed(1)} s` : ''}`,
      );
      recoveries.push(trackRecovery(ctx, record, Date.now() + 20 * MINUTE));
      nextKill = plan.next().value!;
      nextAt = t0 + record.atSec * 1000 + nextKill.afterSec * 1000;
    }
    const chaosSec = (Date.now() - t0) / 1000;

    // ---- drain: pause both at an iteration boundary with the reference covering the disturbed run
    log(`disturbed phase over after ${chaosSec.toFixed(0)} s and ${kills.length} kills; pausing the runs at the next iteration boundary`);
    for (const p of Object.values(chaos.processes)) await p.settled();
    await chaos.signal('pause', 'chaos soak time is up').catch((err: Error) => reasons.push(`pause of the disturbed run failed: ${err.message}`));
    await waitFor('the disturbed run to pause at an iteration boundary', () => chaos.quiescent(), 45 * MINUTE, log);
    const scopeList = (await chaos.completedIterations()) ?? [];
    const scope = new Set(scopeList);
    if (referenceHeld) await reference.signal('resume', 'catching up with the disturbed run').catch(() => undefined);
    await waitFor(
      'the reference to complete the same iterations',
      async () => {
        const done = new Set((await reference.completedIterations()) ?? []);
        return scopeList.every((k) => done.has(k));
      },
      45 * MINUTE,
      log,
    );
    await reference.signal('pause', 'the disturbed run is paused').catch(() => undefined);
    await waitFor('the reference to pause at an iteration boundary', () => reference.quiescent(), 45 * MINUTE, log);
    const phases = { chaos: (await chaos.status())?.phase, reference: (await reference.status())?.phase };
    for (const w of worlds) await w.signal('abort', 'chaos soak finished').catch(() => undefined);
    await Promise.all(worlds.map((w) => waitFor(`${w.spec.name} run to end`, async () => (await w.status())?.phase === 'aborted', 10 * MINUTE, log)));
    await Promise.all(recoveries);

    // ---- leaks: the reaper of the live rollout worker must clear every orphan by lease expiry
    const leakWaitStart = Date.now();
    const cleared = await waitFor(
      'orphaned sandboxes to be reaped',
      async () => (await managedContainers(dockerd.docker, `${Labels.managed}=true`)) === 0,
      (config.sandbox.leaseTtlSec + 240) * 1000,
      log,
    );
    const orphansReapedWithinSec = cleared ? (Date.now() - leakWaitStart) / 1000 : null;
    const infraFailures = { chaos: await sumInfraFailures(chaos, scope), reference: await sumInfraFailures(reference, scope) };
    for (const w of worlds) await w.close();
    const leaks = {
      chaos: await managedContainers(dockerd.docker, `${Labels.managed}=true`),
      reference: await managedContainers(new Docker(), `${Labels.run}=${runId}`),
      orphansReapedWithinSec,
      strayShims: await dockerd.cleanStrayShims(),
    };
    log(`stray shims: ${JSON.stringify(leaks.strayShims)}`);

    // ---- compare
    const [refOutcome, chaosOutcome] = await Promise.all([
      readOutcome(reference.databaseUrl, reference.checkpointsRoot, runId),
      readOutcome(chaos.databaseUrl, chaos.checkpointsRoot, runId),
    ]);
    const missing = scopeList.filter((k) => !refOutcome.completedIterations.includes(k));
    if (missing.length > 0) reasons.push(`the reference did not complete ${missing.join(', ')}`);
    const differences = diffOutcomes(refOutcome, chaosOutcome, scope);
    const byComponent: Record<string, number> = {};
    for (const k of kills) if (!k.skipped) byComponent[k.component] = (byComponent[k.component] ?? 0) + 1;
    if (scope.size === 0) reasons.push('the disturbed run completed no iteration: nothing to compare');
    if (differences.length > 0) reasons.push(`${differences.length} difference(s) between the disturbed run and the reference`);
    if (Object.keys(byComponent).length < opts.minKinds) reasons.push(`only ${Object.keys(byComponent).length} kind(s) of component killed, fewer than --min-kinds ${opts.minKinds}`);
    if (leaks.chaos > 0 || leaks.reference > 0) reasons.push(`leaked containers: ${leaks.chaos} on the private dockerd, ${leaks.reference} of the reference`);
    if (leaks.strayShims.left > 0) reasons.push(`${leaks.strayShims.left} stray containerd shim(s) still running after ctr tasks delete and SIGKILL`);
    report = {
      command: `npm run chaos -- --minutes ${opts.minutes} --seed ${opts.seed}`,
      runId,
      seed: opts.seed,
      minutes: opts.minutes,
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      chaosSec,
      totalSec: (Date.now() - started.getTime()) / 1000,
      config: { tasks: taskIds, intervalSec: opts.intervalSec, restartDelaySec: opts.restartDelaySec, components: opts.components, deviationsFromToy: deviations },
      kills,
      killsByComponent: byComponent,
      unplannedExits: unplanned,
      runs: {
        chaos: { phaseAtEnd: phases.chaos, completedIterations: chaosOutcome.completedIterations, infraFailures: infraFailures.chaos },
        reference: { phaseAtEnd: phases.reference, completedIterations: refOutcome.completedIterations, infraFailures: infraFailures.reference },
      },
      comparison: {
        scope: scopeList,
        compared: countsInScope(chaosOutcome, scope),
        excluded: EXCLUDED,
        differenceCount: differences.length,
        differences: differences.slice(0, 200),
      },
      leaks,
      verdict: reasons.length === 0 ? 'pass' : 'fail',
      reasons,
    };
    const file = opts.report ?? path.join(soakDir, 'report.json');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
    log(`report: ${file} (sha256 ${createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 12)})`);
    return report;
  } finally {
    for (const w of worlds) await w.close().catch(() => undefined);
    await dockerd.stop().catch((err: Error) => log(`stopping the private dockerd: ${err.message}`));
    await devDown({ env: refEnv, only: ['temporal', 'postgres'] }).catch((err: Error) => log(`stopping the reference stack: ${err.message}`));
  }
}
