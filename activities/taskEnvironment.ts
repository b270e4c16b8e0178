/**
 * Per task, at import: which environment builds (or chooses) its image, and how that environment
 * checks the task is valid. The import pipeline (activities/tasks.ts) calls `environmentFor(task)`
 * once per task, then `image` and `validate`; a new kind of environment (SWE-bench specs, prebuilt
 * images) is one more entry in DEFAULT_ENVIRONMENTS, ahead of the swerl default.
 *
 * Fault lines, which every environment keeps:
 * - the task's fault (its repo lacks the commit, its setup fails, its tests cannot run, the gold
 *   patch does not fix them): throw TaskQuarantine (or a TaskError) with a SWERL_TASK_* code;
 * - anything else (Docker, the host) is infra: throw it as is; the pipeline retries it a bounded
 *   number of times and then defers the task (SWERL_TASK_VALIDATION_INCOMPLETE).
 */
import type Docker from 'dockerode';
import { ErrorCodes, SwerlError, TaskError, type ErrorCode } from '../core/errors';
import type { Task } from '../core/tasks';
import { ensureTaskImage } from '../sandbox/images';
import { swebench } from '../sandbox/swebenchBridge';
import { ensureSwebenchEnvironment, type EnvLayout, type SwebenchTaskLine } from '../sandbox/swebenchEnv';
import { computeReward, testStability, type RewardResult } from './reward';
import { computeSwebenchReward } from './reward/swebench';
import type { SandboxLimits } from './sandbox';

export interface ImportedTask extends Task {
  /** Absolute path of the repo (git dir, mirror or tarball) the image is built from. */
  repoDir: string;
  /** The task image, when the import validated on Docker. */
  image?: string;
  /** Which environment made the image, and what it recorded about it (substitutions, specs). */
  environment?: { name: string; provenance?: Record<string, unknown> };
  stats: { filesChanged: number; changedLines: number };
}

/** The task's own fault: quarantined with `code`, never retried. */
export class TaskQuarantine extends Error {
  constructor(readonly code: ErrorCode, readonly reason: string) {
    super(reason);
  }
}

export interface EnvironmentContext {
  docker: Docker;
  limits: SandboxLimits;
  testTimeoutSec?: number;
  /** Paper: 50. With the gold patch, every listed test runs this many times; 1 skips the check. */
  stabilityRuns: number;
  log: (line: string) => void;
  /** Makes `commit` of the task's repository available in task.repoDir (a no-op for a repo_path). */
  ensureCommit?: (task: ImportedTask, commit: string) => Promise<void>;
}

export interface TaskImage {
  image: string;
  /** True when this call built it, false when it was found (cached, prebuilt). */
  built: boolean;
  provenance?: Record<string, unknown>;
}

export interface TaskEnvironment {
  readonly name: string;
  /** Whether this environment is the one for `task` (the first accepting one in the list wins). */
  accepts(task: ImportedTask): boolean | Promise<boolean>;
  image(task: ImportedTask, ctx: EnvironmentContext): Promise<TaskImage>;
  /** Throws TaskQuarantine unless the task's tests tell its gold patch from no patch in `image`. */
  validate(task: ImportedTask, image: string, ctx: EnvironmentContext): Promise<void>;
}

function notPassed(result: RewardResult, ids: readonly string[]): string[] {
  const byId = new Map(result.tests.map((t) => [t.nodeid, t.outcome]));
  return ids.filter((id) => byId.get(id) !== 'passed').map((id) => `${id} (${byId.get(id) ?? 'missing'})`);
}

/**
 * A harness crash during import is the task's environment when pytest itself ran and could not
 * produce a report (a conftest that does not import, a missing module, a collection error of the
 * whole session): that happens again on every attempt. A container that did not start or a Docker
 * error is infra. Returns the quarantine, or undefined for infra.
 */
