/**
 * One Docker container per episode, locked down: no network, uid 1000, no capabilities, no
 * privilege escalation, pids/memory/CPU caps, PID 1 a `sleep` under docker-init (which also reaps
 * the zombies that `timeout -s KILL` leaves behind). State lives in the container, so an activity
 * retried on the same host re-attaches by id (attachSandbox) and finds /repo as it was.
 *
 * The root filesystem stays writable on purpose: `snapshot()` is a `docker commit`, and a commit
 * does not include volumes, so /repo must live in the container layer. System paths are protected
 * by ownership instead (the agent is not root and has no capabilities); /tmp is a size-capped tmpfs.
 */
import { randomUUID } from 'node:crypto';
import type Docker from 'dockerode';
import { ConfigError, ErrorCodes, SandboxError } from '../../core/errors';
import { parseTruncationMarker } from './execStream';
import { EXEC_WRAPPER, TIMEOUT_NOTICE, execRaw, goneError, isGone, statusCodeOf, type RawExecResult } from './exec';
import { Labels, type ExecOptions, type ExecResult, type Sandbox, type SandboxLimits, type SandboxSpec } from './types';

const MiB = 1024 * 1024;
/** Extra host-side allowance past the marker; the in-container `head -c` is the real cap. */
const HOST_OUTPUT_SLACK = 4096;
/** How long past its own timeout an exec may take before the host gives up on the container. */
const HOST_DEADLINE_GRACE_MS = 15_000;
/** readFile/gitDiff are not tool output (no truncation) but must still not exhaust the host. */
const MAX_FILE_BYTES = 32 * MiB;
const FILE_OP_TIMEOUT_SEC = 60;

export interface CreateSandboxExtras {
  /** Lease bookkeeping labels set by the lease manager. */
  leaseId?: string;
  managerId?: string;
}

/** Only the sandbox's own fields: callers may pass the run config's whole `sandbox` section. */
function ownLimits(l: SandboxLimits): SandboxLimits {
  return { cpus: l.cpus, memoryMiB: l.memoryMiB, pidsLimit: l.pidsLimit, outputLimitBytes: l.outputLimitBytes, commandTimeoutSec: l.commandTimeoutSec, user: l.user };
}

function containerLabels(spec: SandboxSpec, extras: CreateSandboxExtras, now: number): Record<string, string> {
  // Every swerl label is set, empty when unused: a container started from a snapshot image would
  // otherwise inherit the snapshotted container's labels (docker commit copies them into the image).
  return {
    [Labels.managed]: 'true',
    [Labels.run]: spec.labels.run,
    [Labels.episode]: spec.labels.episode,
    [Labels.leaseExpires]: String(now + spec.leaseTtlSec * 1000),
    [Labels.leaseId]: extras.leaseId ?? '',
    [Labels.manager]: extras.managerId ?? '',
    [Labels.limits]: JSON.stringify(ownLimits(spec.limits)),
  };
}

function startFailed(spec: SandboxSpec, err: unknown): SandboxError {
  return new SandboxError(
    ErrorCodes.SANDBOX_START_FAILED,
    `cannot start a sandbox from image ${spec.image} for run ${spec.labels.run} episode ${spec.labels.episode}: ${(err as Error).message}`,
    { image: spec.image, ...spec.labels },
    { cause: err },
  );
}

export async function createSandbox(docker: Docker, spec: SandboxSpec, extras: CreateSandboxExtras = {}): Promise<Sandbox> {
  const { limits } = spec;
  let container: Docker.Container;
  try {
    container = await docker.createContainer({
      name: `swerl-${extras.leaseId ?? randomUUID()}`,
      Image: spec.image,
      Cmd: ['sleep', 'infinity'],
      User: limits.user,
      WorkingDir: '/repo',
      Labels: containerLabels(spec, extras, Date.now()),
      NetworkDisabled: true,
      HostConfig: {
        NetworkMode: 'none',
        Init: true,
        NanoCpus: Math.round(limits.cpus * 1e9),
        Memory: limits.memoryMiB * MiB,
        MemorySwap: limits.memoryMiB * MiB,
        PidsLimit: limits.pidsLimit,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        Tmpfs: { '/tmp': `rw,nosuid,nodev,exec,mode=1777,size=${Math.max(64, Math.floor(limits.memoryMiB / 4))}m` },
        Ulimits: [{ Name: 'nofile', Soft: 4096, Hard: 4096 }],
        AutoRemove: false,
      },
    });
  } catch (err) {
    throw startFailed(spec, err);
  }
  try {
    await container.start();
  } catch (err) {
    await container.remove({ force: true }).catch(() => undefined);
    throw startFailed(spec, err);
  }
  return new DockerSandbox(container, spec.image, ownLimits(limits));
}

