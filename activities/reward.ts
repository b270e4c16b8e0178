/**
 * The test-based reward: R = 1 iff all FAIL_TO_PASS and PASS_TO_PASS tests pass after the agent's
 * diff is applied to a clean copy of the repository at the base commit, with the task's test files
 * restored and its test_patch applied on top.
 *
 * Guarantees:
 * - Clean: every call starts a fresh container from the task image (never the agent's sandbox),
 *   under the same limits as a sandbox and with no network, and removes it afterwards.
 * - Model outcomes are rewards, infra failures are errors: a diff that does not apply, failing,
 *   missing or timed-out tests, or a test run the code under test ended (os._exit, a signal, the
 *   OOM killer: `tests_crashed`) give R = 0 with a reason; a harness that could not produce a
 *   report throws: SWERL_REWARD_INFRA_FAILED when Docker does not answer or the container stopped
 *   under it (whatever the harness saw, also after a verdict), else SWERL_REWARD_HARNESS_CRASHED
 *   (pytest itself missing, a broken image). The caller retries both, bounded (the first in time,
 *   the second in attempts), and never scores them.
 * - The verdict is out of the agent's reach: it travels from a grader plugin over the exec's own
 *   stdout, never through a file the agent's uid can write (reward/grader.ts).
 * - Test files and root pytest config the agent touched (and every file test_patch touches) are reset
 *   to the base commit before test_patch is applied, so the agent cannot edit what judges it.
 * - Idempotent: the same inputs give the same result; persisting is the caller's (recordReward).
 */
import type Docker from 'dockerode';
import { ErrorCodes, SandboxError, SwerlError } from '../core/errors';
import { isTestPath, parsePatch, testFilesOf, type Task } from '../core/tasks';
import type { Db } from '../db/client';
import { recordRewardResult, type RewardResult as RewardRow } from '../db/rewards';
import { createSandbox, type Sandbox, type SandboxLimits } from './sandbox';
import { installGrader, type GradedRun, type Grader } from './reward/grader';
import { assertVerdictStands, classifyHarnessFailure } from './reward/infra';
import {
  finalOutcome, needsRerun, rewardOf,
  type FlakyRule, type ListedOutcome, type RewardTest, type TestList,
} from './reward/scoring';

export type { FlakyRule, RewardTest } from './reward/scoring';

export type RewardTask = Pick<Task, 'instanceId' | 'baseCommit' | 'testPatch' | 'failToPass' | 'passToPass'>;

export type RewardReason =
  | 'resolved'
  | 'tests_failed'
  | 'patch_does_not_apply'
  | 'test_patch_does_not_apply'
  | 'tests_timed_out'
  | 'tests_not_found'
  /** The code under test ended pytest before its session finished (os._exit, a signal, OOM). */
  | 'tests_crashed'
  /** The test log passed the reward harness's cap (swebench.ts): it cannot be graded whole. */
  | 'test_log_too_large';

export interface RewardOptions {
  /** The task image (sandbox/images.ts ensureTaskImage): /repo at the base commit. */
  image: string;
  /** The same limits as an agent sandbox (config `sandbox`). */
  limits: SandboxLimits;
  /** Wall-clock cap on one pytest run, enforced inside the container. Default 300 s. */
  testTimeoutSec?: number;
  /** Extra runs for a listed test that did not pass; see FlakyRule. Default 0. */
  reruns?: number;
  flakyRule?: FlakyRule;
  labels?: { run: string; episode: string };
  leaseTtlSec?: number;
}

export interface RewardResult {
  reward: 0 | 1;
  reason: RewardReason;
  patchApplied: boolean;
  tests: RewardTest[];
  /** Last few KiB of the first pytest run's output (or of `git apply` when the diff failed). */
  outputTail: string;
  /** pytest's exit code in the first run; null when pytest never ran. */
  harnessExitCode: number | null;
  durationMs: number;
  image: string;
}

/**
 * How many attempts of one episode's reward may end in a harness crash (Docker answering, the
 * reward container running) before the episode is given up as SWERL_REWARD_UNAVAILABLE (failed,
 * unscored). What the agent's code can do is scored on the first attempt; only a broken harness
 * gets this far. Infra failures (reward/infra.ts) are bounded in time instead.
 */
