/**
 * The real-task path on a synthetic task (no fetched data): the swebench bridge answers with the
 * official spec, eval script, parser and verdict; the environment image is built in three layers
 * from a wheel cache filled once on the host (a re-run builds and downloads nothing); and the
 * grade in Docker gives the gold patch 1 and an empty patch 0, matched on test ids as the official
 * parser writes them.
 */
import Docker from 'dockerode';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxLimits } from '../../activities/sandbox';
import { computeSwebenchReward } from '../../activities/reward/swebench';
import { swebench } from '../../sandbox/swebenchBridge';
import { ensureSwebenchEnvironment, type TaskEnvironment } from '../../sandbox/swebenchEnv';
import { makeSyntheticTask, type SyntheticTask } from '../fixtures/swebench/syntheticRepo';
import { importTasks, persistImport } from '../../activities/tasks';
import { swebenchEnvironment, swebenchLineOf, swebenchRecordOf, swerlBaseEnvironment } from '../../activities/taskEnvironment';
import { createDb } from '../../db/client';
import { getTask } from '../../db/tasks';
import { createTestDatabase } from '../harness/db';

const docker = new Docker();
const limits: SandboxLimits = { cpus: 1, memoryMiB: 1024, pidsLimit: 256, outputLimitBytes: 256 * 1024, commandTimeoutSec: 300, user: '1000:1000' };
let root: string;
let task: SyntheticTask;
let env: TaskEnvironment;

const ASTROID = {
  instance_id: 'pylint-dev__astroid-0', repo: 'pylint-dev/astroid', version: '2.9', base_commit: 'a'.repeat(40), test_patch: '',
  // As a dataset row lists a parametrised id with a space: cut where the official parser cuts it.
  FAIL_TO_PASS: ['tests/unittest_nodes.py::test_f2p[a'], PASS_TO_PASS: ['tests/unittest_nodes.py::test_p2p'],
};
const grade = (diff: string): ReturnType<typeof computeSwebenchReward> =>
  computeSwebenchReward(docker, task.line, diff, { image: env.image, layout: env.layout, limits, testTimeoutSec: 600, labels: { run: 'test-swebench', episode: task.line.instance_id } });
/** One grade is ~15 s on a quiet machine; 200-300 s were measured at load average 55 on 2 cores. */
const GRADE_TIMEOUT = { timeout: 900_000 };
const markers = (body: string): string => `+ : '>>>>> Start Test Output'\n${body}\n+ : '>>>>> End Test Output'\n`;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'swerl-swebench-'));
  task = makeSyntheticTask(root);
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('swebench bridge (official harness, pinned 4.1.0)', () => {
  it('answers with the official spec of a (repo, version) and of an install_config line', async () => {
    const official = await swebench.spec(ASTROID);
    expect(official.spec.python).toBe('3.9');
    expect(official.source).toContain('MAP_REPO_VERSION_TO_SPECS');
    expect(official.parser).toBe('swebench.harness.log_parsers.python.parse_log_pytest');
    const own = await swebench.spec(task.line);
    expect(own.source).toBe('install_config');
    expect(own.spec.test_cmd).toBe('pytest -rA');
  });

  it('grades hand-written logs with the official parser: ids cut at the first space, missing tests fail', async () => {
    const resolved = await swebench.grade(ASTROID, markers('PASSED tests/unittest_nodes.py::test_f2p[a b]\nPASSED tests/unittest_nodes.py::test_p2p'));
    expect(resolved.resolved).toBe(true);
    expect(Object.keys(resolved.statusMap).sort()).toEqual(['tests/unittest_nodes.py::test_f2p[a', 'tests/unittest_nodes.py::test_p2p']);

    // The full id is not what the parser writes: listed that way, the test counts as not run.
    const fullId = await swebench.grade({ ...ASTROID, FAIL_TO_PASS: ['tests/unittest_nodes.py::test_f2p[a b]'] }, markers('PASSED tests/unittest_nodes.py::test_f2p[a b]\nPASSED tests/unittest_nodes.py::test_p2p'));
    expect(fullId.resolved).toBe(false);

    const failed = await swebench.grade(ASTROID, markers('FAILED tests/unittest_nodes.py::test_f2p[a b] - assert 0\nPASSED tests/unittest_nodes.py::test_p2p'));
    expect(failed.resolved).toBe(false);
    expect(failed.statusMap['tests/unittest_nodes.py::test_f2p[a']).toBe('FAILED');
    expect(failed.report?.FAIL_TO_PASS.failure).toEqual(['tests/unittest_nodes.py::test_f2p[a']);

    const noMarkers = await swebench.grade(ASTROID, 'PASSED tests/unittest_nodes.py::test_f2p[a b]\n');
    expect(noMarkers).toMatchObject({ resolved: false, logFound: false });
  });

  it('writes the official eval script for the sandbox layout', async () => {
    const ans = await swebench.evalScript(task.line, { repoDirectory: '/repo', activate: '/opt/swerl/venv/bin/activate' });
    expect(ans.script).toContain('source /opt/swerl/venv/bin/activate');
    expect(ans.script).not.toContain('miniconda');
    expect(ans.script).toContain('pytest -rA tests/test_calc.py');
    expect(ans.applyCmds).toEqual(['git apply --verbose', 'git apply --verbose --reject', 'patch --batch --fuzz=5 -p1 -i']);
  });
});

