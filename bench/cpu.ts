/**
 * CPU seconds of the processes a turn goes through, from /proc and cgroups (Linux): this process
 * (the workers run in it; its own time only, not its reaped children's), the Temporal dev server,
 * Postgres (the postmaster and its backends), dockerd (shared with the host: an upper bound), the
 * bench's own containers (their cgroups: sandboxes, reward containers, mini-swe-agent's), and
 * mini-swe-agent's processes (its Python driver and the docker CLIs it waited for).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { stackSettings } from '../cli/dev/settings';
import { temporalServerFiles } from '../cli/dev/temporalServer';

const TICKS_PER_SEC = 100;

/** `cpu` counts the process and the children it reaped; `own` the process alone. */
function procTimes(pid: number): { cpu: number; own: number; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is state (field 3); utime/stime are fields 14/15, cutime/cstime 16/17.
    const own = Number(fields[11]) + Number(fields[12]);
    const ticks = own + Number(fields[13]) + Number(fields[14]);
    return { cpu: ticks / TICKS_PER_SEC, own: own / TICKS_PER_SEC, ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

/**
 * CPU of `parent`'s live children (Postgres: the postmaster's backends). Their pids come from
 * /proc/<pid>/task/<pid>/children, a few reads per sample; a scan of all of /proc (the fallback
 * where the kernel has no such file) is hundreds of synchronous reads on a busy host, ~7 ms of the
 * bench process's event loop per 100 ms sample at load 20 (node --cpu-prof), which delayed the
 * turns being measured.
 */
function childrenCpu(parent: number): number {
  let pids: number[];
  try {
    pids = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    pids = readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number);
  }
  let total = 0;
  for (const pid of pids) {
    const t = procTimes(pid);
    if (t && t.ppid === parent) total += t.cpu;
  }
  return total;
}

function pidFrom(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]!.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The dockerd serving our socket (DOCKER_HOST or /var/run/docker.sock): other private daemons may
 * run on the same host (fault tests), and `pidof -s` may pick one of them, which can exit mid-bench.
 */
function dockerdPid(): number | undefined {
  const socket = (process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '');
  let pids: number[];
  try {
    pids = execFileSync('pidof', ['dockerd'], { encoding: 'utf8' }).trim().split(/\s+/).map(Number);
  } catch {
    return undefined;
  }
  const cmdline = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      return [];
    }
  };
  return (
    pids.find((pid) => cmdline(pid).some((a) => a.endsWith(socket))) ??
    pids.find((pid) => !cmdline(pid).some((a) => a === '-H' || a.startsWith('--host') || a.startsWith('unix://')))
  );
}

export const CPU_KEYS = ['worker', 'temporal', 'postgres', 'dockerd', 'sandbox', 'mini'] as const;
export type CpuSample = Record<(typeof CPU_KEYS)[number], number>;

export interface CpuSources {
  /** CPU seconds of the bench's containers so far (containerCpu). */
  sandbox?: () => number;
  /** CPU seconds of tracked child processes so far (processCpu). */
  mini?: () => number;
}

export function cpuSampler(stateDir: string, sources: CpuSources = {}): () => CpuSample {
  // The stack's Temporal: the dev server, or the real server (`swerl dev up --temporal server`).
  const settings = stackSettings({ ...process.env, SWERL_HOME: stateDir });
  const temporalPid = pidFrom(settings.temporalKind === 'server' ? temporalServerFiles(settings).pidFile : path.join(stateDir, 'temporal', 'temporal.pid'));
  const postgresPid = pidFrom(path.join(stateDir, 'postgres', 'data', 'postmaster.pid'));
  const dockerd = dockerdPid();
  return () => {
    return {
      // This process alone: mini-swe-agent's processes, once reaped, would land here twice.
      worker: procTimes(process.pid)?.own ?? Number.NaN,
      temporal: temporalPid ? (procTimes(temporalPid)?.cpu ?? 0) : Number.NaN,
      postgres: postgresPid ? (procTimes(postgresPid)?.cpu ?? 0) + childrenCpu(postgresPid) : Number.NaN,
      dockerd: dockerd ? (procTimes(dockerd)?.cpu ?? Number.NaN) : Number.NaN,
      sandbox: sources.sandbox?.() ?? 0,
      mini: sources.mini?.() ?? 0,
    };
  };
}

