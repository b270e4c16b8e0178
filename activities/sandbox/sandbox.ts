/**
 * One Docker container per episode, locked down: no network, pids/memory/CPU caps, no privilege
 * escalation, PID 1 a root `sleep` under docker-init (which also reaps orphans). Every command goes
 * through the container's tool server (toolServer.ts, sandbox/tools/lib/swerl_tools/server.py): a
 * root process on one attached exec that runs each command as the sandbox user (uid 1000, no
 * capabilities) with a timeout, an output cap and a kill of everything the command left running.
 * State lives in the container, so an activity retried on the same host re-attaches by id
 * (attachSandbox) and finds /repo as it was.
 *
 * The root filesystem is read-only and every writable path a size-capped tmpfs (writable.ts): the
 * agent's writes hit ENOSPC inside and never reach the host's disk. `snapshot()` builds an image
 * from the kept tmpfs trees (a `docker commit` does not include tmpfs mounts).
 */
import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import { pack } from 'tar-stream';
import type Docker from 'dockerode';
import { ConfigError, ErrorCodes, SandboxError } from '../../core/errors';
import { truncationMarker } from './execStream';
import { containerGone, execRaw, goneError, isGone, statusCodeOf } from './exec';
import { copyIn, footprints, imageFacts, snapshotPaths, writableMounts, type WritableMount } from './writable';
import { ToolServerClient } from './toolServer';
import { Labels, sandboxScope, type ExecOptions, type ExecResult, type Sandbox, type SandboxLimits, type SandboxSpec } from './types';

const MiB = 1024 * 1024;
/** How long past its own timeout an exec may take before the host gives up on the container. */
const HOST_DEADLINE_GRACE_MS = 15_000;
/** readFile/gitDiff are not tool output (no truncation) but must still not exhaust the host. */
const MAX_FILE_BYTES = 32 * MiB;
const FILE_OP_TIMEOUT_SEC = 60;
/** A snapshot holds the kept trees in memory while its image is built: at most a sandbox's tmpfs budget. */
const MAX_SNAPSHOT_BYTES = 2048 * MiB;
const SNAPSHOT_DEADLINE_MS = 600_000;

export interface CreateSandboxExtras {
  /** Lease bookkeeping labels set by the lease manager. */
  leaseId?: string;
  managerId?: string;
}