function parseLimits(containerId: string, raw: string | undefined): SandboxLimits {
  try {
    return JSON.parse(raw ?? '') as SandboxLimits;
  } catch {
    throw new SandboxError(ErrorCodes.SANDBOX_GONE, `container ${containerId.slice(0, 12)} has no readable ${Labels.limits} label: not a swerl sandbox`, { containerId });
  }
}

/** Re-attaches to a running sandbox by container id (an activity retried on the same host). */
export async function attachSandbox(docker: Docker, containerId: string): Promise<Sandbox> {
  const container = docker.getContainer(containerId);
  let info: Docker.ContainerInspectInfo;
  try {
    info = await container.inspect();
  } catch (err) {
    if (statusCodeOf(err) === 404) throw goneError(containerId, err);
    throw new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `cannot inspect sandbox ${containerId.slice(0, 12)}: ${(err as Error).message}`, { containerId }, { cause: err });
  }
  const labels = info.Config.Labels ?? {};
  if (labels[Labels.managed] !== 'true') {
    throw new SandboxError(ErrorCodes.SANDBOX_GONE, `container ${containerId.slice(0, 12)} is not a swerl sandbox (no ${Labels.managed} label)`, { containerId });
  }
  if (!info.State.Running || info.State.Paused) {
    throw new SandboxError(ErrorCodes.SANDBOX_GONE, `sandbox ${containerId.slice(0, 12)} is ${info.State.Status}, not running`, { containerId, status: info.State.Status });
  }
  return new DockerSandbox(container, info.Config.Image, parseLimits(containerId, labels[Labels.limits]));
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

class DockerSandbox implements Sandbox {
  constructor(
    private readonly container: Docker.Container,
    readonly image: string,
    readonly limits: SandboxLimits,
  ) {}

  get containerId(): string {
    return this.container.id;
  }

  private async killContainer(): Promise<void> {
    await this.container.kill().catch(() => undefined);
  }