export function cpuDelta(a: CpuSample, b: CpuSample): CpuSample {
  return Object.fromEntries(CPU_KEYS.map((k) => [k, b[k] - a[k]])) as CpuSample;
}

/**
 * CPU seconds of child processes registered with `track(pid)` (their own time and their reaped
 * children's), summed; a process that exited keeps its last reading (what it used between that
 * reading and its exit is not seen: at most one sampling period).
 */
export function processCpu(): { track(pid: number): void; read(): number } {
  const last = new Map<number, number>();
  return {
    track(pid) {
      last.set(pid, 0);
    },
    read() {
      let total = 0;
      for (const [pid, v] of last) {
        const t = procTimes(pid)?.cpu;
        const now = t === undefined ? v : Math.max(v, t);
        last.set(pid, now);
        total += now;
      }
      return total;
    },
  };
}

/** Where the daemon keeps each container's cgroup: v1 cpuacct (ns) or v2 cpu.stat (usec); cgroupfs or systemd driver. */
const CGROUP_LAYOUTS: { dir: string; file: (id: string) => string; id: (entry: string) => string | undefined; parse: (text: string) => number }[] = [
  ...['/sys/fs/cgroup/cpuacct/docker', '/sys/fs/cgroup/cpu,cpuacct/docker'].map((dir) => ({
    dir,
    file: (id: string) => path.join(dir, id, 'cpuacct.usage'),
    id: (e: string) => (/^[0-9a-f]{64}$/.test(e) ? e : undefined),
    parse: (t: string) => Number(t.trim()) / 1e9,
  })),
  ...['/sys/fs/cgroup/cpuacct/system.slice', '/sys/fs/cgroup/cpu,cpuacct/system.slice'].map((dir) => ({
    dir,
    file: (id: string) => path.join(dir, `docker-${id}.scope`, 'cpuacct.usage'),
    id: (e: string) => /^docker-([0-9a-f]{64})\.scope$/.exec(e)?.[1],
    parse: (t: string) => Number(t.trim()) / 1e9,
  })),
  ...[
    { dir: '/sys/fs/cgroup/docker', name: (id: string) => id, re: /^([0-9a-f]{64})$/ },
    { dir: '/sys/fs/cgroup/system.slice', name: (id: string) => `docker-${id}.scope`, re: /^docker-([0-9a-f]{64})\.scope$/ },
  ].map(({ dir, name, re }) => ({
    dir,
    file: (id: string) => path.join(dir, name(id), 'cpu.stat'),
    id: (e: string) => re.exec(e)?.[1],
    parse: (t: string) => Number(/^usage_usec (\d+)$/m.exec(t)?.[1] ?? Number.NaN) / 1e6,
  })),
];

/**
 * CPU seconds used so far by the containers `ours(labels)` accepts, read from their cgroups (no
 * Docker API call per sample: labels come from the daemon's config.v2.json under `dockerRoot`, read
 * once per container). A removed container keeps its last reading (what it used after that reading
 * is not seen: at most one sampling period).
 */
export function containerCpu(dockerRoot: string, ours: (labels: Record<string, string>) => boolean): () => number {
  const verdict = new Map<string, boolean>();
  const last = new Map<string, number>();
  return () => {
    for (const layout of CGROUP_LAYOUTS) {
      let entries: string[];
      try {
        entries = readdirSync(layout.dir);
      } catch {
        continue;
      }
      for (const entry of entries) {
        const id = layout.id(entry);
        if (!id) continue;
        let mine = verdict.get(id);
        if (mine === undefined) {
          try {
            const config = JSON.parse(readFileSync(path.join(dockerRoot, 'containers', id, 'config.v2.json'), 'utf8')) as { Config?: { Labels?: Record<string, string> } };
            mine = ours(config.Config?.Labels ?? {});
          } catch {
            continue; // not written yet: ask again next time
          }
          verdict.set(id, mine);
        }
        if (!mine) continue;
        try {
          const v = layout.parse(readFileSync(layout.file(id), 'utf8'));
          if (Number.isFinite(v)) last.set(id, Math.max(last.get(id) ?? 0, v));
        } catch {
          // removed between readdir and read
        }
      }
    }
    let total = 0;
    for (const v of last.values()) total += v;
    return total;
  };
}
