/**
 * Task import: a SWE-bench / SWE-rebench JSONL file in, accepted tasks and a quarantine list out.
 *
 * Guarantees:
 * - Never crashes on bad input: a malformed line, a missing repo, a gold patch that does not apply
 *   or a task whose tests do not behave become quarantine entries with a stable code
 *   (SWERL_TASK_*), the line number and the reason; the other lines are still imported.
 * - Infra failures are not blamed on the task: a Docker error while building an image or a
 *   crashed test harness throws (retryable), it never quarantines a task.
 * - Validation (optional, on Docker) is the paper's "valid FAIL_TO_PASS": with only the test_patch
 *   every FAIL_TO_PASS test must not pass (SWERL_TASK_FAIL_TO_PASS_PASSES otherwise), and with the
 *   gold patch every listed test must pass (SWERL_TASK_GOLD_FAILS); the gold patch must apply
 *   (SWERL_TASK_PATCH_DOES_NOT_APPLY).
 * - Filters (paper: gold patch touches <= 7 files and < 500 changed lines, no flaky tests) quarantine
 *   with SWERL_TASK_FILTERED.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type Docker from 'dockerode';
import { ErrorCodes, SwerlError, TaskError, type ErrorCode } from '../core/errors';
import { parsePatch, parseTaskLine, type Task } from '../core/tasks';
import type { Db } from '../db/client';
import { quarantineTask, upsertTask } from '../db/tasks';
import { ensureTaskImage } from '../sandbox/images';
import { computeReward, testStability, type RewardResult } from './reward';
import type { SandboxLimits } from './sandbox';

export interface ImportedTask extends Task {
  /** Absolute path of the repo (git dir or tarball) the image is built from. */
  repoDir: string;
  /** The task image, when the import validated on Docker. */
  image?: string;
  stats: { filesChanged: number; changedLines: number };
}

export interface QuarantinedTask {
  /** The instance id, or `line:<n>` when the line was too broken to name one. */
  instanceId: string;
  line: number;
  code: ErrorCode;
  reason: string;
}

export interface ImportResult {
  accepted: ImportedTask[];
  quarantined: QuarantinedTask[];
}

export interface ImportOptions {
  /** Paper: 7. A gold patch touching more files is filtered out. */
  maxFilesChanged?: number;
  /** Paper: 499 (< 500). A gold patch with more added + removed lines is filtered out. */
  maxChangedLines?: number;
  /** Run the gold and no-gold test runs on Docker. Requires `docker`. */
  validate: boolean;
  docker?: Docker;
  /** Limits of the validation containers (config `sandbox`); defaults are the paper's. */
  limits?: SandboxLimits;
  testTimeoutSec?: number;
  /**
   * Paper: 50 ("no flaky tests, each test rerun 50 times"). With the gold patch applied, every
   * listed test runs this many times; a test whose outcome changes quarantines the task with
   * SWERL_TASK_FILTERED. 1 (the default) skips the check.
   */
  stabilityRuns?: number;
  /** Tasks validated at once; each uses one container at a time. Default 2. */
  concurrency?: number;
  log?: (line: string) => void;
}

const DEFAULT_LIMITS: SandboxLimits = {
  cpus: 0.5, memoryMiB: 2048, pidsLimit: 256, outputLimitBytes: 64 * 1024, commandTimeoutSec: 120, user: '1000:1000',
};

class Quarantine extends Error {
  constructor(readonly code: ErrorCode, readonly reason: string) {
    super(reason);
  }
}

function notPassed(result: RewardResult, ids: readonly string[]): string[] {
  const byId = new Map(result.tests.map((t) => [t.nodeid, t.outcome]));
  return ids.filter((id) => byId.get(id) !== 'passed').map((id) => `${id} (${byId.get(id) ?? 'missing'})`);
}

