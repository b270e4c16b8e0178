/**
 * The repository a task image carries: the task's repo at its base commit, with the history up to
 * that commit and nothing after it (a later commit could hold the gold patch, and `git log --all`
 * must not hand the agent the answer).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ErrorCodes, TaskError } from '../core/errors';

const execFileP = promisify(execFile);

async function git(cwd: string, args: string[], what: string): Promise<string> {
  try {
    const { stdout } = await execFileP('git', args, { cwd, maxBuffer: 16 * 1024 * 1024 });
    return stdout.trim();
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim() ?? (err as Error).message;
    throw new TaskError(ErrorCodes.TASK_INVALID, `${what}: git ${args[0]} failed in ${cwd}: ${stderr}`, { cwd, args });
  }
}

const TARBALL = /\.(tar|tar\.gz|tgz)$/;

/**
 * A local git working tree for `repoDir`: the directory itself, or the extraction (into `scratch`)
 * of a .tar/.tar.gz holding one, either at the archive root or in its single top-level directory.
 */
export async function resolveRepoSource(repoDir: string, scratch: string, instanceId: string): Promise<string> {
  const abs = resolve(repoDir);
  if (!existsSync(abs)) throw new TaskError(ErrorCodes.TASK_NOT_FOUND, `task ${instanceId}: repo ${abs} does not exist`, { instanceId, repoDir: abs });
  if (statSync(abs).isDirectory()) return abs;
  if (!TARBALL.test(abs)) {
    throw new TaskError(ErrorCodes.TASK_INVALID, `task ${instanceId}: repo ${abs} is neither a directory nor a .tar/.tar.gz`, { instanceId, repoDir: abs });
  }
  const out = join(scratch, 'extracted');
  mkdirSync(out, { recursive: true });
  try {
    await execFileP('tar', ['-xf', abs, '-C', out]);
  } catch (err) {
    throw new TaskError(ErrorCodes.TASK_INVALID, `task ${instanceId}: cannot extract ${abs}: ${(err as Error).message}`, { instanceId, repoDir: abs });
  }
  if (existsSync(join(out, '.git'))) return out;
  const entries = readdirSync(out);
  const only = entries.length === 1 ? join(out, entries[0] as string) : undefined;
  if (only && existsSync(join(only, '.git'))) return only;
  throw new TaskError(ErrorCodes.TASK_INVALID, `task ${instanceId}: ${abs} holds no git repository (at its root or in one top-level directory)`, { instanceId, repoDir: abs });
}

/** The full commit id that `baseCommit` names in `src`, or a TaskError naming the task. */
export async function resolveBaseCommit(src: string, baseCommit: string, instanceId: string): Promise<string> {
  try {
    const { stdout } = await execFileP('git', ['rev-parse', '--verify', '--quiet', `${baseCommit}^{commit}`], { cwd: src });
    return stdout.trim();
  } catch {
    throw new TaskError(ErrorCodes.TASK_INVALID, `task ${instanceId}: base commit ${baseCommit} is not a commit of ${src}`, { instanceId, baseCommit, repo: src });
  }
}

/**
 * Makes `dest` a fresh repository holding exactly the ancestry of `commit`, checked out (detached)
 * at it, with no remote pointing back at this host.
 */
export async function checkoutAtCommit(src: string, commit: string, dest: string, instanceId: string): Promise<void> {
  const what = `task ${instanceId}`;
  mkdirSync(dest, { recursive: true });
  await git(dest, ['init', '--quiet'], what);
  // Fetching one commit by id from a local repo needs the server side to allow it; a shallow
  // source (a mirror fetched from a shallow clone) needs --update-shallow, or git drops the commit
  // with only a warning.
  await git(dest, ['fetch', '--quiet', '--no-tags', '--update-shallow', '--upload-pack=git -c uploadpack.allowAnySHA1InWant=true upload-pack', src, commit], what);
  await git(dest, ['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', commit], what);
  await git(dest, ['update-ref', '-d', 'FETCH_HEAD'], what).catch(() => undefined);
}
