/**
 * The pure parts of task import: what a line keeps (source line, extra fields), the content hash a
 * re-run compares, which harness crash is the task's environment, and the CLI's progress/summary text.
 */
import { describe, expect, it } from 'vitest';
import { legacyTaskContentHash, taskContentHash, type ImportResult } from '../../activities/tasks';
import { environmentFault } from '../../activities/taskEnvironment';
import { defaultJobs, importSummary, progressLine } from '../../cli/taskCommands';
import { ErrorCodes, SandboxError } from '../../core/errors';
import { parseTaskLine } from '../../core/tasks';

const line = {
  repo: 'acme/widgets', instance_id: 'acme__widgets-1', base_commit: 'abcdef1', patch: 'diff --git a/w.py b/w.py\n', test_patch: '',
  problem_statement: 'broken', hints_text: '', created_at: '2023-01-01T00:00:00Z', version: '1.0',
  FAIL_TO_PASS: '["t.py::test_a"]', PASS_TO_PASS: '[]', environment_setup_commit: 'abcdef2',
};

describe('parseTaskLine', () => {
  it('keeps the line as read and the fields it does not read', () => {
    const text = JSON.stringify({ ...line, install_config: { python: '3.9' }, image: 'sweb.eval.x86_64.acme__widgets-1' });
    const task = parseTaskLine(text, 1);
    expect(task.sourceLine).toBe(text);
    expect(task.extra).toEqual({ install_config: { python: '3.9' }, image: 'sweb.eval.x86_64.acme__widgets-1' });
    expect([task.hintsText, task.createdAt, task.version, task.environmentSetupCommit]).toEqual(['', '2023-01-01T00:00:00Z', '1.0', 'abcdef2']);
  });
});

describe('taskContentHash', () => {
  const hash = (o: Record<string, unknown>, text = JSON.stringify(o)) => taskContentHash(parseTaskLine(text, 1));

  it('ignores key order, spacing and repo_path, and counts every other field', () => {
    const h = hash(line);
    const reordered = Object.fromEntries(Object.entries(line).reverse());
    expect(hash(reordered, JSON.stringify(reordered, null, 1).replaceAll('\n', ' '))).toBe(h);
    expect(hash({ ...line, repo_path: '/somewhere/else' })).toBe(h);
    expect(hash({ ...line, version: '1.1' })).not.toBe(h);
    expect(hash({ ...line, image: 'prebuilt:1' })).not.toBe(h);
    expect(hash({ ...line, install_config: { python: '3.9' } })).not.toBe(hash({ ...line, install_config: { python: '3.11' } }));
  });

  it('falls back to the legacy field list for a task without a source line', () => {
    const { sourceLine: _s, ...task } = parseTaskLine(JSON.stringify(line), 1);
    expect(taskContentHash(task)).toBe(legacyTaskContentHash(task));
    expect(taskContentHash(parseTaskLine(JSON.stringify(line), 1))).not.toBe(legacyTaskContentHash(task));
  });
});

describe('environmentFault', () => {
  const crash = (why: string) => new SandboxError(ErrorCodes.REWARD_HARNESS_CRASHED,
    `reward harness for task t (image i) crashed while running the tests: ${why}`);

  it('is the task environment when pytest ran and left no report because of an import or collection error', () => {
    const q = environmentFault(crash("pytest left no JUnit report (exit 4): ImportError while loading conftest '/repo/conftest.py'.\nModuleNotFoundError: No module named 'x'"), 'with the gold patch');
    expect(q?.code).toBe(ErrorCodes.TASK_ENV_BROKEN);
    expect(q?.reason).toMatch(/^the tests cannot run with the gold patch \(pytest exit 4, no report\): ImportError/);
    expect(environmentFault(crash('pytest left no JUnit report (exit 2): interrupted'), 'x')?.code).toBe(ErrorCodes.TASK_ENV_BROKEN);
  });

  it('is infra (undefined) for a container or Docker failure, or another error', () => {
    expect(environmentFault(crash('(HTTP code 500) server error - container died'), 'x')).toBeUndefined();
    expect(environmentFault(crash('pytest left no JUnit report (exit 137): '), 'x')).toBeUndefined();
    expect(environmentFault(new SandboxError(ErrorCodes.SANDBOX_START_FAILED, 'pytest left no JUnit report (exit 4): ImportError'), 'x')).toBeUndefined();
    expect(environmentFault(new Error('boom'), 'x')).toBeUndefined();
  });
});

describe('import CLI text', () => {
  it('progress lines carry the count, the elapsed time and the outcome', () => {
    expect(progressLine({ kind: 'accepted', instanceId: 'a-1', elapsedMs: 4100, image: 'swerl-task:0123456789ab' }, 3, 12, 61_000))
      .toBe('[ 3/12   61.0 s] accepted    a-1 (4.1 s, swerl-task:0123456789ab)');
    expect(progressLine({ kind: 'quarantined', instanceId: 'b-2', elapsedMs: 250, code: ErrorCodes.TASK_ENV_BROKEN, reason: 'r' }, 4, 12, 62_000))
      .toBe('[ 4/12   62.0 s] quarantined b-2 SWERL_TASK_ENV_BROKEN (0.3 s)');
  });

  it('the closing table counts every outcome, quarantines by code', () => {
    const q = (id: string, code: (typeof ErrorCodes)[keyof typeof ErrorCodes]) => ({ instanceId: id, line: 1, code, reason: '' });
    const result: ImportResult = {
      accepted: [], skipped: ['s'], images: { built: 1, reused: 2 },
      quarantined: [q('a', ErrorCodes.TASK_GOLD_FAILS), q('b', ErrorCodes.TASK_ENV_BROKEN), q('c', ErrorCodes.TASK_GOLD_FAILS)],
      deferred: [{ ...q('d', ErrorCodes.TASK_VALIDATION_INCOMPLETE), code: ErrorCodes.TASK_VALIDATION_INCOMPLETE, attempts: 3 }],
    };
    expect(importSummary(result, 0, { fetches: 1, reused: 4, fetchesByRepo: {} })).toBe([
      'imported                 0 (0 new)',
      'skipped                  1 (verdict stored for the same content)',
      'quarantined              3',
      '  SWERL_TASK_ENV_BROKEN  1',
      '  SWERL_TASK_GOLD_FAILS  2',
      'deferred                 1 (SWERL_TASK_VALIDATION_INCOMPLETE: infra failed past the retry bound; run the import again)',
      'images                   1 built, 2 reused',
      'repositories             1 fetches, 4 served from the mirror cache',
    ].join('\n'));
  });

  it('--jobs defaults to half the cores, at least one', () => {
    expect([defaultJobs(1), defaultJobs(2), defaultJobs(8)]).toEqual([1, 1, 4]);
  });
});
