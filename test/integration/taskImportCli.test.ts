/**
 * `swerl tasks import` as a user runs it, on real Docker and Postgres, with a small JSONL made from
 * variants of one toy task: a good task carrying all 12 SWE-bench fields (plus SWE-rebench extras), a task whose
 * environment is broken (its conftest does not import), a task whose gold-fails reason holds a NUL
 * byte, and a malformed line.
 * A fifth line has no repo_path and is found through --repos, whose source lacks its base commit.
 *   run 1, Docker unreachable: every task deferred after its bounded retries, exit 3 (the
 *          missing commit quarantined SWERL_TASK_REPO_INCOMPLETE all the same);
 *   run 2: the good task imported (12 fields byte for byte), the broken ones quarantined with
 *          their codes (the NUL stored as U+FFFD), deferred entries cleared, exit 0;
 *   run 3: nothing validated again (every verdict is stored for the same content), exit 0.
 * Then, without Docker: a line without repo_path found through --repos / config tasks.repoSources,
 * and a row stored under the legacy content hash brought up to date instead of refused.
 */
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importTasks, legacyTaskContentHash, persistImport, taskContentHash } from '../../activities/tasks';
import { ErrorCodes } from '../../core/errors';
import { SWE_BENCH_FIELDS } from '../../core/tasks';
import { createDb, type DbHandle } from '../../db/client';
import { taskQuarantine, tasks as tasksTable } from '../../db/schema';
import { createTestDatabase, type TestDatabase } from '../harness/db';

const REPO_ROOT = resolve(__dirname, '../..');
const SUITE = resolve(REPO_ROOT, 'tasks/toy/tasks.jsonl');
const toyLines = readFileSync(SUITE, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const toy = (name: string): Record<string, unknown> => {
  const t = toyLines.find((l) => l.instance_id === `toy__${name}`)!;
  return { ...t, repo_path: resolve(SUITE, '..', t.repo_path as string) };
};

const execFileSyncQuiet = (cmd: string, args: string[]): void => {
  execFileSync(cmd, args, { stdio: 'ignore' });
};

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function swerl(args: string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'cli/main.ts'), ...args],
      { cwd: REPO_ROOT, env: { ...process.env, ...env }, maxBuffer: 32 * 1024 * 1024, timeout: 540_000 },
      (err, stdout, stderr) => done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

let testDb: TestDatabase;
let handle: DbHandle;
let scratch: string;
let file: string;
let env: Record<string, string>;
/** The good line exactly as written to the file. */
let goodLine: string;
/** A --repos directory holding the toy repository as a tarball, for the missing-commit line. */
let reposDir: string;

beforeAll(async () => {
  testDb = await createTestDatabase('task_import_cli');
  handle = createDb(testDb.url);
  scratch = mkdtempSync(join(tmpdir(), 'swerl-import-cli-'));
  env = { SWERL_DATABASE_URL: testDb.url };

  // Fields a real line carries, with text that must survive untouched: escapes, non-ASCII, CRLF, a
  // JSON-encoded test list, and SWE-rebench extras swerl does not read.
  const good = {
    ...toy('strutils-1'),
    instance_id: 'real__strutils-1',
    hints_text: 'See the "width" arg \u2014 r\u00e9sum\u00e9 \ud83d\ude00\r\nline two\\n (a literal backslash-n)',
    created_at: '2023-05-04T12:34:56Z',
    version: '0.1',
    environment_setup_commit: 'a'.repeat(40),
    FAIL_TO_PASS: JSON.stringify(['tests/test_core.py::test_truncate_exact_width']),
    meta: { has_test_patch: true, num_modified_files: 1 },
    license_name: 'MIT',
  };
  goodLine = JSON.stringify(good);
  const conftest = 'diff --git a/conftest.py b/conftest.py\nnew file mode 100644\n--- /dev/null\n+++ b/conftest.py\n@@ -0,0 +1,2 @@\n+import sys\n+import swerl_no_such_module  # the environment lacks a dependency\n';
  // Variants of the same repository and commit: one image serves all three (CI time).
  const base = toy('strutils-1');
  const brokenEnv = { ...base, instance_id: 'real__broken-env', test_patch: `${base.test_patch as string}${conftest}` };
  const nulReason = { ...base, instance_id: 'real__nul-reason', FAIL_TO_PASS: ['tests/test_core.py::test_truncate_exact_width', 'tests/test_core.py::test_nul\u0000byte'] };
  // A line found through --repos (no repo_path) whose source lacks its base commit.
  reposDir = join(scratch, 'repos');
  mkdirSync(reposDir, { recursive: true });
  copyFileSync(base.repo_path as string, join(reposDir, 'acme__strutils.tar.gz'));
  const { repo_path: _where, ...unplaced } = base;
  const missingCommit = { ...unplaced, instance_id: 'real__missing-commit', repo: 'acme/strutils', base_commit: 'f'.repeat(40) };
  file = join(scratch, 'real.jsonl');
  writeFileSync(file, [goodLine, JSON.stringify(brokenEnv), '{"instance_id": "real__truncated", "repo": ', JSON.stringify(nulReason), JSON.stringify(missingCommit)].join('\n') + '\n');
});