describe('environment image and grading in Docker', () => {
  // Image builds under a loaded machine (load 50 on 2 cores measured ~6 min for this env): a generous bound.
  it('builds base/env/repo offline from the wheel cache, and a re-run reuses every layer and wheel', { timeout: 1_200_000 }, async () => {
    const lines: string[] = [];
    env = await ensureSwebenchEnvironment(task.line, task.repoDir, { docker, findLinks: [task.wheelsDir], log: (l) => lines.push(l) });
    expect(env.image).toMatch(/^swerl-swebench-task:/);
    expect(env.provenance.python).toBe('3.11');
    expect(env.provenance.pythonSubstitutedFor).toBeUndefined();
    // Built here, or already there from an earlier run on this daemon (the fixture's commits are fixed): env and task layers either way.
    const layers = [...env.work.layersBuilt, ...env.work.layersReused].sort();
    expect(layers).toHaveLength(2);
    expect(layers[0]).toMatch(/^swerl-swebench-env:/);
    expect(layers[1]).toBe(env.image);
    if (env.work.layersBuilt.some((t) => t.startsWith('swerl-swebench-env:'))) expect(lines.some((l) => /wheels .*file\(s\)/.test(l))).toBe(true);

    const again = await ensureSwebenchEnvironment(task.line, task.repoDir, { docker, findLinks: [task.wheelsDir] });
    expect(again.image).toBe(env.image);
    expect(again.work).toEqual({ layersBuilt: [], layersReused: [expect.stringMatching(/^swerl-swebench-env:/), env.image], wheelsDownloaded: 0, wheelsReused: 0 });
  });

  it('gold patch scores 1, with every listed id found as the official parser writes it', GRADE_TIMEOUT, async () => {
    const r = await grade(task.line.patch);
    expect(r.reason).toBe('resolved');
    expect(r.reward).toBe(1);
    expect(r.tests.map((t) => [t.nodeid, t.outcome])).toEqual([
      ['tests/test_calc.py::test_add_negative', 'passed'],
      ['tests/test_calc.py::test_add', 'passed'],
      ['tests/test_calc.py::test_words[hello', 'passed'],
      ['tests/test_calc.py::test_words[x]', 'passed'],
    ]);
    expect(r.swebench.parser).toBe('swebench.harness.log_parsers.python.parse_log_pytest');
    expect(r.swebench.appliedWith).toBe('git apply --verbose');
  });

  it('empty patch scores 0: FAIL_TO_PASS fails under the official verdict', GRADE_TIMEOUT, async () => {
    const empty = await grade('');
    expect(empty).toMatchObject({ reward: 0, reason: 'tests_failed', patchApplied: true });
    expect(empty.tests.find((t) => t.list === 'FAIL_TO_PASS')?.outcome).toBe('failed');
    expect(empty.tests.filter((t) => t.list === 'PASS_TO_PASS').every((t) => t.outcome === 'passed')).toBe(true);
    expect(empty.swebench.appliedWith).toBeNull();
  });
});

/** The agent's diff as `git diff` writes it: the synthetic repo at its base commit with `files` rewritten. */
function agentDiff(files: Record<string, string>): string {
  const dir = mkdtempSync(join(root, 'agent-'));
  execFileSync('git', ['clone', '-q', task.repoDir, dir]);
  for (const [path, text] of Object.entries(files)) writeFileSync(join(dir, path), text);
  return execFileSync('git', ['diff'], { cwd: dir, encoding: 'utf8' });
}

const CALC = "from swerl_tinydep import offset\n\n\ndef add(a, b):\n    if b < 0:\n        return a - b  # the bug\n    return a + b + offset()\n";

