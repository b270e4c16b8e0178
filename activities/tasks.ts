/**
 * Task import: a SWE-bench / SWE-rebench JSONL file in, tasks accepted, quarantined or deferred.
 *
 * Guarantees:
 * - One bad task never stops the batch: a malformed line, a repository its sources do not hold, a
 *   gold patch that does not apply, a broken environment or tests that do not behave become
 *   quarantine entries with a stable code (SWERL_TASK_*), the line number and the reason.
 * - Every outcome reaches the sink as soon as it is known (the CLI's sink writes Postgres), so a
 *   crash mid-import loses no accepted task, and a re-run skips the tasks already imported and
 *   validated with the same content hash.
 * - Infra failures are not blamed on the task: a Docker error is retried `infraAttempts` times per
 *   task, then the task is deferred (SWERL_TASK_VALIDATION_INCOMPLETE) and the import goes on.
 * - Validation (optional, on Docker) is the task environment's (activities/taskEnvironment.ts):
 *   for swerl's own, the paper's "valid FAIL_TO_PASS" checks.
 * - Filters (paper: gold patch touches <= 7 files and < 500 changed lines, no flaky tests) quarantine
 *   with SWERL_TASK_FILTERED.
 * - Per task the steps are: parse → filter → repository (repo_path, or the repo sources' mirror)
 *   → environment image → validation → sink.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type Docker from 'dockerode';
import { ErrorCodes, SwerlError, TaskError, type ErrorCode } from '../core/errors';
import { parsePatch, parseTaskLine, type Task } from '../core/tasks';
import type { Db } from '../db/client';
import { clearQuarantine, quarantineTask, upsertTask } from '../db/tasks';
import { swerlHome } from '../sandbox/images';
import { RepoMirrors, type RepoSource } from '../sandbox/repoSources';
import type { SandboxLimits } from './sandbox';
import { DEFAULT_ENVIRONMENTS, environmentFor, TaskQuarantine, type EnvironmentContext, type ImportedTask, type TaskEnvironment } from './taskEnvironment';

export type { ImportedTask } from './taskEnvironment';

export interface QuarantinedTask {
  /** The instance id, or `line:<n>` when the line was too broken to name one. */
  instanceId: string;
  line: number;
  code: ErrorCode;
  reason: string;
  /**
   * Set when the verdict is the task's environment's (image, validation): the same content gets
   * the same verdict, so a re-run may skip it. Unset for verdicts that depend on options or on
   * the repository sources (filters, a repository not found).
   */
  contentHash?: string;
}

/** A task whose validation hit infra failures past the retry bound: neither accepted nor quarantined. */
export interface DeferredTask extends QuarantinedTask {
  code: typeof ErrorCodes.TASK_VALIDATION_INCOMPLETE;
  attempts: number;
}

export interface ImportResult {
  accepted: ImportedTask[];
  quarantined: QuarantinedTask[];
  deferred: DeferredTask[];
  /** Already imported (and validated, when validating) with the same content hash. */
  skipped: string[];
  images: { built: number; reused: number };
}

/** Where each outcome goes the moment it is known. */
export interface ImportSink {
  accepted(task: ImportedTask): Promise<void>;
  quarantined(entry: QuarantinedTask): Promise<void>;
  deferred(entry: DeferredTask): Promise<void>;
}

export type ImportEvent =
  | { kind: 'accepted'; instanceId: string; elapsedMs: number; image?: string }
  | { kind: 'skipped'; instanceId: string; elapsedMs: number; why: string }
  | { kind: 'quarantined' | 'deferred'; instanceId: string; elapsedMs: number; code: ErrorCode; reason: string }
  | { kind: 'retry'; instanceId: string; elapsedMs: number; attempt: number; reason: string };