afterAll(async () => {
  await handle?.close();
  await testDb?.drop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const quarantineRows = () => handle.db.select().from(taskQuarantine).where(eq(taskQuarantine.suite, 'real'));

describe('swerl tasks import', () => {
  it('defers every task when Docker is unreachable (bounded retries), exit 3, the malformed line quarantined', async () => {
    const run = await swerl(['tasks', 'import', file, '--repos', reposDir, '--jobs', '2', '--retries', '1'], { ...env, DOCKER_HOST: `unix://${join(scratch, 'no-docker.sock')}` });
    expect(run.code, run.stderr).toBe(3);
    expect(run.stdout).toMatch(/^deferred +3 \(SWERL_TASK_VALIDATION_INCOMPLETE/m);
    // Two attempts per task: one retry line each.
    expect(run.stderr.match(/retrying +real__\S+ after attempt 1/g)?.sort()).toHaveLength(3);
    const rows = await quarantineRows();
    expect(rows.map((r) => [r.taskId, r.code]).sort()).toEqual([
      ['line:3', ErrorCodes.TASK_INVALID],
      ['real__broken-env', ErrorCodes.TASK_VALIDATION_INCOMPLETE],
      // The repository is checked before Docker is needed: the missing commit is the task's fault either way.
      ['real__missing-commit', ErrorCodes.TASK_REPO_INCOMPLETE],
      ['real__nul-reason', ErrorCodes.TASK_VALIDATION_INCOMPLETE],
      ['real__strutils-1', ErrorCodes.TASK_VALIDATION_INCOMPLETE],
    ]);
    expect(rows.find((r) => r.taskId === 'real__strutils-1')!.details).toMatchObject({ attempts: 2 });
    expect(await handle.db.select().from(tasksTable)).toEqual([]);
  }, 600_000);

  it('imports the good task and quarantines the broken ones with their codes, each persisted; exit 0', async () => {
    const run = await swerl(['tasks', 'import', file, '--repos', reposDir, '--jobs', '2'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/\[\s*\d\/5 +[\d.]+ s\] accepted +real__strutils-1 \([\d.]+ s, swerl-task:[0-9a-f]{12}\)/);
    expect(run.stdout).toMatch(/^imported +1 \(1 new\)$/m);
    expect(run.stdout).toMatch(/^ {2}SWERL_TASK_ENV_BROKEN +1$/m);
    expect(run.stdout).toMatch(/^ {2}SWERL_TASK_GOLD_FAILS +1$/m);
    expect(run.stdout).toMatch(/^ {2}SWERL_TASK_REPO_INCOMPLETE +1$/m);
    expect(run.stdout).toMatch(/^deferred +0$/m);

    const rows = await quarantineRows();
    expect(rows.map((r) => [r.taskId, r.code]).sort()).toEqual([
      ['line:3', ErrorCodes.TASK_INVALID],
      ['real__broken-env', ErrorCodes.TASK_ENV_BROKEN],
      ['real__missing-commit', ErrorCodes.TASK_REPO_INCOMPLETE],
      ['real__nul-reason', ErrorCodes.TASK_GOLD_FAILS],
    ]);
    expect(rows.find((r) => r.taskId === 'real__missing-commit')!.message).toContain(`repo acme/strutils lacks commit ${'f'.repeat(40)}`);
    expect(rows.find((r) => r.taskId === 'real__broken-env')!.message).toContain('swerl_no_such_module');
    // The NUL byte of the test id reached the reason and was stored as U+FFFD.
    expect(rows.find((r) => r.taskId === 'real__nul-reason')!.message).toContain('tests/test_core.py::test_nul\uFFFDbyte (missing)');

    const [task] = await handle.db.select().from(tasksTable).where(eq(tasksTable.id, 'real__strutils-1'));
    expect(task!.image).toMatch(/^swerl-task:/);
    // Every SWE-bench field byte for byte: the stored line is the line, and so is what `tasks show --json` prints.
    expect(task!.sourceLine).toBe(goodLine);
    const original = JSON.parse(goodLine) as Record<string, unknown>;
    const stored = JSON.parse(task!.sourceLine!) as Record<string, unknown>;
    for (const field of SWE_BENCH_FIELDS) {
      expect(field in original, field).toBe(true);
      expect(Buffer.from(JSON.stringify(stored[field])).equals(Buffer.from(JSON.stringify(original[field]))), field).toBe(true);
    }
    expect([stored.meta, stored.license_name]).toEqual([original.meta, original.license_name]);
    expect(task!.metadata).toMatchObject({ hintsText: original.hints_text, createdAt: '2023-05-04T12:34:56Z', environmentSetupCommit: 'a'.repeat(40),
      extra: { meta: original.meta, license_name: 'MIT' }, environment: { name: 'swerl-base' } });
    const show = await swerl(['tasks', 'show', 'real__strutils-1', '--json'], env);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toBe(`${goodLine}\n`);
  }, 600_000);

  it('a re-run validates nothing again: every verdict is stored for the same content', async () => {
    const run = await swerl(['tasks', 'import', file, '--repos', reposDir], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/skipped +real__strutils-1 \(already imported with the same content\)/);
    expect(run.stderr).toMatch(/skipped +real__broken-env \(already quarantined with the same content: SWERL_TASK_ENV_BROKEN\)/);
    expect(run.stdout).toMatch(/^skipped +3 /m);
    expect(run.stdout).toMatch(/^images +0 built, 0 reused$/m);
    // The missing commit is looked for again (a source may have gained it); the verdict is the same.
    expect(run.stderr).toMatch(/quarantined +real__missing-commit SWERL_TASK_REPO_INCOMPLETE/);
    expect((await quarantineRows()).length).toBe(4);
  }, 600_000);

  it('finds a line without repo_path through --repos and config tasks.repoSources (relative to the config file)', async () => {
    const dir = join(scratch, 'configured');
    const repos = join(dir, 'repos', 'acme', 'strutils');
    mkdirSync(repos, { recursive: true });
    const base = toy('strutils-1');
    execFileSyncQuiet('tar', ['-xzf', base.repo_path as string, '-C', repos]);
    const { repo_path: _where, ...rest } = base;
    const tasksFile = join(dir, 'configured.jsonl');
    writeFileSync(tasksFile, `${JSON.stringify({ ...rest, instance_id: 'configured__strutils-1', repo: 'acme/strutils' })}\n`);
    const config = join(dir, 'run.yaml');
    writeFileSync(config, ['name: configured', 'model: { base: none }', 'tasks:', '  suite: configured.jsonl', '  repoSources: [repos]',
      'stages:', '  - { kind: eval, name: eval, maxTurns: 4, contextTokens: 4096, runs: 1 }'].join('\n'));
    const run = await swerl(['tasks', 'import', tasksFile, '--no-validate', '--repos', join(dir, 'nothing-here'), '--config', config],
      { ...env, SWERL_HOME: join(dir, 'home') });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^imported +1 \(1 new\)$/m);
    expect(run.stdout).toMatch(/^repositories +1 fetches, 0 served from the mirror cache$/m);
    const [task] = await handle.db.select().from(tasksTable).where(eq(tasksTable.id, 'configured__strutils-1'));
    expect(task!.metadata).toMatchObject({ repoDir: join(dir, 'home', 'cache', 'repos', 'acme__strutils.git') });
  }, 300_000);

  it('brings a task stored before source lines were kept (legacy content hash) up to date instead of refusing it', async () => {
    const line = JSON.stringify({ ...toy('strutils-1'), instance_id: 'legacy__strutils-1' });
    const legacyFile = join(scratch, 'legacy.jsonl');
    writeFileSync(legacyFile, `${line}\n`);
    const parsed = await importTasks(legacyFile, { validate: false });
    const { sourceLine: _dropped, ...asBefore } = parsed.accepted[0]!;
    await persistImport(handle.db, 'legacy', { accepted: [asBefore], quarantined: [] });
    const [before] = await handle.db.select().from(tasksTable).where(eq(tasksTable.id, 'legacy__strutils-1'));
    expect([before!.sourceLine, before!.contentHash]).toEqual([null, legacyTaskContentHash(asBefore)]);

    const run = await swerl(['tasks', 'import', legacyFile, '--no-validate'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^imported +1 \(0 new\)$/m);
    const [after] = await handle.db.select().from(tasksTable).where(eq(tasksTable.id, 'legacy__strutils-1'));
    expect([after!.sourceLine, after!.contentHash]).toEqual([line, taskContentHash(parsed.accepted[0]!)]);
  }, 300_000);
});