export { REWARD_MAX_ATTEMPTS } from '../core/episodeLimits';

const WORK = '/tmp/swerl-reward';
const OUTPUT_TAIL_CHARS = 4000;

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const tail = (s: string): string => (s.length > OUTPUT_TAIL_CHARS ? s.slice(-OUTPUT_TAIL_CHARS) : s);

function crashed(task: RewardTask, image: string, step: string, cause: unknown): SandboxError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new SandboxError(
    ErrorCodes.REWARD_HARNESS_CRASHED,
    `reward harness for task ${task.instanceId} (image ${image}) crashed while ${step}: ${why}`,
    { instanceId: task.instanceId, image, step },
    { cause },
  );
}

/**
 * Files at the repo root that configure pytest: an agent could add `addopts = -p its_plugin` there
 * and rewrite test outcomes, so like test files they are judged at the task's version.
 */
const PYTEST_CONFIG = new Set(['pytest.ini', '.pytest.ini', 'tox.ini', 'setup.cfg', 'pyproject.toml']);

/**
 * Paths reset before test_patch: test files (conftest.py included) and root pytest configuration
 * the agent's diff touches, and every file of test_patch.
 */
export function pathsToRestore(agentDiff: string, testPatch: string): string[] {
  const judged = (p: string): boolean => isTestPath(p) || PYTEST_CONFIG.has(p);
  const agent = parsePatch(agentDiff).files.flatMap((f) => [f.oldPath, f.newPath]).filter((p): p is string => !!p && judged(p));
  const tests = parsePatch(testPatch).files.flatMap((f) => [f.oldPath, f.newPath]).filter((p): p is string => !!p);
  return [...new Set([...agent, ...tests])].sort();
}

async function runPytest(docker: Docker, sb: Sandbox, grader: Grader, ids: string[], tag: string, timeoutSec: number): Promise<PytestRun> {
  const run = await grader.run(testFilesOf(ids), ids, tag, timeoutSec);
  const notFound = run.exitStatus === 4 && /not found|no such file/i.test(run.output);
  return { ...run, notFound };
}

type PytestRun = GradedRun & { notFound: boolean };

/** Prepares /repo: base commit, agent diff, test files restored, test_patch. Returns a reason to stop, if any. */
async function prepareRepo(sb: Sandbox, task: RewardTask, agentDiff: string): Promise<{ stop?: RewardReason; output: string; patchApplied: boolean }> {
  const base = q(task.baseCommit);
  const reset = await sb.exec(`set -e; mkdir -p ${WORK}; cd /repo; git reset -q --hard ${base}; git clean -fdq`, { timeoutSec: 120 });
  if (reset.exitCode !== 0) throw new Error(`cannot reset /repo to ${task.baseCommit}: ${reset.output.trim()}`);

  // An empty diff applies trivially: patchApplied is false only when the agent's diff was rejected.
  const patchApplied = true;
  if (agentDiff.trim() !== '') {
    await sb.writeFile(`${WORK}/agent.diff`, agentDiff.endsWith('\n') ? agentDiff : `${agentDiff}\n`);
    const apply = await sb.exec(`cd /repo && git apply --whitespace=nowarn -v ${WORK}/agent.diff 2>&1`, { timeoutSec: 120 });
    if (apply.exitCode !== 0) return { stop: 'patch_does_not_apply', output: apply.output, patchApplied: false };
  }

  const restore = pathsToRestore(agentDiff, task.testPatch);
  if (restore.length > 0) {
    const script = `set -e; cd /repo; for p in ${restore.map(q).join(' ')}; do ` +
      `if git cat-file -e ${base}:"$p" 2>/dev/null; then rm -rf -- "$p"; git checkout -q ${base} -- "$p"; else rm -rf -- "$p"; fi; done`;
    const res = await sb.exec(script, { timeoutSec: 120 });
    if (res.exitCode !== 0) throw new Error(`cannot restore test files: ${res.output.trim()}`);
  }
  if (task.testPatch.trim() !== '') {
    await sb.writeFile(`${WORK}/test.diff`, task.testPatch.endsWith('\n') ? task.testPatch : `${task.testPatch}\n`);
    const apply = await sb.exec(`cd /repo && git apply --whitespace=nowarn -v ${WORK}/test.diff 2>&1`, { timeoutSec: 120 });
    if (apply.exitCode !== 0) return { stop: 'test_patch_does_not_apply', output: apply.output, patchApplied };
  }
  return { output: '', patchApplied };
}

