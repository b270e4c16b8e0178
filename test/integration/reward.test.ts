/**
 * The reward on real Docker, for every toy task: the gold patch earns 1 and an empty diff 0. Then
 * the edges: a diff that does not apply, an agent that edits the tests instead of the code, a test
 * run that times out, flaky reruns, and harness crashes that must be errors, never a 0.
 */
import Docker from 'dockerode';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { createEpisodeActivities } from '../../activities/episode/activities';
import { setEpisodePatch } from '../../activities/episode/patch';
import type { EpisodeSpec } from '../../activities/episode/types';
import { computeReward, recordReward, REWARD_MAX_ATTEMPTS, type RewardResult } from '../../activities/reward';
import { taskContentHash } from '../../activities/tasks';
import type { SandboxLimits } from '../../activities/sandbox';
import { ErrorCodes, SandboxError } from '../../core/errors';
import { parseTaskLine, type Task } from '../../core/tasks';
import { createDb } from '../../db/client';
import { createEpisode, getEpisode } from '../../db/episodes';
import { getRewardResult } from '../../db/rewards';
import { upsertRun } from '../../db/runs';
import { upsertTask } from '../../db/tasks';
import { ensureTaskImage } from '../../sandbox/images';
import { createTestDatabase } from '../harness/db';

const docker = new Docker();
const SUITE = resolve(__dirname, '../../tasks/toy/tasks.jsonl');
const tasks: Task[] = readFileSync(SUITE, 'utf8').trim().split('\n').map((l, i) => parseTaskLine(l, i + 1));
const byName = (name: string): Task => tasks.find((t) => t.instanceId === `toy__${name}`)!;
const limits: SandboxLimits = { cpus: 0.5, memoryMiB: 512, pidsLimit: 256, outputLimitBytes: 64 * 1024, commandTimeoutSec: 60, user: '1000:1000' };

const repoOf = (t: Task): string => resolve(SUITE, '..', t.repoPath!);
const imageOf = (t: Task): Promise<string> => ensureTaskImage({ instanceId: t.instanceId, repoDir: repoOf(t), baseCommit: t.baseCommit }, { docker });
// The image is ensured again per call (a cheap inspect): other suites on this shared daemon may
// remove images, and a tools change elsewhere in the checkout changes every tag.
const reward = async (t: Task, diff: string, extra: Partial<Parameters<typeof computeReward>[3]> = {}): Promise<RewardResult> =>
  computeReward(docker, t, diff, { image: await imageOf(t), limits, labels: { run: 'test-reward', episode: t.instanceId }, ...extra });

