import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bestConstant, constantScore, deleteLine, firstStatementLine, learnBaselines, randomLineScore, renderBaselines, renderBaselinesDoc, type LearnBaselines } from '../../tasks/learn/baselines';
import type { LearnInstance } from '../../tasks/learn/family';
import { learnSuiteInstances, type LearnSplit, type SplitInstance } from '../../tasks/learn/suite';

/** A hand-made task: `source` whose stray statement is on `line`; gold = source without it. */
function task(name: string, source: string, line: number, defLine: number, split: LearnSplit = 'train'): SplitInstance {
  const gold = deleteLine(source, line);
  const inst: LearnInstance = {
    name, module: name, file: 'app.py', line, defLine, source,
    spec: { name, problem: `app.py line ${line}: x`, files: { 'app.py': source }, gold: [{ file: 'app.py', content: gold }], tests: [], failToPass: [], passToPass: [] },
  };
  return { ...inst, split };
}

// A: 3 lines, stray on 2; B: 4 lines, stray on 3; C: 5 lines, stray on 2.
const A = task('a', 'def f(a, b):\n    a = a + 2\n    return a + b\n', 2, 1);
const B = task('b', 'def g(x, y):\n    x = x * 3\n    y = y - 2\n    return x + y\n', 3, 1);
const C = task('c', 'def h(p, q):\n    p = p - 1\n    q = q + 4\n    p = p * 2\n    return p * q\n', 2, 1);

describe('learn baselines', () => {
  it('deleteLine removes one 1-based line; out of range leaves the module unchanged', () => {
    expect(deleteLine('l1\nl2\nl3\n', 2)).toBe('l1\nl3\n');
    expect(deleteLine('l1\nl2\nl3\n', 3)).toBe('l1\nl2\n');
    expect(deleteLine('l1\nl2\nl3\n', 4)).toBe('l1\nl2\nl3\n');
    expect(deleteLine('l1\nl2\nl3\n', 0)).toBe('l1\nl2\nl3\n');
  });

  it('constant lines: line 2 solves A and C (2/3), line 3 solves B (1/3); the best is line 2', () => {
    expect(constantScore([A, B, C], 2)).toBeCloseTo(2 / 3, 12);
    expect(constantScore([A, B, C], 3)).toBeCloseTo(1 / 3, 12);
    expect(constantScore([A, B, C], null)).toBe(0);
    expect(bestConstant([A, B, C])).toEqual({ line: 2, score: 2 / 3 });
    // Ties go to the smaller line: on B alone only line 3 solves.
    expect(bestConstant([B])).toEqual({ line: 3, score: 1 });
  });

  it('random line is the mean of 1/lines: (1/3 + 1/4 + 1/5) / 3 = 47/180', () => {
    expect(randomLineScore([A, B, C])).toBeCloseTo(47 / 180, 12);
  });

  it('every baseline per split, the constant chosen on train only', () => {
    const b = learnBaselines([A, C, { ...B, split: 'test' }, { ...A, name: 'a2', split: 'validation' }]);
    expect(b.constantLine).toBe(2);
    const row = (prefix: string) => b.rows.find((r) => r.policy.startsWith(prefix))!.pass1;
    expect(row('never edit')).toEqual({ train: 0, validation: 0, test: 0 });
    // Line 2 (chosen on train: A, C) scores 0 on B (test), 1 on A (validation).
    expect(row('constant: delete line 2')).toEqual({ train: 1, validation: 1, test: 0 });
    expect(row('best constant line of each split')).toEqual({ train: 1, validation: 1, test: 1 });
    expect(row('random line').train).toBeCloseTo((1 / 3 + 1 / 5) / 2, 12);
    expect(row('random line').test).toBeCloseTo(1 / 4, 12);
    expect(row('first')).toEqual({ train: 1, validation: 1, test: 0 });
    expect(row('the line the issue says the function starts on')).toEqual({ train: 0, validation: 0, test: 0 });
    expect(firstStatementLine(B.source)).toBe(2);
    expect(renderBaselines(b)).toContain('| constant: delete line 2 (best on train) | 100.00% | 100.00% | 0.00% |');
  });

  it('on the committed suite every trivial policy scores at most 5% on every split; reading the issue scores 100%', () => {
    const b = learnBaselines(learnSuiteInstances());
    for (const r of b.rows) {
      const max = Math.max(r.pass1.train, r.pass1.validation, r.pass1.test);
      if (r.policy.includes('(gold)')) expect(max).toBe(1);
      else expect(max, r.policy).toBeLessThanOrEqual(0.05);
    }
    expect(b.rows).toHaveLength(7);
  });

  it('docs/learn-baselines.{json,md} are what the suite scores now, and the markdown is rebuilt from the JSON', () => {
    const docs = path.join(__dirname, '..', '..', 'docs');
    const committed = JSON.parse(readFileSync(path.join(docs, 'learn-baselines.json'), 'utf8')) as LearnBaselines;
    expect(committed).toEqual(learnBaselines(learnSuiteInstances()));
    expect(readFileSync(path.join(docs, 'learn-baselines.md'), 'utf8')).toBe(renderBaselinesDoc(committed));
  });
});
