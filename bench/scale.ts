/**
 * `npm run bench -- scale`: what a turn costs, side by side in one run, at 1, 4 and 16 episodes in
 * flight with a trivial tool (`true`) and the same scripted policy server:
 *   bare     an in-process loop: policy call with the growing transcript, parse, the command on
 *            the sandbox's tool server; nothing durable;
 *   swerl    the durable episode workflow (Temporal, Postgres turn rows, segments of turns);
 *   mini     mini-swe-agent (PyPI, pinned) driving the same policy server through litellm's
 *            OpenAI-compatible model on the same task image (skipped, with the reason, when its
 *            venv cannot be set up).
 * Per system and concurrency: per-turn p50/p95, turns/s, and CPU seconds per turn of this process
 * (the workers), the Temporal server, Postgres and dockerd (shared with the host: an upper bound).
 * The JSON report is also written to bench/reports/scale-<date>.json.
 */
import { randomUUID } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import { asc, inArray } from 'drizzle-orm';
import { innerRenderOptions, parseAction, renderActionCommand } from '../core/actions';
import type { loadRunConfig } from '../config/load';
import { upsertRun } from '../db/runs';
import { turns as turnsTable } from '../db/schema';
import { complete, type ChatMessage } from '../activities/policy/client';
import { startScriptedPolicyServer } from '../activities/policy/scriptedServer';
import { createScriptBook, loopScript } from '../activities/policy/scripts';
import { createSandbox, type Sandbox } from '../activities/sandbox';
import { ensureTaskImage } from '../sandbox/images';
import { buildEpisodeInput, episodeWorkflowId } from '../workflows/episodeInput';
import { cpuDelta, cpuSampler, type CpuSample } from './cpu';
import { turnPhaseSeconds } from '../workers/metrics';
import { countsIn, cpuTimeline, openProfile, type CountAndMs } from './turnProfile';
import { benchSetup, startAndWait, startBenchWorkers } from './episode';
import { percentile, round1 } from './stats';

const ROOT = path.join(__dirname, '..');
const MINI_VERSION = '2.4.6';
const LEVELS = (process.env.SWERL_BENCH_SCALE_LEVELS ?? '1,4,16').split(',').map(Number);
const TURNS = Number(process.env.SWERL_BENCH_SCALE_TURNS ?? 30);
/** Which systems to run (default all three); e.g. `SWERL_BENCH_SCALE_SYSTEMS=bare,swerl` while tuning. */
const SYSTEMS = new Set((process.env.SWERL_BENCH_SCALE_SYSTEMS ?? 'bare,swerl,mini').split(','));

interface LevelResult {
  system: string;
  inFlight: number;
  turns: number;
  turnP50Ms: number;
  turnP95Ms: number;
  turnsPerSec: number;
  cpuPerTurnMs: CpuSample;
  /** Per-turn p50 of the policy's HTTP round trip and of the command's tool-server round trip. */
  policyHttpP50Ms?: number;
  toolExecP50Ms?: number;
  /** swerl only: where a turn's time and calls go (see turnProfile.ts). */
  profile?: SwerlProfile;
}

interface SwerlProfile {
  /** CPU ms per turn over the window where turns were committed (sandbox start and reward excluded). */
  cpuPerTurnInWindowMs: CpuSample;
  /** Postgres statements and Docker API requests per turn in that window, by kind (count, ms). */
  pgPerTurn: Record<string, CountAndMs>;
  dockerPerTurn: Record<string, CountAndMs>;
  /** Mean ms per turn of runTurns' phases (swerl_turn_phase_seconds): policy = prompt and HTTP call; tool = the command (rows commit in the background). */
  phaseMeanMs: Record<string, number>;
  /** Per episode, everything (start, sandbox, turns, reward): statements, Docker requests, history. */
  pgStatementsPerEpisode: number;
  dockerRequestsPerEpisode: number;
  historyEventsPerEpisode: number;
  activitiesPerEpisode: Record<string, number>;
}

function perTurnOf(c: Record<string, CountAndMs>, turns: number): Record<string, CountAndMs> {
  const out: Record<string, CountAndMs> = {};
  for (const [k, v] of Object.entries(c).sort((a, b) => b[1].n - a[1].n)) out[k] = { n: Math.round((v.n / turns) * 100) / 100, ms: Math.round((v.ms / turns) * 100) / 100 };
  return out;
}

const totalN = (c: Record<string, CountAndMs>): number => Object.values(c).reduce((a, v) => a + v.n, 0);