describe('grading an agent that attacks or breaks the test run', () => {
  it('a patch that forges the test log (where the grader used to read it) still gets the true verdict: 0', GRADE_TIMEOUT, async () => {
    // Runs when the tests import calc, as the sandbox user, at the end of pytest: rewrites the log
    // file the grader once read (/tmp/swerl-reward/eval.log) with every listed test passing.
    const forger = [
      'import atexit, os', '',
      'def _forge():',
      '    ids = ["tests/test_calc.py::test_add_negative", "tests/test_calc.py::test_add", "tests/test_calc.py::test_words[hello world]", "tests/test_calc.py::test_words[x]"]',
      '    body = "+ : \'>>>>> Start Test Output\'\\n" + "".join("PASSED %s\\n" % i for i in ids) + "+ : \'>>>>> End Test Output\'\\n"',
      '    path = "/tmp/swerl-reward/eval.log"',
      '    try:',
      '        with open(path, "w") as f:',
      '            f.write(body)',
      '        os.write(2, ("swerl-forger: wrote %s\\n" % path).encode())',
      '    except OSError as e:',
      '        os.write(2, ("swerl-forger: cannot write %s: %s\\n" % (path, e)).encode())', '',
      'atexit.register(_forge)', '',
    ].join('\n');
    const r = await grade(agentDiff({ 'calc/__init__.py': `${forger}\n${CALC}` }));
    // The forger ran (its own line is in the log the host received) and changed nothing.
    expect(r.outputTail).toContain('swerl-forger: wrote /tmp/swerl-reward/eval.log');
    expect(r).toMatchObject({ reward: 0, reason: 'tests_failed', patchApplied: true });
    expect(r.tests.find((t) => t.list === 'FAIL_TO_PASS')?.outcome).toBe('failed');
  });

  it('a patch that breaks collection (a syntax error in the module the tests import) scores 0 with a reason, not a crash', GRADE_TIMEOUT, async () => {
    const r = await grade(agentDiff({ 'calc/__init__.py': CALC.replace('def add(a, b):', 'def add(a, b)') }));
    expect(r).toMatchObject({ reward: 0, reason: 'tests_failed', patchApplied: true });
    expect(r.outputTail).toContain('SyntaxError');
    expect(r.tests.every((t) => t.outcome !== 'passed')).toBe(true);
  });
});

describe('the import pipeline and the episode reward use SWE-bench\'s environment', () => {
  it('imports the line with validation through the swebench environment, and the stored task is graded as SWE-bench grades', { timeout: 1_200_000 }, async () => {
    const file = join(root, 'tasks.jsonl');
    const toy = { ...task.line, instance_id: 'swerl-fixture__calc-toy', version: undefined, environment_setup_commit: undefined, install_config: undefined };
    writeFileSync(file, [
      JSON.stringify({ ...task.line, problem_statement: 'adding a negative number is wrong', repo_path: task.repoDir }),
      // No install_config and no (repo, version) swebench knows: swerl's own environment takes it,
      // whose image lacks the wheel-only dependency: quarantined there as a broken environment.
      JSON.stringify({ ...toy, problem_statement: 'same repo, no SWE-bench spec', repo_path: task.repoDir }),
    ].join('\n') + '\n');
    const envs = [swebenchEnvironment({ findLinks: [task.wheelsDir] }), swerlBaseEnvironment];
    const result = await importTasks(file, { validate: true, docker, limits, testTimeoutSec: 600, environments: envs });
    expect(result.quarantined.map((q) => [q.instanceId, q.code])).toEqual([['swerl-fixture__calc-toy', 'SWERL_TASK_ENV_BROKEN']]);
    expect(result.quarantined[0]?.reason).toContain("No module named 'swerl_tinydep'");
    expect(result.accepted.map((t) => t.instanceId)).toEqual([task.line.instance_id]);
    const byId = new Map(result.accepted.map((t) => [t.instanceId, t]));
    const real = byId.get(task.line.instance_id)!;
    expect(real.environment?.name).toBe('swebench');
    expect(real.environment?.provenance).toMatchObject({ specSource: 'install_config', layout: { repoDirectory: '/repo' } });
    expect(real.image).toMatch(/^swerl-swebench-task:/);

    // What scoreEpisode does with the stored row: its recorded layout and its own line.
    const testDb = await createTestDatabase('swebench-import');
    const handle = createDb(testDb.url);
    try {
      await persistImport(handle.db, 'fixture', result);
      const row = await getTask(handle.db, task.line.instance_id);
      const record = swebenchRecordOf(row);
      expect(record?.layout).toEqual(real.environment?.provenance?.layout);
      const line = swebenchLineOf({ ...row, instanceId: row.id });
      expect(line).toMatchObject({ version: '0.1', environment_setup_commit: task.line.base_commit, install_config: task.line.install_config });
      const opts = { image: row.image!, layout: record!.layout, limits, testTimeoutSec: 600, labels: { run: 'test-swebench', episode: row.id } };
      expect((await computeSwebenchReward(docker, line, row.goldPatch, opts)).reward).toBe(1);
      expect((await computeSwebenchReward(docker, line, '', opts)).reward).toBe(0);
    } finally {
      await handle.close();
      await testDb.drop();
    }
  });
});
