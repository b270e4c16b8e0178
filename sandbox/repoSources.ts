/**
 * Where a task's repository comes from when its line names only `repo` (`owner/name`), as every
 * SWE-bench line does: a list of sources (local directories and URL templates) and one cached
 * bare mirror per repository under $SWERL_HOME/cache/repos, shared by all tasks of that repo.
 *
 * Only the base commit's tree is needed to build a task image, so a source is good enough when it
 * has that commit and every blob of its tree, whatever else it lacks: a shallow clone, a blob-less
 * partial clone whose base tree was checked out once, a bare or non-bare repository, a tarball of
 * one. The mirror fetches just that commit, with its history when the source has it (a partial
 * source: the commit alone, depth 1, since its history lacks blobs). A repository whose sources
 * lack the commit or some of its blobs is SWERL_TASK_REPO_INCOMPLETE naming the repo, the commit
 * and missing paths; no source at all is SWERL_TASK_NOT_FOUND; an unreachable URL is infra
 * (SWERL_REPO_FETCH_FAILED, retryable).
 *
 * In a directory source D, `owner/name` resolves to the first of: D/owner/name (bare or not),
 * D/owner__name.git, D/owner__name, D/name.git, D/owner__name.tar, D/owner__name.tar.gz,
 * D/owner__name.tgz. A URL template may use {repo}, {owner} and {name}.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ErrorCodes, SandboxError, TaskError } from '../core/errors';

const execFileP = promisify(execFile);

export type RepoSource = { kind: 'dir'; dir: string } | { kind: 'url'; template: string };

/** A URL template has a scheme or a placeholder; anything else is a local directory (relative to `base`). */
export function parseRepoSource(spec: string, base = process.cwd()): RepoSource {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec) || /\{(repo|owner|name)\}/.test(spec) || /^[^/]+@[^/]+:/.test(spec)) return { kind: 'url', template: spec };
  return { kind: 'dir', dir: resolve(base, spec) };
}

const REPO_NAME = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/;

function splitRepo(repo: string, instanceId: string): { owner: string; name: string } {
  const m = REPO_NAME.exec(repo);
  if (!m || m[1] === '.' || m[1] === '..' || m[2] === '.' || m[2] === '..') {
    throw new TaskError(ErrorCodes.TASK_INVALID, `task ${instanceId}: repo "${repo}" is not owner/name`, { instanceId, repo });
  }
  return { owner: m[1]!, name: m[2]! };
}

export function expandUrlTemplate(template: string, repo: string): string {
  const { owner, name } = splitRepo(repo, repo);
  return template.replaceAll('{repo}', repo).replaceAll('{owner}', owner).replaceAll('{name}', name);
}

/** The paths a directory source may hold `owner/name` under, in the order they are tried. */
export function candidatePaths(dir: string, repo: string): string[] {
  const { owner, name } = splitRepo(repo, repo);
  const flat = `${owner}__${name}`;
  return [join(dir, owner, name), join(dir, `${flat}.git`), join(dir, flat), join(dir, `${name}.git`),
    join(dir, `${flat}.tar`), join(dir, `${flat}.tar.gz`), join(dir, `${flat}.tgz`)];
}

interface GitResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