/** A diff against the task's base commit that writes `files` (what an agent's submit would produce). */
function agentDiff(t: Task, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'swerl-agent-'));
  try {
    execFileSync('tar', ['-xzf', repoOf(t), '-C', dir]);
    execFileSync('git', ['reset', '-q', '--hard', t.baseCommit], { cwd: dir });
    for (const [path, content] of Object.entries(files)) writeFileSync(join(dir, path), content);
    execFileSync('git', ['add', '-A'], { cwd: dir });
    return execFileSync('git', ['diff', '--cached', t.baseCommit], { cwd: dir, encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
function baseFile(t: Task, path: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'swerl-agent-'));
  try {
    execFileSync('tar', ['-xzf', repoOf(t), '-C', dir]);
    return execFileSync('git', ['show', `${t.baseCommit}:${path}`], { cwd: dir, encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A copy of the task's image with pytest removed, committed as `<tag>:latest`; returns the tag. */
async function withoutPytest(t: Task, tag: string): Promise<string> {
  const c = await docker.createContainer({ Image: await imageOf(t), User: '0', Cmd: ['bash', '-c', 'rm -rf /usr/lib/python3/dist-packages/pytest /usr/lib/python3/dist-packages/_pytest'] });
  try {
    await c.start();
    await c.wait();
    await c.commit({ repo: tag, tag: 'latest' });
  } finally {
    await c.remove({ force: true }).catch(() => undefined);
  }
  return tag;
}

async function inParallel<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

beforeAll(async () => {
  const t0 = Date.now();
  for (const t of tasks) await imageOf(t);
  console.log(`[reward] ${tasks.length} task images ready in ${Date.now() - t0} ms`);
}, 1_800_000);

describe('every toy task', () => {
  it('gold patch → 1 and empty diff → 0', async () => {
    expect(tasks.length).toBeGreaterThanOrEqual(30);
    const t0 = Date.now();
    const failures: string[] = [];
    let rewards = 0;
    await inParallel(tasks, 2, async (t) => {
      const gold = await reward(t, t.goldPatch);
      const empty = await reward(t, '');
      rewards += 2;
      if (gold.reward !== 1 || gold.reason !== 'resolved') failures.push(`${t.instanceId}: gold → ${gold.reward} ${gold.reason}\n${gold.outputTail}`);
      if (empty.reward !== 0 || empty.reason !== 'tests_failed') failures.push(`${t.instanceId}: empty → ${empty.reward} ${empty.reason}`);
      // Without the fix exactly the FAIL_TO_PASS tests fail: the PASS_TO_PASS ones still pass.
      const failed = empty.tests.filter((x) => x.outcome !== 'passed').map((x) => x.nodeid).sort();
      if (JSON.stringify(failed) !== JSON.stringify([...t.failToPass].sort())) failures.push(`${t.instanceId}: without the fix failed ${failed.join(', ')}`);
    });
    const ms = Date.now() - t0;
    console.log(`[reward] ${rewards} rewards for ${tasks.length} tasks in ${ms} ms (${Math.round(ms / rewards)} ms per reward, 2 at a time)`);
    expect(failures).toEqual([]);
  }, 1_800_000);
});

describe('model outcomes are rewards', () => {
  it('a diff that does not apply → 0 with reason patch_does_not_apply', async () => {
    const t = byName('strutils-1');
    const broken = t.goldPatch.replace('if len(text) < width:', 'if len(text) < width and True:');
    const r = await reward(t, broken);
    expect(r).toMatchObject({ reward: 0, reason: 'patch_does_not_apply', patchApplied: false, harnessExitCode: null });
    expect(r.outputTail).toMatch(/patch does not apply|error/);
    expect(r.tests.every((x) => x.outcome === 'missing')).toBe(true);
  });

  it('an agent that rewrites the tests instead of the code gets 0: test files are restored', async () => {
    const t = byName('bank-1');
    const cheat = agentDiff(t, {
      'tests/test_account.py': 'def test_withdraw_entire_balance():\n    pass\n',
      'tests/conftest.py': 'import pytest\n\n@pytest.hookimpl(tryfirst=True)\ndef pytest_runtest_call(item):\n    pass\n',
    });
    const r = await reward(t, cheat);
    expect(r).toMatchObject({ reward: 0, reason: 'tests_failed', patchApplied: true });
    expect(r.tests.find((x) => x.nodeid === t.failToPass[0])!.outcome).toBe('failed');
    expect(r.tests.filter((x) => x.list === 'PASS_TO_PASS').every((x) => x.outcome === 'passed')).toBe(true);
  });

  it('an agent that loads its own pytest plugin through pytest.ini gets 0: root pytest config is restored', async () => {
    const t = byName('bank-1');
    // Without the restore this plugin reports every test as passed (checked by hand with the host pytest).
    const hack = agentDiff(t, {
      'pytest.ini': '[pytest]\naddopts = -p swerl_hack\n',
      'swerl_hack.py': 'import pytest\n\n\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n' +
        '    outcome = yield\n    outcome.get_result().outcome = "passed"\n',
    });
    const r = await reward(t, hack);
    expect(r).toMatchObject({ reward: 0, reason: 'tests_failed', patchApplied: true });
    expect(r.tests.find((x) => x.nodeid === t.failToPass[0])!.outcome).toBe('failed');
  });

  it('a module that no longer imports makes its tests errors, not a crash', async () => {
    const t = byName('romans-1');
    const r = await reward(t, agentDiff(t, { 'romans/numerals.py': 'def broken(:\n' }));
    expect(r).toMatchObject({ reward: 0, reason: 'tests_failed' });
    expect(new Set(r.tests.map((x) => x.outcome))).toEqual(new Set(['missing']));
  });

  it('tests that hang → 0 with reason tests_timed_out', async () => {
    const t = byName('stats-1');
    const hang = agentDiff(t, { 'stats/central.py': `${baseFile(t, 'stats/central.py')}\nwhile True:\n    pass\n` });
    const r = await reward(t, hang, { testTimeoutSec: 5 });
    expect(r).toMatchObject({ reward: 0, reason: 'tests_timed_out' });
    expect(r.durationMs).toBeLessThan(60_000);
  });

  it('flaky reruns: a test that fails once then passes counts per the rule', async () => {
    const t = byName('strutils-1');
    // Gold fix, but the first call in a fresh container answers wrongly: a flaky PASS_TO_PASS test.
    const src = baseFile(t, 'strutils/core.py').replace('if len(text) < width:', 'if len(text) <= width:')
      .replace('def truncate(text, width, suffix="..."):\n', 'def truncate(text, width, suffix="..."):\n' +
        '    import os\n    if not os.path.exists("/tmp/swerl-flaky"):\n        open("/tmp/swerl-flaky", "w").close()\n        return ""\n');
    const flaky = agentDiff(t, { 'strutils/core.py': src });
    const once = await reward(t, flaky);
    expect(once).toMatchObject({ reward: 0, reason: 'tests_failed' });
    const majority = await reward(t, flaky, { reruns: 2, flakyRule: 'majority' });
    expect(majority).toMatchObject({ reward: 1, reason: 'resolved' });
    const rerun = majority.tests.filter((x) => x.runs.length > 1);
    expect(rerun.map((x) => [x.nodeid, x.runs])).toEqual([['tests/test_core.py::test_truncate_short', ['failed', 'passed', 'passed']]]);
    const anyPass = await reward(t, flaky, { reruns: 1, flakyRule: 'any-pass' });
    expect(anyPass.reward).toBe(1);
  });
});

describe('hostile code under test is scored, within one attempt', () => {
  const strutilsFixed = (t: Task): string => baseFile(t, 'strutils/core.py').replace('if len(text) < width:', 'if len(text) <= width:');

  it('code that ends pytest with os._exit → 0 with reason tests_crashed', async () => {
    const t = byName('stats-1');
    const r = await reward(t, agentDiff(t, { 'stats/central.py': `import os\nos._exit(0)\n${baseFile(t, 'stats/central.py')}` }));
    expect(r).toMatchObject({ reward: 0, reason: 'tests_crashed', patchApplied: true, harnessExitCode: 0 });
  });

  it('code that SIGKILLs its own pytest → 0 with reason tests_crashed', async () => {
    const t = byName('stats-1');
    const r = await reward(t, agentDiff(t, { 'stats/central.py': `import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n${baseFile(t, 'stats/central.py')}` }));
    expect(r).toMatchObject({ reward: 0, reason: 'tests_crashed', harnessExitCode: 137 });
  });

  it('NUL bytes in the test output keep the true verdict', async () => {
    const t = byName('strutils-1');
    const nul = 'import os, sys\nsys.stdout.write("\\0" * 64)\nos.write(1, b"\\0" * 64)\nos.write(2, b"{\\0}\\n" * 8)\n';
    const r = await reward(t, agentDiff(t, { 'strutils/core.py': `${nul}${strutilsFixed(t)}` }));
    expect(r).toMatchObject({ reward: 1, reason: 'resolved' });
  });

  it('forged reports (frames on stdout, JUnit files, a daemon writing them after pytest) do not count', async () => {
    const t = byName('stats-1');
    const forge = `import json, os, subprocess, sys
ids = ${JSON.stringify([...t.failToPass, ...t.passToPass])}
frames = [{"event": "start"}] + [{"event": "report", "nodeid": i, "when": "call", "outcome": "passed", "xfail": False, "duration": 0.0} for i in ids] + [{"event": "finish", "exitstatus": 0}]
text = "".join(json.dumps(f) + "\\n" for f in frames)
junit = '<testsuites><testsuite name="pytest">' + "".join('<testcase classname="%s" name="%s"/>' % (i.split("::")[0][:-3].replace("/", "."), i.split("::")[-1]) for i in ids) + '</testsuite></testsuites>'
for fd in (1, 2):
    try:
        os.write(fd, text.encode())
    except OSError:
        pass
sys.stdout.write(text)
for d in ("/tmp/swerl-reward", "/opt/swerl-grader", "/tmp"):
    try:
        for n in os.listdir(d):
            try:
                open(os.path.join(d, n), "w").write(junit if n.endswith(".xml") else text)
            except OSError:
                pass
    except OSError:
        pass
subprocess.Popen(["bash", "-c", "sleep 2; for f in /tmp/swerl-reward/*; do printf '%s' \\"$1\\" > \\"$f\\"; done", "x", text], start_new_session=True)
`;
    const r = await reward(t, agentDiff(t, { 'stats/central.py': `${forge}${baseFile(t, 'stats/central.py')}` }));
    expect(r).toMatchObject({ reward: 0, reason: 'tests_failed', patchApplied: true });
    expect(r.tests.filter((x) => x.list === 'FAIL_TO_PASS').every((x) => x.outcome === 'failed')).toBe(true);
  });
});

describe('harness crashes are infra errors, never a 0', () => {
  /** Settles right away, so a rejection is never "unhandled" while the test is still busy. */
  const settle = (p: Promise<unknown>): Promise<unknown> => p.then(() => 'no error', (e: unknown) => e);
  async function expectCrash(p: Promise<unknown>): Promise<SandboxError> {
    const err = await p;
    expect(err).toBeInstanceOf(SandboxError);
    expect((err as SandboxError).code).toBe(ErrorCodes.REWARD_HARNESS_CRASHED);
    expect((err as SandboxError).retryable).toBe(true);
    return err as SandboxError;
  }

  it('an image that cannot start', async () => {
    const t = byName('strutils-1');
    const err = await expectCrash(settle(reward(t, t.goldPatch, { image: 'swerl-task:does-not-exist' })));
    expect(err.message).toContain('toy__strutils-1');
  });

  it('an image whose pytest is broken never starts the grader', async () => {
    const t = byName('strutils-1');
    // A copy of the task image with pytest removed: the harness, not the agent, is broken.
    const tag = await withoutPytest(t, 'swerl-test-nopytest');
    try {
      const err = await expectCrash(settle(reward(t, t.goldPatch, { image: `${tag}:latest` })));
      expect(err.message).toMatch(/pytest did not start the grader/);
    } finally {
      await docker.getImage(`${tag}:latest`).remove({ force: true }).catch(() => undefined);
    }
  });

  it('the container vanishing mid-run', async () => {
    const t = byName('stats-1');
    const slow = agentDiff(t, { 'stats/central.py': `import time\ntime.sleep(30)\n${baseFile(t, 'stats/central.py')}` });
    const pending = settle(reward(t, slow, { labels: { run: 'test-reward', episode: 'vanish' } }));
    // Kill the reward's container once pytest is running.
    let killed = false;
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const [c] = await docker.listContainers({ filters: { label: ['swerl.episode=vanish'] } });
      if (!c) continue;
      const top = await docker.getContainer(c.Id).top().catch(() => undefined);
      if (top && JSON.stringify(top.Processes).includes('pytest')) {
        await docker.getContainer(c.Id).remove({ force: true });
        killed = true;
        break;
      }
    }
    expect(killed).toBe(true);
    // Its container gone under the harness: infra (retried in time), not a harness crash.
    const err = await pending;
    expect(err).toBeInstanceOf(SandboxError);
    expect((err as SandboxError).code).toBe(ErrorCodes.REWARD_INFRA_FAILED);
    expect((err as SandboxError).retryable).toBe(true);
  });

  it('the container killed mid-pytest is infra, whatever the harness saw (never tests_crashed)', async () => {
    const t = byName('stats-1');
    const slow = agentDiff(t, { 'stats/central.py': `import time\ntime.sleep(30)\n${baseFile(t, 'stats/central.py')}` });
    const pending = settle(reward(t, slow, { labels: { run: 'test-reward', episode: 'killed' } }));
    let killed = false;
    for (let i = 0; i < 100 && !killed; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const [c] = await docker.listContainers({ filters: { label: ['swerl.episode=killed'] } });
      if (!c) continue;
      const top = await docker.getContainer(c.Id).top().catch(() => undefined);
      if (top && JSON.stringify(top.Processes).includes('pytest')) {
        // `docker kill`: the container stays (stopped), the test session dies with SIGKILL.
        await docker.getContainer(c.Id).kill();
        killed = true;
      }
    }
    expect(killed).toBe(true);
    const err = await pending;
    expect(err).toBeInstanceOf(SandboxError);
    expect((err as SandboxError).code).toBe(ErrorCodes.REWARD_INFRA_FAILED);
    expect(await docker.listContainers({ all: true, filters: { label: ['swerl.episode=killed'] } })).toEqual([]);
  });

  it('Docker that does not answer is infra', async () => {
    const t = byName('strutils-1');
    const image = await imageOf(t);
    const dead = new Docker({ socketPath: '/nonexistent/docker.sock' });
    const err = await settle(computeReward(dead, t, t.goldPatch, { image, limits, labels: { run: 'test-reward', episode: 'nodocker' } }));
    expect(err).toBeInstanceOf(SandboxError);
    expect((err as SandboxError).code).toBe(ErrorCodes.REWARD_INFRA_FAILED);
  });
});

describe('a reward harness that keeps crashing ends the episode, bounded', () => {
  it(`scoreEpisode: attempts 1..${REWARD_MAX_ATTEMPTS - 1} are retryable crashes, attempt ${REWARD_MAX_ATTEMPTS} fails the episode with SWERL_REWARD_UNAVAILABLE`, async () => {
    const t = byName('strutils-1');
    const tag = await withoutPytest(t, 'swerl-test-nopytest-bound');
    const testDb = await createTestDatabase('reward_bound');
    const handle = createDb(testDb.url);
    try {
      await upsertRun(handle.db, { id: 'run-b', workflowId: 'wf-run-b', name: 'toy', config: {} });
      await upsertTask(handle.db, { id: t.instanceId, suite: 'toy', repo: t.repo, baseCommit: t.baseCommit, problemStatement: t.problemStatement, image: `${tag}:latest`,
        goldPatch: t.goldPatch, testPatch: t.testPatch, failToPass: t.failToPass, passToPass: t.passToPass, contentHash: taskContentHash(t) });
      const spec: EpisodeSpec = {
        policy: { url: 'http://127.0.0.1:1', model: 'm', decoding: { temperature: 1, topP: 1, maxTokensPerTurn: 64 } as never, policyVersion: 'base' },
        limits: { maxTurns: 4, contextTokens: 4096, freeTurns: 4, lengthPenalty: false },
        sandbox: { ...limits, leaseTtlSec: 600 },
        timeouts: { policyTurnSec: 30, toolExecSec: 30, rewardSec: 60, heartbeatSec: 10 },
      };
      await createEpisode(handle.db, { id: 'ep-b', runId: 'run-b', stage: 'rl', iteration: 0, taskId: t.instanceId, sampleIdx: 0,
        policyVersion: 'base', decoding: { temperature: 1 }, maxTurns: 4, contextTokens: 4096, spec });
      await setEpisodePatch(handle.db, 'ep-b', t.goldPatch);
      const activities = createEpisodeActivities({ db: handle.db, docker, leases: undefined as never, hostQueue: 'unused' });
      const score = (attempt: number): Promise<unknown> =>
        new MockActivityEnvironment({ attempt }).run(activities.scoreEpisode, { episodeId: 'ep-b', turns: 1, exitReason: 'submitted' as const }).then(() => 'scored', (e: unknown) => e);
      for (let attempt = 1; attempt < REWARD_MAX_ATTEMPTS; attempt++) {
        const err = await score(attempt);
        expect(err).toBeInstanceOf(ApplicationFailure);
        expect(err).toMatchObject({ type: ErrorCodes.REWARD_HARNESS_CRASHED, nonRetryable: false });
        expect((await getEpisode(handle.db, 'ep-b')).status).toBe('pending');
      }
      const last = await score(REWARD_MAX_ATTEMPTS);
      expect(last).toMatchObject({ type: ErrorCodes.REWARD_UNAVAILABLE, nonRetryable: true });
      const ep = await getEpisode(handle.db, 'ep-b');
      expect(ep).toMatchObject({ status: 'failed', lastErrorCode: ErrorCodes.REWARD_UNAVAILABLE, reward: null });
      expect(await getRewardResult(handle.db, 'ep-b')).toBeUndefined();

      // bounded (swerl-episode-reward-bounds): the crashes are counted on the row, whatever the
      // activity attempt (the workflow retries with one attempt per call); the last one returns
      // the episode unscored (exit infra_failure) instead of failing the workflow.
      await createEpisode(handle.db, { id: 'ep-c', runId: 'run-b', stage: 'rl', iteration: 0, taskId: t.instanceId, sampleIdx: 1,
        policyVersion: 'base', decoding: { temperature: 1 }, maxTurns: 4, contextTokens: 4096, spec });
      await setEpisodePatch(handle.db, 'ep-c', t.goldPatch);
      const bounded = (): Promise<unknown> =>
        new MockActivityEnvironment({ attempt: 1 }).run(activities.scoreEpisode, { episodeId: 'ep-c', turns: 1, exitReason: 'submitted' as const, bounded: true }).then((r) => r, (e: unknown) => e);
      for (let crash = 1; crash < REWARD_MAX_ATTEMPTS; crash++) {
        expect(await bounded()).toMatchObject({ type: ErrorCodes.REWARD_HARNESS_CRASHED, nonRetryable: false });
        expect(await getEpisode(handle.db, 'ep-c')).toMatchObject({ status: 'pending', rewardHarnessCrashes: crash, infraFailures: 0 });
      }
      expect(await bounded()).toMatchObject({ unscored: ErrorCodes.REWARD_UNAVAILABLE, reward: 0 });
      expect(await getEpisode(handle.db, 'ep-c')).toMatchObject({
        status: 'failed', exitReason: 'infra_failure', lastErrorCode: ErrorCodes.REWARD_UNAVAILABLE, rewardHarnessCrashes: REWARD_MAX_ATTEMPTS, reward: null,
      });
      // A retry whose predecessor's answer was lost gets the same outcome, and grades nothing.
      expect(await bounded()).toMatchObject({ unscored: ErrorCodes.REWARD_UNAVAILABLE });
      expect((await getEpisode(handle.db, 'ep-c')).rewardHarnessCrashes).toBe(REWARD_MAX_ATTEMPTS);
      expect(await getRewardResult(handle.db, 'ep-c')).toBeUndefined();
    } finally {
      await handle.close();
      await testDb.drop();
      await docker.getImage(`${tag}:latest`).remove({ force: true }).catch(() => undefined);
    }
  }, 600_000);
});

describe('provenance', () => {
  it('recordReward stores the tests of an episode once', async () => {
    const testDb = await createTestDatabase('reward');
    const handle = createDb(testDb.url);
    try {
      const t = byName('calc-1');
      await upsertRun(handle.db, { id: 'run-r', workflowId: 'wf-run-r', name: 'toy', config: {} });
      await upsertTask(handle.db, { id: t.instanceId, suite: 'toy', repo: t.repo, baseCommit: t.baseCommit, problemStatement: t.problemStatement,
        goldPatch: t.goldPatch, testPatch: t.testPatch, failToPass: t.failToPass, passToPass: t.passToPass, contentHash: taskContentHash(t) });
      await createEpisode(handle.db, { id: 'ep-r', runId: 'run-r', stage: 'rl', iteration: 0, taskId: t.instanceId, sampleIdx: 0,
        policyVersion: 'base', decoding: { temperature: 1 }, maxTurns: 12, contextTokens: 4096 });
      const result = await reward(t, t.goldPatch);
      const row = await recordReward(handle.db, 'ep-r', result);
      expect(row).toMatchObject({ episodeId: 'ep-r', resolved: true, patchApplied: true, harnessExitCode: 0 });
      expect(row.tests).toHaveLength(7);
      expect(row.tests[0]).toMatchObject({ name: 'tests/test_calc.py::test_unary_minus[-3 + 5-2]', list: 'FAIL_TO_PASS', outcome: 'passed' });
      // A retried activity with a different (e.g. timed-out) result keeps the first row.
      const again = await recordReward(handle.db, 'ep-r', { ...result, reward: 0, reason: 'tests_timed_out' });
      // Test output with NUL bytes (code under test printed them) is stored, NUL as U+FFFD.
      await createEpisode(handle.db, { id: 'ep-nul', runId: 'run-r', stage: 'rl', iteration: 0, taskId: t.instanceId, sampleIdx: 1,
        policyVersion: 'base', decoding: { temperature: 1 }, maxTurns: 12, contextTokens: 4096 });
      const nul = await recordReward(handle.db, 'ep-nul', { ...result, outputTail: 'before\u0000after' });
      expect(nul.outputTail).toBe('before\uFFFDafter');
      expect(again.resolved).toBe(true);
      expect((await getRewardResult(handle.db, 'ep-r'))?.resolved).toBe(true);
    } finally {
      await handle.close();
      await testDb.drop();
    }
  });
});
