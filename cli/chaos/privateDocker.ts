/**
 * A private Docker daemon for the chaos soak, so that killing dockerd never touches the shared one
 * on /var/run/docker.sock: its own --data-root, --exec-root, --pidfile and unix socket under the
 * state dir, no bridge and no iptables (sandboxes run with --network none). The soak SIGKILLs it
 * and starts it again like a supervisor would; containers do not survive that (no live-restore),
 * which is the point.
 *
 * dockerd runs in its own network namespace (`unshare --net`, which execs it, so the pid is
 * dockerd's): a daemon started with --bridge=none deletes the interface named docker0 on startup
 * (moby removeDefaultBridgeInterface), and in the host's namespace that is the shared daemon's
 * bridge, which every reward container then fails to join.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import { commandLine, isAlive, livePidFromFile, signalAndWait, spawnDetached, waitGone, waitUntil } from '../dev/process';

/** What the leak check did about containerd shims whose container `docker ps -a` does not list. */
export interface ShimCleanup {
  found: number;
  /** Gone after `ctr tasks delete --force` (what an operator tries first). */
  deleted: number;
  /** Gone only after SIGKILL of the shim. */
  killed: number;
  /** Still running after both. */
  left: number;
  /** Container ids the stray shims served. */
  containerIds: string[];
}

export class PrivateDockerd {
  readonly dir: string;
  readonly socket: string;
  readonly pidFile: string;
  readonly logFile: string;
  readonly docker: Docker;
  readonly pids: number[] = [];

  constructor(dir: string) {
    this.dir = dir;
    this.socket = path.join(dir, 'docker.sock');
    this.pidFile = path.join(dir, 'dockerd.pid');
    this.logFile = path.join(dir, 'dockerd.log');
    this.docker = new Docker({ socketPath: this.socket, timeout: 30_000 });
  }

  get host(): string {
    return `unix://${this.socket}`;
  }

  private get execRoot(): string {
    return path.join(this.dir, 'exec');
  }

  private get dataRoot(): string {
    return path.join(this.dir, 'data');
  }

  /** The daemon's pid from its own pid file, if that process is alive and is our dockerd. */
  pid(): number | undefined {
    return livePidFromFile(this.pidFile, this.socket, false);
  }

  async healthy(): Promise<boolean> {
    try {
      await this.docker.ping();
      return true;
    } catch {
      return false;
    }
  }

  /** Starts the daemon (a no-op if ours is running) and waits until it answers. */
  async start(timeoutMs = 120_000): Promise<number> {
    const running = this.pid();
    if (running !== undefined && (await this.healthy())) return running;
    if (running === undefined) {
      rmSync(this.pidFile, { force: true }); // dockerd refuses to start over a stale one
      await this.forgetDeadContainerd();
    }
    mkdirSync(this.dir, { recursive: true });
    const child = spawnDetached(
      '/usr/bin/unshare',
      [
        ...['--net', '--', '/usr/sbin/dockerd'],
        ...['--data-root', this.dataRoot, '--exec-root', this.execRoot, '--pidfile', this.pidFile, '-H', this.host],
        ...['--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false'],
      ],
      { logFile: this.logFile, cwd: this.dir },
    );
    let exited: string | undefined;
    void child.exited.then((r) => (exited = r));
    const ok = await waitUntil(async () => exited !== undefined || (await this.healthy()), timeoutMs, 250);
    if (!ok || exited !== undefined) throw new Error(`private dockerd did not come up (${exited ?? 'timeout'}); log: ${this.logFile}`);
    this.pids.push(child.pid);
    return child.pid;
  }

  /** SIGKILLs dockerd (its containerd follows it; shims stay). Returns the pid killed. */
  async kill(): Promise<number | undefined> {
    const pid = this.pid();
    if (pid === undefined) return undefined;
    process.kill(pid, 'SIGKILL');
    await waitGone(pid, { timeoutMs: 30_000 });
    return pid;
  }

