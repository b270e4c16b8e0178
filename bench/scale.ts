/**
 * `npm run bench -- scale`: what a turn costs, side by side in one run, at 1, 4 and 16 episodes in
 * flight with a trivial tool (`true`) and the same scripted policy server. Each system runs whole
 * episodes inside the measured run: its sandbox's start, the turns, and the same reward (the task's
 * tests on the episode's patch in a clean container, computeReward as the episode's gradePatch).
 *   bare     an in-process loop: policy call with the growing transcript, parse, the command on
 *            the sandbox's tool server; nothing durable;
 *   swerl    the durable episode workflow (Temporal, Postgres turn rows, segments of turns);
 *   mini     mini-swe-agent (PyPI, pinned) driving the same policy server through litellm's
 *            OpenAI-compatible model on the same task image (skipped, with the reason, when its
 *            venv cannot be set up).
 * Per system and concurrency, all three alike: per-turn p50/p95; turns/s and CPU ms per turn over the
 * window in which turns ended (first turn end to last, all episodes of the level); CPU of this process
 * (the workers), the Temporal server, Postgres, dockerd (shared with the host: an upper bound), the
 * run's own containers (cgroups) and mini-swe-agent's processes; and the whole run's wall and CPU.
 * The JSON report is also written to bench/reports/scale-<ISO time>.json.
 */
import { randomUUID } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
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
import { computeReward } from '../activities/reward';
import { createSandbox, Labels, type Sandbox } from '../activities/sandbox';
import { ensureTaskImage } from '../sandbox/images';
import { buildEpisodeInput, episodeWorkflowId } from '../workflows/episodeInput';
import { containerCpu, cpuSampler, processCpu } from './cpu';
import { cpuSum, reportFileName, summarise, type EpisodeRun, type LevelResult, type SystemRun } from './scaleSummary';
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
/** CPU timeline period: a window at 1 in flight is well under a second. */
const SAMPLE_MS = 100;

function perTurnOf(c: Record<string, CountAndMs>, turns: number): Record<string, CountAndMs> {
  const out: Record<string, CountAndMs> = {};
  for (const [k, v] of Object.entries(c).sort((a, b) => b[1].n - a[1].n)) out[k] = { n: Math.round((v.n / turns) * 100) / 100, ms: Math.round((v.ms / turns) * 100) / 100 };
  return out;
}