  private raw(cmd: string[], opts: { user?: string; cwd?: string; stdin?: string; stdoutCap: number; timeoutSec: number }): Promise<RawExecResult> {
    return execRaw(this.container, cmd, {
      user: opts.user ?? this.limits.user,
      cwd: opts.cwd,
      stdin: opts.stdin,
      stdoutCap: opts.stdoutCap,
      stderrCap: 8192,
      deadlineMs: opts.timeoutSec * 1000 + HOST_DEADLINE_GRACE_MS,
      onDeadline: () => this.killContainer(),
    });
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const limit = this.limits.outputLimitBytes;
    const timeoutSec = opts.timeoutSec ?? this.limits.commandTimeoutSec;
    // `timeout 0` would mean no timeout at all, and `head -c 0` no output: refuse rather than run unbounded.
    if (!(timeoutSec > 0) || !(limit > 0)) {
      throw new ConfigError(ErrorCodes.CONFIG_INVALID, `sandbox exec needs timeoutSec > 0 and outputLimitBytes > 0 (got ${timeoutSec}, ${limit})`, { timeoutSec, limit });
    }
    const res = await this.raw(['bash', '-c', EXEC_WRAPPER, 'swerl-exec', String(limit), String(timeoutSec), command], {
      ...opts,
      stdoutCap: limit + HOST_OUTPUT_SLACK,
      timeoutSec,
    });
    const stderr = res.stderr.toBuffer().toString('utf8');
    if (res.exitCode === 125 && stderr.includes('swerl:')) {
      throw new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `exec wrapper failed in ${this.containerId.slice(0, 12)}: ${stderr.trim()}`, { containerId: this.containerId });
    }
    let output = res.stdout.toBuffer().toString('utf8');
    let truncated = parseTruncationMarker(output) !== undefined;
    if (res.stdout.dropped > 0) {
      // The in-container cap failed (an image without coreutils?): fall back to the host's.
      output = `${output}\n[... output truncated: ${res.stdout.dropped} bytes omitted ...]\n`;
      truncated = true;
    }
    return { exitCode: res.exitCode, output, truncated, timedOut: stderr.includes(TIMEOUT_NOTICE), durationMs: res.durationMs };
  }

  async readFile(path: string): Promise<string> {
    const res = await this.raw(['cat', '--', path], { stdoutCap: MAX_FILE_BYTES, timeoutSec: FILE_OP_TIMEOUT_SEC });
    if (res.exitCode !== 0) {
      throw new SandboxError(ErrorCodes.SANDBOX_FILE_ERROR, `cannot read ${path} in sandbox ${this.containerId.slice(0, 12)}: ${res.stderr.toBuffer().toString('utf8').trim()}`, { containerId: this.containerId, path });
    }
    if (res.stdout.dropped > 0) {
      throw new SandboxError(ErrorCodes.SANDBOX_FILE_ERROR, `${path} in sandbox ${this.containerId.slice(0, 12)} is larger than ${MAX_FILE_BYTES} bytes`, { containerId: this.containerId, path });
    }
    return res.stdout.toBuffer().toString('utf8');
  }

  async writeFile(path: string, content: string): Promise<void> {
    // Written by the sandbox user through its own shell, so file permissions apply as for the agent.
    const script = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"';
    const res = await this.raw(['bash', '-c', script, 'swerl-write', path], { stdin: content, stdoutCap: 8192, timeoutSec: FILE_OP_TIMEOUT_SEC });
    if (res.exitCode !== 0) {
      throw new SandboxError(ErrorCodes.SANDBOX_FILE_ERROR, `cannot write ${path} in sandbox ${this.containerId.slice(0, 12)}: ${res.stderr.toBuffer().toString('utf8').trim()}`, { containerId: this.containerId, path });
    }
  }

  async gitDiff(opts: { excludePaths?: string[] } = {}): Promise<string> {
    const pathspec = ['.', ...(opts.excludePaths ?? []).map((p) => `:(exclude)${p}`)].map(shellQuote).join(' ');
    // A throwaway index: untracked files show up in the diff without touching the agent's staging area.
    const script = `set -e
cd /repo
base="\${SWERL_BASE_COMMIT:-HEAD}"
idx=$(mktemp /tmp/.swerl-index.XXXXXXXX)
trap 'rm -f "$idx"' EXIT
if [ -f .git/index ]; then cp .git/index "$idx"; else rm -f "$idx"; fi
export GIT_INDEX_FILE="$idx"
git add -A -- ${pathspec}
git -c diff.noprefix=false -c diff.mnemonicPrefix=false -c core.quotePath=true diff --cached --binary --no-color --no-ext-diff --no-textconv "$base" -- ${pathspec}`;
    const res = await this.raw(['bash', '-c', script], { stdoutCap: MAX_FILE_BYTES, timeoutSec: FILE_OP_TIMEOUT_SEC });
    if (res.exitCode !== 0) {
      throw new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `git diff in sandbox ${this.containerId.slice(0, 12)} failed (exit ${res.exitCode}): ${res.stderr.toBuffer().toString('utf8').trim()}`, { containerId: this.containerId });
    }
    if (res.stdout.dropped > 0) {
      throw new SandboxError(ErrorCodes.SANDBOX_FILE_ERROR, `diff in sandbox ${this.containerId.slice(0, 12)} is larger than ${MAX_FILE_BYTES} bytes`, { containerId: this.containerId });
    }
    return res.stdout.toBuffer().toString('utf8');
  }

  async snapshot(): Promise<string> {
    try {
      const res = (await this.container.commit({ repo: 'swerl-snapshot', tag: `${this.containerId.slice(0, 12)}-${Date.now()}`, pause: true })) as { Id: string };
      return res.Id;
    } catch (err) {
      if (isGone(err)) throw goneError(this.containerId, err);
      throw new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `docker commit of sandbox ${this.containerId.slice(0, 12)} failed: ${(err as Error).message}`, { containerId: this.containerId }, { cause: err });
    }
  }

  async destroy(): Promise<void> {
    try {
      await this.container.remove({ force: true, v: true });
    } catch (err) {
      const code = statusCodeOf(err);
      // 404: already gone; 409: removal already in progress. Both mean the goal is reached.
      if (code === 404 || code === 409) return;
      throw new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `cannot remove sandbox ${this.containerId.slice(0, 12)}: ${(err as Error).message}`, { containerId: this.containerId }, { cause: err });
    }
  }
}
