/**
 * Repository sources on real git repositories built in a temp dir: each layout a directory source
 * may hold (non-bare owner/name, bare owner__name.git, name.git, a tarball), shallow and blob-less
 * partial sources with and without what the base commit needs, a file:// URL template, no source
 * at all, and one mirror shared by the tasks of a repo (counted fetches, not just success).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importTasks } from '../../activities/tasks';
import { ErrorCodes } from '../../core/errors';
import { candidatePaths, expandUrlTemplate, parseRepoSource, RepoMirrors } from '../../sandbox/repoSources';
import { scmVersion } from '../../sandbox/swebenchEnv';
import { checkoutAtCommit } from '../../sandbox/taskRepo';

const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' };
const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();

let root: string;
/** Three commits: c1 adds src/widgets.py, c2 adds README.md, c3 changes widgets.py. */
let upstream: string;
let commits: string[];

function makeUpstream(dir: string): string[] {
  mkdirSync(join(dir, 'src'), { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  writeFileSync(join(dir, 'src', 'widgets.py'), 'def widget():\n    return 1\n');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'c1');
  writeFileSync(join(dir, 'README.md'), '# widgets\n');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'c2');
  writeFileSync(join(dir, 'src', 'widgets.py'), 'def widget():\n    return 2\n');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'c3');
  return git(dir, 'rev-list', '--reverse', 'HEAD').split('\n');
}

let cacheN = 0;
const mirrorsOver = (...sources: string[]): RepoMirrors =>
  new RepoMirrors({ sources: sources.map((s) => parseRepoSource(s)), cacheDir: join(root, `cache-${cacheN++}`) });
const count = (repoDir: string, commit: string): number => Number(git(repoDir, 'rev-list', '--count', commit));

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'swerl-reposources-'));
  upstream = join(root, 'upstream');
  commits = makeUpstream(upstream);
  git(upstream, 'config', 'uploadpack.allowFilter', 'true');
});
afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('naming', () => {
  it('parses sources and expands templates', () => {
    expect(parseRepoSource('https://github.com/{repo}.git')).toEqual({ kind: 'url', template: 'https://github.com/{repo}.git' });
    expect(parseRepoSource('mirrors', '/srv')).toEqual({ kind: 'dir', dir: '/srv/mirrors' });
    expect(expandUrlTemplate('https://x/{owner}/{name}.git?r={repo}', 'pallets/flask')).toBe('https://x/pallets/flask.git?r=pallets/flask');
    expect(candidatePaths('/d', 'pallets/flask')).toEqual(['/d/pallets/flask', '/d/pallets__flask.git', '/d/pallets__flask', '/d/flask.git',
      '/d/pallets__flask.tar', '/d/pallets__flask.tar.gz', '/d/pallets__flask.tgz']);
  });
});

