import { describe, expect, it } from 'vitest';
import { createRng, deriveSeed, sampleProblems, shuffle } from '../../core/rl';

const INVALID = /SWERL_RL_INPUT_INVALID/;
const pool = (n: number) => Array.from({ length: n }, (_, i) => `task-${String(i).padStart(2, '0')}`);
const counts = (xs: readonly string[]) => xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string, number>());

describe('createRng (mulberry32)', () => {
  it('produces the frozen reference stream: a change here changes what replayed workflows sample', () => {
    // Equal to the published mulberry32 one-liner (t = a += 0x6D2B79F5; …) for these seeds.
    const r0 = createRng(0);
    expect([r0.nextUint32(), r0.nextUint32(), r0.nextUint32()]).toEqual([1144304738, 1416247, 958946056]);
    const r42 = createRng(42);
    expect([r42.nextUint32(), r42.nextUint32(), r42.nextUint32()]).toEqual([2581720956, 1925393290, 3661312704]);
    expect(createRng(0).nextFloat()).toBe(1144304738 / 2 ** 32);
  });

  it('draws nextInt uniformly within its bound', () => {
    const rng = createRng(5);
    const buckets = [0, 0, 0, 0, 0, 0];
    for (let i = 0; i < 60_000; i++) buckets[rng.nextInt(6)]! += 1;
    // Expected 10,000 each, σ = sqrt(60000 · 1/6 · 5/6) ≈ 91; allow ±4σ.
    for (const b of buckets) expect(Math.abs(b - 10_000)).toBeLessThan(400);
    expect(createRng(1).nextInt(1)).toBe(0);
    expect(createRng(1).nextInt(2 ** 32)).toBe(2693262067); // the whole word: no rejection, no modulo
    expect(() => createRng(1).nextInt(0)).toThrow(INVALID);
    expect(() => createRng(1).nextInt(2 ** 32 + 1)).toThrow(INVALID);
  });
});

describe('deriveSeed', () => {
  it('is deterministic and separates positions, orders and types', () => {
    expect(deriveSeed(7, 'stage-1', 3)).toBe(deriveSeed(7, 'stage-1', 3));
    const seeds = [
      deriveSeed(7), deriveSeed(7, 0), deriveSeed(7, 1), deriveSeed(7, '1'), deriveSeed(8, 1),
      deriveSeed(7, 1, 2), deriveSeed(7, 2, 1), deriveSeed(7, 2 ** 32 + 1), deriveSeed(7, 'stage-1', 3), deriveSeed(7, 'stage-2', 3),
    ];
    expect(new Set(seeds).size).toBe(seeds.length);
    for (const s of seeds) expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true);
  });

  it('rejects negative and fractional parts', () => {
    expect(() => deriveSeed(-1)).toThrow(/seed must be an integer >= 0/);
    expect(() => deriveSeed(1, 0.5)).toThrow(/seed part 1 must be an integer >= 0/);
  });
});

describe('shuffle', () => {
  it('returns a permutation without touching its input, every order about equally often', () => {
    const input = ['a', 'b', 'c'];
    const rng = createRng(9);
    const seen = counts(Array.from({ length: 6000 }, () => shuffle(input, rng).join('')));
    expect(input).toEqual(['a', 'b', 'c']);
    expect([...seen.keys()].sort()).toEqual(['abc', 'acb', 'bac', 'bca', 'cab', 'cba']);
    // Expected 1000 each, σ = sqrt(6000 · 1/6 · 5/6) ≈ 29; allow ±5σ.
    for (const n of seen.values()) expect(Math.abs(n - 1000)).toBeLessThan(150);
  });
});

describe('sampleProblems', () => {
  it('draws distinct tasks from the pool, reproducibly and independent of pool order', () => {
    const drawn = sampleProblems(pool(33), 10, 1234, 5);
    expect(drawn).toHaveLength(10);
    expect(new Set(drawn).size).toBe(10);
    for (const id of drawn) expect(pool(33)).toContain(id);
    expect(sampleProblems(pool(33), 10, 1234, 5)).toEqual(drawn);
    expect(sampleProblems(pool(33).reverse(), 10, 1234, 5)).toEqual(drawn);
  });

  it('uses a different stream per iteration and per seed', () => {
    const a = sampleProblems(pool(33), 10, 1234, 0);
    expect(sampleProblems(pool(33), 10, 1234, 1)).not.toEqual(a);
    expect(sampleProblems(pool(33), 10, 1235, 0)).not.toEqual(a);
    // Over 330 iterations each task is drawn about 330 · 10/33 = 100 times (σ ≈ 8.3).
    const total = counts(Array.from({ length: 330 }, (_, it) => sampleProblems(pool(33), 10, 1234, it)).flat());
    expect(total.size).toBe(33);
    for (const n of total.values()) expect(Math.abs(n - 100)).toBeLessThan(45);
  });

  it('tops up beyond the pool with fresh permutations: every task once before any twice', () => {
    const drawn = sampleProblems(pool(5), 12, 1, 0);
    expect(drawn).toHaveLength(12);
    expect(drawn.slice(0, 5).sort()).toEqual(pool(5));
    expect(drawn.slice(5, 10).sort()).toEqual(pool(5));
    // 12 = 2 × 5 + 2: two tasks appear 3 times, three tasks 2 times.
    expect([...counts(drawn).values()].sort()).toEqual([2, 2, 2, 3, 3]);
  });

  it('handles count 0 and rejects an empty pool, duplicates and bad counts', () => {
    expect(sampleProblems([], 0, 1, 0)).toEqual([]);
    expect(() => sampleProblems([], 3, 1, 0)).toThrow(/cannot sample 3 problems from an empty task pool/);
    expect(() => sampleProblems(['a', 'a'], 1, 1, 0)).toThrow(/task id "a" appears more than once/);
    expect(() => sampleProblems(['a'], -1, 1, 0)).toThrow(/count must be an integer >= 0/);
    expect(() => sampleProblems(['a'], 1, 1, -1)).toThrow(/iteration must be an integer >= 0/);
  });
});
