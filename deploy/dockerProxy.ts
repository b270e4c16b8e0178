/**
 * `swerl-docker-proxy` (deploy/docker-proxy/main.go): the filtering proxy in front of the Docker
 * socket for rollout workers. Go standard library only, so it builds offline (GOPROXY=off) in a few
 * seconds; the binary is cached under ~/.cache/swerl/docker-proxy-<hash12>/ by a hash of its sources.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { hashParts, shortHash } from '../sandbox/contentHash';
import { runGo, toolCacheRoot } from './goBuild';

export const DOCKER_PROXY_SOURCE = join(__dirname, 'docker-proxy');
const SOURCES = ['go.mod', 'main.go'];

/** The proxy binary for the current sources, built the first time (static, no cgo). */
export async function ensureDockerProxy(log: (line: string) => void = () => undefined): Promise<string> {
  const hash = shortHash(hashParts(SOURCES.flatMap((f) => [f, readFileSync(join(DOCKER_PROXY_SOURCE, f))])));
  const dir = join(toolCacheRoot(), `docker-proxy-${hash}`);
  const bin = join(dir, 'swerl-docker-proxy');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const partial = `${bin}.${process.pid}.partial`;
  const started = Date.now();
  try {
    await runGo(['build', '-trimpath', '-o', partial, '.'], {
      what: 'swerl-docker-proxy',
      cwd: DOCKER_PROXY_SOURCE,
      // Standard library only: no module download, the installed toolchain, no cgo (runs on any rootfs).
      env: { ...process.env, GOPROXY: 'off', GOFLAGS: '-mod=mod -buildvcs=false', GOTOOLCHAIN: 'local', CGO_ENABLED: '0' },
    });
    renameSync(partial, bin);
  } finally {
    rmSync(partial, { force: true });
  }
  log(`built ${bin} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return bin;
}