export function environmentFault(err: unknown, run: string): TaskQuarantine | undefined {
  if (!(err instanceof SwerlError) || err.code !== ErrorCodes.REWARD_HARNESS_CRASHED) return undefined;
  const m = /pytest left no JUnit report \(exit (\w+)\): ([\s\S]*)$/.exec(err.message);
  if (!m) return undefined;
  const exit = m[1];
  const output = m[2]!;
  const broken = /ImportError|ModuleNotFoundError|ERROR collecting|SyntaxError|conftest|No module named|INTERNALERROR/.test(output) || ['2', '3', '4'].includes(exit!);
  if (!broken) return undefined;
  return new TaskQuarantine(ErrorCodes.TASK_ENV_BROKEN, `the tests cannot run ${run} (pytest exit ${exit}, no report): ${output.trim().slice(-600)}`);
}

async function rewardOrQuarantine(run: string, compute: () => Promise<RewardResult>): Promise<RewardResult> {
  try {
    return await compute();
  } catch (err) {
    throw environmentFault(err, run) ?? err;
  }
}

/**
 * The paper's "valid FAIL_TO_PASS" on Docker: with only the test_patch every FAIL_TO_PASS test must
 * not pass, with the gold patch every listed test must pass, the gold patch must apply, and (with
 * stabilityRuns > 1) no listed test may change its outcome between runs.
 */
export async function validateGoldAgainstTests(task: ImportedTask, image: string, ctx: EnvironmentContext): Promise<void> {
  const rewardOpts = { image, limits: ctx.limits, testTimeoutSec: ctx.testTimeoutSec, labels: { run: 'task-import', episode: task.instanceId } };
  const withoutGold = await rewardOrQuarantine('without the gold patch', () => computeReward(ctx.docker, task, '', rewardOpts));
  if (withoutGold.reason === 'test_patch_does_not_apply') {
    throw new TaskQuarantine(ErrorCodes.TASK_PATCH_DOES_NOT_APPLY, `test_patch does not apply at ${task.baseCommit}: ${withoutGold.outputTail.trim().slice(-400)}`);
  }
  const all = [...task.failToPass, ...task.passToPass];
  if (task.passToPass.length > 0 && notPassed(withoutGold, all).length === all.length && withoutGold.tests.every((t) => t.outcome === 'error' || t.outcome === 'missing')) {
    // Not one listed test ran, the PASS_TO_PASS ones included: the environment, not the issue.
    throw new TaskQuarantine(ErrorCodes.TASK_ENV_BROKEN, `no listed test runs without the gold patch (${withoutGold.reason}): ${withoutGold.outputTail.trim().slice(-600)}`);
  }
  const passingEarly = task.failToPass.filter((id) => !notPassed(withoutGold, [id]).length);
  if (passingEarly.length > 0) {
    throw new TaskQuarantine(ErrorCodes.TASK_FAIL_TO_PASS_PASSES, `FAIL_TO_PASS tests already pass without the gold patch: ${passingEarly.join(', ')}`);
  }

  const withGold = await rewardOrQuarantine('with the gold patch', () => computeReward(ctx.docker, task, task.goldPatch, rewardOpts));
  if (withGold.reason === 'patch_does_not_apply') {
    throw new TaskQuarantine(ErrorCodes.TASK_PATCH_DOES_NOT_APPLY, `gold patch does not apply at ${task.baseCommit}: ${withGold.outputTail.trim().slice(-400)}`);
  }
  if (withGold.reward !== 1) {
    const failing = notPassed(withGold, all);
    throw new TaskQuarantine(ErrorCodes.TASK_GOLD_FAILS, `with the gold patch these tests do not pass (${withGold.reason}): ${failing.join(', ')}`);
  }
  if (ctx.stabilityRuns > 1) {
    const runs = ctx.stabilityRuns;
    const stability = await testStability(ctx.docker, task, task.goldPatch, { ...rewardOpts, runs });
    if (stability.flaky.length > 0) {
      const detail = stability.tests.filter((t) => stability.flaky.includes(t.nodeid))
        .map((t) => `${t.nodeid} (passed ${t.runs.filter((o) => o === 'passed').length}/${runs})`);
      throw new TaskQuarantine(ErrorCodes.TASK_FILTERED, `flaky tests under the gold patch: ${detail.join(', ')}`);
    }
  }
}

/**
 * swerl's own environment: the base image (Debian, Python, pytest), the repository at its base
 * commit, and the line's `setup` script; tests graded from pytest's JUnit XML. Takes any task.
 */
