/**
 * `docker build` of a local context directory through dockerode, with the classic builder's
 * error lines turned into a coded error. The context is streamed by the system `tar`, so a large
 * repository (its .git included) is never held in memory.
 */
import { spawn } from 'node:child_process';
import type Docker from 'dockerode';
import { ErrorCodes, SandboxError } from '../core/errors';

interface BuildLine {
  stream?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

/** True when an image with this tag exists in the daemon (the cache check of every ensure*). */
export async function imageExists(docker: Docker, tag: string): Promise<boolean> {
  try {
    await docker.getImage(tag).inspect();
    return true;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return false;
    throw new SandboxError(ErrorCodes.IMAGE_BUILD_FAILED, `cannot inspect image ${tag}: ${(err as Error).message}`, { tag }, { cause: err });
  }
}

export interface BuildOptions {
  /** Path of the Dockerfile inside the context (default `Dockerfile`). */
  dockerfile?: string;
  buildargs?: Record<string, string>;
  /** Only these paths of the context directory (relative, NUL-free), instead of all of it. */
  files?: readonly string[];
}

/** Builds `contextDir` (which holds a Dockerfile) as `tag`, offline (network none). */
export async function buildFromContextDir(
  docker: Docker,
  contextDir: string,
  tag: string,
  labels: Record<string, string> = {},
  opts: BuildOptions = {},
): Promise<void> {
  // With a file list, tar reads the names from stdin (NUL-separated): no argv length limit.
  const tar = spawn('tar', ['-C', contextDir, '-c', ...(opts.files ? ['--null', '-T', '-'] : ['.'])], { stdio: ['pipe', 'pipe', 'pipe'] });
  let tarStderr = '';
  tar.stderr.on('data', (d: Buffer) => (tarStderr += d.toString()));
  const tarExit = new Promise<number>((resolve) => tar.on('close', (code) => resolve(code ?? -1)));
  tar.stdin.on('error', () => undefined); // tar exiting early is reported by its exit code
  tar.stdin.end(opts.files ? opts.files.map((f) => `${f}\0`).join('') : '');

  let lines: BuildLine[];
  try {
    const stream = await docker.buildImage(tar.stdout, {
      t: tag,
      networkmode: 'none',
      rm: true,
      forcerm: true,
      labels,
      ...(opts.dockerfile ? { dockerfile: opts.dockerfile } : {}),
      ...(opts.buildargs ? { buildargs: opts.buildargs } : {}),
    });
    lines = await new Promise<BuildLine[]>((resolve, reject) => {
      docker.modem.followProgress(stream, (err: Error | null, out: BuildLine[]) => (err ? reject(err) : resolve(out)));
    });
  } catch (err) {
    tar.kill('SIGKILL');
    throw new SandboxError(ErrorCodes.IMAGE_BUILD_FAILED, `docker build of ${tag} failed: ${(err as Error).message}`, { tag, contextDir }, { cause: err });
  }
  const code = await tarExit;
  if (code !== 0) {
    throw new SandboxError(ErrorCodes.IMAGE_BUILD_FAILED, `tar of build context ${contextDir} exited ${code}: ${tarStderr.trim()}`, { tag, contextDir });
  }
  const failed = lines.find((l) => l.error ?? l.errorDetail);
  if (failed) {
    const log = lines.map((l) => l.stream ?? '').join('').slice(-4000);
    throw new SandboxError(
      ErrorCodes.IMAGE_BUILD_FAILED,
      `docker build of ${tag} failed: ${failed.error ?? failed.errorDetail?.message}\n${log}`,
      { tag, contextDir },
    );
  }
}
