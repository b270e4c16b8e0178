/**
 * Seeded randomness for workflows. Temporal replays a workflow from its history, so every random
 * choice that shapes an iteration (which problems, which samples share an optimizer step) must be
 * a pure function of recorded inputs: a run seed plus the position in the run (stage, iteration,
 * epoch). Math.random is never used; each position derives its own stream so that replaying, or
 * resuming at iteration 57, draws exactly what the first execution drew, and iterations do not
 * share (hence correlate) streams.
 */
import { compareIds, invalidInput, requireInt, requireUniqueIds } from './inputs';

/** murmur3's 32-bit finalizer: a bijection on uint32 with full avalanche. */
function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Order-sensitive: combine(combine(h, a), b) != combine(combine(h, b), a). */
function combine(h: number, word: number): number {
  return fmix32(Math.imul(h, 0x01000193) ^ fmix32(word));
}

const TAG_NUMBER = 0x6e756d; // keeps deriveSeed(s, 1) and deriveSeed(s, '1') apart
const TAG_STRING = 0x737472;

/**
 * A 32-bit stream seed for one position in the run, e.g. deriveSeed(run.seed, stage.name, iteration).
 * Numbers must be non-negative safe integers (both 32-bit halves are mixed in); strings are
 * hashed by UTF-16 code unit.
 */
export function deriveSeed(seed: number, ...parts: ReadonlyArray<number | string>): number {
  let h = 0x2545f491;
  for (const [i, part] of [seed, ...parts].entries()) {
    if (typeof part === 'number') {
      requireInt(i === 0 ? 'seed' : `seed part ${i}`, part, 0);
      h = combine(combine(combine(h, TAG_NUMBER), part >>> 0), Math.floor(part / 0x1_0000_0000));
    } else {
      h = combine(combine(h, TAG_STRING), part.length);
      for (let c = 0; c < part.length; c++) h = combine(h, part.charCodeAt(c));
    }
  }
  return h;
}

export interface Rng {
  /** Uniform on [0, 2^32). */
  nextUint32(): number;
  /** Uniform on [0, 1) with 32 bits of resolution. */
  nextFloat(): number;
  /** Uniform on {0, …, n−1}, unbiased (rejection sampling), n in [1, 2^32]. */
  nextInt(n: number): number;
}

/**
 * mulberry32 (Tommy Ettinger): one 32-bit word of state, period 2^32, passes gjrand/PractRand
 * well beyond the few thousand draws an iteration needs. Its output for a given seed is frozen by
 * a unit test: changing it would change what a replayed workflow samples.
 */
export function createRng(seed: number): Rng {
  requireInt('rng seed', seed, 0);
  let state = seed >>> 0;
  const nextUint32 = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return {
    nextUint32,
    nextFloat: () => nextUint32() / 0x1_0000_0000,
    nextInt(n: number): number {
      requireInt('nextInt bound', n, 1);
      if (n > 0x1_0000_0000) throw invalidInput(`nextInt bound must be <= 2^32, got ${n}`, { n });
      // Draws at or above the largest multiple of n would favour small results: redraw them.
      const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
      for (;;) {
        const x = nextUint32();
        if (x < limit) return x % n;
      }
    },
  };
}

/** Fisher–Yates on a copy: every permutation equally likely given a uniform nextInt. */
export function shuffle<T>(items: readonly T[], rng: Rng): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * The P problems of one RL iteration: `count` task ids drawn without replacement from the pool,
 * on the stream deriveSeed(seed, 'problems', iteration). Pass a stage-specific seed
 * (e.g. deriveSeed(run.seed, stage.name)) so two stages do not replay the same stream.
 *
 * The pool is sorted first, so the draw depends on the set of ids, not on the order a database
 * query returned them in.
 *
 * Top-up when count > pool size (small suites, e.g. the toy suite with P > 33): every task once,
 * in a fresh random order, then again from a new independent permutation, and so on until
 * `count` ids are drawn. Each task therefore appears floor(count/N) or ceil(count/N) times and
 * never more often than a peer. A repeated id is a separate draw: the caller decides whether
 * its rollouts form a second group or one larger group (both are valid groups for the advantage).
 */
export function sampleProblems(taskIds: readonly string[], count: number, seed: number, iteration: number): string[] {
  requireInt('count', count, 0);
  requireInt('iteration', iteration, 0);
  requireUniqueIds('task id', taskIds);
  if (count > 0 && taskIds.length === 0) {
    throw invalidInput(`cannot sample ${count} problems from an empty task pool`, { count });
  }
  const pool = taskIds.slice().sort(compareIds);
  const rng = createRng(deriveSeed(seed, 'problems', iteration));
  const out: string[] = [];
  while (out.length < count) {
    out.push(...shuffle(pool, rng).slice(0, count - out.length));
  }
  return out;
}