export const swerlBaseEnvironment: TaskEnvironment = {
  name: 'swerl-base',
  accepts: () => true,
  async image(task, ctx) {
    let built = false;
    try {
      const image = await ensureTaskImage(
        { instanceId: task.instanceId, repoDir: task.repoDir, baseCommit: task.baseCommit, setupScript: task.setup },
        { docker: ctx.docker, log: ctx.log, onBuild: () => (built = true) },
      );
      return { image, built };
    } catch (err) {
      // The repo or its base commit is bad, or its setup script fails (the image's only RUN step
      // that can exit non-zero): the task's fault. Anything else (Docker itself) is infra.
      if (err instanceof TaskError) throw new TaskQuarantine(err.code, err.message);
      if (task.setup && err instanceof SwerlError && err.code === ErrorCodes.IMAGE_BUILD_FAILED && /returned a non-zero code/.test(err.message)) {
        throw new TaskQuarantine(ErrorCodes.TASK_INVALID, `setup script failed while building the task image: ${err.message.slice(-600)}`);
      }
      throw err;
    }
  },
  validate: validateGoldAgainstTests,
};

/** The fields of a task (as imported, or as stored) a SWE-bench line is rebuilt from. */
export interface SwebenchTaskFields {
  instanceId: string;
  repo: string;
  baseCommit: string;
  testPatch: string;
  failToPass: string[];
  passToPass: string[];
  sourceLine?: string | null;
}

/**
 * The task's SWE-bench line as the official harness reads it: the line as imported (its own
 * version, environment_setup_commit, created_at, install_config, image), with the fields swerl
 * parsed (which a line may spell as JSON strings) taken from the task.
 */
export function swebenchLineOf(task: SwebenchTaskFields): SwebenchTaskLine {
  const raw = task.sourceLine ? (JSON.parse(task.sourceLine) as Record<string, unknown>) : {};
  const str = (k: string): string | undefined => (typeof raw[k] === 'string' || typeof raw[k] === 'number' ? String(raw[k]) : undefined);
  return {
    instance_id: task.instanceId,
    repo: task.repo,
    base_commit: task.baseCommit,
    test_patch: task.testPatch,
    FAIL_TO_PASS: task.failToPass,
    PASS_TO_PASS: task.passToPass,
    ...(str('version') !== undefined ? { version: str('version') } : {}),
    ...(str('environment_setup_commit') !== undefined ? { environment_setup_commit: str('environment_setup_commit') } : {}),
    ...(str('created_at') !== undefined ? { created_at: str('created_at') } : {}),
    ...(raw.install_config && typeof raw.install_config === 'object' ? { install_config: raw.install_config as Record<string, unknown> } : {}),
    ...(str('image') !== undefined ? { image: str('image') } : {}),
  };
}

const specKnown = new Map<string, Promise<boolean>>();

/**
 * A line graded as SWE-bench grades it: one that carries its own environment (`install_config`,
 * SWE-rebench / SWE-Gym), or whose (repo, version) the pinned swebench has an official spec for
 * (asked once per pair). Anything else (swerl's own suites) keeps swerl's environment. A bridge
 * that cannot answer is infra: thrown, so the import retries and then defers the task instead of
 * grading a real task the wrong way.
 */
export async function usesSwebenchEnvironment(task: ImportedTask): Promise<boolean> {
  if (task.extra?.install_config) return true;
  if (task.version === undefined) return false;
  const key = `${task.repo}@${task.version}`;
  let known = specKnown.get(key);
  if (!known) {
    known = swebench.spec(swebenchLineOf(task)).then(
      () => true,
      (err: unknown) => {
        if (err instanceof Error && /has no spec for/.test(err.message)) return false;
        specKnown.delete(key);
        throw err;
      },
    );
    specKnown.set(key, known);
  }
  return known;
}

/** What the SWE-bench environment records on the task, read again at reward time. */
export interface SwebenchEnvironmentRecord {
  layout: EnvLayout;
  [key: string]: unknown;
}

