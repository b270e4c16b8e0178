/**
 * The offline image builder. Two layers on top of the Debian rootfs (rootfs.ts):
 *   swerl-base:<hash12>  the agent user (uid 1000), /repo, git defaults, and the SWE-agent tool
 *                        scripts from sandbox/tools on PATH;
 *   swerl-task:<hash12>  base + one task's repository at its base commit (+ its setup script).
 * Tags are content hashes of every input, so `ensure*` is a cheap `docker image inspect` when
 * nothing changed and two hosts that build the same inputs get the same tags.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import Docker from 'dockerode';
import { buildFromContextDir, imageExists } from './dockerBuild';
import { hashParts, hashTree, shortHash } from './contentHash';
import { BASE_PACKAGES, ensureRootfsImage, type DebianSuite } from './rootfs';
import { checkoutAtCommit, resolveBaseCommit, resolveRepoSource } from './taskRepo';

export type { DebianSuite } from './rootfs';

const REPO_ROOT = resolve(__dirname, '..');
const TOOLS_DIR = join(__dirname, 'tools');
const BASE_DOCKERFILE = join(__dirname, 'base.Dockerfile');
/** Python byte-code left by running the tools on the host is not an input of the image. */
const isBuildLitter = (name: string): boolean => name === '__pycache__' || name.endsWith('.pyc');

/** $SWERL_HOME, default <repo>/.swerl: caches and local state that are not source. */
export function swerlHome(): string {
  return process.env.SWERL_HOME ?? join(REPO_ROOT, '.swerl');
}

export interface ImageBuildOptions {
  docker?: Docker;
  /** Progress lines for a CLI; silent by default. */
  log?: (line: string) => void;
  /** Called with the tag of each image this call actually builds (not for one found cached). */
  onBuild?: (tag: string) => void;
}

export interface BaseImageOptions extends ImageBuildOptions {
  suite?: DebianSuite;
}

export interface TaskImageSpec {
  instanceId: string;
  /** A local git repository, or a .tar/.tar.gz holding one. */
  repoDir: string;
  baseCommit: string;
  /** Extra shell run as root at build time (offline: pip installs from `wheelsDir` only). */
  setupScript?: string;
  /** Local directory of wheels copied to /opt/swerl/wheels; pip finds links there. */
  wheelsDir?: string;
}

// Image builds of the same tag in one process share one promise instead of racing in the daemon.
const inFlight = new Map<string, Promise<string>>();
function once(key: string, build: () => Promise<string>): Promise<string> {
  const existing = inFlight.get(key);
  if (existing) return existing;
  const p = build().finally(() => inFlight.delete(key));
  inFlight.set(key, p);
  return p;
}

function scratchDir(prefix: string): string {
  const dir = join(swerlHome(), 'tmp');
  mkdirSync(dir, { recursive: true });
  return mkdtempSync(join(dir, prefix));
}

