import { describe, expect, it } from 'vitest';
import { countsInScope, diffOutcomes, flattenMetrics, type RunOutcome } from '../../cli/chaos/compare';
import { CHAOS_COMPONENTS, killPlan, parseRange, seededRandom } from '../../cli/chaos/schedule';

const take = <T>(it: Iterator<T>, n: number): T[] => Array.from({ length: n }, () => it.next().value as T);

describe('chaos kill plan', () => {
  it('is a function of the seed', () => {
    const opts = { intervalSec: [45, 60] as [number, number], restartDelaySec: [1, 5] as [number, number] };
    expect(take(killPlan(7, opts), 20)).toEqual(take(killPlan(7, opts), 20));
    expect(take(killPlan(7, opts), 20)).not.toEqual(take(killPlan(8, opts), 20));
  });

  it('kills every component once per round of eight, with intervals and delays inside their ranges', () => {
    const plan = take(killPlan(3, { intervalSec: [45, 60], restartDelaySec: [1, 5] }), 24);
    for (let round = 0; round < 3; round++) {
      expect(plan.slice(round * 8, round * 8 + 8).map((k) => k.component).sort()).toEqual([...CHAOS_COMPONENTS].sort());
    }
    for (const k of plan) {
      expect(k.afterSec).toBeGreaterThanOrEqual(45);
      expect(k.afterSec).toBeLessThanOrEqual(60);
      expect(k.restartDelaySec).toBeGreaterThanOrEqual(1);
      expect(k.restartDelaySec).toBeLessThanOrEqual(5);
      expect(k.pick).toBeGreaterThanOrEqual(0);
      expect(k.pick).toBeLessThan(1);
    }
    expect(plan.map((k) => k.index)).toEqual([...Array(24).keys()]);
    // The first three kills of a short (CI) soak are three different kinds.
    expect(new Set(plan.slice(0, 3).map((k) => k.component)).size).toBe(3);
  });

  it('draws only the components it is given', () => {
    const plan = take(killPlan(1, { intervalSec: [1, 2], restartDelaySec: [0, 0], components: ['sandbox', 'postgres'] }), 6);
    expect(new Set(plan.map((k) => k.component))).toEqual(new Set(['sandbox', 'postgres']));
  });

  it('uses a uniform generator in [0, 1)', () => {
    const r = seededRandom(42);
    const xs = Array.from({ length: 10_000 }, r);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.reduce((a, b) => a + b, 0) / xs.length).toBeCloseTo(0.5, 1);
  });

  it('parses ranges of seconds', () => {
    expect(parseRange('45-60')).toEqual([45, 60]);
    expect(parseRange('50')).toEqual([50, 50]);
    expect(parseRange('1.5 - 2')).toEqual([1.5, 2]);
    expect(() => parseRange('60-45')).toThrow(/upper bound/);
    expect(() => parseRange('soon')).toThrow(/range/);
  });
});

function outcome(sections: RunOutcome['sections'], completed: string[] = []): RunOutcome {
  return { completedIterations: completed, sections };
}

describe('chaos outcome comparison', () => {
  const reference = outcome({
    iterations: { 'rft/0': { status: 'completed', 'metrics.rewardMean': 0.5 }, 'rl-stage1/0': { status: 'completed', 'metrics.rewardMean': 0.25 }, 'rl-stage1/1': { status: 'completed' } },
    episodes: { 'rl-stage1/0/t1/0': { reward: 1, turnsSha256: 'a' }, 'rl-stage1/0/t1/1': { reward: 0, turnsSha256: 'b' } },
  });

  it('finds nothing when the records within scope are equal, whatever lies outside it', () => {
    const chaos = outcome({
      iterations: { 'rft/0': { status: 'completed', 'metrics.rewardMean': 0.5 }, 'rl-stage1/0': { status: 'completed', 'metrics.rewardMean': 0.25 }, 'rl-stage1/1': { status: 'training' } },
      episodes: { 'rl-stage1/0/t1/1': { turnsSha256: 'b', reward: 0 }, 'rl-stage1/0/t1/0': { reward: 1, turnsSha256: 'a' } },
    });
    expect(diffOutcomes(reference, chaos, new Set(['rft/0', 'rl-stage1/0']))).toEqual([]);
    expect(countsInScope(chaos, new Set(['rft/0', 'rl-stage1/0']))).toEqual({ iterations: 2, episodes: 2 });
  });

  it('names every differing field, and records present on one side only', () => {
    const chaos = outcome({
      iterations: { 'rft/0': { status: 'completed', 'metrics.rewardMean': 0.75 }, 'rl-stage1/0': { status: 'completed', 'metrics.rewardMean': 0.25 } },
      episodes: { 'rl-stage1/0/t1/0': { reward: 1, turnsSha256: 'c' }, 'rl-stage1/0/t2/0': { reward: 1 } },
    });
    expect(diffOutcomes(reference, chaos, new Set(['rft/0', 'rl-stage1/0']))).toEqual([
      { section: 'episodes', key: 'rl-stage1/0/t1/0', field: 'turnsSha256', reference: 'a', chaos: 'c' },
      { section: 'episodes', key: 'rl-stage1/0/t1/1', field: '(record)', reference: 'present', chaos: 'missing' },
      { section: 'episodes', key: 'rl-stage1/0/t2/0', field: '(record)', reference: 'missing', chaos: 'present' },
      { section: 'iterations', key: 'rft/0', field: 'metrics.rewardMean', reference: 0.5, chaos: 0.75 },
    ]);
  });

  it('drops wall-time metrics and keeps the rest', () => {
    expect(flattenMetrics({ loss: 1.25, seconds: 3.1, tokens_per_sec: 900, durationSec: 40, trainerTokensPerSec: 1, infraFailures: 2, episodes: 8 })).toEqual({
      'metrics.loss': 1.25,
      'metrics.episodes': 8,
    });
    expect(flattenMetrics(null)).toEqual({});
  });
});