function summarise(system: string, inFlight: number, perTurn: number[], wallMs: number, cpu: CpuSample): LevelResult {
  const n = perTurn.length;
  const per = (x: number) => round1((x * 1000) / Math.max(1, n));
  return {
    system,
    inFlight,
    turns: n,
    turnP50Ms: round1(percentile(perTurn, 50)),
    turnP95Ms: round1(percentile(perTurn, 95)),
    turnsPerSec: round1(n / (wallMs / 1000)),
    cpuPerTurnMs: { worker: per(cpu.worker), temporal: per(cpu.temporal), postgres: per(cpu.postgres), dockerd: per(cpu.dockerd) },
  };
}

export async function benchScale(): Promise<Record<string, number>> {
  const { stack, db, config, imported } = await benchSetup();
  const sample = cpuSampler(stack.stateDir);
  const task0 = imported.accepted[0]!;
  const runId = `bench-scale-${randomUUID().slice(0, 8)}`;
  await upsertRun(db.db, { id: runId, workflowId: `bench-${runId}`, name: 'bench', config: {} });
  const policy = await startScriptedPolicyServer({
    port: 0,
    scripts: createScriptBook(imported.accepted.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: loopScript('true') }))),
  });
  const maxLevel = Math.max(...LEVELS);
  const queue = `bench-scale-${randomUUID().slice(0, 8)}`;
  const workers = await startBenchWorkers(stack, db.db, queue, { ...config.sandbox, maxConcurrent: maxLevel * 2, prewarm: 0 });
  const { client } = workers;
  const stage = { ...config.stages.find((s) => s.kind === 'rl')!, maxTurns: TURNS, lengthPenalty: { enabled: false, freeTurns: 1 } };
  const image = await ensureTaskImage({ instanceId: task0.instanceId, repoDir: task0.repoDir, baseCommit: task0.baseCommit });
  const docker = new Docker();
  const results: LevelResult[] = [];
  const notes: string[] = [];
  let sampleIdx = 0;
  const profile = openProfile();
  const timeline = cpuTimeline(sample);

  try {
    for (const n of LEVELS) {
      // (a) bare: n loops, each with its own sandbox; sandboxes are started before the clock.
      if (SYSTEMS.has('bare')) {
        const sandboxes: Sandbox[] = await Promise.all(
          Array.from({ length: n }, (_, i) => createSandbox(docker, { image, limits: config.sandbox, labels: { run: runId, episode: `bare-${n}-${i}` }, leaseTtlSec: 900 })),
        );
        try {
          await Promise.all(sandboxes.map((sb) => sb.exec('true')));
          const perTurn: number[] = [];
          const phases = { policy: [] as number[], tool: [] as number[] };
          const c0 = sample();
          const t0 = performance.now();
          await Promise.all(sandboxes.map((sb) => bareLoop(sb, policy.url, task0, config, perTurn, phases)));
          const bare = summarise('bare', n, perTurn, performance.now() - t0, cpuDelta(c0, sample()));
          bare.policyHttpP50Ms = round1(percentile(phases.policy, 50));
          bare.toolExecP50Ms = round1(percentile(phases.tool, 50));
          results.push(bare);
        } finally {
          await Promise.all(sandboxes.map((sb) => sb.destroy().catch(() => undefined)));
      }
      }

      // (b) swerl: n durable episodes; turns timed from their rows (sandbox start and reward excluded).
      if (SYSTEMS.has('swerl')) {
        const inputs = Array.from({ length: n }, () => ({
          ...buildEpisodeInput(config, stage, { runId, iteration: 0, taskId: task0.instanceId, sampleIdx: sampleIdx++ }, { url: policy.url, policyVersion: 'bench' }),
          rolloutQueue: `${queue}-rollout`,
        }));
        const c0 = sample();
        const phases0 = await phaseSums();
        const runStart = Date.now();
        await Promise.all(inputs.map((input) => startAndWait(client, queue, input)));
        const runEnd = Date.now();
        const c1 = sample();
        const phases1 = await phaseSums();
        const rows = await db.db
          .select({ episodeId: turnsTable.episodeId, idx: turnsTable.idx, role: turnsTable.role, createdAt: turnsTable.createdAt, durationMs: turnsTable.durationMs })
          .from(turnsTable)
          .where(inArray(turnsTable.episodeId, inputs.map((i) => i.episodeId)))
          .orderBy(asc(turnsTable.episodeId), asc(turnsTable.idx));
        const perTurn: number[] = [];
        let first = Number.POSITIVE_INFINITY;
        let last = 0;
        for (const input of inputs) {
          const mine = rows.filter((r) => r.episodeId === input.episodeId && r.idx >= 2);
          const obs = mine.filter((r) => r.role === 'tool').map((r) => r.createdAt.getTime());
          // A turn ends when its observation is committed; the first turn's start is the instance prompt's commit.
          const startAt = rows.find((r) => r.episodeId === input.episodeId && r.idx === 1)!.createdAt.getTime();
          obs.forEach((t, i) => perTurn.push(t - (i === 0 ? startAt : obs[i - 1]!)));
          first = Math.min(first, obs[0] ?? first);
          last = Math.max(last, obs.at(-1) ?? 0);
      }
      // Throughput over the window where turns were being committed (the first turn of each is excluded).
      const windowTurns = perTurn.length - inputs.length;
      const durable = summarise('swerl', n, perTurn, Math.max(1, last - first), cpuDelta(c0, c1));
      durable.turnsPerSec = round1(windowTurns / Math.max(0.001, (last - first) / 1000));
      durable.policyHttpP50Ms = round1(percentile(rows.filter((r) => r.role === 'assistant').map((r) => r.durationMs ?? 0), 50));
      durable.toolExecP50Ms = round1(percentile(rows.filter((r) => r.role === 'tool').map((r) => r.durationMs ?? 0), 50));
      // CPU per turn over the whole run includes sandbox start and reward: say so, do not hide it;
      // the profile has it over the turn window too.
      const inWindow = countsIn(profile.events, first, last);
      const whole = countsIn(profile.events, runStart, runEnd);
      const activities: Record<string, number> = {};
      let events = 0;
      for (const input of inputs) {
        const history = await client.workflow.getHandle(episodeWorkflowId(input.episodeId)).fetchHistory();
        for (const e of history.events ?? []) {
          events += 1;
          const type = e.activityTaskScheduledEventAttributes?.activityType?.name;
          if (type) activities[type] = (activities[type] ?? 0) + 1 / inputs.length;
        }
      }
      const cpuWin = timeline.between(first, last);
      const perWin = (x: number) => round1((x * 1000) / Math.max(1, windowTurns));
      durable.profile = {
        cpuPerTurnInWindowMs: { worker: perWin(cpuWin.worker), temporal: perWin(cpuWin.temporal), postgres: perWin(cpuWin.postgres), dockerd: perWin(cpuWin.dockerd) },
        phaseMeanMs: Object.fromEntries(
          Object.keys(phases1).map((k) => [k, round1(((phases1[k]!.sum - (phases0[k]?.sum ?? 0)) * 1000) / Math.max(1, phases1[k]!.count - (phases0[k]?.count ?? 0)))]),
        ),
        pgPerTurn: perTurnOf(inWindow.pg, windowTurns),
        dockerPerTurn: perTurnOf(inWindow.docker, windowTurns),
        pgStatementsPerEpisode: round1(totalN(whole.pg) / inputs.length),
        dockerRequestsPerEpisode: round1(totalN(whole.docker) / inputs.length),
        historyEventsPerEpisode: round1(events / inputs.length),
        activitiesPerEpisode: Object.fromEntries(Object.entries(activities).map(([k, v]) => [k, round1(v)])),
      };
      results.push(durable);
      }

      // (c) mini-swe-agent on the same policy server and image.
      if (!SYSTEMS.has('mini')) continue;
      const mini = await benchMini(n, image, policy.url, task0.problemStatement, sample).catch((err: Error) => {
        notes.push(`mini-swe-agent at ${n} in flight: ${err.message.slice(0, 300)}`);
        return undefined;
      });
      if (mini) results.push(mini);
    }
  } finally {
    timeline.stop();
    profile.stop();
    await workers.close();
    await policy.close();
    await db.close();
  }

  const flat: Record<string, number> = { turns_per_episode: TURNS };
  for (const r of results) {
    const k = `${r.system}_${r.inFlight}`;
    flat[`${k}_turn_p50_ms`] = r.turnP50Ms;
    flat[`${k}_turn_p95_ms`] = r.turnP95Ms;
    flat[`${k}_turns_per_sec`] = r.turnsPerSec;
    for (const [proc, ms] of Object.entries(r.cpuPerTurnMs)) flat[`${k}_cpu_${proc}_ms_per_turn`] = ms;
  }
  for (const n of LEVELS) {
    const bare = results.find((r) => r.system === 'bare' && r.inFlight === n);
    const swerl = results.find((r) => r.system === 'swerl' && r.inFlight === n);
    if (bare && swerl) flat[`overhead_${n}_p50_ms`] = round1(swerl.turnP50Ms - bare.turnP50Ms);
  }
  const dir = path.join(ROOT, 'bench', 'reports');
  mkdirSync(dir, { recursive: true });
  const report = { at: new Date().toISOString(), command: 'npm run bench -- scale', loadavg: (await import('node:os')).loadavg(), levels: LEVELS, turnsPerEpisode: TURNS, results, notes };
  writeFileSync(path.join(dir, `scale-${report.at.slice(0, 10)}.json`), `${JSON.stringify(report, null, 2)}\n`);
  for (const note of notes) console.error(`[bench scale] ${note}`);
  return flat;
}