async function git(cwd: string, args: string[]): Promise<GitResult> {
  try {
    const { stdout, stderr } = await execFileP('git', args, { cwd, maxBuffer: 256 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
    return { ok: true, stdout, stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, stdout: e.stdout ?? '', stderr: (e.stderr || e.message).trim() };
  }
}

/** The git directory of a working tree or bare repository at `dir`, if it is one. */
function isGitDir(dir: string): boolean {
  return existsSync(join(dir, 'HEAD')) && existsSync(join(dir, 'objects'));
}
function repositoryAt(dir: string): string | undefined {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return undefined;
  if (existsSync(join(dir, '.git'))) return dir;
  if (isGitDir(dir)) return dir;
  return undefined;
}

async function resolveCommit(repoDir: string, commit: string): Promise<string | undefined> {
  const r = await git(repoDir, ['rev-parse', '--verify', '--quiet', `${commit}^{commit}`]);
  return r.ok ? r.stdout.trim() : undefined;
}

/**
 * Paths of `commit`'s tree whose objects `repoDir` does not hold. Never fetches: `rev-list
 * --missing=print` reports what a partial clone lacks instead of asking its promisor remote.
 */
export async function missingPaths(repoDir: string, commit: string): Promise<string[]> {
  const listed = await git(repoDir, ['rev-list', '--objects', '--no-walk', '--missing=print', commit]);
  if (!listed.ok) throw new TaskError(ErrorCodes.TASK_REPO_INCOMPLETE, `cannot list the tree of ${commit} in ${repoDir}: ${listed.stderr}`, { repoDir, commit });
  const missing = new Set(listed.stdout.split('\n').filter((l) => l.startsWith('?')).map((l) => l.slice(1).trim()));
  if (missing.size === 0) return [];
  const tree = await git(repoDir, ['ls-tree', '-r', '-t', '--full-tree', commit]);
  const paths: string[] = [];
  for (const line of tree.stdout.split('\n')) {
    const m = /^\d+ \w+ ([0-9a-f]+)\t(.*)$/.exec(line);
    if (m && missing.has(m[1]!)) paths.push(m[2]!);
  }
  // A missing object no path names (a missing tree hides its own entries) still counts.
  return paths.length > 0 ? paths : [...missing].map((oid) => `<object ${oid}>`);
}

/** A blob-less (or otherwise filtered) clone: its history lacks objects, so only its commit is fetched. */
async function isPartialClone(repoDir: string): Promise<boolean> {
  if ((await git(repoDir, ['config', '--get', 'extensions.partialClone'])).ok) return true;
  const promisors = await git(repoDir, ['config', '--get-regexp', '^remote\\..*\\.promisor$']);
  return promisors.ok && /\strue$/m.test(promisors.stdout);
}

const UPLOAD_PACK = '--upload-pack=git -c uploadpack.allowAnySHA1InWant=true upload-pack';
const NETWORK_ERROR = /Could not resolve host|Connection refused|Connection timed out|timed out|Network is unreachable|Failed to connect|Connection reset|early EOF|TLS|SSL/i;
const COMMIT_NOT_THERE = /not our ref|couldn't find remote ref|no such remote ref|unadvertised object|bad object|did not send all necessary objects/i;
const NO_REPOSITORY = /does not appear to be a git repository|Repository not found|not found|No such file or directory|returned error: 404/i;

/**
 * The tag `git describe` finds below `commit` in the source, copied into the mirror: a project
 * versioned by setuptools_scm (pytest) derives its version from it, as it does in SWE-bench's full
 * clones; without it the project installs as 0.1.dev and may refuse its own `minversion`. One tag,
 * not all: the mirror stays the history of the commits asked for. A source without tags leaves the
 * mirror without (the environment then falls back to the task's version; swebenchEnv.ts).
 */
async function fetchNearestTag(mirror: string, from: string, commit: string, repo: string, log: (line: string) => void): Promise<void> {
  const described = await git(from, ['describe', '--tags', '--abbrev=0', commit]);
  const tag = described.ok ? described.stdout.trim() : '';
  if (!tag) return;
  const ref = `refs/tags/${tag}`;
  if ((await git(mirror, ['rev-parse', '--verify', '--quiet', ref])).ok) return;
  const fetched = await git(mirror, ['fetch', '--quiet', '--no-tags', UPLOAD_PACK, from, `+${ref}:${ref}`]);
  if (fetched.ok) log(`${repo}: tag ${tag} (nearest below ${commit.slice(0, 12)}) copied into the mirror`);
  else log(`${repo}: tag ${tag} could not be copied into the mirror (${fetched.stderr.split('\n').at(-1)}); the version falls back to the task's`);
}

export interface RepoMirrorsOptions {
  sources: RepoSource[];
  /** Default $SWERL_HOME/cache/repos (the caller passes it: this module knows no home). */
  cacheDir: string;
  log?: (line: string) => void;
}

/** What happened per repository: how often a source was fetched from and how often the mirror sufficed. */
export interface RepoMirrorStats {
  fetches: number;
  reused: number;
  fetchesByRepo: Record<string, number>;
}

/**
 * One bare mirror per repository, filled on demand. `ensureCommit` calls for one repository run
 * one after another (a lock per repo in this process), so parallel tasks of one repo share one
 * fetch; different repositories proceed in parallel.
 */
export class RepoMirrors {
  readonly stats: RepoMirrorStats = { fetches: 0, reused: 0, fetchesByRepo: {} };
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly opts: RepoMirrorsOptions) {}

  get sources(): readonly RepoSource[] {
    return this.opts.sources;
  }

  mirrorDir(repo: string): string {
    const { owner, name } = splitRepo(repo, repo);
    return join(this.opts.cacheDir, `${owner}__${name}.git`);
  }

  /** The mirror of `repo` holding `commit` and its whole tree; returns its path and the full commit id. */
  ensureCommit(repo: string, commit: string, instanceId: string): Promise<{ mirror: string; commit: string; fetched: boolean }> {
    splitRepo(repo, instanceId);
    const prev = this.locks.get(repo) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => this.ensureCommitLocked(repo, commit, instanceId));
    const tail = next.catch(() => undefined);
    this.locks.set(repo, tail);
    void tail.then(() => {
      if (this.locks.get(repo) === tail) this.locks.delete(repo);
    });
    return next;
  }

  private async ensureCommitLocked(repo: string, commit: string, instanceId: string): Promise<{ mirror: string; commit: string; fetched: boolean }> {
    const log = this.opts.log ?? (() => undefined);
    const mirror = this.mirrorDir(repo);
    if (!isGitDir(mirror)) {
      mkdirSync(this.opts.cacheDir, { recursive: true });
      const tmp = `${mirror}.init-${process.pid}`;
      rmSync(tmp, { recursive: true, force: true });
      const init = await git(this.opts.cacheDir, ['init', '--quiet', '--bare', tmp]);
      if (!init.ok) throw new SandboxError(ErrorCodes.REPO_FETCH_FAILED, `cannot create the mirror ${mirror}: ${init.stderr}`, { repo });
      renameSync(tmp, mirror);
    }
    const inMirror = await this.complete(mirror, commit);
    if (inMirror.ok) {
      this.stats.reused++;
      return { mirror, commit: inMirror.commit, fetched: false };
    }

    const tried: string[] = [];
    let foundRepo = false;
    let commitFound: { where: string; missing: string[] } | undefined;
    let networkError: string | undefined;
    for (const source of this.opts.sources) {
      let from: string;
      let depth1 = false;
      let full = /^[0-9a-f]{40}$/.test(commit) ? commit : undefined;
      if (source.kind === 'dir') {
        const candidate = candidatePaths(source.dir, repo).find((p) => existsSync(p));
        if (!candidate) {
          tried.push(`${source.dir} (no ${repo})`);
          continue;
        }
        const src = statSync(candidate).isDirectory() ? repositoryAt(candidate) : await this.extractTarball(candidate, repo);
        if (!src) {
          tried.push(`${candidate} (not a git repository)`);
          continue;
        }
        foundRepo = true;
        full = await resolveCommit(src, commit);
        if (!full) {
          tried.push(`${candidate} (no commit ${commit})`);
          continue;
        }
        const missing = await missingPaths(src, full);
        if (missing.length > 0) {
          commitFound = { where: candidate, missing };
          tried.push(`${candidate} (${missing.length} objects of the tree missing)`);
          continue;
        }
        depth1 = await isPartialClone(src);
        from = src;
      } else {
        from = expandUrlTemplate(source.template, repo);
        if (!full) {
          tried.push(`${from} (an abbreviated commit ${commit} cannot be fetched from a URL)`);
          continue;
        }
      }
      log(`${repo}: fetching ${full.slice(0, 12)} from ${from}${depth1 ? ' (depth 1: partial source)' : ''}`);
      this.stats.fetches++;
      this.stats.fetchesByRepo[repo] = (this.stats.fetchesByRepo[repo] ?? 0) + 1;
      const fetched = await git(mirror, ['fetch', '--quiet', '--no-tags', '--update-shallow', ...(depth1 ? ['--depth=1'] : []), UPLOAD_PACK, from, full]);
      if (!fetched.ok) {
        // The repository answered but has no such commit; an unreachable host is infra; a
        // URL that names no repository counts as no source.
        if (COMMIT_NOT_THERE.test(fetched.stderr) || source.kind === 'dir') foundRepo = true;
        else if (NETWORK_ERROR.test(fetched.stderr)) networkError = `${from}: ${fetched.stderr}`;
        else if (!NO_REPOSITORY.test(fetched.stderr)) foundRepo = true;
        tried.push(`${from} (fetch failed: ${fetched.stderr.split('\n').at(-1)})`);
        continue;
      }
      foundRepo = true;
      const after = await this.complete(mirror, full);
      if (after.ok) {
        if (source.kind === 'dir' && !depth1) await fetchNearestTag(mirror, from, full, repo, log);
        await git(mirror, ['update-ref', '-d', 'FETCH_HEAD']);
        return { mirror, commit: after.commit, fetched: true };
      }
      if (after.missing) commitFound = { where: from, missing: after.missing };
      tried.push(`${from} (fetched, but ${after.missing ? 'objects of the tree are missing' : 'no commit'})`);
    }

    const where = tried.join('; ') || 'no repository sources configured (tasks import --repos DIR, or config tasks.repoSources)';
    if (commitFound) {
      const shown = commitFound.missing.slice(0, 5).join(', ') + (commitFound.missing.length > 5 ? ` and ${commitFound.missing.length - 5} more` : '');
      throw new TaskError(ErrorCodes.TASK_REPO_INCOMPLETE,
        `task ${instanceId}: repo ${repo} has commit ${commit} but not its whole tree: missing ${shown} (tried ${where})`,
        { instanceId, repo, commit, missingPaths: commitFound.missing.slice(0, 50) });
    }
    if (foundRepo) {
      throw new TaskError(ErrorCodes.TASK_REPO_INCOMPLETE, `task ${instanceId}: repo ${repo} lacks commit ${commit} in every source (tried ${where})`,
        { instanceId, repo, commit });
    }
    if (networkError) {
      throw new SandboxError(ErrorCodes.REPO_FETCH_FAILED, `task ${instanceId}: cannot reach a source of ${repo}: ${networkError}`, { instanceId, repo, commit });
    }
    throw new TaskError(ErrorCodes.TASK_NOT_FOUND, `task ${instanceId}: no source holds repo ${repo} (tried ${where})`, { instanceId, repo, commit });
  }

  /** Whether `repoDir` holds `commit` with its whole tree. */
  private async complete(repoDir: string, commit: string): Promise<{ ok: true; commit: string } | { ok: false; missing?: string[] }> {
    const full = await resolveCommit(repoDir, commit);
    if (!full) return { ok: false };
    const missing = await missingPaths(repoDir, full);
    return missing.length === 0 ? { ok: true, commit: full } : { ok: false, missing };
  }

  /** A tarball of a git repository, extracted once into the cache (keyed by its path, size and mtime). */
  private async extractTarball(tarball: string, repo: string): Promise<string | undefined> {
    const st = statSync(tarball);
    const key = createHash('sha256').update(`${resolve(tarball)}\0${st.size}\0${st.mtimeMs}`).digest('hex').slice(0, 12);
    const out = join(this.opts.cacheDir, 'extracted', `${repo.replace('/', '__')}-${key}`);
    if (!existsSync(out)) {
      const tmp = `${out}.tmp-${process.pid}`;
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      try {
        await execFileP('tar', ['-xf', tarball, '-C', tmp]);
      } catch (err) {
        rmSync(tmp, { recursive: true, force: true });
        throw new TaskError(ErrorCodes.TASK_REPO_INCOMPLETE, `repo ${repo}: cannot extract ${tarball}: ${(err as Error).message}`, { repo, tarball });
      }
      renameSync(tmp, out);
    }
    const root = repositoryAt(out);
    if (root) return root;
    const entries = readdirSync(out);
    return entries.length === 1 ? repositoryAt(join(out, entries[0]!)) : undefined;
  }
}