describe('directory layouts', () => {
  it('a non-bare owner/name checkout: the commit with its history, one fetch', async () => {
    const dir = join(root, 'layout-nonbare');
    git(root, 'clone', '-q', upstream, join(dir, 'acme', 'widgets'));
    const mirrors = mirrorsOver(dir);
    const got = await mirrors.ensureCommit('acme/widgets', commits[1]!.slice(0, 10), 'acme__widgets-1');
    expect(got.commit).toBe(commits[1]);
    expect(got.fetched).toBe(true);
    expect(count(got.mirror, got.commit)).toBe(2);
    expect(mirrors.stats.fetches).toBe(1);
  });

  it("copies the source's nearest tag below the commit into the mirror (setuptools_scm's version), and no later tag", async () => {
    const dir = join(root, 'layout-tags');
    const clone = join(dir, 'acme', 'tagged');
    git(root, 'clone', '-q', upstream, clone);
    git(clone, '-c', 'user.name=t', '-c', 'user.email=t@t', 'tag', '-a', 'v1.0', '-m', 'release', commits[0]!);
    git(clone, 'tag', 'v9.0', commits[2]!);
    const got = await mirrorsOver(dir).ensureCommit('acme/tagged', commits[1]!, 't');
    expect(git(got.mirror, 'tag', '--list')).toBe('v1.0');
    expect(await scmVersion(got.mirror, got.commit, '0.5')).toEqual({ version: '1.0', from: 'tag', tag: 'v1.0' });
    // A source without tags: the task's own version stands in, and the provenance says so.
    const untagged = await mirrorsOver(join(root, 'layout-nonbare')).ensureCommit('acme/widgets', commits[1]!, 't');
    expect(git(untagged.mirror, 'tag', '--list')).toBe('');
    expect(await scmVersion(untagged.mirror, untagged.commit, '0.5')).toEqual({ version: '0.5', from: 'task version' });
    expect(await scmVersion(untagged.mirror, untagged.commit, undefined)).toBeUndefined();
  });

  it('a bare owner__name.git and a bare name.git', async () => {
    const dir = join(root, 'layout-bare');
    git(root, 'clone', '-q', '--bare', upstream, join(dir, 'acme__gadgets.git'));
    git(root, 'clone', '-q', '--bare', upstream, join(dir, 'sprockets.git'));
    const mirrors = mirrorsOver(dir);
    const a = await mirrors.ensureCommit('acme/gadgets', commits[2]!, 't1');
    const b = await mirrors.ensureCommit('other/sprockets', commits[0]!, 't2');
    expect([count(a.mirror, a.commit), count(b.mirror, b.commit)]).toEqual([3, 1]);
    expect(a.mirror).not.toBe(b.mirror);
    expect(mirrors.stats.fetchesByRepo).toEqual({ 'acme/gadgets': 1, 'other/sprockets': 1 });
  });

  it('a tarball owner__name.tar.gz of a checkout', async () => {
    const dir = join(root, 'layout-tar');
    mkdirSync(dir, { recursive: true });
    const work = join(root, 'tar-work', 'gizmos');
    git(root, 'clone', '-q', upstream, work);
    execFileSync('tar', ['-czf', join(dir, 'acme__gizmos.tar.gz'), '-C', join(root, 'tar-work'), 'gizmos']);
    const mirrors = mirrorsOver(dir);
    const got = await mirrors.ensureCommit('acme/gizmos', commits[2]!, 't');
    expect(count(got.mirror, got.commit)).toBe(3);
    expect(git(got.mirror, 'show', `${got.commit}:src/widgets.py`)).toContain('return 2');
  });

  it('a repository without the commit is REPO_INCOMPLETE naming repo and commit; no source at all is NOT_FOUND', async () => {
    const dir = join(root, 'layout-missing');
    git(root, 'clone', '-q', '--bare', upstream, join(dir, 'acme__widgets.git'));
    const mirrors = mirrorsOver(dir);
    const absent = 'deadbeef'.repeat(5);
    await expect(mirrors.ensureCommit('acme/widgets', absent, 'acme__widgets-9')).rejects.toMatchObject({
      code: ErrorCodes.TASK_REPO_INCOMPLETE,
      message: expect.stringMatching(new RegExp(`acme__widgets-9: repo acme/widgets lacks commit ${absent}`)),
    });
    await expect(mirrors.ensureCommit('acme/nothing', commits[0]!, 't')).rejects.toMatchObject({ code: ErrorCodes.TASK_NOT_FOUND, message: expect.stringContaining('no source holds repo acme/nothing') });
    await expect(mirrorsOver().ensureCommit('acme/widgets', commits[0]!, 't')).rejects.toMatchObject({ code: ErrorCodes.TASK_NOT_FOUND });
    expect(mirrors.stats.fetches).toBe(0);
  });
});

describe('shallow and partial sources', () => {
  it('a shallow clone serves a commit it holds (mirror shallow too) and not one beyond its depth', async () => {
    const dir = join(root, 'shallow');
    git(root, 'clone', '-q', '--bare', '--depth', '1', `file://${upstream}`, join(dir, 'acme__shallow.git'));
    const mirrors = mirrorsOver(dir);
    const got = await mirrors.ensureCommit('acme/shallow', commits[2]!, 't');
    expect(count(got.mirror, got.commit)).toBe(1);
    expect(git(got.mirror, 'rev-parse', '--is-shallow-repository')).toBe('true');
    // An image checkout from the shallow mirror (sandbox/taskRepo.ts needs --update-shallow for it).
    const dest = join(root, 'shallow-checkout');
    await checkoutAtCommit(got.mirror, got.commit, dest, 't');
    expect(git(dest, 'rev-parse', 'HEAD')).toBe(commits[2]);
    await expect(mirrors.ensureCommit('acme/shallow', commits[0]!, 'old')).rejects.toMatchObject({ code: ErrorCodes.TASK_REPO_INCOMPLETE, message: expect.stringContaining(`lacks commit ${commits[0]}`) });
  });

  it('a blob-less partial clone: incomplete before the base tree is present (missing paths named), served at depth 1 after', async () => {
    const origin = join(root, 'partial-origin');
    git(root, 'clone', '-q', '--bare', upstream, origin);
    git(origin, 'config', 'uploadpack.allowFilter', 'true');
    const dir = join(root, 'partial');
    const clone = join(dir, 'acme', 'partial');
    git(root, 'clone', '-q', '--no-checkout', '--filter=blob:none', `file://${origin}`, clone);
    expect(git(clone, 'config', '--get', 'remote.origin.promisor')).toBe('true');
    // Offline: the promisor remote is gone, so nothing can be fetched lazily.
    renameSync(origin, `${origin}.away`);
    const before = mirrorsOver(dir);
    const err = await before.ensureCommit('acme/partial', commits[2]!, 'acme__partial-1').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.TASK_REPO_INCOMPLETE });
    expect((err as Error).message).toMatch(new RegExp(`repo acme/partial has commit ${commits[2]} but not its whole tree: missing .*src/widgets.py`));
    expect((err as { details: { missingPaths: string[] } }).details.missingPaths.sort()).toEqual(['README.md', 'src/widgets.py']);

    // The base tree checked out once (blobs fetched while the origin was reachable): enough.
    renameSync(`${origin}.away`, origin);
    git(clone, '-c', 'advice.detachedHead=false', 'checkout', '-q', commits[2]!);
    renameSync(origin, `${origin}.away`);
    const after = mirrorsOver(dir);
    const got = await after.ensureCommit('acme/partial', commits[2]!, 'acme__partial-1');
    expect(count(got.mirror, got.commit)).toBe(1);
    expect(git(got.mirror, 'show', `${got.commit}:src/widgets.py`)).toContain('return 2');
    // An older commit's blobs were never fetched: still incomplete.
    await expect(after.ensureCommit('acme/partial', commits[0]!, 'old')).rejects.toMatchObject({ code: ErrorCodes.TASK_REPO_INCOMPLETE });
  });
});