/** Sum and count of swerl_turn_phase_seconds per phase, from this process's registry. */
async function phaseSums(): Promise<Record<string, { sum: number; count: number }>> {
  const out: Record<string, { sum: number; count: number }> = {};
  for (const v of (await turnPhaseSeconds.get()).values) {
    const phase = String(v.labels.phase);
    const e = (out[phase] ??= { sum: 0, count: 0 });
    if (v.metricName?.endsWith('_sum')) e.sum = v.value;
    if (v.metricName?.endsWith('_count')) e.count = v.value;
  }
  return out;
}

/** One bare episode: the transcript grows like the durable one's (assistant text + observation per turn). */
async function bareLoop(
  sb: Sandbox,
  url: string,
  task: { instanceId: string; problemStatement: string },
  config: ReturnType<typeof loadRunConfig>,
  perTurn: number[],
  phases: { policy: number[]; tool: number[] },
): Promise<void> {
  const messages: ChatMessage[] = [
    { role: 'system', content: 'bench' },
    { role: 'user', content: task.problemStatement },
  ];
  for (let t = 0; t < TURNS; t++) {
    const start = performance.now();
    const out = await complete({ url, model: 'bench', messages, decoding: config.policy.decoding, timeoutMs: 60_000, headers: { 'x-swerl-task': task.instanceId } });
    if (out.kind !== 'completion') throw new Error('bench policy overflowed');
    const parsed = parseAction(out.completion.text);
    if (!parsed.ok) throw new Error(parsed.error.message);
    const obs = await sb.exec(renderActionCommand(parsed.action, innerRenderOptions(config.sandbox)), { seq: t });
    phases.policy.push(out.completion.latencyMs);
    phases.tool.push(obs.durationMs);
    messages.push({ role: 'assistant', content: out.completion.text }, { role: 'user', content: obs.output });
    perTurn.push(performance.now() - start);
  }
}

