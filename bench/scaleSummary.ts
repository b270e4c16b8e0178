/**
 * The figures `npm run bench -- scale` reports for each system and level, computed the same way for
 * all three (bench/scale.ts): per-turn percentiles, and turns/s and CPU per turn over the window in
 * which the level's turns ended, plus the whole run's wall and CPU.
 */
import { CPU_KEYS, type CpuSample } from './cpu';
import type { CountAndMs } from './turnProfile';
import { percentile, round1 } from './stats';

export interface LevelResult {
  system: string;
  inFlight: number;
  turns: number;
  /** A turn: from the previous turn's end (the episode's first: its first policy call) to its observation. */
  turnP50Ms: number;
  turnP95Ms: number;
  /** Turns that ended in the window (first turn end .. last turn end, all episodes) per second of it. */
  turnsPerSec: number;
  window: { sec: number; turns: number };
  /** CPU ms per turn over that window, by process (see cpu.ts). */
  cpuPerTurnMs: CpuSample;
  /** The whole run (every episode's sandbox start, turns and reward): wall, CPU seconds, CPU ms per turn. */
  wholeRun: { wallSec: number; cpuSec: CpuSample; cpuPerTurnMs: CpuSample };
  /** Each episode's reward (the same scoring for all three systems). */
  rewards: number[];
  /** Per-turn p50 of the policy's HTTP round trip and of the command's tool-server round trip. */
  policyHttpP50Ms?: number;
  toolExecP50Ms?: number;
  /** swerl only: where a turn's time and calls go (see turnProfile.ts). */
  profile?: SwerlProfile;
}

export interface SwerlProfile {
  /** Postgres statements and Docker API requests per turn in the window, by kind (count, ms). */
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

/** One episode of any system: its turns' durations, when each ended (epoch ms), and its reward. */
export interface EpisodeRun {
  perTurnMs: number[];
  turnEnds: number[];
  reward: number;
}

/** One system at one level: its episodes, and when the run started and ended (epoch ms). */
export interface SystemRun {
  episodes: EpisodeRun[];
  runStart: number;
  runEnd: number;
}

export const mapCpu = (c: CpuSample, f: (x: number) => number): CpuSample => Object.fromEntries(CPU_KEYS.map((k) => [k, f(c[k])])) as CpuSample;
export const cpuSum = (c: CpuSample): number => CPU_KEYS.reduce((a, k) => a + (Number.isFinite(c[k]) ? c[k] : 0), 0);

/** The same figures for every system, from its episodes' turn ends and the CPU timeline. */
export function summarise(system: string, inFlight: number, run: SystemRun, timeline: { between(t0: number, t1: number): CpuSample }): LevelResult {
  const perTurn = run.episodes.flatMap((e) => e.perTurnMs);
  const ends = run.episodes.flatMap((e) => e.turnEnds).sort((a, b) => a - b);
  const first = ends[0] ?? run.runStart;
  const last = ends.at(-1) ?? run.runEnd;
  const windowTurns = Math.max(0, ends.length - 1);
  const windowSec = Math.max(0.001, (last - first) / 1000);
  const perWindowTurn = (x: number) => round1((x * 1000) / Math.max(1, windowTurns));
  const whole = timeline.between(run.runStart, run.runEnd);
  return {
    system,
    inFlight,
    turns: perTurn.length,
    turnP50Ms: round1(percentile(perTurn, 50)),
    turnP95Ms: round1(percentile(perTurn, 95)),
    turnsPerSec: round1(windowTurns / windowSec),
    window: { sec: Math.round(windowSec * 1000) / 1000, turns: windowTurns },
    cpuPerTurnMs: mapCpu(timeline.between(first, last), perWindowTurn),
    wholeRun: {
      wallSec: Math.round(run.runEnd - run.runStart) / 1000,
      cpuSec: mapCpu(whole, (x) => Math.round(x * 1000) / 1000),
      cpuPerTurnMs: mapCpu(whole, (x) => round1((x * 1000) / Math.max(1, perTurn.length))),
    },
    rewards: run.episodes.map((e) => e.reward),
  };
}

/** bench/reports/scale-<ISO time>.json, e.g. scale-2026-11-30T11-41-59Z.json: never the same name twice a day. */
export function reportFileName(at: Date): string {
  return `scale-${at.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')}.json`;
}