export interface ImportOptions {
  /** Paper: 7. A gold patch touching more files is filtered out. */
  maxFilesChanged?: number;
  /** Paper: 499 (< 500). A gold patch with more added + removed lines is filtered out. */
  maxChangedLines?: number;
  /** Build each task's environment and run its validation on Docker. Requires `docker`. */
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
  /** Tasks validated at once (`--jobs`); each uses one container at a time. Default 2. */
  concurrency?: number;
  /** Where a line without repo_path finds its `repo` (config tasks.repoSources, `--repos DIR`). */
  repoSources?: RepoSource[];
  /** The mirror cache to use (default: one over `repoSources` in $SWERL_HOME/cache/repos). */
  repoMirrors?: RepoMirrors;
  /** Environments tried per task, first accepting wins (default DEFAULT_ENVIRONMENTS). */
  environments?: readonly TaskEnvironment[];
  /** Attempts per task when its environment or validation fails on infra (default 3). */
  infraAttempts?: number;
  /** Wait before attempt n+1 is n times this (default 2000 ms). */
  infraBackoffMs?: number;
  /** Why a task need not be imported again (its verdict for this content hash is stored), or undefined. */
  skip?: (task: ImportedTask, contentHash: string) => string | undefined;
  sink?: ImportSink;
  /** Free-form progress lines (image builds, fetches). */
  log?: (line: string) => void;
  onEvent?: (event: ImportEvent) => void;
}

const DEFAULT_LIMITS: SandboxLimits = {
  cpus: 0.5, memoryMiB: 2048, pidsLimit: 256, outputLimitBytes: 64 * 1024, commandTimeoutSec: 120, user: '1000:1000',
};

/** The default mirror cache for a set of sources. */
export function defaultRepoMirrors(sources: RepoSource[], log?: (line: string) => void): RepoMirrors {
  return new RepoMirrors({ sources, cacheDir: join(swerlHome(), 'cache', 'repos'), log });
}

