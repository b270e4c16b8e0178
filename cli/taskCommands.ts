/**
 * Task verbs: `tasks import` (progress per task, a closing table, re-runs skip what is stored) and
 * `tasks show` (a stored task's original SWE-bench fields).
 *
 * Exit codes of `tasks import`: 0 every task has an outcome (accepted, quarantined or skipped);
 * 3 the import is incomplete (tasks deferred after infra failures: run it again); 2 a coded error
 * stopped it (SWERL_*), 1 anything else.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import Docker from 'dockerode';
import type { Command } from 'commander';
import { loadRunConfig, resolveConfigPath } from '../config/load';
import type { RunConfig } from '../core/config';
import { SWE_BENCH_FIELDS } from '../core/tasks';
import { getTask, importedTasks, quarantinedTasks } from '../db/tasks';
import { databaseSink, defaultRepoMirrors, importTasks, suiteNameOf, type ImportEvent, type ImportResult } from '../activities/tasks';
import { parseRepoSource, type RepoMirrorStats, type RepoSource } from '../sandbox/repoSources';
import { withDb } from './connections';

export const IMPORT_INCOMPLETE_EXIT = 3;

interface ImportFlags {
  validate: boolean;
  maxFiles?: number;
  maxLines?: number;
  suite?: string;
  repos: string[];
  config?: string;
  jobs?: number;
  retries: number;
  revalidate?: boolean;
}

/** Default `--jobs`: half the cores (a validation keeps a container and a Docker build busy), at least 1. */
export function defaultJobs(cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / 2));
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** One line per finished task: `[done/total elapsed] outcome id (task time) detail`. */
export function progressLine(e: ImportEvent, done: number, total: number, sinceStartMs: number): string {
  const head = `[${String(done).padStart(String(total).length)}/${total} ${seconds(sinceStartMs).padStart(8)}]`;
  switch (e.kind) {
    case 'accepted':
      return `${head} accepted    ${e.instanceId} (${seconds(e.elapsedMs)}${e.image ? `, ${e.image}` : ''})`;
    case 'skipped':
      return `${head} skipped     ${e.instanceId} (${e.why})`;
    case 'quarantined':
      return `${head} quarantined ${e.instanceId} ${e.code} (${seconds(e.elapsedMs)})`;
    case 'deferred':
      return `${head} deferred    ${e.instanceId} ${e.code} (${seconds(e.elapsedMs)})`;
    case 'retry':
      return `${head} retrying    ${e.instanceId} after attempt ${e.attempt}: ${e.reason.split('\n')[0]!.slice(0, 200)}`;
  }
}