/** The SWE-bench environment record of a stored task (tasks.metadata.environment), if it was imported with one. */
export function swebenchRecordOf(task: { metadata: Record<string, unknown> | null }): SwebenchEnvironmentRecord | undefined {
  const env = task.metadata?.environment as { name?: string; provenance?: SwebenchEnvironmentRecord } | null | undefined;
  return env?.name === 'swebench' && env.provenance?.layout ? env.provenance : undefined;
}

/**
 * SWE-bench's own environment: the image built offline from the official per-repository spec
 * (sandbox/swebenchEnv.ts), validated and graded with the official eval script, log parser and
 * verdict (activities/reward/swebench.ts). `findLinks`: local distribution directories offered to
 * the wheel resolution besides PyPI.
 */
export function swebenchEnvironment(opts: { findLinks?: string[] } = {}): TaskEnvironment {
  return {
    name: 'swebench',
    accepts: usesSwebenchEnvironment,
    async image(task, ctx) {
      try {
        // The official spec reads requirements at environment_setup_commit, often not an ancestor of the base.
        const setupCommit = task.environmentSetupCommit;
        if (setupCommit && setupCommit !== task.baseCommit) await ctx.ensureCommit?.(task, setupCommit);
        const env = await ensureSwebenchEnvironment(swebenchLineOf(task), task.repoDir, { docker: ctx.docker, log: ctx.log, findLinks: opts.findLinks });
        const provenance: SwebenchEnvironmentRecord = { ...env.provenance, layout: env.layout };
        return { image: env.image, built: env.work.layersBuilt.length > 0, provenance };
      } catch (err) {
        if (err instanceof TaskError) throw new TaskQuarantine(err.code, err.message);
        throw err;
      }
    },
    async validate(task, image, ctx) {
      const layout = (task.environment?.provenance as SwebenchEnvironmentRecord | undefined)?.layout;
      if (!layout) throw new Error(`task ${task.instanceId}: the swebench environment recorded no layout`);
      const line = swebenchLineOf(task);
      const opts = { image, layout, limits: ctx.limits, testTimeoutSec: ctx.testTimeoutSec, labels: { run: 'task-import', episode: task.instanceId } };
      const without = await computeSwebenchReward(ctx.docker, line, '', opts);
      if (!without.swebench.logFound) {
        throw new TaskQuarantine(ErrorCodes.TASK_ENV_BROKEN, `the official eval script left no test output without the gold patch (exit ${without.harnessExitCode}): ${without.outputTail.trim().slice(-600)}`);
      }
      const passingEarly = without.tests.filter((t) => t.list === 'FAIL_TO_PASS' && t.outcome === 'passed').map((t) => t.nodeid);
      if (passingEarly.length > 0) {
        throw new TaskQuarantine(ErrorCodes.TASK_FAIL_TO_PASS_PASSES, `FAIL_TO_PASS tests already pass without the gold patch: ${passingEarly.join(', ')}`);
      }
      const gold = await computeSwebenchReward(ctx.docker, line, task.goldPatch, opts);
      if (gold.reason === 'patch_does_not_apply') {
        throw new TaskQuarantine(ErrorCodes.TASK_PATCH_DOES_NOT_APPLY, `gold patch does not apply at ${task.baseCommit}: ${gold.outputTail.trim().slice(-400)}`);
      }
      if (gold.reward !== 1) {
        const failing = gold.tests.filter((t) => t.outcome !== 'passed').map((t) => `${t.nodeid} (${t.outcome})`);
        throw new TaskQuarantine(ErrorCodes.TASK_GOLD_FAILS, `with the gold patch the official verdict is not resolved (${gold.reason}): ${failing.join(', ')}`);
      }
    },
  };
}

/** Tried in order; the last one accepts every task. */
export const DEFAULT_ENVIRONMENTS: readonly TaskEnvironment[] = [swebenchEnvironment(), swerlBaseEnvironment];

export async function environmentFor(task: ImportedTask, environments: readonly TaskEnvironment[] = DEFAULT_ENVIRONMENTS): Promise<TaskEnvironment> {
  for (const env of environments) if (await env.accepts(task)) return env;
  throw new TaskQuarantine(ErrorCodes.TASK_INVALID, `no task environment accepts ${task.instanceId} (tried ${environments.map((e) => e.name).join(', ')})`);
}