/** Parses a file into candidates (with the quarantines of lines that are not candidates). */
function readCandidates(abs: string, opts: ImportOptions): { candidates: { task: ImportedTask; line: number }[]; quarantined: QuarantinedTask[] } {
  const dir = dirname(abs);
  const quarantined: QuarantinedTask[] = [];
  const candidates: { task: ImportedTask; line: number }[] = [];
  const seen = new Set<string>();
  readFileSync(abs, 'utf8').split('\n').forEach((rawText, i) => {
    const line = i + 1;
    const text = rawText.endsWith('\r') ? rawText.slice(0, -1) : rawText;
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
    let repoDir = '';
    if (task.repoPath) {
      repoDir = resolve(dir, task.repoPath);
      if (!existsSync(repoDir)) return q(ErrorCodes.TASK_NOT_FOUND, `repo_path ${repoDir} does not exist`);
    } else if (!opts.repoSources?.length && !opts.repoMirrors?.sources.length) {
      return q(ErrorCodes.TASK_NOT_FOUND, `no repo_path and no repository sources for ${task.repo} (tasks import --repos DIR, or config tasks.repoSources)`);
    }
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
  return { candidates, quarantined };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Imports every line of a JSONL task file: each outcome goes to the sink as soon as it is known. */
export async function importTasks(file: string, opts: ImportOptions): Promise<ImportResult> {
  const log = opts.log ?? (() => undefined);
  const emit = opts.onEvent ?? (() => undefined);
  const abs = resolve(file);
  if (!existsSync(abs)) throw new TaskError(ErrorCodes.TASK_NOT_FOUND, `task file ${abs} does not exist`, { file: abs });
  if (opts.validate && !opts.docker) throw new TaskError(ErrorCodes.TASK_INVALID, 'importTasks: validate needs a docker client', { file: abs });
  const { candidates, quarantined } = readCandidates(abs, opts);
  const result: ImportResult = { accepted: [], quarantined: [], deferred: [], skipped: [], images: { built: 0, reused: 0 } };
  const acceptedLines = new Map<ImportedTask, number>();
  const quarantine = async (entry: QuarantinedTask, elapsedMs = 0): Promise<void> => {
    result.quarantined.push(entry);
    await opts.sink?.quarantined(entry);
    emit({ kind: 'quarantined', instanceId: entry.instanceId, elapsedMs, code: entry.code, reason: entry.reason });
  };
  for (const q of quarantined) await quarantine(q);

  const mirrors = opts.repoMirrors ?? (opts.repoSources?.length ? defaultRepoMirrors(opts.repoSources, log) : undefined);
  const attempts = Math.max(1, opts.infraAttempts ?? 3);
  const backoffMs = opts.infraBackoffMs ?? 2000;
  // A task's environment may need another commit of its repository (SWE-bench reads requirements
  // at environment_setup_commit): fetched into the same mirror, when the repo came from one.
  const ensureCommit = async (task: ImportedTask, commit: string): Promise<void> => {
    if (task.repoPath || !mirrors) return;
    await mirrors.ensureCommit(task.repo, commit, task.instanceId);
  };
  const ctx: EnvironmentContext | undefined = opts.validate
    ? { docker: opts.docker!, limits: opts.limits ?? DEFAULT_LIMITS, testTimeoutSec: opts.testTimeoutSec, stabilityRuns: opts.stabilityRuns ?? 1, log, ensureCommit }
    : undefined;

  /** One task, one attempt: repository, environment, validation. Throws TaskQuarantine for the task's faults. */
  const attempt = async (task: ImportedTask, at: { stage: 'repository' | 'environment' }): Promise<void> => {
    at.stage = 'repository';
    if (!task.repoPath) {
      try {
        const { mirror } = await mirrors!.ensureCommit(task.repo, task.baseCommit, task.instanceId);
        task.repoDir = mirror;
      } catch (err) {
        if (err instanceof TaskError) throw new TaskQuarantine(err.code, err.message);
        throw err;
      }
    }
    if (!ctx) return;
    at.stage = 'environment';
    const env = await environmentFor(task, opts.environments ?? DEFAULT_ENVIRONMENTS);
    const made = await env.image(task, ctx);
    // Recorded before validation: an environment's validation may need what its image recorded (a layout).
    task.environment = { name: env.name, provenance: made.provenance };
    await env.validate(task, made.image, ctx);
    task.image = made.image;
    result.images[made.built ? 'built' : 'reused']++;
  };

  const processOne = async ({ task, line }: { task: ImportedTask; line: number }): Promise<void> => {
    const t0 = Date.now();
    const elapsed = (): number => Date.now() - t0;
    const contentHash = taskContentHash(task);
    const why = opts.skip?.(task, contentHash);
    if (why !== undefined) {
      result.skipped.push(task.instanceId);
      emit({ kind: 'skipped', instanceId: task.instanceId, elapsedMs: 0, why });
      return;
    }
    const at = { stage: 'repository' as 'repository' | 'environment' };
    for (let n = 1; ; n++) {
      try {
        await attempt(task, at);
      } catch (err) {
        if (err instanceof TaskQuarantine || err instanceof TaskError) {
          const code = err instanceof TaskQuarantine ? err.code : err.code;
          const reason = err instanceof TaskQuarantine ? err.reason : err.message;
          await quarantine({ instanceId: task.instanceId, line, code, reason: `line ${line} (${task.instanceId}): ${reason}`,
            ...(at.stage === 'environment' ? { contentHash } : {}) }, elapsed());
          return;
        }
        const failure = err instanceof Error ? err.message : String(err);
        if (n < attempts) {
          emit({ kind: 'retry', instanceId: task.instanceId, elapsedMs: elapsed(), attempt: n, reason: failure });
          await sleep(backoffMs * n);
          continue;
        }
        const entry: DeferredTask = {
          instanceId: task.instanceId, line, code: ErrorCodes.TASK_VALIDATION_INCOMPLETE, attempts: n,
          reason: `line ${line} (${task.instanceId}): validation did not finish after ${n} attempts, infra failing${err instanceof SwerlError ? ` (${err.code})` : ''}: ${failure.slice(-600)}`,
        };
        result.deferred.push(entry);
        await opts.sink?.deferred(entry);
        emit({ kind: 'deferred', instanceId: task.instanceId, elapsedMs: elapsed(), code: entry.code, reason: entry.reason });
        return;
      }
      try {
        await opts.sink?.accepted(task);
      } catch (err) {
        // The id is stored with other content: refused, like any other bad line (a database
        // that is down is not a task's fault: it stops the import).
        if (!(err instanceof TaskError)) throw err;
        await quarantine({ instanceId: task.instanceId, line, code: err.code, reason: `line ${line} (${task.instanceId}): ${err.message}` }, elapsed());
        return;
      }
      result.accepted.push(task);
      acceptedLines.set(task, line);
      emit({ kind: 'accepted', instanceId: task.instanceId, elapsedMs: elapsed(), image: task.image });
      return;
    }
  };

  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < candidates.length) await processOne(candidates[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 2) }, worker));

  result.accepted.sort((a, b) => acceptedLines.get(a)! - acceptedLines.get(b)!);
  result.quarantined.sort((a, b) => a.line - b.line);
  result.deferred.sort((a, b) => a.line - b.line);
  return result;
}

