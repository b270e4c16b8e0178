/**
 * Writes a generated suite from task specs: <dir>/tasks.jsonl and <dir>/repos/<instance_id>.tar.gz
 * (used by tasks/toy/generate.ts and tasks/learn/generate.ts). With `verify`, every task is checked
 * with the host's pytest: FAIL_TO_PASS fail at base, everything passes with gold.
 *
 * Output is deterministic: fixed author/committer identity and dates make the base commit hash
 * reproducible, and the tarballs are written with sorted names, zeroed mtimes/owners and
 * `gzip -n`, so regenerating on another machine yields the same bytes (given the same git/zlib).
 * Each tarball holds one commit (the buggy base) as a normal repository: the work tree plus .git
 * whose index has zeroed stat data (no inode/mtime noise). The fix is never in the repo's history.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { isTestPath, parseJUnitXml, parsePatch, testFilesOf, type TaskLine, type TaskSplit } from '../core/tasks';
import { applyEdits, type ToyTaskSpec } from './toy/spec';

const DATE = '2024-01-15T12:00:00+00:00';
const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'swerl toy',
  GIT_AUTHOR_EMAIL: 'toy@swerl.invalid',
  GIT_COMMITTER_NAME: 'swerl toy',
  GIT_COMMITTER_EMAIL: 'toy@swerl.invalid',
  GIT_AUTHOR_DATE: DATE,
  GIT_COMMITTER_DATE: DATE,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

function git(cwd: string, args: string[], input?: string): string {
  return execFileSync('git', ['-c', 'commit.gpgsign=false', '-c', 'core.autocrlf=false', ...args], {
    cwd, env: GIT_ENV, encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'],
  });
}

function writeTree(dir: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
}

/** The diff of `edits` against the base commit, then the work tree is back at base. */
function diffOf(dir: string, base: Record<string, string>, edits: ToyTaskSpec['gold'], name: string): string {
  writeTree(dir, applyEdits(base, edits, name));
  git(dir, ['add', '-A']);
  const diff = git(dir, ['diff', '--cached', '--no-color', '--no-ext-diff', '--no-renames']);
  git(dir, ['reset', '-q', '--hard']);
  git(dir, ['clean', '-fdq']);
  return diff;
}

export interface SuiteOptions {
  /** Directory of tasks.jsonl and repos/. */
  dir: string;
  /** Instance ids are `<prefix>__<name>`, repos `<prefix>/<name without its -N>`. */
  prefix: string;
  /** Split of the index-th task by sorted instance id (e.g. train / eval, or train / validation / test). */
  splitOf: (index: number, spec: ToyTaskSpec) => TaskSplit;
  verify: boolean;
}

/** Every third task (by sorted instance id) is held out, so the split never depends on run order. */
export function everyThirdHeldOut(index: number): 'train' | 'eval' {
  return index % 3 === 1 ? 'eval' : 'train';
}

