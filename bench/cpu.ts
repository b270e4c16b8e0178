/**
 * CPU seconds of the processes a turn goes through, from /proc (Linux): this process (the workers
 * run in it; for mini-swe-agent, its Python processes, which this process waits for), the Temporal dev server, Postgres (the postmaster and its backends) and dockerd.
 * dockerd is shared with everything else on the host, so its figure is an upper bound.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const TICKS_PER_SEC = 100;

function procTimes(pid: number): { cpu: number; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is state (field 3); utime/stime are fields 14/15, cutime/cstime 16/17.
    const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    return { cpu: ticks / TICKS_PER_SEC, ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

function childrenCpu(parent: number): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const t = procTimes(Number(entry));
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

export type CpuSample = Record<'worker' | 'temporal' | 'postgres' | 'dockerd', number>;

export function cpuSampler(stateDir: string): () => CpuSample {
  const temporalPid = pidFrom(path.join(stateDir, 'temporal', 'temporal.pid'));
  const postgresPid = pidFrom(path.join(stateDir, 'postgres', 'data', 'postmaster.pid'));
  const dockerd = dockerdPid();
  return () => {
    return {
      // This process and the children it waited for (mini-swe-agent's Python and its docker CLIs).
      worker: procTimes(process.pid)?.cpu ?? Number.NaN,
      temporal: temporalPid ? (procTimes(temporalPid)?.cpu ?? 0) : Number.NaN,
      postgres: postgresPid ? (procTimes(postgresPid)?.cpu ?? 0) + childrenCpu(postgresPid) : Number.NaN,
      dockerd: dockerd ? (procTimes(dockerd)?.cpu ?? Number.NaN) : Number.NaN,
    };
  };
}

export function cpuDelta(a: CpuSample, b: CpuSample): CpuSample {
  return { worker: b.worker - a.worker, temporal: b.temporal - a.temporal, postgres: b.postgres - a.postgres, dockerd: b.dockerd - a.dockerd };
}