describe('URL templates and the shared mirror', () => {
  it('a file:// URL template fetches the commit with its history', async () => {
    const hosted = join(root, 'hosted');
    git(root, 'clone', '-q', '--bare', upstream, join(hosted, 'acme', 'hosted.git'));
    const mirrors = mirrorsOver(`file://${hosted}/{owner}/{name}.git`);
    const got = await mirrors.ensureCommit('acme/hosted', commits[2]!, 't');
    expect(count(got.mirror, got.commit)).toBe(3);
    await expect(mirrors.ensureCommit('acme/elsewhere', commits[2]!, 't')).rejects.toMatchObject({ code: ErrorCodes.TASK_NOT_FOUND });
  });

  it('tasks of one repo share one mirror: a second task at an ancestor commit fetches nothing, parallel tasks fetch once', async () => {
    const dir = join(root, 'shared');
    git(root, 'clone', '-q', '--bare', upstream, join(dir, 'acme__shared.git'));
    const mirrors = mirrorsOver(dir);
    const [a, b] = await Promise.all([
      mirrors.ensureCommit('acme/shared', commits[2]!, 'acme__shared-3'),
      mirrors.ensureCommit('acme/shared', commits[2]!, 'acme__shared-3b'),
    ]);
    expect([a.fetched, b.fetched].sort()).toEqual([false, true]);
    const c = await mirrors.ensureCommit('acme/shared', commits[1]!, 'acme__shared-2');
    expect(c.fetched).toBe(false);
    expect(new Set([a.mirror, b.mirror, c.mirror]).size).toBe(1);
    expect(mirrors.stats).toMatchObject({ fetches: 1, reused: 2, fetchesByRepo: { 'acme/shared': 1 } });
    // A new RepoMirrors over the same cache (another import) finds the mirror without fetching.
    const again = new RepoMirrors({ sources: mirrors.sources.slice(), cacheDir: join(a.mirror, '..') });
    expect((await again.ensureCommit('acme/shared', commits[0]!, 'acme__shared-1')).fetched).toBe(false);
    expect(again.stats.fetches).toBe(0);
  });

  it('importTasks resolves lines without repo_path through the sources, repo_path wins, and a line whose repo is nowhere is quarantined', async () => {
    const dir = join(root, 'import-src');
    git(root, 'clone', '-q', '--bare', upstream, join(dir, 'acme__imported.git'));
    const pinned = join(root, 'pinned-checkout');
    git(root, 'clone', '-q', upstream, pinned);
    const line = (id: string, extra: Record<string, unknown>) => JSON.stringify({
      instance_id: id, repo: 'acme/imported', base_commit: commits[1], problem_statement: 'widget() should return 2',
      patch: 'diff --git a/src/widgets.py b/src/widgets.py\n--- a/src/widgets.py\n+++ b/src/widgets.py\n@@ -1,2 +1,2 @@\n def widget():\n-    return 1\n+    return 2\n',
      test_patch: '', FAIL_TO_PASS: ['tests/test_w.py::test_two'], PASS_TO_PASS: [], ...extra,
    });
    const file = join(root, 'import.jsonl');
    writeFileSync(file, [line('acme__imported-1', {}), line('acme__imported-2', { base_commit: commits[0] }), line('acme__pinned-1', { repo_path: pinned }),
      line('acme__nowhere-1', { repo: 'acme/nowhere' })].join('\n'));
    const mirrors = mirrorsOver(dir);
    const result = await importTasks(file, { validate: false, repoMirrors: mirrors, concurrency: 2 });
    expect(result.accepted.map((t) => [t.instanceId, t.repoDir])).toEqual([
      ['acme__imported-1', mirrors.mirrorDir('acme/imported')],
      ['acme__imported-2', mirrors.mirrorDir('acme/imported')],
      ['acme__pinned-1', pinned],
    ]);
    expect(result.quarantined.map((q) => [q.instanceId, q.code])).toEqual([['acme__nowhere-1', ErrorCodes.TASK_NOT_FOUND]]);
    expect(mirrors.stats.fetchesByRepo).toEqual({ 'acme/imported': 1 });
  });
});