function buildTask(spec: ToyTaskSpec, index: number, reposDir: string, opts: SuiteOptions): TaskLine {
  const id = `${opts.prefix}__${spec.name}`;
  const repo = `${opts.prefix}/${spec.name.replace(/-\d+$/, '')}`;
  const dir = mkdtempSync(join(tmpdir(), `swerl-${opts.prefix}-${spec.name}-`));
  try {
    git(dir, ['init', '-q', '-b', 'main']);
    writeTree(dir, spec.files);
    git(dir, ['add', '-A']);
    git(dir, ['commit', '-q', '-m', `Initial import of ${repo}`]);
    const base = git(dir, ['rev-parse', 'HEAD']).trim();
    const patch = diffOf(dir, spec.files, spec.gold, spec.name);
    const testPatch = diffOf(dir, spec.files, spec.tests, spec.name);
    const goldFiles = parsePatch(patch).files.map((f) => f.path);
    const testFiles = parsePatch(testPatch).files.map((f) => f.path);
    if (goldFiles.length === 0 || goldFiles.some(isTestPath)) throw new Error(`${id}: gold patch must touch source files only: ${goldFiles.join(', ')}`);
    if (testFiles.length === 0 || !testFiles.every(isTestPath)) throw new Error(`${id}: test patch must touch test files only: ${testFiles.join(', ')}`);

    for (const junk of ['index', 'hooks', 'logs', 'info', 'description', 'COMMIT_EDITMSG', 'ORIG_HEAD']) {
      rmSync(join(dir, '.git', junk), { recursive: true, force: true });
    }
    // An index from read-tree has zeroed stat data: deterministic bytes, and git re-checks the
    // files on first use, so checkout/status/clone all see a clean tree at the base commit.
    git(dir, ['read-tree', 'HEAD']);
    const tarball = join(reposDir, `${id}.tar.gz`);
    execFileSync('bash', ['-c',
      'set -o pipefail; tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu ' +
      '--mode=u+rwX,go+rX,go-w -C "$1" -cf - . | gzip -n -9 > "$2"', 'tar', dir, tarball]);

    return {
      instance_id: id,
      repo,
      base_commit: base,
      problem_statement: spec.problem.trim() + '\n',
      hints_text: '',
      created_at: DATE,
      patch,
      test_patch: testPatch,
      FAIL_TO_PASS: spec.failToPass,
      PASS_TO_PASS: spec.passToPass,
      version: '0.1',
      environment_setup_commit: base,
      repo_path: `repos/${id}.tar.gz`,
      split: opts.splitOf(index, spec),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the listed tests with the host's pytest in a fresh extraction; returns outcomes by node id. */
function hostRun(suiteDir: string, line: TaskLine, patches: string[]): Map<string, string> {
  const dir = mkdtempSync(join(tmpdir(), `swerl-suite-verify-`));
  try {
    execFileSync('tar', ['-xzf', join(suiteDir, line.repo_path!), '-C', dir]);
    git(dir, ['reset', '-q', '--hard', line.base_commit]);
    for (const p of patches) git(dir, ['apply', '-'], p);
    const ids = [...line.FAIL_TO_PASS, ...line.PASS_TO_PASS];
    const junit = join(dir, '.junit.xml');
    try {
      execFileSync('python3', ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', '--continue-on-collection-errors', `--junitxml=${junit}`, ...testFilesOf(ids)], { cwd: dir, stdio: 'pipe' });
    } catch {
      // failures are expected before the gold patch; the report says which
    }
    const cases = parseJUnitXml(readFileSync(junit, 'utf8'), ids);
    return new Map(ids.map((id) => [id, cases.find((c) => c.nodeid === id)?.outcome ?? 'missing']));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function verify(suiteDir: string, line: TaskLine): string[] {
  const problems: string[] = [];
  const before = hostRun(suiteDir, line, [line.test_patch]);
  const after = hostRun(suiteDir, line, [line.patch, line.test_patch]);
  for (const id of line.FAIL_TO_PASS) {
    if (before.get(id) === 'passed') problems.push(`${id} passes without the gold patch`);
    if (after.get(id) !== 'passed') problems.push(`${id} is ${after.get(id)} with the gold patch`);
  }
  for (const id of line.PASS_TO_PASS) {
    if (before.get(id) !== 'passed') problems.push(`${id} is ${before.get(id)} without the gold patch`);
    if (after.get(id) !== 'passed') problems.push(`${id} is ${after.get(id)} with the gold patch`);
  }
  return problems.map((p) => `${line.instance_id}: ${p}`);
}

/** Writes the suite; returns its lines. Throws on duplicate names; sets exitCode on failed verification. */
export function writeSuite(allSpecs: readonly ToyTaskSpec[], opts: SuiteOptions): TaskLine[] {
  const reposDir = join(opts.dir, 'repos');
  rmSync(reposDir, { recursive: true, force: true });
  mkdirSync(reposDir, { recursive: true });
  const specs = [...allSpecs].sort((a, b) => a.name.localeCompare(b.name));
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.name)) throw new Error(`duplicate task ${s.name}`);
    seen.add(s.name);
  }
  const lines = specs.map((spec, i) => buildTask(spec, i, reposDir, opts));
  writeFileSync(join(opts.dir, 'tasks.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const counts = new Map<string, number>();
  for (const l of lines) counts.set(l.split ?? '-', (counts.get(l.split ?? '-') ?? 0) + 1);
  const bySplit = [...counts].map(([split, n]) => `${n} ${split}`).join(', ');
  console.log(`wrote ${lines.length} tasks (${bySplit}) to ${join(opts.dir, 'tasks.jsonl')}`);
  if (opts.verify) {
    const problems = lines.flatMap((l) => verify(opts.dir, l));
    if (problems.length > 0) {
      console.error(problems.join('\n'));
      process.exitCode = 1;
    } else {
      console.log(`verified ${lines.length} tasks with the host pytest`);
    }
  }
  return lines;
}