/** The hash `tasks.content_hash` held before it covered the whole line (rows imported then). */
export function legacyTaskContentHash(task: Task): string {
  const canonical = JSON.stringify([task.instanceId, task.repo, task.baseCommit, task.problemStatement, task.goldPatch,
    task.testPatch, task.failToPass, task.passToPass, task.split, task.setup ?? '']);
  return createHash('sha256').update(canonical).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The hash `tasks.content_hash` holds: what makes two imports of one id the same task. Every field
 * of the line counts (environment fields such as `image`, `install_config`, `version` included),
 * in a canonical form so key order and spacing do not; `repo_path` does not (where the repository
 * lies on this host is not what the task is). Without a source line: the legacy field list.
 */
export function taskContentHash(task: Task): string {
  if (task.sourceLine === undefined) return legacyTaskContentHash(task);
  const { repo_path: _where, ...line } = JSON.parse(task.sourceLine) as Record<string, unknown>;
  return createHash('sha256').update(canonicalJson(line)).digest('hex');
}

function taskRow(suite: string, t: ImportedTask) {
  return {
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
    sourceLine: t.sourceLine ?? null,
    metadata: {
      repoDir: t.repoDir, version: t.version ?? null, setup: t.setup ?? null, stats: t.stats,
      environmentSetupCommit: t.environmentSetupCommit ?? null, hintsText: t.hintsText ?? null, createdAt: t.createdAt ?? null,
      extra: t.extra ?? {}, environment: t.environment ?? null,
    },
  };
}

/** The sink that writes Postgres: one row per outcome, as it happens. Idempotent. */
export function databaseSink(db: Db, suite: string, counts = { inserted: 0 }): ImportSink {
  return {
    async accepted(t) {
      const { inserted } = await upsertTask(db, taskRow(suite, t), { legacyContentHash: legacyTaskContentHash(t) });
      if (inserted) counts.inserted++;
      await clearQuarantine(db, suite, t.instanceId);
    },
    async quarantined(q) {
      await clearQuarantine(db, suite, q.instanceId, ErrorCodes.TASK_VALIDATION_INCOMPLETE);
      await quarantineTask(db, { suite, taskId: q.instanceId, code: q.code, message: q.reason, details: { line: q.line, ...(q.contentHash ? { contentHash: q.contentHash } : {}) } });
    },
    async deferred(d) {
      await clearQuarantine(db, suite, d.instanceId, ErrorCodes.TASK_VALIDATION_INCOMPLETE);
      await quarantineTask(db, { suite, taskId: d.instanceId, code: d.code, message: d.reason, details: { line: d.line, attempts: d.attempts } });
    },
  };
}

/** Persists an import after the fact (accepted tasks into `tasks`, the rest into `task_quarantine`). Idempotent. */
export async function persistImport(db: Db, suite: string, result: Pick<ImportResult, 'accepted' | 'quarantined'> & { deferred?: DeferredTask[] }): Promise<{ inserted: number; quarantined: number }> {
  const counts = { inserted: 0 };
  const sink = databaseSink(db, suite, counts);
  for (const t of result.accepted) await sink.accepted(t);
  for (const q of result.quarantined) await sink.quarantined(q);
  for (const d of result.deferred ?? []) await sink.deferred(d);
  return { inserted: counts.inserted, quarantined: result.quarantined.length };
}

/** The suite name of a task file: its directory name for `<suite>/tasks.jsonl`, else the file's stem. */
export function suiteNameOf(file: string): string {
  const stem = basename(file).replace(/\.jsonl$/, '');
  return stem === 'tasks' ? basename(dirname(resolve(file))) : stem;
}

