/**
 * The Compose v2 CLI for docker-compose.yml. Debian's docker-compose 1.29 rejects the file (the
 * top-level `name`), and no prebuilt binary can be downloaded here, so it is built from its Go
 * module (github.com/docker/compose/v2, served by the Go module proxy) once per version under
 * ~/.cache/swerl/compose-<version>/bin. `go install pkg@version` refuses this module (its go.mod
 * has exclude directives), so the module is downloaded and built in place with `go build`.
 * An installed `docker compose` plugin or $SWERL_COMPOSE is used instead when present.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, SwerlError } from '../core/errors';
import { runGo, toolCacheRoot } from './goBuild';

export const COMPOSE_VERSION = 'v2.40.3';
const MODULE = 'github.com/docker/compose/v2';

/** How to invoke compose: a program and the arguments that come before compose's own. */
export interface ComposeCli {
  command: string;
  prefix: string[];
}

function hasDockerComposePlugin(): boolean {
  try {
    return /v2\.|v5\./.test(execFileSync('docker', ['compose', 'version', '--short'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString());
  } catch {
    return false;
  }
}

/** The compose CLI, built from its Go module the first time (a few minutes of 2 cores). */
export async function ensureComposeCli(log: (line: string) => void = () => undefined): Promise<ComposeCli> {
  if (process.env.SWERL_COMPOSE) return { command: process.env.SWERL_COMPOSE, prefix: [] };
  const bin = join(toolCacheRoot(), `compose-${COMPOSE_VERSION}`, 'bin', 'docker-compose');
  if (existsSync(bin)) return { command: bin, prefix: [] };
  if (hasDockerComposePlugin()) return { command: 'docker', prefix: ['compose'] };
  log(`building the compose CLI ${COMPOSE_VERSION} from its Go module (once; cached at ${bin})`);
  const dl = JSON.parse(execFileSync('go', ['mod', 'download', '-json', `${MODULE}@${COMPOSE_VERSION}`], { maxBuffer: 16 * 1024 * 1024 }).toString()) as { Dir?: string; Error?: string };
  if (!dl.Dir) throw new SwerlError(ErrorCodes.STACK_DEPENDENCY_MISSING, `go mod download ${MODULE}@${COMPOSE_VERSION} failed: ${dl.Error ?? 'no directory'}`, {});
  mkdirSync(join(toolCacheRoot(), `compose-${COMPOSE_VERSION}`, 'bin'), { recursive: true });
  const partial = `${bin}.${process.pid}.partial`;
  try {
    await runGo(['build', '-trimpath', '-ldflags', `-w -X ${MODULE}/internal.Version=${COMPOSE_VERSION}`, '-o', partial, './cmd'], {
      what: `the compose CLI ${COMPOSE_VERSION}`,
      cwd: dl.Dir,
      env: { ...process.env, GOFLAGS: '-buildvcs=false' },
    });
    renameSync(partial, bin);
  } finally {
    rmSync(partial, { force: true });
  }
  return { command: bin, prefix: [] };
}
