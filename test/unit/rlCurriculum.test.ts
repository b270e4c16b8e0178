import { describe, expect, it } from 'vitest';
import { CurriculumSchema } from '../../core/config';
import { applyCurriculumRule, filterStage2, statsForPool } from '../../core/rl';

const INVALID = /SWERL_RL_INPUT_INVALID/;
const paperRule = { dropSolvedAtLeast: 2 / 3, dropNeverSolved: true };
const stat = (taskId: string, attempts: number, solves: number) => ({ taskId, attempts, solves });

const stats = [
  stat('always', 30, 30), // 1.0 ≥ 2/3 → too easy
  stat('two-of-three', 3, 2), // 2/3 ≥ 2/3: exactly on the boundary → too easy
  stat('twenty-of-thirty', 30, 20), // 20/30 = 2/3 → too easy
  stat('nineteen-of-thirty', 30, 19), // 0.6333 < 2/3 → kept
  stat('one-of-ten', 10, 1), // 0.1 → kept
  stat('never', 10, 0), // attempted, never solved → dropped
  stat('unattempted', 0, 0), // never drawn in stage 1 → dropped as no_attempts
];

describe('filterStage2', () => {
  it('drops tasks solved at least 2/3 of the time and tasks never solved (paper stage 2)', () => {
    expect(filterStage2(stats, paperRule)).toEqual({
      kept: ['nineteen-of-thirty', 'one-of-ten'],
      dropped: [
        { taskId: 'always', reason: 'too_easy' },
        { taskId: 'never', reason: 'never_solved' },
        { taskId: 'twenty-of-thirty', reason: 'too_easy' },
        { taskId: 'two-of-three', reason: 'too_easy' },
        { taskId: 'unattempted', reason: 'no_attempts' },
      ],
    });
  });

  it('keeps never-solved and unattempted tasks when dropNeverSolved is off', () => {
    const r = filterStage2(stats, { dropSolvedAtLeast: 2 / 3, dropNeverSolved: false });
    expect(r.kept).toEqual(['never', 'nineteen-of-thirty', 'one-of-ten', 'unattempted']);
    expect(r.dropped.map((d) => d.reason)).toEqual(['too_easy', 'too_easy', 'too_easy']);
  });

  it('checks never-solved before too-easy, so a threshold of 0 cannot relabel unsolved tasks', () => {
    const r = filterStage2([stat('never', 5, 0), stat('once', 5, 1)], { dropSolvedAtLeast: 0, dropNeverSolved: true });
    expect(r.dropped).toEqual([{ taskId: 'never', reason: 'never_solved' }, { taskId: 'once', reason: 'too_easy' }]);
  });

  it('sorts its output whatever order the stats came in', () => {
    expect(filterStage2(stats.slice().reverse(), paperRule)).toEqual(filterStage2(stats, paperRule));
  });

  it('rejects impossible stats and thresholds', () => {
    expect(() => filterStage2([stat('t', 2, 3)], paperRule)).toThrow(/task t has 3 solves but only 2 attempts/);
    expect(() => filterStage2([stat('t', -1, 0)], paperRule)).toThrow(/attempts of task t must be an integer >= 0/);
    expect(() => filterStage2([stat('t', 1, 0), stat('t', 2, 1)], paperRule)).toThrow(/task id "t" appears more than once/);
    expect(() => filterStage2([], { dropSolvedAtLeast: 1.5, dropNeverSolved: true })).toThrow(INVALID);
  });
});

describe('statsForPool', () => {
  it('sums the source stages, fills unattempted pool tasks with zeros and ignores tasks outside the pool', () => {
    const rows = [stat('a', 5, 2), stat('a', 5, 1), stat('x', 9, 9), stat('c', 4, 4)];
    // a: 5 + 5 = 10 attempts, 2 + 1 = 3 solves; b: never attempted; x: not in the pool.
    expect(statsForPool(['c', 'a', 'b'], rows)).toEqual([stat('a', 10, 3), stat('b', 0, 0), stat('c', 4, 4)]);
  });
});

describe('applyCurriculumRule', () => {
  const pool = statsForPool(['t3', 't1', 't2'], [stat('t1', 3, 3), stat('t2', 3, 1)]);

  it("keeps the whole pool under 'all'", () => {
    expect(applyCurriculumRule(CurriculumSchema.parse({}), pool)).toEqual({ kept: ['t1', 't2', 't3'], dropped: [] });
  });

  it("applies the stage's thresholds under 'drop-easy-and-unsolved'", () => {
    expect(applyCurriculumRule(CurriculumSchema.parse({ rule: 'drop-easy-and-unsolved' }), pool)).toEqual({
      kept: ['t2'],
      dropped: [{ taskId: 't1', reason: 'too_easy' }, { taskId: 't3', reason: 'no_attempts' }],
    });
    // Threshold 1: only always-solved tasks are too easy; 1/3 and 3/3 → t1 dropped, t2 kept.
    const strict = CurriculumSchema.parse({ rule: 'drop-easy-and-unsolved', dropSolvedAtLeast: 1, dropNeverSolved: false });
    expect(applyCurriculumRule(strict, pool).kept).toEqual(['t2', 't3']);
  });
});