/** Builds the task's image and checks that its tests tell the gold patch from no patch. */
async function validateOnDocker(task: ImportedTask, opts: ImportOptions & { docker: Docker }): Promise<string> {
  let image: string;
  try {
    image = await ensureTaskImage(
      { instanceId: task.instanceId, repoDir: task.repoDir, baseCommit: task.baseCommit, setupScript: task.setup },
      { docker: opts.docker },
    );
  } catch (err) {
    // The repo or its base commit is bad, or its setup script fails (the image's only RUN step
    // that can exit non-zero): the task's fault. Anything else (Docker itself) is infra.
    if (err instanceof TaskError) throw new Quarantine(err.code, err.message);
    if (task.setup && err instanceof SwerlError && err.code === ErrorCodes.IMAGE_BUILD_FAILED && /returned a non-zero code/.test(err.message)) {
      throw new Quarantine(ErrorCodes.TASK_INVALID, `setup script failed while building the task image: ${err.message.slice(-600)}`);
    }
    throw err;
  }
  const rewardOpts = { image, limits: opts.limits ?? DEFAULT_LIMITS, testTimeoutSec: opts.testTimeoutSec, labels: { run: 'task-import', episode: task.instanceId } };

  const withoutGold = await computeReward(opts.docker, task, '', rewardOpts);
  if (withoutGold.reason === 'test_patch_does_not_apply') {
    throw new Quarantine(ErrorCodes.TASK_PATCH_DOES_NOT_APPLY, `test_patch does not apply at ${task.baseCommit}: ${withoutGold.outputTail.trim().slice(-400)}`);
  }
  const passingEarly = task.failToPass.filter((id) => !notPassed(withoutGold, [id]).length);
  if (passingEarly.length > 0) {
    throw new Quarantine(ErrorCodes.TASK_FAIL_TO_PASS_PASSES, `FAIL_TO_PASS tests already pass without the gold patch: ${passingEarly.join(', ')}`);
  }

  const withGold = await computeReward(opts.docker, task, task.goldPatch, rewardOpts);
  if (withGold.reason === 'patch_does_not_apply') {
    throw new Quarantine(ErrorCodes.TASK_PATCH_DOES_NOT_APPLY, `gold patch does not apply at ${task.baseCommit}: ${withGold.outputTail.trim().slice(-400)}`);
  }
  if (withGold.reward !== 1) {
    const failing = notPassed(withGold, [...task.failToPass, ...task.passToPass]);
    throw new Quarantine(ErrorCodes.TASK_GOLD_FAILS, `with the gold patch these tests do not pass (${withGold.reason}): ${failing.join(', ')}`);
  }
  const runs = opts.stabilityRuns ?? 1;
  if (runs > 1) {
    const stability = await testStability(opts.docker, task, task.goldPatch, { ...rewardOpts, runs });
    if (stability.flaky.length > 0) {
      const detail = stability.tests.filter((t) => stability.flaky.includes(t.nodeid))
        .map((t) => `${t.nodeid} (passed ${t.runs.filter((o) => o === 'passed').length}/${runs})`);
      throw new Quarantine(ErrorCodes.TASK_FILTERED, `flaky tests under the gold patch: ${detail.join(', ')}`);
    }
  }
  return image;
}

