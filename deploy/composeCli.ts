/**
 * The Compose v2 CLI for docker-compose.yml. Debian's docker-compose 1.29 rejects the file (the
 * top-level `name`), and no prebuilt binary can be downloaded here, so it is built from its Go
 * module (github.com/docker/compose/v2, served by the Go module proxy) once per version under
 * ~/.cache/swerl/compose-<version>/bin. `go install pkg@version` refuses this module (its go.mod
 * has exclude directives), so the module is downloaded and built in place with `go build`.
 * An installed `docker compose` plugin or $SWERL_COMPOSE is used instead when present.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, SwerlError } from '../core/errors';

export const COMPOSE_VERSION = 'v2.40.3';
const MODULE = 'github.com/docker/compose/v2';

/** How to invoke compose: a program and the arguments that come before compose's own. */
export interface ComposeCli {
  command: string;
  prefix: string[];
}

function cacheRoot(): string {
  return process.env.SWERL_VENV_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'swerl');
}

function hasDockerComposePlugin(): boolean {
  try {
    return /v2\.|v5\./.test(execFileSync('docker', ['compose', 'version', '--short'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString());
  } catch {
    return false;
  }
}

function goBuild(moduleDir: string, out: string, log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('nice', ['-n', '15', 'go', 'build', '-trimpath', '-ldflags', `-w -X ${MODULE}/internal.Version=${COMPOSE_VERSION}`, '-o', out, './cmd'], {
      cwd: moduleDir,
      env: { ...process.env, GOFLAGS: '-buildvcs=false' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let tail = '';
    child.stderr.on('data', (d: Buffer) => {
      tail = (tail + d.toString()).slice(-4000);
    });
    child.on('error', (err) => reject(new SwerlError(ErrorCodes.STACK_DEPENDENCY_MISSING, `cannot run go (needed to build the compose CLI): ${err.message}`, {}, { cause: err })));
    child.on('close', (code) => {
      if (code === 0) return resolve();
      log(tail);
      reject(new SwerlError(ErrorCodes.STACK_DEPENDENCY_MISSING, `building the compose CLI ${COMPOSE_VERSION} failed (go build exited ${code}):\n${tail.trim()}`, { code }));
    });
  });
}

/** The compose CLI, built from its Go module the first time (a few minutes of 2 cores). */
export async function ensureComposeCli(log: (line: string) => void = () => undefined): Promise<ComposeCli> {
  if (process.env.SWERL_COMPOSE) return { command: process.env.SWERL_COMPOSE, prefix: [] };
  const bin = join(cacheRoot(), `compose-${COMPOSE_VERSION}`, 'bin', 'docker-compose');
  if (existsSync(bin)) return { command: bin, prefix: [] };
  if (hasDockerComposePlugin()) return { command: 'docker', prefix: ['compose'] };
  log(`building the compose CLI ${COMPOSE_VERSION} from its Go module (once; cached at ${bin})`);
  const dl = JSON.parse(execFileSync('go', ['mod', 'download', '-json', `${MODULE}@${COMPOSE_VERSION}`], { maxBuffer: 16 * 1024 * 1024 }).toString()) as { Dir?: string; Error?: string };
  if (!dl.Dir) throw new SwerlError(ErrorCodes.STACK_DEPENDENCY_MISSING, `go mod download ${MODULE}@${COMPOSE_VERSION} failed: ${dl.Error ?? 'no directory'}`, {});
  mkdirSync(join(cacheRoot(), `compose-${COMPOSE_VERSION}`, 'bin'), { recursive: true });
  const partial = `${bin}.${process.pid}.partial`;
  try {
    await goBuild(dl.Dir, partial, log);
    renameSync(partial, bin);
  } finally {
    rmSync(partial, { force: true });
  }
  return { command: bin, prefix: [] };
}
