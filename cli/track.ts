/**
 * `swerl track RUN [--tensorboard DIR]`: a run's iteration metrics, evals and a sample of its
 * trajectories, written to TensorBoard event files (tensorboardX, in its own cached venv) so that a
 * user's TensorBoard shows them next to their other experiments. The tracker is the run config's
 * `tracking` (tensorboard or none); `--tensorboard DIR` overrides it.
 *
 * Reads Postgres only, so it can run beside a live run (`--follow`) or long after it. Each record
 * has a key (iteration, eval); the keys already written are kept in DIR/.swerl-track.json, so a
 * re-run or a restarted follower adds only what is new.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { and, asc, desc, eq, isNotNull } from 'drizzle-orm';
import { TrackingSchema } from '../core/config';
import { ConfigError, ErrorCodes, SwerlError } from '../core/errors';
import { createDb, type Db } from '../db/client';
import { migrateDatabase } from '../db/migrate';
import { resolveEndpoints } from '../workers/endpoints';
import { episodes, evals, iterations, runs, stages, turns } from '../db/schema';
import { REPO_ROOT, stackSettings } from './dev/settings';

export type TrackerRecord =
  | { kind: 'scalar'; tag: string; value: number; step: number; wall_time: number }
  | { kind: 'text'; tag: string; text: string; step: number; wall_time: number };

export interface TrackedItem {
  key: string;
  records: TrackerRecord[];
}

export interface IterationRow {
  stage: string;
  stageIdx: number;
  idx: number;
  metrics: Record<string, unknown> | null;
  finishedAt: Date | null;
}

export interface EvalRow {
  id: string;
  stage: string;
  split: string;
  k: number;
  pass1Mean: number;
  pass1Sem: number;
  passK: number;
  createdAt: Date;
}

export interface SampledEpisode {
  stage: string;
  iteration: number;
  id: string;
  taskId: string;
  reward: number | null;
  exitReason: string | null;
  turns: Array<{ role: string; text: string }>;
}

const TURN_TEXT_LIMIT = 2_000;

/**
 * The records of one run, grouped by key. Pure: iterations (completed, with metrics) give one
 * scalar per numeric metric, tag `<stage>/<metric>`, step = iteration; evals give Pass@1, its SEM
 * and Pass@k under `eval/<split>/…` at step = the eval's rank in time; sampled episodes give a
 * markdown text per iteration under `trajectories/<stage>`.
 */
export function trackerItems(its: readonly IterationRow[], evs: readonly EvalRow[], samples: readonly SampledEpisode[]): TrackedItem[] {
  const items: TrackedItem[] = [];
  const ordered = [...its].sort((a, b) => a.stageIdx - b.stageIdx || a.idx - b.idx);
  for (const it of ordered) {
    if (!it.metrics) continue;
    const wall = (it.finishedAt ?? new Date(0)).getTime() / 1000;
    const records: TrackerRecord[] = Object.entries(it.metrics)
      .filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]))
      .map(([name, value]) => ({ kind: 'scalar', tag: `${it.stage}/${name}`, value, step: it.idx, wall_time: wall }));
    const sampled = samples.filter((s) => s.stage === it.stage && s.iteration === it.idx);
    if (sampled.length > 0) {
      records.push({ kind: 'text', tag: `trajectories/${it.stage}`, text: sampled.map(renderEpisode).join('\n\n---\n\n'), step: it.idx, wall_time: wall });
    }
    items.push({ key: `iteration:${it.stage}:${it.idx}`, records });
  }
  [...evs]
    .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id))
    .forEach((ev, rank) => {
      const wall = ev.createdAt.getTime() / 1000;
      const scalar = (name: string, value: number): TrackerRecord => ({ kind: 'scalar', tag: `eval/${ev.split}/${name}`, value, step: rank, wall_time: wall });
      items.push({ key: `eval:${ev.id}`, records: [scalar('pass1_mean', ev.pass1Mean), scalar('pass1_sem', ev.pass1Sem), scalar(`pass_at_${ev.k}`, ev.passK)] });
    });
  return items;
}

function renderEpisode(e: SampledEpisode): string {
  const head = `**${e.id}** — task \`${e.taskId}\`, reward ${e.reward ?? 'none'}, exit ${e.exitReason ?? 'none'}`;
  const body = e.turns.map((t) => {
    const text = t.text.length > TURN_TEXT_LIMIT ? `${t.text.slice(0, TURN_TEXT_LIMIT)}… (${t.text.length} chars)` : t.text;
    return `*${t.role}*\n\n    ${text.replace(/\n/g, '\n    ')}`;
  });
  return [head, ...body].join('\n\n');
}