const totalN = (c: Record<string, CountAndMs>): number => Object.values(c).reduce((a, v) => a + v.n, 0);
export async function benchScale(): Promise<Record<string, number>> {
  const { stack, db, config, imported } = await benchSetup();
  const docker = new Docker();
  const task0 = imported.accepted[0]!;
  const runId = `bench-scale-${randomUUID().slice(0, 8)}`;
  // CPU of this run's own containers only (sandboxes, reward containers, mini-swe-agent's), by label.
  const sandboxCpu = containerCpu((await docker.info()).DockerRootDir as string, (labels) => labels[Labels.run] === runId);
  const miniCpu = processCpu();
  const sample = cpuSampler(stack.stateDir, { sandbox: sandboxCpu, mini: miniCpu.read });
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
  // The reward every system's episodes get: the task's tests on the episode's patch in a clean container, as gradePatch does.
  const score = async (patch: string, episode: string): Promise<number> => {
    const r = await computeReward(docker, task0, patch, {
      image,
      limits: config.sandbox,
      testTimeoutSec: config.timeouts.rewardSec,
      labels: { run: runId, episode },
      leaseTtlSec: config.timeouts.rewardSec + 120,
    });
    return r.reward;
  };
  const results: LevelResult[] = [];
  const notes: string[] = [];
  let sampleIdx = 0;
  const profile = openProfile();
  const timeline = cpuTimeline(sample, SAMPLE_MS);
  const loadAtStart: Record<string, number[]> = {};

  try {
    for (const n of LEVELS) {
      // (a) bare: n in-process loops, each starting its own sandbox, running its turns, scoring its patch.
      if (SYSTEMS.has('bare')) {
        loadAtStart[`bare_${n}`] = loadavg();
        const phases = { policy: [] as number[], tool: [] as number[] };
        const runStart = Date.now();
        const episodes = await Promise.all(
          Array.from({ length: n }, async (_, i): Promise<EpisodeRun> => {
            const sb = await createSandbox(docker, { image, limits: config.sandbox, labels: { run: runId, episode: `bare-${n}-${i}` }, leaseTtlSec: 900 });
            try {
              const turns = await bareLoop(sb, policy.url, task0, config, phases);
              const patch = await sb.gitDiff();
              return { ...turns, reward: await score(patch, `bare-${n}-${i}-reward`) };
            } finally {
              await sb.destroy().catch(() => undefined);
            }
          }),
        );
        const bare = summarise('bare', n, { episodes, runStart, runEnd: Date.now() }, timeline);
        bare.policyHttpP50Ms = round1(percentile(phases.policy, 50));
        bare.toolExecP50Ms = round1(percentile(phases.tool, 50));
        results.push(bare);
      }

      // (b) swerl: n durable episodes (sandbox, turns, reward inside the workflow); turns from their rows.
      if (SYSTEMS.has('swerl')) {
        loadAtStart[`swerl_${n}`] = loadavg();
        const inputs = Array.from({ length: n }, () => ({
          ...buildEpisodeInput(config, stage, { runId, iteration: 0, taskId: task0.instanceId, sampleIdx: sampleIdx++ }, { url: policy.url, policyVersion: 'bench' }),
          rolloutQueue: `${queue}-rollout`,
        }));
        const phases0 = await phaseSums();
        const runStart = Date.now();
        const outcomes = await Promise.all(inputs.map((input) => startAndWait(client, queue, input)));
        const runEnd = Date.now();
        const phases1 = await phaseSums();
        const rows = await db.db
          .select({ episodeId: turnsTable.episodeId, idx: turnsTable.idx, role: turnsTable.role, createdAt: turnsTable.createdAt, durationMs: turnsTable.durationMs })
          .from(turnsTable)
          .where(inArray(turnsTable.episodeId, inputs.map((i) => i.episodeId)))
          .orderBy(asc(turnsTable.episodeId), asc(turnsTable.idx));
        const episodes = inputs.map((input, i): EpisodeRun => {
          const mine = rows.filter((r) => r.episodeId === input.episodeId);
          // A turn ends when its observation is committed; the first turn's start is the instance prompt's commit.
          const turnEnds = mine.filter((r) => r.idx >= 2 && r.role === 'tool').map((r) => r.createdAt.getTime());
          const startAt = mine.find((r) => r.idx === 1)!.createdAt.getTime();
          return { turnEnds, perTurnMs: turnEnds.map((t, j) => t - (j === 0 ? startAt : turnEnds[j - 1]!)), reward: outcomes[i]!.reward };
        });
        const durable = summarise('swerl', n, { episodes, runStart, runEnd }, timeline);
        durable.policyHttpP50Ms = round1(percentile(rows.filter((r) => r.role === 'assistant').map((r) => r.durationMs ?? 0), 50));
        durable.toolExecP50Ms = round1(percentile(rows.filter((r) => r.role === 'tool').map((r) => r.durationMs ?? 0), 50));
        const ends = episodes.flatMap((e) => e.turnEnds);
        const inWindow = countsIn(profile.events, Math.min(...ends), Math.max(...ends));
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
        durable.profile = {
          phaseMeanMs: Object.fromEntries(
            Object.keys(phases1).map((k) => [k, round1(((phases1[k]!.sum - (phases0[k]?.sum ?? 0)) * 1000) / Math.max(1, phases1[k]!.count - (phases0[k]?.count ?? 0)))]),
          ),
          pgPerTurn: perTurnOf(inWindow.pg, durable.window.turns),
          dockerPerTurn: perTurnOf(inWindow.docker, durable.window.turns),
          pgStatementsPerEpisode: round1(totalN(whole.pg) / inputs.length),
          dockerRequestsPerEpisode: round1(totalN(whole.docker) / inputs.length),
          historyEventsPerEpisode: round1(events / inputs.length),
          activitiesPerEpisode: Object.fromEntries(Object.entries(activities).map(([k, v]) => [k, round1(v)])),
        };
        results.push(durable);
      }

      // (c) mini-swe-agent on the same policy server and image; its patch scored like the others'.
      if (!SYSTEMS.has('mini')) continue;
      loadAtStart[`mini_${n}`] = loadavg();
      const mini = await benchMini(n, image, policy.url, task0.problemStatement, runId, miniCpu.track, score).then(
        (run) => summarise('mini', n, run, timeline),
        (err: Error) => {
          notes.push(`mini-swe-agent at ${n} in flight: ${err.message.slice(0, 300)}`);
          return undefined;
        },
      );
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
    flat[`${k}_cpu_all_ms_per_turn`] = round1(cpuSum(r.cpuPerTurnMs));
    flat[`${k}_whole_run_s`] = r.wholeRun.wallSec;
    flat[`${k}_whole_run_cpu_s`] = Math.round(cpuSum(r.wholeRun.cpuSec) * 1000) / 1000;
    flat[`${k}_reward_mean`] = Math.round((r.rewards.reduce((a, b) => a + b, 0) / Math.max(1, r.rewards.length)) * 1000) / 1000;
  }
  for (const n of LEVELS) {
    const bare = results.find((r) => r.system === 'bare' && r.inFlight === n);
    const swerl = results.find((r) => r.system === 'swerl' && r.inFlight === n);
    if (bare && swerl) flat[`overhead_${n}_p50_ms`] = round1(swerl.turnP50Ms - bare.turnP50Ms);
  }
  const dir = path.join(ROOT, 'bench', 'reports');
  mkdirSync(dir, { recursive: true });
  const at = new Date();
  const report = {
    at: at.toISOString(),
    command: 'npm run bench -- scale',
    loadavg: loadavg(),
    loadavgAtStart: loadAtStart,
    levels: LEVELS,
    turnsPerEpisode: TURNS,
    cpuSampleMs: SAMPLE_MS,
    results,
    notes,
  };
  // A timestamped name: two runs on one day never overwrite each other.
  const file = path.join(dir, reportFileName(at));
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.error(`[bench scale] report: ${path.relative(ROOT, file)}`);
  for (const note of notes) console.error(`[bench scale] ${note}`);
  return flat;
}

const loadavg = (): number[] => os.loadavg().map((x) => Math.round(x * 100) / 100);

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

/** One bare episode's turns: the transcript grows like the durable one's (assistant text + observation per turn). */
async function bareLoop(
  sb: Sandbox,
  url: string,
  task: { instanceId: string; problemStatement: string },
  config: ReturnType<typeof loadRunConfig>,
  phases: { policy: number[]; tool: number[] },
): Promise<Omit<EpisodeRun, 'reward'>> {
  const messages: ChatMessage[] = [
    { role: 'system', content: 'bench' },
    { role: 'user', content: task.problemStatement },
  ];
  const perTurnMs: number[] = [];
  const turnEnds: number[] = [];
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
    perTurnMs.push(performance.now() - start);
    turnEnds.push(Date.now());
  }
  return { perTurnMs, turnEnds };
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

async function benchMini(
  n: number,
  image: string,
  url: string,
  problem: string,
  runId: string,
  track: (pid: number) => void,
  score: (patch: string, episode: string) => Promise<number>,
): Promise<SystemRun> {
  const stateDir = process.env.SWERL_HOME ?? path.join(ROOT, '.swerl');
  const python = miniPython(stateDir);
  const runStart = Date.now();
  const episodes = await Promise.all(
    Array.from({ length: n }, async (_, i): Promise<EpisodeRun> => {
      const out = await runMini(python, image, url, problem, runId, i, track);
      return { perTurnMs: out.perTurnMs, turnEnds: out.turnEnds, reward: await score(out.patch, `mini-${n}-${i}-reward`) };
    }),
  );
  return { episodes, runStart, runEnd: Date.now() };
}

interface MiniOut {
  perTurnMs: number[];
  turnEnds: number[];
  patch: string;
}

function runMini(python: string, image: string, url: string, problem: string, runId: string, i: number, track: (pid: number) => void): Promise<MiniOut> {
  const script = path.join(__dirname, 'mini_driver.py');
  return new Promise((resolve, reject) => {
    const child = spawn(python, [script], {
      env: {
        ...process.env,
        MINI_IMAGE: image,
        MINI_API_BASE: `${url}/v1`,
        MINI_TURNS: String(TURNS),
        MINI_TASK: problem,
        MINI_NAME: `swerl-bench-mini-${process.pid}-${i}`,
        MINI_RUN_LABEL: `${Labels.run}=${runId}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid) track(child.pid);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || !line) reject(new Error(`mini driver exited ${code}: ${err.slice(-1500)}`));
      else resolve(JSON.parse(line) as MiniOut);
    });
  });
}
