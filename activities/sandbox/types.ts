/**
 * The sandbox contract the tool layer, the reward harness and the lease manager program against.
 * One container per episode; every method is safe to call again after an activity retry.
 */

export interface SandboxLimits {
  /** CPU quota in cores (paper: 0.5). */
  cpus: number;
  /** Memory cap, swap included (paper: 2048). */
  memoryMiB: number;
  pidsLimit: number;
  /** Tool output beyond this many bytes is dropped and replaced by a marker. */
  outputLimitBytes: number;
  /** Default per-command timeout, enforced inside the container with `timeout -s KILL`. */
  commandTimeoutSec: number;
  /** uid:gid (or name) that commands run as; the container's own user too. */
  user: string;
  /** The sandbox's writable space, split among its tmpfs mounts (writable.ts); default memoryMiB / 2. */
  diskMiB?: number;
}

export interface ExecResult {
  exitCode: number;
  /** stdout and stderr interleaved as the command wrote them, truncated at outputLimitBytes. */
  output: string;
  truncated: boolean;
  timedOut: boolean;
  durationMs: number;
}

export interface ExecOptions {
  timeoutSec?: number;
  cwd?: string;
  user?: string;
  stdin?: string;
  /**
   * The episode turn this command belongs to: recorded in the sandbox (root-owned, out of the
   * agent's reach) before the command starts, so a retry can tell whether it already ran.
   */
  seq?: number;
  /**
   * This command's output cap instead of the sandbox's `outputLimitBytes`: for the host's own
   * commands whose whole output matters (the reward harness's test log). Never set from agent input.
   */
  outputLimitBytes?: number;
}

export interface Sandbox {
  readonly containerId: string;
  readonly image: string;
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** The highest `seq` an exec recorded in this sandbox (-1 when none). */
  lastRunSeq(): Promise<number>;
  readFile(path: string): Promise<string>;
  writeFile(path: string, content: string): Promise<void>;
  /** Diff of /repo against the task's base commit, untracked files included (the agent's patch). */
  gitDiff(opts?: { excludePaths?: string[] }): Promise<string>;
  /** `docker commit`: an image id a new sandbox can start from with the same /repo. */
  snapshot(): Promise<string>;
  /** Removes the container; a second call, or a call after the container vanished, is a no-op. */
  destroy(): Promise<void>;
}

export interface SandboxSpec {
  image: string;
  limits: SandboxLimits;
  labels: { run: string; episode: string };
  leaseTtlSec: number;
}

/** Container labels: the only state a reaper on a fresh process can see. */
export const Labels = {
  managed: 'swerl.managed',
  run: 'swerl.run',
  episode: 'swerl.episode',
  leaseExpires: 'swerl.lease-expires',
  leaseId: 'swerl.lease-id',
  manager: 'swerl.manager',
  limits: 'swerl.limits',
  /** The deployment a sandbox belongs to ($SWERL_SANDBOX_SCOPE, empty by default): a reaper only judges its own. */
  scope: 'swerl.scope',
} as const;

/**
 * Deployments sharing one Docker daemon (two compose projects, a compose project and a dev stack)
 * keep their leases in different databases; each reaper must leave the others' sandboxes alone.
 */
export function sandboxScope(env: NodeJS.ProcessEnv = process.env): string {
  return env.SWERL_SANDBOX_SCOPE ?? '';
}