/** The pinned mini-swe-agent in a cached venv under $SWERL_HOME (never in the repository). */
function miniPython(stateDir: string): string {
  const venv = path.join(stateDir, 'bench', `mini-swe-agent-${MINI_VERSION}`);
  const python = path.join(venv, 'bin', 'python');
  if (!existsSync(path.join(venv, '.installed'))) {
    mkdirSync(path.dirname(venv), { recursive: true });
    execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    execFileSync(python, ['-m', 'pip', 'install', '-q', `mini-swe-agent==${MINI_VERSION}`], { stdio: 'inherit', timeout: 1_200_000 });
    writeFileSync(path.join(venv, '.installed'), `${MINI_VERSION}\n`);
  }
  return python;
}

async function benchMini(n: number, image: string, url: string, problem: string, sample: () => CpuSample): Promise<LevelResult> {
  const stateDir = process.env.SWERL_HOME ?? path.join(ROOT, '.swerl');
  const python = miniPython(stateDir);
  const c0 = sample();
  const t0 = performance.now();
  const outs = await Promise.all(Array.from({ length: n }, (_, i) => runMini(python, image, url, problem, i)));
  const wall = performance.now() - t0;
  const perTurn = outs.flatMap((o) => o.perTurnMs);
  const r = summarise('mini', n, perTurn, wall, cpuDelta(c0, sample()));
  // Throughput over the turns only (container start excluded), like the others.
  r.turnsPerSec = round1(perTurn.length / (Math.max(...outs.map((o) => o.loopMs)) / 1000));
  return r;
}

function runMini(python: string, image: string, url: string, problem: string, i: number): Promise<{ perTurnMs: number[]; loopMs: number }> {
  const script = path.join(__dirname, 'mini_driver.py');
  return new Promise((resolve, reject) => {
    const child = spawn(python, [script], {
      env: { ...process.env, MINI_IMAGE: image, MINI_API_BASE: `${url}/v1`, MINI_TURNS: String(TURNS), MINI_TASK: problem, MINI_NAME: `swerl-bench-mini-${process.pid}-${i}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || !line) reject(new Error(`mini driver exited ${code}: ${err.slice(-1500)}`));
      else resolve(JSON.parse(line) as { perTurnMs: number[]; loopMs: number });
    });
  });
}
