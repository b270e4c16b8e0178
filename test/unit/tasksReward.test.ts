import { describe, expect, it } from 'vitest';
import { pathsToRestore } from '../../activities/reward';
import { finalOutcome, needsRerun, outcomesFromJUnit, rewardOf, settledOutcome } from '../../activities/reward/scoring';
import type { JUnitCase } from '../../core/tasks';

describe('reward scoring', () => {
  it('marks listed tests pytest never reported as missing', () => {
    const cases: JUnitCase[] = [{ nodeid: 't.py::a', classname: 't', name: 'a', outcome: 'passed', durationSec: 0.5 }];
    expect([...outcomesFromJUnit(cases, ['t.py::a', 't.py::b']).entries()]).toEqual([
      ['t.py::a', { outcome: 'passed', durationSec: 0.5 }],
      ['t.py::b', { outcome: 'missing', durationSec: 0 }],
    ]);
  });

  it('R = 1 only when every listed test passed, and never for an empty list', () => {
    expect(rewardOf([{ outcome: 'passed' }, { outcome: 'passed' }])).toBe(1);
    expect(rewardOf([{ outcome: 'passed' }, { outcome: 'skipped' }])).toBe(0);
    expect(rewardOf([{ outcome: 'passed' }, { outcome: 'missing' }])).toBe(0);
    expect(rewardOf([])).toBe(0);
  });

  it('never reruns a first-run pass; with reruns = 0 the single run decides', () => {
    expect(settledOutcome(['passed'], 4, 'majority')).toBe('passed');
    expect(needsRerun({ runs: ['passed'] }, 4, 'any-pass')).toBe(false);
    expect(settledOutcome(['failed'], 0, 'majority')).toBe('failed');
    expect(settledOutcome(['error'], 0, 'any-pass')).toBe('error');
  });

  it('majority: a failed test passes only with a strict majority of 1 + reruns runs, stopping once settled', () => {
    // reruns = 2: 3 runs, 2 passes needed; the first run already failed, so both reruns must pass.
    expect(settledOutcome(['failed'], 2, 'majority')).toBeUndefined();
    expect(settledOutcome(['failed', 'passed'], 2, 'majority')).toBeUndefined();
    expect(settledOutcome(['failed', 'passed', 'passed'], 2, 'majority')).toBe('passed');
    expect(settledOutcome(['failed', 'failed'], 2, 'majority')).toBe('failed');
    // reruns = 4: 5 runs, 3 passes needed.
    expect(settledOutcome(['error', 'passed', 'failed', 'passed'], 4, 'majority')).toBeUndefined();
    expect(finalOutcome(['error', 'passed', 'failed', 'passed', 'failed'], 4, 'majority')).toBe('error');
    expect(finalOutcome(['error', 'passed', 'failed', 'passed', 'passed'], 4, 'majority')).toBe('passed');
  });

  it('any-pass: one passing rerun is enough; otherwise the first failure is reported', () => {
    expect(settledOutcome(['failed', 'passed'], 3, 'any-pass')).toBe('passed');
    expect(settledOutcome(['failed', 'failed'], 3, 'any-pass')).toBeUndefined();
    expect(finalOutcome(['missing', 'failed', 'failed', 'failed'], 3, 'any-pass')).toBe('missing');
  });
});

describe('pathsToRestore', () => {
  it('resets test files and root pytest config the agent touched and every file of test_patch, not its source edits', () => {
    const agent = [
      'diff --git a/pkg/core.py b/pkg/core.py', '--- a/pkg/core.py', '+++ b/pkg/core.py', '@@ -1 +1 @@', '-a', '+b',
      'diff --git a/tests/conftest.py b/tests/conftest.py', 'new file mode 100644', '--- /dev/null', '+++ b/tests/conftest.py', '@@ -0,0 +1 @@', '+x = 1',
      'diff --git a/tests/test_a.py b/tests/test_a.py', '--- a/tests/test_a.py', '+++ b/tests/test_a.py', '@@ -1 +1 @@', '-assert f()', '+pass',
      'diff --git a/pytest.ini b/pytest.ini', 'new file mode 100644', '--- /dev/null', '+++ b/pytest.ini', '@@ -0,0 +1,2 @@', '+[pytest]', '+addopts = -p hack',
      'diff --git a/docs/setup.cfg b/docs/setup.cfg', '--- a/docs/setup.cfg', '+++ b/docs/setup.cfg', '@@ -1 +1 @@', '-a', '+b', '',
    ].join('\n');
    const testPatch = ['diff --git a/tests/test_b.py b/tests/test_b.py', 'new file mode 100644', '--- /dev/null', '+++ b/tests/test_b.py', '@@ -0,0 +1 @@', '+def test_b(): pass', ''].join('\n');
    expect(pathsToRestore(agent, testPatch)).toEqual(['pytest.ini', 'tests/conftest.py', 'tests/test_a.py', 'tests/test_b.py']);
    expect(pathsToRestore('', '')).toEqual([]);
  });
});