function listed(task: RewardTask): { nodeid: string; list: TestList }[] {
  return [
    ...task.failToPass.map((nodeid) => ({ nodeid, list: 'FAIL_TO_PASS' as const })),
    ...task.passToPass.map((nodeid) => ({ nodeid, list: 'PASS_TO_PASS' as const })),
  ];
}

type Prepared = Awaited<ReturnType<typeof prepareRepo>>;

/**
 * Runs `body` against /repo prepared in a fresh container (base commit, agent diff, test files
 * restored, test_patch), and removes the container afterwards. Every failure that is not already
 * a harness crash becomes one, naming the step it happened in.
 */
async function inCleanRepo<T>(
  docker: Docker, task: RewardTask, agentDiff: string, opts: RewardOptions,
  body: (sb: Sandbox, grader: Grader, prep: Prepared, setStep: (step: string) => void) => Promise<T>,
): Promise<T> {
  let sb: Sandbox;
  try {
    sb = await createSandbox(docker, {
      image: opts.image,
      limits: opts.limits,
      labels: opts.labels ?? { run: 'reward', episode: task.instanceId },
      leaseTtlSec: opts.leaseTtlSec ?? 3600,
    });
  } catch (err) {
    throw await classifyHarnessFailure(docker, undefined, crashed(task, opts.image, 'starting its container', err));
  }
  let step = 'installing the grader';
  try {
    const grader = await installGrader(docker, sb, opts.limits.user);
    step = 'preparing /repo';
    const prep = await prepareRepo(sb, task, agentDiff);
    const out = await body(sb, grader, prep, (s) => {
      step = s;
    });
    step = 'checking its container after the verdict';
    await assertVerdictStands(docker, sb.containerId, verdictOf(out));
    return out;
  } catch (err) {
    if (err instanceof SwerlError && (err.code === ErrorCodes.REWARD_HARNESS_CRASHED || err.code === ErrorCodes.REWARD_INFRA_FAILED)) {
      throw await classifyHarnessFailure(docker, sb.containerId, err);
    }
    throw await classifyHarnessFailure(docker, sb.containerId, crashed(task, opts.image, step, err));
  } finally {
    await sb.destroy().catch(() => undefined);
  }
}

/** The reward a body's result stands for (a stability run has none: any value below 1 checks as carefully as a 0). */
function verdictOf(out: unknown): number {
  const reward = (out as { reward?: unknown }).reward;
  return typeof reward === 'number' ? reward : 0;
}

function notStarted(run: PytestRun): Error {
  return new Error(`pytest did not start the grader (exit ${run.exitCode}): ${tail(run.output).slice(-600).trim()}`);
}

/**
 * What a first run without a finished session means. A timeout, listed test files that do not
 * exist, or a session the code under test ended (it started, never finished) are the agent's
 * doing and score 0; a run that never started the grader is the harness's (an infra error).
 */
function unfinishedReason(run: PytestRun): RewardReason | undefined {
  if (run.timedOut) return 'tests_timed_out';
  if (run.notFound) return 'tests_not_found';
  if (run.flooded) return 'tests_crashed';
  if (!run.started) return undefined;
  return run.exitStatus === null ? 'tests_crashed' : undefined;
}