async function loadRun(db: Db, runId: string, samplesPerIteration: number): Promise<{ items: TrackedItem[]; status: string }> {
  const [run] = await db.select({ status: runs.status }).from(runs).where(eq(runs.id, runId));
  if (!run) throw new SwerlError(ErrorCodes.RUN_NOT_FOUND, `no run ${runId}`, { runId });
  const its = await db
    .select({ stage: iterations.stage, stageIdx: stages.idx, idx: iterations.idx, metrics: iterations.metrics, finishedAt: iterations.finishedAt })
    .from(iterations)
    .innerJoin(stages, and(eq(stages.runId, iterations.runId), eq(stages.name, iterations.stage)))
    .where(and(eq(iterations.runId, runId), eq(iterations.status, 'completed')));
  const evs = await db.select().from(evals).where(eq(evals.runId, runId));
  const samples: SampledEpisode[] = [];
  if (samplesPerIteration > 0) {
    for (const it of its) {
      // The best and then the worst of each iteration, deterministically: a solved and a failed trajectory side by side.
      const eps = await db
        .select({ id: episodes.id, taskId: episodes.taskId, reward: episodes.reward, exitReason: episodes.exitReason })
        .from(episodes)
        .where(and(eq(episodes.runId, runId), eq(episodes.stage, it.stage), eq(episodes.iteration, it.idx), isNotNull(episodes.reward)))
        .orderBy(desc(episodes.reward), asc(episodes.id));
      const picked = eps.length <= samplesPerIteration ? eps : [...eps.slice(0, Math.ceil(samplesPerIteration / 2)), ...eps.slice(eps.length - Math.floor(samplesPerIteration / 2))];
      for (const e of picked) {
        const ts = await db.select({ role: turns.role, text: turns.text }).from(turns).where(eq(turns.episodeId, e.id)).orderBy(asc(turns.idx));
        samples.push({ stage: it.stage, iteration: it.idx, ...e, turns: ts });
      }
    }
  }
  return { items: trackerItems(its, evs, samples), status: run.status };
}

const STATE_FILE = '.swerl-track.json';

function readExported(logDir: string): Set<string> {
  const file = path.join(logDir, STATE_FILE);
  if (!existsSync(file)) return new Set();
  return new Set((JSON.parse(readFileSync(file, 'utf8')) as { exported: string[] }).exported);
}

function writeExported(logDir: string, keys: Set<string>): void {
  const file = path.join(logDir, STATE_FILE);
  writeFileSync(`${file}.tmp`, JSON.stringify({ exported: [...keys].sort() }, null, 1));
  renameSync(`${file}.tmp`, file);
}