/** Parses, filters and (optionally) validates every line of a JSONL task file. */
export async function importTasks(file: string, opts: ImportOptions): Promise<ImportResult> {
  const log = opts.log ?? (() => undefined);
  const abs = resolve(file);
  if (!existsSync(abs)) throw new TaskError(ErrorCodes.TASK_NOT_FOUND, `task file ${abs} does not exist`, { file: abs });
  if (opts.validate && !opts.docker) throw new TaskError(ErrorCodes.TASK_INVALID, 'importTasks: validate needs a docker client', { file: abs });
  const dir = dirname(abs);
  const quarantined: QuarantinedTask[] = [];
  const candidates: { task: ImportedTask; line: number }[] = [];
  const seen = new Set<string>();

  readFileSync(abs, 'utf8').split('\n').forEach((text, i) => {
    const line = i + 1;
    if (text.trim() === '') return;
    let task: Task;
    try {
      task = parseTaskLine(text, line);
    } catch (err) {
      const e = err as TaskError;
      const id = typeof e.details?.instanceId === 'string' ? e.details.instanceId : `line:${line}`;
      quarantined.push({ instanceId: id, line, code: e.code ?? ErrorCodes.TASK_INVALID, reason: e.message });
      return;
    }
    const q = (code: ErrorCode, reason: string) => quarantined.push({ instanceId: task.instanceId, line, code, reason: `line ${line} (${task.instanceId}): ${reason}` });
    if (seen.has(task.instanceId)) return q(ErrorCodes.TASK_INVALID, 'duplicate instance_id in this file');
    seen.add(task.instanceId);
    if (!task.repoPath) return q(ErrorCodes.TASK_NOT_FOUND, 'no repo_path: swerl works offline and needs a local copy of the repository');
    const repoDir = resolve(dir, task.repoPath);
    if (!existsSync(repoDir)) return q(ErrorCodes.TASK_NOT_FOUND, `repo_path ${repoDir} does not exist`);
    const stats = parsePatch(task.goldPatch);
    if (stats.filesChanged === 0) return q(ErrorCodes.TASK_INVALID, 'gold patch changes no file');
    if (opts.maxFilesChanged !== undefined && stats.filesChanged > opts.maxFilesChanged) {
      return q(ErrorCodes.TASK_FILTERED, `gold patch touches ${stats.filesChanged} files (max ${opts.maxFilesChanged})`);
    }
    if (opts.maxChangedLines !== undefined && stats.changedLines > opts.maxChangedLines) {
      return q(ErrorCodes.TASK_FILTERED, `gold patch changes ${stats.changedLines} lines (max ${opts.maxChangedLines})`);
    }
    candidates.push({ line, task: { ...task, repoDir, stats: { filesChanged: stats.filesChanged, changedLines: stats.changedLines } } });
  });

  if (opts.validate) {
    const docker = opts.docker!;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < candidates.length) {
        const c = candidates[next++]!;
        const t0 = Date.now();
        try {
          c.task.image = await validateOnDocker(c.task, { ...opts, docker });
          log(`${c.task.instanceId}: valid (${Date.now() - t0} ms)`);
        } catch (err) {
          if (!(err instanceof Quarantine)) throw err;
          quarantined.push({ instanceId: c.task.instanceId, line: c.line, code: err.code, reason: `line ${c.line} (${c.task.instanceId}): ${err.reason}` });
          log(`${c.task.instanceId}: quarantined ${err.code}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 2) }, worker));
  }

  const rejectedLines = new Set(quarantined.map((q) => q.line));
  return {
    accepted: candidates.filter((c) => !rejectedLines.has(c.line)).map((c) => c.task),
    quarantined: quarantined.sort((a, b) => a.line - b.line),
  };
}

/** The hash `tasks.content_hash` holds: what makes two imports of one id the same task. */
export function taskContentHash(task: Task): string {
  const canonical = JSON.stringify([task.instanceId, task.repo, task.baseCommit, task.problemStatement, task.goldPatch,
    task.testPatch, task.failToPass, task.passToPass, task.split, task.setup ?? '']);
  return createHash('sha256').update(canonical).digest('hex');
}

/** Persists an import: accepted tasks into `tasks`, the rest into `task_quarantine`. Idempotent. */
export async function persistImport(db: Db, suite: string, result: ImportResult): Promise<{ inserted: number; quarantined: number }> {
  let inserted = 0;
  for (const t of result.accepted) {
    const { inserted: isNew } = await upsertTask(db, {
      id: t.instanceId,
      suite,
      split: t.split,
      repo: t.repo,
      baseCommit: t.baseCommit,
      problemStatement: t.problemStatement,
      goldPatch: t.goldPatch,
      testPatch: t.testPatch,
      failToPass: t.failToPass,
      passToPass: t.passToPass,
      image: t.image ?? null,
      contentHash: taskContentHash(t),
      metadata: { repoDir: t.repoDir, version: t.version ?? null, setup: t.setup ?? null, stats: t.stats },
    });
    if (isNew) inserted++;
  }
  for (const q of result.quarantined) {
    await quarantineTask(db, { suite, taskId: q.instanceId, code: q.code, message: q.reason, details: { line: q.line } });
  }
  return { inserted, quarantined: result.quarantined.length };
}

/** The suite name of a task file: its directory name for `<suite>/tasks.jsonl`, else the file's stem. */
export function suiteNameOf(file: string): string {
  const stem = basename(file).replace(/\.jsonl$/, '');
  return stem === 'tasks' ? basename(dirname(resolve(file))) : stem;
}