  /**
   * Graceful stop, then SIGKILL for anything still running from our exec root (containerd, shims),
   * then unmount what the daemon left mounted under its directory: dockerd bind-mounts its data
   * root onto itself (to make it shared) and a SIGKILLed daemon never undoes that, which leaves a
   * directory nobody can delete.
   */
  async stop(): Promise<void> {
    const pid = this.pid();
    if (pid !== undefined) await signalAndWait(pid, 'SIGTERM', { timeoutMs: 60_000, escalate: true });
    for (const leftover of this.ownProcesses()) {
      try {
        process.kill(leftover, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    rmSync(this.pidFile, { force: true });
    this.unmountLeftovers();
  }

  /** Mount points under our directory, deepest first (from /proc/self/mountinfo). */
  mountsUnder(): string[] {
    const prefix = path.resolve(this.dir) + '/';
    const points = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[4])
      .filter((p): p is string => p !== undefined)
      .map((p) => p.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8))))
      .filter((p) => p.startsWith(prefix));
    return [...new Set(points)].sort((a, b) => b.length - a.length);
  }

  private unmountLeftovers(): void {
    for (const point of this.mountsUnder()) {
      // lazy: a mount still busy for a moment (a shim exiting) is detached now and freed when idle
      const res = spawnSync('umount', ['-l', point], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
      if (res.status !== 0 && this.mountsUnder().includes(point)) throw new Error(`could not unmount ${point}: ${res.stderr.trim()}`);
    }
  }

  /**
   * A killed dockerd's containerd dies with it (parent-death signal) but stays a zombie until
   * init reaps it, which here can take seconds. A new dockerd checks the pid in containerd.pid with
   * kill(pid, 0), which a zombie passes, so it attaches to a dead containerd and gives up after its
   * timeout. So wait (bounded) until it has exited, and remove a pid file naming a zombie or no
   * process so that dockerd starts a new containerd.
   */
  private async forgetDeadContainerd(): Promise<void> {
    const pidFile = path.join(this.execRoot, 'containerd', 'containerd.pid');
    let pid: number;
    try {
      pid = Number(readFileSync(pidFile, 'utf8').trim());
    } catch {
      return;
    }
    const exited = (): boolean => !Number.isInteger(pid) || pid <= 0 || !isAlive(pid); // a zombie counts as exited here, not for dockerd
    if (await waitUntil(exited, 30_000, 100)) rmSync(pidFile, { force: true });
  }

  /** containerd shims of this daemon's containerd, with the container id each one serves. */
  shims(): Array<{ pid: number; containerId: string }> {
    const found: Array<{ pid: number; containerId: string }> = [];
    for (const pid of this.ownProcesses()) {
      const argv = commandLine(pid);
      if (!argv.includes('containerd-shim')) continue;
      const id = /-id\s+([0-9a-f]{64})/.exec(argv)?.[1];
      if (id) found.push({ pid, containerId: id });
    }
    return found;
  }

  /**
   * dockerd killed while it creates a container can leave a shim (and the container's process)
   * running for a container dockerd never recorded: `docker ps -a` does not list it, the reaper
   * cannot see it, and it holds memory until the host reboots. Finds those and cleans them as an
   * operator would: `ctr tasks delete --force` on the daemon's containerd, then SIGKILL of the shim.
   */
  async cleanStrayShims(): Promise<ShimCleanup> {
    const listed = new Set((await this.docker.listContainers({ all: true })).map((c) => c.Id));
    const strays = this.shims().filter((s) => !listed.has(s.containerId));
    const gone = (pid: number) => waitGone(pid, { timeoutMs: 10_000 });
    const result: ShimCleanup = { found: strays.length, deleted: 0, killed: 0, left: 0, containerIds: strays.map((s) => s.containerId) };
    const address = path.join(this.execRoot, 'containerd', 'containerd.sock');
    for (const stray of strays) {
      spawnSync('ctr', ['--address', address, '--namespace', 'moby', 'tasks', 'delete', '--force', stray.containerId], { stdio: 'ignore', timeout: 30_000 });
      if (await gone(stray.pid)) {
        result.deleted += 1;
        continue;
      }
      try {
        process.kill(stray.pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
      if (await gone(stray.pid)) result.killed += 1;
      else result.left += 1;
    }
    return result;
  }

  /** Processes whose command line names our exec root: containerd and shims this daemon started. */
  private ownProcesses(): number[] {
    const own: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const pid = Number(entry);
      if (pid !== process.pid && isAlive(pid) && commandLine(pid).includes(this.execRoot)) own.push(pid);
    }
    return own;
  }

  /** Copies images from another daemon (the shared one) unless present here: `docker save | docker load`. */
  async loadImagesFrom(sourceHost: string, tags: string[]): Promise<string[]> {
    const missing: string[] = [];
    for (const tag of [...new Set(tags)]) {
      try {
        await this.docker.getImage(tag).inspect();
      } catch {
        missing.push(tag);
      }
    }
    if (missing.length === 0) return [];
    await new Promise<void>((resolve, reject) => {
      const proc = spawn('bash', ['-o', 'pipefail', '-c', 'docker -H "$1" save "${@:3}" | docker -H "$2" load', '_', sourceHost, this.host, ...missing], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      proc.stderr.on('data', (b: Buffer) => (err += b.toString()));
      proc.on('error', reject);
      proc.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`docker save | load of ${missing.length} image(s) failed (${code}): ${err.slice(-1000)}`))));
    });
    return missing;
  }
}
