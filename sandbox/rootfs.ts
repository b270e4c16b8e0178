/**
 * The Debian root filesystem every sandbox starts from, made offline-reproducibly with mmdebstrap
 * (only the apt mirror is contacted) and imported as `swerl-rootfs:<hash12>`. The tarball is cached
 * under $SWERL_HOME/cache keyed by the same hash, so re-importing after `docker image prune` costs
 * seconds, not the ~50 s of a debootstrap.
 */
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { ErrorCodes, SandboxError } from '../core/errors';
import { imageExists } from './dockerBuild';
import { hashParts, shortHash } from './contentHash';

export type DebianSuite = 'bookworm' | 'bullseye' | 'trixie';

/**
 * What the agent and the reward harness need: Python with pytest (and pip for offline wheels), git
 * for the diff, procps for `ps`/`kill`, patch for applying gold/agent diffs. `timeout`, `head`,
 * `wc`, `mkfifo` (coreutils) and bash are part of minbase and the exec wrapper relies on them.
 */
export const BASE_PACKAGES: readonly string[] = ['python3', 'python3-pytest', 'python3-pip', 'git', 'procps', 'patch', 'coreutils', 'bash'];

/** Bump when the way the rootfs is made changes in a way the other inputs do not show. */
const ROOTFS_RECIPE_VERSION = '1';

export interface RootfsSpec {
  suite: DebianSuite;
  packages: readonly string[];
  mirror: string;
}

export function rootfsHash(spec: RootfsSpec): string {
  return hashParts(['swerl-rootfs', ROOTFS_RECIPE_VERSION, spec.suite, ...[...spec.packages].sort()]);
}

function run(cmd: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child.on('error', (err) => reject(new SandboxError(ErrorCodes.IMAGE_BUILD_FAILED, `${what}: cannot run ${cmd}: ${err.message}`, { cmd }, { cause: err })));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new SandboxError(ErrorCodes.IMAGE_BUILD_FAILED, `${what}: ${cmd} exited ${code}\n${stderr.trim()}`, { cmd, code }));
    });
  });
}

/** Returns the path of the cached rootfs tarball, building it with mmdebstrap when missing. */
export async function ensureRootfsTarball(spec: RootfsSpec, cacheDir: string): Promise<string> {
  const file = join(cacheDir, `rootfs-${spec.suite}-${shortHash(rootfsHash(spec))}.tar`);
  if (existsSync(file)) return file;
  mkdirSync(cacheDir, { recursive: true });
  // Build next to the target and rename: a crash mid-build never leaves a truncated cache entry.
  const partial = `${file}.${process.pid}.partial.tar`;
  try {
    await run(
      'mmdebstrap',
      [
        '--variant=minbase',
        '--format=tar',
        `--include=${spec.packages.join(',')}`,
        '--dpkgopt=path-exclude=/usr/share/man/*',
        '--dpkgopt=path-exclude=/usr/share/doc/*',
        '--dpkgopt=path-include=/usr/share/doc/*/copyright',
        spec.suite,
        partial,
        spec.mirror,
      ],
      `rootfs ${spec.suite}`,
    );
    renameSync(partial, file);
  } finally {
    rmSync(partial, { force: true });
  }
  return file;
}

/** Ensures `swerl-rootfs:<hash12>` exists in the daemon; returns the tag. */
export async function ensureRootfsImage(docker: Docker, spec: RootfsSpec, cacheDir: string): Promise<string> {
  const tag = `swerl-rootfs:${shortHash(rootfsHash(spec))}`;
  if (await imageExists(docker, tag)) return tag;
  const tarball = await ensureRootfsTarball(spec, cacheDir);
  try {
    const stream = await docker.importImage(createReadStream(tarball), { repo: 'swerl-rootfs', tag: tag.split(':')[1] });
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(stream, (err: Error | null, out: Array<{ error?: string }>) => {
        const failed = out?.find((o) => o.error);
        if (err ?? failed) reject(err ?? new Error(failed?.error));
        else resolve();
      });
    });
  } catch (err) {
    throw new SandboxError(ErrorCodes.IMAGE_BUILD_FAILED, `docker import of ${tarball} as ${tag} failed: ${(err as Error).message}`, { tag, tarball }, { cause: err });
  }
  if (!(await imageExists(docker, tag))) {
    throw new SandboxError(ErrorCodes.IMAGE_BUILD_FAILED, `docker import of ${tarball} reported success but ${tag} is missing`, { tag, tarball });
  }
  return tag;
}
