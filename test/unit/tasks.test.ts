import { describe, expect, it } from 'vitest';
import { ErrorCodes, TaskError } from '../../core/errors';
import { isTestPath, junitKeyOfNodeId, parseJUnitXml, parsePatch, parseTaskLine, testFilesOf } from '../../core/tasks';

const line = (over: Record<string, unknown> = {}): string => JSON.stringify({
  instance_id: 'acme__widgets-12',
  repo: 'acme/widgets',
  base_commit: 'abc1234def',
  problem_statement: 'It breaks.',
  patch: 'diff --git a/w.py b/w.py\n',
  test_patch: '',
  FAIL_TO_PASS: ['tests/test_w.py::test_a'],
  PASS_TO_PASS: [],
  ...over,
});

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof TaskError ? err.code : 'not a TaskError';
  }
  return undefined;
}

describe('parseTaskLine', () => {
  it('accepts arrays and SWE-bench string-encoded lists, defaults split to train', () => {
    const t = parseTaskLine(line({ PASS_TO_PASS: '["tests/test_w.py::test_b", "tests/test_w.py::test_c"]', version: 1.2 }), 1);
    expect(t.instanceId).toBe('acme__widgets-12');
    expect(t.failToPass).toEqual(['tests/test_w.py::test_a']);
    expect(t.passToPass).toEqual(['tests/test_w.py::test_b', 'tests/test_w.py::test_c']);
    expect(t.split).toBe('train');
    expect(t.version).toBe('1.2');
  });

  it('keeps our optional fields and ignores unknown ones', () => {
    const t = parseTaskLine(line({ repo_path: 'repos/x.tar.gz', split: 'eval', setup: 'pip install -e .', meta: { a: 1 } }), 3);
    expect([t.repoPath, t.split, t.setup]).toEqual(['repos/x.tar.gz', 'eval', 'pip install -e .']);
  });

  it('rejects bad JSON with the line number', () => {
    expect(() => parseTaskLine('{"instance_id": ', 7)).toThrow(/line 7: not valid JSON/);
    expect(codeOf(() => parseTaskLine('{', 7))).toBe(ErrorCodes.TASK_INVALID);
  });

  it('names the instance and every bad field', () => {
    let err: unknown;
    try {
      parseTaskLine(line({ base_commit: 'not-hex', FAIL_TO_PASS: '[1, 2]' }), 4);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TaskError);
    const e = err as TaskError;
    expect(e.code).toBe(ErrorCodes.TASK_INVALID);
    expect(e.message).toContain('line 4 (acme__widgets-12)');
    expect(e.message).toContain('base_commit');
    expect(e.message).toContain('FAIL_TO_PASS');
    expect(e.details.line).toBe(4);
  });

  it('rejects an empty FAIL_TO_PASS, a missing patch and a test listed in both lists', () => {
    expect(codeOf(() => parseTaskLine(line({ FAIL_TO_PASS: [] }), 1))).toBe(ErrorCodes.TASK_INVALID);
    expect(codeOf(() => parseTaskLine(line({ FAIL_TO_PASS: '[]' }), 1))).toBe(ErrorCodes.TASK_INVALID);
    expect(codeOf(() => parseTaskLine(line({ patch: undefined }), 1))).toBe(ErrorCodes.TASK_INVALID);
    expect(codeOf(() => parseTaskLine(line({ PASS_TO_PASS: ['tests/test_w.py::test_a'] }), 1))).toBe(ErrorCodes.TASK_INVALID);
    expect(codeOf(() => parseTaskLine(line({ split: 'dev' }), 1))).toBe(ErrorCodes.TASK_INVALID);
  });
});

const GIT_DIFF = [
  'diff --git a/pkg/core.py b/pkg/core.py',
  'index 1111111..2222222 100644',
  '--- a/pkg/core.py',
  '+++ b/pkg/core.py',
  '@@ -1,4 +1,4 @@',
  ' def f(x):',
  '---- a removed line that looks like a header',
  '+++ an added line that looks like a header',
  '     return x',
  ' ',
  '@@ -10,2 +10,3 @@ def g():',
  ' a',
  '+b',
  ' c',
  'diff --git a/tests/test_new.py b/tests/test_new.py',
  'new file mode 100644',
  'index 0000000..3333333',
  '--- /dev/null',
  '+++ b/tests/test_new.py',
  '@@ -0,0 +1,2 @@',
  '+def test_x():',
  '+    assert True',
  'diff --git a/old.py b/old.py',
  'deleted file mode 100644',
  'index 4444444..0000000',
  '--- a/old.py',
  '+++ /dev/null',
  '@@ -1 +0,0 @@',
  '-x = 1',
  '\\ No newline at end of file',
  '',
].join('\n');