/** Ensures the base image for `suite` exists; returns its tag `swerl-base:<hash12>`. */
export async function ensureBaseImage(opts: BaseImageOptions = {}): Promise<string> {
  const docker = opts.docker ?? new Docker();
  const log = opts.log ?? (() => undefined);
  const suite = opts.suite ?? 'bookworm';
  const rootfsSpec = { suite, packages: BASE_PACKAGES, mirror: process.env.SWERL_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian' };
  const dockerfileTemplate = readFileSync(BASE_DOCKERFILE, 'utf8');
  const toolsHash = hashTree(TOOLS_DIR, isBuildLitter);
  const hash = shortHash(hashParts(['swerl-base', suite, ...[...BASE_PACKAGES].sort(), dockerfileTemplate, toolsHash]));
  const tag = `swerl-base:${hash}`;
  return once(tag, async () => {
    if (await imageExists(docker, tag)) return tag;
    log(`building ${tag} (suite ${suite})`);
    const rootfsTag = await ensureRootfsImage(docker, rootfsSpec, join(swerlHome(), 'cache'));
    log(`rootfs ${rootfsTag} ready`);
    const ctx = scratchDir('base-');
    try {
      writeFileSync(join(ctx, 'Dockerfile'), dockerfileTemplate.replaceAll('{{ROOTFS}}', rootfsTag));
      mkdirSync(join(ctx, 'tools'));
      if (existsSync(TOOLS_DIR)) cpSync(TOOLS_DIR, join(ctx, 'tools'), { recursive: true, filter: (src) => !isBuildLitter(basename(src)) });
      await buildFromContextDir(docker, ctx, tag, { 'swerl.image': 'base', 'swerl.suite': suite, 'swerl.tools-hash': toolsHash });
    } finally {
      rmSync(ctx, { recursive: true, force: true });
    }
    log(`built ${tag}`);
    return tag;
  });
}

function taskDockerfile(baseTag: string, commit: string, task: TaskImageSpec): string {
  const lines = [`FROM ${baseTag}`, 'COPY --chown=1000:1000 repo/ /repo/'];
  if (task.wheelsDir) lines.push('COPY wheels/ /opt/swerl/wheels/', 'ENV PIP_FIND_LINKS=/opt/swerl/wheels');
  if (task.setupScript) {
    lines.push(
      'COPY setup.sh /opt/swerl/setup.sh',
      // Whatever the setup leaves in /repo (egg-info, build dirs) is not the agent's work: hide it from git status/diff.
      'RUN cd /repo && bash -eu /opt/swerl/setup.sh && git ls-files --others --exclude-standard >> .git/info/exclude && chown -R 1000:1000 /repo',
    );
  }
  lines.push(`ENV SWERL_BASE_COMMIT=${commit}`, `LABEL swerl.base-commit=${commit}`, 'WORKDIR /repo');
  return `${lines.join('\n')}\n`;
}

/** Ensures the image of one task exists; returns its tag `swerl-task:<hash12>`. */
export async function ensureTaskImage(task: TaskImageSpec, opts: BaseImageOptions = {}): Promise<string> {
  const docker = opts.docker ?? new Docker();
  const log = opts.log ?? (() => undefined);
  const baseTag = await ensureBaseImage(opts);
  const scratch = scratchDir('task-');
  try {
    const src = await resolveRepoSource(task.repoDir, scratch, task.instanceId);
    const commit = await resolveBaseCommit(src, task.baseCommit, task.instanceId);
    const hash = shortHash(
      hashParts(['swerl-task', baseTag, commit, task.setupScript ?? '', task.wheelsDir ? hashTree(task.wheelsDir) : '']),
    );
    const tag = `swerl-task:${hash}`;
    return await once(tag, async () => {
      if (await imageExists(docker, tag)) return tag;
      log(`building ${tag} for ${task.instanceId} at ${commit.slice(0, 12)}`);
      const ctx = join(scratch, 'context');
      await checkoutAtCommit(src, commit, join(ctx, 'repo'), task.instanceId);
      if (task.wheelsDir) cpSync(task.wheelsDir, join(ctx, 'wheels'), { recursive: true });
      if (task.setupScript) writeFileSync(join(ctx, 'setup.sh'), task.setupScript);
      writeFileSync(join(ctx, 'Dockerfile'), taskDockerfile(baseTag, commit, task));
      await buildFromContextDir(docker, ctx, tag, { 'swerl.image': 'task', 'swerl.instance-id': task.instanceId });
      opts.onBuild?.(tag);
      log(`built ${tag}`);
      return tag;
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export interface BuildImagesResult {
  base: string;
  tasks: Record<string, string>;
}

/**
 * What `swerl images build` calls: the base image, then each task image in turn (one at a time:
 * builds are CPU- and disk-bound and the daemon gains nothing from parallel ones).
 */
export async function buildImages(opts: BaseImageOptions & { tasks?: TaskImageSpec[] } = {}): Promise<BuildImagesResult> {
  const base = await ensureBaseImage(opts);
  const tasks: Record<string, string> = {};
  for (const task of opts.tasks ?? []) tasks[task.instanceId] = await ensureTaskImage(task, opts);
  return { base, tasks };
}