/** Only the sandbox's own fields: callers may pass the run config's whole `sandbox` section. */
function ownLimits(l: SandboxLimits): SandboxLimits {
  return {
    cpus: l.cpus, memoryMiB: l.memoryMiB, pidsLimit: l.pidsLimit, outputLimitBytes: l.outputLimitBytes, commandTimeoutSec: l.commandTimeoutSec, user: l.user,
    ...(l.diskMiB !== undefined ? { diskMiB: l.diskMiB } : {}),
  };
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
    [Labels.scope]: sandboxScope(),
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
  const name = `swerl-${extras.leaseId ?? randomUUID()}`;
  const labels = containerLabels(spec, extras, Date.now());
  let source: Docker.Container | undefined;
  const dropSource = async (): Promise<void> => {
    await source?.remove({ force: true, v: true }).catch(() => undefined);
  };
  let container: Docker.Container;
  let mounts: WritableMount[];
  try {
    const image = await imageFacts(docker, spec.image);
    // Never started: the archive the writable paths are copied from (writable.ts). Labelled like
    // the sandbox, so a reaper judges a leftover by the same lease.
    source = await docker.createContainer({ name: `${name}-src`, Image: image.id, Cmd: ['true'], Labels: labels, NetworkDisabled: true, HostConfig: { NetworkMode: 'none' } });
    mounts = writableMounts(image, await footprints(image, source), limits);
    container = await docker.createContainer({
      name,
      Image: spec.image,
      // PID 1 (docker-init, then this sleep) and the tool server run as root: the agent's uid can
      // signal neither (`kill -9 -1`, `pkill sleep`). Commands run as limits.user (tool server).
      Cmd: ['sleep', 'infinity'],
      User: '0:0',
      WorkingDir: '/repo',
      Labels: labels,
      NetworkDisabled: true,
      HostConfig: {
        NetworkMode: 'none',
        Init: true,
        NanoCpus: Math.round(limits.cpus * 1e9),
        Memory: limits.memoryMiB * MiB,
        MemorySwap: limits.memoryMiB * MiB,
        PidsLimit: limits.pidsLimit,
        CapDrop: ['ALL'],
        // Only for the root tool server: to drop to the sandbox user, and to kill what a command left
        // behind. A command loses all of them at setuid (and no-new-privileges keeps them lost).
        CapAdd: ['SETUID', 'SETGID', 'KILL'],
        SecurityOpt: ['no-new-privileges'],
        ReadonlyRootfs: true,
        Tmpfs: Object.fromEntries(mounts.map((m) => [m.path, m.options])),
        Ulimits: [{ Name: 'nofile', Soft: 4096, Hard: 4096 }],
        AutoRemove: false,
      },
    });
  } catch (err) {
    await dropSource();
    throw startFailed(spec, err);
  }
  try {
    await container.start();
  } catch (err) {
    await dropSource();
    await container.remove({ force: true }).catch(() => undefined);
    throw startFailed(spec, err);
  }
  try {
    await copyIn(source, container, mounts, limits.user);
  } catch (err) {
    // Killed while its files were copied in (the copy's error can arrive before the state change):
    // a lost sandbox, rebuilt within sandbox.maxRebuilds; anything else is retried in place.
    const gone = await containerGone(container, err);
    await container.remove({ force: true, v: true }).catch(() => undefined);
    throw gone ?? startFailed(spec, err);
  } finally {
    await dropSource();
  }
  return new DockerSandbox(docker, container, spec.image, ownLimits(limits));
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
  return new DockerSandbox(docker, container, info.Config.Image, parseLimits(containerId, labels[Labels.limits]));
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Untracked files above this size stay out of the end-of-episode diff (listed, not fatal). */
const MAX_UNTRACKED_FILE_BYTES = 1 * MiB;

interface ExecReply {
  exitCode: number;
  output: string;
  dropped: number;
  timedOut: boolean;
}

class DockerSandbox implements Sandbox {
  private readonly server: ToolServerClient;

  constructor(
    private readonly docker: Docker,
    private readonly container: Docker.Container,
    readonly image: string,
    readonly limits: SandboxLimits,
  ) {
    this.server = new ToolServerClient(container);
  }

  get containerId(): string {
    return this.container.id;
  }

  /** How many tool servers this handle has started (1 unless one died). */
  get serverStarts(): number {
    return this.server.starts;
  }

  private async killContainer(): Promise<void> {
    await this.container.kill().catch(() => undefined);
  }

  private async call(req: Record<string, unknown>, timeoutSec: number): Promise<Record<string, unknown>> {
    const reply = await this.server.request(req, timeoutSec * 1000 + HOST_DEADLINE_GRACE_MS, () => this.killContainer());
    if (!reply.ok) {
      throw new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `tool server in ${this.containerId.slice(0, 12)} refused ${String(req.op)}: ${reply.error ?? 'no reason'}`, { containerId: this.containerId });
    }
    return reply;
  }

  async lastRunSeq(): Promise<number> {
    const r = (await this.call({ op: 'seq' }, FILE_OP_TIMEOUT_SEC)) as { seq: number };
    return r.seq;
  }

  private async run(cmd: string, opts: { user?: string; cwd?: string; stdin?: string; seq?: number; limit: number; timeoutSec: number }): Promise<ExecReply & { durationMs: number }> {
    const started = Date.now();
    const r = (await this.call(
      {
        op: 'exec',
        cmd,
        user: opts.user ?? this.limits.user,
        cwd: opts.cwd,
        stdin: opts.stdin === undefined ? undefined : Buffer.from(opts.stdin, 'utf8').toString('base64'),
        timeout: opts.timeoutSec,
        limit: opts.limit,
        seq: opts.seq,
      },
      opts.timeoutSec,
    )) as unknown as ExecReply;
    return { ...r, output: Buffer.from(r.output, 'base64').toString('utf8'), durationMs: Date.now() - started };
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const limit = opts.outputLimitBytes ?? this.limits.outputLimitBytes;
    const timeoutSec = opts.timeoutSec ?? this.limits.commandTimeoutSec;
    // No timeout or no output cap would mean an unbounded command: refuse.
    if (!(timeoutSec > 0) || !(limit > 0)) {
      throw new ConfigError(ErrorCodes.CONFIG_INVALID, `sandbox exec needs timeoutSec > 0 and outputLimitBytes > 0 (got ${timeoutSec}, ${limit})`, { timeoutSec, limit });
    }
    const r = await this.run(command, { user: opts.user, cwd: opts.cwd, stdin: opts.stdin, seq: opts.seq, limit, timeoutSec });
    const output = r.dropped > 0 ? `${r.output}${truncationMarker(r.dropped)}` : r.output;
    return { exitCode: r.exitCode, output, truncated: r.dropped > 0, timedOut: r.timedOut, durationMs: r.durationMs };
  }

  async readFile(path: string): Promise<string> {
    const r = await this.run(`cat -- ${shellQuote(path)}`, { limit: MAX_FILE_BYTES, timeoutSec: FILE_OP_TIMEOUT_SEC });
    if (r.exitCode !== 0) {
      throw new SandboxError(ErrorCodes.SANDBOX_FILE_ERROR, `cannot read ${path} in sandbox ${this.containerId.slice(0, 12)}: ${r.output.trim().slice(0, 2000)}`, { containerId: this.containerId, path });
    }
    if (r.dropped > 0) {
      throw new SandboxError(ErrorCodes.SANDBOX_FILE_ERROR, `${path} in sandbox ${this.containerId.slice(0, 12)} is larger than ${MAX_FILE_BYTES} bytes`, { containerId: this.containerId, path });
    }
    return r.output;
  }

  async writeFile(path: string, content: string): Promise<void> {
    // Written by the sandbox user, so file permissions apply as for the agent.
    const script = `mkdir -p -- "$(dirname -- ${shellQuote(path)})" && cat > ${shellQuote(path)}`;
    const r = await this.run(script, { stdin: content, limit: 8192, timeoutSec: FILE_OP_TIMEOUT_SEC });
    if (r.exitCode !== 0) {
      throw new SandboxError(ErrorCodes.SANDBOX_FILE_ERROR, `cannot write ${path} in sandbox ${this.containerId.slice(0, 12)}: ${r.output.trim()}`, { containerId: this.containerId, path });
    }
  }

  async gitDiff(opts: { excludePaths?: string[] } = {}): Promise<string> {
    // In a throwaway git dir over /repo's objects, as the sandbox user: nothing the agent put in
    // .git (hooks, fsmonitor, filter/diff drivers, index extensions) runs, and untracked files
    // over MAX_UNTRACKED_FILE_BYTES are left out.
    const r = (await this.call(
      { op: 'diff', user: this.limits.user, exclude: opts.excludePaths ?? [], maxBytes: MAX_FILE_BYTES, maxFileBytes: MAX_UNTRACKED_FILE_BYTES, timeout: FILE_OP_TIMEOUT_SEC },
      FILE_OP_TIMEOUT_SEC * 2,
    )) as { diff: string; overCap: boolean; bytes: number; skipped: string[] };
    if (r.overCap) {
      throw new SandboxError(ErrorCodes.SANDBOX_DIFF_TOO_LARGE, `the diff in sandbox ${this.containerId.slice(0, 12)} is ${r.bytes} bytes, over the ${MAX_FILE_BYTES}-byte cap`, {
        containerId: this.containerId,
        bytes: r.bytes,
      });
    }
    return Buffer.from(r.diff, 'base64').toString('utf8');
  }

  async snapshot(): Promise<string> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.container.inspect();
    } catch (err) {
      if (isGone(err)) throw goneError(this.containerId, err);
      throw new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `cannot inspect sandbox ${this.containerId.slice(0, 12)}: ${(err as Error).message}`, { containerId: this.containerId }, { cause: err });
    }
    const kept = snapshotPaths(info.HostConfig.Tmpfs ?? {});
    const context = pack();
    for (const [i, path] of kept.entries()) {
      const r = await execRaw(this.container, ['tar', '-c', '-C', posix.dirname(path), posix.basename(path)], {
        user: this.limits.user, stdoutCap: MAX_SNAPSHOT_BYTES, stderrCap: 16 * 1024, deadlineMs: SNAPSHOT_DEADLINE_MS, onDeadline: async () => undefined,
      });
      if (r.exitCode !== 0 || r.stdout.dropped > 0) {
        throw new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `cannot archive ${path} of sandbox ${this.containerId.slice(0, 12)} for a snapshot (tar exited ${r.exitCode}, ${r.stdout.dropped} bytes over the cap): ${r.stderr.toBuffer().toString('utf8').trim().slice(-2000)}`, { containerId: this.containerId, path });
      }
      context.entry({ name: `tree-${i}.tar` }, r.stdout.toBuffer());
    }
    // The image's own files at the kept paths go first: what the agent deleted stays deleted.
    const dockerfile = [`FROM ${info.Image}`, ...(kept.length > 0 ? [`RUN rm -rf ${kept.join(' ')}`] : []), ...kept.map((p, i) => `ADD tree-${i}.tar ${posix.dirname(p)}/`)];
    context.entry({ name: 'Dockerfile' }, `${dockerfile.join('\n')}\n`);
    context.finalize();
    const tag = `swerl-snapshot:${this.containerId.slice(0, 12)}-${Date.now()}`;
    try {
      const progress = await this.docker.buildImage(context as unknown as NodeJS.ReadableStream, { t: tag, rm: true, forcerm: true });
      const events = await new Promise<Array<{ error?: string }>>((resolve, reject) =>
        this.docker.modem.followProgress(progress, (err: Error | null, out: Array<{ error?: string }>) => (err ? reject(err) : resolve(out))),
      );
      const failed = events.find((e) => e.error);
      if (failed) throw new Error(failed.error);
      return (await this.docker.getImage(tag).inspect()).Id;
    } catch (err) {
      throw new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `building the snapshot of sandbox ${this.containerId.slice(0, 12)} failed: ${(err as Error).message}`, { containerId: this.containerId }, { cause: err });
    }
  }

  async destroy(): Promise<void> {
    this.server.close();
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