/** The closing table: what happened to every line of the file. */
export function importSummary(result: ImportResult, inserted: number, repos?: RepoMirrorStats): string {
  const byCode = new Map<string, number>();
  for (const q of result.quarantined) byCode.set(q.code, (byCode.get(q.code) ?? 0) + 1);
  const rows: [string, string][] = [
    ['imported', `${result.accepted.length} (${inserted} new)`],
    ['skipped', `${result.skipped.length} (verdict stored for the same content)`],
    ['quarantined', String(result.quarantined.length)],
    ...[...byCode.entries()].sort().map(([code, n]): [string, string] => [`  ${code}`, String(n)]),
    ['deferred', `${result.deferred.length}${result.deferred.length ? ` (${result.deferred[0]!.code}: infra failed past the retry bound; run the import again)` : ''}`],
    ['images', `${result.images.built} built, ${result.images.reused} reused`],
  ];
  if (repos) rows.push(['repositories', `${repos.fetches} fetches, ${repos.reused} served from the mirror cache`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

export function registerTaskCommands(program: Command): void {
  const tasks = program.command('tasks').description('task suites (SWE-bench JSONL)');
  tasks
    .command('import')
    .argument('<file>', 'JSONL file of tasks')
    .option('--no-validate', 'skip building environments and running the tests with and without the gold patch on Docker')
    .option('--repos <dir>', 'a directory (or URL template with {repo}) holding the repositories of lines without repo_path; repeatable', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--config <file>', 'run config (or preset): tasks.repoSources, the paper filters and sandbox limits')
    .option('--max-files <n>', 'paper filter: gold patch touches at most n files', (v) => Number(v))
    .option('--max-lines <n>', 'paper filter: gold patch changes at most n lines', (v) => Number(v))
    .option('--jobs <n>', `tasks validated at once (default: half the cores, here ${defaultJobs()})`, (v) => Number(v))
    .option('--retries <n>', 'retries per task after an infra failure before it is deferred', (v) => Number(v), 2)
    .option('--suite <name>', 'suite name (default: the file name)')
    .option('--revalidate', 'validate again tasks whose verdict for the same content is stored')
    .description('import and validate tasks; bad ones are quarantined with a coded reason, each outcome stored as it happens')
    .action(async (file: string, flags: ImportFlags) => {
      const config: RunConfig | undefined = flags.config ? loadRunConfig(flags.config) : undefined;
      const configDir = flags.config ? dirname(resolveConfigPath(flags.config)) : process.cwd();
      const sources: RepoSource[] = [
        ...flags.repos.map((r) => parseRepoSource(r)),
        ...(config?.tasks.repoSources ?? []).map((r) => parseRepoSource(r, configDir)),
      ];
      const suite = flags.suite ?? suiteNameOf(file);
      const tty = Boolean(process.stderr.isTTY);
      const started = Date.now();
      const mirrors = sources.length ? defaultRepoMirrors(sources, tty ? (l) => console.error(`  ${l}`) : undefined) : undefined;
      const counts = { inserted: 0 };
      const result = await withDb(async (db) => {
        const stored = await importedTasks(db.db, suite);
        const rejected = await quarantinedTasks(db.db, suite);
        if (!existsSync(file)) return importTasks(file, { validate: false }); // throws SWERL_TASK_NOT_FOUND naming the file
        let done = 0;
        const total = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').length;
        return importTasks(file, {
          validate: flags.validate,
          docker: flags.validate ? new Docker() : undefined,
          maxFilesChanged: flags.maxFiles ?? config?.tasks.maxFilesChanged,
          maxChangedLines: flags.maxLines ?? config?.tasks.maxChangedLines,
          limits: config?.sandbox,
          concurrency: flags.jobs ?? defaultJobs(),
          infraAttempts: 1 + Math.max(0, flags.retries),
          repoMirrors: mirrors,
          skip: (task, hash) => {
            if (flags.revalidate) return undefined;
            const row = stored.get(task.instanceId);
            if (row && row.contentHash === hash && (!flags.validate || row.image !== null)) return 'already imported with the same content';
            const q = rejected.get(task.instanceId);
            if (flags.validate && q?.contentHash === hash) return `already quarantined with the same content: ${q.code}`;
            return undefined;
          },
          sink: databaseSink(db.db, suite, counts),
          log: tty ? (line) => console.error(`  ${line}`) : undefined,
          onEvent: (e) => {
            if (e.kind !== 'retry') done++;
            console.error(progressLine(e, done, total, Date.now() - started));
          },
        });
      }, { migrate: true });
      for (const q of result.quarantined) console.log(`quarantined ${q.instanceId} (line ${q.line}): ${q.code} ${q.reason}`);
      for (const d of result.deferred) console.log(`deferred ${d.instanceId} (line ${d.line}): ${d.code} ${d.reason}`);
      console.log(importSummary(result, counts.inserted, mirrors?.stats));
      console.log(`suite ${suite}, ${seconds(Date.now() - started)}`);
      if (result.deferred.length > 0) process.exitCode = IMPORT_INCOMPLETE_EXIT;
    });

  tasks
    .command('show')
    .argument('<id>', 'task instance id')
    .option('--json', 'the original line as imported (every field, byte for byte)')
    .description("a stored task's SWE-bench fields as imported")
    .action((id: string, opts: { json?: boolean }) =>
      withDb(async (db) => {
        const task = await getTask(db.db, id);
        if (opts.json) {
          console.log(task.sourceLine ?? JSON.stringify({ instance_id: task.id, repo: task.repo, base_commit: task.baseCommit }));
          return;
        }
        const line = task.sourceLine ? (JSON.parse(task.sourceLine) as Record<string, unknown>) : {};
        console.log(`${task.id} (suite ${task.suite}, split ${task.split}, image ${task.image ?? 'none'})`);
        for (const field of SWE_BENCH_FIELDS) {
          const value = line[field];
          const text = value === undefined ? '(absent)' : typeof value === 'string' ? value : JSON.stringify(value);
          console.log(`${field}: ${text.length > 200 ? `${text.slice(0, 200)}… (${text.length} chars)` : text}`);
        }
        const extra = Object.keys(line).filter((k) => !(SWE_BENCH_FIELDS as readonly string[]).includes(k));
        if (extra.length) console.log(`other fields: ${extra.join(', ')}`);
      }),
    );
}