/** The python of the trackers' venv (created once, cached by requirements hash). */
export function trackerPython(): string {
  const script = path.join(REPO_ROOT, 'scripts', 'ensure-venv.sh');
  return execFileSync(script, ['trackers', path.join(REPO_ROOT, 'trackers', 'requirements.txt')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

async function writeTensorBoard(python: string, logDir: string, records: readonly TrackerRecord[]): Promise<{ scalars: number; texts: number }> {
  const child = spawn(python, [path.join(REPO_ROOT, 'trackers', 'tensorboard_writer.py'), logDir], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4_000)));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  child.stdin.on('error', () => undefined); // a writer that died early is reported by its exit code below
  for (const r of records) child.stdin.write(`${JSON.stringify(r)}\n`);
  child.stdin.end();
  const code = await exited;
  if (code !== 0) throw new SwerlError(ErrorCodes.TRACKER_FAILED, `tensorboard writer exited ${code}: ${err.trim()}`, { logDir, code });
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { scalars: number; texts: number };
}

export interface TrackOptions {
  logDir: string;
  samplesPerIteration?: number;
  python?: string;
}

export interface TrackResult {
  items: number;
  scalars: number;
  texts: number;
  runStatus: string;
}

/** Writes what is new since the last export of this run into `logDir`. */
export async function exportRunToTensorBoard(db: Db, runId: string, opts: TrackOptions): Promise<TrackResult> {
  mkdirSync(opts.logDir, { recursive: true });
  const { items, status } = await loadRun(db, runId, opts.samplesPerIteration ?? 2);
  const exported = readExported(opts.logDir);
  const fresh = items.filter((i) => !exported.has(i.key));
  if (fresh.length === 0) return { items: 0, scalars: 0, texts: 0, runStatus: status };
  const counts = await writeTensorBoard(opts.python ?? trackerPython(), opts.logDir, fresh.flatMap((i) => i.records));
  for (const i of fresh) exported.add(i.key);
  writeExported(opts.logDir, exported);
  return { items: fresh.length, ...counts, runStatus: status };
}

/**
 * Where a run's tracker writes: `--tensorboard DIR` when given, else the run config's `tracking`
 * (its dir, or <state dir>/tracking/<run>). A run that chooses no tracker, without the flag, is
 * SWERL_CONFIG_INVALID.
 */
export function trackingTarget(runConfig: unknown, runId: string, opts: { flagDir?: string; stateDir: string }): { logDir: string; samplesPerIteration: number } {
  const raw = (runConfig as { tracking?: unknown } | null)?.tracking;
  const parsed = TrackingSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new ConfigError(ErrorCodes.CONFIG_INVALID, `run ${runId}: its tracking config is invalid: ${parsed.error.issues.map((i) => i.message).join('; ')}`, { runId });
  const tracking = parsed.data;
  if (opts.flagDir) return { logDir: path.resolve(opts.flagDir), samplesPerIteration: tracking.samplesPerIteration };
  if (tracking.tracker === 'none') {
    throw new ConfigError(ErrorCodes.CONFIG_INVALID, `run ${runId} chooses no tracker (tracking.tracker in its config is none or absent): set tracking.tracker: tensorboard, or pass --tensorboard DIR`, { runId });
  }
  return { logDir: path.resolve(tracking.dir ?? path.join(opts.stateDir, 'tracking', runId)), samplesPerIteration: tracking.samplesPerIteration };
}

/** The run's tracker as its config (or the flag) chooses it, then one export. */
export async function exportRunToTracker(db: Db, runId: string, opts: { flagDir?: string; samplesPerIteration?: number; stateDir?: string; python?: string }): Promise<TrackResult & { logDir: string }> {
  const [run] = await db.select({ config: runs.config }).from(runs).where(eq(runs.id, runId));
  if (!run) throw new SwerlError(ErrorCodes.RUN_NOT_FOUND, `no run "${runId}" in the database`, { runId });
  const target = trackingTarget(run.config, runId, { flagDir: opts.flagDir, stateDir: opts.stateDir ?? stackSettings().stateDir });
  const result = await exportRunToTensorBoard(db, runId, { logDir: target.logDir, samplesPerIteration: opts.samplesPerIteration ?? target.samplesPerIteration, python: opts.python });
  return { ...result, logDir: target.logDir };
}

/** Run states after which nothing new will be written. */
const FINAL_STATES = new Set(['completed', 'failed', 'aborted']);

export function registerTrackCommand(program: Command): void {
  program
    .command('track')
    .description("write a run's iteration metrics, evals and sampled trajectories to its tracker (the run config's tracking, or --tensorboard DIR)")
    .argument('<run>', 'run id')
    .option('--tensorboard <dir>', "TensorBoard log directory (point `tensorboard --logdir` at it); default: the run config's tracking")
    .option('--samples <n>', "trajectories sampled per iteration (best and worst); default: the run config's tracking.samplesPerIteration, else 2")
    .option('--follow', 'keep exporting until the run completes, fails or is aborted')
    .option('--interval <sec>', 'seconds between exports with --follow', '30')
    .action(async (runId: string, opts: { tensorboard?: string; samples?: string; follow?: boolean; interval: string }) => {
      const endpoints = resolveEndpoints();
      await migrateDatabase(endpoints.databaseUrl);
      const db = createDb(endpoints.databaseUrl);
      try {
        const python = trackerPython();
        for (;;) {
          const r = await exportRunToTracker(db.db, runId, { flagDir: opts.tensorboard, samplesPerIteration: opts.samples === undefined ? undefined : Number(opts.samples), python });
          console.log(`${new Date().toISOString()} ${runId} → ${r.logDir}: ${r.items} new item(s), ${r.scalars} scalar(s), ${r.texts} trajectory sample(s); run ${r.runStatus}`);
          // Bounded by the run itself: a final state ends the loop after one last export.
          if (!opts.follow || FINAL_STATES.has(r.runStatus)) break;
          await new Promise((resolve) => setTimeout(resolve, Number(opts.interval) * 1000));
        }
      } finally {
        await db.close();
      }
    });
}