export async function computeReward(docker: Docker, task: RewardTask, agentDiff: string, opts: RewardOptions): Promise<RewardResult> {
  const started = Date.now();
  const reruns = opts.reruns ?? 0;
  const rule = opts.flakyRule ?? 'majority';
  const timeoutSec = opts.testTimeoutSec ?? 300;
  const ids = listed(task);
  const allIds = ids.map((t) => t.nodeid);
  const done = (r: Omit<RewardResult, 'durationMs' | 'image'>): RewardResult => ({ ...r, durationMs: Date.now() - started, image: opts.image });
  const unrun = (): RewardTest[] => ids.map((t) => ({ ...t, outcome: 'missing' as const, durationSec: 0, runs: ['missing' as const] }));

  return inCleanRepo(docker, task, agentDiff, opts, async (sb, grader, prep, setStep) => {
    if (prep.stop) {
      return done({ reward: 0, reason: prep.stop, patchApplied: prep.patchApplied, tests: unrun(), outputTail: tail(prep.output), harnessExitCode: null });
    }
    setStep('running the tests');
    const first = await runPytest(docker, sb, grader, allIds, 'run0', timeoutSec);
    if (first.exitStatus === null || first.flooded) {
      const reason = unfinishedReason(first);
      if (!reason) throw notStarted(first);
      return done({ reward: 0, reason, patchApplied: prep.patchApplied, tests: unrun(), outputTail: tail(first.output), harnessExitCode: first.exitCode });
    }
    const tests: RewardTest[] = ids.map((t) => {
      const o = first.outcomes.get(t.nodeid)!;
      return { ...t, outcome: o.outcome, durationSec: o.durationSec, runs: [o.outcome] };
    });

    for (let round = 1; round <= reruns; round++) {
      const again = tests.filter((t) => needsRerun(t, reruns, rule));
      if (again.length === 0) break;
      setStep(`rerunning ${again.length} test(s), round ${round}`);
      const run = await runPytest(docker, sb, grader, again.map((t) => t.nodeid), `run${round}`, timeoutSec);
      // A rerun that did not finish (timeout, crash) is one more non-passing run of each test in it.
      for (const t of again) t.runs.push(run.outcomes.get(t.nodeid)?.outcome ?? 'missing');
    }
    for (const t of tests) t.outcome = finalOutcome(t.runs, reruns, rule);

    const reward = rewardOf(tests);
    return done({
      reward,
      reason: reward === 1 ? 'resolved' : 'tests_failed',
      patchApplied: prep.patchApplied,
      tests,
      outputTail: tail(first.output),
      harnessExitCode: first.exitCode,
    });
  });
}

export interface StabilityResult {
  /** Set when /repo could not be prepared (the diff or test_patch did not apply); no test ran. */
  stop?: RewardReason;
  tests: { nodeid: string; list: TestList; runs: ListedOutcome[] }[];
  /** Node ids whose outcome was not the same in every run. */
  flaky: string[];
}

/**
 * The paper's flaky-test filter: runs the listed tests `runs` times in one prepared repo (with
 * `agentDiff`, normally the gold patch) and reports every test whose outcome changed between runs.
 * A run that times out counts as `missing` for every test in it.
 */
export async function testStability(docker: Docker, task: RewardTask, agentDiff: string, opts: RewardOptions & { runs: number }): Promise<StabilityResult> {
  const ids = listed(task);
  const allIds = ids.map((t) => t.nodeid);
  return inCleanRepo(docker, task, agentDiff, opts, async (sb, grader, prep, setStep) => {
    const tests = ids.map((t) => ({ ...t, runs: [] as ListedOutcome[] }));
    if (prep.stop) return { stop: prep.stop, tests, flaky: [] };
    for (let i = 0; i < opts.runs; i++) {
      setStep(`stability run ${i + 1} of ${opts.runs}`);
      const run = await runPytest(docker, sb, grader, allIds, `stable${i}`, opts.testTimeoutSec ?? 300);
      if (!run.started) throw notStarted(run);
      for (const t of tests) t.runs.push(run.outcomes.get(t.nodeid)?.outcome ?? 'missing');
    }
    return { tests, flaky: tests.filter((t) => new Set(t.runs).size > 1).map((t) => t.nodeid) };
  });
}

/** Persists a reward's provenance once per episode (a retried activity gets the first row back). */
export async function recordReward(db: Db, episodeId: string, result: RewardResult): Promise<RewardRow> {
  const { result: row } = await recordRewardResult(db, {
    episodeId,
    resolved: result.reward === 1,
    patchApplied: result.patchApplied,
    tests: result.tests.map((t) => ({ name: t.nodeid, list: t.list, outcome: t.outcome, durationMs: Math.round(t.durationSec * 1000) })),
    harnessExitCode: result.harnessExitCode,
    durationMs: result.durationMs,
    outputTail: result.outputTail,
  });
  return row;
}