describe('parsePatch', () => {
  it('counts files and changed lines by hunk, not by line prefix', () => {
    const s = parsePatch(GIT_DIFF);
    expect(s.files.map((f) => [f.path, f.oldPath, f.newPath, f.added, f.removed])).toEqual([
      ['pkg/core.py', 'pkg/core.py', 'pkg/core.py', 2, 1],
      ['tests/test_new.py', null, 'tests/test_new.py', 2, 0],
      ['old.py', 'old.py', null, 0, 1],
    ]);
    expect([s.filesChanged, s.added, s.removed, s.changedLines]).toEqual([3, 4, 2, 6]);
  });

  it('reads plain (non-git) unified diffs with several files', () => {
    const plain = ['--- a/x.py\t2024-01-01', '+++ b/x.py\t2024-01-02', '@@ -1 +1 @@', '-a', '+b',
      '--- a/y.py', '+++ b/y.py', '@@ -3,0 +4 @@', '+c', ''].join('\n');
    const s = parsePatch(plain);
    expect(s.files.map((f) => [f.path, f.added, f.removed])).toEqual([['x.py', 1, 1], ['y.py', 1, 0]]);
    expect(s.changedLines).toBe(3);
  });

  it('counts a mode-only change as a file with no lines, and an empty diff as nothing', () => {
    const s = parsePatch('diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n');
    expect([s.filesChanged, s.changedLines]).toEqual([1, 0]);
    expect(parsePatch('').filesChanged).toBe(0);
  });
});

describe('isTestPath', () => {
  it.each([
    ['tests/test_a.py', true], ['pkg/tests/helpers.py', true], ['test_x.py', true], ['pkg/x_test.py', true],
    ['pkg/conftest.py', true], ['testing/util.py', true], ['pkg/tests.py', true],
    ['pkg/core.py', false], ['pkg/contest.py', false], ['pkg/latest/x.py', false], ['docs/testimony.md', false],
  ])('%s → %s', (path, expected) => {
    expect(isTestPath(path)).toBe(expected);
  });
});

describe('testFilesOf', () => {
  it('dedupes and sorts the files of node ids', () => {
    expect(testFilesOf(['tests/b.py::t1', 'tests/a.py::C::t[x::y]', 'tests/b.py::t2'])).toEqual(['tests/a.py', 'tests/b.py']);
  });
});

describe('junitKeyOfNodeId', () => {
  it('maps a node id to pytest junit classname and name', () => {
    expect(junitKeyOfNodeId('tests/test_x.py::test_a')).toEqual({ classname: 'tests.test_x', name: 'test_a' });
    expect(junitKeyOfNodeId('tests/sub/test_x.py::TestA::test_b[1-2]')).toEqual({ classname: 'tests.sub.test_x.TestA', name: 'test_b[1-2]' });
    expect(junitKeyOfNodeId('t.py::test_c[a::b/c.py]')).toEqual({ classname: 't', name: 'test_c[a::b/c.py]' });
  });
});

const XML = `<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5" time="0.2">
<testcase classname="tests.test_x" name="test_ok" time="0.010" />
<testcase classname="tests.test_x" name="test_bad" time="0.020"><failure message="assert 1 == 2">def test_bad():
&gt;       assert 1 == 2
E       assert 1 == 2</failure></testcase>
<testcase classname="tests.test_x.TestK" name="test_p[-3 + 5-2]" time="0.5"><system-out><![CDATA[<error> inside cdata is text]]></system-out></testcase>
<testcase classname="tests.test_x" name="test_skip" time="0"><skipped type="pytest.skip" message="no">skip</skipped></testcase>
<testcase classname="tests.test_x" name="test_xfail" time="0.01"><skipped type="pytest.xfail" message="known bug" /></testcase>
<testcase classname="tests.test_x" name="test_teardown" time="0.1"></testcase>
<testcase classname="tests.test_x" name="test_teardown" time="0.2"><error message="teardown failed">boom</error></testcase>
<testcase classname="" name="tests.test_broken" time="0.000"><error message="collection failure">ImportError</error></testcase>
</testsuite></testsuites>`;

describe('parseJUnitXml', () => {
  it('reads outcomes and durations and names cases by the expected node ids', () => {
    const cases = parseJUnitXml(XML, ['tests/test_x.py::test_ok', 'tests/test_x.py::TestK::test_p[-3 + 5-2]', 'tests/test_x.py::test_teardown']);
    const by = Object.fromEntries(cases.map((c) => [c.nodeid, [c.outcome, c.durationSec]]));
    expect(by).toEqual({
      'tests/test_x.py::test_ok': ['passed', 0.01],
      'tests.test_x::test_bad': ['failed', 0.02],
      'tests/test_x.py::TestK::test_p[-3 + 5-2]': ['passed', 0.5],
      'tests.test_x::test_skip': ['skipped', 0],
      'tests.test_x::test_xfail': ['passed', 0.01],
      // the same case twice (call passed, teardown errored): the worse outcome, summed time
      'tests/test_x.py::test_teardown': ['error', 0.30000000000000004],
      'tests.test_broken': ['error', 0],
    });
  });

  it('decodes entities in attributes', () => {
    const [c] = parseJUnitXml('<testsuite><testcase classname="t" name="test_a[&lt;&amp;&#62;&#x41;]" time="1"/></testsuite>');
    expect(c!.name).toBe('test_a[<&>A]');
  });

  it('refuses truncated or foreign XML instead of reporting no tests', () => {
    expect(() => parseJUnitXml(XML.slice(0, XML.length - 40))).toThrow(/unclosed|unbalanced/);
    expect(() => parseJUnitXml('<html><body/></html>')).toThrow(/no <testsuite>/);
    expect(parseJUnitXml('<testsuites><testsuite name="pytest" tests="0"></testsuite></testsuites>')).toEqual([]);
  });
});
