/**
 * The chaos soak's kill plan: which component dies next, how long after the previous kill, and how
 * long its "supervisor" waits before restarting it — all drawn from one seeded generator, so a
 * seed names the plan (the pids and the exact moments still depend on the machine).
 *
 * Components are drawn from a shuffle bag: every kind is killed once per round of eight, in a
 * seeded order, so even a short soak kills several different kinds.
 */

export const CHAOS_COMPONENTS = [
  'rollout-worker',
  'orchestration-worker',
  'trainer-worker',
  'temporal',
  'postgres',
  'policy-server',
  'sandbox',
  'dockerd',
] as const;
export type ChaosComponent = (typeof CHAOS_COMPONENTS)[number];

/** mulberry32: a small, well-known 32-bit generator; uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface KillPlanOptions {
  /** Seconds between two kills, drawn uniformly from [min, max]. */
  intervalSec: [number, number];
  /** Seconds the supervisor waits before restarting a killed component, uniformly from [min, max]. */
  restartDelaySec: [number, number];
  components?: readonly ChaosComponent[];
}

export interface PlannedKill {
  /** 0-based number of the kill. */
  index: number;
  component: ChaosComponent;
  /** Seconds after the previous kill (after the start of the run for the first). */
  afterSec: number;
  restartDelaySec: number;
  /** A draw in [0, 1) for picking among several targets (e.g. which sandbox container). */
  pick: number;
}

const uniform = (r: () => number, [lo, hi]: [number, number]): number => Math.round((lo + (hi - lo) * r()) * 10) / 10;

/** An endless, seeded sequence of kills. */
export function* killPlan(seed: number, opts: KillPlanOptions): Generator<PlannedKill> {
  const components = [...(opts.components ?? CHAOS_COMPONENTS)];
  if (components.length === 0) throw new Error('the kill plan needs at least one component');
  const r = seededRandom(seed);
  let bag: ChaosComponent[] = [];
  for (let index = 0; ; index++) {
    if (bag.length === 0) {
      bag = [...components];
      for (let i = bag.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [bag[i], bag[j]] = [bag[j]!, bag[i]!];
      }
    }
    const component = bag.shift()!;
    yield { index, component, afterSec: uniform(r, opts.intervalSec), restartDelaySec: uniform(r, opts.restartDelaySec), pick: r() };
  }
}

/** Parses "45-60" or "50" into a [min, max] range of seconds. */
export function parseRange(text: string): [number, number] {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?))?\s*$/.exec(text);
  if (!m) throw new Error(`not a range of seconds (e.g. 45-60): ${text}`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (hi < lo) throw new Error(`range ${text}: the upper bound is below the lower one`);
  return [lo, hi];
}
